"""The built-in offline corpus: real English text from Debian packages, plus probe tasks.

Two public-domain / freely licensed sources that ``apt-get download`` can fetch without the
Hugging Face Hub:

* ``r-cran-janeaustenr`` — Jane Austen's six novels (Project Gutenberg text), kept by the R
  package as character vectors in an R lazy-load database (``data/Rdata.rdb`` + ``.rdx``).
  A small pure-Python reader for R's XDR serialization below decodes them without R.
* ``wordnet-base`` — WordNet 3.0 data files: 117,659 glosses with 48,339 quoted examples.

Everything is cached under ``$COGITO_CACHE`` (default ``~/.cache/cogito``) in ``corpus/``.
Each stage is written to a temporary name and renamed into place, so an interrupted build is
never taken as complete.

Public API: :func:`load_builtin_corpus`, :func:`builtin_text_files`, :func:`write_probe_tasks`.
"""

from __future__ import annotations

import bz2
import gzip
import hashlib
import json
import logging
import lzma
import os
import random
import re
import shutil
import struct
import subprocess
import tempfile
import time
import warnings
import zlib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cogito._io import atomic_write

logger = logging.getLogger(__name__)

__all__ = [
    "AUSTEN_BOOKS",
    "AUSTEN_LABELS",
    "PROBE_TASKS",
    "WORDNET_LABELS",
    "BuiltinCorpus",
    "CorpusUnavailableError",
    "WordNetEntry",
    "builtin_text_files",
    "cache_root",
    "load_builtin_corpus",
    "RFormatError",
    "read_lazyload_db",
    "write_probe_tasks",
]


# ---------------------------------------------------------------------------------------------
# R data: janeaustenr ships its novels as an R lazy-load database (``Rdata.rdb`` + ``.rdx``).
# Each record is read by the `rdata` package; only the lazy-load framing is ours.
# ---------------------------------------------------------------------------------------------


class RFormatError(ValueError):
    """The bytes are not an R serialization (or lazy-load database) that can be read."""


def unserialize(data: bytes) -> Any:
    """Decode one R-serialized object (already decompressed) into Python values with `rdata`:
    character/numeric vectors become numpy arrays (``NA`` is ``None``), named lists dicts."""
    import rdata

    if data[:2] != b"X\n":
        raise RFormatError(f"only the XDR (binary big-endian) R format is supported, got header {data[:2]!r}")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)  # rdata guesses the file type from an extension
            return rdata.conversion.convert(rdata.parser.parse_data(data, extension=".rds"))
    except (ValueError, NotImplementedError, struct.error, EOFError) as err:
        raise RFormatError(f"cannot read this R serialization: {err}") from None


def read_rds(path: str | Path) -> Any:
    """Read an ``.rds`` file (gzip, bzip2, xz or uncompressed)."""
    raw = Path(path).read_bytes()
    if raw[:2] == b"\x1f\x8b":
        raw = gzip.decompress(raw)
    elif raw[:3] == b"BZh":
        raw = bz2.decompress(raw)
    elif raw[:6] == b"\xfd7zXZ\x00":
        raw = lzma.decompress(raw)
    return unserialize(raw)


def _decompress_block(block: bytes, method: Any) -> bytes:
    """One lazy-load record: 4-byte big-endian uncompressed length, then the compressed bytes."""
    expected = struct.unpack(">I", block[:4])[0]
    method = 1 if method is True else int(method or 0)  # numpy's True is 1 too
    if method == 1:
        out = zlib.decompress(block[4:])
    elif method in (2, 3):
        # compression types 2/3 write one extra byte naming the codec actually used
        codec, body = block[4:5], block[5:]
        out = {b"Z": zlib.decompress, b"2": bz2.decompress, b"X": lzma.decompress, b"0": bytes}[codec](body)
    elif method == 0:
        out = block[4:]
    else:
        raise RFormatError(f"unknown lazy-load compression {method!r}; known: 0, 1 (zlib), 2 (bzip2), 3 (xz)")
    if len(out) != expected:
        raise RFormatError(f"lazy-load record decompressed to {len(out)} bytes, header says {expected}")
    return out


