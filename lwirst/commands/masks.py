"""`lwirst masks`: ground-truth masks from box or point labels (CSV, YOLO, COCO, VOC), so that frames labelled
for detection become a dataset `lwirst evaluate` scores (`lwirst.labels`)."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from lwirst.errors import LwirstError
from lwirst.validate import check_outputs, number


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from lwirst.labels import FORMATS, POINT_RADIUS
    from lwirst.polarity import DEFAULT, LABEL_HELP, POLARITIES

    add = parser.add_argument
    add("--images", required=True, type=Path, help="the folder of the labelled frames (PNG, JPEG, BMP, TIFF)")
    add("--labels", required=True, type=Path,
        help="the labels: a CSV (image, x, y[, w, h] in pixels), a COCO JSON file, or a folder of YOLO NAME.txt or "
             "VOC NAME.xml files; an image without labels is target-free")
    add("--out", required=True, type=Path,
        help="the folder to write NAME.png masks into; masks/ beside the images' folder makes their parent a dataset "
             "(`lwirst evaluate --data-dir PARENT --dataset folder --split all`)")
    add("--format", choices=FORMATS, default="auto", help="the labels' format (default: told from --labels)")
    add("--point-radius", type=number(int, lo=1, hi=64), default=POINT_RADIUS,
        help="a point label's target is looked for within this many pixels of it (default %(default)d)")
    add("--polarity", choices=POLARITIES, default=DEFAULT, help=LABEL_HELP)
    add("--force", action="store_true", help="overwrite masks an earlier run wrote in --out")


def run(args: argparse.Namespace) -> int:
    from lwirst.imageio import image_files, read_header_size, read_image, to_gray, write_png
    from lwirst.labels import derive_mask, read_labels
    from lwirst.polarity import BLACK_HOT

    if not args.images.is_dir():
        raise LwirstError(f"--images {args.images}: not a folder")
    frames = image_files(args.images)
    if not frames:
        raise LwirstError(f"--images {args.images}: holds no image (PNG, JPEG, BMP or TIFF)")
    stems: dict[str, Path] = {}
    for frame in frames:
        if frame.stem in stems:
            raise LwirstError(f"--images: {stems[frame.stem].name} and {frame.name} share one name, so a label "
                              "cannot tell them apart; keep one of them")
        stems[frame.stem] = frame
    sizes = {stem: read_header_size(path)[::-1] for stem, path in stems.items()}  # (H, W), no pixel decoded
    labels = read_labels(args.labels, sizes, args.format)
    outputs = [args.out / f"{stem}.png" for stem in stems]
    if args.out.resolve() == args.images.resolve():
        raise LwirstError(f"--out {args.out}: is the images' folder; masks go into a folder of their own")
    beside = args.out.resolve().parent if args.out.resolve().parent / "images" == args.images.resolve() else None
    check_outputs({"--out": outputs}, [args.labels, *frames], force=args.force, folders={"--out": args.out},
                  own_dataset=beside)
    _check_strays(args.out, set(stems))
    targets = outside = flat = 0
    for (stem, path), out in zip(stems.items(), outputs, strict=True):
        frame = read_image(path)
        grey = frame if frame.ndim == 2 and frame.dtype == np.uint16 else to_gray(frame)
        if args.polarity == BLACK_HOT:
            grey = np.iinfo(grey.dtype).max - grey
        derived = derive_mask(grey, labels[stem], args.point_radius)
        targets += len(labels[stem]) - derived.outside
        outside, flat = outside + derived.outside, flat + derived.flat
        args.out.mkdir(parents=True, exist_ok=True)
        write_png(out, derived.mask.astype(np.uint8) * 255)
    _record(args.out, stems, args.labels)
    empty = sum(not found for found in labels.values())
    print(f"masks: {len(outputs)} written to {args.out} ({targets} target(s) in {len(outputs) - empty} image(s); "
          f"{empty} target-free)")
    if flat:
        print(f"{flat} label(s) show no target (under 1 grey level above their surroundings): each box, or a 3x3 "
              "square at each point, stands for its target")
    if outside:
        print(f"{outside} label(s) lie outside their image: left out")
    print("shapes: the pixels inside each box (or within --point-radius of each point) above a fifth of the "
          "target's contrast over its surroundings, joined to its peak (from SIRST's own boxes they match its drawn "
          "masks to IoU 0.87, 99.8 % of the centroids within 3 px): Pd, Fa and the false-alarm counts read as with "
          "drawn masks; IoU compares with these shapes, not an annotator's")
    if args.out.resolve() == (args.images.parent / "masks").resolve() and args.images.name == "images":
        print(f"score it: lwirst evaluate --data-dir {args.images.parent} --dataset folder --split all")
    return 0


RECORD = ".lwirst-masks.json"  # what an earlier run wrote in --out: only those masks may be written over


def _check_strays(out: Path, stems: set[str]) -> None:
    """Refuse a folder holding images this command did not write (an annotator's masks, say): --force writes
    over masks an earlier run derived, never over drawn ones."""
    from lwirst.imageio import image_files

    if not out.is_dir():
        return
    written: set[str] = set()
    try:
        record = json.loads((out / RECORD).read_text())
        written = {str(name) for name in record["masks"]}
    except (OSError, ValueError, TypeError, KeyError):  # none, or damaged: nothing there counts as ours
        pass
    strays = [p.name for p in image_files(out) if p.name not in written]
    if strays:
        raise LwirstError(f"--out {out}: holds {len(strays)} image(s) an earlier `lwirst masks` run did not write "
                          f"(e.g. {strays[0]}); drawn masks are never written over: choose another folder")


def _record(out: Path, stems: dict[str, Path], labels: Path) -> None:
    from lwirst.validate import atomic_write_bytes

    record = {"labels": str(labels.resolve()), "masks": sorted(f"{s}.png" for s in stems)}
    atomic_write_bytes(out / RECORD, json.dumps(record, indent=1).encode())
