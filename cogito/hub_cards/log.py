"""The Markdown experiment log as a registry of runs.

The log is a Markdown file with one (or more) run tables. A run table is recognised by its header
row having a run-id column; cells are read by column *name* through a small alias table, so
columns can be added, removed, reordered or renamed (within the known renames) without breaking
the reader. Each row becomes a typed :class:`RunRecord`.

Reading is lenient (:func:`read_log`): a cell that cannot be read is left empty on its row and named
in the row's ``problems`` (and a warning), a row or table that cannot be read at all is skipped with
a warning, and a GLUE label the task table does not know is kept as written (``glue_other``), so one
bad row never stops the commands that read other rows. ``parse_log(..., strict=True)`` (the
default of ``parse_log``) raises on the first problem instead.

Writes (:func:`append_run`, :func:`update_run`, :func:`write_run`) touch only the row they add or change, are strict
on the cells they write (the whole new row for an append), and replace the file atomically.
"""

from __future__ import annotations

import datetime as dt
import difflib
import hashlib
import html
import logging
import os
import re
import tempfile
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from filelock import FileLock

from cogito._io import DEFAULT_LOG, RUN_FILE, atomic_write_text  # noqa: F401 (DEFAULT_LOG, RUN_FILE re-exported)
from cogito.configuration_cogito import DECODER_TYPES
from cogito.evaluation.glue.tasks import GLUE_METRICS, GlueMetric
from cogito.hub_cards.naming import objective_of
from cogito.training.losses import CONCEPT_LOSSES, LOSS_WEIGHTINGS

logger = logging.getLogger(__name__)

STANDARD_COLUMNS: tuple[str, ...] = (
    "Date",
    "Run ID / Model Type",
    "Architecture",
    "Pretraining Data",
    "Machine",
    "Epochs",
    "Concept Losses",
    "MLM Loss",
    "Eff. Rank",
    "Key GLUE Scores",
    "Speed (Steps/s)",
    "WandB Link",
    "Conclusion / Takeaway",
)

# Canonical key -> the (normalised) header names it has been logged under. The first column of
# STANDARD_COLUMNS for each key is the name new logs are created with.
COLUMN_ALIASES: dict[str, tuple[str, ...]] = {
    "date": ("date",),
    "run_id": ("run id / model type", "run id", "run_id", "run", "run name", "model"),
    "architecture": ("architecture", "arch", "arch."),
    "pretraining_data": ("pretraining data", "pre-training data", "data", "dataset"),
    "machine": ("machine", "hardware", "host"),
    "epochs": ("epochs", "epoch"),
    "concept_losses": ("concept losses", "concept loss", "regularisers", "regularizers"),
    "mlm_loss": ("mlm loss", "mlm", "final mlm loss", "eval mlm loss"),
    "effective_rank": ("eff. rank", "eff rank", "effective rank", "rank"),
    "glue": ("key glue scores", "glue scores", "glue"),
    "speed": ("speed (steps/s)", "speed", "steps/s", "speed (steps / s)"),
    "wandb": ("wandb link", "wandb", "w&b", "w&b link", "w&b run"),
    "conclusion": ("conclusion / takeaway", "conclusion", "takeaway", "notes"),
}
_KEY_BY_ALIAS: dict[str, str] = {alias: key for key, aliases in COLUMN_ALIASES.items() for alias in aliases}
REQUIRED_KEYS: tuple[str, ...] = ("run_id",)
# A table with this many known columns but no run-id column is a broken run table, not prose.
_MIN_KNOWN_COLUMNS_FOR_RUN_TABLE = 3

# Run ids start with the decoder type; the longest name is tried first (perceiver_posonly before perceiver).
_DECODERS_BY_LENGTH: tuple[str, ...] = tuple(sorted(DECODER_TYPES, key=len, reverse=True))
# Older spellings of a weighting in hand-written rows; the names themselves come from training.losses.
_WEIGHTING_ALIASES: dict[str, str] = {"uncertainty": "kendall_gal"}


_TASK_BY_SQUASHED: dict[str, str] = {re.sub(r"[^a-z0-9]", "", m.task): m.task for m in GLUE_METRICS.values()}
_TASK_BY_SQUASHED.update({"mnli": "mnli_m", "mnlimatched": "mnli_m", "mnlimismatched": "mnli_mm", "sts": "stsb"})

