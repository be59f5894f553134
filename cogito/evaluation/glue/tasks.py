"""GLUE task table, offline metrics and data loading (Hub or the GLUE download layout).

Every task is one `GlueTask`: its text columns (Hub names and the TSV names of the GLUE
download), label names (`None` for regression), metrics, default epochs of the research
protocol and validation splits (MNLI has two, evaluated from one fine-tuning). Data are
returned with uniform columns `text_a`, optional `text_b` and `label` (int index, or float for
regression), whatever the source.
"""

from __future__ import annotations

import csv
import itertools
import math
import re
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

# GLUE TSVs hold very long MNLI/QNLI fields.
csv.field_size_limit(min(sys.maxsize, 2**31 - 1))


@dataclass(frozen=True)
class Metric:
    """One metric: its key in results (`pearson`), its id on the Hub and in `evaluate`
    (`pearsonr`, the model-index `type`), how people call it, and how it is computed."""

    key: str
    hub_type: str
    display: str
    function: Callable[[Sequence, Sequence], float]


@dataclass(frozen=True)
class GlueTask:
    """One task: columns, labels, metrics, splits, the protocol's default epochs, and how the
    experiment log and the model card report it.

    `validation_splits` maps the reported key (`mnli_m`) to `(hub split, TSV file stem)`;
    `split_labels` gives each key's label in the log (`MNLI-m`; default: `label`).
    `tsv_columns`/`tsv_label` name the columns of the GLUE download (`tsv_label_alternatives`:
    other names the label column has in other releases); `tsv_positional` gives the column names
    of files without a header row (CoLA). `hub_label` is the label column on the Hub and
    `hub_revision` the revision read (SICK: its Parquet conversion, the loading script being gone).
    `log_metric` is the one metric the research log writes for the task (`None`: the task is not
    logged), in % when `log_percent`.
    """

    name: str
    text_keys: tuple[str, ...]
    label_names: tuple[str, ...] | None
    metrics: tuple[str, ...]
    epochs: int
    folder: str
    tsv_columns: tuple[str, ...]
    tsv_label: str = "label"
    validation_splits: dict[str, tuple[str, str]] = field(default_factory=dict)
    tsv_positional: tuple[str, ...] | None = None
    hub_config: str | None = None
    in_glue: bool = True
    label: str = ""
    split_labels: dict[str, str] = field(default_factory=dict)
    log_metric: str | None = None
    log_percent: bool = True
    hub_dataset: str = "nyu-mll/glue"
    hub_dataset_name: str = "GLUE"
    hub_label: str = "label"
    hub_revision: str | None = None
    tsv_label_alternatives: tuple[str, ...] = ()

    @property
    def is_regression(self) -> bool:
        return self.label_names is None

    @property
    def num_labels(self) -> int:
        return 1 if self.label_names is None else len(self.label_names)

    @property
    def is_pair(self) -> bool:
        return len(self.text_keys) == 2

    def splits(self) -> dict[str, tuple[str, str]]:
        return self.validation_splits or {self.name: ("validation", "dev")}


def _glue(name, keys, labels, metrics, epochs, folder, tsv_columns, tsv_label="label", **kw) -> GlueTask:
    kw.setdefault("hub_config", name)
    kw.setdefault("label", folder)
    kw.setdefault("log_metric", metrics[-1] if metrics[-1] == "f1" else metrics[0])
    return GlueTask(name, keys, labels, metrics, epochs, folder, tsv_columns, tsv_label, **kw)


