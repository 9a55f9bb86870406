"""Target implantation and hard negatives: training frames built from real backgrounds.

SIRST has 256 training images; a network trained on them alone learns those scenes
and raises alarms on the clutter of other sensors. These building blocks make new,
exactly labelled frames from the same data:

* `remove_targets` inpaints a frame's targets away, giving a real, target-free background;
* `cut_targets` cuts every real target out by its mask as a *signal*: grey levels minus
  the local background (median of the ring around it), feathered over a one-pixel
  margin so its edges and local contrast travel with it;
* `add_cutout` / `add_psf` add a real or a point-spread (Gaussian) target to a grey
  canvas and return its exact mask (the cut-out's own mask; for a PSF the pixels at
  or above half its peak, the synthetic generator's rule);
* `add_bait` / `add_hot_pixels` add things that are *not* targets: wide blobs and
  single-pixel defects, so the network learns to keep them out of its masks;
* `mosaic` quilts pieces of several backgrounds, *reduced* 1-2.5x, into one canvas: the
  dense, fine-grained clutter a large sensor resolves (buildings, cloud fringes, tree
  lines a few pixels wide) at the pixel scale it delivers, where SIRST frames enlarged to
  the same size would only be smoother.

Grey levels are white-hot floats; callers clip and quantise.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import cv2
import numpy as np

_RING = np.ones((3, 3), np.uint8)


@dataclass(frozen=True)
class Cutout:
    """One real target: `signal` (float32, grey levels above the local background) and its `mask`."""

    signal: np.ndarray
    mask: np.ndarray

    @property
    def peak(self) -> float:
        return float(self.signal[self.mask].max())


def grey(bgr: np.ndarray) -> np.ndarray:
    """8-bit BGR (or grey) -> float32 grey."""
    if bgr.ndim == 2:
        return bgr.astype(np.float32)
    return cv2.cvtColor(bgr, cv2.COLOR_BGR2GRAY).astype(np.float32)


def remove_targets(bgr: np.ndarray, mask: np.ndarray, margin: int = 3) -> np.ndarray:
    """The frame with every masked target (grown by `margin` px) inpainted from its surroundings."""
    if not mask.any():
        return bgr.copy()
    kernel = np.ones((2 * margin + 1, 2 * margin + 1), np.uint8)
    hole = cv2.dilate(mask.astype(np.uint8), kernel)
    return cv2.inpaint(np.ascontiguousarray(bgr), hole, 3, cv2.INPAINT_TELEA)


def cut_targets(bgr: np.ndarray, mask: np.ndarray, margin: int = 3) -> list[Cutout]:
    """Every 8-connected target of `mask` as a background-subtracted cut-out (white-hot ones only)."""
    g = grey(bgr)
    m = mask.astype(np.uint8)
    count, labels, stats, _ = cv2.connectedComponentsWithStats(m, connectivity=8)
    h, w = m.shape
    cutouts = []
    for k in range(1, count):
        x, y, bw, bh = (int(v) for v in stats[k, :4])
        ys = slice(max(0, y - margin), min(h, y + bh + margin))
        xs = slice(max(0, x - margin), min(w, x + bw + margin))
        own = labels[ys, xs] == k
        near = cv2.dilate(m[ys, xs], _RING, iterations=2) > 0
        ring = ~near
        patch = g[ys, xs]
        background = float(np.median(patch[ring])) if ring.sum() >= 4 else float(np.median(patch[~own]))
        others = (m[ys, xs] > 0) & ~own
        support = (cv2.dilate(own.astype(np.uint8), _RING) > 0) & ~others
        feather = cv2.GaussianBlur(support.astype(np.float32), (0, 0), 0.7)
        feather[own] = 1.0
        signal = (patch - background) * feather
        if own.any() and float(signal[own].max()) > 0:
            cutouts.append(Cutout(signal.astype(np.float32), own))
    return cutouts


def transform_cutout(cutout: Cutout, rng: np.random.Generator, scale: tuple[float, float] = (0.7, 1.4)) -> Cutout:
    """A random dihedral transform and rescale of a cut-out (mask: the resized coverage >= 0.5)."""
    signal, mask = cutout.signal, cutout.mask.astype(np.float32)
    k = int(rng.integers(0, 4))
    signal, mask = np.rot90(signal, k), np.rot90(mask, k)
    if rng.random() < 0.5:
        signal, mask = signal[:, ::-1], mask[:, ::-1]
    factor = float(rng.uniform(*scale))
    h, w = signal.shape
    size = (max(1, round(w * factor)), max(1, round(h * factor)))
    signal = cv2.resize(np.ascontiguousarray(signal), size, interpolation=cv2.INTER_LINEAR)
    cover = cv2.resize(np.ascontiguousarray(mask), size, interpolation=cv2.INTER_LINEAR)
    new_mask = cover >= 0.5
    if not new_mask.any():  # a one-pixel target shrunk below half a pixel keeps its brightest pixel
        new_mask = signal == signal.max()
    return Cutout(signal.astype(np.float32), new_mask)


def local_std(canvas: np.ndarray, y: int, x: int, half: int = 10) -> float:
    """Grey-level std of the window around (y, x), floored at 2 (the SCR denominator)."""
    h, w = canvas.shape
    window = canvas[max(0, y - half):min(h, y + half + 1), max(0, x - half):min(w, x + half + 1)]
    return max(float(window.std()), 2.0)


def free_spot(taken: np.ndarray, shape: tuple[int, int], rng: np.random.Generator,
              tries: int = 30) -> tuple[int, int] | None:
    """A top-left corner where a `shape` patch overlaps no `taken` pixel; None when crowded."""
    h, w = taken.shape
    ph, pw = shape
    if ph >= h or pw >= w:
        return None
    for _ in range(tries):
        y, x = int(rng.integers(0, h - ph)), int(rng.integers(0, w - pw))
        if not taken[y:y + ph, x:x + pw].any():
            return y, x
    return None


def add_cutout(canvas: np.ndarray, taken: np.ndarray, cutout: Cutout, rng: np.random.Generator,
               contrast: tuple[float, float] = (0.5, 1.5)) -> np.ndarray | None:
    """Add `cutout` at a free random spot with its signal scaled by a factor from `contrast`.

    Returns the target's mask in canvas coordinates (and marks it, grown, in `taken`);
    None when there was no room.
    """
    spot = free_spot(taken, cutout.mask.shape, rng)
    if spot is None:
        return None
    y, x = spot
    ph, pw = cutout.mask.shape
    canvas[y:y + ph, x:x + pw] += cutout.signal * float(rng.uniform(*contrast))
    return _claim(taken, y, x, cutout.mask)


def add_psf(canvas: np.ndarray, taken: np.ndarray, rng: np.random.Generator,
            sigma: tuple[float, float] = (0.6, 2.0), scr: tuple[float, float] = (3.0, 40.0)) -> np.ndarray | None:
    """Add an elliptical Gaussian PSF whose peak is SCR x local std above the background.

    SCR is drawn log-uniformly from `scr`; the mask is the pixels at or above half the peak.
    """
    sy, sx = (float(rng.uniform(*sigma)) for _ in range(2))
    angle = float(rng.uniform(0, math.pi))
    reach = math.ceil(3 * max(sy, sx)) + 1
    offset = rng.uniform(-0.5, 0.5, size=2)
    dy = np.arange(-reach, reach + 1)[:, None] - offset[0]
    dx = np.arange(-reach, reach + 1)[None, :] - offset[1]
    cos, sin = math.cos(angle), math.sin(angle)
    u, v = dx * cos + dy * sin, dy * cos - dx * sin
    c = np.exp(-0.5 * ((u / sx) ** 2 + (v / sy) ** 2))
    c /= c.max()
    mask = c >= 0.5
    spot = free_spot(taken, mask.shape, rng)
    if spot is None:
        return None
    y, x = spot
    amplitude = math.exp(rng.uniform(math.log(scr[0]), math.log(scr[1]))) * local_std(canvas, y + reach, x + reach)
    canvas[y:y + mask.shape[0], x:x + mask.shape[1]] += (amplitude * c).astype(np.float32)
    return _claim(taken, y, x, mask)


def add_bait(canvas: np.ndarray, taken: np.ndarray, rng: np.random.Generator,
             sigma: tuple[float, float] = (4.0, 12.0), scr: tuple[float, float] = (2.0, 10.0)) -> None:
    """Add a wide, bright (or dark) blob: cloud-fragment-like clutter that is not a target."""
    sy, sx = (float(rng.uniform(*sigma)) for _ in range(2))
    reach = math.ceil(2.5 * max(sy, sx))
    dy = np.arange(-reach, reach + 1)[:, None]
    dx = np.arange(-reach, reach + 1)[None, :]
    c = np.exp(-0.5 * ((dy / sy) ** 2 + (dx / sx) ** 2)).astype(np.float32)
    spot = free_spot(taken, c.shape, rng, tries=10)
    if spot is None:
        return
    y, x = spot
    sign = 1.0 if rng.random() < 0.8 else -1.0
    amplitude = sign * float(rng.uniform(*scr)) * local_std(canvas, y + reach, x + reach)
    canvas[y:y + c.shape[0], x:x + c.shape[1]] += amplitude * c


def add_hot_pixels(canvas: np.ndarray, taken: np.ndarray, rng: np.random.Generator, count: int,
                   scr: tuple[float, float] = (3.0, 10.0)) -> None:
    """Add `count` isolated single-pixel defects (dead or hot sensor elements)."""
    h, w = canvas.shape
    for _ in range(count):
        y, x = int(rng.integers(1, h - 1)), int(rng.integers(1, w - 1))
        if not taken[y, x]:
            canvas[y, x] += float(rng.uniform(*scr)) * local_std(canvas, y, x, half=3)


def _feather(tile: int, overlap: int) -> np.ndarray:
    ramp = np.minimum(1.0, (np.arange(tile) + 1.0) / overlap)
    ramp = np.minimum(ramp, ramp[::-1])
    return np.outer(ramp, ramp).astype(np.float32)


def mosaic(backgrounds: Sequence[np.ndarray], shape: tuple[int, int], rng: np.random.Generator,
           scale: tuple[float, float] = (0.4, 1.0), tile: int = 128, overlap: int = 32) -> np.ndarray:
    """A float32 grey canvas of `shape` quilted from `tile`-pixel pieces of random `backgrounds`.

    Each piece is a background reduced by a factor drawn from `scale` (never so far that it
    gets smaller than a tile), maybe mirrored, cropped at random; neighbours overlap by
    `overlap` pixels and are blended with linear ramps, so seams are soft edges, not steps.
    """
    if not backgrounds:
        raise ValueError("mosaic needs at least one background")
    if not 0 < overlap < tile:
        raise ValueError(f"overlap {overlap} must lie in (0, tile={tile})")
    height, width = shape
    acc = np.zeros((height + tile, width + tile), np.float32)
    weight = np.zeros_like(acc)
    ramp = _feather(tile, overlap)
    step = tile - overlap
    for y in range(0, height, step):
        for x in range(0, width, step):
            piece = grey(backgrounds[int(rng.integers(0, len(backgrounds)))])
            h, w = piece.shape
            least = tile / min(h, w)
            factor = max(least, float(rng.uniform(*scale)))
            size = (max(tile, round(w * factor)), max(tile, round(h * factor)))
            piece = cv2.resize(piece, size, interpolation=cv2.INTER_AREA if factor < 1 else cv2.INTER_LINEAR)
            if rng.random() < 0.5:
                piece = piece[:, ::-1]
            top, left = int(rng.integers(0, piece.shape[0] - tile + 1)), int(rng.integers(0, piece.shape[1] - tile + 1))
            acc[y:y + tile, x:x + tile] += piece[top:top + tile, left:left + tile] * ramp
            weight[y:y + tile, x:x + tile] += ramp
    return acc[:height, :width] / np.maximum(weight[:height, :width], 1e-6)


def _claim(taken: np.ndarray, y: int, x: int, mask: np.ndarray) -> np.ndarray:
    """The mask placed at (y, x) in a frame-sized array; the spot, grown by 4 px, becomes taken."""
    full = np.zeros(taken.shape, dtype=bool)
    full[y:y + mask.shape[0], x:x + mask.shape[1]] = mask
    taken |= cv2.dilate(full.astype(np.uint8), np.ones((9, 9), np.uint8)) > 0
    return full
