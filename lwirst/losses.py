"""Training losses for extremely imbalanced binary segmentation (logits in, scalar out)."""

from __future__ import annotations

from collections.abc import Callable

import cv2
import numpy as np
import torch
import torch.nn.functional as F

FOCAL_GAMMA = 2.0  # Lin et al. (ICCV 2017): their best setting
# (1 - p_t)^gamma shrinks the mean over all pixels by orders of magnitude once the background is easy;
# this weight keeps the focal term's pull on hard pixels from vanishing next to SoftIoU.
FOCAL_WEIGHT = 10.0
# Tversky weights on false-positive and false-negative mass; they sum to 2 so that (1, 1), SoftIoU,
# and this precision-leaning pair put the same total weight on errors. Leaning on false positives
# shrinks masks that spill over extended or adjacent targets, whose centroids then miss by > 3 px.
TVERSKY_FP_WEIGHT = 1.4
TVERSKY_FN_WEIGHT = 0.6
# The detection-level term (`peak_margin_loss`): each target's peak logit must clear +margin and the
# hardest background logits of each frame must stay below -margin (logit 2 is probability 0.88).
PEAK_MARGIN = 2.0
PEAK_TOP_K = 16  # background pixels per frame: the cores of its one to three hardest false blobs
PEAK_GUARD = 3  # pixels around a target that count as neither target nor background (annotation slack)
PEAK_WEIGHT = 1.0


def soft_tversky_loss(logits: torch.Tensor, target: torch.Tensor, fp_weight: float = TVERSKY_FP_WEIGHT,
                      fn_weight: float = TVERSKY_FN_WEIGHT, smooth: float = 1.0) -> torch.Tensor:
    """Tversky (Salehi et al., 2017) with soft counts: 1 - mean over images of
    (sum pt + s) / (sum pt + a sum p(1-t) + b sum (1-p)t + s); a = b = 1 is SoftIoU."""
    prob = torch.sigmoid(logits)
    dims = tuple(range(1, prob.ndim))
    inter = (prob * target).sum(dims)
    false_pos = prob.sum(dims) - inter
    false_neg = target.sum(dims) - inter
    return 1.0 - ((inter + smooth) / (inter + fp_weight * false_pos + fn_weight * false_neg + smooth)).mean()


def soft_iou_loss(logits: torch.Tensor, target: torch.Tensor, smooth: float = 1.0) -> torch.Tensor:
    """AGPCNet's SoftIoU: 1 - mean over images of (sum pt + s) / (sum p + sum t - sum pt + s), p = sigmoid:
    soft Tversky with unit weights."""
    return soft_tversky_loss(logits, target, fp_weight=1.0, fn_weight=1.0, smooth=smooth)


