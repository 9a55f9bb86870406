"""Tracking on synthetic sequences: Gaussian blobs on noise -> logits -> postprocess -> tracker."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest

from lwirst.errors import LwirstError
from lwirst.postprocess import TargetFilter, detect
from lwirst.tracking import Track, Tracker, TrackerSettings

SHAPE = (96, 128)
Path = Callable[[int], tuple[float, float] | None]


def render(positions: list[tuple[float, float]], rng: np.random.Generator) -> np.ndarray:
    """An IR-like frame (0..1): noisy background plus one Gaussian blob per position."""
    yy, xx = np.mgrid[0:SHAPE[0], 0:SHAPE[1]]
    frame = rng.normal(0.2, 0.03, SHAPE)
    for x, y in positions:
        frame += 0.8 * np.exp(-((xx - x) ** 2 + (yy - y) ** 2) / (2 * 1.2**2))
    return frame.astype(np.float32)


def run_sequence(paths: list[Path], frames: int, tracker: Tracker, seed: int = 0) -> list[tuple[Track, ...]]:
    rng = np.random.default_rng(seed)
    out = []
    for f in range(frames):
        positions = [p for p in (path(f) for path in paths) if p is not None]
        logits = (render(positions, rng) - 0.5) * 20.0  # saliency-like: background well below 0
        kept = detect(logits).filter(TargetFilter(min_size=1))
        out.append(tracker.update(kept))
    return out


def nearest_id(tracks: tuple[Track, ...], x: float, y: float) -> int | None:
    seen = [t for t in tracks if t.target is not None]
    best = min(seen, key=lambda t: (t.target.x - x) ** 2 + (t.target.y - y) ** 2)
    assert abs(best.target.x - x) < 2 and abs(best.target.y - y) < 2
    return best.track_id


def test_single_target_keeps_one_id() -> None:
    tracker = Tracker(min_hits=2)
    history = run_sequence([lambda f: (10 + 2.5 * f, 20 + 1.0 * f)], 30, tracker)
    assert history[0][0].track_id is None  # tentative until min_hits
    ids = {t.track_id for frame in history[1:] for t in frame}
    assert ids == {1} and tracker.tracks_started == 1
    (last,) = history[-1]
    assert last.hits == 30
    assert (last.vx, last.vy) == (pytest.approx(2.5, abs=0.3), pytest.approx(1.0, abs=0.3))
    assert len(last.trajectory) == 30 and last.trajectory[-1][0] == 29


def test_crossing_targets_keep_distinct_ids() -> None:
    a = lambda f: (8 + 3.0 * f, 40.0)  # noqa: E731 - moving right
    b = lambda f: (40.0, 4 + 3.4 * f)  # noqa: E731 - moving down, crosses a around frame 11
    tracker = Tracker(gate=12, min_hits=2, max_missed=3)
    history = run_sequence([a, b], 26, tracker)
    before = history[5]
    id_a, id_b = nearest_id(before, *a(5)), nearest_id(before, *b(5))
    assert id_a is not None and id_b is not None and id_a != id_b
    for f in range(18, 26):
        assert nearest_id(history[f], *a(f)) == id_a
        assert nearest_id(history[f], *b(f)) == id_b
    assert tracker.tracks_started == 2


def test_target_missing_two_frames_keeps_id() -> None:
    path = lambda f: None if f in (10, 11) else (15 + 2.0 * f, 50 - 1.0 * f)  # noqa: E731
    tracker = Tracker(min_hits=2, max_missed=3)
    history = run_sequence([path], 20, tracker)
    (coasting,) = history[11]
    assert coasting.target is None and coasting.missed == 2 and coasting.track_id == 1
    assert coasting.x == pytest.approx(15 + 2.0 * 11, abs=1.5)  # predicted, not frozen
    assert {t.track_id for t in history[19]} == {1} and tracker.tracks_started == 1


def test_track_dies_after_max_missed_and_a_new_id_follows() -> None:
    path = lambda f: None if 5 <= f < 10 else (30.0, 30.0)  # noqa: E731
    tracker = Tracker(min_hits=2, max_missed=2)
    history = run_sequence([path], 14, tracker)
    assert [len(h) for h in history[5:10]] == [1, 1, 0, 0, 0]
    assert history[11][0].track_id == 2


def test_counts_and_false_alarms() -> None:
    paths: list[Path] = [
        lambda f: (10 + 2.0 * f, 15.0),
        lambda f: (100 - 2.0 * f, 70.0),
        lambda f: (60.0, 10 + 1.5 * f) if f >= 6 else None,  # enters later
        lambda f: (20.0, 80.0) if f == 3 else None,  # one-frame false alarm
    ]
    tracker = Tracker(min_hits=2)
    history = run_sequence(paths, 20, tracker)
    expected = [sum(p(f) is not None for p in paths[:3]) for f in range(20)]
    confirmed = [sum(t.confirmed and t.target is not None for t in h) for h in history]
    assert confirmed[1:6] == expected[1:6] and confirmed[7:] == expected[7:]
    assert confirmed[6] == expected[6] - 1  # the newcomer is tentative on its first frame
    assert tracker.tracks_started == 3  # the false alarm never got an id


def test_reset_and_validation() -> None:
    tracker = Tracker(min_hits=1)
    run_sequence([lambda f: (20.0, 20.0)], 3, tracker)
    tracker.reset()
    assert tracker.tracks_started == 0 and tracker.update([]) == ()
    for kwargs in ({"gate": 0}, {"min_hits": 0}, {"max_missed": -1}, {"alpha": 0}):
        with pytest.raises(LwirstError):
            Tracker(**kwargs)


def test_settings_are_validated_said_and_act_on_a_running_tracker() -> None:
    """The Video page and Live set the tracker from the sidebar, Live on the running stream: a target jumping
    30 px a frame gets no track under the default 20 px gate, and one once the gate widens mid-run, while a
    slow target's track keeps its id through the change."""
    for bad in ({"gate": 0.0}, {"gate": float("nan")}, {"min_hits": 0}, {"max_missed": -1}):
        with pytest.raises(LwirstError):
            TrackerSettings(**bad)
    assert TrackerSettings().text() == "gate 20 px, 3 missed frames, 2 hits for an id"
    one = TrackerSettings(gate=5.0, max_missed=1, min_hits=1)  # "1 frames in a row" read oddly
    assert one.text() == "gate 5 px, 1 missed frame, 1 hit for an id" and one.seen == "on 1 frame"
    assert TrackerSettings().seen == "on 2 frames in a row"
    tracker = Tracker()
    assert tracker.settings == TrackerSettings()
    slow = lambda f: (10.0 + 1.0 * f, 20.0)  # noqa: E731
    fast = lambda f: (10.0 + 30.0 * (f % 4), 70.0)  # noqa: E731 - 30 px a frame, four frames a sweep
    before = run_sequence([slow, fast], 4, tracker)
    assert {t.track_id for t in before[-1] if t.confirmed} == {1}  # the slow one only
    tracker.configure(TrackerSettings(gate=40.0, max_missed=3, min_hits=2))
    assert tracker.settings.gate == 40.0
    after = run_sequence([lambda f: slow(f + 4), lambda f: fast(f + 1)], 3, tracker, seed=1)
    confirmed = {t.track_id for t in after[-1] if t.confirmed}
    assert 1 in confirmed and len(confirmed) == 2, after[-1]


