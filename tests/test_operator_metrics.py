"""The operator's measures (false-alarm blobs per frame, alarmed empty frames, Pd at a fixed
false-alarm rate) against a straightforward independent implementation."""

from __future__ import annotations

import math

import cv2
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lwirst.metrics import FrameAlarms, PdFa, pd_at_false_alarm_rate


def _raster_ordered_centroids(binary: np.ndarray) -> list[tuple[float, float]]:
    """OpenCV's 8-connected components, sorted by the raster position of each one's first pixel."""
    count, labels, _, centroids = cv2.connectedComponentsWithStats(binary.astype(np.uint8), connectivity=8)
    first = [int(np.flatnonzero(labels.ravel() == k)[0]) for k in range(1, count)]
    return [tuple(centroids[k]) for _, k in sorted(zip(first, range(1, count), strict=True))]


def _reference(frames: list[tuple[np.ndarray, np.ndarray]], distance: float = 3.0) -> dict[str, float]:
    """OpenCV labelling and a plain loop over GT targets: the first free component (OpenCV's label
    order is raster order of first pixels, as scipy's) within `distance` of the centroid detects it."""
    false_blobs = empty = empty_blobs = alarmed = 0
    for pred, mask in frames:
        pc, gc = _raster_ordered_centroids(pred), _raster_ordered_centroids(mask)
        used = set()
        for g in gc:
            for p, centre in enumerate(pc):
                if p not in used and math.dist(centre, g) < distance:
                    used.add(p)
                    break
        false = len(pc) - len(used)
        false_blobs += false
        if not gc:
            empty += 1
            empty_blobs += false
            alarmed += false > 0
    return {"blobs_per_frame": false_blobs / len(frames),
            "blobs_per_empty_frame": empty_blobs / empty if empty else float("nan"),
            "empty_alarm_rate": alarmed / empty if empty else float("nan")}


def _frame(draw: st.DrawFn) -> tuple[np.ndarray, np.ndarray]:
    h, w = draw(st.integers(8, 24)), draw(st.integers(8, 24))
    seed = draw(st.integers(0, 2**16))
    rng = np.random.default_rng(seed)
    pred = rng.random((h, w)) < draw(st.sampled_from([0.0, 0.03, 0.1]))
    mask = rng.random((h, w)) < draw(st.sampled_from([0.0, 0.0, 0.05]))
    return pred, mask


@settings(max_examples=80, deadline=None)
@given(st.lists(st.composite(_frame)(), min_size=1, max_size=6))
def test_frame_alarms_match_the_reference(frames: list[tuple[np.ndarray, np.ndarray]]) -> None:
    metric = FrameAlarms()
    for pred, mask in frames:
        metric.update(pred, mask)
    got, want = metric.compute(), _reference(frames)
    for key, value in want.items():
        assert (math.isnan(getattr(got, key)) and math.isnan(value)) or getattr(got, key) == pytest.approx(value), key


def test_an_empty_frame_with_one_blob_alarms_and_a_found_target_does_not() -> None:
    empty_pred = np.zeros((16, 16), bool)
    empty_pred[3:5, 3:5] = True
    hit_mask = np.zeros((16, 16), bool)
    hit_mask[10:12, 10:12] = True
    metric = FrameAlarms()
    metric.update(empty_pred, np.zeros((16, 16), bool))  # one false blob on an empty frame
    metric.update(hit_mask, hit_mask)  # the target found, nothing false
    metric.update(np.zeros((16, 16), bool), np.zeros((16, 16), bool))  # a quiet empty frame
    result = metric.compute()
    assert result.blobs_per_frame == pytest.approx(1 / 3)
    assert result.empty_frames == 2 and result.alarmed_empty_frames == 1
    assert result.empty_alarm_rate == pytest.approx(0.5)
    assert result.blobs_per_empty_frame == pytest.approx(0.5)
    metric.reset()
    assert metric.compute().empty_frames == 0


def test_frame_alarms_threshold_scores() -> None:
    scores = np.full((12, 12), -5.0, np.float32)
    scores[2, 2] = 1.0  # above 0, below 2
    metric = FrameAlarms(threshold=2.0)
    metric.update(scores, np.zeros((12, 12), bool))
    assert metric.compute().alarmed_empty_frames == 0
    metric = FrameAlarms()
    metric.update(scores, np.zeros((12, 12), bool))
    assert metric.compute().alarmed_empty_frames == 1


