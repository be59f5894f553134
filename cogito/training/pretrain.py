"""Pretraining of a concept encoder (MLM, MDLM or TSDAE): the argument dataclasses and `pretrain()`.

The command line (`cogito pretrain`, `examples/run_mlm.py`, `python -m cogito.pretrain`) and the
experiment-log row it writes live in `cogito.cli.pretrain`; this module imports no publishing code.

Flag names follow transformers' `run_mlm.py` where they overlap (`--train_file`,
`--dataset_name`, `--tokenizer_name`, `--model_name_or_path`, `--config_overrides`,
`--max_seq_length`, `--mlm_probability`, `--line_by_line`, every `TrainingArguments` flag), plus
the concept-regulariser flags of `CogitoTrainingArguments`. With no data flag the built-in
offline corpus (Jane Austen's novels + WordNet glosses) is used and a WordPiece tokenizer is
trained on it.
"""

from __future__ import annotations

import dataclasses
import json
import os
import platform
from collections.abc import Collection
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import torch
from transformers import TrainerCallback, TrainerState, set_seed
from transformers.utils import logging

from cogito._io import DEFAULT_LOG, RUN_FILE, atomic_write_text, git_commit
from cogito._wandb import setup_wandb
from cogito.configuration_cogito import DECODER_TYPES, CogitoConfig
from cogito.training.objectives import (
    NOISE_SCHEDULES,
    OBJECTIVES,
    POSITION_ONLY_DECODERS,
    build_objective,
    check_objective,
    objective_collator,
)
from cogito.training.trainer import (
    CogitoTrainer,
    CogitoTrainingArguments,
    NonFiniteLossError,
    latest_complete_checkpoint,
)

logger = logging.get_logger(__name__)

# `--model_type`: the concept encoder, or a transformers encoder of matched size as a baseline arm.
MODEL_TYPES = ("cogito", "bert")


@dataclass
class ModelArguments:
    model_name_or_path: str | None = field(
        default=None, metadata={"help": "Start from this checkpoint (folder or Hub id) instead of a new model."}
    )
    model_type: str = field(
        default="cogito",
        metadata={
            "help": "cogito (a concept encoder) or bert: a transformers BertForMaskedLM of matched size (hidden "
            "size, layers, heads, FFN, vocabulary, positions) trained through the same data, collator, Trainer "
            "and log row, as a same-budget baseline. Concept flags are refused for bert.",
            "choices": list(MODEL_TYPES),
        },
    )
    decoder_type: str = field(default="perceiver", metadata={"help": "One of: " + ", ".join(DECODER_TYPES)})
    hidden_size: int = field(default=512, metadata={"help": "Width H of a new model."})
    num_hidden_layers: int = field(default=6, metadata={"help": "Layers L of a new model."})
    concept_num: int = field(default=128, metadata={"help": "Concepts C of a new model."})
    config_overrides: str | None = field(
        default=None,
        metadata={
            "help": "Comma-separated CogitoConfig overrides for a new model, e.g. "
            "'intermediate_size=1024,use_bixt=true'."
        },
    )
    tokenizer_name: str | None = field(
        default=None,
        metadata={"help": "Tokenizer folder or Hub id; default: the checkpoint's, else one trained on the corpus."},
    )
    tokenizer_vocab_size: int = field(default=8192, metadata={"help": "Vocabulary of a tokenizer trained here."})
    tokenizer_algorithm: str = field(
        default="wordpiece", metadata={"help": "wordpiece or bpe, for a tokenizer trained here."}
    )


