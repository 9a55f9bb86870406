"""`lwirst synth`: write a synthetic IR dataset (plain-folder layout) and/or a video with tracks."""

from __future__ import annotations

import argparse
from pathlib import Path

from lwirst.errors import LwirstError
from lwirst.synth import PRESETS, SceneConfig, write_dataset, write_sequence
from lwirst.validate import check_outputs, number


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add = parser.add_argument
    add("--out", help="dataset folder to write (images/, masks/, train.txt, test.txt, targets.csv)")
    add("--count", type=number(int, lo=1, hi=1_000_000), help="number of scenes (default 100 with --out)")
    add("--size", type=number(int, lo=8, hi=8192), nargs=2, metavar=("H", "W"), default=(256, 256), help="frame size")
    add("--seed", type=int, default=0, help="same seed, same bytes")
    add("--preset", default="sky",
        help=f"scene preset, or several comma-separated to cycle over scenes ({', '.join(PRESETS)})")
    add("--black-hot", action="store_true", help="hot targets dark (grey levels inverted)")
    add("--test-fraction", type=number(float, lo=0, hi=1), default=0.25, help="share of scenes listed in test.txt")
    add("--video", help="also write a sequence as this MP4 (+ <stem>_tracks.csv)")
    add("--frames-dir", help="also write the sequence as a folder of frames, masks and tracks.csv")
    add("--frames", type=number(int, lo=1, hi=1_000_000), default=64, help="sequence length")
    add("--fps", type=number(float, lo=0, hi=1000, lo_open=True), default=25.0, help="frame rate in (0, 1000]")
    add("--force", action="store_true", help="write into a non-empty --out / --frames-dir, overwrite --video")
    add("--crossing", action="store_true", help="make the first two targets cross mid-sequence")
    add("--blink", type=number(float, lo=0, hi=1), default=0.0, help="per-frame probability a target is not visible")


def run(args: argparse.Namespace) -> int:
    if not (args.out or args.video or args.frames_dir):
        raise LwirstError("nothing to write: pass --out DIR and/or --video OUT.mp4 / --frames-dir DIR")
    names = [n.strip() for n in args.preset.split(",") if n.strip()]
    if not names:
        raise LwirstError("--preset needs at least one preset name")
    configs = [SceneConfig.preset(n, size=tuple(args.size), black_hot=args.black_hot) for n in names]
    _check_targets(args)
    if args.out:
        count = 100 if args.count is None else args.count
        root = write_dataset(args.out, count, configs, args.seed, test_fraction=args.test_fraction)
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
