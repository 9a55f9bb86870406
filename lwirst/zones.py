"""Ignore zones: parts of the frame that are no scene, such as a camera's burnt-in display.

Why: thermal cameras burn their on-screen display into the frames they deliver, and the network takes its bright
strokes for targets. On SIRST val with a camera-style display drawn in (`scripts/osd_probe.py`), a crosshair at the
centre raised 2.8 false blobs per frame, a logo 1.5, and a crosshair on the target the operator aims at cut the
targets found from 94 to 67 of 97; no threshold or size filter separates them (with the zones: 94, 0.035-0.059).
A zone is a rectangle (`Region`, in pixels or percent of the frame) or the bright pixels of a mask image the size
of the frames. Its pixels are filled from their surroundings before the network runs (`fill`: a normalised box
average, grown until every hole is filled, so a stroke beside a target does not light up with it), and the map
there is held below every threshold (`IGNORED_LOGIT`), so nothing is found in a zone and the heatmap shows it as
empty.
"""

from __future__ import annotations

import hashlib
import math
import re
from dataclasses import dataclass
from functools import cached_property

import cv2
import numpy as np

from lwirst.errors import LwirstError

IGNORED_LOGIT = -10.0  # a zone's logit: below every threshold the sweeps and sliders reach (-8)
MAX_REGIONS = 32  # rectangles one run takes: a display's strokes are a handful, not hundreds
MAX_VALUE = 1e6  # pixels: beyond every frame the limits let in; the value's text then needs no exponent
LEGEND_CHARS = 32  # zones whose key is longer are named in a chart's legend by a digest of it
_NUMBER = re.compile(r"^\s*(\d+(?:\.\d*)?|\.\d+)\s*(%?)\s*$")


@dataclass(frozen=True)
class Region:
    """One rectangle: left, top, width and height, each in pixels or, where `percent`, in percent of the frame's
    width (left, width) or height (top, height), so that one region fits every frame size of a camera."""

    left: float
    top: float
    width: float
    height: float
    percent: tuple[bool, bool, bool, bool] = (False, False, False, False)

    @classmethod
    def parse(cls, text: str) -> Region:
        """"X,Y,W,H" (each a number, or a number with % for a share of the frame), e.g. "0,0,100%,24"."""
        said = repr(text if len(text) <= 60 else text[:57] + "...")  # a page's field may hold any length
        parts = text.split(",")
        if len(parts) != 4:
            raise LwirstError(f"ignore region {said}: expected X,Y,W,H (pixels, or percent with %), e.g. 0,0,100%,24")
        numbers = [_NUMBER.match(part) for part in parts]
        if not all(numbers):
            raise LwirstError(f"ignore region {said}: each of X,Y,W,H is a number >= 0, or a percent such as 50%")
        values = [float(m.group(1)) for m in numbers if m]
        percent = tuple(bool(m.group(2)) for m in numbers if m)
        if max(values) > MAX_VALUE:
            raise LwirstError(f"ignore region {said}: each of X,Y,W,H is at most {MAX_VALUE:.0f}")
        if values[2] <= 0 or values[3] <= 0:
            raise LwirstError(f"ignore region {said}: width and height must be positive")
        if any(p and v > 100 for p, v in zip(percent, values, strict=True)):
            raise LwirstError(f"ignore region {said}: a percent is at most 100%")
        left, top, width, height = values
        return cls(left, top, width, height, percent=(percent[0], percent[1], percent[2], percent[3]))

    def bounds(self, hw: tuple[int, int]) -> tuple[int, int, int, int]:
        """(top, bottom, left, right) in a frame of size `hw`, clipped to it (empty when it lies outside)."""
        h, w = hw
        left, top, width, height = (value * (w if i % 2 == 0 else h) / 100 if self.percent[i] else value
                                    for i, value in enumerate((self.left, self.top, self.width, self.height)))
        x0, y0 = math.floor(left), math.floor(top)
        x1, y1 = math.ceil(left + width), math.ceil(top + height)
        return max(0, y0), min(h, y1), max(0, x0), min(w, x1)

    def __str__(self) -> str:
        values = (self.left, self.top, self.width, self.height)
        # 12 significant digits: the text reads back as the same region (`parse`), which the dashboard and the
        # records rely on ("%g" made 10.0000001 into 10, another region under the same key)
        return ",".join(f"{v:.12g}%" if p else f"{v:.12g}" for v, p in zip(values, self.percent, strict=True))


