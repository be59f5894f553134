"""Behaviour of the model package: every head and decoder, parities, errors, weight transfer."""

from __future__ import annotations

import copy

import pytest
import torch
import torch.nn.functional as F
from conftest import SHARED, tiny_config

from cogito import CogitoConfig, CogitoForMaskedLM, CogitoForSequenceClassification, CogitoModel
from cogito.configuration_cogito import research_architecture

DECODERS = ["weighted", "perceiver", "perceiver_posonly"]
POOLINGS = ["concept_attention", "mean", "via_decoder", "cls_query_ffn", "decoder_dense_mean", "concept_weighted"]
# What each pooling adds on top of the encoder (and the decoder, for the decoder-based ones).
POOLING_HEADS = {
    "concept_attention": {"pooler_query", "pooler_attention", "pooler_norm", "classifier"},
    "cls_query_ffn": {
        "pooler_query",
        "pooler_query_norm",
        "pooler_attention",
        "pooler_ffn_norm",
        "pooler_ffn",
        "pooler_norm",
        "classifier",
    },
    "decoder_dense_mean": {"pooler_dense", "classifier"},
    "concept_weighted": {"pooler_scorer", "pooler_norm", "classifier"},
}
GLUE_DATA = SHARED / "data" / "glue"


def batch(config: CogitoConfig, batch_size: int = 3, seq_len: int = 12, seed: int = 0):
    generator = torch.Generator().manual_seed(seed)
    input_ids = torch.randint(5, config.vocab_size, (batch_size, seq_len), generator=generator)
    attention_mask = torch.ones_like(input_ids)
    attention_mask[1, seq_len // 2 :] = 0  # one padded row
    input_ids[attention_mask == 0] = config.pad_token_id
    labels = torch.full_like(input_ids, -100)
    labels[0, [1, 4, 7]] = input_ids[0, [1, 4, 7]]
    labels[1, 2] = input_ids[1, 2]
    labels[2, [0, 11]] = input_ids[2, [0, 11]]
    return input_ids, attention_mask, labels


# ---------------------------------------------------------------- configuration


def test_config_round_trips_through_json(tmp_path):
    config = tiny_config(decoder_type="weighted", token_embedding_dim=16, concept_position_type="sinusoidal")
    config.save_pretrained(tmp_path)
    loaded = CogitoConfig.from_pretrained(tmp_path)
    for field in ("decoder_type", "token_embedding_dim", "concept_position_type", "concept_num", "mask_token_id"):
        assert getattr(loaded, field) == getattr(config, field)
    assert set(loaded.auto_map) == {
        "AutoConfig",
        "AutoModel",
        "AutoModelForMaskedLM",
        "AutoModelForSequenceClassification",
    }


def test_config_reads_the_research_code_name_for_concept_count():
    assert CogitoConfig(num_concepts=64).concept_num == 64


@pytest.mark.parametrize(
    "field, value",
    [
        ("vocab_size", 0),
        ("hidden_size", -1),
        ("num_hidden_layers", 0),
        ("num_attention_heads", 0),
        ("num_attention_heads", 5),  # does not divide hidden_size 32
        ("intermediate_size", 2.5),
        ("concept_num", 0),
        ("max_position_embeddings", 0),
        ("num_decoder_layers", 0),
        ("token_embedding_dim", 0),
        ("concept_position_type", "rotary"),
        ("decoder_type", "linear"),
        ("classifier_pooling", "cls"),
        ("hidden_act", "not_an_activation"),
        ("hidden_dropout_prob", 1.0),
        ("attention_probs_dropout_prob", -0.1),
        ("classifier_dropout", 2.0),
        ("initializer_range", 0.0),
        ("concept_initializer_range", -1.0),
        ("layer_norm_eps", 0),
        ("use_bixt", "yes"),
        ("pad_token_id", 10_000),
        ("mask_token_id", -1),
        ("final_norm_eps", 0.0),
        ("mixing_init", "xavier"),
        ("attention_init", "kaiming"),
        ("embedding_norm", "no"),
        ("cross_attention_key_norm", 1),
        ("decoder_output_norm", None),
        ("dropout_placement", "attention"),
        ("decoder_ffn_type", "moe"),
        ("decoder_query_positions", "rotary"),
        ("lm_head_type", "mlp"),
        ("bixt_placement", "before_cross_attention"),
    ],
)
def test_invalid_config_value_names_the_field(field, value):
    with pytest.raises(ValueError) as error:
        tiny_config(**{field: value})
    message = str(error.value)
    assert message.startswith(f"CogitoConfig.{field}") or f"{field} ({value})" in message
    # The bad value itself, not any digit that happens to be in the message (`str(0)` is in many).
    assert f"got {value!r}" in message or f"{field} ({value})" in message


def test_invalid_choice_lists_the_allowed_values():
    with pytest.raises(ValueError, match="weighted, perceiver, perceiver_posonly"):
        tiny_config(decoder_type="linear")


def test_position_only_decoder_refuses_shared_query_positions():
    with pytest.raises(ValueError, match="decoder_query_positions must be 'own'.*'shared'"):
        tiny_config(decoder_type="perceiver_posonly", decoder_query_positions="shared")
    assert tiny_config(decoder_type="perceiver_posonly").decoder_query_positions == "own"
    assert tiny_config(decoder_type="perceiver").decoder_query_positions == "shared"


def test_linear_lm_head_cannot_tie_to_a_narrow_embedding():
    with pytest.raises(ValueError, match="token_embedding_dim=16 != hidden_size=32"):
        tiny_config(lm_head_type="linear", token_embedding_dim=16)
    model = CogitoForMaskedLM(tiny_config(lm_head_type="linear", token_embedding_dim=16, tie_word_embeddings=False))
    assert model.lm_head.decoder.weight.shape == (model.config.vocab_size, 32)


def test_default_layout_keeps_its_modules_and_the_research_layout_drops_them():
    default = dict(CogitoForMaskedLM(tiny_config(use_bixt=True)).named_parameters())
    for name in (
        "cogito.embeddings.norm.weight",
        "cogito.layers.0.cross_key_norm.weight",
        "cogito.layers.0.token_key_norm.weight",
        "cogito.layers.0.token_ffn.gate_up_proj.weight",
        "decoder.norm.weight",
        "decoder.layers.0.ffn.gate_up_proj.weight",
        "lm_head.dense.weight",
        "lm_head.norm.weight",
        "lm_head.projection.bias",
    ):
        assert name in default, name
    assert not any(name.startswith("decoder.query_position_embeddings") for name in default)
    research = dict(
        CogitoForMaskedLM(tiny_config(**research_architecture("perceiver"), use_bixt=True)).named_parameters()
    )
    assert not any(
        part in name
        for name in research
        for part in ("embeddings.norm", "cross_key_norm", "token_key_norm", "token_ffn", "decoder.norm", "lm_head.")
    ), sorted(research)
    assert "decoder.query_position_embeddings.weight" in research
    assert "decoder.layers.0.ffn.up_proj.weight" in research


@pytest.mark.parametrize("decoder_type", DECODERS)
def test_research_layout_sparse_loss_equals_dense_and_sdpa_equals_eager(decoder_type):
    config = tiny_config(**research_architecture(decoder_type), use_bixt=decoder_type == "perceiver")
    config.hidden_dropout_prob = config.attention_probs_dropout_prob = 0.0
    torch.manual_seed(0)
    model = CogitoForMaskedLM(config).eval()
    input_ids, attention_mask, labels = batch(config)
    with torch.no_grad():
        dense = model(input_ids, attention_mask=attention_mask).logits
        sparse = model(input_ids, attention_mask=attention_mask, labels=labels)
        model.config._attn_implementation = "eager"
        eager = model(input_ids, attention_mask=attention_mask).logits
    expected = F.cross_entropy(dense.reshape(-1, config.vocab_size), labels.reshape(-1))
    torch.testing.assert_close(sparse.loss, expected, rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(eager, dense, rtol=1e-4, atol=1e-5)


def test_research_lm_heads_have_no_vocabulary_bias_and_tie_as_asked():
    perceiver = CogitoForMaskedLM(tiny_config(**research_architecture("perceiver")))
    assert perceiver.lm_head.decoder.bias is None
    assert perceiver.lm_head.decoder.weight is perceiver.cogito.embeddings.token_embeddings.weight
    weighted = CogitoForMaskedLM(tiny_config(**research_architecture("weighted")))
    assert weighted.lm_head.decoder.bias is None
    assert weighted.lm_head.decoder.weight is not weighted.cogito.embeddings.token_embeddings.weight
    assert weighted.lm_head.dropout.p == weighted.config.hidden_dropout_prob


def test_own_decoder_positions_add_one_table_and_change_the_queries():
    shared = CogitoForMaskedLM(tiny_config())
    own = CogitoForMaskedLM(tiny_config(decoder_query_positions="own"))
    assert own.num_parameters() - shared.num_parameters() == 64 * 32
    own.load_state_dict(shared.state_dict(), strict=False)
    input_ids, attention_mask, _ = batch(own.config)
    with torch.no_grad():
        assert not torch.allclose(
            own.eval()(input_ids, attention_mask=attention_mask).logits,
            shared.eval()(input_ids, attention_mask=attention_mask).logits,
        )


@pytest.mark.parametrize("placement, residual, ffn", [("residual", 0.3, 0.0), ("ffn", 0.0, 0.3)])
def test_dropout_placement_puts_hidden_dropout_where_asked(placement, residual, ffn):
    config = tiny_config(dropout_placement=placement, hidden_dropout_prob=0.3, decoder_ffn_type="mlp", use_bixt=True)
    model = CogitoForMaskedLM(config)
    layer, decoder_layer = model.cogito.layers[0], model.decoder.layers[0]
    assert (layer.dropout.p, layer.ffn.dropout.p, layer.token_ffn.dropout.p) == (residual, ffn, ffn)
    assert (decoder_layer.dropout.p, decoder_layer.ffn.dropout.p) == (residual, ffn)
    assert model.cogito.embeddings.dropout.p == 0.3  # the embeddings keep theirs in both layouts
    # The plain MLP drops its output (whole output units are zeroed only there).
    model.train()
    out = decoder_layer.ffn(torch.randn(16, 32))
    assert bool((out == 0).any()) == bool(ffn)


def test_bixt_after_cross_attention_updates_tokens_without_a_token_ffn():
    config = tiny_config(use_bixt=True, bixt_placement="after_cross_attention")
    model = CogitoModel(config).eval()
    assert not hasattr(model.layers[0], "token_ffn")
    input_ids, attention_mask, _ = batch(config)
    out = model(input_ids, attention_mask=attention_mask)
    assert not torch.allclose(out.token_hidden_states, model.embeddings(input_ids, torch.arange(12).expand(3, 12)))
    # One layer by hand: the tokens read the concepts right after concepts <- tokens.
    layer, tokens = model.layers[0], model.embeddings(input_ids, torch.arange(12).expand(3, 12))
    concepts = model.initial_concepts(3, tokens.dtype)
    from cogito.modeling_cogito import key_padding_bias

    bias = key_padding_bias(attention_mask, tokens.dtype)
    crossed = concepts + layer.cross_attention(layer.cross_query_norm(concepts), layer.cross_key_norm(tokens), bias)[0]
    expected = tokens + layer.token_attention(layer.token_query_norm(tokens), layer.token_key_norm(crossed))[0]
    torch.testing.assert_close(layer(concepts, tokens, bias)[1], expected)


def test_init_table_mixing_logits_padding_row_and_concepts():
    config = tiny_config(decoder_type="weighted", concept_num=64, max_position_embeddings=256)
    torch.manual_seed(0)
    normal = CogitoForMaskedLM(config)
    scaled = CogitoForMaskedLM(
        tiny_config(
            decoder_type="weighted",
            concept_num=64,
            max_position_embeddings=256,
            mixing_init="scaled",
            concept_initializer_range=0.2,
        )
    )
    assert normal.decoder.mixing_logits.std().item() == pytest.approx(0.02, rel=0.05)
    assert scaled.decoder.mixing_logits.std().item() == pytest.approx(64**-0.5, rel=0.05)
    assert scaled.cogito.concepts.std().item() == pytest.approx(0.2, rel=0.1)
    assert torch.count_nonzero(normal.cogito.embeddings.token_embeddings.weight[config.pad_token_id]) == 0


def test_xavier_attention_init_matches_a_fused_qkv_matrix_and_leaves_output_projections_normal():
    torch.manual_seed(0)
    model = CogitoForMaskedLM(tiny_config(hidden_size=128, attention_init="xavier", initializer_range=0.1))
    bound = (6.0 / (4 * 128)) ** 0.5
    for attention in (model.cogito.layers[0].cross_attention, model.decoder.layers[0].attention):
        qkv = torch.cat([attention.q_proj.weight, attention.k_proj.weight, attention.v_proj.weight])
        assert qkv.abs().max().item() <= bound
        assert qkv.std().item() == pytest.approx(bound / 3**0.5, rel=0.05)
        assert torch.count_nonzero(attention.q_proj.bias) == 0
        assert attention.o_proj.weight.std().item() == pytest.approx(0.1, rel=0.05)
    normal = CogitoForMaskedLM(tiny_config(hidden_size=128, initializer_range=0.1))
    assert normal.cogito.layers[0].cross_attention.q_proj.weight.std().item() == pytest.approx(0.1, rel=0.05)


@pytest.mark.parametrize("model_class", [CogitoModel, CogitoForMaskedLM, CogitoForSequenceClassification])
def test_forward_refuses_a_misspelt_argument_by_name_and_accepts_token_type_ids(model_class):
    config = tiny_config(num_labels=2)
    model = model_class(config).eval()
    input_ids, attention_mask, _ = batch(config)
    with pytest.raises(TypeError, match="attenton_mask"):
        model(input_ids, attenton_mask=attention_mask)
    with torch.no_grad():
        plain = model(input_ids, attention_mask=attention_mask, return_dict=True)
        with_types = model(
            input_ids,
            attention_mask=attention_mask,
            token_type_ids=torch.ones_like(input_ids),
            output_attentions=False,
            output_hidden_states=False,
            return_dict=True,
        )
    torch.testing.assert_close(with_types[0], plain[0])


# ---------------------------------------------------------------- shapes of every head


@pytest.mark.parametrize("concept_position_type", ["none", "sinusoidal", "learned"])
@pytest.mark.parametrize("use_bixt", [False, True])
def test_base_model_returns_concept_states(concept_position_type, use_bixt):
    config = tiny_config(concept_position_type=concept_position_type, use_bixt=use_bixt)
    model = CogitoModel(config).eval()
    input_ids, attention_mask, _ = batch(config)
    out = model(input_ids, attention_mask=attention_mask, output_hidden_states=True)
    assert out.last_hidden_state.shape == (3, config.concept_num, config.hidden_size)
    assert out.token_hidden_states.shape == (3, 12, config.hidden_size)
    assert len(out.hidden_states) == config.num_hidden_layers + 1


def test_bixt_updates_tokens_and_static_tokens_stay_embedded():
    input_ids, attention_mask, _ = batch(tiny_config())
    static = CogitoModel(tiny_config()).eval()
    out = static(input_ids, attention_mask=attention_mask)
    embedded = static.embeddings(input_ids, torch.arange(12).expand(3, 12))
    torch.testing.assert_close(out.token_hidden_states, embedded)
    bixt = CogitoModel(tiny_config(use_bixt=True)).eval()
    out = bixt(input_ids, attention_mask=attention_mask)
    embedded = bixt.embeddings(input_ids, torch.arange(12).expand(3, 12))
    assert not torch.allclose(out.token_hidden_states, embedded)


@pytest.mark.parametrize("decoder_type", DECODERS)
def test_masked_lm_dense_and_sparse_shapes(decoder_type):
    config = tiny_config(decoder_type=decoder_type)
    model = CogitoForMaskedLM(config).eval()
    input_ids, attention_mask, labels = batch(config)
    dense = model(input_ids, attention_mask=attention_mask)
    assert dense.logits.shape == (3, 12, config.vocab_size)
    assert dense.loss is None
    assert dense.concept_states.shape == (3, config.concept_num, config.hidden_size)
    sparse = model(input_ids, attention_mask=attention_mask, labels=labels)
    assert sparse.logits.shape == (int((labels != -100).sum()), config.vocab_size)
    assert sparse.loss.ndim == 0 and torch.isfinite(sparse.loss)


@pytest.mark.parametrize("decoder_type", DECODERS)
def test_sparse_mlm_loss_equals_dense_cross_entropy(decoder_type):
    config = tiny_config(decoder_type=decoder_type)
    torch.manual_seed(0)
    model = CogitoForMaskedLM(config).eval()
    input_ids, attention_mask, labels = batch(config)
    dense_logits = model(input_ids, attention_mask=attention_mask).logits
    reference = F.cross_entropy(dense_logits.reshape(-1, config.vocab_size), labels.reshape(-1), ignore_index=-100)
    sparse = model(input_ids, attention_mask=attention_mask, labels=labels)
    torch.testing.assert_close(sparse.loss, reference, rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(sparse.logits, dense_logits[labels != -100], rtol=1e-5, atol=1e-5)


def test_mlm_loss_is_normalised_by_num_items_in_batch():
    config = tiny_config()
    model = CogitoForMaskedLM(config).eval()
    input_ids, attention_mask, labels = batch(config)
    mean_loss = model(input_ids, attention_mask=attention_mask, labels=labels).loss
    count = int((labels != -100).sum())
    # As under gradient accumulation over 4 such batches: the sum over this batch / all items.
    scaled = model(input_ids, attention_mask=attention_mask, labels=labels, num_items_in_batch=4 * count).loss
    torch.testing.assert_close(scaled, mean_loss / 4)


def test_mlm_batch_without_labelled_positions_gives_zero_loss_with_gradients():
    config = tiny_config()
    model = CogitoForMaskedLM(config)
    input_ids, attention_mask, _ = batch(config)
    out = model(input_ids, attention_mask=attention_mask, labels=torch.full_like(input_ids, -100))
    assert out.loss.item() == 0.0
    out.loss.backward()
    assert model.cogito.concepts.grad is not None


def test_lm_head_is_tied_to_token_embeddings_also_with_a_narrow_embedding():
    for token_embedding_dim in (None, 16):
        model = CogitoForMaskedLM(tiny_config(token_embedding_dim=token_embedding_dim))
        assert model.lm_head.decoder.weight is model.cogito.embeddings.token_embeddings.weight
        assert model.cogito.embeddings.token_embeddings.weight.shape[1] == (token_embedding_dim or 32)
    untied = CogitoForMaskedLM(tiny_config(tie_word_embeddings=False))
    assert untied.lm_head.decoder.weight is not untied.cogito.embeddings.token_embeddings.weight


def test_dimension_inversion_shrinks_the_model():
    wide = CogitoForMaskedLM(tiny_config(vocab_size=1000)).num_parameters()
    narrow = CogitoForMaskedLM(tiny_config(vocab_size=1000, token_embedding_dim=8)).num_parameters()
    assert narrow < wide - 1000 * 16


@pytest.mark.parametrize("pooling", POOLINGS)
@pytest.mark.parametrize(
    "num_labels, problem_type, make_labels",
    [
        (3, None, lambda: torch.tensor([0, 2, 1])),
        (1, None, lambda: torch.tensor([0.5, 1.5, 4.0])),
        (4, "multi_label_classification", lambda: torch.tensor([[1, 0, 1, 0], [0, 0, 0, 1], [1, 1, 0, 0]]).float()),
    ],
)
def test_sequence_classification_heads(pooling, num_labels, problem_type, make_labels):
    config = tiny_config(classifier_pooling=pooling, num_labels=num_labels, problem_type=problem_type)
    model = CogitoForSequenceClassification(config).eval()
    input_ids, attention_mask, _ = batch(config)
    labels = make_labels()
    out = model(input_ids, attention_mask=attention_mask, labels=labels)
    assert out.logits.shape == (3, num_labels)
    assert out.concept_states.shape == (3, config.concept_num, config.hidden_size)
    if num_labels == 1:
        expected = F.mse_loss(out.logits.squeeze(-1), labels)
    elif problem_type == "multi_label_classification":
        expected = F.binary_cross_entropy_with_logits(out.logits, labels)
    else:
        expected = F.cross_entropy(out.logits, labels)
    torch.testing.assert_close(out.loss, expected)
    assert model.config.problem_type == problem_type  # forward never rewrites the config


def test_via_decoder_pooling_ignores_padding_tokens():
    config = tiny_config(classifier_pooling="via_decoder", decoder_type="perceiver", num_labels=2)
    model = CogitoForSequenceClassification(config).eval()
    input_ids = torch.randint(5, config.vocab_size, (1, 6))
    padded = torch.cat([input_ids, torch.zeros(1, 4, dtype=torch.long)], dim=1)
    mask = torch.cat([torch.ones(1, 6), torch.zeros(1, 4)], dim=1).long()
    torch.testing.assert_close(
        model(input_ids).logits, model(padded, attention_mask=mask).logits, rtol=1e-4, atol=1e-5
    )


# ---------------------------------------------------------------- attention


@pytest.mark.parametrize("decoder_type", DECODERS)
@pytest.mark.parametrize("use_bixt", [False, True])
def test_sdpa_and_eager_attention_agree(decoder_type, use_bixt):
    config = tiny_config(decoder_type=decoder_type, use_bixt=use_bixt)
    torch.manual_seed(0)
    sdpa = CogitoForMaskedLM(config).eval()
    eager = copy.deepcopy(sdpa)
    sdpa.set_attn_implementation("sdpa")
    eager.set_attn_implementation("eager")
    assert sdpa.config._attn_implementation == "sdpa" and eager.config._attn_implementation == "eager"
    input_ids, attention_mask, _ = batch(config)
    reference = eager(input_ids, attention_mask=attention_mask).logits
    torch.testing.assert_close(sdpa(input_ids, attention_mask=attention_mask).logits, reference, rtol=1e-4, atol=1e-4)


def test_output_attentions_gives_concept_to_token_maps_that_skip_padding():
    config = tiny_config()
    model = CogitoModel(config).eval()
    input_ids, attention_mask, _ = batch(config)
    out = model(input_ids, attention_mask=attention_mask, output_attentions=True)
    assert len(out.attentions) == config.num_hidden_layers
    maps = out.attentions[0]
    assert maps.shape == (3, config.num_attention_heads, config.concept_num, 12)
    torch.testing.assert_close(maps.sum(-1), torch.ones(3, config.num_attention_heads, config.concept_num))
    assert maps[1, :, :, 6:].abs().max() == 0  # row 1 is padded from position 6


@pytest.mark.parametrize("attn_implementation", ["sdpa", "eager"])
@pytest.mark.parametrize("use_bixt", [False, True])
def test_all_padding_row_gives_finite_concepts(attn_implementation, use_bixt):
    config = tiny_config(use_bixt=use_bixt)
    model = CogitoForMaskedLM(config).eval()
    model.set_attn_implementation(attn_implementation)
    input_ids, attention_mask, labels = batch(config)
    attention_mask[2] = 0
    out = model(input_ids, attention_mask=attention_mask, labels=labels)
    assert torch.isfinite(out.concept_states).all()
    assert torch.isfinite(out.loss)
    out.loss.backward()
    assert all(torch.isfinite(p.grad).all() for p in model.parameters() if p.grad is not None)


def test_sequence_longer_than_max_positions_is_refused_with_both_numbers():
    config = tiny_config(max_position_embeddings=16)
    model = CogitoForMaskedLM(config)
    with pytest.raises(ValueError, match=r"17.*max_position_embeddings=16"):
        model(torch.ones(1, 17, dtype=torch.long))


# ---------------------------------------------------------------- training behaviour


@pytest.mark.parametrize("decoder_type", DECODERS)
def test_gradient_checkpointing_gives_the_same_gradients(decoder_type):
    config = tiny_config(decoder_type=decoder_type, use_bixt=True)
    torch.manual_seed(0)
    plain = CogitoForMaskedLM(config).train()
    checkpointed = copy.deepcopy(plain)
    checkpointed.activation_checkpointing_enable(activation_checkpointing_kwargs={"use_reentrant": False})
    assert checkpointed.is_activation_checkpointing
    calls = []
    for module in checkpointed.modules():
        if getattr(module, "gradient_checkpointing", False):
            original = module._gradient_checkpointing_func

            def counting(*args, _original=original, **kwargs):
                calls.append(1)
                return _original(*args, **kwargs)

            module._gradient_checkpointing_func = counting
    input_ids, attention_mask, labels = batch(config)
    for model in (plain, checkpointed):
        model(input_ids, attention_mask=attention_mask, labels=labels).loss.backward()
    decoder_layers = 0 if decoder_type == "weighted" else config.num_decoder_layers
    assert len(calls) == config.num_hidden_layers + decoder_layers  # every layer really recomputed
    for (name, a), (_, b) in zip(plain.named_parameters(), checkpointed.named_parameters()):
        assert (a.grad is None) == (b.grad is None), name
        if a.grad is not None:
            torch.testing.assert_close(a.grad, b.grad, rtol=1e-5, atol=1e-7, msg=name)


def test_a_few_steps_of_mlm_training_lower_the_loss():
    config = tiny_config()
    torch.manual_seed(0)
    model = CogitoForMaskedLM(config).train()
    optimizer = torch.optim.AdamW(model.parameters(), lr=3e-3)
    input_ids, attention_mask, labels = batch(config)
    losses = []
    for _ in range(30):
        loss = model(input_ids, attention_mask=attention_mask, labels=labels).loss
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    assert losses[-1] < 0.5 * losses[0]


# ---------------------------------------------------------------- checkpoints


@pytest.mark.parametrize("pooling", POOLINGS)
def test_mlm_checkpoint_loads_into_classifier_with_only_the_head_new(tmp_path, pooling):
    config = tiny_config(decoder_type="perceiver")
    torch.manual_seed(0)
    CogitoForMaskedLM(config).save_pretrained(tmp_path)
    mlm = CogitoForMaskedLM.from_pretrained(tmp_path)
    classifier, info = CogitoForSequenceClassification.from_pretrained(
        tmp_path, num_labels=2, classifier_pooling=pooling, output_loading_info=True
    )
    new_head = POOLING_HEADS.get(pooling, {"classifier"})
    assert {key.split(".")[0] for key in info["missing_keys"]} == new_head
    assert {key.split(".")[0] for key in info["unexpected_keys"]} <= {"lm_head", "decoder"}
    mlm_state = mlm.state_dict()
    for name, tensor in classifier.state_dict().items():
        if name.startswith("cogito.") or (
            pooling in ("via_decoder", "decoder_dense_mean") and name.startswith("decoder.")
        ):
            torch.testing.assert_close(tensor, mlm_state[name], msg=name)
    if pooling in ("via_decoder", "decoder_dense_mean"):
        assert not any(key.startswith("decoder.") for key in info["unexpected_keys"])


def _rte_slice(tokenizer, rows: int = 16) -> dict[str, torch.Tensor]:
    import csv

    with open(GLUE_DATA / "RTE" / "train.tsv", newline="", encoding="utf-8") as handle:
        table = list(csv.DictReader(handle, delimiter="\t", quoting=csv.QUOTE_NONE))[:rows]
    encoded = tokenizer(
        [row["sentence1"].lower() for row in table],
        [row["sentence2"].lower() for row in table],
        truncation=True,
        max_length=64,
        padding=True,
        return_tensors="pt",
    )
    labels = torch.tensor([int(row["label"] == "not_entailment") for row in table])
    return {"input_ids": encoded["input_ids"], "attention_mask": encoded["attention_mask"], "labels": labels}


@pytest.mark.slow
@pytest.mark.parametrize("pooling", ["cls_query_ffn", "decoder_dense_mean", "concept_weighted"])
def test_research_glue_heads_load_from_an_mlm_folder_and_train_on_rte(glue_data, tmp_path, tiny_tokenizer, pooling):
    decoder_type = "weighted" if pooling == "decoder_dense_mean" else "perceiver"
    config = tiny_config(**research_architecture(decoder_type))
    torch.manual_seed(0)
    CogitoForMaskedLM(config).save_pretrained(tmp_path)
    classifier, info = CogitoForSequenceClassification.from_pretrained(
        tmp_path, num_labels=2, classifier_pooling=pooling, output_loading_info=True
    )
    assert {key.split(".")[0] for key in info["missing_keys"]} == POOLING_HEADS[pooling]
    rte = _rte_slice(tiny_tokenizer)
    optimizer = torch.optim.AdamW(classifier.parameters(), lr=1e-3)
    classifier.train()
    losses = []
    for _ in range(100):
        loss = classifier(**rte).loss
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    classifier.eval()
    with torch.no_grad():
        final = classifier(**rte)
    # It fits the slice: far below the 0.69 of guessing (the untrained encoder must learn too).
    assert final.loss.item() < 0.3, losses
    assert (final.logits.argmax(-1) == rte["labels"]).float().mean() >= 0.9


def test_save_pretrained_writes_safetensors_and_reloads_identically(tmp_path):
    config = tiny_config(decoder_type="perceiver_posonly", concept_position_type="learned")
    model = CogitoForMaskedLM(config).eval()
    model.save_pretrained(tmp_path)
    assert (tmp_path / "model.safetensors").exists()
    assert (tmp_path / "modeling_cogito.py").exists() and (tmp_path / "configuration_cogito.py").exists()
    reloaded = CogitoForMaskedLM.from_pretrained(tmp_path).eval()
    input_ids, attention_mask, _ = batch(config)
    torch.testing.assert_close(
        reloaded(input_ids, attention_mask=attention_mask).logits,
        model(input_ids, attention_mask=attention_mask).logits,
    )


@pytest.mark.slow
def test_torch_compile_matches_eager_without_recompiling_for_each_masked_count():
    import torch._dynamo

    config = tiny_config()
    torch.manual_seed(0)
    model = CogitoForMaskedLM(config).eval()
    compiled = torch.compile(model, dynamic=True)
    torch._dynamo.utils.counters.clear()
    input_ids, attention_mask, _ = batch(config)
    graphs_after_warmup = None
    for step, count in enumerate((1, 3, 6, 9, 4)):  # a different number of masked tokens every step
        labels = torch.full_like(input_ids, -100)
        labels[:, :count] = input_ids[:, :count]
        expected = model(input_ids, attention_mask=attention_mask, labels=labels)
        got = compiled(input_ids, attention_mask=attention_mask, labels=labels)
        torch.testing.assert_close(got.loss, expected.loss, rtol=1e-4, atol=1e-5)
        torch.testing.assert_close(got.logits, expected.logits, rtol=1e-4, atol=1e-4)
        if step == 1:  # dynamo specialises sizes 0/1 once; after that one graph serves every count
            graphs_after_warmup = torch._dynamo.utils.counters["stats"]["unique_graphs"]
    assert torch._dynamo.utils.counters["stats"]["unique_graphs"] == graphs_after_warmup


@pytest.mark.parametrize("decoder_type", ["weighted", "perceiver_posonly"])
def test_position_only_decoders_train_on_tsdae_batches_with_longer_targets(decoder_type, tiny_tokenizer):
    from cogito.data.text import TSDAECollator

    config = tiny_config(decoder_type=decoder_type)
    model = CogitoForMaskedLM(config)
    collator = TSDAECollator(tiny_tokenizer, seed=0)
    examples = [tiny_tokenizer(text) for text in ("the house of his sister was in paris", "a city on the river")]
    batch = collator(examples)
    assert batch["labels"].shape[1] > batch["input_ids"].shape[1]  # tokens were deleted
    out = model(batch["input_ids"], attention_mask=batch["attention_mask"], labels=batch["labels"])
    assert out.logits.shape[0] == int((batch["labels"] != -100).sum())
    out.loss.backward()
    assert torch.isfinite(out.loss)


def test_perceiver_decoder_refuses_targets_longer_than_the_input():
    model = CogitoForMaskedLM(tiny_config(decoder_type="perceiver"))
    with pytest.raises(ValueError, match="position-only decoder"):
        model(torch.ones(1, 4, dtype=torch.long), labels=torch.ones(1, 6, dtype=torch.long))
