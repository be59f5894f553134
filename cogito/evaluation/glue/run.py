"""Fine-tune and evaluate on GLUE (and local) tasks: `run_glue(GlueArguments(...))`.

The command line (`cogito glue`, `examples/run_glue.py`) and the scores it writes into the
experiment log live in `cogito.cli.glue`.

One code path for Cogito checkpoints (loaded through the Auto classes with
`trust_remote_code=True`; other repositories run their own code only with --trust_remote_code)
and any transformers model (BERT baselines). Heads:

* `concept_attention`, `mean`, `via_decoder` and the research's GLUE heads `cls_query_ffn`,
  `decoder_dense_mean`, `concept_weighted`: Cogito's `classifier_pooling`;
* `native`: a non-Cogito model's own sequence-classification head;
* `pair`: the two sentences encoded separately, pooled, and classified from
  `[a; b; |a-b|; a*b]` (`PairClassifier`);
* `zero_shot`: no training; cosine similarity of mean-pooled embeddings (STS-B).

Model selection is honest by default (`final`: the last epoch is reported); `heldout` picks
the epoch on a held-out slice of train; `best_on_validation` reproduces the research log's
practice and says so in every result.
"""

from __future__ import annotations

import csv
import io
import json
import math
import time
from collections.abc import Sequence
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from transformers import PretrainedConfig, TrainingArguments
from transformers.loss.loss_utils import ForSequenceClassificationLoss
from transformers.modeling_outputs import SequenceClassifierOutput
from transformers.utils import logging

from cogito._io import TOKENIZER_FILES, atomic_write_text, has_tokenizer_files
from cogito._wandb import finish_wandb_run, reports_to_wandb, setup_wandb
from cogito.configuration_cogito import CLASSIFIER_POOLINGS
from cogito.evaluation.glue.tasks import (
    METRIC_NAMES,
    TASKS,
    GlueTask,
    custom_task,
    floor_metrics,
    get_task,
    load_task_data,
    near_floor,
    predictions_from_logits,
    resolve_tasks,
    task_metrics,
)

logger = logging.get_logger(__name__)

# Cogito heads are its classification poolings (one list, in the config module).
COGITO_HEADS = CLASSIFIER_POOLINGS
HEADS = (*COGITO_HEADS, "native", "pair", "zero_shot")
PAIR_POOLINGS = ("mean", "concept_attention", "via_decoder")
SELECTIONS = {
    "final": "final_epoch",
    "heldout": "heldout",
    "best_on_validation": "best_on_validation (optimistic)",
}
DEFAULT_TASKS = ("mrpc", "stsb", "qqp", "mnli")  # the research log's default set
# Outputs that are not predictions: never gathered at evaluation (concept states are (N, C, H)).
NON_PREDICTION_KEYS = ["concept_states", "hidden_states", "attentions"]
RESULT_COLUMNS = (
    "task",
    "trained_on",
    "head",
    "split",
    "metric",
    "score",
    "floor",
    "combined_score",
    "floor_combined_score",
    "selection",
    "selected_epoch",
    "epochs",
    "params",
    "train_seconds",
    "eval_seconds",
    "seed",
    "source_checkpoint",
)


# TrainingArguments settings `finetune` sets itself for every (task, head) run: refused on input.
# (`label_names` is this command's labels of a custom task; the Trainer's is always ["labels"].)
SET_PER_RUN = (
    "eval_strategy",
    "eval_steps",
    "save_strategy",
    "save_steps",
    "load_best_model_at_end",
    "metric_for_best_model",
    "greater_is_better",
    "run_name",
    "push_to_hub",
    "resume_from_checkpoint",
)


