"""Training losses: each formula against a direct computation, and the properties training relies on."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import ndimage

from lwirst.losses import (
    FOCAL_WEIGHT,
    LOSS_TERMS,
    LOSSES,
    PEAK_GUARD,
    PEAK_MARGIN,
    PEAK_TOP_K,
    PEAK_WEIGHT,
    background_peak_loss,
    bce_loss,
    focal_loss,
    focal_soft_iou_loss,
    peak_margin_loss,
    soft_iou_bce_focal_loss,
    soft_iou_loss,
    soft_tversky_loss,
    target_peak_loss,
)

BIG = 40.0  # a logit whose sigmoid is 1 (or 0) in float32


def _batch(seed: int, size: int = 16) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    target = (torch.rand(3, 1, size, size, generator=g) > 0.9).float()
    return torch.randn(3, 1, size, size, generator=g) * 3, target


def test_soft_iou_is_zero_for_a_perfect_and_one_for_a_disjoint_prediction() -> None:
    target = torch.zeros(2, 1, 8, 8)
    target[0, 0, 2:4, 2:4] = 1
    target[1, 0, 5:8, 0:3] = 1
    perfect = (target * 2 - 1) * BIG
    assert soft_iou_loss(perfect, target, smooth=0.0).item() == pytest.approx(0.0, abs=1e-6)
    disjoint = (1 - target * 2) * BIG
    assert soft_iou_loss(disjoint, target, smooth=0.0).item() == pytest.approx(1.0, abs=1e-6)


def test_soft_iou_averages_per_image_so_a_small_target_counts_as_much_as_a_large_one() -> None:
    target = torch.zeros(2, 1, 16, 16)
    target[0, 0, 0:1, 0:1] = 1  # one pixel
    target[1, 0, 0:12, 0:12] = 1  # 144 pixels
    logits = (target * 2 - 1) * BIG
    logits[0, 0, 0, 0] = -BIG  # miss the small target entirely, get the large one right
    assert soft_iou_loss(logits, target, smooth=0.0).item() == pytest.approx(0.5, abs=1e-6)


@pytest.mark.parametrize("seed", range(3))
def test_soft_iou_matches_its_formula(seed: int) -> None:
    logits, target = _batch(seed)
    p = torch.sigmoid(logits)
    per_image = [((p[i] * target[i]).sum() + 1) / (p[i].sum() + target[i].sum() - (p[i] * target[i]).sum() + 1)
                 for i in range(len(p))]
    assert soft_iou_loss(logits, target).item() == pytest.approx(1 - float(sum(per_image)) / len(p), rel=1e-5)


@pytest.mark.parametrize("seed", range(3))
def test_focal_term_matches_its_formula(seed: int) -> None:
    logits, target = _batch(seed)
    total = 0.0
    for x, t in zip(logits.flatten().tolist(), target.flatten().tolist(), strict=True):
        p = 1 / (1 + math.exp(-x))
        p_t = p if t else 1 - p
        total += (1 - p_t) ** 2 * -math.log(max(p_t, 1e-30))
    want = soft_iou_loss(logits, target).item() + FOCAL_WEIGHT * total / logits.numel()
    assert focal_soft_iou_loss(logits, target).item() == pytest.approx(want, rel=1e-4)


def test_focal_with_gamma_zero_is_weighted_bce() -> None:
    logits, target = _batch(7)
    want = soft_iou_loss(logits, target) + FOCAL_WEIGHT * bce_loss(logits, target)
    assert focal_soft_iou_loss(logits, target, gamma=0.0).item() == pytest.approx(want.item(), rel=1e-5)


def test_combined_loss_is_the_sum_of_its_terms() -> None:
    logits, target = _batch(11)
    want = soft_iou_loss(logits, target) + bce_loss(logits, target) + FOCAL_WEIGHT * focal_loss(logits, target)
    assert LOSSES["softiou+bce+focal"](logits, target).item() == pytest.approx(want.item(), rel=1e-6)


@pytest.mark.parametrize("seed", range(3))
def test_tversky_with_unit_weights_is_soft_iou(seed: int) -> None:
    logits, target = _batch(seed)
    got = soft_tversky_loss(logits, target, fp_weight=1.0, fn_weight=1.0)
    assert got.item() == pytest.approx(soft_iou_loss(logits, target).item(), rel=1e-6)


@pytest.mark.parametrize("seed", range(3))
def test_tversky_matches_its_formula(seed: int) -> None:
    logits, target = _batch(seed)
    p = torch.sigmoid(logits)
    per_image = []
    for i in range(len(p)):
        tp = (p[i] * target[i]).sum()
        fp = (p[i] * (1 - target[i])).sum()
        fn = ((1 - p[i]) * target[i]).sum()
        per_image.append((tp + 1) / (tp + 1.4 * fp + 0.6 * fn + 1))
    got = soft_tversky_loss(logits, target, fp_weight=1.4, fn_weight=0.6)
    assert got.item() == pytest.approx(1 - float(sum(per_image)) / len(p), rel=1e-5)


def test_default_tversky_costs_a_spilled_mask_more_than_an_equally_short_one() -> None:
    """Precision-leaning: 4 background pixels switched on cost more than 4 target pixels switched off."""
    target = torch.zeros(1, 1, 8, 8)
    target[0, 0, 2:6, 2:6] = 1
    spilled = target.clone()
    spilled[0, 0, 6, 2:6] = 1
    short = target.clone()
    short[0, 0, 5, 2:6] = 0
    cost = {name: soft_tversky_loss((m * 2 - 1) * BIG, target, smooth=0.0).item()
            for name, m in (("spilled", spilled), ("short", short))}
    assert cost["spilled"] > cost["short"] > 0


def test_tversky_combination_is_the_sum_of_its_terms() -> None:
    logits, target = _batch(13)
    want = soft_tversky_loss(logits, target) + bce_loss(logits, target) + FOCAL_WEIGHT * focal_loss(logits, target)
    assert LOSSES["tversky+bce+focal"](logits, target).item() == pytest.approx(want.item(), rel=1e-6)


@settings(max_examples=50, deadline=None)
@given(logit=st.floats(-20, 20), positive=st.booleans())
def test_focal_weighs_an_easy_pixel_less_than_a_hard_one(logit: float, positive: bool) -> None:
    """The focal factor (1 - p_t)^2 only grows as the pixel gets harder (p_t falls)."""
    x = torch.tensor([logit, logit + (-1.0 if positive else 1.0)])  # the second pixel is harder
    t = torch.full((2,), float(positive))
    bce = F.binary_cross_entropy_with_logits(x, t, reduction="none")
    p = torch.sigmoid(x)
    p_t = p * t + (1 - p) * (1 - t)
    focal = (1 - p_t) ** 2 * bce
    assert focal[1] >= focal[0] and (focal <= bce + 1e-7).all()


@pytest.mark.parametrize("name", sorted(LOSSES))
def test_every_loss_is_a_finite_scalar_with_a_gradient(name: str) -> None:
    logits, target = _batch(3)
    logits.requires_grad_(True)
    loss = LOSSES[name](logits, target)
    loss.backward()
    assert loss.ndim == 0 and torch.isfinite(loss)
    assert torch.isfinite(logits.grad).all() and logits.grad.abs().sum() > 0


@pytest.mark.parametrize("name", ["bce", "softiou+bce", "softiou+focal", "softiou+bce+focal", "tversky+bce+focal"])
def test_pixel_terms_push_background_down_from_an_undecided_start(name: str) -> None:
    """At logits 0 (the empty-or-full plateau) every background pixel gets a positive gradient,
    so a descent step lowers it: the per-pixel term is what leaves the plateau."""
    target = torch.zeros(2, 1, 16, 16)
    target[:, :, 7:9, 7:9] = 1
    logits = torch.zeros_like(target, requires_grad=True)
    LOSSES[name](logits, target).backward()
    assert (logits.grad[target == 0] > 0).all() and (logits.grad[target == 1] < 0).all()


def _peak_margin_by_hand(logits: torch.Tensor, target: torch.Tensor,
                         floor: float = -np.inf) -> tuple[float, float]:
    """The detection-level term's background and target halves, written out per image and per target
    with scipy's labelling; target peaks under `floor` count as the floor."""
    z, t = logits.detach().numpy()[:, 0].astype(np.float64), target.numpy()[:, 0] > 0.5
    softplus = lambda v: np.log1p(np.exp(v))  # noqa: E731
    peaks, backgrounds = [], []
    for zi, ti in zip(z, t, strict=True):
        labels, count = ndimage.label(ti, structure=np.ones((3, 3)))
        peaks += [max(zi[labels == k].max(), floor) for k in range(1, count + 1)]
        near = ndimage.binary_dilation(ti, structure=np.ones((3, 3)), iterations=PEAK_GUARD)
        hardest = np.sort(zi[~near])[::-1][:PEAK_TOP_K]
        backgrounds.append(softplus(hardest + PEAK_MARGIN).mean())
    target_term = softplus(PEAK_MARGIN - np.array(peaks)).mean() if peaks else 0.0
    return float(np.mean(backgrounds)), float(target_term)


