"""`cogito demo`: the whole loop in one command, offline, on the built-in corpus.

pretrain a small concept encoder with a concept regulariser → concept analysis (report + plots)
→ GLUE-format evaluation (a `--glue_dir` in GLUE layout, else built-in probe tasks with real
labels from the corpus) → a row in the experiment log → a model card and a Hub-ready folder that
loads with `AutoModel...(trust_remote_code=True)` → a summary with paths to everything.

Everything is written under `--output_dir`. The corpus, the trained tokenizer and the tokenized
corpus are cached (`$COGITO_CACHE`, the datasets cache), so a second run starts faster.
"""

from __future__ import annotations

import json
import shutil
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cogito._io import atomic_write_text
from cogito._wandb import setup_wandb
from cogito.cli._args import check_output_dir, cli_command, parse
from cogito.configuration_cogito import DECODER_TYPES
from cogito.training.losses import LOSS_WEIGHTINGS
from cogito.training.objectives import OBJECTIVES

# Sizes of the built-in demo and of the research runs (`--research_scale`).
DEMO_SCALE = dict(
    hidden_size=128, num_hidden_layers=2, concept_num=32, max_seq_length=128, batch_size=32, max_steps=1500
)
RESEARCH_SCALE = dict(
    hidden_size=512, num_hidden_layers=6, concept_num=128, max_seq_length=512, batch_size=64, max_steps=None
)

# Old spellings still read (earlier releases' flags).
ALIASES = {"--num_layers": "--num_hidden_layers", "--concepts": "--concept_num"}


