"""`cogito pretrain` (= `examples/run_mlm.py`, `python -m cogito.pretrain`): masked-LM pretraining.

Flag names follow transformers' `run_mlm.py` where they overlap (`--train_file`,
`--dataset_name`, `--tokenizer_name`, `--model_name_or_path`, `--config_overrides`,
`--max_seq_length`, `--mlm_probability`, `--line_by_line`, every `TrainingArguments` flag), plus
the concept-regulariser flags of `CogitoTrainingArguments`. With no data flag the built-in
offline corpus (Jane Austen's novels + WordNet glosses) is used and a WordPiece tokenizer is
trained on it. The finished run appends its row to the experiment log (`--experiment_log`).
"""

from __future__ import annotations

import dataclasses
import json
import os
import sys
from collections.abc import Collection
from datetime import datetime
from pathlib import Path
from typing import Any

from cogito.cli._args import check_model_source, check_output_dir, cli_command, parse
from cogito.training.pretrain import (
    DataArguments,
    ExperimentArguments,
    ModelArguments,
    _dataset_label,
    check_objective_arguments,
    pretrain,
)
from cogito.training.recipes import apply_recipe
from cogito.training.trainer import CogitoTrainingArguments, NonFiniteLossError

# Optional names and paths a recipe may set and `--<flag> none` unsets.
_NONE_ABLE = {
    "model_name_or_path",
    "config_overrides",
    "tokenizer_name",
    "dataset_name",
    "dataset_config_name",
    "train_file",
    "validation_file",
    "text_column",
}


def parse_args(argv: list[str] | None):
    """Parse `cogito pretrain` flags; `--recipe NAME` supplies defaults that later flags override.

    `--dataset_name none` / `--tokenizer_name none` (any optional path or name) unset a recipe's
    value, e.g. to scale a recipe down to the built-in corpus and a tokenizer trained on it.
    """
    argv = apply_recipe(sys.argv[1:] if argv is None else argv, "pretrain")
    parsed = parse(
        "pretrain",
        (ModelArguments, DataArguments, CogitoTrainingArguments, ExperimentArguments),
        argv,
        description=__doc__.split("\n\n")[0] + " Start from a research recipe with --recipe NAME (--list_recipes).",
    )
    if not any(a == "--output_dir" or a.startswith("--output_dir=") for a in argv):
        # TrainingArguments fills in "trainer_output"; a Cogito run goes to runs/<run id>/ instead.
        parsed[2].output_dir = None
    for arguments in parsed:
        for name in _NONE_ABLE & {f.name for f in dataclasses.fields(arguments)}:
            if isinstance(getattr(arguments, name), str) and getattr(arguments, name).lower() == "none":
                setattr(arguments, name, None)
    check_objective_arguments(parsed[1], parsed[2])
    check_run_arguments(*parsed)
    return parsed


def check_run_arguments(model_args, data_args, training_args, experiment_args) -> None:
    """Refuse, before anything is loaded or written, the settings a run would only fail on later."""
    if not training_args.learning_rate >= 0:
        raise ValueError(f"--learning_rate must be >= 0, got {training_args.learning_rate}")
    if training_args.max_steps == 0 or training_args.max_steps < -1:
        raise ValueError(
            f"--max_steps must be a positive number of steps (or -1 for --num_train_epochs), got "
            f"{training_args.max_steps}"
        )
    if training_args.gradient_accumulation_steps < 1:
        steps = training_args.gradient_accumulation_steps
        raise ValueError(f"--gradient_accumulation_steps must be a positive integer, got {steps}")
    if not training_args.num_train_epochs > 0:
        raise ValueError(f"--num_train_epochs must be > 0, got {training_args.num_train_epochs}")
    check_output_dir("--output_dir", training_args.output_dir)
    log = experiment_args.experiment_log
    if log.lower() != "none" and Path(log).is_dir():
        raise ValueError(f"--experiment_log {log} is a folder: give the path of a Markdown file (or none)")
    for flag in ("train_file", "validation_file"):
        if getattr(data_args, flag) is not None:
            check_text_file(f"--{flag}", Path(getattr(data_args, flag)))
    if model_args.config_overrides:
        from cogito.configuration_cogito import CogitoConfig
        from cogito.training.pretrain import parse_config_overrides

        overrides = parse_config_overrides(model_args.config_overrides)
        try:
            CogitoConfig(**overrides)
        except ValueError as error:
            raise ValueError(f"--config_overrides {model_args.config_overrides!r}: {error}") from None


