"""`cogito glue` (= `examples/run_glue.py`): fine-tune and evaluate on GLUE (and local) tasks.

Every `transformers.TrainingArguments` flag is accepted (research-protocol defaults: lr 1e-5,
batch 96, warmup 100, per-task epochs), plus the tasks, heads, data and model selection of
`GlueArguments`, and `GlueLogArguments`: the experiment-log row whose Key GLUE Scores cell the
results update. `--recipe NAME` starts from a recipe's GLUE protocol.
"""

from __future__ import annotations

import json
import math
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from transformers.utils import logging

from cogito._io import RUN_FILE
from cogito.cli._args import check_model_source, check_output_dir, cli_command, parse
from cogito.evaluation.glue.run import GlueArguments, run_glue
from cogito.evaluation.glue.tasks import GLUE_METRICS, TASKS
from cogito.hub_cards.log import find_run, format_glue_cell, known_task_key, read_log, update_run
from cogito.training.recipes import apply_recipe

logger = logging.get_logger(__name__)


@dataclass
class GlueLogArguments:
    """Where `cogito glue` writes its scores: a run's row of the experiment log (only when asked)."""

    experiment_log: str | None = field(
        default=None,
        metadata={"help": "Markdown experiment log whose run row gets the Key GLUE Scores (none: not written)."},
    )
    run_id: str | None = field(
        default=None, metadata={"help": "Run to update in the log (default: the model folder's cogito_run.json)."}
    )
    log_head: str | None = field(
        default=None, metadata={"help": "Head whose scores go into the log (default: the first fine-tuned head)."}
    )

    def __post_init__(self) -> None:
        if self.log_head is not None and self.experiment_log is None:
            raise ValueError(
                f"--log_head {self.log_head!r} chooses what goes into the experiment log: pass --experiment_log too"
            )


# Log keys whose score is a fraction we store as 0-1 but the log writes in %.
def glue_log_scores(results: list[dict[str, Any]], head: str) -> dict[str, float]:
    """Scores of one fine-tuned head in the log's convention (MRPC/QQP F1 %, MNLI-m acc %, STS-B Pearson)."""
    scores = {}
    for result in results:
        metric = GLUE_METRICS.get(result["task"])
        if result["head"] != head or metric is None or result["trained_on"] not in TASKS:
            continue
        value = result["metrics"].get(metric.metric)
        if value is None or math.isnan(value):
            continue
        scores[result["task"]] = round(value * 100, 2) if metric.percent else round(value, 4)
    return scores


def glue_log_floors(results: list[dict[str, Any]], head: str) -> dict[str, float]:
    """The floors of the scores `glue_log_scores` picks, in the log's units and decimals (81.2, 0.0)."""
    scores = glue_log_scores(results, head)
    floors = {}
    for result in results:
        if result["head"] != head or result["task"] not in scores or "floor" not in result:
            continue
        metric = GLUE_METRICS[result["task"]]
        value = result["floor"]["metrics"][metric.metric]
        floors[result["task"]] = round(value * 100, 1) if metric.percent else round(value, 3)
    return floors


@dataclass
class LogTarget:
    path: Path
    run_id: str


def find_log_target(args: GlueLogArguments, model_name_or_path: str) -> LogTarget | None:
    """Where the Key GLUE Scores go, checked before any training so a bad choice fails fast.

    Only an explicit --experiment_log is written; the run is --run_id, else the `run_id` of the
    model folder's `cogito_run.json` (skipped with a warning when the log lacks that run).
    """
    if not args.experiment_log or args.experiment_log.lower() == "none":
        if args.run_id:
            raise ValueError("--run_id needs --experiment_log (the log whose row gets the scores)")
        return None
    path = Path(args.experiment_log)
    if not path.is_file():
        raise ValueError(f"--experiment_log {path} does not exist")
    run_id = args.run_id
    if run_id is None:
        run_file = Path(model_name_or_path) / RUN_FILE
        run_id = json.loads(run_file.read_text()).get("run_id") if run_file.is_file() else None
        if run_id is None:
            raise ValueError(
                f"--experiment_log {path} needs --run_id (no {RUN_FILE} with a run_id in {model_name_or_path})"
            )
    records = read_log(path)
    if args.run_id:
        find_run(records, run_id)  # raises, naming close matches
    elif not any(r.run_id == run_id for r in records):
        logger.warning(f"run {run_id!r} (from {RUN_FILE}) is not in {path}: the log is not updated")
        return None
    return LogTarget(path, run_id)


def update_log(target: LogTarget, scores: dict[str, float], floors: dict[str, float] | None = None) -> str:
    """Merge `scores` (and their `floors`) into the run's Key GLUE Scores cell: tasks already there are
    kept, with their floors, and entries the log reader does not know stay as they were written."""
    existing = find_run(read_log(target.path), target.run_id)
    merged = {**existing.glue_scores, **scores}
    kept_floors = {task: value for task, value in existing.glue_floors.items() if task not in scores}
    other = {label: text for label, text in existing.glue_other.items() if known_task_key(label) is None}
    for label in existing.glue_other.keys() - other.keys():
        logger.warning(f"{target.path}: dropping the unreadable entry {label}: {existing.glue_other[label]!r}")
    cell = format_glue_cell(merged, {**kept_floors, **(floors or {})}, other)
    update_run(target.path, target.run_id, {"Key GLUE Scores": cell})
    return cell


def run_glue_and_log(args: GlueArguments, log_args: GlueLogArguments) -> dict[str, Any]:
    """`run_glue`, then the scores of one head into the run's Key GLUE Scores cell of the log.

    The log row is checked before any training, so a wrong --experiment_log/--run_id fails fast.
    """
    log_target = find_log_target(log_args, args.model_name_or_path)
    summary = run_glue(args)
    if log_target is not None:
        results = json.loads(Path(summary["results_json"]).read_text())["results"]
        log_head = log_args.log_head or next((h for h in summary["heads"] if h != "zero_shot"), None)
        scores = glue_log_scores(results, log_head) if log_head else {}
        if scores:
            summary["experiment_log"] = {
                "path": str(log_target.path),
                "run_id": log_target.run_id,
                "cell": update_log(log_target, scores, glue_log_floors(results, log_head)),
            }
        else:
            logger.warning(f"no GLUE score of head {log_head!r} to write into {log_target.path}")
    return summary


def parse_args(argv: list[str] | None) -> tuple[GlueArguments, GlueLogArguments]:
    """Parse `cogito glue` flags; `--recipe NAME` supplies the recipe's GLUE protocol as defaults."""
    argv = apply_recipe(sys.argv[1:] if argv is None else argv, "glue")
    args, log_args = parse("glue", [GlueArguments, GlueLogArguments], argv, description=__doc__.split("\n\n")[0])
    return args, log_args


@cli_command("glue")
def cli_main(argv: list[str]) -> int:
    args, log_args = parse_args(argv)
    check_model_source("--model_name_or_path", args.model_name_or_path)
    check_output_dir("--output_dir", args.output_dir)
    summary = run_glue_and_log(args, log_args)
    print("\n".join(summary["scores_and_floors"]))  # the readable view; the JSON follows
    print(json.dumps(summary, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(cli_main())
