"""CogitoTrainer on real text: logged keys, accumulation, checkpointed weights, resume, NaN stop."""

from __future__ import annotations

import json

import pytest
import torch
from transformers import TrainerCallback

from cogito import CogitoConfig, CogitoForMaskedLM
from cogito.training.trainer import (
    REGULARIZER_STATE_NAME,
    CogitoTrainer,
    CogitoTrainingArguments,
    NonFiniteLossError,
    latest_complete_checkpoint,
)


@pytest.fixture(scope="session")
def corpus_tokenizer(corpus_text_file, tmp_path_factory):
    from cogito.data.text import load_or_train_tokenizer

    return load_or_train_tokenizer(
        train_texts=[corpus_text_file], vocab_size=800, save_dir=tmp_path_factory.mktemp("tok"), model_max_length=32
    )


@pytest.fixture(scope="session")
def tokenized(corpus_text_file, corpus_tokenizer):
    from cogito.data.text import load_text_datasets, tokenize_for_mlm

    raw = load_text_datasets(train_file=str(corpus_text_file), validation_split_percentage=5)
    data = tokenize_for_mlm(raw, corpus_tokenizer, max_seq_length=32)
    return data["train"].select(range(256)), data["validation"].select(range(32))


def make_trainer(tmp_path, tokenizer, datasets, callbacks=(), **overrides) -> CogitoTrainer:
    from cogito.data.text import mlm_collator

    torch.manual_seed(0)
    config = CogitoConfig(
        vocab_size=len(tokenizer),
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=64,
        concept_num=8,
        max_position_embeddings=32,
        pad_token_id=tokenizer.pad_token_id,
        mask_token_id=tokenizer.mask_token_id,
    )
    values = dict(
        output_dir=str(tmp_path / "run"),
        per_device_train_batch_size=8,
        per_device_eval_batch_size=16,
        learning_rate=3e-3,
        max_steps=6,
        logging_steps=2,
        save_steps=3,
        eval_strategy="no",
        report_to="none",
        seed=0,
        data_seed=0,
        dataloader_num_workers=0,
        use_cpu=True,
        disable_tqdm=True,
        concept_losses="combined",
        loss_weighting="kendall_gal",
    )
    values.update(overrides)
    train, evaluation = datasets
    return CogitoTrainer(
        model=CogitoForMaskedLM(config),
        args=CogitoTrainingArguments(**values),
        train_dataset=train,
        eval_dataset=evaluation,
        # Masks drawn from the global RNG, which checkpoints save and resume restores.
        data_collator=mlm_collator(tokenizer),
        callbacks=list(callbacks),
    )


@pytest.mark.slow
def test_every_logging_step_carries_task_loss_regularisers_weights_and_throughput(
    tmp_path, corpus_tokenizer, tokenized
):
    trainer = make_trainer(tmp_path, corpus_tokenizer, tokenized)
    trainer.train()
    train_logs = [entry for entry in trainer.state.log_history if "loss" in entry]
    assert [entry["step"] for entry in train_logs] == [2, 4, 6]
    for entry in train_logs:
        for key in (
            "task_loss",
            "concept_combined",
            "concept_combined_variance",
            "concept_combined_uniformity",
            "weight_task",
            "weight_combined",
            "tokens_per_second",
            "steps_per_second",
        ):
            assert key in entry, (key, entry)
        assert entry["tokens_per_second"] > 0
    # Kendall-Gal weights are learnt: they move away from their initial precision exp(-0) = 1.
    assert train_logs[-1]["weight_combined"] != pytest.approx(1.0, abs=1e-6)
    state = json.loads((tmp_path / "run" / "checkpoint-6" / "trainer_state.json").read_text())
    assert any("concept_combined_uniformity" in entry for entry in state["log_history"])


@pytest.mark.slow
def test_evaluation_reports_accuracy_perplexity_and_concept_geometry(tmp_path, corpus_tokenizer, tokenized):
    trainer = make_trainer(tmp_path, corpus_tokenizer, tokenized, max_steps=2)
    trainer.train()
    metrics = trainer.evaluate()
    assert 0.0 <= metrics["eval_accuracy"] <= 1.0
    assert metrics["eval_perplexity"] == pytest.approx(torch.tensor(metrics["eval_loss"]).exp().item(), rel=1e-3)
    assert 1.0 <= metrics["eval_concept_effective_rank"] <= 8.0
    assert 0.0 < metrics["eval_concept_top1_dominance"] <= 1.0


