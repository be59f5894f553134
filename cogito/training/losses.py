"""Concept regularisers and the strategies that weigh them against the task (MLM) loss.

Training-side code: the model files never import this module. Every regulariser reads the
concept states ``(B, C, H)`` a concept encoder returns, computes in fp32 with autocast disabled
(bf16 cosines of near-identical concepts round to exactly 1), and returns a differentiable scalar.

The names of the research log mean what the research code computed (ksopyla/MrCogito,
``nn/loss_manager.py``; checked against its values in tests/test_losses.py):

- regularisers ``orthogonality``, ``soft_orthogonality``, ``uniformity`` (mean exp(-t·d²)),
  ``variance`` and ``covariance`` (VICReg terms over all B·C concept vectors pooled), ``vicreg``,
  ``combined`` (variance + uniformity), ``t_regs_mst`` (minus the mean nearest-neighbour distance);
- weightings ``fixed`` (loss_weight split equally, task weight 1), ``learnable`` (softmax, the
  weights sum to 1), ``kendall_gal``.

Variants closer to the papers, or Cogito's earlier definitions, under their own names:
``log_uniformity`` (Wang & Isola, 2020), ``variance_per_sample``, ``covariance_per_sample``,
``vicreg_per_sample``, ``combined_per_sample``, ``t_regs_nn_log``, ``mst_length`` (the exact
minimum-spanning-tree length of T-REGS, Mordacq et al., 2025) and the weighting
``learnable_scaled``. ``CONCEPT_LOSSES`` and ``LOSS_WEIGHTINGS`` are the one list of these names
(the experiment-log parser reads them from here).

Usage::

    regularizer = ConceptRegularizer(["combined"], weighting="kendall_gal").to(device)
    optimizer.add_param_group({"params": list(regularizer.parameters())})
    out = regularizer(mlm_loss, concept_states)
    out.loss.backward()
    log(out.logs)  # {"task_loss": ..., "concept_combined": ..., "concept_combined_variance": ...,
                   #  "weight_task": ..., "weight_combined": ...}
"""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import ClassVar

import torch
import torch.nn.functional as F
from torch import Tensor, nn

logger = logging.getLogger(__name__)

__all__ = [
    "CONCEPT_LOSSES",
    "LOSS_WEIGHTINGS",
    "ConceptLoss",
    "ConceptLossOptions",
    "ConceptLossOutput",
    "ConceptRegularizer",
    "LossWeighting",
    "build_concept_loss",
    "check_weighting",
    "minimum_spanning_tree",
    "minimum_spanning_tree_length",
    "parse_concept_losses",
]

NO_CONCEPT_LOSS = "none"
DEFAULT_FIXED_LOSS_WEIGHT = 0.1


# --------------------------------------------------------------------------------------------
# Regularisers
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ConceptLossOptions:
    """Hyper-parameters shared by the regulariser registry; each regulariser reads its own.

    Args:
        soft_ortho_threshold: ``soft_orthogonality`` ignores pairs with |cos| at or below this.
        uniformity_temperature: ``t`` in the kernel exp(-t·||ẑ_i - ẑ_j||²) of ``uniformity`` and
            ``log_uniformity``.
        mst_eps: added to the squared nearest-neighbour distance of ``t_regs_nn_log`` before the
            square root, so the loss and its gradient stay finite when concepts coincide.
    """

    soft_ortho_threshold: float = 0.1
    uniformity_temperature: float = 2.0
    mst_eps: float = 1e-6

    def __post_init__(self) -> None:
        if not (math.isfinite(self.soft_ortho_threshold) and 0.0 <= self.soft_ortho_threshold < 1.0):
            raise ValueError(f"soft_ortho_threshold={self.soft_ortho_threshold!r} is invalid; use a float in [0, 1).")
        if not (math.isfinite(self.uniformity_temperature) and self.uniformity_temperature > 0.0):
            raise ValueError(f"uniformity_temperature={self.uniformity_temperature!r} is invalid; use a float > 0.")
        if not (math.isfinite(self.mst_eps) and self.mst_eps > 0.0):
            raise ValueError(f"mst_eps={self.mst_eps!r} is invalid; use a float > 0.")


CONCEPT_LOSSES: dict[str, type[ConceptLoss]] = {}


def register_concept_loss(cls: type[ConceptLoss]) -> type[ConceptLoss]:
    """Class decorator: make a regulariser selectable by its ``name``."""
    if not cls.name or cls.name in CONCEPT_LOSSES or cls.name == NO_CONCEPT_LOSS:
        raise ValueError(f"concept loss name {cls.name!r} is empty, reserved or already registered")
    if issubclass(cls, _CompositeConceptLoss):
        cls.can_be_negative = any(CONCEPT_LOSSES[part].can_be_negative for part in cls.parts)
    CONCEPT_LOSSES[cls.name] = cls
    return cls