def check_text_file(flag: str, path: Path) -> None:
    """A corpus file must exist, have a supported extension and hold what it says: UTF-8 text (JSON
    objects, one per line, for .jsonl), or a Parquet table. `datasets` would only say "An error
    occurred while generating the dataset"."""
    import codecs

    from cogito.data.text import _builder_for

    if not path.is_file():
        raise FileNotFoundError(2, f"{flag}: no such file", str(path))
    try:
        builder = _builder_for(path)
    except ValueError as error:
        raise ValueError(f"{flag}: {error}") from None
    if builder == "parquet":
        with path.open("rb") as handle:
            if handle.read(4) != b"PAR1":
                raise ValueError(f"{flag} {path} is not a Parquet file (it does not start with PAR1)")
        return
    decoder = codecs.getincrementaldecoder("utf-8")()
    text_seen = False
    with path.open("rb") as handle:
        offset = 0
        while chunk := handle.read(1 << 20):
            if (nul := chunk.find(b"\0")) >= 0:
                raise ValueError(f"{flag} {path} is a binary file (NUL byte at offset {offset + nul}), not text")
            try:
                text_seen = bool(decoder.decode(chunk).strip()) or text_seen
            except UnicodeDecodeError as error:
                raise ValueError(
                    f"{flag} {path} is not UTF-8 text (byte offset {offset + error.start}): re-encode it as UTF-8"
                ) from None
            offset += len(chunk)
    if not text_seen:
        raise ValueError(f"{flag} {path} is empty: it must hold text, one or more lines")
    if builder == "json":
        check_json_records(flag, path)


def check_json_records(flag: str, path: Path) -> None:
    """JSON Lines (one object per line), or one JSON document (a list of records, or columns):
    what `datasets`' json builder reads."""
    import json

    with path.open(encoding="utf-8-sig") as handle:  # -sig: a byte-order mark is no error
        first = True
        for number, line in enumerate(handle, 1):
            if not line.strip():
                continue
            try:
                record = json.loads(line.rstrip("\r\n"))
            except json.JSONDecodeError as error:
                if first:
                    break  # not JSON Lines: one document, checked whole below
                raise ValueError(f"{flag} {path} line {number} is not a JSON object: {error.msg}") from None
            if not isinstance(record, dict):
                if first:
                    break  # e.g. a one-line list of records
                raise ValueError(
                    f"{flag} {path} line {number} is a JSON {type(record).__name__}, not an object "
                    '(one {"text": ...} record per line)'
                )
            first = False
        else:
            return
    try:
        document = json.loads(path.read_text(encoding="utf-8-sig"))
    except json.JSONDecodeError as error:
        raise ValueError(
            f"{flag} {path} is neither JSON Lines nor one JSON document (line {error.lineno}: {error.msg})"
        ) from None
    if not isinstance(document, (list, dict)):
        raise ValueError(
            f"{flag} {path} holds a single JSON {type(document).__name__}: give records, one JSON object per line"
        )


def redact_secrets(arguments: dict[str, Any]) -> dict[str, Any]:
    """A copy with every `*_token` value replaced (what may be printed, logged or saved)."""
    return {
        key: redact_secrets(value)
        if isinstance(value, dict)
        else ("<redacted>" if key.endswith("_token") and value else value)
        for key, value in arguments.items()
    }


def given_flags(argv: list[str]) -> frozenset[str]:
    """The argument names set on the command line (a recipe's included): `--no_x` counts as `x`."""
    names = {arg[2:].partition("=")[0].replace("-", "_") for arg in argv if arg.startswith("--")}
    return frozenset(names | {name[3:] for name in names if name.startswith("no_")})


def redact_argv(argv: list[str]) -> list[str]:
    """`argv` with the value of every `--*_token` flag replaced by `<redacted>`."""
    redacted, hide_next = [], False
    for arg in argv:
        flag, equals, _ = arg.partition("=")
        if hide_next:
            redacted.append("<redacted>")
        elif flag.startswith("--") and flag.endswith("_token") and equals:
            redacted.append(f"{flag}=<redacted>")
        else:
            redacted.append(arg)
        hide_next = not hide_next and not equals and arg.startswith("--") and arg.endswith("_token")
    return redacted


