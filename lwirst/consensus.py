"""Scale consensus: a target counts only if a second run at another scale also sees it.

Why: the network's false blobs on large, cluttered frames (cloud edges, horizon strips,
bright patches) are as confident as its targets, so no threshold, peak bound or local
contrast test separates them (docs/model_rounds.md). A point target stays a point target
when the frame is enlarged 1.5x and keeps the network's response; much of the clutter that
mimics one at one scale does not (round 43 measures how much on the cross-domain suite).

A mirrored run (`mirror`, round 47, an option) is a second confirmation for large frames: the
network input mirrored left-right, its map mirrored back. The network was trained on every
orientation, so a target shows in both; much of the clutter that still passes the enlarged run on
1280x1024 mosaics answers one orientation only, but on upscaled real backgrounds it removed none and
on fresh mosaics fewer than its rule asked, so it is off by default. On SIRST-sized frames it removed
no false blob, so they skip it.

`agreed(primary, second)` is the pixels both runs see: the pixel-wise minimum of the primary map
and the second map's maximum over a (2r+1)-square window, so at any threshold t a pixel is above t
only where the primary map is and the second map is within r pixels. It decides which blobs are
confirmed; `whole_blobs` then keeps each confirmed blob of the primary map whole. Round 43 kept only
the agreed pixels, which cut the masks of targets larger than the training sizes, where the enlarged
run sees a target's centre but not its rim. The Segmenter keeps blobs whole once, on the frame's own
maps after a pyramid's union: at every threshold above probability 0.01 a frame's blobs
are then exactly the primary blobs that hold an agreed pixel, so no count of targets or false alarms
can rise over round 43's rule, and a frame alarms under one exactly when under the other. (Kept
whole at each pyramid level instead, a whole blob of the half level can outlast its resizing where
the agreed pixels faded in the interpolation: round 48.) Every consumer (heatmaps, curves, the
threshold slider) reads one map.
"""

from __future__ import annotations

import cv2
import numpy as np
from skimage.morphology import reconstruction

from lwirst.postprocess import threshold_from_probability
from lwirst.validate import check_finite

RADIUS = 2  # pixels of the frame: the two runs' maps may disagree on a tiny target's centre by this much
# Blobs are kept whole at thresholds above this logit (probability 0.01), the pixel rule below it:
# the network's background sits far lower, so above it a map is a few small blobs and making them
# whole costs little; over the whole range it would cost a flood over the frame.
WHOLE_ABOVE_PROBABILITY = 0.01
WHOLE_ABOVE = threshold_from_probability(WHOLE_ABOVE_PROBABILITY)
SCALES = (1.25, 4.0)  # the enlargements accepted: below 1.25 the second run repeats the first
DEFAULT_SCALE: float | None = 1.5  # what the command line and the dashboard run unless told (round 43 chose it)
DASHBOARD_SCALE: float = DEFAULT_SCALE or 1.5  # the enlargement the dashboard's consensus toggle runs
DEFAULT_MIRROR = False  # whether large frames are also confirmed mirrored unless told (round 47 did not adopt it)
OFF = ("off", "none")


def check_scale(scale: float | None) -> float | None:
    """None (no consensus) or an enlargement within `SCALES`; anything else is a clear error."""
    if scale is None:
        return None
    return float(check_finite("confirm scale (the second run's enlargement)", scale, *SCALES))


def recorded(value: object) -> float | None:
    """The enlargement a result's protocol records, or None for a plain run (absent, null, or NaN in a table)."""
    return float(value) if isinstance(value, int | float) and value == value and value else None


def mirrored(value: object) -> bool:
    """Whether a result's protocol (or a table cell) records the mirror check: True only for a true bool."""
    return isinstance(value, bool | np.bool_) and bool(value)


def flops_factor(scale: float | None, mirrored: bool = False) -> float:
    """What consensus multiplies a frame's FLOPs by: the network is fully convolutional, so the second run,
    on scale² the pixels, costs scale² the first's (1 + scale²; 1 without consensus), and a mirrored run
    as much as the first (+1)."""
    return (1 + scale**2 if scale else 1.0) + (1.0 if mirrored else 0.0)


def legend(scale: float | None, mirror: bool = False) -> str:
    """A chart legend's suffix for a consensus run (", confirmed at 1.5x", ", confirmed at 1.5x and
    mirrored"); "" for a plain run."""
    runs = [f"at {scale:g}x"] if scale else []
    runs += ["mirrored"] if mirror else []
    return f", confirmed {' and '.join(runs)}" if runs else ""


def describe(scale: float | None, mirror: bool = False) -> str:
    """How a result's frames were confirmed, for captions and printed headers."""
    said = ("no scale consensus" if scale is None else
            f"scale consensus at {scale:g}x (a target must also show in a second run {scale:g}x larger)")
    return said + ("; large frames also confirmed mirrored (a target must also show with the frame mirrored "
                   "left-right)" if mirror else "")


