"""`lwirst demo`: the shipped model on the embedded sample scenes, no download needed."""

from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from lwirst.commands.segment import (
    add_backend_argument,
    add_confirm_argument,
    add_mask_threshold_argument,
    add_polarity_argument,
    add_threads_argument,
    add_zones_arguments,
    confirmation,
    output_stems,
    zones_from_args,
)
from lwirst.datasets import read_truth
from lwirst.errors import LwirstError
from lwirst.imageio import (
    check_frame_file,
    flat_pairs,
    image_files,
    mask_stem,
    read_image,
    require_image_files,
    write_png,
)
from lwirst.paths import SAMPLES_DIR
from lwirst.validate import check_outputs

if TYPE_CHECKING:
    from lwirst.metrics import TargetMatch

SAMPLES = SAMPLES_DIR / "images"
OUTPUTS = ("_overlay.png", "_heatmap.png")
DEFAULT_OUT = Path("lwirst-demo")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--images", type=Path, default=SAMPLES, help="folder of images (default: embedded samples)")
    parser.add_argument("--model", help="checkpoint or ONNX file (default: the shipped model)")
    add_backend_argument(parser)
    add_threads_argument(parser)
    add_confirm_argument(parser)
    add_polarity_argument(parser)
    add_zones_arguments(parser)
    add_mask_threshold_argument(parser)
    parser.add_argument("--out", type=Path, default=None,
                        help="folder for the overlays and heatmaps (default: ./lwirst-demo, created if missing and "
                             "refreshed by each run)")
    parser.add_argument("--force", action="store_true", help="overwrite outputs that already exist in --out")


def run(args: argparse.Namespace) -> int:
    from lwirst.drawing import heatmap, overlay  # here, not at import: `lwirst demo --help` loads no runtime
    from lwirst.eval_protocol import FrameTally
    from lwirst.inference import Segmenter
    from lwirst.metrics import match_targets
    from lwirst.pipeline import FramePipeline

    if not args.images.is_dir():
        raise LwirstError(f"{args.images} is not a folder of images")
    named = args.images  # the folder the user gave, an input whole: its masks/ too (the default --out lay in it)
    if not image_files(args.images) and (args.images / "images").is_dir():
        args.images = args.images / "images"  # a dataset's folder (images/ beside masks/), as evaluate takes it
        print(f"images from {args.images}/")
    paths = require_image_files(args.images)
    # the default folder is the demo's own, so a second `lwirst demo` refreshes it; inputs stay protected either way
    force = args.force or args.out is None
    args.out = args.out or DEFAULT_OUT
    stems = output_stems(paths)
    planned = [args.out / f"{stem}{suffix}" for stem in stems for suffix in OUTPUTS]
    check_outputs({"--out": planned}, [named, args.images, args.model, args.ignore_mask], force=force,
                  folders={"--out": args.out})
    segmenter = Segmenter(args.model, backend=args.backend, threads=args.threads, polarity=args.polarity,
                          ignore=zones_from_args(args), **confirmation(args))
    pipeline = FramePipeline(segmenter)
    try:
        args.out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise LwirstError(f"cannot create {args.out}: {exc.strerror}") from exc
    info = segmenter.describe()
    print(f"model {info.model}  backend {info.backend}  protocol {info.protocol} {info.recorded_size}")
    masks = truth_files(args.images)
    tally = FrameTally()  # how the frames ran, said as `evaluate` says it
    print(f"{'image':<24}{'targets':>8}{'truth':>7}{'found':>7}   centroids (x, y) / size px")
    totals = DemoTotals()
    failed = unscored = unmasked = 0
    for path, stem in zip(paths, stems, strict=True):
        try:  # a bad image is one line, and the others go on (as `segment` does)
            check_frame_file(path)  # too small to segment: refused as `segment` and evaluate's datasets refuse it
            image = read_image(path)
            truth_mask = _truth(masks.get(path), image.shape[:2], args.mask_threshold, path.name)
            result = pipeline.process(image)
            write_png(args.out / f"{stem}_overlay.png", overlay(image, result.kept, ignored=result.saliency.ignored))
            write_png(args.out / f"{stem}_heatmap.png", heatmap(result.saliency, targets=result.kept))
        except LwirstError as exc:
            print(f"error: {exc}{_drop_outputs(args.out, stem)}", file=sys.stderr)
            failed += 1
            continue
        tally.add(result.saliency)
        truth = found = "-"
        if truth_mask is not None:
            match = match_targets(result.kept.mask, truth_mask)
            totals.add(match)
            truth, found = str(len(match.gt_areas)), str(int((match.gt_match >= 0).sum()))
        elif path in masks:
            unscored += 1
        elif masks:
            unmasked += 1
        where = ", ".join(f"({t.x:.0f},{t.y:.0f})/{t.size}" for t in result.kept)
        print(f"{path.name:<24}{len(result.kept):>8}{truth:>7}{found:>7}   {where}")
    if tally.ran:
        ran = tally.record(info)
        print(f"protocol as applied: {ran.applied_protocol(info)}{ran.reading_text(info)}{tally.margin_text(info)}")
    if totals.frames:
        print(totals.line())
    if unscored:
        print(f"{unscored} image(s) segmented unscored: their masks could not be used (warned above)")
    if unmasked:
        print(f"{unmasked} image(s) segmented unscored: no mask of their name beside the others' (truth -)")
    if tally.ran and not masks:
        print("no ground truth found (masks/NAME.png beside the images' folder, or NAME_mask.png beside each "
              "image): targets are listed, none scored (truth -)")
    if tally.ran:
        print(f"overlays and heatmaps written to {args.out}/ (truth/found: ground-truth targets and those "
              "detected, DNANet rule: a blob whose centroid lies within 3 px of the target's)")
    if failed:
        print(f"{failed} of {len(paths)} images failed", file=sys.stderr)
        return 1
    return 0


