"""One frame in, targets out: segmenter -> post-processing (Eqs. 2-4) -> tracker.

The network is the only expensive step, so the pipeline keeps the last saliency
map: `rescore` re-runs thresholding and the feature filter alone, which is what
the dashboard's live threshold and size/ratio controls call on every slider move.
"""

from __future__ import annotations

import math
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Protocol

import numpy as np

from lwirst.errors import LwirstError
from lwirst.postprocess import GROW_TO, NO_FILTER, Detections, Target, TargetFilter, detect
from lwirst.saliency import Saliency
from lwirst.tracking import Track, Tracker


class FpsMeter:
    """Frames per second over the last `window` ticks.

    A recent window, not the average since the start, so a slow first call
    (session warm-up, a new batch shape) fades out of the figure instead of
    dragging it down for the whole run.
    """

    def __init__(self, window: int = 30, clock: Callable[[], float] = time.perf_counter) -> None:
        self._marks: deque[tuple[float, int]] = deque(maxlen=window + 1)
        self._frames = 0
        self._clock = clock

    def tick(self, frames: int = 1) -> float:
        """Record `frames` more frames done now; return the rate (0 until two ticks were seen)."""
        self._frames += frames
        self._marks.append((self._clock(), self._frames))
        if len(self._marks) < 2:
            return 0.0
        (t0, n0), (t1, n1) = self._marks[0], self._marks[-1]
        return (n1 - n0) / (t1 - t0) if t1 > t0 else math.inf


class SegmenterLike(Protocol):
    """What the pipeline needs from `lwirst.inference.Segmenter`."""

    def predict(self, image: np.ndarray) -> Saliency: ...

    def predict_batch(self, images: Sequence[np.ndarray]) -> list[Saliency]: ...


@dataclass(frozen=True)
class FrameResult:
    """Everything known about one frame.

    detections: every target above the threshold; kept: those passing the filter;
    tracks: the tracker's live tracks after this frame, None without a tracker or
    for a re-scored frame (re-scoring never advances the tracker).
    """

    saliency: Saliency
    detections: Detections
    kept: Detections
    tracks: tuple[Track, ...] | None
    threshold: float
    target_filter: TargetFilter

    @property
    def removed(self) -> tuple[Target, ...]:
        """The detections the filter left out, where they were (a count alone said nothing of where)."""
        kept = {t.id for t in self.kept}
        return tuple(t for t in self.detections if t.id not in kept)


class FramePipeline:
    """Segmenter + post-processing + filter + optional tracker.

    `threshold` (a logit; see `lwirst.postprocess.threshold_from_probability`),
    `target_filter` and `grow_to` (the mask threshold, None for no growth) are plain
    attributes: change them between frames and the next `process` uses them.
    """

    def __init__(self, segmenter: SegmenterLike, threshold: float = 0.0,
                 target_filter: TargetFilter | None = None, tracker: Tracker | None = None,
                 grow_to: float | None = GROW_TO) -> None:
        self.segmenter = segmenter
        self.threshold = threshold
        self.grow_to = grow_to
        self.target_filter = target_filter or NO_FILTER
        self.tracker = tracker
        self.last_saliency: Saliency | None = None

    @property
    def threshold(self) -> float:
        return self._threshold

    @threshold.setter
    def threshold(self, value: float) -> None:
        value = float(value)
        if not math.isfinite(value):
            raise LwirstError(f"threshold {value} must be a finite logit")
        self._threshold = value

    def process(self, image: np.ndarray) -> FrameResult:
        """Run the network on one frame, then post-process and track."""
        return self._finish(self.segmenter.predict(image))

    def process_batch(self, images: Sequence[np.ndarray]) -> list[FrameResult]:
        """Several consecutive frames in one network call; tracked in order."""
        return [self._finish(s) for s in self.segmenter.predict_batch(list(images))]

    def rescore(self, source: Saliency | FrameResult | None = None, threshold: float | None = None,
                target_filter: TargetFilter | None = None) -> FrameResult:
        """Post-process an existing saliency again (default: the last frame's) without the network.

        threshold / target_filter default to the pipeline's current settings; the
        tracker is neither consulted nor advanced.
        """
        if isinstance(source, FrameResult):
            source = source.saliency
        saliency = source if source is not None else self.last_saliency
        if saliency is None:
            raise LwirstError("nothing to re-score yet: process a frame first")
        th = self.threshold if threshold is None else threshold
        flt = self.target_filter if target_filter is None else target_filter
        detections = detect(saliency.logits, th, self.grow_to)
        return FrameResult(saliency, detections, detections.filter(flt), None, float(th), flt)

    def reset(self) -> None:
        """Start a new sequence: forget the last frame and all tracks."""
        self.last_saliency = None
        if self.tracker is not None:
            self.tracker.reset()

    def _finish(self, saliency: Saliency) -> FrameResult:
        self.last_saliency = saliency
        detections = detect(saliency.logits, self.threshold, self.grow_to)
        kept = detections.filter(self.target_filter)
        tracks = self.tracker.update(kept) if self.tracker is not None else None
        return FrameResult(saliency, detections, kept, tracks, self.threshold, self.target_filter)
