"""Cogito concept encoders: the whole network in one file.

C learned concept vectors cross-attend to the N token states, then attend to each other, in
each of L pre-norm layers, so the encoder costs O(C·N) instead of O(N²). Decoders read the
concept states back out to token positions for masked-LM; classification heads pool them.

This file is copied into every Hub repository (``trust_remote_code``) and must run there alone:
it imports only torch, the public transformers API and ``.configuration_cogito``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
import transformers
from torch import nn

from .configuration_cogito import check_transformers_version

check_transformers_version(transformers.__version__)

from transformers import PreTrainedModel  # noqa: E402
from transformers import initialization as init  # noqa: E402
from transformers.activations import ACT2FN  # noqa: E402
from transformers.modeling_layers import GradientCheckpointingLayer  # noqa: E402
from transformers.modeling_outputs import SequenceClassifierOutput  # noqa: E402
from transformers.modeling_utils import ALL_ATTENTION_FUNCTIONS  # noqa: E402
from transformers.utils import ModelOutput, logging  # noqa: E402

from .configuration_cogito import CogitoConfig  # noqa: E402

logger = logging.get_logger(__name__)

IGNORE_INDEX = -100

# Checkpoint keys renamed since they were first saved: `lm_head.decoder` became
# `lm_head.projection`, because accelerate's tied-parameter matching (`device_map="auto"`) takes
# the top-level module `decoder` for a prefix of `lm_head.decoder.weight` and crashes.
LEGACY_KEY_MAPPING = {r"^lm_head\.decoder\.": "lm_head.projection."}


@dataclass
class CogitoModelOutput(ModelOutput):
    """Output of `CogitoModel`.

    Args:
        last_hidden_state: concept states after the last layer, `(batch, concept_num, hidden_size)`.
        pooler_output: the mean of the concept states `(batch, hidden_size)`: one vector per
            sequence that does not depend on padding (what sentence-transformers reads).
        token_hidden_states: token states after the last layer `(batch, seq_len, hidden_size)`;
            the embedded tokens unless `config.use_bixt` updates them.
        hidden_states: concept states after the embeddings and each layer (`output_hidden_states`).
        attentions: concept←token cross-attention maps per layer, each
            `(batch, num_heads, concept_num, seq_len)` (`output_attentions`).
    """

    last_hidden_state: torch.FloatTensor | None = None
    pooler_output: torch.FloatTensor | None = None
    token_hidden_states: torch.FloatTensor | None = None
    hidden_states: tuple[torch.FloatTensor, ...] | None = None
    attentions: tuple[torch.FloatTensor, ...] | None = None


@dataclass
class CogitoMaskedLMOutput(ModelOutput):
    """Output of `CogitoForMaskedLM`.

    Args:
        loss: masked-LM cross-entropy over the labelled positions (when `labels` are given).
        logits: with `labels`, scores at the labelled positions only, `(num_labelled, vocab_size)`
            in row-major order (the order of `labels[labels != -100]`); without, `(batch, seq_len,
            vocab_size)`.
        concept_states: encoder output `(batch, concept_num, hidden_size)`, for concept
            regularisers and analysis.
        hidden_states, attentions: as in `CogitoModelOutput`.
        token_states: without `labels`, the decoder's output at every position `(batch, seq_len,
            hidden_size)`: token-level features read out of the concepts (the LM head's input).
    """

    loss: torch.FloatTensor | None = None
    logits: torch.FloatTensor | None = None
    concept_states: torch.FloatTensor | None = None
    hidden_states: tuple[torch.FloatTensor, ...] | None = None
    attentions: tuple[torch.FloatTensor, ...] | None = None
    token_states: torch.FloatTensor | None = None


@dataclass
class CogitoSequenceClassifierOutput(SequenceClassifierOutput):
    """`SequenceClassifierOutput` plus the encoder's `concept_states` `(batch, concept_num, hidden_size)`."""

    concept_states: torch.FloatTensor | None = None


def eager_attention_forward(
    module: nn.Module,
    query: torch.Tensor,
    key: torch.Tensor,
    value: torch.Tensor,
    attention_mask: torch.Tensor | None,
    scaling: float,
    dropout: float = 0.0,
    **kwargs,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Reference attention that also returns the weights. Inputs `(B, heads, L, d)`."""
    scores = torch.matmul(query, key.transpose(2, 3)) * scaling  # (B, heads, Lq, Lk)
    if attention_mask is not None:
        scores = scores + attention_mask
    weights = F.softmax(scores, dim=-1, dtype=torch.float32).to(query.dtype)
    weights = F.dropout(weights, p=dropout, training=module.training)
    output = torch.matmul(weights, value).transpose(1, 2).contiguous()  # (B, Lq, heads, d)
    return output, weights


def key_padding_bias(attention_mask: torch.Tensor | None, dtype: torch.dtype) -> torch.Tensor | None:
    """Turn a `(B, N)` 1/0 padding mask into an additive `(B, 1, 1, N)` bias on attention keys.

    No branch depends on the mask's values, so `torch.export`, ONNX export and
    `torch.compile(fullgraph=True)` trace one graph that is right for padded and unpadded batches.
    """
    if attention_mask is None:
        return None
    keep = attention_mask.bool()
    # A row that is all padding would softmax over nothing and give NaN: let it attend to every
    # key instead, so its outputs stay finite (and meaningless, as its input is).
    keep = keep | ~keep.any(dim=-1, keepdim=True)
    bias = torch.zeros(keep.shape, dtype=dtype, device=keep.device)
    bias = bias.masked_fill(~keep, torch.finfo(dtype).min)
    return bias[:, None, None, :]  # (B, 1, 1, N)


# What nn.Embedding takes as indices.
_INDEX_DTYPES = (torch.long, torch.int)


def check_labels(labels: torch.Tensor, num_classes: int, what: str) -> None:
    """Class-id labels must lie in [0, num_classes) or be -100 (ignored); checked where it is free (CPU)."""
    if labels.dtype not in _INDEX_DTYPES:
        raise TypeError(f"labels must be integer {what} ids (torch.long), got dtype {labels.dtype}")
    if labels.device.type != "cpu" or torch.compiler.is_compiling() or torch.jit.is_tracing():
        return
    bad = labels[(labels != IGNORE_INDEX) & ((labels < 0) | (labels >= num_classes))]
    if bad.numel():
        raise ValueError(
            f"labels must be {what} ids in [0, {num_classes}) or {IGNORE_INDEX} (ignored), got {int(bad[0])}"
        )


def check_inputs(
    config: CogitoConfig,
    input_ids: torch.Tensor | None,
    attention_mask: torch.Tensor | None,
    position_ids: torch.Tensor | None,
    inputs_embeds: torch.Tensor | None = None,
) -> None:
    """Refuse malformed inputs with a message naming them, before they fail deep inside attention.

    Value checks (ids in range, mask values) run where they are free: on CPU tensors, and never
    while `torch.compile`/`torch.export`/ONNX trace the model (they would be data-dependent
    branches). A mask is 1 = token, 0 = padding (or boolean); an additive mask (0 / -inf) is
    refused, not misread.
    """
    tracing = torch.compiler.is_compiling() or torch.jit.is_tracing()
    if input_ids is not None:
        if not isinstance(input_ids, torch.Tensor):
            raise TypeError(f"input_ids must be a torch.Tensor of token ids, got {type(input_ids).__name__}")
        if input_ids.dim() != 2:
            raise ValueError(f"input_ids must have shape (batch, seq_len), got shape {tuple(input_ids.shape)}")
        if input_ids.dtype not in _INDEX_DTYPES:
            raise TypeError(
                f"input_ids must be an integer tensor (torch.long or torch.int), got dtype {input_ids.dtype}"
            )
        name, shape = "input_ids", tuple(input_ids.shape)
    else:
        embedding_dim = config.embedding_dim
        if (
            not isinstance(inputs_embeds, torch.Tensor)
            or inputs_embeds.dim() != 3
            or inputs_embeds.shape[-1] != embedding_dim
        ):
            got = tuple(inputs_embeds.shape) if isinstance(inputs_embeds, torch.Tensor) else type(inputs_embeds)
            raise ValueError(f"inputs_embeds must have shape (batch, seq_len, {embedding_dim}), got {got!r}")
        if not inputs_embeds.dtype.is_floating_point:
            raise TypeError(f"inputs_embeds must be a floating-point tensor, got dtype {inputs_embeds.dtype}")
        name, shape = "inputs_embeds", tuple(inputs_embeds.shape[:2])
    if tracing:
        return
    if 0 in shape:
        raise ValueError(f"{name} must have a batch and a sequence of at least 1, got shape {shape}")
    on_cpu = (input_ids if input_ids is not None else inputs_embeds).device.type == "cpu"
    if input_ids is not None and on_cpu:
        low, high = int(input_ids.min()), int(input_ids.max())
        if low < 0 or high >= config.vocab_size:
            raise ValueError(
                f"input_ids must be token ids in [0, vocab_size={config.vocab_size}), got values from {low} to "
                f"{high}: does the tokenizer match the model?"
            )
    if attention_mask is not None:
        if not isinstance(attention_mask, torch.Tensor) or tuple(attention_mask.shape) != shape:
            got = tuple(attention_mask.shape) if isinstance(attention_mask, torch.Tensor) else attention_mask
            raise ValueError(
                f"attention_mask must have the shape (batch, seq_len) = {shape} of {name} (1 = token, 0 = padding), "
                f"got {got!r}"
            )
        if attention_mask.dtype.is_complex:
            raise TypeError(f"attention_mask must be boolean, integer or float 1/0, got dtype {attention_mask.dtype}")
        if attention_mask.dtype != torch.bool and not bool(((attention_mask == 0) | (attention_mask == 1)).all()):
            bad = attention_mask[(attention_mask != 0) & (attention_mask != 1)].flatten()[0].item()
            raise ValueError(
                f"attention_mask must hold 1 (token) and 0 (padding) or booleans, got the value {bad!r}; "
                "an additive mask (0 / -inf) must be turned into 1/0 first"
            )
    if position_ids is not None:
        if not isinstance(position_ids, torch.Tensor) or position_ids.dim() != 2 or position_ids.shape[1] != shape[1]:
            got = tuple(position_ids.shape) if isinstance(position_ids, torch.Tensor) else position_ids
            raise ValueError(f"position_ids must have shape (batch, {shape[1]}), got {got!r}")
        if position_ids.dtype not in _INDEX_DTYPES:
            raise TypeError(
                f"position_ids must be an integer tensor (torch.long or torch.int), got {position_ids.dtype}"
            )
        if on_cpu and (int(position_ids.min()) < 0 or int(position_ids.max()) >= config.max_position_embeddings):
            raise ValueError(
                f"position_ids must lie in [0, max_position_embeddings={config.max_position_embeddings}), got "
                f"values from {int(position_ids.min())} to {int(position_ids.max())}"
            )


def sinusoidal_codes(num: int, dim: int, device: torch.device, dtype: torch.dtype) -> torch.Tensor:
    """Fixed sine/cosine codes `(num, dim)` as in Vaswani et al. 2017."""
    position = torch.arange(num, device=device, dtype=torch.float32)[:, None]
    frequency = torch.exp(torch.arange(0, dim, 2, device=device, dtype=torch.float32) * (-math.log(10000.0) / dim))
    codes = torch.zeros(num, dim, device=device, dtype=torch.float32)
    codes[:, 0::2] = torch.sin(position * frequency)
    codes[:, 1::2] = torch.cos(position * frequency)[:, : dim // 2]
    return codes.to(dtype)


class CogitoInputProjection(nn.Linear):
    """A query, key or value projection: a Linear that `config.attention_init` initialises."""


class CogitoAttention(nn.Module):
    """Multi-head attention for both self- and cross-attention.

    Queries come from `query_states`, keys and values from `key_value_states`; the optional
    additive mask acts on keys only.
    """

    def __init__(self, config: CogitoConfig):
        super().__init__()
        self.config = config
        self.num_heads = config.num_attention_heads
        self.head_dim = config.hidden_size // config.num_attention_heads
        self.scaling = self.head_dim**-0.5
        self.is_causal = False
        self.q_proj = CogitoInputProjection(config.hidden_size, config.hidden_size)
        self.k_proj = CogitoInputProjection(config.hidden_size, config.hidden_size)
        self.v_proj = CogitoInputProjection(config.hidden_size, config.hidden_size)
        self.o_proj = nn.Linear(config.hidden_size, config.hidden_size)

    def forward(
        self,
        query_states: torch.Tensor,
        key_value_states: torch.Tensor,
        attention_mask: torch.Tensor | None = None,
        output_attentions: bool = False,
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        batch, q_len, _ = query_states.shape
        k_len = key_value_states.shape[1]
        query = self.q_proj(query_states).view(batch, q_len, self.num_heads, self.head_dim).transpose(1, 2)
        key = self.k_proj(key_value_states).view(batch, k_len, self.num_heads, self.head_dim).transpose(1, 2)
        value = self.v_proj(key_value_states).view(batch, k_len, self.num_heads, self.head_dim).transpose(1, 2)

        # Attention maps exist only on the eager path; asking for them selects it for this call.
        attention_fn = eager_attention_forward
        if not output_attentions:
            attention_fn = ALL_ATTENTION_FUNCTIONS.get_interface(
                self.config._attn_implementation, eager_attention_forward
            )
        output, weights = attention_fn(
            self,
            query,
            key,
            value,
            attention_mask,
            dropout=self.config.attention_probs_dropout_prob if self.training else 0.0,
            scaling=self.scaling,
            is_causal=False,
        )
        output = output.reshape(batch, q_len, -1)  # (B, Lq, H)
        return self.o_proj(output), (weights if output_attentions else None)


def branch_dropouts(config: CogitoConfig) -> tuple[float, float]:
    """`(residual, ffn)` dropout probabilities for `config.dropout_placement`."""
    if config.dropout_placement == "ffn":
        return 0.0, config.hidden_dropout_prob
    return config.hidden_dropout_prob, 0.0


class CogitoGatedFeedForward(nn.Module):
    """Gated feed-forward block (GLU variants, Shazeer 2020): act(x W_g) * (x W_u), then W_o.

    `dropout` acts on the gated inner activation (T5's placement).
    """

    def __init__(self, config: CogitoConfig, dropout: float = 0.0):
        super().__init__()
        self.gate_up_proj = nn.Linear(config.hidden_size, 2 * config.intermediate_size)
        self.down_proj = nn.Linear(config.intermediate_size, config.hidden_size)
        self.act = ACT2FN[config.hidden_act]
        self.dropout = nn.Dropout(dropout)

    def forward(self, hidden_states: torch.Tensor) -> torch.Tensor:
        gate, up = self.gate_up_proj(hidden_states).chunk(2, dim=-1)
        return self.down_proj(self.dropout(self.act(gate) * up))


class CogitoFeedForward(nn.Module):
    """Plain two-layer MLP: Linear → act → Linear; `dropout` acts on its output (BERT's placement)."""

    def __init__(self, config: CogitoConfig, dropout: float = 0.0):
        super().__init__()
        self.up_proj = nn.Linear(config.hidden_size, config.intermediate_size)
        self.down_proj = nn.Linear(config.intermediate_size, config.hidden_size)
        self.act = ACT2FN[config.hidden_act]
        self.dropout = nn.Dropout(dropout)

    def forward(self, hidden_states: torch.Tensor) -> torch.Tensor:
        return self.dropout(self.down_proj(self.act(self.up_proj(hidden_states))))


def optional_norm(enabled: bool, config: CogitoConfig) -> nn.Module:
    """A LayerNorm, or a parameter-free identity when the layout has no norm there."""
    return nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps) if enabled else nn.Identity()


class CogitoEmbeddings(nn.Module):
    """Token embeddings (optionally narrower than `hidden_size`, then projected) plus learned positions."""

    def __init__(self, config: CogitoConfig):
        super().__init__()
        self.token_embeddings = nn.Embedding(config.vocab_size, config.embedding_dim, padding_idx=config.pad_token_id)
        # Dimension inversion: a narrow embedding table projected up to the model width.
        self.token_projection = (
            nn.Linear(config.embedding_dim, config.hidden_size, bias=False)
            if config.embedding_dim != config.hidden_size
            else None
        )
        self.position_embeddings = nn.Embedding(config.max_position_embeddings, config.hidden_size)
        self.norm = optional_norm(config.embedding_norm, config)
        self.dropout = nn.Dropout(config.hidden_dropout_prob)

    def embed_tokens(self, input_ids: torch.Tensor | None, inputs_embeds: torch.Tensor | None = None) -> torch.Tensor:
        """Token embeddings at the model width `(B, N, H)`, without positions.

        `inputs_embeds` (rows of the token embedding table, `(B, N, token_embedding_dim)`) replace
        the lookup of `input_ids`.
        """
        tokens = inputs_embeds if inputs_embeds is not None else self.token_embeddings(input_ids)
        if self.token_projection is not None:
            tokens = self.token_projection(tokens)
        return tokens

    def add_positions(self, tokens: torch.Tensor, position_ids: torch.Tensor) -> torch.Tensor:
        """Token states `(B, N, H)` from model-width token embeddings and their positions."""
        return self.dropout(self.norm(tokens + self.position_embeddings(position_ids)))

    def forward(self, input_ids: torch.Tensor, position_ids: torch.Tensor) -> torch.Tensor:
        return self.add_positions(self.embed_tokens(input_ids), position_ids)


class CogitoEncoderLayer(GradientCheckpointingLayer):
    """One pre-norm layer: concepts ← tokens cross-attention, concept self-attention, gated FFN.

    With `use_bixt` the tokens are also updated from the concepts (Hiller et al., BiXT, 2024),
    after the concept block (with a token FFN) or right after the cross-attention
    (`config.bixt_placement`).
    """

    def __init__(self, config: CogitoConfig):
        super().__init__()
        eps = config.layer_norm_eps
        residual_dropout, ffn_dropout = branch_dropouts(config)
        self.cross_query_norm = nn.LayerNorm(config.hidden_size, eps=eps)
        self.cross_key_norm = optional_norm(config.cross_attention_key_norm, config)
        self.cross_attention = CogitoAttention(config)
        self.self_norm = nn.LayerNorm(config.hidden_size, eps=eps)
        self.self_attention = CogitoAttention(config)
        self.ffn_norm = nn.LayerNorm(config.hidden_size, eps=eps)
        self.ffn = CogitoGatedFeedForward(config, ffn_dropout)
        self.dropout = nn.Dropout(residual_dropout)
        self.use_bixt = config.use_bixt
        self.bixt_after_ffn = config.bixt_placement == "after_ffn"
        if self.use_bixt:
            self.token_query_norm = nn.LayerNorm(config.hidden_size, eps=eps)
            self.token_key_norm = optional_norm(config.cross_attention_key_norm, config)
            self.token_attention = CogitoAttention(config)
            if self.bixt_after_ffn:
                self.token_ffn_norm = nn.LayerNorm(config.hidden_size, eps=eps)
                self.token_ffn = CogitoGatedFeedForward(config, ffn_dropout)

    def forward(
        self,
        concepts: torch.Tensor,
        tokens: torch.Tensor,
        token_bias: torch.Tensor | None = None,
        output_attentions: bool = False,
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]:
        update, cross_weights = self.cross_attention(
            self.cross_query_norm(concepts), self.cross_key_norm(tokens), token_bias, output_attentions
        )
        concepts = concepts + self.dropout(update)
        if self.use_bixt and not self.bixt_after_ffn:
            tokens = self._update_tokens(tokens, concepts)
        normed = self.self_norm(concepts)
        concepts = concepts + self.dropout(self.self_attention(normed, normed)[0])
        concepts = concepts + self.dropout(self.ffn(self.ffn_norm(concepts)))
        if self.use_bixt and self.bixt_after_ffn:
            tokens = self._update_tokens(tokens, concepts)
            tokens = tokens + self.dropout(self.token_ffn(self.token_ffn_norm(tokens)))
        return concepts, tokens, cross_weights

    def _update_tokens(self, tokens: torch.Tensor, concepts: torch.Tensor) -> torch.Tensor:
        """BiXT's reverse path: tokens ← concepts cross-attention, O(N·C)."""
        update = self.token_attention(self.token_query_norm(tokens), self.token_key_norm(concepts))[0]
        return tokens + self.dropout(update)


class CogitoDecoderLayer(GradientCheckpointingLayer):
    """Perceiver-IO output block: queries ← concepts cross-attention, then a gated FFN or an MLP."""

    def __init__(self, config: CogitoConfig):
        super().__init__()
        residual_dropout, ffn_dropout = branch_dropouts(config)
        self.query_norm = nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps)
        self.attention = CogitoAttention(config)
        self.ffn_norm = nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps)
        ffn_class = CogitoGatedFeedForward if config.decoder_ffn_type == "gated" else CogitoFeedForward
        self.ffn = ffn_class(config, ffn_dropout)
        self.dropout = nn.Dropout(residual_dropout)

    def forward(self, queries: torch.Tensor, concepts: torch.Tensor) -> torch.Tensor:
        queries = queries + self.dropout(self.attention(self.query_norm(queries), concepts)[0])
        return queries + self.dropout(self.ffn(self.ffn_norm(queries)))


class CogitoDecoder(nn.Module):
    """Reads token-position states out of the concepts; `config.decoder_type` selects how.

    - `weighted`: each position takes a learned softmax mix of the concepts.
    - `perceiver`: Perceiver-IO cross-attention (Jaegle et al. 2021) with queries = token
      embedding + position, so unmasked context also reaches the output through the query.
      The position comes from the encoder's embeddings or the decoder's own table
      (`config.decoder_query_positions`).
    - `perceiver_posonly`: queries = position only, so every token must pass through the concepts.

    Every position is decoded independently of the others, so callers may decode only the
    positions they need (the labelled ones in masked-LM training).
    """

    def __init__(self, config: CogitoConfig):
        super().__init__()
        self.decoder_type = config.decoder_type
        self.own_positions = self.decoder_type != "weighted" and config.decoder_query_positions == "own"
        if self.decoder_type == "weighted":
            self.mixing_logits = nn.Parameter(torch.empty(config.max_position_embeddings, config.concept_num))
        else:
            if self.own_positions:
                self.query_position_embeddings = nn.Embedding(config.max_position_embeddings, config.hidden_size)
            self.layers = nn.ModuleList(CogitoDecoderLayer(config) for _ in range(config.num_decoder_layers))
        self.norm = optional_norm(config.decoder_output_norm, config)

    def forward(
        self,
        concepts: torch.Tensor,
        token_embeds: torch.Tensor,
        position_ids: torch.Tensor,
        embeddings: CogitoEmbeddings,
    ) -> torch.Tensor:
        """Decode `(B, K)` query positions from `(B, C, H)` concepts into `(B, K, H)` states.

        `token_embeds` are the model-width token embeddings of the queried positions `(B, K, H)`
        (`CogitoEmbeddings.embed_tokens`); the position-only decoders do not read them.
        """
        if self.decoder_type == "weighted":
            mix = F.softmax(self.mixing_logits[position_ids], dim=-1, dtype=torch.float32)  # (B, K, C)
            return self.norm(torch.bmm(mix.to(concepts.dtype), concepts))  # (B, K, H)
        if self.decoder_type == "perceiver_posonly":
            queries = self.query_position_embeddings(position_ids)  # (B, K, H)
        elif self.own_positions:
            queries = token_embeds + self.query_position_embeddings(position_ids)  # (B, K, H)
        else:
            queries = embeddings.add_positions(token_embeds, position_ids)  # (B, K, H)
        for layer in self.layers:
            queries = layer(queries, concepts)
        return self.norm(queries)


class CogitoLMHead(nn.Module):
    """Scores the vocabulary from decoder states; `config.lm_head_type` selects the layout.

    - `transform`: Linear → act → LayerNorm → vocabulary projection with bias (BERT).
    - `linear`: the vocabulary projection alone, no bias.
    - `dense_act`: Linear → act → dropout → vocabulary projection without bias.

    The vocabulary projection `projection` (called `decoder` in checkpoints saved before
    `device_map` support; `LEGACY_KEY_MAPPING` still loads them) is tied to the token
    embeddings when `config.tie_word_embeddings`.
    """

    def __init__(self, config: CogitoConfig):
        super().__init__()
        self.lm_head_type = config.lm_head_type
        width = config.hidden_size if self.lm_head_type == "linear" else config.embedding_dim
        if self.lm_head_type != "linear":
            self.dense = nn.Linear(config.hidden_size, width)
            self.act = ACT2FN[config.hidden_act]
        if self.lm_head_type == "transform":
            self.norm = nn.LayerNorm(width, eps=config.layer_norm_eps)
        elif self.lm_head_type == "dense_act":
            self.dropout = nn.Dropout(config.hidden_dropout_prob)
        self.projection = nn.Linear(width, config.vocab_size, bias=self.lm_head_type == "transform")

    @property
    def decoder(self) -> nn.Linear:
        """The vocabulary projection under its former (BERT's) name."""
        return self.projection

    def forward(self, hidden_states: torch.Tensor) -> torch.Tensor:
        if self.lm_head_type == "transform":
            hidden_states = self.norm(self.act(self.dense(hidden_states)))
        elif self.lm_head_type == "dense_act":
            hidden_states = self.dropout(self.act(self.dense(hidden_states)))
        return self.projection(hidden_states)


def _listed(keys: list[str]) -> str:
    """`n (k1, k2, ... and m more)` for an error message."""
    shown = ", ".join(keys[:5]) + (f" and {len(keys) - 5} more" if len(keys) > 5 else "")
    return f"{len(keys)} ({shown})"


class CogitoPreTrainedModel(PreTrainedModel):
    config_class = CogitoConfig
    # Only the masked-LM head normalises its loss by `num_items_in_batch` (gradient accumulation);
    # the Trainer passes it to the models that declare this.
    accepts_loss_kwargs = False
    base_model_prefix = "cogito"
    main_input_name = "input_ids"
    supports_gradient_checkpointing = True
    _supports_sdpa = True
    _no_split_modules = ["CogitoEncoderLayer", "CogitoDecoderLayer"]

    @classmethod
    def from_pretrained(cls, *args, key_mapping: dict[str, str] | None = None, **kwargs):
        """`PreTrainedModel.from_pretrained`, also reading checkpoints saved under former key names, and
        refusing a checkpoint whose encoder weights are missing.

        A new head (decoder, LM head, pooler, classifier) may start from scratch; a missing encoder
        weight means the folder holds another model (e.g. a BERT checkpoint) and would give a
        randomly initialised encoder.
        """
        want_info = kwargs.pop("output_loading_info", False)
        model, info = super().from_pretrained(
            *args,
            key_mapping={**LEGACY_KEY_MAPPING, **(key_mapping or {})},
            output_loading_info=True,
            **kwargs,
        )
        prefix = cls.base_model_prefix + "."
        missing = set(info["missing_keys"])
        encoder_owned = isinstance(model, CogitoModel)
        lost = sorted(key for key in missing if encoder_owned or key.startswith(prefix))
        if lost:
            raise ValueError(
                f"the checkpoint lacks {_listed(lost)} encoder weight(s) of {cls.__name__}: it does not hold "
                "a Cogito encoder of this configuration"
            )
        if missing and cls.__name__ in (model.config.architectures or []):
            raise ValueError(
                f"the checkpoint was saved from {cls.__name__} but lacks {_listed(sorted(missing))} of its weights: "
                "it is incomplete or of another configuration"
            )
        # A head (decoder, lm_head, classifier, pooler) is either in the checkpoint or new, never half of each.
        groups: dict[str, list[str]] = {}
        owners: dict[int, str] = {}
        for key, tensor in model.state_dict().items():
            owner = owners.setdefault(tensor.data_ptr(), key)
            if owner == key and not key.startswith(prefix):  # a weight tied to the encoder belongs to it
                groups.setdefault(key.split(".", 1)[0], []).append(key)
        for group, keys in groups.items():
            absent = sorted(key for key in keys if key in missing)
            if 0 < len(absent) < len(keys):
                raise ValueError(
                    f"the checkpoint holds part of {cls.__name__}.{group} but lacks {_listed(absent)}: "
                    "it is incomplete or of another configuration"
                )
        return (model, info) if want_info else model

    def save_pretrained(self, save_directory, *args, **kwargs) -> None:
        """`PreTrainedModel.save_pretrained`, plus a sentence-transformers configuration.

        `SentenceTransformer(folder, trust_remote_code=True)` then embeds a sentence as the mean of
        its concept states (`pooler_output`), which no token padding mask touches.
        """
        super().save_pretrained(save_directory, *args, **kwargs)
        if kwargs.get("is_main_process", True):
            write_sentence_transformers_config(save_directory)

    @torch.no_grad()
    def _init_weights(self, module: nn.Module) -> None:
        std = self.config.initializer_range
        if isinstance(module, CogitoInputProjection) and self.config.attention_init == "xavier":
            # nn.MultiheadAttention's init: Xavier-uniform over the fused (3H, H) q/k/v matrix.
            bound = math.sqrt(6.0 / (module.in_features + 3 * module.out_features))
            init.uniform_(module.weight, -bound, bound)
            init.zeros_(module.bias)
        elif isinstance(module, nn.Linear):
            init.normal_(module.weight, mean=0.0, std=std)
            if module.bias is not None:
                init.zeros_(module.bias)
        elif isinstance(module, nn.Embedding):
            init.normal_(module.weight, mean=0.0, std=std)
            # The padding row starts at zero (as in BERT); a loaded weight is left alone.
            if module.padding_idx is not None and not getattr(module.weight, "_is_hf_initialized", False):
                init.zeros_(module.weight[module.padding_idx])
        elif isinstance(module, nn.LayerNorm):
            init.ones_(module.weight)
            init.zeros_(module.bias)
        elif isinstance(module, CogitoModel):
            init.normal_(module.concepts, mean=0.0, std=self.config.concept_initializer_range)
            if module.concept_position_embeddings is not None:
                init.normal_(module.concept_position_embeddings, mean=0.0, std=std)
        elif isinstance(module, CogitoDecoder) and module.decoder_type == "weighted":
            # "scaled": the research's randn / sqrt(C)
            mixing_std = self.config.concept_num**-0.5 if self.config.mixing_init == "scaled" else std
            init.normal_(module.mixing_logits, mean=0.0, std=mixing_std)
        elif isinstance(module, CogitoForSequenceClassification) and module.pooler_query is not None:
            init.normal_(module.pooler_query, mean=0.0, std=std)


def write_sentence_transformers_config(folder) -> None:
    """Write the sentence-transformers files of a saved folder: one Transformer module whose
    sentence embedding is `CogitoModel`'s `pooler_output` (the mean of the concept states).

    No Pooling module: sentence-transformers' token pooling would apply the token attention mask
    to the concept axis whenever the padded length equals `concept_num`.
    """
    import json
    import os

    files = {
        "modules.json": [
            {"idx": 0, "name": "0", "path": "", "type": "sentence_transformers.base.modules.transformer.Transformer"}
        ],
        "sentence_bert_config.json": {
            "transformer_task": "feature-extraction",
            "modality_config": {"text": {"method": "forward", "method_output_name": "pooler_output"}},
            "module_output_name": "sentence_embedding",
        },
        "config_sentence_transformers.json": {
            "model_type": "SentenceTransformer",
            "prompts": {},
            "default_prompt_name": None,
            "similarity_fn_name": "cosine",
        },
    }
    for name, content in files.items():
        with open(os.path.join(folder, name), "w", encoding="utf-8") as handle:
            json.dump(content, handle, indent=2)
            handle.write("\n")


class CogitoModel(CogitoPreTrainedModel):
    """The concept encoder. Returns the concept states `(batch, concept_num, hidden_size)` and
    their mean `pooler_output` `(batch, hidden_size)`."""

    def __init__(self, config: CogitoConfig):
        super().__init__(config)
        self.embeddings = CogitoEmbeddings(config)
        self.concepts = nn.Parameter(torch.empty(config.concept_num, config.hidden_size))
        self.concept_position_embeddings = (
            nn.Parameter(torch.empty(config.concept_num, config.hidden_size))
            if config.concept_position_type == "learned"
            else None
        )
        self.layers = nn.ModuleList(CogitoEncoderLayer(config) for _ in range(config.num_hidden_layers))
        final_eps = config.final_norm_eps if config.final_norm_eps is not None else config.layer_norm_eps
        self.norm = nn.LayerNorm(config.hidden_size, eps=final_eps)
        self.gradient_checkpointing = False
        self.post_init()

    def get_input_embeddings(self) -> nn.Embedding:
        return self.embeddings.token_embeddings

    def set_input_embeddings(self, value: nn.Embedding) -> None:
        self.embeddings.token_embeddings = value

    def initial_concepts(self, batch_size: int, dtype: torch.dtype) -> torch.Tensor:
        concepts = self.concepts
        if self.config.concept_position_type == "learned":
            concepts = concepts + self.concept_position_embeddings
        elif self.config.concept_position_type == "sinusoidal":
            concepts = concepts + sinusoidal_codes(*concepts.shape, concepts.device, concepts.dtype)
        # `.repeat`, not `.expand`: expanded views of parameters deadlocked DDP all-reduce in the
        # research code.
        return concepts.to(dtype).unsqueeze(0).repeat(batch_size, 1, 1)  # (B, C, H)

    def forward(
        self,
        input_ids: torch.Tensor | None = None,
        attention_mask: torch.Tensor | None = None,
        position_ids: torch.Tensor | None = None,
        token_type_ids: torch.Tensor | None = None,
        output_attentions: bool | None = None,
        output_hidden_states: bool | None = None,
        return_dict: bool | None = None,
        inputs_embeds: torch.Tensor | None = None,
    ) -> CogitoModelOutput | tuple:
        # No `**kwargs`: a misspelt argument (`attenton_mask=`) raises a TypeError naming it.
        # `token_type_ids` is accepted because BERT-style tokenizers and pipelines pass it; a
        # concept encoder has no segment embeddings, so it does not change the output.
        output_attentions = output_attentions if output_attentions is not None else self.config.output_attentions
        output_hidden_states = (
            output_hidden_states if output_hidden_states is not None else self.config.output_hidden_states
        )
        self._one_input(input_ids, inputs_embeds)
        check_inputs(self.config, input_ids, attention_mask, position_ids, inputs_embeds)
        return_dict = return_dict if return_dict is not None else self.config.return_dict
        token_embeds = self.embed_inputs(input_ids, inputs_embeds)  # (B, N, H)
        position_ids = self._position_ids(token_embeds, position_ids)

        tokens = self.embeddings.add_positions(token_embeds, position_ids)  # (B, N, H)
        token_bias = key_padding_bias(attention_mask, tokens.dtype)
        concepts = self.initial_concepts(tokens.shape[0], tokens.dtype)  # (B, C, H)
        all_concepts = (concepts,) if output_hidden_states else None
        all_attentions = () if output_attentions else None
        for layer in self.layers:
            concepts, tokens, weights = layer(concepts, tokens, token_bias, output_attentions)
            if output_hidden_states:
                all_concepts += (concepts,)
            if output_attentions:
                all_attentions += (weights,)
        concepts = self.norm(concepts)

        output = CogitoModelOutput(
            last_hidden_state=concepts,
            pooler_output=concepts.mean(dim=1),  # (B, H)
            token_hidden_states=tokens,
            hidden_states=all_concepts,
            attentions=all_attentions,
        )
        return output if return_dict else output.to_tuple()

    def encode(
        self,
        input_ids: torch.Tensor | None,
        attention_mask: torch.Tensor | None,
        position_ids: torch.Tensor | None,
        output_attentions: bool | None,
        output_hidden_states: bool | None,
        inputs_embeds: torch.Tensor | None = None,
    ) -> tuple[torch.Tensor, CogitoModelOutput]:
        """What every head needs: the checked position ids `(B, N)` and the encoder's output."""
        inputs = self._one_input(input_ids, inputs_embeds)
        check_inputs(self.config, input_ids, attention_mask, position_ids, inputs_embeds)
        position_ids = self._position_ids(inputs, position_ids)
        encoded = self(
            input_ids,
            attention_mask=attention_mask,
            position_ids=position_ids,
            output_attentions=output_attentions,
            output_hidden_states=output_hidden_states,
            return_dict=True,
            inputs_embeds=inputs_embeds,
        )
        return position_ids, encoded

    def embed_inputs(self, input_ids: torch.Tensor | None, inputs_embeds: torch.Tensor | None) -> torch.Tensor:
        """Model-width token embeddings `(B, N, H)` of exactly one of `input_ids` and `inputs_embeds`."""
        self._one_input(input_ids, inputs_embeds)
        return self.embeddings.embed_tokens(input_ids, inputs_embeds)

    def _one_input(self, input_ids: torch.Tensor | None, inputs_embeds: torch.Tensor | None) -> torch.Tensor:
        """The one of `input_ids` and `inputs_embeds` that was given; a ValueError for both or neither."""
        if (input_ids is None) == (inputs_embeds is None):
            given = "both" if input_ids is not None else "neither"
            raise ValueError(
                f"Pass exactly one of input_ids (B, N) and inputs_embeds (B, N, {self.config.embedding_dim}); "
                f"got {given}"
            )
        return input_ids if input_ids is not None else inputs_embeds

    def _position_ids(self, inputs: torch.Tensor, position_ids: torch.Tensor | None) -> torch.Tensor:
        """Position ids `(B, N)` for `inputs` `(B, N, ...)` (token ids or embeddings)."""
        seq_len = inputs.shape[1]
        if seq_len > self.config.max_position_embeddings:
            raise ValueError(
                f"Input sequence length {seq_len} exceeds max_position_embeddings="
                f"{self.config.max_position_embeddings}; truncate the input (e.g. tokenizer(..., "
                f"truncation=True, max_length={self.config.max_position_embeddings}))."
            )
        if position_ids is None:
            position_ids = torch.arange(seq_len, device=inputs.device).unsqueeze(0).repeat(inputs.shape[0], 1)
        return position_ids


class CogitoForMaskedLM(CogitoPreTrainedModel):
    """Concept encoder + decoder + LM head, trained with masked-LM.

    With `labels`, only the labelled positions are decoded and scored (sparse MLM): nothing of
    shape `(batch, seq_len, vocab_size)` is built, and the loss equals dense cross-entropy with
    `ignore_index=-100`.
    """

    _tied_weights_keys = {"lm_head.projection.weight": "cogito.embeddings.token_embeddings.weight"}
    # The loss is normalised by `num_items_in_batch` when the Trainer passes it, so gradient
    # accumulation averages over all labelled tokens of the accumulated batches.
    accepts_loss_kwargs = True

    def __init__(self, config: CogitoConfig):
        super().__init__(config)
        self.cogito = CogitoModel(config)
        self.decoder = CogitoDecoder(config)
        self.lm_head = CogitoLMHead(config)
        self.post_init()

    def get_output_embeddings(self) -> nn.Linear:
        return self.lm_head.projection

    def set_output_embeddings(self, new_embeddings: nn.Linear) -> None:
        self.lm_head.projection = new_embeddings

    @staticmethod
    def preprocess_logits_for_metrics(logits: torch.Tensor | tuple, labels: torch.Tensor) -> torch.Tensor:
        """Predicted token ids aligned with `labels` `(B, N)` (-100 where unlabelled).

        Pass it as `Trainer(..., preprocess_logits_for_metrics=model.preprocess_logits_for_metrics)`:
        with labels the model scores only the labelled positions, `(M, V)`, and this puts their
        argmax back at those positions, so `run_mlm.py`'s accuracy metric works unchanged.
        """
        if isinstance(logits, tuple):
            logits = logits[0]
        if logits.dim() == 3:  # (B, N, V): dense logits, evaluated without labels
            return logits.argmax(dim=-1)
        predictions = torch.full_like(labels, IGNORE_INDEX)
        predictions[labels != IGNORE_INDEX] = logits.argmax(dim=-1).to(labels.dtype)
        return predictions

    def forward(
        self,
        input_ids: torch.Tensor | None = None,
        attention_mask: torch.Tensor | None = None,
        position_ids: torch.Tensor | None = None,
        labels: torch.Tensor | None = None,
        output_attentions: bool | None = None,
        output_hidden_states: bool | None = None,
        return_dict: bool | None = None,
        num_items_in_batch: int | torch.Tensor | None = None,
        token_type_ids: torch.Tensor | None = None,
        inputs_embeds: torch.Tensor | None = None,
    ) -> CogitoMaskedLMOutput | tuple:
        return_dict = return_dict if return_dict is not None else self.config.return_dict
        position_ids, encoded = self.cogito.encode(
            input_ids, attention_mask, position_ids, output_attentions, output_hidden_states, inputs_embeds
        )
        concepts = encoded.last_hidden_state
        token_embeds = self.cogito.embed_inputs(input_ids, inputs_embeds)  # (B, N, H)
        loss = token_states = None
        if labels is None:
            token_states = self.decoder(concepts, token_embeds, position_ids, self.cogito.embeddings)  # (B, N, H)
            logits = self.lm_head(token_states)  # (B, N, V)
        else:
            check_labels(labels, self.config.vocab_size, "token")
            labels = labels.long()  # cross_entropy takes int64 targets
            logits, targets = self._sparse_logits(concepts, token_embeds, position_ids, labels)  # (M, V), (M,)
            loss = self._mlm_loss(logits, targets, concepts, num_items_in_batch)

        output = CogitoMaskedLMOutput(
            loss=loss,
            logits=logits,
            concept_states=concepts,
            hidden_states=encoded.hidden_states,
            attentions=encoded.attentions,
            token_states=token_states,
        )
        return output if return_dict else output.to_tuple()

    def _sparse_logits(
        self,
        concepts: torch.Tensor,
        token_embeds: torch.Tensor,
        position_ids: torch.Tensor,
        labels: torch.Tensor,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Decode and score only the labelled positions, in the row-major order of `labels`.

        `labels` normally has the shape of `input_ids`. Denoising objectives whose targets are
        longer than the corrupted input (TSDAE deletes tokens) work with the decoders that query by
        position alone (`weighted`, `perceiver_posonly`): target position i is decoded at position i.
        """
        if labels.shape != token_embeds.shape[:2]:
            if labels.shape[0] != token_embeds.shape[0] or self.config.decoder_type == "perceiver":
                raise ValueError(
                    f"labels of shape {tuple(labels.shape)} do not match input_ids {tuple(token_embeds.shape[:2])}; "
                    "targets of another length need a position-only decoder (decoder_type weighted or "
                    f"perceiver_posonly), not {self.config.decoder_type!r}"
                )
            token_embeds = token_embeds.new_zeros(*labels.shape, token_embeds.shape[-1])  # unused by these decoders
            position_ids = self.cogito._position_ids(labels, None)
        selected = labels != IGNORE_INDEX  # (B, N)
        width = int(selected.sum(dim=1).max())
        if width == 0:
            return self.lm_head(concepts.new_zeros(0, concepts.shape[-1])), labels[selected]
        # Move each row's labelled positions to the front (stable, so in position order), keep
        # the widest row's count: a (B, K) batch of queries with K = max labelled per row.
        order = torch.argsort((~selected).to(torch.int8), dim=1, stable=True)[:, :width]  # (B, K)
        valid = torch.gather(selected, 1, order)  # (B, K)
        hidden = self.decoder(
            concepts,
            torch.gather(token_embeds, 1, order.unsqueeze(-1).expand(-1, -1, token_embeds.shape[-1])),  # (B, K, H)
            torch.gather(position_ids, 1, order),
            self.cogito.embeddings,
        )  # (B, K, H)
        return self.lm_head(hidden[valid]), labels[selected]  # (M, V), (M,)

    @staticmethod
    def _mlm_loss(
        logits: torch.Tensor,
        targets: torch.Tensor,
        concepts: torch.Tensor,
        num_items_in_batch: int | torch.Tensor | None,
    ) -> torch.Tensor:
        if targets.numel() == 0:
            # Nothing to predict: a zero that still reaches every parameter in the graph, so
            # distributed gradient reduction sees the same parameters on every process.
            return (logits.sum() + concepts.sum()) * 0.0
        if num_items_in_batch is None:
            return F.cross_entropy(logits.float(), targets)
        total = F.cross_entropy(logits.float(), targets, reduction="sum")
        if isinstance(num_items_in_batch, torch.Tensor):
            num_items_in_batch = num_items_in_batch.to(total.device)
        return total / num_items_in_batch


def _classification_problem_type(config: CogitoConfig, labels: torch.Tensor) -> str:
    """The problem type the labels imply, without writing it into the config."""
    if config.problem_type is not None:
        return config.problem_type
    if config.num_labels == 1:
        return "regression"
    if labels.dtype.is_floating_point:
        # Not a silent switch to multi-label: that has to be asked for.
        raise ValueError(
            f"labels of dtype {labels.dtype} given to a {config.num_labels}-class classifier: pass class ids as "
            "integers (torch.long), or set config.problem_type='multi_label_classification' for multi-label targets"
        )
    return "single_label_classification"


def _classification_loss(config: CogitoConfig, logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    problem_type = _classification_problem_type(config, labels)
    if problem_type == "regression":
        if config.num_labels == 1:
            return F.mse_loss(logits.squeeze(-1).float(), labels.squeeze(-1).float())
        return F.mse_loss(logits.float(), labels.float())
    if problem_type == "single_label_classification":
        if labels.dtype.is_floating_point or labels.dtype == torch.bool:
            raise ValueError(
                f"labels must be integer class ids (torch.long) for single_label_classification, got {labels.dtype}"
            )
        check_labels(labels, config.num_labels, "class")
        return F.cross_entropy(logits.view(-1, config.num_labels).float(), labels.view(-1).long())
    if problem_type == "multi_label_classification":
        return F.binary_cross_entropy_with_logits(logits.float(), labels.float())
    raise ValueError(
        f"config.problem_type must be regression, single_label_classification or "
        f"multi_label_classification; got {problem_type!r}"
    )


class CogitoForSequenceClassification(CogitoPreTrainedModel):
    """Concept encoder + pooling + linear classifier (regression, single- or multi-label).

    Pooling follows `config.classifier_pooling`:

    - `concept_attention`: a learned query attends to the concepts, then a LayerNorm.
    - `mean`: the mean of the concepts.
    - `via_decoder`: the pretrained decoder's token outputs, mean-pooled over real tokens.
    - `cls_query_ffn`: the research's CLS-query head: a learned query (pre-norm) attends to the
      concepts, a pre-norm MLP block, a final LayerNorm.
    - `decoder_dense_mean`: the research's weighted mean-pool head: the decoder's token outputs,
      Linear → act → dropout, mean-pooled over real tokens.
    - `concept_weighted`: the research's weighted-concept pooling: a linear score per concept,
      softmax over the concepts, their weighted sum, a LayerNorm.

    Decoder weights load from a masked-LM checkpoint; every other pooling weight is new.
    """

    def __init__(self, config: CogitoConfig):
        super().__init__(config)
        self.num_labels = config.num_labels
        self.cogito = CogitoModel(config)
        pooling = config.classifier_pooling
        eps = config.layer_norm_eps
        self.pooler_query = None
        if pooling in ("concept_attention", "cls_query_ffn"):
            self.pooler_query = nn.Parameter(torch.empty(1, config.hidden_size))
            self.pooler_attention = CogitoAttention(config)
            self.pooler_norm = nn.LayerNorm(config.hidden_size, eps=eps)
        if pooling == "cls_query_ffn":
            self.pooler_query_norm = nn.LayerNorm(config.hidden_size, eps=eps)
            self.pooler_ffn_norm = nn.LayerNorm(config.hidden_size, eps=eps)
            self.pooler_ffn = CogitoFeedForward(config, config.hidden_dropout_prob)
        elif pooling in ("via_decoder", "decoder_dense_mean"):
            self.decoder = CogitoDecoder(config)
        if pooling == "decoder_dense_mean":
            self.pooler_dense = nn.Linear(config.hidden_size, config.hidden_size)
            self.pooler_act = ACT2FN[config.hidden_act]
            self.pooler_dropout = nn.Dropout(config.hidden_dropout_prob)
        elif pooling == "concept_weighted":
            self.pooler_scorer = nn.Linear(config.hidden_size, 1)
            self.pooler_norm = nn.LayerNorm(config.hidden_size, eps=eps)
        dropout = config.classifier_dropout if config.classifier_dropout is not None else config.hidden_dropout_prob
        self.dropout = nn.Dropout(dropout)
        self.classifier = nn.Linear(config.hidden_size, config.num_labels)
        self.post_init()

    def pool(
        self,
        concepts: torch.Tensor,
        input_ids: torch.Tensor,
        attention_mask: torch.Tensor | None,
        position_ids: torch.Tensor,
        inputs_embeds: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """One `(B, H)` vector per sequence from the `(B, C, H)` concepts."""
        pooling = self.config.classifier_pooling
        if pooling == "mean":
            return concepts.mean(dim=1)
        if pooling == "concept_attention":
            query = self.pooler_query.unsqueeze(0).repeat(concepts.shape[0], 1, 1)  # (B, 1, H)
            return self.pooler_norm(self.pooler_attention(query, concepts)[0].squeeze(1))
        if pooling == "cls_query_ffn":
            query = self.pooler_query.unsqueeze(0).repeat(concepts.shape[0], 1, 1)  # (B, 1, H)
            query = query + self.pooler_attention(self.pooler_query_norm(query), concepts)[0]
            query = query + self.pooler_ffn(self.pooler_ffn_norm(query))
            return self.pooler_norm(query.squeeze(1))  # (B, H)
        if pooling == "concept_weighted":
            weights = F.softmax(self.pooler_scorer(concepts), dim=1, dtype=torch.float32)  # (B, C, 1)
            return self.pooler_norm((concepts * weights.to(concepts.dtype)).sum(dim=1))  # (B, H)
        token_embeds = self.cogito.embed_inputs(input_ids, inputs_embeds)  # (B, N, H)
        hidden = self.decoder(concepts, token_embeds, position_ids, self.cogito.embeddings)  # (B, N, H)
        if pooling == "decoder_dense_mean":
            hidden = self.pooler_dropout(self.pooler_act(self.pooler_dense(hidden)))
        if attention_mask is None:
            return hidden.mean(dim=1)
        weights = attention_mask.to(hidden.dtype).unsqueeze(-1)  # (B, N, 1)
        return (hidden * weights).sum(dim=1) / weights.sum(dim=1).clamp(min=1.0)

    def forward(
        self,
        input_ids: torch.Tensor | None = None,
        attention_mask: torch.Tensor | None = None,
        position_ids: torch.Tensor | None = None,
        labels: torch.Tensor | None = None,
        output_attentions: bool | None = None,
        output_hidden_states: bool | None = None,
        return_dict: bool | None = None,
        token_type_ids: torch.Tensor | None = None,
        inputs_embeds: torch.Tensor | None = None,
    ) -> CogitoSequenceClassifierOutput | tuple:
        return_dict = return_dict if return_dict is not None else self.config.return_dict
        position_ids, encoded = self.cogito.encode(
            input_ids, attention_mask, position_ids, output_attentions, output_hidden_states, inputs_embeds
        )
        concepts = encoded.last_hidden_state
        pooled = self.pool(concepts, input_ids, attention_mask, position_ids, inputs_embeds)
        logits = self.classifier(self.dropout(pooled))  # (B, num_labels)
        loss = _classification_loss(self.config, logits, labels) if labels is not None else None
        output = CogitoSequenceClassifierOutput(
            loss=loss,
            logits=logits,
            hidden_states=encoded.hidden_states,
            attentions=encoded.attentions,
            concept_states=concepts,
        )
        return output if return_dict else output.to_tuple()


__all__ = [
    "CogitoPreTrainedModel",
    "CogitoModel",
    "CogitoForMaskedLM",
    "CogitoForSequenceClassification",
]
