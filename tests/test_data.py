"""The masked-LM data pipeline on tiny real files: loading, tokenizer training, packing, collators."""

from __future__ import annotations

import json
import math
import os

import datasets
import pytest
import torch
from tokenizers import Tokenizer, models, pre_tokenizers
from transformers import AutoTokenizer, PreTrainedTokenizerFast

from cogito.data.text import (
    TSDAECollator,
    check_mlm_tokenizer,
    load_or_train_tokenizer,
    load_text_datasets,
    mlm_collator,
    padding_fraction,
    tokenize_for_mlm,
)

# Opening paragraphs of Pride and Prejudice (public domain), a few lines of real English.
TEXTS = [
    "It is a truth universally acknowledged, that a single man in possession of a good fortune, "
    "must be in want of a wife.",
    "However little known the feelings or views of such a man may be on his first entering a "
    "neighbourhood, this truth is so well fixed in the minds of the surrounding families, that he "
    "is considered the rightful property of some one or other of their daughters.",
    '"My dear Mr. Bennet," said his lady to him one day, "have you heard that Netherfield Park is let at last?"',
    "Mr. Bennet replied that he had not.",
    '"But it is," returned she; "for Mrs. Long has just been here, and she told me all about it."',
    "Mr. Bennet made no answer.",
    '"Do you not want to know who has taken it?" cried his wife impatiently.',
    '"You want to tell me, and I have no objection to hearing it."',
    "This was invitation enough.",
    '"Why, my dear, you must know, Mrs. Long says that Netherfield is taken by a young man of large '
    "fortune from the north of England; that he came down on Monday in a chaise and four to see the "
    'place, and was so much delighted with it, that he agreed with Mr. Morris immediately."',
] * 4


@pytest.fixture(scope="module")
def tokenizer(tmp_path_factory):
    folder = tmp_path_factory.mktemp("wp")
    return load_or_train_tokenizer(train_texts=TEXTS, vocab_size=300, save_dir=folder, model_max_length=128)


@pytest.fixture(scope="module")
def raw(tmp_path_factory) -> datasets.DatasetDict:
    path = tmp_path_factory.mktemp("raw") / "train.txt"
    path.write_text("\n".join(TEXTS) + "\n")
    return load_text_datasets(train_file=path, validation_split_percentage=10, seed=0)


# ---------------------------------------------------------------------------------------------
# Loading raw text
# ---------------------------------------------------------------------------------------------


def test_text_file_drops_empty_lines_and_splits_off_validation(tmp_path):
    path = tmp_path / "a.txt"
    path.write_text("\n".join(TEXTS[:10]) + "\n\n   \n")
    data = load_text_datasets(train_file=path, validation_split_percentage=20, seed=1)
    assert set(data) == {"train", "validation"} and data["train"].column_names == ["text"]
    assert (len(data["train"]), len(data["validation"])) == (8, 2)
    assert set(data["train"]["text"]) | set(data["validation"]["text"]) == set(TEXTS[:10])
    again = load_text_datasets(train_file=path, validation_split_percentage=20, seed=1)
    assert list(again["validation"]["text"]) == list(data["validation"]["text"])


def test_csv_json_jsonl_parquet_with_named_or_detected_column(tmp_path):
    rows = [{"id": i, "body": t} for i, t in enumerate(TEXTS[:6])]
    datasets.Dataset.from_list(rows).to_csv(str(tmp_path / "d.csv"))
    datasets.Dataset.from_list(rows).to_parquet(str(tmp_path / "d.parquet"))
    (tmp_path / "d.jsonl").write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    (tmp_path / "v.jsonl").write_text(json.dumps({"id": 9, "body": TEXTS[7]}) + "\n")
    (tmp_path / "d.json").write_text("\n".join(json.dumps({"text": r["body"], "n": 1}) for r in rows))
    for name in ("d.csv", "d.parquet", "d.jsonl"):
        data = load_text_datasets(train_file=tmp_path / name, text_column="body", validation_split_percentage=50)
        assert data["train"].column_names == ["text"]
        assert sorted(list(data["train"]["text"]) + list(data["validation"]["text"])) == sorted(TEXTS[:6])
    # only one string column: detected without text_column
    detected = load_text_datasets(train_file=tmp_path / "d.jsonl", validation_file=tmp_path / "v.jsonl")
    assert list(detected["validation"]["text"]) == [TEXTS[7]] and len(detected["train"]) == 6
    assert load_text_datasets(train_file=tmp_path / "d.json")["train"].column_names == ["text"]
    with pytest.raises(ValueError, match="'nope'.*columns"):
        load_text_datasets(train_file=tmp_path / "d.csv", text_column="nope")


