"""Tests of cogito.evaluation.geometry and report, and `cogito analyze`, against hand-computed values."""

from __future__ import annotations

import json
import math
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch
from torch import nn

from cogito.cli import analyze
from cogito.evaluation import geometry
from cogito.evaluation.geometry import concept_geometry, grade_geometry
from cogito.evaluation.report import (
    REPORT_JSON,
    SIMILARITY_PNG,
    SPECTRUM_PNG,
    SUMMARY_TXT,
    USAGE_PNG,
    collect_concept_states,
    format_summary,
    save_plots,
    write_report,
)

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
WORDS = ["the", "cat", "dog", "sat", "on", "a", "mat", "ran", "big", "small", "red", "house"]


@pytest.fixture(autouse=True)
def _offline(monkeypatch, tmp_path):
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf_home"))
    for name in ("HF_HUB_OFFLINE", "HF_DATASETS_OFFLINE", "TRANSFORMERS_OFFLINE"):
        monkeypatch.setenv(name, "1")
    monkeypatch.setenv("WANDB_MODE", "offline")


def _orthonormal_rows(rows: int, cols: int, seed: int = 0) -> torch.Tensor:
    """``rows`` orthonormal vectors of length ``cols`` (rows <= cols), float64."""
    generator = torch.Generator().manual_seed(seed)
    q, _ = torch.linalg.qr(torch.randn(cols, rows, generator=generator, dtype=torch.float64))
    return q.T  # (rows, cols)


def _with_spectrum(singular_values: list[float], concepts: int, hidden: int, seed: int = 0) -> torch.Tensor:
    """A (C, H) matrix whose singular values are exactly ``singular_values`` (rest zero)."""
    k = len(singular_values)
    left = _orthonormal_rows(k, concepts, seed).T  # (C, k)
    right = _orthonormal_rows(k, hidden, seed + 1)  # (k, H)
    return left @ torch.diag(torch.tensor(singular_values, dtype=torch.float64)) @ right


# ---------------------------------------------------------------- spectrum of the mean matrix


def test_orthonormal_concepts_have_full_effective_rank():
    concepts, hidden = 8, 16
    rows = _orthonormal_rows(concepts, hidden)
    metrics = concept_geometry(rows.unsqueeze(0).repeat(4, 1, 1))
    assert metrics["effective_rank"] == pytest.approx(concepts, rel=1e-9)
    assert metrics["effective_rank_normalized"] == pytest.approx(1.0, rel=1e-9)
    assert metrics["top1_dominance"] == pytest.approx(1 / concepts, rel=1e-9)
    assert metrics["entropy_effective_rank"] == pytest.approx(concepts, rel=1e-9)
    assert metrics["mean_abs_cosine"] == pytest.approx(0.0, abs=1e-12)
    assert metrics["uniformity"] == pytest.approx(math.exp(-4.0), rel=1e-9)
    assert (metrics["num_samples"], metrics["num_concepts"], metrics["hidden_size"]) == (4, concepts, hidden)


def test_rank5_signal_gives_effective_rank_about_5():
    # 5 orthonormal directions of equal strength mixed into 32 concepts by an orthonormal mixing
    # matrix (so the 5 singular values of M are equal), plus noise of std 1e-4 per sample.
    concepts, hidden, batch = 32, 64, 16
    signal = _with_spectrum([1.0] * 5, concepts, hidden)
    generator = torch.Generator().manual_seed(1)
    states = signal + 1e-4 * torch.randn(batch, concepts, hidden, generator=generator, dtype=torch.float64)
    metrics = concept_geometry(states)
    # Tolerance: the averaged noise adds ~27 singular values of ~2.5e-4 each, i.e. about +0.007.
    assert metrics["effective_rank"] == pytest.approx(5.0, abs=0.05)
    assert metrics["effective_rank"] > 5.0
    assert metrics["effective_rank_normalized"] == pytest.approx(5.0 / 32, abs=0.05 / 32)
    assert metrics["dims_for_95_variance"] == 5


