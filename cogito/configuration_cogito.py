"""Configuration of Cogito concept encoders.

This file is copied into every Hub repository next to ``modeling_cogito.py`` and must run there
alone: it imports only ``transformers``.
"""

from __future__ import annotations

from transformers import PretrainedConfig

DECODER_TYPES = ("weighted", "perceiver", "perceiver_posonly")
CONCEPT_POSITION_TYPES = ("none", "sinusoidal", "learned")
CLASSIFIER_POOLINGS = ("concept_attention", "mean", "via_decoder")

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
            Number of concept tokens C.
        max_position_embeddings (`int`, defaults to 512):
            Longest sequence the model accepts.
        token_embedding_dim (`int`, *optional*):
            Width of the token embedding table. `None` means `hidden_size`; a smaller value adds a
            projection to `hidden_size` ("dimension inversion") and shrinks the embedding and
            tied output matrices.
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
            concepts), `"mean"` (mean of the concepts) or `"via_decoder"` (run the pretrained
            decoder over the tokens and mean-pool its outputs).
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
        tie_word_embeddings (`bool`, defaults to `True`):
            Share the masked-LM output matrix with the token embeddings.
        pad_token_id (`int`, defaults to 0), cls_token_id, sep_token_id, mask_token_id (`int`, *optional*):
            Special token ids of the tokenizer the model was trained with.
    """

    model_type = "cogito"

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
        self.tie_word_embeddings = tie_word_embeddings
        self.pad_token_id = pad_token_id
        self.cls_token_id = cls_token_id
        self.sep_token_id = sep_token_id
        self.mask_token_id = mask_token_id
        super().__init__(**kwargs)
        self._validate()

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
        for name, allowed in (
            ("decoder_type", DECODER_TYPES),
            ("concept_position_type", CONCEPT_POSITION_TYPES),
            ("classifier_pooling", CLASSIFIER_POOLINGS),
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
        for name in ("initializer_range", "concept_initializer_range", "layer_norm_eps"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or value <= 0:
                raise ValueError(f"CogitoConfig.{name} must be a positive number, got {value!r}")
        if not isinstance(self.use_bixt, bool):
            raise ValueError(f"CogitoConfig.use_bixt must be True or False, got {self.use_bixt!r}")
        for name in ("pad_token_id", "cls_token_id", "sep_token_id", "mask_token_id"):
            value = getattr(self, name)
            if value is not None and (
                isinstance(value, bool) or not isinstance(value, int) or not 0 <= value < self.vocab_size
            ):
                raise ValueError(
                    f"CogitoConfig.{name} must be None or a token id in [0, vocab_size={self.vocab_size}), got "
                    f"{value!r}"
                )


__all__ = ["CogitoConfig"]