@dataclass
class DemoArguments:
    output_dir: str = field(default="demo_output", metadata={"help": "Where every artefact goes."})
    # model size (defaults: a CPU-sized model that pretrains in a few minutes)
    hidden_size: int = field(default=DEMO_SCALE["hidden_size"], metadata={"help": "Width H."})
    num_hidden_layers: int = field(default=DEMO_SCALE["num_hidden_layers"], metadata={"help": "Encoder layers L."})
    concept_num: int = field(default=DEMO_SCALE["concept_num"], metadata={"help": "Concept tokens C."})
    max_seq_length: int = field(default=DEMO_SCALE["max_seq_length"], metadata={"help": "Tokens per example."})
    decoder_type: str = field(default="perceiver", metadata={"help": "One of: " + ", ".join(DECODER_TYPES)})
    research_scale: bool = field(
        default=False,
        metadata={
            "help": "H512 L6 C128, 512 tokens, batch 64 (the research log's size; needs a GPU to finish in hours); "
            "explicit size flags win."
        },
    )
    # pretraining
    objective: str = field(
        default="mlm",
        metadata={
            "help": "Pretraining objective, one of: "
            + ", ".join(OBJECTIVES)
            + " (tsdae needs a position-only decoder)."
        },
    )
    max_steps: int | None = field(
        default=DEMO_SCALE["max_steps"], metadata={"help": "Optimizer steps (--research_scale: 20 epochs instead)."}
    )
    batch_size: int = field(default=DEMO_SCALE["batch_size"], metadata={"help": "Sequences per step."})
    learning_rate: float = field(default=1e-3, metadata={"help": "Pretraining learning rate."})
    concept_losses: str = field(
        # `combined` (research definition): at demo size, 400 steps, its concepts depend on the input most
        # (input dependence 0.023 vs 0.004 for combined_per_sample, 0 unregularised) at the lowest MLM loss.
        default="combined",
        metadata={"help": "Regularisers, space-separated, or 'none'."},
    )
    loss_weighting: str = field(default="fixed", metadata={"help": "One of: " + ", ".join(LOSS_WEIGHTINGS)})
    loss_weight: float = field(default=0.1, metadata={"help": "Total regulariser weight for 'fixed'."})
    seed: int = field(default=42, metadata={"help": "Seed of pretraining and fine-tuning."})
    # evaluation
    glue_dir: str | None = field(
        default=None,
        metadata={
            "help": "GLUE-layout folder (<TASK>/train.tsv, dev.tsv), e.g. ../shared/data/glue; "
            "default: built-in probe tasks."
        },
    )
    tasks: list[str] | None = field(default=None, metadata={"help": "Tasks to run (default: every task found)."})
    glue_epochs: float = field(default=3.0, metadata={"help": "Fine-tuning epochs per task."})
    glue_max_train_samples: int = field(default=3000, metadata={"help": "Cap on training rows per task."})
    no_baseline: bool = field(
        default=False,
        metadata={
            "help": "Skip fine-tuning a randomly initialised twin of the model (the reference the scores are "
            "read against)."
        },
    )
    analysis_samples: int = field(default=512, metadata={"help": "Validation sentences for the analysis."})
    # log and card
    experiment_log: str | None = field(
        default=None, metadata={"help": "Experiment log to append to (default: OUTPUT_DIR/experiment_log.md)."}
    )
    namespace: str = field(
        default="your-hf-username", metadata={"help": "Hub namespace used in the card and repo id."}
    )

    def __post_init__(self) -> None:
        if self.decoder_type not in DECODER_TYPES:
            raise ValueError(f"--decoder_type must be one of {', '.join(DECODER_TYPES)}; got {self.decoder_type!r}")
        if self.objective not in OBJECTIVES:
            raise ValueError(f"--objective must be one of {', '.join(OBJECTIVES)}; got {self.objective!r}")
        if self.loss_weighting not in LOSS_WEIGHTINGS:
            raise ValueError(
                f"--loss_weighting must be one of {', '.join(LOSS_WEIGHTINGS)}; got {self.loss_weighting!r}"
            )
        for name in ("hidden_size", "num_hidden_layers", "concept_num", "max_seq_length", "batch_size"):
            if getattr(self, name) < 1:
                raise ValueError(f"--{name} must be >= 1, got {getattr(self, name)}")
        if self.max_steps is not None and self.max_steps < 1:
            raise ValueError(f"--max_steps must be >= 1 (or none for 20 epochs), got {self.max_steps}")
        if self.research_scale:
            # The preset fills in the sizes the user left at the demo's defaults; explicit flags win.
            for key, value in RESEARCH_SCALE.items():
                if getattr(self, key) == DEMO_SCALE[key]:
                    setattr(self, key, value)


def check_demo_arguments(args: DemoArguments) -> None:
    """Refuse, before minutes of pretraining, what a later stage would fail on."""
    import math

    from cogito.evaluation.glue.tasks import PROBE_TASK_TABLE, find_task_folder, resolve_tasks
    from cogito.hub_cards.card import check_namespace
    from cogito.training.losses import parse_concept_losses

    for name in ("analysis_samples", "glue_max_train_samples"):
        if getattr(args, name) < 1:
            raise ValueError(f"--{name} must be >= 1, got {getattr(args, name)}")
    for name in ("glue_epochs", "learning_rate"):
        if not (getattr(args, name) > 0 and math.isfinite(getattr(args, name))):
            raise ValueError(f"--{name} must be a finite number > 0, got {getattr(args, name)}")
    if not (args.loss_weight >= 0 and math.isfinite(args.loss_weight)):
        raise ValueError(f"--loss_weight must be a finite number >= 0, got {args.loss_weight}")
    if args.concept_losses != "none":
        parse_concept_losses(args.concept_losses)
    check_namespace(args.namespace, "--namespace")
    if args.experiment_log is not None and Path(args.experiment_log).is_dir():
        raise ValueError(f"--experiment_log {args.experiment_log} is a folder: give the path of a Markdown file")
    tasks = resolve_tasks(args.tasks) if args.tasks else []
    if args.glue_dir is None:
        # Without --glue_dir a task's data is built in (probe tasks) or comes from the Hub.
        from huggingface_hub import constants

        remote = [task.name for task in tasks if task.name not in PROBE_TASK_TABLE]
        if remote and constants.HF_HUB_OFFLINE:
            raise ValueError(
                f"--tasks {' '.join(remote)} need --glue_dir (a folder with their data): the Hub is offline "
                f"(HF_HUB_OFFLINE=1) and only {', '.join(PROBE_TASK_TABLE)} are built in"
            )
        return
    if not Path(args.glue_dir).is_dir():
        raise ValueError(f"--glue_dir {args.glue_dir} is not a folder (it should hold SST-2/, RTE/, ...)")
    if not tasks and not glue_tasks_in(Path(args.glue_dir)):
        raise ValueError(f"--glue_dir {args.glue_dir} has no GLUE task folder (SST-2, RTE, MRPC, ...)")
    for task in tasks:
        try:
            find_task_folder(task, args.glue_dir)
        except ValueError as error:
            raise ValueError(str(error).replace("--data_dir", "--glue_dir")) from None