@settings(max_examples=40, deadline=None)
@given(st.integers(0, 2**16), st.sampled_from([0.0, 0.1, 0.5, 1.0]))
def test_pd_at_false_alarm_rate_is_the_best_quiet_operating_point(seed: int, budget: float) -> None:
    """Brute force: score every threshold separately and keep the best Pd whose false blobs fit the budget."""
    rng = np.random.default_rng(seed)
    frames = [(rng.normal(size=(16, 16)).astype(np.float32) * 3, rng.random((16, 16)) < 0.04) for _ in range(4)]
    thresholds = [-2.0, 0.0, 2.0, 4.0, 6.0]
    points = []
    best = 0.0
    for t in thresholds:
        metric = PdFa(t)
        for scores, mask in frames:
            metric.update(scores, mask)
        point = metric.compute()
        points.append(point)
        if point.false_alarms <= budget * len(frames):
            best = max(best, point.pd)
    assert pd_at_false_alarm_rate(points, len(frames), budget) == pytest.approx(best)


def test_pd_at_false_alarm_rate_needs_frames() -> None:
    with pytest.raises(ValueError):
        pd_at_false_alarm_rate([], 0)


def test_pd_at_false_alarm_rate_is_undefined_without_targets() -> None:
    """A target-free split has no Pd at any rate, whether the model alarms on it (a 0 would read as
    'every target missed') or stays quiet."""
    scores = np.full((12, 12), -5.0, dtype=np.float32)
    scores[2:4, 2:4] = 5.0  # one false blob per frame
    points = []
    for t in (0.0, 10.0):  # alarming at 0, quiet at 10
        metric = PdFa(t)
        for _ in range(3):
            metric.update(scores, np.zeros((12, 12), bool))
        points.append(metric.compute())
    assert np.isnan(pd_at_false_alarm_rate(points, 3, 0.1))
    assert np.isnan(pd_at_false_alarm_rate(points[:1], 3, 0.1))  # only the alarming point
    mask = np.zeros((12, 12), bool)
    mask[8:10, 8:10] = True  # a target nobody finds: Pd 0 at the budget, not undefined
    metric = PdFa(0.0)
    metric.update(scores, mask)
    assert pd_at_false_alarm_rate([metric.compute()], 1, 0.1) == 0.0


def _saved_logits(root, frames: int, target: bool) -> tuple:
    """A folder dataset of 64x64 frames and their saved logits: a 3x3 target at logit -0.5 (when `target`) and
    two one-pixel clutter blobs at -0.9 in every frame."""
    from lwirst.datasets import open_dataset

    for sub in ("images", "masks", "preds"):
        (root / sub).mkdir(parents=True)
    for i in range(frames):
        mask, logits = np.zeros((64, 64), np.uint8), np.full((64, 64), -6.0, np.float32)
        if target:
            mask[10:13, 40:43], logits[10:13, 40:43] = 255, -0.5  # off-centre: a whole-frame blob misses it
        logits[5, 5] = logits[50, 10] = -0.9
        cv2.imwrite(str(root / "images" / f"f{i}.png"), np.full((64, 64), 40, np.uint8))
        cv2.imwrite(str(root / "masks" / f"f{i}.png"), mask)
        np.save(root / "preds" / f"f{i}.npy", logits)
    return open_dataset(root, "folder", "all"), root / "preds"


def test_pd_at_a_false_alarm_rate_includes_the_runs_own_threshold(tmp_path) -> None:
    """The sweep held the integer logits -8..8 only: at threshold -0.7 a run found 4 of 4 targets with no false
    alarm and printed "Pd at <=0.1 FA/frame 0.0000" beside it."""
    from lwirst.evaluate import evaluate_predictions, summary_lines

    dataset, preds = _saved_logits(tmp_path / "with", 4, target=True)
    result = evaluate_predictions(preds, dataset, threshold=-0.7)
    assert result.metrics["pd"] == 1.0 and result.metrics["false_alarms"] == 0
    assert result.metrics["pd_at_fa"] == 1.0
    assert -0.7 in result.curves["pdfa_threshold"]
    assert evaluate_predictions(preds, dataset, threshold=0.0).metrics["pd_at_fa"] == 0.0  # -1 alarms, 0 misses
    dataset, preds = _saved_logits(tmp_path / "without", 2, target=False)
    lines = summary_lines(evaluate_predictions(preds, dataset, threshold=-0.7))
    operator = next(line for line in lines if line.startswith("false alarms"))
    assert "Pd at ≤0.1 FA/frame n/a  " in operator, operator  # was a bare "n/a"
    assert operator.endswith("  (no target in this split)"), operator
