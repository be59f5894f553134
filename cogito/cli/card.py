"""``cogito card``: write Hub model cards (README.md) for runs of the experiment log."""

from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path
from typing import Any

from cogito._io import atomic_write_text
from cogito.hub_cards.card import (
    DEFAULT_NAMESPACE,
    card_data_from_run,
    count_safetensors_parameters,
    mask_token_from_dir,
    render_card,
)
from cogito.hub_cards.log import DEFAULT_LOG, find_run, read_log

_SAFE_DIR_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="cogito card",
        description="Write Hugging Face model cards for runs of the experiment log.",
    )
    parser.add_argument(
        "--log", type=Path, default=DEFAULT_LOG, help=f"experiment log Markdown file (default: {DEFAULT_LOG})"
    )
    which = parser.add_mutually_exclusive_group(required=True)
    which.add_argument("--run", metavar="RUN_ID", help="run id of one row; its card is written to OUTPUT/README.md")
    which.add_argument("--all", action="store_true", help="a card for every run, written to OUTPUT/<run_id>/README.md")
    parser.add_argument("--output", type=Path, required=True, help="directory to write the card(s) into")
    parser.add_argument(
        "--model-dir",
        type=Path,
        help="saved model folder (only with --run): config.json gives heads/FFN/attention, "
        "tokenizer_config.json the mask token, *.safetensors the parameter count",
    )
    parser.add_argument("--mask-token", help="mask token for the widget (default: from --model-dir, else [MASK])")
    parser.add_argument(
        "--namespace",
        default=DEFAULT_NAMESPACE,
        help=f"Hub user or organisation in the usage snippet (default: {DEFAULT_NAMESPACE})",
    )
    parser.add_argument(
        "--revision",
        default="main",
        help="revision pinned in the usage snippet; pass the pushed commit hash (default: main)",
    )
    return parser


def _from_model_dir(model_dir: Path) -> dict[str, Any]:
    config_path = model_dir / "config.json"
    if not config_path.is_file():
        raise ValueError(f"--model-dir {model_dir} has no config.json")
    return {
        "config": json.loads(config_path.read_text(encoding="utf-8")),
        "mask_token": mask_token_from_dir(model_dir),
        "num_parameters": count_safetensors_parameters(model_dir),
    }


def cli_main(argv: list[str]) -> int:
    """Entry point of ``cogito card``; returns the exit code (0 ok, 1 bad input, 2 bad usage)."""
    parser = _parser()
    args = parser.parse_args(argv)
    if args.all and args.model_dir is not None:
        parser.error("--model-dir describes one model: use it with --run, not --all")
    try:
        records = read_log(args.log)
        extra: dict[str, Any] = _from_model_dir(args.model_dir) if args.model_dir else {}
        if args.mask_token:
            extra["mask_token"] = args.mask_token
        options = {"namespace": args.namespace, "revision": args.revision, **extra}
        if args.run is not None:
            targets = [(find_run(records, args.run), args.output / "README.md")]
        else:
            if not records:
                raise ValueError(f"{args.log} has no runs")
            for record in records:
                if not _SAFE_DIR_NAME.fullmatch(record.run_id):
                    raise ValueError(f"run id {record.run_id!r} (line {record.line}) cannot be a directory name")
            targets = [(r, args.output / r.run_id / "README.md") for r in records]
        # Render everything before writing anything: one bad row must not leave half the cards.
        rendered = [(path, str(render_card(card_data_from_run(record, **options)))) for record, path in targets]
    except (ValueError, OSError) as err:
        print(f"cogito card: error: {err}", file=sys.stderr)
        return 1
    for path, text in rendered:
        atomic_write_text(path, text)
        print(path)
    return 0


if __name__ == "__main__":
    sys.exit(cli_main(sys.argv[1:]))
