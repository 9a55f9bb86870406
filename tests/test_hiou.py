"""hIoU against a plain re-implementation written from the paper's definition (own flood fill,
own centroids, own greedy distance matching), on generated masks and predictions."""

from __future__ import annotations

import math

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from lwirst.scoring import metric_spec, plugin_metrics
from lwirst.scoring.hiou import HIoU


def _components(image: np.ndarray) -> list[list[tuple[int, int]]]:
    """8-connected components, numbered in raster order of their first pixel."""
    seen = np.zeros_like(image, dtype=bool)
    found = []
    h, w = image.shape
    for r in range(h):
        for c in range(w):
            if not image[r, c] or seen[r, c]:
                continue
            stack, pixels = [(r, c)], []
            seen[r, c] = True
            while stack:
                y, x = stack.pop()
                pixels.append((y, x))
                for dy in (-1, 0, 1):
                    for dx in (-1, 0, 1):
                        ny, nx = y + dy, x + dx
                        if 0 <= ny < h and 0 <= nx < w and image[ny, nx] and not seen[ny, nx]:
                            seen[ny, nx] = True
                            stack.append((ny, nx))
            found.append(pixels)
    return found


def _centroid(pixels: list[tuple[int, int]]) -> tuple[float, float]:
    return (sum(p[0] for p in pixels) / len(pixels), sum(p[1] for p in pixels) / len(pixels))


def reference_hiou(preds: list[np.ndarray], masks: list[np.ndarray], distance: float = 3.0) -> float:
    tp = fp = fn = 0
    ious = []
    for pred, mask in zip(preds, masks, strict=True):
        gts, prs = _components(mask), _components(pred)
        taken: set[int] = set()
        for gt in gts:
            gy, gx = _centroid(gt)
            for j, pr in enumerate(prs):
                py, px = _centroid(pr)
                if j not in taken and math.hypot(py - gy, px - gx) < distance:
                    taken.add(j)
                    a, b = set(gt), set(pr)
                    ious.append(len(a & b) / len(a | b))
                    break
        tp += len(taken)
        fn += len(gts) - len(taken)
        fp += len(prs) - len(taken)
    if tp + fp + fn == 0:  # nothing to find and nothing raised: nothing scored
        return math.nan
    return tp / (tp + fp + fn) * (sum(ious) / tp if tp else 0.0)


images = arrays(bool, (12, 14), elements=st.booleans())


@settings(max_examples=150, deadline=None)
@given(st.lists(st.tuples(images, images), min_size=1, max_size=3))
def test_hiou_matches_the_reference(pairs: list[tuple[np.ndarray, np.ndarray]]) -> None:
    metric = HIoU()
    for pred, mask in pairs:
        metric.update(pred, mask)
    got = metric.compute()
    want = reference_hiou([p for p, _ in pairs], [m for _, m in pairs])
    assert math.isclose(got.hiou, want, abs_tol=1e-12) or (math.isnan(got.hiou) and math.isnan(want))
    assert math.isclose(got.hiou, got.loc_iou * got.seg_iou) or math.isnan(got.hiou)


@settings(max_examples=50, deadline=None)
@given(images, st.floats(-3, 3))
def test_scores_are_thresholded_like_every_other_metric(mask: np.ndarray, threshold: float) -> None:
    logits = np.where(mask, 4.0, -4.0).astype(np.float32) + np.float32(threshold)
    metric = HIoU(threshold)
    metric.update(logits[None, None], mask[None, None])  # batch (N, 1, H, W) as well as (H, W)
    got, want = metric.compute().hiou, reference_hiou([mask], [mask])
    assert math.isclose(got, want) or (math.isnan(got) and math.isnan(want))


def test_a_worked_example_and_the_empty_conventions() -> None:
    mask = np.zeros((20, 20), dtype=bool)
    mask[2:5, 2:5] = mask[10:12, 10:12] = True
    pred = np.zeros_like(mask)
    pred[2:5, 2:6] = True  # finds the first target, 9 of 12 pixels right: pair IoU 0.75
    pred[15:17, 15:17] = True  # a false blob; the second target is missed
    metric = HIoU()
    metric.update(pred, mask)
    result = metric.compute()
    assert (result.tp, result.fp, result.fn) == (1, 1, 1)
    assert math.isclose(result.hiou, 1 / 3 * 0.75)
    metric.reset()
    metric.update(np.zeros_like(mask), np.zeros_like(mask))
    assert math.isnan(metric.compute().hiou)  # nothing to find and nothing raised: nothing scored
    metric.update(pred, np.zeros_like(mask))
    assert metric.compute().hiou == 0.0


def test_hiou_is_registered_as_a_plugin_with_its_rows() -> None:
    assert any(isinstance(m.metric, HIoU) and m.name == "lwirst.scoring.hiou" for m in plugin_metrics(0.0))
    assert metric_spec("hiou").label == "hIoU" and metric_spec("hiou").better == "higher"


def test_a_plugin_metric_is_scored_per_image_and_ranks_the_failures() -> None:
    """Registered once, hIoU is a per-image column (each image alone, by the plain re-implementation) of
    Failures' live table and one of its rankings, worst first."""
    from lwirst import analysis

    masks, logits = {}, {}
    for name, shift in (("whole", 0), ("half", 2), ("none", 9)):  # the prediction slides off the target
        mask = np.zeros((16, 16), bool)
        mask[4:8, 4:8] = True
        pred = np.zeros((16, 16), bool)
        pred[4:8, 4 + shift:8 + shift] = True
        masks[name], logits[name] = mask, np.where(pred, 5.0, -5.0).astype(np.float32)
    table = analysis.rescore_table(logits, masks, 0.0)[1].set_index("name")
    for name in masks:
        want = reference_hiou([logits[name] > 0], [masks[name]])
        assert math.isclose(table.loc[name, "hiou"], want, abs_tol=1e-12)
    assert table.loc["whole", "hiou"] == 1.0 and table.loc["none", "hiou"] == 0.0 < table.loc["half", "hiou"] < 1
    assert "hIoU (worst first)" in analysis.rankings()
    ranked = analysis.rank_images(table.reset_index(), "hIoU (worst first)")
    assert ranked["name"].tolist() == ["none", "half", "whole"]