def test_rank1_concepts_give_rank_one_everywhere():
    direction = _orthonormal_rows(1, 12)  # (1, H)
    scales = torch.arange(1, 7, dtype=torch.float64).unsqueeze(1)  # (C, 1), all positive
    states = (scales * direction).unsqueeze(0).repeat(3, 1, 1)  # (3, 6, 12)
    metrics = concept_geometry(states)
    assert metrics["effective_rank"] == pytest.approx(1.0, abs=1e-9)
    assert metrics["entropy_effective_rank"] == pytest.approx(1.0, abs=1e-6)
    assert metrics["top1_dominance"] == pytest.approx(1.0, abs=1e-9)
    assert metrics["dims_for_95_variance"] == 1
    assert metrics["top1_variance_ratio"] == pytest.approx(1.0, abs=1e-12)


def test_dims_for_95_variance_and_variance_ratios_on_known_spectrum():
    shares = [40, 30, 15, 6, 3, 3, 2, 1]  # σ² in %, cumulative 40 70 85 91 94 97 99 100
    sigma = [math.sqrt(s) for s in shares]
    matrix = _with_spectrum(sigma, concepts=10, hidden=20)
    metrics = concept_geometry(matrix.unsqueeze(0).repeat(2, 1, 1))
    assert metrics["dims_for_95_variance"] == 6
    assert metrics["top1_variance_ratio"] == pytest.approx(0.40, rel=1e-9)
    assert metrics["top5_variance_ratio"] == pytest.approx(0.94, rel=1e-9)
    assert metrics["effective_rank"] == pytest.approx(sum(sigma) / sigma[0], rel=1e-9)
    assert metrics["effective_rank_normalized"] == pytest.approx(sum(sigma) / sigma[0] / 10, rel=1e-9)
    p = [s / sum(sigma) for s in sigma]
    assert metrics["entropy_effective_rank"] == pytest.approx(math.exp(-sum(x * math.log(x) for x in p)), rel=1e-9)


def test_spectrum_reaching_exactly_95_percent_stops_there():
    sigma = [math.sqrt(s) for s in (50, 30, 15, 5)]  # cumulative 50 80 95 100
    metrics = concept_geometry(_with_spectrum(sigma, 6, 8).unsqueeze(0))
    assert metrics["dims_for_95_variance"] == 3


def test_effective_rank_uses_the_batch_mean_matrix():
    # Each sample is rank 1 along a different axis; their mean spreads over all 4 axes equally.
    eye = torch.eye(4, dtype=torch.float64)
    states = torch.stack([eye[i].repeat(4, 1) for i in range(4)])  # (4, 4, 4): sample i = e_i in every row
    metrics = concept_geometry(states)
    assert metrics["effective_rank"] == pytest.approx(1.0, abs=1e-9)  # mean = 0.25 * ones(4, 4), rank 1
    assert metrics["mean_abs_cosine"] == pytest.approx(1.0)  # within each sample all concepts are equal


# ---------------------------------------------------------------- pairwise and cloud metrics


def test_identical_concepts_have_cosine_one_and_uniformity_one():
    generator = torch.Generator().manual_seed(2)
    vectors = torch.randn(5, 1, 16, generator=generator)  # one vector per sample
    states = vectors.repeat(1, 7, 1)  # 7 identical concepts in each sample
    metrics = concept_geometry(states)
    assert metrics["mean_abs_cosine"] == pytest.approx(1.0, abs=1e-6)
    assert metrics["max_abs_cosine"] == pytest.approx(1.0, abs=1e-6)
    assert metrics["std_abs_cosine"] == pytest.approx(0.0, abs=1e-6)
    assert metrics["uniformity"] == pytest.approx(1.0, abs=1e-6)


def test_abs_cosine_statistics_pool_over_samples():
    # Sample 0: two concepts at 60° (cos 0.5); sample 1: two opposite concepts (cos -1).
    states = torch.tensor([[[1.0, 0.0], [0.5, math.sqrt(3) / 2]], [[1.0, 0.0], [-2.0, 0.0]]])
    metrics = concept_geometry(states)
    assert metrics["mean_abs_cosine"] == pytest.approx(0.75, abs=1e-6)
    assert metrics["max_abs_cosine"] == pytest.approx(1.0, abs=1e-6)
    assert metrics["std_abs_cosine"] == pytest.approx(0.25, abs=1e-6)  # population std of {0.5,0.5,1,1}
    expected_uniformity = (math.exp(-2 * (2 - 2 * 0.5)) + math.exp(-2 * 4)) / 2
    assert metrics["uniformity"] == pytest.approx(expected_uniformity, rel=1e-6)


