"""Pretraining objectives: the MDLM estimator against the exact NELBO, deterministic evaluation,
generation, resume, TSDAE end to end, and the objective in run ids, log rows and cards."""

from __future__ import annotations

import itertools
import math
import random

import datasets
import pytest
import torch
from conftest import tiny_config

from cogito import CogitoForMaskedLM
from cogito.training.objectives import (
    NOISE_SCHEDULES,
    MDLMObjective,
    NoiseSchedule,
    TSDAEObjective,
    build_objective,
    corrupt,
    generate,
    objective_collator,
    sample_times,
    weighted_nelbo,
)
from cogito.training.trainer import CogitoTrainer, CogitoTrainingArguments

CLS, SEP, MASK, PAD = 2, 3, 4, 0


# --------------------------------------------------------------------------- schedule and times


@pytest.mark.parametrize("name", NOISE_SCHEDULES)
def test_nelbo_weight_is_minus_alpha_derivative_over_mask_probability(name):
    schedule = NoiseSchedule(name)
    t = torch.linspace(0.01, 1.0, 100, dtype=torch.float64)
    h = 1e-6
    derivative = (schedule.mask_probability(t + h) - schedule.mask_probability(t - h)) / (2 * h)
    torch.testing.assert_close(schedule.weight(t), derivative / schedule.mask_probability(t))
    torch.testing.assert_close(schedule.weight(t), 1.0 / t)  # both schedules weigh by 1/t


def test_unknown_noise_schedule_is_refused_with_the_choices():
    with pytest.raises(ValueError, match="linear, log_linear.*cosine"):
        NoiseSchedule("cosine")


def test_stratified_times_put_one_draw_in_each_stratum_of_the_truncated_interval():
    generator = torch.Generator().manual_seed(3)
    for t_min in (0.0, 0.2):
        t = sample_times(8, t_min, generator)
        assert t.shape == (8,) and bool((t > t_min).all()) and bool((t <= 1).all())
        strata = ((1 - (t - t_min) / (1 - t_min)) * 8).floor().long().clamp(max=7)
        assert sorted(strata.tolist()) == list(range(8))
    grid = sample_times(4, stratified=False)
    torch.testing.assert_close(grid, torch.tensor([0.875, 0.625, 0.375, 0.125]))


def test_corruption_masks_only_real_tokens_and_labels_exactly_the_masked_ones():
    generator = torch.Generator().manual_seed(0)
    input_ids = torch.tensor([[CLS, 5, 6, 7, 8, SEP, PAD]] * 4000)
    real = (input_ids > 4) & (input_ids != PAD)
    t = torch.full((4000,), 0.3)
    noisy, labels = corrupt(input_ids, real, t, NoiseSchedule("linear"), MASK, generator)
    masked = noisy == MASK
    assert not masked[~real].any()
    assert torch.equal(labels != -100, masked)
    assert torch.equal(labels[masked], input_ids[masked])
    assert masked[real].float().mean().item() == pytest.approx(0.3, abs=0.01)


# --------------------------------------------------------------------------- the estimator, exactly


def _toy():
    """A fixed tiny model over a 3-word vocabulary (ids 5, 6, 7) and one length-3 sentence."""
    torch.manual_seed(0)
    config = tiny_config(vocab_size=8, max_position_embeddings=8, decoder_type="perceiver")
    model = CogitoForMaskedLM(config).eval()
    x = torch.tensor([[CLS, 5, 7, 6, SEP]])
    return model, x


def _pattern_losses(model, x) -> dict[tuple[int, ...], float]:
    """Σ_{i in m} −log p(x_i | x with m masked) for every non-empty mask pattern m of the 3 words."""
    losses = {}
    with torch.no_grad():
        for size in (1, 2, 3):
            for pattern in itertools.combinations((1, 2, 3), size):
                z = x.clone()
                z[0, list(pattern)] = MASK
                logp = model(z).logits.log_softmax(-1)[0]  # (N, V)
                losses[pattern] = -sum(logp[i, x[0, i]].item() for i in pattern)
    return losses


