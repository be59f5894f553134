"""`python -m cogito.pretrain` (for `torchrun` and `accelerate launch`): the `cogito pretrain` command."""

import sys

from cogito.cli.pretrain import cli_main

if __name__ == "__main__":
    sys.exit(cli_main())
