"""`cogito convert`: research checkpoints (ksopyla/MrCogito) become Cogito folders computing the same.

The golden data in ../shared/reference/research-fixtures/ was made by running the research code:
per decoder a checkpoint folder as the research code writes it and `io.safetensors` with fixed
inputs and the research model's concept states, dense logits and MLM loss.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from conftest import SHARED
from safetensors.torch import load_file, save_file

from cogito import CogitoConfig, CogitoForMaskedLM, CogitoForSequenceClassification
from cogito.cli.convert import cli_main
from cogito.configuration_cogito import research_architecture
from cogito.hub_cards.convert import (
    RESEARCH_ARCHITECTURES,
    ConversionError,
    cogito_config_from_research,
    convert_research_checkpoint,
)

FIXTURES = SHARED / "reference" / "research-fixtures"  # a missing folder fails collection, never skips
DECODERS = ["perceiver", "perceiver_posonly", "weighted"]
ARCHITECTURE_OF = {decoder: name for name, decoder in RESEARCH_ARCHITECTURES.items()}


def expected_models() -> dict:
    return json.loads((FIXTURES / "expected.json").read_text(encoding="utf-8"))["models"]


def research_copy(tmp_path: Path, decoder: str) -> Path:
    """A writable copy of one fixture checkpoint folder (without its io file)."""
    folder = tmp_path / f"research-{decoder}"
    folder.mkdir()
    for name in ("config.json", "model.safetensors"):
        shutil.copyfile(FIXTURES / f"research-{decoder}" / name, folder / name)
    return folder


def leftovers(parent: Path) -> list[str]:
    return sorted(path.name for path in parent.iterdir() if path.name.endswith(".tmp"))


@pytest.mark.parametrize("decoder", DECODERS)
def test_converted_checkpoint_reproduces_the_research_model(tmp_path, decoder):
    out = convert_research_checkpoint(FIXTURES / f"research-{decoder}", tmp_path / "converted")
    assert {"config.json", "model.safetensors", "configuration_cogito.py", "modeling_cogito.py"} <= {
        path.name for path in out.iterdir()
    }
    config = json.loads((out / "config.json").read_text(encoding="utf-8"))
    assert config["model_type"] == "cogito" and config["decoder_type"] == decoder
    assert set(config["auto_map"]) == {
        "AutoConfig",
        "AutoModel",
        "AutoModelForMaskedLM",
        "AutoModelForSequenceClassification",
    }
    model = CogitoForMaskedLM.from_pretrained(out).eval()
    assert sum(p.numel() for p in model.parameters()) == expected_models()[decoder]["parameters"]

    io = load_file(FIXTURES / f"research-{decoder}" / "io.safetensors")
    with torch.no_grad():
        dense = model(input_ids=io["input_ids"], attention_mask=io["attention_mask"])
        sparse = model(input_ids=io["input_ids"], attention_mask=io["attention_mask"], labels=io["labels"])
    torch.testing.assert_close(dense.logits, io["logits"], rtol=0, atol=1e-4)
    torch.testing.assert_close(dense.concept_states, io["concept_states"], rtol=0, atol=1e-4)
    torch.testing.assert_close(sparse.loss, io["loss"].squeeze(), rtol=1e-5, atol=1e-5)
    assert sparse.loss.item() == pytest.approx(expected_models()[decoder]["mlm_loss_at_labels"], rel=1e-5)
    # The sparse path scores exactly the labelled rows of the dense logits.
    torch.testing.assert_close(sparse.logits, io["logits"][io["labels"] != -100], rtol=0, atol=1e-4)


def _research_scale_config(label: str) -> CogitoConfig:
    """`"perceiver L6 (Feb runs)"` -> the research config of that run family at the log's scale."""
    match = re.fullmatch(r"(\w+) L(\d+) \((Jan|Feb) runs\)", label)
    assert match, label
    decoder, layers, month = match.group(1), int(match.group(2)), match.group(3)
    research = {
        "model_type": "concept_encoder",
        "architectures": [ARCHITECTURE_OF[decoder]],
        "vocab_size": 50368,
        "max_sequence_length": 512,
        "hidden_size": 512,
        "num_hidden_layers": layers,
        "num_attention_heads": 8,
        "intermediate_size": 1024 if month == "Jan" else 2048,
        "concept_num": 128,
        "tie_word_embeddings": True,
        "pad_token_id": 0,
    }
    return cogito_config_from_research(research)


RESEARCH_SCALE = expected_models()["parameters_at_research_scale"]


