"""Hub repository names derived from run ids.

The rule, applied to ``<decoder>_<objective>_H<h>L<l>C<c>[_<timestamp>]``:

1. ``<decoder>-<objective>`` with underscores as hyphens (``perceiver_posonly`` -> ``perceiver-posonly``);
2. ``-h<h>`` only when H differs from the default 512;
3. ``-l<l>`` always (depth is what the published runs differ in);
4. ``-c<c>`` only when C differs from the default 128;
5. one ``-<loss>`` per concept loss, in the given order, then ``-<weighting>`` when given;
6. the timestamp is dropped; everything is lower case and ``_`` becomes ``-``.

``perceiver_mlm_H512L6C128_20260208_211633`` -> ``perceiver-mlm-l6``;
with ``["combined"]`` and ``"kendall_gal"`` -> ``perceiver-mlm-l6-combined-kendall-gal``.
The name is a function of its arguments only, so it is the same on every machine and every call.
"""

from __future__ import annotations

import re

DEFAULT_HIDDEN_SIZE = 512
DEFAULT_NUM_CONCEPTS = 128
_RUN_ID = re.compile(
    r"(?P<decoder>perceiver_posonly|perceiver|weighted)_(?P<objective>[a-z0-9]+)"
    r"_H(?P<h>\d+)L(?P<l>\d+)C(?P<c>\d+)(?:_[A-Za-z0-9_-]*)?"
)
# Hub rules: alphanumerics, '-', '_', '.'; no leading/trailing or doubled '-'/'.'; at most 96 chars.
_HUB_NAME = re.compile(r"[a-z0-9]+(?:[-.][a-z0-9]+)*")
_MAX_NAME_LENGTH = 96


def objective_of(run_id: str) -> str | None:
    """The pretraining objective a run id names (``perceiver_mdlm_H512L6C128_...`` -> ``mdlm``)."""
    match = _RUN_ID.match(run_id)
    return match["objective"] if match else None


def _slug(part: str, what: str) -> str:
    slug = re.sub(r"[^a-z0-9.]+", "-", part.strip().lower()).strip("-.")
    if not slug:
        raise ValueError(f"{what} {part!r} has no letters or digits to put in a repo name")
    return slug


def repo_name_for_run(run_id: str, concept_losses: list[str] | None = None, weighting: str | None = None) -> str:
    """Hub repo name (without namespace) for a run; see the module docstring for the rule."""
    match = _RUN_ID.fullmatch(run_id)
    if not match:
        raise ValueError(
            f"run id {run_id!r} does not look like <decoder>_<objective>_H<h>L<l>C<c>_<timestamp> "
            "with decoder one of weighted, perceiver, perceiver_posonly (e.g. "
            "perceiver_mlm_H512L6C128_20260208_211633)"
        )
    parts = [match["decoder"].replace("_", "-"), match["objective"]]
    if int(match["h"]) != DEFAULT_HIDDEN_SIZE:
        parts.append(f"h{int(match['h'])}")
    parts.append(f"l{int(match['l'])}")
    if int(match["c"]) != DEFAULT_NUM_CONCEPTS:
        parts.append(f"c{int(match['c'])}")
    losses = list(concept_losses or [])
    if weighting is not None and not losses:
        raise ValueError(f"weighting {weighting!r} given without concept losses; pass the losses it weights")
    for loss in dict.fromkeys(losses):  # de-duplicate, keep order
        parts.append(_slug(loss, "concept loss"))
    if weighting is not None:
        parts.append(_slug(weighting, "weighting"))
    name = "-".join(parts)
    if not _HUB_NAME.fullmatch(name) or len(name) > _MAX_NAME_LENGTH:
        raise ValueError(
            f"derived repo name {name!r} is not a valid Hub name (<= {_MAX_NAME_LENGTH} chars of a-z, 0-9, '-', '.')"
        )
    return name
