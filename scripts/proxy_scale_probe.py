"""How suite large's alarm reading depends on the mosaics' reduction range (README, "The cross-domain
validation suite"): an exploration of the held-out alarm bar's proxy, not a round.

    python scripts/proxy_scale_probe.py --data-dir ../shared/data --model round8=R8.safetensors \\
        --model shipped=data/models/lwirst-sirst.safetensors --out probe.json

Suite large's target-free mosaics quilt 128-pixel pieces of SIRST val backgrounds reduced by a factor
drawn from 0.4-1.0. This re-quilts 80 fresh 1280x1024 frames per range (0.4-1.0 with the suite's own
seeds, so its first row reproduces suite large's empty part; 0.85-1.0 and 0.4-0.6 with seeds the suites
never use) and prints, per model, the share of frames alarmed and the false blobs per frame.
"""

from __future__ import annotations

import argparse
import json
import shlex
import sys
from pathlib import Path

import torch

from lwirst.bench import detect_cpu
from lwirst.inference import Segmenter
from lwirst.suite import evaluate_suite, reduction_probe


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", action="append", required=True, metavar="NAME=PATH")
    parser.add_argument("--data-dir", required=True)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    parts = reduction_probe(args.data_dir)
    report: dict[str, object] = {"command": "python scripts/proxy_scale_probe.py " + shlex.join(sys.argv[1:]),
                                 "host": detect_cpu().model, "models": {}}
    for spec in args.model:
        name, path = spec.split("=", 1)
        rows = evaluate_suite(Segmenter(path, backend="torch", margin=0), parts).rows()  # as it ran (before round 51)
        report["models"][name] = rows  # type: ignore[index]
        for row in rows:
            print(f"{name} {row['part']}: {row['empty_alarm_rate']:.1%} alarmed, "
                  f"{row['blobs_per_frame']:.3f} false blobs per frame", flush=True)
        args.out.write_text(json.dumps(report, indent=2) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