def test_unknown_extension_lists_the_allowed_ones(tmp_path):
    path = tmp_path / "corpus.docx"
    path.write_text("text")
    with pytest.raises(ValueError, match=r"'\.docx'.*\.csv.*\.jsonl.*\.parquet.*\.txt"):
        load_text_datasets(train_file=path)


def test_file_without_text_is_rejected(tmp_path):
    path = tmp_path / "empty.txt"
    path.write_text("\n  \n\n")
    with pytest.raises(ValueError, match="No text"):
        load_text_datasets(train_file=path)


def test_bad_arguments_name_the_value(tmp_path):
    with pytest.raises(ValueError, match="validation_split_percentage.*150"):
        load_text_datasets(train_file=tmp_path / "x.txt", validation_split_percentage=150)
    with pytest.raises(ValueError, match="does not exist"):
        load_text_datasets(train_file=tmp_path / "missing.txt")


# ---------------------------------------------------------------------------------------------
# Tokenizer
# ---------------------------------------------------------------------------------------------


def test_trained_wordpiece_has_bert_special_tokens_and_reloads(tokenizer, tmp_path):
    assert tokenizer.is_fast and tokenizer.pad_token_id == 0
    assert tokenizer.mask_token == "[MASK]" and tokenizer.model_max_length == 128
    ids = tokenizer("It is a TRUTH universally acknowledged.")["input_ids"]
    assert ids[0] == tokenizer.cls_token_id and ids[-1] == tokenizer.sep_token_id
    assert tokenizer.decode(ids, skip_special_tokens=True) == "it is a truth universally acknowledged."
    pair = tokenizer("a wife", "a man")
    assert pair["input_ids"].count(tokenizer.sep_token_id) == 2 and pair["input_ids"][0] == tokenizer.cls_token_id

    tokenizer.save_pretrained(tmp_path)
    reloaded = AutoTokenizer.from_pretrained(tmp_path)
    assert reloaded.mask_token == "[MASK]" and reloaded.mask_token_id == tokenizer.mask_token_id
    assert reloaded("Mr. Bennet made no answer.")["input_ids"] == tokenizer("Mr. Bennet made no answer.")["input_ids"]


def test_byte_level_bpe_round_trips_text(tmp_path):
    bpe = load_or_train_tokenizer(train_texts=TEXTS, vocab_size=400, algorithm="bpe", save_dir=tmp_path)
    text = "Mr. Bennet replied that he had not, Ünïcode!"
    ids = bpe(text)["input_ids"]
    assert ids[0] == bpe.cls_token_id and ids[-1] == bpe.sep_token_id
    assert bpe.decode(ids, skip_special_tokens=True) == text
    assert AutoTokenizer.from_pretrained(tmp_path).mask_token == "[MASK]"


def test_tokenizer_cache_is_reused_until_the_corpus_changes(tmp_path):
    corpus = tmp_path / "corpus.txt"
    corpus.write_text("\n".join(TEXTS) + "\n")
    save = tmp_path / "tok"
    first = load_or_train_tokenizer(train_texts=[corpus], vocab_size=200, save_dir=save)
    stamp = (save / "tokenizer.json").stat().st_mtime_ns
    second = load_or_train_tokenizer(train_texts=[corpus], vocab_size=200, save_dir=save)
    assert (save / "tokenizer.json").stat().st_mtime_ns == stamp  # reused, not retrained
    assert second.get_vocab() == first.get_vocab()

    load_or_train_tokenizer(train_texts=[corpus], vocab_size=150, save_dir=save)  # other vocab_size
    assert json.loads((save / "cogito_tokenizer_fingerprint.json").read_text())["vocab_size"] == 150
    corpus.write_text("\n".join(TEXTS + ["Zebras quickly vexed jumpy wizards."]) + "\n")
    os.utime(corpus, ns=(stamp + 10**9, stamp + 10**9))
    retrained = load_or_train_tokenizer(train_texts=[corpus], vocab_size=150, save_dir=save)
    fingerprint = json.loads((save / "cogito_tokenizer_fingerprint.json").read_text())
    assert fingerprint["corpus"]["files"][0][1] == corpus.stat().st_size
    assert len(retrained) <= 150


