"""Metrics against straightforward loop implementations, on random cases and on edge cases."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from lwirst.metrics import CurveMetric, FrameAlarms, PdFa, PixelMetrics, binarize, image_record, match_targets

# ---------------------------------------------------------------- reference implementations


def ref_ratio(num: float, den: float) -> float:
    return num / den if den else 1.0


def ref_precision(hits: float, predicted: float) -> float:
    return hits / predicted if predicted else math.nan


def ref_pixel(preds: list[np.ndarray], masks: list[np.ndarray]) -> dict[str, float]:
    tp = fp = fn = 0
    ious = []
    for p, m in zip(preds, masks, strict=True):
        a = b = c = 0
        for y in range(p.shape[0]):
            for x in range(p.shape[1]):
                a += bool(p[y, x] and m[y, x])
                b += bool(p[y, x] and not m[y, x])
                c += bool(m[y, x] and not p[y, x])
        tp, fp, fn = tp + a, fp + b, fn + c
        ious.append(ref_ratio(a, a + b + c))
    return {"precision": ref_precision(tp, tp + fp), "recall": ref_precision(tp, tp + fn),
            "f1": ref_precision(2 * tp, 2 * tp + fp + fn), "iou": ref_precision(tp, tp + fp + fn),
            "niou": sum(ious) / len(ious)}


def ref_components(binary: np.ndarray) -> list[list[tuple[int, int]]]:
    """8-connected components by flood fill, ordered by their first pixel in raster order."""
    seen = np.zeros(binary.shape, dtype=bool)
    components = []
    for y in range(binary.shape[0]):
        for x in range(binary.shape[1]):
            if binary[y, x] and not seen[y, x]:
                stack, pixels = [(y, x)], []
                seen[y, x] = True
                while stack:
                    cy, cx = stack.pop()
                    pixels.append((cy, cx))
                    for dy in (-1, 0, 1):
                        for dx in (-1, 0, 1):
                            ny, nx = cy + dy, cx + dx
                            if (0 <= ny < binary.shape[0] and 0 <= nx < binary.shape[1] and binary[ny, nx]
                                    and not seen[ny, nx]):
                                seen[ny, nx] = True
                                stack.append((ny, nx))
                components.append(pixels)
    return components


def ref_match(pred: np.ndarray, mask: np.ndarray) -> tuple[int, int, int, int, list[int]]:
    """DNANet's loop: (targets, detected, predicted, false-alarm pixels, indices of missed GT)."""
    preds = ref_components(pred)
    centroid = [(sum(p[0] for p in c) / len(c), sum(p[1] for p in c) / len(c)) for c in preds]
    free = list(range(len(preds)))
    detected, missed = 0, []
    gts = ref_components(mask)
    for i, comp in enumerate(gts):
        gy, gx = sum(p[0] for p in comp) / len(comp), sum(p[1] for p in comp) / len(comp)
        for j in free:
            if math.dist(centroid[j], (gy, gx)) < 3:
                free.remove(j)
                detected += 1
                break
        else:
            missed.append(i)
    return len(gts), detected, len(preds), sum(len(preds[j]) for j in free), missed


def ref_auc_ap(scores: np.ndarray, mask: np.ndarray, bins: int) -> tuple[float, float]:
    """Mann-Whitney AUC and step-wise AP of scores quantised to `bins` bins."""
    q = [min(math.floor(s * bins), bins - 1) for s in scores.ravel()]
    labels = list(mask.ravel())
    pos = [v for v, t in zip(q, labels, strict=True) if t]
    neg = [v for v, t in zip(q, labels, strict=True) if not t]
    auc = sum(1.0 if a > b else 0.5 if a == b else 0.0 for a in pos for b in neg) / (len(pos) * len(neg))
    ap, last_recall = 0.0, 0.0
    for k in sorted(set(q), reverse=True):
        tp = sum(1 for v in pos if v >= k)
        fp = sum(1 for v in neg if v >= k)
        ap += (tp / len(pos) - last_recall) * tp / (tp + fp)
        last_recall = tp / len(pos)
    return auc, ap


# ---------------------------------------------------------------- strategies