def bce_loss(logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    return F.binary_cross_entropy_with_logits(logits, target)


def soft_iou_bce_loss(logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """SoftIoU for overlap plus BCE, whose per-pixel gradient pulls the network off the
    empty-or-full plateau where SoftIoU alone stalls."""
    return soft_iou_loss(logits, target) + bce_loss(logits, target)


def focal_loss(logits: torch.Tensor, target: torch.Tensor, gamma: float = FOCAL_GAMMA) -> torch.Tensor:
    """Mean over pixels of (1 - p_t)^gamma BCE, p_t the probability of the true class: the
    per-pixel gradient goes to hard pixels (bright clutter, target borders), not to the
    easy background majority that dominates plain BCE."""
    bce = F.binary_cross_entropy_with_logits(logits, target, reduction="none")
    prob = torch.sigmoid(logits)
    p_t = prob * target + (1 - prob) * (1 - target)
    return ((1 - p_t) ** gamma * bce).mean()


def focal_soft_iou_loss(logits: torch.Tensor, target: torch.Tensor, gamma: float = FOCAL_GAMMA) -> torch.Tensor:
    """SoftIoU plus FOCAL_WEIGHT x focal BCE."""
    return soft_iou_loss(logits, target) + FOCAL_WEIGHT * focal_loss(logits, target, gamma)


def soft_iou_bce_focal_loss(logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """SoftIoU + BCE + FOCAL_WEIGHT x focal BCE: focal's weight on hard pixels, with plain
    BCE keeping probability 0.5 a calibrated decision point (focal alone leaves dim targets'
    logits just below it)."""
    return soft_iou_bce_loss(logits, target) + FOCAL_WEIGHT * focal_loss(logits, target)


def tversky_bce_focal_loss(logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """softiou+bce+focal with SoftIoU replaced by the precision-leaning soft Tversky term."""
    return soft_tversky_loss(logits, target) + bce_loss(logits, target) + FOCAL_WEIGHT * focal_loss(logits, target)


def _target_peaks(logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """The highest logit inside each 8-connected target of each image (one value per target)."""
    masks = target.detach().to("cpu").numpy()[:, 0] > 0.5
    labels, offset = [], 0
    for mask in masks:
        count, label = cv2.connectedComponents(mask.astype(np.uint8), connectivity=8)
        labels.append(np.where(label > 0, label - 1 + offset, -1))
        offset += count - 1
    if offset == 0:
        return logits.new_zeros(0)
    flat = torch.from_numpy(np.stack(labels).reshape(-1)).to(logits.device)
    inside = flat >= 0
    peaks = logits.new_full((offset,), float("-inf"))
    return peaks.scatter_reduce(0, flat[inside], logits.reshape(-1)[inside], reduce="amax")


def background_peak_loss(logits: torch.Tensor, target: torch.Tensor, margin: float = PEAK_MARGIN,
                         top_k: int = PEAK_TOP_K, guard: int = PEAK_GUARD) -> torch.Tensor:
    """Mean over images of the mean of softplus(z + margin) over the image's `top_k` highest
    background logits z, background being the pixels farther than `guard` from any target.

    Why: an empty frame alarms by a maximum (one blob above the threshold), while BCE and focal
    are means that dilute one false blob in a 256x256 crop by about 1/10 000. The guard ring is
    left to the overlap term, which sets a target's extent."""
    near = F.max_pool2d(target, 2 * guard + 1, stride=1, padding=guard) > 0.5
    background = logits.masked_fill(near, -1e4).flatten(1)
    hardest = background.topk(min(top_k, background.shape[1]), dim=1).values
    return F.softplus(hardest + margin).mean()


def target_peak_loss(logits: torch.Tensor, target: torch.Tensor, margin: float = PEAK_MARGIN,
                     floor: float | None = None) -> torch.Tensor:
    """Mean over targets (8-connected mask components) of softplus(margin - the target's peak logit):
    a target is detected by its peak, which the overlap term can trade against many background
    pixels. With `floor`, peaks are clamped from below at it, so a target peaking under the floor
    adds a constant and no gradient: the term then keeps found targets found without pulling on
    hopeless ones (round 32's term was dominated by those). Zero for a batch without targets."""
    peaks = _target_peaks(logits, target)
    if floor is not None:
        peaks = peaks.clamp(min=floor)
    return F.softplus(margin - peaks).mean() if peaks.numel() else logits.new_zeros(())


def peak_margin_loss(logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """The detection-level term: each target's peak above +margin, each frame's hardest background below -margin."""
    return background_peak_loss(logits, target) + target_peak_loss(logits, target)


def soft_iou_bce_focal_peak_loss(logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """softiou+bce+focal plus PEAK_WEIGHT x the detection-level peak margin term."""
    return soft_iou_bce_focal_loss(logits, target) + PEAK_WEIGHT * peak_margin_loss(logits, target)


def soft_iou_bce_focal_bgpeak_loss(logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """softiou+bce+focal plus PEAK_WEIGHT x the background half of the peak term (round 34): the
    frame-level alarm penalty without the push on every missed target."""
    return soft_iou_bce_focal_loss(logits, target) + PEAK_WEIGHT * background_peak_loss(logits, target)


def soft_iou_bce_focal_bgpeak_keep_loss(logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Round 34's loss plus PEAK_WEIGHT x the target half floored at 0 (round 37): the hardest
    background pushed below -margin while every target the network already finds (peak above 0) is
    held above +margin, so the alarm penalty cannot buy quiet with found dim targets."""
    return soft_iou_bce_focal_bgpeak_loss(logits, target) + PEAK_WEIGHT * target_peak_loss(logits, target, floor=0.0)


LOSSES: dict[str, Callable[[torch.Tensor, torch.Tensor], torch.Tensor]] = {
    "softiou": soft_iou_loss,
    "bce": bce_loss,
    "softiou+bce": soft_iou_bce_loss,
    "softiou+focal": focal_soft_iou_loss,
    "softiou+bce+focal": soft_iou_bce_focal_loss,
    "tversky+bce+focal": tversky_bce_focal_loss,
    "softiou+bce+focal+peak": soft_iou_bce_focal_peak_loss,
    "softiou+bce+focal+bgpeak": soft_iou_bce_focal_bgpeak_loss,
    "softiou+bce+focal+bgpeak+keep": soft_iou_bce_focal_bgpeak_keep_loss,
}

# Each term of a loss name in words, for the model card (a term added to LOSSES needs its words here).
LOSS_TERMS: dict[str, str] = {
    "tversky": "soft Tversky", "bce": "binary cross-entropy", "focal": "focal", "softiou": "soft IoU",
    "peak": "peak margin (each target's peak, each frame's hardest background)",
    "bgpeak": "background peak margin (each frame's hardest background)",
    "keep": "found-target peak margin (each target already above 0 held above the margin)",
}