def _true_nelbo(losses, schedule: NoiseSchedule, t_min: float = 0.0, points: int = 200_000) -> float:
    """(1/L) ∫_{t_min}^1 w(t) Σ_m P(m | t) CE(m) dt on a fine midpoint grid, L = 3 words."""
    t = t_min + (1 - t_min) * (torch.arange(points, dtype=torch.float64) + 0.5) / points
    p = schedule.mask_probability(t)
    integrand = sum(schedule.weight(t) * p ** len(m) * (1 - p) ** (3 - len(m)) * loss for m, loss in losses.items())
    return float(integrand.mean() * (1 - t_min)) / 3


def test_fine_grid_nelbo_matches_the_closed_form_of_the_one_over_t_weighting():
    model, x = _toy()
    losses = _pattern_losses(model, x)
    # Linear schedule: ∫ (1/t) t^k (1-t)^(L-k) dt = B(k, L-k+1) = (k-1)! (L-k)! / L!
    closed = sum(
        math.factorial(len(m) - 1) * math.factorial(3 - len(m)) / math.factorial(3) * v for m, v in losses.items()
    )
    assert _true_nelbo(losses, NoiseSchedule("linear")) == pytest.approx(closed / 3, rel=1e-8)


class _FixedLogits:
    """The toy model as a fixed logit function: its logits for each of the 8 mask patterns,
    looked up from the corrupted input (fast enough for 10^5 Monte-Carlo draws)."""

    training = True

    def __init__(self, model, x):
        self.table = torch.zeros(8, x.shape[1], model.config.vocab_size)
        with torch.no_grad():
            for code in range(8):
                z = x.clone()
                z[0, [i + 1 for i in range(3) if code >> i & 1]] = MASK
                self.table[code] = model(z).logits[0]

    def __call__(self, input_ids, attention_mask=None, labels=None):
        masked = (input_ids[:, 1:4] == MASK).long()  # (B, 3)
        code = (masked * torch.tensor([1, 2, 4])).sum(dim=1)  # (B,)
        logits = self.table[code]  # (B, N, V)
        return {"logits": logits[labels != -100], "concept_states": torch.zeros(len(code), 1, 1)}


@pytest.mark.parametrize("name, t_min", [("linear", 0.0), ("log_linear", 0.0), ("linear", 0.25)])
def test_monte_carlo_nelbo_converges_to_the_exact_value(name, t_min):
    model, x = _toy()
    truth = _true_nelbo(_pattern_losses(model, x), NoiseSchedule(name), t_min)
    objective = MDLMObjective(MASK, [PAD, CLS, SEP], noise_schedule=name, t_min=t_min)
    fixed = _FixedLogits(model, x)
    torch.manual_seed(1)
    batch = {"input_ids": x.repeat(4096, 1), "attention_mask": torch.ones(4096, 5, dtype=torch.long)}
    estimates = torch.tensor([objective(fixed, batch)[0]["loss"].item() for _ in range(300)], dtype=torch.float64)
    for n in (30, 300):  # the error stays within the standard error, which shrinks like 1/sqrt(n)
        error = abs(estimates[:n].mean().item() - truth)
        standard_error = estimates[:n].std().item() / n**0.5
        assert error < 4 * standard_error, (n, truth, error, standard_error)
    assert standard_error < 0.004 * truth  # 1,228,800 sequences: the estimate is within ~1% of the exact NELBO
    assert error < 0.01 * truth


def test_the_real_model_gives_the_same_estimate_as_its_fixed_logit_function():
    model, x = _toy()
    objective = MDLMObjective(MASK, [PAD, CLS, SEP])
    batch = {"input_ids": x.repeat(64, 1), "attention_mask": torch.ones(64, 5, dtype=torch.long)}
    model.train()  # training draws; dropout is 0 in the tiny config, so the model is fixed
    fixed = _FixedLogits(model, x)
    for seed in range(3):
        torch.manual_seed(seed)
        with torch.no_grad():
            real = objective(model, batch)[0]["loss"]
        torch.manual_seed(seed)
        assert objective(fixed, batch)[0]["loss"].item() == pytest.approx(real.item(), rel=1e-5)


