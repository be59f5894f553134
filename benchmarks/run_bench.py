"""Thin wrapper: `python benchmarks/run_bench.py [options]` is `cogito bench [options]`."""

from __future__ import annotations

import sys

from cogito.bench import cli_main

if __name__ == "__main__":
    sys.exit(cli_main(sys.argv[1:]))