@st.composite
def pairs(draw, max_images: int = 3, max_side: int = 14) -> tuple[np.ndarray, np.ndarray]:
    shape = (draw(st.integers(1, max_images)), draw(st.integers(1, max_side)), draw(st.integers(1, max_side)))
    sparse = st.booleans() if draw(st.booleans()) else st.sampled_from([False] * 5 + [True])
    return draw(arrays(bool, shape, elements=sparse)), draw(arrays(bool, shape, elements=sparse))


# ---------------------------------------------------------------- pixel metrics


@settings(max_examples=60, deadline=None)
@given(pairs())
def test_pixel_metrics_match_reference(case: tuple[np.ndarray, np.ndarray]) -> None:
    pred, mask = case
    metric = PixelMetrics()
    metric.update(pred[:1], mask[:1])
    if len(pred) > 1:
        metric.update(pred[1:], mask[1:])
    got = metric.compute()
    want = ref_pixel(list(pred), list(mask))
    for key, value in want.items():
        assert getattr(got, key) == pytest.approx(value, nan_ok=True), key
    assert got.images == len(pred)


def test_pixel_metrics_inputs_and_reset() -> None:
    mask = np.zeros((2, 1, 6, 6), bool)
    mask[:, 0, 2:4, 2:4] = True
    logits = np.where(mask, 3.0, -3.0)
    logits[0, 0, 0, 0] = 0.5
    metric = PixelMetrics()
    metric.update(logits, mask)
    assert metric.compute().fp == 1 and metric.compute().iou == pytest.approx(8 / 9)
    probs = PixelMetrics(threshold=0.5)
    probs.update(1 / (1 + np.exp(-logits)), mask.astype(np.uint8) * 255)
    assert probs.compute().iou == pytest.approx(8 / 9)
    metric.reset()
    assert metric.compute().images == 0
    with pytest.raises(ValueError, match="differs"):
        metric.update(np.zeros((4, 4), bool), np.zeros((4, 5), bool))


def test_pixel_metrics_edge_cases() -> None:
    empty = np.zeros((8, 8), bool)
    target = empty.copy()
    target[3:5, 3:5] = True
    metric = PixelMetrics()
    metric.update(empty, empty)  # no target, no prediction: the image is right (nIoU), the set has nothing scored
    assert metric.compute().niou == 1.0
    assert all(math.isnan(getattr(metric.compute(), key)) for key in ("recall", "f1", "iou", "precision"))
    metric.update(empty, target)  # no prediction at all
    got = metric.compute()
    assert got.recall == 0.0 and got.iou == 0.0 and got.niou == 0.5 and got.f1 == 0.0
    assert np.isnan(got.precision)  # undefined, not perfect: nothing was predicted
    everything = PixelMetrics()
    everything.update(np.ones((8, 8), bool), target)  # all-ones prediction
    assert everything.compute().iou == pytest.approx(4 / 64)
    assert everything.compute().recall == 1.0


# ---------------------------------------------------------------- curves


@settings(max_examples=40, deadline=None)
@given(st.integers(1, 60).flatmap(lambda n: st.tuples(
    arrays(np.float64, n, elements=st.floats(0, 1)), arrays(bool, n))), st.sampled_from([1, 4, 10, 1000]))
def test_curve_matches_mann_whitney(case: tuple[np.ndarray, np.ndarray], bins: int) -> None:
    scores, mask = case
    metric = CurveMetric(bins=bins)
    half = len(scores) // 2
    metric.update(scores[:half].reshape(1, -1), mask[:half].reshape(1, -1))
    metric.update(scores[half:].reshape(1, -1), mask[half:].reshape(1, -1))
    curves = metric.compute()
    if mask.all() or not mask.any():
        assert math.isnan(curves.auc) and math.isnan(curves.ap)
        return
    auc, ap = ref_auc_ap(scores, mask, bins)
    assert curves.auc == pytest.approx(auc)
    assert curves.ap == pytest.approx(ap)
    assert curves.tpr[0] == 1.0 and curves.fpr[0] == 1.0 and curves.tpr[-1] == 0.0 and curves.fpr[-1] == 0.0
    assert np.all(np.diff(curves.tpr) <= 0) and len(curves.thresholds) == bins + 1