@pytest.mark.parametrize("run", sorted(RESEARCH_SCALE))
def test_parameter_counts_at_research_scale_match_the_research_exactly(run):
    with torch.device("meta"):  # shapes only, no memory
        model = CogitoForMaskedLM(_research_scale_config(run))
    assert sum(p.numel() for p in model.parameters()) == RESEARCH_SCALE[run]


def test_research_scale_counts_cover_the_log_runs():
    counts = expected_models()["parameters_at_research_scale"]
    assert counts["perceiver L6 (Feb runs)"] == 61_059_584
    assert counts["weighted L6 (Feb runs)"] == 83_762_688
    assert counts["perceiver L2 (Jan runs)"] == 35_841_536


def test_research_architecture_builds_the_research_model_directly():
    config = CogitoConfig(
        **research_architecture("perceiver"),
        vocab_size=50368,
        max_position_embeddings=512,
        hidden_size=512,
        num_hidden_layers=6,
        intermediate_size=2048,
        concept_num=128,
    )
    with torch.device("meta"):
        model = CogitoForMaskedLM(config)
    assert sum(p.numel() for p in model.parameters()) == 61_059_584


def test_converted_folder_keeps_the_tokenizer(tmp_path, tiny_tokenizer):
    src = research_copy(tmp_path, "perceiver")
    tiny_tokenizer.save_pretrained(src)
    out = convert_research_checkpoint(src, tmp_path / "converted")
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(out)
    assert tokenizer.get_vocab() == tiny_tokenizer.get_vocab()
    assert tokenizer.mask_token == "[MASK]"


def test_unknown_architecture_is_refused_by_name_and_nothing_is_written(tmp_path):
    src = research_copy(tmp_path, "perceiver")
    config = json.loads((src / "config.json").read_text())
    config["architectures"] = ["ConceptEncoderForMaskedLMDiffusion"]
    (src / "config.json").write_text(json.dumps(config))
    with pytest.raises(ConversionError, match="ConceptEncoderForMaskedLMDiffusion"):
        convert_research_checkpoint(src, tmp_path / "converted")
    assert not (tmp_path / "converted").exists() and leftovers(tmp_path) == []


def test_missing_and_unexpected_tensors_are_named(tmp_path):
    src = research_copy(tmp_path, "weighted")
    state = load_file(src / "model.safetensors")
    del state["encoder.layers.1.Wo.bias"]
    state["decoder_extra.weight"] = torch.zeros(2)
    save_file(state, src / "model.safetensors")
    with pytest.raises(ConversionError) as error:
        convert_research_checkpoint(src, tmp_path / "converted")
    assert "missing tensors: encoder.layers.1.Wo.bias" in str(error.value)
    assert "unexpected tensors: decoder_extra.weight" in str(error.value)
    assert not (tmp_path / "converted").exists() and leftovers(tmp_path) == []


def test_wrong_shape_is_refused_with_the_tensor_name(tmp_path):
    src = research_copy(tmp_path, "perceiver")
    state = load_file(src / "model.safetensors")
    state["decoder_query_embeddings.weight"] = torch.zeros(23, 32)
    save_file(state, src / "model.safetensors")
    with pytest.raises(ConversionError, match=r"decoder.query_position_embeddings.weight \(23, 32\)"):
        convert_research_checkpoint(src, tmp_path / "converted")


def test_existing_output_folder_is_not_overwritten(tmp_path):
    out = tmp_path / "converted"
    out.mkdir()
    (out / "keep.txt").write_text("mine")
    with pytest.raises(ConversionError, match="already exists"):
        convert_research_checkpoint(FIXTURES / "research-weighted", out)
    assert [path.name for path in out.iterdir()] == ["keep.txt"]