_EMPTY_MARKERS = frozenset({"", "-", "--", "---", "—", "–", "n/a", "na", "none"})
_NOT_EVALUATED = frozenset({"not evaluated", "not yet evaluated", "pending"})
_BR = re.compile(r"<br\s*/?>", re.IGNORECASE)
_NUMBER = r"-?\d+(?:\.\d+)?"
_ESCAPE_BASE = 0xE000


@dataclass(frozen=True)
class EffectiveRank:
    """``r / of (percent%)`` from the log's "Eff. Rank" column (r = Σσ / σ_max)."""

    value: float
    of: int
    percent: float


@dataclass
class RunRecord:
    """One row of a run table, typed. ``cells`` keeps the raw cell text by column name.

    ``glue_scores`` holds the scores of known tasks by key (``mrpc``), ``glue_floors`` the floor
    written beside a score (``(floor 81.2)``), ``glue_other`` every other GLUE entry as written
    (label -> value text: a task this version does not know, or a value it cannot read).
    ``problems`` names the cells of the row that could not be read (lenient reading only).
    """

    run_id: str
    date: dt.date | None = None
    decoder_type: str | None = None
    objective: str | None = None
    hidden_size: int | None = None
    num_layers: int | None = None
    num_concepts: int | None = None
    pretraining_data: str | None = None
    machine: str | None = None
    epochs: float | None = None
    concept_losses: list[str] = field(default_factory=list)
    loss_weighting: str | None = None
    loss_weight: float | None = None
    mlm_loss: float | None = None
    effective_rank: EffectiveRank | None = None
    glue_scores: dict[str, float] = field(default_factory=dict)
    glue_floors: dict[str, float] = field(default_factory=dict)
    glue_other: dict[str, str] = field(default_factory=dict)
    glue_evaluated: bool = False
    speed: float | None = None
    wandb_url: str | None = None
    conclusion: str = ""
    cells: dict[str, str] = field(default_factory=dict)
    line: int = 0
    problems: list[str] = field(default_factory=list)


# --------------------------------------------------------------------------- cell text helpers


def plain_text(cell: str) -> str:
    """Cell text with Markdown/HTML markup removed and whitespace collapsed."""
    # Backslash-escaped punctuation is literal: park it in the private-use area while markup is removed.
    text = re.sub(r"\\([!-/:-@\[-`{-~])", lambda m: chr(_ESCAPE_BASE + ord(m.group(1))), cell)
    text = _BR.sub(" ", text)
    text = re.sub(r"`([^`]*)`", r"\1", text)
    text = re.sub(r"!?\[([^\]]*)\]\([^)]*\)", r"\1", text)
    text = re.sub(r"\*\*(.+?)\*\*|__(.+?)__", lambda m: m.group(1) or m.group(2), text)
    text = re.sub(r"(?<![\w*])\*(?!\s)(.+?)(?<!\s)\*(?![\w*])", r"\1", text)
    text = re.sub(r"(?<!\w)_(?!\s)(.+?)(?<!\s)_(?!\w)", r"\1", text)
    text = re.sub(r"<[^>]*>", "", text)
    text = html.unescape(text)
    text = re.sub("[\ue000-\ue07f]", lambda m: chr(ord(m.group(0)) - _ESCAPE_BASE), text)
    return " ".join(text.split())


def _is_empty(cell: str) -> bool:
    return plain_text(cell).lower() in _EMPTY_MARKERS


def escape_cell(value: str) -> str:
    """Make ``value`` safe as one table cell: line breaks become ``<br>``, pipes are escaped."""
    if not isinstance(value, str):
        raise TypeError(f"cell values must be str, got {type(value).__name__}: {value!r}")
    text = re.sub(r"\r\n|[\r\n\u2028\u2029\x85\x0b\x0c]", " <br> ", value)
    text = text.replace("|", "\\|")
    text = " ".join(text.split())
    return text or "--"


def known_task_key(label: str) -> str | None:
    """The task key of a label as written in the log (``MNLI-m`` -> ``mnli_m``), or None if unknown."""
    return _TASK_BY_SQUASHED.get(re.sub(r"[^a-z0-9]", "", plain_text(label).lower()))


def glue_task_key(label: str) -> str:
    """Normalise a task label as written in the log (``MNLI-m``, ``STS-B``) to its key."""
    squashed = re.sub(r"[^a-z0-9]", "", plain_text(label).lower())
    if squashed not in _TASK_BY_SQUASHED:
        known = ", ".join(m.label for m in GLUE_METRICS.values())
        raise ValueError(f"unknown GLUE task {label!r}; known tasks: {known}")
    return _TASK_BY_SQUASHED[squashed]