@dataclass(kw_only=True)
class GlueArguments(TrainingArguments):
    """Flags of `cogito glue`: every `TrainingArguments` flag (defaults set to the research protocol,
    see `research-notes.md`) plus the tasks, heads, data and model selection.

    `output_dir` is where results.json/results.csv go; each (task, head) fine-tuning runs in
    `output_dir/runs/<task>-<head>` with the evaluation and save strategy its `--selection` needs.
    """

    model_name_or_path: str = field(metadata={"help": "Cogito folder (ours) or any transformers model id/folder."})
    output_dir: str = field(metadata={"help": "Where results.json/results.csv and per-run folders go."})
    tasks: list[str] = field(
        default_factory=lambda: list(DEFAULT_TASKS),
        metadata={
            "help": f"Tasks, or 'all' for every GLUE task. Known: {', '.join(TASKS)}; other names need --text_columns."
        },
    )
    heads: list[str] | None = field(
        default=None,
        metadata={"help": f"Heads to run, each a separate fine-tuning: {', '.join(HEADS)}. Default: the model's own."},
    )
    pair_pooling: str = field(
        default="mean", metadata={"help": f"Pooling inside the pair head: {', '.join(PAIR_POOLINGS)}."}
    )
    tokenizer_name: str | None = field(default=None, metadata={"help": "Tokenizer, if not the model folder's."})
    trust_remote_code: bool = field(
        default=False,
        metadata={
            "help": "Run the model repository's own code (always done for local Cogito folders, whose code is "
            "Cogito's)."
        },
    )
    data_dir: str | None = field(
        default=None, metadata={"help": "Folder in the GLUE download layout (<TASK>/train.tsv, dev.tsv)."}
    )
    train_file: str | None = field(
        default=None, metadata={"help": "Explicit train file (.tsv/.csv/.jsonl); one task only."}
    )
    validation_file: str | None = field(default=None, metadata={"help": "Explicit validation file; one task only."})
    text_columns: list[str] | None = field(
        default=None, metadata={"help": "Text columns of a custom local task (1 or 2)."}
    )
    label_column: str = field(default="label", metadata={"help": "Label column of a custom local task."})
    label_names: list[str] | None = field(
        default=None, metadata={"help": "Labels of a custom task (default: read from train)."}
    )
    regression: bool = field(default=False, metadata={"help": "The custom task is regression (Pearson/Spearman)."})
    selection: str = field(default="final", metadata={"help": f"Epoch reported: {', '.join(SELECTIONS)}."})
    heldout_fraction: float = field(
        default=0.1, metadata={"help": "Share of train held out with --selection heldout."}
    )
    max_seq_length: int = field(default=128, metadata={"help": "Tokens per example (pairs truncated together)."})
    max_train_samples: int | None = field(default=None, metadata={"help": "Keep the first N training rows."})
    max_eval_samples: int | None = field(
        default=None, metadata={"help": "Keep the first N rows of each validation split."}
    )
    wandb_project: str | None = field(
        default=None,
        metadata={"help": "W&B project (when --report_to includes wandb); default: $WANDB_PROJECT, else 'cogito'."},
    )
    # The research protocol's TrainingArguments defaults.
    num_train_epochs: float | None = field(
        default=None, metadata={"help": "Default per task: 20 small, 5 SST-2, 3 large."}
    )
    learning_rate: float = field(default=1e-5, metadata={"help": "AdamW learning rate."})
    per_device_train_batch_size: int = field(default=96, metadata={"help": "Training batch per device."})
    per_device_eval_batch_size: int = field(default=96, metadata={"help": "Evaluation batch per device."})
    warmup_steps: float = field(default=100, metadata={"help": "Linear warmup steps (a fraction if < 1)."})
    logging_steps: float = field(default=50, metadata={"help": "Log the training loss every N steps."})
    report_to: None | str | list[str] = field(  # the annotation TrainingArguments uses (HfArgumentParser reads it)
        default="none", metadata={"help": "Trainer loggers: none, wandb, tensorboard, ... (comma-separated)."}
    )

    def __post_init__(self) -> None:
        if self.selection not in SELECTIONS:
            raise ValueError(f"--selection must be one of {', '.join(SELECTIONS)}; got {self.selection!r}")
        if not 0.0 < self.heldout_fraction < 1.0:
            raise ValueError(f"--heldout_fraction must be in (0, 1), got {self.heldout_fraction!r}")
        if self.pair_pooling not in PAIR_POOLINGS:
            raise ValueError(f"--pair_pooling must be one of {', '.join(PAIR_POOLINGS)}; got {self.pair_pooling!r}")
        for head in self.heads or ():
            if head not in HEADS:
                raise ValueError(f"unknown head {head!r}; choose from {', '.join(HEADS)}")
        for name in (
            "per_device_train_batch_size",
            "per_device_eval_batch_size",
            "max_seq_length",
            "gradient_accumulation_steps",
        ):
            if getattr(self, name) < 1:
                raise ValueError(f"--{name} must be >= 1, got {getattr(self, name)!r}")
        for name in ("max_train_samples", "max_eval_samples"):
            if getattr(self, name) is not None and getattr(self, name) < 1:
                raise ValueError(f"--{name} must be >= 1 (or left out for every row), got {getattr(self, name)!r}")
        if not (self.learning_rate > 0 and math.isfinite(self.learning_rate)):
            raise ValueError(f"--learning_rate must be a finite number > 0, got {self.learning_rate!r}")
        if self.num_train_epochs is not None and self.num_train_epochs <= 0:
            raise ValueError(f"--num_train_epochs must be > 0, got {self.num_train_epochs!r}")
        if self.text_columns is None:
            custom = [
                f"--{name}"
                for name, default in (("regression", False), ("label_names", None), ("label_column", "label"))
                if getattr(self, name) != default
            ]
            if custom:
                raise ValueError(f"{', '.join(custom)} describe a custom local task and need --text_columns")
        defaults = {f.name: f.default for f in fields(TrainingArguments)}
        fixed = [f"--{name}" for name in SET_PER_RUN if getattr(self, name) != defaults[name]]
        if fixed:
            raise ValueError(
                f"{', '.join(fixed)}: cogito glue sets these for every (task, head) run itself "
                "(evaluation and saving follow --selection); drop them"
            )
        if isinstance(self.report_to, str) and "," in self.report_to:
            self.report_to = [name.strip() for name in self.report_to.split(",") if name.strip()]
        super().__post_init__()

    def run_arguments(self, **per_run: Any) -> TrainingArguments:
        """Plain `TrainingArguments` for one fine-tuning: this command's settings with `per_run` on top."""
        values = {f.name: getattr(self, f.name) for f in fields(TrainingArguments) if f.init}
        values.update(per_run)
        return TrainingArguments(**values)


