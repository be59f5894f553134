"""The built-in corpus: R-serialization reader, parsers, split files and probe tasks.

Tests marked ``slow`` fetch two Debian packages (~8 MB) once per session into a temporary
cache, or reuse ``$COGITO_CACHE`` when it is set.
"""

from __future__ import annotations

import csv
import hashlib
import json
import struct
import time
import zlib
from collections import Counter
from pathlib import Path

import pytest

from cogito.data import corpus as corpus_mod
from cogito.data.corpus import (
    AUSTEN_LABELS,
    WORDNET_LABELS,
    RFormatError,
    austen_paragraphs,
    builtin_text_files,
    load_builtin_corpus,
    parse_wordnet_line,
    read_lazyload_db,
    split_sentences,
    unserialize,
    write_probe_tasks,
)

# ---------------------------------------------------------------------------------------------
# A tiny R serializer, to test the reader on bytes whose meaning we know.
# ---------------------------------------------------------------------------------------------


def _i(value: int) -> bytes:
    return struct.pack(">i", value)


def _charsxp(text: str | None) -> bytes:
    if text is None:
        return _i(9) + _i(-1)
    raw = text.encode()
    return _i(9 | (1 << 15)) + _i(len(raw)) + raw  # UTF-8 level bit


def _strsxp(values: list[str | None], names: list[str] | None = None, names_ref: int | None = None) -> bytes:
    flags = 16 | ((1 << 9) if names is not None else 0)
    out = _i(flags) + _i(len(values)) + b"".join(_charsxp(v) for v in values)
    if names is not None:
        # attribute pairlist: tag is the symbol `names` (new, or a back-reference), value a STRSXP
        tag = _i(255 | (names_ref << 8)) if names_ref else _i(1) + _charsxp("names")
        out += _i(2 | (1 << 10)) + tag + _strsxp(names) + _i(254)
    return out


def _serialized(body: bytes, version: int = 3) -> bytes:
    head = b"X\n" + _i(version) + _i(0x040201) + _i(0x030500)
    if version == 3:
        head += _i(5) + b"UTF-8"
    return head + body


def test_reader_decodes_strings_na_names_and_back_references():
    import rdata

    vec = _strsxp(["It is a truth", None, "é"], names=["a", "b", "c"])
    # a list of two vectors; the second names attribute refers back to the `names` symbol (ref 1)
    body = _i(19) + _i(2) + vec + _strsxp(["x"], names=["only"], names_ref=1)
    for version in (2, 3):
        value = unserialize(_serialized(body, version))
        assert isinstance(value, list) and len(value) == 2
        assert list(value[0]) == ["It is a truth", None, "é"]
        assert list(value[1]) == ["x"]
        # The names attributes, the second through the back-reference, as rdata parsed them.
        parsed = rdata.parser.parse_data(_serialized(body, version), extension=".rds").object
        names = [rdata.conversion.convert(item.attributes)["names"].tolist() for item in parsed.value]
        assert names == [["a", "b", "c"], ["only"]]


def test_reader_rejects_unknown_format_with_its_header():
    with pytest.raises(RFormatError, match="XDR.*got header b'A\\\\n'"):
        unserialize(b"A\n" + _i(3))
    with pytest.raises(RFormatError, match="version 7"):
        unserialize(b"X\n" + _i(7) + _i(0) + _i(0))


def test_lazyload_db_round_trip(tmp_path):
    import gzip

    records = {"emma": _serialized(_strsxp(["EMMA", "", "CHAPTER I"])), "two": _serialized(_strsxp(["b"]))}
    rdb, offsets = b"", []
    for payload in records.values():
        block = struct.pack(">I", len(payload)) + zlib.compress(payload)
        offsets.append((len(rdb), len(block)))
        rdb += block
    (tmp_path / "Rdata.rdb").write_bytes(rdb)
    intsxp = lambda a, b: _i(13) + _i(2) + _i(a) + _i(b)  # noqa: E731
    variables = _i(19 | (1 << 9)) + _i(2) + b"".join(intsxp(*o) for o in offsets)
    variables += _i(2 | (1 << 10)) + _i(1) + _charsxp("names") + _strsxp(list(records)) + _i(254)
    index = _i(19 | (1 << 9)) + _i(3) + variables + (_i(19) + _i(0)) + (_i(10) + _i(1) + _i(1))
    index += _i(2 | (1 << 10)) + _i(255 | (1 << 8)) + _strsxp(["variables", "references", "compressed"]) + _i(254)
    (tmp_path / "Rdata.rdx").write_bytes(gzip.compress(_serialized(index)))
    db = read_lazyload_db(tmp_path / "Rdata")
    assert list(db) == ["emma", "two"]
    assert list(db["emma"]) == ["EMMA", "", "CHAPTER I"] and list(db["two"]) == ["b"]


