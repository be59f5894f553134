"""Hub model cards for logged runs: a dataclass of facts plus one flat template.

All decisions (what to say, how to escape it) are made in Python; the template only places
pre-rendered, already-escaped strings. Text that comes from the log is escaped so it can neither
break the YAML header, nor a table, nor inject HTML/Markdown.
"""

from __future__ import annotations

import html
import os
import re
import urllib.parse
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from huggingface_hub import EvalResult, ModelCard, ModelCardData

from cogito._io import atomic_write_text
from cogito.evaluation.glue.tasks import GLUE_METRICS, near_floor
from cogito.hub_cards.log import RunRecord
from cogito.hub_cards.naming import repo_name_for_run
from cogito.training.objectives import OBJECTIVES

DEFAULT_NAMESPACE = "cogito"
DEFAULT_MASK_TOKEN = "[MASK]"
COLLAPSE_THRESHOLD_PERCENT = 10.0
BEST_EPOCH_NOTE = (
    "Scores are copied from the experiment log and are GLUE validation-set results, not test-set "
    "results. The research runs logged before Cogito (up to 2026-02) report each task's best "
    "fine-tuning epoch on that validation set, i.e. selected on the data they report: optimistic. "
    "`cogito glue` reports the final epoch, or one picked on data held out from train "
    "(`--selection heldout`), unless run with `--selection best_on_validation`."
)
# Pretraining-data names as logged -> (Hub dataset id, language of its text).
KNOWN_DATASETS: dict[str, tuple[str, str]] = {"minipile": ("JeanKaddour/minipile", "en")}
DECODER_DESCRIPTIONS: dict[str, str] = {
    "weighted": "each token is reconstructed from a learned weighting of the concepts",
    "perceiver": "Perceiver-style decoder: per-position queries cross-attend to the concepts",
    "perceiver_posonly": "Perceiver-style decoder whose queries carry position information only",
}
# config.json key -> RunRecord attribute it must agree with
_CONFIG_MUST_MATCH = {"hidden_size": "hidden_size", "num_hidden_layers": "num_layers", "concept_num": "num_concepts"}
_NAMESPACE = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,94}[A-Za-z0-9])?")


def check_namespace(namespace: str, flag: str = "namespace") -> None:
    """Refuse what cannot be a Hub user or organisation name."""
    if not _NAMESPACE.fullmatch(namespace):
        raise ValueError(f"{flag} {namespace!r} is not a Hub user/organisation name (letters, digits, '-')")


_REVISION = re.compile(r"[A-Za-z0-9][A-Za-z0-9._/-]{0,99}")

TEMPLATE = """---
{{ card_data }}
---

# {{ title }}

{{ summary }}

## Architecture

{{ architecture_table }}

## Pretraining

{{ pretraining_table }}

## GLUE

{{ glue_section }}

## Conclusion from the experiment log

{{ conclusion }}

## Limitations

{{ limitations }}

## Usage

```python
{{ usage }}
```

## Citation

```bibtex
{{ citation }}
```
"""


@dataclass
class CogitoCardData:
    """Everything a card states about one run; rendered by :func:`render_card`."""

    run: RunRecord
    repo_name: str
    namespace: str = DEFAULT_NAMESPACE
    revision: str = "main"
    mask_token: str = DEFAULT_MASK_TOKEN
    num_attention_heads: int | None = None
    intermediate_size: int | None = None
    num_parameters: int | None = None
    attention_implementation: str | None = None
    license: str = "apache-2.0"
    glue_note: str = BEST_EPOCH_NOTE
    extra_tags: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        check_namespace(self.namespace)
        if not _REVISION.fullmatch(self.revision):
            raise ValueError(
                f"revision {self.revision!r} is not a branch, tag or commit hash (letters, digits, '._/-')"
            )
        if not self.mask_token or len(self.mask_token) > 50 or re.search(r"\s", self.mask_token):
            raise ValueError(f"mask token {self.mask_token!r} must be 1-50 characters without whitespace")

    @property
    def repo_id(self) -> str:
        return f"{self.namespace}/{self.repo_name}"


