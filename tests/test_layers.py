"""The import graph is layered: pretraining does not import the publishing code."""

from __future__ import annotations

import ast
import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def _modules_after_import(module: str) -> set[str]:
    code = f"import json, sys; import {module}; print(json.dumps(sorted(sys.modules)))"
    env = dict(os.environ, PYTHONPATH=str(REPO) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, cwd=REPO)
    assert result.returncode == 0, result.stderr[-3000:]
    return set(json.loads(result.stdout.strip().splitlines()[-1]))


def _imports_fcntl(module: str) -> bool:
    source = Path(importlib.util.find_spec(module).origin).read_text(encoding="utf-8")
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import) and any(alias.name == "fcntl" for alias in node.names):
            return True
        if isinstance(node, ast.ImportFrom) and node.module == "fcntl":
            return True
    return False


def test_pretraining_imports_no_publishing_code_and_no_fcntl():
    modules = _modules_after_import("cogito.training.pretrain")
    assert "cogito.training.pretrain" in modules  # the probe really imported it
    assert not {m for m in modules if m == "cogito.hub_cards" or m.startswith("cogito.hub_cards.")}
    assert not {m for m in modules if m.startswith("cogito.cli")}
    # POSIX-only fcntl must not be imported by any Cogito module pretraining loads (it must import
    # on Windows). `fcntl` itself is in sys.modules on Linux anyway: the standard library's
    # `subprocess` imports it there, so the check is on Cogito's own modules.
    cogito_modules = sorted(m for m in modules if m == "cogito" or m.startswith("cogito."))
    assert "cogito.training.trainer" in cogito_modules
    assert [m for m in cogito_modules if _imports_fcntl(m)] == []
    assert _imports_fcntl("cogito.hub_cards.log") or "filelock" in Path(
        importlib.util.find_spec("cogito.hub_cards.log").origin
    ).read_text(encoding="utf-8")  # the probe can see an import of fcntl where there is one


def test_evaluation_geometry_imports_neither_training_nor_publishing_code():
    modules = _modules_after_import("cogito.evaluation.geometry")
    assert "cogito.evaluation.geometry" in modules
    assert not {m for m in modules if m.startswith(("cogito.hub_cards", "cogito.cli", "cogito.training"))}


def test_glue_evaluation_imports_neither_publishing_nor_command_code():
    modules = _modules_after_import("cogito.evaluation.glue.run")
    assert "cogito.evaluation.glue.run" in modules
    assert not {m for m in modules if m.startswith(("cogito.hub_cards", "cogito.cli"))}
