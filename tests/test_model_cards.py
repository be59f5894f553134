"""Model cards from the experiment log: metadata, sections, escaping, CLI and repo naming."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest
from huggingface_hub import ModelCard
from safetensors.numpy import save_file

from cogito.cli.card import cli_main
from cogito.hub_cards.card import card_data_from_run, render_card, write_card
from cogito.hub_cards.log import GLUE_METRICS, append_run, read_log
from cogito.hub_cards.naming import repo_name_for_run

REPO = Path(__file__).resolve().parents[1]
LOG = REPO / "experiments" / "experiment_log.md"
BEST_L6 = "perceiver_mlm_H512L6C128_20260208_211633"


@pytest.fixture(scope="module")
def records():
    return read_log(LOG)


def _metadata(card: ModelCard) -> dict:
    return card.data.to_dict()


@pytest.mark.parametrize("index", range(8))
def test_card_for_every_research_row_reloads_to_the_same_metadata(records, tmp_path, index):
    record = records[index]
    card = render_card(card_data_from_run(record))
    path = write_card(card_data_from_run(record), tmp_path / "README.md")
    loaded = ModelCard.load(path)
    assert _metadata(loaded) == _metadata(card)
    reloaded_scores = {
        (r.dataset_config, r.dataset_split, r.metric_type): r.metric_value for r in (loaded.data.eval_results or [])
    }
    expected = {
        (GLUE_METRICS[t].dataset_config, GLUE_METRICS[t].dataset_split, GLUE_METRICS[t].metric_type): v
        for t, v in record.glue_scores.items()
    }
    assert reloaded_scores == expected
    assert loaded.text == card.text


def test_best_l6_card_metadata(records):
    card = render_card(card_data_from_run(records[5]))
    meta = _metadata(card)
    assert meta["license"] == "apache-2.0"
    assert meta["library_name"] == "transformers" and meta["pipeline_tag"] == "fill-mask"
    assert meta["tags"][:2] == ["concept-encoder", "perceiver"]
    assert meta["datasets"] == ["JeanKaddour/minipile"]
    assert meta["widget"] == [{"text": "Paris is the [MASK] of France."}]
    (index,) = meta["model-index"]
    assert index["name"] == "perceiver-mlm-l6"
    results = {r["dataset"]["config"] + "/" + r["dataset"]["split"]: r for r in index["results"]}
    assert set(results) == {"mrpc/validation", "qqp/validation", "mnli/validation_matched", "stsb/validation"}
    assert results["stsb/validation"]["metrics"] == [{"type": "pearsonr", "value": 0.627, "name": "Pearson r"}]
    assert results["mrpc/validation"]["metrics"][0]["type"] == "f1"
    assert results["mnli/validation_matched"]["metrics"][0] == {
        "type": "accuracy",
        "value": 59.1,
        "name": "Accuracy (%)",
    }
    assert {r["task"]["type"] for r in index["results"]} == {"text-classification"}
    assert {r["dataset"]["type"] for r in index["results"]} == {"nyu-mll/glue"}


def test_card_sections_state_the_logged_facts(records):
    text = render_card(card_data_from_run(records[5])).text
    for heading in (
        "## Architecture",
        "## Pretraining",
        "## GLUE",
        "## Conclusion",
        "## Limitations",
        "## Usage",
        "## Citation",
    ):
        assert heading in text
    assert "| MNLI-m | Accuracy (%) | 59.1 |" in text and "| STS-B | Pearson r | 0.627 |" in text
    assert "best fine-tuning epoch on that validation set" in text and "--selection heldout" in text
    assert "`cogito glue` reports the final epoch" in text and "\\`" not in text  # code spans, not escaped
    assert "GLUE scores are validation-set results (the note above says how each was selected)" in text
    assert "| MLM loss (final) | 2.537 |" in text
    assert "| Effective rank | 5 / 128 (4%)" in text
    assert "**Concept collapse:** normalised effective rank 4%" in text
    assert "trust_remote_code=True" in text and 'revision = "main"' in text
    assert 'repo_id = "cogito/perceiver-mlm-l6"' in text
    assert "@software{cogito_perceiver_mlm_l6," in text
    assert "severe dimensional collapse" in text


def test_collapse_warning_only_below_ten_percent_rank(records):
    texts = [render_card(card_data_from_run(r)).text for r in records]
    assert ["Concept collapse" in t for t in texts] == [False] * 5 + [True, False, False]
    assert "Kendall–Gal uncertainty weighting can drive the MLM task weight down" in texts[6]


def test_unevaluated_run_has_no_model_index(records):
    card = render_card(card_data_from_run(records[7]))
    assert "model-index" not in _metadata(card)
    assert "Not evaluated on GLUE yet" in card.text
    assert 'repo_id = "cogito/perceiver-mlm-l6-combined-fixed-0.1"' in card.text


def test_config_and_mask_token_fill_the_architecture(records):
    config = {
        "hidden_size": 512,
        "num_hidden_layers": 6,
        "concept_num": 128,
        "num_attention_heads": 8,
        "intermediate_size": 2048,
    }
    data = card_data_from_run(
        records[5], config=config, mask_token="<mask>", num_parameters=61_234_567, revision="0123abcd"
    )
    card = render_card(data)
    assert "| Attention heads | 8 |" in card.text and "| FFN size | 2048 |" in card.text
    assert "| Parameters | 61.2M (61,234,567) |" in card.text
    assert 'revision = "0123abcd"' in card.text
    assert _metadata(card)["widget"] == [{"text": "Paris is the <mask> of France."}]
    with pytest.raises(ValueError, match="config num_hidden_layers=2 disagrees with the log"):
        card_data_from_run(records[5], config={**config, "num_hidden_layers": 2})
    with pytest.raises(ValueError, match="mask token"):
        card_data_from_run(records[5], mask_token="[MASK]\n---")
    with pytest.raises(ValueError, match="revision .*import os.* is not a branch, tag or commit hash"):
        card_data_from_run(records[5], revision='main"; import os')


HOSTILE = {
    "Date": "2026-03-01",
    "Run ID": "perceiver_mlm_H512L6C128_20260301_000000",
    "Pretraining Data": "Minipile: {evil: yes}\n---\nlicense: mit",
    "Machine": "<img src=x onerror=alert(1)>",
    "Concept Losses": "`combined` + `kendall_gal`",
    "WandB Link": "[Link](https://wandb.ai/a/b/runs/c<script>)",
    "Conclusion / Takeaway": (
        "a | b <script>alert(1)</script> &lt;script&gt;x&lt;/script&gt; `code` **bold** "
        "[x](javascript:alert(1))\n---\nlicense: mit\n# heading"
    ),
}


def test_hostile_cells_cannot_break_yaml_tables_or_inject_markup(tmp_path):
    log = tmp_path / "log.md"
    record = append_run(log, HOSTILE)
    path = write_card(card_data_from_run(record), tmp_path / "card" / "README.md")
    raw = path.read_text(encoding="utf-8")
    loaded = ModelCard.load(path)
    meta = _metadata(loaded)
    assert meta["license"] == "apache-2.0"
    assert set(meta) == {"datasets", "language", "library_name", "license", "pipeline_tag", "tags", "widget"}
    assert meta["datasets"] == ["JeanKaddour/minipile"]
    # the YAML block is the generated one: exactly two delimiter lines in the whole file
    assert [i for i, line in enumerate(raw.splitlines()) if line.strip() == "---"] == [
        0,
        raw.splitlines().index("---", 1),
    ]
    assert "<script>" not in raw and "<img" not in raw
    assert "&lt;script&gt;" in loaded.text and "javascript:alert" not in re.findall(r"\]\(([^)]*)\)", raw)
    assert "\n# heading" not in raw and "\\# heading" in raw
    for line in loaded.text.splitlines():
        if line.startswith("|"):
            assert len(re.findall(r"(?<!\\)\|", line)) in (3, 4), line  # 2- or 3-column tables, no extra cells
    assert "(https://wandb.ai/a/b/runs/c%3Cscript%3E)" in raw


def test_cli_writes_one_card(tmp_path, capsys):
    assert cli_main(["--log", str(LOG), "--run", BEST_L6, "--output", str(tmp_path)]) == 0
    card = ModelCard.load(tmp_path / "README.md")
    assert card.data.model_name == "perceiver-mlm-l6"
    assert str(tmp_path / "README.md") in capsys.readouterr().out


def test_cli_all_writes_a_card_per_run(tmp_path, records):
    assert cli_main(["--log", str(LOG), "--all", "--output", str(tmp_path), "--namespace", "someone"]) == 0
    written = sorted(p.parent.name for p in tmp_path.glob("*/README.md"))
    assert written == sorted(r.run_id for r in records)
    assert 'repo_id = "someone/weighted-mlm-l2"' in (tmp_path / records[0].run_id / "README.md").read_text()


def test_cli_unknown_run_lists_close_matches(tmp_path, capsys):
    assert cli_main(["--log", str(LOG), "--run", "perceiver_mlm_H512L6C128_20260208", "--output", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("cogito card: error: ") and err.count("\n") == 1
    assert "no run 'perceiver_mlm_H512L6C128_20260208'" in err and BEST_L6 in err
    assert not (tmp_path / "README.md").exists()


def test_cli_help_explains_every_option(capsys):
    with pytest.raises(SystemExit) as info:
        cli_main(["--help"])
    assert info.value.code == 0
    out = capsys.readouterr().out
    for option in (
        "--experiment_log",
        "--run_id",
        "--all",
        "--output_dir",
        "--model_name_or_path",
        "--mask_token",
        "--namespace",
        "--revision",
    ):
        assert option in out
    assert "--model-dir" not in out  # old spellings are read but not advertised


def test_cli_model_dir_supplies_config_mask_token_and_parameter_count(tmp_path):
    model = tmp_path / "model"
    model.mkdir()
    (model / "config.json").write_text(
        json.dumps({"hidden_size": 512, "num_attention_heads": 8, "intermediate_size": 2048})
    )
    (model / "tokenizer_config.json").write_text(json.dumps({"mask_token": "[MASK_X]"}))
    save_file(
        {"a": np.zeros((10, 20), dtype=np.float32), "b": np.zeros((5,), dtype=np.float32)},
        str(model / "model.safetensors"),
    )
    out = tmp_path / "out"
    args = ["--experiment_log", str(LOG), "--run_id", BEST_L6, "--output_dir", str(out)]
    assert cli_main([*args, "--model_name_or_path", str(model)]) == 0
    card = ModelCard.load(out / "README.md")
    assert "| Parameters | 0.0M (205) |" in card.text and "| Attention heads | 8 |" in card.text
    assert card.data.widget == [{"text": "Paris is the [MASK_X] of France."}]
    assert cli_main(["--log", str(LOG), "--all", "--output", str(out), "--model-dir", str(model)]) == 2


@pytest.mark.parametrize(
    ("args", "name"),
    [
        (("perceiver_mlm_H512L6C128_20260208_211633",), "perceiver-mlm-l6"),
        (("perceiver_posonly_mlm_H512L2C128_20260119_204015",), "perceiver-posonly-mlm-l2"),
        (("weighted_mlm_H512L2C128_20260117_153544",), "weighted-mlm-l2"),
        (("perceiver_mlm_H256L6C64_20260301_000000",), "perceiver-mlm-h256-l6-c64"),
        (
            ("perceiver_mlm_H512L6C128_20260219_105435", ["combined"], "kendall_gal"),
            "perceiver-mlm-l6-combined-kendall-gal",
        ),
        (
            ("perceiver_mlm_H512L6C128_20260220_184029", ["combined"], "fixed=0.1"),
            "perceiver-mlm-l6-combined-fixed-0.1",
        ),
        (("perceiver_mlm_H512L6C128", ["variance", "uniformity"]), "perceiver-mlm-l6-variance-uniformity"),
    ],
)
def test_repo_names(args, name):
    assert repo_name_for_run(*args) == name
    assert repo_name_for_run(*args) == name  # deterministic


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("bert_mlm_H512L6C128_x",), "does not look like"),
        (("perceiver_mlm_H512L6C128_x", None, "kendall_gal"), "without concept losses"),
        (("perceiver_mlm_H512L6C128_x", ["***"]), "concept loss '\\*\\*\\*'"),
    ],
)
def test_repo_name_rejects_bad_input(args, message):
    with pytest.raises(ValueError, match=message):
        repo_name_for_run(*args)


SICK_PAWS_LOG = (
    "# Log\n\n"
    "| Date | Run ID / Model Type | MLM Loss | Key GLUE Scores |\n|---|---|---|---|\n"
    "| 2026-02-21 | `perceiver_mlm_H512L6C128_20260220_184029` | 3.57 | **MRPC:** 80.7% (floor 81.2) <br> "
    "**QQP:** 64.9% (floor 53.8) <br> **PAWS:** 57.6% |\n"
    "| 2026-02-23 | `perceiver_mlm_H512L2C128_20260223_203349` | 1.433 | **MRPC:** 80.0% <br> **STS-B:** 0.138 <br> "
    "**PAWS:** 55.98% <br> **SICK-R:** 0.064 <br> **SICK-E:** 57.78% <br> **XNLI \\| dev:** 61.0% <script> |\n"
    "| 2026-02-24 | `weighted_mlm_H512L2C128_20260224_000000` | low | **MRPC:** 0.81 |\n"
)


def test_card_all_renders_every_row_of_a_log_with_sick_paws_and_an_unknown_label(tmp_path, capsys):
    log = tmp_path / "log.md"
    log.write_text(SICK_PAWS_LOG, encoding="utf-8")
    assert cli_main(["--experiment_log", str(log), "--all", "--output_dir", str(tmp_path / "cards")]) == 0
    run_ids = [r.run_id for r in read_log(log)]
    assert len(run_ids) == 3
    cards = {run_id: (tmp_path / "cards" / run_id / "README.md").read_text() for run_id in run_ids}
    floors, sick, bad = (cards[run_id] for run_id in run_ids)
    assert "| MRPC | F1 (%) | 80.7 | 81.2 **(at the floor)** |" in floors
    assert "| QQP | F1 (%) | 64.9 | 53.8 |" in floors and "| PAWS | Accuracy (%) | 57.6 | not recorded |" in floors
    assert "**Within one point of the floor:** MRPC (80.7 vs floor 81.2)" in floors and "QQP (" not in floors
    assert "| SICK-R | Pearson r | 0.064 | not recorded |" in sick and "| SICK-E | Accuracy (%) | 57.78 |" in sick
    assert "| XNLI \\| dev | as logged | 61.0% | not recorded |" in sick and "script" not in sick  # markup dropped
    assert "Within one point" not in sick  # no floor recorded, nothing claimed
    meta = ModelCard(sick).data.to_dict()
    configs = {r["dataset"]["type"] + "/" + r["dataset"]["config"] for r in meta["model-index"][0]["results"]}
    assert configs == {
        "nyu-mll/glue/mrpc",
        "nyu-mll/glue/stsb",
        "google-research-datasets/paws/labeled_final",
        "RobZamp/sick/default",
    }  # the unknown entry is in the table, not in the model-index
    assert "| MRPC | as logged | 0.81 | not recorded |" in bad  # a value it cannot read: shown as written
    assert "(floor" not in bad
    assert "cannot read" not in capsys.readouterr().out  # problems are warnings, not output
    one = tmp_path / "one"
    assert cli_main(["--experiment_log", str(log), "--run_id", run_ids[0], "--output_dir", str(one)]) == 0
    assert (one / "README.md").read_text() == floors


def test_card_all_skips_a_row_it_cannot_make_a_folder_or_card_for_and_says_which(tmp_path, capsys):
    good = "perceiver_mlm_H512L6C128_20260220_184029"
    log = tmp_path / "log.md"
    log.write_text(
        "| Date | Run ID / Model Type | MLM Loss |\n|---|---|---|\n"
        f"| 2026-02-21 | `{good}` | 3.57 |\n"
        "| 2026-02-22 | `../escape` | 3.0 |\n"
        "| 2026-02-23 | `bert_mlm_H512L6C128_x` | 2.0 |\n",
        encoding="utf-8",
    )
    cards = tmp_path / "cards"
    assert cli_main(["--experiment_log", str(log), "--all", "--output_dir", str(cards)]) == 0
    out, err = capsys.readouterr()
    assert sorted(p.name for p in cards.iterdir()) == [good] and (cards / good / "README.md").is_file()
    warnings = [line for line in err.splitlines() if line.startswith("cogito card: warning: skipped ")]
    assert len(warnings) == 2, err
    assert "line 4, run '../escape': the run id cannot be a folder name" in warnings[0]
    assert "line 5, run 'bert_mlm_H512L6C128_x'" in warnings[1] and "does not look like" in warnings[1]
    assert not (tmp_path / "escape").exists()

    only_bad = tmp_path / "bad.md"
    only_bad.write_text(log.read_text().replace(f"`{good}`", "`a/b`"), encoding="utf-8")
    assert cli_main(["--experiment_log", str(only_bad), "--all", "--output_dir", str(tmp_path / "none")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("cogito card: error: no card could be made from") and err.count("\n") == 1, err
    assert not (tmp_path / "none").exists()
