"""Pretraining through the Hugging Face `Trainer`, with concept regularisers.

The task loss comes from the pretraining objective (`cogito.training.objectives`: mlm, mdlm, tsdae).

`CogitoTrainer` adds the weighted concept regularisers of `cogito.training.losses` to the model's task
loss, reading the `concept_states` the model already returns (no second forward pass); it logs
each regulariser, each weight and the throughput at every logging step, reports MLM accuracy,
perplexity and concept geometry at evaluation (with seeded masks: two evaluations of one checkpoint
give the same numbers), the loss and accuracy at ``[MASK]`` positions alone and the floors of
context-free predictors on the same positions, keeps learnable loss weights in checkpoints, and
stops on a non-finite loss.
"""

from __future__ import annotations

import math
import os
import time
from dataclasses import dataclass, field
from pathlib import Path

import torch
import torch.distributed as dist
import torch.nn.functional as F
from transformers import Trainer, TrainerCallback, TrainingArguments
from transformers.trainer_utils import PREFIX_CHECKPOINT_DIR
from transformers.utils import logging

from cogito._io import atomic_write
from cogito.evaluation.geometry import concept_geometry
from cogito.modeling_cogito import IGNORE_INDEX
from cogito.training.losses import (
    CONCEPT_LOSSES,
    LOSS_WEIGHTINGS,
    ConceptRegularizer,
    check_weighting,
    parse_concept_losses,
)
from cogito.training.objectives import MaskedLMFloors, PretrainingObjective

logger = logging.get_logger(__name__)

REGULARIZER_STATE_NAME = "concept_regularizer.pt"
# Geometry metrics that go into the evaluation log (the analysis report has them all).
EVAL_GEOMETRY_KEYS = (
    "effective_rank",
    "effective_rank_normalized",
    "input_dependence",
    "entropy_effective_rank",
    "top1_dominance",
    "mean_abs_cosine",
)


class NonFiniteLossError(RuntimeError):
    """Training produced a NaN or infinite loss; checkpoints written before it are intact."""


@dataclass
class CogitoTrainingArguments(TrainingArguments):
    """`TrainingArguments` plus the concept-regulariser flags of the research scripts."""

    concept_losses: str = field(
        default="none",
        metadata={
            "help": "Space-separated concept regularisers, or 'none'. Choices: " + ", ".join(CONCEPT_LOSSES) + "."
        },
    )
    loss_weighting: str = field(
        default="fixed",
        metadata={"help": "How regularisers are weighted against the MLM loss: " + ", ".join(LOSS_WEIGHTINGS) + "."},
    )
    loss_weight: float | None = field(
        default=None,
        metadata={
            "help": "Total regulariser weight for --loss_weighting fixed, split equally across the listed losses "
            "(default 0.1). Rejected with learnable / kendall_gal, which learn their weights."
        },
    )
    soft_ortho_threshold: float = field(
        default=0.1, metadata={"help": "|cos| below which soft_orthogonality does not penalise."}
    )
    uniformity_temperature: float = field(default=2.0, metadata={"help": "t of the uniformity loss."})
    eval_concept_samples: int = field(
        default=512, metadata={"help": "Evaluation sequences whose concept states feed the geometry metrics."}
    )

    def __post_init__(self):
        super().__post_init__()
        self.concept_losses = " ".join(parse_concept_losses(self.concept_losses)) or "none"
        if self.loss_weighting not in LOSS_WEIGHTINGS:
            raise ValueError(
                f"--loss_weighting must be one of {', '.join(LOSS_WEIGHTINGS)}; got {self.loss_weighting!r}"
            )
        check_weighting(self.concept_losses.split(), self.loss_weighting)  # before any model is built
        if self.concept_losses == "none" and (self.loss_weighting != "fixed" or self.loss_weight is not None):
            raise ValueError(
                f"--loss_weighting {self.loss_weighting} / --loss_weight {self.loss_weight} weight concept "
                "regularisers, but --concept_losses is none; name the regularisers or drop these flags"
            )
        if self.eval_concept_samples < 0:
            raise ValueError(f"--eval_concept_samples must be >= 0, got {self.eval_concept_samples}")