# --------------------------------------------------------------------------- models


def is_cogito(config) -> bool:
    return getattr(config, "model_type", None) == "cogito"


def trusts_remote_code(model_name_or_path: str, opt_in: bool = False) -> bool:
    """Whether to run a model's own code: always for a local Cogito folder (its code is Cogito's),
    otherwise only when the user opted in with --trust_remote_code, as transformers' scripts do."""
    config = Path(model_name_or_path) / "config.json"
    if config.is_file():
        try:
            if json.loads(config.read_text()).get("model_type") == "cogito":
                return True
        except (OSError, ValueError):
            pass
    return opt_in


def load_tokenizer(model_name_or_path: str, tokenizer_name: str | None = None, trust_remote_code: bool = False):
    """The tokenizer of `tokenizer_name`, else of the model; a folder without one is refused."""
    from transformers import AutoTokenizer

    source = tokenizer_name or model_name_or_path
    folder = Path(source)
    if tokenizer_name is None and folder.is_dir() and not has_tokenizer_files(folder):
        raise ValueError(
            f"model folder {folder} has no tokenizer (none of {', '.join(TOKENIZER_FILES)}); "
            "pass --tokenizer_name with the tokenizer it was trained with"
        )
    return AutoTokenizer.from_pretrained(
        source, trust_remote_code=trusts_remote_code(model_name_or_path, trust_remote_code)
    )


def mean_pool(states: torch.Tensor, attention_mask: torch.Tensor | None) -> torch.Tensor:
    """Mean over positions where `attention_mask` is 1 (all positions without a mask). `(B, L, H) -> (B, H)`.

    Only for non-Cogito encoders (BERT baselines): a Cogito model pools through its own `pool`.
    """
    if attention_mask is None:
        return states.mean(dim=1)
    weights = attention_mask.to(states.dtype).unsqueeze(-1)  # (B, L, 1)
    return (states * weights).sum(dim=1) / weights.sum(dim=1).clamp(min=1.0)


