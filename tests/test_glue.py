"""GLUE runner: metrics, task table, data loading, every head, selection, zero-shot STS-B, the log.

Fine-tuning runs go through the real code path on slices of the real GLUE-format data in
`../shared/data/glue` (the `glue_data` fixture of conftest; a missing folder fails the tests)
with a tiny Cogito model.
"""

from __future__ import annotations

import csv
import json
import math
import re
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import tiny_config

from cogito import CogitoForMaskedLM
from cogito.cli.glue import GlueLogArguments, cli_main, glue_log_scores, run_glue_and_log
from cogito.evaluation.glue.run import (
    GlueArguments,
    PairClassifier,
    embed,
    load_encoder,
    load_tokenizer,
    pair_features,
    run_glue,
    select_epoch,
    zero_shot_similarity,
)
from cogito.evaluation.glue.tasks import (
    GLUE_TASKS,
    METRIC_NAMES,
    TASKS,
    combined_score,
    custom_task,
    f1,
    get_task,
    load_task_data,
    matthews_correlation,
    pearson,
    predictions_from_logits,
    read_split,
    resolve_tasks,
    spearman,
    task_metrics,
)
from cogito.hub_cards.log import find_run, read_log

REPO = Path(__file__).resolve().parents[1]
LOG = REPO / "experiments" / "experiment_log.md"
FAST = dict(
    max_seq_length=64,
    learning_rate=1e-3,
    warmup_steps=0,
    per_device_train_batch_size=16,
    per_device_eval_batch_size=50,
    logging_steps=5,
)


