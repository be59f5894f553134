"""Convert a research checkpoint (ksopyla/MrCogito, `model_type: concept_encoder`) into a Cogito folder.

The research code saved its masked-LM models as `ConceptEncoderForMaskedLMPerceiver`,
`...PerceiverPosOnly` and `...Weighted`, and its GLUE models as
`ConceptEncoderForSequenceClassification{Perceiver,Weighted,ViaDecoder}`, with its own tensor
names (fused `nn.MultiheadAttention` projections, `Wi`/`Wo`, `decoder_ffn.0`, ...); tied
checkpoints lack `lm_head.weight`, as transformers 4 dropped tied keys.
`convert_research_checkpoint` maps every tensor onto a `CogitoForMaskedLM` (or a
`CogitoForSequenceClassification` with the matching `classifier_pooling`) built with
`research_architecture(...)`, refuses anything it cannot place, and writes a normal Cogito
folder (config with `auto_map`, safetensors, both code files, the tokenizer when the checkpoint
has one) whose outputs equal the research model's.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

import torch

from cogito._io import TOKENIZER_FILES, check_safetensors
from cogito.configuration_cogito import CogitoConfig, research_architecture
from cogito.modeling_cogito import CogitoForMaskedLM, CogitoForSequenceClassification

RESEARCH_MODEL_TYPE = "concept_encoder"
# research masked-LM architecture -> Cogito decoder_type
RESEARCH_ARCHITECTURES: dict[str, str] = {
    "ConceptEncoderForMaskedLMPerceiver": "perceiver",
    "ConceptEncoderForMaskedLMPerceiverPosOnly": "perceiver_posonly",
    "ConceptEncoderForMaskedLMWeighted": "weighted",
}
# research classification architecture -> Cogito classifier_pooling. The research's
# `...ForSequenceClassificationPerceiver` was a CLS-query head until Feb 2026 and a weighted
# concept pooling after: its tensors tell which (`cls_query` or `concept_scorer.weight`).
RESEARCH_CLASSIFIERS: dict[str, str | None] = {
    "ConceptEncoderForSequenceClassificationPerceiver": None,
    "ConceptEncoderForSequenceClassificationWeighted": "decoder_dense_mean",
    "ConceptEncoderForSequenceClassificationViaDecoder": "via_decoder",
}
# Defaults of the research `ConceptEncoderConfig.__init__`, for keys a config.json may omit.
RESEARCH_CONFIG_DEFAULTS: dict[str, object] = {
    "vocab_size": 30522,
    "concept_num": 128,
    "hidden_size": 512,
    "token_embedding_dim": None,
    "num_hidden_layers": 4,
    "num_attention_heads": 8,
    "intermediate_size": 1024,
    "hidden_act": "gelu",
    "hidden_dropout_prob": 0.1,
    "attention_probs_dropout_prob": 0.1,
    "max_sequence_length": 2048,
    "concept_position_type": "none",
    "initializer_range": 0.1,
    "tie_word_embeddings": False,
    "use_bixt": False,
    "pad_token_id": None,
    "cls_token_id": None,
    "sep_token_id": None,
    "mask_token_id": None,
}
_WEIGHT_FILES = ("model.safetensors", "model.safetensors.index.json", "pytorch_model.bin")


class ConversionError(ValueError):
    """A research checkpoint that cannot be converted; the message names what and why."""


def _classifier_pooling(architecture: str, tensor_names: set[str] | None) -> str:
    pooling = RESEARCH_CLASSIFIERS[architecture]
    if pooling is not None:
        return pooling
    if tensor_names is None or "concept_scorer.weight" in tensor_names:
        return "concept_weighted"
    if "cls_query" in tensor_names:
        return "cls_query_ffn"
    raise ConversionError(f"{architecture} checkpoint has neither cls_query nor concept_scorer.weight: unknown head")


def cogito_config_from_research(research: dict, tensor_names: set[str] | None = None) -> CogitoConfig:
    """The `CogitoConfig` computing what the research model of this `config.json` dict computes.

    `tensor_names` (the checkpoint's) tells the two heads saved as
    `ConceptEncoderForSequenceClassificationPerceiver` apart.
    """
    model_type = research.get("model_type")
    if model_type != RESEARCH_MODEL_TYPE:
        raise ConversionError(
            f"not a research checkpoint: model_type is {model_type!r}, expected {RESEARCH_MODEL_TYPE!r}"
        )
    architectures = research.get("architectures") or []
    convertible = (*RESEARCH_ARCHITECTURES, *RESEARCH_CLASSIFIERS)
    if len(architectures) != 1 or architectures[0] not in convertible:
        raise ConversionError(
            f"unsupported research architecture {architectures!r}; convertible: {', '.join(convertible)}"
        )
    (name,) = architectures
    pooling = None
    if name in RESEARCH_ARCHITECTURES:
        decoder_type = RESEARCH_ARCHITECTURES[name]
    else:
        pooling = _classifier_pooling(name, tensor_names)
        decoder_type = "weighted" if pooling == "decoder_dense_mean" else "perceiver"
        if decoder_type == "perceiver" and research.get("decoder_posonly", False):
            decoder_type = "perceiver_posonly"
    values = {key: research.get(key, default) for key, default in RESEARCH_CONFIG_DEFAULTS.items()}
    if values["token_embedding_dim"] not in (None, values["hidden_size"]):
        raise ConversionError(
            f"token_embedding_dim={values['token_embedding_dim']} != hidden_size={values['hidden_size']} "
            "(dimension inversion) is not convertible: the research projects token + position embeddings "
            "together, Cogito projects the token embeddings alone"
        )
    # The research layers hard-code nn.GELU() whatever `hidden_act` says.
    architecture = research_architecture(decoder_type)
    if decoder_type != "weighted":
        # The perceivers tie the output matrix only when the config asks; the weighted model never does.
        architecture["tie_word_embeddings"] = bool(values["tie_word_embeddings"])
    if pooling is not None:
        architecture["classifier_pooling"] = pooling
        architecture["tie_word_embeddings"] = False  # no LM head
        if pooling == "cls_query_ffn":
            architecture["classifier_dropout"] = 0.0  # its classifier read the final norm directly
        if pooling == "via_decoder":
            architecture["decoder_output_norm"] = True  # the research's `pre_pool_norm`
        if research.get("id2label"):
            architecture["id2label"] = {int(index): label for index, label in research["id2label"].items()}
            architecture["label2id"] = {label: int(index) for index, label in research["id2label"].items()}
        if research.get("problem_type") is not None:
            architecture["problem_type"] = research["problem_type"]
        if "id2label" not in architecture and "num_labels" in research:
            architecture["num_labels"] = research["num_labels"]
    architecture.update(
        vocab_size=values["vocab_size"],
        hidden_size=values["hidden_size"],
        num_hidden_layers=values["num_hidden_layers"],
        num_attention_heads=values["num_attention_heads"],
        intermediate_size=values["intermediate_size"],
        concept_num=values["concept_num"],
        max_position_embeddings=values["max_sequence_length"],
        concept_position_type=values["concept_position_type"],
        use_bixt=bool(values["use_bixt"]),
        hidden_dropout_prob=values["hidden_dropout_prob"],
        attention_probs_dropout_prob=values["attention_probs_dropout_prob"],
        # The research's init table: linears/embeddings N(0, r), concepts N(0, min(2r, 1)).
        initializer_range=values["initializer_range"],
        concept_initializer_range=min(2.0 * values["initializer_range"], 1.0),
        pad_token_id=values["pad_token_id"],
        cls_token_id=values["cls_token_id"],
        sep_token_id=values["sep_token_id"],
        mask_token_id=values["mask_token_id"],
    )
    try:
        return CogitoConfig(**architecture)
    except ValueError as error:
        raise ConversionError(f"the research config does not make a valid Cogito config: {error}") from error


@dataclass(frozen=True)
class _Move:
    """One research tensor (or one third of a fused q/k/v projection) into one Cogito tensor."""

    research: str
    cogito: str
    chunk: int | None = None  # 0/1/2: the q/k/v block of an `in_proj_*` tensor
    squeeze: bool = False  # drop a leading length-1 axis (the research's (1, 1, H) CLS query)


def _plan(config: CogitoConfig, classification: bool) -> list[_Move]:
    """Every research tensor a checkpoint of `config` holds, and where it goes in Cogito."""
    moves: list[_Move] = []

    def perceiver_decoder() -> None:
        moves.append(_Move("decoder_query_embeddings.weight", "decoder.query_position_embeddings.weight"))
        attention("decoder_cross_attn", "decoder.layers.0.attention")
        affine("decoder_norm", "decoder.layers.0.query_norm")
        affine("post_cross_norm", "decoder.layers.0.ffn_norm")
        affine("decoder_ffn.0", "decoder.layers.0.ffn.up_proj")
        affine("decoder_ffn.2", "decoder.layers.0.ffn.down_proj")

    def affine(research: str, cogito: str) -> None:  # Linear or LayerNorm
        moves.extend([_Move(f"{research}.weight", f"{cogito}.weight"), _Move(f"{research}.bias", f"{cogito}.bias")])

    def attention(research: str, cogito: str) -> None:  # nn.MultiheadAttention -> CogitoAttention
        for index, proj in enumerate(("q_proj", "k_proj", "v_proj")):
            moves.append(_Move(f"{research}.in_proj_weight", f"{cogito}.{proj}.weight", index))
            moves.append(_Move(f"{research}.in_proj_bias", f"{cogito}.{proj}.bias", index))
        affine(f"{research}.out_proj", f"{cogito}.o_proj")

    moves.append(_Move("encoder.token_embeddings.weight", "cogito.embeddings.token_embeddings.weight"))
    moves.append(_Move("encoder.token_position_embeddings.weight", "cogito.embeddings.position_embeddings.weight"))
    moves.append(_Move("encoder.concept_embeddings.weight", "cogito.concepts"))
    if config.concept_position_type == "learned":
        moves.append(_Move("encoder.concept_position_emb.weight", "cogito.concept_position_embeddings"))
    for index in range(config.num_hidden_layers):
        research, cogito = f"encoder.layers.{index}", f"cogito.layers.{index}"
        affine(f"{research}.pre_cross_attn_norm", f"{cogito}.cross_query_norm")
        attention(f"{research}.concept_token_attn", f"{cogito}.cross_attention")
        affine(f"{research}.pre_self_attn_norm", f"{cogito}.self_norm")
        attention(f"{research}.concept_self_attn", f"{cogito}.self_attention")
        affine(f"{research}.pre_ff_norm", f"{cogito}.ffn_norm")
        affine(f"{research}.Wi", f"{cogito}.ffn.gate_up_proj")
        affine(f"{research}.Wo", f"{cogito}.ffn.down_proj")
        if config.use_bixt:
            affine(f"{research}.pre_reverse_cross_norm", f"{cogito}.token_query_norm")
            attention(f"{research}.token_concept_attn", f"{cogito}.token_attention")
    affine("encoder.output_layer_norm", "cogito.norm")
    if classification:
        pooling = config.classifier_pooling
        if pooling == "cls_query_ffn":
            moves.append(_Move("cls_query", "pooler_query", squeeze=True))
            affine("cls_norm", "pooler_query_norm")
            attention("cls_cross_attn", "pooler_attention")
            affine("cls_ffn.0", "pooler_ffn_norm")
            affine("cls_ffn.1", "pooler_ffn.up_proj")
            affine("cls_ffn.3", "pooler_ffn.down_proj")
            affine("cls_final_norm", "pooler_norm")
        elif pooling == "concept_weighted":
            affine("concept_scorer", "pooler_scorer")
            affine("pool_norm", "pooler_norm")
        elif pooling == "decoder_dense_mean":
            moves.append(_Move("concept_weights", "decoder.mixing_logits"))
            affine("pre_classifier_projection.0", "decoder.norm")
            affine("pre_classifier_projection.1", "pooler_dense")
        else:  # via_decoder
            perceiver_decoder()
            affine("pre_pool_norm", "decoder.norm")
        affine("classifier", "classifier")
        return moves
    if config.decoder_type == "weighted":
        moves.append(_Move("concept_weights", "decoder.mixing_logits"))
        affine("pre_lm_projection.0", "decoder.norm")
        affine("pre_lm_projection.1", "lm_head.dense")
    else:
        perceiver_decoder()
    if not config.tie_word_embeddings:
        moves.append(_Move("lm_head.weight", "lm_head.projection.weight"))
    return moves


def convert_research_state_dict(
    state: dict[str, torch.Tensor], config: CogitoConfig, classification: bool = False
) -> dict[str, torch.Tensor]:
    """Research tensors -> Cogito tensors for `config` (a masked-LM checkpoint, or a classifier's
    with `classification`); refuses missing or unexpected tensors by name."""
    moves = _plan(config, classification)
    needed = {move.research for move in moves}
    # Tensors the research saved that Cogito derives: fixed sinusoidal codes, a tied output matrix.
    derived = set()
    if config.concept_position_type == "sinusoidal":
        derived.add("encoder.concept_position_emb")
    if config.tie_word_embeddings and not classification:
        derived.add("lm_head.weight")
        if "lm_head.weight" in state and not torch.equal(
            state["lm_head.weight"], state.get("encoder.token_embeddings.weight", state["lm_head.weight"])
        ):
            raise ConversionError("lm_head.weight differs from encoder.token_embeddings.weight in a tied checkpoint")
    missing = sorted(needed - set(state))
    unexpected = sorted(set(state) - needed - derived)
    if missing or unexpected:
        parts = []
        if missing:
            parts.append(f"missing tensors: {', '.join(missing)}")
        if unexpected:
            parts.append(f"unexpected tensors: {', '.join(unexpected)}")
        raise ConversionError(f"the checkpoint does not match its config ({config.decoder_type}): " + "; ".join(parts))
    converted = {}
    for move in moves:
        tensor = state[move.research]
        if move.chunk is not None:
            tensor = tensor.chunk(3, dim=0)[move.chunk]
        if move.squeeze:
            tensor = tensor.reshape(tensor.shape[1:])
        converted[move.cogito] = tensor.contiguous()
    return converted


def _read_state_dict(folder: Path) -> dict[str, torch.Tensor]:
    from safetensors.torch import load_file

    for shard in sorted(folder.glob("*.safetensors")):
        check_safetensors(shard)  # a clear error for a cut-short file, naming it
    if (folder / "model.safetensors").is_file():
        return load_file(folder / "model.safetensors")
    index = folder / "model.safetensors.index.json"
    if index.is_file():
        state = {}
        for shard in sorted(set(json.loads(index.read_text(encoding="utf-8"))["weight_map"].values())):
            state.update(load_file(folder / shard))
        return state
    if (folder / "pytorch_model.bin").is_file():
        return torch.load(folder / "pytorch_model.bin", map_location="cpu", weights_only=True)
    raise ConversionError(f"{folder} holds no weights (looked for {', '.join(_WEIGHT_FILES)})")


def _resolve_source(src: str | os.PathLike[str]) -> Path:
    """A local folder as it is; anything else is taken as a Hub repo id and downloaded."""
    path = Path(src)
    if path.is_dir():
        return path
    if path.exists():
        raise ConversionError(f"{src} is a file; give the checkpoint folder or a Hub repo id")
    from huggingface_hub import snapshot_download

    try:
        return Path(
            snapshot_download(
                repo_id=str(src), allow_patterns=["config.json", *_WEIGHT_FILES, "*.safetensors", *TOKENIZER_FILES]
            )
        )
    except Exception as error:  # repo id malformed, missing, offline, gated, ...
        raise ConversionError(f"{src} is neither a local folder nor a downloadable Hub repo: {error}") from error


def load_research_checkpoint(
    src: str | os.PathLike[str],
) -> tuple[CogitoForMaskedLM | CogitoForSequenceClassification, Path]:
    """The Cogito model of a research checkpoint (folder or Hub repo id), and the folder read."""
    folder = _resolve_source(src)
    config_path = folder / "config.json"
    if not config_path.is_file():
        raise ConversionError(f"{folder} has no config.json")
    try:
        research = json.loads(config_path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as error:
        raise ConversionError(f"{config_path} is not valid JSON: {error}") from error
    research_state = _read_state_dict(folder)
    config = cogito_config_from_research(research, set(research_state))
    classification = (research.get("architectures") or [None])[0] in RESEARCH_CLASSIFIERS
    state = convert_research_state_dict(research_state, config, classification)
    model = (CogitoForSequenceClassification if classification else CogitoForMaskedLM)(config)
    expected = model.state_dict()
    wrong = [
        f"{name} {tuple(tensor.shape)} (expected {tuple(expected[name].shape)})"
        for name, tensor in state.items()
        if tensor.shape != expected[name].shape
    ]
    if wrong:
        raise ConversionError(f"tensor shapes do not match the config: {', '.join(wrong)}")
    result = model.load_state_dict(state, strict=False)
    tied = {"lm_head.projection.weight"} if config.tie_word_embeddings and not classification else set()
    if set(result.missing_keys) - tied or result.unexpected_keys:
        raise ConversionError(
            f"internal mapping error: missing {result.missing_keys}, unexpected {result.unexpected_keys}"
        )
    model.tie_weights()
    return model.eval(), folder


def convert_research_checkpoint(src: str | os.PathLike[str], out: str | os.PathLike[str]) -> Path:
    """Write the Cogito folder of research checkpoint `src` to `out` (which must not exist or be empty).

    The folder is assembled in a temporary directory beside `out` and renamed into place, so `out`
    is either complete or absent.
    """
    out = Path(out)
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise ConversionError(f"{out} already exists and is not an empty folder; choose a new output folder")
    model, folder = load_research_checkpoint(src)
    out.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(dir=out.parent, prefix=f".{out.name}.", suffix=".tmp"))
    try:
        model.save_pretrained(staging)
        for name in TOKENIZER_FILES:
            if (folder / name).is_file():
                shutil.copyfile(folder / name, staging / name)
        # mkdtemp makes a 0700 folder and the weights are written 0600: give them the umask's modes.
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(staging, 0o777 & ~umask)
        for path in staging.iterdir():
            os.chmod(path, 0o666 & ~umask)
        if out.exists():
            out.rmdir()
        os.rename(staging, out)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return out


__all__ = [
    "RESEARCH_ARCHITECTURES",
    "RESEARCH_CLASSIFIERS",
    "ConversionError",
    "cogito_config_from_research",
    "convert_research_checkpoint",
    "convert_research_state_dict",
    "load_research_checkpoint",
]