def _format_number(value: float, decimals: int) -> str:
    text = f"{value:.{decimals}f}"
    # Keep the log's fixed decimals unless that would lose digits of the measured value.
    return text if float(text) == float(value) else repr(float(value))


def format_glue_cell(
    scores: Mapping[str, float],
    floors: Mapping[str, float] | None = None,
    other: Mapping[str, str] | None = None,
) -> str:
    """Scores by task (``{"mrpc": 81.3, "stsb": 0.627}``) in the log's style.

    ``floors`` (same keys and units) are written beside their score: ``**MRPC:** 82.2% (floor 81.2)``;
    ``other`` entries (label -> value text, a record's ``glue_other``) are kept as they were written.
    """
    if not scores and not other:
        raise ValueError("format_glue_cell needs at least one score; write '*Not evaluated*' instead")
    floors = {glue_task_key(task): value for task, value in (floors or {}).items()}
    parts = []
    for task, value in scores.items():
        key = glue_task_key(task)
        metric = GLUE_METRICS[key]
        _check_score_range(metric, float(value), f"{task}={value!r}")
        number = _format_number(float(value), 1 if metric.percent else 3)
        part = f"**{metric.label}:** {number}{'%' if metric.percent else ''}"
        if key in floors:
            _check_score_range(metric, float(floors[key]), f"floor of {task}={floors[key]!r}")
            part += f" (floor {_format_number(float(floors[key]), 1 if metric.percent else 3)})"
        parts.append(part)
    unknown = [task for task in floors if task not in {glue_task_key(t) for t in scores}]
    if unknown:
        raise ValueError(f"floors given for {unknown} without their score")
    parts += [f"**{label}:** {text}" for label, text in (other or {}).items()]
    return " <br> ".join(parts)


def format_rank_cell(value: float, of: int) -> str:
    """Effective rank in the log's style: ``**5.07 / 128** (4.0%)``."""
    if isinstance(of, bool) or not isinstance(of, int) or of <= 0:
        raise ValueError(f"rank 'of' must be a positive int (number of concepts), got {of!r}")
    if not 0 <= value <= of:
        raise ValueError(f"effective rank must lie in [0, {of}], got {value!r}")
    shown = f"{round(float(value), 2):g}"
    return f"**{shown} / {of}** ({value / of * 100:.1f}%)"


def _check_score_range(metric: GlueMetric, value: float, shown: str) -> None:
    low, high = (0.0, 100.0) if metric.percent else (-1.0, 1.0)
    if not low <= value <= high:
        unit = "%" if metric.percent else "on a -1..1 scale"
        raise ValueError(f"{metric.label} {metric.metric_name} is {unit}, so {shown} is out of range [{low}, {high}]")


# --------------------------------------------------------------------------- cell parsers


def _parse_optional_float(cell: str) -> float | None:
    if _is_empty(cell):
        return None
    match = re.match(rf"\s*[~≈]?\s*({_NUMBER})", plain_text(cell))
    if not match:
        raise ValueError(f"expected a number or '--', got {cell!r}")
    return float(match.group(1))


def _parse_date(cell: str) -> dt.date | None:
    if _is_empty(cell):
        return None
    try:
        return dt.date.fromisoformat(plain_text(cell))
    except ValueError:
        raise ValueError(f"expected an ISO date like 2026-02-08, got {cell!r}") from None


def _parse_rank(cell: str) -> EffectiveRank | None:
    if _is_empty(cell):
        return None
    match = re.fullmatch(rf"({_NUMBER})\s*/\s*(\d+)\s*(?:\(\s*({_NUMBER})\s*%\s*\))?", plain_text(cell))
    if not match:
        raise ValueError(f"expected an effective rank like '**5 / 128** (4%)' or '--', got {cell!r}")
    value, of = float(match.group(1)), int(match.group(2))
    percent = float(match.group(3)) if match.group(3) else round(value / of * 100, 1)
    return EffectiveRank(value=value, of=of, percent=percent)


@dataclass
class GlueCell:
    """A parsed "Key GLUE Scores" cell (see :class:`RunRecord` for the fields)."""

    scores: dict[str, float] = field(default_factory=dict)
    floors: dict[str, float] = field(default_factory=dict)
    other: dict[str, str] = field(default_factory=dict)
    evaluated: bool = False
    problems: list[str] = field(default_factory=list)


