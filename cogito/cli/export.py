"""``cogito export --folder FOLDER --out OUT.onnx``: write an ONNX graph of a saved folder and check it against torch.

Batch and sequence length are dynamic; the graph's onnxruntime outputs are compared with torch's
on an unpadded and a padded batch (needs `pip install 'cogito[clients]'`).
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, field

from cogito.cli._args import cli_command, parse
from cogito.hub_cards.export import EXPORT_HEADS, export_onnx


@dataclass
class ExportArguments:
    folder: str = field(metadata={"help": "a saved Cogito folder (save_pretrained, cogito convert, a run's model)"})
    out: str = field(metadata={"help": "the ONNX file to write"})
    head: str = field(
        default="masked-lm",
        metadata={"help": f"what the graph computes: {' | '.join(EXPORT_HEADS)}", "choices": list(EXPORT_HEADS)},
    )


@cli_command("export")
def cli_main(argv: list[str]) -> int:
    (args,) = parse("export", [ExportArguments], argv, description=__doc__.split("\n\n")[0])
    differences = export_onnx(args.folder, args.out, head=args.head)
    checks = ", ".join(f"{name} max |onnx - torch| {value:.2e}" for name, value in differences.items())
    print(f"wrote {args.out} ({checks})")
    return 0


if __name__ == "__main__":
    sys.exit(cli_main())
