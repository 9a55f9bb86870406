"""`lwirst synth`: write a synthetic IR dataset (plain-folder layout) and/or a video with tracks, or
(--calibrate) measure the generator against a real dataset's training split."""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from lwirst.errors import LwirstError
from lwirst.synth import PRESETS, SceneConfig, write_dataset, write_sequence
from lwirst.validate import check_outputs, number

if TYPE_CHECKING:
    from lwirst import calibration


# The SIRST-calibrated preset: on `sky` scenes the shipped model misses most targets, and a newcomer generating
# data with the defaults would conclude the model is broken.
DEFAULT_PRESET = "sirst"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add = parser.add_argument
    add("--out", help="dataset folder to write (images/, masks/, train.txt, test.txt, targets.csv)")
    add("--count", type=number(int, lo=1, hi=1_000_000), help="number of scenes (default 100 with --out)")
    add("--size", type=number(int, lo=8, hi=8192), nargs=2, metavar=("H", "W"), default=(256, 256), help="frame size")
    add("--seed", type=int, default=0, help="same seed, same bytes")
    add("--preset", default=DEFAULT_PRESET,
        help=f"scene preset, or several comma-separated to cycle over scenes ({', '.join(PRESETS)}; default "
             f"{DEFAULT_PRESET}: calibrated to SIRST, the scenes the shipped model is made for). sky scenes are "
             "harder: the shipped model finds 24%% of their targets against 95%% on sirst (100 scenes of "
             "256x256, seed 0; see the README)")
    add("--black-hot", action="store_true", help="hot targets dark (grey levels inverted)")
    add("--test-fraction", type=number(float, lo=0, hi=1), default=0.25, help="share of scenes listed in test.txt")
    add("--video", help="also write a sequence as this MP4 (+ <stem>_tracks.csv)")
    add("--frames-dir", help="also write the sequence as a folder of frames, masks and tracks.csv")
    add("--frames", type=number(int, lo=1, hi=1_000_000), default=64, help="sequence length")
    add("--fps", type=number(float, lo=0, hi=1000, lo_open=True), default=25.0, help="frame rate in (0, 1000]")
    add("--force", action="store_true",
        help="write into a non-empty --out / --frames-dir, removing first the files an earlier synth run wrote "
             "there (images/, masks/, split lists, targets.csv, tracks.csv; other files stay, and a folder whose "
             "images/ or masks/ hold files synth did not name is refused); overwrite --video")
    add("--crossing", action="store_true", help="make the first two targets cross mid-sequence")
    add("--blink", type=number(float, lo=0, hi=1), default=0.0, help="per-frame probability a target is not visible")
    add("--calibrate", action="store_true",
        help="measure the training split of --dataset and --count generated scenes (as training draws them, "
             "plus the sirst and sirst_terrain presets) and print their statistics side by side")
    add("--data-dir", help="with --calibrate: data root (default $LWIRST_DATA_DIR)")
    add("--dataset", default="sirst", help="with --calibrate: the reference dataset (its train split only)")
    add("--plot", help="with --calibrate: write the comparison figure to this PNG")


def run(args: argparse.Namespace) -> int:
    if args.calibrate:
        return _calibrate(args)
    if args.plot:
        raise LwirstError("--plot needs --calibrate")
    if not (args.out or args.video or args.frames_dir):
        raise LwirstError("nothing to write: pass --out DIR and/or --video OUT.mp4 / --frames-dir DIR")
    names = [n.strip() for n in args.preset.split(",") if n.strip()]
    if not names:
        raise LwirstError("--preset needs at least one preset name")
    configs = [SceneConfig.preset(n, size=tuple(args.size), black_hot=args.black_hot) for n in names]
    _check_targets(args)
    if args.force:
        _remove_earlier_output(args)
    if args.out:
        count = 100 if args.count is None else args.count
        try:
            root = write_dataset(args.out, count, configs, args.seed, test_fraction=args.test_fraction)
        except KeyboardInterrupt:  # the split lists come last: without them the folder is no dataset yet
            written = len(list(Path(args.out, "images").glob("*.png")))
            print(f"stopped after {written} of {count} scenes; {args.out} is incomplete (no split lists): run "
                  "the same command with --force to write it again", file=sys.stderr)
            raise
        print(f"wrote {count} scenes to {root} (presets {', '.join(names)}, seed {args.seed})")
    elif args.count is not None:
        raise LwirstError("--count needs --out DIR")
    if args.video or args.frames_dir:
        seq = configs[0].replace(crossing=args.crossing, blink=args.blink)
        for path in write_sequence(seq, args.frames, args.seed, video=args.video, frames_dir=args.frames_dir,
                                   fps=args.fps):
            print(f"wrote {path}")
    return 0


