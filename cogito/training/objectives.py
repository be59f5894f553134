"""Pretraining objectives: what a batch is corrupted into and which loss the trainer optimises.

* ``mlm`` — BERT masking (Devlin et al. 2019): the model's own sparse cross-entropy.
* ``mdlm`` — masked diffusion (Sahoo et al. 2024, MDLM; Nie et al. 2025, LLaDA): per sequence a
  time t ~ U(t_min, 1] (stratified across the batch), each real token masked with probability
  1 - α_t, the concept encoder reads the corrupted z_t and the loss is the NELBO estimate
  ``w(t) · Σ_masked −log p(x_i | z_t)`` with ``w(t) = −α'_t / (1 − α_t)`` (``1/t`` for the linear
  schedule), normalised by the number of real tokens: an upper bound on −log p(x) per token.
* ``tsdae`` — denoising auto-encoder (Wang et al. 2021): a fraction of the tokens is deleted, the
  concepts of the shortened text must reconstruct the whole original through a position-only
  decoder (:class:`cogito.data.text.TSDAECollator`).

Each objective gives the trainer a collator and a ``__call__(model, inputs)`` that returns the
model outputs (``loss`` = the objective's loss) and the labels scored. :func:`generate` fills the
``[MASK]`` slots of a prompt by iterative low-confidence remasking (LLaDA).
"""

from __future__ import annotations

import math
import zlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F

IGNORE_INDEX = -100


@dataclass(frozen=True)
class ObjectiveInfo:
    """How the command line, logs and model cards describe an objective."""

    description: str
    loss_name: str  # what its eval_loss is, capitalised for a table row


# The one registry of objective names.
OBJECTIVES: dict[str, ObjectiveInfo] = {
    "mlm": ObjectiveInfo("masked language modelling (BERT masking)", "MLM loss"),
    "mdlm": ObjectiveInfo(
        "masked diffusion (MDLM, Sahoo et al. 2024): the loss is a NELBO bound on -log p(x) per token",
        "NELBO per token",
    ),
    "tsdae": ObjectiveInfo(
        "denoising auto-encoding (TSDAE, Wang et al. 2021): the text is reconstructed from the concepts of a copy "
        "with tokens deleted",
        "Reconstruction loss",
    ),
}

NOISE_SCHEDULES: tuple[str, ...] = ("linear", "log_linear")
# α_t of the log-linear schedule never reaches 0, as in MDLM's code: 1 − (1 − ε) t.
LOG_LINEAR_EPS = 1e-3
# Decoders that query by position only: the only ones that can decode targets longer than the input.
POSITION_ONLY_DECODERS: tuple[str, ...] = ("weighted", "perceiver_posonly")


def check_objective(name: str) -> str:
    if name not in OBJECTIVES:
        raise ValueError(f"--objective must be one of {', '.join(OBJECTIVES)}; got {name!r}")
    return name


# ---------------------------------------------------------------------------------------------
# Masked diffusion: schedule, time sampling, corruption, loss
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class NoiseSchedule:
    """α_t, the probability that a token is still clean at time t ∈ (0, 1].

    ``linear``: α_t = 1 − t. ``log_linear`` (MDLM's default): α_t = 1 − (1 − ε) t, ε = 1e-3, i.e.
    σ(t) = −log(1 − (1 − ε) t) grows log-linearly. Both give the NELBO weight w(t) = 1/t.
    """

    name: str = "linear"

    def __post_init__(self) -> None:
        if self.name not in NOISE_SCHEDULES:
            raise ValueError(f"noise schedule must be one of {', '.join(NOISE_SCHEDULES)}; got {self.name!r}")

    def mask_probability(self, t: torch.Tensor) -> torch.Tensor:
        """1 − α_t: the chance that a token is masked at time t."""
        return t if self.name == "linear" else (1.0 - LOG_LINEAR_EPS) * t

    def weight(self, t: torch.Tensor) -> torch.Tensor:
        """The continuous-time NELBO weight −α'_t / (1 − α_t) (MDLM eq. 10)."""
        derivative = torch.ones_like(t) if self.name == "linear" else torch.full_like(t, 1.0 - LOG_LINEAR_EPS)
        return derivative / self.mask_probability(t)


