"""``cogito card``: write Hub model cards (README.md) for runs of the experiment log."""

from __future__ import annotations

import re
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cogito._io import DEFAULT_LOG, atomic_write_text
from cogito.cli._args import check_output_dir, cli_command, parse
from cogito.hub_cards.card import DEFAULT_NAMESPACE, card_data_from_run, render_card
from cogito.hub_cards.folder import model_dir_details
from cogito.hub_cards.log import find_run, read_log

_SAFE_DIR_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")

# Old spellings still read (earlier releases' flags).
ALIASES = {
    "--log": "--experiment_log",
    "--run": "--run_id",
    "--output": "--output_dir",
    "--model-dir": "--model_name_or_path",
    "--model_dir": "--model_name_or_path",
    "--mask-token": "--mask_token",
}


@dataclass
class CardArguments:
    output_dir: str = field(metadata={"help": "Directory to write the card(s) into."})
    experiment_log: str = field(default=str(DEFAULT_LOG), metadata={"help": "Experiment log Markdown file."})
    run_id: str | None = field(
        default=None, metadata={"help": "Run id of one row; its card is written to OUTPUT_DIR/README.md."}
    )
    all: bool = field(
        default=False, metadata={"help": "A card for every run, written to OUTPUT_DIR/<run_id>/README.md."}
    )
    model_name_or_path: str | None = field(
        default=None,
        metadata={
            "help": "Saved model folder (only with --run_id): config.json gives heads/FFN/attention, "
            "tokenizer_config.json the mask token, *.safetensors the parameter count."
        },
    )
    mask_token: str | None = field(
        default=None, metadata={"help": "Mask token for the widget (default: from the model folder, else [MASK])."}
    )
    namespace: str = field(
        default=DEFAULT_NAMESPACE, metadata={"help": "Hub user or organisation in the usage snippet."}
    )
    revision: str = field(
        default="main", metadata={"help": "Revision pinned in the usage snippet; pass the pushed commit hash."}
    )

    def __post_init__(self) -> None:
        if (self.run_id is None) == (not self.all):
            raise ValueError("pass exactly one of --run_id RUN_ID (one card) or --all (a card per run)")
        if self.all and self.model_name_or_path is not None:
            raise ValueError("--model_name_or_path describes one model: use it with --run_id, not --all")


def render_cards(args: CardArguments) -> tuple[list[tuple[Path, str]], list[str]]:
    """(path, card text) for every card `args` asks for, and the rows `--all` skipped (why, by line).

    Nothing is written. With `--all` a row whose run id cannot be a folder name or whose card cannot
    be rendered is skipped (the others' cards are still made); with `--run_id` its problem is the error.
    """
    log = Path(args.experiment_log)
    output = Path(args.output_dir)
    records = read_log(log)
    extra: dict[str, Any] = model_dir_details(Path(args.model_name_or_path)) if args.model_name_or_path else {}
    if args.mask_token:
        extra["mask_token"] = args.mask_token
    options = {"namespace": args.namespace, "revision": args.revision, **extra}
    if args.run_id is not None:
        record = find_run(records, args.run_id)
        return [(output / "README.md", str(render_card(card_data_from_run(record, **options))))], []
    if not records:
        raise ValueError(f"{log} has no runs")
    cards, skipped = [], []
    for record in records:
        where = f"{log} line {record.line}, run {record.run_id!r}"
        if not _SAFE_DIR_NAME.fullmatch(record.run_id):
            skipped.append(f"{where}: the run id cannot be a folder name (letters, digits, '.', '_', '-' only)")
            continue
        try:
            text = str(render_card(card_data_from_run(record, **options)))
        except ValueError as error:
            skipped.append(f"{where}: {error}")
            continue
        cards.append((output / record.run_id / "README.md", text))
    if not cards:
        raise ValueError(f"no card could be made from {log}: " + "; ".join(skipped))
    # Every card is rendered before any is written: a failure leaves no half-made set.
    return cards, skipped


@cli_command("card")
def cli_main(argv: list[str]) -> int:
    """Entry point of ``cogito card``; returns the exit code (0 ok, 2 bad input)."""
    (args,) = parse(
        "card",
        [CardArguments],
        argv,
        description="Write Hugging Face model cards for runs of the experiment log.",
        aliases=ALIASES,
    )
    check_output_dir("--output_dir", args.output_dir)
    cards, skipped = render_cards(args)
    for reason in skipped:
        print(f"cogito card: warning: skipped {reason}", file=sys.stderr)
    for path, text in cards:
        atomic_write_text(path, text)
        print(path)
    return 0


if __name__ == "__main__":
    sys.exit(cli_main())
