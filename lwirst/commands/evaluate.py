"""`lwirst evaluate`: score a model on a dataset split and write metrics, per-image table and curves."""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path

from tqdm import tqdm

from lwirst.commands.segment import add_bf16_argument, engine_from_args
from lwirst.datasets import open_dataset
from lwirst.errors import LwirstError
from lwirst.evaluate import evaluate, summary_lines
from lwirst.inference import Segmenter
from lwirst.validate import check_outputs, check_writable_folder, number

OUTPUTS = ("metrics.json", "per_image.csv", "curves.json")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--model", help="checkpoint (.safetensors/.pt) or ONNX file (default: the shipped model)")
    parser.add_argument("--data-dir", help="dataset root (default: $LWIRST_DATA_DIR)")
    parser.add_argument("--dataset", default="sirst")
    parser.add_argument("--split", default="test")
    parser.add_argument("--backend", default="auto")
    add_bf16_argument(parser)
    parser.add_argument("--protocol", default="resize", choices=["resize", "native"])
    parser.add_argument("--size", type=number(int, lo=8, hi=4096), nargs=2, default=[256, 256], metavar=("H", "W"))
    parser.add_argument("--threshold", type=number(float, lo=-1e4, hi=1e4), default=0.0,
                        help="logit threshold (0 = probability 0.5)")
    parser.add_argument("--out", type=Path, help="write metrics.json, per_image.csv, curves.json here")
    parser.add_argument("--force", action="store_true", help="overwrite results already in --out")
    parser.add_argument("--no-cache", action="store_true", help="recompute even if a cached result exists")


def run(args: argparse.Namespace) -> int:
    if args.size[0] % 8 or args.size[1] % 8:
        raise LwirstError(f"--size {args.size[0]} {args.size[1]} must be multiples of 8")
    if args.out:
        data_root = args.data_dir or os.environ.get("LWIRST_DATA_DIR")
        check_outputs({"--out": [args.out / name for name in OUTPUTS]}, [args.model, data_root],
                      force=args.force, folders={"--out": args.out})
        check_writable_folder(args.out)  # an unwritable --out fails now, not after the scoring
    dataset = open_dataset(args.data_dir, args.dataset, args.split)
    segmenter = Segmenter(args.model, protocol=args.protocol, size=tuple(args.size), **engine_from_args(args))
    with tqdm(total=len(dataset), unit="img", leave=False) as bar:
        result = evaluate(segmenter, dataset, threshold=args.threshold, use_cache=not args.no_cache,
                          progress=lambda done, total: bar.update(done - bar.n))
    for line in summary_lines(result):
        print(line)
    if args.out:
        result.saliency = {}
        result.save(args.out)
        print(f"wrote {args.out}/metrics.json, per_image.csv, curves.json")
    else:
        print(json.dumps({k: round(v, 6) for k, v in result.metrics.items()}))
    return 0