def test_collapsed_dimensions_are_counted():
    generator = torch.Generator().manual_seed(3)
    states = torch.randn(6, 4, 10, generator=generator, dtype=torch.float64)
    states[..., [1, 4, 7]] = 0.5  # constant over every concept vector
    states[..., 8] = 0.5 + 1e-6 * torch.randn(6, 4, generator=generator, dtype=torch.float64)  # std 1e-6
    metrics = concept_geometry(states)
    assert metrics["collapsed_dimensions"] == 4


def test_isotropic_gaussian_has_isotropy_near_one():
    generator = torch.Generator().manual_seed(4)
    states = torch.randn(64, 32, 8, generator=generator)  # 2048 vectors in 8 dims
    metrics = concept_geometry(states)
    # Marchenko-Pastur edges for 8 / 2048 give λmin/λmax ≈ 0.78.
    assert metrics["isotropy"] > 0.6
    assert metrics["participation_ratio"] == pytest.approx(8.0, rel=0.05)
    stretched = states.clone()
    stretched[..., 0] *= 10
    assert concept_geometry(stretched)["isotropy"] < 0.05


def test_participation_ratio_and_isotropy_on_known_covariance_spectrum():
    # Sample 0 holds +a_i e_i, sample 1 holds -a_i e_i: zero mean, covariance ∝ diag(a²).
    a_squared = torch.tensor([4.0, 2.0, 1.0, 1.0], dtype=torch.float64)
    rows = torch.diag(a_squared.sqrt())  # (C=4, H=4)
    metrics = concept_geometry(torch.stack([rows, -rows]))
    assert metrics["participation_ratio"] == pytest.approx(64.0 / 22.0, rel=1e-9)  # (Σa²)² / Σa⁴
    assert metrics["isotropy"] == pytest.approx(0.25, rel=1e-9)
    assert metrics["concept_norm_mean"] == pytest.approx(float(a_squared.sqrt().mean()), rel=1e-9)
    assert metrics["concept_norm_std"] == pytest.approx(float(a_squared.sqrt().std(correction=0)), rel=1e-9)


def test_all_zero_states_give_zeros_not_nan():
    metrics = concept_geometry(torch.zeros(2, 3, 4))
    assert metrics["effective_rank"] == 0.0
    assert metrics["isotropy"] == 0.0
    assert metrics["collapsed_dimensions"] == 4
    json.dumps(metrics, allow_nan=False)


def test_metrics_are_plain_python_numbers():
    metrics = concept_geometry(torch.randn(3, 4, 5, dtype=torch.bfloat16))
    counts = {"dims_for_95_variance", "collapsed_dimensions", "num_concepts", "hidden_size", "num_samples"}
    for key, value in metrics.items():
        assert type(value) is (int if key in counts else float), key
    assert json.loads(json.dumps(metrics)) == metrics


# ---------------------------------------------------------------- bad input


@pytest.mark.parametrize(
    ("states", "message"),
    [
        (torch.randn(4, 8), "3-D"),
        (torch.randn(2, 3, 4, 5), "3-D"),
        (torch.randn(0, 4, 8), "at least one sample"),
        (torch.randn(2, 1, 8), "at least 2 concepts"),
        (torch.tensor([[[1.0, float("nan")], [0.0, 1.0]]]), "NaN"),
        (torch.ones(2, 3, 4, dtype=torch.bool), "real numbers"),
    ],
)
def test_bad_concept_states_raise_value_error(states, message):
    with pytest.raises(ValueError, match=message):
        concept_geometry(states)


def test_non_tensor_raises_type_error():
    with pytest.raises(TypeError, match="torch.Tensor"):
        concept_geometry([[[1.0, 2.0], [3.0, 4.0]]])


# ---------------------------------------------------------------- grades and summary


def _metrics(**overrides: float) -> dict[str, float]:
    base = {
        "effective_rank_normalized": 0.9,
        "top1_dominance": 0.01,
        "mean_abs_cosine": 0.05,
        "uniformity": 0.02,
        "isotropy": 0.5,
        "collapsed_dimensions": 0,
        "hidden_size": 512,
    }
    base.update(overrides)
    return base


def test_grades_of_healthy_metrics_are_all_good():
    assert set(grade_geometry(_metrics()).values()) == {"good"}


def test_grades_of_the_logged_collapsed_run_are_poor():
    # Rank 5.07 / 128 from the research log.
    grades = grade_geometry(
        _metrics(
            effective_rank_normalized=5.07 / 128,
            top1_dominance=1 / 5.07,
            mean_abs_cosine=0.8,
            uniformity=0.6,
            isotropy=1e-4,
            collapsed_dimensions=60,
        )
    )
    assert set(grades.values()) == {"poor"}
    assert set(grades) == set(geometry.GRADE_ORDER)


