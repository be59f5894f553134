#!/usr/bin/env bash
# Create (or reuse) the project-local .venv and install Cogito with everything it needs.
# torch is pinned to the CPU build that these machines carry on disk; elsewhere any
# torch>=2.4 satisfies pyproject.toml, so install the one that fits your hardware first.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
    "$PYTHON" -m venv .venv
fi
stamp=.venv/.cogito-installed
if [ ! -f "$stamp" ] || [ pyproject.toml -nt "$stamp" ] || [ requirements-pinned.txt -nt "$stamp" ]; then
    .venv/bin/python -m pip install --quiet --upgrade pip
    .venv/bin/python -m pip install --quiet -r requirements-pinned.txt
    .venv/bin/python -m pip install --quiet --no-deps -e .
    touch "$stamp"
fi