def _drop_outputs(out: Path, stem: str) -> str:
    """Remove a failed image's outputs, so the folder never shows an earlier run's (or half of this run's) pictures
    as this run's; they are the demo's own: existing outputs were refused unless the run replaces them."""
    dropped = [path for path in (out / f"{stem}{suffix}" for suffix in OUTPUTS) if path.is_file()]
    for path in dropped:
        path.unlink()
    return f" (its earlier outputs in {out}/ removed)" if dropped else ""


def _truth(mask: Path | None, shape: tuple[int, int], threshold: float | None, name: str) -> np.ndarray | None:
    """Image `name`'s ground truth (`datasets.read_truth`), or None: none beside it, or one that cannot be used (a
    warning naming the image: it is still segmented, unscored, as a dataset's frame with an unusable mask is)."""
    if mask is None:
        return None
    try:
        return read_truth(mask, shape, threshold, name)
    except LwirstError as exc:
        print(f"warning: {exc}", file=sys.stderr)
        return None


def truth_files(images: Path) -> dict[Path, Path]:
    """Image -> its ground-truth mask, where there is one: in a sibling masks/ folder (NAME.png, NAME_mask.png
    or NAME_pixels0.png, as datasets match them), or beside it in a flat folder (`imageio.flat_pairs`)."""
    pairs = flat_pairs(images)
    if pairs is not None:
        return {frame: mask for frame, mask in pairs if mask.is_file()}
    folder = images.parent / "masks"
    by_stem = {mask_stem(p): p for p in image_files(folder)} if folder.is_dir() else {}
    return {frame: by_stem[frame.stem] for frame in image_files(images) if frame.stem in by_stem}


@dataclass
class DemoTotals:
    """Targets found and false alarms over the frames that have ground truth, against the demo's bar:
    at least 90 % of the targets found with at most one false alarm per ten frames."""

    frames: int = 0
    targets: int = 0
    found: int = 0
    false_alarms: int = 0

    def add(self, match: TargetMatch) -> None:
        self.frames += 1
        self.targets += len(match.gt_areas)
        self.found += int((match.gt_match >= 0).sum())
        self.false_alarms += int((~match.pred_matched).sum())

    @property
    def met(self) -> bool:
        return self.found >= 0.9 * self.targets and self.false_alarms <= 0.1 * self.frames

    def line(self) -> str:
        share = self.found / self.targets if self.targets else 1.0
        return (f"found {self.found} of {self.targets} targets ({share:.0%}), {self.false_alarms} false alarm(s) "
                f"in {self.frames} frames ({self.false_alarms / self.frames:.2f} per frame); demo bar "
                f"(>= 90 % found, <= 0.1 false alarms per frame): {'met' if self.met else 'NOT met'}")