# Hub keys follow nyu-mll/glue (transformers' run_glue `task_to_keys`); TSV columns follow the
# original GLUE download; label order is the Hub's ClassLabel order. The log's conventions (the
# research log's "Key GLUE Scores"): MRPC/QQP F1 in %, MNLI accuracy in %, STS-B Pearson and CoLA
# Matthews on -1..1, accuracy in % elsewhere.
GLUE_TASKS: dict[str, GlueTask] = {
    t.name: t
    for t in (
        _glue(
            "cola",
            ("sentence",),
            ("unacceptable", "acceptable"),
            ("matthews_correlation",),
            20,
            "CoLA",
            ("sentence",),
            tsv_positional=("source", "label", "label_notes", "sentence"),
            log_percent=False,
        ),
        _glue("sst2", ("sentence",), ("negative", "positive"), ("accuracy",), 5, "SST-2", ("sentence",)),
        _glue(
            "mrpc",
            ("sentence1", "sentence2"),
            ("not_equivalent", "equivalent"),
            ("accuracy", "f1"),
            20,
            "MRPC",
            ("#1 String", "#2 String"),
            "Quality",
        ),
        _glue(
            "stsb",
            ("sentence1", "sentence2"),
            None,
            ("pearson", "spearmanr"),
            20,
            "STS-B",
            ("sentence1", "sentence2"),
            "score",
            log_percent=False,
        ),
        _glue(
            "qqp",
            ("question1", "question2"),
            ("not_duplicate", "duplicate"),
            ("accuracy", "f1"),
            3,
            "QQP",
            ("question1", "question2"),
            "is_duplicate",
        ),
        _glue(
            "mnli",
            ("premise", "hypothesis"),
            ("entailment", "neutral", "contradiction"),
            ("accuracy",),
            3,
            "MNLI",
            ("sentence1", "sentence2"),
            "gold_label",
            validation_splits={
                "mnli_m": ("validation_matched", "dev_matched"),
                "mnli_mm": ("validation_mismatched", "dev_mismatched"),
            },
            split_labels={"mnli_m": "MNLI-m", "mnli_mm": "MNLI-mm"},
        ),
        _glue(
            "qnli",
            ("question", "sentence"),
            ("entailment", "not_entailment"),
            ("accuracy",),
            3,
            "QNLI",
            ("question", "sentence"),
        ),
        _glue(
            "rte",
            ("sentence1", "sentence2"),
            ("entailment", "not_entailment"),
            ("accuracy",),
            20,
            "RTE",
            ("sentence1", "sentence2"),
        ),
        _glue(
            "wnli",
            ("sentence1", "sentence2"),
            ("not_entailment", "entailment"),
            ("accuracy",),
            20,
            "WNLI",
            ("sentence1", "sentence2"),
        ),
    )
}

# Beyond GLUE, as the research evaluated them (MrCogito evaluation/evaluate_on_benchmark.py) and its log
# reports them: PAWS (Zhang et al. 2019; Hub `paws`, now google-research-datasets/paws, labeled_final)
# and SICK (Marelli et al. 2014; Hub `sick`, now RobZamp/sick, read from its Parquet conversion) as
# SICK-R (relatedness 1-5, regression, Pearson) and SICK-E (entailment, 3-way, accuracy). Both SICK
# tasks read one local folder `SICK/` (train.tsv, dev.tsv with the release's columns sentence_A,
# sentence_B, relatedness_score, entailment_label).
_SICK = {
    "hub_config": "default",
    "hub_dataset": "RobZamp/sick",
    "hub_dataset_name": "SICK",
    "hub_revision": "refs/convert/parquet",
    "in_glue": False,
}
OTHER_TASKS: dict[str, GlueTask] = {
    "sickr": _glue(
        "sickr",
        ("sentence_A", "sentence_B"),
        None,
        ("pearson", "spearmanr"),
        10,  # the research's --epochs default for SICK and PAWS
        "SICK",
        ("sentence_A", "sentence_B"),
        "relatedness_score",
        label="SICK-R",
        hub_label="relatedness_score",
        log_percent=False,
        **_SICK,
    ),
    "sicke": _glue(
        "sicke",
        ("sentence_A", "sentence_B"),
        ("entailment", "neutral", "contradiction"),
        ("accuracy",),
        10,
        "SICK",
        ("sentence_A", "sentence_B"),
        "entailment_label",
        label="SICK-E",
        tsv_label_alternatives=("entailment_judgment",),
        **_SICK,
    ),
    "paws": _glue(
        "paws",
        ("sentence1", "sentence2"),
        ("not_paraphrase", "paraphrase"),
        ("accuracy",),
        10,
        "PAWS",
        ("sentence1", "sentence2"),
        in_glue=False,
        hub_config="labeled_final",
        hub_dataset="google-research-datasets/paws",
        hub_dataset_name="PAWS",
    ),
}


