"""``cogito convert SRC OUT``: turn a research checkpoint into a Cogito folder.

SRC is a research checkpoint folder or Hub repo id (`model_type: concept_encoder`, a
`ConceptEncoderForMaskedLM{Perceiver,PerceiverPosOnly,Weighted}`); OUT must not exist (or be an
empty folder). OUT then loads anywhere with `trust_remote_code=True` and gives the research
model's masked-LM logits.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, field

from cogito.cli._args import CommandLineParser, UsageError, cli_command
from cogito.hub_cards.convert import convert_research_checkpoint

PROG = "cogito convert"


@dataclass
class ConvertArguments:
    src: str | None = field(
        default=None,
        metadata={"help": "research checkpoint folder or Hub repo id (or the first positional argument)"},
    )
    out: str | None = field(
        default=None, metadata={"help": "new Cogito folder to write (or the second positional argument)"}
    )


def parse_args(argv: list[str]) -> ConvertArguments:
    """`SRC OUT` positionally or as `--src`/`--out`; a bad command line raises ValueError."""
    parser = CommandLineParser([ConvertArguments], prog=f"{PROG} SRC OUT", description=__doc__.split("\n\n")[0])
    args, rest = parser.parse_args_into_dataclasses(args=argv, return_remaining_strings=True)
    unknown = [item for item in rest if item.startswith("-")]
    if unknown:
        raise UsageError(f"unrecognized arguments: {' '.join(unknown)}")
    for name in ("src", "out"):
        if getattr(args, name) is None and rest:
            setattr(args, name, rest.pop(0))
    if rest:
        raise UsageError(f"unexpected argument(s): {' '.join(rest)}; usage: {PROG} SRC OUT")
    missing = [name.upper() for name in ("src", "out") if getattr(args, name) is None]
    if missing:
        raise UsageError(f"missing {' and '.join(missing)}; usage: {PROG} SRC OUT")
    return args


@cli_command("convert")
def cli_main(argv: list[str]) -> int:
    args = parse_args(argv)
    out = convert_research_checkpoint(args.src, args.out)  # a ConversionError is a user error (ValueError)
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(cli_main())