def said(scale: float | None, mirror: bool, template: str = "{}") -> str:
    """`describe` put into `template` ("; {}", " ({})") when a confirmation ran; "" for a plain run."""
    return template.format(describe(scale, mirror)) if scale or mirror else ""


def cut_masks(threshold: float, scale: float | None, mirror: bool = False, margin: float = 0.0) -> str:
    """"" unless a confirmed run (or one with a peak margin, `lwirst.prominence`) is thresholded below
    `WHOLE_ABOVE`, where blobs are not kept whole: then a note for protocol lines that masks there are the
    pixels every run sees, or a large frame's map lowered by the margin pixel by pixel, so a target's rim may
    be cut."""
    if not (scale or mirror or margin) or threshold >= WHOLE_ABOVE:
        return ""
    rules = ([] if not (scale or mirror) else ["consensus keeps only the pixels every run sees"]) + (
        ["the peak margin lowers a large frame's map pixel by pixel"] if margin else [])
    return (f"; at a threshold below probability {WHOLE_ABOVE_PROBABILITY:g}, {' and '.join(rules)}, so a target's "
            "mask may lose its rim")


def mirrored_input(array: np.ndarray) -> np.ndarray:
    """An input (C, H, W) or a map (H, W) mirrored left-right; mirroring twice gives the array back."""
    return np.ascontiguousarray(array[..., ::-1])


def agreed(primary: np.ndarray, second: np.ndarray, radius: int = RADIUS) -> np.ndarray:
    """min(primary, max of `second` over a (2 radius + 1)-square window), both (H, W) logits of one frame."""
    if primary.shape != second.shape or primary.ndim != 2:
        raise ValueError(f"need two (H, W) maps of one shape, got {primary.shape} and {second.shape}")
    window = np.ones((2 * radius + 1, 2 * radius + 1), np.uint8)
    reach = cv2.dilate(np.ascontiguousarray(second, dtype=np.float32), window, borderType=cv2.BORDER_REPLICATE)
    return np.minimum(primary.astype(np.float32, copy=False), reach)


_EIGHT = np.ones((3, 3), np.uint8)
_STEPS = 64  # dilation steps before a box is handed to skimage's O(n log n) reconstruction
_SEEDS = 1024  # cut pixels up to which blobs are filled one by one; more (a map of many blobs): the frame at once


def whole_blobs(kept: np.ndarray, primary: np.ndarray) -> np.ndarray:
    """`kept` (<= `primary`) raised, within each blob of `primary`, to `primary` as far as `kept` reaches it.

    Grey reconstruction by 8-connected geodesic dilation under `primary` where it is above `WHOLE_ABOVE`: at
    every threshold t above it, the pixels above t are the 8-connected blobs of primary > t that hold a pixel
    of kept > t. At or below it the result is `kept`'s. A trained network's map holds a few small blobs
    there, so each blob that `kept` cuts is flood-filled from a cut pixel and rebuilt on its box: the cost
    follows the blobs, not the frame. A map of many blobs is rebuilt over the frame at once."""
    floor = np.float32(WHOLE_ABOVE)
    above = (primary > floor).view(np.uint8)
    cut = cv2.findNonZero(above & (kept < primary).view(np.uint8))
    if cut is None:
        return kept
    out = kept.copy()
    if len(cut) > _SEEDS:
        _rebuild(out, kept, primary, above.view(bool), np.s_[:, :], floor)
        return out
    filled = np.zeros((above.shape[0] + 2, above.shape[1] + 2), np.uint8)  # 1: the blob in hand, 2: done
    for x, y in cut.reshape(-1, 2):
        if filled[y + 1, x + 1]:
            continue
        _, _, _, (bx, by, bw, bh) = cv2.floodFill(above, filled, (int(x), int(y)), 0, 0, 0,
                                                  8 | cv2.FLOODFILL_MASK_ONLY | (1 << 8))
        mark = filled[by + 1:by + bh + 1, bx + 1:bx + bw + 1]
        inside = mark == 1
        mark[inside] = 2
        _rebuild(out, kept, primary, inside, np.s_[by:by + bh, bx:bx + bw], floor)
    return out


def _rebuild(out: np.ndarray, kept: np.ndarray, primary: np.ndarray, inside: np.ndarray, box: tuple,
             floor: np.float32) -> None:
    """`whole_blobs` on one box of the frame, `inside` marking the blob pixels there; written into `out`."""
    ceiling = np.where(inside, primary[box], floor)
    level = np.where(inside, np.maximum(kept[box], floor), floor)
    for _ in range(_STEPS):  # each step reaches one pixel further; a blob is a few pixels across
        step = np.minimum(cv2.dilate(level, _EIGHT), ceiling)
        if np.array_equal(step, level):
            break
        level = step
    else:  # a blob winding further (an untrained network's map, a hostile frame): the sorted algorithm's bound
        level = reconstruction(level, ceiling, method="dilation", footprint=_EIGHT).astype(np.float32)
    raised = inside & (level > floor)
    out[box][raised] = level[raised]
