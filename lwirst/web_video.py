"""A video segmented for a web page (the annotated MP4, a copy browsers play, chart tables), and an
uploaded video looped as a live source."""

from __future__ import annotations

import itertools
import logging
import tempfile
import time
from collections.abc import Callable, Generator, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pandas as pd

from lwirst.chips import box_in_crop, magnify, stretch
from lwirst.datasets import SegDataset
from lwirst.errors import LwirstError, renamed
from lwirst.imageio import to_bgr, to_uint8
from lwirst.limits import limit
from lwirst.live import LoopingVideo
from lwirst.palette import CORRECT, DETECTION, FALSE_ALARM, outcome
from lwirst.palettes import colourful
from lwirst.pipeline import FramePipeline
from lwirst.sequence_truth import FrameTruth, frame_truth
from lwirst.streams import SplitFrames
from lwirst.video import FrameSource, Progress, VideoResult, VideoStopped, process_frames, process_video
from lwirst.videoio import BROWSER_CODECS

SPLIT_FPS = 4.0  # a dataset split's images are separate scenes: a few per second
UPLOAD_FRAMES = "LWIRST_MAX_UPLOAD_VIDEO_FRAMES"  # the `lwirst.limits` setting bounding an uploaded video
UPLOAD_WORK = "LWIRST_MAX_UPLOAD_VIDEO_MEGAPIXELS"  # ... and bounding its frames' pixels together
log = logging.getLogger(__name__)

# as `lwirst video` reads them (a camera's raw H.264 stream too)
VIDEO_SUFFIXES = (".mp4", ".avi", ".mov", ".mkv", ".m4v", ".mpg", ".mpeg", ".webm", ".gif", ".h264")
STACK_SUFFIXES = (".tif", ".tiff")  # a multi-page TIFF: a stack of frames, as cameras save raw ones


CLOSEUPS = 4  # confirmed tracks shown magnified below the player
CLOSEUP_SIDE = 160  # pixels of each close-up


@dataclass(frozen=True)
class Closeup:
    """A confirmed track magnified at its most confident frame, cut from the source's frame: its id, that frame, the
    centroid there (frame pixels), the magnification and the picture (8-bit BGR, the target's box drawn)."""

    track_id: int
    frame: int
    x: float
    y: float
    zoom: float
    picture: np.ndarray
    outcome: str = DETECTION  # the box's colour: correct or false alarm where the video has truth

    @property
    def caption(self) -> str:
        judged = f", {self.outcome}" if self.outcome != DETECTION else ""
        return f"T{self.track_id}, frame {self.frame}, at ({self.x:.0f}, {self.y:.0f}) ×{round(self.zoom, 2):g}{judged}"


def track_closeups(frames: Iterable[np.ndarray], trajectories: pd.DataFrame, most: int = CLOSEUPS,
                   side: int = CLOSEUP_SIDE,
                   judge: Callable[[int, float, float], str] | None = None) -> tuple[Closeup, ...]:
    """The first `most` confirmed tracks (by first appearance), each cropped from `frames` (the video's, in order;
    a grey frame shown grey) around its centroid at the frame where it peaked, contrast-stretched and magnified
    (nearest neighbour: every pixel a sharp square) with its extent boxed: a target of a few pixels is a speck in
    a player drawn a few hundred pixels wide. Frames are read only up to the last one wanted. `judge(frame, x, y)`
    names a detection's outcome where the video has truth (the box then takes its colour, as the player's do)."""
    if trajectories.empty:
        return ()
    best = trajectories.loc[trajectories.groupby("track_id", sort=False)["peak_prob"].idxmax()]
    first = trajectories.groupby("track_id")["frame"].min()
    best = best.assign(first=best["track_id"].map(first)).sort_values(["first", "track_id"]).head(most)
    wanted: dict[int, list[Any]] = {}
    for row in best.itertuples():
        wanted.setdefault(int(row.frame), []).append(row)
    crops: dict[int, Closeup] = {}
    for index, frame in enumerate(itertools.islice(frames, max(wanted) + 1)):
        for row in wanted.get(index, ()):
            picture = to_bgr(to_uint8(frame))
            if not colourful(picture):  # a grey frame's codec tint, stretched, reads as colour: shown grey
                picture = to_bgr(cv2.cvtColor(picture, cv2.COLOR_BGR2GRAY))
            crops[int(row.track_id)] = _closeup(picture, row, side,
                                                judge(int(row.frame), row.x, row.y) if judge else DETECTION)
    return tuple(crops[int(t)] for t in best["track_id"] if int(t) in crops)