# ---------------------------------------------------------------------------------------------
# Parsers on literal lines
# ---------------------------------------------------------------------------------------------


def test_austen_paragraphs_drop_front_matter_headings_and_closing():
    lines = [
        "EMMA",
        "",
        "By Jane Austen",
        "",
        "VOLUME I",
        "",
        "CHAPTER I",
        "",
        "Emma Woodhouse, handsome,",
        "clever, and rich.",
        "",
        "* * * * *",
        "",
        "Chapter 2",
        "",
        "She was the youngest.",
        "",
        "FINIS",
    ]
    assert austen_paragraphs(lines) == ["Emma Woodhouse, handsome, clever, and rich.", "She was the youngest."]


def test_wordnet_line_gives_gloss_examples_and_lemmas():
    line = (
        "00002724 29 v 01 choke 0 002 @ 00001740 v 0000 + 14058252 n 0101 01 + 02 00 | breathe with great "
        'difficulty, as when experiencing a strong emotion; "She choked with emotion when she spoke"  \n'
    )
    entry = parse_wordnet_line(line, "verb")
    assert entry.gloss == "breathe with great difficulty, as when experiencing a strong emotion"
    assert entry.examples == ("She choked with emotion when she spoke",)
    assert entry.pos == "verb" and entry.lemmas == ("choke",)
    assert parse_wordnet_line("  1 This software and database is being provided to you  \n", "noun") is None


def test_sentence_split_keeps_titles_with_names():
    text = 'Mr. Bennet replied that he had not. "But it is," returned she! Mrs. Long has been here.'
    assert split_sentences(text) == [
        "Mr. Bennet replied that he had not.",
        '"But it is," returned she!',
        "Mrs. Long has been here.",
    ]


# ---------------------------------------------------------------------------------------------
# The real corpus (fetched once per session)
# ---------------------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def builtin(corpus_cache):
    return load_builtin_corpus(corpus_cache)


@pytest.mark.slow
def test_austen_six_novels_with_known_openings(builtin):
    assert tuple(builtin.austen) == AUSTEN_LABELS
    assert builtin.austen["Pride & Prejudice"][0].startswith("It is a truth universally acknowledged")
    assert builtin.austen["Emma"][0].startswith("Emma Woodhouse, handsome, clever, and rich")
    assert builtin.austen["Persuasion"][0].startswith("Sir Walter Elliot, of Kellynch Hall")
    words = sum(len(p.split()) for ps in builtin.austen.values() for p in ps)
    assert 690_000 < words < 730_000, words
    for paragraphs in builtin.austen.values():
        assert 900 < len(paragraphs) < 2600
        assert not any(p.upper().startswith("CHAPTER ") and len(p) < 15 for p in paragraphs)


@pytest.mark.slow
def test_wordnet_glosses_and_examples_counts(builtin):
    assert 117_000 <= len(builtin.wordnet) <= 118_000
    examples = sum(len(e.examples) for e in builtin.wordnet)
    assert 47_000 <= examples <= 49_000
    assert Counter(e.pos for e in builtin.wordnet).keys() == {"noun", "verb", "adj", "adv"}
    assert all(e.gloss and '"' not in e.gloss[:1] for e in builtin.wordnet)
    assert not any("Princeton" in e.gloss and "LICENSEE" in e.gloss for e in builtin.wordnet)


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.mark.slow
def test_text_files_are_deterministic_disjoint_and_cached(builtin, corpus_cache):
    files = builtin_text_files(corpus_cache)
    train, validation = files["train"].read_text().splitlines(), files["validation"].read_text().splitlines()
    assert not set(train) & set(validation)
    assert 0.01 < len(validation) / (len(train) + len(validation)) < 0.03
    assert all(line.strip() and "\t" not in line for line in validation)
    assert any(line.startswith("It is a truth universally acknowledged") for line in train + validation)

    started, mtime = time.monotonic(), files["train"].stat().st_mtime_ns
    again = builtin_text_files(corpus_cache)
    assert time.monotonic() - started < 1.0
    assert again == files and files["train"].stat().st_mtime_ns == mtime

    # a truncated file (an interrupted copy, say) no longer matches the manifest: rebuilt identically
    digests = {k: _sha(p) for k, p in files.items()}
    with open(files["train"], "r+b") as handle:
        handle.truncate(1000)
    rebuilt = builtin_text_files(corpus_cache)
    assert {k: _sha(p) for k, p in rebuilt.items()} == digests
    manifest = json.loads((files["train"].parent / "manifest.json").read_text())
    assert manifest["files"]["train.txt"]["lines"] == len(train)