def test_regularised_loss_is_correct_under_gradient_accumulation(tmp_path, corpus_tokenizer, tokenized):
    """Two accumulated half batches give the same loss as the full batch in one step."""
    trainer = make_trainer(
        tmp_path, corpus_tokenizer, tokenized, loss_weighting="fixed", concept_losses="variance_per_sample"
    )
    model = trainer.model.eval()
    collator = trainer.data_collator
    batch = collator([tokenized[0][i] for i in range(8)])
    halves = [{k: v[:4] for k, v in batch.items()}, {k: v[4:] for k, v in batch.items()}]
    count = int((batch["labels"] != -100).sum())
    trainer.current_gradient_accumulation_steps = 1
    full = trainer.compute_loss(model, dict(batch), num_items_in_batch=count)
    trainer.current_gradient_accumulation_steps = 2
    accumulated = sum(trainer.compute_loss(model, dict(h), num_items_in_batch=count) for h in halves)
    torch.testing.assert_close(accumulated, full, rtol=1e-5, atol=1e-6)


class _RecordAtFirstStep(TrainerCallback):
    """What the trainer holds when the first step after (re)start begins."""

    def __init__(self, trainer_ref: list):
        self.trainer_ref = trainer_ref
        self.seen = None

    def on_step_begin(self, args, state, control, model=None, optimizer=None, **kwargs):
        if self.seen is None:
            trainer = self.trainer_ref[0]
            self.seen = {
                "step": state.global_step,
                "regulariser": {k: v.clone() for k, v in trainer.concept_regularizer.state_dict().items()},
                "model": {k: v.clone() for k, v in model.state_dict().items()},
                "lr": optimizer.param_groups[0]["lr"],
                "adam_steps": {int(s["step"]) for s in optimizer.state_dict()["state"].values()},
            }


@pytest.mark.slow
def test_learnable_weights_are_optimised_checkpointed_and_restored_on_resume(tmp_path, corpus_tokenizer, tokenized):
    first = make_trainer(tmp_path, corpus_tokenizer, tokenized)
    regulariser_params = {id(p) for p in first.concept_regularizer.parameters()}
    first.train()
    optimised = {id(p) for group in first.optimizer.param_groups for p in group["params"]}
    assert regulariser_params and regulariser_params <= optimised
    checkpoint = tmp_path / "run" / "checkpoint-3"
    saved = torch.load(checkpoint / REGULARIZER_STATE_NAME, weights_only=True)
    assert saved["weighting.log_vars"].abs().max() > 0  # learnt, not the initial zeros
    lr_at_step_4 = [e["learning_rate"] for e in first.state.log_history if e.get("step") == 4][0]

    ref: list = []
    recorder = _RecordAtFirstStep(ref)
    resumed = make_trainer(tmp_path, corpus_tokenizer, tokenized, callbacks=[recorder])
    ref.append(resumed)
    resumed.train(resume_from_checkpoint=str(checkpoint))
    seen = recorder.seen
    assert seen["step"] == 3 and resumed.state.global_step == 6
    for name, tensor in saved.items():
        torch.testing.assert_close(seen["regulariser"][name], tensor, msg=name)
    restored = CogitoForMaskedLM.from_pretrained(checkpoint).state_dict()
    for name, tensor in restored.items():
        torch.testing.assert_close(seen["model"][name], tensor, msg=name)
    assert seen["adam_steps"] == {3}  # optimizer moments restored, not restarted
    assert seen["lr"] == pytest.approx(lr_at_step_4)  # the schedule continues
    assert [e["step"] for e in resumed.state.log_history if "loss" in e] == [2, 4, 6]


class _BreakWeightsAt(TrainerCallback):
    def __init__(self, step: int):
        self.step = step

    def on_step_end(self, args, state, control, model=None, **kwargs):
        if state.global_step == self.step:
            with torch.no_grad():
                model.lm_head.dense.weight.fill_(float("nan"))


