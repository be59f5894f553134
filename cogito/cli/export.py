"""``cogito export --model_name_or_path FOLDER --output_file OUT.onnx``: an ONNX graph of a saved folder,
checked against torch.

Batch and sequence length are dynamic; the graph's onnxruntime outputs are compared with torch's
on an unpadded and a padded batch (needs `pip install 'cogito[clients]'`).
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, field
from pathlib import Path

from cogito.cli._args import check_folder_code, check_model_source, check_output_file, cli_command, parse
from cogito.hub_cards.export import EXPORT_HEADS, export_onnx

# Earlier releases' spellings, still read.
ALIASES = {"--folder": "--model_name_or_path", "--out": "--output_file"}


@dataclass
class ExportArguments:
    model_name_or_path: str = field(
        metadata={"help": "a saved Cogito folder (save_pretrained, cogito convert, a run's model)"}
    )
    output_file: str = field(metadata={"help": "the ONNX file to write"})
    head: str = field(
        default="masked-lm",
        metadata={"help": f"what the graph computes: {' | '.join(EXPORT_HEADS)}", "choices": list(EXPORT_HEADS)},
    )
    trust_remote_code: bool = field(
        default=False,
        metadata={"help": "Run Python code shipped in the model folder (needed only for non-Cogito custom models)."},
    )


@cli_command("export")
def cli_main(argv: list[str]) -> int:
    (args,) = parse("export", [ExportArguments], argv, description=__doc__.split("\n\n")[0], aliases=ALIASES)
    check_model_source("--model_name_or_path", args.model_name_or_path)
    check_output_file("--output_file", args.output_file)
    check_folder_code("--model_name_or_path", args.model_name_or_path, args.trust_remote_code)
    differences = export_onnx(
        args.model_name_or_path, args.output_file, head=args.head, trust_remote_code=args.trust_remote_code
    )
    checks = ", ".join(f"{name} max |onnx - torch| {value:.2e}" for name, value in differences.items())
    data = Path(args.output_file + ".data")
    extra = f" and its weights {data} (keep them together)" if data.is_file() else ""
    print(f"wrote {args.output_file}{extra} ({checks})")
    return 0


if __name__ == "__main__":
    sys.exit(cli_main())