_GLUE_ITEM = re.compile(
    rf"(?P<label>.+?)\s*:\s*(?P<value>{_NUMBER})\s*(?P<percent>%?)"
    rf"(?:\s*\(\s*floor\s*:?\s*(?P<floor>{_NUMBER})\s*%?\s*\))?",
    re.IGNORECASE,
)


def _parse_glue_item(text: str, item: str, cell: GlueCell) -> None:
    """One ``TASK: value [(floor f)]`` entry into ``cell``; raises on a known task it cannot read."""
    label, _, rest = text.partition(":")
    key = known_task_key(label) if rest else None
    if key is None:  # a task this version does not know: kept as written
        if not rest or not label.strip():
            raise ValueError(
                f"cannot read a score from {item.strip()!r}; expected 'TASK: value' like '**MRPC:** 81.3%'"
            )
        if label.strip() in cell.other:
            raise ValueError(f"{label.strip()} appears twice in the cell")
        cell.other[label.strip()] = rest.strip()
        cell.problems.append(f"unknown GLUE task {label.strip()!r}")
        return
    metric = GLUE_METRICS[key]
    match = _GLUE_ITEM.fullmatch(text)
    if not match:
        raise ValueError(
            f"cannot read a score from {item.strip()!r}; expected 'TASK: value' like '**MRPC:** 81.3%' "
            "(optionally followed by '(floor 81.2)')"
        )
    if bool(match.group("percent")) != metric.percent:
        unit = "in % (write the % sign)" if metric.percent else "on a 0-1 scale (no % sign)"
        raise ValueError(f"{metric.label} {metric.metric_name} is logged {unit}, got {item.strip()!r}")
    value = float(match.group("value"))
    _check_score_range(metric, value, repr(text))
    if key in cell.scores:
        raise ValueError(f"{metric.label} appears twice in the cell")
    if match.group("floor") is not None:
        floor = float(match.group("floor"))
        _check_score_range(metric, floor, repr(text))
        cell.floors[key] = floor
    cell.scores[key] = value


def _parse_glue(cell: str, strict: bool = True) -> GlueCell:
    """The scores of a "Key GLUE Scores" cell. Strict: any entry it cannot read (an unknown task
    included) raises. Lenient: such entries are kept as written in ``other`` and named in ``problems``
    (an unknown task is not a problem of the row, only of strict reading)."""
    plain = plain_text(cell).lower().rstrip(".")
    if plain in _EMPTY_MARKERS or plain in _NOT_EVALUATED:
        return GlueCell()
    out = GlueCell(evaluated=True)
    for item in _BR.split(cell):
        text = plain_text(item)
        if not text:
            continue
        unknown_before = len(out.problems)
        try:
            _parse_glue_item(text, item, out)
        except ValueError as err:
            if strict:
                raise
            label, _, rest = text.partition(":")
            out.other.setdefault(label.strip() or text, rest.strip())
            out.problems.append(str(err))
            continue
        if strict and len(out.problems) > unknown_before:  # an unknown task
            raise ValueError(
                f"unknown GLUE task {plain_text(text.partition(':')[0])!r}; known tasks: "
                + ", ".join(m.label for m in GLUE_METRICS.values())
            )
    out.problems = [p for p in out.problems if not p.startswith("unknown GLUE task")]
    return out


def _parse_concept_losses(cell: str) -> tuple[list[str], str | None, float | None]:
    if _is_empty(cell):
        return [], None, None
    losses: list[str] = []
    weighting: str | None = None
    weight: float | None = None
    for part in re.split(r"\s*(?:\+|,|<br\s*/?>)\s*", cell, flags=re.IGNORECASE):
        text = plain_text(part)
        if not text:
            continue
        name = text.lower().replace("-", "_")
        name = _WEIGHTING_ALIASES.get(name, name)
        fixed = re.fullmatch(rf"fixed(?:\s*[=:]?\s*({_NUMBER}))?", text, re.IGNORECASE)
        if fixed:
            found = "fixed"
            weight = float(fixed.group(1)) if fixed.group(1) else None
        elif name in LOSS_WEIGHTINGS:
            found = name
        elif name in CONCEPT_LOSSES:
            losses.append(name)
            continue
        else:
            raise ValueError(
                f"cannot read concept loss {text!r} in {cell!r}; expected regularisers ({', '.join(CONCEPT_LOSSES)}) "
                f"and at most one weighting ({', '.join(LOSS_WEIGHTINGS)}, fixed=<weight>) joined by '+', e.g. "
                "'`combined` + `kendall_gal`'"
            )
        if weighting is not None:
            raise ValueError(f"two loss weightings ({weighting}, {found}) in {cell!r}")
        weighting = found
    if weighting is not None and not losses:
        raise ValueError(f"loss weighting {weighting!r} given without any concept loss in {cell!r}")
    return losses, weighting, weight


