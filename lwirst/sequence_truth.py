"""A synthetic video's detections scored against the generator's truth (`<stem>_tracks.csv` beside it).

The Video page plays the embedded sample without masks, so without this its boxes could not say what they
missed. A target is found on a frame when a detection's centroid lies within `MATCH_PX` of it (the
centroid rule Pd uses everywhere); each detection finds at most one target, so two targets merged into
one blob count once; a detection that finds none is a false alarm. Hidden targets (`visible` 0) are not
counted.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from lwirst.errors import LwirstError

MATCH_PX = 3.0
TRUTH_COLUMNS = ("frame", "id", "x", "y", "visible")


@dataclass(frozen=True)
class TargetScore:
    """One true target over the sequence: frames where it is visible and where it was found."""

    id: int
    visible: int
    found: int
    # (track id, frames) of each confirmed track whose boxes found it, in the order they first did: one track
    # for a target followed throughout, more where a track broke or two swapped ids as targets crossed
    tracks: tuple[tuple[int, int], ...] = ()

    @property
    def share(self) -> float:
        return self.found / self.visible if self.visible else float("nan")  # nothing visible: no Pd


@dataclass(frozen=True)
class TruthScore:
    """Target-frames found, per target and pooled, and the detections that found no target."""

    targets: tuple[TargetScore, ...]
    false_alarms: int
    frames: int

    @property
    def visible(self) -> int:
        return sum(t.visible for t in self.targets)

    @property
    def found(self) -> int:
        return sum(t.found for t in self.targets)

    @property
    def pd(self) -> float:
        return self.found / self.visible if self.visible else float("nan")  # nothing visible: no Pd


def truth_path(video: Path) -> Path:
    """Where `lwirst synth --video` writes a video's truth."""
    return video.with_name(video.stem + "_tracks.csv")


def read_truth(path: Path) -> pd.DataFrame:
    """A truth CSV, checked for the columns scoring needs."""
    try:
        truth = pd.read_csv(path)
    except (OSError, ValueError) as exc:
        raise LwirstError(f"{path.name}: not a readable truth table ({exc})") from exc
    missing = [c for c in TRUTH_COLUMNS if c not in truth.columns]
    if missing:
        raise LwirstError(f"{path.name}: truth table lacks the columns {', '.join(missing)}")
    return truth


def pair(points: np.ndarray, found: np.ndarray) -> list[tuple[int, int]]:
    """One-to-one (target, detection) index pairs of N x 2 and M x 2 positions, closer than MATCH_PX, the
    globally nearest first: a blob that merged two targets goes to the one it sits closest to."""
    if not len(points) or not len(found):
        return []
    distance = np.hypot(points[:, None, 0] - found[None, :, 0], points[:, None, 1] - found[None, :, 1])
    pairs: list[tuple[int, int]] = []
    taken_targets, taken_found = set(), set()
    for flat in np.argsort(distance, axis=None):
        t, b = (int(i) for i in np.unravel_index(flat, distance.shape))
        if not distance[t, b] < MATCH_PX:  # far, or no position (NaN sorts last)
            break
        if t not in taken_targets and b not in taken_found:
            taken_targets.add(t)
            taken_found.add(b)
            pairs.append((t, b))
    return pairs


class FrameTruth:
    """A generated video's visible targets frame by frame, to draw each frame's outcomes as `score_detections`
    counts them: a detection that found a target, one that found none, and a target nobody found."""

    def __init__(self, truth: pd.DataFrame) -> None:
        visible = truth[truth["visible"] == 1]
        self._points = {int(f): g[["x", "y"]].to_numpy(float) for f, g in visible.groupby("frame")}

    def outcomes(self, frame: int, found: np.ndarray) -> tuple[set[int], np.ndarray]:
        """For a frame's detections (M x 2 centroids): the indices of those that found a target, and the
        positions (K x 2) of the targets none found."""
        points = self._points.get(frame, np.zeros((0, 2)))
        pairs = pair(points, found)
        missed = np.delete(points, [t for t, _ in pairs], axis=0)
        return {b for _, b in pairs}, missed


def score_detections(truth: pd.DataFrame, found: pd.DataFrame, frames: int) -> TruthScore:
    """Match each of the first `frames` frames' visible targets to its detections (`frame`, `x`, `y` rows), one
    to one, nearest first within MATCH_PX (`pair`). Frames past `frames` were not processed (a stopped run):
    they are not counted, where they read as misses (a run stopped at 41 of 64 frames read Pd 0.59 for 0.95)."""
    visible = truth[(truth["visible"] == 1) & (truth["frame"] < frames)]
    # a frame without detections is a row without a position in `lwirst video`'s CSV: no detection (taken for one
    # at NaN, it was paired with a target, and a video whose every frame was empty read Pd 0.50)
    found = found.dropna(subset=["x", "y"])
    ids = sorted(int(i) for i in truth["id"].unique())
    hits = dict.fromkeys(ids, 0)
    tracks: dict[int, dict[int, int]] = {i: {} for i in ids}  # target -> track id -> frames (first seen first)
    matched = 0
    track_of = pd.to_numeric(found["track_id"], errors="coerce") if "track_id" in found else None
    detections = {int(f): (g[["x", "y"]].to_numpy(float), g.index) for f, g in found.groupby("frame")}
    for frame, targets in visible.groupby("frame"):
        points, rows = detections.get(int(frame), (np.zeros((0, 2)), ()))
        for t, b in pair(targets[["x", "y"]].to_numpy(float), points):
            target = int(targets["id"].iloc[t])
            hits[target] += 1
            if track_of is not None and pd.notna(track := track_of[rows[b]]):
                tracks[target][int(track)] = tracks[target].get(int(track), 0) + 1
            matched += 1
    counts = visible.groupby("id").size()
    scores = tuple(TargetScore(i, int(counts.get(i, 0)), hits[i], tuple(tracks[i].items())) for i in ids)
    return TruthScore(scores, len(found) - matched, frames)


def frame_truth(video: Path) -> FrameTruth | None:
    """The truth written beside a generated video, frame by frame; None for a video without one."""
    path = truth_path(video)
    return FrameTruth(read_truth(path)) if path.is_file() else None


def score_video(video: Path, detections: pd.DataFrame, frames: int) -> TruthScore | None:
    """A video's detections against the truth written beside it; None when it has none (a visitor's own
    video)."""
    path = truth_path(video)
    if not path.is_file():
        return None
    return score_detections(read_truth(path), detections, frames)
