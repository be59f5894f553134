"""`cogito smoke`: a ten-second health check of the model package.

Builds a tiny concept encoder and a WordPiece tokenizer over a handful of sentences, fits it to
them for a few steps, saves a Hub-style folder, reloads it in a fresh Python process through
`AutoModelForMaskedLM(..., trust_remote_code=True)` with the `cogito` package hidden, checks the
outputs match, and fills a mask with `pipeline("fill-mask")`.
"""

from __future__ import annotations

import json
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import torch

from cogito import CogitoConfig, CogitoForMaskedLM
from cogito.cli._args import check_output_dir, cli_command, parse
from cogito.hub_cards.verify import verify_folder
from cogito.modeling_cogito import IGNORE_INDEX

SENTENCES = [
    "paris is the capital of france .",
    "rome is the capital of italy .",
    "berlin is the capital of germany .",
    "madrid is the capital of spain .",
    "the river runs through the city .",
    "she wrote a letter to her sister .",
]


def build_tokenizer(sentences: list[str]):
    """A BERT-style WordPiece tokenizer whose vocabulary is the words of `sentences`."""
    from transformers import BertTokenizer

    words = sorted({word for sentence in sentences for word in sentence.split()})
    vocab = {token: i for i, token in enumerate(["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", *words])}
    return BertTokenizer(vocab=vocab, model_max_length=32)


# The smoke test's model: tiny, and recognisable in a folder it wrote earlier.
SMOKE_SIZE = {
    "hidden_size": 64,
    "num_hidden_layers": 2,
    "num_attention_heads": 2,
    "intermediate_size": 128,
    "concept_num": 8,
    "max_position_embeddings": 32,
}


def run_smoke(output_dir: Path, steps: int = 150, seed: int = 0) -> dict:
    torch.manual_seed(seed)
    started = time.perf_counter()
    tokenizer = build_tokenizer(SENTENCES)
    config = CogitoConfig(
        vocab_size=len(tokenizer),
        **SMOKE_SIZE,
        decoder_type="perceiver",
        hidden_dropout_prob=0.0,
        pad_token_id=tokenizer.pad_token_id,
        cls_token_id=tokenizer.cls_token_id,
        sep_token_id=tokenizer.sep_token_id,
        mask_token_id=tokenizer.mask_token_id,
    )
    model = CogitoForMaskedLM(config)
    batch = tokenizer(SENTENCES, padding=True, return_tensors="pt")
    input_ids, attention_mask = batch["input_ids"], batch["attention_mask"]
    optimizer = torch.optim.AdamW(model.parameters(), lr=3e-3)
    # Every sentence's country slot is the word before ".": learn to fill it from the city.
    first_loss = last_loss = None
    for step in range(steps):
        generator = torch.Generator().manual_seed(step)
        maskable = attention_mask.bool() & (input_ids > tokenizer.mask_token_id)
        chosen = maskable & (torch.rand(input_ids.shape, generator=generator) < 0.3)
        labels = torch.where(chosen, input_ids, IGNORE_INDEX)
        masked = torch.where(chosen, tokenizer.mask_token_id, input_ids)
        loss = model(masked, attention_mask=attention_mask, labels=labels).loss
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        first_loss = loss.item() if first_loss is None else first_loss
        last_loss = loss.item()

    model.eval()
    output_dir.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(output_dir)
    tokenizer.save_pretrained(output_dir)
    probe = "paris is the capital of [MASK] ."
    inputs = tokenizer(probe, return_tensors="pt")
    with torch.no_grad():
        logits = model(input_ids=inputs["input_ids"], attention_mask=inputs["attention_mask"]).logits
    reloaded = verify_folder(
        output_dir,
        inputs={"input_ids": inputs["input_ids"], "attention_mask": inputs["attention_mask"]},
        sentence=probe,
        auto_classes=("AutoModelForMaskedLM",),
    )
    got = reloaded.outputs["AutoModelForMaskedLM"]
    if not torch.allclose(got, logits, rtol=1e-4, atol=1e-5):
        raise RuntimeError(f"reloaded logits differ by up to {float((got - logits).abs().max()):.3g}")
    return {
        "output_dir": str(output_dir),
        "parameters": model.num_parameters(),
        "first_loss": round(first_loss, 3),
        "last_loss": round(last_loss, 3),
        "reloaded_class": reloaded.classes["AutoModelForMaskedLM"],
        "fill_mask": {probe: [(p["token_str"], round(p["score"], 3)) for p in reloaded.fill_mask]},
        "seconds": round(time.perf_counter() - started, 1),
    }


# Written beside the model: marks the folder as the smoke test's own, which a later run may rewrite.
SUMMARY_FILE = "smoke_summary.json"
# The smoke test takes seconds at its default; far more steps is a typo, not a smoke test.
MAX_STEPS = 100_000


def is_smoke_folder(folder: Path) -> bool:
    """Written by `cogito smoke` (its summary, or for earlier versions its model's size)."""
    if (folder / SUMMARY_FILE).is_file():
        return True
    try:
        config = json.loads((folder / "config.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    if not isinstance(config, dict) or config.get("model_type") != "cogito":
        return False
    return {key: config.get(key) for key in SMOKE_SIZE} == SMOKE_SIZE


@dataclass
class SmokeArguments:
    output_dir: str = field(default="smoke_output", metadata={"help": "Where the model folder is saved."})
    steps: int = field(default=150, metadata={"help": "Training steps on the built-in sentences."})
    seed: int = field(default=0, metadata={"help": "Random seed."})

    def __post_init__(self) -> None:
        if not 1 <= self.steps <= MAX_STEPS:
            raise ValueError(f"--steps must be between 1 and {MAX_STEPS}, got {self.steps}")


@cli_command("smoke")
def cli_main(argv: list[str]) -> int:
    (args,) = parse("smoke", [SmokeArguments], argv, description=__doc__.split("\n\n")[1])
    check_output_dir("--output_dir", args.output_dir)
    output_dir = Path(args.output_dir)
    if output_dir.is_dir() and any(output_dir.iterdir()) and not is_smoke_folder(output_dir):
        # Only an earlier smoke test's folder is rewritten: anything else could be someone's model.
        raise ValueError(
            f"--output_dir {args.output_dir!r} already holds files that are not from `cogito smoke`: "
            "choose a new or empty folder"
        )
    summary = run_smoke(output_dir, steps=args.steps, seed=args.seed)
    (output_dir / SUMMARY_FILE).write_text(json.dumps(summary, indent=2) + "\n")
    print(json.dumps(summary, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(cli_main())
