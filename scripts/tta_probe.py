"""Round 14b's judging run: one model on a suite with each test-time flip setting, in one process."""

from __future__ import annotations

import argparse
import json
import shlex
import sys
from pathlib import Path

import torch

from lwirst.inference import TTA_FLIPS, Segmenter
from lwirst.suite import SUITES, build_suite, evaluate_suite


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--model", required=True)
    parser.add_argument("--data-dir", required=True)
    parser.add_argument("--suite", choices=SUITES, default="xdomain")
    parser.add_argument("--tta", nargs="+", choices=TTA_FLIPS, default=list(TTA_FLIPS))
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    parts = build_suite(args.suite, args.data_dir)
    report: dict[str, object] = {"command": "python scripts/tta_probe.py " + shlex.join(sys.argv[1:]), "tta": {}}
    for tta in args.tta:
        result = evaluate_suite(Segmenter(args.model, backend="torch", tta=tta), parts)
        report["tta"][tta] = {"pd": result.pd, "blobs_per_empty_frame": result.blobs_per_empty_frame,
                              "empty_alarm_rate": result.empty_alarm_rate, "parts": result.rows()}
        print(tta, json.dumps({k: v for k, v in report["tta"][tta].items() if k != "parts"}), flush=True)
        args.out.write_text(json.dumps(report, indent=1))


if __name__ == "__main__":
    main()