def _read_tsv(path: Path):
    import datasets

    return datasets.load_dataset("csv", data_files=str(path), delimiter="\t", quoting=csv.QUOTE_NONE)["train"]


@pytest.mark.slow
def test_probe_tasks_are_balanced_disjoint_and_readable(builtin, corpus_cache, tmp_path):
    tasks = write_probe_tasks(tmp_path / "probes", cache_dir=corpus_cache, seed=0)
    assert set(tasks) == {"AUSTEN", "WORDNET"}

    austen_train, austen_dev = _read_tsv(tasks["AUSTEN"] / "train.tsv"), _read_tsv(tasks["AUSTEN"] / "dev.tsv")
    assert austen_train.column_names == ["sentence", "label"]
    assert (len(austen_train), len(austen_dev)) == (3000, 600)
    assert Counter(austen_train["label"]) == {label: 500 for label in range(len(AUSTEN_LABELS))}
    assert Counter(austen_dev["label"]) == {label: 100 for label in range(len(AUSTEN_LABELS))}
    assert not set(austen_train["sentence"]) & set(austen_dev["sentence"])
    assert all(len(s.split()) >= 6 for s in austen_dev["sentence"])
    # a passage must come from the novel its label names
    novel_text = {i: " ".join(builtin.austen[t]) for i, t in enumerate(AUSTEN_LABELS)}
    for row in austen_dev.select(range(50)):
        assert row["sentence"] in novel_text[row["label"]]

    wn_train, wn_dev = _read_tsv(tasks["WORDNET"] / "train.tsv"), _read_tsv(tasks["WORDNET"] / "dev.tsv")
    assert wn_train.column_names == ["sentence1", "sentence2", "label"]
    assert (len(wn_train), len(wn_dev)) == (3000, 600)
    assert Counter(wn_dev["label"]) == {0: 300, 1: 300}
    assert not set(wn_train["sentence1"]) & set(wn_dev["sentence1"])
    gloss_of = {x: e.gloss for e in builtin.wordnet for x in e.examples}
    for row in wn_dev.select(range(100)):
        assert (gloss_of[row["sentence1"]] == row["sentence2"]) == bool(row["label"])

    info = json.loads((tasks["WORDNET"] / "task.json").read_text())
    assert info["label_names"] == list(WORDNET_LABELS) and info["dev_rows_from_pretraining_train"] == 0
    austen_info = json.loads((tasks["AUSTEN"] / "task.json").read_text())
    assert 0 <= austen_info["dev_rows_from_pretraining_train"] < 600

    # same seed, same files
    again = write_probe_tasks(tmp_path / "again", cache_dir=corpus_cache, seed=0)
    assert _sha(again["AUSTEN"] / "dev.tsv") == _sha(tasks["AUSTEN"] / "dev.tsv")


def test_probe_sizes_are_validated(tmp_path):
    with pytest.raises(ValueError, match="train_size must be an integer >= 2, got 0"):
        write_probe_tasks(tmp_path, train_size=0)


def test_missing_apt_gives_a_clear_error(tmp_path, monkeypatch):
    monkeypatch.setattr(corpus_mod.shutil, "which", lambda name: None)
    with pytest.raises(corpus_mod.CorpusUnavailableError, match="Debian"):
        load_builtin_corpus(tmp_path)


def test_no_apt_and_no_hub_says_how_to_supply_text(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
    monkeypatch.setattr(corpus_mod.shutil, "which", lambda name: None)
    with pytest.raises(corpus_mod.CorpusUnavailableError, match="--train_file"):
        builtin_text_files(tmp_path)


@pytest.mark.slow
def test_no_data_arguments_load_the_builtin_corpus(builtin, corpus_cache, monkeypatch):
    from cogito.data.text import load_text_datasets

    monkeypatch.setenv("COGITO_CACHE", str(corpus_cache.parent))
    raw = load_text_datasets()
    files = builtin_text_files(corpus_cache)
    assert len(raw["train"]) == len(files["train"].read_text().splitlines())
    assert len(raw["validation"]) == len(files["validation"].read_text().splitlines())
    assert raw["train"][0]["text"].startswith("The family of Dashwood had long been settled in Sussex")