def test_tokenizer_without_mask_token_is_rejected_for_mlm():
    backend = Tokenizer(models.WordLevel({"[PAD]": 0, "[UNK]": 1, "wife": 2}, unk_token="[UNK]"))
    backend.pre_tokenizer = pre_tokenizers.Whitespace()
    no_mask = PreTrainedTokenizerFast(tokenizer_object=backend, pad_token="[PAD]", unk_token="[UNK]")
    with pytest.raises(ValueError, match="mask token"):
        check_mlm_tokenizer(no_mask)
    with pytest.raises(ValueError, match="mask token"):
        mlm_collator(no_mask)


def test_bad_tokenizer_arguments_are_rejected():
    with pytest.raises(ValueError, match="'sentencepiece'.*wordpiece"):
        load_or_train_tokenizer(train_texts=TEXTS, algorithm="sentencepiece")
    with pytest.raises(ValueError, match="train_texts must be"):
        load_or_train_tokenizer(train_texts="corpus.txt")
    with pytest.raises(ValueError, match="tokenizer_name"):
        load_or_train_tokenizer()


# ---------------------------------------------------------------------------------------------
# Tokenization for MLM
# ---------------------------------------------------------------------------------------------


def test_packing_keeps_every_token_and_fills_blocks(raw, tokenizer):
    packed = tokenize_for_mlm(raw, tokenizer, max_seq_length=32)
    for split in ("train", "validation"):
        expected = sum(len(ids) for ids in tokenizer(list(raw[split]["text"]), add_special_tokens=False)["input_ids"])
        blocks = packed[split]
        kept = sum(len(ids) - sum(mask) for ids, mask in zip(blocks["input_ids"], blocks["special_tokens_mask"]))
        assert kept == expected  # no lost tails
        lengths = [len(ids) for ids in blocks["input_ids"]]
        assert max(lengths) == 32 and sum(length < 32 for length in lengths) <= 1
        assert all(
            ids[0] == tokenizer.cls_token_id and ids[-1] == tokenizer.sep_token_id for ids in blocks["input_ids"]
        )
        assert blocks.column_names == ["input_ids", "attention_mask", "special_tokens_mask"]
    assert padding_fraction(packed["train"], 32) < 1 / len(packed["train"])


def test_line_by_line_truncates_each_document(raw, tokenizer):
    lines = tokenize_for_mlm(raw, tokenizer, max_seq_length=16, line_by_line=True)
    assert len(lines["train"]) == len(raw["train"])
    lengths = [len(ids) for ids in lines["train"]["input_ids"]]
    assert max(lengths) == 16 and min(lengths) < 16
    first = lines["train"][0]["input_ids"]
    assert first[0] == tokenizer.cls_token_id and first[-1] == tokenizer.sep_token_id
    assert padding_fraction(lines["train"], 16) > 0.0


def test_max_seq_length_is_validated(raw, tokenizer):
    with pytest.raises(ValueError, match="max_seq_length.*2"):
        tokenize_for_mlm(raw, tokenizer, max_seq_length=2)
    with pytest.raises(ValueError, match="4096.*128"):
        tokenize_for_mlm(raw, tokenizer, max_seq_length=4096)


# ---------------------------------------------------------------------------------------------
# Collators
# ---------------------------------------------------------------------------------------------


