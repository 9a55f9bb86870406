"""`lwirst evaluate`: score a model on a dataset split and write metrics, per-image table and curves."""

from __future__ import annotations

import argparse
import dataclasses
import logging
import math
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from lwirst import jsonio
from lwirst.commands.progress import progress_bar
from lwirst.commands.segment import (
    add_backend_argument,
    add_engine_arguments,
    add_filter_arguments,
    add_mask_threshold_argument,
    add_size_argument,
    add_threads_argument,
    add_threshold_arguments,
    engine_from_args,
    filter_from_args,
    growth_from_args,
    run_line,
    size_from_args,
    threshold_from_args,
)
from lwirst.datasets import DATASET_HELP, SPLIT_HELP, SegDataset, open_dataset
from lwirst.errors import LwirstError
from lwirst.paths import DEFAULT_MODEL
from lwirst.polarity import DEFAULT as DEFAULT_POLARITY
from lwirst.postprocess import TargetFilter, describe_threshold, probability_of
from lwirst.rounding import DIGITS, round_floats
from lwirst.saliency import PROTOCOLS
from lwirst.scoring import metric_spec
from lwirst.suite import SUITES, build_suite, evaluate_suite
from lwirst.validate import check_outputs, number

if TYPE_CHECKING:
    from lwirst.inference import Segmenter

OUTPUTS = ("metrics.json", "per_image.csv", "curves.json")
log = logging.getLogger(__name__)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--model", help="checkpoint (.safetensors/.pt) or ONNX file (default: the shipped model)")
    parser.add_argument("--data-dir", help="dataset root (default: $LWIRST_DATA_DIR)")
    parser.add_argument("--dataset", default="sirst", help=DATASET_HELP)
    parser.add_argument("--split", default="test", help=SPLIT_HELP)
    add_backend_argument(parser)
    add_engine_arguments(parser)
    add_threads_argument(parser)
    parser.add_argument("--protocol", default="auto", choices=PROTOCOLS,
                        help="auto (default): resize frames of up to 2x the model area, but run those of at "
                             "most a quarter of it natively; above 2x, a pyramid: natively and at half size, maps "
                             "united")
    add_size_argument(parser, "; metrics are always scored at each image's own size")
    group = parser.add_argument_group("post-processing (paper Eqs. 2 and 4): the targets scored")
    add_threshold_arguments(group)
    add_filter_arguments(group)
    parser.add_argument("--out", type=Path, help="write metrics.json, per_image.csv, curves.json here")
    parser.add_argument("--force", action="store_true", help="overwrite results already in --out")
    parser.add_argument("--no-cache", action="store_true", help="recompute even if a cached result exists")
    parser.add_argument("--predictions", type=Path, default=None, metavar="DIR",
                        help="score another method's saved outputs instead of a model: one file per image of the "
                             "split, named by the image (PNG masks 0/255, 8/16-bit probability maps, or .npy "
                             "logits/probabilities), at each image's own size; or an `lwirst segment` output "
                             "folder (its _logits.npy from --save-logits, else its _mask.png)")
    add_mask_threshold_argument(parser)
    parser.add_argument("--suite", choices=SUITES,
                        help="score the cross-domain validation suite (built from SIRST val and generator "
                             "seeds training never draws) instead of --dataset/--split")
    parser.add_argument("--suite-frames", type=number(int, lo=1, hi=100_000), default=None, metavar="N",
                        help="score only the first N frames of each suite part (a quick look; the pooled "
                             "figures are then not the suite's)")