def _probe_tasks() -> dict[str, GlueTask]:
    from cogito.data.corpus import PROBE_TASKS

    tasks = {}
    for folder, info in PROBE_TASKS.items():
        columns = tuple(info["columns"])
        tasks[folder.lower()] = GlueTask(
            folder.lower(), columns, tuple(info["label_names"]), (info["metric"],), 5, folder, columns, in_glue=False
        )
    return tasks


PROBE_TASK_TABLE: dict[str, GlueTask] = _probe_tasks()
TASKS: dict[str, GlueTask] = {**GLUE_TASKS, **OTHER_TASKS, **PROBE_TASK_TABLE}


def _squash(name: str) -> str:
    return re.sub(r"[^a-z0-9]", "", name.lower())


def get_task(name: str) -> GlueTask:
    """The task called `name` (`SST-2`, `sst2` and `sst_2` all work; `SICK-R` by its label)."""
    for task in TASKS.values():
        if _squash(name) in (_squash(task.name), _squash(task.label)):
            return task
    shared = [task.name for task in TASKS.values() if _squash(name) == _squash(task.folder)]
    if len(shared) == 1:
        return TASKS[shared[0]]
    if shared:
        raise ValueError(f"task {name!r} is ambiguous: it names the data folder of {', '.join(shared)}; pick one")
    raise ValueError(f"unknown task {name!r}; known tasks: {', '.join(TASKS)} (or 'all' for every GLUE task)")


def resolve_tasks(names: Sequence[str]) -> list[GlueTask]:
    """`['all']` -> every GLUE task; otherwise each name looked up (unknown ones rejected)."""
    if not names:
        raise ValueError(f"no task given; choose from: all, {', '.join(TASKS)}")
    tasks: list[GlueTask] = []
    for name in names:
        for task in GLUE_TASKS.values() if name.lower() == "all" else [get_task(name)]:
            if task not in tasks:
                tasks.append(task)
    return tasks


def custom_task(
    name: str,
    text_columns: Sequence[str],
    label_column: str = "label",
    label_names: Sequence[str] | None = None,
    regression: bool = False,
    epochs: int = 3,
) -> GlueTask:
    """A local task given by its text columns; accuracy (classification) or Pearson/Spearman.

    `label_names=None` for classification means: read them from the training labels.
    """
    columns = tuple(text_columns)
    if len(columns) not in (1, 2):
        raise ValueError(f"text_columns must name 1 or 2 columns, got {list(columns)}")
    if regression and label_names:
        raise ValueError("a regression task has no label_names")
    labels = None if regression else tuple(label_names or ())
    metrics = ("pearson", "spearmanr") if regression else ("accuracy",)
    return GlueTask(name, columns, labels, metrics, epochs, name, columns, label_column, in_glue=False)


# --------------------------------------------------------------------------- metrics


def matthews_correlation(predictions: Sequence[int], labels: Sequence[int]) -> float:
    from sklearn.metrics import matthews_corrcoef

    return float(matthews_corrcoef(labels, predictions))


def f1(predictions: Sequence[int], labels: Sequence[int]) -> float:
    """Binary F1 of the positive class 1 (GLUE's MRPC/QQP convention)."""
    from sklearn.metrics import f1_score

    return float(f1_score(labels, predictions, pos_label=1, average="binary", zero_division=0))


def accuracy(predictions: Sequence[int], labels: Sequence[int]) -> float:
    return float(np.mean(np.asarray(predictions) == np.asarray(labels)))


def pearson(predictions: Sequence[float], labels: Sequence[float]) -> float:
    from scipy.stats import pearsonr

    predictions, labels = np.asarray(predictions, dtype=float), np.asarray(labels, dtype=float)
    if np.ptp(predictions) == 0 or np.ptp(labels) == 0:
        return math.nan  # undefined for a constant input; scipy would warn and return nan too
    return float(pearsonr(predictions, labels)[0])


