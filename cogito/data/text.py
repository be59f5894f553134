"""Masked-LM data pipeline: raw text → tokenizer → packed blocks → masking collators.

* :func:`load_text_datasets` — local txt/json/jsonl/csv/parquet, a Hub dataset, or (no data
  arguments) the built-in offline corpus of :mod:`cogito.data.corpus`; always ``train`` +
  ``validation`` with one ``text`` column.
* :func:`load_or_train_tokenizer` — a pretrained tokenizer by name, or a WordPiece / byte-level
  BPE tokenizer trained with 🤗 ``tokenizers`` and cached by a fingerprint of its inputs.
* :func:`tokenize_for_mlm` — packing without lost tails, or line-by-line truncation.
* :func:`mlm_collator` (BERT 80/10/10 masking) and :class:`TSDAECollator` (token deletion).
"""

from __future__ import annotations

import copy
import hashlib
import json
import os
import tempfile
import zlib
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import datasets
import numpy as np
import torch
from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, processors, trainers
from transformers import (
    AutoTokenizer,
    DataCollatorForLanguageModeling,
    PreTrainedTokenizerBase,
    PreTrainedTokenizerFast,
)
from transformers.utils import logging

from cogito._io import atomic_write_text
from cogito.modeling_cogito import IGNORE_INDEX

logger = logging.get_logger(__name__)

__all__ = [
    "DATA_EXTENSIONS",
    "SPECIAL_TOKENS",
    "TOKENIZER_ALGORITHMS",
    "TSDAECollator",
    "check_mlm_tokenizer",
    "load_or_train_tokenizer",
    "load_text_datasets",
    "mlm_collator",
    "padding_fraction",
    "tokenize_for_mlm",
    "train_tokenizer",
]

# file extension -> `datasets` packaged builder
DATA_EXTENSIONS: dict[str, str] = {
    ".txt": "text",
    ".text": "text",
    ".json": "json",
    ".jsonl": "json",
    ".csv": "csv",
    ".parquet": "parquet",
}
TOKENIZER_ALGORITHMS = ("wordpiece", "bpe")
SPECIAL_TOKENS: dict[str, str] = {
    "pad_token": "[PAD]",  # id 0: padding embeddings and masks assume it
    "unk_token": "[UNK]",
    "cls_token": "[CLS]",
    "sep_token": "[SEP]",
    "mask_token": "[MASK]",
}
_FINGERPRINT_FILE = "cogito_tokenizer_fingerprint.json"
_TOKENIZER_FORMAT_VERSION = 1


# ---------------------------------------------------------------------------------------------
# Raw text
# ---------------------------------------------------------------------------------------------


def _builder_for(path: str | os.PathLike) -> str:
    suffix = Path(path).suffix.lower()
    if suffix not in DATA_EXTENSIONS:
        raise ValueError(
            f"Unsupported data file extension {suffix or '(none)'!r} for {str(path)!r}; "
            f"allowed: {', '.join(sorted(DATA_EXTENSIONS))}"
        )
    return DATA_EXTENSIONS[suffix]


def _pick_text_column(column_names: Sequence[str], features: Mapping[str, Any], text_column: str | None) -> str:
    if text_column is not None:
        if text_column not in column_names:
            raise ValueError(f"text_column={text_column!r} is not a column of the data; columns: {list(column_names)}")
        return text_column
    if "text" in column_names:
        return "text"
    string_columns = [
        name for name in column_names if getattr(features.get(name), "dtype", None) in ("string", "large_string")
    ]
    if len(string_columns) == 1:
        logger.warning_once(f"No 'text' column; using the only string column {string_columns[0]!r}")
        return string_columns[0]
    raise ValueError(f"Cannot tell which column holds the text among {list(column_names)}; pass text_column=<name>")


def _only_text(dataset: datasets.Dataset, column: str) -> datasets.Dataset:
    """Keep one non-empty ``text`` column."""
    dataset = dataset.select_columns([column])
    if column != "text":
        dataset = dataset.rename_column(column, "text")
    return dataset.filter(
        lambda batch: [isinstance(t, str) and bool(t.strip()) for t in batch["text"]],
        batched=True,
        desc="Dropping empty lines",
    )


