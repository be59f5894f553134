"""Configuration of Cogito concept encoders.

This file is copied into every Hub repository next to ``modeling_cogito.py`` and must run there
alone: it imports only ``transformers``.
"""

from __future__ import annotations

import math

import transformers

# The oldest transformers these two files run on: `transformers.initialization`, the attention
# interface and `GradientCheckpointingLayer` as used here arrived with transformers 5.
MIN_TRANSFORMERS_VERSION = "5.0.0"


def check_transformers_version(version: str) -> None:
    """Raise an ImportError naming the transformers version needed when `version` is older."""
    from packaging.version import Version

    if Version(version) < Version(MIN_TRANSFORMERS_VERSION):
        raise ImportError(
            f"Cogito models need transformers>={MIN_TRANSFORMERS_VERSION}; this environment has transformers "
            f"{version}. Upgrade it: pip install 'transformers>={MIN_TRANSFORMERS_VERSION}'"
        )


check_transformers_version(transformers.__version__)

from transformers import PretrainedConfig  # noqa: E402

DECODER_TYPES = ("weighted", "perceiver", "perceiver_posonly")
CONCEPT_POSITION_TYPES = ("none", "sinusoidal", "learned")
CLASSIFIER_POOLINGS = (
    "concept_attention",
    "mean",
    "via_decoder",
    "cls_query_ffn",
    "decoder_dense_mean",
    "concept_weighted",
)
DROPOUT_PLACEMENTS = ("residual", "ffn")
DECODER_FFN_TYPES = ("gated", "mlp")
DECODER_QUERY_POSITIONS = ("shared", "own")
LM_HEAD_TYPES = ("transform", "linear", "dense_act")
BIXT_PLACEMENTS = ("after_ffn", "after_cross_attention")
MIXING_INITS = ("normal", "scaled")
ATTENTION_INITS = ("normal", "xavier")
PROBLEM_TYPES = ("regression", "single_label_classification", "multi_label_classification")
# Upper bound of `concept_num`: the (C, C) concept self-attention and the (C, N) cross-attention
# grow with C; beyond this a value is a typo (10**9), not an experiment.
MAX_CONCEPT_NUM = 16384
# Far above any real tokenizer (the largest are ~256k) and label set; a larger value is a typo that
# would allocate gigabytes (or, for num_labels, build a label dict of that size) before failing.
MAX_VOCAB_SIZE = 1 << 22
MAX_NUM_LABELS = 100_000
# Fields a saved `config.json` must spell out, since each changes the network or its outputs and a
# silent default would load a different model. `save_pretrained` writes all of them. Not listed:
# dropouts, init choices and ranges (no effect on a loaded model's outputs) and the
# `PretrainedConfig` keys such as `tie_word_embeddings`, which are left out of config.json exactly
# when they equal their default.
ARCHITECTURE_FIELDS = (
    "vocab_size",
    "hidden_size",
    "num_hidden_layers",
    "num_attention_heads",
    "intermediate_size",
    "hidden_act",
    "concept_num",
    "max_position_embeddings",
    "token_embedding_dim",
    "concept_position_type",
    "use_bixt",
    "decoder_type",
    "num_decoder_layers",
    "classifier_pooling",
    "layer_norm_eps",
    "final_norm_eps",
    "embedding_norm",
    "cross_attention_key_norm",
    "decoder_ffn_type",
    "decoder_query_positions",
    "decoder_output_norm",
    "lm_head_type",
    "bixt_placement",
)