@pytest.mark.parametrize("seed", range(4))
def test_peak_margin_matches_a_per_target_loop(seed: int) -> None:
    g = torch.Generator().manual_seed(seed)
    target = torch.zeros(3, 1, 32, 32)
    for _ in range(5):  # a few blobs, some touching diagonally (one 8-connected target)
        b, y, x = (int(v) for v in torch.randint(0, 30, (3,), generator=g))
        target[b % 3, 0, y:y + 2, x:x + 2] = 1
    target[2] = 0  # one image without targets
    logits = torch.randn(3, 1, 32, 32, generator=g) * 4
    background, targets = _peak_margin_by_hand(logits, target)
    assert background_peak_loss(logits, target).item() == pytest.approx(background, rel=1e-5)
    assert target_peak_loss(logits, target).item() == pytest.approx(targets, rel=1e-5)
    assert peak_margin_loss(logits, target).item() == pytest.approx(background + targets, rel=1e-5)
    pixel_terms = soft_iou_bce_focal_loss(logits, target)
    assert LOSSES["softiou+bce+focal+peak"](logits, target).item() == pytest.approx(
        (pixel_terms + PEAK_WEIGHT * (background + targets)).item(), rel=1e-5)
    assert LOSSES["softiou+bce+focal+bgpeak"](logits, target).item() == pytest.approx(
        (pixel_terms + PEAK_WEIGHT * background).item(), rel=1e-5)
    _, kept = _peak_margin_by_hand(logits, target, floor=0.0)
    assert target_peak_loss(logits, target, floor=0.0).item() == pytest.approx(kept, rel=1e-5)
    assert LOSSES["softiou+bce+focal+bgpeak+keep"](logits, target).item() == pytest.approx(
        (pixel_terms + PEAK_WEIGHT * (background + kept)).item(), rel=1e-5)