def latest_complete_checkpoint(output_dir: str | os.PathLike) -> str | None:
    """The newest `checkpoint-N` folder whose trainer state was written.

    The Trainer writes `trainer_state.json` last, so a folder without it is what a process killed
    mid-save leaves behind; resuming from it would fail or lose state.
    """
    folder = Path(output_dir)
    if not folder.is_dir():
        return None
    candidates = []
    for path in folder.glob(f"{PREFIX_CHECKPOINT_DIR}-*"):
        suffix = path.name[len(PREFIX_CHECKPOINT_DIR) + 1 :]
        if suffix.isdigit() and (path / "trainer_state.json").is_file():
            candidates.append((int(suffix), path))
    return str(max(candidates)[1]) if candidates else None


class CogitoTrainer(Trainer):
    """`Trainer` whose loss is the model's task loss plus weighted concept regularisers."""

    args: CogitoTrainingArguments

    def __init__(self, *args, objective: PretrainingObjective | None = None, **kwargs):
        super().__init__(*args, **kwargs)
        if not isinstance(self.args, CogitoTrainingArguments):
            raise TypeError(f"CogitoTrainer needs CogitoTrainingArguments, got {type(self.args).__name__}")
        # What the batch is corrupted into and which loss is the task loss (cogito.training.objectives).
        self.objective = objective if objective is not None else PretrainingObjective()
        if not self.objective.uses_model_loss:
            # The objective normalises each micro-batch itself; the Trainer averages over accumulation.
            self.model_accepts_loss_kwargs = False
        losses = parse_concept_losses(self.args.concept_losses)
        self.concept_regularizer = ConceptRegularizer(
            losses,
            weighting=self.args.loss_weighting,
            loss_weight=self.args.loss_weight,
            soft_ortho_threshold=self.args.soft_ortho_threshold,
            uniformity_temperature=self.args.uniformity_temperature,
        ).to(self.args.device)
        for parameter in self.concept_regularizer.parameters():
            # These weights live outside the DDP-wrapped model: average their gradients by hand so
            # every process keeps the same weights.
            parameter.register_post_accumulate_grad_hook(_average_gradient_across_processes)
        self._reset_log_accumulators()
        self._eval_concepts: list[torch.Tensor] = []
        # Throughput is measured from the first step of this process, also after a resume.
        self.add_callback(_ResetThroughputAtTrainBegin(self))

    # ------------------------------------------------------------------ optimisation

    def create_optimizer(self, *args, **kwargs):
        optimizer = super().create_optimizer(*args, **kwargs)
        params = list(self.concept_regularizer.parameters())
        already = {id(p) for group in optimizer.param_groups for p in group["params"]}
        if params and not any(id(p) in already for p in params):
            optimizer.add_param_group({"params": params, "weight_decay": 0.0})
        return optimizer

    def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
        scaled = self.model_accepts_loss_kwargs and num_items_in_batch is not None
        extra = {"num_items_in_batch": num_items_in_batch} if scaled else {}
        outputs, _ = self.objective(model, inputs, **extra)
        task_loss = outputs["loss"]
        steps = self.current_gradient_accumulation_steps if scaled else 1
        if scaled:
            if self.args.average_tokens_across_devices:
                # Mirror Trainer.compute_loss: num_items_in_batch counts every process's tokens.
                task_loss = task_loss * self.accelerator.num_processes
            # The model returned this micro-batch's share of the accumulated mean; the weighting
            # wants a full-batch loss, so scale up, weight, and scale the result back down.
            task_loss = task_loss * steps
        result = self.concept_regularizer(task_loss, outputs.get("concept_states"))
        loss = result.loss / steps if scaled else result.loss
        if model.training:
            self._accumulate_logs(result.metrics, inputs)
        return (loss, outputs) if return_outputs else loss

    def training_step(self, model, inputs, num_items_in_batch=None):
        loss = super().training_step(model, inputs, num_items_in_batch)
        if not torch.isfinite(loss):
            last = latest_complete_checkpoint(self.args.output_dir)
            raise NonFiniteLossError(
                f"training loss became {loss.item()} at step {self.state.global_step + 1}; stopping. "
                f"Last good checkpoint: {last or 'none written yet'}. Lower --learning_rate, set "
                f"--max_grad_norm, or check the data, then resume with --resume_from_checkpoint {last or '<dir>'}."
            )
        return loss

    # ------------------------------------------------------------------ logging

    def _reset_log_accumulators(self) -> None:
        self._log_sums: dict[str, torch.Tensor] = {}
        self._log_count = 0
        self._log_tokens = 0
        self._log_started = time.perf_counter()
        self._log_step = self.state.global_step if hasattr(self, "state") else 0

    def _accumulate_logs(self, metrics: dict[str, torch.Tensor], inputs) -> None:
        for key, value in metrics.items():
            value = value.detach().float()
            self._log_sums[key] = self._log_sums[key] + value if key in self._log_sums else value
        self._log_count += 1
        mask = inputs.get("attention_mask")
        tokens = mask.sum() if mask is not None else torch.tensor(inputs["input_ids"].numel())
        self._log_tokens = self._log_tokens + tokens.detach()

    def log(self, logs: dict[str, float], start_time: float | None = None) -> None:
        # Extra scalars must be added here: callbacks' on_log runs after the W&B callback has sent.
        if "loss" in logs and self._log_count:
            for key, total in self._log_sums.items():
                logs[key] = round(float(total) / self._log_count, 6)
            elapsed = max(time.perf_counter() - self._log_started, 1e-9)
            tokens = float(self._log_tokens) * self.args.world_size
            logs["tokens_per_second"] = round(tokens / elapsed, 2)
            logs["steps_per_second"] = round((self.state.global_step - self._log_step) / elapsed, 4)
            self._reset_log_accumulators()
        super().log(logs, start_time)

    # ------------------------------------------------------------------ evaluation

    def prediction_step(self, model, inputs, prediction_loss_only, ignore_keys=None):
        inputs = self._prepare_inputs(inputs)
        with torch.no_grad(), self.compute_loss_context_manager():
            outputs, labels = self.objective(model, inputs)
        concepts = outputs.get("concept_states")  # None for a baseline transformers encoder
        remaining = self.args.eval_concept_samples - sum(c.shape[0] for c in self._eval_concepts)
        if concepts is not None and remaining > 0:
            self._eval_concepts.append(concepts[:remaining].detach().float().cpu())
        if labels is not None:
            selected = labels != IGNORE_INDEX
            logits = outputs["logits"]
            if logits.dim() == 3:  # dense (B, N, V) scores, as transformers' MLM heads return
                logits = logits[selected]
            target = labels[selected]
            predictions = logits.argmax(dim=-1)  # (M,) at the labelled positions
            self._eval_correct += (predictions == target).sum()
            self._eval_count += selected.sum()
            shown = self._shown_tokens(inputs, labels)
            if shown is not None:
                at_mask = shown[selected] == self._mask_token_id
                token_loss = F.cross_entropy(logits[at_mask].float(), target[at_mask], reduction="sum")
                self._eval_mask_sums += torch.stack(
                    [
                        token_loss.double(),
                        (predictions[at_mask] == target[at_mask]).sum().double(),
                        at_mask.sum().double(),
                    ]
                )
                self._eval_floors.update(labels, shown, self._mask_token_id, logits.shape[-1])
        loss = outputs["loss"].detach() if outputs.get("loss") is not None else None
        return loss, None, None

    @property
    def _mask_token_id(self) -> int | None:
        mask = getattr(self.processing_class, "mask_token_id", None)
        return mask if mask is not None else getattr(self.model.config, "mask_token_id", None)

    def _shown_tokens(self, inputs, labels: torch.Tensor) -> torch.Tensor | None:
        """`(B, N)` what the model saw at each position, when positions align with the labels."""
        if self._mask_token_id is None or self.objective.name == "tsdae":
            return None  # TSDAE deletes tokens: its labels do not align with its inputs
        if self.objective.name == "mdlm":  # corrupted inside the objective: every label is a [MASK]
            return torch.full_like(labels, self._mask_token_id)
        shown = inputs.get("input_ids")
        return shown if shown is not None and shown.shape == labels.shape else None

    def get_eval_dataloader(self, eval_dataset=None):
        # Same masks at every evaluation: differences between evaluations are the weights'.
        from cogito.data.text import SeededCollator

        collator = self.data_collator
        if getattr(collator, "generator", False) is not False:  # draws its masks from `generator`
            self.data_collator = SeededCollator(collator, seed=self.args.seed)
        try:
            return super().get_eval_dataloader(eval_dataset)
        finally:
            self.data_collator = collator

    def evaluation_loop(
        self, dataloader, description, prediction_loss_only=None, ignore_keys=None, metric_key_prefix="eval"
    ):
        self._eval_concepts = []
        self._eval_correct = torch.zeros((), dtype=torch.long, device=self.args.device)
        self._eval_count = torch.zeros((), dtype=torch.long, device=self.args.device)
        # Summed cross-entropy, correct predictions and positions at [MASK] inputs.
        self._eval_mask_sums = torch.zeros(3, dtype=torch.float64, device=self.args.device)
        self._eval_floors = MaskedLMFloors()
        output = super().evaluation_loop(dataloader, description, True, ignore_keys, metric_key_prefix)
        metrics = output.metrics
        correct = self.accelerator.reduce(self._eval_correct, reduction="sum")
        count = self.accelerator.reduce(self._eval_count, reduction="sum")
        if int(count) > 0:
            metrics[f"{metric_key_prefix}_accuracy"] = round(float(correct) / float(count), 6)
        mask_loss, mask_correct, mask_count = self.accelerator.reduce(self._eval_mask_sums, reduction="sum").tolist()
        if mask_count > 0:
            metrics[f"{metric_key_prefix}_mask_loss"] = round(mask_loss / mask_count, 6)
            metrics[f"{metric_key_prefix}_mask_accuracy"] = round(mask_correct / mask_count, 6)
        for key in sorted(self._eval_floors.counts):
            self._eval_floors.counts[key] = self.accelerator.reduce(self._eval_floors.counts[key], reduction="sum")
        for key, value in self._eval_floors.floors().items():
            metrics[f"{metric_key_prefix}_floor_{key}"] = round(value, 6)
        if f"{metric_key_prefix}_loss" in metrics:
            loss = metrics[f"{metric_key_prefix}_loss"]
            metrics[f"{metric_key_prefix}_perplexity"] = round(math.exp(min(loss, 50.0)), 4)
        if self._eval_concepts:
            # Geometry of this process's share of the evaluation set (all of it on one process).
            geometry = concept_geometry(torch.cat(self._eval_concepts))
            for key in EVAL_GEOMETRY_KEYS:
                metrics[f"{metric_key_prefix}_concept_{key}"] = round(geometry[key], 6)
        self._eval_concepts = []
        return output

    # ------------------------------------------------------------------ checkpoints

    def _save_optimizer_and_scheduler(self, output_dir):
        # Written before trainer_state.json, which marks a checkpoint complete.
        super()._save_optimizer_and_scheduler(output_dir)
        if self.args.should_save and any(True for _ in self.concept_regularizer.parameters()):
            state = self.concept_regularizer.state_dict()
            atomic_write(
                Path(output_dir) / REGULARIZER_STATE_NAME, lambda handle: torch.save(state, handle), binary=True
            )

    def _load_optimizer_and_scheduler(self, checkpoint):
        if checkpoint is not None and any(True for _ in self.concept_regularizer.parameters()):
            path = Path(checkpoint) / REGULARIZER_STATE_NAME
            if not path.is_file():
                raise FileNotFoundError(
                    f"{checkpoint} has no {REGULARIZER_STATE_NAME}: it was not written with "
                    f"--loss_weighting {self.args.loss_weighting}; resume with the run's original flags"
                )
            state = torch.load(path, map_location=self.args.device, weights_only=True)
            self.concept_regularizer.load_state_dict(state)
        super()._load_optimizer_and_scheduler(checkpoint)


class _ResetThroughputAtTrainBegin(TrainerCallback):
    def __init__(self, trainer: CogitoTrainer):
        self.trainer = trainer

    def on_train_begin(self, args, state, control, **kwargs):
        self.trainer._reset_log_accumulators()


def _average_gradient_across_processes(parameter: torch.Tensor) -> None:
    if dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1 and parameter.grad is not None:
        dist.all_reduce(parameter.grad, op=dist.ReduceOp.SUM)
        parameter.grad /= dist.get_world_size()
