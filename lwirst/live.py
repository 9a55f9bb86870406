"""Live streams: frame sources that never end, segmented and tracked frame by frame.

Sources: `SyntheticSensor` (an endless synthetic IR sequence, a new scene every
`length` frames), `LoopingVideo` (a video file restarted at its end) and
`CameraSource` (a local camera through OpenCV). `LiveStream` runs a
`FramePipeline` with a tracker on each frame and measures the frame rate; its
threshold and Eq. 4 filter can be changed while it runs and apply from the next
frame on. `LiveStream.feed` takes frames from elsewhere (a browser webcam).
"""

from __future__ import annotations

import glob
import math
import sys
import time
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import cv2
import numpy as np
import pandas as pd

from lwirst.drawing import FrameOutcomes, mask_outcomes, overlay
from lwirst.errors import LwirstError, renamed
from lwirst.metrics import image_record
from lwirst.pipeline import FpsMeter, FramePipeline, FrameResult, SegmenterLike
from lwirst.postprocess import TargetFilter
from lwirst.synth import PRESETS, SceneConfig, render_sequence
from lwirst.tracking import Track, Tracker, TrackerSettings
from lwirst.video import FrameSource

FPS_WINDOW = 30  # frames over which both of a stream's rates are measured

# The live demo's scene: the SIRST-calibrated preset the embedded samples are drawn from, the content
# the shipped model is trained for. README (The dashboard, page by page) has its measured Pd and false
# alarms beside the `sky` scene it replaced, from `scripts/live_scene_probe.py`.
LIVE_SCENE = PRESETS["sirst"]


class Source(Protocol):
    """An endless supply of frames. A source may also say that its frames are unrelated scenes
    (`independent_frames`: tracking restarts on each), name the frame it read last (`frame_label`) and give its
    ground-truth mask (`frame_mask`: its outcomes are then drawn)."""

    name: str

    def read(self) -> np.ndarray: ...

    def close(self) -> None: ...


class SyntheticSensor:
    """Moving targets over synthetic IR scenes; deterministic by seed, never ends."""

    name = "synthetic sensor"

    def __init__(self, config: SceneConfig | None = None, seed: int = 0, length: int = 250) -> None:
        if length < 2:
            raise LwirstError("a synthetic sequence needs at least 2 frames")
        self.config = config or LIVE_SCENE
        self.seed, self.length = seed, length
        self._frames: Iterator[np.ndarray] = self._sequence()

    def _sequence(self) -> Iterator[np.ndarray]:
        while True:
            for frame in render_sequence(self.config, self.length, self.seed):
                yield frame.image
            self.seed += 1

    def read(self) -> np.ndarray:
        return next(self._frames)

    def close(self) -> None:
        """Nothing to release."""


class _Capture:
    """An OpenCV capture owned by a frame source; `close` releases the device or file."""

    _capture: cv2.VideoCapture

    def close(self) -> None:
        self._capture.release()


class LoopingVideo:
    """A video file (or a TIFF stack of frames) played in a loop (opened again when it ends); `name` (default:
    the file's) names it. Read as `lwirst video` reads it (`lwirst.video.FrameSource`): a 16-bit or deeper grey
    stream as its counts, not cut to 8 bits."""

    def __init__(self, path: str | Path, name: str | None = None) -> None:
        self.path = Path(path)
        self.name = name or self.path.name
        self._source = self._open()
        self._frames = iter(self._source)
        self._position, self._loop = -1, 1  # of the frame read last, so it can be found in the video

    def _open(self) -> FrameSource:
        try:
            return FrameSource(self.path)
        except LwirstError as exc:  # named as the visitor knows it, not by a scratch copy's path
            raise renamed(exc, self.path, self.name) from exc

    def read(self) -> np.ndarray:
        frame = next(self._frames, None)
        if frame is None:  # its end: from its start again
            self._source.close()
            self._source = self._open()
            self._frames = iter(self._source)
            frame = next(self._frames, None)
            if frame is None:
                raise LwirstError(f"{self.name}: cannot restart the video")
            self._position, self._loop = -1, self._loop + 1
        self._position += 1
        return frame

    def close(self) -> None:
        self._source.close()

    @property
    def frame_label(self) -> str | None:
        """The frame read last as the video numbers it (as `lwirst video`'s CSV does), from the second loop on,
        where the stream counts on past the video's end ("frame 134" of 80 frames); None in the first."""
        return f"video frame {self._position}, loop {self._loop}" if self._loop > 1 else None