@pytest.mark.slow
def test_non_finite_loss_stops_training_and_keeps_the_last_good_checkpoint(tmp_path, corpus_tokenizer, tokenized):
    trainer = make_trainer(tmp_path, corpus_tokenizer, tokenized, save_steps=2, callbacks=[_BreakWeightsAt(3)])
    with pytest.raises(NonFiniteLossError, match=r"step 4.*checkpoint-2"):
        trainer.train()
    last = latest_complete_checkpoint(tmp_path / "run")
    assert last.endswith("checkpoint-2")
    reloaded = CogitoForMaskedLM.from_pretrained(last)
    assert all(torch.isfinite(p).all() for p in reloaded.parameters())


def test_half_written_checkpoint_is_never_resumed_from(tmp_path):
    (tmp_path / "checkpoint-4").mkdir()
    (tmp_path / "checkpoint-4" / "trainer_state.json").write_text("{}")
    (tmp_path / "checkpoint-8").mkdir()  # killed mid-save: no trainer_state.json
    (tmp_path / "checkpoint-8" / "model.safetensors").write_bytes(b"")
    assert latest_complete_checkpoint(tmp_path) == str(tmp_path / "checkpoint-4")
    assert latest_complete_checkpoint(tmp_path / "missing") is None


@pytest.mark.parametrize(
    "overrides, message",
    [
        ({"concept_losses": "orthogonality entropy"}, "orthogonality"),
        ({"loss_weighting": "uncertainty"}, "kendall_gal"),
    ],
)
def test_unknown_regulariser_or_weighting_lists_the_valid_names(tmp_path, overrides, message):
    values = dict(output_dir=str(tmp_path), report_to="none", use_cpu=True)
    values.update(overrides)
    with pytest.raises(ValueError, match=message):
        CogitoTrainingArguments(**values)


# ---------------------------------------------------------------------------------------------
# Readable evaluation: seeded masks, [MASK]-only metrics, floors, input dependence
# ---------------------------------------------------------------------------------------------

_RUNTIME_KEYS = ("eval_runtime", "eval_samples_per_second", "eval_steps_per_second", "epoch")


def test_two_evaluations_of_one_checkpoint_give_identical_numbers(tmp_path, corpus_tokenizer, tokenized):
    trainer = make_trainer(tmp_path, corpus_tokenizer, tokenized, concept_losses="none", loss_weighting="fixed")
    first = trainer.evaluate()
    torch.rand(1000)  # the global RNG moves between evaluations, as training would move it
    second = trainer.evaluate()
    first, second = ({k: v for k, v in m.items() if k not in _RUNTIME_KEYS} for m in (first, second))
    assert first == second
    for key in (
        "eval_loss",
        "eval_accuracy",
        "eval_mask_loss",
        "eval_mask_accuracy",
        "eval_floor_unigram_loss",
        "eval_floor_no_context_loss",
        "eval_floor_mask_loss",
        "eval_concept_input_dependence",
    ):
        assert key in first, key
    assert 0.0 <= first["eval_concept_input_dependence"] <= 1.0
    # An untrained model is no better than predicting token frequencies at [MASK].
    assert first["eval_mask_loss"] > first["eval_floor_mask_loss"]
    # Training masks still come from the global RNG: two training batches of the same rows differ.
    collator = trainer.data_collator
    rows = [tokenized[0][i] for i in range(8)]
    assert not torch.equal(collator(rows)["labels"], collator(rows)["labels"])


class _FixedBatch:
    """A collator that ignores its examples and returns one hand-made MLM batch."""

    def __init__(self, batch):
        self.batch = batch

    def __call__(self, examples):
        return {k: v.clone() for k, v in self.batch.items()}