def read_lazyload_db(stem: str | Path) -> dict[str, Any]:
    """Read every variable of an R lazy-load database (``<stem>.rdb`` + ``<stem>.rdx``)."""
    stem = Path(stem)
    index = read_rds(stem.with_suffix(".rdx"))
    if not isinstance(index, dict) or not isinstance(index.get("variables"), dict):
        raise RFormatError(f"{stem}.rdx is not a lazy-load index (no 'variables' entry)")
    compressed = index.get("compressed")
    compressed = True if compressed is None else compressed[0]
    rdb = stem.with_suffix(".rdb").read_bytes()
    out: dict[str, Any] = {}
    for name, (offset, length) in index["variables"].items():
        block = rdb[int(offset) : int(offset) + int(length)]
        out[str(name)] = unserialize(_decompress_block(block, compressed))
    return out


# ---------------------------------------------------------------------------------------------
# Fetching Debian packages
# ---------------------------------------------------------------------------------------------

CORPUS_FORMAT_VERSION = 1  # bump when parsing or splitting changes, to rebuild caches
VALIDATION_FRACTION = 0.02
SPLIT_SEED = 1234

AUSTEN_PACKAGE = "r-cran-janeaustenr"
WORDNET_PACKAGE = "wordnet-base"
WORDNET_POS = ("noun", "verb", "adj", "adv")

# R object name -> title, in publication order (the titles janeaustenr's austen_books() uses).
AUSTEN_BOOKS: dict[str, str] = {
    "sensesensibility": "Sense & Sensibility",
    "prideprejudice": "Pride & Prejudice",
    "mansfieldpark": "Mansfield Park",
    "emma": "Emma",
    "northangerabbey": "Northanger Abbey",
    "persuasion": "Persuasion",
}
AUSTEN_LABELS: tuple[str, ...] = tuple(AUSTEN_BOOKS.values())
WORDNET_LABELS: tuple[str, ...] = ("other_gloss", "same_gloss")

# GLUE-style description of the probe tasks written by write_probe_tasks.
PROBE_TASKS: dict[str, dict[str, Any]] = {
    "AUSTEN": {"columns": ("sentence",), "label_names": AUSTEN_LABELS, "metric": "accuracy"},
    "WORDNET": {"columns": ("sentence1", "sentence2"), "label_names": WORDNET_LABELS, "metric": "accuracy"},
}


class CorpusUnavailableError(RuntimeError):
    """The built-in corpus cannot be fetched on this machine."""


def cache_root(cache_dir: str | os.PathLike | None = None) -> Path:
    """The corpus cache folder: ``cache_dir``, else ``$COGITO_CACHE/corpus``, else ``~/.cache/cogito/corpus``."""
    if cache_dir is not None:
        return Path(cache_dir).expanduser()
    base = os.environ.get("COGITO_CACHE") or os.path.join(os.path.expanduser("~"), ".cache", "cogito")
    return Path(base) / "corpus"


def _run(cmd: list[str], cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, check=False)


def _apt_download(package: str, workdir: Path, updated: list[bool]) -> Path:
    """``apt-get download`` one package into ``workdir``; ``apt-get update`` once if it is unknown."""
    if shutil.which("apt-get") is None or shutil.which("dpkg") is None:
        raise CorpusUnavailableError("apt-get/dpkg not found: the built-in corpus needs a Debian-based system")
    result = _run(["apt-get", "download", package], workdir)
    if result.returncode != 0 and "Unable to locate package" in result.stderr and not updated[0]:
        logger.info("apt-get does not know %s yet: running apt-get update", package)
        updated[0] = True
        update = _run(["apt-get", "update"], workdir)
        if update.returncode != 0:
            raise CorpusUnavailableError(f"apt-get update failed:\n{update.stderr.strip()}")
        result = _run(["apt-get", "download", package], workdir)
    if result.returncode != 0:
        raise CorpusUnavailableError(f"apt-get download {package} failed:\n{result.stderr.strip()}")
    debs = sorted(workdir.glob(f"{package}_*.deb"))
    if not debs:
        raise CorpusUnavailableError(f"apt-get download {package} succeeded but wrote no {package}_*.deb")
    return debs[-1]