def load_text_datasets(
    train_file: str | os.PathLike | None = None,
    validation_file: str | os.PathLike | None = None,
    dataset_name: str | None = None,
    dataset_config_name: str | None = None,
    text_column: str | None = None,
    validation_split_percentage: float = 2,
    seed: int = 42,
    validation_split_name: str = "validation",
) -> datasets.DatasetDict:
    """Raw text as a ``DatasetDict`` with ``train`` and ``validation`` and one ``text`` column.

    Sources, in order: local files (``train_file`` [+ ``validation_file``]), a Hub dataset
    (``dataset_name`` [+ ``dataset_config_name``]), else the built-in offline corpus. Without a
    validation set, ``validation_split_percentage`` % of train is split off with ``seed``.
    ``validation_split_name`` picks a Hub dataset's evaluation split (Minipile's research eval
    set is its 10k-document ``test`` split); a name the dataset lacks is an error. Local files
    and the built-in corpus always use their own validation data.
    Empty lines are dropped.
    """
    if train_file is not None and dataset_name is not None:
        raise ValueError(f"Pass train_file ({train_file!r}) or dataset_name ({dataset_name!r}), not both")
    if validation_file is not None and train_file is None:
        raise ValueError(f"validation_file={validation_file!r} needs a train_file too")
    if not 0 < validation_split_percentage < 100:
        raise ValueError(f"validation_split_percentage must be in (0, 100), got {validation_split_percentage!r}")

    if train_file is not None:
        data_files = {"train": str(train_file)}
        if validation_file is not None:
            data_files["validation"] = str(validation_file)
        builders = {_builder_for(path) for path in data_files.values()}
        if len(builders) > 1:
            raise ValueError(f"train_file and validation_file must have the same format, got {sorted(builders)}")
        for path in data_files.values():
            if not Path(path).is_file():
                raise ValueError(f"Data file {path!r} does not exist")
        raw = datasets.load_dataset(builders.pop(), data_files=data_files)
        source = f"files {list(data_files.values())}"
    elif dataset_name is not None:
        raw = datasets.load_dataset(dataset_name, dataset_config_name)
        if "train" not in raw:
            raise ValueError(f"Dataset {dataset_name!r} has no 'train' split; splits: {list(raw)}")
        source = f"dataset {dataset_name!r}"
    else:
        from cogito.data.corpus import builtin_text_files

        files = builtin_text_files()
        raw = datasets.load_dataset("text", data_files={k: str(v) for k, v in files.items()})
        source = "the built-in corpus (Jane Austen + WordNet)"

    train = raw["train"]
    column = _pick_text_column(train.column_names, train.features, text_column)
    out = {"train": _only_text(train, column)}
    evaluation_split = validation_split_name if dataset_name is not None else "validation"
    if evaluation_split != "validation" and evaluation_split not in raw:
        raise ValueError(
            f"--validation_split_name {evaluation_split!r} is not a split of {source}; splits: {list(raw)}"
        )
    if evaluation_split in raw:
        out["validation"] = _only_text(raw[evaluation_split], column)
    if len(out["train"]) == 0:
        raise ValueError(f"No text in the training data from {source}: every row of {column!r} is empty")
    if "validation" not in out:
        if len(out["train"]) < 2:
            raise ValueError(f"Need at least 2 training rows to split off a validation set, got {len(out['train'])}")
        split = out["train"].train_test_split(test_size=validation_split_percentage / 100, seed=seed)
        out = {"train": split["train"], "validation": split["test"]}
    logger.info(f"Loaded {len(out['train'])} train / {len(out['validation'])} validation rows from {source}")
    return datasets.DatasetDict(out)


# ---------------------------------------------------------------------------------------------
# Tokenizer
# ---------------------------------------------------------------------------------------------