@pytest.fixture(scope="module", autouse=True)
def one_torch_thread():
    """Hidden-32 models gain nothing from intra-op threads; on a shared 2-core machine they
    oversubscribe the cores and made these runs ~20x slower."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def tiny_model_dir(tmp_path_factory, tiny_tokenizer):
    """A randomly initialised tiny Cogito MLM checkpoint with its tokenizer, as a pretrain run saves it."""
    torch.manual_seed(0)
    folder = tmp_path_factory.mktemp("tiny_cogito")
    CogitoForMaskedLM(tiny_config()).save_pretrained(folder)
    tiny_tokenizer.save_pretrained(folder)
    (folder / "cogito_run.json").write_text(json.dumps({"run_id": "perceiver_mlm_H512L6C128_20260208_211633"}))
    return folder


def write_tsv(path: Path, header: list[str], rows: list[list]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    lines = ["\t".join(header)] + ["\t".join(str(c) for c in row) for row in rows]
    path.write_text("\n".join(lines) + "\n")
    return path


# --------------------------------------------------------------------------- metrics


def test_metrics_match_hand_computed_values():
    predictions, labels = [1, 1, 0, 0], [1, 0, 0, 0]
    # TP=1 FP=1 TN=2 FN=0: MCC = (1*2 - 1*0) / sqrt(2*1*3*2); F1 = 2*0.5*1/(0.5+1)
    assert matthews_correlation(predictions, labels) == pytest.approx(2 / math.sqrt(12))
    assert f1(predictions, labels) == pytest.approx(2 / 3)
    # x=[1,2,3], y=[1,2,4]: cov=3, Sxx=2, Syy=42/9
    assert pearson([1, 2, 3], [1, 2, 4]) == pytest.approx(3 / math.sqrt(2 * 42 / 9))
    # ranks [1,2,3] vs [3,1,2]: d^2 = 6, rho = 1 - 6*6/(3*(9-1))
    assert spearman([1, 2, 3], [3, 1, 2]) == pytest.approx(-0.5)
    assert combined_score({"accuracy": 0.75, "f1": 2 / 3}) == pytest.approx((0.75 + 2 / 3) / 2)
    mrpc = task_metrics(GLUE_TASKS["mrpc"], predictions, labels)
    assert mrpc == pytest.approx({"accuracy": 0.75, "f1": 2 / 3, "combined_score": (0.75 + 2 / 3) / 2})
    assert math.isnan(pearson([1, 1, 1], [1, 2, 3]))


def test_stsb_predictions_of_shape_n_by_1_become_a_vector():
    stsb = GLUE_TASKS["stsb"]
    logits = np.array([[0.5], [2.0], [4.5]])
    predictions = predictions_from_logits(stsb, logits)
    assert predictions.shape == (3,)
    scores = task_metrics(stsb, predictions, [1.0, 2.0, 5.0])
    assert set(scores) == {"pearson", "spearmanr", "combined_score"}
    assert scores["spearmanr"] == pytest.approx(1.0)
    assert predictions_from_logits(GLUE_TASKS["mnli"], np.array([[0.1, 2.0, 0.3], [3.0, 0.0, 0.0]])).tolist() == [1, 0]


# --------------------------------------------------------------------------- the task table


def test_task_table_has_metrics_labels_epochs_and_splits_for_every_glue_task():
    assert set(GLUE_TASKS) == {"cola", "sst2", "mrpc", "stsb", "qqp", "mnli", "qnli", "rte", "wnli"}
    for task in GLUE_TASKS.values():
        assert task.metrics and set(task.metrics) <= set(METRIC_NAMES)
        assert len(task.text_keys) == len(task.tsv_columns) in (1, 2)
    assert {name: t.num_labels for name, t in GLUE_TASKS.items()} == {
        "cola": 2,
        "sst2": 2,
        "mrpc": 2,
        "stsb": 1,
        "qqp": 2,
        "mnli": 3,
        "qnli": 2,
        "rte": 2,
        "wnli": 2,
    }
    assert GLUE_TASKS["cola"].metrics == ("matthews_correlation",)
    assert GLUE_TASKS["mrpc"].metrics == GLUE_TASKS["qqp"].metrics == ("accuracy", "f1")
    assert GLUE_TASKS["stsb"].is_regression and GLUE_TASKS["stsb"].metrics == ("pearson", "spearmanr")
    assert list(GLUE_TASKS["mnli"].splits()) == ["mnli_m", "mnli_mm"]
    assert {n: t.epochs for n, t in GLUE_TASKS.items()} == {
        "cola": 20,
        "mrpc": 20,
        "rte": 20,
        "stsb": 20,
        "wnli": 20,
        "sst2": 5,
        "qnli": 3,
        "qqp": 3,
        "mnli": 3,
    }
    assert TASKS["austen"].num_labels == 6 and not TASKS["austen"].is_pair
    assert TASKS["wordnet"].is_pair and TASKS["wordnet"].folder == "WORDNET"


def test_task_names_resolve_and_unknown_task_lists_the_tasks():
    assert get_task("SST-2") is get_task("sst2") is GLUE_TASKS["sst2"]
    assert get_task("STS-B").name == "stsb"
    assert [t.name for t in resolve_tasks(["all"])] == list(GLUE_TASKS)
    assert [t.name for t in resolve_tasks(["sst2", "rte", "sst2"])] == ["sst2", "rte"]
    with pytest.raises(ValueError, match=r"unknown task 'sst3'.*sst2.*mnli.*austen"):
        resolve_tasks(["sst3"])


def test_cli_rejects_unknown_task_with_the_list(tiny_model_dir, tmp_path, capsys):
    code = cli_main(["--model_name_or_path", str(tiny_model_dir), "--output_dir", str(tmp_path), "--tasks", "glu"])
    assert code == 2
    err = capsys.readouterr().err
    assert "'glu'" in err and "cola" in err and "wnli" in err


# --------------------------------------------------------------------------- data


def test_rte_string_labels_map_to_the_label_names(glue_data):
    data = read_split(GLUE_TASKS["rte"], glue_data / "RTE" / "dev.tsv")
    assert set(data) == {"text_a", "text_b", "label"}
    assert len(data["label"]) == 800 and set(data["label"]) == {0, 1}
    raw = list(csv.reader(open(glue_data / "RTE" / "dev.tsv"), delimiter="\t", quoting=csv.QUOTE_NONE))
    assert data["label"][:20] == [("entailment", "not_entailment").index(r[3]) for r in raw[1:21]]


def test_label_outside_the_label_set_names_file_row_and_value(tmp_path):
    path = write_tsv(
        tmp_path / "RTE" / "train.tsv",
        ["index", "sentence1", "sentence2", "label"],
        [[0, "a cat", "an animal", "entailment"], [1, "a dog", "a cat", "contradiction"]],
    )
    with pytest.raises(ValueError, match=r"train\.tsv row 3: label 'contradiction'.*entailment, not_entailment"):
        read_split(GLUE_TASKS["rte"], path)
    stsb = write_tsv(tmp_path / "s.tsv", ["sentence1", "sentence2", "score"], [["a", "b", "high"]])
    with pytest.raises(ValueError, match=r"s\.tsv row 2: label 'high' is not a number"):
        read_split(GLUE_TASKS["stsb"], stsb)


def test_missing_column_or_split_names_the_file(tmp_path):
    path = write_tsv(tmp_path / "SST-2" / "train.tsv", ["text", "label"], [["good film", 1]])
    with pytest.raises(ValueError, match=r"train\.tsv: no text column 'sentence'.*\['text', 'label'\]"):
        read_split(GLUE_TASKS["sst2"], path)
    with pytest.raises(ValueError, match=r"SST-2 has no dev\.tsv"):
        load_task_data(GLUE_TASKS["sst2"], tmp_path)
    with pytest.raises(ValueError, match=r"has no MRPC folder"):
        load_task_data(GLUE_TASKS["mrpc"], tmp_path)


def test_glue_download_layouts_cola_without_header_and_mnli_two_dev_files(tmp_path):
    write_tsv(
        tmp_path / "CoLA" / "train.tsv", ["gj04", "1", "", "the man left ."], [["gj04", "0", "*", "left the man ."]]
    )
    write_tsv(tmp_path / "CoLA" / "dev.tsv", ["gj04", "1", "", "she is here ."], [])
    task, data = load_task_data(GLUE_TASKS["cola"], tmp_path)
    assert data["train"] == {"text_a": ["the man left .", "left the man ."], "label": [1, 0]}
    header = ["index", "promptID", "pairID", "genre", "sentence1", "sentence2", "gold_label"]
    rows = [
        [0, 1, 1, "g", "a man sleeps", "a man is awake", "contradiction"],
        [1, 2, 2, "g", "it rains", "it is wet", "entailment"],
    ]
    for name in ("train", "dev_matched", "dev_mismatched"):
        write_tsv(tmp_path / "MNLI" / f"{name}.tsv", header, rows)
    task, data = load_task_data(GLUE_TASKS["mnli"], tmp_path)
    assert set(data) == {"train", "mnli_m", "mnli_mm"}
    assert data["mnli_mm"]["label"] == [2, 0] and data["mnli_m"]["text_b"] == ["a man is awake", "it is wet"]


def test_custom_task_reads_label_names_from_train(tmp_path):
    write_tsv(tmp_path / "POL" / "train.tsv", ["text", "y"], [["good", "pos"], ["bad", "neg"]])
    write_tsv(tmp_path / "POL" / "dev.tsv", ["text", "y"], [["fine", "pos"]])
    task, data = load_task_data(custom_task("pol", ["text"], "y"), tmp_path)
    assert task.label_names == ("neg", "pos") and data["train"]["label"] == [1, 0] and data["pol"]["label"] == [1]


def test_model_folder_without_tokenizer_is_refused(tmp_path):
    CogitoForMaskedLM(tiny_config()).save_pretrained(tmp_path)
    with pytest.raises(ValueError, match=r"has no tokenizer.*--tokenizer_name"):
        load_tokenizer(str(tmp_path))


def test_head_that_does_not_fit_the_model_is_refused(glue_data, tiny_model_dir, tmp_path):
    args = GlueArguments(
        model_name_or_path=str(tiny_model_dir),
        output_dir=str(tmp_path),
        tasks=["rte"],
        heads=["native"],
        data_dir=str(glue_data),
    )
    with pytest.raises(
        ValueError, match=r"head 'native' does not apply.*Cogito.*concept_attention, mean, via_decoder"
    ):
        run_glue(args)
    with pytest.raises(ValueError, match=r"unknown head 'cls'"):
        GlueArguments(model_name_or_path=str(tiny_model_dir), output_dir=str(tmp_path), heads=["cls"])
    with pytest.raises(ValueError, match=r"--selection must be one of final, heldout, best_on_validation"):
        GlueArguments(model_name_or_path=str(tiny_model_dir), output_dir=str(tmp_path), selection="best")


# --------------------------------------------------------------------------- model selection


def test_epoch_selection_heldout_best_on_validation_and_final():
    def entry(split, epoch, score):
        return {f"eval_{split}_accuracy": score, f"eval_{split}_combined_score": score, "epoch": epoch}

    history = [
        entry("heldout", 1.0, 0.6),
        entry("rte", 1.0, 0.50),
        entry("heldout", 2.0, 0.7),
        entry("rte", 2.0, 0.52),
        entry("heldout", 3.0, 0.7),
        entry("rte", 3.0, 0.58),
        {"loss": 0.3, "epoch": 3.0},
    ]
    keys = ["heldout", "rte"]
    assert select_epoch(history, keys, "heldout") == ({"rte": {"accuracy": 0.52, "combined_score": 0.52}}, 2.0)
    assert select_epoch(history, keys, "best_on_validation")[1] == 3.0
    assert select_epoch(history[1::2], ["rte"], "final")[1] == 3.0


# --------------------------------------------------------------------------- fine-tuning runs


def test_finetune_rte_and_sst2_slices_writes_results(glue_data, tiny_model_dir, tmp_path):
    args = GlueArguments(
        model_name_or_path=str(tiny_model_dir),
        output_dir=str(tmp_path / "out"),
        tasks=["rte", "sst2"],
        data_dir=str(glue_data),
        max_train_samples=200,
        max_eval_samples=100,
        num_train_epochs=1,
        seed=7,
        **FAST,
    )
    summary = run_glue(args)
    payload = json.loads((tmp_path / "out" / "results.json").read_text())
    results = {r["task"]: r for r in payload["results"]}
    assert set(results) == {"rte", "sst2"}
    for result in results.values():
        assert 0.0 <= result["metrics"]["accuracy"] <= 1.0
        assert result["combined_score"] == result["metrics"]["accuracy"]
        assert result["selection"] == "final_epoch" and result["selected_epoch"] == 1.0
        assert result["head"] == "concept_attention" and result["seed"] == 7
        assert result["num_train"] == 200 and result["num_validation"] == 100
        assert result["params"] > 0 and result["train_seconds"] > 0 and result["eval_seconds"] > 0
        assert result["source_checkpoint"] == str(tiny_model_dir)
    assert results["rte"]["steps"] == math.ceil(200 / 16)
    rows = list(csv.DictReader(open(tmp_path / "out" / "results.csv")))
    assert [(r["task"], r["metric"]) for r in rows] == [("rte", "accuracy"), ("sst2", "accuracy")]
    assert float(rows[0]["score"]) == pytest.approx(results["rte"]["metrics"]["accuracy"])
    assert summary["scores"]["sst2/concept_attention"] == results["sst2"]["combined_score"]


def test_same_seed_gives_the_same_scores_other_heads_and_honest_selection_labels(glue_data, tiny_model_dir, tmp_path):
    common = dict(
        tasks=["rte"], data_dir=str(glue_data), max_train_samples=80, max_eval_samples=40, num_train_epochs=2, **FAST
    )
    first = run_glue(
        GlueArguments(
            model_name_or_path=str(tiny_model_dir),
            output_dir=str(tmp_path / "a"),
            heads=["mean", "via_decoder"],
            selection="heldout",
            seed=3,
            **common,
        )
    )
    again = run_glue(
        GlueArguments(
            model_name_or_path=str(tiny_model_dir),
            output_dir=str(tmp_path / "b"),
            heads=["mean"],
            selection="heldout",
            seed=3,
            **common,
        )
    )
    assert again["scores"]["rte/mean"] == first["scores"]["rte/mean"]
    results = json.loads((tmp_path / "a" / "results.json").read_text())["results"]
    assert [r["head"] for r in results] == ["mean", "via_decoder"]
    assert all(r["selection"] == "heldout" and r["num_heldout"] == 8 and r["num_train"] == 72 for r in results)
    assert results[1]["params"] > results[0]["params"]  # via_decoder carries the pretrained decoder
    optimistic = run_glue(
        GlueArguments(
            model_name_or_path=str(tiny_model_dir),
            output_dir=str(tmp_path / "c"),
            heads=["pair"],
            selection="best_on_validation",
            **common,
        )
    )
    (result,) = json.loads((tmp_path / "c" / "results.json").read_text())["results"]
    assert result["selection"] == "best_on_validation (optimistic)" and result["head"] == "pair"
    assert optimistic["scores"]["rte/pair"] == result["combined_score"]


def test_bert_baseline_runs_through_the_same_code(glue_data, tmp_path, tiny_tokenizer):
    from transformers import BertConfig, BertForMaskedLM

    config = BertConfig(
        vocab_size=tiny_tokenizer.vocab_size,
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=64,
        max_position_embeddings=64,
    )
    BertForMaskedLM(config).save_pretrained(tmp_path / "bert")
    tiny_tokenizer.save_pretrained(tmp_path / "bert")
    run_glue(
        GlueArguments(
            model_name_or_path=str(tmp_path / "bert"),
            output_dir=str(tmp_path / "out"),
            tasks=["rte"],
            data_dir=str(glue_data),
            max_train_samples=64,
            max_eval_samples=40,
            num_train_epochs=1,
            **FAST,
        )
    )
    (result,) = json.loads((tmp_path / "out" / "results.json").read_text())["results"]
    assert result["head"] == "native" and 0 <= result["metrics"]["accuracy"] <= 1


# --------------------------------------------------------------------------- zero-shot STS-B


STSB_ROWS = [
    ["the man was in paris", "the man was in paris", 5.0],
    ["she had a letter from her sister", "her sister had a letter", 3.8],
    ["the river is long", "the city is old", 1.2],
    ["they came to the house", "they went into the house", 3.5],
    ["he was a good man", "the world is great", 0.4],
    ["his sister was in france", "the capital of france is paris", 1.5],
]


def test_zero_shot_stsb_gives_finite_correlations_and_cosine_one_for_identical_pairs(
    tiny_model_dir, tmp_path, tiny_tokenizer
):
    header = [
        "index",
        "genre",
        "filename",
        "year",
        "old_index",
        "source1",
        "source2",
        "sentence1",
        "sentence2",
        "score",
    ]
    write_tsv(
        tmp_path / "glue" / "STS-B" / "dev.tsv",
        header,
        [[i, "main", "f", "2012", i, "none", "none", a, b, s] for i, (a, b, s) in enumerate(STSB_ROWS)],
    )
    args = GlueArguments(
        model_name_or_path=str(tiny_model_dir),
        output_dir=str(tmp_path / "out"),
        tasks=["stsb"],
        heads=["zero_shot"],
        data_dir=str(tmp_path / "glue"),
        max_seq_length=64,
    )
    run_glue(args)  # no train.tsv: zero-shot needs none
    (result,) = json.loads((tmp_path / "out" / "results.json").read_text())["results"]
    assert result["selection"] == "none (zero-shot)" and result["epochs"] == 0
    assert set(result["metrics"]) == {"pearson", "spearmanr"}
    assert all(math.isfinite(v) and -1 <= v <= 1 for v in result["metrics"].values())

    encoder = load_encoder(str(tiny_model_dir))
    texts_a = [a for a, _, _ in STSB_ROWS]
    # Different batch padding on each side: masked padding must not change the embedding.
    similarity = zero_shot_similarity(encoder, tiny_tokenizer, texts_a, texts_a[::-1], batch_size=2)
    assert similarity[0] == pytest.approx(
        float(zero_shot_similarity(encoder, tiny_tokenizer, texts_a[:1], texts_a[-1:])[0]), abs=1e-5
    )
    same = zero_shot_similarity(encoder, tiny_tokenizer, texts_a, texts_a, batch_size=4)
    assert same == pytest.approx(np.ones(len(texts_a)), abs=1e-5)
    expected = torch.nn.functional.cosine_similarity(
        *(
            embed(
                encoder, **{k: v for k, v in tiny_tokenizer([t], return_tensors="pt").items() if k != "token_type_ids"}
            )
            for t in (texts_a[2], texts_a[4])
        ),
        dim=-1,
    )
    assert zero_shot_similarity(encoder, tiny_tokenizer, [texts_a[2]], [texts_a[4]])[0] == pytest.approx(
        expected.item(), abs=1e-5
    )


# --------------------------------------------------------------------------- the pair head


def test_pair_features_are_a_b_absdiff_product():
    a = torch.tensor([[1.0, -2.0]])
    b = torch.tensor([[3.0, 1.0]])
    assert pair_features(a, b).tolist() == [[1.0, -2.0, 3.0, 1.0, 2.0, 3.0, 3.0, -2.0]]


def test_pair_classifier_mean_pools_concepts_and_trains(tiny_model_dir, tiny_tokenizer):
    torch.manual_seed(0)
    encoder = load_encoder(str(tiny_model_dir))
    model = PairClassifier(encoder, hidden_size=32, num_labels=2, dropout=0.0)
    a = tiny_tokenizer(["the man was in paris", "she had a letter"], padding=True, return_tensors="pt")
    b = tiny_tokenizer(["he was in france", "the river is long and old"], padding=True, return_tensors="pt")
    inputs = dict(
        input_ids_a=a["input_ids"],
        attention_mask_a=a["attention_mask"],
        input_ids_b=b["input_ids"],
        attention_mask_b=b["attention_mask"],
        labels=torch.tensor([1, 0]),
    )
    with torch.no_grad():
        concepts_a = encoder.cogito(a["input_ids"], attention_mask=a["attention_mask"]).last_hidden_state  # (2, 8, 32)
        emb_a = embed(encoder, a["input_ids"], a["attention_mask"])
    assert concepts_a.shape == (2, 8, 32)
    torch.testing.assert_close(emb_a, concepts_a.mean(dim=1))
    optimizer = torch.optim.AdamW(model.parameters(), lr=3e-3)
    losses = []
    for _ in range(12):
        output = model(**inputs)
        assert output.logits.shape == (2, 2)
        optimizer.zero_grad()
        output.loss.backward()
        optimizer.step()
        losses.append(output.loss.item())
    assert losses[-1] < 0.5 * losses[0]


# --------------------------------------------------------------------------- the experiment log


def _results(task, head, metrics, trained_on=None):
    return {"task": task, "trained_on": trained_on or task, "head": head, "metrics": metrics}


def test_log_scores_follow_the_log_convention():
    results = [
        _results("mrpc", "mean", {"accuracy": 0.7, "f1": 0.8123}),
        _results("stsb", "mean", {"pearson": 0.61234, "spearmanr": 0.6}),
        _results("mnli_m", "mean", {"accuracy": 0.5912}, "mnli"),
        _results("rte", "mean", {"accuracy": 0.55}),
        _results("rte", "pair", {"accuracy": 0.99}),
        _results("stsb", "zero_shot", {"pearson": 0.2, "spearmanr": 0.2}),
        _results("austen", "mean", {"accuracy": 0.4}),
    ]
    assert glue_log_scores(results, "mean") == {"mrpc": 81.23, "stsb": 0.6123, "mnli_m": 59.12, "rte": 55.0}


def test_glue_scores_update_the_run_of_cogito_run_json_in_a_copy_of_the_log(glue_data, tiny_model_dir, tmp_path):
    log = tmp_path / "log.md"
    shutil.copy(LOG, log)
    run_id = json.loads((tiny_model_dir / "cogito_run.json").read_text())["run_id"]
    before = find_run(read_log(log), run_id)
    assert before.glue_scores["mrpc"] == 81.3
    summary = run_glue_and_log(
        GlueArguments(
            model_name_or_path=str(tiny_model_dir),
            output_dir=str(tmp_path / "out"),
            tasks=["rte"],
            data_dir=str(glue_data),
            max_train_samples=48,
            max_eval_samples=40,
            num_train_epochs=1,
            **FAST,
        ),
        GlueLogArguments(experiment_log=str(log)),
    )
    (result,) = json.loads((tmp_path / "out" / "results.json").read_text())["results"]
    after = find_run(read_log(log), run_id)
    assert after.glue_scores["rte"] == pytest.approx(result["metrics"]["accuracy"] * 100, abs=0.01)
    assert {k: v for k, v in after.glue_scores.items() if k != "rte"} == before.glue_scores  # other tasks kept
    assert "**RTE:**" in summary["experiment_log"]["cell"]
    changed = [(x, y) for x, y in zip(LOG.read_text().splitlines(), log.read_text().splitlines()) if x != y]
    assert len(changed) == 1 and run_id in changed[0][1]
    with pytest.raises(ValueError, match=r"no run 'nope'"):
        run_glue_and_log(
            GlueArguments(
                model_name_or_path=str(tiny_model_dir),
                output_dir=str(tmp_path / "x"),
                tasks=["rte"],
                data_dir=str(glue_data),
            ),
            GlueLogArguments(experiment_log=str(log), run_id="nope"),
        )


def test_cli_runs_a_local_folder_task_given_its_text_columns(glue_data, tiny_model_dir, tmp_path, capsys):
    code = cli_main(
        [
            "--model_name_or_path",
            str(tiny_model_dir),
            "--output_dir",
            str(tmp_path),
            "--tasks",
            "SUBJ",
            "--text_columns",
            "sentence",
            "--data_dir",
            str(glue_data),
            "--max_train_samples",
            "64",
            "--max_eval_samples",
            "40",
            "--num_train_epochs",
            "1",
            "--max_seq_length",
            "64",
            "--warmup_steps",
            "0",
        ]
    )
    assert code == 0
    out = capsys.readouterr().out
    summary = json.loads(out[re.search(r"^\{$", out, re.M).start() :])  # after the Trainer's own log lines
    (result,) = json.loads((tmp_path / "results.json").read_text())["results"]
    assert result["task"] == "SUBJ" and result["metrics"]["accuracy"] == summary["scores"]["SUBJ/concept_attention"]
    assert result["num_train"] == 64 and result["num_validation"] == 40


@pytest.mark.parametrize(
    "flags, message",
    [
        (["--regression", "true"], "--regression.*--text_columns"),
        (["--label_names", "a", "b"], "--label_names.*--text_columns"),
        (["--log_head", "mean"], "--experiment_log"),
    ],
)
def test_flags_that_would_be_ignored_are_refused(flags, message):
    from cogito.cli.glue import parse_args

    with pytest.raises(ValueError, match=message):
        parse_args(["--model_name_or_path", "m", "--output_dir", "o", "--tasks", "sst2", *flags])


def test_only_local_cogito_folders_run_their_code_without_opt_in(tmp_path):
    from cogito.evaluation.glue.run import trusts_remote_code

    cogito_folder = tmp_path / "cogito"
    cogito_folder.mkdir()
    (cogito_folder / "config.json").write_text('{"model_type": "cogito"}')
    other = tmp_path / "other"
    other.mkdir()
    (other / "config.json").write_text('{"model_type": "custom-thing"}')
    assert trusts_remote_code(str(cogito_folder))
    assert not trusts_remote_code(str(other)) and trusts_remote_code(str(other), opt_in=True)
    assert not trusts_remote_code("someone/some-hub-model")


def test_the_log_and_card_conventions_are_a_view_of_the_one_task_table():
    from cogito.evaluation.glue.tasks import GLUE_METRICS, METRICS, OTHER_TASKS
    from cogito.hub_cards import log as log_module

    assert log_module.GLUE_METRICS is GLUE_METRICS  # imported, not a second table
    assert list(GLUE_METRICS) == [
        "cola", "sst2", "mrpc", "stsb", "qqp", "mnli_m", "mnli_mm", "qnli", "rte", "wnli", "sickr", "sicke", "paws",
    ]  # fmt: skip
    # Each logged score names a metric the task computes; its Hub id comes from the metric table.
    for key, logged in GLUE_METRICS.items():
        task = get_task(key.split("_")[0]) if key.startswith("mnli") else TASKS[key]
        assert logged.metric in task.metrics
        assert logged.metric_type == METRICS[logged.metric].hub_type
    assert (GLUE_METRICS["stsb"].metric, GLUE_METRICS["stsb"].metric_type) == ("pearson", "pearsonr")
    assert GLUE_METRICS["mrpc"].metric == GLUE_METRICS["qqp"].metric == "f1"
    assert not GLUE_METRICS["cola"].percent and not GLUE_METRICS["stsb"].percent and GLUE_METRICS["rte"].percent
    assert GLUE_METRICS["mnli_mm"].dataset_split == "validation_mismatched"
    assert (GLUE_METRICS["paws"].dataset_type, GLUE_METRICS["paws"].dataset_config) == (
        "google-research-datasets/paws",
        "labeled_final",
    )
    assert OTHER_TASKS["paws"] is TASKS["paws"] and not TASKS["paws"].in_glue
    assert "paws" not in [t.name for t in resolve_tasks(["all"])]  # `all` is GLUE only


# --------------------------------------------------------------------------- beyond GLUE and floors


def test_sick_and_paws_are_in_the_task_table_with_the_research_hub_ids():
    sickr, sicke, paws = TASKS["sickr"], TASKS["sicke"], TASKS["paws"]
    assert sickr.is_regression and sickr.metrics == ("pearson", "spearmanr") and sickr.label == "SICK-R"
    assert sicke.label_names == ("entailment", "neutral", "contradiction") and sicke.metrics == ("accuracy",)
    assert paws.num_labels == 2 and paws.label == "PAWS"
    # The research loaded `sick` (now RobZamp/sick, a script dataset read from its Parquet conversion)
    # and `paws` / labeled_final (now google-research-datasets/paws).
    assert (sickr.hub_dataset, sickr.hub_revision, sickr.hub_label) == (
        "RobZamp/sick",
        "refs/convert/parquet",
        "relatedness_score",
    )
    assert sicke.hub_dataset == "RobZamp/sick" and sicke.hub_label == "label"
    assert (paws.hub_dataset, paws.hub_config) == ("google-research-datasets/paws", "labeled_final")
    assert get_task("SICK-R") is sickr and get_task("sick_e") is sicke
    with pytest.raises(ValueError, match="'sick' is ambiguous.*sickr, sicke"):
        get_task("sick")
    assert not {"sickr", "sicke", "paws"} & {t.name for t in resolve_tasks(["all"])}
    from cogito.evaluation.glue.tasks import GLUE_METRICS

    assert GLUE_METRICS["sickr"].label == "SICK-R" and not GLUE_METRICS["sickr"].percent
    assert GLUE_METRICS["sicke"].percent and GLUE_METRICS["sicke"].metric == "accuracy"


def test_sick_reads_the_release_layout_one_folder_for_both_tasks(tmp_path):
    from cogito.evaluation.glue.tasks import load_task_data

    header = ["pair_ID", "sentence_A", "sentence_B", "entailment_label", "relatedness_score"]
    rows = [
        [1, "a man plays", "a person plays", "ENTAILMENT", 4.5],
        [2, "a dog runs", "a cat sleeps", "NEUTRAL", 2.1],
        [3, "nobody is here", "a man is here", "CONTRADICTION", 3.0],
    ]
    write_tsv(tmp_path / "SICK" / "train.tsv", header, rows)
    write_tsv(tmp_path / "SICK" / "dev.tsv", header, rows[:2])
    _, relatedness = load_task_data(TASKS["sickr"], tmp_path)
    assert relatedness["train"]["label"] == [4.5, 2.1, 3.0] and relatedness["sickr"]["text_b"][1] == "a cat sleeps"
    _, entailment = load_task_data(TASKS["sicke"], tmp_path)
    assert entailment["train"]["label"] == [0, 1, 2] and entailment["sicke"]["label"] == [0, 1]
    # SemEval-2014's files call the column entailment_judgment
    semeval = tmp_path / "semeval"
    write_tsv(
        semeval / "SICK" / "train.tsv", ["sentence_A", "sentence_B", "entailment_judgment"], [r[1:4] for r in rows]
    )
    write_tsv(
        semeval / "SICK" / "dev.tsv", ["sentence_A", "sentence_B", "entailment_judgment"], [r[1:4] for r in rows]
    )
    assert load_task_data(TASKS["sicke"], semeval)[1]["sicke"]["label"] == [0, 1, 2]


def test_floors_are_the_best_constant_answer_per_metric():
    from cogito.evaluation.glue.tasks import accuracy, f1, floor_metrics

    # MRPC dev: 279 paraphrases of 408 -> always "equivalent" gives F1 81.2, accuracy 68.4
    labels = [1] * 279 + [0] * 129
    floor = floor_metrics(TASKS["mrpc"], labels)
    assert round(floor["metrics"]["f1"] * 100, 1) == 81.2 and round(floor["metrics"]["accuracy"] * 100, 1) == 68.4
    assert floor["answers"] == {"accuracy": "equivalent", "f1": "equivalent"}
    assert floor["combined_score"] == pytest.approx((floor["metrics"]["f1"] + floor["metrics"]["accuracy"]) / 2)
    # QQP-shaped: the majority is negative, yet the F1 floor is answering positive
    qqp = floor_metrics(TASKS["qqp"], [0] * 63 + [1] * 37)
    assert qqp["metrics"]["accuracy"] == 0.63 and qqp["metrics"]["f1"] == pytest.approx(
        f1([1] * 100, [0] * 63 + [1] * 37)
    )
    assert qqp["answers"] == {"accuracy": "not_duplicate", "f1": "duplicate"}
    assert floor_metrics(TASKS["cola"], [0, 1, 1, 1])["metrics"] == {"matthews_correlation": 0.0}
    three = floor_metrics(TASKS["sicke"], [2, 2, 1, 0, 2])
    assert (
        three["metrics"]["accuracy"] == accuracy([2] * 5, [2, 2, 1, 0, 2])
        and three["answers"]["accuracy"] == "contradiction"
    )
    regression = floor_metrics(TASKS["sickr"], [1.0, 2.0, 4.5])
    assert regression["metrics"] == {"pearson": 0.0, "spearmanr": 0.0}
    assert regression["answers"]["pearson"] == 2.5 and "no defined correlation" in regression["note"]


def test_glue_reports_the_floor_beside_every_score_mrpc_all_positive_dev(tiny_model_dir, tmp_path, capsys):
    """MRPC-shaped data whose dev set is all paraphrases: the floor F1 (answering positive everywhere)
    is 100 and appears in results.json, results.csv, the console, the log cell and the card."""
    from cogito.evaluation.glue.tasks import f1

    header = ["Quality", "#1 ID", "#2 ID", "#1 String", "#2 String"]
    train = [[i % 2, i, i, f"the {w} was here", f"the {w} is there"] for i, w in enumerate(WORDS_FOR_PAIRS * 3)]
    dev = [[1, i, i, f"a {w} came", f"the {w} came"] for i, w in enumerate(WORDS_FOR_PAIRS)]
    write_tsv(tmp_path / "data" / "MRPC" / "train.tsv", header, train)
    write_tsv(tmp_path / "data" / "MRPC" / "dev.tsv", header, dev)
    log = tmp_path / "log.md"
    shutil.copy(LOG, log)
    run_id = json.loads((tiny_model_dir / "cogito_run.json").read_text())["run_id"]
    code = cli_main(
        [
            "--model_name_or_path", str(tiny_model_dir), "--output_dir", str(tmp_path / "out"), "--tasks", "mrpc",
            "--data_dir", str(tmp_path / "data"), "--num_train_epochs", "1", "--per_device_train_batch_size", "8",
            "--experiment_log", str(log), "--report_to", "none", "--logging_steps", "5", "--max_seq_length", "32",
        ]
    )  # fmt: skip
    assert code == 0
    (result,) = json.loads((tmp_path / "out" / "results.json").read_text())["results"]
    floor = result["floor"]
    assert floor["metrics"]["f1"] == f1([1] * len(dev), [1] * len(dev)) == 1.0
    assert floor["metrics"]["accuracy"] == 1.0 and floor["answers"]["f1"] == "equivalent"
    rows = {r["metric"]: r for r in csv.DictReader(open(tmp_path / "out" / "results.csv"))}
    assert float(rows["f1"]["floor"]) == 1.0 and float(rows["f1"]["floor_combined_score"]) == 1.0
    out = capsys.readouterr().out
    assert re.search(
        r"^mrpc/concept_attention: accuracy [0-9.]+ \(floor 1\.0000\), f1 [0-9.]+ \(floor 1\.0000\)", out, re.M
    )
    summary = json.loads(out[re.search(r"^\{$", out, re.M).start() :])
    assert summary["floors"]["mrpc/concept_attention"] == 1.0
    row = find_run(read_log(log), run_id)
    assert row.glue_floors["mrpc"] == 100.0 and row.glue_scores["mrpc"] == round(result["metrics"]["f1"] * 100, 2)
    assert "(floor 100.0)" in row.cells["Key GLUE Scores"]
    assert row.glue_scores["stsb"] == 0.627 and "stsb" not in row.glue_floors  # old cells kept, without floors
    from cogito.hub_cards.card import card_data_from_run, render_card

    card = render_card(card_data_from_run(row)).text
    assert re.search(r"\| MRPC \| F1 \(%\) \| [0-9.]+ \| 100 \*\*\(at the floor\)\*\* \|", card)
    assert "**Within one point of the floor:** MRPC" in card


WORDS_FOR_PAIRS = ["cat", "dog", "house", "river", "letter", "sister", "city", "man"]


def test_log_update_keeps_floors_and_unknown_labels_and_drops_unreadable_known_entries(tmp_path):
    from cogito.cli.glue import LogTarget, glue_log_floors, update_log

    log = tmp_path / "log.md"
    log.write_text(
        "| Run ID | Key GLUE Scores |\n|---|---|\n"
        "| r1 | **MRPC:** 80.7% (floor 81.2) <br> **QQP:** 0.61 <br> **XNLI:** 61.0% |\n",
        encoding="utf-8",
    )
    results = [
        {**_results("rte", "mean", {"accuracy": 0.55}), "floor": {"metrics": {"accuracy": 0.5271}}},
        _results("stsb", "mean", {"pearson": 0.5, "spearmanr": 0.5}),  # a result of an older run: no floor
    ]
    assert glue_log_floors(results, "mean") == {"rte": 52.7}
    cell = update_log(LogTarget(log, "r1"), glue_log_scores(results, "mean"), glue_log_floors(results, "mean"))
    assert cell == (
        "**MRPC:** 80.7% (floor 81.2) <br> **RTE:** 55.0% (floor 52.7) <br> **STS-B:** 0.500 <br> **XNLI:** 61.0%"
    )
    (row,) = read_log(log)
    assert row.glue_floors == {"mrpc": 81.2, "rte": 52.7} and row.glue_other == {"XNLI": "61.0%"} and not row.problems