class CameraSource(_Capture):
    """A local camera opened by OpenCV index."""

    def __init__(self, index: int = 0) -> None:
        self.index = index
        self.name = f"camera {index}"
        self._capture = cv2.VideoCapture(index)
        if not self._capture.isOpened():
            raise LwirstError(f"{self.name}: cannot be opened (in use, unplugged or no permission)")

    def read(self) -> np.ndarray:
        ok, frame = self._capture.read()
        if not ok:
            raise LwirstError(f"{self.name}: stopped delivering frames")
        return frame


def local_cameras() -> list[int]:
    """Indices of local cameras: /dev/video* on Linux (no probing), else the first that opens."""
    if sys.platform.startswith("linux"):
        return sorted(int(p.removeprefix("/dev/video")) for p in glob.glob("/dev/video[0-9]*"))
    capture = cv2.VideoCapture(0)
    try:
        return [0] if capture.isOpened() else []
    finally:
        capture.release()


@dataclass(frozen=True)
class LiveFrame:
    """One processed frame of a stream: the frame, its result, the rate and the annotated picture."""

    index: int
    image: np.ndarray
    result: FrameResult
    fps: float
    annotated: np.ndarray
    # frames per second of network, post-processing and tracking alone, over the frames `fps` covers (a
    # single frame's figure could read below the end-to-end rate that includes it)
    pipeline_fps: float = 0.0
    # what the source calls this frame when its number does not say (a dataset image's name), else None
    label: str | None = None
    # the frame's ground-truth mask where the source has one (a dataset split), and its detections judged against it
    truth: np.ndarray | None = None
    outcomes: FrameOutcomes | None = None

    @property
    def tracks(self) -> tuple[Track, ...]:
        return self.result.tracks or ()

    def targets(self, limit: int | None = None) -> pd.DataFrame:
        """The kept targets of this frame, strongest (peak logit) first; at most `limit` rows."""
        table = self.result.kept.to_frame().sort_values("peak", ascending=False)
        return table.head(limit) if limit is not None else table

    def track_table(self) -> pd.DataFrame:
        """Confirmed tracks: id, position, velocity, hits and frames missed."""
        rows = [{"track": t.track_id, "x": t.x, "y": t.y, "vx": t.vx, "vy": t.vy, "hits": t.hits,
                 "missed": t.missed} for t in self.tracks if t.confirmed]
        return pd.DataFrame(rows, columns=["track", "x", "y", "vx", "vy", "hits", "missed"])

    def trajectories(self) -> pd.DataFrame:
        """Recent positions of confirmed tracks (track, frame, x, y), for plotting."""
        rows = [(t.track_id, f, x, y) for t in self.tracks if t.confirmed for f, x, y in t.trajectory]
        return pd.DataFrame(rows, columns=["track", "frame", "x", "y"])


