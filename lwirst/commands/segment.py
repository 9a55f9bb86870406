"""`lwirst segment IMAGE... --out DIR`: mask, overlay, heatmap and target tables per image.

Also holds the model / threshold / filter options that `lwirst video` shares.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import cv2
import numpy as np

from lwirst.errors import LwirstError

if TYPE_CHECKING:
    from lwirst.inference import Segmenter
    from lwirst.postprocess import TargetFilter

HELP = "Segment images: mask, overlay, heatmap and a targets table per image"


def add_model_arguments(parser: argparse.ArgumentParser) -> None:
    # Backend names are checked by Segmenter: importing lwirst.inference here would load
    # torch and make `--help` take seconds.
    group = parser.add_argument_group("model")
    group.add_argument("--model", type=Path, default=None,
                       help="checkpoint (.safetensors/.pt) or .onnx file (default: the shipped model)")
    group.add_argument("--backend", default="auto",
                       help="auto (default), torch, onnxruntime, opencv or openvino")
    group.add_argument("--protocol", default="auto", choices=("auto", "resize", "native"),
                       help="auto (default): resize frames of up to 2x the model area to the model size "
                            "(the paper's deployment), run larger frames at native size; or force one")
    group.add_argument("--threads", type=int, default=None, help="CPU threads for inference")
    add_bf16_argument(group)


def add_bf16_argument(parser: argparse.ArgumentParser | argparse._ArgumentGroup) -> None:
    parser.add_argument("--bf16", action="store_true",
                        help="compute in bfloat16 on OpenVINO (CPUs with native AVX512_BF16/AMX; "
                             "`lwirst bench` measures its speed and mIoU)")


def engine_from_args(args: argparse.Namespace) -> dict[str, object]:
    """`Segmenter` keyword arguments of --backend and --bf16."""
    from lwirst.inference import engine_choice

    return engine_choice(args.backend, args.bf16)


def add_postprocess_arguments(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("post-processing (paper Eqs. 2 and 4)")
    which = group.add_mutually_exclusive_group()
    which.add_argument("--threshold", type=float, default=None,
                       help="logit threshold Th (default 0, i.e. probability 0.5)")
    which.add_argument("--probability", type=float, default=None,
                       help="threshold given as a probability in (0, 1) instead")
    group.add_argument("--min-size", type=float, default=None, help="drop targets of size <= m pixels")
    group.add_argument("--max-size", type=float, default=None, help="drop targets of size >= k pixels")
    group.add_argument("--min-ratio", type=float, default=None, help="drop targets of width/height <= l")
    group.add_argument("--max-ratio", type=float, default=None, help="drop targets of width/height >= n")


def threshold_from_args(args: argparse.Namespace) -> float:
    from lwirst.postprocess import threshold_from_probability

    if args.probability is not None:
        return threshold_from_probability(args.probability)
    return 0.0 if args.threshold is None else args.threshold


def filter_from_args(args: argparse.Namespace) -> TargetFilter:
    from lwirst.postprocess import TargetFilter

    return TargetFilter(args.min_size, args.max_size, args.min_ratio, args.max_ratio)


def make_segmenter(args: argparse.Namespace) -> Segmenter:
    # Imported here, not at the top, so `lwirst segment --help` does not load torch.
    from lwirst.inference import Segmenter

    return Segmenter(args.model, protocol=args.protocol, threads=args.threads, **engine_from_args(args))


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("images", nargs="+", type=Path, metavar="IMAGE", help="images to segment")
    parser.add_argument("--out", type=Path, required=True, help="output folder (created if missing)")
    parser.add_argument("--heatmap-scale", default="probability", choices=("probability", "logit"),
                        help="colour scale of the heatmap")
    add_model_arguments(parser)
    add_postprocess_arguments(parser)


def _output_stems(images: list[Path]) -> list[str]:
    """File stems, made unique (a/x.png and b/x.png -> x, x-2) so no output overwrites another."""
    seen: dict[str, int] = {}
    stems = []
    for image in images:
        count = seen.get(image.stem, 0) + 1
        seen[image.stem] = count
        stems.append(image.stem if count == 1 else f"{image.stem}-{count}")
    return stems


def _write_png(path: Path, image: np.ndarray) -> None:
    if not cv2.imwrite(str(path), image):
        raise LwirstError(f"{path}: could not be written")


def run(args: argparse.Namespace) -> int:
    from lwirst.drawing import heatmap, mask_image, overlay
    from lwirst.imageio import read_image
    from lwirst.pipeline import FramePipeline

    pipeline = FramePipeline(make_segmenter(args), threshold_from_args(args), filter_from_args(args))
    try:
        args.out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise LwirstError(f"{args.out}: cannot create the output folder ({exc.strerror})") from exc
    describe = getattr(pipeline.segmenter, "describe", dict)()
    failed = 0
    for path, stem in zip(args.images, _output_stems(args.images), strict=True):
        try:
            image = read_image(path)
            result = pipeline.process(image)
        except LwirstError as exc:
            print(f"error: {exc}", file=sys.stderr)
            failed += 1
            continue
        base = args.out / stem
        kept_ids = {t.id for t in result.kept}
        record = {
            "image": str(path), "width": int(image.shape[1]), "height": int(image.shape[0]),
            "threshold": result.threshold, "filter": result.target_filter.to_dict(),
            "model": describe, "found": len(result.detections),
            "dropped_ids": [t.id for t in result.detections if t.id not in kept_ids],
            "targets": [t.to_dict() for t in result.kept],
        }
        try:
            _write_png(args.out / f"{stem}_mask.png", mask_image(result.kept.mask))
            _write_png(args.out / f"{stem}_overlay.png", overlay(image, result.kept))
            _write_png(args.out / f"{stem}_heatmap.png", heatmap(result.saliency, args.heatmap_scale))
            result.kept.to_frame().to_csv(args.out / f"{stem}_targets.csv", index=False)
            (args.out / f"{stem}_targets.json").write_text(json.dumps(record, indent=2), encoding="utf-8")
        except OSError as exc:
            raise LwirstError(f"{args.out}: cannot write the results ({exc.strerror})") from exc
        print(f"{path}: {len(result.kept)} targets ({len(result.detections)} found) -> {base}_*")
    if failed:
        print(f"{failed} of {len(args.images)} images failed", file=sys.stderr)
        return 1
    return 0