def spearman(predictions: Sequence[float], labels: Sequence[float]) -> float:
    from scipy.stats import spearmanr

    predictions, labels = np.asarray(predictions, dtype=float), np.asarray(labels, dtype=float)
    if np.ptp(predictions) == 0 or np.ptp(labels) == 0:
        return math.nan
    return float(spearmanr(predictions, labels)[0])


METRICS: dict[str, Metric] = {
    m.key: m
    for m in (
        Metric("accuracy", "accuracy", "Accuracy", accuracy),
        Metric("f1", "f1", "F1", f1),
        Metric("matthews_correlation", "matthews_correlation", "Matthews corr.", matthews_correlation),
        Metric("pearson", "pearsonr", "Pearson r", pearson),
        Metric("spearmanr", "spearmanr", "Spearman rho", spearman),
    )
}
METRIC_NAMES: tuple[str, ...] = tuple(METRICS)


@dataclass(frozen=True)
class GlueMetric:
    """How one reported split's score is written in the experiment log and on the Hub card.

    A view of the task table (`GLUE_METRICS`): `metric` is the results key (`pearson`),
    `metric_type` its Hub id (`pearsonr`).
    """

    task: str
    label: str
    metric: str
    metric_type: str
    metric_name: str
    percent: bool
    dataset_config: str
    dataset_split: str = "validation"
    dataset_type: str = "nyu-mll/glue"
    dataset_name: str = "GLUE"


def _logged_metrics() -> dict[str, GlueMetric]:
    out = {}
    for task in (*GLUE_TASKS.values(), *OTHER_TASKS.values()):
        if task.log_metric is None:
            continue
        metric = METRICS[task.log_metric]
        for key, (hub_split, _) in task.splits().items():
            out[key] = GlueMetric(
                task=key,
                label=task.split_labels.get(key, task.label),
                metric=metric.key,
                metric_type=metric.hub_type,
                metric_name=metric.display,
                percent=task.log_percent,
                dataset_config=task.hub_config or task.name,
                dataset_split=hub_split,
                dataset_type=task.hub_dataset,
                dataset_name=task.hub_dataset_name,
            )
    return out


# Reported split key (`mrpc`, `mnli_m`) -> how the log and the card write its score.
GLUE_METRICS: dict[str, GlueMetric] = _logged_metrics()


def combined_score(metrics: dict[str, float]) -> float:
    """Mean of a task's metrics (GLUE's score for tasks with two metrics)."""
    if not metrics:
        raise ValueError("combined_score needs at least one metric")
    return float(np.mean(list(metrics.values())))


def predictions_from_logits(task: GlueTask, logits: np.ndarray) -> np.ndarray:
    """Class ids (argmax) or regression scores of shape (N,), never (N, 1)."""
    logits = np.asarray(logits)
    if task.is_regression:
        return logits.reshape(len(logits), -1)[:, 0]
    return logits.argmax(axis=-1)


def task_metrics(task: GlueTask, predictions: Sequence, labels: Sequence) -> dict[str, float]:
    """The task's metrics plus `combined_score`, from predictions (not logits) and labels."""
    predictions, labels = np.asarray(predictions).reshape(-1), np.asarray(labels).reshape(-1)
    if len(predictions) != len(labels):
        raise ValueError(f"{len(predictions)} predictions for {len(labels)} labels")
    out = {name: METRICS[name].function(predictions, labels) for name in task.metrics}
    out["combined_score"] = combined_score(out)
    return out


# --------------------------------------------------------------------------- floors

# Why a regression floor is 0: every constant prediction has undefined (nan) correlation.
REGRESSION_FLOOR_NOTE = (
    "a constant prediction (the mean label, {mean:.3g}) has no defined correlation; the floor shown is 0, the "
    "expected correlation of any prediction that ignores the input"
)


