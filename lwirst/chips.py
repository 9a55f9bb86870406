"""Target chips: magnified crops around every detection and ground-truth target.

Small infrared targets are 1-10 pixels: in a whole frame shown a few hundred pixels
wide they vanish. A chip is a crop around one target, contrast-stretched and
magnified with nearest-neighbour upscaling (every pixel stays a sharp square), with
the saliency heatmap's crop beside it, a box and a border in the target's outcome
colour (`lwirst.palette`). The chips of a frame come worst first: missed targets
(hot-but-below-threshold ones first), false alarms, then correct detections.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np
from scipy import ndimage

from lwirst.drawing import Match, heat_scale, heatmap, match_targets
from lwirst.imageio import to_bgr
from lwirst.palette import CORRECT, DETECTION, FALSE_ALARM, FILTERED, HOT, MISSED, outcome
from lwirst.postprocess import HOT_MARGIN, Detections, Target, mask_targets

CHIP_SIZE = 128  # side of each magnified half of a chip, pixels
CONTEXT = 6  # pixels of background kept around a target's box
MIN_SIDE = 15  # smallest crop side (pixels of the frame)
ORDER = (HOT, MISSED, FALSE_ALARM, CORRECT, DETECTION, FILTERED)


@dataclass(frozen=True)
class Chip:
    """One target's chip: outcome (a `lwirst.palette` name), centroid and box in frame pixels, the
    crop's window (x, y, w, h) in frame pixels, the magnification, and the picture (8-bit BGR:
    crop | heatmap crop)."""

    outcome: str
    x: float
    y: float
    box: tuple[int, int, int, int]
    window: tuple[int, int, int, int]
    zoom: float
    peak: float
    picture: np.ndarray
    number: int | None = None  # a detection's id, as the overlay and the target table number it (#3)

    @property
    def caption(self) -> str:
        """Number, tag, centroid and magnification, e.g. "#3 FA at (120, 48) ×8" (a missed target has no number; a large
        one's crop shrunk to fit reads "×0.62", not "×0.62439")."""
        number = f"#{self.number} " if self.number is not None else ""
        return f"{number}{outcome(self.outcome).tag} at ({self.x:.0f}, {self.y:.0f}) ×{round(self.zoom, 2):g}"


def _window(target: Target, shape: tuple[int, int], context: int) -> tuple[int, int, int, int]:
    """A square crop window around a target, inside the frame."""
    h, w = shape
    side = min(max(target.box_w, target.box_h) + 2 * context, max(h, w))
    side = max(side, min(MIN_SIDE, h, w))
    x0 = round(target.x - side / 2)
    y0 = round(target.y - side / 2)
    x0, y0 = min(max(x0, 0), max(w - side, 0)), min(max(y0, 0), max(h - side, 0))
    return x0, y0, min(side, w - x0), min(side, h - y0)


GREY_SPREAD = 16  # grey levels between a pixel's channels that a lossy codec leaves on a grey frame (2-3 seen)


def stretch(crop: np.ndarray, target: tuple[slice, slice] | None = None) -> np.ndarray:
    """Contrast stretch a BGR crop (1st..99.5th percentile to 0..255) so a faint target shows. A crop grey in
    substance (its channels within `GREY_SPREAD` levels at the 99th percentile) is stretched as grey: a grey video
    decoded from a lossy file keeps channels a few levels apart, which the stretch turned dark green. With the
    `target`'s pixels (rows, columns of the crop), white is no lower than their brightest: in a 15x15 crop the
    99.5th percentile is the second or third brightest pixel, so a 1-px target and noise a few levels above the
    sky both read white."""
    if crop.ndim == 3 and crop.shape[2] >= 3 and crop.size:
        spread = np.percentile(crop[..., :3].max(axis=2).astype(np.int16) - crop[..., :3].min(axis=2), 99)
        if spread <= GREY_SPREAD:
            grey = cv2.cvtColor(np.ascontiguousarray(crop[..., :3]), cv2.COLOR_BGR2GRAY)
            return cv2.cvtColor(stretch(grey, target), cv2.COLOR_GRAY2BGR)
    lo, hi = np.percentile(crop, (1.0, 99.5))
    if target is not None and crop[target].size:
        hi = max(float(hi), float(crop[target].max()))
    if hi <= lo:
        return crop
    return np.clip((crop.astype(np.float32) - lo) * (255.0 / (hi - lo)), 0, 255).astype(np.uint8)


def box_in_crop(box: tuple[int, int, int, int], origin: tuple[int, int]) -> tuple[slice, slice]:
    """A target's box (x, y, w, h in the frame) as the rows and columns of a crop whose corner is at `origin`
    (x, y): what `stretch` sets its white point by."""
    x, y, w, h = box
    rows = slice(max(0, y - origin[1]), max(0, y - origin[1] + h))
    return rows, slice(max(0, x - origin[0]), max(0, x - origin[0] + w))


def magnify(crop: np.ndarray, size: int) -> tuple[np.ndarray, float]:
    h, w = crop.shape[:2]
    factor = size / max(h, w)
    if factor >= 1:
        factor = float(max(1, int(factor)))  # whole pixels: nearest-neighbour squares
        return cv2.resize(crop, (w * int(factor), h * int(factor)), interpolation=cv2.INTER_NEAREST), factor
    return cv2.resize(crop, (max(1, round(w * factor)), max(1, round(h * factor))),
                      interpolation=cv2.INTER_AREA), factor


def _chip_picture(frame: np.ndarray, heat: np.ndarray, target: Target, window: tuple[int, int, int, int],
                  name: str, size: int) -> tuple[np.ndarray, float]:
    """The chip of `target`: the frame's crop in `window` (contrast-stretched) beside `heat`, its saliency's crop
    coloured on the frame's scale, both magnified, boxed and bordered in the outcome's colour."""
    x0, y0, w, h = window
    colour = outcome(name).bgr
    halves = []
    box = box_in_crop(target.box, (x0, y0))
    for crop, stretched in ((frame[y0:y0 + h, x0:x0 + w], True), (heat, False)):
        big, factor = magnify(stretch(crop, box) if stretched else crop, size)
        bx, by = (target.box_x - x0) * factor, (target.box_y - y0) * factor
        pad = max(2.0, factor)
        cv2.rectangle(big, (int(bx - pad), int(by - pad)),
                      (int(bx + target.box_w * factor + pad - 1), int(by + target.box_h * factor + pad - 1)),
                      colour, 2, cv2.LINE_8)
        halves.append(big)
    height = max(p.shape[0] for p in halves)
    gap = np.full((height, 4, 3), 255, np.uint8)
    halves = [cv2.copyMakeBorder(p, 0, height - p.shape[0], 0, 0, cv2.BORDER_CONSTANT, value=(255, 255, 255))
              for p in halves]
    picture = np.hstack([halves[0], gap, halves[1]])
    picture = cv2.copyMakeBorder(picture, 4, 4, 4, 4, cv2.BORDER_CONSTANT, value=colour)
    return picture, factor


def _missed_status(logits: np.ndarray, truth: Detections, missed: tuple[Target, ...], threshold: float,
                   margin: float) -> dict[int, tuple[str, float]]:
    """Missed GT target id -> (MISSED or HOT, peak logit inside it)."""
    if not missed:
        return {}
    ids = [t.id for t in missed]
    peaks = np.atleast_1d(ndimage.maximum(logits, truth.labels, ids))
    return {i: (HOT if threshold - margin <= float(p) <= threshold else MISSED, float(p))
            for i, p in zip(ids, peaks, strict=True)}


def classify(kept: Detections, logits: np.ndarray, mask: np.ndarray | None, threshold: float,
             margin: float) -> list[tuple[str, Target, float]]:
    """(outcome, target, peak logit) of every kept detection and, with a mask, every missed GT target."""
    if mask is None:
        return [(DETECTION, t, t.peak) for t in kept]
    match: Match = match_targets(kept, mask)
    truth = mask_targets(mask)
    status = _missed_status(logits, truth, match.missed, threshold, margin)
    rows = [(CORRECT, t, t.peak) for t in match.correct] + [(FALSE_ALARM, t, t.peak) for t in match.false_alarms]
    rows += [(status[t.id][0], t, status[t.id][1]) for t in match.missed]
    return rows


def target_chips(image: np.ndarray, logits: np.ndarray, kept: Detections, mask: np.ndarray | None = None,
                 threshold: float = 0.0, margin: float = HOT_MARGIN, scale: str = "probability",
                 size: int = CHIP_SIZE, context: int = CONTEXT, limit: int | None = 24,
                 removed: tuple[Target, ...] = ()) -> tuple[list[Chip], int]:
    """The chips of a frame, worst first (hot, missed, false alarm, correct; strongest first within), then the
    detections the size / ratio filter `removed` (a frame whose only detection the filter took showed nothing of
    where it was), at most `limit` of them, and how many targets there were in all.

    `margin`: a missed target whose peak logit is at most this far under the threshold is
    "hot but below threshold".
    """
    logits = np.asarray(logits, dtype=np.float32)
    rows = classify(kept, logits, mask, threshold, margin) + [(FILTERED, t, t.peak) for t in removed]
    rows.sort(key=lambda r: (ORDER.index(r[0]), -r[2]))
    frame = to_bgr(image)
    bar = heat_scale(logits, scale)  # the whole frame's colour scale; only each chip's window is coloured
    chips = []
    for name, target, peak in rows[:limit] if limit is not None else rows:
        window = _window(target, logits.shape, context)
        x0, y0, w, h = window
        heat = heatmap(logits[y0:y0 + h, x0:x0 + w], scale, colorbar=False, bar=bar)
        picture, zoom = _chip_picture(frame, heat, target, window, name, size)
        number = None if name in (MISSED, HOT) else target.id
        chips.append(Chip(name, target.x, target.y, target.box, window, zoom, peak, picture, number))
    return chips, len(rows)