@dataclass(frozen=True, eq=False)
class Zones:
    """Where a run ignores the frame: rectangles and, optionally, a mask image's bright pixels (frames must have
    its size). `key` tells two sets of zones apart in caches and records (two Zones compare as objects: a mask is
    an array)."""

    regions: tuple[Region, ...] = ()
    mask: np.ndarray | None = None  # bool H x W
    mask_name: str = ""

    def __post_init__(self) -> None:
        if len(self.regions) > MAX_REGIONS:
            raise LwirstError(f"{len(self.regions)} ignore regions; at most {MAX_REGIONS} (a mask image holds any "
                              "shape)")

    def __bool__(self) -> bool:
        return bool(self.regions) or self.mask is not None

    @cached_property
    def key(self) -> str:
        """The regions as given and the mask's content digest: "" for no zone (read once: a mask is hashed)."""
        parts = [str(region) for region in self.regions]
        if self.mask is not None:
            digest = hashlib.sha256(np.packbits(self.mask).tobytes() + str(self.mask.shape).encode()).hexdigest()
            parts.append(f"mask:{digest[:12]}")
        return ";".join(parts)

    def covered(self, hw: tuple[int, int]) -> np.ndarray | None:
        """The ignored pixels of a frame of size `hw` (None where nothing is ignored)."""
        if not self:
            return None
        if self.mask is not None and self.mask.shape != tuple(hw):
            name = f" {self.mask_name}" if self.mask_name else ""
            raise LwirstError(f"the ignore mask{name} is {self.mask.shape[1]}x{self.mask.shape[0]}, the frame "
                              f"{hw[1]}x{hw[0]}: a mask covers frames of its own size")
        covered = np.zeros(hw, bool) if self.mask is None else self.mask.copy()
        for region in self.regions:
            top, bottom, left, right = region.bounds(hw)
            covered[top:bottom, left:right] = True
        return covered

    def describe(self) -> str:
        """For protocol lines: "ignoring 2 regions (0,0,100%,24; 600,10,30,30) and the mask m.png"; "" for none."""
        said = []
        if self.regions:
            said.append(f"{len(self.regions)} region{'s' if len(self.regions) != 1 else ''} "
                        f"({'; '.join(map(str, self.regions))})")
        if self.mask is not None:
            said.append(f"the mask {self.mask_name}".rstrip())
        return "ignoring " + " and ".join(said) if said else ""


NO_ZONES = Zones()


def read_zones(regions: list[str] | tuple[str, ...] = (), mask_path: str | None = None) -> Zones:
    """Zones from command-line text: "X,Y,W,H" regions and a mask image file (its bright pixels, over half of full
    scale, are ignored; an alpha plane is no part of it: an opaque canvas is no zone, and a JPEG's faint halo is
    none either)."""
    from lwirst.imageio import read_image, to_gray

    mask = None
    if mask_path is not None:
        mask = to_gray(read_image(mask_path)) > 127
        if mask.all():
            raise LwirstError(f"{mask_path}: the ignore mask covers the whole frame; nothing would be looked at")
    return Zones(tuple(Region.parse(text) for text in regions), mask, str(mask_path or ""))


def fill(pixels: np.ndarray, covered: np.ndarray) -> np.ndarray:
    """8-bit `pixels` with the `covered` ones replaced by the mean of the nearest uncovered pixels: a box average
    over uncovered pixels only, widened (5, 15, 45, ... px) until no hole is left."""
    if not covered.any():
        return pixels
    if covered.all():
        raise LwirstError("the ignore zones cover the whole frame; nothing would be looked at")
    valid = (~covered).astype(np.float32)
    values = pixels.astype(np.float32) * (valid[..., None] if pixels.ndim == 3 else valid)
    out = pixels.copy()
    left = covered.copy()
    size = 5
    while left.any():
        weight = cv2.boxFilter(valid, -1, (size, size), normalize=False, borderType=cv2.BORDER_CONSTANT)
        total = cv2.boxFilter(values, -1, (size, size), normalize=False, borderType=cv2.BORDER_CONSTANT)
        reached = left & (weight > 0)
        mean = total[reached] / (weight[reached][:, None] if pixels.ndim == 3 else weight[reached])
        out[reached] = np.clip(np.rint(mean), 0, 255).astype(np.uint8)
        left &= ~reached
        size = size * 3
    return out


def hold_below(logits: np.ndarray, covered: np.ndarray | None) -> np.ndarray:
    """The map with the `covered` pixels held at the lower of IGNORED_LOGIT and its own minimum."""
    if covered is None or not covered.any():
        return logits
    out = logits.copy()
    out[covered] = min(IGNORED_LOGIT, float(logits.min()))
    return out


def recorded(value: object) -> str:
    """The zones' key a result (or a table cell) records: "" where none is (absent, null, NaN)."""
    return value if isinstance(value, str) else ""


def said(key: str, template: str = "{}") -> str:
    """`template` holding "ignore zones 0,0,100%,24" for a run with zones; "" for none."""
    return template.format(f"ignore zones {key}") if key else ""


def legend(key: str) -> str:
    """A chart point's name tag for a run with ignore zones (", ignore 0,0,100%,24", or a digest of a long key):
    two runs with other zones are two points; "" for none."""
    if not key:
        return ""
    if len(key) <= LEGEND_CHARS:
        return f", ignore {key}"
    return f", ignore zones #{hashlib.sha256(key.encode()).hexdigest()[:6]}"