def _text_or_none(cell: str) -> str | None:
    return None if _is_empty(cell) else plain_text(cell)


def _parse_wandb(cell: str) -> str | None:
    if _is_empty(cell):
        return None
    match = re.search(r"\((https?://[^)\s]+)\)", cell) or re.search(r"https?://[^\s)<>\]]+", cell)
    if not match:
        raise ValueError(f"expected a link like '[Link](https://wandb.ai/...)' or '--', got {cell!r}")
    return match.group(1) if match.re.groups else match.group(0)


def decoder_type_of(run_id: str) -> str | None:
    """The decoder named by a run id's prefix (``perceiver_posonly_mlm_...`` -> ``perceiver_posonly``)."""
    for decoder in _DECODERS_BY_LENGTH:
        if run_id.startswith(decoder + "_"):
            return decoder
    return None


def _architecture(cell: str | None, run_id: str) -> tuple[int | None, int | None, int | None]:
    from_id = re.search(r"H(\d+)L(\d+)C(\d+)", run_id)
    id_values = tuple(int(v) for v in from_id.groups()) if from_id else (None, None, None)
    if cell is None or _is_empty(cell):
        return id_values  # type: ignore[return-value]
    plain = plain_text(cell)
    values = []
    for letter, from_run in zip("HLC", id_values):
        match = re.search(rf"\b{letter}(\d+)\b", plain)
        value = int(match.group(1)) if match else from_run
        if match and from_run is not None and value != from_run:
            raise ValueError(
                f"architecture {plain!r} says {letter}{value} but run id {run_id!r} says {letter}{from_run}"
            )
        values.append(value)
    return values[0], values[1], values[2]


# --------------------------------------------------------------------------- table scanning


def _split_lines(text: str) -> list[str]:
    """Lines with their endings; splits on '\\n' only, unlike str.splitlines."""
    return re.findall(r"[^\n]*\n|[^\n]+$", text)


def _strip_ending(line: str) -> tuple[str, str]:
    body = line.rstrip("\r\n")
    return body, line[len(body) :]


def _cell_spans(line: str) -> list[tuple[int, int]]:
    """(start, end) of each cell's raw text between unescaped pipes."""
    body, _ = _strip_ending(line)
    pipes = [i for i, ch in enumerate(body) if ch == "|" and (i == 0 or body[i - 1] != "\\")]
    spans = [(a + 1, b) for a, b in zip(pipes, pipes[1:])]
    if body[pipes[-1] + 1 :].strip():  # no trailing pipe: the last cell runs to the end of the line
        spans.append((pipes[-1] + 1, len(body.rstrip())))
    return spans


def _cells(line: str) -> list[str]:
    body, _ = _strip_ending(line)
    return [body[a:b].strip().replace("\\|", "|") for a, b in _cell_spans(line)]


def _normalise_header(name: str) -> str:
    return " ".join(plain_text(name).lower().split())


def _is_separator(line: str) -> bool:
    cells = _cells(line)
    return bool(cells) and all(re.fullmatch(r":?-+:?", c) for c in cells)


@dataclass
class _Table:
    header: int  # 0-based line index
    columns: list[str]
    keys: list[str | None]
    rows: list[int] = field(default_factory=list)
    end: int = 0  # index of the first line after the table

    def column_index(self, name: str) -> int:
        """Index of a column given its header text or any known alias of it."""
        wanted = name.strip()
        for i, column in enumerate(self.columns):
            if column == wanted:
                return i
        key = _KEY_BY_ALIAS.get(_normalise_header(wanted))
        if key is not None and key in self.keys:
            return self.keys.index(key)
        raise ValueError(
            f"unknown column {name!r}; the run table at line {self.header + 1} has columns: "
            + ", ".join(repr(c) for c in self.columns)
        )


@dataclass
class _Problems:
    """Where reading goes wrong: raised at once when strict, else collected as (line, column, message)."""

    source: str
    strict: bool
    found: list[tuple[int, str | None, str]] = field(default_factory=list)
    bare: list[str] = field(default_factory=list)  # each found message without what reading did about it

    def add(self, line: int, message: str, column: str | None = None, then: str = "") -> str:
        """Raise (strict) or record the problem; `then` says what lenient reading does about it."""
        where = f"{self.source} line {line}" + (f", column {column!r}" if column is not None else "")
        if self.strict:
            raise ValueError(f"{where}: {message}")
        text = f"{where}: {message}" + (f" ({then})" if then else "")
        self.found.append((line, column, text))
        self.bare.append(f"{where}: {message}")
        return text


