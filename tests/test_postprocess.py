"""Post-processing (paper Eqs. 2-4): properties against a naive per-label reference."""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from scipy import ndimage

from lwirst.errors import LwirstError
from lwirst.postprocess import (
    COLUMNS,
    GROW_RADIUS,
    GROW_TO,
    GROW_TO_PROBABILITY,
    Detections,
    TargetFilter,
    detect,
    logit_to_probability,
    mask_targets,
    postprocess,
    probability_text,
    threshold_from_probability,
)

EIGHT = np.ones((3, 3), dtype=bool)


@st.composite
def logit_maps(draw: st.DrawFn) -> np.ndarray:
    """Sparse random maps: blobs of positive logits on a negative background, any shape."""
    h = draw(st.integers(1, 24))
    w = draw(st.integers(1, 24))
    fg = draw(arrays(np.bool_, (h, w), elements=st.booleans()))
    values = draw(arrays(np.float32, (h, w), elements=st.floats(0.125, 8.0, width=32)))
    return np.where(fg, values, -values).astype(np.float32)


filters = st.builds(
    lambda a, b, c, d: TargetFilter(
        min_size=a, max_size=None if a is None or b is None else a + b,
        min_ratio=c, max_ratio=None if c is None or d is None else c + d),
    st.none() | st.integers(0, 6), st.none() | st.integers(1, 12),
    st.none() | st.floats(0.05, 2.0), st.none() | st.floats(0.05, 4.0),
)


def reference(logits: np.ndarray, threshold: float = 0.0, grow_to: float | None = None) -> list[dict]:
    """The published approach: one full-frame mask per label (slow, obviously right); with
    `grow_to`, the mask first grown by `naive_growth`."""
    mask = logits > threshold
    if grow_to is not None and grow_to < threshold:
        mask = naive_growth(logits, mask, grow_to)
    labels, n = ndimage.label(mask, structure=EIGHT)
    out = []
    for i in range(1, n + 1):
        where = labels == i
        ys, xs = np.nonzero(where)
        vals = logits[where].astype(np.float64)
        w, h = xs.max() - xs.min() + 1, ys.max() - ys.min() + 1
        out.append({"pixels": where, "x": xs.mean(), "y": ys.mean(), "box_x": xs.min(), "box_y": ys.min(),
                    "box_w": w, "box_h": h, "size": where.sum(), "ratio": w / h, "peak": vals.max(),
                    "mean": vals.mean(), "mean_prob": np.mean(1 / (1 + np.exp(-vals)))})
    return out


def naive_growth(logits: np.ndarray, seeds: np.ndarray, grow_to: float) -> np.ndarray:
    """Growth as the docstring of `grow_mask` says it, pixel by pixel: per step, a pixel above `grow_to`
    joins the one target labelled around it, unless another target (old or joining in this step) is
    around it too."""
    labels, _ = ndimage.label(seeds, structure=EIGHT)
    h, w = labels.shape

    def around(image: np.ndarray, y: int, x: int) -> set[int]:
        window = image[max(y - 1, 0):y + 2, max(x - 1, 0):x + 2]
        return set(window[window > 0].tolist())

    for _ in range(GROW_RADIUS):
        tentative = labels.copy()
        for y in range(h):
            for x in range(w):
                if labels[y, x] == 0 and logits[y, x] > grow_to and len(near := around(labels, y, x)) == 1:
                    tentative[y, x] = near.pop()
        joined = labels.copy()
        for y, x in zip(*np.nonzero(tentative != labels), strict=True):
            if len(around(tentative, y, x)) == 1:
                joined[y, x] = tentative[y, x]
        labels = joined
    return labels > 0