@pytest.mark.parametrize(
    ("key", "value", "grade"),
    [
        ("effective_rank_normalized", geometry.RANK_NORMALIZED_GOOD, "good"),
        ("effective_rank_normalized", 0.3, "ok"),
        ("effective_rank_normalized", 15.9 / 128, "poor"),
        ("top1_dominance", 0.1, "ok"),
        ("mean_abs_cosine", 0.3, "ok"),
        ("uniformity", 0.1, "ok"),
        ("isotropy", 0.05, "ok"),
        ("collapsed_dimensions", 10, "ok"),  # 10 / 512 < 5%
        ("collapsed_dimensions", 30, "poor"),
    ],
)
def test_grade_boundaries(key, value, grade):
    assert grade_geometry(_metrics(**{key: value}))[key] == grade


def test_grade_geometry_names_missing_keys():
    metrics = _metrics()
    del metrics["isotropy"]
    with pytest.raises(ValueError, match="isotropy"):
        grade_geometry(metrics)


def test_format_summary_shows_rank_in_the_logs_notation():
    matrix = _with_spectrum([1.0] * 5, 32, 64)
    metrics = concept_geometry(matrix.unsqueeze(0).repeat(2, 1, 1))
    text = format_summary(metrics, grade_geometry(metrics))
    assert "5.00 / 32 (15.6%)" in text
    assert "[poor]" in text
    assert "Roy & Vetterli" in text
    assert len(text.splitlines()) <= 25


# ---------------------------------------------------------------- files


def test_save_plots_writes_non_empty_pngs(tmp_path):
    states = torch.randn(4, 6, 10)
    paths = save_plots(states, tmp_path / "plots")
    assert [p.name for p in paths] == [SPECTRUM_PNG, SIMILARITY_PNG, USAGE_PNG]
    for path in paths:
        assert path.read_bytes()[:8] == PNG_MAGIC
        assert path.stat().st_size > 1000
    assert not list((tmp_path / "plots").glob("*.tmp"))


def test_write_report_json_round_trips(tmp_path):
    generator = torch.Generator().manual_seed(5)
    states = torch.randn(5, 8, 12, generator=generator)
    metrics = write_report(states, tmp_path)
    report = json.loads((tmp_path / REPORT_JSON).read_text(encoding="utf-8"))
    assert report["metrics"] == metrics
    assert report["grades"] == grade_geometry(metrics)
    assert metrics == concept_geometry(states)
    summary = (tmp_path / SUMMARY_TXT).read_text(encoding="utf-8")
    assert summary == format_summary(metrics, report["grades"])
    assert sorted(p.name for p in tmp_path.glob("*.png")) == sorted([SPECTRUM_PNG, SIMILARITY_PNG, USAGE_PNG])


# ---------------------------------------------------------------- collecting states from a model


def _tiny_tokenizer():
    from tokenizers import Tokenizer, models, normalizers, pre_tokenizers, processors
    from transformers import PreTrainedTokenizerFast

    specials = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
    vocab = {token: i for i, token in enumerate(specials + WORDS)}
    backend = Tokenizer(models.WordPiece(vocab, unk_token="[UNK]"))
    backend.normalizer = normalizers.BertNormalizer(lowercase=True)
    backend.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    backend.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]", special_tokens=[("[CLS]", vocab["[CLS]"]), ("[SEP]", vocab["[SEP]"])]
    )
    return PreTrainedTokenizerFast(
        tokenizer_object=backend,
        pad_token="[PAD]",
        unk_token="[UNK]",
        cls_token="[CLS]",
        sep_token="[SEP]",
        mask_token="[MASK]",
    )


