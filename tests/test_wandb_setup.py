"""The one W&B set-up rule (`cogito._wandb`), as every command applies it."""

from __future__ import annotations

import os

import pytest

from cogito._wandb import reports_to_wandb, setup_wandb


@pytest.fixture
def clean_env(monkeypatch, tmp_path):
    for name in ("WANDB_PROJECT", "WANDB_MODE", "WANDB_API_KEY", "WANDB_DIR"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))  # no ~/.netrc login
    return tmp_path


@pytest.mark.parametrize(
    "report_to, expected",
    [("wandb", True), ("tensorboard,wandb", True), (["wandb"], True), ("all", True), ("none", False), ([], False)],
)
def test_report_to_settings_that_include_wandb(report_to, expected):
    assert reports_to_wandb(report_to) is expected


def test_without_a_login_wandb_runs_offline_in_the_default_project(clean_env):
    assert setup_wandb("wandb", directory=clean_env / "wandb")
    assert os.environ["WANDB_MODE"] == "offline"
    assert os.environ["WANDB_PROJECT"] == "cogito"
    assert os.environ["WANDB_DIR"] == str(clean_env / "wandb")


def test_a_login_or_an_explicit_mode_is_respected(clean_env, monkeypatch):
    (clean_env / ".netrc").write_text("machine api.wandb.ai\n  login user\n  password secret\n")
    setup_wandb(["wandb"])
    assert "WANDB_MODE" not in os.environ
    monkeypatch.setenv("WANDB_MODE", "disabled")
    setup_wandb("wandb")
    assert os.environ["WANDB_MODE"] == "disabled"


def test_the_project_flag_wins_over_the_shell_and_nothing_else_changes_without_wandb(clean_env, monkeypatch):
    monkeypatch.setenv("WANDB_PROJECT", "from-the-shell")
    assert not setup_wandb("none", project="from-the-flag")
    assert os.environ["WANDB_PROJECT"] == "from-the-flag"
    assert "WANDB_MODE" not in os.environ