def test_unbiased_for_every_fixed_time_against_the_closed_form():
    """For a fixed t, E_masks[w(t) Σ_masked CE] = w(t) Σ_m P(m|t) CE(m): check at three t."""
    model, x = _toy()
    losses = _pattern_losses(model, x)
    objective = MDLMObjective(MASK, [PAD, CLS, SEP])
    fixed = _FixedLogits(model, x)
    for t_value in (0.1, 0.5, 0.9):
        closed = sum((1 / t_value) * t_value ** len(m) * (1 - t_value) ** (3 - len(m)) * v for m, v in losses.items())
        real = torch.ones(4096, 5, dtype=torch.bool)
        real[:, [0, 4]] = False
        generator = torch.Generator().manual_seed(5)
        total = 0.0
        for _ in range(10):
            t = torch.full((4096,), t_value)
            noisy, labels = corrupt(x.repeat(4096, 1), real, t, objective.schedule, MASK, generator)
            logits = fixed(noisy, labels=labels)["logits"]
            total += weighted_nelbo(logits, labels, objective.schedule.weight(t), 4096).item()
        assert total / 10 == pytest.approx(closed, rel=0.02), t_value


# --------------------------------------------------------------------------- evaluation, generation


def _sentences(n: int, seed: int = 0) -> list[str]:
    rng = random.Random(seed)
    subjects = ["the man", "her sister", "the city", "a river", "his house"]
    verbs = ["was", "had", "made", "came"]
    objects = ["a letter", "the capital of france", "little love", "good work", "a long day"]
    return [f"{rng.choice(subjects)} {rng.choice(verbs)} {rng.choice(objects)} ." for _ in range(n)]


@pytest.fixture(scope="module")
def toy_data(tiny_tokenizer):
    def encode(texts):
        return datasets.Dataset.from_dict(dict(tiny_tokenizer(texts, return_special_tokens_mask=True)))

    return encode(_sentences(256)), encode(_sentences(48, seed=1))


