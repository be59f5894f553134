"""`cogito pretrain` end to end, in real subprocesses: logs, SIGKILL + resume, 2-process DDP, W&B offline."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from cogito import CogitoConfig
from cogito.hub_cards.log import read_log
from cogito.training.pretrain import parse_config_overrides, run_id_for

pytestmark = pytest.mark.slow

TINY = [
    "--hidden_size",
    "32",
    "--num_hidden_layers",
    "2",
    "--concept_num",
    "8",
    "--config_overrides",
    "intermediate_size=64,hidden_dropout_prob=0.0",
    "--max_seq_length",
    "32",
    "--tokenizer_vocab_size",
    "600",
    "--per_device_train_batch_size",
    "8",
    "--per_device_eval_batch_size",
    "16",
    "--max_eval_samples",
    "32",
    "--learning_rate",
    "3e-3",
    "--logging_steps",
    "5",
    "--disable_tqdm",
    "true",
    "--report_to",
    "none",
    "--concept_losses",
    "combined",
    "--loss_weighting",
    "kendall_gal",
]


def run_pretrain(args, env_extra=None, launcher=None, timeout=600, wait=True):
    env = dict(os.environ, **(env_extra or {}))
    command = (launcher or [sys.executable, "-m", "cogito.pretrain"]) + [str(a) for a in args]
    if not wait:
        return subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    result = subprocess.run(command, env=env, capture_output=True, text=True, timeout=timeout)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-6000:]
    return result


def summary_of(output_dir: Path) -> dict:
    return json.loads((output_dir / "cogito_summary.json").read_text())


def test_run_ids_follow_the_research_naming():
    from datetime import datetime

    now = datetime(2026, 2, 8, 21, 16, 33)
    assert run_id_for(CogitoConfig(), now) == "perceiver_mlm_H512L6C128_20260208_211633"
    config = CogitoConfig(decoder_type="weighted", token_embedding_dim=128, concept_position_type="learned")
    assert run_id_for(config, now) == "weighted_mlm_H512L6C128_E128_cposlearned_20260208_211633"


def test_config_overrides_are_typed_and_unknown_keys_listed():
    assert parse_config_overrides(
        "intermediate_size=64,use_bixt=true,hidden_dropout_prob=0.0,token_embedding_dim=32"
    ) == {
        "intermediate_size": 64,
        "use_bixt": True,
        "hidden_dropout_prob": 0.0,
        "token_embedding_dim": 32,
    }
    with pytest.raises(ValueError, match="hidden_sise.*concept_num"):
        parse_config_overrides("hidden_sise=4")
    with pytest.raises(ValueError, match="use_bixt takes true or false"):
        parse_config_overrides("use_bixt=maybe")


def test_pretrain_writes_model_logs_and_an_experiment_log_row(tmp_path, corpus_text_file):
    out, log = tmp_path / "run", tmp_path / "log.md"
    run_pretrain(
        [
            "--train_file",
            corpus_text_file,
            "--output_dir",
            out,
            "--max_steps",
            "30",
            "--eval_strategy",
            "steps",
            "--eval_steps",
            "15",
            "--experiment_log",
            log,
            *TINY,
        ]
    )
    summary = summary_of(out)
    assert summary["global_step"] == 30
    for name in ("model.safetensors", "config.json", "modeling_cogito.py", "tokenizer.json", "cogito_run.json"):
        assert (out / name).exists(), name
    history = json.loads((out / "trainer_state.json").read_text())["log_history"]
    train_logs = [e for e in history if "loss" in e]
    assert [e["step"] for e in train_logs] == [5, 10, 15, 20, 25, 30]
    assert train_logs[-1]["task_loss"] < train_logs[0]["task_loss"]  # MLM loss falls on real text
    assert all("weight_task" in e and "concept_combined_uniformity" in e for e in train_logs)
    evals = [e for e in history if "eval_concept_effective_rank" in e]
    assert len(evals) >= 2
    (row,) = read_log(log)
    assert row.run_id == summary["run_id"]
    assert row.concept_losses == ["combined"] and row.loss_weighting == "kendall_gal"
    assert row.mlm_loss == pytest.approx(summary["metrics"]["eval_loss"], abs=1e-3)
    assert row.effective_rank.of == 8


def test_killed_run_resumes_to_the_same_final_step_with_nothing_lost(tmp_path, corpus_text_file):
    out, log = tmp_path / "run", tmp_path / "log.md"
    args = [
        "--train_file",
        corpus_text_file,
        "--output_dir",
        out,
        "--max_steps",
        "400",
        "--save_steps",
        "10",
        "--experiment_log",
        log,
        *TINY,
    ]
    process = run_pretrain(args, wait=False)
    deadline = time.time() + 300
    while time.time() < deadline and not (out / "checkpoint-20" / "trainer_state.json").exists():
        assert process.poll() is None, process.stdout.read()[-3000:]
        time.sleep(0.05)
    process.send_signal(signal.SIGKILL)
    process.wait(timeout=30)
    assert process.returncode == -signal.SIGKILL
    assert not (out / "cogito_summary.json").exists()  # it really died before finishing
    run_id = json.loads((out / "cogito_run.json").read_text())["run_id"]

    run_pretrain(args + ["--resume_from_checkpoint", "latest"])
    summary = summary_of(out)
    assert summary["global_step"] == 400
    assert summary["run_id"] == run_id  # same run: same id, folder and W&B run
    resumed_step = int(Path(summary["resumed_from"]).name.split("-")[1])
    assert resumed_step >= 20
    steps = [e["step"] for e in json.loads((out / "trainer_state.json").read_text())["log_history"] if "loss" in e]
    assert steps == list(range(5, 401, 5))  # no step lost or repeated in the history
    assert [r.run_id for r in read_log(log)] == [run_id]


def test_two_process_ddp_on_cpu(tmp_path, corpus_text_file):
    out = tmp_path / "run"
    launcher = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--nproc_per_node",
        "2",
        "--master_port",
        "29533",
        "-m",
        "cogito.pretrain",
    ]
    run_pretrain(
        [
            "--train_file",
            corpus_text_file,
            "--output_dir",
            out,
            "--max_steps",
            "6",
            "--experiment_log",
            "none",
            "--ddp_backend",
            "gloo",
            *TINY,
        ],
        launcher=launcher,
    )
    summary = summary_of(out)
    assert summary["world_size"] == 2
    assert summary["global_step"] == 6
    assert (out / "model.safetensors").exists()


def test_wandb_offline_run_needs_no_network(tmp_path, corpus_text_file):
    out = tmp_path / "run"
    started = time.time()
    args = [
        "--train_file",
        corpus_text_file,
        "--output_dir",
        out,
        "--max_steps",
        "4",
        "--experiment_log",
        "none",
        *TINY,
        "--report_to",
        "wandb",
    ]
    run_pretrain(
        args, env_extra={"WANDB_MODE": "offline", "WANDB_DIR": str(tmp_path), "WANDB_API_KEY": ""}, timeout=240
    )
    assert time.time() - started < 180  # no ~107 s network hang
    run_id = summary_of(out)["run_id"]
    runs = list((tmp_path / "wandb").glob("offline-run-*"))
    assert len(runs) == 1 and runs[0].name.endswith(run_id)


def test_multi_process_run_without_output_dir_is_refused(tmp_path, corpus_text_file):
    launcher = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--nproc_per_node",
        "2",
        "--master_port",
        "29534",
        "-m",
        "cogito.pretrain",
    ]
    env = dict(os.environ)
    result = subprocess.run(
        launcher
        + [
            "--train_file",
            str(corpus_text_file),
            "--max_steps",
            "1",
            "--experiment_log",
            "none",
            "--ddp_backend",
            "gloo",
            *TINY,
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        cwd=tmp_path,
    )
    assert result.returncode != 0
    assert "needs --output_dir" in result.stdout + result.stderr
    assert not (tmp_path / "runs").exists()


def test_wandb_project_flag_wins_over_the_environment(tmp_path, corpus_text_file, monkeypatch):
    from cogito.cli.pretrain import parse_args
    from cogito.training.pretrain import pretrain

    monkeypatch.setenv("WANDB_PROJECT", "from-the-shell")
    parsed = parse_args(
        [
            "--train_file",
            str(corpus_text_file),
            "--output_dir",
            str(tmp_path / "run"),
            "--max_steps",
            "1",
            "--experiment_log",
            "none",
            *TINY,
            "--wandb_project",
            "from-the-flag",
        ]
    )
    pretrain(*parsed)
    assert os.environ["WANDB_PROJECT"] == "from-the-flag"


def _kill_when(process, condition, timeout=300):
    deadline = time.time() + timeout
    while time.time() < deadline and not condition():
        assert process.poll() is None, process.stdout.read()[-3000:]
        time.sleep(0.02)
    process.send_signal(signal.SIGKILL)
    process.wait(timeout=30)


KILL_MOMENTS = [
    "during_training",
    "after_a_checkpoint",
    "after_the_last_checkpoint",
    "during_the_final_log_write",
    "after_finishing",
]


@pytest.mark.parametrize("moment", KILL_MOMENTS)
def test_kill_9_then_resume_leaves_one_row_one_folder_and_a_loadable_model(tmp_path, corpus_text_file, moment):
    from cogito import CogitoForMaskedLM
    from cogito.hub_cards.log import _locked

    out, log = tmp_path / "run", tmp_path / "log.md"
    args = ["--train_file", corpus_text_file, "--output_dir", out, "--max_steps", "40", "--save_steps", "10"]
    args += ["--experiment_log", log, *TINY]
    if moment == "after_finishing":
        run_pretrain(args)
    elif moment == "during_the_final_log_write":
        # Holding the log's lock stops the run inside its final log write, after its summary is saved.
        with _locked(log):
            process = run_pretrain(args, wait=False)
            _kill_when(process, lambda: (out / "cogito_summary.json").exists())
        assert not log.exists() or read_log(log) == []
    else:
        process = run_pretrain(args, wait=False)
        # during_training: as the first checkpoint folder appears (possibly half written); else once complete.
        complete = {"during_training": None, "after_a_checkpoint": 20, "after_the_last_checkpoint": 40}[moment]
        marker = out / "checkpoint-10" if complete is None else out / f"checkpoint-{complete}" / "trainer_state.json"
        _kill_when(process, marker.exists)
        assert not log.exists() or read_log(log) == []
    run_id = json.loads((out / "cogito_run.json").read_text())["run_id"]
    result = run_pretrain(args + ["--resume_from_checkpoint", "latest"])
    if moment in ("during_the_final_log_write", "after_finishing"):
        assert "already finished" in result.stdout
    assert [r.run_id for r in read_log(log)] == [run_id]
    assert sorted(p.name for p in tmp_path.iterdir() if p.is_dir()) == ["run"]
    assert summary_of(out)["global_step"] == 40
    model = CogitoForMaskedLM.from_pretrained(out)
    assert model.config.concept_num == 8


def test_training_a_finished_run_further_updates_its_log_row(tmp_path, corpus_text_file):
    out, log = tmp_path / "run", tmp_path / "log.md"
    args = ["--train_file", corpus_text_file, "--output_dir", out, "--save_steps", "10"]
    args += ["--experiment_log", log, *TINY]
    run_pretrain(args + ["--max_steps", "20"])
    (first,) = read_log(log)
    from cogito.hub_cards.log import update_run

    update_run(log, first.run_id, {"Key GLUE Scores": "**RTE:** 51.0%", "Conclusion / Takeaway": "my own note"})
    result = run_pretrain(args + ["--max_steps", "30", "--resume_from_checkpoint", "latest"])
    assert "already finished" not in result.stdout
    (row,) = read_log(log)
    summary = summary_of(out)
    assert row.run_id == first.run_id and summary["global_step"] == 30
    assert row.mlm_loss == pytest.approx(summary["metrics"]["eval_loss"], abs=1e-3)
    assert row.mlm_loss != first.mlm_loss and row.date == first.date
    assert row.glue_scores == {"rte": 51.0}
    assert "Resumed from checkpoint-20" in row.conclusion
    assert "rerun cogito glue" in row.conclusion and "Earlier note: my own note" in row.conclusion
    again = run_pretrain(args + ["--max_steps", "30", "--resume_from_checkpoint", "latest"])
    assert "already finished" in again.stdout
    assert len(read_log(log)) == 1


# ---------------------------------------------------------------------------------------------
# Baseline arm: --model_type bert
# ---------------------------------------------------------------------------------------------


def test_baseline_bert_matches_the_concept_encoder_sizes_and_refuses_concept_flags():
    from datetime import datetime

    from transformers import BertConfig

    from cogito.training.pretrain import (
        DataArguments,
        ModelArguments,
        build_baseline_config,
        build_model_config,
        check_model_type,
    )
    from cogito.training.trainer import CogitoTrainingArguments

    class _Tokenizer:
        pad_token_id, cls_token_id, sep_token_id, mask_token_id = 0, 2, 3, 4

        def __len__(self):
            return 1000

    model_args = ModelArguments(model_type="bert", hidden_size=128, num_hidden_layers=2)
    bert = build_baseline_config(model_args, _Tokenizer(), 128)
    cogito = build_model_config(ModelArguments(hidden_size=128, num_hidden_layers=2), _Tokenizer(), 128)
    assert isinstance(bert, BertConfig)
    for name in ("vocab_size", "hidden_size", "num_hidden_layers", "num_attention_heads", "intermediate_size"):
        assert getattr(bert, name) == getattr(cogito, name), name
    assert bert.max_position_embeddings == 128 and bert.pad_token_id == 0
    now = datetime(2026, 2, 8, 21, 16, 33)
    assert run_id_for(bert, now) == "bert_mlm_H128L2_20260208_211633"

    args = CogitoTrainingArguments(output_dir="unused", report_to="none", use_cpu=True)
    check_model_type(model_args, DataArguments(), args)  # a plain baseline is accepted
    regularised = CogitoTrainingArguments(
        output_dir="unused", report_to="none", use_cpu=True, concept_losses="combined"
    )
    with pytest.raises(ValueError, match="--model_type bert is a baseline encoder without concepts.*--concept_losses"):
        check_model_type(model_args, DataArguments(), regularised)
    with pytest.raises(ValueError, match="--concept_num"):
        check_model_type(ModelArguments(model_type="bert", concept_num=32), DataArguments(), args)
    with pytest.raises(ValueError, match="--objective mlm only; got --objective mdlm"):
        check_model_type(model_args, DataArguments(objective="mdlm"), args)
    with pytest.raises(ValueError, match="--model_type must be one of cogito, bert; got 'gpt'"):
        check_model_type(ModelArguments(model_type="gpt"), DataArguments(), args)


def test_baseline_bert_trains_through_the_same_pipeline_and_writes_a_log_row(tmp_path, corpus_text_file):
    out, log = tmp_path / "bert", tmp_path / "log.md"
    pairs = dict(zip(TINY[::2], TINY[1::2]))
    for concept_flag in ("--concept_num", "--concept_losses", "--loss_weighting"):
        del pairs[concept_flag]
    tiny = [item for pair in pairs.items() for item in pair]
    run_pretrain(
        ["--model_type", "bert", "--train_file", corpus_text_file, "--output_dir", out, "--max_steps", "10"]
        + ["--experiment_log", log, *tiny]
    )
    summary = summary_of(out)
    assert summary["run_id"].startswith("bert_mlm_H32L2_")
    config = json.loads((out / "config.json").read_text())
    assert config["model_type"] == "bert" and config["intermediate_size"] == 64
    metrics = summary["metrics"]
    for key in ("eval_loss", "eval_accuracy", "eval_mask_loss", "eval_floor_mask_loss", "eval_floor_no_context_loss"):
        assert key in metrics, key
    assert not any(key.startswith("eval_concept_") for key in metrics)
    (row,) = read_log(log)
    assert row.run_id == summary["run_id"]
    assert row.mlm_loss == pytest.approx(metrics["eval_loss"], abs=1e-3)
    assert "baseline bert encoder" in row.conclusion and "no-context floor" in row.conclusion
    from transformers import AutoModelForMaskedLM

    assert type(AutoModelForMaskedLM.from_pretrained(out)).__name__ == "BertForMaskedLM"