def _closeup(frame: np.ndarray, row: Any, side: int, judged: str) -> Closeup:
    """One track's crop: a square around its centroid with room around the target's box, stretched, magnified, and
    the box drawn a pixel outside the target in the colour of its outcome `judged`."""
    height, width = frame.shape[:2]
    window = min(max(24, int(max(row.box_w, row.box_h)) + 12), height, width)
    x0 = min(max(round(row.x - window / 2), 0), width - window)
    y0 = min(max(round(row.y - window / 2), 0), height - window)
    box = box_in_crop((int(row.box_x), int(row.box_y), int(row.box_w), int(row.box_h)), (x0, y0))
    picture, zoom = magnify(stretch(frame[y0:y0 + window, x0:x0 + window], box), side)
    left, top = int((row.box_x - x0) * zoom), int((row.box_y - y0) * zoom)
    right, bottom = left + int(row.box_w * zoom) - 1, top + int(row.box_h * zoom) - 1  # the target's last pixels
    for gap in (1, 2):  # two pixels wide, just outside the target
        cv2.rectangle(picture, (left - gap, top - gap), (right + gap, bottom + gap), outcome(judged).bgr, 1,
                      cv2.LINE_8)
    return Closeup(int(row.track_id), int(row.frame), float(row.x), float(row.y), float(zoom), picture, judged)


def truth_judge(truth: FrameTruth, rows: pd.DataFrame) -> Callable[[int, float, float], str]:
    """A detection's outcome on its frame, matched with all that frame's detections (`detections_of` the targets
    CSV) as the player's boxes are: correct where it found a visible target, else a false alarm."""
    found = {int(f): g[["x", "y"]].to_numpy(float) for f, g in rows.groupby("frame")}

    def judged(frame: int, x: float, y: float) -> str:
        points = found.get(frame, np.zeros((0, 2)))
        if not len(points):
            return DETECTION
        correct, _ = truth.outcomes(frame, points)
        return CORRECT if int(np.argmin(np.hypot(points[:, 0] - x, points[:, 1] - y))) in correct else FALSE_ALARM

    return judged


def _video_frames(path: Path) -> Generator[np.ndarray, None, None]:
    """The frames of a video file or frame folder as `lwirst.video` reads them, closed when done."""
    source = FrameSource(path)
    try:
        yield from source
    finally:
        source.close()


@dataclass
class VideoOutput:
    """A processed video, held in memory: the annotated MP4, a copy browsers play (the MP4 itself
    when it is H.264, else VP8 WebM), the targets CSV and what the charts plot; `stopped`: why an error
    ended the run early (a corrupt or truncated video), else None: the output holds the frames before it."""

    video: bytes
    web_video: bytes
    web_format: str
    csv: bytes
    per_frame: pd.DataFrame
    trajectories: pd.DataFrame
    result: VideoResult
    stopped: str | None = None
    closeups: tuple[Closeup, ...] = ()

    @property
    def detections(self) -> int:
        """Targets found, summed over frames: the CSV's target rows (a frame without any has an empty row)."""
        return int(self.per_frame["targets"].sum())

    @property
    def tracks(self) -> int:
        """Confirmed tracks (ids handed out)."""
        return int(self.trajectories["track_id"].nunique())


def to_webm(source: Path, target: Path, fps: float) -> None:
    """Re-encode a video as VP8 WebM, which every browser plays (OpenCV builds without H.264 have VP8)."""
    capture = cv2.VideoCapture(str(source))
    writer: cv2.VideoWriter | None = None
    try:
        while True:
            ok, frame = capture.read()
            if not ok:
                break
            if writer is None:
                size = (frame.shape[1], frame.shape[0])
                writer = cv2.VideoWriter(str(target), cv2.VideoWriter_fourcc(*"VP80"), fps, size)
                if not writer.isOpened():
                    raise LwirstError("this OpenCV build can encode neither H.264 nor VP8: download the "
                                      "video to watch it")
            writer.write(frame)
    finally:
        capture.release()
        if writer is not None:
            writer.release()


def _upload_path(folder: Path, name: str) -> Path:
    suffix = Path(name).suffix.lower()
    return folder / f"upload{suffix if suffix in VIDEO_SUFFIXES + STACK_SUFFIXES else '.mp4'}"


def check_video_upload(data: bytes, name: str) -> None:
    """Refuse an uploaded video from its container (frame size or count over `lwirst.limits`, or
    unreadable) when it arrives, before any visitor asks to process it; at most one frame is decoded."""
    with tempfile.TemporaryDirectory(prefix="lwirst-probe-") as tmp:
        path = _upload_path(Path(tmp), name)
        path.write_bytes(data)
        try:
            FrameSource(path, frames_limit=UPLOAD_FRAMES, work_limit=UPLOAD_WORK).close()
        except LwirstError as exc:
            raise renamed(exc, path, name) from exc


