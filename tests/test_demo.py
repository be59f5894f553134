"""`cogito demo` end to end at tiny size: every artefact of the main job is produced offline."""

from __future__ import annotations

import json

import pytest
from transformers import AutoModel

from cogito.cli.demo import cli_main
from cogito.hub_cards.log import find_run, read_log


@pytest.mark.slow
def test_demo_produces_every_artefact(tmp_path, corpus_cache, monkeypatch, capsys):
    monkeypatch.setenv("COGITO_CACHE", str(corpus_cache.parent))
    monkeypatch.setenv("WANDB_MODE", "offline")
    out = tmp_path / "demo"
    code = cli_main(
        [
            "--output_dir",
            str(out),
            "--hidden_size",
            "32",
            "--num_hidden_layers",
            "1",
            "--concept_num",
            "8",
            "--max_seq_length",
            "64",
            "--max_steps",
            "6",
            "--batch_size",
            "8",
            "--glue_epochs",
            "1",
            "--glue_max_train_samples",
            "64",
            "--analysis_samples",
            "32",
            "--namespace",
            "someone",
        ]
    )
    assert code == 0
    summary = json.loads((out / "demo_summary.json").read_text())
    assert summary["hub_repo_id"].startswith("someone/perceiver-mlm-h32-l1-c8")
    # pretraining
    assert (out / "pretrain" / "model.safetensors").exists()
    # analysis: report and plots
    report = json.loads((out / "analysis" / "concept_report.json").read_text())
    assert report["metrics"]["num_concepts"] == 8
    assert len(list((out / "analysis").glob("*.png"))) == 3
    # evaluation of the pretrained model and of its randomly initialised twin on the probe tasks
    assert set(summary["glue_pretrained"]) == {"austen/via_decoder", "wordnet/via_decoder"}
    assert set(summary["glue_random_init"]) == set(summary["glue_pretrained"])
    assert (out / "glue" / "pretrained" / "results.json").exists()
    # the experiment log row, with the probe scores in its conclusion
    row = find_run(read_log(out / "experiment_log.md"), summary["run_id"])
    assert "austen" in row.conclusion and row.effective_rank.of == 8
    # the model card and a Hub-ready folder that loads through the Auto classes
    from huggingface_hub import ModelCard

    card = ModelCard.load(out / "hub" / "README.md")
    assert card.data.pipeline_tag == "fill-mask" and "concept-encoder" in card.data.tags
    assert summary["run_id"].replace("_", "\\_") in card.text  # Markdown-escaped run id
    model = AutoModel.from_pretrained(out / "hub", trust_remote_code=True)
    assert model.config.concept_num == 8
    assert "summary" in capsys.readouterr().out
