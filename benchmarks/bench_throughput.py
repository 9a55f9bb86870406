"""Throughput of every backend and optimisation side by side: `lwirst bench` as a script.

    python benchmarks/bench_throughput.py --threads 1 2 --batch 1 8 --json bench.json
    python benchmarks/bench_throughput.py --quick      # CI smoke test, never a timing

Figures are only comparable within one run (see lwirst/bench.py).
"""

from __future__ import annotations

import sys

from lwirst.cli import main

if __name__ == "__main__":
    sys.exit(main(["bench", *sys.argv[1:]]))