def log_missing_row(summary_file: Path, model_args, data_args, training_args, experiment_args) -> None:
    """A finished run killed before its log row was written gets the row now (and never a second one)."""
    log = experiment_args.experiment_log
    if log.lower() == "none":
        return
    summary = json.loads(summary_file.read_text(encoding="utf-8"))
    try:
        if log_run(Path(log), summary, training_args, data_args, experiment_args, overwrite=False) == "added":
            print(f"cogito pretrain: added the finished run's missing row to {log}", file=sys.stderr)
    except (ValueError, OSError) as error:
        warn_row_not_written(Path(log), error, summary)


def warn_row_not_written(log_path: Path, error: Exception, summary: dict[str, Any]) -> None:
    """The run is safe in its folder; say so, and print the row to add by hand."""
    print(
        f"cogito pretrain: warning: the run finished but its row could not be added to {log_path} ({error}); "
        f"the run is in {summary['output_dir']}. Add the row by hand: | "
        + " | ".join(str(cell) for cell in summary.get("log_row", {}).values())
        + " |",
        file=sys.stderr,
    )


def finished_run(training_args, given: Collection[str] | None = None) -> Path | None:
    """The summary of the run that `--resume_from_checkpoint` points to, when that run has finished
    as long as asked: a larger `--max_steps` (or `--num_train_epochs`) than it reached trains it further;
    without either flag the run's own length counts."""
    from cogito._io import RUN_FILE
    from cogito.training.pretrain import resumed_run_length

    checkpoint = training_args.resume_from_checkpoint
    if checkpoint is None:
        return None
    folder = Path(training_args.output_dir) if training_args.output_dir else Path(checkpoint).parent
    summary_file = folder / "cogito_summary.json"
    if not summary_file.is_file():
        return None
    summary = json.loads(summary_file.read_text(encoding="utf-8"))
    recorded = json.loads((folder / RUN_FILE).read_text()).get("training", {}) if (folder / RUN_FILE).is_file() else {}
    max_steps, num_train_epochs = resumed_run_length(recorded, training_args, given)
    if max_steps > 0:
        return summary_file if summary.get("global_step", 0) >= max_steps else None
    epochs = summary.get("metrics", {}).get("epoch")
    return summary_file if epochs is None or epochs >= num_train_epochs - 1e-6 else None


def log_run(
    log_path: Path,
    summary: dict[str, Any],
    training_args: CogitoTrainingArguments,
    data_args: DataArguments,
    experiment_args: ExperimentArguments,
    overwrite: bool = True,
) -> str:
    """Write a finished run's row to the experiment log (columns of the research log); returns "added"
    or "updated" (or "kept": the row existed and ``overwrite`` is false).

    A run that already has a row (trained further after it finished) gets that row updated, never a
    second one: its date stays, and GLUE scores or a hand-written takeaway of the earlier weights are
    kept and labelled as such.
    """
    from cogito.hub_cards.log import format_rank_cell, write_run
    from cogito.training.losses import DEFAULT_FIXED_LOSS_WEIGHT

    # config.json as written: a concept encoder's, or a baseline encoder's (no concepts).
    config = json.loads((Path(summary["output_dir"]) / "config.json").read_text())
    concepts = config.get("concept_num")
    metrics = summary["metrics"]
    losses = training_args.concept_losses
    if losses == "none":
        loss_cell = "None"
    elif training_args.loss_weighting == "fixed":
        weight = training_args.loss_weight if training_args.loss_weight is not None else DEFAULT_FIXED_LOSS_WEIGHT
        loss_cell = " + ".join(f"`{name}`" for name in losses.split()) + f" + `fixed={weight:g}`"
    else:
        loss_cell = " + ".join(f"`{name}`" for name in losses.split()) + f" + `{training_args.loss_weighting}`"
    rank = metrics.get("eval_concept_effective_rank")
    epochs = metrics.get("epoch")
    wandb_url = summary.get("wandb_url")
    cells = {
        "Date": datetime.now().strftime("%Y-%m-%d"),
        "Run ID / Model Type": f"`{summary['run_id']}`",
        "Architecture": f"H{config['hidden_size']} L{config['num_hidden_layers']}"
        + (f" C{concepts}" if concepts else ""),
        "Pretraining Data": _dataset_label(data_args),
        "Machine": experiment_args.machine,
        "Epochs": f"{epochs:.2f}" if epochs is not None else "--",
        "Concept Losses": loss_cell,
        "MLM Loss": f"{metrics['eval_loss']:.3f}" if "eval_loss" in metrics else "--",
        "Eff. Rank": format_rank_cell(rank, concepts) if rank is not None and concepts else "--",
        "Key GLUE Scores": "*Not evaluated*",
        "Speed (Steps/s)": f"{metrics['train_steps_per_second']:.2f}" if "train_steps_per_second" in metrics else "--",
        "WandB Link": f"[Link]({wandb_url})" if wandb_url else "--",
        "Conclusion / Takeaway": f"Pretrained with `cogito pretrain --objective {data_args.objective}`"
        + _objective_note(data_args)
        + (
            f" (baseline {summary['model_type']} encoder of matched size)"
            if summary.get("model_type", "cogito") != "cogito"
            else ""
        )
        + "."
        + eval_note(metrics),
    }
    summary["log_row"] = cells  # kept in the summary: the row to add by hand if the log cannot be written
    if not overwrite:
        _, updated = write_run(log_path, cells, merge=lambda existing, new: {})
        return "kept" if updated else "added"
    _, updated = write_run(log_path, cells, merge=lambda existing, new: _resumed_row(existing, new, summary))
    return "updated" if updated else "added"


