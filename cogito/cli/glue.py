"""`cogito glue` (= `examples/run_glue.py`): fine-tune and evaluate on GLUE (and local) tasks.

Every `transformers.TrainingArguments` flag is accepted (research-protocol defaults: lr 1e-5,
batch 96, warmup 100, per-task epochs), plus the tasks, heads, data and model selection of
`GlueArguments`. `--recipe NAME` starts from a recipe's GLUE protocol.
"""

from __future__ import annotations

import json
import sys

from cogito.cli._args import cli_command, expand_recipe, parse
from cogito.evaluation.glue.run import GlueArguments, run_glue


def parse_args(argv: list[str] | None) -> GlueArguments:
    """Parse `cogito glue` flags; `--recipe NAME` supplies the recipe's GLUE protocol as defaults."""
    argv = expand_recipe(sys.argv[1:] if argv is None else argv, "glue")
    (args,) = parse("glue", [GlueArguments], argv, description=__doc__.split("\n\n")[0])
    return args


@cli_command("glue")
def cli_main(argv: list[str]) -> int:
    summary = run_glue(parse_args(argv))
    print(json.dumps(summary, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(cli_main())
