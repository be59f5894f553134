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
    # Kendall-Gal weights are learnt: they move away from their initial 0.5.
    assert train_logs[-1]["weight_combined"] != pytest.approx(0.5, abs=1e-6)
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