def _scan(lines: list[str], problems: _Problems) -> list[_Table]:
    tables: list[_Table] = []
    in_fence = False
    i = 0
    while i < len(lines):
        stripped = lines[i].strip()
        if stripped.startswith(("```", "~~~")):
            in_fence = not in_fence
        if in_fence or not stripped.startswith("|"):
            i += 1
            continue
        start = i
        while i < len(lines) and lines[i].strip().startswith("|"):
            i += 1
        table = _read_table(lines, start, i, problems)
        if table is not None:
            tables.append(table)
    return tables


def _read_table(lines: list[str], start: int, end: int, problems: _Problems) -> _Table | None:
    """The run table of lines[start:end], or None (another table, or a broken one when lenient)."""
    columns = _cells(lines[start])
    keys = [_KEY_BY_ALIAS.get(_normalise_header(c)) for c in columns]
    known = [k for k in keys if k is not None]
    missing = [k for k in REQUIRED_KEYS if k not in known]
    skipped = "table skipped"
    if missing:
        if len(set(known)) >= _MIN_KNOWN_COLUMNS_FOR_RUN_TABLE:
            names = " or ".join(repr(a) for a in COLUMN_ALIASES[missing[0]][:3])
            problems.add(start + 1, f"run table header has no required {missing[0]} column ({names})", then=skipped)
        return None  # some other table in the log
    for key in set(known):
        if known.count(key) > 1:
            dupes = [c for c, k in zip(columns, keys) if k == key]
            problems.add(start + 1, f"columns {dupes} are the same field ({key}); keep one", then=skipped)
            return None
    if end - start < 2 or not _is_separator(lines[start + 1]):
        problems.add(
            start + 2,
            f"the run table header (line {start + 1}) is not followed by a separator row like '|---|---|'",
            then=skipped,
        )
        return None
    if len(_cells(lines[start + 1])) != len(columns):
        problems.add(
            start + 2,
            f"separator row has {len(_cells(lines[start + 1]))} cells, header has {len(columns)}",
            then=skipped,
        )
        return None
    table = _Table(header=start, columns=columns, keys=keys, end=end)
    for index in range(start + 2, end):
        count = len(_cells(lines[index]))
        if count != len(columns):
            problems.add(
                index + 1,
                f"row has {count} cells but the header (line {start + 1}) has {len(columns)} columns",
                then="read by position, missing cells as '--'",
            )
        table.rows.append(index)
    return table


def _record(table: _Table, line: str, index: int, problems: _Problems) -> RunRecord | None:
    raw = _cells(line)
    raw = (raw + ["--"] * len(table.columns))[: len(table.columns)]  # a short or long row (lenient only)
    cells = dict(zip(table.columns, raw))
    by_key = {k: v for k, v in zip(table.keys, raw) if k is not None}
    row_problems: list[str] = [text for at, _, text in problems.found if at == index + 1]

    def read(key: str, parser):  # parse one cell, naming line and column on error
        if key not in by_key:
            return parser("--")
        try:
            return parser(by_key[key])
        except ValueError as err:
            column = table.columns[table.keys.index(key)]
            row_problems.append(problems.add(index + 1, str(err), column, then="read as empty"))
            return parser("--")

    run_id = plain_text(by_key["run_id"])
    if _is_empty(run_id):
        problems.add(index + 1, "empty run id", then="row skipped")
        return None
    hidden, layers, concepts = read("architecture", lambda c: _architecture(c, run_id))
    losses, weighting, weight = read("concept_losses", _parse_concept_losses)
    glue = read("glue", lambda c: _parse_glue(c, problems.strict))
    if "glue" in by_key:
        column = table.columns[table.keys.index("glue")]
        row_problems += [problems.add(index + 1, problem, column, "kept as written") for problem in glue.problems]
    return RunRecord(
        run_id=run_id,
        date=read("date", _parse_date),
        decoder_type=decoder_type_of(run_id),
        objective=objective_of(run_id),
        hidden_size=hidden,
        num_layers=layers,
        num_concepts=concepts,
        pretraining_data=read("pretraining_data", _text_or_none),
        machine=read("machine", _text_or_none),
        epochs=read("epochs", _parse_optional_float),
        concept_losses=losses,
        loss_weighting=weighting,
        loss_weight=weight,
        mlm_loss=read("mlm_loss", _parse_optional_float),
        effective_rank=read("effective_rank", _parse_rank),
        glue_scores=glue.scores,
        glue_floors=glue.floors,
        glue_other=glue.other,
        glue_evaluated=glue.evaluated,
        speed=read("speed", _parse_optional_float),
        wandb_url=read("wandb", _parse_wandb),
        conclusion=read("conclusion", lambda c: "" if _is_empty(c) else plain_text(c)),
        cells=cells,
        line=index + 1,
        problems=row_problems,
    )


