"""Pseudo-colour IR frames back to the intensity they encode.

Thermal cameras and the tools around them often deliver frames through a palette (hot,
ironbow, inferno, jet, ...): one measured intensity per pixel, drawn as a colour. The network
learned grey frames; fed a palette frame as BGR it loses most targets (on SIRST val through
`hot` the shipped model's Pd fell from 0.95 to 0.65, through `jet` to 0.18). Mapping each colour
back to its position on the palette recovers the intensity exactly, up to the palette's own
resolution, so such a frame runs as the grey frame it was made from.

A frame is read as a palette frame only when it is colourful (grey and tinted-grey frames, which
the network handles as they are, stay untouched) and nearly all of its colours lie on one
known palette's curve. Palettes that revisit a colour (hsv, twilight) cannot be inverted and are
not in the list.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from dataclasses import dataclass

import cv2
import numpy as np
from scipy.spatial import cKDTree

from lwirst.rounding import count_text

_OPENCV = {
    "hot": cv2.COLORMAP_HOT, "inferno": cv2.COLORMAP_INFERNO, "magma": cv2.COLORMAP_MAGMA,
    "plasma": cv2.COLORMAP_PLASMA, "viridis": cv2.COLORMAP_VIRIDIS, "cividis": cv2.COLORMAP_CIVIDIS,
    "jet": cv2.COLORMAP_JET, "turbo": cv2.COLORMAP_TURBO, "rainbow": cv2.COLORMAP_RAINBOW,
    "parula": cv2.COLORMAP_PARULA, "ocean": cv2.COLORMAP_OCEAN, "autumn": cv2.COLORMAP_AUTUMN,
    "winter": cv2.COLORMAP_WINTER, "summer": cv2.COLORMAP_SUMMER, "spring": cv2.COLORMAP_SPRING,
    "cool": cv2.COLORMAP_COOL, "deepgreen": cv2.COLORMAP_DEEPGREEN,
}
# Ironbow, the default palette of many thermal cameras: black, indigo, magenta-red, orange,
# yellow, white. Control points (position, B, G, R) approximate the common rendering.
_IRONBOW = ((0, 0, 0, 0), (40, 110, 0, 30), (90, 150, 0, 140), (140, 60, 30, 215),
            (190, 0, 120, 250), (230, 40, 210, 255), (255, 230, 255, 255))

CHROMA_MIN = 12.0  # mean (max - min channel) below this: a grey or tinted-grey frame, left as it is
# Tuned on SIRST val drawn with the thermal palettes and JPEG-coded (chroma subsampling smears colour
# at edges) against smooth random colour fields, which must stay undecoded.
NEAR = 16.0  # a colour within this distance (8-bit BGR units) of a palette's curve lies on it
ON_CURVE = 0.85  # the share of a frame's colours that must lie on one palette (overlays, text may not)
SPREAD = 8  # palette levels the on-curve colours must span: a frame of one or two colours is ambiguous
SAMPLES = 2048
_CELL = 8  # the prefilter's colour cube: 32 levels per channel
_CELL_REACH = NEAR + _CELL * np.sqrt(3) / 2  # a colour within NEAR of the curve is this close from its cell centre


# Said beside a video's decoded frames, on the command line and the Video page alike
VIDEO_PALETTE_CAVEAT = ("the network learnt grey frames; JPEG-coded palette video, such as MJPEG, loses dim targets "
                        "in its compression")


def decoded_text(counts: Mapping[str, int]) -> str:
    """How many frames were read as the intensity their palette encodes: "3 frames decoded from the pseudo-colour
    palettes iron, jet" (a run's summary line says it: the same frames as colours would score otherwise)."""
    names = sorted(counts)
    return (f"{count_text(sum(counts.values()), 'frame')} decoded from the pseudo-colour "
            f"{'palette' if len(names) == 1 else 'palettes'} {', '.join(names)}")


def _ironbow() -> np.ndarray:
    positions = np.array([p[0] for p in _IRONBOW], dtype=np.float64)
    channels = [np.interp(np.arange(256), positions, [p[c] for p in _IRONBOW]) for c in (1, 2, 3)]
    return np.rint(np.stack(channels, axis=1)).astype(np.uint8)


@functools.cache
def palettes() -> dict[str, np.ndarray]:
    """Every known palette as a (256, 3) uint8 BGR table, index = intensity."""
    ramp = np.arange(256, dtype=np.uint8)[:, None]
    tables = {name: cv2.applyColorMap(ramp, code)[:, 0, :] for name, code in _OPENCV.items()}
    tables["ironbow"] = _ironbow()
    return tables