def _check_concepts(concepts: Tensor) -> None:
    if concepts.dim() != 3:
        raise ValueError(f"concept_states must have shape (B, C, H); got {tuple(concepts.shape)}.")
    if concepts.shape[1] < 2:
        raise ValueError(
            f"concept_states has C={concepts.shape[1]} concepts; the regularisers compare pairs "
            "of concepts and need C >= 2."
        )


def _off_diagonal(matrix: Tensor) -> Tensor:
    """The off-diagonal entries of a batch of square matrices: (B, M, M) -> (B, M·(M-1))."""
    size = matrix.shape[-1]
    mask = ~torch.eye(size, dtype=torch.bool, device=matrix.device)
    return matrix[:, mask]


def _cosine_matrix(z: Tensor) -> Tensor:
    unit = F.normalize(z, dim=-1)  # (B, C, H)
    return unit @ unit.transpose(1, 2)  # (B, C, C)


def _unit_sq_distances(z: Tensor) -> Tensor:
    # ||a - b||² = 2 - 2cos for unit vectors; avoids cdist, whose gradient is NaN at distance 0.
    return (2.0 - 2.0 * _cosine_matrix(z)).clamp_min(0.0)  # (B, C, C)


class ConceptLoss(nn.Module):
    """Base class: a named regulariser of concept states ``(B, C, H)`` -> scalar.

    Subclasses set ``name`` and implement ``compute(z)`` on fp32 input; a composite sets
    ``parts`` instead and returns each part as a named component.
    """

    name: ClassVar[str] = ""
    # Whether the loss can take negative values; such a loss has no Kendall-Gal equilibrium.
    can_be_negative: ClassVar[bool] = False

    def __init__(self, options: ConceptLossOptions) -> None:
        super().__init__()
        self.options = options

    def compute(self, z: Tensor) -> Tensor:
        """The loss on fp32 concepts ``(B, C, H)``; called with autocast disabled."""
        raise NotImplementedError

    def components(self, concepts: Tensor) -> dict[str, Tensor]:
        """Named scalar parts whose sum is the loss; a single entry for a plain regulariser."""
        _check_concepts(concepts)
        with torch.autocast(device_type=concepts.device.type, enabled=False):
            return {self.name: self.compute(concepts.float())}

    def forward(self, concepts: Tensor) -> Tensor:
        parts = list(self.components(concepts).values())
        return torch.stack(parts).sum()


class _CompositeConceptLoss(ConceptLoss):
    parts: ClassVar[tuple[str, ...]] = ()

    def __init__(self, options: ConceptLossOptions) -> None:
        super().__init__(options)
        self.terms = nn.ModuleList(build_concept_loss(part, options) for part in self.parts)

    def components(self, concepts: Tensor) -> dict[str, Tensor]:
        return {term.name: term(concepts) for term in self.terms}


class _WarnsWhenInfeasible(ConceptLoss):
    """Warns once per (C, H) when the loss cannot reach zero for that shape."""

    def __init__(self, options: ConceptLossOptions) -> None:
        super().__init__(options)
        self._warned_shapes: set[tuple[int, int]] = set()

    def infeasibility(self, num_concepts: int, hidden: int) -> str | None:
        raise NotImplementedError

    def compute(self, z: Tensor) -> Tensor:
        shape = (z.shape[1], z.shape[2])
        if shape not in self._warned_shapes:
            self._warned_shapes.add(shape)
            reason = self.infeasibility(*shape)
            if reason is not None:
                logger.warning("concept loss %r cannot reach 0: %s", self.name, reason)
        return self.compute_feasible(z)

    def compute_feasible(self, z: Tensor) -> Tensor:
        raise NotImplementedError


@register_concept_loss
class OrthogonalityLoss(_WarnsWhenInfeasible):
    """mean over off-diagonal pairs (i ≠ j) of cos(z_i, z_j)², per sample; batch mean.

    0 for mutually orthogonal concepts, 1 for identical ones.
    """

    name = "orthogonality"

    def infeasibility(self, num_concepts: int, hidden: int) -> str | None:
        if num_concepts > hidden:
            return (
                f"C={num_concepts} concepts exceed H={hidden} dimensions and at most H vectors "
                "can be mutually orthogonal."
            )
        return None

    def compute_feasible(self, z: Tensor) -> Tensor:
        cos = _off_diagonal(_cosine_matrix(z))  # (B, C·(C-1))
        return cos.pow(2).mean(dim=1).mean()


