"""Concept regularisers and the strategies that weigh them against the task (MLM) loss.

Training-side code: the model files never import this module. Every regulariser reads the
concept states ``(B, C, H)`` a concept encoder returns, computes in fp32 with autocast disabled
(bf16 cosines of near-identical concepts round to exactly 1), and returns a differentiable scalar.

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
        uniformity_temperature: ``t`` in the uniformity loss ``log E exp(-t·||z_i - z_j||²)``.
        mst_eps: added to the squared nearest-neighbour distance of ``t_regs_mst`` before the
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


@register_concept_loss
class UniformityLoss(ConceptLoss):
    """Uniformity on the unit hypersphere (Wang & Isola, 2020), over the concepts of a sample.

    With ẑ_i = z_i / ||z_i||, per sample::

        U_b = log( 1 / (C·(C-1)) · Σ_{i≠j} exp(-t·||ẑ_i - ẑ_j||²) ),   ||ẑ_i - ẑ_j||² = 2 - 2·cos

    and the loss is mean_b U_b. It is 0 when all concepts coincide, never positive, and
    decreases as they spread out (bounded below by -4t). Computed with logsumexp for stability.
    """

    name = "uniformity"

    def compute(self, z: Tensor) -> Tensor:
        sq_dist = _off_diagonal(_unit_sq_distances(z))  # (B, C·(C-1))
        pairs = sq_dist.shape[1]
        per_sample = torch.logsumexp(-self.options.uniformity_temperature * sq_dist, dim=1)
        return (per_sample - math.log(pairs)).mean()


@register_concept_loss
class VarianceLoss(ConceptLoss):
    """VICReg variance hinge (Bardes et al., 2022), across the concepts of each sample.

    std_h = sqrt(Var_i(z_ih) + 1e-4) with the unbiased variance over the C concepts;
    loss = mean_h relu(1 - std_h) per sample, batch mean. 0 when every dimension has std >= 1,
    ~0.99 for constant concepts.
    """

    name = "variance"

    def compute(self, z: Tensor) -> Tensor:
        std = torch.sqrt(z.var(dim=1) + 1e-4)  # (B, H)
        return F.relu(1.0 - std).mean(dim=1).mean()


@register_concept_loss
class CovarianceLoss(ConceptLoss):
    """VICReg covariance term, across the concepts of each sample.

    cov = Zcᵀ·Zc / (C - 1) with Zc the concepts centred over C, an (H, H) matrix per sample;
    loss = Σ_{h≠k} cov_hk² / H per sample, batch mean.
    """

    name = "covariance"

    def compute(self, z: Tensor) -> Tensor:
        num_concepts, hidden = z.shape[1], z.shape[2]
        centred = z - z.mean(dim=1, keepdim=True)  # (B, C, H)
        cov = centred.transpose(1, 2) @ centred / (num_concepts - 1)  # (B, H, H)
        return _off_diagonal(cov).pow(2).sum(dim=1).div(hidden).mean()


@register_concept_loss
class TRegsMSTLoss(ConceptLoss):
    """Nearest-neighbour spreading of unit-normalised concepts, a proxy for the MST length of
    T-REGS (Mordacq et al., 2025): each concept's nearest neighbour bounds its MST edge.

    Per sample, with ẑ unit-normalised and d_i² = min_{j≠i} ||ẑ_i - ẑ_j||²::

        loss_b = -mean_i log( sqrt(d_i² + eps) )

    batch mean. eps (``mst_eps``) sits inside the root so coincident concepts give a finite loss
    (≈ -½·log eps) and finite gradients. Larger for clustered concepts than for spread ones.
    """

    name = "t_regs_mst"

    def compute(self, z: Tensor) -> Tensor:
        sq_dist = _unit_sq_distances(z)  # (B, C, C)
        self_pairs = torch.eye(sq_dist.shape[-1], dtype=torch.bool, device=z.device)
        nearest_sq = sq_dist.masked_fill(self_pairs, float("inf")).amin(dim=2)  # (B, C)
        return -torch.log(torch.sqrt(nearest_sq + self.options.mst_eps)).mean(dim=1).mean()


@register_concept_loss
class VICRegLoss(_CompositeConceptLoss):
    """VICReg without the invariance term: ``variance + covariance``."""

    name = "vicreg"
    parts = ("variance", "covariance")


@register_concept_loss
class CombinedLoss(_CompositeConceptLoss):
    """``variance + uniformity``, the research runs' ``combined``."""

    name = "combined"
    parts = ("variance", "uniformity")


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

    ``weights()`` returns the current effective weight of each entry, task first, for logging.
    """

    name: ClassVar[str] = ""

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
    """Softmax weights over the task and the K regularisers, learnt by the optimiser.

    weights = (K+1)·softmax(raw_weights), so they sum to K+1 and the initial equal weights
    (raw = 0) reproduce the unweighted sum task + Σ L_k. total = Σ weights·losses. Note that
    minimising the total moves weight onto the smallest (possibly negative) loss.
    """

    name = "learnable"

    def __init__(self, num_losses: int, loss_weight: float | None = None) -> None:
        super().__init__(num_losses, loss_weight)
        self.raw_weights = nn.Parameter(torch.zeros(num_losses + 1))

    def weights(self) -> Tensor:
        return (self.num_losses + 1) * torch.softmax(self.raw_weights, dim=0)

    def forward(self, losses: Tensor) -> Tensor:
        return (self.weights() * losses).sum()


@register_loss_weighting
class KendallGalWeighting(LossWeighting):
    """Homoscedastic uncertainty weighting (Kendall, Gal & Cipolla, 2018).

    One learnt log-variance s_i per loss, task included, initialised to 0:
    total = Σ_i ½·exp(-s_i)·L_i + ½·s_i; effective weights ½·exp(-s_i).
    Left as published: a negative loss (uniformity, t_regs_mst) drives its s_i down without
    bound, and the research runs saw the task weight shrink and the total go negative. Log
    ``weights()`` to watch it.
    """

    name = "kendall_gal"

    def __init__(self, num_losses: int, loss_weight: float | None = None) -> None:
        super().__init__(num_losses, loss_weight)
        self.log_vars = nn.Parameter(torch.zeros(num_losses + 1))

    def weights(self) -> Tensor:
        return 0.5 * torch.exp(-self.log_vars)

    def forward(self, losses: Tensor) -> Tensor:
        return (self.weights() * losses).sum() + 0.5 * self.log_vars.sum()


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
        weighting: ``fixed``, ``learnable`` or ``kendall_gal`` (see ``LOSS_WEIGHTINGS``).
        loss_weight: total regulariser weight for ``fixed``, split equally across the losses;
            ``None`` means 0.1. Rejected by the learnt strategies, which ignore it.
        soft_ortho_threshold: |cos| threshold of ``soft_orthogonality``.
        uniformity_temperature: t of ``uniformity`` (also inside ``combined``).

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

        weights = self.weighting.weights().detach()
        for key, weight in zip(["task", *self.loss_names], weights.unbind()):
            metrics[f"weight_{key}"] = weight
        return ConceptLossOutput(loss=total, task_loss=task_loss, metrics=metrics)

    def extra_repr(self) -> str:
        return f"losses={self.loss_names}, weighting={self.weighting_name!r}"
