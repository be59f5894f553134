"""Shared fixtures: a tiny config and a tiny real WordPiece tokenizer, and an offline world."""

from __future__ import annotations

import os

# Any accidental Hub access must fail in milliseconds, not retry for 20 s.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("WANDB_MODE", "offline")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
# transformers reads HF_HOME once, at import: dynamic modules from `trust_remote_code` must not
# land in (or be served from) the user's cache.
import tempfile  # noqa: E402

os.environ["HF_HOME"] = tempfile.mkdtemp(prefix="cogito-tests-hf-")

import subprocess
from pathlib import Path

import pytest
import torch

from cogito import CogitoConfig

SPECIAL_TOKENS = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
WORDS = (
    "the a an of and to in is was it that he she they his her with as for on be at by had not "
    "but from this which or have were are all one their so said there been would when who will "
    "more no if out what up into than them time only could new some these two may first any "
    "like then now its our over man such even most made after also did many before must through "
    "years where much your way well down should because each just those people how too little "
    "state good very make world still own see men work long get here between both life being "
    "under never day same another know while last might us great old year off come since against "
    "go came right used take three paris capital france city river house love letter sister"
).split()


def _repository_root() -> Path:
    """The main checkout of this repository: for a git worktree, the folder of the shared `.git`."""
    here = Path(__file__).resolve().parents[1]
    try:
        common = subprocess.run(
            ["git", "rev-parse", "--path-format=absolute", "--git-common-dir"],
            capture_output=True,
            text=True,
            cwd=here,
            timeout=10,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        common = ""
    return Path(common).parent if common.endswith(".git") else here


# The project's shared data (`../shared` beside the repository): GLUE-format tasks, the research log.
SHARED = Path(os.environ.get("COGITO_SHARED_DIR") or _repository_root().parent / "shared")


def shared_path(*parts: str) -> Path:
    """A file or folder under `SHARED`; the test fails (never skips) when it is missing."""
    path = SHARED.joinpath(*parts)
    if not path.exists():
        pytest.fail(
            f"{path} is missing: these tests read the project's shared data in ../shared beside the repository "
            "(set COGITO_SHARED_DIR to its location)",
            pytrace=False,
        )
    return path


@pytest.fixture(scope="session")
def glue_data() -> Path:
    """`../shared/data/glue`: real GLUE-format task folders (RTE, SST-2, ...)."""
    return shared_path("data", "glue")


@pytest.fixture(scope="session")
def tiny_tokenizer():
    """A real BERT-style WordPiece tokenizer over a small English vocabulary."""
    from transformers import BertTokenizer

    tokens = SPECIAL_TOKENS + WORDS + ["##s", "##ed", "##ing", ".", ","]
    tokenizer = BertTokenizer(vocab={token: i for i, token in enumerate(tokens)}, model_max_length=64)
    assert tokenizer.unk_token_id not in tokenizer("paris is a city")["input_ids"]
    return tokenizer


def tiny_config(**overrides) -> CogitoConfig:
    """vocab ~200, hidden 32, 8 concepts, 2 layers, no dropout: fast and deterministic."""
    values = dict(
        vocab_size=len(SPECIAL_TOKENS) + len(WORDS) + 5,
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=64,
        concept_num=8,
        max_position_embeddings=64,
        hidden_dropout_prob=0.0,
        attention_probs_dropout_prob=0.0,
        pad_token_id=0,
        cls_token_id=2,
        sep_token_id=3,
        mask_token_id=4,
    )
    values.update(overrides)
    return CogitoConfig(**values)


@pytest.fixture(scope="session")
def corpus_cache(tmp_path_factory):
    """The built-in corpus cache: $COGITO_CACHE when set (fetched once per machine), else per session."""
    if os.environ.get("COGITO_CACHE"):
        return Path(os.environ["COGITO_CACHE"]) / "corpus"
    return tmp_path_factory.mktemp("cogito_cache") / "corpus"


@pytest.fixture(scope="session")
def corpus_text_file(corpus_cache, tmp_path_factory):
    """A few thousand lines of the built-in corpus (real Austen + WordNet text) as one txt file."""
    from cogito.data.corpus import builtin_text_files

    files = builtin_text_files(corpus_cache)
    lines = files["train"].read_text().splitlines()[:4000]
    path = tmp_path_factory.mktemp("text") / "train.txt"
    path.write_text("\n".join(lines) + "\n")
    return path


@pytest.fixture
def seeded():
    torch.manual_seed(0)
