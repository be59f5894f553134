"""Load a saved folder as a user of its Hub repo would: in a fresh Python process, without the
``cogito`` package, offline, with an empty ``HF_HOME`` and no Hub token.

One verifier for every caller: ``cogito push`` (before uploading), ``cogito smoke`` and the
remote-code tests. The child loads ``AutoConfig`` and each requested Auto class with
``trust_remote_code=True``, checks that the classes come from the folder's own code
(``transformers_modules``), runs them on the given inputs (or on a sentence through the folder's
tokenizer), and runs a ``fill-mask`` pipeline. Its outputs come back as tensors, so callers can
compare them with what the model gave in-process.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import textwrap
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

VERIFY_TIMEOUT_S = 900.0
TOKEN_ENV_VARS: tuple[str, ...] = ("HF_TOKEN", "HUGGING_FACE_HUB_TOKEN")
# Each Auto class with the output field its check reads.
AUTO_CLASSES: dict[str, str] = {
    "AutoModel": "last_hidden_state",
    "AutoModelForMaskedLM": "logits",
    "AutoModelForSequenceClassification": "logits",
}
DEFAULT_SENTENCE = "Paris is the capital of {mask}."

_CHILD = textwrap.dedent(
    """
    import json, sys
    sys.modules["cogito"] = None  # the folder must work without the package: `import cogito` now fails
    import torch
    import transformers
    from transformers import AutoConfig, AutoTokenizer, pipeline

    folder, spec_path, out_path = sys.argv[1:4]
    spec = json.load(open(spec_path))
    config = AutoConfig.from_pretrained(folder, trust_remote_code=True)
    if not type(config).__module__.startswith("transformers_modules"):
        raise SystemExit(f"AutoConfig gave {type(config).__module__}.{type(config).__name__}, not the folder's code")
    print(f"AutoConfig: {type(config).__name__}")
    tokenizer = sentence = None
    if spec["fill_mask"] or spec["inputs"] is None:
        tokenizer = AutoTokenizer.from_pretrained(folder, trust_remote_code=True)
        if tokenizer.mask_token is None:
            raise SystemExit("the tokenizer has no mask token: fill-mask cannot work")
        print(f"AutoTokenizer: {type(tokenizer).__name__}, mask token {tokenizer.mask_token}")
        sentence = spec["sentence"].format(mask=tokenizer.mask_token)
    if spec["inputs"] is not None:
        inputs = torch.load(spec["inputs"])
    else:
        inputs = dict(tokenizer(sentence, return_tensors="pt"))
        inputs.pop("token_type_ids", None)
    is_classifier = any("SequenceClassification" in name for name in config.architectures or [])
    result = {"classes": {}, "outputs": {}, "fill_mask": []}
    for name, field in spec["classes"].items():
        kwargs = {"num_labels": 2} if name.endswith("SequenceClassification") and not is_classifier else {}
        model = getattr(transformers, name).from_pretrained(folder, trust_remote_code=True, **kwargs).eval()
        if not type(model).__module__.startswith("transformers_modules"):
            raise SystemExit(f"{name} gave {type(model).__module__}, not the folder's code")
        with torch.no_grad():
            output = getattr(model(**inputs), field)
        if not torch.isfinite(output).all():
            raise SystemExit(f"{name}: non-finite {field}")
        result["classes"][name] = f"{type(model).__module__}.{type(model).__name__}"
        result["outputs"][name] = output
        print(f"{name}: {type(model).__name__} {field} {tuple(output.shape)}")
    if spec["fill_mask"]:
        fill = pipeline("fill-mask", model=folder, tokenizer=folder, trust_remote_code=True, top_k=3)
        predictions = fill(sentence)
        if len(predictions) != 3:
            raise SystemExit(f"fill-mask returned {predictions!r}")
        result["fill_mask"] = [
            {"token_str": p["token_str"], "score": float(p["score"]), "sequence": p["sequence"]} for p in predictions
        ]
        print("fill-mask:", ", ".join(f"{p['token_str']!r} {p['score']:.3f}" for p in predictions))
    torch.save(result, out_path)
    print("OK")
    """
)


class VerificationError(ValueError):
    """The folder failed to load in a fresh process without the ``cogito`` package."""


@dataclass
class Verification:
    """What the fresh process saw."""

    report: str  # its printed lines, ending with "OK"
    classes: dict[str, str] = field(default_factory=dict)  # Auto class -> module.Class it loaded
    outputs: dict[str, torch.Tensor] = field(default_factory=dict)  # Auto class -> output on the inputs
    fill_mask: list[dict[str, Any]] = field(default_factory=list)  # top-3 predictions (token_str, score, sequence)


def verify_folder(
    folder: str | os.PathLike[str],
    *,
    inputs: dict[str, torch.Tensor] | None = None,
    sentence: str = DEFAULT_SENTENCE,
    auto_classes: tuple[str, ...] = tuple(AUTO_CLASSES),
    fill_mask: bool = True,
    timeout: float = VERIFY_TIMEOUT_S,
) -> Verification:
    """Load ``folder`` in a fresh process without ``cogito``; raise `VerificationError` if it fails.

    ``inputs`` (token tensors) are fed to every Auto class; without them ``sentence`` (``{mask}``
    becomes the tokenizer's mask token) is tokenized by the folder's tokenizer, which is then
    required. ``fill_mask`` runs a fill-mask pipeline on ``sentence`` (needs the tokenizer too).
    """
    folder = Path(folder)
    unknown = [name for name in auto_classes if name not in AUTO_CLASSES]
    if unknown:
        raise ValueError(f"unknown Auto class {unknown[0]!r}; choose from {', '.join(AUTO_CLASSES)}")
    with tempfile.TemporaryDirectory(prefix="cogito-verify-") as work:
        home = Path(work) / "hf_home"
        home.mkdir()
        spec = {
            "inputs": None,
            "sentence": sentence,
            "classes": {name: AUTO_CLASSES[name] for name in auto_classes},
            "fill_mask": fill_mask,
        }
        if inputs is not None:
            spec["inputs"] = str(Path(work) / "inputs.pt")
            torch.save(dict(inputs), spec["inputs"])
        spec_path, out_path = Path(work) / "spec.json", Path(work) / "result.pt"
        spec_path.write_text(json.dumps(spec))
        env = {k: v for k, v in os.environ.items() if k not in TOKEN_ENV_VARS}
        env.update(HF_HOME=str(home), HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1", HF_HUB_DISABLE_TELEMETRY="1")
        env.pop("HF_TOKEN_PATH", None)  # a stored login elsewhere must not reach the child either
        try:
            child = subprocess.run(
                [sys.executable, "-c", _CHILD, str(folder.resolve()), str(spec_path), str(out_path)],
                cwd=home,
                env=env,
                capture_output=True,
                text=True,
                timeout=timeout,
            )
        except subprocess.TimeoutExpired:
            raise VerificationError(f"loading {folder} in a fresh process took longer than {timeout:g} s") from None
        if child.returncode != 0 or not child.stdout.rstrip().endswith("OK"):
            tail = "\n".join((child.stdout + child.stderr).strip().splitlines()[-40:])
            raise VerificationError(
                f"{folder} does not load without the cogito package (exit code {child.returncode}). "
                f"The check said:\n{tail}"
            )
        result = torch.load(out_path)
    return Verification(
        report=child.stdout.strip(),
        classes=result["classes"],
        outputs=result["outputs"],
        fill_mask=result["fill_mask"],
    )


__all__ = ["AUTO_CLASSES", "VERIFY_TIMEOUT_S", "Verification", "VerificationError", "verify_folder"]