@register_concept_loss
class SoftOrthogonalityLoss(_WarnsWhenInfeasible):
    """mean over off-diagonal pairs of relu(|cos| - threshold)², per sample; batch mean."""

    name = "soft_orthogonality"

    def infeasibility(self, num_concepts: int, hidden: int) -> str | None:
        if num_concepts <= hidden:
            return None
        # Welch bound: C unit vectors in R^H have max |cos| >= sqrt((C - H) / (H·(C - 1))).
        welch = math.sqrt((num_concepts - hidden) / (hidden * (num_concepts - 1)))
        if welch > self.options.soft_ortho_threshold:
            return (
                f"C={num_concepts} concepts in H={hidden} dimensions have max |cos| >= "
                f"{welch:.4f} (Welch bound), above soft_ortho_threshold="
                f"{self.options.soft_ortho_threshold}."
            )
        return None

    def compute_feasible(self, z: Tensor) -> Tensor:
        cos = _off_diagonal(_cosine_matrix(z))  # (B, C·(C-1))
        excess = F.relu(cos.abs() - self.options.soft_ortho_threshold)
        return excess.pow(2).mean(dim=1).mean()


# ---- the research definitions, under the names of the research log -------------------------
# ``orthogonality`` and ``soft_orthogonality`` above are the research's too. The ones below pool
# or normalise as the research code did (ksopyla/MrCogito, ``nn/loss_manager.py``), so a log row's
# "Concept Losses" cell means what it meant; tests/test_losses.py checks each against the research
# values on fixed tensors. Where a paper's definition is stronger, it follows under its own name.


def _pooled(z: Tensor) -> Tensor:
    """All B·C concept vectors as one group: (B, C, H) -> (1, B·C, H)."""
    return z.reshape(1, -1, z.shape[-1])


def _variance_hinge(groups: Tensor) -> Tensor:
    """mean_h relu(1 - sqrt(Var_n(x_nh) + 1e-4)) per group (G, N, H), mean over the G groups."""
    std = torch.sqrt(groups.var(dim=1) + 1e-4)  # (G, H), unbiased variance over N
    return F.relu(1.0 - std).mean(dim=1).mean()


def _covariance_penalty(groups: Tensor) -> Tensor:
    """Σ_{h≠k} cov_hk² / H of each group (G, N, H), cov = Xcᵀ·Xc / (N - 1); mean over groups."""
    num, hidden = groups.shape[1], groups.shape[2]
    centred = groups - groups.mean(dim=1, keepdim=True)  # (G, N, H)
    cov = centred.transpose(1, 2) @ centred / (num - 1)  # (G, H, H)
    return _off_diagonal(cov).pow(2).sum(dim=1).div(hidden).mean()


def _exact_sq_distances(points: Tensor) -> Tensor:
    """Squared Euclidean distances (B, N, N) of detached points (B, N, D), computed pair by pair
    (no ||a||² + ||b||² - 2ab cancellation): for choosing neighbours and tree edges, not for
    gradients."""
    x = points.detach().float()
    return torch.cdist(x, x, compute_mode="donot_use_mm_for_euclid_dist").pow(2)


def _distances_to(points: Tensor, partner: Tensor) -> Tensor:
    """||p_i - p_partner(i)|| for points (B, N, D) and partner indices (B, N) -> (B, N).

    Differencing the chosen pairs is exact where 2 - 2cos cancels catastrophically (near-equal
    concepts), and the gradient flows through the chosen pairs only (0 at coincident points).
    """
    partners = torch.gather(points, 1, partner.unsqueeze(-1).expand_as(points))  # (B, N, D)
    return torch.linalg.vector_norm(points - partners, dim=-1)


@register_concept_loss
class UniformityLoss(ConceptLoss):
    """Gaussian-kernel uniformity of the research log: the mean over the off-diagonal concept
    pairs of each sample of exp(-t·||ẑ_i - ẑ_j||²), ẑ unit-normalised, ||ẑ_i - ẑ_j||² = 2 - 2cos;
    batch mean. 1 when all concepts coincide, exp(-4t) for mutually orthogonal ones, never
    negative. The same quantity as the ``uniformity`` of concept analysis (cogito.evaluation).
    ``log_uniformity`` is its log (Wang & Isola, 2020).
    """

    name = "uniformity"

    def compute(self, z: Tensor) -> Tensor:
        sq_dist = 2.0 - 2.0 * _off_diagonal(_cosine_matrix(z))  # (B, C·(C-1))
        return torch.exp(-self.options.uniformity_temperature * sq_dist).mean(dim=1).mean()


@register_concept_loss
class VarianceLoss(ConceptLoss):
    """VICReg variance hinge (Bardes et al., 2022) over all B·C concept vectors pooled, as the
    research computed it: std_h = sqrt(Var(z_h) + 1e-4), unbiased over the B·C vectors;
    loss = mean_h relu(1 - std_h). 0 when every dimension has std >= 1.

    Pooling lets concepts that are identical within a sample pass when they differ across
    samples; ``variance_per_sample`` asks for spread among the concepts of each sample. Pooled
    terms depend on the batch they see: under gradient accumulation or DDP each micro-batch of
    each process is pooled on its own (as in the research runs), so the loss of two half
    batches is not that of the whole batch. The per-sample terms average exactly.
    """

    name = "variance"

    def compute(self, z: Tensor) -> Tensor:
        return _variance_hinge(_pooled(z))