@dataclass
class DataArguments:
    dataset_name: str | None = field(default=None, metadata={"help": "Hub dataset name."})
    dataset_config_name: str | None = field(default=None, metadata={"help": "Hub dataset configuration."})
    train_file: str | None = field(default=None, metadata={"help": "Local txt/json/jsonl/csv/parquet training text."})
    validation_file: str | None = field(default=None, metadata={"help": "Local validation text."})
    text_column: str | None = field(default=None, metadata={"help": "Column holding the text (default: 'text')."})
    validation_split_percentage: float = field(
        default=2, metadata={"help": "Percent of train held out when there is no validation set."}
    )
    validation_split_name: str = field(
        default="validation",
        metadata={"help": "Evaluation split of a Hub dataset (the research runs used Minipile's 'test')."},
    )
    max_seq_length: int = field(default=512, metadata={"help": "Tokens per example (packed blocks or truncation)."})
    objective: str = field(
        default="mlm",
        metadata={
            "help": "Pretraining objective: " + "; ".join(f"{k} = {v.description}" for k, v in OBJECTIVES.items()),
            "choices": list(OBJECTIVES),
        },
    )
    mlm_probability: float = field(default=0.15, metadata={"help": "mlm: fraction of tokens chosen for prediction."})
    whole_word_masking: bool = field(default=False, metadata={"help": "mlm: mask every piece of a chosen word."})
    noise_schedule: str = field(
        default="linear",
        metadata={
            "help": "mdlm: noise schedule, one of " + ", ".join(NOISE_SCHEDULES) + ".",
            "choices": NOISE_SCHEDULES,
        },
    )
    t_min: float = field(
        default=0.0,
        metadata={"help": "mdlm: draw t from (t_min, 1]; > 0 truncates the NELBO (reported in the log)."},
    )
    mdlm_eval_samples: int = field(
        default=1, metadata={"help": "mdlm: noise levels per validation sequence in the deterministic eval NELBO."}
    )
    deletion_ratio: float = field(default=0.6, metadata={"help": "tsdae: fraction of tokens deleted from the input."})
    line_by_line: bool = field(
        default=False,
        metadata={"help": "One example per line, truncated, instead of packing (packing loses no tail)."},
    )
    max_train_samples: int | None = field(default=None, metadata={"help": "Keep only this many training examples."})
    max_eval_samples: int | None = field(default=None, metadata={"help": "Keep only this many evaluation examples."})
    preprocessing_num_workers: int | None = field(default=None, metadata={"help": "Processes for tokenization."})


@dataclass
class ExperimentArguments:
    experiment_log: str = field(
        default=str(DEFAULT_LOG),
        metadata={"help": "Markdown experiment log the finished run appends its row to; 'none' to skip."},
    )
    machine: str = field(default_factory=platform.node, metadata={"help": "Machine name for the experiment log."})
    wandb_project: str | None = field(
        default=None,
        metadata={"help": "W&B project (when --report_to includes wandb); default: $WANDB_PROJECT, else 'cogito'."},
    )


def run_id_for(config, now: datetime | None = None, objective: str = "mlm") -> str:
    """`{decoder}_{objective}_H{H}L{L}C{C}[_E{token dim}][_cpos{type}]_{YYYYmmdd_HHMMSS}`; a baseline
    transformers encoder: `{model_type}_{objective}_H{H}L{L}_{YYYYmmdd_HHMMSS}` (e.g. `bert_mlm_H128L2_...`)."""
    stamp = (now or datetime.now()).strftime("%Y%m%d_%H%M%S")
    check_objective(objective)
    if not isinstance(config, CogitoConfig):
        return f"{config.model_type}_{objective}_H{config.hidden_size}L{config.num_hidden_layers}_{stamp}"
    name = f"{config.decoder_type}_{objective}_H{config.hidden_size}L{config.num_hidden_layers}C{config.concept_num}"
    if config.token_embedding_dim is not None and config.token_embedding_dim != config.hidden_size:
        name += f"_E{config.token_embedding_dim}"
    if config.concept_position_type != "none":
        name += f"_cpos{config.concept_position_type}"
    return f"{name}_{stamp}"


def parse_config_overrides(text: str | None) -> dict[str, Any]:
    """`"hidden_size=256,use_bixt=true"` → typed values, checked against CogitoConfig's fields."""
    if not text:
        return {}
    defaults = CogitoConfig().to_dict()
    overrides: dict[str, Any] = {}
    for item in text.split(","):
        if not item.strip():
            continue
        key, sep, raw = item.partition("=")
        key, raw = key.strip(), raw.strip()
        if not sep or key not in defaults:
            known = sorted(k for k in defaults if not k.startswith("_"))
            raise ValueError(
                f"--config_overrides: {item.strip()!r} is not key=value with a CogitoConfig field; fields: "
                f"{', '.join(known)}"
            )
        overrides[key] = _parse_value(raw, defaults[key], key)
    return overrides