@settings(max_examples=200, deadline=None)
@given(logit_maps(), st.floats(-1.0, 1.0), st.none() | st.floats(-4.0, 1.5))
def test_matches_naive_reference(logits: np.ndarray, threshold: float, grow_to: float | None) -> None:
    found = detect(logits, threshold, grow_to)
    ref = reference(logits, threshold, grow_to)
    assert len(found) == len(ref)
    labels = found.labels
    by_id = {t.id: t for t in found}
    for r in ref:
        (first_y, first_x) = np.argwhere(r["pixels"])[0]
        target = by_id.pop(int(labels[first_y, first_x]))
        np.testing.assert_array_equal(labels == target.id, r["pixels"])
        for key in ("box_x", "box_y", "box_w", "box_h", "size"):
            assert getattr(target, key) == r[key], key
        for key in ("x", "y", "ratio", "peak", "mean", "mean_prob"):
            assert math.isclose(getattr(target, key), r[key], rel_tol=1e-6, abs_tol=1e-6), key
        assert math.isclose(target.peak_prob, 1 / (1 + math.exp(-r["peak"])), rel_tol=1e-9)
    assert not by_id


@settings(max_examples=150, deadline=None)
@given(logit_maps(), filters)
def test_structural_properties(logits: np.ndarray, target_filter: TargetFilter) -> None:
    found, kept = postprocess(logits, 0.0, target_filter, grow_to=None)
    h, w = logits.shape
    # Sizes sum to the foreground before filtering; the label image partitions it.
    assert sum(t.size for t in found) == int((logits > 0).sum())
    labels = found.labels
    assert np.array_equal(labels > 0, logits > 0)
    assert sorted(np.unique(labels[labels > 0]).tolist()) == sorted(t.id for t in found)
    for t in found:
        # Boxes stay inside the image, also for targets on the border; centroids inside boxes.
        assert 0 <= t.box_x <= t.box_x + t.box_w <= w and 0 <= t.box_y <= t.box_y + t.box_h <= h
        assert t.box_x <= t.x <= t.box_x + t.box_w - 1 and t.box_y <= t.y <= t.box_y + t.box_h - 1
        assert int((labels == t.id).sum()) == t.size
    # Every kept target satisfies Eq. 4; every dropped one violates it.
    kept_ids = {t.id for t in kept}
    for t in found:
        inside = ((target_filter.min_size is None or t.size > target_filter.min_size)
                  and (target_filter.max_size is None or t.size < target_filter.max_size)
                  and (target_filter.min_ratio is None or t.ratio > target_filter.min_ratio)
                  and (target_filter.max_ratio is None or t.ratio < target_filter.max_ratio))
        assert inside == (t.id in kept_ids)
    # Filtering is idempotent and its label image only holds kept targets.
    again = kept.filter(target_filter)
    assert [t.id for t in again] == [t.id for t in kept]
    assert set(np.unique(kept.labels).tolist()) - {0} == kept_ids
    assert np.array_equal(kept.mask, np.isin(labels, list(kept_ids)))


@settings(max_examples=150, deadline=None)
@given(logit_maps(), st.floats(-4.0, -0.01))
def test_growth_only_widens_masks_and_never_adds_a_target(logits: np.ndarray, grow_to: float) -> None:
    plain, grown = detect(logits, 0.0, None), detect(logits, 0.0, grow_to)
    assert len(grown) == len(plain)  # growth neither creates nor joins targets
    assert not (plain.mask & ~grown.mask).any()  # every plain mask pixel stays
    assert not (grown.mask & ~(logits > np.float32(grow_to))).any()  # nothing at or under the mask threshold
    for target in grown:  # each target still holds a pixel above the threshold: its peak is a plain target's
        assert target.peak > 0 and target.peak in {t.peak for t in plain}
    # bounded: no grown pixel lies more than GROW_RADIUS steps (chessboard distance) from a plain pixel
    if plain.mask.any():
        steps = ndimage.distance_transform_cdt(~plain.mask, metric="chessboard")
        assert steps[grown.mask].max() <= GROW_RADIUS
    plain_labels = plain.labels
    for target in grown:  # each grown target holds exactly one plain target, whole
        inside = np.unique(plain_labels[grown.labels == target.id])
        (plain_id,) = inside[inside > 0]
        assert not ((plain_labels == plain_id) & (grown.labels != target.id)).any()