def research_architecture(decoder_type: str) -> dict[str, object]:
    """Field values with which a `CogitoConfig` computes what the research code computes.

    The research code is ksopyla/MrCogito (`nn/concept_encoder*.py`, commit bcf06ad), whose
    checkpoints `cogito convert` reads. Combine with the run's sizes, e.g.
    `CogitoConfig(**research_architecture("perceiver"), hidden_size=512, ...)`. The research
    encoder LayerNorms use eps 1e-5 (its output norm 1e-12: `final_norm_eps`), its GELU is the
    exact one, and its weighted decoder never ties the output matrix. Dropout probabilities are
    the run's (the research default was 0.1 for `hidden_dropout_prob` and
    `attention_probs_dropout_prob` alike; Cogito's attention default is 0).
    """
    if decoder_type not in DECODER_TYPES:
        raise ValueError(f"decoder_type must be one of {', '.join(DECODER_TYPES)}; got {decoder_type!r}")
    weighted = decoder_type == "weighted"
    return {
        "decoder_type": decoder_type,
        "embedding_norm": False,
        "cross_attention_key_norm": False,
        "dropout_placement": "ffn",
        "decoder_ffn_type": "mlp",
        "decoder_query_positions": "own",
        "decoder_output_norm": weighted,
        "lm_head_type": "dense_act" if weighted else "linear",
        "bixt_placement": "after_cross_attention",
        "hidden_act": "gelu",
        "layer_norm_eps": 1e-5,
        "final_norm_eps": 1e-12,
        "initializer_range": 0.1,
        "concept_initializer_range": 0.2,
        "mixing_init": "scaled",
        "attention_init": "xavier",
        "num_decoder_layers": 1,
        "tie_word_embeddings": not weighted,
    }


# One folder serves every Auto class: `save_pretrained` alone would only record the class saved.
DEFAULT_AUTO_MAP = {
    "AutoConfig": "configuration_cogito.CogitoConfig",
    "AutoModel": "modeling_cogito.CogitoModel",
    "AutoModelForMaskedLM": "modeling_cogito.CogitoForMaskedLM",
    "AutoModelForSequenceClassification": "modeling_cogito.CogitoForSequenceClassification",
}


