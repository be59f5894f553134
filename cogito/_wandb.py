"""The one W&B set-up rule shared by `cogito pretrain`, `cogito glue` and `cogito demo`.

When a run reports to W&B: the project is the command's ``--wandb_project``, else the shell's
``$WANDB_PROJECT``, else ``cogito``; without a login (``WANDB_API_KEY`` or an ``api.wandb.ai``
entry in ``~/.netrc``) and without an explicit ``WANDB_MODE``, runs are logged offline.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path

from transformers.utils import logging

logger = logging.get_logger(__name__)

DEFAULT_PROJECT = "cogito"


def wandb_logged_in() -> bool:
    """Whether W&B has credentials: ``WANDB_API_KEY``, or a stored login in ``~/.netrc``."""
    if os.environ.get("WANDB_API_KEY"):
        return True
    netrc = Path.home() / ".netrc"
    return netrc.is_file() and "api.wandb.ai" in netrc.read_text(errors="ignore")


def reports_to_wandb(report_to: str | Iterable[str] | None) -> bool:
    """Whether a `report_to` setting (``"wandb,tensorboard"``, a list, ``"all"``) includes W&B."""
    if report_to is None:
        return False
    names = report_to.split(",") if isinstance(report_to, str) else list(report_to)
    return any(name.strip() in ("wandb", "all") for name in names)


def setup_wandb(
    report_to: str | Iterable[str] | None, project: str | None = None, directory: str | os.PathLike | None = None
) -> bool:
    """Apply the rule of the module docstring to the environment W&B reads; returns whether W&B is used.

    The project is always set (a later W&B run of this process uses it); the offline fallback and
    ``directory`` (``WANDB_DIR`` unless the shell set one) only when ``report_to`` includes W&B.
    """
    if project is not None:
        os.environ["WANDB_PROJECT"] = project  # the flag wins over the shell
    os.environ.setdefault("WANDB_PROJECT", DEFAULT_PROJECT)
    if not reports_to_wandb(report_to):
        return False
    if "WANDB_MODE" not in os.environ and not wandb_logged_in():
        logger.warning("not logged in to W&B: logging runs offline (WANDB_MODE=offline)")
        os.environ["WANDB_MODE"] = "offline"
    if directory is not None:
        os.environ.setdefault("WANDB_DIR", str(directory))
    return True


def finish_wandb_run() -> None:
    """Close the active W&B run (if any), so the next task or stage starts its own."""
    try:
        import wandb
    except ImportError:
        return
    if wandb.run is not None:
        wandb.finish()