def floor_metrics(task: GlueTask, labels: Sequence) -> dict[str, Any]:
    """The best score any constant answer reaches on these labels, per metric of the task.

    Classification: each metric of the constant answer that scores best on it (accuracy: the
    majority class of `labels`; F1: always the positive class; Matthews: 0 for every constant),
    computed with the task's own metric functions. Regression: a constant (the mean label) has
    undefined Pearson/Spearman, so the floor is 0 and `note` says so. Returns `metrics`,
    `combined_score`, the constant answer of each metric (`answers`) and `note`.
    """
    labels = np.asarray(labels).reshape(-1)
    if len(labels) == 0:
        raise ValueError(f"no labels to compute the floor of {task.name} from")
    if task.is_regression:
        mean = float(np.mean(labels.astype(float)))
        metrics = {name: 0.0 for name in task.metrics}
        answers = {name: round(mean, 4) for name in task.metrics}
        note = REGRESSION_FLOOR_NOTE.format(mean=mean)
    else:
        names = task.label_names or tuple(str(i) for i in range(int(labels.max()) + 1))
        metrics, answers = {}, {}
        for name in task.metrics:
            best = max(range(len(names)), key=lambda c: (METRICS[name].function(np.full_like(labels, c), labels), -c))
            metrics[name] = METRICS[name].function(np.full_like(labels, best), labels)
            answers[name] = names[best]
        note = "the best constant answer on this split, per metric"
    return {"metrics": metrics, "combined_score": combined_score(metrics), "answers": answers, "note": note}


def near_floor(score: float, floor: float, percent: bool = False) -> bool:
    """Whether `score` is within one point of its `floor` (or below it): 1.0 on a % scale, 0.01 on 0-1."""
    return not math.isnan(score) and score - floor <= (1.0 if percent else 0.01)


# --------------------------------------------------------------------------- data


def read_table(path: str | Path) -> tuple[list[str] | None, list[list[str]]]:
    """Rows of a .tsv (GLUE: tab-separated, no quoting), .csv or .jsonl file, read with `datasets`
    (every cell a string, nothing turned into NaN); header if known.

    For .tsv/.csv the first row is returned as data (CoLA's files have no header row: the caller
    decides); for .jsonl the header is the keys of the first object.
    """
    import datasets

    path = Path(path)
    if not path.is_file():
        raise ValueError(f"data file {path} does not exist")
    if path.suffix not in (".jsonl", ".json", ".tsv", ".csv", ".txt"):
        raise ValueError(f"data file {path}: unsupported format {path.suffix!r}; use .tsv, .csv or .jsonl")
    if path.stat().st_size == 0:
        raise ValueError(f"data file {path} is empty")
    progress = datasets.utils.logging.is_progress_bar_enabled()
    datasets.disable_progress_bars()
    try:
        if path.suffix in (".jsonl", ".json"):
            table = datasets.load_dataset("json", data_files=str(path), split="train")
            header = list(table.column_names)
            return header, [["" if r[k] is None else str(r[k]) for k in header] for r in table]
        tsv = path.suffix != ".csv"
        options = {"delimiter": "\t", "quoting": csv.QUOTE_NONE} if tsv else {}
        with open(path, encoding="utf-8", newline="") as handle:  # the widest of the first rows sets the columns
            sample = [next(csv.reader([line], **options), []) for line in itertools.islice(handle, 100)]
        names = [f"column_{i}" for i in range(max(len(row) for row in sample))]
        table = datasets.load_dataset(
            "csv",
            data_files=str(path),
            split="train",
            header=None,
            column_names=names,
            features=datasets.Features({name: datasets.Value("string") for name in names}),
            keep_default_na=False,
            na_filter=False,
            **options,
        )
    except (ValueError, OSError, datasets.exceptions.DatasetGenerationError) as err:
        raise ValueError(f"data file {path} cannot be read as {path.suffix}: {err}") from None
    finally:
        if progress:
            datasets.enable_progress_bars()
    rows = [[row[name] for name in names] for row in table]
    for row in rows:  # a short row is padded with empty cells: drop them, as the file has none
        while row and row[-1] == "":
            row.pop()
    return None, rows


