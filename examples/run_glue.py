#!/usr/bin/env python
"""Fine-tune / evaluate on GLUE (the script form of `cogito glue`).

    python examples/run_glue.py --model_name_or_path runs/my_cogito --output_dir runs/glue \
        --tasks mrpc stsb qqp mnli --heads via_decoder pair --selection heldout

    # local data in the GLUE download layout, a BERT baseline through the same code
    python examples/run_glue.py --model_name_or_path bert-base-uncased --output_dir runs/glue-bert \
        --tasks sst2 rte --data_dir ../shared/data/glue

    # zero-shot STS-B: cosine of mean-pooled concept embeddings, no training
    python examples/run_glue.py --model_name_or_path runs/my_cogito --output_dir runs/stsb0 \
        --tasks stsb --heads zero_shot

Defaults follow the research protocol (lr 1e-5, batch 96, max length 128, linear schedule,
warmup 100, per-task epochs); `--help` lists every flag. Writes results.json and results.csv.
"""

import sys

from cogito.cli.glue import cli_main

if __name__ == "__main__":
    sys.exit(cli_main())
