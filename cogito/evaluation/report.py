"""The concept-geometry report of a model: collect concept states over sentences, write
``concept_report.json`` (metrics + grades), a text summary and three PNG plots.

The numbers come from ``cogito.evaluation.geometry``; ``cogito analyze`` (``cogito.cli.analyze``)
is the command line.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from cogito._io import atomic_write
from cogito.evaluation.geometry import check_concept_states, concept_geometry, grade_geometry

REPORT_JSON = "concept_report.json"
SUMMARY_TXT = "concept_summary.txt"
SPECTRUM_PNG = "singular_values.png"
SIMILARITY_PNG = "concept_similarity.png"
USAGE_PNG = "concept_usage.png"


def format_summary(metrics: dict[str, float], grades: dict[str, str]) -> str:
    """One-screen text summary of ``concept_geometry`` metrics and their grades."""

    def grade(key: str) -> str:
        return f"[{grades[key]}]" if key in grades else ""

    m = metrics
    rank_dim = min(m["num_concepts"], m["hidden_size"])
    vectors = m["num_samples"] * m["num_concepts"]
    # B*C vectors span at most B*C - 1 centred directions: λ_min is 0 by construction.
    isotropy_note = (
        f"  (only {vectors} vectors for H={m['hidden_size']}: use more sentences)"
        if vectors <= m["hidden_size"]
        else ""
    )
    if not isotropy_note and m["isotropy"] < 1e-8:
        # A LayerNorm output has zero mean over its H features, so every concept vector is
        # orthogonal to the all-ones direction and the covariance has a zero eigenvalue.
        isotropy_note = "  (a zero eigenvalue: e.g. LayerNorm outputs are centred, leaving one null direction)"
    rows = [
        (
            "Effective rank (Σσ/σmax)",
            f"{m['effective_rank']:.2f} / {rank_dim} ({100 * m['effective_rank_normalized']:.1f}%)",
            grade("effective_rank_normalized"),
        ),
        (
            "Input dependence",
            f"{m['input_dependence']:.3f}  (share of concept energy that varies across inputs; 0 = constant concepts)",
            "",
        ),
        ("Top-1 dominance (σmax/Σσ)", f"{m['top1_dominance']:.4f}", grade("top1_dominance")),
        ("Entropy effective rank", f"{m['entropy_effective_rank']:.2f}  (Roy & Vetterli 2007)", ""),
        ("Dims for 95% variance", f"{m['dims_for_95_variance']}", ""),
        ("Top-1 / top-5 variance", f"{m['top1_variance_ratio']:.3f} / {m['top5_variance_ratio']:.3f}", ""),
        (
            "|cos| mean / max / std",
            f"{m['mean_abs_cosine']:.3f} / {m['max_abs_cosine']:.3f} / {m['std_abs_cosine']:.3f}",
            grade("mean_abs_cosine"),
        ),
        ("Uniformity", f"{m['uniformity']:.4f}  (exp(-4)=0.018 orthogonal, 1 identical)", grade("uniformity")),
        ("Isotropy (λmin/λmax)", f"{m['isotropy']:.4g}" + isotropy_note, grade("isotropy")),
        ("Participation ratio", f"{m['participation_ratio']:.2f} / {m['hidden_size']}", ""),
        ("Collapsed dimensions", f"{m['collapsed_dimensions']} / {m['hidden_size']}", grade("collapsed_dimensions")),
        ("Concept norm mean ± std", f"{m['concept_norm_mean']:.3f} ± {m['concept_norm_std']:.3f}", ""),
    ]
    width = max(len(label) for label, _, _ in rows)
    header = f"Concept geometry: {m['num_samples']} samples, C={m['num_concepts']} concepts, H={m['hidden_size']}"
    lines = [header, "=" * len(header)]
    lines += [f"{label.ljust(width)}  {value}  {tag}".rstrip() for label, value, tag in rows]
    counts = {g: list(grades.values()).count(g) for g in ("good", "ok", "poor")}
    lines += ["", f"Grades: {counts['good']} good, {counts['ok']} ok, {counts['poor']} poor"]
    return "\n".join(lines) + "\n"


def _save_figure(figure: Any, path: Path) -> Path:
    atomic_write(path, lambda file: figure.savefig(file, format="png", dpi=100), binary=True)
    return path


def save_plots(concept_states: Tensor, output_dir: str | os.PathLike[str]) -> list[Path]:
    """Write three PNGs into ``output_dir`` and return their paths.

    - ``singular_values.png``: singular values of the batch-mean concept matrix M (log y axis).
    - ``concept_similarity.png``: C×C cosine similarity between the rows of M.
    - ``concept_usage.png``: per-concept usage, two panels, each relative to its mean over
      concepts (1 = average): (top) the norm of the concept's row of M, i.e. how strongly it is
      present on average; (bottom) its variance across samples (summed over H), i.e. how much it
      changes with the input. A concept near 0 in the bottom panel is the same for every
      sentence: it carries no information about the input.
    """
    # The object API with an explicit Agg canvas leaves pyplot's global backend alone.
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    states = check_concept_states(concept_states)
    out = Path(output_dir)
    concepts = states.shape[1]
    mean_matrix = states.mean(dim=0)  # (C, H)
    sigma = torch.linalg.svdvals(mean_matrix)
    paths: list[Path] = []

    figure = Figure(figsize=(7, 4.5))
    FigureCanvasAgg(figure)
    axis = figure.add_subplot()
    # log y cannot show exact zeros; floor them far below the largest value.
    floor = max(float(sigma[0]) * 1e-12, 1e-300)
    axis.plot(range(1, len(sigma) + 1), sigma.clamp_min(floor).numpy(), marker="o", markersize=3)
    axis.set_yscale("log")
    r = float(sigma.sum() / sigma[0]) if float(sigma[0]) > 0 else 0.0
    axis.set_title(f"Singular values of the batch-mean concept matrix (effective rank {r:.2f})")
    axis.set_xlabel("index")
    axis.set_ylabel("singular value")
    axis.grid(True, which="both", alpha=0.3)
    figure.tight_layout()
    paths.append(_save_figure(figure, out / SPECTRUM_PNG))

    unit = mean_matrix / mean_matrix.norm(dim=-1, keepdim=True).clamp_min(1e-12)
    similarity = (unit @ unit.T).clamp(-1.0, 1.0)  # (C, C)
    figure = Figure(figsize=(6, 5))
    FigureCanvasAgg(figure)
    axis = figure.add_subplot()
    image = axis.imshow(similarity.numpy(), cmap="RdBu_r", vmin=-1.0, vmax=1.0, interpolation="nearest")
    figure.colorbar(image, ax=axis, label="cosine")
    axis.set_title("Cosine similarity between concepts (rows of M)")
    axis.set_xlabel("concept")
    axis.set_ylabel("concept")
    figure.tight_layout()
    paths.append(_save_figure(figure, out / SIMILARITY_PNG))

    row_norm = mean_matrix.norm(dim=-1)  # (C,)
    variance = states.var(dim=0, correction=0).sum(dim=-1)  # (C,)
    figure = Figure(figsize=(max(7, concepts * 0.06), 6))
    FigureCanvasAgg(figure)
    top, bottom = figure.subplots(2, 1, sharex=True)
    for axis, values, label in (
        (top, row_norm, "row norm of M / mean"),
        (bottom, variance, "variance across samples / mean"),
    ):
        mean_value = float(values.mean())
        relative = values / mean_value if mean_value > 0 else torch.zeros_like(values)
        axis.bar(range(concepts), relative.numpy(), width=0.8)
        axis.axhline(1.0, color="grey", linewidth=0.8, linestyle="--")
        axis.set_ylabel(label)
    top.set_title("Per-concept usage (1 = average concept)")
    bottom.set_xlabel("concept")
    figure.tight_layout()
    paths.append(_save_figure(figure, out / USAGE_PNG))
    return paths


def write_report(concept_states: Tensor, output_dir: str | os.PathLike[str]) -> dict[str, float]:
    """Write ``concept_report.json`` (metrics + grades), ``concept_summary.txt`` and the plots.

    Returns the metrics of ``concept_geometry``.
    """
    metrics = concept_geometry(concept_states)
    grades = grade_geometry(metrics)
    out = Path(output_dir)
    payload = {"metrics": metrics, "grades": grades}
    atomic_write(out / REPORT_JSON, lambda file: json.dump(payload, file, indent=2, allow_nan=False))
    summary = format_summary(metrics, grades)
    atomic_write(out / SUMMARY_TXT, lambda file: file.write(summary))
    save_plots(concept_states, out)
    return metrics


def _model_device(model: nn.Module) -> torch.device:
    parameter = next(model.parameters(), None)
    return parameter.device if parameter is not None else torch.device("cpu")


def collect_concept_states(
    model: nn.Module,
    tokenizer: Any,
    texts: Sequence[str],
    batch_size: int = 32,
    max_length: int = 128,
) -> Tensor:
    """Run ``model`` over ``texts`` and return the concept states ``(len(texts), C, H)`` as float32 on CPU.

    The model runs in eval mode under ``torch.no_grad()`` (its previous mode is restored) on the
    device of its parameters. Texts are tokenised in batches of ``batch_size`` with padding and
    truncation to ``max_length`` tokens. The output's ``concept_states`` is used when present and
    not None (Cogito task heads), else ``last_hidden_state`` (base ``CogitoModel``).
    """
    if isinstance(texts, str) or not isinstance(texts, Sequence):
        raise TypeError(f"texts must be a sequence of strings, got {type(texts).__name__}")
    if len(texts) == 0:
        raise ValueError("texts is empty; pass at least one sentence")
    bad = [i for i, text in enumerate(texts) if not isinstance(text, str)]
    if bad:
        raise TypeError(f"texts must all be strings; items {bad[:5]} are not (first: {type(texts[bad[0]]).__name__})")
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(f"batch_size must be a positive integer, got {batch_size!r}")
    if isinstance(max_length, bool) or not isinstance(max_length, int) or max_length < 1:
        raise ValueError(f"max_length must be a positive integer, got {max_length!r}")

    device = _model_device(model)
    was_training = model.training
    model.eval()
    chunks: list[Tensor] = []
    try:
        with torch.no_grad():
            for start in range(0, len(texts), batch_size):
                encoded = tokenizer(
                    list(texts[start : start + batch_size]),
                    padding=True,
                    truncation=True,
                    max_length=max_length,
                    return_tensors="pt",
                )
                output = model(
                    input_ids=encoded["input_ids"].to(device), attention_mask=encoded["attention_mask"].to(device)
                )
                states = getattr(output, "concept_states", None)
                if states is None:
                    states = getattr(output, "last_hidden_state", None)
                if states is None:
                    raise ValueError(
                        f"model output {type(output).__name__} has neither concept_states nor last_hidden_state; "
                        "pass a Cogito model"
                    )
                if states.dim() != 3:
                    raise ValueError(
                        f"model returned concept states of shape {tuple(states.shape)}; expected (B, C, H)"
                    )
                chunks.append(states.detach().float().cpu())
    finally:
        model.train(was_training)
    return torch.cat(chunks, dim=0)