def test_mlm_collator_masks_about_15_percent_of_real_tokens(raw, tokenizer):
    packed = tokenize_for_mlm(raw, tokenizer, max_seq_length=32)["train"]
    examples = [packed[i] for i in range(len(packed))] * 20
    batch = mlm_collator(tokenizer, seed=0, pad_to_multiple_of=8)(examples)
    assert batch["input_ids"].shape[1] % 8 == 0
    special = torch.tensor(
        [e["special_tokens_mask"] + [1] * (batch["input_ids"].shape[1] - len(e["input_ids"])) for e in examples]
    ).bool()
    labelled = batch["labels"] != -100
    assert not (labelled & special).any()  # never a special or padding position
    n = int((~special).sum())
    rate = labelled.sum().item() / n
    assert abs(rate - 0.15) < 4 * math.sqrt(0.15 * 0.85 / n), rate
    as_mask = (batch["input_ids"] == tokenizer.mask_token_id) & labelled
    share = as_mask.sum().item() / labelled.sum().item()
    assert 0.74 < share < 0.86, share  # the 80% of 80/10/10


def test_whole_word_masking_masks_every_piece_of_a_word(raw, tokenizer):
    packed = tokenize_for_mlm(raw, tokenizer, max_seq_length=24, keep_offsets=True)["train"]
    examples = [packed[i] for i in range(len(packed))] * 10
    batch = mlm_collator(tokenizer, whole_word_masking=True, mlm_probability=0.3, seed=1)(examples)
    labelled = batch["labels"] != -100
    assert labelled.any()
    tokens = [tokenizer.convert_ids_to_tokens(e["input_ids"]) for e in examples]
    checked = 0
    for row, pieces in enumerate(tokens):
        for pos in range(1, len(pieces)):
            if pieces[pos].startswith("##") and pieces[pos - 1] not in ("[CLS]", "[SEP]"):
                assert labelled[row, pos] == labelled[row, pos - 1]
                checked += 1
    assert checked > 50
    with pytest.raises(ValueError, match="keep_offsets=True"):
        mlm_collator(tokenizer, whole_word_masking=True)(
            [{k: v for k, v in packed[0].items() if k != "offset_mapping"}]
        )


def test_tsdae_collator_deletes_about_60_percent_and_labels_the_original(raw, tokenizer):
    lines = tokenize_for_mlm(raw, tokenizer, max_seq_length=64, line_by_line=True)["train"]
    examples = [lines[i] for i in range(len(lines))]
    batch = TSDAECollator(tokenizer, seed=0)(examples)
    assert set(batch) == {"input_ids", "attention_mask", "labels"}
    kept_total = content_total = 0
    for row, example in enumerate(examples):
        ids = example["input_ids"]
        assert batch["labels"][row, : len(ids)].tolist() == ids
        assert (batch["labels"][row, len(ids) :] == -100).all()
        n_in = int(batch["attention_mask"][row].sum())
        kept = batch["input_ids"][row, :n_in].tolist()
        assert kept[0] == tokenizer.cls_token_id and kept[-1] == tokenizer.sep_token_id
        it = iter(ids)
        assert all(token in it for token in kept)  # an order-preserving subsequence
        kept_total += n_in - 2
        content_total += len(ids) - 2
        assert n_in - 2 >= 1
    assert 0.3 < kept_total / content_total < 0.5
    with pytest.raises(ValueError, match="deletion_ratio.*1.5"):
        TSDAECollator(tokenizer, deletion_ratio=1.5)


def test_validation_split_name_applies_to_hub_datasets_only(tmp_path):
    from cogito.data.text import load_text_datasets

    train = tmp_path / "train.txt"
    train.write_text("\n".join(f"line number {i} of the text" for i in range(50)) + "\n")
    # Local files keep their own validation data whatever the Hub split name says.
    data = load_text_datasets(train_file=str(train), validation_split_name="test")
    assert set(data) == {"train", "validation"} and len(data["validation"]) >= 1


def test_validation_split_name_picks_the_datasets_eval_split(tmp_path):
    from cogito.data.text import load_text_datasets

    folder = tmp_path / "corpus"
    folder.mkdir()
    (folder / "train.txt").write_text("\n".join(f"train line {i}" for i in range(20)) + "\n")
    (folder / "test.txt").write_text("\n".join(f"test line {i}" for i in range(7)) + "\n")
    data = load_text_datasets(dataset_name=str(folder), validation_split_name="test")
    assert len(data["validation"]) == 7 and data["validation"][0]["text"].startswith("test line")
    with pytest.raises(ValueError, match="'dev' is not a split.*train.*test"):
        load_text_datasets(dataset_name=str(folder), validation_split_name="dev")