@register_concept_loss
class CovarianceLoss(ConceptLoss):
    """VICReg covariance term over all B·C concept vectors pooled (the research's):
    cov = Zcᵀ·Zc / (B·C - 1), an (H, H) matrix; loss = Σ_{h≠k} cov_hk² / H."""

    name = "covariance"

    def compute(self, z: Tensor) -> Tensor:
        return _covariance_penalty(_pooled(z))


@register_concept_loss
class TRegsMSTLoss(ConceptLoss):
    """The research's ``t_regs_mst``: minus the mean nearest-neighbour distance of the
    unit-normalised concepts of each sample, d_i = min_{j≠i} ||ẑ_i - ẑ_j||; batch mean.

    A proxy for the MST length of T-REGS (Mordacq et al., 2025): each concept's nearest-neighbour
    edge is a lower bound of an MST edge, but the proxy ignores how clusters connect (two tight,
    far-apart clusters score like two tight, nearby ones). ``mst_length`` is the real objective.
    In [-2, 0], so it is refused with ``kendall_gal`` (see ``KendallGalWeighting``).
    """

    name = "t_regs_mst"
    can_be_negative = True

    def compute(self, z: Tensor) -> Tensor:
        unit = F.normalize(z, dim=-1)  # (B, C, H)
        with torch.no_grad():
            sq = _exact_sq_distances(unit)  # (B, C, C), only to pick each concept's neighbour
            sq.diagonal(dim1=1, dim2=2).fill_(float("inf"))
            nearest = sq.argmin(dim=2)  # (B, C)
        return -_distances_to(unit, nearest).mean(dim=1).mean()


# ---- paper-faithful and per-sample variants, each under its own name --------------------------


@register_concept_loss
class LogUniformityLoss(ConceptLoss):
    """Uniformity on the unit hypersphere as Wang & Isola (2020) define it, over the concepts of
    a sample: the log of ``uniformity``'s per-sample mean (Cogito's ``uniformity`` until research
    parity).

    With ẑ_i = z_i / ||z_i||, per sample::

        U_b = log( 1 / (C·(C-1)) · Σ_{i≠j} exp(-t·||ẑ_i - ẑ_j||²) ),   ||ẑ_i - ẑ_j||² = 2 - 2·cos

    and the loss is mean_b U_b. It is 0 when all concepts coincide, never positive, and
    decreases as they spread out (bounded below by -4t). The log keeps the gradient from
    vanishing once most pairs are far apart. Computed with logsumexp for stability.
    """

    name = "log_uniformity"
    can_be_negative = True

    def compute(self, z: Tensor) -> Tensor:
        sq_dist = _off_diagonal(_unit_sq_distances(z))  # (B, C·(C-1))
        pairs = sq_dist.shape[1]
        per_sample = torch.logsumexp(-self.options.uniformity_temperature * sq_dist, dim=1)
        return (per_sample - math.log(pairs)).mean()


@register_concept_loss
class PerSampleVarianceLoss(ConceptLoss):
    """VICReg variance hinge (Bardes et al., 2022) across the C concepts of each sample.

    std_h = sqrt(Var_i(z_ih) + 1e-4) with the unbiased variance over the C concepts;
    loss = mean_h relu(1 - std_h) per sample, batch mean. 0 when every dimension has std >= 1,
    ~0.99 for constant concepts. Unlike the pooled ``variance``, concepts that coincide within a
    sample are penalised even when they differ from sample to sample.
    """

    name = "variance_per_sample"

    def compute(self, z: Tensor) -> Tensor:
        return _variance_hinge(z)


@register_concept_loss
class PerSampleCovarianceLoss(ConceptLoss):
    """VICReg covariance term across the C concepts of each sample.

    cov = Zcᵀ·Zc / (C - 1) with Zc the concepts centred over C, an (H, H) matrix per sample;
    loss = Σ_{h≠k} cov_hk² / H per sample, batch mean. With C < H the covariance has rank < H and
    cannot be diagonal with unit variances, so the loss has a floor above 0.
    """

    name = "covariance_per_sample"

    def compute(self, z: Tensor) -> Tensor:
        return _covariance_penalty(z)