def test_curve_perfect_constant_and_logits() -> None:
    mask = np.zeros((16, 16), bool)
    mask[4:7, 9:12] = True
    perfect = CurveMetric()
    perfect.update(mask.astype(np.float64), mask)
    assert perfect.compute().auc == 1.0 and perfect.compute().ap == 1.0
    constant = CurveMetric()
    constant.update(np.full(mask.shape, 0.37), mask)
    assert constant.compute().auc == 0.5
    assert constant.compute().ap == pytest.approx(mask.mean())
    rng = np.random.default_rng(0)
    logits = rng.normal(size=mask.shape) + 2.0 * mask
    as_logits, as_probs = CurveMetric(bins=200, logits=True), CurveMetric(bins=200)
    as_logits.update(logits, mask)
    as_probs.update(1 / (1 + np.exp(-logits)), mask)
    assert as_logits.compute().auc == pytest.approx(as_probs.compute().auc)
    thresholds = as_logits.compute().thresholds
    assert thresholds[0] == -np.inf and thresholds[100] == pytest.approx(0.0) and thresholds[-1] == np.inf


@settings(max_examples=30, deadline=None)
@given(st.integers(2, 80).flatmap(lambda n: st.tuples(
    arrays(np.float64, n, elements=st.floats(-5000, 5000)), arrays(bool, n))), st.sampled_from([1, 2, 10, 1000]),
    st.sampled_from([-9000.0, -30.0, 0.0, 30.0, 9000.0]))
def test_curve_logits_beyond_the_end_bins_keep_their_ranking(case: tuple[np.ndarray, np.ndarray], bins: int,
                                                            shift: float) -> None:
    """Logits far outside logit(1/bins)..logit(1-1/bins) used to tie in the end bins (AUC 0.5 when every
    logit was below -6.9); the end bins are split by float16 logit, so AUC is Mann-Whitney's of the
    float16 logits wherever they lie."""
    raw, mask = case
    logits = (raw + shift).astype(np.float16).astype(np.float64)
    if mask.all() or not mask.any():
        return
    metric = CurveMetric(bins=bins, logits=True)
    metric.update(logits.reshape(1, -1), mask.reshape(1, -1))
    curves = metric.compute()
    pos, neg = logits[mask], logits[~mask]
    edge = math.log(1 / bins) - math.log1p(-1 / bins) if bins > 1 else math.inf
    if np.all(np.abs(logits) >= abs(edge)) or bins <= 2:  # every logit in an end bin: exact
        want = np.mean((pos[:, None] > neg[None]) + 0.5 * (pos[:, None] == neg[None]))
        assert curves.auc == pytest.approx(want)
    assert curves.tpr[0] == 1.0 and curves.fpr[0] == 1.0 and curves.tpr[-1] == 0.0 and curves.fpr[-1] == 0.0
    assert np.all(np.diff(curves.thresholds) > 0) and curves.thresholds[0] == -np.inf
    assert len(curves.thresholds) == len(curves.tpr)


def test_curve_logits_all_below_the_sweep_are_not_a_coin_flip() -> None:
    """The auditor's case: every logit below -8, targets above the background: AUC 1, not 0.5."""
    mask = np.zeros((32, 32), bool)
    mask[5:8, 20:23] = True
    logits = np.where(mask, -9.0, -14.0) + np.random.default_rng(1).uniform(-0.5, 0.5, mask.shape)
    metric = CurveMetric(bins=1000, logits=True)
    metric.update(logits, mask)
    assert metric.compute().auc == 1.0 and metric.compute().ap == 1.0


# ---------------------------------------------------------------- targets


