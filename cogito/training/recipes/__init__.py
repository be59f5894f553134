"""Recipes: one YAML file per run family of the research log.

A recipe holds the research protocol's `pretrain` arguments (the flags of `cogito pretrain`) and
the matching `glue` protocol. `cogito pretrain --recipe NAME [flags]` starts from the recipe and
lets every flag on the command line override it; `--dry-run` prints the resolved arguments.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

RECIPE_DIR = Path(__file__).parent


def list_recipes() -> list[str]:
    return sorted(path.stem for path in RECIPE_DIR.glob("*.yaml"))


def load_recipe(name_or_path: str | Path) -> dict[str, Any]:
    """A recipe by name (a file shipped here) or by path to a YAML file."""
    path = Path(name_or_path)
    if path.suffix not in (".yaml", ".yml"):
        path = RECIPE_DIR / f"{name_or_path}.yaml"
    if not path.is_file():
        raise ValueError(
            f"unknown recipe {str(name_or_path)!r}; recipes: {', '.join(list_recipes())} (or a path to a .yaml)"
        )
    recipe = yaml.safe_load(path.read_text())
    if not isinstance(recipe, dict) or not isinstance(recipe.get("pretrain"), dict):
        raise ValueError(f"recipe {path} has no 'pretrain' mapping")
    recipe["name"] = path.stem
    return recipe


def recipe_argv(recipe: dict[str, Any], section: str = "pretrain") -> list[str]:
    """The recipe's section as command-line flags, ready to be followed by user overrides."""
    argv: list[str] = []
    for key, value in recipe[section].items():
        if isinstance(value, bool):
            value = str(value).lower()
        elif isinstance(value, list):
            argv.append(f"--{key}")
            argv.extend(str(item) for item in value)
            continue
        argv += [f"--{key}", str(value)]
    return argv


def apply_recipe(argv: list[str], section: str = "pretrain") -> list[str]:
    """``argv`` with ``--recipe NAME`` (or ``--recipe=NAME``) replaced by the recipe's ``section``
    as flags, placed first so that every flag on the command line overrides it."""
    argv = list(argv)
    for at, arg in enumerate(argv):
        if arg == "--recipe" or arg.startswith("--recipe="):
            if arg == "--recipe":
                if at + 1 >= len(argv) or argv[at + 1].startswith("--"):
                    raise ValueError("--recipe needs a name or a path; recipes: " + ", ".join(list_recipes()))
                name, rest = argv[at + 1], argv[:at] + argv[at + 2 :]
            else:
                name, rest = arg.split("=", 1)[1], argv[:at] + argv[at + 1 :]
            recipe = load_recipe(name)
            if not isinstance(recipe.get(section), dict):
                raise ValueError(f"recipe {recipe['name']!r} has no {section!r} section")
            return recipe_argv(recipe, section) + rest
    return argv