def check_mlm_tokenizer(tokenizer: PreTrainedTokenizerBase) -> PreTrainedTokenizerBase:
    """Raise ``ValueError`` unless the tokenizer can serve masked-LM training (mask + pad token)."""
    if tokenizer.mask_token is None or tokenizer.mask_token_id is None:
        raise ValueError(
            f"Masked-LM training needs a tokenizer with a mask token; {type(tokenizer).__name__} "
            f"({getattr(tokenizer, 'name_or_path', '')!r}) has mask_token=None. Use a BERT-style "
            "tokenizer or train one with load_or_train_tokenizer(train_texts=...)."
        )
    if tokenizer.pad_token is None:
        raise ValueError(
            f"Masked-LM batches are padded, but {type(tokenizer).__name__} has pad_token=None; "
            "set tokenizer.pad_token or use a tokenizer that defines one."
        )
    return tokenizer


def _texts_and_fingerprint(train_texts: Any) -> tuple[Any, dict[str, Any]]:
    """Normalise ``train_texts`` into (files | iterator factory, fingerprint of the corpus)."""
    if isinstance(train_texts, datasets.DatasetDict):
        if "train" not in train_texts:
            raise ValueError(f"train_texts DatasetDict has no 'train' split; splits: {list(train_texts)}")
        train_texts = train_texts["train"]
    if isinstance(train_texts, datasets.Dataset):
        if "text" not in train_texts.column_names:
            raise ValueError(f"train_texts Dataset needs a 'text' column; columns: {train_texts.column_names}")
        dataset = train_texts

        def batches() -> Iterator[list[str]]:
            for start in range(0, len(dataset), 1000):
                yield dataset[start : start + 1000]["text"]

        return batches, {"dataset": dataset._fingerprint, "rows": len(dataset)}
    if isinstance(train_texts, (str, bytes)) or not isinstance(train_texts, Iterable):
        raise ValueError(
            f"train_texts must be a list of Path objects (text files), a list of strings (texts) or a "
            f"datasets.Dataset with a 'text' column; got {type(train_texts).__name__}"
        )
    items = list(train_texts)
    if not items:
        raise ValueError("train_texts is empty: no text to train a tokenizer on")
    if all(isinstance(item, os.PathLike) for item in items):
        files = [Path(item).resolve() for item in items]
        missing = [str(f) for f in files if not f.is_file()]
        if missing:
            raise ValueError(f"train_texts files do not exist: {missing}")
        stats = [(str(f), f.stat().st_size, f.stat().st_mtime_ns) for f in files]
        return [str(f) for f in files], {"files": stats}
    if all(isinstance(item, str) for item in items):
        digest = hashlib.sha256()
        for text in items:
            digest.update(text.encode("utf-8", "surrogatepass") + b"\x00")
        return (lambda: iter([items])), {"texts_sha256": digest.hexdigest(), "count": len(items)}
    kinds = sorted({type(item).__name__ for item in items})
    raise ValueError(f"train_texts must be all Path objects or all strings, got a mix of {kinds}")


def _build_backend(algorithm: str) -> tuple[Tokenizer, Any]:
    specials = list(SPECIAL_TOKENS.values())
    if algorithm == "wordpiece":
        tokenizer = Tokenizer(models.WordPiece(unk_token=SPECIAL_TOKENS["unk_token"]))
        tokenizer.normalizer = normalizers.BertNormalizer(lowercase=True, strip_accents=True, clean_text=True)
        tokenizer.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
        tokenizer.decoder = decoders.WordPiece(prefix="##")
        return tokenizer, lambda size: trainers.WordPieceTrainer(vocab_size=size, special_tokens=specials)
    tokenizer = Tokenizer(models.BPE())
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tokenizer.decoder = decoders.ByteLevel()
    return tokenizer, lambda size: trainers.BpeTrainer(
        vocab_size=size, special_tokens=specials, initial_alphabet=pre_tokenizers.ByteLevel.alphabet()
    )


