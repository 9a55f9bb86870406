"""Prominence by frame area: on a large frame a blob counts only if its peak stands clear of the threshold.

Why: a frame of A pixels holds about A times one pixel's chance of a false blob, so at one threshold a
1280x1024 frame raises ten times the false alarms of a 320x410 one, which is what an operator watching a
large sensor sees (the held-out benchmark's empty frames, suite alarms' mosaics). A constant false-alarm rate
per frame (the radar operator's CFAR) asks the threshold to rise with the frame's area. Here it rises for the
blob's peak only: a blob of the map above threshold t is kept when its peak exceeds t + margin, and then whole,
so a kept target's mask is the one it had, and the margin is `per_doubling` logits for every doubling of the
area beyond the frames "auto" resizes (`lwirst.inference.AUTO_AREA_FACTOR` times the model's area). SIRST-sized
frames, and frames resized to the model's size (the network decides at its own size there), are untouched.
Round 51 chose 1 logit per doubling on proxies of the held-out benchmark (data/models/PREREGISTRATION.md): the
target-free 1280x1024 mosaics alarmed on 6.6 % against 12.2 %, for 5 of 155 SIRST-sized targets on those mosaics
and 3 of 291 enlarged SIRST targets (240 mosaics nobody had scored read 5.0 % afterwards: docs/held_out_proxies.md).

The rule is a map transform (`prominent`), exact at every threshold above probability 0.01 as scale consensus's
whole blobs are (`lwirst.consensus.whole_blobs`), so the threshold slider, the curves and the heatmaps read it
as they read any map.
"""

from __future__ import annotations

import math

import numpy as np

from lwirst.consensus import whole_blobs
from lwirst.validate import check_finite

DEFAULT_PER_DOUBLING = 1.0  # logits per doubling of the area, what every command and the dashboard run (round 51)
LIMITS = (0.0, 8.0)  # 8 logits per doubling already keeps nothing on a 1280x1024 frame but the surest targets
OFF = ("off", "none")


def check(per_doubling: float) -> float:
    """`per_doubling` within `LIMITS` (0: off); anything else is a clear error."""
    return float(check_finite("peak margin (logits per doubling of the area)", per_doubling, *LIMITS))


def recorded(value: object) -> float:
    """The margin a result's protocol (or a table cell) records: 0 for none (absent, null, NaN)."""
    return float(value) if isinstance(value, int | float) and value == value and value else 0.0


def describe(per_doubling: float) -> str:
    """How a run's large frames were held to a margin, for protocol lines; "" when none was."""
    if not per_doubling:
        return ""
    return (f"on frames over twice the model's area a target counts only where its peak clears the threshold by "
            f"{per_doubling_text(per_doubling)} (`lwirst.prominence`)")


def per_doubling_text(per_doubling: float) -> str:
    """The rule's rate in words: "1 logit per doubling of the area", "1.5 logits per doubling of the area"."""
    return f"{per_doubling:g} {'logit' if per_doubling == 1 else 'logits'} per doubling of the area"


def held_note(clearance: float) -> str:
    """A heatmap title's words on the margin (", less a 3.32-logit peak margin"; "" without one), short enough for
    a panel's title: its colours, read on a probability scale, are the network's less the margin."""
    return f", less a {clearance:.2f}-logit peak margin" if clearance else ""


def cleared(clearance: float, per_doubling: float = 0.0) -> str:
    """How one frame was held to the margin, in the words every view uses (with the rule when `per_doubling` is
    given); "" when it was not."""
    if not clearance:
        return ""
    rule = f": {per_doubling:g} per doubling of the area beyond twice the model's" if per_doubling else ""
    # the map is held that much lower, so a listed peak reads against the threshold as it is, not the network's
    return (f"a target counted only where its peak cleared the threshold by {clearance:.2f} logits (peak margin{rule});"
            " the map, heatmap and peaks shown are held that much lower")


def legend(per_doubling: float) -> str:
    """A chart legend's or a point name's suffix for a run with a peak margin (", margin 1"); "" without."""
    return f", margin {per_doubling:g}" if per_doubling else ""


def margin(hw: tuple[int, int], size: tuple[int, int], per_doubling: float, area_factor: float) -> float:
    """The logits a blob's peak must clear the threshold by on a frame of size `hw`: `per_doubling` times the
    doublings of its area beyond `area_factor` times the model `size`'s area; 0 on frames no larger."""
    if per_doubling <= 0:
        return 0.0
    doublings = math.log2(hw[0] * hw[1] / (area_factor * size[0] * size[1]))
    return per_doubling * doublings if doublings > 0 else 0.0


def prominent(logits: np.ndarray, clearance: float) -> np.ndarray:
    """The (H, W) map whose blobs above any threshold t (above probability 0.01) are the blobs of `logits` above
    t whose peak exceeds t + `clearance`, each whole; `logits` itself when `clearance` is 0."""
    if clearance <= 0:
        return logits
    return whole_blobs(logits - np.float32(clearance), logits)