def make_trainer(tmp_path, tokenizer, data, objective, config_overrides=None, **overrides) -> CogitoTrainer:
    torch.manual_seed(0)
    config = tiny_config(**(config_overrides or {}))
    values = dict(
        output_dir=str(tmp_path / "run"),
        per_device_train_batch_size=16,
        per_device_eval_batch_size=16,
        learning_rate=3e-3,
        max_steps=6,
        logging_steps=1,
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
    return CogitoTrainer(
        model=CogitoForMaskedLM(config),
        args=CogitoTrainingArguments(**values),
        train_dataset=data[0],
        eval_dataset=data[1],
        data_collator=objective_collator(objective, tokenizer),
        objective=objective,
    )


def test_mdlm_evaluation_is_deterministic_and_logged_like_eval_loss(tmp_path, tiny_tokenizer, toy_data):
    objective = build_objective("mdlm", tiny_tokenizer, eval_samples=3)
    trainer = make_trainer(tmp_path, tiny_tokenizer, toy_data, objective, max_steps=2)
    trainer.train()
    first, second = trainer.evaluate(), trainer.evaluate()
    assert first["eval_loss"] == second["eval_loss"]
    assert first["eval_accuracy"] == second["eval_accuracy"]
    assert first["eval_perplexity"] == pytest.approx(math.exp(first["eval_loss"]), rel=1e-3)
    # The training draws are random: the same batch in train mode gives another loss.
    batch = trainer.data_collator([toy_data[1][i] for i in range(16)])
    trainer.model.train()
    losses = {objective(trainer.model, batch)[0].loss.item() for _ in range(3)}
    assert len(losses) == 3


def test_generation_fills_every_masked_slot_and_keeps_the_given_tokens(tiny_tokenizer):
    torch.manual_seed(0)
    model = CogitoForMaskedLM(tiny_config())
    prompt = tiny_tokenizer(
        ["the man [MASK] a [MASK] [MASK] .", "[MASK] sister was [MASK] ."], padding=True, return_tensors="pt"
    )
    ids, attention = prompt["input_ids"], prompt["attention_mask"]
    slots = ids == MASK
    assert int(slots.sum()) == 5
    for steps, temperature in ((1, 0.0), (3, 0.0), (8, 1.0)):
        filled = generate(
            model, ids, attention, steps=steps, temperature=temperature, generator=torch.Generator().manual_seed(0)
        )
        assert not (filled == MASK).any()
        assert torch.equal(filled[~slots], ids[~slots])
        assert not torch.isin(filled[slots], torch.tensor([PAD, CLS, SEP, MASK])).any()
    assert model.training  # generate restores the mode it found


def test_generation_unmasks_most_confident_slots_first_following_the_schedule(tiny_tokenizer):
    torch.manual_seed(0)
    model = CogitoForMaskedLM(tiny_config())
    ids = torch.tensor([[CLS] + [MASK] * 6 + [SEP]])
    seen = []
    original = model.forward

    def recording_forward(*args, **kwargs):
        seen.append(int((kwargs["input_ids"] == MASK).sum()))
        return original(*args, **kwargs)

    model.forward = recording_forward
    generate(model, ids, steps=3)
    assert seen == [6, 4, 2]  # 6 slots over 3 linear steps: 2 unmasked per step


# --------------------------------------------------------------------------- resume, tsdae


def test_mdlm_resumes_mid_run_with_the_same_losses(tmp_path, tiny_tokenizer, toy_data):
    objective = build_objective("mdlm", tiny_tokenizer)
    # Fixed regulariser weights: learnt (kendall_gal) weights resume inexactly from the second step on,
    # whatever the objective (a known issue of the regulariser's optimizer state, not of mdlm).
    fixed = {"loss_weighting": "fixed"}
    straight = make_trainer(tmp_path, tiny_tokenizer, toy_data, objective, **fixed)
    straight.train()
    straight_losses = {e["step"]: e["loss"] for e in straight.state.log_history if "loss" in e}
    checkpoint = tmp_path / "run" / "checkpoint-3"
    assert (checkpoint / "trainer_state.json").is_file()

    resumed = make_trainer(
        tmp_path,
        tiny_tokenizer,
        toy_data,
        build_objective("mdlm", tiny_tokenizer),
        output_dir=str(tmp_path / "resumed"),
        **fixed,
    )
    resumed.train(resume_from_checkpoint=str(checkpoint))
    resumed_losses = {e["step"]: e["loss"] for e in resumed.state.log_history if "loss" in e}
    assert resumed.state.global_step == 6
    for step in (4, 5, 6):  # same batches, same t and masks (RNG restored), same weights
        assert resumed_losses[step] == pytest.approx(straight_losses[step], rel=1e-5), step
    assert any(abs(straight_losses[s] - straight_losses[s + 1]) > 1e-4 for s in (3, 4, 5))


def test_tsdae_trains_end_to_end_and_its_reconstruction_loss_falls(tmp_path, tiny_tokenizer, toy_data):
    objective = build_objective("tsdae", tiny_tokenizer, deletion_ratio=0.6)
    trainer = make_trainer(
        tmp_path,
        tiny_tokenizer,
        toy_data,
        objective,
        config_overrides={"decoder_type": "perceiver_posonly"},
        max_steps=40,
        logging_steps=10,
        save_steps=100,
        learning_rate=1e-2,
    )
    batch = trainer.data_collator([toy_data[0][i] for i in range(4)])
    assert batch["input_ids"].shape[1] < batch["labels"].shape[1]  # tokens really deleted
    trainer.train()
    logs = [e for e in trainer.state.log_history if "loss" in e]
    assert logs[-1]["task_loss"] < 0.7 * logs[0]["task_loss"], [e["task_loss"] for e in logs]
    assert all("concept_combined_uniformity" in e and "weight_task" in e for e in logs)
    metrics = trainer.evaluate()
    assert 0 <= metrics["eval_accuracy"] <= 1 and metrics["eval_loss"] < logs[0]["task_loss"]


def test_objective_settings_are_checked():
    with pytest.raises(ValueError, match="mlm, mdlm, tsdae"):
        build_objective("diffusion", None)
    with pytest.raises(ValueError, match="t_min"):
        MDLMObjective(MASK, t_min=1.0)
    with pytest.raises(ValueError, match="deletion_ratio"):
        TSDAEObjective(1.0)


# --------------------------------------------------------------------------- command line, log, card


def test_objective_flags_of_another_objective_are_refused():
    from cogito.cli.pretrain import parse_args
    from cogito.training.pretrain import check_objective_arguments

    with pytest.raises(ValueError, match="--mlm_probability applies to --objective mlm only"):
        parse_args(["--objective", "mdlm", "--mlm_probability", "0.3", "--output_dir", "x"])
    with pytest.raises(ValueError, match="--deletion_ratio applies to --objective tsdae"):
        parse_args(["--deletion_ratio", "0.5", "--output_dir", "x"])
    with pytest.raises(ValueError, match="label_smoothing"):
        parse_args(["--objective", "mdlm", "--label_smoothing_factor", "0.1", "--output_dir", "x"])
    _, data_args, training_args, _ = parse_args(["--objective", "mdlm", "--output_dir", "x"])
    data_args.objective = "bert"  # what a caller could pass; the command line refuses it (below)
    with pytest.raises(ValueError, match="mlm, mdlm, tsdae"):
        check_objective_arguments(data_args, training_args)


def test_unknown_objective_on_the_command_line_is_a_one_line_usage_error(capsys):
    from cogito.cli.pretrain import cli_main

    assert cli_main(["--objective", "bert", "--output_dir", "x"]) == 2
    (line,) = capsys.readouterr().err.strip().splitlines()
    assert line.startswith("cogito pretrain: error:") and "invalid choice: 'bert'" in line


def test_run_id_log_row_and_card_name_the_objective(tmp_path):
    from datetime import datetime

    from cogito import CogitoConfig
    from cogito.hub_cards.card import card_data_from_run, render_card
    from cogito.hub_cards.log import append_run, read_log
    from cogito.hub_cards.naming import repo_name_for_run
    from cogito.training.pretrain import run_id_for

    run_id = run_id_for(
        CogitoConfig(decoder_type="perceiver_posonly"), datetime(2026, 12, 2, 15, 0, 0), objective="mdlm"
    )
    assert run_id == "perceiver_posonly_mdlm_H512L6C128_20261202_150000"
    assert repo_name_for_run(run_id) == "perceiver-posonly-mdlm-l6"
    log = tmp_path / "log.md"
    append_run(
        log,
        {
            "Date": "2026-12-02",
            "Run ID / Model Type": f"`{run_id}`",
            "Architecture": "H512 L6 C128",
            "MLM Loss": "3.210",
        },
    )
    (row,) = read_log(log)
    assert row.objective == "mdlm" and row.mlm_loss == pytest.approx(3.21)
    card = str(render_card(card_data_from_run(row)))
    assert "| NELBO per token (final) | 3.21 |" in card
    assert "masked diffusion" in card and "objective `mdlm`" in card
    assert "- mdlm" in card  # a tag


@pytest.mark.slow
def test_mdlm_pretrain_resumes_after_kill_and_writes_its_log_row_and_card(tmp_path, corpus_text_file):
    """`cogito pretrain --objective mdlm` in a real process: SIGKILL mid-run, resume, log row, card."""
    import json
    import signal
    import time

    from test_pretrain import TINY, run_pretrain

    from cogito.hub_cards.card import card_data_from_run, render_card
    from cogito.hub_cards.log import read_log

    out, log = tmp_path / "run", tmp_path / "log.md"
    args = ["--objective", "mdlm", "--train_file", corpus_text_file, "--output_dir", out, "--max_steps", "60"]
    args += ["--save_steps", "10", "--experiment_log", log, *TINY]
    process = run_pretrain(args, wait=False)
    deadline = time.time() + 300
    while time.time() < deadline and not (out / "checkpoint-20" / "trainer_state.json").exists():
        assert process.poll() is None, process.stdout.read()[-3000:]
        time.sleep(0.05)
    process.send_signal(signal.SIGKILL)
    process.wait(timeout=30)
    assert not (out / "cogito_summary.json").exists()
    run_pretrain(args + ["--resume_from_checkpoint", "latest"])
    summary = json.loads((out / "cogito_summary.json").read_text())
    assert summary["global_step"] == 60 and "_mdlm_H32L2C8_" in summary["run_id"]
    steps = [e["step"] for e in json.loads((out / "trainer_state.json").read_text())["log_history"] if "loss" in e]
    assert steps == list(range(5, 61, 5))
    config = json.loads((out / "config.json").read_text())
    assert config["pretraining_objective"] == {"name": "mdlm", "noise_schedule": "linear", "t_min": 0.0}
    (row,) = read_log(log)
    assert row.objective == "mdlm" and row.mlm_loss == pytest.approx(summary["metrics"]["eval_loss"], abs=1e-3)
    assert "NELBO" in row.conclusion
    assert "| NELBO per token (final) |" in str(render_card(card_data_from_run(row, config=config)))