@register_concept_loss
class TRegsNNLogLoss(ConceptLoss):
    """Nearest-neighbour log-spread of unit-normalised concepts (Cogito's ``t_regs_mst`` until
    research parity): per sample, with d_i² = min_{j≠i} ||ẑ_i - ẑ_j||²::

        loss_b = -mean_i log( sqrt(d_i² + eps) )

    batch mean. eps (``mst_eps``) sits inside the root so coincident concepts give a finite loss
    (≈ -½·log eps) and finite gradients. Larger for clustered concepts than for spread ones.
    """

    name = "t_regs_nn_log"
    can_be_negative = True

    def compute(self, z: Tensor) -> Tensor:
        sq_dist = _unit_sq_distances(z)  # (B, C, C)
        self_pairs = torch.eye(sq_dist.shape[-1], dtype=torch.bool, device=z.device)
        nearest_sq = sq_dist.masked_fill(self_pairs, float("inf")).amin(dim=2)  # (B, C)
        return -torch.log(torch.sqrt(nearest_sq + self.options.mst_eps)).mean(dim=1).mean()


def minimum_spanning_tree(points: Tensor) -> Tensor:
    """Exact Euclidean minimum spanning tree of each point set (Prim's algorithm, batched).

    Args:
        points: (B, N, D).

    Returns:
        parent: (B, N) long; the tree's edges are (i, parent[b, i]) for i = 1..N-1, node 0 is the
        root (parent[b, 0] = 0). O(N²) per set, N - 1 vectorised steps: fine for N up to a few
        hundred concepts. Not differentiable (indices); see ``minimum_spanning_tree_length``.
    """
    if points.dim() != 3:
        raise ValueError(f"points must have shape (B, N, D); got {tuple(points.shape)}.")
    with torch.no_grad():
        sq = _exact_sq_distances(points)  # (B, N, N)
        batch, num = sq.shape[:2]
        rows = torch.arange(batch, device=points.device)
        in_tree = torch.zeros(batch, num, dtype=torch.bool, device=points.device)
        in_tree[:, 0] = True
        best = sq[:, 0].clone()  # (B, N) squared distance of each node to the tree so far
        parent = torch.zeros(batch, num, dtype=torch.long, device=points.device)
        for _ in range(num - 1):
            added = best.masked_fill(in_tree, float("inf")).argmin(dim=1)  # (B,)
            in_tree[rows, added] = True
            to_added = sq[rows, added]  # (B, N)
            closer = (to_added < best) & ~in_tree
            parent = torch.where(closer, added.unsqueeze(1), parent)
            best = torch.where(closer, to_added, best)
    return parent


def minimum_spanning_tree_length(points: Tensor) -> Tensor:
    """Total Euclidean length of the minimum spanning tree of each point set: (B, N, D) -> (B,).

    The tree is chosen exactly (``minimum_spanning_tree``); the gradient flows through the
    lengths of the chosen edges only (a tie between equal-length trees takes one of them).
    """
    parent = minimum_spanning_tree(points)  # (B, N)
    return _distances_to(points, parent)[:, 1:].sum(dim=1)


@register_concept_loss
class MSTLengthLoss(ConceptLoss):
    """T-REGS (Mordacq et al., 2025): maximise the length of the minimum spanning tree of the
    concepts on the unit sphere — the real objective behind ``t_regs_mst``'s proxy.

    Per sample: the exact Euclidean MST of the unit-normalised concepts ẑ (C nodes, C - 1 edges),
    loss_b = -(MST length) / (C - 1), i.e. minus the mean MST edge length; batch mean. Gradients
    reach the concepts through the chosen edges only. The paper keeps embeddings near the sphere
    with a soft penalty; projecting onto it (as ``t_regs_mst`` does) removes the need. In [-2, 0]
    (more spread = lower), so it is refused with ``kendall_gal``.
    """

    name = "mst_length"
    can_be_negative = True

    def compute(self, z: Tensor) -> Tensor:
        unit = F.normalize(z, dim=-1)  # (B, C, H)
        return -(minimum_spanning_tree_length(unit) / (z.shape[1] - 1)).mean()


@register_concept_loss
class VICRegLoss(_CompositeConceptLoss):
    """VICReg without the invariance term: ``variance + covariance`` (pooled, the research's)."""

    name = "vicreg"
    parts = ("variance", "covariance")


@register_concept_loss
class CombinedLoss(_CompositeConceptLoss):
    """``variance + uniformity`` as the research runs' ``combined`` computed it (pooled variance,
    mean-exp uniformity). Never negative: uniformity stays above ~exp(-4t) on the sphere."""

    name = "combined"
    parts = ("variance", "uniformity")


@register_concept_loss
class PerSampleVICRegLoss(_CompositeConceptLoss):
    """``variance_per_sample + covariance_per_sample`` (Cogito's ``vicreg`` until research parity)."""

    name = "vicreg_per_sample"
    parts = ("variance_per_sample", "covariance_per_sample")


@register_concept_loss
class PerSampleCombinedLoss(_CompositeConceptLoss):
    """``variance_per_sample + log_uniformity`` (Cogito's ``combined`` until research parity, the
    regulariser of the README's demo numbers). Can go negative: refused with ``kendall_gal``."""

    name = "combined_per_sample"
    parts = ("variance_per_sample", "log_uniformity")


