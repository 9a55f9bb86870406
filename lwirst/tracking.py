"""Frame-to-frame association of targets into tracks with persistent ids.

Each track runs a constant-velocity alpha-beta filter on its centroid; detections
are assigned to the tracks' predicted positions by an optimal (Hungarian)
assignment on Euclidean distance, with pairs farther than `gate` pixels
forbidden. A track that is not seen coasts on its velocity for up to
`max_missed` frames, so a target that blinks out (dim frame, occlusion) keeps its
id. A track only gets an id once it has been seen `min_hits` times, so one-frame
false alarms never consume ids and the published ids stay contiguous.
"""

from __future__ import annotations

import logging
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass, field

import numpy as np
from scipy.optimize import linear_sum_assignment

from lwirst.errors import LwirstError
from lwirst.postprocess import Target
from lwirst.rounding import count_text

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Track:
    """Snapshot of one track after a frame.

    track_id is None while the track is tentative (fewer than `min_hits` hits).
    target is the detection matched this frame, None while coasting. x, y is the
    filtered position; trajectory holds (frame, x, y) of the filtered positions,
    the most recent last.
    """

    track_id: int | None
    x: float
    y: float
    vx: float
    vy: float
    hits: int
    missed: int
    target: Target | None
    trajectory: tuple[tuple[int, float, float], ...]

    @property
    def confirmed(self) -> bool:
        return self.track_id is not None


@dataclass
class _State:
    position: np.ndarray
    velocity: np.ndarray = field(default_factory=lambda: np.zeros(2))
    hits: int = 1
    missed: int = 0
    track_id: int | None = None
    target: Target | None = None
    trajectory: deque[tuple[int, float, float]] = field(default_factory=deque)


@dataclass(frozen=True)
class TrackerSettings:
    """How targets link into tracks, with the defaults of `lwirst video`, the Video page and Live.

    gate: largest distance in pixels between a track's predicted position and a detection that may be
        associated (a target moving faster than this between frames gets no track).
    max_missed: frames a confirmed track survives unseen.
    min_hits: detections before a track is confirmed and gets an id (one-frame false alarms never do).
    """

    gate: float = 20.0
    max_missed: int = 3
    min_hits: int = 2

    def __post_init__(self) -> None:
        if not self.gate > 0:
            raise LwirstError(f"tracker gate must be positive, got {self.gate}")
        if self.max_missed < 0 or self.min_hits < 1:
            raise LwirstError(f"tracker needs max_missed >= 0 and min_hits >= 1, got {self.max_missed} and "
                              f"{self.min_hits}")

    def text(self) -> str:
        """"gate 20 px, 3 missed frames, 2 hits for an id", as every view states it."""
        missed, hits = count_text(self.max_missed, "missed frame"), count_text(self.min_hits, "hit")
        return f"gate {self.gate:g} px, {missed}, {hits} for an id"

    @property
    def seen(self) -> str:
        """What confirms a track: "on 2 frames in a row", "on 1 frame"."""
        return f"on {self.min_hits} frames in a row" if self.min_hits > 1 else "on 1 frame"


