"""ONNX export of a saved Cogito folder, with a parity check against torch.

`export_onnx(folder, out)` traces the folder's masked-LM (`head="masked-lm"`: logits `(B, N, V)`)
or encoder (`head="encoder"`: concept states `(B, C, H)`) with `torch.onnx.export` (the dynamo
exporter), batch and length dynamic, then runs the graph in onnxruntime on an unpadded and a
padded batch and compares with torch. `cogito export --model_name_or_path FOLDER --output_file OUT.onnx`
is its command line.
"""

from __future__ import annotations

from pathlib import Path

import torch

EXPORT_HEADS = {"masked-lm": ("AutoModelForMaskedLM", "logits"), "encoder": ("AutoModel", "last_hidden_state")}
PARITY_TOLERANCE = 1e-4


class ExportError(ValueError):
    """The export could not be made or does not match torch."""


class _OneOutput(torch.nn.Module):
    """`(input_ids, attention_mask) -> one tensor`: the signature the ONNX graph gets."""

    def __init__(self, model: torch.nn.Module, field: str):
        super().__init__()
        self.model, self.field = model, field

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        return getattr(self.model(input_ids=input_ids, attention_mask=attention_mask), self.field)


def _parity_batches(vocab_size: int, max_length: int) -> dict[str, tuple[torch.Tensor, torch.Tensor]]:
    generator = torch.Generator().manual_seed(0)
    length = min(13, max_length)
    low = min(5, vocab_size - 1)
    unpadded = torch.randint(low, vocab_size, (3, length), generator=generator)
    padded = torch.randint(low, vocab_size, (4, length), generator=generator)
    mask = torch.ones(4, length, dtype=torch.long)
    mask[1, length // 2 :] = 0
    mask[3, 2:] = 0
    return {"unpadded": (unpadded, torch.ones_like(unpadded)), "padded": (padded, mask)}


SINGLE_FILE_BYTES = 1_800_000_000


def export_onnx(
    folder: str | Path, out: str | Path, head: str = "masked-lm", trust_remote_code: bool = False
) -> dict[str, float]:
    """Write `out` (an ONNX graph of `folder`'s `head`) and return the max |onnx - torch| per batch.

    A Cogito folder is loaded with Cogito's own classes; Python code shipped in the folder runs
    only with `trust_remote_code` (a non-Cogito custom model). Raises `ExportError` when the head
    is unknown, onnxruntime is missing or the outputs differ by more than `PARITY_TOLERANCE`.
    """
    if head not in EXPORT_HEADS:
        raise ExportError(f"head must be one of {', '.join(EXPORT_HEADS)}; got {head!r}")
    if not (Path(folder) / "config.json").is_file():
        raise ExportError(
            f"{folder} is not a saved model folder (it has no config.json); save one with save_pretrained"
        )
    try:
        import onnxruntime
    except ImportError:
        raise ExportError(
            "the ONNX parity check needs onnx, onnxscript and onnxruntime: pip install 'cogito[clients]'"
        ) from None
    import transformers

    import cogito  # noqa: F401  (registers the Cogito classes: a Cogito folder loads without running its code)

    auto_class, field = EXPORT_HEADS[head]
    model = getattr(transformers, auto_class).from_pretrained(str(folder), trust_remote_code=trust_remote_code)
    model.eval()
    wrapped = _OneOutput(model, field).eval()
    config = model.config
    batches = _parity_batches(config.vocab_size, config.max_position_embeddings)
    batch = torch.export.Dim("batch", min=1, max=1024)
    length = torch.export.Dim("length", min=2, max=config.max_position_embeddings)
    dynamic = {"input_ids": {0: batch, 1: length}, "attention_mask": {0: batch, 1: length}}
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    # One self-contained file while protobuf allows it (2 GB); larger graphs keep weights in OUT.data.
    Path(f"{out}.data").unlink(missing_ok=True)  # an earlier export's weights: replaced with the graph
    weight_bytes = sum(p.numel() * p.element_size() for p in model.parameters())
    torch.onnx.export(
        wrapped,
        batches["unpadded"],
        str(out),
        external_data=weight_bytes > SINGLE_FILE_BYTES,
        dynamic_shapes=dynamic,
        input_names=["input_ids", "attention_mask"],
        output_names=[field],
    )
    session = onnxruntime.InferenceSession(str(out), providers=["CPUExecutionProvider"])
    differences = {}
    for name, (ids, mask) in batches.items():
        with torch.no_grad():
            want = wrapped(ids, mask)
        got = session.run(None, {"input_ids": ids.numpy(), "attention_mask": mask.numpy()})[0]
        differences[name] = float((torch.from_numpy(got) - want).abs().max())
    if max(differences.values()) > PARITY_TOLERANCE:
        raise ExportError(f"the ONNX graph {out} differs from torch by {differences} (tolerance {PARITY_TOLERANCE})")
    return differences