def _fetch_package(package: str, wanted: dict[str, str], dest: Path, updated: list[bool]) -> Path:
    """Download + ``dpkg -x`` a package and keep only ``wanted`` (path in package -> file name)."""
    if dest.is_dir() and all((dest / name).is_file() for name in wanted.values()):
        return dest
    dest.parent.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    with tempfile.TemporaryDirectory(dir=dest.parent, prefix=f".{package}-") as tmp:
        tmp_path = Path(tmp)
        logger.info("Fetching Debian package %s", package)
        deb = _apt_download(package, tmp_path, updated)
        unpacked = tmp_path / "root"
        result = _run(["dpkg", "-x", str(deb), str(unpacked)], tmp_path)
        if result.returncode != 0:
            raise CorpusUnavailableError(f"dpkg -x {deb.name} failed:\n{result.stderr.strip()}")
        staged = tmp_path / "staged"
        staged.mkdir()
        for inner, name in wanted.items():
            source = unpacked / inner
            if not source.is_file():
                raise CorpusUnavailableError(f"{deb.name} has no {inner}; the package layout changed")
            shutil.copyfile(source, staged / name)
        if dest.exists():
            shutil.rmtree(dest)
        os.replace(staged, dest)
    logger.info("Fetched %s into %s in %.1f s", package, dest, time.monotonic() - started)
    return dest


def _fetch_sources(root: Path) -> tuple[Path, Path]:
    updated = [False]
    austen = _fetch_package(
        AUSTEN_PACKAGE,
        {
            "usr/lib/R/site-library/janeaustenr/data/Rdata.rdb": "Rdata.rdb",
            "usr/lib/R/site-library/janeaustenr/data/Rdata.rdx": "Rdata.rdx",
        },
        root / "raw" / "janeaustenr",
        updated,
    )
    wordnet = _fetch_package(
        WORDNET_PACKAGE,
        {f"usr/share/wordnet/data.{pos}": f"data.{pos}" for pos in WORDNET_POS},
        root / "raw" / "wordnet",
        updated,
    )
    return austen, wordnet


# ---------------------------------------------------------------------------------------------
# Parsing
# ---------------------------------------------------------------------------------------------

_HEADING = re.compile(r"^(chapter|volume)\s+([0-9]+|[ivxlc]+)\.?$", re.IGNORECASE)
_SEPARATOR = re.compile(r"^[*\s]+$")
_CLOSING = {"the end", "finis"}
_EDITORIAL = re.compile(r"^a note on the text$", re.IGNORECASE)  # Signet's note closing Northanger Abbey
_SPACES = re.compile(r"\s+")


@dataclass(frozen=True)
class WordNetEntry:
    """One WordNet synset: its definition, its quoted example sentences and its part of speech."""

    gloss: str
    examples: tuple[str, ...]
    pos: str  # "noun", "verb", "adj" or "adv"
    lemmas: tuple[str, ...] = ()


@dataclass
class BuiltinCorpus:
    """The parsed built-in corpus."""

    austen: dict[str, list[str]]  # title -> paragraphs, front matter and chapter headings dropped
    wordnet: list[WordNetEntry]
    source_dir: Path = field(default_factory=Path)

    def num_words(self) -> int:
        """Whitespace-separated words over all paragraphs, glosses and examples."""
        return sum(len(p.split()) for ps in self.austen.values() for p in ps) + sum(
            len(e.gloss.split()) + sum(len(x.split()) for x in e.examples) for e in self.wordnet
        )


def austen_paragraphs(lines: Iterable[str | None]) -> list[str]:
    """Join a novel's text lines into paragraphs; drop title page, headings and closing marks."""
    paragraphs: list[str] = []
    current: list[str] = []
    for line in list(lines) + [""]:
        text = (line or "").strip()
        if text:
            current.append(text)
        elif current:
            paragraphs.append(_SPACES.sub(" ", " ".join(current)))
            current = []
    first_heading = next((i for i, p in enumerate(paragraphs) if _HEADING.match(p)), None)
    if first_heading is None:
        raise ValueError("no CHAPTER heading found: this does not look like a janeaustenr novel")
    kept = []
    for paragraph in paragraphs[first_heading:]:
        if _EDITORIAL.match(paragraph):
            break
        if _HEADING.match(paragraph) or _SEPARATOR.match(paragraph) or paragraph.lower() in _CLOSING:
            continue
        kept.append(paragraph)
    return kept


