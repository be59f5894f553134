"""The experiment log as a registry of runs, and Hub model cards generated from it.

``log`` parses and edits the Markdown run table, ``card`` renders a model card for one run,
``naming`` derives the Hub repository name, ``cli`` is ``cogito card``.
"""

from __future__ import annotations

from cogito.evaluation.glue.tasks import GLUE_METRICS, GlueMetric
from cogito.hub_cards.card import CogitoCardData, card_data_from_run, render_card, write_card
from cogito.hub_cards.log import (
    STANDARD_COLUMNS,
    EffectiveRank,
    RunRecord,
    append_run,
    find_run,
    format_glue_cell,
    format_rank_cell,
    parse_log,
    read_log,
    update_run,
)
from cogito.hub_cards.naming import repo_name_for_run

__all__ = [
    "CogitoCardData",
    "EffectiveRank",
    "GLUE_METRICS",
    "GlueMetric",
    "RunRecord",
    "STANDARD_COLUMNS",
    "append_run",
    "card_data_from_run",
    "find_run",
    "format_glue_cell",
    "format_rank_cell",
    "parse_log",
    "read_log",
    "render_card",
    "repo_name_for_run",
    "update_run",
    "write_card",
]