def card_data_from_run(
    run: RunRecord,
    *,
    config: Mapping[str, Any] | None = None,
    mask_token: str | None = None,
    num_parameters: int | None = None,
    namespace: str = DEFAULT_NAMESPACE,
    revision: str = "main",
) -> CogitoCardData:
    """Card facts for ``run``, completed from a model ``config.json`` dict when one is given."""
    config = dict(config or {})
    for key, attribute in _CONFIG_MUST_MATCH.items():
        logged = getattr(run, attribute)
        if key in config and logged is not None and config[key] != logged:
            raise ValueError(
                f"config {key}={config[key]!r} disagrees with the log ({attribute}={logged}) for run {run.run_id!r}"
            )
    weighting = run.loss_weighting
    if weighting == "fixed" and run.loss_weight is not None:
        weighting = f"fixed={run.loss_weight:g}"
    if num_parameters is not None and (isinstance(num_parameters, bool) or num_parameters <= 0):
        raise ValueError(f"num_parameters must be a positive int, got {num_parameters!r}")
    return CogitoCardData(
        run=run,
        repo_name=repo_name_for_run(run.run_id, run.concept_losses, weighting),
        namespace=namespace,
        revision=revision,
        mask_token=mask_token or DEFAULT_MASK_TOKEN,
        num_attention_heads=config.get("num_attention_heads"),
        intermediate_size=config.get("intermediate_size"),
        num_parameters=num_parameters,
        attention_implementation=config.get("attn_implementation") or config.get("_attn_implementation"),
    )


# --------------------------------------------------------------------------- escaping


def md(text: object) -> str:
    """Inline-safe Markdown for untrusted text: one line, HTML and Markdown syntax escaped."""
    flat = " ".join(str(text).split())
    flat = html.escape(flat, quote=False)
    return re.sub(r"([\\`*_\[\]|#~])", r"\\\1", flat)


def _safe_url(url: str) -> str:
    # Percent-encode anything that could end the link or the table cell (spaces, ()<>|"`\).
    return urllib.parse.quote(url, safe=":/?#@!$&'*+,;=%-._~[]")


# --------------------------------------------------------------------------- sections


def _number(value: float | None, unknown: str = "not recorded") -> str:
    return unknown if value is None else f"{value:g}"


def _table(rows: list[tuple[str, str]]) -> str:
    lines = ["| | |", "|---|---|"] + [f"| {name} | {value} |" for name, value in rows]
    return "\n".join(lines)


def _architecture_table(data: CogitoCardData) -> str:
    run = data.run
    params = "not recorded"
    if data.num_parameters is not None:
        params = f"{data.num_parameters / 1e6:.1f}M ({data.num_parameters:,})"
    attention = "C concept tokens cross-attend to the N token states: O(C·N) per layer instead of O(N²)"
    if data.attention_implementation:
        attention += f" (kernel: {md(data.attention_implementation)})"
    decoder = run.decoder_type or "unknown"
    return _table(
        [
            ("Hidden size (H)", _number(run.hidden_size)),
            ("Layers (L)", _number(run.num_layers)),
            ("Concepts (C)", _number(run.num_concepts)),
            ("Attention heads", _number(data.num_attention_heads)),
            ("FFN size", _number(data.intermediate_size)),
            ("Parameters", params),
            ("MLM decoder", f"`{decoder}`: {DECODER_DESCRIPTIONS.get(decoder, 'not described')}"),
            ("Attention", attention),
        ]
    )


def _losses_text(run: RunRecord) -> str:
    if not run.concept_losses:
        return "none (MLM only)"
    text = " + ".join(md(loss) for loss in run.concept_losses)
    if run.loss_weighting == "kendall_gal":
        text += ", Kendall–Gal uncertainty weighting"
    elif run.loss_weighting == "fixed":
        text += ", fixed weight" + (f" {run.loss_weight:g}" if run.loss_weight is not None else "")
    elif run.loss_weighting is not None:
        text += f", {md(run.loss_weighting)} weighting (learnt weights)"
    return text


def _objective(run: RunRecord) -> str:
    """The run's objective; the research log's run ids all name ``mlm``."""
    return run.objective if run.objective in OBJECTIVES else "mlm"


def _rank_text(run: RunRecord) -> str:
    rank = run.effective_rank
    if rank is None:
        return "not measured"
    return f"{rank.value:g} / {rank.of} ({rank.percent:g}%), r = Σσ / σ_max of the batch-mean concept matrix"