class Tracker:
    """Online multi-target tracker (alpha-beta prediction + gated optimal assignment).

    gate, max_missed, min_hits: see `TrackerSettings`.
    alpha, beta: position and velocity gains of the alpha-beta filter.
    max_trajectory: positions kept per track (bounds memory on long videos).
    max_targets: a frame with more targets than this (thousands of speckles from an
        untrained network or a threshold dragged far down) is treated as empty, so the
        tracks x targets association can never stall a live server; tracks coast.
    """

    def __init__(self, gate: float = TrackerSettings.gate, max_missed: int = TrackerSettings.max_missed,
                 min_hits: int = TrackerSettings.min_hits, alpha: float = 0.85, beta: float = 0.5,
                 max_trajectory: int = 512, max_targets: int = 256) -> None:
        if max_trajectory < 1:
            raise LwirstError("tracker needs max_trajectory >= 1")
        if not (0.0 < alpha <= 1.0 and 0.0 <= beta <= 2.0):
            raise LwirstError(f"alpha-beta gains out of range: alpha={alpha} (0, 1], beta={beta} [0, 2]")
        self.settings = TrackerSettings(float(gate), int(max_missed), int(min_hits))
        self.alpha = float(alpha)
        self.beta = float(beta)
        self.max_trajectory = int(max_trajectory)
        self.max_targets = int(max_targets)
        self.reset()

    def configure(self, settings: TrackerSettings) -> None:
        """Link targets with new settings from the next frame on, keeping the tracks (a live stream's
        controls act on the running stream)."""
        self.settings = settings

    @property
    def gate(self) -> float:
        return self.settings.gate

    @property
    def max_missed(self) -> int:
        return self.settings.max_missed

    @property
    def min_hits(self) -> int:
        return self.settings.min_hits

    def untracked(self, targets: int, setting: str = "") -> str:
        """Why `targets` detections, over a run, confirmed no track ("" when a track formed, or when too few were
        seen to form one): the distance a target may move between frames; `setting` names how the caller sets
        it ("--gate")."""
        if self.tracks_started or targets < self.min_hits:
            return ""
        named = f" ({setting})" if setting else ""
        return (f"no track formed from {targets} targets: a track needs a target within the gate ({self.gate:g} px) "
                f"of where it was, {self.settings.seen}; a target moving faster needs a larger "
                f"gate{named}")

    def reset(self) -> None:
        """Forget every track and restart ids at 1 (a new video)."""
        self._tracks: list[_State] = []
        self._next_id = 1
        self.frame = -1

    @property
    def tracks_started(self) -> int:
        """Number of ids handed out so far."""
        return self._next_id - 1

    def update(self, targets: Iterable[Target]) -> tuple[Track, ...]:
        """Advance one frame with this frame's targets; returns the live tracks."""
        self.frame += 1
        targets = list(targets)
        if len(targets) > self.max_targets:
            targets = []
        predicted = np.array([t.position + t.velocity for t in self._tracks]).reshape(-1, 2)
        measured = np.array([(t.x, t.y) for t in targets], dtype=np.float64).reshape(-1, 2)
        matches = self._associate(predicted, measured)

        matched_tracks: set[int] = set()
        matched_targets: set[int] = set()
        for ti, di in matches:
            self._correct(self._tracks[ti], predicted[ti], measured[di], targets[di])
            matched_tracks.add(ti)
            matched_targets.add(di)

        survivors: list[_State] = []
        for ti, state in enumerate(self._tracks):
            if ti not in matched_tracks:
                state.missed += 1
                state.target = None
                state.position = predicted[ti]
                # A tentative track that misses is dropped: it is most likely a false alarm.
                if state.track_id is None or state.missed > self.max_missed:
                    continue
                self._record(state)
            survivors.append(state)
        for di, target in enumerate(targets):
            if di not in matched_targets:
                state = _State(position=measured[di].copy(), target=target,
                               trajectory=deque(maxlen=self.max_trajectory))
                self._confirm(state)
                self._record(state)
                survivors.append(state)
        self._tracks = survivors
        return tuple(self._snapshot(s) for s in survivors)

    def _associate(self, predicted: np.ndarray, measured: np.ndarray) -> list[tuple[int, int]]:
        if predicted.size == 0 or measured.size == 0:
            return []
        distance = np.linalg.norm(predicted[:, None, :] - measured[None, :, :], axis=2)
        allowed = distance <= self.gate
        # Forbidden pairs get a cost no allowed assignment can beat, then are discarded.
        cost = np.where(allowed, distance, self.gate * (1 + distance.size) + 1.0)
        rows, cols = linear_sum_assignment(cost)
        return [(int(r), int(c)) for r, c in zip(rows, cols, strict=True) if allowed[r, c]]

    def _correct(self, state: _State, predicted: np.ndarray, measured: np.ndarray, target: Target) -> None:
        if state.hits == 1:
            # Second sighting: the displacement is the best velocity estimate there is.
            state.velocity = measured - state.position
            state.position = measured.copy()
        else:
            residual = measured - predicted
            state.position = predicted + self.alpha * residual
            state.velocity = state.velocity + self.beta * residual
        state.hits += 1
        state.missed = 0
        state.target = target
        self._confirm(state)
        self._record(state)

    def _confirm(self, state: _State) -> None:
        if state.track_id is None and state.hits >= self.min_hits:
            state.track_id = self._next_id
            self._next_id += 1
            log.debug("frame %d: track %d confirmed", self.frame, state.track_id)

    def _record(self, state: _State) -> None:
        state.trajectory.append((self.frame, float(state.position[0]), float(state.position[1])))

    @staticmethod
    def _snapshot(state: _State) -> Track:
        return Track(track_id=state.track_id, x=float(state.position[0]), y=float(state.position[1]),
                     vx=float(state.velocity[0]), vy=float(state.velocity[1]), hits=state.hits,
                     missed=state.missed, target=state.target, trajectory=tuple(state.trajectory))
