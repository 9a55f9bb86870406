"""`lwirst video IN --out OUT.mp4`: segment and track a video or a folder of frames."""

from __future__ import annotations

import argparse
from pathlib import Path

from lwirst.commands.segment import (
    add_model_arguments,
    add_postprocess_arguments,
    filter_from_args,
    growth_from_args,
    make_segmenter,
    run_line,
    threshold_from_args,
)
from lwirst.errors import LwirstError
from lwirst.tracking import TrackerSettings
from lwirst.validate import check_outputs, number

HELP = "Segment and track a video or a folder of frames into an annotated MP4 + CSV"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("source", type=Path, metavar="IN", help="video file or folder of image frames")
    parser.add_argument("--out", type=Path, required=True, help="annotated video, .mp4")
    parser.add_argument("--csv", type=Path, default=None,
                        help="per-frame target table (default: OUT with a .csv suffix)")
    parser.add_argument("--batch", type=number(int, lo=1, hi=1024), default=None,
                        help="frames per network call (default 8; OpenVINO runs them on parallel streams)")
    parser.add_argument("--fps", type=number(float, lo=0.1, hi=1000), default=None,
                        help="frame rate, 0.1 to 1000 (default: the video's own; 25 for a folder of frames)")
    parser.add_argument("--force", action="store_true", help="overwrite an existing OUT / CSV")
    track = parser.add_argument_group("tracking")
    track.add_argument("--gate", type=number(float, lo=0, hi=1e6), default=TrackerSettings.gate,
                       help="largest jump in pixels between frames (default %(default)g; a target moving "
                            "faster gets no track)")
    track.add_argument("--max-missed", type=number(int, lo=0, hi=1_000_000), default=TrackerSettings.max_missed,
                       help="frames a track survives unseen (default %(default)d)")
    track.add_argument("--min-hits", type=number(int, lo=1, hi=1_000_000), default=TrackerSettings.min_hits,
                       help="detections before a track gets an id (default %(default)d)")
    add_model_arguments(parser)
    add_postprocess_arguments(parser)


def run(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from lwirst.commands.progress import progress_bar
    from lwirst.inference import describe_frame_run
    from lwirst.palettes import VIDEO_PALETTE_CAVEAT, decoded_text
    from lwirst.pipeline import FramePipeline
    from lwirst.rounding import count_text, rate_text
    from lwirst.tracking import Tracker
    from lwirst.video import FrameSource, process_frames

    csv_path = args.csv if args.csv is not None else args.out.with_suffix(".csv")
    if args.out.suffix.lower() != ".mp4":
        raise LwirstError(f"--out {args.out}: the output video must be an .mp4 file")
    check_outputs({"--out": args.out, "--csv": csv_path}, [args.source, args.model, args.ignore_mask], force=args.force)
    frames = FrameSource(args.source, fps=args.fps)  # a source it cannot read is refused before the model loads
    tracker = Tracker(gate=args.gate, max_missed=args.max_missed, min_hits=args.min_hits)
    try:
        pipeline = FramePipeline(make_segmenter(args), threshold_from_args(args), filter_from_args(args), tracker,
                                 grow_to=growth_from_args(args))
    except BaseException:
        frames.close()
        raise
    bars: list[tqdm] = []  # opened at the first frame, so a refused source prints only its error

    def progress(done: int, total: int | None) -> None:
        if not bars:
            bars.append(progress_bar(unit="frame", desc=args.source.name, dynamic_ncols=True))
        bars[0].total = total
        bars[0].update(done - bars[0].n)

    batch = {} if args.batch is None else {"batch": args.batch}
    try:
        result = process_frames(frames, args.out, csv_path, pipeline, progress=progress, **batch)
    finally:
        for bar in bars:
            bar.close()
    if result.interrupted and result.frames_done == 0:
        print(f"interrupted before the first frame was written: no video or CSV kept ({result.out_path} and "
              f"{result.csv_path} were removed)")
        return 130
    note = ""
    if result.codec == "mp4v":
        note = (" (MPEG-4 Part 2: browsers may not play it; install PyAV (`pip install av`) or put ffmpeg on "
                "PATH for H.264)")
    print(f"ran: {run_line(pipeline.segmenter, pipeline.threshold, pipeline.grow_to)}  tracking: "
          f"{tracker.settings.text()}")
    print(f"video: {result.out_path} [{result.codec}]{note}")
    counted = (count_text(result.detections, "target"), count_text(result.rows, "row"),
               count_text(tracker.tracks_started, "track"))
    print(f"targets: {result.csv_path} ({counted[0]} in {counted[1]}, {counted[2]})")
    if removed := result.filter_text(pipeline.target_filter):
        print(removed[:1].upper() + removed[1:])
    if why := tracker.untracked(result.detections, "--gate"):
        print(why)
    total = f" of {result.frames_total}" if result.frames_total else ""
    print(f"frames: {result.frames_done}{total} at {rate_text(result.processing_fps)} fps")
    if result.variable_rate:
        print(f"variable frame rate: the CSV's time_s holds each frame's own time; the video plays them at an even "
              f"{result.fps:g} fps")
    if result.palettes:
        print(f"pseudo-colour: {decoded_text(result.palettes)} ({VIDEO_PALETTE_CAVEAT})")
    segmenter, (width, height) = pipeline.segmenter, result.size
    print(f"protocol: each {width}×{height} frame ran "
          f"{describe_frame_run((height, width), segmenter.frame_protocol((height, width)), segmenter.size)}")
    if result.interrupted:
        print(f"interrupted: the video and CSV hold the first {result.frames_done} frames")
        return 130
    return 0