def train_tokenizer(
    train_texts: Any, vocab_size: int = 8192, algorithm: str = "wordpiece", model_max_length: int = 512
) -> PreTrainedTokenizerFast:
    """Train a WordPiece (BERT-style, uncased) or byte-level BPE tokenizer with MLM special tokens."""
    if algorithm not in TOKENIZER_ALGORITHMS:
        raise ValueError(f"algorithm={algorithm!r} is not supported; choose one of {TOKENIZER_ALGORITHMS}")
    if not isinstance(vocab_size, int) or vocab_size < len(SPECIAL_TOKENS) + 1:
        raise ValueError(f"vocab_size must be an integer > {len(SPECIAL_TOKENS)}, got {vocab_size!r}")
    source, _ = _texts_and_fingerprint(train_texts)
    backend, make_trainer = _build_backend(algorithm)
    trainer = make_trainer(vocab_size)
    if isinstance(source, list):
        backend.train(source, trainer=trainer)
    else:
        backend.train_from_iterator(source(), trainer=trainer)
    cls_id = backend.token_to_id(SPECIAL_TOKENS["cls_token"])
    sep_id = backend.token_to_id(SPECIAL_TOKENS["sep_token"])
    template = processors.TemplateProcessing(
        single="[CLS] $A [SEP]",
        pair="[CLS] $A [SEP] $B:1 [SEP]:1",
        special_tokens=[("[CLS]", cls_id), ("[SEP]", sep_id)],
    )
    if algorithm == "bpe":
        # trim the leading-space byte from offsets, so whole-word masking sees word gaps
        template = processors.Sequence([processors.ByteLevel(trim_offsets=True), template])
    backend.post_processor = template
    tokenizer = PreTrainedTokenizerFast(tokenizer_object=backend, model_max_length=model_max_length, **SPECIAL_TOKENS)
    logger.info(f"Trained a {algorithm} tokenizer with {len(tokenizer)} tokens")
    return tokenizer


def _save_atomically(tokenizer: PreTrainedTokenizerBase, save_dir: Path, fingerprint: dict[str, Any]) -> None:
    """save_pretrained into a temp folder, move each file into place, fingerprint last."""
    save_dir.mkdir(parents=True, exist_ok=True)
    (save_dir / _FINGERPRINT_FILE).unlink(missing_ok=True)  # stale until the new files are in
    with tempfile.TemporaryDirectory(dir=save_dir, prefix=".tokenizer-") as tmp:
        tokenizer.save_pretrained(tmp)
        for item in Path(tmp).iterdir():
            os.replace(item, save_dir / item.name)
    atomic_write_text(save_dir / _FINGERPRINT_FILE, json.dumps(fingerprint, indent=2, sort_keys=True))


def load_or_train_tokenizer(
    tokenizer_name: str | os.PathLike | None = None,
    train_texts: Any = None,
    vocab_size: int = 8192,
    algorithm: str = "wordpiece",
    save_dir: str | os.PathLike | None = None,
    model_max_length: int = 512,
) -> PreTrainedTokenizerBase:
    """A pretrained tokenizer (``tokenizer_name``) or one trained on ``train_texts``.

    ``train_texts``: a list of ``Path`` text files, a list of strings, or a ``datasets.Dataset``
    with a ``text`` column. With ``save_dir`` the trained tokenizer is saved there and reused
    while the fingerprint (corpus files/size/mtime or content hash, vocab_size, algorithm) matches.
    Either way the result is checked by :func:`check_mlm_tokenizer`.
    """
    if tokenizer_name is not None:
        if train_texts is not None:
            raise ValueError(
                f"Pass tokenizer_name ({str(tokenizer_name)!r}) or train_texts to train a new one, not both"
            )
        tokenizer = AutoTokenizer.from_pretrained(str(tokenizer_name))
        tokenizer.model_max_length = min(tokenizer.model_max_length, model_max_length)
        return check_mlm_tokenizer(tokenizer)
    if train_texts is None:
        raise ValueError("Pass tokenizer_name (a Hub name or folder) or train_texts to train a tokenizer on")
    if algorithm not in TOKENIZER_ALGORITHMS:
        raise ValueError(f"algorithm={algorithm!r} is not supported; choose one of {TOKENIZER_ALGORITHMS}")
    _, corpus_fingerprint = _texts_and_fingerprint(train_texts)
    fingerprint = {
        "version": _TOKENIZER_FORMAT_VERSION,
        "corpus": corpus_fingerprint,
        "vocab_size": vocab_size,
        "algorithm": algorithm,
    }
    if save_dir is not None:
        save_path = Path(save_dir)
        marker = save_path / _FINGERPRINT_FILE
        if marker.is_file():
            try:
                cached = json.loads(marker.read_text())
            except json.JSONDecodeError:
                cached = None
            # a JSON round trip turns tuples into lists: compare like with like
            if cached == json.loads(json.dumps(fingerprint)):
                logger.info(f"Reusing the tokenizer cached in {save_path}")
                tokenizer = AutoTokenizer.from_pretrained(str(save_path))
                tokenizer.model_max_length = model_max_length
                return check_mlm_tokenizer(tokenizer)
            logger.info(f"Tokenizer in {save_path} was trained on other inputs: retraining")
    tokenizer = train_tokenizer(
        train_texts, vocab_size=vocab_size, algorithm=algorithm, model_max_length=model_max_length
    )
    if save_dir is not None:
        _save_atomically(tokenizer, Path(save_dir), fingerprint)
    return check_mlm_tokenizer(tokenizer)


