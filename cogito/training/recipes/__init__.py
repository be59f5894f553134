"""Recipes: one YAML file per run of the research log, named by the run's id.

A recipe records how its run was made, read from the research training scripts as they were at
the run's date (`sources:`): the `pretrain` arguments (the flags of `cogito pretrain`), the
model's `config:` fields, the launch (`processes`, `effective_batch_size`), the masking, what is
not known (`unknown:`), and the `glue` protocol that produced the row's scores (`glue_honest`:
the honest selection to run next to it).

`cogito pretrain --recipe RUN_ID [flags]` starts from the recipe and lets every flag on the
command line override it; `--dry_run` prints the resolved arguments and the recipe's protocol.
Each recipe also has a short family name (`alias:`, e.g. `perceiver_mlm_l6`) that selects it.
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any

import yaml

from cogito.configuration_cogito import CogitoConfig

RECIPE_DIR = Path(__file__).parent
# Recipe keys that describe the run rather than feed a command's flags.
PROTOCOL_KEYS = (
    "log_run",
    "alias",
    "date",
    "machine",
    "launch",
    "processes",
    "effective_batch_size",
    "masking",
    "sources",
    "unknown",
    "glue_honest",
)


@functools.cache
def _recipe_files() -> dict[str, Path]:
    """Every selectable name (file stem and its alias) → its YAML file."""
    files: dict[str, Path] = {}
    for path in sorted(RECIPE_DIR.glob("*.yaml")):
        files[path.stem] = path
        alias = _read(path).get("alias")
        if alias:
            files[alias] = path
    return files


def _read(path: Path) -> dict[str, Any]:
    return yaml.safe_load(path.read_text()) or {}


def list_recipes() -> list[str]:
    """One name per recipe: its short family name (e.g. `perceiver_mlm_l6`), else its file name."""
    return sorted(_read(path).get("alias") or path.stem for path in RECIPE_DIR.glob("*.yaml"))


def list_run_recipes() -> list[str]:
    """The run ids of the research log that have a recipe (the recipe's file is named by it)."""
    return sorted(path.stem for path in RECIPE_DIR.glob("*.yaml") if _read(path).get("log_run") == path.stem)


def load_recipe(name_or_path: str | Path) -> dict[str, Any]:
    """A recipe by run id, by short name, or by path to a YAML file."""
    path = Path(name_or_path)
    if path.suffix not in (".yaml", ".yml"):
        path = _recipe_files().get(str(name_or_path), RECIPE_DIR / f"{name_or_path}.yaml")
    if not path.is_file():
        raise ValueError(
            f"unknown recipe {str(name_or_path)!r}; recipes: {', '.join(list_recipes())}, "
            f"or a run id of the research log: {', '.join(list_run_recipes())} (or a path to a .yaml)"
        )
    recipe = yaml.safe_load(path.read_text())
    if not isinstance(recipe, dict) or not isinstance(recipe.get("pretrain"), dict):
        raise ValueError(f"recipe {path} has no 'pretrain' mapping")
    if "config_overrides" in recipe["pretrain"]:
        raise ValueError(f"recipe {path}: put CogitoConfig fields under 'config:', not pretrain.config_overrides")
    recipe["name"] = path.stem
    return recipe


def _config_fields() -> set[str]:
    return set(CogitoConfig().to_dict())


def applied_config(recipe: dict[str, Any]) -> dict[str, Any]:
    """The recipe's `config:` fields this Cogito's `CogitoConfig` has (passed as `--config_overrides`)."""
    fields = _config_fields()
    return {key: value for key, value in (recipe.get("config") or {}).items() if key in fields}


def pending_config(recipe: dict[str, Any]) -> dict[str, Any]:
    """The recipe's `config:` fields this `CogitoConfig` does not have yet: not applied, reported by --dry_run."""
    fields = _config_fields()
    return {key: value for key, value in (recipe.get("config") or {}).items() if key not in fields}


def _flag_value(value: Any) -> str:
    return str(value).lower() if isinstance(value, bool) or value is None else str(value)


def recipe_argv(recipe: dict[str, Any], section: str = "pretrain") -> list[str]:
    """The recipe's section as command-line flags, ready to be followed by user overrides.

    For `pretrain`, the `config:` fields `CogitoConfig` has become one `--config_overrides`
    (a `--config_overrides` on the command line replaces it as a whole).
    """
    argv: list[str] = []
    for key, value in recipe[section].items():
        if isinstance(value, list):
            argv.append(f"--{key}")
            argv.extend(str(item) for item in value)
            continue
        argv += [f"--{key}", _flag_value(value)]
    config = applied_config(recipe) if section == "pretrain" else {}
    if config:
        argv += ["--config_overrides", ",".join(f"{key}={_flag_value(value)}" for key, value in config.items())]
    return argv


def recipe_protocol(recipe: dict[str, Any]) -> dict[str, Any]:
    """What `--dry_run` prints besides the parsed flags: the run's launch, masking, sources and unknowns."""
    protocol = {key: recipe.get(key) for key in ("name", "description", *PROTOCOL_KEYS)}
    protocol["config_pending"] = pending_config(recipe)
    protocol["glue"] = recipe.get("glue")
    return protocol


def recipe_warnings(recipe: dict[str, Any], training_args: Any) -> list[str]:
    """What a run from the recipe will not reproduce: config fields this Cogito lacks, another effective batch."""
    warnings = []
    pending = pending_config(recipe)
    if pending:
        warnings.append(
            f"recipe {recipe['name']}: this CogitoConfig has no field {', '.join(pending)}; "
            "that part of the research layout is not reproduced"
        )
    batch = (
        training_args.per_device_train_batch_size
        * training_args.gradient_accumulation_steps
        * training_args.world_size
    )
    if recipe.get("effective_batch_size") and batch != recipe["effective_batch_size"]:
        warnings.append(
            f"recipe {recipe['name']} ran with an effective batch of {recipe['effective_batch_size']} on "
            f"{recipe.get('processes')} processes; this run's is {batch} ({training_args.world_size} processes)"
        )
    return warnings


def split_recipe(argv: list[str]) -> tuple[str | None, list[str]]:
    """``argv`` → (the NAME of ``--recipe NAME`` or ``--recipe=NAME``, else None; the other arguments)."""
    argv = list(argv)
    for at, arg in enumerate(argv):
        if arg == "--recipe":
            if at + 1 >= len(argv) or argv[at + 1].startswith("--"):
                raise ValueError("--recipe needs a name or a path; recipes: " + ", ".join(list_recipes()))
            return argv[at + 1], argv[:at] + argv[at + 2 :]
        if arg.startswith("--recipe="):
            return arg.split("=", 1)[1], argv[:at] + argv[at + 1 :]
    return None, argv


def apply_recipe(argv: list[str], section: str = "pretrain") -> list[str]:
    """``argv`` with ``--recipe NAME`` (or ``--recipe=NAME``) replaced by the recipe's ``section``
    as flags, placed first so that every flag on the command line overrides it."""
    name, rest = split_recipe(argv)
    if name is None:
        return rest
    recipe = load_recipe(name)
    if not isinstance(recipe.get(section), dict):
        raise ValueError(f"recipe {recipe['name']!r} has no {section!r} section")
    return recipe_argv(recipe, section) + rest