def _pretraining_table(data: CogitoCardData) -> str:
    run = data.run
    wandb = f"[{md(run.run_id)}]({_safe_url(run.wandb_url)})" if run.wandb_url else "not recorded"
    return _table(
        [
            ("Run", md(run.run_id)),
            ("Date", run.date.isoformat() if run.date else "not recorded"),
            ("Data", md(run.pretraining_data) if run.pretraining_data else "not recorded"),
            ("Epochs", _number(run.epochs)),
            ("Objective", f"`{_objective(run)}`: {md(OBJECTIVES[_objective(run)].description)}"),
            ("Concept losses", _losses_text(run)),
            (f"{OBJECTIVES[_objective(run)].loss_name} (final)", _number(run.mlm_loss)),
            ("Effective rank", _rank_text(run)),
            ("Speed (steps/s)", _number(run.speed)),
            ("Machine", md(run.machine) if run.machine else "not recorded"),
            ("Weights & Biases", wandb),
        ]
    )


FLOOR_NOTE = (
    "Floor: the best score any constant answer reaches on the same split (accuracy: the majority class; F1: "
    "always the positive class; Matthews, Pearson and Spearman: 0, as a constant has no correlation), "
    "computed by `cogito glue` and written beside the score in the log."
)


def _glue_section(data: CogitoCardData) -> str:
    run = data.run
    if not run.glue_scores and not run.glue_other:
        return "Not evaluated on GLUE yet (the log records no scores for this run)."
    lines = ["| Task | Metric | Score | Floor |", "|---|---|---|---|"]
    near = []
    for task, value in run.glue_scores.items():
        metric = GLUE_METRICS[task]
        unit = " (%)" if metric.percent else ""
        floor = run.glue_floors.get(task)
        floor_text = "not recorded" if floor is None else f"{floor:g}"
        if floor is not None and near_floor(value, floor, metric.percent):
            floor_text += " **(at the floor)**"
            near.append(f"{metric.label} ({value:g} vs floor {floor:g})")
        lines.append(f"| {metric.label} | {metric.metric_name}{unit} | {value:g} | {floor_text} |")
    for label, text in run.glue_other.items():  # labels this version does not know: as the log wrote them
        lines.append(f"| {md(label)} | as logged | {md(text)} | not recorded |")
    notes = [FLOOR_NOTE]
    if near:
        notes.insert(
            0,
            f"**Within one point of the floor:** {', '.join(near)}. On these tasks the model does no better "
            "than a constant answer.",
        )
    if run.glue_other:
        notes.append("Entries marked 'as logged' are tasks or values Cogito cannot read; shown as the log wrote them.")
    # The note is Cogito's own Markdown (code spans), not text from the log: rendered as written.
    return "\n".join(lines) + "\n\n" + "\n\n".join([*notes, data.glue_note])


def _limitations(data: CogitoCardData) -> str:
    run = data.run
    items = [
        f"Pretrained with {md(OBJECTIVES[_objective(run)].description)} only: fine-tune before using it for "
        "classification."
    ]
    rank = run.effective_rank
    if rank is None:
        items.append("Concept geometry was not measured for this run, so concept collapse cannot be ruled out.")
    elif rank.percent < COLLAPSE_THRESHOLD_PERCENT:
        items.append(
            f"**Concept collapse:** normalised effective rank {rank.percent:g}% (< {COLLAPSE_THRESHOLD_PERCENT:g}%): "
            f"the {rank.of} concepts span only about {rank.value:g} directions, so most concept tokens are redundant."
        )
    if run.loss_weighting == "kendall_gal":
        items.append(
            "Kendall–Gal uncertainty weighting can drive the MLM task weight down (and the total loss negative); "
            f"this run's final MLM loss is {_number(run.mlm_loss)}."
        )
    if run.glue_scores or run.glue_other:
        items.append(
            "GLUE scores are validation-set results (the note above says how each was selected), not test-set results."
        )
    else:
        items.append("No downstream evaluation is recorded for this run.")
    if run.pretraining_data:
        items.append(f"Pretraining data: {md(run.pretraining_data)} only; other languages and domains are untested.")
    items.append(
        "The architecture is custom code: loading needs `trust_remote_code=True`; pin a `revision` you have reviewed."
    )
    return "\n".join(f"- {item}" for item in items)