def embed(encoder: nn.Module, input_ids: torch.Tensor, attention_mask: torch.Tensor | None) -> torch.Tensor:
    """One `(B, H)` vector per sentence.

    A Cogito encoder (the body of `CogitoForSequenceClassification`, see `load_encoder`) runs its
    classifier's own path up to the classifier: `cogito.encode`, then `pool` with its
    `classifier_pooling`. Other encoders mean-pool their token states over real tokens.
    """
    if is_cogito(encoder.config):
        position_ids, encoded = encoder.cogito.encode(input_ids, attention_mask, None, None, None)
        return encoder.pool(encoded.last_hidden_state, input_ids, attention_mask, position_ids)  # (B, H)
    states = encoder(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state
    return mean_pool(states, attention_mask)  # (B, N, H) -> (B, H)


def pair_features(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """`[a; b; |a-b|; a*b]` (Conneau et al. 2017, InferSent; Reimers & Gurevych 2019, SBERT). `(B, 4H)`."""
    return torch.cat([a, b, (a - b).abs(), a * b], dim=-1)


class PairClassifier(nn.Module):
    """Siamese sentence-pair classifier over any encoder, usable with the `Trainer`.

    Both sentences go through the same encoder and `embed`; a linear layer reads
    `pair_features(a, b)`. `num_labels=1` means regression (MSE), otherwise cross-entropy
    (transformers' `ForSequenceClassificationLoss`).
    """

    def __init__(self, encoder: nn.Module, hidden_size: int, num_labels: int, dropout: float = 0.1):
        super().__init__()
        self.encoder = encoder
        self.num_labels = num_labels
        problem_type = "regression" if num_labels == 1 else "single_label_classification"
        self.loss_config = PretrainedConfig(num_labels=num_labels, problem_type=problem_type)
        self.dropout = nn.Dropout(dropout)
        self.classifier = nn.Linear(4 * hidden_size, num_labels)
        nn.init.normal_(self.classifier.weight, std=0.02)
        nn.init.zeros_(self.classifier.bias)

    def forward(
        self,
        input_ids_a: torch.Tensor,
        attention_mask_a: torch.Tensor,
        input_ids_b: torch.Tensor,
        attention_mask_b: torch.Tensor,
        labels: torch.Tensor | None = None,
    ) -> SequenceClassifierOutput:
        a = embed(self.encoder, input_ids_a, attention_mask_a)  # (B, H)
        b = embed(self.encoder, input_ids_b, attention_mask_b)  # (B, H)
        logits = self.classifier(self.dropout(pair_features(a, b)))  # (B, num_labels)
        loss = None
        if labels is not None:  # transformers' sequence-classification loss, as BERT's head uses
            loss = ForSequenceClassificationLoss(labels, logits.float(), self.loss_config)
        return SequenceClassifierOutput(loss=loss, logits=logits)


def load_encoder(model_name_or_path: str, pooling: str = "mean", trust_remote_code: bool = False) -> nn.Module:
    """The base encoder for `pair`/`zero_shot`: a Cogito classifier body pooling with `pooling`
    (its `.cogito` and `.pool`; the classifier is dropped), or any other model's `AutoModel` (mean only)."""
    from transformers import AutoConfig, AutoModel, AutoModelForSequenceClassification

    trust = trusts_remote_code(model_name_or_path, trust_remote_code)
    config = AutoConfig.from_pretrained(model_name_or_path, trust_remote_code=trust)
    if not is_cogito(config):
        if pooling != "mean":
            raise ValueError(
                f"pair pooling {pooling!r} needs a Cogito model; {model_name_or_path} is {config.model_type!r} "
                "(use mean)"
            )
        return AutoModel.from_pretrained(model_name_or_path, trust_remote_code=trust)
    model = AutoModelForSequenceClassification.from_pretrained(
        model_name_or_path, trust_remote_code=trust, classifier_pooling=pooling, num_labels=1
    )
    model.classifier = None  # only `.cogito` and `.pool` are used: no parameter left without gradient
    return model


def build_model(
    model_name_or_path: str, task: GlueTask, head: str, pair_pooling: str = "mean", trust_remote_code: bool = False
) -> nn.Module:
    """A fresh model for one fine-tuning: the chosen head on the checkpoint's encoder."""
    from transformers import AutoConfig, AutoModelForSequenceClassification

    trust = trusts_remote_code(model_name_or_path, trust_remote_code)
    config = AutoConfig.from_pretrained(model_name_or_path, trust_remote_code=trust)
    check_head(head, config, model_name_or_path)
    if head == "pair":
        if not task.is_pair:
            raise ValueError(f"the pair head needs a sentence-pair task; {task.name} has one text column")
        encoder = load_encoder(model_name_or_path, pair_pooling, trust)
        dropout = getattr(encoder.config, "hidden_dropout_prob", 0.1)
        return PairClassifier(encoder, encoder.config.hidden_size, task.num_labels, dropout=dropout)
    kwargs: dict[str, Any] = {
        "num_labels": task.num_labels,
        "problem_type": "regression" if task.is_regression else "single_label_classification",
    }
    if task.label_names:
        kwargs["id2label"] = dict(enumerate(task.label_names))
        kwargs["label2id"] = {name: i for i, name in enumerate(task.label_names)}
    if head in COGITO_HEADS:
        kwargs["classifier_pooling"] = head
    model = AutoModelForSequenceClassification.from_pretrained(
        model_name_or_path, trust_remote_code=trust, ignore_mismatched_sizes=True, **kwargs
    )
    # The classifiers' losses are means over the batch: the Trainer must divide them under
    # gradient accumulation, which it skips for models whose forward takes **kwargs.
    model.accepts_loss_kwargs = False
    model.config.keys_to_ignore_at_inference = list(NON_PREDICTION_KEYS)
    return model


def check_head(head: str, config, model_name_or_path: str) -> None:
    allowed = (*COGITO_HEADS, "pair", "zero_shot") if is_cogito(config) else ("native", "pair", "zero_shot")
    if head not in allowed:
        kind = "a Cogito model" if is_cogito(config) else f"a {config.model_type!r} model"
        raise ValueError(
            f"head {head!r} does not apply to {model_name_or_path} ({kind}); choose from {', '.join(allowed)}"
        )


def default_head(config) -> str:
    return config.classifier_pooling if is_cogito(config) else "native"


# --------------------------------------------------------------------------- data for the Trainer


def tokenized_dataset(data: dict[str, list], tokenizer, task: GlueTask, max_length: int, pair: bool):
    """A `datasets.Dataset` of token ids (one sequence, or `_a`/`_b` for the pair head) and `label`."""
    from datasets import Dataset, Features, Value
    from datasets import Sequence as HFSequence

    texts = [data["text_a"]] + ([data["text_b"]] if "text_b" in data else [])
    if pair:
        columns: dict[str, list] = {}
        for side, sentences in zip("ab", texts):
            encoded = tokenizer(sentences, truncation=True, max_length=max_length)
            columns[f"input_ids_{side}"] = encoded["input_ids"]
            columns[f"attention_mask_{side}"] = encoded["attention_mask"]
    else:
        encoded = tokenizer(*texts, truncation=True, max_length=max_length)
        columns = {"input_ids": encoded["input_ids"], "attention_mask": encoded["attention_mask"]}
    features = {name: HFSequence(Value("int32")) for name in columns}
    if "label" in data:
        columns["label"] = data["label"]
        features["label"] = Value("float32") if task.is_regression else Value("int64")
    return Dataset.from_dict(columns, features=Features(features))


class PairCollator:
    """Pads the two sides of a pair batch separately."""

    def __init__(self, tokenizer, regression: bool):
        self.tokenizer = tokenizer
        self.regression = regression

    def __call__(self, features: list[dict[str, Any]]) -> dict[str, torch.Tensor]:
        batch: dict[str, torch.Tensor] = {}
        for side in "ab":
            padded = self.tokenizer.pad(
                [
                    {"input_ids": f[f"input_ids_{side}"], "attention_mask": f[f"attention_mask_{side}"]}
                    for f in features
                ],
                return_tensors="pt",
            )
            batch[f"input_ids_{side}"] = padded["input_ids"]
            batch[f"attention_mask_{side}"] = padded["attention_mask"]
        if "label" in features[0]:
            dtype = torch.float32 if self.regression else torch.long
            batch["labels"] = torch.tensor([f["label"] for f in features], dtype=dtype)
        return batch


def heldout_split(data: dict[str, list], fraction: float, seed: int) -> tuple[dict[str, list], dict[str, list]]:
    """(train, heldout): a seeded random `fraction` of the training rows held out
    (`datasets.Dataset.train_test_split`)."""
    from datasets import Dataset

    n = len(data["text_a"])
    n_heldout = max(1, round(n * fraction))
    if n_heldout >= n:
        raise ValueError(f"--heldout_fraction {fraction} leaves no training rows out of {n}")
    split = Dataset.from_dict(data).train_test_split(test_size=n_heldout, seed=seed)
    return split["train"].to_dict(), split["test"].to_dict()


def _head_rows(data: dict[str, list], limit: int | None) -> dict[str, list]:
    return data if limit is None else {k: v[:limit] for k, v in data.items()}


# --------------------------------------------------------------------------- zero-shot


@torch.no_grad()
def sentence_embeddings(
    encoder: nn.Module, tokenizer, texts: Sequence[str], batch_size: int = 64, max_length: int = 128
) -> torch.Tensor:
    """`embed` over `texts` in batches, in eval mode. `(N, H)`."""
    encoder.eval()
    device = next(encoder.parameters()).device
    out = []
    for start in range(0, len(texts), batch_size):
        batch = tokenizer(
            list(texts[start : start + batch_size]),
            truncation=True,
            max_length=max_length,
            padding=True,
            return_tensors="pt",
        )
        out.append(embed(encoder, batch["input_ids"].to(device), batch["attention_mask"].to(device)).float().cpu())
    return torch.cat(out)


def zero_shot_similarity(
    encoder: nn.Module,
    tokenizer,
    texts_a: Sequence[str],
    texts_b: Sequence[str],
    batch_size: int = 64,
    max_length: int = 128,
) -> np.ndarray:
    """Cosine similarity of the pooled embeddings of each pair; no training."""
    a = sentence_embeddings(encoder, tokenizer, texts_a, batch_size, max_length)
    b = sentence_embeddings(encoder, tokenizer, texts_b, batch_size, max_length)
    return F.cosine_similarity(a, b, dim=-1).numpy()


# --------------------------------------------------------------------------- one run


def _model_name(model_name_or_path: str) -> str:
    return Path(model_name_or_path.rstrip("/")).name or model_name_or_path


def _epochs_for(task: GlueTask, args: GlueArguments) -> float:
    return args.num_train_epochs if args.num_train_epochs is not None else float(task.epochs)


def _result(
    task: GlueTask, key: str, head: str, args: GlueArguments, metrics: dict[str, float], labels: Sequence, **extra
) -> dict[str, Any]:
    """One (task, split, head) result; `floor` is the best constant answer's score on the same `labels`."""
    hub_split, _ = task.splits()[key]
    return {
        "task": key,
        "trained_on": task.name,
        "head": head,
        "pair_pooling": args.pair_pooling if head == "pair" else None,
        "split": hub_split,
        "metrics": {k: v for k, v in metrics.items() if k != "combined_score"},
        "combined_score": metrics["combined_score"],
        "floor": floor_metrics(task, labels),
        "seed": args.seed,
        "source_checkpoint": args.model_name_or_path,
        **extra,
    }


def run_zero_shot(
    task: GlueTask, data: dict[str, dict[str, list]], tokenizer, args: GlueArguments
) -> list[dict[str, Any]]:
    """Zero-shot similarity on each validation split of a regression pair task (STS-B)."""
    if not (task.is_regression and task.is_pair):
        raise ValueError(f"zero_shot applies to sentence-pair similarity tasks (stsb); {task.name} is not one")
    from transformers import set_seed

    set_seed(args.seed)
    encoder = load_encoder(args.model_name_or_path, "mean", args.trust_remote_code)
    results = []
    for key in task.splits():
        split = _head_rows(data[key], args.max_eval_samples)
        start = time.perf_counter()
        similarity = zero_shot_similarity(
            encoder, tokenizer, split["text_a"], split["text_b"], args.per_device_eval_batch_size, args.max_seq_length
        )
        seconds = time.perf_counter() - start
        metrics = task_metrics(task, similarity, split["label"])
        results.append(
            _result(
                task,
                key,
                "zero_shot",
                args,
                metrics,
                split["label"],
                selection="none (zero-shot)",
                selected_epoch=None,
                epochs=0,
                params=sum(p.numel() for p in encoder.parameters()),
                num_train=0,
                num_validation=len(split["label"]),
                num_heldout=0,
                train_seconds=0.0,
                eval_seconds=seconds,
            )
        )
    return results


def finetune(
    task: GlueTask, head: str, data: dict[str, dict[str, list]], tokenizer, args: GlueArguments
) -> list[dict[str, Any]]:
    """Fine-tune one head on one task; one result per validation split at the selected epoch."""
    from transformers import Trainer, set_seed
    from transformers.data.data_collator import DataCollatorWithPadding

    set_seed(args.seed)  # before model init: the new head's weights depend on it
    model = build_model(args.model_name_or_path, task, head, args.pair_pooling, args.trust_remote_code)
    max_positions = getattr(
        model.config if hasattr(model, "config") else model.encoder.config, "max_position_embeddings", None
    )
    if max_positions is not None and args.max_seq_length > max_positions:
        raise ValueError(
            f"--max_seq_length {args.max_seq_length} exceeds the model's max_position_embeddings={max_positions}"
        )
    pair = head == "pair"
    train_rows = _head_rows(data["train"], args.max_train_samples)
    heldout_rows = None
    if args.selection == "heldout":
        train_rows, heldout_rows = heldout_split(train_rows, args.heldout_fraction, args.seed)
    validation = {key: _head_rows(data[key], args.max_eval_samples) for key in task.splits()}

    def dataset(rows):
        return tokenized_dataset(rows, tokenizer, task, args.max_seq_length, pair)

    eval_sets = {key: dataset(rows) for key, rows in validation.items()}
    if heldout_rows is not None:
        eval_sets = {"heldout": dataset(heldout_rows), **eval_sets}
    per_epoch = args.selection != "final"
    run_dir = Path(args.output_dir) / "runs" / f"{task.name}-{head}"
    run_name = f"glue-{task.name}-{_model_name(args.model_name_or_path)}"
    if args.heads and len(args.heads) > 1:
        run_name += f"-{head}"
    training_args = args.run_arguments(
        output_dir=str(run_dir),
        num_train_epochs=_epochs_for(task, args),
        eval_strategy="epoch" if per_epoch else "no",
        save_strategy="no",  # epochs are chosen from their evaluations; no checkpoint needed
        run_name=run_name,
        label_names=["labels"],
    )

    def compute_metrics(prediction) -> dict[str, float]:
        logits = prediction.predictions[0] if isinstance(prediction.predictions, tuple) else prediction.predictions
        return task_metrics(task, predictions_from_logits(task, logits), prediction.label_ids)

    collator = PairCollator(tokenizer, task.is_regression) if pair else DataCollatorWithPadding(tokenizer)
    trainer = Trainer(
        model=model,
        args=training_args,
        train_dataset=dataset(train_rows),
        eval_dataset=eval_sets if per_epoch else None,
        data_collator=collator,
        processing_class=tokenizer,
        compute_metrics=compute_metrics,
    )
    start = time.perf_counter()
    trainer.train()
    train_seconds = time.perf_counter() - start

    if per_epoch:
        by_split, selected_epoch = select_epoch(trainer.state.log_history, list(eval_sets), args.selection)
        eval_seconds = sum(e.get(f"eval_{key}_runtime", 0.0) for e in trainer.state.log_history for key in validation)
        train_seconds -= sum(e.get(f"eval_{key}_runtime", 0.0) for e in trainer.state.log_history for key in eval_sets)
    else:
        start = time.perf_counter()
        flat = trainer.evaluate(eval_dataset=eval_sets)
        eval_seconds = time.perf_counter() - start
        selected_epoch = trainer.state.epoch
        by_split = {key: _split_metrics(flat, key, task) for key in validation}
    params = sum(p.numel() for p in model.parameters())
    if reports_to_wandb(args.report_to):
        finish_wandb_run()  # the next task starts its own run
    return [
        _result(
            task,
            key,
            head,
            args,
            by_split[key],
            validation[key]["label"],
            selection=SELECTIONS[args.selection],
            selected_epoch=selected_epoch,
            epochs=_epochs_for(task, args),
            params=params,
            num_train=len(train_rows["text_a"]),
            num_validation=len(validation[key]["text_a"]),
            num_heldout=0 if heldout_rows is None else len(heldout_rows["text_a"]),
            train_seconds=train_seconds,
            eval_seconds=eval_seconds,
            learning_rate=args.learning_rate,
            batch_size=args.per_device_train_batch_size,
            max_seq_length=args.max_seq_length,
            steps=trainer.state.global_step,
        )
        for key in validation
    ]


def _split_metrics(flat: dict[str, float], key: str, task: GlueTask) -> dict[str, float]:
    prefix = f"eval_{key}_"
    return {name: float(flat[prefix + name]) for name in (*task.metrics, "combined_score")}


def select_epoch(
    log_history: list[dict[str, Any]], eval_keys: list[str], selection: str
) -> tuple[dict[str, dict[str, float]], float]:
    """Validation metrics at the chosen epoch, and that epoch.

    `heldout` chooses by the held-out split's combined score, `best_on_validation` by the first
    validation split's, `final` takes the last evaluated epoch. Ties go to the earlier epoch.
    """
    epochs: dict[float, dict[str, dict[str, float]]] = {}
    for entry in log_history:
        for key in eval_keys:
            prefix = f"eval_{key}_"
            if prefix + "combined_score" in entry:
                metrics = {k[len(prefix) :]: v for k, v in entry.items() if k.startswith(prefix)}
                epochs.setdefault(entry["epoch"], {})[key] = metrics
    if not epochs:
        raise ValueError("no evaluation was logged: nothing to select an epoch from")
    if selection == "final":
        chosen = max(epochs)
    else:
        judge = "heldout" if selection == "heldout" else next(k for k in eval_keys if k != "heldout")
        score = {epoch: splits[judge]["combined_score"] for epoch, splits in epochs.items()}
        best = max((v for v in score.values() if not math.isnan(v)), default=math.nan)
        chosen = min(e for e, v in score.items() if v == best or math.isnan(best))
    keep = (*METRIC_NAMES, "combined_score")
    validation = {
        key: {k: float(v) for k, v in metrics.items() if k in keep}
        for key, metrics in epochs[chosen].items()
        if key != "heldout"
    }
    return validation, chosen


# --------------------------------------------------------------------------- results and the log


def results_rows(results: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One row per (task, head, metric) for results.csv."""
    rows = []
    for result in results:
        for metric, score in result["metrics"].items():
            row = {column: result.get(column) for column in RESULT_COLUMNS}
            floor = result["floor"]
            row.update(
                metric=metric,
                score=score,
                floor=floor["metrics"].get(metric),
                floor_combined_score=floor["combined_score"],
            )
            rows.append(row)
    return rows


def score_lines(results: list[dict[str, Any]]) -> list[str]:
    """One readable line per result, every score beside its floor:
    `mrpc/via_decoder: accuracy 0.7010 (floor 0.6838), f1 0.8200 (floor 0.8122)`."""
    lines = []
    for result in results:
        floors = result["floor"]["metrics"]
        parts = [f"{name} {value:.4f} (floor {floors[name]:.4f})" for name, value in result["metrics"].items()]
        line = f"{result['task']}/{result['head']}: {', '.join(parts)}"
        close = [name for name, value in result["metrics"].items() if near_floor(value, floors[name])]
        if close:
            line += f"  <- within a point of the floor: {', '.join(close)}"
        lines.append(line)
    return lines


def write_results(
    output_dir: str | Path, results: list[dict[str, Any]], arguments: dict[str, Any]
) -> tuple[Path, Path]:
    """results.json (everything) and results.csv (one metric per row), written atomically."""
    output_dir = Path(output_dir)
    json_path, csv_path = output_dir / "results.json", output_dir / "results.csv"
    atomic_write_text(
        json_path, json.dumps({"arguments": arguments, "results": results}, indent=2, default=str) + "\n"
    )
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=list(RESULT_COLUMNS), lineterminator="\n")
    writer.writeheader()
    writer.writerows(results_rows(results))
    atomic_write_text(csv_path, buffer.getvalue())
    return json_path, csv_path


# --------------------------------------------------------------------------- the whole job


def tasks_for(args: GlueArguments) -> list[GlueTask]:
    """The task list; unknown names become custom local tasks when --text_columns is given."""
    if args.text_columns:
        known = [name for name in args.tasks if name.lower() == "all" or _is_known(name)]
        if known:
            raise ValueError(f"--text_columns defines a custom task; it cannot be combined with known tasks {known}")
        return [
            custom_task(name, args.text_columns, args.label_column, args.label_names, args.regression)
            for name in args.tasks
        ]
    tasks = resolve_tasks(args.tasks)
    if (args.train_file or args.validation_file) and len(tasks) != 1:
        raise ValueError(f"--train_file/--validation_file need exactly one task, got {[t.name for t in tasks]}")
    return tasks


def _is_known(name: str) -> bool:
    try:
        get_task(name)
    except ValueError:
        return False
    return True


def _probe_data_dir(task: GlueTask, args: GlueArguments) -> str | None:
    """Probe tasks without --data_dir are written from the built-in corpus into the output folder."""
    if args.data_dir or args.train_file or task.in_glue or task.hub_config is not None or args.text_columns:
        return args.data_dir
    from cogito.data.corpus import write_probe_tasks

    folder = Path(args.output_dir) / "probe_tasks"
    if not (folder / task.folder / "dev.tsv").is_file():
        write_probe_tasks(folder, seed=args.seed)
    return str(folder)


def run_glue(args: GlueArguments) -> dict[str, Any]:
    """Every (task, head) of `args`; results written after each run. Returns the summary."""
    from transformers import AutoConfig

    tasks = tasks_for(args)
    config = AutoConfig.from_pretrained(
        args.model_name_or_path, trust_remote_code=trusts_remote_code(args.model_name_or_path, args.trust_remote_code)
    )
    heads = list(args.heads or [default_head(config)])
    for head in heads:
        check_head(head, config, args.model_name_or_path)
    tokenizer = load_tokenizer(args.model_name_or_path, args.tokenizer_name, args.trust_remote_code)
    setup_wandb(args.report_to, args.wandb_project)

    # What was asked for: this command's own settings and every training setting that differs from
    # transformers' default (the full list is ~100 entries of defaults).
    training_defaults = TrainingArguments(output_dir=args.output_dir, report_to="none").to_dict()
    arguments = {key: value for key, value in args.to_dict().items() if training_defaults.get(key, object()) != value}
    results: list[dict[str, Any]] = []
    for task in tasks:
        only_zero_shot = all(h == "zero_shot" for h in heads)
        task, data = load_task_data(
            task, _probe_data_dir(task, args), args.train_file, args.validation_file, need_train=not only_zero_shot
        )
        for head in heads:
            if head == "zero_shot":
                if not (task.is_regression and task.is_pair):
                    logger.warning(f"zero_shot skipped for {task.name}: it applies to pair similarity tasks (stsb)")
                    continue
                results.extend(run_zero_shot(task, data, tokenizer, args))
            else:
                results.extend(finetune(task, head, data, tokenizer, args))
            write_results(args.output_dir, results, arguments)
    if not results:
        raise ValueError(f"nothing was run: heads {heads} do not apply to tasks {[t.name for t in tasks]}")
    json_path, csv_path = write_results(args.output_dir, results, arguments)
    summary: dict[str, Any] = {
        "results_json": str(json_path),
        "results_csv": str(csv_path),
        "scores": {f"{r['task']}/{r['head']}": r["combined_score"] for r in results},
        "floors": {f"{r['task']}/{r['head']}": r["floor"]["combined_score"] for r in results},
        "scores_and_floors": score_lines(results),
    }
    summary["heads"] = heads
    return summary


__all__ = [
    "HEADS",
    "SELECTIONS",
    "GlueArguments",
    "PairClassifier",
    "PairCollator",
    "build_model",
    "embed",
    "finetune",
    "load_encoder",
    "load_tokenizer",
    "pair_features",
    "run_glue",
    "run_zero_shot",
    "score_lines",
    "select_epoch",
    "sentence_embeddings",
    "write_results",
    "zero_shot_similarity",
]