@settings(max_examples=60, deadline=None)
@given(pairs(max_images=2, max_side=16))
def test_pdfa_matches_dnanet_loop(case: tuple[np.ndarray, np.ndarray]) -> None:
    pred, mask = case
    metric = PdFa()
    metric.update(pred, mask)
    got = metric.compute()
    targets = detected = predicted = fa = 0
    for p, m in zip(pred, mask, strict=True):
        t, d, n, f, _ = ref_match(p, m)
        targets, detected, predicted, fa = targets + t, detected + d, predicted + n, fa + f
    assert (got.targets, got.detected, got.fa_pixels) == (targets, detected, fa)
    assert got.pd == pytest.approx(ref_precision(detected, targets), nan_ok=True)
    assert got.fa == pytest.approx(fa / pred.size)
    assert got.precision == pytest.approx(ref_precision(detected, predicted), nan_ok=True)
    assert got.f1 == pytest.approx(ref_precision(2 * detected, targets + predicted), nan_ok=True)
    assert got.false_alarms == predicted - detected


@settings(max_examples=40, deadline=None)
@given(pairs(max_images=1, max_side=16), st.integers(0, 2**32 - 1))
def test_image_record_matches_reference(case: tuple[np.ndarray, np.ndarray], seed: int) -> None:
    pred, mask = case[0][0], case[1][0]
    logits = np.where(pred, 1.0, -1.0) * np.random.default_rng(seed).uniform(0.1, 5.0, pred.shape)
    record = image_record(logits, mask)
    targets, detected, predicted, fa, missed = ref_match(pred, mask)
    assert (record.targets, record.detected, record.missed) == (targets, detected, len(missed))
    assert (record.false_alarms, record.fa_pixels) == (predicted - detected, fa)
    assert record.iou == pytest.approx(ref_pixel([pred], [mask])["niou"])  # one image's IoU: nIoU's convention
    components = ref_components(mask)
    want = [max(logits[y, x] for y, x in components[i]) for i in missed]
    assert record.missed_saliency == pytest.approx(tuple(want))


@settings(max_examples=40, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 47), st.integers(0, 59), st.integers(1, 3), st.integers(1, 3)), max_size=4))
def test_components_of_a_few_blobs_in_a_large_frame_are_the_whole_frames(blobs: list[tuple[int, ...]]) -> None:
    """Only the box around the pixels is labelled: labels, areas and centroids are still those of the whole
    frame's flood fill, wherever the box lies (at the frame's edges or inside it)."""
    binary = np.zeros((48, 60), bool)
    for y, x, h, w in blobs:
        binary[y:y + h, x:x + w] = True
    match = match_targets(binary, binary)
    want = np.zeros(binary.shape, np.int32)
    components = ref_components(binary)
    for label, pixels in enumerate(components, start=1):
        want[tuple(zip(*pixels, strict=True))] = label
    assert np.array_equal(match.gt_labels, want) and np.array_equal(match.pred_labels, want)
    assert match.gt_areas.tolist() == [len(c) for c in components]
    assert match.gt_centroids.tolist() == [[sum(p[0] for p in c) / len(c), sum(p[1] for p in c) / len(c)]
                                           for c in components]


def test_target_edge_cases() -> None:
    empty = np.zeros((32, 32), bool)
    nothing = PdFa()
    nothing.update(empty, empty)  # an image with no target and no prediction
    # no target: Pd and recall undefined (a target-free set read Pd 1.0 and looked perfect), Fa measured
    assert math.isnan(nothing.compute().pd) and math.isnan(nothing.compute().recall)
    assert nothing.compute().fa == 0.0

    touching = empty.copy()
    touching[5:7, 5:7] = True
    touching[7:9, 7:9] = True  # diagonal neighbours: one 8-connected target
    assert len(match_targets(touching, touching).gt_areas) == 1

    target = empty.copy()
    target[20:22, 20:22] = True
    giant = empty.copy()
    giant[0:12, 0:16] = True  # one large false alarm away from the target
    metric = PdFa()
    metric.update(giant, target)
    got = metric.compute()
    assert got.pd == 0.0 and got.fa == pytest.approx(12 * 16 / 1024) and got.false_alarms == 1

    corner = empty.copy()
    corner[1:3, 1:3] = True
    ones = PdFa()
    ones.update(np.ones((32, 32), bool), corner)  # all-ones prediction: centroid at the image centre
    assert ones.compute().pd == 0.0 and ones.compute().fa == 1.0

    missed = image_record(np.zeros((32, 32), bool), target)
    assert missed.missed == 1 and math.isnan(missed.missed_saliency[0]) and missed.iou == 0.0
    assert image_record(empty, empty).iou == 1.0


