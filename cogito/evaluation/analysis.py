"""Concept-geometry analysis: is a concept encoder using its C concepts, or have they collapsed?

``concept_geometry`` turns concept states ``(B, C, H)`` into plain-number metrics with the
definitions of the research log (see ``/work/shared/reference/research-notes.md``),
``grade_geometry`` labels the key ones good / ok / poor, ``write_report`` writes JSON, a text
summary and plots, and ``cli_main`` is ``cogito analyze``.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from cogito._io import TOKENIZER_FILES, atomic_write, has_tokenizer_files

REPORT_JSON = "concept_report.json"
SUMMARY_TXT = "concept_summary.txt"
SPECTRUM_PNG = "singular_values.png"
SIMILARITY_PNG = "concept_similarity.png"
USAGE_PNG = "concept_usage.png"

# Share of the squared singular values that `dims_for_95_variance` must reach.
VARIANCE_TARGET = 0.95
# A dimension whose std over all concept vectors is below this is "collapsed" (research log).
COLLAPSE_STD = 1e-4
# Temperature t of the uniformity kernel exp(-t * ||u - v||^2) (Wang & Isola 2020, t = 2).
UNIFORMITY_T = 2.0
# Samples per chunk for the pairwise-cosine pass: bounds memory at chunk * C * C float64 values.
_COSINE_CHUNK = 64
# Concept vectors per chunk for the covariance pass: avoids a centred copy of all B*C vectors.
_COVARIANCE_CHUNK = 8192

# Grading thresholds. Anchors from the research log (C = 128): the unregularised L6 run collapsed
# to rank 5.07 (p = 0.04, dominance 0.20), `fixed 0.1` reached 15.9 (p = 0.12, dominance 0.063)
# and `combined + kendall_gal` 122 (p = 0.95).
# Normalised effective rank: half the available directions in use is healthy; below a quarter the
# concepts span only a few shared directions (both logged failures fall below it).
RANK_NORMALIZED_GOOD = 0.5
RANK_NORMALIZED_OK = 0.25
# Top-1 dominance (sigma_max / sum sigma), read absolutely: one direction owning more than 15% of
# the singular mass means collapse (the rank-5 run had 20%); 5% or less means no direction rules.
# With fewer than 20 concepts "good" is out of reach (the floor is 1 / min(C, H)).
DOMINANCE_GOOD = 0.05
DOMINANCE_OK = 0.15
# Mean |cos| between concepts of one sample: random directions in H = 512 give ~0.035, so 0.2
# leaves room for shared structure; above 0.5 concepts are largely copies of each other.
MEAN_ABS_COS_GOOD = 0.2
MEAN_ABS_COS_OK = 0.5
# Uniformity (mean exp(-2 * (2 - 2 cos))): orthogonal concepts give exp(-4) = 0.018, identical
# ones 1. 0.05 corresponds to a typical cos of ~0.25, 0.2 to ~0.6.
UNIFORMITY_GOOD = 0.05
UNIFORMITY_OK = 0.2
# Isotropy (lambda_min / lambda_max): trained encoders are anisotropic, so 0.01 already means
# every direction carries some variance; 0.1 is close to a well-spread cloud. It is 0 whenever
# B * C <= H (the covariance is rank-deficient): analyse more sentences in that case.
ISOTROPY_GOOD = 0.1
ISOTROPY_OK = 0.01
# Collapsed dimensions as a share of H: none is good; a few dead units (<= 5%) are tolerable.
COLLAPSED_FRACTION_OK = 0.05

GRADE_ORDER = (
    "effective_rank_normalized",
    "top1_dominance",
    "mean_abs_cosine",
    "uniformity",
    "isotropy",
    "collapsed_dimensions",
)


_INT_DTYPES = (torch.int8, torch.int16, torch.int32, torch.int64, torch.uint8)


def _validate_states(concept_states: Any) -> Tensor:
    """Check a ``(B, C, H)`` tensor of finite values with B >= 1, C >= 2 and return it as float64 CPU."""
    if not isinstance(concept_states, Tensor):
        raise TypeError(
            f"concept_states must be a torch.Tensor of shape (B, C, H), got {type(concept_states).__name__}"
        )
    if concept_states.dim() != 3:
        raise ValueError(
            f"concept_states must be 3-D (batch, concepts, hidden), got shape {tuple(concept_states.shape)} "
            f"with {concept_states.dim()} dimensions"
        )
    batch, concepts, hidden = concept_states.shape
    if batch < 1 or hidden < 1:
        raise ValueError(
            f"concept_states needs at least one sample and one hidden unit, got shape {tuple(concept_states.shape)}"
        )
    if concepts < 2:
        raise ValueError(f"concept geometry needs at least 2 concepts to compare, got C={concepts}")
    if concept_states.is_complex() or not (concept_states.is_floating_point() or concept_states.dtype in _INT_DTYPES):
        raise ValueError(f"concept_states must hold real numbers, got dtype {concept_states.dtype}")
    states = concept_states.detach().to(device="cpu", dtype=torch.float64)
    if not torch.isfinite(states).all():
        raise ValueError("concept_states contains NaN or infinite values; allowed: finite numbers only")
    return states


def _spectrum_metrics(sigma: Tensor, rank_dim: int) -> dict[str, float]:
    """Rank metrics from the singular values (descending) of the batch-mean concept matrix."""
    total = float(sigma.sum())
    if total == 0.0:
        # An all-zero M has no direction at all: every rank-like quantity is 0.
        return {
            "effective_rank": 0.0,
            "effective_rank_normalized": 0.0,
            "top1_dominance": 0.0,
            "entropy_effective_rank": 0.0,
            "dims_for_95_variance": 0,
            "top1_variance_ratio": 0.0,
            "top5_variance_ratio": 0.0,
        }
    sigma_max = float(sigma[0])
    effective_rank = total / sigma_max
    p = sigma / total
    nonzero = p[p > 0]
    entropy = float(-(nonzero * nonzero.log()).sum())
    variance = sigma.square()
    share = variance / variance.sum()
    cumulative = share.cumsum(0)
    # Tolerance so a spectrum that reaches exactly 95% is not pushed one dimension further by rounding.
    reached = (cumulative >= VARIANCE_TARGET - 1e-12).nonzero()
    dims_95 = int(reached[0]) + 1 if len(reached) else len(sigma)
    return {
        "effective_rank": effective_rank,
        "effective_rank_normalized": effective_rank / rank_dim,
        "top1_dominance": sigma_max / total,
        "entropy_effective_rank": math.exp(entropy),
        "dims_for_95_variance": dims_95,
        "top1_variance_ratio": float(share[0]),
        "top5_variance_ratio": float(share[:5].sum()),
    }


def _pairwise_metrics(states: Tensor) -> dict[str, float]:
    """|cos| and uniformity over the off-diagonal concept pairs of each sample, pooled over samples."""
    batch, concepts, _ = states.shape
    off_diagonal = ~torch.eye(concepts, dtype=torch.bool)
    pairs_per_sample = concepts * (concepts - 1)
    abs_sum = abs_sq_sum = uniformity_sum = 0.0
    abs_max = 0.0
    for start in range(0, batch, _COSINE_CHUNK):
        chunk = states[start : start + _COSINE_CHUNK]
        # A zero concept vector has no direction: clamping the norm makes its cosines 0.
        unit = chunk / chunk.norm(dim=-1, keepdim=True).clamp_min(1e-12)
        cos = (unit @ unit.transpose(1, 2))[:, off_diagonal]  # (b, C*(C-1))
        cos = cos.clamp(-1.0, 1.0)
        abs_cos = cos.abs()
        abs_sum += float(abs_cos.sum())
        abs_sq_sum += float(abs_cos.square().sum())
        abs_max = max(abs_max, float(abs_cos.max()))
        # ||u - v||^2 = 2 - 2 cos for unit vectors.
        uniformity_sum += float(torch.exp(-UNIFORMITY_T * (2.0 - 2.0 * cos)).sum())
    count = batch * pairs_per_sample
    mean = abs_sum / count
    variance = max(abs_sq_sum / count - mean * mean, 0.0)
    return {
        "mean_abs_cosine": mean,
        "max_abs_cosine": abs_max,
        "std_abs_cosine": math.sqrt(variance),
        "uniformity": uniformity_sum / count,
    }


def _cloud_metrics(states: Tensor) -> dict[str, float]:
    """Covariance spectrum, collapsed dimensions and norms of all B*C concept vectors."""
    hidden = states.shape[-1]
    vectors = states.reshape(-1, hidden)  # (B*C, H)
    centre = vectors.mean(dim=0, keepdim=True)  # (1, H)
    scatter = torch.zeros(hidden, hidden, dtype=vectors.dtype)
    for start in range(0, vectors.shape[0], _COVARIANCE_CHUNK):
        # Centring each chunk before the product keeps small variances exact (no E[x²] − E[x]² cancellation).
        centred = vectors[start : start + _COVARIANCE_CHUNK] - centre
        scatter += centred.T @ centred
    covariance = scatter / (vectors.shape[0] - 1)  # (H, H)
    # eigvalsh is ascending; tiny negative eigenvalues are rounding noise of a PSD matrix.
    eigenvalues = torch.linalg.eigvalsh(covariance).clamp_min(0.0)
    lambda_max = float(eigenvalues[-1])
    eig_sum = float(eigenvalues.sum())
    eig_sq_sum = float(eigenvalues.square().sum())
    norms = vectors.norm(dim=-1)
    return {
        "isotropy": float(eigenvalues[0]) / lambda_max if lambda_max > 0 else 0.0,
        "participation_ratio": eig_sum * eig_sum / eig_sq_sum if eig_sq_sum > 0 else 0.0,
        "collapsed_dimensions": int((vectors.std(dim=0, correction=0) < COLLAPSE_STD).sum()),
        "concept_norm_mean": float(norms.mean()),
        "concept_norm_std": float(norms.std(correction=0)),
    }


def concept_geometry(concept_states: Tensor) -> dict[str, float]:
    """Geometry metrics of concept states ``(B, C, H)``, computed in float64 on CPU.

    Spectrum of the batch-mean concept matrix ``M = mean_b states[b]`` ``(C, H)`` with singular
    values σ (descending):

    - ``effective_rank`` = Σσ / σ_max (the log's "Eff. Rank"), ``effective_rank_normalized`` =
      that / min(C, H), ``top1_dominance`` = σ_max / Σσ;
    - ``entropy_effective_rank`` = exp(Shannon entropy of σ / Σσ) (Roy & Vetterli 2007);
    - ``dims_for_95_variance``: fewest leading σ² whose share reaches 0.95;
      ``top1_variance_ratio`` / ``top5_variance_ratio``: share of σ² in the top 1 / 5.

    Pairwise, within each sample over the C·(C−1) off-diagonal concept pairs: ``mean_abs_cosine``,
    ``max_abs_cosine``, ``std_abs_cosine`` of |cos|, and ``uniformity`` = mean exp(−2·(2 − 2cos)).
    Every sample has the same number of pairs, so the pooled mean equals the mean of per-sample
    means; the max is over all samples, and the std (population) is over all pooled pairs.

    Over all B·C concept vectors: ``isotropy`` = λ_min / λ_max of their H×H covariance,
    ``participation_ratio`` = (Σλ)² / Σλ², ``collapsed_dimensions`` = number of hidden dimensions
    whose (population) std is below 1e-4, ``concept_norm_mean`` / ``concept_norm_std`` of the
    L2 norms. Plus ``num_concepts`` (C), ``hidden_size`` (H), ``num_samples`` (B).

    Counts are Python ``int``, everything else ``float``; there are no NaNs (degenerate cases
    such as an all-zero M give 0), so the dict serialises to strict JSON.
    Raises ``TypeError`` for a non-tensor and ``ValueError`` for a non-3-D shape, fewer than two
    concepts, an empty batch or non-finite values.
    """
    states = _validate_states(concept_states)
    batch, concepts, hidden = states.shape
    sigma = torch.linalg.svdvals(states.mean(dim=0))  # (min(C, H),), descending
    metrics: dict[str, float] = {}
    metrics.update(_spectrum_metrics(sigma, min(concepts, hidden)))
    metrics.update(_pairwise_metrics(states))
    metrics.update(_cloud_metrics(states))
    metrics.update({"num_concepts": concepts, "hidden_size": hidden, "num_samples": batch})
    return metrics


def _grade_high(value: float, good: float, ok: float) -> str:
    return "good" if value >= good else "ok" if value >= ok else "poor"


def _grade_low(value: float, good: float, ok: float) -> str:
    return "good" if value <= good else "ok" if value <= ok else "poor"


def grade_geometry(metrics: dict[str, float]) -> dict[str, str]:
    """Label the key metrics "good", "ok" or "poor" with the module's threshold constants.

    Graded: ``effective_rank_normalized``, ``top1_dominance``, ``mean_abs_cosine``,
    ``uniformity``, ``isotropy`` and ``collapsed_dimensions`` (as a share of ``hidden_size``).
    Raises ``ValueError`` naming any of these keys (or ``hidden_size``) that is missing.
    """
    required = (*GRADE_ORDER, "hidden_size")
    missing = [key for key in required if key not in metrics]
    if missing:
        raise ValueError(
            f"metrics lack {missing}; pass the dict returned by concept_geometry (needs {list(required)})"
        )
    hidden = metrics["hidden_size"]
    if hidden <= 0:
        raise ValueError(f"metrics['hidden_size'] must be positive, got {hidden}")
    collapsed = metrics["collapsed_dimensions"]
    return {
        "effective_rank_normalized": _grade_high(
            metrics["effective_rank_normalized"], RANK_NORMALIZED_GOOD, RANK_NORMALIZED_OK
        ),
        "top1_dominance": _grade_low(metrics["top1_dominance"], DOMINANCE_GOOD, DOMINANCE_OK),
        "mean_abs_cosine": _grade_low(metrics["mean_abs_cosine"], MEAN_ABS_COS_GOOD, MEAN_ABS_COS_OK),
        "uniformity": _grade_low(metrics["uniformity"], UNIFORMITY_GOOD, UNIFORMITY_OK),
        "isotropy": _grade_high(metrics["isotropy"], ISOTROPY_GOOD, ISOTROPY_OK),
        "collapsed_dimensions": "good"
        if collapsed == 0
        else _grade_low(collapsed / hidden, 0.0, COLLAPSED_FRACTION_OK),
    }


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

    states = _validate_states(concept_states)
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


# Files of which at least one marks a folder as holding a tokenizer.


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {value}")
    return value


def build_parser() -> argparse.ArgumentParser:
    """Argument parser of ``cogito analyze``."""
    parser = argparse.ArgumentParser(
        prog="cogito analyze",
        description="Concept-geometry report of a saved Cogito model: runs it over sentences, writes "
        f"{REPORT_JSON} (metrics + grades), {SUMMARY_TXT} and PNG plots.",
    )
    parser.add_argument(
        "--model",
        required=True,
        metavar="PATH_OR_ID",
        help="saved model folder (or Hub id), loaded with AutoModel.from_pretrained(..., trust_remote_code=True)",
    )
    parser.add_argument(
        "--tokenizer_name",
        default=None,
        metavar="PATH_OR_ID",
        help="tokenizer to use instead of the one saved in --model (required when that folder has no tokenizer files)",
    )
    parser.add_argument(
        "--text_file",
        required=True,
        type=Path,
        help="UTF-8 text file with one sentence per line; blank lines are skipped",
    )
    parser.add_argument(
        "--max_samples",
        type=_positive_int,
        default=512,
        help="use the first N non-blank lines of --text_file (default: 512)",
    )
    parser.add_argument(
        "--batch_size", type=_positive_int, default=32, help="sentences per forward pass (default: 32)"
    )
    parser.add_argument(
        "--max_length",
        type=_positive_int,
        default=128,
        help="truncate each sentence to this many tokens (default: 128)",
    )
    parser.add_argument(
        "--output_dir",
        type=Path,
        default=Path("concept_analysis"),
        help="folder for the report, summary and plots (default: ./concept_analysis)",
    )
    return parser


def _read_texts(path: Path, max_samples: int) -> list[str]:
    texts: list[str] = []
    with path.open(encoding="utf-8") as file:
        for line in file:
            line = line.strip()
            if line:
                texts.append(line)
                if len(texts) == max_samples:
                    break
    return texts


def cli_main(argv: list[str]) -> int:
    """``cogito analyze``: load a model and tokenizer, collect concept states, write the report."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if not args.text_file.is_file():
        parser.error(f"--text_file {str(args.text_file)!r} does not exist or is not a file")
    texts = _read_texts(args.text_file, args.max_samples)
    if not texts:
        parser.error(f"--text_file {str(args.text_file)!r} has no non-blank lines")

    model_path = Path(args.model)
    if args.tokenizer_name is None and model_path.is_dir() and not has_tokenizer_files(model_path):
        parser.error(
            f"--model folder {str(model_path)!r} has no tokenizer files ({', '.join(TOKENIZER_FILES)}); "
            "pass --tokenizer_name PATH_OR_ID"
        )

    from transformers import AutoModel, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(args.tokenizer_name or args.model, trust_remote_code=True)
    model = AutoModel.from_pretrained(args.model, trust_remote_code=True)
    states = collect_concept_states(model, tokenizer, texts, batch_size=args.batch_size, max_length=args.max_length)
    metrics = write_report(states, args.output_dir)
    print(format_summary(metrics, grade_geometry(metrics)))
    print("Wrote:")
    for name in (REPORT_JSON, SUMMARY_TXT, SPECTRUM_PNG, SIMILARITY_PNG, USAGE_PNG):
        print(f"  {args.output_dir / name}")
    return 0


if __name__ == "__main__":
    sys.exit(cli_main(sys.argv[1:]))
