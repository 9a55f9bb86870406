"""Network runs over inputs too large to run whole, in overlapping windows.

A network's memory grows with its input: one run of the shipped model over a 4096x4096 frame and its
1.5x consensus run (6144x6144) peaked at 5 GB, and a 6144x6144 frame at 10.5 GB, so a frame within the
command line's own limit (8192x8192) did not fit a 16 GB machine. An input over RUN_PIXELS runs instead
as windows of at most WINDOW_SIDE pixels a side, each keeping only its core, which sees MARGIN pixels of
the frame around it wherever the frame has them; the cores tile the input exactly.

MARGIN is LW-IRSTNet's widest reach: its last dilated kernels span 3 taps x dilation 16 at 1/8
resolution, 384 pixels each way. Measured on 64 SIRST val frames enlarged to 512x512 and quilted 8 x 8
(shipped weights), windows of 2048 with margin 384 left the logits within 0.02 of the whole run's (margin
256: 0.8, no mask pixel differing; 128: 2.6, six mask pixels differing). Every input up to RUN_PIXELS
(every frame up to 2048x2048 with its 1.5x consensus run) runs whole, exactly as before.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

WINDOW_SIDE = 3072  # the largest window side, pixels
RUN_PIXELS = WINDOW_SIDE * WINDOW_SIDE  # inputs up to this many pixels run whole
MARGIN = 384  # context each window's core keeps on every side, inside the frame
STRIDE = 8  # windows start on the network's stride grid, so each sees its pixels as the whole run does


@dataclass(frozen=True)
class Span:
    """One window along one axis: the input it reads (`start`, `size`) and the output it supplies (`keep`,
    in input coordinates, inside the window)."""

    start: int
    size: int
    keep: slice


def spans(n: int, side: int, margin: int) -> list[Span]:
    """The windows along an axis of `n` pixels (a multiple of STRIDE): one when `n` fits `side`, else the
    fewest equal cores whose windows (core plus `margin` each side) fit `side`; edge windows shift inwards,
    so every window has one size and keeps at least `margin` of context wherever the axis continues."""
    if n % STRIDE or side % STRIDE or margin % STRIDE or side <= 2 * margin:
        raise ValueError(f"spans need multiples of {STRIDE} and side > 2 x margin ({n}, {side}, {margin})")
    if n <= side:
        return [Span(0, n, slice(0, n))]
    count = 2
    while _core(n, count) + 2 * margin > side:
        count += 1
    core = _core(n, count)
    size = core + 2 * margin
    return [Span(min(max(first - margin, 0), n - size), size, slice(first, min(first + core, n)))
            for first in range(0, n, core)]


def _core(n: int, count: int) -> int:
    """The core of `count` equal windows over `n` pixels, rounded up to the stride."""
    return math.ceil(n / count / STRIDE) * STRIDE


@dataclass(frozen=True)
class Window:
    """One window of an input: its rows and its columns."""

    rows: Span
    cols: Span


def windows(hw: tuple[int, int]) -> list[Window] | None:
    """The windows an input of (height, width) `hw` runs as; None when it runs whole (at most RUN_PIXELS)."""
    if hw[0] * hw[1] <= RUN_PIXELS:
        return None
    rows, cols = (spans(side, WINDOW_SIDE, MARGIN) for side in hw)
    return [Window(r, c) for r in rows for c in cols]


def cut(chw: np.ndarray, window: Window) -> np.ndarray:
    """The part of a C x H x W input one window reads."""
    r, c = window.rows, window.cols
    return np.ascontiguousarray(chw[:, r.start:r.start + r.size, c.start:c.start + c.size])


def place(out: np.ndarray, part: np.ndarray, window: Window) -> None:
    """Copy one window's core from its output `part` (the window's size) to its place in `out` (H x W)."""
    r, c = window.rows, window.cols
    out[r.keep, c.keep] = part[r.keep.start - r.start:r.keep.stop - r.start,
                               c.keep.start - c.start:c.keep.stop - c.start]