class _ConceptDouble(nn.Module):
    """Stands in for a Cogito model: concept c of a sentence = mean token embedding + concept bias."""

    def __init__(self, vocab_size: int, concepts: int = 4, hidden: int = 6, with_concept_states: bool = True):
        super().__init__()
        self.embed = nn.Embedding(vocab_size, hidden)
        self.concepts = nn.Parameter(torch.randn(concepts, hidden))
        self.dropout = nn.Dropout(0.5)
        self.with_concept_states = with_concept_states
        self.seen_training: list[bool] = []
        self.seen_shapes: list[tuple[int, ...]] = []

    def forward(self, input_ids, attention_mask):
        self.seen_training.append(self.training)
        self.seen_shapes.append(tuple(input_ids.shape))
        mask = attention_mask.unsqueeze(-1).float()
        pooled = (self.embed(input_ids) * mask).sum(1) / mask.sum(1)  # (B, H)
        states = self.dropout(pooled.unsqueeze(1) + self.concepts)  # (B, C, H)
        if self.with_concept_states:
            return SimpleNamespace(concept_states=states, last_hidden_state=torch.zeros_like(states))
        return SimpleNamespace(concept_states=None, last_hidden_state=states)


def test_collect_concept_states_prefers_concept_states_in_eval_mode():
    tokenizer = _tiny_tokenizer()
    model = _ConceptDouble(len(tokenizer))
    model.train()
    texts = ["the cat sat on the mat", "a dog ran", "big red house", "the small dog sat", "cat"]
    states = collect_concept_states(model, tokenizer, texts, batch_size=2, max_length=5)
    assert states.shape == (5, 4, 6)
    assert not states.requires_grad
    assert model.seen_training == [False, False, False]  # eval mode in every batch: dropout off
    assert max(shape[1] for shape in model.seen_shapes) == 5  # 8 tokens truncated to max_length
    assert model.training  # previous mode restored
    assert states.abs().sum() > 0  # taken from concept_states, not the zero last_hidden_state
    again = collect_concept_states(model, tokenizer, texts, batch_size=5)
    untruncated = [1, 2, 4]  # texts of at most 5 tokens with [CLS] and [SEP]
    # Same values whatever the batching and padding: eval mode made dropout a no-op.
    torch.testing.assert_close(states[untruncated], again[untruncated])
    assert not torch.allclose(states[0], again[0])  # the truncated text lost tokens


def test_collect_concept_states_falls_back_to_last_hidden_state():
    tokenizer = _tiny_tokenizer()
    model = _ConceptDouble(len(tokenizer), with_concept_states=False)
    states = collect_concept_states(model, tokenizer, ["the cat", "a dog"])
    assert states.shape == (2, 4, 6)
    assert states.abs().sum() > 0


@pytest.mark.parametrize(
    ("kwargs", "error", "message"),
    [
        ({"texts": []}, ValueError, "empty"),
        ({"texts": "the cat"}, TypeError, "sequence of strings"),
        ({"texts": ["the cat", 3]}, TypeError, "strings"),
        ({"batch_size": 0}, ValueError, "batch_size"),
        ({"max_length": -1}, ValueError, "max_length"),
    ],
)
def test_collect_concept_states_rejects_bad_arguments(kwargs, error, message):
    tokenizer = _tiny_tokenizer()
    arguments = {"model": _ConceptDouble(len(tokenizer)), "tokenizer": tokenizer, "texts": ["the cat"]}
    arguments.update(kwargs)
    with pytest.raises(error, match=message):
        collect_concept_states(**arguments)


# ---------------------------------------------------------------- command line


def test_cli_help_explains_every_option(capsys):
    with pytest.raises(SystemExit) as exit_info:
        analyze.cli_main(["--help"])
    assert exit_info.value.code == 0
    out = capsys.readouterr().out
    for option in (
        "--model",
        "--tokenizer_name",
        "--text_file",
        "--max_samples",
        "--batch_size",
        "--max_length",
        "--output_dir",
    ):
        assert option in out