def _parse_value(raw: str, default: Any, key: str) -> Any:
    if raw.lower() in ("none", "null"):
        return None
    if isinstance(default, bool):
        if raw.lower() not in ("true", "false", "1", "0"):
            raise ValueError(f"--config_overrides: {key} takes true or false, got {raw!r}")
        return raw.lower() in ("true", "1")
    for kind in (int, float):
        if isinstance(default, kind) or default is None:
            try:
                return kind(raw)
            except ValueError:
                if default is not None:
                    raise ValueError(f"--config_overrides: {key} takes a {kind.__name__}, got {raw!r}") from None
    return raw


class WandbRunConfigCallback(TrainerCallback):
    """Adds Cogito's own settings (git commit, data, run id) to the W&B run config."""

    def __init__(self, extra: dict[str, Any]):
        self.extra = extra
        self.url: str | None = None  # the run's page, for the experiment log (None offline)

    def on_train_begin(self, args, state, control, **kwargs):
        try:
            import wandb
        except ImportError:
            return
        if wandb.run is not None:
            wandb.run.config.update(self.extra, allow_val_change=True)
            if not wandb.run.offline:
                self.url = wandb.run.url


def _write_json_atomic(path: Path, payload: dict) -> None:
    atomic_write_text(path, json.dumps(payload, indent=2, default=str))


def _dataset_label(data_args: DataArguments) -> str:
    if data_args.dataset_name:
        return data_args.dataset_name + (f"/{data_args.dataset_config_name}" if data_args.dataset_config_name else "")
    if data_args.train_file:
        return Path(data_args.train_file).name
    return "builtin (Austen + WordNet)"