# ---------------------------------------------------------------------------------------------
# Tokenisation for masked-LM
# ---------------------------------------------------------------------------------------------


def tokenize_for_mlm(
    raw_datasets: datasets.DatasetDict,
    tokenizer: PreTrainedTokenizerBase,
    max_seq_length: int,
    line_by_line: bool = False,
    num_proc: int | None = None,
    keep_offsets: bool = False,
) -> datasets.DatasetDict:
    """Tokenize every split into ``input_ids``, ``attention_mask``, ``special_tokens_mask``.

    Packing (default): each document is tokenized without special tokens; the documents of a
    ``map`` batch (1000 rows) are joined with ``[SEP]`` and cut into blocks of
    ``max_seq_length - 2`` tokens, each framed as ``[CLS] … [SEP]``. Every token is kept: the last,
    shorter block of each batch stays and the collator pads it. ``line_by_line``: one example
    per row, ``[CLS] … [SEP]``, truncated to ``max_seq_length``. ``keep_offsets`` adds
    ``offset_mapping`` (character spans, ``(0, 0)`` for special tokens), which whole-word
    masking needs.
    """
    if not isinstance(max_seq_length, int) or max_seq_length < 3:
        raise ValueError(f"max_seq_length must be an integer >= 3 ([CLS] token [SEP]), got {max_seq_length!r}")
    if max_seq_length > tokenizer.model_max_length:
        raise ValueError(
            f"max_seq_length={max_seq_length} exceeds the tokenizer's model_max_length={tokenizer.model_max_length}"
        )
    if keep_offsets and not tokenizer.is_fast:
        raise ValueError("keep_offsets=True needs a fast tokenizer (offset mapping); got a slow one")
    for split, dataset in raw_datasets.items():
        if "text" not in dataset.column_names:
            raise ValueError(f"Split {split!r} has no 'text' column; columns: {dataset.column_names}")
    check_mlm_tokenizer(tokenizer)
    cls_id, sep_id = tokenizer.cls_token_id, tokenizer.sep_token_id
    if cls_id is None or sep_id is None:
        raise ValueError(
            f"Packing frames blocks with [CLS]/[SEP]; {type(tokenizer).__name__} has "
            f"cls_token={tokenizer.cls_token!r}, sep_token={tokenizer.sep_token!r}"
        )

    def line_by_line_fn(batch: dict[str, list]) -> dict[str, list]:
        return tokenizer(
            batch["text"],
            truncation=True,
            max_length=max_seq_length,
            return_special_tokens_mask=True,
            return_offsets_mapping=keep_offsets,
        )

    block = max_seq_length - 2

    def packing_fn(batch: dict[str, list]) -> dict[str, list]:
        encoded = tokenizer(
            batch["text"], add_special_tokens=False, return_offsets_mapping=keep_offsets, verbose=False
        )
        stream: list[int] = []
        offsets: list[tuple[int, int]] = []
        for i, ids in enumerate(encoded["input_ids"]):
            if not ids:
                continue
            if stream:  # [SEP] between documents
                stream.append(sep_id)
                offsets.append((0, 0))
            stream.extend(ids)
            if keep_offsets:
                offsets.extend(tuple(o) for o in encoded["offset_mapping"][i])
        out: dict[str, list] = {"input_ids": [], "attention_mask": [], "special_tokens_mask": []}
        if keep_offsets:
            out["offset_mapping"] = []
        for start in range(0, len(stream), block):
            piece = stream[start : start + block]
            ids = [cls_id] + piece + [sep_id]
            out["input_ids"].append(ids)
            out["attention_mask"].append([1] * len(ids))
            out["special_tokens_mask"].append([1] + [int(t == sep_id) for t in piece] + [1])
            if keep_offsets:
                out["offset_mapping"].append([(0, 0)] + offsets[start : start + block] + [(0, 0)])
        return out

    return raw_datasets.map(
        line_by_line_fn if line_by_line else packing_fn,
        batched=True,
        num_proc=num_proc,
        remove_columns=raw_datasets[next(iter(raw_datasets))].column_names,
        desc="Tokenizing line by line"
        if line_by_line
        else f"Tokenizing and packing into {max_seq_length}-token blocks",
    )