def test_growth_reaches_connected_pixels_only() -> None:
    logits = np.full((8, 12), -6.0, np.float32)
    logits[2, 2] = 3.0
    logits[2, 3:8] = -1.0  # probability 0.27: joined to the target, as far as the radius reaches
    logits[6, 9] = -1.0  # as confident, but detached: stays background
    logits[5, 0] = -1.0
    grown = detect(logits, 0.0, threshold_from_probability(0.2))
    assert len(grown) == 1 and grown[0].size == 1 + GROW_RADIUS and grown[0].box == (2, 2, 1 + GROW_RADIUS, 1)
    assert not grown.mask[6, 9] and not grown.mask[5, 0]
    assert detect(logits, 0.0, threshold_from_probability(0.3))[0].size == 1  # -1.0 is under 0.3
    assert detect(logits, 0.0, None)[0].size == 1
    assert detect(logits, 0.0, 0.5)[0].size == 1  # a mask threshold above the threshold grows nothing
    assert len(detect(np.where(logits > 0, -0.5, logits), 0.0, -2.0)) == 0  # no seed, no target


def test_growth_never_joins_two_targets() -> None:
    logits = np.full((7, 9), -6.0, np.float32)
    logits[3, 1], logits[3, 4], logits[3, 7] = 2.0, 2.0, 2.0  # three targets, gaps of two pixels
    logits[3, 2:4] = logits[3, 5:7] = -1.0  # confident enough to grow into, on both sides of each gap
    logits[2, 1:8] = -1.0  # and a confident row above, touching all three
    grown = detect(logits, 0.0, threshold_from_probability(0.2))
    assert len(grown) == 3 and sorted(t.x for t in grown) == pytest.approx([1.0, 4.0, 7.0], abs=0.6)
    labels = grown.labels
    for a in range(1, 4):  # no pixel of one target touches another (8-connected)
        near = ndimage.binary_dilation(labels == a, EIGHT)
        assert set(np.unique(labels[near]).tolist()) <= {0, a}


def test_growth_cannot_flood_a_map_near_the_mask_threshold() -> None:
    logits = np.full((64, 64), threshold_from_probability(0.3), np.float32)  # an uncalibrated background
    logits[30, 30] = 1.0
    (target,) = detect(logits, 0.0, threshold_from_probability(0.2))
    assert target.size == (2 * GROW_RADIUS + 1) ** 2


def test_default_growth_is_the_protocol_constant() -> None:
    logits = np.full((5, 5), -6.0, np.float32)
    logits[2, 2], logits[2, 3] = 2.0, threshold_from_probability(GROW_TO_PROBABILITY) + 0.01
    assert pytest.approx(threshold_from_probability(GROW_TO_PROBABILITY)) == GROW_TO
    assert detect(logits)[0].size == 2 and detect(logits, grow_to=None)[0].size == 1
    with pytest.raises(LwirstError, match="mask threshold"):
        detect(logits, 0.0, float("nan"))


def test_ground_truth_targets_ignore_growth() -> None:
    mask = np.zeros((6, 6), bool)
    mask[1, 1] = mask[4, 4] = True
    assert len(mask_targets(mask)) == 2 and np.array_equal(mask_targets(mask).mask, mask)


def test_empty_map_gives_zero_targets() -> None:
    for logits in (np.full((16, 20), -3.0, np.float32), np.zeros((5, 5), np.float32)):
        found = detect(logits)
        assert len(found) == 0 and list(found) == []
        assert not found.mask.any()
        frame = found.to_frame()
        assert list(frame.columns) == list(COLUMNS) and len(frame) == 0
        assert frame.dtypes.equals(detect(np.ones((3, 3), np.float32)).to_frame().dtypes)


def test_eq2_is_strict_and_eq3_joins_diagonals() -> None:
    logits = np.full((6, 6), -6.0, np.float32)
    logits[1, 1] = logits[2, 2] = 2.0  # diagonal neighbours: one 8-connected target
    logits[4, 4] = 0.0  # exactly at threshold: background (Eq. 2 uses >)
    found = detect(logits)
    assert len(found) == 1
    (t,) = found
    assert (t.size, t.box, t.centroid, t.ratio) == (2, (1, 1, 2, 2), (1.5, 1.5), 1.0)
    assert not found.mask[4, 4]