def _check_targets(args: argparse.Namespace) -> None:
    """Refuse, before generating anything, to write into a non-empty folder (it may be a real
    dataset whose split lists would be rewritten) or inside a dataset, or over a video, unless --force."""
    folders = {"--out": args.out, "--frames-dir": args.frames_dir}
    files: dict[str, Path | None] = {"--video": Path(args.video) if args.video else None}
    if args.video:
        files["--video (tracks)"] = Path(args.video).with_name(Path(args.video).stem + "_tracks.csv")
    check_outputs(files, [], force=args.force, folders=folders, dataset_parent_only=True)
    for flag, folder in folders.items():
        if folder and Path(folder).is_dir() and any(Path(folder).iterdir()) and not args.force:
            raise LwirstError(f"{flag} {folder} is not empty; choose a new folder or pass --force to write "
                              "into it (its files and split lists are replaced)")


# What synth writes in each folder: frame files named by this pattern in images/ and masks/, and these files.
SYNTH_FILES: dict[str, tuple[re.Pattern[str], tuple[str, ...]]] = {
    "--out": (re.compile(r"synth_\d{5,}\.png"), ("train.txt", "test.txt", "targets.csv")),
    "--frames-dir": (re.compile(r"\d{6,}\.png"), ("tracks.csv",)),
}


def _earlier_output(flag: str, folder: Path) -> list[Path]:
    """The files an earlier synth run wrote in `folder`; refuses when its images/ or masks/ hold anything
    synth did not name, since those are someone else's and --force must not delete them."""
    pattern, listed = SYNTH_FILES[flag]
    found = []
    for sub in ("images", "masks"):
        if not (folder / sub).is_dir():
            continue
        for entry in sorted((folder / sub).iterdir()):
            if entry.is_symlink() or not entry.is_file() or not pattern.fullmatch(entry.name):
                raise LwirstError(f"{flag} {folder}: {sub}/{entry.name} was not written by lwirst synth; --force "
                                  "replaces only synth's own files, so move it or choose a new folder")
            found.append(entry)
    for name in listed:
        path = folder / name
        if path.is_symlink() or (path.exists() and not _synth_wrote(path, pattern)):
            raise LwirstError(f"{flag} {folder}: {name} was not written by lwirst synth; --force replaces only "
                              "synth's own files, so move it or choose a new folder")
        if path.is_file():
            found.append(path)
    return found


def _synth_wrote(path: Path, frames: re.Pattern[str]) -> bool:
    """Whether a split list or table in synth's folder holds what synth writes there (a user's own train.txt or
    targets.csv beside foreign images was deleted as "an earlier synth run's")."""
    from lwirst.synth import TARGET_FIELDS

    if not path.is_file() or path.stat().st_size > MAX_LIST_BYTES:
        return False
    try:
        text = path.read_text()
    except (OSError, UnicodeDecodeError):
        return False
    if path.suffix == ".txt":  # a split list: one synth frame name per line
        return all(frames.fullmatch(f"{line}.png") for line in text.splitlines() if line)
    first = text.split("\n", 1)[0].strip()
    return first in (",".join(("name", *TARGET_FIELDS)), ",".join(("frame", *TARGET_FIELDS)))