def padding_fraction(dataset: datasets.Dataset, max_seq_length: int) -> float:
    """Share of positions that would be padding if every example were padded to ``max_seq_length``."""
    if len(dataset) == 0:
        raise ValueError("padding_fraction of an empty dataset is undefined")
    lengths = [len(ids) for ids in dataset["input_ids"]]
    if max(lengths) > max_seq_length:
        raise ValueError(f"an example has {max(lengths)} tokens, more than max_seq_length={max_seq_length}")
    return 1.0 - sum(lengths) / (len(lengths) * max_seq_length)


# ---------------------------------------------------------------------------------------------
# Collators
# ---------------------------------------------------------------------------------------------


class _WholeWordMLMCollator(DataCollatorForLanguageModeling):
    """transformers' whole-word masking reads ``offset_mapping`` but ``tokenizer.pad`` does not pad
    it, so batches of unequal lengths would fail; pad it here first."""

    def torch_call(self, examples: list[Any]) -> dict[str, Any]:
        if not isinstance(examples[0], Mapping) or "offset_mapping" not in examples[0]:
            raise ValueError(
                "Whole-word masking needs 'offset_mapping' in each example: use "
                "tokenize_for_mlm(..., keep_offsets=True)"
            )
        longest = max(len(e["input_ids"]) for e in examples)
        multiple = self.pad_to_multiple_of
        if multiple and longest % multiple:
            longest += multiple - longest % multiple
        padded = []
        for example in examples:
            offsets = [tuple(o) for o in example["offset_mapping"]]
            padded.append({**example, "offset_mapping": offsets + [(0, 0)] * (longest - len(offsets))})
        return super().torch_call(padded)


def mlm_collator(
    tokenizer: PreTrainedTokenizerBase,
    mlm_probability: float = 0.15,
    whole_word_masking: bool = False,
    pad_to_multiple_of: int | None = None,
    seed: int | None = None,
) -> DataCollatorForLanguageModeling:
    """BERT masking (Devlin et al. 2019): ``mlm_probability`` of non-special tokens are chosen;
    80% become ``[MASK]``, 10% a random token, 10% stay; labels are ``IGNORE_INDEX`` elsewhere.

    ``whole_word_masking`` masks all pieces of a chosen word (transformers' ``whole_word_mask``,
    which always uses ``[MASK]``, no random replacement) and needs examples tokenized with
    ``tokenize_for_mlm(..., keep_offsets=True)``.
    """
    check_mlm_tokenizer(tokenizer)
    if not 0 < mlm_probability < 1:
        raise ValueError(f"mlm_probability must be in (0, 1), got {mlm_probability!r}")
    if pad_to_multiple_of is not None and (not isinstance(pad_to_multiple_of, int) or pad_to_multiple_of < 1):
        raise ValueError(f"pad_to_multiple_of must be a positive integer or None, got {pad_to_multiple_of!r}")
    if whole_word_masking:
        if not tokenizer.is_fast:
            raise ValueError("whole_word_masking=True needs a fast tokenizer (offset mapping); got a slow one")
        # replacement probabilities set to what transformers enforces for whole words, without its warning
        return _WholeWordMLMCollator(
            tokenizer=tokenizer,
            whole_word_mask=True,
            mlm_probability=mlm_probability,
            mask_replace_prob=1.0,
            random_replace_prob=0.0,
            pad_to_multiple_of=pad_to_multiple_of,
            seed=seed,
        )
    return DataCollatorForLanguageModeling(
        tokenizer=tokenizer, mlm_probability=mlm_probability, pad_to_multiple_of=pad_to_multiple_of, seed=seed
    )


