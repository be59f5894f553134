"""One definition of the regulariser and weighting names (cogito.training.losses): a run's log row
is read back, carded and planned for the Hub with its weighting as a weighting."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from conftest import tiny_config
from huggingface_hub import HfApi

from cogito import CogitoForMaskedLM
from cogito.cli.pretrain import log_run
from cogito.hub_cards.card import card_data_from_run, render_card
from cogito.hub_cards.log import append_run, read_log
from cogito.hub_cards.push import push
from cogito.training.losses import CONCEPT_LOSSES, LOSS_WEIGHTINGS
from cogito.training.pretrain import DataArguments, ExperimentArguments
from cogito.training.trainer import CogitoTrainingArguments

RUN_ID = "perceiver_mlm_H32L2C8_20260305_101500"


def _no_hub(*args, **kwargs):
    raise AssertionError("a dry run must not call the Hub")


def _logged_run(tmp_path: Path, losses: str, weighting: str, loss_weight: float | None = None):
    """The row `cogito pretrain` writes for such a run, read back from the log."""
    log = tmp_path / "experiment_log.md"
    args = CogitoTrainingArguments(
        output_dir=str(tmp_path / "run"),
        report_to="none",
        use_cpu=True,
        concept_losses=losses,
        loss_weighting=weighting,
        loss_weight=loss_weight,
    )
    tiny_config().save_pretrained(tmp_path / "run")
    summary = {"output_dir": str(tmp_path / "run"), "run_id": RUN_ID, "metrics": {"eval_loss": 5.25}}
    log_run(log, summary, args, DataArguments(), ExperimentArguments())
    (run,) = read_log(log)
    return log, run


@pytest.mark.parametrize("weighting", sorted(set(LOSS_WEIGHTINGS) - {"fixed"}))
def test_every_learnt_weighting_is_read_back_as_the_weighting(tmp_path, weighting):
    _, run = _logged_run(tmp_path, "combined", weighting)
    assert (run.concept_losses, run.loss_weighting, run.loss_weight) == (["combined"], weighting, None)


def test_fixed_weight_and_several_regularisers_are_read_back(tmp_path):
    _, run = _logged_run(tmp_path, "variance_per_sample mst_length", "fixed", 0.05)
    assert (run.concept_losses, run.loss_weighting, run.loss_weight) == (
        ["variance_per_sample", "mst_length"],
        "fixed",
        0.05,
    )


def test_log_cells_are_read_with_the_names_of_the_losses_module(tmp_path):
    log = tmp_path / "experiment_log.md"
    every = " + ".join(f"`{name}`" for name in CONCEPT_LOSSES)
    append_run(log, {"Run ID / Model Type": f"`{RUN_ID}`", "Concept Losses": every + " + `learnable_scaled`"})
    (run,) = read_log(log)
    assert run.concept_losses == list(CONCEPT_LOSSES) and run.loss_weighting == "learnable_scaled"
    for cell, message in [
        ("`combined` + `learnable` + `kendall_gal`", "two loss weightings"),
        ("`combnied` + `learnable`", "'combnied'"),
    ]:
        bad = tmp_path / f"bad_{len(message)}.md"
        with pytest.raises(ValueError, match=message):
            append_run(bad, {"Run ID / Model Type": f"`{RUN_ID}`", "Concept Losses": cell})


def test_learnable_run_round_trips_from_log_row_to_card_and_push_plan(tmp_path, tiny_tokenizer):
    log, run = _logged_run(tmp_path, "combined", "learnable")
    assert run.concept_losses == ["combined"] and run.loss_weighting == "learnable"

    card = card_data_from_run(run)
    assert card.repo_name == "perceiver-mlm-h32-l2-c8-combined-learnable"
    text = render_card(card).text
    assert "| Concept losses | combined, learnable weighting (learnt weights) |" in text
    assert "combined + learnable" not in text  # never listed as a second regulariser

    model_dir = tmp_path / "run"
    torch.manual_seed(0)
    CogitoForMaskedLM(tiny_config()).save_pretrained(model_dir)
    tiny_tokenizer.save_pretrained(model_dir)
    (model_dir / "cogito_run.json").write_text(
        json.dumps(
            {"run_id": RUN_ID, "concept_losses": "combined", "loss_weighting": "learnable", "loss_weight": None}
        )
    )
    with pytest.MonkeyPatch.context() as mp:
        for method in ("whoami", "create_repo", "upload_folder", "repo_info"):
            mp.setattr(HfApi, method, _no_hub)
        result = push(model_dir, log=log, namespace="alice", dry_run=True, output=tmp_path / "upload")
    assert result.run.loss_weighting == "learnable" and result.run.concept_losses == ["combined"]
    assert result.repo_id == "alice/perceiver-mlm-h32-l2-c8-combined-learnable"
    published = (tmp_path / "upload" / "README.md").read_text()
    assert "| Concept losses | combined, learnable weighting (learnt weights) |" in published
