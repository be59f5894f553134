"""The ``cogito`` command line: one entry point, one sub-command per capability.

Each sub-command lives in the module that implements it and exposes ``cli_main(argv)``; this
file only dispatches, importing the module lazily so ``cogito --help`` stays fast.
"""

from __future__ import annotations

import importlib
import sys

# name -> (module, one-line help)
COMMANDS: dict[str, tuple[str, str]] = {
    "smoke": ("cogito.smoke", "build, save, reload and fill a mask with a tiny model"),
    "pretrain": ("cogito.pretrain", "masked-LM pretraining with concept regularisers"),
    "analyze": ("cogito.analysis", "concept-geometry report and plots for a saved model"),
    "glue": ("cogito.glue", "fine-tune / evaluate on GLUE tasks"),
    "card": ("cogito.hub_cards.cli", "write model cards from the experiment log"),
    "push": ("cogito.hub_cards.push", "publish a trained run to the Hugging Face Hub"),
    "demo": ("cogito.demo", "the whole loop on the built-in corpus"),
    "bench": ("cogito.bench", "side-by-side speed/memory benchmark against BERT"),
}


def _usage() -> str:
    lines = ["usage: cogito <command> [options]", "", "commands:"]
    width = max(len(name) for name in COMMANDS)
    for name, (_, help_text) in COMMANDS.items():
        lines.append(f"  {name.ljust(width)}  {help_text}")
    lines.append("")
    lines.append("Run 'cogito <command> --help' for the options of one command.")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] in ("-h", "--help"):
        print(_usage())
        return 0
    name, rest = argv[0], argv[1:]
    if name not in COMMANDS:
        print(f"cogito: unknown command {name!r}; choose one of: {', '.join(COMMANDS)}", file=sys.stderr)
        return 2
    module_name, _ = COMMANDS[name]
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as err:
        if err.name == module_name:
            print(f"cogito: command {name!r} is not available in this version", file=sys.stderr)
            return 2
        raise
    return int(module.cli_main(rest) or 0)


if __name__ == "__main__":
    sys.exit(main())
