"""`lwirst segment IMAGE|DIR... --out DIR`: mask, overlay, heatmap and target tables per image.

A folder given as input stands for its image files (sorted by name, not recursive).

Also holds the model / threshold / filter options that `lwirst video` shares.
"""

from __future__ import annotations

import argparse
import io
import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from lwirst import jsonio
from lwirst.errors import LwirstError
from lwirst.saliency import PROTOCOLS
from lwirst.validate import THREADS, atomic_write_bytes, check_outputs, missing_file_text, number, strict_bool

if TYPE_CHECKING:
    from lwirst.eval_protocol import RunSpec
    from lwirst.inference import Segmenter
    from lwirst.pipeline import FramePipeline
    from lwirst.postprocess import TargetFilter
    from lwirst.zones import Zones

HELP = "Segment images: mask, overlay, heatmap and a targets table per image"
SIZE = number(float, lo=0)
OUTPUTS = ("_mask.png", "_overlay.png", "_heatmap.png", "_targets.csv", "_targets.json")
LOGITS = "_logits.npy"  # with --save-logits: the float32 map the targets were found on, at the image's size


def add_model_arguments(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("model")
    group.add_argument("--model", type=Path, default=None,
                       help="checkpoint (.safetensors/.pt) or .onnx file (default: the shipped model)")
    add_backend_argument(group)
    group.add_argument("--protocol", default="auto", choices=PROTOCOLS,
                       help="auto (default): resize frames of up to 2x the model area to the model size "
                            "(the paper's deployment), but run those of at most a quarter of it natively; run "
                            "larger frames at native size and at half of it, maps united (pyramid); or force one")
    add_size_argument(group)
    add_threads_argument(group)
    add_engine_arguments(group)


def add_size_argument(parser: argparse.ArgumentParser | argparse._ArgumentGroup, scored: str = "") -> None:
    """--size H W of every command that runs the network: the size the resize protocol and the pyramid's reduced
    level use; by default the size the model trained at, as the dashboard runs it (`scored` adds how results
    are scored)."""
    parser.add_argument("--size", type=number(int, lo=8, hi=4096, multiple=8), nargs=2, default=None,
                        metavar=("H", "W"),
                        help="model input size H W: the resize protocol's size and the pyramid's reduced level "
                             "(multiples of 8; default: the size the model trained at as its file records it, a "
                             f"fixed-size ONNX graph's own, else 256 256){scored}")


def size_from_args(args: argparse.Namespace) -> tuple[int, int] | None:
    """--size as `Segmenter` takes it (None: the size the model trained at)."""
    return (args.size[0], args.size[1]) if args.size is not None else None


def add_backend_argument(parser: argparse.ArgumentParser | argparse._ArgumentGroup) -> None:
    """--backend, its choices read from the backend registry (light: lists names without loading torch)."""
    from lwirst.backends import backend_names

    names = backend_names()
    parser.add_argument("--backend", default="auto", choices=("auto", *names),
                        help=f"auto (default: the fastest installed) or one of {', '.join(names)}")


def add_threads_argument(parser: argparse.ArgumentParser | argparse._ArgumentGroup) -> None:
    """--threads of every command that runs the network (default: the backend's own choice)."""
    parser.add_argument("--threads", type=THREADS, default=None,
                        help="CPU threads for inference (1-1024; default: the runtime's choice)")


def add_engine_arguments(parser: argparse.ArgumentParser | argparse._ArgumentGroup) -> None:
    """How a network is run on the frames it gets: --bf16, --palettes, --polarity, the ignore zones (--ignore,
    --ignore-mask) and the confirmations (--confirm, --mirror, --margin)."""
    parser.add_argument("--bf16", action="store_true",
                        help="compute in bfloat16 on a backend with a bfloat16 path (OpenVINO here; CPUs with "
                             "native AVX512_BF16/AMX; `lwirst bench` measures its speed and mIoU)")
    parser.add_argument("--palettes", default="decode", choices=("decode", "off"),
                        help="decode (default): frames drawn with a known pseudo-colour palette (ironbow, hot, "
                             "inferno, jet, ...) run as the intensity they encode; off: as BGR")
    add_polarity_argument(parser)
    add_zones_arguments(parser)
    add_confirm_argument(parser)


def add_polarity_argument(parser: argparse.ArgumentParser | argparse._ArgumentGroup) -> None:
    """--polarity: whether the sensor shows hot targets bright or dark (`lwirst.polarity`)."""
    from lwirst.polarity import DEFAULT, HELP, POLARITIES

    parser.add_argument("--polarity", default=DEFAULT, choices=POLARITIES, help=HELP)


def add_zones_arguments(parser: argparse.ArgumentParser | argparse._ArgumentGroup) -> None:
    """--ignore and --ignore-mask: parts of every frame that are no scene (`lwirst.zones`)."""
    parser.add_argument("--ignore", action="append", default=[], metavar="X,Y,W,H",
                        help="a rectangle of every frame to ignore, such as a camera's burnt-in text, logo or "
                             "crosshair: left, top, width, height in pixels or with %% of the frame (e.g. "
                             "0,0,100%%,24 for a 24-px top banner); filled from its surroundings before the network "
                             "runs, nothing found in it; repeat for more (at most 32)")
    parser.add_argument("--ignore-mask", metavar="PNG", default=None,
                        help="an image the size of the frames whose bright pixels (over half scale) are ignored "
                             "as --ignore's rectangles are (any shape: draw the display's strokes white on a black "
                             "frame)")


def zones_from_args(args: argparse.Namespace) -> Zones:
    """The `Zones` of --ignore and --ignore-mask."""
    from lwirst.zones import read_zones

    return read_zones(args.ignore, args.ignore_mask)


def confirm_value(text: str) -> float | None:
    """argparse type of --confirm: "off" (or "none"), or an enlargement within `lwirst.consensus.SCALES`."""
    from lwirst.consensus import OFF, SCALES

    if text.strip().lower() in OFF:
        return None
    return float(number(float, lo=SCALES[0], hi=SCALES[1])(text))


def margin_value(text: str) -> float:
    """argparse type of --margin: "off" (or "none", 0), or logits per doubling within `lwirst.prominence.LIMITS`."""
    from lwirst.prominence import LIMITS, OFF

    if text.strip().lower() in OFF:
        return 0.0
    return float(number(float, lo=LIMITS[0], hi=LIMITS[1])(text))


def add_confirm_argument(parser: argparse.ArgumentParser | argparse._ArgumentGroup) -> None:
    """--confirm, --mirror and --margin: how a target is confirmed (`lwirst.consensus`, `lwirst.prominence`),
    defaults the project's."""
    from lwirst.consensus import DEFAULT_MIRROR, DEFAULT_SCALE, SCALES
    from lwirst.prominence import DEFAULT_PER_DOUBLING, LIMITS

    default = "off" if DEFAULT_SCALE is None else f"{DEFAULT_SCALE:g}"
    parser.add_argument("--confirm", type=confirm_value, default=DEFAULT_SCALE, metavar="SCALE|off",
                        help=f"scale consensus: keep a target (its whole blob) only where a second run of the frame "
                             f"enlarged SCALE times ({SCALES[0]:g}-{SCALES[1]:g}) also finds it within 2 px; fewer "
                             f"false alarms on cluttered frames, some dim targets lost, 1 + SCALE^2 times the compute "
                             f"(default {default})")
    parser.add_argument("--mirror", type=strict_bool, default=DEFAULT_MIRROR, metavar="on|off",
                        help="on: a large frame (one 'auto' runs as a pyramid) keeps a target only where a run of "
                             "the frame mirrored left-right also finds it; fewer false alarms on large cluttered "
                             f"frames, one more run of each (default {'on' if DEFAULT_MIRROR else 'off'}; like "
                             "every switch it also takes yes/no, true/false, 1/0)")
    parser.add_argument("--margin", type=margin_value, default=DEFAULT_PER_DOUBLING, metavar="K|off",
                        help="on a frame larger than twice the model's area (not resized), keep a target only "
                             "where its peak clears the threshold by K logits per doubling of the area "
                             f"({LIMITS[0]:g}-{LIMITS[1]:g}): a constant false-alarm rate per frame on large "
                             "sensors, a few dim targets lost there; SIRST-sized frames are untouched "
                             f"(default {DEFAULT_PER_DOUBLING:g}; off: no margin)")


def engine_from_args(args: argparse.Namespace) -> dict[str, object]:
    """`Segmenter` keyword arguments of --backend, --bf16, --palettes, --polarity, --ignore, --ignore-mask,
    --confirm, --mirror and --margin."""
    from lwirst.backends import engine_choice

    return {**engine_choice(args.backend, args.bf16), "palettes": args.palettes == "decode", "polarity": args.polarity,
            "ignore": zones_from_args(args), **confirmation(args)}


def confirmation(args: argparse.Namespace) -> dict[str, object]:
    """`Segmenter` keyword arguments of --confirm, --mirror and --margin."""
    return {"confirm": args.confirm, "mirror": args.mirror, "margin": args.margin}


def add_postprocess_arguments(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("post-processing (paper Eqs. 2 and 4)")
    add_threshold_arguments(group)
    add_filter_arguments(group)


def add_filter_arguments(group: argparse.ArgumentParser | argparse._ArgumentGroup) -> None:
    """The Eq. 4 filter's bounds: --min-size, --max-size, --min-ratio, --max-ratio."""
    group.add_argument("--min-size", type=SIZE, default=None, help="drop targets of size <= m pixels")
    group.add_argument("--max-size", type=SIZE, default=None, help="drop targets of size >= k pixels")
    group.add_argument("--min-ratio", type=SIZE, default=None, help="drop targets of width/height <= l")
    group.add_argument("--max-ratio", type=SIZE, default=None, help="drop targets of width/height >= n")


THRESHOLD_HELP = ("probability threshold in (0, 1), as BasicIRSTD takes it (default 0.5 = logit 0, the paper's "
                  "Th); a value of 0, 1 or outside [0, 1] is read as a logit, as earlier releases did, with a "
                  "warning")


def add_threshold_arguments(parser: argparse.ArgumentParser | argparse._ArgumentGroup) -> None:
    """--threshold (a probability), --logit-threshold and --probability (an older spelling of --threshold)."""
    which = parser.add_mutually_exclusive_group()
    which.add_argument("--threshold", type=number(float, lo=-1e4, hi=1e4), default=None, help=THRESHOLD_HELP)
    which.add_argument("--logit-threshold", type=number(float, lo=-1e4, hi=1e4), default=None,
                       help="the threshold as a logit instead (0 = probability 0.5)")
    which.add_argument("--probability", type=number(float, lo=0, hi=1, lo_open=True, hi_open=True), default=None,
                       help="same as --threshold, strictly a probability")
    from lwirst.postprocess import GROW_RADIUS, GROW_TO_PROBABILITY

    parser.add_argument("--grow-to", type=_growth, default=None, metavar="P|off",
                        help=f"grow each detected target's mask by up to {GROW_RADIUS} px into pixels above "
                             f"probability P, never joining two targets (default {GROW_TO_PROBABILITY:g}; detection "
                             "still needs a pixel above the threshold); off: a mask is only the pixels above the "
                             "threshold (the paper's Eq. 2). evaluate --predictions grows masks as the files were "
                             "drawn unless given: another method's not at all, a segment output as that run did")


_PROBABILITY = number(float, lo=0, hi=1, lo_open=True, hi_open=True)


def _growth(text: str) -> float | str:
    """argparse type of --grow-to: a probability in (0, 1) or 'off'."""
    return "off" if text.strip().lower() == "off" else _PROBABILITY(text)


def threshold_from_args(args: argparse.Namespace) -> float:
    """The logit threshold of --threshold / --logit-threshold / --probability (default 0)."""
    from lwirst.postprocess import threshold_from_probability, threshold_from_user

    if args.logit_threshold is not None:
        return args.logit_threshold
    if args.probability is not None:
        return threshold_from_probability(args.probability)
    return 0.0 if args.threshold is None else threshold_from_user(args.threshold)


def growth_from_args(args: argparse.Namespace) -> float | None:
    """The mask threshold (a logit) of --grow-to; None when growth is off."""
    from lwirst.postprocess import GROW_TO, threshold_from_probability

    if args.grow_to is None:
        return GROW_TO
    if args.grow_to == "off":
        return None
    grow_to = threshold_from_probability(args.grow_to)
    if grow_to >= threshold_from_args(args):
        print(f"warning: --grow-to {args.grow_to:g} is not below the threshold: masks grow only into pixels above "
              "a lower probability, so none is grown", file=sys.stderr)
    return grow_to


def filter_from_args(args: argparse.Namespace) -> TargetFilter:
    from lwirst.postprocess import TargetFilter

    return TargetFilter(args.min_size, args.max_size, args.min_ratio, args.max_ratio)


def add_mask_threshold_argument(parser: argparse.ArgumentParser) -> None:
    """--mask-threshold: ground truth that is not strictly binary (anti-aliased, JPEG), binarised on reading."""
    parser.add_argument("--mask-threshold", type=number(float, lo=0, hi=1, hi_open=True), default=None,
                        metavar="T", help="binarise ground-truth masks that are not strictly binary: target where "
                                          "value > T x full scale (e.g. 0.5); without it such masks are refused")


def run_line(segmenter: Segmenter, threshold: float, grow_to: float | None) -> str:
    """What a run used, in one line for its output: model, backend, protocol with any confirmation, threshold
    and masks."""
    from lwirst.consensus import cut_masks
    from lwirst.consensus import said as said_consensus
    from lwirst.polarity import said as said_polarity
    from lwirst.postprocess import describe_growth, describe_threshold
    from lwirst.prominence import describe as describe_margin

    info = segmenter.describe()
    precision = f" {info.precision}" if info.precision != "fp32" else ""  # bf16 or int8: say what ran
    zones = segmenter.ignore.describe()
    return (f"model {info.model}  backend {info.backend}{precision}  protocol {info.protocol}"
            f"{said_consensus(segmenter.confirm, segmenter.mirror, ' ({})')}"
            f"{said_polarity(segmenter.polarity, '  {}')}{'  ' + zones if zones else ''}  threshold "
            f"{describe_threshold(threshold)}  {describe_growth(grow_to)}"
            f"{cut_masks(threshold, segmenter.confirm, segmenter.mirror, segmenter.margin)}"
            + (f"; {describe_margin(segmenter.margin)}" if segmenter.margin else ""))


def make_segmenter(args: argparse.Namespace) -> Segmenter:
    # Imported here, not at the top, so `lwirst segment --help` does not load torch.
    from lwirst.inference import Segmenter

    return Segmenter(args.model, size=size_from_args(args), protocol=args.protocol, threads=args.threads,
                     **engine_from_args(args))


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("images", nargs="+", type=Path, metavar="IMAGE",
                        help="images to segment, or folders: each folder's image files, sorted, not recursive")
    parser.add_argument("--out", type=Path, required=True, help="output folder (created if missing)")
    parser.add_argument("--heatmap-scale", default="probability", choices=("probability", "logit"),
                        help="colour scale of the heatmap (default probability); the heatmap carries a colour bar "
                             "on its right, so it is wider than the image")
    parser.add_argument("--force", action="store_true", help="overwrite outputs that already exist")
    parser.add_argument("--resume", action="store_true",
                        help="go on after an interrupted run into the same --out: an image whose outputs all exist "
                             "is skipped, the others' are written (replacing what an interruption left of them); "
                             "refused where those outputs were written with another model, threshold, protocol, "
                             "filter or growth")
    parser.add_argument("--save-logits", action="store_true",
                        help=f"also write <name>{LOGITS}: the float32 map (logits) the targets were found on, at "
                             "the image's size, so `lwirst evaluate --predictions OUT` reproduces AUC and the ROC/PR "
                             "curves from saved outputs; the network's own logits with --confirm off --margin off "
                             "(scale consensus keeps each confirmed blob whole and drops the others; on a frame the "
                             "peak margin holds, the map is that many logits lower: the JSON's ran.clearance)")
    add_model_arguments(parser)
    add_postprocess_arguments(parser)


def output_stems(images: list[Path]) -> list[str]:
    """File stems, made unique (a/x.png and b/x.png -> x, x-2) so no output overwrites another: a suffix skips
    any stem another image has (x.png, x.tif and x-2.png -> x, x-3, x-2)."""
    own = {image.stem for image in images}
    used: set[str] = set()
    stems = []
    for image in images:
        stem, count = image.stem, 1
        while stem in used or (count > 1 and stem in own):
            count += 1
            stem = f"{image.stem}-{count}"
        used.add(stem)
        stems.append(stem)
    return stems


def _expand_folders(inputs: list[Path]) -> tuple[list[Path], int]:
    """Each input image once, in the order first named, with a folder replaced by its image files (sorted by
    name, not recursive), and how many repeats were dropped: a file named twice (or by itself and through its
    folder) would be segmented twice under two stems."""
    from lwirst.imageio import require_image_files

    named = [image for path in inputs for image in (require_image_files(path) if path.is_dir() else [path])]
    first = {}
    for image in named:
        first.setdefault(image.resolve(), image)
    return list(first.values()), len(named) - len(first)


def _npy_bytes(array: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    np.save(buffer, array, allow_pickle=False)
    return buffer.getvalue()


def run(args: argparse.Namespace) -> int:
    from lwirst.pipeline import FramePipeline

    if args.resume and args.force:
        raise LwirstError("--resume skips the images already done and --force redoes them; give one")
    threshold, target_filter, grow_to = threshold_from_args(args), filter_from_args(args), growth_from_args(args)
    images, repeats = _expand_folders(args.images)  # inputs and outputs checked before the model loads (seconds)
    if repeats:
        print(f"{repeats} image(s) named more than once: each is segmented once")
    if absent := [path for path in images if not path.is_file()]:
        raise LwirstError(missing_file_text(absent[0]) + (f" (and {len(absent) - 1} more)" if len(absent) > 1 else ""))
    stems = output_stems(images)
    outputs = (*OUTPUTS, LOGITS) if args.save_logits else OUTPUTS
    finished = [stem for stem in stems
                if args.resume and all((args.out / f"{stem}{suffix}").is_file() for suffix in outputs)]
    skip = set(finished)
    todo = [(path, stem) for path, stem in zip(images, stems, strict=True) if stem not in skip]
    planned = [args.out / f"{stem}{suffix}" for _, stem in todo for suffix in outputs]
    check_outputs({"--out": planned}, [*args.images, *images, args.model, args.ignore_mask],
                  force=args.force or args.resume, folders={"--out": args.out})
    unreadable = _refused_from_headers(todo)  # a bomb or an empty file is refused before the model loads (seconds)
    todo = [(path, stem) for path, stem in todo if path not in unreadable]
    if unreadable and not todo:
        print(f"{len(unreadable)} of {len(unreadable)} images failed", file=sys.stderr)
        return 1
    segmenter = make_segmenter(args)
    pipeline = FramePipeline(segmenter, threshold, target_filter, grow_to=grow_to)
    created = not args.out.exists()
    try:
        args.out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise LwirstError(f"{args.out}: cannot create the output folder ({exc.strerror})") from exc
    run = segmenter.describe()
    _check_resumed(args.out, finished, pipeline, run)
    print(f"ran: {run_line(segmenter, pipeline.threshold, pipeline.grow_to)}  "
          f"threads {run.threads}")  # the rest per image in its _targets.json ("ran")
    if finished:
        print(f"--resume: {len(finished)} of {len(images)} images already have all their outputs; skipped")
    done: list[Path] = []  # the images this run wrote all the outputs of
    try:
        failed = _segment_all(args, pipeline, todo, run, done)
    except KeyboardInterrupt:
        go_on = "with --resume instead of --force" if args.force else "with --resume"
        print(f"stopped after {len(done)} of {len(todo)} images, each with all its outputs; the same command "
              f"{go_on} goes on", file=sys.stderr)
        raise
    finally:
        if created and not any(args.out.iterdir()):  # nothing written: leave no empty folder behind
            args.out.rmdir()
    if failed or unreadable:
        print(f"{failed + len(unreadable)} of {len(todo) + len(unreadable)} images failed", file=sys.stderr)
        return 1
    return 0


# What makes two runs' outputs differ, of those a `_targets.json` records (threads and the backend do not), by the
# option that sets each
RESUMED_SETTINGS = {"threshold": "--threshold", "grow_to": "--grow-to", "filter": "the Eq. 4 filter (--min-size, "
                    "--max-size, --min-ratio, --max-ratio)", "hash": "--model", "precision": "the precision (--bf16, "
                    "an int8 file)", "protocol": "--protocol", "size": "--size", "confirm": "--confirm",
                    "mirror": "--mirror", "margin": "--margin", "palettes": "--palettes", "polarity": "--polarity",
                    "ignore": "the ignore zones (--ignore, --ignore-mask)"}
_OUTSIDE_RUN = ("threshold", "grow_to", "filter")  # the rest are the model's run (`RunSpec`)


def _check_resumed(out: Path, finished: list[str], pipeline: FramePipeline, run: RunSpec) -> None:
    """Refuse to resume into outputs (of the `finished` stems) written with other settings: the folder would mix
    two runs' results under one name (a resumed run at another threshold and model went on without a word)."""
    from dataclasses import asdict, fields

    from lwirst.eval_protocol import RunSpec

    def settings(outside: dict[str, object], ran: RunSpec) -> dict[str, object]:
        recorded = {**{f.name: getattr(ran, f.name) for f in fields(ran)}, **asdict(ran.settings)}
        return {**outside, **{key: recorded[key] for key in RESUMED_SETTINGS if key not in _OUTSIDE_RUN}}

    now = settings({"threshold": pipeline.threshold, "grow_to": pipeline.grow_to,
                    "filter": pipeline.target_filter.to_dict() if pipeline.target_filter is not None else None}, run)
    for stem in finished:
        path = out / f"{stem}_targets.json"
        try:
            record = json.loads(path.read_text(encoding="utf-8"))
            earlier = RunSpec.from_json(record["model"])
        except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
            raise LwirstError(f"--resume: {path} is not a targets record of `lwirst segment` ({exc}); write to "
                              "another --out") from exc
        if missing := [key for key in _OUTSIDE_RUN if key not in record]:
            raise LwirstError(f"--resume: {path.name} was written by an earlier lwirst (it records no "
                              f"{', '.join(missing)}): write to another --out")
        then = settings({key: record[key] for key in _OUTSIDE_RUN}, earlier)
        if changed := [key for key in now if now[key] != then[key]]:
            said = "; ".join(f"{RESUMED_SETTINGS[key]}: {_setting_text(key, then[key], earlier.model)} then, "
                             f"{_setting_text(key, now[key], run.model)} now" for key in changed)
            raise LwirstError(f"--resume: {path.name} was written with other settings ({said}): resume with the "
                              "settings of the run it goes on, or write to another --out")


def _setting_text(key: str, value: object, model: str) -> str:
    """A setting as the command takes it: thresholds as probability (logit), a model by its file (and content
    hash), a size as H W, a switch as on/off, no growth as "off"."""
    from lwirst.postprocess import describe_threshold

    if key in ("threshold", "grow_to") and isinstance(value, int | float):
        return describe_threshold(value)
    if key == "hash":
        return f"{model} ({value})"
    if key == "size" and isinstance(value, tuple | list):
        return " ".join(str(side) for side in value)
    if isinstance(value, bool):
        return "on" if value else "off"
    return "off" if value is None or value == 0 else str(value)


def _refused_from_headers(todo: list[tuple[Path, str]]) -> set[Path]:
    """The images whose header already refuses them (unreadable, over the pixel limit, too small), each said
    in one line; the others go on."""
    from lwirst.imageio import check_frame_file

    refused = set()
    for path, _ in todo:
        try:
            check_frame_file(path)
        except LwirstError as exc:
            print(f"error: {exc}", file=sys.stderr)
            refused.add(path)
    return refused


def _segment_all(args: argparse.Namespace, pipeline: FramePipeline, todo: list[tuple[Path, str]],
                 run: RunSpec, done: list[Path]) -> int:
    """Segment and write each image's outputs, appending it to `done` once all are written; an image that fails
    is reported and the others go on. Returns how many failed."""
    from lwirst.drawing import heatmap, mask_image, overlay
    from lwirst.imageio import read_image, repaired_text, write_png
    from lwirst.inference import ran_briefly, shrink_note, shrunk_by
    from lwirst.polarity import WHITE_HOT
    from lwirst.postprocess import HOT_MARGIN, peak_text, probability_of
    from lwirst.rounding import count_text

    failed, shrunk_said, dark_said, repaired_said = 0, False, False, False
    for path, stem in todo:
        try:
            image = read_image(path)
            result = pipeline.process(image)
        except LwirstError as exc:
            print(f"error: {exc}", file=sys.stderr)
            failed += 1
            continue
        base = args.out / stem
        spots = result.saliency.repaired  # a saturated one- or two-pixel target is replaced as a defect too
        record = {
            "image": str(path), "width": int(image.shape[1]), "height": int(image.shape[0]),
            "threshold": result.threshold, "threshold_probability": probability_of(result.threshold),
            "grow_to": pipeline.grow_to, "grow_to_probability": probability_of(pipeline.grow_to),
            "filter": result.target_filter.to_dict(),
            "model": run.to_json(), "ran": {"protocol": result.saliency.protocol, "mirrored": result.saliency.mirrored,
                                       "palette": result.saliency.palette or None,  # what "auto" resolved to
                                       "as_colour": result.saliency.as_colour,
                                       "clearance": result.saliency.clearance,  # the frame's peak margin, logits
                                       "repaired": [list(spot) for spot in spots]},
            "found": len(result.detections),
            "dropped": [t.to_dict() for t in result.removed],  # by the filter: where, not only how many
            "targets": [t.to_dict() for t in result.kept],
        }
        target = args.out / f"{stem}_mask.png"
        try:
            write_png(target, mask_image(result.kept.mask))
            target = args.out / f"{stem}_overlay.png"
            write_png(target, overlay(image, result.kept, ignored=result.saliency.ignored))
            target = args.out / f"{stem}_heatmap.png"
            write_png(target, heatmap(result.saliency, args.heatmap_scale, targets=result.kept))
            target = args.out / f"{stem}_targets.csv"
            atomic_write_bytes(target, result.kept.to_frame().to_csv(index=False).encode("utf-8"))
            target = args.out / f"{stem}_targets.json"
            atomic_write_bytes(target, jsonio.dumps(record, indent=2).encode("utf-8"))
            if args.save_logits:
                target = args.out / f"{stem}{LOGITS}"
                atomic_write_bytes(target, _npy_bytes(result.saliency.logits.astype(np.float32)))
        except (OSError, LwirstError) as exc:  # report, and go on with the other images
            reason = f"cannot write {target}: {exc.strerror}" if isinstance(exc, OSError) else str(exc)
            print(f"error: {path}: {reason}", file=sys.stderr)
            failed += 1
            continue
        colours = (f"; decoded from its {result.saliency.palette} palette" if result.saliency.palette else
                   "; on its colours: no known palette" if result.saliency.as_colour else "")
        done.append(path)
        # detections, not ground truth found (segment scores nothing): the filter's share said where it removed any
        kept = (f"{len(result.kept)} of {len(result.detections)} detections kept by the size / ratio filter"
                if len(result.kept) != len(result.detections)
                else count_text(len(result.kept), "detection"))
        peak = float(result.saliency.logits.max())
        if not result.detections:  # a hair under, or a world away: a threshold set high, or nothing seen
            kept += f"; {peak_text(peak, result.threshold)}"
        shrunk = shrunk_by(image.shape[:2], result.saliency.protocol, run.size) if run.size else None
        shrink = f", {shrunk}" if shrunk else ""
        replaced = f"; {len(spots)} defect spot(s) replaced" if spots else ""
        ran = ran_briefly(image.shape[:2], result.saliency.protocol, run.size)
        print(f"{path}: {kept} (ran {ran}{shrink}{colours}{replaced}) -> {base}_*")
        if spots and not repaired_said:  # once: what was replaced, and what else reads the same
            print(f"note: in {path.name}, {repaired_text(spots)}; the targets JSON lists every spot (ran.repaired)")
            repaired_said = True
        if shrunk and not shrunk_said:  # once: why a large frame's targets may be lost, and what keeps them
            print(f"note: {path.name} ran {shrink_note(image.shape[:2], 'resize', run.size)}; "
                  "--protocol auto (the default) or native runs frames over twice the model's area at their own size")
            shrunk_said = True
        if not result.detections and result.threshold - peak > HOT_MARGIN and args.polarity == WHITE_HOT \
                and not dark_said:  # once, where the network saw nothing near the threshold, as Single frame says it
            # a camera's burnt-in text at full scale takes a raw frame's whole stretch: the zones set it free
            text = ("; if burnt-in text, a logo or a reticle sets this raw frame's range, --ignore X,Y,W,H over it "
                    "sets it free" if image.dtype != np.uint8 and not (args.ignore or args.ignore_mask) else "")
            print(f"note: nothing rose above the threshold in {path.name}{text}; if the camera shows hot targets "
                  "dark (black-hot), run with --polarity black-hot")
            dark_said = True
    return failed
