"""`cogito generate`: fill the [MASK] slots of prompts with a (masked-diffusion) Cogito model.

cogito generate --model_name_or_path runs/mdlm --text "elizabeth [MASK] [MASK] letter ." --steps 8
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field

from cogito.cli._args import check_model_source, cli_command, parse

# One forward pass per step: more steps than this is a typo, not a schedule.
MAX_STEPS = 10_000


@dataclass
class GenerateArguments:
    model_name_or_path: str = field(metadata={"help": "A saved Cogito masked-LM folder (with its tokenizer)."})
    text: list[str] = field(metadata={"help": "Prompts with mask tokens (one or more)."})
    steps: int = field(default=8, metadata={"help": "Reverse-diffusion steps."})
    temperature: float = field(default=0.0, metadata={"help": "0 = most likely token; > 0 samples."})
    seed: int = field(default=0, metadata={"help": "Seed for sampling at --temperature > 0."})

    def __post_init__(self) -> None:
        if not 1 <= self.steps <= MAX_STEPS:
            raise ValueError(f"--steps must be between 1 and {MAX_STEPS}, got {self.steps}")
        if not (self.temperature >= 0 and math.isfinite(self.temperature)):
            raise ValueError(f"--temperature must be a finite number >= 0, got {self.temperature}")


@cli_command("generate")
def cli_main(argv: list[str]) -> int:
    (args,) = parse(
        "generate",
        [GenerateArguments],
        argv,
        description="Fill every mask token of each prompt by low-confidence remasking over --steps steps "
        "(LLaDA); the prompt's other tokens are kept.",
        aliases={"--model": "--model_name_or_path"},
    )
    check_model_source("--model_name_or_path", args.model_name_or_path)
    import torch
    from transformers import AutoTokenizer

    from cogito.modeling_cogito import CogitoForMaskedLM
    from cogito.training.objectives import generate

    try:
        tokenizer = AutoTokenizer.from_pretrained(args.model_name_or_path)
        model = CogitoForMaskedLM.from_pretrained(args.model_name_or_path)
    except (OSError, ValueError) as error:
        raise ValueError(
            f"--model_name_or_path {args.model_name_or_path!r} is not a saved Cogito model with a tokenizer: {error}"
        ) from error
    mask = tokenizer.mask_token
    for text in args.text:
        if mask not in text:
            raise ValueError(f"--text {text!r} has no {mask} slot to fill")
    encoded = tokenizer(args.text, padding=True, return_tensors="pt")
    filled = generate(
        model,
        encoded["input_ids"],
        encoded["attention_mask"],
        steps=args.steps,
        mask_token_id=tokenizer.mask_token_id,
        temperature=args.temperature,
        generator=torch.Generator().manual_seed(args.seed),
    )
    for text, ids, attention in zip(args.text, filled, encoded["attention_mask"]):
        completion = tokenizer.decode(ids[attention.bool()], skip_special_tokens=True)
        print(json.dumps({"prompt": text, "filled": completion}, ensure_ascii=False))
    return 0