MAX_LIST_BYTES = 64 << 20  # synth's lists and tables for the largest --count stay far below this


def _remove_earlier_output(args: argparse.Namespace) -> None:
    """With --force: delete an earlier synth run's files from --out / --frames-dir, so no old scene outlives
    this run beside the new split lists (everything is checked before anything is deleted)."""
    stale = {folder: _earlier_output(flag, Path(folder))
             for flag, folder in (("--out", args.out), ("--frames-dir", args.frames_dir))
             if folder and Path(folder).is_dir()}
    for folder, paths in stale.items():
        for path in paths:
            path.unlink()
        if paths:
            print(f"removed {len(paths)} files of an earlier synth run from {folder}")


CALIBRATION_PRESETS = ("sirst", "sirst_terrain")


def _calibrate(args: argparse.Namespace) -> int:
    """Reference train split vs the training draw and the plain presets: a table, optionally a PNG."""
    from lwirst import calibration
    from lwirst.datasets import open_dataset
    from lwirst.trainmix import random_scene_config

    if args.out or args.video or args.frames_dir:
        raise LwirstError("--calibrate writes no dataset or video: drop --out, --video and --frames-dir")
    if args.black_hot:
        raise LwirstError("--calibrate measures white-hot scenes: drop --black-hot")
    if args.plot:
        if Path(args.plot).suffix.lower() != ".png":
            raise LwirstError(f"--plot {args.plot}: the figure is a PNG; name it *.png")
        check_outputs({"--plot": args.plot}, [], force=args.force)
    count = 200 if args.count is None else args.count
    h, w = args.size
    dataset = open_dataset(args.data_dir, args.dataset, "train")  # never the test split
    reference = calibration.measure(calibration.dataset_frames(dataset), f"{dataset.name} {dataset.split}")
    rng = np.random.default_rng(args.seed)
    draws = []
    for _ in range(count):
        cfg = random_scene_config(rng, h, (1, 3)).replace(size=(h, w))
        draws.append((cfg, rng.integers(0, 2**31, 2)))
    sources = [calibration.measure(calibration.config_frames([c for c, _ in draws], [s for _, s in draws]),
                                   "training draw")]
    for name in CALIBRATION_PRESETS:
        cfg = SceneConfig.preset(name, size=(h, w))
        sources.append(calibration.measure(
            calibration.config_frames([cfg] * count, [(args.seed, i) for i in range(count)]), name))
    print(f"reference: {reference.label}, {len(reference.frames)} frames, {reference.targets} targets; "
          f"generator: {count} scenes {h}x{w} each (seed {args.seed}) from " + ", ".join(
              f"{m.label} ({m.targets} targets)" for m in sources))
    print(_table(reference, sources))
    if args.plot:
        print(f"wrote {calibration.plot(reference, sources, args.plot)}")
    return 0


def _table(reference: calibration.Measurement, sources: list[calibration.Measurement]) -> str:
    from lwirst.calibration import STATISTICS, compare

    def g(v: float) -> str:
        return f"{v:.3g}"

    header = ["statistic", "generator", "ref p5", "ref p50", "ref p95", "gen p5", "gen p50", "gen p95",
              "p50 ratio", "KS"]
    rows = []
    comparisons = {m.label: {c.statistic: c for c in compare(reference, m)} for m in sources}
    for statistic in STATISTICS:
        for m in sources:
            c = comparisons[m.label][statistic]
            r, s = c.reference, c.candidate
            rows.append([statistic, m.label, g(r.p5), g(r.p50), g(r.p95), g(s.p5), g(s.p50), g(s.p95),
                         f"{c.median_ratio:.2f}", f"{c.ks:.2f}"])
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(len(header))]
    lines = ["  ".join(cell.ljust(wd) if i < 2 else cell.rjust(wd) for i, (cell, wd) in
                       enumerate(zip(row, widths, strict=True))) for row in [header, *rows]]
    return "\n".join(lines)