def _columns_of(task: GlueTask, path: Path, rows: list[list[str]]) -> tuple[list[str], list[list[str]], int]:
    """Header, data rows and the file line of the first data row.

    A file without a header (CoLA) gets the task's positional column names.
    """
    if not rows:
        raise ValueError(f"data file {path} is empty")
    first = [c.strip() for c in rows[0]]
    wanted = set(task.tsv_columns) | set(task.text_keys)
    if task.tsv_positional and not wanted & set(first):
        return list(task.tsv_positional), rows, 1
    return first, rows[1:], 2


def _pick(header: list[str], options: Sequence[str], path: Path, what: str) -> int:
    for name in options:
        if name in header:
            return header.index(name)
    raise ValueError(
        f"data file {path}: no {what} column {' or '.join(repr(o) for o in dict.fromkeys(options))}; columns "
        f"are {header}"
    )


def parse_label(task: GlueTask, value: str, path: Path | str, row: int) -> int | float:
    """A label cell as a class index (name or index accepted) or a float score (regression)."""
    text = value.strip()
    if task.is_regression:
        try:
            score = float(text)
        except ValueError:
            score = math.nan
        if not math.isfinite(score):
            raise ValueError(f"{path} row {row}: label {value!r} is not a number (task {task.name} is regression)")
        return score
    names = task.label_names or ()
    if text in names:
        return names.index(text)
    folded = [name.lower() for name in names]
    if text.lower() in folded and folded.count(text.lower()) == 1:  # SICK writes ENTAILMENT
        return folded.index(text.lower())
    if re.fullmatch(r"\d+", text) and int(text) < len(names):
        return int(text)
    allowed = ", ".join(names) + f" (or 0..{len(names) - 1})"
    raise ValueError(f"{path} row {row}: label {value!r} is not a label of {task.name}; allowed: {allowed}")


def read_split(task: GlueTask, path: str | Path, with_labels: bool = True) -> dict[str, list]:
    """One split file as columns `text_a`, (`text_b`), `label`; errors name file, row and value."""
    path = Path(path)
    header, rows = read_table(path)
    first_line = 1
    if header is None:
        header, rows, first_line = _columns_of(task, path, rows)
    text_index = [_pick(header, (tsv, hub), path, "text") for tsv, hub in zip(task.tsv_columns, task.text_keys)]
    label_options = (task.tsv_label, *task.tsv_label_alternatives, "label")
    label_index = _pick(header, label_options, path, "label") if with_labels else None
    names = ["text_a", "text_b"][: len(text_index)]
    data: dict[str, list] = {name: [] for name in names}
    if with_labels:
        data["label"] = []
    for number, row in enumerate(rows, start=first_line):
        if not any(cell.strip() for cell in row):
            continue
        needed = max(text_index + ([label_index] if label_index is not None else []))
        if len(row) <= needed:
            raise ValueError(
                f"{path} row {number}: {len(row)} fields, expected at least {needed + 1} (columns {header})"
            )
        for name, index in zip(names, text_index):
            data[name].append(row[index])
        if with_labels:
            data["label"].append(parse_label(task, row[label_index], path, number))
    if not data[names[0]]:
        raise ValueError(f"data file {path} has no rows")
    return data


def _infer_label_names(task: GlueTask, path: Path) -> GlueTask:
    """A custom classification task without label names: take them from the training file."""
    header, rows = read_table(path)
    if header is None:
        header, rows, _ = _columns_of(task, path, rows)
    index = _pick(header, (task.tsv_label, *task.tsv_label_alternatives, "label"), path, "label")
    values = sorted({row[index].strip() for row in rows if len(row) > index and row[index].strip()})
    if values and all(v.isdigit() for v in values):
        names = tuple(str(i) for i in range(max(int(v) for v in values) + 1))
    else:
        names = tuple(values)
    if len(names) < 2:
        raise ValueError(f"{path}: column {header[index]!r} has fewer than 2 distinct labels ({values})")
    return replace(task, label_names=names)


