"""The ``cogito`` command line: one entry point, one sub-command per capability.

Each sub-command is a module ``cogito.cli.<command>`` exposing ``cli_main(argv)``: it parses its
dataclasses with `HfArgumentParser` and reports user errors on one line with exit code 2
(``cogito.cli._args``), then calls the library functions. This file only dispatches, importing
the module lazily so ``cogito --help`` stays fast.
"""

from __future__ import annotations

import importlib
import sys
from pathlib import Path

# name -> (module, one-line help)
COMMANDS: dict[str, tuple[str, str]] = {
    "smoke": ("cogito.cli.smoke", "build, save, reload and fill a mask with a tiny model"),
    "pretrain": ("cogito.cli.pretrain", "pretraining (mlm, mdlm, tsdae) with concept regularisers"),
    "generate": ("cogito.cli.generate", "fill the [MASK] slots of prompts by masked-diffusion unmasking"),
    "analyze": ("cogito.cli.analyze", "concept-geometry report and plots for a saved model"),
    "glue": ("cogito.cli.glue", "fine-tune / evaluate on GLUE tasks"),
    "card": ("cogito.cli.card", "write model cards from the experiment log"),
    "push": ("cogito.cli.push", "publish a trained run to the Hugging Face Hub"),
    "convert": ("cogito.cli.convert", "turn a research checkpoint (MrCogito) into a Cogito folder"),
    "export": ("cogito.cli.export", "write an ONNX graph of a saved folder, checked against torch"),
    "demo": ("cogito.cli.demo", "the whole loop on the built-in corpus"),
    "bench": ("benchmarks/bench.py", "side-by-side speed/memory benchmark against BERT (source checkout)"),
}


def _usage() -> str:
    lines = ["usage: cogito <command> [options]", "", "commands:"]
    width = max(len(name) for name in COMMANDS)
    for name, (_, help_text) in COMMANDS.items():
        lines.append(f"  {name.ljust(width)}  {help_text}")
    lines.append("")
    lines.append("Run 'cogito <command> --help' for the options of one command.")
    return "\n".join(lines)


def _run_checkout_script(name: str, relative_path: str, argv: list[str]) -> int:
    """Run a tool that lives beside the package in a source checkout (not installed with it)."""
    script = Path(__file__).resolve().parents[2] / relative_path
    if not script.is_file():
        print(
            f"cogito {name}: error: {relative_path} is not here; it runs from a source checkout of Cogito "
            f"(python {relative_path})",
            file=sys.stderr,
        )
        return 2
    sys.path.insert(0, str(script.parent))
    module = importlib.import_module(script.stem)
    return int(module.cli_main(argv) or 0)


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
    if module_name.endswith(".py"):
        return _run_checkout_script(name, module_name, rest)
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