def _unknown(kind: str, value: object, allowed: Sequence[str]) -> ValueError:
    return ValueError(f"unknown {kind} {value!r}; choose one of: {', '.join(allowed)}.")


def build_concept_loss(name: str, options: ConceptLossOptions | None = None) -> ConceptLoss:
    """Instantiate the regulariser registered as ``name``."""
    if name not in CONCEPT_LOSSES:
        raise _unknown("concept loss", name, list(CONCEPT_LOSSES))
    return CONCEPT_LOSSES[name](options or ConceptLossOptions())


def parse_concept_losses(value: str | Sequence[str] | None) -> list[str]:
    """Normalise a regulariser list from a CLI/config value.

    Accepts ``"none"``, ``"combined"``, ``"variance uniformity"``, ``"variance,uniformity"``
    and ``["variance", "uniformity"]``; ``None``, ``""``, ``"none"`` and ``["none"]`` give ``[]``.
    """
    if value is None:
        return []
    items = [value] if isinstance(value, str) else list(value)
    names: list[str] = []
    for item in items:
        if not isinstance(item, str):
            raise ValueError(f"concept loss names must be strings; got {item!r}.")
        names.extend(item.replace(",", " ").lower().split())
    allowed = [NO_CONCEPT_LOSS, *CONCEPT_LOSSES]
    for name in names:
        if name != NO_CONCEPT_LOSS and name not in CONCEPT_LOSSES:
            raise _unknown("concept loss", name, allowed)
    if NO_CONCEPT_LOSS in names:
        if len(names) > 1:
            raise ValueError(
                f"concept losses {names!r} mix {NO_CONCEPT_LOSS!r} with regularisers; "
                f"give {NO_CONCEPT_LOSS!r} alone or only regulariser names."
            )
        return []
    duplicates = sorted({name for name in names if names.count(name) > 1})
    if duplicates:
        raise ValueError(f"concept losses {names!r} list {duplicates!r} more than once.")
    return names


# --------------------------------------------------------------------------------------------
# Weighting strategies
# --------------------------------------------------------------------------------------------

LOSS_WEIGHTINGS: dict[str, type[LossWeighting]] = {}


def register_loss_weighting(cls: type[LossWeighting]) -> type[LossWeighting]:
    """Class decorator: make a weighting strategy selectable by its ``name``."""
    if not cls.name or cls.name in LOSS_WEIGHTINGS:
        raise ValueError(f"loss weighting name {cls.name!r} is empty or already registered")
    LOSS_WEIGHTINGS[cls.name] = cls
    return cls


class LossWeighting(nn.Module):
    """Combines ``losses`` = [task, L_1, ..., L_K] (shape ``(K+1,)``) into one scalar.

    ``weights()`` returns the current multiplier of each entry in the total, task first;
    ``logged_weights()`` what is logged as ``weight_<name>`` (the same, except where the research
    logged another quantity under that name).
    """

    name: ClassVar[str] = ""
    # True for a strategy that has no minimum when a loss is negative (see ``check_weighting``).
    refuses_negative_losses: ClassVar[bool] = False

    def __init__(self, num_losses: int, loss_weight: float | None = None) -> None:
        super().__init__()
        if num_losses < 0:
            raise ValueError(f"num_losses={num_losses} must be >= 0.")
        self.num_losses = num_losses
        if loss_weight is not None and type(self) is not FixedWeighting:
            raise ValueError(
                f"loss_weight={loss_weight!r} is only used by weighting='fixed'; "
                f"weighting={self.name!r} learns its weights, so pass loss_weight=None."
            )

    def weights(self) -> Tensor:
        raise NotImplementedError

    def logged_weights(self) -> Tensor:
        return self.weights()


@register_loss_weighting
class FixedWeighting(LossWeighting):
    """total = task + Σ_k (loss_weight / K)·L_k: ``loss_weight`` split equally across the K
    regularisers, task weight 1 (the research protocol). No parameters."""

    name = "fixed"

    def __init__(self, num_losses: int, loss_weight: float | None = None) -> None:
        super().__init__(num_losses, loss_weight)
        weight = DEFAULT_FIXED_LOSS_WEIGHT if loss_weight is None else loss_weight
        if not (isinstance(weight, (int, float)) and math.isfinite(weight) and weight >= 0):
            raise ValueError(f"loss_weight={loss_weight!r} is invalid; use a finite float >= 0.")
        self.loss_weight = float(weight)
        each = self.loss_weight / num_losses if num_losses else 0.0
        # A non-persistent buffer follows .to(device) and stays out of state_dict().
        self.register_buffer("_weights", torch.tensor([1.0] + [each] * num_losses), persistent=False)

    def weights(self) -> Tensor:
        return self._weights

    def forward(self, losses: Tensor) -> Tensor:
        return (self._weights * losses).sum()