def test_filter_bounds_are_exclusive() -> None:
    logits = np.full((10, 30), -6.0, np.float32)
    logits[1, 1] = 1.0  # size 1
    logits[1, 5:8] = 1.0  # size 3, ratio 3
    logits[5:9, 20:22] = 1.0  # size 8, ratio 0.5
    found = detect(logits)
    assert sorted(t.size for t in found) == [1, 3, 8]
    assert sorted(t.size for t in found.filter(TargetFilter(min_size=1))) == [3, 8]
    assert sorted(t.size for t in found.filter(TargetFilter(max_size=8))) == [1, 3]
    assert sorted(t.size for t in found.filter(TargetFilter(min_ratio=0.5))) == [1, 3]
    assert sorted(t.size for t in found.filter(TargetFilter(max_ratio=3))) == [1, 8]
    assert found.filter(None) is found and found.filter(TargetFilter()) is found


def test_ids_survive_filtering_and_frame_columns() -> None:
    logits = np.full((8, 8), -2.0, np.float32)
    logits[0, 0] = 3.0
    logits[5:7, 5:7] = 1.0
    found = detect(logits)
    kept = found.filter(TargetFilter(min_size=1))
    assert [t.id for t in kept] == [2]
    frame = kept.to_frame()
    assert list(frame.columns) == list(COLUMNS)
    assert frame.loc[0, "id"] == 2 and frame.loc[0, "size"] == 4
    assert isinstance(kept, Detections) and len(kept) == 1 and kept[0].id == 2
    with pytest.raises(dataclasses.FrozenInstanceError):
        kept[0].x = 0.0  # type: ignore[misc]


def test_probability_threshold_helper() -> None:
    assert threshold_from_probability(0.5) == 0.0
    for p in (0.01, 0.3, 0.9, 0.999):
        assert math.isclose(logit_to_probability(threshold_from_probability(p)), p, rel_tol=1e-12)
    for bad in (0.0, 1.0, -0.2, 2):
        with pytest.raises(LwirstError):
            threshold_from_probability(bad)
    assert logit_to_probability(-1000.0) == 0.0
    assert np.isfinite(logit_to_probability(np.array([-1e4, 1e4]))).all()


def test_bad_inputs_are_readable_errors() -> None:
    with pytest.raises(LwirstError, match="min_size"):
        TargetFilter(min_size=5, max_size=5)
    with pytest.raises(LwirstError, match="finite"):
        TargetFilter(max_ratio=float("nan"))
    with pytest.raises(LwirstError, match="float"):
        detect(np.zeros((4, 4), np.uint8))
    with pytest.raises(LwirstError, match="H x W"):
        detect(np.zeros((2, 4, 4), np.float32))
    with pytest.raises(LwirstError, match="finite"):
        detect(np.zeros((4, 4), np.float32), float("nan"))
    assert len(detect(np.ones((1, 1, 3, 3), np.float32)[0])) == 1


@given(st.floats(-60, 60), st.floats(0.01, 5))
def test_a_probability_never_reads_as_another_logit_s_near_zero_or_one(logit: float, gap: float) -> None:
    """At logit 12 and 11 both probabilities printed "1.000": a threshold above a target's peak read as equal.
    Within 5e-4 of 0 or 1 the text keeps two significant digits of the distance, so two logits that far apart
    there never print alike, and no value prints as a bare 0 or 1."""
    for digits in (3, 4):
        text = probability_text(logit, digits)
        assert "−" in text or 0.0 < float(text) < 1.0, text
        if abs(logit) > 7.7 and abs(logit + gap) > 7.7 and (logit > 0) == (logit + gap > 0) and gap > 0.2:
            assert text != probability_text(logit + gap, digits)
    assert probability_text(12.0).startswith("1 − 6.1e-06") and probability_text(0.0) == "0.5"