def test_binarize_conventions() -> None:
    assert binarize(np.array([0.2, -0.1])).tolist() == [True, False]
    assert binarize(np.array([0.2, 0.7]), 0.5).tolist() == [False, True]
    assert binarize(np.array([0, 255], np.uint8)).tolist() == [False, True]


def test_metrics_refuse_what_they_would_score_silently_wrong() -> None:
    """A notebook audit fed these and got figures, not errors: a colour mask (H, W, 3) read as H images (nIoU
    0.99 for 0.45), a NaN pixel counted as background, a NaN threshold that finds nothing, a negative centroid
    distance, and an integer map whose threshold was ignored (a value-3 pixel a target at threshold 128)."""
    mask = np.zeros((16, 20), bool)
    mask[4:6, 4:6] = True
    colour = np.repeat(mask[..., None], 3, axis=2).astype(np.uint8) * 255
    for metric in (PixelMetrics(), PdFa(), FrameAlarms(), CurveMetric()):
        with pytest.raises(ValueError, match=r"colour image \(H, W, 3\)"):
            metric.update(colour, colour)
    assert PixelMetrics().compute().images == 0  # nothing was counted before the refusal
    scores = mask.astype(np.float32) * 0.9
    scores[5, 5] = np.nan
    for metric in (PixelMetrics(0.5), PdFa(0.5), CurveMetric()):
        with pytest.raises(ValueError, match="1 NaN value"):
            metric.update(scores, mask)
    for make in (PixelMetrics, PdFa, FrameAlarms):
        with pytest.raises(ValueError, match="threshold must be a finite number"):
            make(float("nan"))
    for distance in (-1.0, 0.0, float("inf")):
        with pytest.raises(ValueError, match="distance must be a positive number"):
            PdFa(distance=distance)
    grey = (mask * 250).astype(np.uint8)
    grey[0, 0] = 3
    with pytest.raises(ValueError, match="threshold 128 would be ignored"):
        PixelMetrics(128).update(grey, mask)
    counted = PixelMetrics()
    counted.update(grey, mask)  # the same map as a mask: value != 0, as the module says
    assert counted.compute().fp == 1
    # N images 3 pixels wide stay a batch (5 images 8 x 3 too); an (H, W, 1) image is one image
    for shape in ((2, 5, 3), (5, 8, 3)):
        narrow = PixelMetrics()
        narrow.update(np.zeros(shape, bool), np.zeros(shape, bool))
        assert narrow.compute().images == shape[0]
    one = PdFa()
    one.update(mask[..., None], mask[..., None])
    assert (one.compute().targets, one.compute().pd) == (1, 1.0)  # not 16 images 1 pixel wide: 3 targets
    # the functions the classes use refuse alike
    with pytest.raises(ValueError, match="threshold must be a finite number"):
        image_record(mask.astype(np.float32), mask, threshold=float("nan"))
    for distance in (0.0, -1.0, float("nan")):
        with pytest.raises(ValueError, match="distance must be a positive number"):
            image_record(mask, mask, distance=distance)


def test_a_target_free_set_scores_f1_and_iou_zero_with_a_false_alarm_and_none_without() -> None:
    """What the README says of a set with no target: no recall, and F1 / IoU 0 where it predicted anything (every
    predicted pixel is wrong), undefined where it predicted nothing."""
    empty = np.zeros((16, 16), bool)
    blob = empty.copy()
    blob[3:5, 3:5] = True
    alarmed, quiet = PixelMetrics(), PixelMetrics()
    alarmed.update(blob, empty)
    quiet.update(empty, empty)
    got, none = alarmed.compute(), quiet.compute()
    assert math.isnan(got.recall) and got.f1 == 0.0 and got.iou == 0.0 and got.precision == 0.0
    assert all(math.isnan(getattr(none, key)) for key in ("precision", "recall", "f1", "iou"))