# --------------------------------------------------------------------------- reading


def _parse(text: str, problems: _Problems) -> tuple[list[str], list[_Table], list[RunRecord]]:
    lines = _split_lines(text)
    tables = _scan(lines, problems)
    records: list[RunRecord] = []
    seen: dict[str, int] = {}
    for table in tables:
        for index in table.rows:
            record = _record(table, lines[index], index, problems)
            if record is None:
                continue
            if record.run_id in seen:
                problems.add(
                    record.line,
                    f"run id {record.run_id!r} already used on line {seen[record.run_id]}",
                    then="row skipped",
                )
                continue
            seen[record.run_id] = record.line
            records.append(record)
    return lines, tables, records


def parse_log(text: str, source: str = "<log>", strict: bool = True) -> list[RunRecord]:
    """Every row of every run table in ``text``, in file order.

    ``strict`` (the default here): the first cell, row or table that cannot be fully read raises,
    naming its line and column. Otherwise reading is lenient (see :func:`read_log`).
    """
    problems = _Problems(source, strict)
    records = _parse(text, problems)[2]
    for _, _, message in problems.found:
        logger.warning(message)
    return records


def _read_text(path: Path) -> str:
    try:
        with open(path, encoding="utf-8", newline="") as handle:  # newline="": keep \r\n bytes as they are
            return handle.read()
    except UnicodeDecodeError as error:
        raise ValueError(
            f"the experiment log {path} is not UTF-8 text (byte offset {error.start}): re-encode it as UTF-8"
        ) from None


def read_log(path: str | os.PathLike[str], strict: bool = False) -> list[RunRecord]:
    """Parse the log file at ``path``; lenient unless ``strict``.

    Lenient: a cell that cannot be read is taken as empty and named in its row's ``problems``; a
    row without a run id or repeating an earlier one, and a broken run table, are skipped; each
    problem is a warning. Unknown GLUE labels are kept in ``glue_other`` and are no problem.
    """
    path = Path(path)
    return parse_log(_read_text(path), str(path), strict)


def find_run(records: list[RunRecord], run_id: str) -> RunRecord:
    """The record with ``run_id``; the error lists close matches."""
    for record in records:
        if record.run_id == run_id:
            return record
    ids = [r.run_id for r in records]
    close = difflib.get_close_matches(run_id, ids, n=5, cutoff=0.6)
    hint = f"close matches: {', '.join(close)}" if close else f"known runs: {', '.join(ids[:10]) or 'none'}"
    raise ValueError(f"no run {run_id!r} in the log; {hint}")


# --------------------------------------------------------------------------- writing


def new_log_text(title: str = "Experiment Log") -> str:
    """A fresh log: a title and an empty run table with the standard header."""
    header = "| " + " | ".join(STANDARD_COLUMNS) + " |"
    separator = "|" + "---|" * len(STANDARD_COLUMNS)
    return f"# {title}\n\n## Training Runs\n\n{header}\n{separator}\n"


def _line_ending(text: str) -> str:
    return "\r\n" if "\r\n" in text else "\n"


