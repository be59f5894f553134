"""What a saved model folder tells its model card: the config, the mask token, the parameter count."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any


def mask_token_from_dir(model_dir: Path) -> str | None:
    """The tokenizer's mask token from tokenizer_config.json / special_tokens_map.json, if saved."""
    for name in ("tokenizer_config.json", "special_tokens_map.json"):
        path = model_dir / name
        if not path.is_file():
            continue
        token = json.loads(path.read_text(encoding="utf-8")).get("mask_token")
        if isinstance(token, dict):  # AddedToken serialised as {"content": ...}
            token = token.get("content")
        if isinstance(token, str) and token:
            return token
    return None


def count_safetensors_parameters(model_dir: Path) -> int | None:
    """Number of parameters stored in the folder's ``*.safetensors`` files (shapes only: no tensor is read)."""
    from safetensors import SafetensorError, safe_open

    files = sorted(model_dir.glob("*.safetensors"))
    if not files:
        return None
    total = 0
    for path in files:
        try:
            with safe_open(path, framework="numpy") as handle:
                total += sum(math.prod(handle.get_slice(name).get_shape()) for name in handle.keys())
        except SafetensorError as err:
            raise ValueError(f"{path} is not a readable safetensors file: {err}") from None
    return total


def model_dir_details(model_dir: Path) -> dict[str, Any]:
    """What a saved model folder adds to its card: config, mask token, parameter count."""
    config_path = model_dir / "config.json"
    if not config_path.is_file():
        raise ValueError(f"--model_name_or_path {str(model_dir)!r} has no config.json: is it a saved model folder?")
    return {
        "config": json.loads(config_path.read_text(encoding="utf-8")),
        "mask_token": mask_token_from_dir(model_dir),
        "num_parameters": count_safetensors_parameters(model_dir),
    }