def _usage(data: CogitoCardData) -> str:
    return "\n".join(
        [
            "from transformers import AutoModelForMaskedLM, AutoTokenizer, pipeline",
            "",
            f'repo_id = "{data.repo_id}"',
            f'revision = "{data.revision}"  # pin a commit hash: the model code runs on your machine',
            "tokenizer = AutoTokenizer.from_pretrained(repo_id, revision=revision, trust_remote_code=True)",
            "model = AutoModelForMaskedLM.from_pretrained(repo_id, revision=revision, trust_remote_code=True)",
            'fill = pipeline("fill-mask", model=model, tokenizer=tokenizer)',
            'print(fill(f"Paris is the {tokenizer.mask_token} of France."))',
        ]
    )


def _citation(data: CogitoCardData) -> str:
    year = data.run.date.year if data.run.date else "n.d."
    key = "cogito_" + re.sub(r"[^a-z0-9]", "_", data.repo_name)
    return "\n".join(
        [
            f"@software{{{key},",
            "  author = {{Cogito contributors}},",
            f"  title = {{{{Cogito}}: concept encoders for Hugging Face transformers ({data.repo_name})}},",
            f"  year = {{{year}}},",
            f"  note = {{Model card generated from the experiment log, Hub repository {data.repo_id}}}",
            "}",
        ]
    )


def _metadata(data: CogitoCardData) -> ModelCardData:
    run = data.run
    eval_results = [
        EvalResult(
            task_type="text-classification",
            task_name="Text Classification",
            dataset_type=GLUE_METRICS[task].dataset_type,
            dataset_name=f"{GLUE_METRICS[task].dataset_name} {GLUE_METRICS[task].label}",
            dataset_config=GLUE_METRICS[task].dataset_config,
            dataset_split=GLUE_METRICS[task].dataset_split,
            metric_type=GLUE_METRICS[task].metric_type,
            metric_name=GLUE_METRICS[task].metric_name + (" (%)" if GLUE_METRICS[task].percent else ""),
            metric_value=value,
        )
        for task, value in run.glue_scores.items()
    ]
    data_text = (run.pretraining_data or "").lower()
    known = [entry for name, entry in KNOWN_DATASETS.items() if name in data_text]
    datasets = [hub_id for hub_id, _ in known]
    languages = list(dict.fromkeys(language for _, language in known))
    tags = [
        "concept-encoder",
        *([run.decoder_type] if run.decoder_type else []),
        "masked-lm",
        *([] if _objective(run) == "mlm" else [_objective(run)]),
        "cogito",
        *data.extra_tags,
    ]
    return ModelCardData(
        language=languages or None,
        license=data.license,
        library_name="transformers",
        pipeline_tag="fill-mask",
        tags=tags,
        datasets=datasets or None,
        # model_name only names the model-index; alone it would be a stray top-level YAML key.
        model_name=data.repo_name if eval_results else None,
        eval_results=eval_results or None,
        widget=[{"text": f"Paris is the {data.mask_token} of France."}],
    )


def render_card(data: CogitoCardData) -> ModelCard:
    """The model card for ``data`` (YAML metadata with ``model-index``, then the Markdown body)."""
    run = data.run
    summary = (
        f"A Cogito concept encoder: {_number(run.num_concepts, 'C')} learned concept tokens cross-attend to the "
        f"token states of the input, so each layer costs O(C·N) instead of O(N²). This model has "
        f"{_number(run.num_layers, 'an unrecorded number of')} layers of hidden size "
        f"{_number(run.hidden_size, 'unrecorded')}, "
        f"and was pretrained by {md(OBJECTIVES[_objective(run)].description)} (objective "
        f"`{_objective(run)}`) with a `{run.decoder_type or 'unknown'}` decoder reading the concepts back to "
        f"tokens. It is run {md(run.run_id)} of the Cogito experiment log."
    )
    conclusion = md(run.conclusion) if run.conclusion else "No conclusion recorded."
    return ModelCard.from_template(
        _metadata(data),
        template_str=TEMPLATE,
        title=data.repo_name,
        summary=summary,
        architecture_table=_architecture_table(data),
        pretraining_table=_pretraining_table(data),
        glue_section=_glue_section(data),
        conclusion=f"**Takeaway recorded in the log:** {conclusion}",
        limitations=_limitations(data),
        usage=_usage(data),
        citation=_citation(data),
    )


def write_card(data: CogitoCardData, path: str | os.PathLike[str]) -> Path:
    """Render the card and write it atomically to ``path`` (a README.md)."""
    path = Path(path)
    atomic_write_text(path, str(render_card(data)))
    return path