class RunClock:
    """A frame run's time so far and, once its rate is known, time left, for a visitor's progress bar ("Frame 9
    of 64 · 3 s so far, about 8 s left"): a large frame takes seconds on a CPU, and a bare count said nothing of
    how long to wait. The rate is measured from the end of the first burst of reports, so neither the one-off
    cost before it (loading the model, opening the video, the first batch's warm-up: from the start it read 11 s
    left where 1.3 s were, 64 frames, 8 done) nor a batch's frames, reported within milliseconds of each other
    after one network call, are taken for the rate (from the first of them it read "about 1 s left" where 15 s
    were, and that line stood while the next batch ran)."""

    BURST = 0.2  # seconds after the first report within which reports belong to its burst (one network call)

    def __init__(self, now: Callable[[], float] = time.monotonic) -> None:
        self._now = now
        self.started = now()
        self._first_report: float | None = None
        self._first: tuple[int, float] | None = None  # (frames done, time) at the first burst's last report

    def text(self, done: int, total: int | None) -> str:
        """The progress line for `done` frames of `total` (None: a stream of unknown length, no estimate)."""
        now = self._now()
        text = f"Frame {done}" + (f" of {total}" if total else "")
        if done <= 0:
            return text
        text += f" · {now - self.started:.0f} s so far"
        if self._first_report is None:
            self._first_report = now
        if now - self._first_report <= self.BURST:
            self._first = (done, now)
        assert self._first is not None
        first_done, first_time = self._first
        if total and total > done and done > first_done and now > first_time:
            text += f", about {(now - first_time) / (done - first_done) * (total - done):.0f} s left"
        return text


def segment_video(source: bytes | Path, name: str, pipeline: FramePipeline,
                  progress: Progress | None = None, fps: float | None = None) -> VideoOutput:
    """`lwirst.video.process_video` on an uploaded (bytes, at most `UPLOAD_FRAMES` frames and `UPLOAD_WORK`
    megapixels) or server-side
    video (or frame folder), in a scratch folder; fps overrides the source's frame rate. Stopped by
    `progress` (KeyboardInterrupt), the output holds the frames done (`result.interrupted`)."""
    with tempfile.TemporaryDirectory(prefix="lwirst-video-") as tmp:
        folder = Path(tmp)
        upload = isinstance(source, bytes)
        most = UPLOAD_FRAMES if upload else "LWIRST_MAX_VIDEO_FRAMES"
        if isinstance(source, bytes):
            path = _upload_path(folder, name)
            path.write_bytes(source)
        else:
            path = source
        truth = None if upload else _truth(path)  # a generated video's (the sample): outcomes drawn
        return _segmented(folder, name, lambda out, table: process_video(
            path, out, table, pipeline, progress, fps=fps, frames_limit=most,
            work_limit=UPLOAD_WORK if upload else None, truth=truth), lambda: _video_frames(path), path, truth)


def _truth(video: Path) -> FrameTruth | None:
    """The truth beside a server-side video, if any; an unreadable one is logged and the video runs without it."""
    try:
        return frame_truth(video)
    except LwirstError as exc:
        log.warning("%s: its truth is not drawn: %s", video.name, exc)
        return None


def segment_split(dataset: SegDataset, name: str, pipeline: FramePipeline, progress: Progress | None = None,
                  fps: float = SPLIT_FPS) -> VideoOutput:
    """The first `LWIRST_MAX_SPLIT_FRAMES` images of a dataset split, segmented and tracked as a video
    (`lwirst.streams.SplitFrames`) at `fps`: slow enough to see each scene, which changes every frame.
    One image per network call, at its own size, as Single frame and Evaluate run it, so every page
    finds the same targets in it."""
    frames = SplitFrames(dataset, name, limit("LWIRST_MAX_SPLIT_FRAMES"), fps)
    with tempfile.TemporaryDirectory(prefix="lwirst-split-") as tmp:
        return _segmented(Path(tmp), name, lambda out, table: process_frames(frames, out, table, pipeline,
                                                                               progress, batch=1),
                          lambda: (image for image in frames))  # each image at its own size, undrawn