@functools.cache
def _trees() -> dict[str, cKDTree]:
    return {name: cKDTree(table.astype(np.float64)) for name, table in palettes().items()}


@functools.cache
def _cube() -> tuple[tuple[str, ...], np.ndarray]:
    """Each palette's distance from every cell centre of a 32-level colour cube: a per-frame prefilter
    that costs a lookup, so that colour frames drawn with no palette pay almost nothing."""
    levels = np.arange(_CELL // 2, 256, _CELL, dtype=np.float64)
    b, g, r = np.meshgrid(levels, levels, levels, indexing="ij")
    centres = np.stack([b.ravel(), g.ravel(), r.ravel()], axis=1)
    names = tuple(palettes())
    return names, np.stack([_trees()[name].query(centres)[0] for name in names]).astype(np.float32)


@dataclass(frozen=True)
class PaletteMatch:
    """The palette a frame was drawn with and how closely its colours follow it."""

    name: str
    error: float  # mean distance of the on-curve sampled colours to the palette curve (8-bit units)


def _sample(bgr: np.ndarray) -> np.ndarray:
    """Up to SAMPLES pixels on a regular grid, as uint8 (N, 3)."""
    pixels = bgr.reshape(-1, 3)
    return pixels[::max(1, len(pixels) // SAMPLES)]


def _chroma(colours: np.ndarray) -> float:
    """Mean (max - min channel) of (N, 3) uint8 colours: 0 for grey."""
    return float((colours.max(axis=1).astype(np.int16) - colours.min(axis=1)).mean())


def colourful(image: np.ndarray) -> bool:
    """Whether an 8-bit frame is in colour (a palette, a natural-colour picture), not grey or tinted grey: what
    the network never learnt unless a palette decodes it."""
    return image.ndim == 3 and image.shape[2] == 3 and image.dtype == np.uint8 and \
        _chroma(_sample(image)) >= CHROMA_MIN


def detect_palette(image: np.ndarray) -> PaletteMatch | None:
    """The palette an 8-bit BGR frame was drawn with, or None for a grey, tinted or natural-colour frame."""
    if not colourful(image):
        return None
    colours = _sample(image)
    names, cube = _cube()
    cells = (colours // _CELL).astype(np.int64)
    near_cells = (cube[:, (cells[:, 0] * 32 + cells[:, 1]) * 32 + cells[:, 2]] <= _CELL_REACH).mean(axis=1)
    best: PaletteMatch | None = None
    for candidate in np.flatnonzero(near_cells >= ON_CURVE):
        distance, index = _trees()[names[candidate]].query(colours.astype(np.float64))
        on_curve = distance <= NEAR
        if on_curve.mean() >= ON_CURVE and np.ptp(index[on_curve]) >= SPREAD:
            match = PaletteMatch(names[candidate], float(distance[on_curve].mean()))
            if best is None or match.error < best.error:
                best = match
    return best


def decode_palette(image: np.ndarray, name: str) -> np.ndarray:
    """The 8-bit intensity plane of a frame drawn with palette `name` (nearest colour on the curve)."""
    packed = (image[..., 0].astype(np.uint32) << 16) | (image[..., 1].astype(np.uint32) << 8) | image[..., 2]
    unique, inverse = np.unique(packed.ravel(), return_inverse=True)
    colours = np.stack([(unique >> 16) & 255, (unique >> 8) & 255, unique & 255], axis=1).astype(np.float64)
    _, index = _trees()[name].query(colours)
    return index.astype(np.uint8)[inverse].reshape(image.shape[:2])


def as_intensity(image: np.ndarray) -> tuple[np.ndarray, str]:
    """`image` as the network should see it: a palette frame decoded to grey (and the palette's
    name), anything else unchanged (and "")."""
    match = detect_palette(image)
    if match is None:
        return image, ""
    return decode_palette(image, match.name), match.name


def random_palette(rng: np.random.Generator) -> np.ndarray:
    """A (256, 3) uint8 BGR palette for training: half the time a known one, else a random colour curve
    through five colours of rising luminance, so that a network also meets palettes no decoder knows."""
    if rng.random() < 0.5:
        tables = palettes()
        return tables[sorted(tables)[int(rng.integers(len(tables)))]]
    colours = rng.integers(0, 256, (5, 3)).astype(np.float64)
    colours = colours[np.argsort(colours @ np.array([0.114, 0.587, 0.299]))]  # BGR luminance, dark to bright
    positions = np.concatenate([[0.0], np.sort(rng.uniform(0, 255, 3)), [255.0]])
    levels = np.arange(256)
    return np.rint(np.stack([np.interp(levels, positions, colours[:, c]) for c in range(3)], axis=1)).astype(np.uint8)