def _resumed_row(existing, cells: dict[str, str], summary: dict[str, Any]) -> dict[str, str]:
    """The cells a run trained further writes over its earlier row (see `log_run`)."""
    cells = {name: value for name, value in cells.items() if name not in ("Date", "Key GLUE Scores")}
    notes = []
    if existing.glue_evaluated:
        notes.append("Key GLUE Scores are of the weights before training was resumed; rerun `cogito glue` for these")
    if existing.conclusion and not existing.conclusion.startswith("Pretrained with cogito pretrain"):
        notes.append(f"Earlier note: {existing.conclusion}")
    resumed = f" Resumed from {Path(summary['resumed_from']).name}." if summary.get("resumed_from") else ""
    cells["Conclusion / Takeaway"] += resumed + "".join(f" {note}." for note in notes)
    return cells


def eval_note(metrics: dict[str, Any]) -> str:
    """The evaluation beside its floors, for the log row: ``[MASK]``-only and all-labels loss/accuracy,
    the context-free predictors' floors on the same positions, and the concepts' input dependence."""
    parts = []
    if "eval_mask_loss" in metrics:
        part = f"[MASK] {metrics['eval_mask_loss']:.3f} / {100 * metrics['eval_mask_accuracy']:.1f}%"
        if "eval_floor_mask_loss" in metrics:
            floor, floor_accuracy = metrics["eval_floor_mask_loss"], metrics["eval_floor_mask_accuracy"]
            part += f" (unigram floor {floor:.3f} / {100 * floor_accuracy:.1f}%)"
        parts.append(part)
    if "eval_loss" in metrics and "eval_accuracy" in metrics:
        part = f"all labels {metrics['eval_loss']:.3f} / {100 * metrics['eval_accuracy']:.1f}%"
        if "eval_floor_no_context_loss" in metrics:
            part += (
                f" (no-context floor {metrics['eval_floor_no_context_loss']:.3f} / "
                f"{100 * metrics['eval_floor_no_context_accuracy']:.1f}%)"
            )
        parts.append(part)
    if "eval_concept_input_dependence" in metrics:
        parts.append(f"concept input dependence {metrics['eval_concept_input_dependence']:.3f}")
    return (" Eval loss / accuracy: " + "; ".join(parts) + ".") if parts else ""


def _objective_note(data_args: DataArguments) -> str:
    if data_args.objective == "mdlm":
        truncation = f", truncated at t_min={data_args.t_min:g}" if data_args.t_min > 0 else ""
        return f" ({data_args.noise_schedule} schedule{truncation}); MLM Loss column = eval NELBO per token"
    if data_args.objective == "tsdae":
        return f" (deletion ratio {data_args.deletion_ratio:g}); MLM Loss column = eval reconstruction loss"
    return ""