def test_peak_margin_pulls_only_on_each_target_peak_and_the_hardest_background() -> None:
    """One gradient per target (its peak pixel), none in the guard ring or on easy background:
    the term acts where detection is decided, whatever the target's size."""
    target = torch.zeros(1, 1, 40, 40)
    target[0, 0, 5:9, 5:9] = 1  # a 16-pixel target
    target[0, 0, 30, 30] = 1  # a 1-pixel target
    logits = torch.full_like(target, -BIG)
    logits[target > 0] = -1.0
    logits[0, 0, 6, 7] = 0.5  # the big target's peak
    logits[0, 0, 20, 20] = 3.0  # a false blob far from both
    logits[0, 0, 10, 10] = 5.0  # inside the big target's guard ring: neither target nor background
    logits.requires_grad_(True)
    peak_margin_loss(logits, target).backward()
    grad = logits.grad[0, 0]
    pulled = {tuple(int(v) for v in ij) for ij in torch.nonzero(grad < 0)}
    assert pulled == {(6, 7), (30, 30)}
    assert grad[20, 20] > 0 and grad[10, 10] == 0
    assert (grad[5:9, 5:9] != 0).sum() == 1  # the big target's other 15 pixels are left to the overlap term


def test_peak_margin_is_small_once_every_margin_holds() -> None:
    target = torch.zeros(2, 1, 24, 24)
    target[0, 0, 3:5, 3:5] = 1
    logits = torch.where(target > 0, torch.tensor(BIG), torch.tensor(-BIG))
    assert peak_margin_loss(logits, target).item() < 1e-6
    logits[1, 0, 12, 12] = 0.0  # one undecided background pixel in the empty image
    assert peak_margin_loss(logits, target).item() == pytest.approx(math.log1p(math.exp(PEAK_MARGIN)) / PEAK_TOP_K / 2,
                                                                    rel=1e-5)


def test_floored_target_half_leaves_missed_targets_alone() -> None:
    """With a floor at 0, a found target (peak above 0) is pulled towards the margin and a missed one
    (peak below 0) gets no gradient at all: the term guards detections, it does not chase misses."""
    target = torch.zeros(1, 1, 24, 24)
    target[0, 0, 3:5, 3:5] = 1  # found: peak 1.0
    target[0, 0, 15:17, 15:17] = 1  # missed: peak -6.0
    logits = torch.full_like(target, -BIG)
    logits[0, 0, 3:5, 3:5] = 0.5
    logits[0, 0, 4, 4] = 1.0
    logits[0, 0, 15:17, 15:17] = -6.0
    logits.requires_grad_(True)
    target_peak_loss(logits, target, floor=0.0).backward()
    pulled = {tuple(int(v) for v in ij) for ij in torch.nonzero(logits.grad[0, 0])}
    assert pulled == {(4, 4)} and logits.grad[0, 0, 4, 4] < 0


def test_a_batch_without_targets_has_no_target_half() -> None:
    logits = torch.randn(2, 1, 16, 16, requires_grad=True)
    empty = torch.zeros_like(logits)
    assert target_peak_loss(logits, empty).item() == 0.0
    background_peak_loss(logits, empty).backward()
    assert (logits.grad != 0).sum() == 2 * PEAK_TOP_K  # the hardest pixels of each frame, nothing else


def test_every_registered_loss_term_reads_in_words_on_the_model_card() -> None:
    """The card names a recipe's loss term by term; a term added to the registry without its words
    would reach visitors as a bare token."""
    terms = {term for name in LOSSES for term in name.split("+")}
    assert terms <= set(LOSS_TERMS), sorted(terms - set(LOSS_TERMS))
