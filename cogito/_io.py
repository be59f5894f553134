"""Helpers shared by every layer: the one atomic write (a reader sees the old file or the new one,
never half of either), what counts as a saved tokenizer, and the git commit of the code."""

from __future__ import annotations

import contextlib
import json
import os
import stat
import struct
import subprocess
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any

# The project's run registry (the experiment log), relative to where the commands run.
DEFAULT_LOG = Path("experiments") / "experiment_log.md"
# Written by `cogito pretrain` into every run folder; ties the folder to its row of the log.
RUN_FILE = "cogito_run.json"

# Files a tokenizer may be saved as (fast and slow, WordPiece, BPE, SentencePiece).
TOKENIZER_FILES: tuple[str, ...] = (
    "tokenizer.json",
    "tokenizer_config.json",
    "special_tokens_map.json",
    "added_tokens.json",
    "vocab.txt",
    "vocab.json",
    "merges.txt",
    "tokenizer.model",
    "spiece.model",
    "sentencepiece.bpe.model",
)


def has_tokenizer_files(folder: str | os.PathLike[str]) -> bool:
    """Whether `folder` holds any saved-tokenizer file."""
    return any((Path(folder) / name).is_file() for name in TOKENIZER_FILES)


def current_umask() -> int:
    """The process umask (reading it means setting it: put straight back)."""
    mask = os.umask(0)
    os.umask(mask)
    return mask


def atomic_write(path: str | os.PathLike[str], write: Callable[[IO[Any]], Any], binary: bool = False) -> None:
    """Call ``write(handle)`` on a temp file beside ``path``, fsync it, then ``os.replace`` it over
    ``path``. The file keeps the mode an existing ``path`` had (else the umask's default); on any
    error the temp file is removed and ``path`` is untouched."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        options = {} if binary else {"encoding": "utf-8", "newline": ""}
        with os.fdopen(fd, "wb" if binary else "w", **options) as handle:
            write(handle)
            handle.flush()
            os.fsync(handle.fileno())
        mode = stat.S_IMODE(path.stat().st_mode) if path.exists() else 0o666 & ~current_umask()
        os.chmod(tmp, mode)  # mkstemp makes 0600 files
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def atomic_write_text(path: str | os.PathLike[str], text: str) -> None:
    """`atomic_write` of a string (UTF-8, newlines as given)."""
    atomic_write(path, lambda handle: handle.write(text))


def git_commit(folder: str | os.PathLike[str] | None = None) -> str | None:
    """The full commit hash checked out at ``folder`` (default: this package's source tree), or
    ``None`` outside a git checkout or without git."""
    cwd = Path(folder) if folder is not None else Path(__file__).resolve().parent
    try:
        result = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True, cwd=cwd, timeout=10)
    except (OSError, subprocess.SubprocessError):
        return None
    return (result.stdout.strip() or None) if result.returncode == 0 else None


def check_safetensors(path: Path) -> None:
    """Refuse a `.safetensors` file whose header is missing or promises more bytes than the file has
    (an empty, truncated or overwritten download): safetensors itself only says "header too small"."""
    size = path.stat().st_size
    problem = None
    with path.open("rb") as handle:
        prefix = handle.read(8)
        length = struct.unpack("<Q", prefix)[0] if len(prefix) == 8 else None
        if length is None or not 2 <= length <= size - 8:
            problem = f"it is {size} bytes, too short for its header"
        else:
            try:
                header = json.loads(handle.read(length))
                end = max((t["data_offsets"][1] for k, t in header.items() if k != "__metadata__"), default=0)
                if not isinstance(end, int) or isinstance(end, bool):
                    raise TypeError(end)
            except (ValueError, TypeError, KeyError, IndexError, AttributeError):
                problem = "its header is not valid safetensors JSON"
            else:
                if 8 + length + end > size:
                    problem = f"it is {size} bytes but its tensors need {8 + length + end}: it was cut short"
    if problem is not None:
        raise ValueError(f"{path} is not a complete safetensors file ({problem}): save or download it again")