def test_mask_only_metrics_and_floors_equal_a_hand_computation(tmp_path, corpus_tokenizer, tokenized):
    import math
    from collections import Counter

    import torch.nn.functional as F

    tokenizer = corpus_tokenizer
    mask = tokenizer.mask_token_id
    generator = torch.Generator().manual_seed(3)
    clean = torch.randint(10, len(tokenizer), (4, 16), generator=generator)
    labels = torch.full_like(clean, -100)
    shown = clean.clone()
    # Row-major predicted positions: four [MASK]s, one kept token, one random replacement.
    for row, col in [(0, 1), (0, 5), (1, 2), (3, 7)]:
        labels[row, col], shown[row, col] = clean[row, col], mask
    labels[2, 3] = clean[2, 3]  # shown as itself
    labels[1, 9], shown[1, 9] = clean[1, 9], (clean[1, 9] + 1) % len(tokenizer)  # random token
    batch = {"input_ids": shown, "attention_mask": torch.ones_like(shown), "labels": labels}
    trainer = make_trainer(tmp_path, tokenizer, tokenized, concept_losses="none", loss_weighting="fixed")
    trainer.data_collator = _FixedBatch(batch)
    trainer.eval_dataset = tokenized[1].select(range(4))  # one batch of 4 rows
    metrics = trainer.evaluate()

    model = trainer.model.eval()
    with torch.no_grad():
        out = model(**batch)
    selected = labels != -100
    target = labels[selected]
    at_mask = shown[selected] == mask
    hand_loss = F.cross_entropy(out.logits[at_mask], target[at_mask]).item()
    hand_accuracy = (out.logits[at_mask].argmax(-1) == target[at_mask]).float().mean().item()
    assert metrics["eval_mask_loss"] == pytest.approx(hand_loss, abs=1e-5)
    assert metrics["eval_mask_accuracy"] == pytest.approx(hand_accuracy, abs=1e-6)
    assert metrics["eval_loss"] == pytest.approx(out.loss.item(), abs=1e-5)
    # Floor at [MASK]: the entropy of the four masked labels' frequencies.
    counts = Counter(target[at_mask].tolist())
    entropy = -sum(n / 4 * math.log(n / 4) for n in counts.values())
    assert metrics["eval_floor_mask_loss"] == pytest.approx(entropy, abs=1e-6)
    assert metrics["eval_floor_mask_accuracy"] == pytest.approx(max(counts.values()) / 4)


def test_floors_on_a_tiny_known_corpus_equal_hand_values():
    import math

    from cogito.training.objectives import MaskedLMFloors

    mask = 5
    # Predicted positions: [MASK] over labels 1, 1, 2; label 3 shown as itself; label 1 shown as 4.
    labels = torch.tensor([[1, 1, 2, 3, 1, -100]])
    shown = torch.tensor([[5, 5, 5, 3, 4, 0]])
    floors = MaskedLMFloors()
    floors.update(labels[:, :3], shown[:, :3], mask, vocab_size=6)  # two batches add up
    floors.update(labels[:, 3:], shown[:, 3:], mask, vocab_size=6)
    result = floors.floors()
    u = {1: 3 / 5, 2: 1 / 5, 3: 1 / 5}  # label frequencies over all five predicted positions
    mask_nll = -(2 * math.log(2 / 3) + math.log(1 / 3))
    assert result["unigram_loss"] == pytest.approx(-(3 * math.log(0.6) + 2 * math.log(0.2)) / 5)
    assert result["unigram_accuracy"] == pytest.approx(0.6)
    assert result["mask_loss"] == pytest.approx(mask_nll / 3)
    assert result["mask_accuracy"] == pytest.approx(2 / 3)
    q = 1 / 2  # one of the two non-[MASK] positions shows its own label
    rest = -math.log(q + (1 - q) * u[3]) - math.log((1 - q) * u[1])
    assert result["no_context_loss"] == pytest.approx((mask_nll + rest) / 5)
    assert result["no_context_accuracy"] == pytest.approx((2 + 1) / 5)
    assert MaskedLMFloors().floors() == {}


def test_seeded_collator_repeats_masks_per_batch_and_varies_them_across_batches(corpus_tokenizer, tokenized):
    from cogito.data.text import SeededCollator, TSDAECollator, mlm_collator

    rows = [tokenized[0][i] for i in range(8)]
    for base in (mlm_collator(corpus_tokenizer), TSDAECollator(corpus_tokenizer)):
        seeded = SeededCollator(base, seed=1)
        first, again = seeded(rows[:4]), seeded(rows[:4])
        assert all(torch.equal(first[k], again[k]) for k in first)
        assert not torch.equal(first["input_ids"], seeded(rows[4:])["input_ids"][: first["input_ids"].shape[0]])
        other_seed = SeededCollator(base, seed=2)(rows[:4])
        assert not torch.equal(first["input_ids"], other_seed["input_ids"]) or first["input_ids"].shape != (
            other_seed["input_ids"].shape
        )
