#!/usr/bin/env python
"""Masked-LM pretraining of a Cogito concept encoder (the script form of `cogito pretrain`).

    python examples/run_mlm.py --output_dir runs/demo --hidden_size 256 --num_hidden_layers 2 \
        --concept_num 64 --max_seq_length 128 --max_steps 500 \
        --concept_losses combined --loss_weighting kendall_gal

Every flag of `transformers.TrainingArguments` works, plus the model, data and concept-loss
flags listed by `--help`. With no data flag the built-in offline corpus is used. Distributed:
`torchrun --nproc_per_node 4 examples/run_mlm.py ...` or `accelerate launch examples/run_mlm.py ...`.
"""

import sys

from cogito.cli.pretrain import cli_main

if __name__ == "__main__":
    sys.exit(cli_main())