def test_a_trail_is_drawn_around_its_target_never_over_it() -> None:
    """A white trail ending on the centroid painted a 3x3 target's pixels (133-141 read 215-225 on every frame of
    a video): the trail stops at the target's box, whose pixels stay the frame's own."""
    from lwirst.drawing import draw_targets

    tracker, rng = Tracker(min_hits=2), np.random.default_rng(1)
    for f in range(6):
        logits = (render([(20 + 4.0 * f, 40 + 2.0 * f)], rng) - 0.5) * 20.0
        kept = detect(logits).filter(TargetFilter(min_size=1))
        tracks = tracker.update(kept)
    frame = np.full((*SHAPE, 3), 90, np.uint8)
    drawn = draw_targets(frame, kept, tracks)
    (target,) = list(kept)
    x, y, w, h = target.box
    assert np.array_equal(drawn[y:y + h, x:x + w], frame[y:y + h, x:x + w])  # the target itself untouched
    assert (drawn.min(axis=2) > 200).sum() >= 10  # and the (white) trail drawn behind it
    # without the track's trail, nothing at all is drawn inside the box either
    assert np.array_equal(draw_targets(frame, kept, tracks, trails=False)[y:y + h, x:x + w], frame[y:y + h, x:x + w])
    # a frame where the target is not kept (filtered out, under the threshold): the track coasts to where it
    # predicts the target, and its trail's end painted the unboxed target white
    logits = (render([(20 + 4.0 * 6, 40 + 2.0 * 6)], rng) - 0.5) * 20.0
    coasting = tracker.update(detect(logits).filter(TargetFilter(min_size=1000)))
    (track,) = [t for t in coasting if t.confirmed]
    assert track.target is None
    _, px, py = track.trajectory[-1]
    spot = (slice(round(py) - 1, round(py) + 2), slice(round(px) - 1, round(px) + 2))
    drawn = draw_targets(frame, [], coasting)
    assert np.array_equal(drawn[spot], frame[spot]) and (drawn.min(axis=2) > 200).sum() >= 10