def parse_austen(raw_dir: Path) -> dict[str, list[str]]:
    """Read the six novels from janeaustenr's ``Rdata.rdb``/``.rdx`` into title -> paragraphs."""
    objects = read_lazyload_db(Path(raw_dir) / "Rdata")
    missing = [name for name in AUSTEN_BOOKS if name not in objects]
    if missing:
        raise CorpusUnavailableError(f"janeaustenr data lacks {missing}; found {sorted(objects)}")
    books = {}
    for name, title in AUSTEN_BOOKS.items():
        books[title] = austen_paragraphs(["" if line is None else str(line) for line in objects[name]])  # NA -> ""
    return books


_QUOTED = re.compile(r'"([^"]*)"')


def parse_wordnet_line(line: str, pos: str) -> WordNetEntry | None:
    """Parse one line of a WordNet ``data.<pos>`` file; ``None`` for license header lines."""
    if line.startswith("  ") or " | " not in line:
        return None
    head, gloss_text = line.rstrip("\n").split(" | ", 1)
    fields = head.split()
    word_count = int(fields[3], 16)
    lemmas = tuple(fields[4 + 2 * i].replace("_", " ") for i in range(word_count))
    gloss_text = gloss_text.strip()
    examples = tuple(e.strip() for e in _QUOTED.findall(gloss_text) if e.strip())
    # The definition is what precedes the first quoted example, e.g. 'breathe hard; "she choked"'.
    definition = gloss_text.split('"', 1)[0].strip().rstrip(";").strip()
    if not definition:  # a synset whose gloss is only examples
        definition = _QUOTED.sub("", gloss_text).strip(" ;")
    return WordNetEntry(gloss=definition, examples=examples, pos=pos, lemmas=lemmas)


def parse_wordnet(raw_dir: Path) -> list[WordNetEntry]:
    """Read every synset of WordNet's ``data.{noun,verb,adj,adv}``."""
    entries: list[WordNetEntry] = []
    for pos in WORDNET_POS:
        with open(Path(raw_dir) / f"data.{pos}", encoding="utf-8") as handle:
            for line in handle:
                entry = parse_wordnet_line(line, pos)
                if entry is not None and entry.gloss:
                    entries.append(entry)
    return entries


def load_builtin_corpus(cache_dir: str | os.PathLike | None = None) -> BuiltinCorpus:
    """Fetch (once) and parse the built-in corpus: Austen's six novels and WordNet 3.0."""
    root = cache_root(cache_dir)
    austen_dir, wordnet_dir = _fetch_sources(root)
    started = time.monotonic()
    corpus = BuiltinCorpus(austen=parse_austen(austen_dir), wordnet=parse_wordnet(wordnet_dir), source_dir=root)
    logger.info(
        "Parsed built-in corpus in %.1f s: %d Austen paragraphs, %d WordNet glosses",
        time.monotonic() - started,
        sum(len(p) for p in corpus.austen.values()),
        len(corpus.wordnet),
    )
    return corpus


# ---------------------------------------------------------------------------------------------
# Pretraining text files
# ---------------------------------------------------------------------------------------------


def _clean(text: str) -> str:
    """One line of text: no tabs or newlines, single spaces."""
    return _SPACES.sub(" ", text).strip()