def sample_times(
    batch_size: int,
    t_min: float = 0.0,
    generator: torch.Generator | None = None,
    device: torch.device | str | None = None,
    stratified: bool = True,
) -> torch.Tensor:
    """`(B,)` times in (t_min, 1]: one uniform offset shared by B equal strata (MDLM's
    low-discrepancy sampler), so each t is marginally uniform and the batch covers (0, 1] evenly.
    ``stratified=False`` gives the midpoint of each stratum: a fixed grid for evaluation."""
    offset = torch.rand((), generator=generator).item() if stratified else 0.5
    u = (torch.arange(batch_size, dtype=torch.float64) + offset) / batch_size  # [0, 1)
    t = 1.0 - u  # (0, 1]
    return (t_min + (1.0 - t_min) * t).to(device=device, dtype=torch.float32)


def corrupt(
    input_ids: torch.Tensor,
    maskable: torch.Tensor,
    t: torch.Tensor,
    schedule: NoiseSchedule,
    mask_token_id: int,
    generator: torch.Generator | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """z_t and the labels: each maskable token of row b becomes ``[MASK]`` with probability
    1 − α_{t_b}; labels hold the clean ids at the masked positions, -100 elsewhere."""
    draws = torch.rand(input_ids.shape, generator=generator).to(input_ids.device)  # (B, N)
    masked = maskable & (draws < schedule.mask_probability(t).to(input_ids.device)[:, None])
    noisy = input_ids.masked_fill(masked, mask_token_id)
    labels = input_ids.masked_fill(~masked, IGNORE_INDEX)
    return noisy, labels


def weighted_nelbo(
    logits: torch.Tensor, labels: torch.Tensor, row_weights: torch.Tensor, num_real_tokens: torch.Tensor | int
) -> torch.Tensor:
    """Σ_b w_b Σ_{masked i of b} −log p(x_i | z) / (number of real tokens).

    ``logits`` are the model's sparse scores `(M, V)` at ``labels != -100`` in row-major order.
    """
    selected = labels != IGNORE_INDEX  # (B, N)
    token_loss = F.cross_entropy(logits.float(), labels[selected], reduction="none")  # (M,)
    rows = selected.nonzero()[:, 0]  # the row of each labelled token, in the same order
    total = (row_weights.to(token_loss.dtype)[rows] * token_loss).sum()
    return total / torch.as_tensor(num_real_tokens, dtype=total.dtype, device=total.device).clamp(min=1)


# ---------------------------------------------------------------------------------------------
# Objectives
# ---------------------------------------------------------------------------------------------


class PretrainingObjective:
    """The MLM objective, and the interface the trainer calls: the model's loss as it is."""

    name = "mlm"
    # The trainer normalises the loss by the labelled tokens of all accumulated micro-batches
    # (the model's `num_items_in_batch`) only when the objective uses the model's own loss.
    uses_model_loss = True

    def __call__(self, model, inputs: Mapping[str, Any], **loss_kwargs) -> tuple[Any, torch.Tensor | None]:
        """Model outputs (``loss`` = this objective's loss) and the labels it scored."""
        return model(**inputs, **loss_kwargs), inputs.get("labels")

    def config_record(self) -> dict[str, Any]:
        """What is saved in the model config (``pretraining_objective``)."""
        return {"name": self.name}

    def description(self) -> str:
        return OBJECTIVES[self.name].description


class TSDAEObjective(PretrainingObjective):
    """Token-deletion auto-encoder: the collator deletes, the model's reconstruction loss is the loss."""

    name = "tsdae"

    def __init__(self, deletion_ratio: float = 0.6):
        if not 0 < deletion_ratio < 1:
            raise ValueError(f"--deletion_ratio must be in (0, 1), got {deletion_ratio!r}")
        self.deletion_ratio = deletion_ratio

    def config_record(self) -> dict[str, Any]:
        return {"name": self.name, "deletion_ratio": self.deletion_ratio}


class MDLMObjective(PretrainingObjective):
    """Masked diffusion; see the module docstring. Corruption happens here, on the batch's device.

    Training draws t and the masks from torch's global generator (saved in every checkpoint, so a
    resumed run continues the same sequence). Evaluation is deterministic: t on a fixed midpoint
    grid and masks from a generator seeded by the batch's content, ``eval_samples`` times per
    sequence, so two evaluations of one checkpoint give the same NELBO.
    """

    name = "mdlm"
    uses_model_loss = False

    def __init__(
        self,
        mask_token_id: int,
        special_token_ids: Sequence[int] = (),
        noise_schedule: str = "linear",
        t_min: float = 0.0,
        eval_samples: int = 1,
        eval_seed: int = 0,
    ):
        if mask_token_id is None:
            raise ValueError("mdlm needs a tokenizer with a mask token")
        if not 0 <= t_min < 1:
            raise ValueError(f"--t_min must be in [0, 1), got {t_min!r}")
        if eval_samples < 1:
            raise ValueError(f"--mdlm_eval_samples must be >= 1, got {eval_samples!r}")
        self.mask_token_id = int(mask_token_id)
        self.special_token_ids = sorted({int(i) for i in special_token_ids} | {self.mask_token_id})
        self.schedule = NoiseSchedule(noise_schedule)
        self.t_min = float(t_min)
        self.eval_samples = int(eval_samples)
        self.eval_seed = int(eval_seed)

    def config_record(self) -> dict[str, Any]:
        return {"name": self.name, "noise_schedule": self.schedule.name, "t_min": self.t_min}

    def real_tokens(self, input_ids: torch.Tensor, attention_mask: torch.Tensor | None) -> torch.Tensor:
        """`(B, N)` True at the tokens diffusion may mask: not padding, not special."""
        specials = torch.tensor(self.special_token_ids, device=input_ids.device)
        real = ~torch.isin(input_ids, specials)
        return real if attention_mask is None else real & attention_mask.bool()

    def _eval_generator(self, input_ids: torch.Tensor) -> torch.Generator:
        checksum = zlib.crc32(input_ids.detach().cpu().numpy().tobytes())
        return torch.Generator().manual_seed(self.eval_seed * 1_000_003 + checksum)

    def __call__(self, model, inputs: Mapping[str, Any], **loss_kwargs) -> tuple[Any, torch.Tensor]:
        inputs = {k: v for k, v in inputs.items() if k not in ("labels", "special_tokens_mask")}
        input_ids = inputs.pop("input_ids")
        attention_mask = inputs.pop("attention_mask", None)
        training = model.training
        generator = None if training else self._eval_generator(input_ids)
        repeats = 1 if training else self.eval_samples
        if repeats > 1:
            input_ids = input_ids.repeat(repeats, 1)  # (R·B, N)
            attention_mask = attention_mask.repeat(repeats, 1) if attention_mask is not None else None
        real = self.real_tokens(input_ids, attention_mask)
        t = sample_times(input_ids.shape[0], self.t_min, generator, input_ids.device, stratified=training)
        if not training:
            t = t[torch.randperm(t.shape[0], generator=generator).to(t.device)]
        noisy, labels = corrupt(input_ids, real, t, self.schedule, self.mask_token_id, generator)
        outputs = model(input_ids=noisy, attention_mask=attention_mask, labels=labels, **inputs)
        # A uniform t on (t_min, 1] has density 1 / (1 − t_min): the factor keeps the estimate of
        # ∫_{t_min}^1 unbiased (t_min > 0 drops ∫_0^{t_min}, a truncated bound).
        weights = self.schedule.weight(t) * (1.0 - self.t_min)
        if bool((labels != IGNORE_INDEX).any()):
            loss = weighted_nelbo(outputs["logits"], labels, weights, real.sum())
        else:  # nothing masked: a zero that still reaches every parameter (DDP)
            loss = (outputs["logits"].sum() + outputs["concept_states"].sum()) * 0.0
        outputs["loss"] = loss
        return outputs, labels


def build_objective(
    name: str,
    tokenizer,
    noise_schedule: str = "linear",
    t_min: float = 0.0,
    deletion_ratio: float = 0.6,
    eval_samples: int = 1,
    seed: int = 0,
) -> PretrainingObjective:
    """The objective called ``name``, set up for ``tokenizer``."""
    check_objective(name)
    if name == "mdlm":
        return MDLMObjective(
            tokenizer.mask_token_id,
            tokenizer.all_special_ids,
            noise_schedule=noise_schedule,
            t_min=t_min,
            eval_samples=eval_samples,
            eval_seed=seed,
        )
    if name == "tsdae":
        return TSDAEObjective(deletion_ratio)
    return PretrainingObjective()


def objective_collator(
    objective: PretrainingObjective,
    tokenizer,
    mlm_probability: float = 0.15,
    whole_word_masking: bool = False,
):
    """The data collator an objective trains with."""
    from cogito.data.text import TSDAECollator, mlm_collator

    if isinstance(objective, TSDAEObjective):
        return TSDAECollator(tokenizer, deletion_ratio=objective.deletion_ratio)
    if isinstance(objective, MDLMObjective):
        return PaddingCollator(tokenizer)
    return mlm_collator(tokenizer, mlm_probability=mlm_probability, whole_word_masking=whole_word_masking)


@dataclass
class PaddingCollator:
    """Pads ``input_ids`` and ``attention_mask`` only: masked diffusion corrupts on the device."""

    tokenizer: Any

    def __call__(self, examples: list[Mapping[str, Any]]) -> dict[str, torch.Tensor]:
        rows = [list(e["input_ids"]) for e in examples]
        longest = max(len(r) for r in rows)
        pad = self.tokenizer.pad_token_id
        input_ids = torch.tensor([r + [pad] * (longest - len(r)) for r in rows], dtype=torch.long)
        attention_mask = torch.tensor([[1] * len(r) + [0] * (longest - len(r)) for r in rows], dtype=torch.long)
        return {"input_ids": input_ids, "attention_mask": attention_mask}


# ---------------------------------------------------------------------------------------------
# Evaluation floors: what a predictor that ignores the context scores on the same positions
# ---------------------------------------------------------------------------------------------


class MaskedLMFloors:
    """Counts over the evaluated positions, and the losses/accuracies of context-free predictors.

    ``update`` takes the labels `(B, N)` (``IGNORE_INDEX`` where nothing is predicted) and the tokens
    the model was shown there. With u = the label frequencies over all predicted positions and
    u_m = those over the ``[MASK]`` positions (both from this same data, so an in-sample optimum):

    * ``unigram``: predict u everywhere: loss = entropy of the labels, accuracy = share of the most
      frequent label.
    * ``mask``: predict u_m at ``[MASK]`` positions only (beside the ``[MASK]``-only metrics).
    * ``no_context``: u_m at ``[MASK]``; elsewhere (BERT's 10% random and 10% unchanged tokens) copy
      the shown token with probability q, the share of those positions whose label is the shown
      token, and spread 1 − q by u: p(y | s) = q·[y = s] + (1 − q)·u(y); its accuracy copies s.
    """

    def __init__(self) -> None:
        self.counts: dict[str, torch.Tensor] = {}

    def update(self, labels: torch.Tensor, shown: torch.Tensor, mask_token_id: int, vocab_size: int) -> None:
        selected = labels != IGNORE_INDEX
        y, s = labels[selected], shown[selected]  # (M,)
        at_mask = s == mask_token_id
        same = ~at_mask & (y == s)
        groups = {"all": y, "mask": y[at_mask], "same": y[same], "other": y[~at_mask & ~same]}
        for key, values in groups.items():
            count = torch.bincount(values, minlength=vocab_size).double()
            self.counts[key] = self.counts[key] + count if key in self.counts else count

    def floors(self) -> dict[str, float]:
        """``{unigram,mask,no_context}_{loss,accuracy}``; empty before any position was counted."""
        if not self.counts or float(self.counts["all"].sum()) == 0:
            return {}
        all_, mask, same, other = (self.counts[k].cpu() for k in ("all", "mask", "same", "other"))
        total, masked = float(all_.sum()), float(mask.sum())
        u = all_ / total

        def cross_entropy(counts: torch.Tensor, probabilities: torch.Tensor) -> float:
            used = counts > 0  # 0·log 0 = 0; every counted label has a positive probability
            return float(-(counts[used] * probabilities[used].log()).sum())

        out = {"unigram_loss": cross_entropy(all_, u) / total, "unigram_accuracy": float(all_.max()) / total}
        mask_nll = mask_correct = 0.0
        if masked > 0:
            u_mask = mask / masked
            mask_nll, mask_correct = cross_entropy(mask, u_mask), float(mask.max())
            out.update(mask_loss=mask_nll / masked, mask_accuracy=mask_correct / masked)
        rest = float(same.sum() + other.sum())
        q = float(same.sum()) / rest if rest > 0 else 0.0
        rest_nll = cross_entropy(same, q + (1 - q) * u) + (cross_entropy(other, (1 - q) * u) if q < 1 else 0.0)
        out["no_context_loss"] = (mask_nll + rest_nll) / total
        out["no_context_accuracy"] = (mask_correct + float(same.sum())) / total
        return out


# ---------------------------------------------------------------------------------------------
# Generation
# ---------------------------------------------------------------------------------------------


@torch.no_grad()
def generate(
    model,
    input_ids: torch.Tensor,
    attention_mask: torch.Tensor | None = None,
    steps: int = 8,
    mask_token_id: int | None = None,
    noise_schedule: str | None = None,
    temperature: float = 0.0,
    forbidden_token_ids: Sequence[int] | None = None,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """Fill every ``[MASK]`` of ``input_ids`` `(B, N)` in ``steps`` reverse-diffusion steps.

    Each step predicts every still-masked slot (argmax, or a sample at ``temperature`` > 0) and
    keeps the most confident predictions, re-masking the rest (LLaDA's low-confidence remasking)
    so that after step s a fraction (1 − α_{t_s}) / (1 − α_1), t_s = 1 − s/steps, stays masked;
    the last step fills every slot. Given tokens are never changed; special tokens are never
    predicted (``forbidden_token_ids``, default the config's pad/cls/sep/mask ids).
    """
    config = model.config
    mask_token_id = config.mask_token_id if mask_token_id is None else mask_token_id
    if mask_token_id is None:
        raise ValueError("generate needs a mask_token_id (the config has none)")
    if steps < 1:
        raise ValueError(f"steps must be >= 1, got {steps!r}")
    if not (temperature >= 0 and math.isfinite(temperature)):
        raise ValueError(f"temperature must be a finite number >= 0, got {temperature!r}")
    if noise_schedule is None:
        noise_schedule = (getattr(config, "pretraining_objective", None) or {}).get("noise_schedule", "linear")
    schedule = NoiseSchedule(noise_schedule)
    if forbidden_token_ids is None:
        forbidden_token_ids = [
            i for i in (config.pad_token_id, config.cls_token_id, config.sep_token_id, mask_token_id) if i is not None
        ]
    forbidden = torch.tensor(sorted(set(forbidden_token_ids)), dtype=torch.long, device=input_ids.device)
    was_training = model.training
    model.eval()
    current = input_ids.clone()
    slots = current == mask_token_id
    if attention_mask is not None:
        slots &= attention_mask.bool()
    initial = slots.sum(dim=1)  # (B,)
    full = schedule.mask_probability(torch.ones(()))
    try:
        for step in range(1, steps + 1):
            masked = (current == mask_token_id) & slots  # (B, N)
            if not masked.any():
                break
            t = torch.tensor(1.0 - step / steps)
            remain = torch.floor(initial.float() * schedule.mask_probability(t) / full).long()  # (B,)
            labels = torch.where(masked, torch.zeros_like(current), torch.full_like(current, IGNORE_INDEX))
            logits = model(input_ids=current, attention_mask=attention_mask, labels=labels)["logits"].float()
            logits[:, forbidden] = float("-inf")  # (M, V)
            if temperature > 0:
                probs = F.softmax(logits / temperature, dim=-1)
                choice = torch.multinomial(probs.cpu(), 1, generator=generator).squeeze(1).to(logits.device)
            else:
                choice = logits.argmax(dim=-1)
            confidence = F.softmax(logits, dim=-1).gather(1, choice[:, None]).squeeze(1)  # (M,)
            scores = torch.full(current.shape, -math.inf, device=current.device)
            scores[masked] = confidence
            proposal = torch.zeros_like(current)
            proposal[masked] = choice
            # Unmask the (masked − remain) most confident slots of each row.
            commit = (masked.sum(dim=1) - remain).clamp(min=0)  # (B,)
            rank = scores.argsort(dim=1, descending=True).argsort(dim=1)  # (B, N) rank of each slot
            unmask = masked & (rank < commit[:, None])
            current = torch.where(unmask, proposal, current)
    finally:
        model.train(was_training)
    return current