def find_task_folder(task: GlueTask, data_dir: str | Path) -> Path:
    """`data_dir/<SST-2>` (exact, else case- and punctuation-insensitive)."""
    data_dir = Path(data_dir)
    if not data_dir.is_dir():
        raise ValueError(f"--data_dir {data_dir} is not a folder")
    exact = data_dir / task.folder
    if exact.is_dir():
        return exact
    for child in sorted(data_dir.iterdir()):
        if child.is_dir() and _squash(child.name) in (_squash(task.folder), _squash(task.name)):
            return child
    present = sorted(c.name for c in data_dir.iterdir() if c.is_dir())
    raise ValueError(f"--data_dir {data_dir} has no {task.folder} folder for task {task.name}; it has {present}")


def _split_file(folder: Path, stem: str) -> Path:
    for suffix in (".tsv", ".csv", ".jsonl"):
        if (folder / f"{stem}{suffix}").is_file():
            return folder / f"{stem}{suffix}"
    raise ValueError(
        f"{folder} has no {stem}.tsv (nor .csv/.jsonl); files: {sorted(p.name for p in folder.iterdir())}"
    )


def load_task_data(
    task: GlueTask,
    data_dir: str | Path | None = None,
    train_file: str | Path | None = None,
    validation_file: str | Path | None = None,
    need_train: bool = True,
) -> tuple[GlueTask, dict[str, dict[str, list]]]:
    """Splits `train` and each validation key as column dicts; the task (label names filled in).

    Sources in order: explicit files, `data_dir` in the GLUE layout, else the Hub (`nyu-mll/glue`).
    """
    if train_file or validation_file:
        if len(task.splits()) != 1 and validation_file:
            raise ValueError(
                f"{task.name} has validation splits {list(task.splits())}; use --data_dir, not --validation_file"
            )
        if validation_file is None or (need_train and train_file is None):
            raise ValueError("give both --train_file and --validation_file (or --data_dir)")
        files = {next(iter(task.splits())): Path(validation_file)}
        if need_train:
            files = {"train": Path(train_file), **files}
    elif data_dir is not None:
        folder = find_task_folder(task, data_dir)
        files = {key: _split_file(folder, stem) for key, (_, stem) in task.splits().items()}
        if need_train:
            files = {"train": _split_file(folder, "train"), **files}
    else:
        return task, _load_from_hub(task, need_train)
    if not task.is_regression and not task.label_names:
        task = _infer_label_names(task, files.get("train") or next(iter(files.values())))
    return task, {split: read_split(task, path) for split, path in files.items()}


def _load_from_hub(task: GlueTask, need_train: bool) -> dict[str, dict[str, list]]:
    if task.hub_config is None:
        raise ValueError(f"task {task.name} is not on the Hub: give --data_dir or --train_file/--validation_file")
    from datasets import load_dataset

    raw = load_dataset(task.hub_dataset, task.hub_config, revision=task.hub_revision)
    wanted = {key: hub for key, (hub, _) in task.splits().items()}
    if need_train:
        wanted = {"train": "train", **wanted}
    out = {}
    for key, split in wanted.items():
        dataset = raw[split]
        columns = {name: dataset[column] for name, column in zip(("text_a", "text_b"), task.text_keys)}
        labels = dataset[task.hub_label]
        columns["label"] = [float(v) for v in labels] if task.is_regression else list(labels)
        out[key] = columns
    return out


__all__ = [
    "GLUE_METRICS",
    "GLUE_TASKS",
    "METRICS",
    "OTHER_TASKS",
    "GlueMetric",
    "Metric",
    "METRIC_NAMES",
    "PROBE_TASK_TABLE",
    "TASKS",
    "GlueTask",
    "accuracy",
    "combined_score",
    "custom_task",
    "f1",
    "find_task_folder",
    "floor_metrics",
    "get_task",
    "load_task_data",
    "matthews_correlation",
    "near_floor",
    "parse_label",
    "pearson",
    "predictions_from_logits",
    "read_split",
    "read_table",
    "resolve_tasks",
    "spearman",
    "task_metrics",
]