class CogitoConfig(PretrainedConfig):
    r"""Configuration of a concept encoder and its heads.

    A concept encoder keeps ``concept_num`` learned concept vectors. In each of ``num_hidden_layers``
    pre-norm layers the concepts cross-attend to the token states, attend to each other and pass
    through a gated feed-forward block, so the cost grows as O(C·N) rather than O(N²). The encoder
    output is the concept states ``(batch, concept_num, hidden_size)``; decoders read them back out
    to token positions for masked-LM.

    Args:
        vocab_size (`int`, defaults to 30522):
            Size of the token vocabulary.
        hidden_size (`int`, defaults to 512):
            Width of concept and token states.
        num_hidden_layers (`int`, defaults to 6):
            Number of concept-encoder layers.
        num_attention_heads (`int`, defaults to 8):
            Heads of every attention block (encoder, decoder, pooling); must divide `hidden_size`.
        intermediate_size (`int`, defaults to 2048):
            Inner width of the gated feed-forward blocks.
        hidden_act (`str`, defaults to `"gelu"`):
            Gate activation of the feed-forward blocks (GeGLU with `"gelu"`, SwiGLU with `"silu"`).
        concept_num (`int`, defaults to 128):
            Number of concept tokens C (at most `MAX_CONCEPT_NUM` = 16384).
        max_position_embeddings (`int`, defaults to 512):
            Longest sequence the model accepts.
        token_embedding_dim (`int`, *optional*):
            Width of the token embedding table, at most `hidden_size`. `None` means `hidden_size`;
            a smaller value adds a projection to `hidden_size` ("dimension inversion") and shrinks
            the embedding and tied output matrices.
        concept_position_type (`str`, defaults to `"none"`):
            What is added to the concept vectors to tell them apart: `"none"`, `"sinusoidal"`
            (fixed codes) or `"learned"` (a second learned table).
        use_bixt (`bool`, defaults to `False`):
            Also update the token states from the concepts in every layer (BiXT, Hiller et al.,
            NeurIPS 2024) instead of keeping the embedded tokens static.
        decoder_type (`str`, defaults to `"perceiver"`):
            How masked-LM reads tokens out of the concepts: `"weighted"` (a learned softmax mix of
            the concepts per position), `"perceiver"` (Perceiver-IO cross-attention with queries =
            token embedding + position) or `"perceiver_posonly"` (queries = position only).
        num_decoder_layers (`int`, defaults to 1):
            Cross-attention blocks in the perceiver decoders (unused by `"weighted"`).
        classifier_pooling (`str`, defaults to `"concept_attention"`):
            Sequence-classification pooling: `"concept_attention"` (a learned query attends to the
            concepts), `"mean"` (mean of the concepts), `"via_decoder"` (run the pretrained
            decoder over the tokens and mean-pool its outputs), or the research's GLUE heads:
            `"cls_query_ffn"` (a CLS query attends to the concepts, then an MLP block and a
            LayerNorm; the research used no dropout before its classifier: `classifier_dropout=0`),
            `"decoder_dense_mean"` (the decoder's outputs through Linear → act → dropout, then
            mean-pooled; the research's weighted head) and `"concept_weighted"` (softmax-weighted
            sum of the concepts by a learned score, then a LayerNorm).
        hidden_dropout_prob (`float`, defaults to 0.1):
            Dropout on embeddings and residual branches.
        attention_probs_dropout_prob (`float`, defaults to 0.0):
            Dropout on attention weights. Above 0, CPU SDPA cannot use its fused kernel.
        classifier_dropout (`float`, *optional*):
            Dropout before the classifier; `None` means `hidden_dropout_prob`.
        initializer_range (`float`, defaults to 0.02):
            Standard deviation of the normal initialiser of weight matrices.
        concept_initializer_range (`float`, defaults to 1.0):
            Standard deviation of the initial concept vectors; large so that concepts start
            nearly orthogonal rather than as one small cluster.
        layer_norm_eps (`float`, defaults to 1e-5):
            Epsilon of every LayerNorm.
        final_norm_eps (`float`, *optional*):
            Epsilon of the encoder's output LayerNorm; `None` means `layer_norm_eps` (the research
            code used 1e-12 there).
        mixing_init (`str`, defaults to `"normal"`):
            Initial mixing logits of the `weighted` decoder: `"normal"` (N(0, `initializer_range`))
            or `"scaled"` (N(0, 1/√C), the research's `randn / sqrt(C)`). Both start close to a
            uniform mix; the default keeps every weight matrix on one scale.
        attention_init (`str`, defaults to `"normal"`):
            Initial query/key/value projections: `"normal"` (N(0, `initializer_range`), like every
            linear layer) or `"xavier"` (Xavier-uniform over the fused (3H, H) q/k/v matrix, the
            init `nn.MultiheadAttention` gave the research models; output projections stay
            N(0, `initializer_range`)).

        Layout choices. The defaults are Cogito's own layout; `research_architecture(decoder_type)`
        gives the values that reproduce the research models exactly (`cogito convert`).

        embedding_norm (`bool`, defaults to `True`):
            LayerNorm over token + position embeddings. Kept on by default: the tokens then enter
            every cross-attention on the scale of the normalised concepts (research: off, raw sums).
        cross_attention_key_norm (`bool`, defaults to `True`):
            LayerNorm the keys/values of the cross-attentions (the tokens for concepts ← tokens,
            the concepts for BiXT's tokens ← concepts). On by default, as pre-norm on both sides
            keeps static token states from dominating the residual stream (research: off).
        dropout_placement (`str`, defaults to `"residual"`):
            Where `hidden_dropout_prob` acts besides the embeddings: `"residual"` (on every
            attention and feed-forward branch before it is added back, as in BERT/nanoGPT) or
            `"ffn"` (only in the feed-forward blocks: on the gated FFN's inner activation, after
            the plain MLP's output — the research layout). Attention probabilities always use
            `attention_probs_dropout_prob`. The default regularises every branch.
        decoder_ffn_type (`str`, defaults to `"gated"`):
            Feed-forward block of the perceiver decoders: `"gated"` (GLU, as in the encoder; better
            per parameter, Shazeer 2020) or `"mlp"` (Linear → act → Linear, the research decoder).
        decoder_query_positions (`str`, *optional*):
            Position embeddings of the `perceiver` decoder's queries: `"shared"` (the encoder's
            embedding output, token + position, normalised; no extra table) or `"own"` (raw token
            embedding + a decoder position table, the research layout). `perceiver_posonly`
            always has its own table (`None` picks `"own"` for it, else `"shared"`).
        decoder_output_norm (`bool`, defaults to `True`):
            LayerNorm on the decoder's output states. Research: off for the perceiver decoders,
            on for `weighted` (the LayerNorm that opens its LM projection).
        lm_head_type (`str`, defaults to `"transform"`):
            Masked-LM head: `"transform"` (Linear → act → LayerNorm → vocabulary projection with a
            bias, BERT's head), `"linear"` (the vocabulary projection alone, no bias; the research
            perceivers) or `"dense_act"` (Linear → act → dropout → vocabulary projection without
            bias; the research weighted decoder, untied). The projection is tied to the token
            embeddings when `tie_word_embeddings`; `"linear"` can tie only when
            `token_embedding_dim` equals `hidden_size`.
        bixt_placement (`str`, defaults to `"after_ffn"`):
            With `use_bixt`, where the tokens ← concepts attention sits in a layer: `"after_ffn"`
            (after the concept block, followed by a token FFN, as in BiXT) or
            `"after_cross_attention"` (right after concepts ← tokens, no token FFN: the research).
        tie_word_embeddings (`bool`, defaults to `True`):
            Share the masked-LM output matrix with the token embeddings.
        pad_token_id (`int`, defaults to 0), cls_token_id, sep_token_id, mask_token_id (`int`, *optional*):
            Special token ids of the tokenizer the model was trained with.
    """

    model_type = "cogito"
    # What `Trainer.predict`/`evaluate` leave out of the predictions: only logits are collected.
    keys_to_ignore_at_inference = ["concept_states", "token_states", "token_hidden_states"]

    def __init__(
        self,
        vocab_size: int = 30522,
        hidden_size: int = 512,
        num_hidden_layers: int = 6,
        num_attention_heads: int = 8,
        intermediate_size: int = 2048,
        hidden_act: str = "gelu",
        concept_num: int = 128,
        max_position_embeddings: int = 512,
        token_embedding_dim: int | None = None,
        concept_position_type: str = "none",
        use_bixt: bool = False,
        decoder_type: str = "perceiver",
        num_decoder_layers: int = 1,
        classifier_pooling: str = "concept_attention",
        hidden_dropout_prob: float = 0.1,
        attention_probs_dropout_prob: float = 0.0,
        classifier_dropout: float | None = None,
        initializer_range: float = 0.02,
        concept_initializer_range: float = 1.0,
        layer_norm_eps: float = 1e-5,
        final_norm_eps: float | None = None,
        mixing_init: str = "normal",
        attention_init: str = "normal",
        embedding_norm: bool = True,
        cross_attention_key_norm: bool = True,
        dropout_placement: str = "residual",
        decoder_ffn_type: str = "gated",
        decoder_query_positions: str | None = None,
        decoder_output_norm: bool = True,
        lm_head_type: str = "transform",
        bixt_placement: str = "after_ffn",
        tie_word_embeddings: bool = True,
        pad_token_id: int | None = 0,
        cls_token_id: int | None = None,
        sep_token_id: int | None = None,
        mask_token_id: int | None = None,
        **kwargs,
    ):
        # The research code called the concept count `num_concepts`; keep reading it.
        if "num_concepts" in kwargs:
            concept_num = kwargs.pop("num_concepts")
        kwargs.setdefault("auto_map", dict(DEFAULT_AUTO_MAP))
        if "num_labels" in kwargs:  # checked first: PretrainedConfig builds a label dict of this size
            num_labels = kwargs["num_labels"]
            if (
                isinstance(num_labels, bool)
                or not isinstance(num_labels, int)
                or not 1 <= num_labels <= MAX_NUM_LABELS
            ):
                raise ValueError(
                    f"CogitoConfig.num_labels must be a positive integer of at most {MAX_NUM_LABELS}, "
                    f"got {num_labels!r}"
                )

        self.vocab_size = vocab_size
        self.hidden_size = hidden_size
        self.num_hidden_layers = num_hidden_layers
        self.num_attention_heads = num_attention_heads
        self.intermediate_size = intermediate_size
        self.hidden_act = hidden_act
        self.concept_num = concept_num
        self.max_position_embeddings = max_position_embeddings
        self.token_embedding_dim = token_embedding_dim
        self.concept_position_type = concept_position_type
        self.use_bixt = use_bixt
        self.decoder_type = decoder_type
        self.num_decoder_layers = num_decoder_layers
        self.classifier_pooling = classifier_pooling
        self.hidden_dropout_prob = hidden_dropout_prob
        self.attention_probs_dropout_prob = attention_probs_dropout_prob
        self.classifier_dropout = classifier_dropout
        self.initializer_range = initializer_range
        self.concept_initializer_range = concept_initializer_range
        self.layer_norm_eps = layer_norm_eps
        self.final_norm_eps = final_norm_eps
        self.mixing_init = mixing_init
        self.attention_init = attention_init
        self.embedding_norm = embedding_norm
        self.cross_attention_key_norm = cross_attention_key_norm
        self.dropout_placement = dropout_placement
        self.decoder_ffn_type = decoder_ffn_type
        if decoder_query_positions is None:
            decoder_query_positions = "own" if decoder_type == "perceiver_posonly" else "shared"
        self.decoder_query_positions = decoder_query_positions
        self.decoder_output_norm = decoder_output_norm
        self.lm_head_type = lm_head_type
        self.bixt_placement = bixt_placement
        self.tie_word_embeddings = tie_word_embeddings
        self.pad_token_id = pad_token_id
        self.cls_token_id = cls_token_id
        self.sep_token_id = sep_token_id
        self.mask_token_id = mask_token_id
        super().__init__(**kwargs)
        self._validate()

    @classmethod
    def from_dict(cls, config_dict: dict, **kwargs):
        """Build a config from a saved `config.json` dict; refuse one that is not a complete Cogito config.

        Another model type's folder (e.g. `bert`) or a config missing an architecture field
        (`ARCHITECTURE_FIELDS`) would otherwise load with defaults and compute something else.
        """
        model_type = config_dict.get("model_type")
        if model_type != cls.model_type:
            raise ValueError(
                f"config.json has model_type {model_type!r}, not {cls.model_type!r}: not a Cogito checkpoint "
                "(research checkpoints are converted with `cogito convert`)"
            )
        missing = [name for name in ARCHITECTURE_FIELDS if name not in config_dict and name not in kwargs]
        if missing:
            raise ValueError(
                f"config.json lacks the Cogito architecture field(s) {', '.join(missing)}; a default could "
                "load a different model: add them to config.json"
            )
        return super().from_dict(config_dict, **kwargs)

    @property
    def embedding_dim(self) -> int:
        """Width of the token embedding table (`token_embedding_dim`, or `hidden_size`)."""
        return self.token_embedding_dim or self.hidden_size

    def _validate(self) -> None:
        for name in (
            "vocab_size",
            "hidden_size",
            "num_hidden_layers",
            "num_attention_heads",
            "intermediate_size",
            "concept_num",
            "max_position_embeddings",
            "num_decoder_layers",
        ):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"CogitoConfig.{name} must be a positive integer, got {value!r}")
        if self.vocab_size > MAX_VOCAB_SIZE:
            raise ValueError(f"CogitoConfig.vocab_size must be at most {MAX_VOCAB_SIZE}, got {self.vocab_size!r}")
        if self.concept_num > MAX_CONCEPT_NUM:
            raise ValueError(f"CogitoConfig.concept_num must be at most {MAX_CONCEPT_NUM}, got {self.concept_num!r}")
        if self.hidden_size % self.num_attention_heads:
            raise ValueError(
                f"CogitoConfig.hidden_size ({self.hidden_size}) must be divisible by "
                f"num_attention_heads ({self.num_attention_heads})"
            )
        if self.token_embedding_dim is not None and (
            isinstance(self.token_embedding_dim, bool)
            or not isinstance(self.token_embedding_dim, int)
            or self.token_embedding_dim < 1
        ):
            raise ValueError(
                f"CogitoConfig.token_embedding_dim must be None or a positive integer, got "
                f"{self.token_embedding_dim!r}"
            )
        if self.token_embedding_dim is not None and self.token_embedding_dim > self.hidden_size:
            raise ValueError(
                f"CogitoConfig.token_embedding_dim must be at most hidden_size={self.hidden_size} (it narrows "
                f"the embedding table), got {self.token_embedding_dim!r}"
            )
        for name, allowed in (
            ("decoder_type", DECODER_TYPES),
            ("concept_position_type", CONCEPT_POSITION_TYPES),
            ("classifier_pooling", CLASSIFIER_POOLINGS),
            ("dropout_placement", DROPOUT_PLACEMENTS),
            ("decoder_ffn_type", DECODER_FFN_TYPES),
            ("decoder_query_positions", DECODER_QUERY_POSITIONS),
            ("lm_head_type", LM_HEAD_TYPES),
            ("bixt_placement", BIXT_PLACEMENTS),
            ("mixing_init", MIXING_INITS),
            ("attention_init", ATTENTION_INITS),
        ):
            value = getattr(self, name)
            if value not in allowed:
                raise ValueError(f"CogitoConfig.{name} must be one of {', '.join(allowed)}; got {value!r}")
        # Checked against the activations transformers knows (the table ACT2FN of transformers).
        from transformers.activations import ACT2FN

        if self.hidden_act not in ACT2FN:
            raise ValueError(
                f"CogitoConfig.hidden_act must be an activation name known to transformers "
                f"(e.g. gelu, silu, relu); got {self.hidden_act!r}"
            )
        for name in ("hidden_dropout_prob", "attention_probs_dropout_prob", "classifier_dropout"):
            value = getattr(self, name)
            if value is None and name == "classifier_dropout":
                continue
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0.0 <= value < 1.0:
                raise ValueError(f"CogitoConfig.{name} must be a probability in [0, 1), got {value!r}")
        for name in ("initializer_range", "concept_initializer_range", "layer_norm_eps", "final_norm_eps"):
            value = getattr(self, name)
            if value is None and name == "final_norm_eps":
                continue
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 < value < math.inf:
                raise ValueError(f"CogitoConfig.{name} must be a positive finite number, got {value!r}")
        if self.problem_type is not None and self.problem_type not in PROBLEM_TYPES:
            raise ValueError(
                f"CogitoConfig.problem_type must be None or one of {', '.join(PROBLEM_TYPES)}; "
                f"got {self.problem_type!r}"
            )
        if self.num_labels < 1:
            raise ValueError(f"CogitoConfig.num_labels must be a positive integer, got {self.num_labels!r}")
        for name in (
            "use_bixt",
            "embedding_norm",
            "cross_attention_key_norm",
            "decoder_output_norm",
            "tie_word_embeddings",
        ):
            if not isinstance(getattr(self, name), bool):
                raise ValueError(f"CogitoConfig.{name} must be True or False, got {getattr(self, name)!r}")
        if self.decoder_type == "perceiver_posonly" and self.decoder_query_positions != "own":
            raise ValueError(
                "CogitoConfig.decoder_query_positions must be 'own' with decoder_type 'perceiver_posonly' "
                "(its queries are positions alone, from the decoder's own table); "
                f"got {self.decoder_query_positions!r}"
            )
        if self.lm_head_type == "linear" and self.tie_word_embeddings and self.embedding_dim != self.hidden_size:
            raise ValueError(
                f"CogitoConfig.lm_head_type 'linear' cannot be tied to a token embedding of width "
                f"token_embedding_dim={self.token_embedding_dim} != hidden_size={self.hidden_size}; set "
                "tie_word_embeddings=False or use lm_head_type 'transform' or 'dense_act'"
            )
        for name in ("pad_token_id", "cls_token_id", "sep_token_id", "mask_token_id"):
            value = getattr(self, name)
            if value is not None and (
                isinstance(value, bool) or not isinstance(value, int) or not 0 <= value < self.vocab_size
            ):
                raise ValueError(
                    f"CogitoConfig.{name} must be None or a token id in [0, vocab_size={self.vocab_size}), got "
                    f"{value!r}"
                )


__all__ = ["CogitoConfig", "research_architecture", "ARCHITECTURE_FIELDS", "MAX_CONCEPT_NUM"]