def run(args: argparse.Namespace) -> int:
    from lwirst.evaluate import EvaluationInterrupted, evaluate, evaluate_predictions, shown_iou, summary_lines

    if args.predictions is not None and (args.model or args.suite):
        raise LwirstError("--predictions scores saved outputs: it takes no --model or --suite")
    if args.predictions is not None and (args.polarity != DEFAULT_POLARITY or args.ignore or args.ignore_mask):
        raise LwirstError("--predictions scores saved outputs: --polarity, --ignore and --ignore-mask apply when a "
                          "model runs (an lwirst segment output records its own)")
    if args.suite_frames is not None and not args.suite:
        raise LwirstError("--suite-frames limits the parts of a --suite; name the suite too")
    if args.out:
        data_root = args.data_dir or os.environ.get("LWIRST_DATA_DIR")
        names = ("suite.json",) if args.suite else OUTPUTS
        check_outputs({"--out": [args.out / name for name in names]}, [args.model, data_root, args.ignore_mask],
                      force=args.force, folders={"--out": args.out})
    threshold, target_filter = threshold_from_args(args), filter_from_args(args)
    if args.suite:
        return _run_suite(args, threshold, target_filter)
    dataset = open_dataset(args.data_dir, args.dataset, args.split, mask_threshold=args.mask_threshold)
    segmenter = None if args.predictions is not None else _segmenter(args)
    # by pixels, not images: on a set of 512x512 to 1280x1024 frames the image count's time left read a quarter of
    # the real one (a 1280x1024 frame takes five times a 512x512 one)
    reach = np.cumsum(_megapixels(dataset))
    with progress_bar(total=float(reach[-1]), leave=False, bar_format="{desc}{percentage:3.0f}%|{bar}| image "
                      "{postfix} [{elapsed}<{remaining}]") as bar:
        def progress(done: int, total: int) -> None:
            bar.set_postfix_str(f"{done} of {total}", refresh=False)
            bar.update(float(reach[done - 1]) - bar.n)

        def storing() -> None:
            bar.set_description_str("storing the result and its maps in the cache: ")

        if segmenter is None:
            grown = {} if args.grow_to is None else {"grow_to": growth_from_args(args)}  # default: as drawn
            result = evaluate_predictions(args.predictions, dataset, threshold=threshold, progress=progress,
                                          target_filter=target_filter, **grown)
        else:
            try:
                result = evaluate(segmenter, dataset, threshold=threshold, use_cache=not args.no_cache,
                                  progress=progress, grow_to=growth_from_args(args), target_filter=target_filter,
                                  storing=storing, keep_saliency=False)  # the cache keeps them; nothing here reads them
            except EvaluationInterrupted as stopped:
                bar.close()
                print(f"interrupted: the maps of {stopped.kept} of {stopped.total} images are kept in the cache; the "
                      "same command (at any threshold or filter) goes on from them", file=sys.stderr)
                return 130
    for line in summary_lines(result):
        print(line)
    if result.cached:
        print("(from the evaluation cache: an earlier run of this model, data, protocol and code, whose fps these "
              "are; --no-cache scores it again)")
    if (source := result.protocol.rescored_from) is not None:
        print(f"(scored from the cached maps of this model's run on this data at threshold "
              f"{describe_threshold(source)}, without the network; the maps are stored in float16, so a pixel within "
              "rounding of the threshold can fall the other way: --no-cache runs the network)")
    if args.predictions is not None and result.protocol.run.input != "files":
        print(f"--predictions {args.predictions}: {result.protocol.run.input}")
    if args.out:
        result.saliency = {}
        result.per_image = shown_iou(result.per_image)  # IoU n/a where an empty frame stayed empty, as pages read it
        result.save(args.out, DIGITS)  # for people to read
        print(f"wrote {args.out}/metrics.json, per_image.csv, curves.json")
    else:
        print(jsonio.dumps(round_floats(result.metrics)))
    if segmenter is not None:
        _say_in_sample(args, dataset)
    return 0


def _say_in_sample(args: argparse.Namespace, dataset: SegDataset) -> None:
    """A line when images of the split are in the split the model's card says it trained on (SIRST val is in
    trainval), or the split of the weights it was fine-tuned from: their scores are in-sample."""
    from lwirst.modelcard import lineage_in_sample_note

    try:  # after the results are written: a card or record that cannot be read costs this note, not the run
        # a record's own data root too: the same files, by another name or root
        note = lineage_in_sample_note(args.data_dir, dataset, Path(args.model) if args.model else DEFAULT_MODEL,
                                      f"{dataset.name} {dataset.split}",
                                      lambda training: [training.data_dir] if training.data_dir else [])
    except (LwirstError, OSError) as exc:
        log.info("no training record to compare the split with: %s", exc)
        return
    if note:
        print(f"note: {note}")