def _segmented(folder: Path, name: str, run: Callable[[Path, Path], VideoResult],
               replay: Callable[[], Generator[np.ndarray, None, None]], source: Path | None = None,
               truth: FrameTruth | None = None) -> VideoOutput:
    """`run(video, table)` writing into the scratch `folder`, read back as a `VideoOutput`, with the close-ups
    of its first tracks cut from the source's frames, which `replay` reads again (not the annotated video: its
    labels and boxes cover the targets), boxed in their outcomes' colours where the video has `truth`; errors
    name the video as the visitor knows it (`name`), not by the server's paths (`source`, `folder`)."""
    out, table, web = folder / "annotated.mp4", folder / "targets.csv", folder / "annotated.webm"

    def visible(message: str) -> str:
        return (message.replace(str(source), name) if source is not None else message).replace(f"{folder}/", "")

    stopped = None
    try:
        result = run(out, table)
    except VideoStopped as exc:  # the frames before the error are kept and shown
        if exc.result.frames_done == 0:
            raise LwirstError(visible(str(exc))) from exc
        result, stopped = exc.result, visible(exc.reason)
    except LwirstError as exc:
        raise LwirstError(visible(str(exc))) from exc
    if result.frames_done == 0:  # stopped before the first frame: process_video kept no output
        raise LwirstError(f"{name}: stopped before the first frame was segmented; nothing to show")
    if result.codec in BROWSER_CODECS:
        web, web_format = out, "video/mp4"
    else:
        to_webm(out, web, result.fps)
        web_format = "video/webm"
    rows = detections_of(table)  # read once: the tables and the close-ups' outcomes
    per_frame, trajectories = video_tables(rows, result.frames_done)
    frames = replay()
    try:
        closeups = track_closeups(frames, trajectories, judge=truth_judge(truth, rows) if truth else None)
    except Exception as exc:  # the video is processed: a close-up is not worth failing its result for
        log.warning("%s: no close-ups (%s: %s)", name, type(exc).__name__, exc)
        closeups = ()
    finally:
        frames.close()
    return VideoOutput(out.read_bytes(), web.read_bytes(), web_format, table.read_bytes(), per_frame,
                       trajectories, result, stopped, closeups)


class LoopingUpload(LoopingVideo):
    """An uploaded video played in a loop (a live source) from a scratch copy, removed on `close` or,
    for a session that just ends, when the source is garbage-collected."""

    def __init__(self, data: bytes, name: str) -> None:
        self._scratch = tempfile.TemporaryDirectory(prefix="lwirst-loop-")
        path = _upload_path(Path(self._scratch.name), name)
        path.write_bytes(data)
        try:
            super().__init__(path, name)
        except BaseException:
            self._scratch.cleanup()
            raise

    def close(self) -> None:
        super().close()
        self._scratch.cleanup()


def detections_of(csv_path: Path) -> pd.DataFrame:
    """A `process_video` CSV's target rows (a frame without targets has one empty row, left out)."""
    return pd.read_csv(csv_path).dropna(subset=["x"])


def video_tables(rows: pd.DataFrame, frames: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    """From a video's target rows (`detections_of`): targets per frame (every frame, zeros included) and the
    trajectories of confirmed tracks (track_id, frame, x, y, size in pixels, peak probability, box)."""
    counts = rows.groupby("frame").size().reindex(range(frames), fill_value=0)
    per_frame = pd.DataFrame({"frame": counts.index, "targets": counts.to_numpy()})
    tracked = rows.dropna(subset=["track_id"]).astype({"track_id": int})
    columns = ["track_id", "frame", "x", "y", "size", "peak_prob", "box_x", "box_y", "box_w", "box_h"]
    return per_frame, tracked.loc[:, columns].reset_index(drop=True)


def track_table(trajectories: pd.DataFrame) -> pd.DataFrame:
    """One row per confirmed track, in order of appearance: its frames, how far it moved and how
    large and confident it was.

    Why "moved": a false blob on a fixed background feature (a bright roof, a horizon glint) is
    confirmed like a target but stays put; a net displacement of a pixel or two over many frames
    tells an operator which tracks to doubt. Displacement is between the first and last positions.
    """
    ordered = trajectories.sort_values(["track_id", "frame"])
    groups = ordered.groupby("track_id", sort=False)
    first, last = groups.first(), groups.last()
    table = pd.DataFrame({
        "track": [f"T{i}" for i in first.index],
        "first frame": first["frame"].astype(int).to_numpy(),
        "last frame": last["frame"].astype(int).to_numpy(),
        "frames seen": groups.size().to_numpy(),
        "moved (px)": np.hypot(last["x"] - first["x"], last["y"] - first["y"]).round(1).to_numpy(),
        "mean size (pixels)": groups["size"].mean().round(1).to_numpy(),
        "peak probability": groups["peak_prob"].max().round(3).to_numpy(),
    })
    order = np.lexsort((first.index.to_numpy(), table["first frame"].to_numpy()))  # by first frame, then id
    return table.iloc[order].reset_index(drop=True)
