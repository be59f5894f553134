"""`cogito generate`: fill the [MASK] slots of prompts with a (masked-diffusion) Cogito model.

cogito generate --model runs/mdlm --text "elizabeth [MASK] [MASK] letter ." --steps 8
"""

from __future__ import annotations

import argparse
import json
import sys


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="cogito generate",
        description="Fill every mask token of each prompt by low-confidence remasking over --steps steps "
        "(LLaDA); the prompt's other tokens are kept.",
    )
    parser.add_argument("--model", required=True, help="a saved Cogito masked-LM folder (with its tokenizer)")
    parser.add_argument("--text", action="append", required=True, help="a prompt with mask tokens; repeatable")
    parser.add_argument("--steps", type=int, default=8, help="reverse-diffusion steps (default 8)")
    parser.add_argument("--temperature", type=float, default=0.0, help="0 = most likely token (default), > 0 samples")
    parser.add_argument("--seed", type=int, default=0, help="seed for sampling at --temperature > 0")
    return parser


def cli_main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.steps < 1:
        parser.error(f"--steps must be >= 1, got {args.steps}")
    if args.temperature < 0:
        parser.error(f"--temperature must be >= 0, got {args.temperature}")

    import torch
    from transformers import AutoTokenizer

    from cogito.modeling_cogito import CogitoForMaskedLM
    from cogito.training.objectives import generate

    try:
        tokenizer = AutoTokenizer.from_pretrained(args.model)
        model = CogitoForMaskedLM.from_pretrained(args.model)
    except (OSError, ValueError) as error:
        parser.error(f"--model {args.model!r} is not a saved Cogito model with a tokenizer: {error}")
    mask = tokenizer.mask_token
    for text in args.text:
        if mask not in text:
            parser.error(f"--text {text!r} has no {mask} slot to fill")
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


if __name__ == "__main__":
    sys.exit(cli_main())