def _stage(name: str, timings: dict[str, float]):
    class _Timer:
        def __enter__(self):
            print(f"\n=== {name} ===", flush=True)
            self.started = time.perf_counter()

        def __exit__(self, *exc):
            timings[name] = round(time.perf_counter() - self.started, 1)
            if exc[0] is None:
                print(f"--- {name}: {timings[name]} s", flush=True)

    return _Timer()


def pretrain_stage(args: DemoArguments, run_dir: Path, log_path: Path) -> dict[str, Any]:
    """`cogito pretrain` with the demo's settings, through its Python functions."""
    from cogito.cli.pretrain import run_pretrain
    from cogito.training.pretrain import DataArguments, ExperimentArguments, ModelArguments
    from cogito.training.trainer import CogitoTrainingArguments

    every = max(1, (args.max_steps or 2000) // 5)
    losses = {}
    if args.concept_losses != "none":
        losses["loss_weighting"] = args.loss_weighting
        if args.loss_weighting == "fixed":
            losses["loss_weight"] = args.loss_weight
    training_args = CogitoTrainingArguments(
        output_dir=str(run_dir),
        per_device_train_batch_size=args.batch_size,
        per_device_eval_batch_size=args.batch_size,
        learning_rate=args.learning_rate,
        lr_scheduler_type="cosine",
        warmup_steps=min(100, max(1, args.max_steps // 10)) if args.max_steps else 1500,
        weight_decay=0.01,
        max_grad_norm=1.0,
        logging_steps=max(1, (args.max_steps or 2000) // 30),
        eval_strategy="steps",
        eval_steps=every,
        save_steps=every,
        save_total_limit=2,
        concept_losses=args.concept_losses,
        seed=args.seed,
        report_to="wandb",
        dataloader_num_workers=0,
        **({"max_steps": args.max_steps} if args.max_steps else {"num_train_epochs": 20}),
        **losses,
    )
    model_args = ModelArguments(
        hidden_size=args.hidden_size,
        num_hidden_layers=args.num_hidden_layers,
        concept_num=args.concept_num,
        decoder_type=args.decoder_type,
        **(
            {"config_overrides": "intermediate_size=2048", "tokenizer_vocab_size": 30522}
            if args.research_scale
            else {}
        ),
    )
    data_args = DataArguments(objective=args.objective, max_seq_length=args.max_seq_length, max_eval_samples=512)
    return run_pretrain(model_args, data_args, training_args, ExperimentArguments(experiment_log=str(log_path)))


def analysis_stage(model_dir: Path, output_dir: Path, samples: int, max_length: int) -> dict[str, Any]:
    from transformers import AutoTokenizer

    from cogito.data.corpus import builtin_text_files
    from cogito.evaluation.geometry import grade_geometry
    from cogito.evaluation.report import collect_concept_states, format_summary, write_report
    from cogito.modeling_cogito import CogitoModel

    lines = [line for line in builtin_text_files()["validation"].read_text().splitlines() if line.strip()]
    model = CogitoModel.from_pretrained(model_dir)
    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    states = collect_concept_states(model, tokenizer, lines[:samples], max_length=max_length)
    metrics = write_report(states, output_dir)
    print(format_summary(metrics, grade_geometry(metrics)))
    return metrics


def glue_tasks_in(glue_dir: Path) -> list[str]:
    """The GLUE tasks whose folder (e.g. SST-2, RTE) exists in `glue_dir`."""
    from cogito.evaluation.glue.tasks import GLUE_TASKS, find_task_folder

    found = []
    for name, task in GLUE_TASKS.items():
        try:
            find_task_folder(task, glue_dir)
        except ValueError:
            continue
        found.append(name)
    return found


def glue_stage(args: DemoArguments, run_dir: Path, output_dir: Path, log_path: Path, run_id: str) -> dict[str, Any]:
    """Fine-tune the pretrained model and (unless --no_baseline) a randomly initialised twin."""
    from transformers import AutoTokenizer, set_seed

    from cogito.cli.glue import GlueLogArguments, run_glue_and_log
    from cogito.evaluation.glue.run import GlueArguments, run_glue
    from cogito.modeling_cogito import CogitoForMaskedLM

    if args.glue_dir is not None:
        tasks = args.tasks or glue_tasks_in(Path(args.glue_dir))
        if not tasks:
            raise ValueError(f"--glue_dir {args.glue_dir} has no GLUE task folder (SST-2, RTE, MRPC, ...)")
    else:
        tasks = args.tasks or ["austen", "wordnet"]
    # Small models need a larger step than the research protocol's 1e-5 to move in 3 epochs;
    # the epoch is picked on a held-out slice of train, never on the reported validation set.
    common = dict(
        tasks=tasks,
        heads=["via_decoder"],
        learning_rate=3e-4,
        per_device_train_batch_size=32,
        per_device_eval_batch_size=64,
        num_train_epochs=args.glue_epochs,
        warmup_steps=20,
        max_seq_length=min(128, args.max_seq_length),
        max_train_samples=args.glue_max_train_samples,
        selection="heldout",
        logging_steps=50,
        seed=args.seed,
    )
    results = {"tasks": tasks}
    pretrained = run_glue_and_log(
        GlueArguments(
            model_name_or_path=str(run_dir),
            output_dir=str(output_dir / "glue" / "pretrained"),
            data_dir=args.glue_dir,
            **common,
        ),
        GlueLogArguments(experiment_log=str(log_path), run_id=run_id),
    )
    results["pretrained"] = pretrained["scores"]
    if not args.no_baseline:
        baseline_dir = output_dir / "glue" / "random_init_model"
        config = CogitoForMaskedLM.config_class.from_pretrained(run_dir)
        set_seed(args.seed)
        CogitoForMaskedLM(config).save_pretrained(baseline_dir)
        AutoTokenizer.from_pretrained(run_dir).save_pretrained(baseline_dir)
        # The same task data: the --glue_dir, or the probe tasks the first run wrote.
        same_data = args.glue_dir or str(output_dir / "glue" / "pretrained" / "probe_tasks")
        baseline = run_glue(
            GlueArguments(
                model_name_or_path=str(baseline_dir),
                output_dir=str(output_dir / "glue" / "random_init"),
                data_dir=same_data,
                **common,
            )
        )
        results["random_init"] = baseline["scores"]
    for name, scores in results.items():
        if name != "tasks":
            print(f"{name:>12}: " + ", ".join(f"{key} {value:.4f}" for key, value in scores.items()))
    return results


def run_demo(args: DemoArguments) -> dict[str, Any]:
    output_dir = Path(args.output_dir)
    output_dir.mkdir(parents=True, exist_ok=True)
    log_path = Path(args.experiment_log) if args.experiment_log else output_dir / "experiment_log.md"
    setup_wandb("wandb", directory=output_dir)  # the pretraining stage reports to W&B (offline unless logged in)
    timings: dict[str, float] = {}
    started = time.perf_counter()

    with _stage("1/5 pretraining on the built-in corpus", timings):
        run_dir = output_dir / "pretrain"
        if run_dir.exists():
            shutil.rmtree(run_dir)  # a demo run starts clean; caches live elsewhere
        pretrained = pretrain_stage(args, run_dir, log_path)
    with _stage("2/5 concept analysis", timings):
        geometry = analysis_stage(run_dir, output_dir / "analysis", args.analysis_samples, args.max_seq_length)

    evaluated = "pretrained model" if args.no_baseline else "pretrained vs randomly initialised"
    with _stage(f"3/5 GLUE-format evaluation ({evaluated})", timings):
        glue = glue_stage(args, run_dir, output_dir, log_path, pretrained["run_id"])
    with _stage("4/5 experiment log", timings):
        from cogito.hub_cards.log import find_run, read_log, update_run

        probe_scores = {k: v for k, v in glue["pretrained"].items() if k.split("/")[0] in ("austen", "wordnet")}
        if probe_scores:
            # Probe tasks are not GLUE: their scores go into the row's conclusion, next to the baseline.
            baseline = glue.get("random_init") or {}
            text = "Built-in probe tasks (accuracy, pretrained vs random init): " + "; ".join(
                f"{key.split('/')[0]} {value:.3f} vs {baseline.get(key, float('nan')):.3f}"
                for key, value in probe_scores.items()
            )
            update_run(log_path, pretrained["run_id"], {"Conclusion / Takeaway": text})
        row = find_run(read_log(log_path), pretrained["run_id"])
        print(f"{log_path}: row for {row.run_id} (line {row.line}): GLUE {row.cells.get('Key GLUE Scores')}")
    with _stage("5/5 model card and Hub-ready folder", timings):
        from cogito.hub_cards.push import push

        hub_dir = output_dir / "hub"
        if hub_dir.exists():
            shutil.rmtree(hub_dir)
        published = push(run_dir, log=log_path, namespace=args.namespace, dry_run=True, output=hub_dir)
        print(published.verification)

    summary = {
        "run_id": pretrained["run_id"],
        "pretrained_model": str(run_dir),
        "mlm_eval_loss": round(pretrained["metrics"]["eval_loss"], 4),
        "mlm_eval_accuracy": round(pretrained["metrics"].get("eval_accuracy", float("nan")), 4),
        "effective_rank": f"{geometry['effective_rank']:.2f} / {min(args.concept_num, args.hidden_size)}",
        "analysis": str(output_dir / "analysis"),
        "glue_tasks": glue["tasks"],
        "glue_pretrained": glue["pretrained"],
        "glue_random_init": glue.get("random_init"),
        "glue_results": str(output_dir / "glue"),
        "experiment_log": str(log_path),
        "hub_folder": str(hub_dir),
        "model_card": str(hub_dir / "README.md"),
        "hub_repo_id": published.repo_id,
        "push_command": f"cogito push --model_name_or_path {run_dir} --experiment_log {log_path} "
        f"--repo_id {published.repo_id}",
        "timings_s": timings,
    }
    summary["total_s"] = round(time.perf_counter() - started, 1)
    return summary


@cli_command("demo")
def cli_main(argv: list[str]) -> int:
    (args,) = parse("demo", [DemoArguments], argv, description=__doc__.split("\n\n")[1], aliases=ALIASES)
    check_output_dir("--output_dir", args.output_dir)
    check_demo_arguments(args)
    summary = run_demo(args)
    path = Path(args.output_dir) / "demo_summary.json"
    atomic_write_text(path, json.dumps(summary, indent=2))
    print("\n=== summary ===")
    print(json.dumps(summary, indent=2))
    print(f"(also written to {path})")
    return 0


if __name__ == "__main__":
    sys.exit(cli_main())