def test_cli_converts_and_reports_user_errors_on_one_line(tmp_path, capsys):
    out = tmp_path / "converted"
    assert cli_main([str(FIXTURES / "research-posonly-does-not-exist"), str(out)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("cogito convert: error: ") and "\n" not in err
    assert not out.exists()

    assert cli_main([str(FIXTURES / "research-perceiver_posonly"), str(out)]) == 0
    assert (out / "model.safetensors").is_file()
    assert capsys.readouterr().out.strip() == f"wrote {out}"

    for argv, message in (
        ([str(FIXTURES / "research-weighted")], "missing OUT"),
        ([str(FIXTURES / "research-weighted"), str(tmp_path / "x"), "--bogus"], "unrecognized arguments: --bogus"),
        ([str(out), str(tmp_path / "again")], "model_type is 'cogito'"),
    ):
        assert cli_main(argv) == 2
        err = capsys.readouterr().err.strip()
        assert err.startswith("cogito convert: error: ") and message in err and "\n" not in err, err


def test_convert_is_a_cogito_command():
    from cogito.cli import COMMANDS

    assert COMMANDS["convert"][0] == "cogito.cli.convert"


CHILD = textwrap.dedent(
    """
    import sys
    sys.modules["cogito"] = None  # the package must not be needed: `import cogito` now fails
    import torch
    from safetensors.torch import load_file
    from transformers import AutoModelForMaskedLM

    for folder, io_path in zip(sys.argv[1::2], sys.argv[2::2]):
        io = load_file(io_path)
        model = AutoModelForMaskedLM.from_pretrained(folder, trust_remote_code=True).eval()
        assert type(model).__module__.startswith("transformers_modules"), type(model).__module__
        with torch.no_grad():
            logits = model(input_ids=io["input_ids"], attention_mask=io["attention_mask"]).logits
        torch.testing.assert_close(logits, io["logits"], rtol=0, atol=1e-4)
        print(folder, "max |logit difference|", (logits - io["logits"]).abs().max().item())
    print("OK")
    """
)


@pytest.mark.slow
def test_converted_folders_load_in_a_fresh_process_without_the_package(tmp_path):
    args = []
    for decoder in DECODERS:
        out = convert_research_checkpoint(FIXTURES / f"research-{decoder}", tmp_path / decoder)
        args += [str(out), str(FIXTURES / f"research-{decoder}" / "io.safetensors")]
    env = dict(os.environ, HF_HOME=str(tmp_path / "hf_home"), HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1")
    result = subprocess.run(
        [sys.executable, "-c", CHILD, *args], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.strip().endswith("OK")
    assert result.stdout.count("max |logit difference|") == 3


# ---------------------------------------------------------------- research classification checkpoints


def _layer_norm(x, state, name):
    return F.layer_norm(x, x.shape[-1:], state[f"{name}.weight"], state[f"{name}.bias"])


def _linear(x, state, name):
    return F.linear(x, state[f"{name}.weight"], state[f"{name}.bias"])


def _research_attention(query, key_value, state, name, num_heads):
    """The research's nn.MultiheadAttention, loaded with the checkpoint's fused projections."""
    attention = torch.nn.MultiheadAttention(query.shape[-1], num_heads, batch_first=True)
    attention.load_state_dict({key.removeprefix(f"{name}."): t for key, t in state.items() if key.startswith(name)})
    return attention.eval()(query, key_value, key_value, need_weights=False)[0]


def _masked_mean(hidden, attention_mask):
    mask = attention_mask.unsqueeze(-1).float()
    return (hidden * mask).sum(dim=1) / mask.sum(dim=1)


def _random_head(generator, shapes: dict[str, tuple[int, ...]]) -> dict[str, torch.Tensor]:
    """Head tensors away from their initial values: LayerNorm weights near 1, the rest near 0."""
    head = {}
    for name, shape in shapes.items():
        noise = torch.randn(shape, generator=generator)
        head[name] = 1.0 + 0.1 * noise if name.endswith("norm.weight") or ".0.weight" in name else 0.2 * noise
    return head


def _research_head_logits(pooling, state, io, heads):
    """What the research classification model computes, from its tensors and its concept states."""
    concepts, input_ids, attention_mask = io["concept_states"], io["input_ids"], io["attention_mask"]
    batch, seq_len = input_ids.shape
    if pooling == "cls_query_ffn":
        query = state["cls_query"].expand(batch, -1, -1)
        hidden = query + _research_attention(
            _layer_norm(query, state, "cls_norm"), concepts, state, "cls_cross_attn", heads
        )
        inner = F.gelu(_linear(_layer_norm(hidden, state, "cls_ffn.0"), state, "cls_ffn.1"))
        hidden = _layer_norm(hidden + _linear(inner, state, "cls_ffn.3"), state, "cls_final_norm")
        return _linear(hidden.squeeze(1), state, "classifier")
    if pooling == "concept_weighted":
        weights = torch.softmax(_linear(concepts, state, "concept_scorer").squeeze(-1), dim=1).unsqueeze(-1)
        return _linear(_layer_norm((concepts * weights).sum(dim=1), state, "pool_norm"), state, "classifier")
    if pooling == "decoder_dense_mean":
        mix = torch.softmax(state["concept_weights"][:seq_len], dim=-1)
        hidden = torch.einsum("sc,bcd->bsd", mix, concepts)
        hidden = F.gelu(
            _linear(_layer_norm(hidden, state, "pre_classifier_projection.0"), state, "pre_classifier_projection.1")
        )
        return _linear(_masked_mean(hidden, attention_mask), state, "classifier")
    # via_decoder
    queries = (
        F.embedding(input_ids, state["encoder.token_embeddings.weight"])
        + state["decoder_query_embeddings.weight"][:seq_len]
    )
    hidden = queries + _research_attention(
        _layer_norm(queries, state, "decoder_norm"), concepts, state, "decoder_cross_attn", heads
    )
    inner = F.gelu(_linear(_layer_norm(hidden, state, "post_cross_norm"), state, "decoder_ffn.0"))
    hidden = _layer_norm(hidden + _linear(inner, state, "decoder_ffn.2"), state, "pre_pool_norm")
    return _linear(_masked_mean(hidden, attention_mask), state, "classifier")


RESEARCH_HEADS = {
    # pooling: (fixture whose encoder it reuses, research class, research tensors kept, new head tensors)
    "cls_query_ffn": (
        "perceiver",
        "ConceptEncoderForSequenceClassificationPerceiver",
        ("encoder.",),
        {
            "cls_query": (1, 1, 32),
            "cls_cross_attn.in_proj_weight": (96, 32),
            "cls_cross_attn.in_proj_bias": (96,),
            "cls_cross_attn.out_proj.weight": (32, 32),
            "cls_cross_attn.out_proj.bias": (32,),
            "cls_norm.weight": (32,),
            "cls_norm.bias": (32,),
            "cls_ffn.0.weight": (32,),
            "cls_ffn.0.bias": (32,),
            "cls_ffn.1.weight": (64, 32),
            "cls_ffn.1.bias": (64,),
            "cls_ffn.3.weight": (32, 64),
            "cls_ffn.3.bias": (32,),
            "cls_final_norm.weight": (32,),
            "cls_final_norm.bias": (32,),
        },
    ),
    "concept_weighted": (
        "perceiver_posonly",
        "ConceptEncoderForSequenceClassificationPerceiver",
        ("encoder.",),
        {
            "concept_scorer.weight": (1, 32),
            "concept_scorer.bias": (1,),
            "pool_norm.weight": (32,),
            "pool_norm.bias": (32,),
        },
    ),
    "decoder_dense_mean": (
        "weighted",
        "ConceptEncoderForSequenceClassificationWeighted",
        ("encoder.", "concept_weights"),
        {
            "pre_classifier_projection.0.weight": (32,),
            "pre_classifier_projection.0.bias": (32,),
            "pre_classifier_projection.1.weight": (32, 32),
            "pre_classifier_projection.1.bias": (32,),
        },
    ),
    "via_decoder": (
        "perceiver",
        "ConceptEncoderForSequenceClassificationViaDecoder",
        ("encoder.", "decoder_", "post_cross_norm"),
        {"pre_pool_norm.weight": (32,), "pre_pool_norm.bias": (32,)},
    ),
}


@pytest.mark.parametrize("pooling", sorted(RESEARCH_HEADS))
def test_research_classification_checkpoint_converts_to_its_pooling_head(tmp_path, pooling):
    fixture, architecture, kept, head_shapes = RESEARCH_HEADS[pooling]
    src = research_copy(tmp_path, fixture)
    state = {k: t for k, t in load_file(src / "model.safetensors").items() if k.startswith(kept)}
    state.update(
        _random_head(
            torch.Generator().manual_seed(0), {**head_shapes, "classifier.weight": (3, 32), "classifier.bias": (3,)}
        )
    )
    save_file(state, src / "model.safetensors")
    config = json.loads((src / "config.json").read_text())
    config.update(
        architectures=[architecture], id2label={"0": "a", "1": "b", "2": "c"}, label2id={"a": 0, "b": 1, "c": 2}
    )
    (src / "config.json").write_text(json.dumps(config))

    out = convert_research_checkpoint(src, tmp_path / "converted")
    model = CogitoForSequenceClassification.from_pretrained(out).eval()
    assert model.config.classifier_pooling == pooling and model.config.id2label == {0: "a", 1: "b", 2: "c"}
    io = load_file(FIXTURES / f"research-{fixture}" / "io.safetensors")
    with torch.no_grad():
        got = model(input_ids=io["input_ids"], attention_mask=io["attention_mask"])
        expected = _research_head_logits(pooling, state, io, heads=config["num_attention_heads"])
    torch.testing.assert_close(got.concept_states, io["concept_states"], rtol=0, atol=1e-5)
    torch.testing.assert_close(got.logits, expected, rtol=0, atol=1e-5)
    assert got.logits.shape == (3, 3)