@register_loss_weighting
class LearnableWeighting(LossWeighting):
    """The research's learnable weights: softmax over the task and the K regularisers.

    weights = softmax(raw_weights), raw = 0 at start, so the weights sum to 1 and start equal
    (task 1/(K+1)); total = Σ weights·losses, learnt by the optimiser. Minimising the total moves
    weight onto the smallest loss (all of it onto a negative one: a warning says so).
    """

    name = "learnable"
    scale_by_count: ClassVar[bool] = False

    def __init__(self, num_losses: int, loss_weight: float | None = None) -> None:
        super().__init__(num_losses, loss_weight)
        self.raw_weights = nn.Parameter(torch.zeros(num_losses + 1))

    def weights(self) -> Tensor:
        weights = torch.softmax(self.raw_weights, dim=0)
        return (self.num_losses + 1) * weights if self.scale_by_count else weights

    def forward(self, losses: Tensor) -> Tensor:
        return (self.weights() * losses).sum()


@register_loss_weighting
class ScaledLearnableWeighting(LearnableWeighting):
    """``learnable`` times K+1 (Cogito's ``learnable`` until research parity).

    weights = (K+1)·softmax(raw_weights), so they sum to K+1 and the initial equal weights
    (raw = 0) reproduce the unweighted sum task + Σ L_k: the task keeps weight 1 at the start
    instead of 1/(K+1).
    """

    name = "learnable_scaled"
    scale_by_count = True


@register_loss_weighting
class KendallGalWeighting(LossWeighting):
    """Homoscedastic uncertainty weighting (Kendall, Gal & Cipolla, 2018), as the research ran it.

    One learnt log-variance s_i per loss, task included, initialised to 0:
    total = Σ_i ½·exp(-s_i)·L_i + ½·s_i. ``weights()`` returns each loss's multiplier in that
    total, ½·exp(-s_i); ``logged_weights()`` — what ``weight_<name>`` means in the logs — is the
    precision exp(-s_i), twice the multiplier, because that is what the research logged under
    this name (1.0 at initialisation).

    For a fixed L_i > 0 the term has its minimum at s_i = log L_i, multiplier 1/(2·L_i): bounded
    as long as the loss has a positive floor (``combined``: uniformity stays above ~exp(-4t)).
    For L_i < 0 the term falls without bound as s_i -> -inf: the weight runs away and the total
    goes to -inf. Regularisers that can go negative (``can_be_negative``: ``log_uniformity``,
    ``t_regs_mst``, ``t_regs_nn_log``, ``mst_length``, ``combined_per_sample``) are therefore
    refused with a ValueError. A loss that reaches exactly 0 (e.g. ``variance`` alone) still lets
    its s_i drift down at a constant rate: watch ``weight_<name>`` in the logs.
    """

    name = "kendall_gal"
    refuses_negative_losses: ClassVar[bool] = True

    def __init__(self, num_losses: int, loss_weight: float | None = None) -> None:
        super().__init__(num_losses, loss_weight)
        self.log_vars = nn.Parameter(torch.zeros(num_losses + 1))

    def weights(self) -> Tensor:
        return 0.5 * torch.exp(-self.log_vars)

    def logged_weights(self) -> Tensor:
        return torch.exp(-self.log_vars)

    def forward(self, losses: Tensor) -> Tensor:
        return (self.weights() * losses).sum() + 0.5 * self.log_vars.sum()


def check_weighting(losses: Sequence[str], weighting: str) -> None:
    """Refuse a weighting that cannot weigh these regularisers; warn where it is merely risky.

    Raises ValueError for an unknown name and for ``kendall_gal`` with a regulariser that can go
    negative (see ``KendallGalWeighting``); warns for ``learnable``/``learnable_scaled`` with one,
    whose weights then drift onto it.
    """
    if weighting not in LOSS_WEIGHTINGS:
        raise _unknown("loss weighting", weighting, list(LOSS_WEIGHTINGS))
    negative = [name for name in losses if name in CONCEPT_LOSSES and CONCEPT_LOSSES[name].can_be_negative]
    if not negative:
        return
    strategy = LOSS_WEIGHTINGS[weighting]
    safe = [name for name, cls in CONCEPT_LOSSES.items() if not cls.can_be_negative]
    if strategy.refuses_negative_losses:
        raise ValueError(
            f"loss weighting {weighting!r} cannot weigh {', '.join(map(repr, negative))}: it can go negative, and "
            f"Kendall-Gal's ½·exp(-s)·L + ½·s then has no minimum (the weight grows without bound and the total "
            f"falls to -inf). Use weighting 'fixed', or regularisers that stay >= 0: {', '.join(safe)}."
        )
    if issubclass(strategy, LearnableWeighting):
        logger.warning(
            "loss weighting %r with %s, which can go negative: minimising the total moves the learnt weight "
            "onto it and away from the task loss.",
            weighting,
            ", ".join(negative),
        )


