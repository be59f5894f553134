# The two entry points of the README. Both create or reuse the project-local .venv first and run
# offline (the demo uses W&B offline unless you are logged in).
export HF_HUB_OFFLINE ?= 1
export HF_DATASETS_OFFLINE ?= 1
export TRANSFORMERS_OFFLINE ?= 1

.PHONY: setup demo smoke lint test

setup:
	bash scripts/setup_env.sh

demo: setup
	.venv/bin/cogito demo

smoke: setup
	.venv/bin/cogito smoke

lint: setup
	.venv/bin/ruff format --check .
	.venv/bin/ruff check .

test: lint
	WANDB_MODE=offline .venv/bin/python -m pytest
