"""The `cogito` command line dispatches to real commands and rejects unknown ones."""

from __future__ import annotations

import json

import pytest

from cogito.cli import main


def test_help_lists_every_command(capsys):
    assert main(["--help"]) == 0
    out = capsys.readouterr().out
    for command in ("pretrain", "analyze", "glue", "card", "push", "demo", "bench", "smoke"):
        assert command in out


def test_unknown_command_is_refused_with_the_choices(capsys):
    assert main(["pretrian"]) == 2
    err = capsys.readouterr().err
    assert "'pretrian'" in err and "pretrain" in err


@pytest.mark.slow
def test_smoke_command_trains_saves_reloads_and_fills_a_mask(tmp_path, capsys):
    assert main(["smoke", "--output_dir", str(tmp_path / "out"), "--steps", "20"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["last_loss"] < summary["first_loss"]
    assert summary["reloaded_class"].startswith("transformers_modules.")
    (predictions,) = summary["fill_mask"].values()
    assert len(predictions) == 3
    assert (tmp_path / "out" / "model.safetensors").exists()
    assert (tmp_path / "out" / "tokenizer.json").exists()
