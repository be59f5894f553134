"""`cogito analyze`: the concept-geometry report of a saved model over a file of sentences."""

from __future__ import annotations

import sys
from dataclasses import dataclass, field
from pathlib import Path

from cogito._io import TOKENIZER_FILES, has_tokenizer_files
from cogito.cli._args import check_folder_code, check_model_source, check_output_dir, cli_command, parse
from cogito.evaluation.geometry import grade_geometry
from cogito.evaluation.report import (
    REPORT_JSON,
    SIMILARITY_PNG,
    SPECTRUM_PNG,
    SUMMARY_TXT,
    USAGE_PNG,
    collect_concept_states,
    format_summary,
    write_report,
)

# Old spellings still read (earlier releases' flag).
ALIASES = {"--model": "--model_name_or_path"}


DEFAULT_MAX_LENGTH = 128


@dataclass
class AnalyzeArguments:
    model_name_or_path: str = field(metadata={"help": "Saved model folder or Hub id (loaded with AutoModel)."})
    text_file: str = field(metadata={"help": "UTF-8 text file with one sentence per line; blank lines are skipped."})
    tokenizer_name: str | None = field(
        default=None,
        metadata={"help": "Tokenizer instead of the model folder's (required when that folder has none)."},
    )
    max_samples: int = field(default=512, metadata={"help": "Use the first N non-blank lines of --text_file."})
    batch_size: int = field(default=32, metadata={"help": "Sentences per forward pass."})
    max_length: int | None = field(
        default=None,
        metadata={"help": "Truncate each sentence to this many tokens (default: 128, or the model's shorter limit)."},
    )
    output_dir: str = field(default="concept_analysis", metadata={"help": "Folder for the report, summary and plots."})
    trust_remote_code: bool = field(
        default=False,
        metadata={"help": "Run Python code shipped in the model folder (needed only for non-Cogito custom models)."},
    )
    token_encoder: bool = field(
        default=False,
        metadata={"help": "Analyse a non-Cogito model's token states as if they were concepts (refused otherwise)."},
    )

    def __post_init__(self) -> None:
        for name in ("max_samples", "batch_size", "max_length"):
            if getattr(self, name) is not None and getattr(self, name) < 1:
                raise ValueError(f"--{name} expected a positive integer, got {getattr(self, name)}")


def read_texts(path: Path, max_samples: int) -> list[str]:
    """The first `max_samples` non-blank lines of `path`, stripped."""
    texts: list[str] = []
    with path.open(encoding="utf-8") as file:
        for line in file:
            line = line.strip()
            if line:
                texts.append(line)
                if len(texts) == max_samples:
                    break
    return texts


def analyze(args: AnalyzeArguments) -> dict[str, float]:
    """Load the model and tokenizer, collect concept states over the text file, write the report."""
    text_file = Path(args.text_file)
    if not text_file.is_file():
        raise ValueError(f"--text_file {args.text_file!r} does not exist or is not a file")
    texts = read_texts(text_file, args.max_samples)
    if not texts:
        raise ValueError(f"--text_file {args.text_file!r} has no non-blank lines")
    check_model_source("--model_name_or_path", args.model_name_or_path)
    check_output_dir("--output_dir", args.output_dir)
    check_folder_code("--model_name_or_path", args.model_name_or_path, args.trust_remote_code)
    model_path = Path(args.model_name_or_path)
    if args.tokenizer_name is None and model_path.is_dir() and not has_tokenizer_files(model_path):
        raise ValueError(
            f"--model_name_or_path folder {args.model_name_or_path!r} has no tokenizer files "
            f"({', '.join(TOKENIZER_FILES)}); pass --tokenizer_name PATH_OR_ID"
        )

    from transformers import AutoConfig, AutoModel, AutoTokenizer

    import cogito  # noqa: F401  (registers the Cogito classes: a Cogito folder loads without running its code)

    trust = args.trust_remote_code
    config = AutoConfig.from_pretrained(args.model_name_or_path, trust_remote_code=trust)
    if config.model_type != "cogito" and not args.token_encoder:
        raise ValueError(
            f"--model_name_or_path {args.model_name_or_path!r} is a {config.model_type!r} model, not a Cogito concept "
            "encoder; pass --token_encoder true to analyse its token states as concepts"
        )
    tokenizer = AutoTokenizer.from_pretrained(args.tokenizer_name or args.model_name_or_path, trust_remote_code=trust)
    model = AutoModel.from_pretrained(args.model_name_or_path, config=config, trust_remote_code=trust)
    limit = getattr(config, "max_position_embeddings", None)
    if args.max_length is not None and limit is not None and args.max_length > limit:
        raise ValueError(f"--max_length {args.max_length} exceeds the model's max_position_embeddings={limit}")
    max_length = args.max_length or min(DEFAULT_MAX_LENGTH, limit or DEFAULT_MAX_LENGTH)
    states = collect_concept_states(model, tokenizer, texts, batch_size=args.batch_size, max_length=max_length)
    return write_report(states, args.output_dir)


@cli_command("analyze")
def cli_main(argv: list[str]) -> int:
    (args,) = parse(
        "analyze",
        [AnalyzeArguments],
        argv,
        description=f"Concept-geometry report of a saved Cogito model: runs it over sentences, writes "
        f"{REPORT_JSON} (metrics + grades), {SUMMARY_TXT} and PNG plots.",
        aliases=ALIASES,
    )
    metrics = analyze(args)
    print(format_summary(metrics, grade_geometry(metrics)))
    print("Wrote:")
    for name in (REPORT_JSON, SUMMARY_TXT, SPECTRUM_PNG, SIMILARITY_PNG, USAGE_PNG):
        print(f"  {Path(args.output_dir) / name}")
    return 0


if __name__ == "__main__":
    sys.exit(cli_main())
