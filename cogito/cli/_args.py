"""How every ``cogito`` sub-command takes its arguments and reports bad ones.

* Arguments are dataclass fields parsed by `transformers.HfArgumentParser` (`parse`), so a
  setting has one spelling everywhere (`--model_name_or_path`, `--output_dir`, `--concept_num`).
  Old spellings a command used to take are rewritten to the current one before parsing
  (`aliases`), and are not listed by `--help`.
* `--recipe NAME` splices a recipe's section in front of the user's flags
  (`cogito.training.recipes.apply_recipe`).
* A user error (a bad flag, a `ValueError` naming a bad value, a missing file) ends the command
  with exit code 2 and one line `cogito <command>: error: <message>` on stderr, no traceback
  (`cli_command`). Anything else is a bug and keeps its traceback.
"""

from __future__ import annotations

import functools
import re
import sys
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from transformers import HfArgumentParser

USER_ERROR_EXIT = 2
# Exceptions that mean "the input was wrong", never "the code is wrong".
USER_ERRORS: tuple[type[BaseException], ...] = (
    ValueError,
    FileNotFoundError,
    NotADirectoryError,
    IsADirectoryError,
)


class UsageError(ValueError):
    """A command line argparse refused (unknown flag, missing value, bad type or choice)."""


class CommandLineParser(HfArgumentParser):
    """`HfArgumentParser` that raises `UsageError` instead of printing usage and exiting."""

    def error(self, message: str):  # argparse's hook for every parse error
        raise UsageError(message)


def _rewrite_aliases(argv: Iterable[str], aliases: Mapping[str, str]) -> list[str]:
    out = []
    for arg in argv:
        flag, sep, value = arg.partition("=")
        if flag in aliases:
            arg = aliases[flag] + sep + value
        out.append(arg)
    return out


def parse(
    command: str,
    dataclass_types: Sequence[type],
    argv: Sequence[str],
    description: str | None = None,
    aliases: Mapping[str, str] | None = None,
) -> tuple[Any, ...]:
    """Parse `argv` into one instance of each dataclass (their `__post_init__` checks run here)."""
    # No abbreviations: `--hub_tok X` must not silently mean `--hub_token` (nor escape its redaction).
    parser = CommandLineParser(
        list(dataclass_types), prog=f"cogito {command}", description=description, allow_abbrev=False
    )
    *parsed, unknown = parser.parse_args_into_dataclasses(
        args=_rewrite_aliases(argv, aliases or {}), return_remaining_strings=True
    )
    if unknown:
        raise UsageError(f"unrecognized arguments: {' '.join(unknown)}")
    return tuple(parsed)


def check_output_dir(flag: str, value: str | None) -> None:
    """Refuse an output folder that is an existing file, before any work is done."""
    if value is not None and Path(value).exists() and not Path(value).is_dir():
        raise ValueError(f"{flag} {value} is a file, not a folder: choose another path")


def check_output_file(flag: str, value: str) -> None:
    """Refuse an output file that is an existing folder, before any work is done."""
    if Path(value).is_dir():
        raise ValueError(f"{flag} {value} is a folder: give the path of the file to write")


# A Hub repo id: `name` or `namespace/name` (what huggingface_hub accepts).
_HUB_ID = re.compile(r"(?:[A-Za-z0-9][\w.-]{0,95}/)?[A-Za-z0-9][\w.-]{0,95}")


def check_model_source(flag: str, value: str, needs: str = "config.json") -> None:
    """Refuse, naming the flag, a model source no loader could use: a path that is not there, a file,
    a folder without `needs`, or a Hub id while the Hub is offline with no cached copy.

    (transformers would say "Repo id must be in the form ..." for a missing local path.)
    """
    path = Path(value).expanduser()
    if path.exists():
        if not path.is_dir():
            raise ValueError(f"{flag} {value} is a file: give a saved model folder or a Hub model id")
        if not (path / needs).is_file():
            raise ValueError(f"{flag} {value} has no {needs}: is it a saved model folder?")
        from cogito._io import check_safetensors

        for weights in sorted(path.glob("*.safetensors")):
            try:
                check_safetensors(weights)
            except ValueError as error:
                raise ValueError(f"{flag} {value}: {error}") from None
        return
    if value.startswith(("/", ".", "~")) or not _HUB_ID.fullmatch(value):
        raise ValueError(f"{flag} {value}: no such folder (nor a Hub model id such as namespace/name)")
    from huggingface_hub import constants, try_to_load_from_cache

    if constants.HF_HUB_OFFLINE and not isinstance(try_to_load_from_cache(value, needs), str):
        raise ValueError(
            f"{flag} {value}: no such folder here, and the Hub is offline (HF_HUB_OFFLINE=1) with no cached "
            "copy of it: give a local folder, or download it while online"
        )


def check_folder_code(flag: str, value: str, trust_remote_code: bool) -> None:
    """Refuse a local non-Cogito folder whose config.json points at Python code of its own (auto_map),
    unless `--trust_remote_code` allows running it. (A Cogito folder loads with Cogito's classes.)"""
    config_file = Path(value).expanduser() / "config.json"
    if trust_remote_code or not config_file.is_file():
        return
    import json

    try:
        config = json.loads(config_file.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise ValueError(f"{flag} {value}: config.json is not valid JSON ({error})") from None
    if not isinstance(config, dict):
        raise ValueError(f"{flag} {value}: config.json is not a JSON object")
    if config.get("auto_map") and config.get("model_type") != "cogito":
        raise ValueError(
            f"{flag} {value} is a {config.get('model_type')!r} model that ships its own Python code "
            f"({', '.join(sorted(config['auto_map']))}); pass --trust_remote_code true to run it"
        )


def user_error_line(command: str, error: BaseException) -> str:
    """`cogito <command>: error: <message>` on one line."""
    message = " ".join(str(error).split()) if not isinstance(error, OSError) or not error.filename else None
    if message is None:  # FileNotFoundError & co.: "<reason>: <file>"
        message = f"{error.strerror or error}: {error.filename}"
    return f"cogito {command}: error: {message}"


def cli_command(command: str) -> Callable[[Callable[[list[str]], int | None]], Callable[..., int]]:
    """Decorate `main(argv) -> exit code` as the command's `cli_main(argv=None)` with one-line user errors."""

    def decorate(main: Callable[[list[str]], int | None]) -> Callable[..., int]:
        @functools.wraps(main)
        def cli_main(argv: Sequence[str] | None = None) -> int:
            argv = list(sys.argv[1:] if argv is None else argv)
            try:
                return int(main(argv) or 0)
            except USER_ERRORS as error:
                print(user_error_line(command, error), file=sys.stderr)
                return USER_ERROR_EXIT

        return cli_main

    return decorate