def test_cli_rejects_folder_without_tokenizer(tmp_path, capsys):
    (tmp_path / "model").mkdir()
    (tmp_path / "model" / "config.json").write_text("{}")
    text_file = tmp_path / "texts.txt"
    text_file.write_text("the cat\n", encoding="utf-8")
    assert analyze.cli_main(["--model_name_or_path", str(tmp_path / "model"), "--text_file", str(text_file)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("cogito analyze: error: ") and "no tokenizer files" in err
    assert str(tmp_path / "model") in err and err.count("\n") == 1 and "Traceback" not in err


def test_cli_rejects_missing_text_file_and_bad_counts(tmp_path, capsys):
    assert analyze.cli_main(["--model", str(tmp_path), "--text_file", str(tmp_path / "nope.txt")]) == 2
    assert "nope.txt" in capsys.readouterr().err
    assert analyze.cli_main(["--model", str(tmp_path), "--text_file", "x", "--max_samples", "0"]) == 2
    err = capsys.readouterr().err
    assert "--max_samples expected a positive integer, got 0" in err and err.count("\n") == 1


def test_summary_explains_zero_isotropy_from_too_few_vectors():
    metrics = concept_geometry(torch.randn(2, 4, 16))  # 8 vectors in 16 dims
    assert metrics["isotropy"] == pytest.approx(0.0, abs=1e-9)
    assert "only 8 vectors for H=16" in format_summary(metrics, grade_geometry(metrics))
    enough = concept_geometry(torch.randn(8, 4, 16))
    assert "vectors for H" not in format_summary(enough, grade_geometry(enough))


# ---------------------------------------------------------------- with the real Cogito model


def _tiny_config():
    from cogito import CogitoConfig

    return CogitoConfig(
        vocab_size=100,
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=64,
        concept_num=8,
        max_position_embeddings=64,
    )


def test_collect_concept_states_from_cogito_heads():
    from cogito import CogitoForMaskedLM, CogitoModel

    torch.manual_seed(0)
    tokenizer = _tiny_tokenizer()
    texts = ["the cat sat on the mat", "a dog ran", "big red house"]
    base = CogitoModel(_tiny_config())
    mlm = CogitoForMaskedLM(_tiny_config())
    for model in (base, mlm):
        states = collect_concept_states(model, tokenizer, texts, batch_size=2)
        assert states.shape == (3, 8, 32)
        assert torch.isfinite(states).all()
    # The MLM head's concept_states are its encoder's output, as the base model would give them.
    mlm_states = collect_concept_states(mlm, tokenizer, texts)
    torch.testing.assert_close(mlm_states, collect_concept_states(mlm.cogito, tokenizer, texts))
    assert not torch.allclose(mlm_states, collect_concept_states(base, tokenizer, texts))


def _write_texts(path: Path) -> Path:
    path.write_text("the cat sat on the mat\na dog ran\n\nbig red house\nthe small dog sat\ncat\n", encoding="utf-8")
    return path


def test_cli_end_to_end_on_saved_cogito_model(tmp_path):
    import os
    import subprocess
    import sys

    from cogito import CogitoModel

    model_dir = tmp_path / "model"
    CogitoModel(_tiny_config()).save_pretrained(model_dir)
    _tiny_tokenizer().save_pretrained(model_dir)
    text_file = _write_texts(tmp_path / "texts.txt")
    out_dir = tmp_path / "report"
    # Through the `cogito` dispatcher in a fresh process; HF_HOME (set by the fixture) is inherited, so
    # any trust_remote_code module cache would land in this test's temp dir.
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "cogito.cli",
            "analyze",
            "--model",
            str(model_dir),
            "--text_file",
            str(text_file),
            "--max_samples",
            "4",
            "--batch_size",
            "3",
            "--max_length",
            "16",
            "--output_dir",
            str(out_dir),
        ],
        capture_output=True,
        text=True,
        env=dict(os.environ),
        cwd=Path(__file__).resolve().parents[1],
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    report = json.loads((out_dir / REPORT_JSON).read_text(encoding="utf-8"))
    assert report["metrics"]["num_samples"] == 4  # first 4 non-blank lines
    assert (report["metrics"]["num_concepts"], report["metrics"]["hidden_size"]) == (8, 32)
    assert set(report["grades"]) == set(geometry.GRADE_ORDER)
    assert "Concept geometry: 4 samples, C=8 concepts, H=32" in result.stdout
    for name in (
        REPORT_JSON,
        SUMMARY_TXT,
        SPECTRUM_PNG,
        SIMILARITY_PNG,
        USAGE_PNG,
    ):
        assert str(out_dir / name) in result.stdout
        assert (out_dir / name).stat().st_size > 0


def test_cli_uses_tokenizer_name_for_a_folder_without_tokenizer(tmp_path, monkeypatch, capsys):
    import transformers

    from cogito import CogitoModel

    model_dir, tokenizer_dir = tmp_path / "model", tmp_path / "tokenizer"
    model_dir.mkdir()
    # A Cogito config without code files: loads through the classes `import cogito` registers.
    config = {k: v for k, v in _tiny_config().to_dict().items() if k != "auto_map"}
    (model_dir / "config.json").write_text(json.dumps(config))
    _tiny_tokenizer().save_pretrained(tokenizer_dir)
    loaded: list[str] = []

    def fake_from_pretrained(path, **kwargs):
        # Stands in for the remote-code load, which would write to the process-wide module cache.
        loaded.append(str(path))
        assert kwargs.get("trust_remote_code") is True
        return CogitoModel(_tiny_config())

    monkeypatch.setattr(transformers.AutoModel, "from_pretrained", fake_from_pretrained)
    code = analyze.cli_main(
        [
            "--model",
            str(model_dir),
            "--tokenizer_name",
            str(tokenizer_dir),
            "--trust_remote_code",
            "true",
            "--text_file",
            str(_write_texts(tmp_path / "texts.txt")),
            "--output_dir",
            str(tmp_path / "out"),
        ]
    )
    assert code == 0
    assert loaded == [str(model_dir)]
    report = json.loads((tmp_path / "out" / REPORT_JSON).read_text(encoding="utf-8"))
    assert report["metrics"]["num_samples"] == 5  # default --max_samples 512 keeps all 5 non-blank lines
    assert "Wrote:" in capsys.readouterr().out


def test_summary_explains_zero_isotropy_of_layernorm_outputs():

    states = torch.nn.functional.layer_norm(torch.randn(64, 8, 16, generator=torch.Generator().manual_seed(0)), (16,))
    metrics = concept_geometry(states)
    assert metrics["isotropy"] < 1e-8  # centred vectors: one null direction
    assert "LayerNorm outputs are centred" in format_summary(metrics, grade_geometry(metrics))


def test_input_dependence_is_zero_for_constant_concepts_and_one_for_pure_functions_of_the_input():
    generator = torch.Generator().manual_seed(0)
    # Well-spread but identical for every input: the effective rank is high, the input dependence 0.
    constant = torch.randn(1, 16, 32, generator=generator, dtype=torch.float64).expand(40, 16, 32)
    metrics = geometry.concept_geometry(constant)
    assert metrics["effective_rank"] > 8
    assert metrics["input_dependence"] == pytest.approx(0.0, abs=1e-12)
    # Pure functions of the input with no shared component (zero mean across inputs): 1.
    varying = torch.randn(40, 16, 32, generator=generator, dtype=torch.float64)
    varying = varying - varying.mean(dim=0, keepdim=True)
    assert geometry.concept_geometry(varying)["input_dependence"] == pytest.approx(1.0, abs=1e-12)
    # A shared part a plus an input part v (orthogonal by construction): ||v||² / (||a||² + ||v||²).
    shared = torch.zeros(1, 16, 32, dtype=torch.float64)
    shared[..., 0] = 3.0
    part = varying.clone()
    part[..., 0] = 0.0
    expected = (part.square().sum(-1).mean(0) / (part.square().sum(-1).mean(0) + 9.0)).mean().item()
    assert geometry.input_dependence(shared + part) == pytest.approx(expected, rel=1e-12)
    assert geometry.input_dependence(torch.zeros(3, 4, 5)) == 0.0


def test_summary_shows_input_dependence_next_to_the_effective_rank():
    states = torch.randn(12, 8, 16, generator=torch.Generator().manual_seed(1))
    metrics = geometry.concept_geometry(states)
    text = format_summary(metrics, geometry.grade_geometry(metrics))
    lines = text.splitlines()
    rank_line = next(i for i, line in enumerate(lines) if line.startswith("Effective rank"))
    assert lines[rank_line + 1].startswith("Input dependence")
    assert f"{metrics['input_dependence']:.3f}" in lines[rank_line + 1]


def test_cli_fits_the_default_length_to_a_short_model_and_refuses_a_longer_max_length(tmp_path, capsys):
    from cogito import CogitoModel

    model_dir = tmp_path / "model"
    CogitoModel(_tiny_config()).save_pretrained(model_dir)  # max_position_embeddings=64 < the default 128
    _tiny_tokenizer().save_pretrained(model_dir)
    texts = tmp_path / "texts.txt"
    texts.write_text("the cat sat on the mat " * 30 + "\na dog ran\n", encoding="utf-8")  # ~180 tokens
    common = ["--model", str(model_dir), "--text_file", str(texts), "--output_dir", str(tmp_path / "out")]
    assert analyze.cli_main(common) == 0
    assert analyze.cli_main([*common, "--max_length", "100"]) == 2
    assert "--max_length 100 exceeds the model's max_position_embeddings=64" in capsys.readouterr().err