def _locked(path: Path) -> FileLock:
    """An exclusive lock around a read-modify-write of the log, so a pretraining run appending and
    a GLUE run updating at the same moment both land.

    A `filelock` lock (no ``fcntl``: works on every platform) on a file named after the log's
    resolved path in the temp folder: not beside the log, which is replaced on every write (a lock
    on a replaced inode would not exclude the next writer) and which people keep in git.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    key = hashlib.sha1(str(path.resolve()).encode()).hexdigest()[:16]
    return FileLock(Path(tempfile.gettempdir()) / f"cogito-log-{key}.lock")


def append_run(path: str | os.PathLike[str], cells: Mapping[str, str]) -> RunRecord:
    """Add a row (cells by column name, missing ones ``--``) to the last run table of the log.

    Creates the log with a title and the standard header when ``path`` does not exist.
    """
    path = Path(path)
    with _locked(path):
        return _append_run(path, cells)


def _append_run(path: Path, cells: Mapping[str, str]) -> RunRecord:
    text = _read_text(path) if path.exists() else new_log_text()
    lines = _split_lines(text)
    tables = _scan(lines, _Problems(str(path), strict=False))  # other tables' problems are not this write's
    if not tables:
        raise ValueError(f"{path}: no run table (a table whose header has a 'Run ID' column) to append to")
    table = tables[-1]
    values = ["--"] * len(table.columns)
    for name, value in cells.items():
        values[table.column_index(name)] = escape_cell(value)
    run_index = table.keys.index("run_id")
    if _is_empty(values[run_index]):
        raise ValueError(f"append_run needs a run id in column {table.columns[run_index]!r}")
    ending = _line_ending(text)
    if table.end > 0 and not lines[table.end - 1].endswith("\n"):
        lines[table.end - 1] += ending
    lines.insert(table.end, "| " + " | ".join(values) + " |" + ending)
    new_text = "".join(lines)
    records = _checked(new_text, path, table.end + 1, None)  # the new row, validated before touching the file
    atomic_write_text(path, new_text)
    return next(r for r in records if r.line == table.end + 1)


def write_run(
    path: str | os.PathLike[str],
    cells: Mapping[str, str],
    merge: Callable[[RunRecord, dict[str, str]], Mapping[str, str]] | None = None,
) -> tuple[RunRecord, bool]:
    """The row of a run, written once: appended when the log has no row with the run id of ``cells``,
    otherwise that row's cells are replaced (``merge(existing record, cells)`` chooses which and how;
    by default all of ``cells``). Returns the record and whether an existing row was updated.

    Deciding and writing happen under one lock, so a resumed run never adds a second row for itself.
    """
    path = Path(path)
    with _locked(path):
        if path.exists():
            text = _read_text(path)
            problems = _Problems(str(path), strict=False)
            lines, tables, records = _parse(text, problems)
            if tables:
                table = tables[-1]
                named = {table.keys[table.column_index(name)]: value for name, value in cells.items()}
                run_id = plain_text(named.get("run_id", ""))
                existing = next((r for r in records if r.run_id == run_id), None)
                if existing is not None:
                    updates = dict(merge(existing, dict(cells)) if merge else cells)
                    return _update_run(path, run_id, updates), True
        return _append_run(path, cells), False


def update_run(path: str | os.PathLike[str], run_id: str, updates: Mapping[str, str]) -> RunRecord:
    """Replace cells of the row ``run_id``; every other byte of the file stays as it was."""
    path = Path(path)
    with _locked(path):
        return _update_run(path, run_id, updates)


def _update_run(path: Path, run_id: str, updates: Mapping[str, str]) -> RunRecord:
    text = _read_text(path)
    problems = _Problems(str(path), strict=False)
    lines, tables, records = _parse(text, problems)
    record = find_run(records, run_id)
    structural = [message for line, column, message in problems.found if line == record.line and column is None]
    if structural:
        raise ValueError(f"cannot update run {run_id!r}: {structural[0]}")
    table = next(t for t in tables if record.line - 1 in t.rows)
    index = record.line - 1
    body, ending = _strip_ending(lines[index])
    spans = _cell_spans(lines[index])
    replacements = {table.column_index(name): escape_cell(value) for name, value in updates.items()}
    for column in sorted(replacements, reverse=True):  # right to left keeps earlier spans valid
        start, end = spans[column]
        body = body[:start] + f" {replacements[column]} " + body[end:]
    lines[index] = body + ending
    new_text = "".join(lines)
    new_records = _checked(new_text, path, record.line, {table.columns[c] for c in replacements})
    atomic_write_text(path, new_text)
    return next(r for r in new_records if r.line == record.line)


def _checked(text: str, path: Path, line: int, columns: set[str] | None) -> list[RunRecord]:
    """The records of ``text``, refusing a problem of the row at ``line`` that this write made.

    ``columns``: the cells written (None: the whole row). Problems of other rows, and of cells of
    this row that the write did not touch, stay warnings of later reads, never a refused write.
    """
    problems = _Problems(str(path), strict=False)
    records = _parse(text, problems)[2]
    for (at, column, _), message in zip(problems.found, problems.bare):
        if at == line and (columns is None or column is None or column in columns):
            raise ValueError(message)
    return records
