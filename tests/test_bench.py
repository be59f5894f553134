"""`cogito bench` works end to end at a tiny size, and its FLOP formulas count what the models do.

The benchmark itself is not a test: here it runs only at H=64, L=2, N=64/128, V=1000, 1 repeat.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
import torch
from torch.utils.flop_counter import FlopCounterMode

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))

from bench import (  # noqa: E402
    DEFAULTS,
    MODELS,
    TINY,
    BenchSettings,
    attention_flops,
    bert_flops,
    build_model,
    cogito_flops,
    encoder_of,
    linear_flops,
    make_batch,
    matched_intermediate_size,
    model_flops,
    settings_from_args,
)

from cogito.cli import main
from cogito.modeling_cogito import IGNORE_INDEX


def tiny_settings(**overrides) -> BenchSettings:
    return BenchSettings(**{**DEFAULTS, **TINY, **overrides})


def test_linear_and_attention_flops_match_hand_counts():
    assert linear_flops(3, 4, 5) == 2 * 3 * 4 * 5
    # One head-summed attention, B=1, 2 queries, 3 keys, H=4: Q·Kᵀ 2·2·3·4 = 48, A·V 48.
    assert attention_flops(1, 2, 3, 4) == 96


def test_bert_flops_of_a_hand_computed_layer_and_head():
    # B=1, N=2, H=4, L=1, I=8, V=10: QKV 2·2·4·12=192, attention 4·1·2·2·4=64, output 2·2·4·4=64,
    # FFN 2·2·4·8 + 2·2·8·4 = 256 -> layer 576; head 2·2·4·4 + 2·2·4·10 = 224.
    assert bert_flops(1, 2, 4, 1, 8, 10) == {"encoder_forward": 576, "forward": 800, "train": 2400}
    # The sparse head at K=1 labelled position per row: head 2·1·4·4 + 2·1·4·10 = 112.
    assert bert_flops(1, 2, 4, 1, 8, 10, labelled_per_row=1) == {"encoder_forward": 576, "forward": 688, "train": 2064}


def test_sparse_head_bert_gives_the_stock_loss_without_dense_logits():
    settings = tiny_settings()
    stock, sparse = build_model("bert", settings, 64), build_model("bert_sparse", settings, 64)
    sparse.load_state_dict(stock.state_dict())
    input_ids, labels = make_batch(settings, 64)
    expected = stock(input_ids=input_ids, labels=labels)
    got = sparse(input_ids=input_ids, labels=labels)
    torch.testing.assert_close(got.loss, expected.loss, rtol=1e-5, atol=1e-6)
    selected = labels != IGNORE_INDEX
    assert got.logits.shape == (int(selected.sum()), settings.vocab_size)
    torch.testing.assert_close(got.logits, expected.logits[selected], rtol=1e-5, atol=1e-5)


def test_cogito_flops_of_a_hand_computed_layer_decoder_and_head():
    # B=1, N=2, H=4, L=1, I=8, V=10, C=1, K=1.
    # layer: Q 32 + KV 2·2·4·8=128 + attention 4·1·1·2·4=32 + O 32
    #        + self QKV 2·1·4·12=96 + attention 16 + O 32 + gate/up 2·1·4·16=128 + down 64 = 560
    # decoder: Q 32 + KV 64 + attention 16 + O 32 + FFN 192 = 336; head 32 + 2·1·4·10 = 112.
    flops = cogito_flops(1, 2, 4, 1, 8, 10, concepts=1, labelled_per_row=1)
    assert flops == {"encoder_forward": 560, "forward": 1008, "train": 3024}
    weighted = cogito_flops(1, 2, 4, 1, 8, 10, concepts=1, labelled_per_row=1, decoder_type="weighted")
    assert weighted["forward"] == 560 + 2 * 1 * 1 * 4 + 112


@pytest.mark.parametrize("decoder_type", ["perceiver", "weighted"])
@pytest.mark.parametrize("name", MODELS)
def test_analytic_flops_equal_torch_flop_counter(name, decoder_type):
    # Eager attention is plain matmuls, so torch's FlopCounterMode sees every FLOP the formula counts.
    settings = tiny_settings(decoder_type=decoder_type)
    model = build_model(name, settings, 64, attn_implementation="eager")
    input_ids, labels = make_batch(settings, 64)
    expected = model_flops(name, settings, 64)
    with FlopCounterMode(display=False) as counter:
        model(input_ids=input_ids, labels=labels)
    assert counter.get_total_flops() == expected["forward"]
    with FlopCounterMode(display=False) as counter, torch.no_grad():
        encoder_of(model)(input_ids=input_ids)
    assert counter.get_total_flops() == expected["encoder_forward"]


def test_matched_intermediate_size_gives_the_gated_ffn_the_plain_ffn_budget():
    assert matched_intermediate_size(2048) == 1376
    assert abs(3 * 1376 - 2 * 2048) / (2 * 2048) < 0.01
    assert BenchSettings(intermediate_size=2048).cogito_ffn == 1376
    assert BenchSettings(cogito_intermediate_size=2048).cogito_ffn == 2048


def test_batches_keep_tokens_constant_and_label_a_fixed_fraction():
    settings = BenchSettings()
    assert [settings.batch_size(n) for n in (128, 512, 2048, 8192, 32768)] == [64, 16, 4, 1, 1]
    assert settings.models_for(8192) == ("cogito", "bert_sparse", "bert") == MODELS
    assert settings.models_for(32768) == ("cogito",)
    input_ids, labels = make_batch(tiny_settings(), 128)
    assert input_ids.shape == (2, 128)
    assert ((labels != IGNORE_INDEX).sum(dim=1) == round(0.15 * 128)).all()
    assert torch.equal(labels[labels != IGNORE_INDEX], input_ids[labels != IGNORE_INDEX])


def test_tiny_preset_is_overridden_by_explicit_flags():
    settings = settings_from_args(["--tiny", "--hidden_size", "32", "--sizes", "128", "64"])
    assert (settings.hidden_size, settings.num_layers, settings.sizes) == (32, 2, [64, 128])
    assert settings_from_args([]).sizes == [128, 512, 2048, 8192, 32768]


@pytest.mark.parametrize(
    "argv, message",
    [
        (["--sizes", "1"], "sizes"),
        (["--dropout", "1.5"], "dropout"),
        (["--hidden_size", "30", "--num_heads", "8"], "divisible"),
        (["--tiny", "--profile", "96"], "profile"),
    ],
)
def test_bad_settings_are_refused_with_the_field_and_value(argv, message, capsys):
    assert main(["bench", *argv]) == 2
    assert message in capsys.readouterr().err


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("bench")
    code = main(["bench", "--tiny", "--sizes", "64", "128", "--output_dir", str(out), "--profile", "64"])
    return code, out


@pytest.mark.slow
def test_tiny_bench_writes_a_table_with_every_size_and_both_models(tiny_run):
    code, out = tiny_run
    assert code == 0
    table = (out / "bench.md").read_text()
    for n in (64, 128):
        for name in MODELS:
            assert f"| {name} | {n} |" in table
        assert table.count(f"\n| {n} | ") == 2  # a ratio row for each baseline
    assert table.index("bert_sparse") < table.index("stock `BertForMaskedLM`")  # like with like leads
    assert (out / "bench.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "aten::" in (out / "profile_N64.md").read_text()


@pytest.mark.slow
def test_tiny_bench_json_has_positive_ratios_flops_and_params(tiny_run):
    _, out = tiny_run
    result = json.loads((out / "bench.json").read_text())
    assert {(r["model"], r["seq_len"]) for r in result["rows"]} == {(m, n) for m in MODELS for n in (64, 128)}
    assert result["matmul_peak_flops_per_s"] > 0
    for row in result["rows"]:
        assert row["train_s"]["min"] <= row["train_s"]["median"] <= row["train_s"]["max"]
        assert row["flops"]["train"] == 3 * row["flops"]["forward"] > 0
        assert row["params"]["total"] > row["params"]["encoder_layers"] > 0
    assert [r["seq_len"] for r in result["ratios"]] == [64, 128]
    assert [r["seq_len"] for r in result["ratios_stock_bert"]] == [64, 128]
    for ratio in result["ratios"] + result["ratios_stock_bert"]:
        for key in ("infer_time", "train_time", "train_memory", "train_flops", "infer_flops"):
            assert ratio[key] > 0
    for sparse, stock in zip(result["ratios"], result["ratios_stock_bert"]):
        assert (sparse["baseline"], stock["baseline"]) == ("bert_sparse", "bert")
        assert stock["train_flops"] > sparse["train_flops"]  # the dense head is extra work
        assert stock["infer_flops"] == sparse["infer_flops"]  # the encoders are the same


@pytest.mark.slow
def test_tiny_bench_measures_memory_in_a_fresh_process(tiny_run):
    _, out = tiny_run
    result = json.loads((out / "bench.json").read_text())
    for row in result["rows"]:
        train = row["memory"]["train"]
        assert row["memory"]["method"] in ("rss_hwm_reset", "ru_maxrss_lifetime")
        assert train["peak_mb"] >= train["resident_before_mb"] > 0
        assert train["activation_mb"] > 0
    assert set(result["memory_slopes_mb_per_1k_tokens"]) == set(MODELS)


def test_gradient_checkpointing_flag_reaches_the_cogito_model():
    from bench import BenchSettings, build_model

    settings = BenchSettings(
        sizes=[64], hidden_size=64, num_layers=2, num_heads=2, vocab_size=1000, concepts=8, gradient_checkpointing=True
    )
    model = build_model("cogito", settings, 64)
    assert model.is_activation_checkpointing
    assert not build_model(
        "cogito", BenchSettings(sizes=[64], hidden_size=64, num_layers=2, num_heads=2, vocab_size=1000, concepts=8), 64
    ).is_activation_checkpointing
