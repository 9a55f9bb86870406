"""Scale consensus: a target counts only if a second run at another scale also sees it.

Why: the network's false blobs on large, cluttered frames (cloud edges, horizon strips,
bright patches) are as confident as its targets, so no threshold, peak bound or local
contrast test separates them (docs/model_rounds.md). A point target stays a point target
when the frame is enlarged 1.5x and keeps the network's response; much of the clutter that
mimics one at one scale does not (round 43 measures how much on the cross-domain suite).

`consensus(primary, second)` is the pixel-wise minimum of the primary map and the second
map's maximum over a (2r+1)-square window: at any threshold t a pixel is above t only where
the primary map is and the second map is within r pixels. Masks therefore keep the primary
run's shape, and every consumer (heatmaps, curves, the threshold slider) reads one map.
"""

from __future__ import annotations

import cv2
import numpy as np

from lwirst.validate import check_finite

RADIUS = 2  # pixels of the frame: the two runs' maps may disagree on a tiny target's centre by this much
SCALES = (1.25, 4.0)  # the enlargements accepted: below 1.25 the second run repeats the first
DEFAULT_SCALE: float | None = 1.5  # what the command line and the dashboard run unless told (round 43 chose it)
DASHBOARD_SCALE: float = DEFAULT_SCALE or 1.5  # the enlargement the dashboard's consensus toggle runs
OFF = ("off", "none")


def check_scale(scale: float | None) -> float | None:
    """None (no consensus) or an enlargement within `SCALES`; anything else is a clear error."""
    if scale is None:
        return None
    return float(check_finite("confirm scale (the second run's enlargement)", scale, *SCALES))


def recorded(value: object) -> float | None:
    """The enlargement a result's protocol records, or None for a plain run (absent, null, or NaN in a table)."""
    return float(value) if isinstance(value, int | float) and value == value and value else None


def flops_factor(scale: float | None) -> float:
    """What consensus multiplies a frame's FLOPs by: the network is fully convolutional, so the second run,
    on scale² the pixels, costs scale² the first's (1 + scale²; 1 without consensus)."""
    return 1 + scale**2 if scale else 1.0


def legend(scale: float | None) -> str:
    """A chart legend's suffix for a consensus run (", confirmed at 1.5x"); "" for a plain run."""
    return f", confirmed at {scale:g}x" if scale else ""


def describe(scale: float | None) -> str:
    """How a result's frames were confirmed, for captions and printed headers."""
    if scale is None:
        return "no scale consensus"
    return f"scale consensus at {scale:g}x (a target must also show in a second run {scale:g}x larger)"


def consensus(primary: np.ndarray, second: np.ndarray, radius: int = RADIUS) -> np.ndarray:
    """min(primary, max of `second` over a (2 radius + 1)-square window), both (H, W) logits of one frame."""
    if primary.shape != second.shape or primary.ndim != 2:
        raise ValueError(f"need two (H, W) maps of one shape, got {primary.shape} and {second.shape}")
    window = np.ones((2 * radius + 1, 2 * radius + 1), np.uint8)
    reach = cv2.dilate(np.ascontiguousarray(second, dtype=np.float32), window, borderType=cv2.BORDER_REPLICATE)
    return np.minimum(primary.astype(np.float32, copy=False), reach)