class LiveStream:
    """A source, segmented and tracked frame by frame, with settings that change on the fly."""

    def __init__(self, source: Source | None, pipeline: FramePipeline, name: str | None = None) -> None:
        if pipeline.tracker is None:
            raise LwirstError("a live stream needs a pipeline with a tracker")
        self.source = source
        self.name = name or (source.name if source is not None else "external frames")
        self.pipeline = pipeline
        self.frames = 0
        self._fps = FpsMeter(FPS_WINDOW)
        self._pipeline_s: deque[float] = deque(maxlen=FPS_WINDOW)
        self._rated = 0  # frames both rates have measured since the stream (or its rates) started
        self.last: LiveFrame | None = None
        self._stepped_at = -math.inf  # time.monotonic() when the last `step`'s frame was ready

    def restart_rates(self) -> None:
        """Measure both rates afresh (after a pause, which is no part of the end-to-end one), over the same
        frames."""
        self._fps = FpsMeter(FPS_WINDOW)
        self._pipeline_s.clear()
        self._rated = 0

    def configure(self, threshold: float, target_filter: TargetFilter, tracking: TrackerSettings | None = None) -> None:
        """New threshold (logit), Eq. 4 filter and (given) tracker settings, used from the next frame on; the
        tracks go on."""
        self.pipeline.threshold = threshold
        self.pipeline.target_filter = target_filter
        if tracking is not None and self.pipeline.tracker is not None:
            self.pipeline.tracker.configure(tracking)

    def feed(self, image: np.ndarray, label: str | None = None, mask: np.ndarray | None = None) -> LiveFrame:
        """Process one frame from anywhere (`label`: what its source calls it; `mask`: its ground truth, whose
        outcomes the picture then shows, misses boxed); the tracker advances."""
        start = time.perf_counter()
        result = self.pipeline.process(image)
        seconds = time.perf_counter() - start
        self._pipeline_s.append(seconds)
        fps = self._fps.tick()
        shown = fps if math.isfinite(fps) and fps > 0 else None
        # the frames the end-to-end rate spans: each tick interval holds one frame's pipeline, and the
        # first frame has no interval (it alone then)
        covered = min(self._rated, FPS_WINDOW) or 1
        busy = sum(list(self._pipeline_s)[-covered:])
        judged = mask_outcomes(result.kept, mask) if mask is not None else None
        self.last = LiveFrame(self.frames, image, result, fps,
                              overlay(image, result.kept, result.tracks, shown, fps_label="end-to-end fps",
                                      outcomes=judged, ignored=result.saliency.ignored),
                              covered / busy if busy > 0 else 0.0, label, mask, judged)
        self.frames += 1
        self._rated += 1
        return self.last

    def step(self) -> LiveFrame:
        """Read the source's next frame and process it."""
        if self.source is None:
            raise LwirstError("this stream has no source; feed it frames")
        if not self.tracking:  # a new scene each frame: nothing to track
            self.pipeline.reset()
        image = self.source.read()
        frame = self.feed(image, getattr(self.source, "frame_label", None), getattr(self.source, "frame_mask", None))
        self._stepped_at = time.monotonic()  # ready to show: it stands from here
        return frame

    @property
    def judged(self) -> bool:
        """Whether the source gives each frame's ground truth (a dataset split), so frames show outcomes."""
        return hasattr(self.source, "frame_mask")

    @property
    def tracking(self) -> bool:
        """Whether frames are tracked: not those of a source of unrelated images (a dataset split)."""
        return not getattr(self.source, "independent_frames", False)

    def due_in(self, every: float) -> float:
        """Seconds until the next `step` is due when each frame is to stand `every` seconds from the moment it
        was ready (0: due now). A dataset split's images are unrelated scenes: at the pipeline's pace each
        flashed by too fast to see."""
        return max(0.0, self._stepped_at + every - time.monotonic())

    def close(self) -> None:
        if self.source is not None:
            self.source.close()


@dataclass(frozen=True)
class SceneCoverage:
    """How a model does on one synthetic sequence as the Live page streams it: targets detected by the kept
    targets and false-alarm blobs (`image_record`: centroid distance < 3, as Pd and false blobs are scored
    everywhere), and the frames after the first that show no confirmed track (the page then draws no
    trajectory). Counts, so that several sequences pool."""

    seed: int
    frames: int
    targets: int
    detected: int
    false_blobs: int
    untracked_frames: int

    @property
    def pd(self) -> float:
        return self.detected / self.targets if self.targets else math.nan  # undefined, as Pd is everywhere


def scene_coverage(segmenter: SegmenterLike, config: SceneConfig = LIVE_SCENE, seed: int = 0, frames: int = 250,
                   threshold: float = 0.0) -> SceneCoverage:
    """Stream `frames` frames of the sequence `seed` of `config` through a fresh tracking pipeline, scored
    against the generator's masks: what a viewer of the Live page sees the model do on that scene."""
    pipeline = FramePipeline(segmenter, threshold, None, Tracker())
    targets = detected = false_blobs = untracked = 0
    for frame in render_sequence(config, frames, seed):
        result = pipeline.process(frame.image)
        record = image_record(result.kept.mask, frame.mask)  # one labelling of each frame
        targets, detected = targets + record.targets, detected + record.detected
        false_blobs += record.false_alarms
        untracked += frame.index > 0 and not any(track.confirmed for track in result.tracks or ())
    return SceneCoverage(seed, frames, targets, detected, false_blobs, untracked)