# --------------------------------------------------------------------------------------------
# Entry point
# --------------------------------------------------------------------------------------------


@dataclass
class ConceptLossOutput:
    """What ``ConceptRegularizer`` returns.

    Attributes:
        loss: the total to back-propagate (scalar, fp32).
        task_loss: the task loss as given.
        metrics: detached scalars for logging, flat keys: ``task_loss``, ``concept_<name>``
            (raw value of each listed regulariser), ``concept_<name>_<part>`` (components of
            composites), ``weight_task`` and ``weight_<name>`` (current effective weights).
    """

    loss: Tensor
    task_loss: Tensor
    metrics: dict[str, Tensor] = field(default_factory=dict)

    @property
    def logs(self) -> dict[str, float]:
        """``metrics`` as Python floats (one device sync for all of them)."""
        if not self.metrics:
            return {}
        values = torch.stack([value.float().reshape(()) for value in self.metrics.values()])
        return dict(zip(self.metrics, values.tolist()))


class ConceptRegularizer(nn.Module):
    """Task loss + weighted concept regularisers.

    Args:
        losses: regulariser names (see ``CONCEPT_LOSSES``), or a string parsed by
            ``parse_concept_losses``; ``[]``/``"none"`` disables regularisation (total == task
            loss, no parameters).
        weighting: ``fixed``, ``learnable``, ``learnable_scaled`` or ``kendall_gal`` (see
            ``LOSS_WEIGHTINGS``); ``kendall_gal`` refuses regularisers that can go negative.
        loss_weight: total regulariser weight for ``fixed``, split equally across the losses;
            ``None`` means 0.1. Rejected by the learnt strategies, which ignore it.
        soft_ortho_threshold: |cos| threshold of ``soft_orthogonality``.
        uniformity_temperature: t of ``uniformity`` and ``log_uniformity`` (also inside the
            composites).

    Learnt weights are ordinary parameters of this module: add ``parameters()`` to the
    optimiser, save and restore them with ``state_dict()``, and move the module to the
    concepts' device.
    """

    def __init__(
        self,
        losses: str | Sequence[str] = (),
        weighting: str = "fixed",
        loss_weight: float | None = None,
        soft_ortho_threshold: float = 0.1,
        uniformity_temperature: float = 2.0,
    ) -> None:
        super().__init__()
        if weighting not in LOSS_WEIGHTINGS:
            raise _unknown("loss weighting", weighting, list(LOSS_WEIGHTINGS))
        options = ConceptLossOptions(
            soft_ortho_threshold=soft_ortho_threshold,
            uniformity_temperature=uniformity_temperature,
        )
        self.loss_names = parse_concept_losses(losses)
        check_weighting(self.loss_names, weighting)
        self.terms = nn.ModuleDict({name: build_concept_loss(name, options) for name in self.loss_names})
        if not self.loss_names and weighting != "fixed":
            # Nothing to weigh: a learnt task weight alone would only rescale the task loss.
            logger.warning("weighting=%r has no concept losses to weigh; the total is the task loss.", weighting)
            weighting = "fixed"
        self.weighting_name = weighting
        self.weighting = LOSS_WEIGHTINGS[weighting](len(self.loss_names), loss_weight)

    @property
    def enabled(self) -> bool:
        """Whether any regulariser is active."""
        return bool(self.loss_names)

    def forward(self, task_loss: Tensor, concept_states: Tensor) -> ConceptLossOutput:
        """Combine ``task_loss`` (scalar) with the regularisers of ``concept_states`` (B, C, H)."""
        if task_loss.dim() != 0:
            raise ValueError(f"task_loss must be a scalar tensor; got shape {tuple(task_loss.shape)}.")
        metrics: dict[str, Tensor] = {"task_loss": task_loss.detach()}
        if not self.enabled:
            metrics["weight_task"] = torch.ones((), device=task_loss.device)
            return ConceptLossOutput(loss=task_loss, task_loss=task_loss, metrics=metrics)

        values = [task_loss.float()]
        for name in self.loss_names:
            term = self.terms[name]
            components = term.components(concept_states)
            value = torch.stack(list(components.values())).sum()
            values.append(value)
            metrics[f"concept_{name}"] = value.detach()
            if isinstance(term, _CompositeConceptLoss):
                for part, part_value in components.items():
                    metrics[f"concept_{name}_{part}"] = part_value.detach()
        total = self.weighting(torch.stack(values))

        weights = self.weighting.logged_weights().detach()
        for key, weight in zip(["task", *self.loss_names], weights.unbind()):
            metrics[f"weight_{key}"] = weight
        return ConceptLossOutput(loss=total, task_loss=task_loss, metrics=metrics)

    def extra_repr(self) -> str:
        return f"losses={self.loss_names}, weighting={self.weighting_name!r}"
