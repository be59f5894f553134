"""``cogito convert SRC OUT``: turn a research checkpoint into a Cogito folder.

SRC is a research checkpoint folder or Hub repo id (`model_type: concept_encoder`, a
`ConceptEncoderForMaskedLM{Perceiver,PerceiverPosOnly,Weighted}`); OUT must not exist (or be an
empty folder). OUT then loads anywhere with `trust_remote_code=True` and gives the research
model's masked-LM logits.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, field

from cogito.hub_cards.convert import ConversionError, convert_research_checkpoint

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
    from transformers import HfArgumentParser

    parser = HfArgumentParser(ConvertArguments, prog=f"{PROG} SRC OUT", description=__doc__.split("\n\n")[0])

    def refuse(message: str) -> None:
        raise ValueError(message)

    parser.error = refuse  # one-line errors, raised to cli_main instead of argparse's usage + exit
    args, rest = parser.parse_args_into_dataclasses(args=argv, return_remaining_strings=True)
    options = [item for item in rest if item.startswith("-")]
    if options:
        raise ValueError(f"unknown option(s): {' '.join(options)}")
    for name in ("src", "out"):
        if getattr(args, name) is None and rest:
            setattr(args, name, rest.pop(0))
    if rest:
        raise ValueError(f"unexpected argument(s): {' '.join(rest)}; usage: {PROG} SRC OUT")
    missing = [name.upper() for name in ("src", "out") if getattr(args, name) is None]
    if missing:
        raise ValueError(f"missing {' and '.join(missing)}; usage: {PROG} SRC OUT")
    return args


def cli_main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    try:
        args = parse_args(argv)
        out = convert_research_checkpoint(args.src, args.out)
    except (ValueError, ConversionError) as error:
        print(f"{PROG}: error: {error}", file=sys.stderr)
        return 2
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(cli_main())