@dataclass
class TSDAECollator:
    """Denoising auto-encoder batches (TSDAE, Wang et al. 2021): delete ``deletion_ratio`` of the
    non-special tokens from the input; the labels are the full original sequence.

    Returns ``input_ids`` and ``attention_mask`` of the shortened inputs (B, L_in) and dense
    ``labels`` (B, L_orig): the original ids, ``IGNORE_INDEX`` at padding.
    """

    tokenizer: PreTrainedTokenizerBase
    deletion_ratio: float = 0.6
    pad_to_multiple_of: int | None = None
    seed: int | None = None

    def __post_init__(self) -> None:
        if not 0 <= self.deletion_ratio < 1:
            raise ValueError(f"deletion_ratio must be in [0, 1), got {self.deletion_ratio!r}")
        if self.tokenizer.pad_token_id is None:
            raise ValueError(f"TSDAE batches are padded, but {type(self.tokenizer).__name__} has no pad token")
        self.generator = torch.Generator().manual_seed(self.seed) if self.seed is not None else None

    def _pad(self, rows: list[list[int]], value: int) -> torch.Tensor:
        longest = max(len(r) for r in rows)
        if self.pad_to_multiple_of and longest % self.pad_to_multiple_of:
            longest += self.pad_to_multiple_of - longest % self.pad_to_multiple_of
        return torch.tensor([r + [value] * (longest - len(r)) for r in rows], dtype=torch.long)

    def __call__(self, examples: list[Mapping[str, Any]]) -> dict[str, torch.Tensor]:
        inputs, labels = [], []
        for example in examples:
            ids = list(example["input_ids"])
            attention = list(example.get("attention_mask") or [1] * len(ids))
            ids = [t for t, a in zip(ids, attention) if a]  # drop any padding already present
            special = example.get("special_tokens_mask")
            if special is None:
                special = self.tokenizer.get_special_tokens_mask(ids, already_has_special_tokens=True)
            special = torch.tensor(list(special)[: len(ids)], dtype=torch.bool)
            keep = torch.rand(len(ids), generator=self.generator) >= self.deletion_ratio
            keep |= special
            content = (~special).nonzero().flatten()
            if len(content) and not keep[content].any():
                # keep at least one real token, as the TSDAE reference does
                keep[content[torch.randint(len(content), (1,), generator=self.generator)]] = True
            inputs.append([t for t, k in zip(ids, keep.tolist()) if k])
            labels.append(ids)
        input_ids = self._pad(inputs, self.tokenizer.pad_token_id)
        attention_mask = self._pad([[1] * len(r) for r in inputs], 0)
        return {"input_ids": input_ids, "attention_mask": attention_mask, "labels": self._pad(labels, IGNORE_INDEX)}


@dataclass
class SeededCollator:
    """A masking collator whose random draws depend only on ``seed`` and the batch's token ids.

    Each call masks with a fresh ``torch.Generator`` seeded from a checksum of the examples, so the
    same evaluation set gets the same masks at every evaluation (and on every process) while
    different batches still get different masks. Works with any collator that draws from its
    ``generator`` attribute (``mlm_collator``'s, ``TSDAECollator``).
    """

    collator: Any
    seed: int = 0

    def __call__(self, examples: list[Any]) -> dict[str, Any]:
        checksum = 0
        for example in examples:
            ids = example["input_ids"] if isinstance(example, Mapping) else example
            checksum = zlib.crc32(np.asarray(ids, dtype=np.int64).tobytes(), checksum)
        collator = copy.copy(self.collator)
        collator.generator = torch.Generator().manual_seed(self.seed * 1_000_003 + checksum)
        return collator(examples)