def run_pretrain(
    model_args: ModelArguments,
    data_args: DataArguments,
    training_args: CogitoTrainingArguments,
    experiment_args: ExperimentArguments,
    given: Collection[str] | None = None,
) -> dict[str, Any]:
    """`pretrain()`, then (on the main process) the run's row in the experiment log; returns the summary."""
    from cogito._io import atomic_write_text

    summary = pretrain(model_args, data_args, training_args, experiment_args, given)
    if training_args.process_index == 0 and experiment_args.experiment_log.lower() != "none":
        # The summary (written by `pretrain`) exists before the log is touched: a log problem never loses the run.
        log_path = Path(experiment_args.experiment_log)
        try:
            summary["experiment_log_row"] = log_run(log_path, summary, training_args, data_args, experiment_args)
            summary["experiment_log"] = str(log_path)
        except (ValueError, OSError) as error:
            summary["experiment_log_error"] = str(error)
            warn_row_not_written(log_path, error, summary)
        summary_file = Path(summary["output_dir"]) / "cogito_summary.json"
        atomic_write_text(summary_file, json.dumps(summary, indent=2, default=str))
    return summary


def resolved_arguments(parsed) -> dict[str, dict[str, Any]]:
    """The parsed argument dataclasses as plain dicts (what `--dry-run` prints)."""
    model_args, data_args, training_args, experiment_args = parsed
    training = {f.name: getattr(training_args, f.name) for f in dataclasses.fields(training_args) if f.init}
    return {
        "model": dataclasses.asdict(model_args),
        "data": dataclasses.asdict(data_args),
        "training": {k: v for k, v in training.items() if not k.startswith("_")},
        "experiment": dataclasses.asdict(experiment_args),
    }


@cli_command("pretrain")
def cli_main(argv: list[str]) -> int:
    from cogito.training.recipes import list_recipes, load_recipe, recipe_protocol, recipe_warnings, split_recipe

    if "--list_recipes" in argv:
        for name in list_recipes():
            recipe = load_recipe(name)
            print(f"{name:40s} {recipe['name'] if recipe['name'] != name else '':50s} {recipe.get('description', '')}")
        return 0
    dry_run = "--dry-run" in argv or "--dry_run" in argv
    argv = [a for a in argv if a not in ("--dry-run", "--dry_run")]
    if dry_run:
        try:
            parsed = parse_args(argv)
        except ValueError as error:
            if "bf16" not in str(error) or "--use_cpu" in argv:
                raise
            # A GPU recipe checked on a CPU-only machine: validate it as a CPU run would.
            parsed = parse_args(argv + ["--use_cpu", "true"])
            print(f"(no GPU here: validated with --use_cpu true; {error})", file=sys.stderr)
        resolved = redact_secrets(resolved_arguments(parsed))
        name, _ = split_recipe(argv)
        if name is not None:
            resolved["recipe"] = recipe_protocol(load_recipe(name))
        print(json.dumps(resolved, indent=2, default=str))
        return 0
    parsed = parse_args(argv)
    model_args, training_args = parsed[0], parsed[2]
    # Checked for a real run only: --dry-run validates a recipe on a machine without its Hub files.
    if model_args.model_name_or_path is not None:
        check_model_source("--model_name_or_path", model_args.model_name_or_path)
    if model_args.tokenizer_name is not None:
        check_model_source("--tokenizer_name", model_args.tokenizer_name, needs="tokenizer_config.json")
    if training_args.hub_token:
        # Handed to huggingface_hub through the environment, so the Trainer never saves it in the run
        # folder (training_args.bin) or passes it to loggers.
        os.environ["HF_TOKEN"] = training_args.hub_token
        training_args.hub_token = None
        sys.argv[:] = redact_argv(sys.argv)  # W&B records the command line in its run metadata
    given = given_flags(apply_recipe(argv, "pretrain"))
    if (summary_file := finished_run(training_args, given)) is not None:
        log_missing_row(summary_file, *parsed)
        print(
            f"cogito pretrain: the run in {summary_file.parent} has already finished ({summary_file.name}); "
            "nothing to resume"
        )
        return 0
    name, _ = split_recipe(argv)
    if name is not None:
        for warning in recipe_warnings(load_recipe(name), parsed[2]):
            print(f"cogito pretrain: warning: {warning}", file=sys.stderr)
    try:
        summary = run_pretrain(*parsed, given=given)
    except NonFiniteLossError as error:
        print(f"cogito pretrain: {error}", file=sys.stderr)
        return 1
    print(json.dumps(summary, indent=2, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(cli_main())
