"""The `cogito` command line: dispatch, one way to take arguments, one-line user errors with exit code 2."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

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
    # Its own folder may be rewritten by a second smoke test (someone else's model folder may not).
    assert main(["smoke", "--output_dir", str(tmp_path / "out"), "--steps", "2"]) == 0
    assert json.loads((tmp_path / "out" / "smoke_summary.json").read_text())["output_dir"] == str(tmp_path / "out")


# Every sub-command, a few bad invocations: exit code 2, one line `cogito <command>: error: ...`
# naming the bad value, no traceback. `{tmp}` is the test's temporary folder.
BAD_INVOCATIONS = [
    ("pretrain", ["--concept_num", "many"], "invalid int value: 'many'"),
    ("pretrain", ["--no_such_flag", "1"], "unrecognized arguments: --no_such_flag"),
    ("pretrain", ["--recipe", "nope"], "unknown recipe 'nope'"),
    ("pretrain", ["--output_dir", "{tmp}/run", "--decoder_type", "mlp"], "got 'mlp'"),
    ("pretrain", ["--output_dir", "{tmp}/run", "--concept_losses", "orthogonalty"], "'orthogonalty'"),
    ("glue", ["--output_dir", "{tmp}"], "required: --model_name_or_path"),
    ("glue", ["--model_name_or_path", "m", "--output_dir", "{tmp}", "--selection", "best"], "got 'best'"),
    ("glue", ["--model_name_or_path", "m", "--output_dir", "{tmp}", "--heads", "cls"], "unknown head 'cls'"),
    ("glue", ["--model_name_or_path", "m", "--output_dir", "{tmp}", "--eval_strategy", "epoch"], "--eval_strategy"),
    ("analyze", ["--model_name_or_path", "{tmp}", "--text_file", "{tmp}/missing.txt"], "missing.txt"),
    ("analyze", ["--model_name_or_path", "{tmp}", "--text_file", "x", "--batch_size", "0"], "--batch_size"),
    ("card", ["--output_dir", "{tmp}"], "--run_id"),
    ("card", ["--experiment_log", "{tmp}/nope.md", "--run_id", "x", "--output_dir", "{tmp}"], "nope.md"),
    ("push", ["--model_name_or_path", "{tmp}/nowhere", "--namespace", "a", "--dry_run"], "nowhere"),
    ("push", ["--model_name_or_path", "{tmp}", "--repo_id", "a/b", "--namespace", "a"], "'a/b'"),
    ("demo", ["--concept_num", "0"], "--concept_num must be >= 1, got 0"),
    ("demo", ["--output_dir", "{tmp}", "--decoder_type", "mlp"], "got 'mlp'"),
    ("demo", ["--output_dir", "{tmp}", "--loss_weighting", "magic"], "got 'magic'"),
    (
        "demo",
        ["--output_dir", "{tmp}", "--objective", "bert"],
        "--objective must be one of mlm, mdlm, tsdae; got 'bert'",
    ),
    ("smoke", ["--steps", "0"], "--steps must be between 1 and 100000, got 0"),
    ("smoke", ["--seed", "x"], "invalid int value: 'x'"),
]


@pytest.mark.parametrize(("command", "args", "message"), BAD_INVOCATIONS)
def test_bad_invocations_end_with_one_line_and_exit_code_2(command, args, message, tmp_path, capsys):
    args = [a.replace("{tmp}", str(tmp_path)) for a in args]
    assert main([command, *args]) == 2
    out, err = capsys.readouterr()
    assert err.startswith(f"cogito {command}: error: "), err
    assert err.count("\n") == 1, err  # one line
    assert message in err, err
    assert "Traceback" not in out + err
    assert not (tmp_path / "run").exists()  # refused before any work


# The first bad invocation of each command, run through `python -m cogito.cli` in a fresh process.
FIRST_PER_COMMAND = list(
    {command: (command, args, message) for command, args, message in BAD_INVOCATIONS[::-1]}.values()
)


@pytest.mark.parametrize(("command", "args", "message"), FIRST_PER_COMMAND)
def test_a_bad_invocation_in_a_fresh_process_prints_one_line_without_traceback(command, args, message, tmp_path):
    repo = Path(__file__).resolve().parents[1]
    env = dict(os.environ, PYTHONPATH=str(repo) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    result = subprocess.run(
        [sys.executable, "-m", "cogito.cli", command, *[a.replace("{tmp}", str(tmp_path)) for a in args]],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
        timeout=300,
    )
    assert result.returncode == 2
    lines = [line for line in result.stderr.splitlines() if line.startswith(f"cogito {command}: ")]
    assert len(lines) == 1 and lines[0].startswith(f"cogito {command}: error: ") and message in lines[0], result.stderr
    assert "Traceback" not in result.stderr + result.stdout


def test_internal_errors_keep_their_traceback(capsys):
    from cogito.cli._args import cli_command

    @cli_command("broken")
    def broken(argv):
        raise RuntimeError("a bug, not bad input")

    with pytest.raises(RuntimeError, match="a bug"):
        broken([])
    assert capsys.readouterr().err == ""


def test_old_flag_spellings_are_read_but_not_advertised(capsys):
    from cogito.cli._args import parse
    from cogito.cli.analyze import ALIASES, AnalyzeArguments

    (args,) = parse("analyze", [AnalyzeArguments], ["--model", "m", "--text_file", "t"], aliases=ALIASES)
    assert args.model_name_or_path == "m"
    (args,) = parse("analyze", [AnalyzeArguments], ["--model=m2", "--text_file", "t"], aliases=ALIASES)
    assert args.model_name_or_path == "m2"
    with pytest.raises(SystemExit):
        main(["analyze", "--help"])
    out = capsys.readouterr().out
    assert "--model_name_or_path" in out and "--model " not in out and "--model," not in out
