"""The experiment log as a registry of runs, and Hub model cards generated from it.

``log`` parses and edits the Markdown run table, ``card`` renders a model card for one run,
``folder`` reads what a saved model folder adds to it, ``naming`` derives the Hub repository
name, ``push`` assembles, verifies and uploads a run,
``verify`` loads a folder in a fresh process without cogito. The commands are in ``cogito.cli``.

The names below are imported on first use, so that ``cogito pretrain`` (which appends to the log
through ``cogito.hub_cards.log``) does not import the card and publishing code.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS: dict[str, str] = {
    "GLUE_METRICS": "cogito.evaluation.glue.tasks",
    "GlueMetric": "cogito.evaluation.glue.tasks",
    "CogitoCardData": "cogito.hub_cards.card",
    "card_data_from_run": "cogito.hub_cards.card",
    "render_card": "cogito.hub_cards.card",
    "write_card": "cogito.hub_cards.card",
    "STANDARD_COLUMNS": "cogito.hub_cards.log",
    "EffectiveRank": "cogito.hub_cards.log",
    "RunRecord": "cogito.hub_cards.log",
    "append_run": "cogito.hub_cards.log",
    "find_run": "cogito.hub_cards.log",
    "format_glue_cell": "cogito.hub_cards.log",
    "format_rank_cell": "cogito.hub_cards.log",
    "parse_log": "cogito.hub_cards.log",
    "read_log": "cogito.hub_cards.log",
    "update_run": "cogito.hub_cards.log",
    "write_run": "cogito.hub_cards.log",
    "repo_name_for_run": "cogito.hub_cards.naming",
}


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(_EXPORTS[name]), name)


def __dir__() -> list[str]:
    return sorted(list(globals()) + list(_EXPORTS))


__all__ = sorted(_EXPORTS)