def in_validation(text: str, seed: int = SPLIT_SEED, fraction: float = VALIDATION_FRACTION) -> bool:
    """Deterministic split by hashing the text, so identical lines always fall on the same side."""
    digest = hashlib.sha1(f"{seed}\x00{text}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64 < fraction


def corpus_lines(corpus: BuiltinCorpus) -> Iterator[str]:
    """Every line of the pretraining text: Austen paragraphs, then WordNet glosses and examples."""
    for paragraphs in corpus.austen.values():
        for paragraph in paragraphs:
            yield _clean(paragraph)
    for entry in corpus.wordnet:
        yield _clean(entry.gloss)
        for example in entry.examples:
            yield _clean(example)


def _write_atomic(path: Path, lines: Iterable[str]) -> tuple[int, int]:
    """Write lines to ``path`` with `atomic_write`; returns (lines, words)."""
    counts = [0, 0]

    def write(handle) -> None:
        for line in lines:
            handle.write(line + "\n")
            counts[0] += 1
            counts[1] += len(line.split())

    atomic_write(path, write)
    return counts[0], counts[1]


def _manifest_ok(text_dir: Path, source: str) -> bool:
    manifest = text_dir / "manifest.json"
    if not manifest.is_file():
        return False
    try:
        info = json.loads(manifest.read_text())
    except json.JSONDecodeError:
        return False
    if info.get("version") != CORPUS_FORMAT_VERSION or info.get("source") != source:
        return False
    return all(
        (text_dir / name).is_file() and (text_dir / name).stat().st_size == meta["bytes"]
        for name, meta in info.get("files", {}).items()
    ) and set(info.get("files", {})) == {"train.txt", "validation.txt"}


def _write_text_files(text_dir: Path, splits: dict[str, Iterable[str]], source: str) -> dict[str, Path]:
    text_dir.mkdir(parents=True, exist_ok=True)
    files: dict[str, dict[str, int]] = {}
    for split, lines in splits.items():
        path = text_dir / f"{split}.txt"
        n_lines, n_words = _write_atomic(path, lines)
        files[path.name] = {"lines": n_lines, "words": n_words, "bytes": path.stat().st_size}
        logger.info("Wrote %s: %d lines, %d words", path, n_lines, n_words)
    manifest = {"version": CORPUS_FORMAT_VERSION, "source": source, "files": files}
    # The manifest is written last: its presence marks the text files as complete.
    _write_atomic(text_dir / "manifest.json", [json.dumps(manifest, indent=2)])
    return {"train": text_dir / "train.txt", "validation": text_dir / "validation.txt"}


def _hub_fallback_splits() -> dict[str, list[str]]:
    """WikiText-2 from the Hugging Face Hub, for machines without apt but with the Hub."""
    import datasets

    raw = datasets.load_dataset("Salesforce/wikitext", "wikitext-2-raw-v1")
    splits = {}
    for split in ("train", "validation"):
        # WikiText keeps headings (" = Title = ") and blank lines as rows; keep prose only.
        splits[split] = [_clean(t) for t in raw[split]["text"] if t.strip() and not t.strip().startswith("=")]
    return splits


def builtin_text_files(cache_dir: str | os.PathLike | None = None) -> dict[str, Path]:
    """Deterministic ``train.txt``/``validation.txt`` (one paragraph, gloss or example per line).

    A ~98/2 split by a seeded hash of each line. Built once; later calls only check the
    manifest. Falls back to WikiText-2 from the Hub when the Debian packages cannot be had.
    """
    root = cache_root(cache_dir)
    text_dir = root / "text"
    if _manifest_ok(text_dir, "debian"):
        return {"train": text_dir / "train.txt", "validation": text_dir / "validation.txt"}
    try:
        corpus = load_builtin_corpus(cache_dir)
    except CorpusUnavailableError as debian_error:
        hub_dir = root / "text-wikitext"
        if _manifest_ok(hub_dir, "wikitext"):
            return {"train": hub_dir / "train.txt", "validation": hub_dir / "validation.txt"}
        logger.warning("Built-in Debian corpus unavailable (%s); trying WikiText-2 from the Hub", debian_error)
        try:
            splits = _hub_fallback_splits()
        except Exception as hub_error:
            raise CorpusUnavailableError(
                "No built-in corpus: the Debian packages "
                f"{AUSTEN_PACKAGE}/{WORDNET_PACKAGE} could not be fetched ({debian_error}) and the "
                f"Hugging Face Hub is unreachable ({type(hub_error).__name__}: {hub_error}). "
                "Supply your own text with --train_file (and optionally --validation_file): "
                "a .txt file with one document per line, or .json/.jsonl/.csv/.parquet with a 'text' column."
            ) from hub_error
        return _write_text_files(hub_dir, splits, "wikitext")
    lines = list(corpus_lines(corpus))
    is_val = [in_validation(line) for line in lines]
    splits = {
        "train": [line for line, v in zip(lines, is_val) if not v],
        "validation": [line for line, v in zip(lines, is_val) if v],
    }
    return _write_text_files(text_dir, splits, "debian")


# ---------------------------------------------------------------------------------------------
# Probe tasks with real labels
# ---------------------------------------------------------------------------------------------

_ABBREVIATIONS = {"mr", "mrs", "dr", "st", "esq", "col", "capt", "rev", "messrs", "no", "sr", "jr", "ft"}
_SENTENCE_END = re.compile(r'(?<=[.!?])["\')_]*\s+')
_MIN_PASSAGE_WORDS = 6
_MAX_PASSAGE_WORDS = 80


def split_sentences(paragraph: str) -> list[str]:
    """Split a paragraph into sentences at . ! ? (plus closing quotes), not after Mr./Mrs. etc."""
    sentences: list[str] = []
    start = 0
    for match in _SENTENCE_END.finditer(paragraph):
        before = paragraph[start : match.start()].rsplit(None, 1)
        last_word = before[-1].rstrip(".").strip("\"'(_").lower() if before else ""
        if last_word in _ABBREVIATIONS or (len(last_word) == 1 and last_word.isalpha()):
            continue  # "Mr. Darcy", "F. C. Weston": not a sentence end
        sentences.append(paragraph[start : match.end()].strip())
        start = match.end()
    tail = paragraph[start:].strip()
    if tail:
        sentences.append(tail)
    return sentences


def _passages(paragraph: str, rng: random.Random) -> list[str]:
    """Cut a paragraph into consecutive, non-overlapping passages of 1-3 sentences."""
    sentences = split_sentences(paragraph)
    out = []
    i = 0
    while i < len(sentences):
        size = rng.randint(1, 3)
        passage = " ".join(sentences[i : i + size])
        i += size
        if _MIN_PASSAGE_WORDS <= len(passage.split()) <= _MAX_PASSAGE_WORDS:
            out.append(_clean(passage))
    return out


def _write_tsv(path: Path, header: tuple[str, ...], rows: list[tuple[Any, ...]]) -> None:
    lines = ["\t".join(header)] + ["\t".join(_clean(str(v)) for v in row) for row in rows]
    _write_atomic(path, lines)


def _austen_rows(corpus: BuiltinCorpus, train_size: int, dev_size: int, seed: int) -> tuple[list, list, int]:
    """Balanced (passage, label) rows; dev from pretraining-validation paragraphs when possible."""
    rng = random.Random(seed)
    per_class_train, per_class_dev = train_size // len(AUSTEN_LABELS), dev_size // len(AUSTEN_LABELS)
    train_rows, dev_rows = [], []
    leaked = 0
    used: set[str] = set()
    for label, title in enumerate(AUSTEN_LABELS):
        held_out, seen = [], []
        for paragraph in corpus.austen[title]:
            target = held_out if in_validation(_clean(paragraph)) else seen
            for passage in _passages(paragraph, rng):
                if passage not in used:  # a repeated passage ("Mr. Darcy bowed.") could leak
                    used.add(passage)
                    target.append(passage)
        rng.shuffle(held_out)
        rng.shuffle(seen)
        if len(held_out) < per_class_dev:
            # Not enough unseen text: top up dev from the pretraining split (documented leakage).
            shortfall = per_class_dev - len(held_out)
            leaked += shortfall
            held_out, seen = held_out + seen[:shortfall], seen[shortfall:]
        if len(seen) < per_class_train:
            raise ValueError(
                f"train_size={train_size} needs {per_class_train} passages of {title!r}, only {len(seen)} exist"
            )
        dev_rows += [(p, label) for p in held_out[:per_class_dev]]
        train_rows += [(p, label) for p in seen[:per_class_train]]
    rng.shuffle(train_rows)
    rng.shuffle(dev_rows)
    return train_rows, dev_rows, leaked


def _wordnet_rows(corpus: BuiltinCorpus, train_size: int, dev_size: int, seed: int) -> tuple[list, list, int]:
    """Balanced (example, gloss, label) rows; dev examples are pretraining-validation lines."""
    rng = random.Random(seed + 1)
    by_pos: dict[str, list[int]] = {}
    for index, entry in enumerate(corpus.wordnet):
        by_pos.setdefault(entry.pos, []).append(index)
    held_out, seen, used = [], [], set()
    for index, entry in enumerate(corpus.wordnet):
        for example in entry.examples:
            example = _clean(example)
            if len(example.split()) < 3 or example in used:
                continue  # fragments like "a cappella" say too little; duplicates would leak
            used.add(example)
            (held_out if in_validation(example) else seen).append((example, index))
    rng.shuffle(held_out)
    rng.shuffle(seen)
    leaked = max(0, dev_size - len(held_out))
    if leaked:
        held_out, seen = held_out + seen[:leaked], seen[leaked:]
    if len(seen) < train_size:
        raise ValueError(f"train_size={train_size} exceeds the {len(seen)} usable WordNet examples")

    def rows(pairs: list[tuple[str, int]]) -> list[tuple[str, str, int]]:
        out = []
        for position, (example, index) in enumerate(pairs):
            entry = corpus.wordnet[index]
            if position % 2 == 0:
                out.append((example, entry.gloss, 1))
                continue
            while True:  # a random other gloss of the same part of speech
                other = corpus.wordnet[rng.choice(by_pos[entry.pos])]
                if other.gloss != entry.gloss:
                    break
            out.append((example, other.gloss, 0))
        rng.shuffle(out)
        return out

    return rows(seen[:train_size]), rows(held_out[:dev_size]), leaked


def write_probe_tasks(
    output_dir: str | os.PathLike,
    cache_dir: str | os.PathLike | None = None,
    seed: int = 0,
    *,
    train_size: int = 3000,
    dev_size: int = 600,
) -> dict[str, Path]:
    """Write two GLUE-layout probe tasks with real labels; returns task name -> folder.

    * ``AUSTEN/{train,dev}.tsv`` — ``sentence\\tlabel``: which novel (0..5, :data:`AUSTEN_LABELS`)
      a passage of 1-3 sentences comes from; balanced; train and dev passages are disjoint.
    * ``WORDNET/{train,dev}.tsv`` — ``sentence1\\tsentence2\\tlabel``: an example sentence and a
      gloss; 1 if the example belongs to that gloss, 0 for a random other gloss of the same part
      of speech (:data:`WORDNET_LABELS`); balanced.

    Dev rows come from text in the pretraining *validation* split, so a model pretrained on
    ``builtin_text_files`` has not seen them. The 2% validation split of Austen yields only
    40-85 held-out passages per novel, so with the default ``dev_size`` about 250 of the 600
    AUSTEN dev rows are topped up from the pretraining train split (still disjoint from the
    probe's own train rows); ``task.json`` records the count as
    ``dev_rows_from_pretraining_train`` (0 for WORDNET). Files are tab-separated with a
    header and no quoting: read with ``datasets.load_dataset("csv", delimiter="\\t",
    quoting=csv.QUOTE_NONE)``.
    """
    for name, value, minimum in (("train_size", train_size, 2), ("dev_size", dev_size, 2)):
        if not isinstance(value, int) or value < minimum:
            raise ValueError(f"{name} must be an integer >= {minimum}, got {value!r}")
    corpus = load_builtin_corpus(cache_dir)
    output = Path(output_dir)
    tasks = {
        "AUSTEN": (("sentence", "label"), _austen_rows(corpus, train_size, dev_size, seed)),
        "WORDNET": (("sentence1", "sentence2", "label"), _wordnet_rows(corpus, train_size, dev_size, seed)),
    }
    written: dict[str, Path] = {}
    for task, (header, (train_rows, dev_rows, leaked)) in tasks.items():
        folder = output / task
        folder.mkdir(parents=True, exist_ok=True)
        _write_tsv(folder / "train.tsv", header, train_rows)
        _write_tsv(folder / "dev.tsv", header, dev_rows)
        info = {
            "task": task,
            "columns": list(PROBE_TASKS[task]["columns"]),
            "label_names": list(PROBE_TASKS[task]["label_names"]),
            "num_train": len(train_rows),
            "num_dev": len(dev_rows),
            "seed": seed,
            # dev rows taken from text in the pretraining *train* split (0 = no leakage)
            "dev_rows_from_pretraining_train": leaked,
        }
        _write_atomic(folder / "task.json", [json.dumps(info, indent=2)])
        if leaked:
            logger.warning(
                "%s: held-out text covers %d of %d dev rows; the other %d come from the pretraining train split",
                task,
                len(dev_rows) - leaked,
                len(dev_rows),
                leaked,
            )
        logger.info("Wrote probe task %s: %d train / %d dev rows in %s", task, len(train_rows), len(dev_rows), folder)
        written[task] = folder
    return written