def _cell(value: object, key: str) -> str:
    """A suite table's cell: a share as a percentage, a metric whose format is whole (a plugin's count of pixels
    read 51223.000) whole, any other number to three decimals."""
    if value is None:
        return "-"
    if isinstance(value, float):
        if key == "empty_alarm_rate":
            return f"{value:.1%}"
        return f"{value:.0f}" if metric_spec(key).fmt.endswith("d") else f"{value:.3f}"
    return str(value)


def _pooled(value: float | None, spec: str) -> str:
    """A pooled suite figure, "n/a" where the suite has no frame it is counted over (alarms holds no target)."""
    return "n/a" if value is None or math.isnan(value) else format(value, spec)


def _segmenter(args: argparse.Namespace) -> Segmenter:
    """The model the options name, loaded here, not at import: `lwirst evaluate --help` loads no runtime."""
    from lwirst.inference import Segmenter

    return Segmenter(args.model, protocol=args.protocol, size=size_from_args(args), threads=args.threads,
                     **engine_from_args(args))


def _run_suite(args: argparse.Namespace, threshold: float, target_filter: TargetFilter) -> int:
    parts = build_suite(args.suite, args.data_dir)
    if args.suite_frames:
        parts = [dataclasses.replace(part, count=min(part.count, args.suite_frames)) for part in parts]
    segmenter = _segmenter(args)
    grow_to = growth_from_args(args)
    with progress_bar(total=sum(len(p) for p in parts), unit="img", leave=False) as bar:
        result = evaluate_suite(segmenter, parts, threshold=threshold, grow_to=grow_to, target_filter=target_filter,
                                progress=lambda name, done, total: bar.update(1))
    info = segmenter.describe()
    said = f"  Eq. 4 filter {target_filter}" if target_filter.active else ""
    print(f"suite {args.suite}  {run_line(segmenter, threshold, grow_to)}{said}")
    rows = result.rows()
    header = tuple(rows[0]) if rows else ()  # the rows' own columns, a plugin metric's too
    print("  ".join(f"{h:>16}" for h in header))
    for row in rows:
        print("  ".join(f"{_cell(row[h], h):>16}" for h in header))
    if args.suite_frames:
        print(f"first {args.suite_frames} frame(s) of each part only: a quick look, not the suite's figures")
    print(f"pooled: Pd {_pooled(result.pd, '.4f')} (target parts)  false-alarm blobs per empty frame "
          f"{_pooled(result.blobs_per_empty_frame, '.3f')}  empty frames alarmed "
          f"{_pooled(result.empty_alarm_rate, '.1%')}")
    if args.out:
        args.out.mkdir(parents=True, exist_ok=True)
        summary = {"suite": args.suite, "frames_per_part": args.suite_frames, "model": info.to_json(),
                   "threshold": threshold, "threshold_probability": probability_of(threshold),
                   **({"filter": target_filter.to_dict()} if target_filter.active else {}), "parts": rows,
                   "pooled": {"pd": result.pd, "blobs_per_empty_frame": result.blobs_per_empty_frame,
                              "empty_alarm_rate": result.empty_alarm_rate}}
        (args.out / "suite.json").write_text(jsonio.dumps(round_floats(summary), indent=2))
        print(f"wrote {args.out}/suite.json")
    return 0


def _megapixels(dataset: SegDataset) -> list[float]:
    """Each image's megapixels from its header (no pixel decoded), 1 where it cannot say: the progress bar's
    weights."""
    from lwirst.imageio import read_header_size

    sizes = []
    for item in dataset.items:
        try:
            width, height = read_header_size(item.image)
        except (LwirstError, OSError):
            width = height = 1000
        sizes.append(width * height / 1e6)
    return sizes or [1.0]
