"""Concept geometry as plain numbers: is a concept encoder using its C concepts, or have they collapsed?

``concept_geometry`` turns concept states ``(B, C, H)`` into metrics with the definitions of the
research log (effective rank, dominance, pairwise cosine, uniformity, isotropy, ...), and
``grade_geometry`` labels the key ones good / ok / poor. Pure functions of a tensor: the trainer
logs them at evaluation, and ``cogito.evaluation.report`` writes them with plots.
"""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import Tensor

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


def check_concept_states(concept_states: Any) -> Tensor:
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


def input_dependence(states: Tensor) -> float:
    """Share of each concept's energy that changes across inputs, averaged over concepts.

    For concept c with vectors x_b (one per input b): Σ_h Var_b(x_bh) / mean_b ||x_b||², i.e.
    1 − ||mean_b x_b||² / mean_b ||x_b||². 0 when the concept is the same vector for every input
    (a learned constant, however well spread the constants are: a high effective rank of the
    batch-mean matrix says nothing about this); 1 when it is a pure function of the input with no
    shared component (zero mean across inputs). An all-zero concept counts as 0.
    """
    states = states.to(torch.float64)
    energy = states.square().sum(dim=-1).mean(dim=0)  # (C,) mean_b ||x_bc||²
    across = states.var(dim=0, correction=0).sum(dim=-1)  # (C,) Σ_h Var_b
    share = torch.where(energy > 0, across / energy.clamp_min(1e-300), torch.zeros_like(energy))
    return float(share.clamp(0.0, 1.0).mean())


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
    L2 norms.

    ``input_dependence`` (see ``input_dependence``): the share of each concept's energy that
    varies across the B inputs, averaged over concepts — read it beside the effective rank, which
    is computed from the batch mean and is blind to concepts that ignore their input.
    Plus ``num_concepts`` (C), ``hidden_size`` (H), ``num_samples`` (B).

    Counts are Python ``int``, everything else ``float``; there are no NaNs (degenerate cases
    such as an all-zero M give 0), so the dict serialises to strict JSON.
    Raises ``TypeError`` for a non-tensor and ``ValueError`` for a non-3-D shape, fewer than two
    concepts, an empty batch or non-finite values.
    """
    states = check_concept_states(concept_states)
    batch, concepts, hidden = states.shape
    sigma = torch.linalg.svdvals(states.mean(dim=0))  # (min(C, H),), descending
    metrics: dict[str, float] = {}
    metrics.update(_spectrum_metrics(sigma, min(concepts, hidden)))
    metrics.update(_pairwise_metrics(states))
    metrics.update(_cloud_metrics(states))
    metrics["input_dependence"] = input_dependence(states)
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