def build_model_config(model_args: ModelArguments, tokenizer, max_seq_length: int) -> CogitoConfig:
    values = dict(
        vocab_size=len(tokenizer),
        hidden_size=model_args.hidden_size,
        num_hidden_layers=model_args.num_hidden_layers,
        num_attention_heads=max(1, min(8, model_args.hidden_size // 64)),  # the research protocol's rule
        intermediate_size=4 * model_args.hidden_size,
        concept_num=model_args.concept_num,
        max_position_embeddings=max_seq_length,
        decoder_type=model_args.decoder_type,
        pad_token_id=tokenizer.pad_token_id,
        cls_token_id=tokenizer.cls_token_id,
        sep_token_id=tokenizer.sep_token_id,
        mask_token_id=tokenizer.mask_token_id,
    )
    values.update(parse_config_overrides(model_args.config_overrides))
    return CogitoConfig(**values)


def build_baseline_config(model_args: ModelArguments, tokenizer, max_seq_length: int):
    """A `BertConfig` matching the concept encoder `build_model_config` would build: hidden size,
    layers, heads, FFN width, vocabulary, positions, dropout and special tokens."""
    from transformers import BertConfig

    cogito = build_model_config(model_args, tokenizer, max_seq_length)
    return BertConfig(
        vocab_size=cogito.vocab_size,
        hidden_size=cogito.hidden_size,
        num_hidden_layers=cogito.num_hidden_layers,
        num_attention_heads=cogito.num_attention_heads,
        intermediate_size=cogito.intermediate_size,
        max_position_embeddings=cogito.max_position_embeddings,
        hidden_dropout_prob=cogito.hidden_dropout_prob,
        attention_probs_dropout_prob=cogito.attention_probs_dropout_prob,
        pad_token_id=cogito.pad_token_id,
        mask_token_id=cogito.mask_token_id,
    )


def check_model_type(model_args: ModelArguments, data_args: DataArguments, training_args) -> None:
    """Refuse settings a baseline encoder would ignore (it has no concepts and one objective)."""
    if model_args.model_type not in MODEL_TYPES:
        raise ValueError(f"--model_type must be one of {', '.join(MODEL_TYPES)}; got {model_args.model_type!r}")
    if model_args.model_type == "cogito":
        return
    defaults = ModelArguments()
    refused = [
        f"--{name}" for name in ("decoder_type", "concept_num") if getattr(model_args, name) != getattr(defaults, name)
    ]
    if training_args.concept_losses != "none":
        refused.append(f"--concept_losses {training_args.concept_losses}")
    if refused:
        raise ValueError(
            f"--model_type {model_args.model_type} is a baseline encoder without concepts: {', '.join(refused)} "
            "cannot apply to it; drop them (or use --model_type cogito)"
        )
    if data_args.objective != "mlm":
        raise ValueError(
            f"--model_type {model_args.model_type} trains with --objective mlm only; "
            f"got --objective {data_args.objective}"
        )


def pretrain(
    model_args: ModelArguments,
    data_args: DataArguments,
    training_args: CogitoTrainingArguments,
    experiment_args: ExperimentArguments,
    given: Collection[str] | None = None,
) -> dict[str, Any]:
    """Run one pretraining job end to end; returns a summary (paths, metrics, run id).

    `given`: the flags set on the command line (see `check_resume_matches`).
    """
    from cogito.data.corpus import cache_root
    from cogito.data.text import (
        load_or_train_tokenizer,
        load_text_datasets,
        padding_fraction,
        tokenize_for_mlm,
    )
    from cogito.modeling_cogito import CogitoForMaskedLM

    # ---- resume: find the checkpoint and the run it belongs to
    output_dir = Path(training_args.output_dir) if training_args.output_dir else None
    checkpoint = training_args.resume_from_checkpoint
    previous_run: dict[str, Any] = {}
    if checkpoint is not None:
        if checkpoint in ("latest", "auto", "true", "True"):
            if output_dir is None:
                raise ValueError("--resume_from_checkpoint latest needs --output_dir of the run to resume")
            checkpoint = latest_complete_checkpoint(output_dir)
            if checkpoint is None and not (output_dir / RUN_FILE).is_file():
                raise ValueError(
                    f"--resume_from_checkpoint latest: {str(output_dir)!r} holds no checkpoint and no Cogito run "
                    f"({RUN_FILE}) to resume; check --output_dir, or leave out --resume_from_checkpoint for a new run"
                )
            if checkpoint is None:
                # Killed before its first complete checkpoint: the run starts again under its own id.
                logger.warning(f"No complete checkpoint in {output_dir}: starting the run from scratch")
        elif not (Path(checkpoint) / "trainer_state.json").is_file():
            raise ValueError(f"--resume_from_checkpoint {checkpoint!r} is not a complete checkpoint folder")
        if checkpoint is not None:
            output_dir = output_dir or Path(checkpoint).parent
        # The run keeps its id even when killed before its first complete checkpoint.
        run_file = output_dir / RUN_FILE if output_dir is not None else None
        if run_file is not None and run_file.is_file():
            previous_run = json.loads(run_file.read_text())
            check_resume_matches(previous_run, model_args, data_args, training_args, given)
    if model_args.decoder_type not in DECODER_TYPES:
        raise ValueError(f"--decoder_type must be one of {', '.join(DECODER_TYPES)}; got {model_args.decoder_type!r}")
    check_objective_arguments(data_args, training_args)
    check_model_type(model_args, data_args, training_args)
    if model_args.model_name_or_path is not None:
        # The checkpoint defines the architecture and tokenizer: size flags would be ignored.
        defaults = ModelArguments()
        changed = [
            f"--{name}"
            for name in (
                "decoder_type",
                "hidden_size",
                "num_hidden_layers",
                "concept_num",
                "config_overrides",
                "tokenizer_vocab_size",
                "tokenizer_algorithm",
            )
            if getattr(model_args, name) != getattr(defaults, name)
        ]
        if changed:
            raise ValueError(
                f"{', '.join(changed)} describe a new model; they cannot change the checkpoint "
                f"--model_name_or_path {model_args.model_name_or_path!r}. Drop them or start a new model."
            )
    if output_dir is not None and not previous_run and checkpoint is None and _holds_anything(output_dir):
        # A new run would overwrite another run's weights, checkpoints and summary.
        if (output_dir / RUN_FILE).is_file():
            raise ValueError(
                f"--output_dir {str(output_dir)!r} holds a run ({RUN_FILE}): pass --resume_from_checkpoint latest "
                "to continue it, or choose a new or empty folder"
            )
        raise ValueError(
            f"--output_dir {str(output_dir)!r} already holds files and no Cogito run: choose a new or empty folder"
        )
    if torch.distributed.is_available() and torch.distributed.is_initialized():
        # Every process has looked at the folder before any of them writes to it.
        torch.distributed.barrier()
    set_seed(training_args.seed)  # before the model is built (after a resume took the run's seed)

    # ---- data and tokenizer
    raw = load_text_datasets(
        train_file=data_args.train_file,
        validation_file=data_args.validation_file,
        dataset_name=data_args.dataset_name,
        dataset_config_name=data_args.dataset_config_name,
        text_column=data_args.text_column,
        validation_split_percentage=data_args.validation_split_percentage,
        seed=training_args.seed,
        validation_split_name=data_args.validation_split_name,
    )
    tokenizer_name = model_args.tokenizer_name or model_args.model_name_or_path
    if tokenizer_name is not None:
        tokenizer = load_or_train_tokenizer(tokenizer_name, model_max_length=data_args.max_seq_length)
    else:
        tokenizer = load_or_train_tokenizer(
            train_texts=raw["train"],
            vocab_size=model_args.tokenizer_vocab_size,
            algorithm=model_args.tokenizer_algorithm,
            save_dir=cache_root().parent
            / "tokenizers"
            / f"{model_args.tokenizer_algorithm}-{model_args.tokenizer_vocab_size}",
            model_max_length=data_args.max_seq_length,
        )

    # ---- model
    if model_args.model_type != "cogito":
        from transformers import AutoModelForMaskedLM, BertForMaskedLM

        if model_args.model_name_or_path is not None:
            model = AutoModelForMaskedLM.from_pretrained(model_args.model_name_or_path)
        else:
            model = BertForMaskedLM(build_baseline_config(model_args, tokenizer, data_args.max_seq_length))
    elif model_args.model_name_or_path is not None:
        model = CogitoForMaskedLM.from_pretrained(model_args.model_name_or_path)
    else:
        model = CogitoForMaskedLM(build_model_config(model_args, tokenizer, data_args.max_seq_length))
    steps_done = (
        checkpoint_steps(checkpoint, training_args.max_steps, training_args.num_train_epochs)
        if checkpoint is not None
        else None
    )
    if steps_done is not None:
        # Killed after the last step (before the final save): the checkpoint holds the final weights.
        # Trainer.train would take one step past max_steps; only the final save and evaluation remain.
        logger.warning(f"{checkpoint} holds the last step ({steps_done}): running the final save and evaluation")
        model = type(model).from_pretrained(checkpoint)
    config = model.config
    if len(tokenizer) > config.vocab_size:
        raise ValueError(
            f"the tokenizer has {len(tokenizer)} tokens but the model's vocab_size is {config.vocab_size}: ids "
            "beyond it cannot be embedded; use the model's own tokenizer (or a new model)"
        )
    if data_args.max_seq_length > config.max_position_embeddings:
        raise ValueError(
            f"--max_seq_length {data_args.max_seq_length} exceeds the model's max_position_embeddings="
            f"{config.max_position_embeddings}"
        )
    if data_args.objective == "tsdae" and getattr(config, "decoder_type", None) not in POSITION_ONLY_DECODERS:
        raise ValueError(
            f"--objective tsdae reconstructs the whole text from the concepts, which needs a position-only "
            f"decoder ({' or '.join(POSITION_ONLY_DECODERS)}); the model's decoder_type is {config.decoder_type!r}: "
            "pass --decoder_type perceiver_posonly"
        )
    objective = build_objective(
        data_args.objective,
        tokenizer,
        noise_schedule=data_args.noise_schedule,
        t_min=data_args.t_min,
        deletion_ratio=data_args.deletion_ratio,
        eval_samples=data_args.mdlm_eval_samples,
        seed=training_args.seed,
    )
    # Saved in config.json beside the architecture: how the weights were trained (generate reads the schedule).
    config.pretraining_objective = objective.config_record()

    tokenized = tokenize_for_mlm(
        raw,
        tokenizer,
        data_args.max_seq_length,
        line_by_line=data_args.line_by_line,
        num_proc=data_args.preprocessing_num_workers,
        keep_offsets=data_args.whole_word_masking,
    )
    train_dataset, eval_dataset = tokenized["train"], tokenized["validation"]
    if data_args.max_train_samples is not None:
        train_dataset = train_dataset.select(range(min(data_args.max_train_samples, len(train_dataset))))
    if data_args.max_eval_samples is not None:
        eval_dataset = eval_dataset.select(range(min(data_args.max_eval_samples, len(eval_dataset))))

    # Estimated on the first 10k sequences: reading a whole Minipile-sized column would not fit.
    train_padding = padding_fraction(
        train_dataset.select(range(min(10_000, len(train_dataset)))), data_args.max_seq_length
    )
    logger.warning(
        f"{len(train_dataset)} training sequences of up to {data_args.max_seq_length} tokens; "
        f"padding fraction {train_padding:.3f} ({'line by line' if data_args.line_by_line else 'packed'})"
    )

    # ---- run identity: the same run id (output folder, W&B run) across resumes
    if output_dir is None and training_args.world_size > 1:
        # Each process would stamp its own run id (a second apart) and write to its own folder.
        raise ValueError(
            f"a {training_args.world_size}-process run needs --output_dir: the processes cannot agree on "
            "a timestamped runs/<run id> folder by themselves"
        )
    run_id = previous_run.get("run_id") or run_id_for(config, objective=data_args.objective)
    if output_dir is None:
        run_id, output_dir = claim_run_folder(Path("runs"), run_id)
    training_args.output_dir = str(output_dir)
    training_args.run_name = training_args.run_name or run_id
    losses = training_args.concept_losses
    architecture = f"H{config.hidden_size}L{config.num_hidden_layers}" + (
        f"C{config.concept_num}" if model_args.model_type == "cogito" else ""
    )
    family = config.decoder_type if model_args.model_type == "cogito" else model_args.model_type
    setup_wandb(training_args.report_to, experiment_args.wandb_project)
    # This run's W&B identity, whatever an earlier run in this process (or the shell) left set.
    os.environ["WANDB_RUN_ID"] = run_id
    os.environ["WANDB_RESUME"] = "allow"
    os.environ["WANDB_RUN_GROUP"] = f"{family}_{architecture}"
    os.environ["WANDB_TAGS"] = ",".join(
        [
            family,
            data_args.objective,
            *losses.split(),
            training_args.loss_weighting,
            _dataset_label(data_args),
        ]
    )
    run_info = {
        "run_id": run_id,
        "model_type": model_args.model_type,
        "git_commit": git_commit(),
        "dataset": _dataset_label(data_args),
        "objective": objective.config_record(),
        "concept_losses": losses,
        "loss_weighting": training_args.loss_weighting,
        "loss_weight": training_args.loss_weight,
        "model": dataclasses.asdict(model_args),
        "data": dataclasses.asdict(data_args),
        "training": {
            key: getattr(training_args, key) for key in (*_RESUME_TRAINING_FIXED, *_RESUME_TRAINING_KEPT, *_RUN_LENGTH)
        },
    }
    if training_args.should_save:
        _write_json_atomic(output_dir / RUN_FILE, run_info)

    trainer = CogitoTrainer(
        model=model,
        args=training_args,
        train_dataset=train_dataset,
        eval_dataset=eval_dataset,
        data_collator=objective_collator(
            objective,
            tokenizer,
            mlm_probability=data_args.mlm_probability,
            whole_word_masking=data_args.whole_word_masking,
        ),
        processing_class=tokenizer,
        objective=objective,
        callbacks=[wandb_callback := WandbRunConfigCallback(run_info)],
    )
    if steps_done is not None:
        trainer.state = TrainerState.load_from_json(str(Path(checkpoint) / "trainer_state.json"))
        metrics: dict[str, Any] = {}  # train() never ran in this process: no train_* speed figures
    else:
        try:
            metrics = dict(trainer.train(resume_from_checkpoint=checkpoint).metrics)
        except NonFiniteLossError as error:
            logger.error(str(error))
            raise
    trainer.save_model(str(output_dir))  # final weights + config + code files + tokenizer
    metrics.update(trainer.evaluate())
    trainer.save_metrics("all", metrics)
    trainer.save_state()

    summary = {
        "run_id": run_id,
        "model_type": model_args.model_type,
        "output_dir": str(output_dir),
        "resumed_from": checkpoint,
        "global_step": trainer.state.global_step,
        "world_size": training_args.world_size,
        "train_sequences": len(train_dataset),
        "train_padding_fraction": round(train_padding, 4),
        "metrics": metrics,
        "wandb_url": wandb_callback.url,
    }
    if trainer.is_world_process_zero():
        _write_json_atomic(output_dir / "cogito_summary.json", summary)
    return summary


def _holds_anything(folder: Path) -> bool:
    return folder.is_dir() and any(folder.iterdir())


def checkpoint_steps(checkpoint: str | os.PathLike[str], max_steps: int, num_train_epochs: float) -> int | None:
    """The checkpoint's global step when it is the run's last one (training is over), else None."""
    state = json.loads((Path(checkpoint) / "trainer_state.json").read_text(encoding="utf-8"))
    if max_steps > 0:
        target = max_steps
    elif state.get("num_train_epochs") == num_train_epochs:  # the same epochs: the same number of steps
        target = state.get("max_steps", 0)
    else:
        return None
    step = state.get("global_step", 0)
    return step if target > 0 and step >= target else None


def claim_run_folder(root: Path, run_id: str) -> tuple[str, Path]:
    """Create `root/<run id>` exclusively; a run started in the same second gets `<run id>_2`, `_3`, ..."""
    root.mkdir(parents=True, exist_ok=True)
    for attempt in range(1, 1000):
        candidate = run_id if attempt == 1 else f"{run_id}_{attempt}"
        try:
            (root / candidate).mkdir()
        except FileExistsError:
            continue
        return candidate, root / candidate
    raise ValueError(f"{root} already holds 999 run folders named {run_id}*: clean up or pass --output_dir")


# What a resumed run must keep: the checkpoint's run file is the truth.
_RESUME_FIXED = ("concept_losses", "loss_weighting", "loss_weight")
# Data settings that may change on resume (how much of the data is read, how fast).
_RESUME_FREE = ("max_train_samples", "max_eval_samples", "preprocessing_num_workers")
# Training settings that shape the optimisation: a resumed run keeps them.
_RESUME_TRAINING_FIXED = (
    "per_device_train_batch_size",
    "gradient_accumulation_steps",
    "learning_rate",
    "lr_scheduler_type",
    "lr_scheduler_kwargs",
    "warmup_steps",
    "optim",
    "weight_decay",
    "adam_beta1",
    "adam_beta2",
    "adam_epsilon",
    "max_grad_norm",
    "label_smoothing_factor",
    "bf16",
    "fp16",
    "seed",
    "data_seed",
)
# How long the run trains: kept on resume unless either flag is given (a larger value trains further).
_RUN_LENGTH = ("max_steps", "num_train_epochs")
# Bookkeeping a resumed run keeps unless a flag sets it anew.
_RESUME_TRAINING_KEPT = (
    "eval_strategy",
    "eval_steps",
    "save_strategy",
    "save_steps",
    "save_total_limit",
    "logging_steps",
    "per_device_eval_batch_size",
)


def check_resume_matches(
    previous_run: dict[str, Any],
    model_args: ModelArguments,
    data_args: DataArguments,
    training_args: CogitoTrainingArguments,
    given: Collection[str] | None = None,
) -> None:
    """Make the arguments of a resumed run its own; refuse, before anything is written, contradictions.

    The run file is the truth: a flag that was not given takes the run's recorded value (the model
    is rebuilt from them before the checkpoint's weights are loaded), a flag given with another
    value than the run's is refused. `given` names the flags on the command line; without it
    (the Python API) a value equal to its default counts as not given. Only how much data is read
    and how fast may change.
    """
    differences, adopted = [], []

    def reconcile(arguments: Any, key: str, value: Any, default: Any) -> None:
        current = getattr(arguments, key)
        if current == value:
            return
        if (key not in given) if given is not None else (current == default):
            setattr(arguments, key, value)
            adopted.append(f"--{key} {value!r}")
        else:
            differences.append(f"--{key} {current!r} (the run used {value!r})")

    for group, arguments in (("model", model_args), ("data", data_args)):
        defaults = {f.name: f.default for f in dataclasses.fields(arguments)}
        for key, value in previous_run.get(group, {}).items():
            if key in defaults and key not in _RESUME_FREE:
                reconcile(arguments, key, value, defaults[key])
    training_defaults = {
        f.name: f.default if f.default_factory is dataclasses.MISSING else f.default_factory()
        for f in dataclasses.fields(type(training_args))
    }
    for key in _RESUME_FIXED:
        if key in previous_run:
            reconcile(training_args, key, previous_run[key], training_defaults[key])
    recorded = previous_run.get("training", {})
    for key in _RESUME_TRAINING_FIXED:
        if key in recorded:
            reconcile(training_args, key, recorded[key], training_defaults[key])
    length = resumed_run_length(recorded, training_args, given)
    if length != (training_args.max_steps, training_args.num_train_epochs):
        training_args.max_steps, training_args.num_train_epochs = length
        adopted.append(f"--max_steps {length[0]} --num_train_epochs {length[1]}")
    for key in _RESUME_TRAINING_KEPT:
        kept = (key not in given) if given is not None else (getattr(training_args, key) == training_defaults[key])
        if key in recorded and getattr(training_args, key) != recorded[key] and kept:
            setattr(training_args, key, recorded[key])
            adopted.append(f"--{key} {recorded[key]!r}")
    if differences:
        raise ValueError(
            f"resuming run {previous_run.get('run_id')!r} with different settings: {'; '.join(differences)}; "
            "drop these flags (the run's settings are kept) or start a new run"
        )
    if adopted:
        logger.warning(f"resuming run {previous_run.get('run_id')!r} with its own settings: {', '.join(adopted)}")


def resumed_run_length(
    recorded: dict[str, Any], training_args: CogitoTrainingArguments, given: Collection[str] | None
) -> tuple[int, float]:
    """(max_steps, num_train_epochs) of a resumed run: the run's own, unless `--max_steps` or
    `--num_train_epochs` is given (then both as given: one may replace the other)."""
    asked = (training_args.max_steps, training_args.num_train_epochs)
    if any(key not in recorded for key in _RUN_LENGTH):
        return asked
    if given is not None:
        chosen = any(key in given for key in _RUN_LENGTH)
    else:
        defaults = CogitoTrainingArguments.__dataclass_fields__
        chosen = any(getattr(training_args, key) != defaults[key].default for key in _RUN_LENGTH)
    return asked if chosen else (recorded["max_steps"], recorded["num_train_epochs"])


def check_objective_arguments(data_args: DataArguments, training_args: CogitoTrainingArguments) -> None:
    """Refuse objective flags that the chosen objective would not use."""
    objective = check_objective(data_args.objective)
    defaults = DataArguments()
    owners = {
        "mlm_probability": "mlm",
        "whole_word_masking": "mlm",
        "noise_schedule": "mdlm",
        "t_min": "mdlm",
        "mdlm_eval_samples": "mdlm",
        "deletion_ratio": "tsdae",
    }
    for name, owner in owners.items():
        if owner != objective and getattr(data_args, name) != getattr(defaults, name):
            raise ValueError(
                f"--{name} applies to --objective {owner} only; this run's objective is {objective}: drop the flag"
            )
    if data_args.noise_schedule not in NOISE_SCHEDULES:
        raise ValueError(
            f"--noise_schedule must be one of {', '.join(NOISE_SCHEDULES)}; got {data_args.noise_schedule!r}"
        )
    if training_args.label_smoothing_factor:
        raise ValueError(
            f"--label_smoothing_factor {training_args.label_smoothing_factor} is not applied by cogito pretrain "
            "(its losses are reported as they are optimised); drop the flag"
        )
