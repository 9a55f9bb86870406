"""Pictures of results, shared by the CLI, the video writer and the dashboard.

All functions take images as users have them (8/16-bit, grey/BGR/BGRA; see
`lwirst.imageio.to_bgr`) and return new 8-bit BGR arrays; inputs are never
modified. Colours follow `lwirst.palette` (Okabe-Ito, colour-blind safe), the same in
every panel, table and chart: bluish green = correct detection, sky blue = missed
target, vermillion = false alarm, yellow = hot but below threshold, reddish purple =
a detection with no ground truth to judge it. Line widths and text grow with the
frame, so a 4000x3000 frame shown 800 px wide keeps its boxes, labels and colour bar.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass

import cv2
import numpy as np

from lwirst.errors import LwirstError
from lwirst.imageio import to_bgr
from lwirst.metrics import match_targets as metric_match
from lwirst.palette import CORRECT, DETECTION, FALSE_ALARM, HOT, MISSED, hex_to_bgr, ink, outcome
from lwirst.postprocess import Detections, Target, logit_to_probability, mask_targets
from lwirst.rounding import rate_text
from lwirst.saliency import Saliency
from lwirst.tracking import Track

CORRECT_BGR, MISSED_BGR, FALSE_ALARM_BGR = outcome(CORRECT).bgr, outcome(MISSED).bgr, outcome(FALSE_ALARM).bgr
DETECTION_BGR = outcome(DETECTION).bgr
IGNORED_BGR = (150, 150, 150)  # the outline of the ignore zones (`lwirst.zones`): grey, no outcome's colour
WHITE, BLACK = (255, 255, 255), (0, 0, 0)
TRAIL = WHITE  # track trajectories: no outcome colour
FONT = cv2.FONT_HERSHEY_SIMPLEX
TAGGED_MAX = 40  # above this many boxes, tags would hide the frame: colour only


def mask_image(mask: np.ndarray) -> np.ndarray:
    """Boolean mask -> uint8 0/255, the paper's Output_mask convention (Eqs. 2, 4)."""
    return np.where(np.asarray(mask, dtype=bool), np.uint8(255), np.uint8(0))


def _scale(image: np.ndarray) -> tuple[float, int]:
    """Font scale and line thickness that stay legible from 128 px to 4000x3000 frames, for a
    frame shown about 450 px wide (the dashboard's panels, two per row; a video beside its chart):
    both grow with the longer side."""
    side = max(image.shape[:2])
    return max(0.35, side / 700.0), max(1, round(side / 300.0))


def _text_thickness(scale: float) -> int:
    return max(1, round(scale * 1.2))


Mark = tuple[tuple[int, int, int, int], tuple[int, int, int], str | None]  # target box (x, y, w, h), BGR, label


def _frame_of(image: np.ndarray, box: tuple[int, int, int, int], thickness: int) -> tuple[int, int, int, int]:
    """The rectangle (x0, y0, x1, y1) drawn around a target box. Small targets are 1-10 px: a 2 px margin keeps
    the box from hiding the target, and a box is at least 1/40 of the frame's longer side, so a 3 px target of
    a 1280x1024 frame shown 450 px wide still gets a box one can see (32 px of the frame, 11 on the screen). A
    box that runs past the frame's edge grows inwards by as much: a target in a corner kept only a 5x5 corner of
    its box; its sides on the edge stay off the frame, clear of the target."""
    x, y, w, h = box
    pad = 2 + thickness
    least = max(image.shape[:2]) // 40
    pad_x, pad_y = max(pad, (least - w + 1) // 2), max(pad, (least - h + 1) // 2)
    rows, cols = image.shape[:2]
    x0, x1 = _inside(x - pad_x, x + w - 1 + pad_x, cols)
    y0, y1 = _inside(y - pad_y, y + h - 1 + pad_y, rows)
    return x0, y0, x1, y1


def _inside(lo: int, hi: int, size: int) -> tuple[int, int]:
    """A span [lo, hi] of an axis `size` pixels long, stretched inwards by as much as it runs past either end."""
    return lo - max(0, hi - (size - 1)), hi + max(0, -lo)


def _reach(thickness: int) -> int:
    """How far a line OpenCV draws `thickness` wide reaches either side of its path (1: none; t > 1: (t + 1) // 2)."""
    return 0 if thickness == 1 else (thickness + 1) // 2


def _covered(plates: np.ndarray, avoid: np.ndarray) -> np.ndarray:
    """Per plate (rows of x0, y0, x1, y1, inclusive), the pixels it shares with the rectangles of `avoid`."""
    width = np.minimum(plates[:, None, 2], avoid[None, :, 2]) - np.maximum(plates[:, None, 0], avoid[None, :, 0]) + 1
    height = np.minimum(plates[:, None, 3], avoid[None, :, 3]) - np.maximum(plates[:, None, 1], avoid[None, :, 1]) + 1
    return (np.clip(width, 0, None) * np.clip(height, 0, None)).sum(axis=1)


def _marks(image: np.ndarray, marks: Sequence[Mark], thickness: int,
           clear: Sequence[tuple[int, int, int, int] | None] = ()) -> list[tuple[int, int, int, int]]:
    """Every box first, each over a dark halo one pixel wider on either side (a bluish-green box on a grey sky was
    1.15:1 against it; black beside the stroke is 6:1 or more), then each label on a plate against its box's halo
    where it covers no box, nothing of `clear` (x0, y0, x1, y1: a text band drawn before) and no label already
    placed (above, below, both right-aligned, at either side top- or bottom-aligned, then at a corner or centred on
    a side, then further above or below; else where it covers least): a label put above its box whatever lay
    there hid a neighbouring target and ran into its label (SIRST Misc_29). Returns the plates (x0, y0, x1, y1)."""
    rects = [_frame_of(image, box, thickness) for box, _, _ in marks]
    for x0, y0, x1, y1 in rects:  # every halo before any stroke: a neighbour's halo never cuts a stroke
        cv2.rectangle(image, (x0, y0), (x1, y1), BLACK, 2 * _reach(thickness) + 2, cv2.LINE_8)
    for (x0, y0, x1, y1), (_, color, _) in zip(rects, marks, strict=True):
        cv2.rectangle(image, (x0, y0), (x1, y1), color, thickness, cv2.LINE_8)
    fixed = [*rects, *(rect for rect in clear if rect is not None)]
    taken = np.zeros((len(fixed) + sum(bool(label) for _, _, label in marks), 4), np.int64)
    taken[:len(fixed)] = np.asarray(fixed, np.int64).reshape(-1, 4)
    placed = len(fixed)
    for rect, (_, color, label) in zip(rects, marks, strict=True):
        if label:
            taken[placed] = _label(image, rect, color, label, thickness, taken[:placed])
            placed += 1
    return [tuple(int(v) for v in plate) for plate in taken[len(fixed):]]


def _label(image: np.ndarray, rect: tuple[int, int, int, int], color: tuple[int, int, int], label: str,
           thickness: int, avoid: np.ndarray) -> tuple[int, int, int, int]:
    """`label` on a plate in the box's colour against `rect`'s halo, at the first of the candidate places that
    covers nothing of `avoid` (else the one covering least); returns the plate."""
    scale, _ = _scale(image)
    weight = _text_thickness(scale)
    (tw, th), base = cv2.getTextSize(label, FONT, scale, weight)
    width, height = tw + 4, th + 3 + base
    x0, y0, x1, y1 = rect
    gap = _reach(thickness) + 1  # the plate's edge next to the halo's
    above, below, right, left = y0 - gap - height, y1 + gap + 1, x1 + gap + 1, x0 - gap - width
    candidates = [(x0, above), (x0, below), (x1 - width + 1, above), (x1 - width + 1, below),
                  (right, y0), (right, y1 - height + 1), (left, y0), (left, y1 - height + 1),
                  # crowded: still against the box, at a corner or centred on a side (SIRST Misc_29's tags went
                  # further off, 38 px from their boxes, where these were free), and only then further off
                  *((x, y) for y in (above, below) for x in (left, right, (x0 + x1 - width) // 2)),
                  *((x, (y0 + y1 - height) // 2) for x in (right, left)),
                  *((x0, y) for k in (1, 2) for y in (above - k * height, below + k * height))]
    rows, cols = image.shape[:2]

    corners = np.asarray(candidates, np.int64)
    px = np.clip(corners[:, 0], 0, max(0, cols - width))
    py = np.clip(corners[:, 1], 0, max(0, rows - height))
    plates = np.stack([px, py, px + width - 1, py + height - 1], axis=1)
    px, py, px1, py1 = (int(v) for v in plates[int(np.argmin(_covered(plates, avoid)))])  # the first of the least
    # A plate in the outcome's colour behind dark or light text: legible on any background, where coloured text
    # on a dark frame of the same hue was not.
    cv2.rectangle(image, (px, py), (px1, py1), color, cv2.FILLED)
    cv2.putText(image, label, (px + 2, py + th + 2), FONT, scale, _ink(color), weight, cv2.LINE_AA)
    return px, py, px1, py1


def _ink(color: tuple[int, int, int]) -> tuple[int, int, int]:
    """Black or white, whichever has the higher WCAG contrast ratio with a BGR plate (`palette.ink`)."""
    b, g, r = color
    return hex_to_bgr(ink(f"#{r:02X}{g:02X}{b:02X}"))


def text_band(image: np.ndarray, lines: Sequence[str],
              avoid: Iterable[tuple[int, int, int, int]] = ()) -> tuple[int, int, int, int] | None:
    """Lines of text on a dark band in a corner of the image (in place); returns the band (x0, y0, x1, y1),
    for box labels drawn after it to keep clear of (None without lines).

    The band takes the first corner (top-left, top-right, bottom-left, bottom-right) that covers none of
    the `avoid` boxes (x, y, w, h, each with a 2 px margin), else the one covering least of them: in a
    fixed corner it dimmed and lettered over a target by the frame's edge. None, and nothing drawn, where the
    band does not fit the image."""
    if not lines:
        return None
    scale, _ = _scale(image)
    weight = _text_thickness(scale)
    sizes = [cv2.getTextSize(line, FONT, scale, weight)[0] for line in lines]
    step = max(h for _, h in sizes) + 6
    width, height = max(w for w, _ in sizes) + 8, step * len(lines) + 4
    rows, cols = image.shape[:2]
    if width + 8 > cols or height + 8 > rows:  # no room: on an 8x8 frame it was a dark block over a quarter of it
        return None
    corners = np.maximum([(4, 4), (cols - width - 4, 4), (4, rows - height - 4),
                          (cols - width - 4, rows - height - 4)], 0)
    bands = np.column_stack([corners, corners + np.array([width - 1, height - 1])])
    boxes = np.asarray([(x - 2, y - 2, x + w + 1, y + h + 1) for x, y, w, h in avoid], np.int64).reshape(-1, 4)
    x, y = (int(v) for v in corners[int(np.argmin(_covered(bands, boxes)))])  # the first of the least covering
    band = image[y:y + height, x:x + width]
    band[:] = (band * 0.4).astype(np.uint8)
    for i, line in enumerate(lines):
        cv2.putText(image, line, (x + 4, y + (i + 1) * step), FONT, scale, WHITE, weight, cv2.LINE_AA)
    return x, y, x + width - 1, y + height - 1


def draw_targets(image: np.ndarray, targets: Detections | Iterable[Target],
                 tracks: Iterable[Track] | None = None, color: tuple[int, int, int] = DETECTION_BGR,
                 trails: bool = True, judged: Mapping[int, str] | None = None, tags: bool = True) -> np.ndarray:
    """Boxes around targets labelled "#id", or "T<track id>" when tracks are given; in `color`, or where a
    target is `judged` (its `lwirst.palette` outcome by target id: truth is known) in its outcome's colour with
    its tag after the label ("#3 FA", "T2 ok"); no labels unless `tags` (a view that writes its own).

    With tracks, confirmed tracks also get their recent trajectory (white), and
    targets of tentative tracks are labelled by their outcome alone (without one, not at all).
    """
    return _draw_targets(to_bgr(image).copy(), targets, tracks, color, trails, judged or {}, tags=tags)


def _label_text(*parts: str | None) -> str | None:
    """A box's label from its parts (an id, an outcome's tag), None when it has none."""
    return " ".join(part for part in parts if part) or None


def _draw_targets(canvas: np.ndarray, targets: Detections | Iterable[Target], tracks: Iterable[Track] | None,
                  color: tuple[int, int, int], trails: bool, judged: Mapping[int, str],
                  others: Sequence[Mark] = (), clear: Sequence[tuple[int, int, int, int] | None] = (),
                  tags: bool = True) -> np.ndarray:
    """`draw_targets` on `canvas` itself, with `others` (boxes of missed targets) among the boxes its labels
    keep clear of, and `clear` (a `text_band`); no labels unless `tags`. A judged box says its outcome in its
    label too: by colour alone a correct detection and a false alarm were told apart by no one who cannot tell
    green from vermillion."""
    _, thickness = _scale(canvas)
    targets = list(targets)
    tagged = tags and len(targets) + len(others) <= TAGGED_MAX  # above, tags would hide the frame: colour only
    others = [(box, bgr, label if tagged else None) for box, bgr, label in others]
    colors = {i: outcome(name).bgr for i, name in judged.items()}
    tags = {i: outcome(name).tag for i, name in judged.items()}
    if tracks is None:
        _marks(canvas, [*others, *((t.box, colors.get(t.id, color), _label_text(f"#{t.id}", tags.get(t.id))
                                    if tagged else None) for t in targets)], thickness, clear)
        return canvas
    track_of = {}
    tracks = list(tracks)
    # a trail ends at its target's centroid: it is drawn around the targets, never over them (a white line across
    # a 3-pixel target hid it on every frame of a video); a track with no target on this frame (filtered out, under
    # the threshold, missed) ends where it predicts the target, which the trail painted white: kept clear too
    height, width = canvas.shape[:2]
    spots = [t.box for t in targets] + [box for box, _, _ in others]
    spots += [(round(x) - thickness - 1, round(y) - thickness - 1, 2 * thickness + 3, 2 * thickness + 3)
              for x, y in (track.trajectory[-1][1:] for track in tracks
                           if track.target is None and track.confirmed and track.trajectory)]
    boxes = [(slice(max(y - 1, 0), min(y + h + 1, height)), slice(max(x - 1, 0), min(x + w + 1, width)))
             for x, y, w, h in spots] if trails else []
    under = [canvas[rows, cols].copy() for rows, cols in boxes]
    for track in tracks:
        if trails and track.confirmed and len(track.trajectory) > 1:
            points = np.round([(x, y) for _, x, y in track.trajectory]).astype(np.int32)
            cv2.polylines(canvas, [points], False, TRAIL, thickness, cv2.LINE_AA)
        if track.target is not None:
            track_of[track.target.id] = track
    for (rows, cols), pixels in zip(boxes, under, strict=True):
        canvas[rows, cols] = pixels
    marks: list[Mark] = list(others)
    for t in targets:
        track = track_of.get(t.id)
        name = f"T{track.track_id}" if track is not None and track.confirmed else None
        marks.append((t.box, colors.get(t.id, color), _label_text(name, tags.get(t.id)) if tagged else None))
    _marks(canvas, marks, thickness, clear)
    return canvas


@dataclass(frozen=True)
class FrameOutcomes:
    """A frame's detections judged against point truth (a generated video's): the ids of the kept targets that
    found a true target, and the positions (x, y) of the true targets none found."""

    correct: frozenset[int]
    missed: tuple[tuple[float, float], ...]


def mask_outcomes(kept: Detections, mask: np.ndarray, max_distance: float = 3.0) -> FrameOutcomes:
    """A frame's kept targets judged against its ground-truth mask as Single frame and Evaluate judge them
    (`match_targets`), for `overlay`: the ids that found a target and the centroids of the targets none found."""
    match = match_targets(kept, mask, max_distance)
    return FrameOutcomes(frozenset(t.id for t in match.correct), tuple((t.x, t.y) for t in match.missed))


def outline_ignored(canvas: np.ndarray, ignored: np.ndarray | None) -> list[tuple[int, int, int, int]]:
    """Draw the ignore zones' outline on `canvas` (BGR, in place), 1 px grey: where nothing was looked for; returns
    the zones' boxes (x, y, w, h), for a text band to keep clear of (a camera's logo zone sits in a corner, where
    the band darkened its outline out of sight)."""
    if ignored is None or not ignored.any():
        return []
    contours, _ = cv2.findContours(ignored.astype(np.uint8), cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
    cv2.drawContours(canvas, contours, -1, IGNORED_BGR, 1)
    return [cv2.boundingRect(contour) for contour in contours]


def overlay(image: np.ndarray, kept: Detections, tracks: Iterable[Track] | None = None,
            fps: float | None = None, extra: Sequence[str] = (), fps_label: str = "fps",
            outcomes: FrameOutcomes | None = None, tags: bool = True,
            ignored: np.ndarray | None = None) -> np.ndarray:
    """The annotated frame of the video and of `lwirst segment`: boxes, ids, target count, and a rate
    stamped as "<fps_label>: <fps>" (say which rate it is: pipeline, end to end). With `outcomes` (truth is
    known) the boxes take the outcome colours and tags ("T1 ok", "#2 FA"), a box tagged "miss" marks each missed
    target, and the count says all three. Without `tags`, the boxes carry none (a view that writes its own).
    `ignored` (the run's ignore zones, `Saliency.ignored`) is outlined in grey under the boxes."""
    if outcomes is None:
        lines = [f"targets: {len(kept)}"]
        judged: dict[int, str] = {}
        missed: list[tuple[int, int, int, int]] = []
    else:
        found = sum(t.id in outcomes.correct for t in kept)
        lines = [f"ok {found}  miss {len(outcomes.missed)}  FA {len(kept) - found}"]
        judged = {t.id: CORRECT if t.id in outcomes.correct else FALSE_ALARM for t in kept}
        missed = [(round(x) - 1, round(y) - 1, 3, 3) for x, y in outcomes.missed]
    if fps is not None:
        lines.append(f"{fps_label}: {rate_text(fps)}")
    canvas = to_bgr(image, ignored).copy()
    zones = outline_ignored(canvas, ignored)
    band = text_band(canvas, [*lines, *extra], avoid=[t.box for t in kept] + missed + zones)
    return _draw_targets(canvas, kept, tracks, DETECTION_BGR, True, judged,
                         [(box, MISSED_BGR, outcome(MISSED).tag) for box in missed], [band], tags)


@dataclass(frozen=True)
class HeatScale:
    """What a heatmap's colours mean: `lo` and `hi` at the colormap's ends, in `title` units."""

    lo: float
    hi: float
    title: str
    colormap: int = cv2.COLORMAP_INFERNO

    def colorscale(self, stops: int = 11) -> list[tuple[float, str]]:
        """The colormap as Plotly colour stops, sampled from OpenCV's own table (the bar matches the map)."""
        levels = np.linspace(0, 255, stops).round().astype(np.uint8)[:, None]
        bgr = cv2.applyColorMap(levels, self.colormap)[:, 0]
        return [(i / (stops - 1), f"rgb({r},{g},{b})") for i, (b, g, r) in enumerate(bgr.tolist())]


def pad_to(image: np.ndarray, width: int, height: int) -> np.ndarray:
    """`image` at the top left of a `width` x `height` canvas filled with its own median grey (the border
    reads as background, not as a cold edge); its pixels keep their coordinates, so a target's position
    is the same in the image and on the canvas. An image of that size is returned as it is."""
    if image.shape[:2] == (height, width):
        return image
    if image.shape[0] > height or image.shape[1] > width:
        raise LwirstError(f"a {image.shape[1]}x{image.shape[0]} frame does not fit a {width}x{height} video")
    canvas = np.empty((height, width, *image.shape[2:]), image.dtype)
    canvas[...] = np.median(image.reshape(-1, *image.shape[2:]), axis=0).astype(image.dtype)
    canvas[:image.shape[0], :image.shape[1]] = image
    return canvas


def heat_scale(saliency: Saliency | np.ndarray, scale: str = "probability",
               colormap: int = cv2.COLORMAP_INFERNO) -> HeatScale:
    """The colour range of `heatmap`: probability 0..1, or logits symmetric about 0 (the paper's threshold)
    so the threshold always sits mid-bar."""
    logits = saliency.logits if isinstance(saliency, Saliency) else np.asarray(saliency, dtype=np.float32)
    if scale == "probability":
        return HeatScale(0.0, 1.0, "prob", colormap)
    if scale == "logit":
        finite = np.abs(logits[np.isfinite(logits)])
        hi = float(finite.max()) if finite.size and finite.max() > 0 else 1.0
        return HeatScale(-hi, hi, "logit", colormap)
    raise LwirstError(f"heatmap scale {scale!r}: choose probability or logit")


def heatmap(saliency: Saliency | np.ndarray, scale: str = "probability", colorbar: bool = True,
            colormap: int = cv2.COLORMAP_INFERNO, bar: HeatScale | None = None,
            targets: Detections | Iterable[Target] = ()) -> np.ndarray:
    """Colour-mapped saliency (range: `heat_scale`, or `bar`: a crop coloured on its whole frame's scale), with
    a labelled colour bar drawn beside it for files; views that draw their own bar (the dashboard's zoomable
    panels) take it without, so that pixel coordinates stay the frame's. `targets` (a file's kept targets) are
    boxed, untagged: on a 1280x1024 frame a target's few hot pixels were a speck no one found in the file."""
    logits = saliency.logits if isinstance(saliency, Saliency) else np.asarray(saliency, dtype=np.float32)
    if logits.ndim != 2:
        raise LwirstError(f"heatmap needs an H x W map, got shape {logits.shape}")
    bar = bar or heat_scale(logits, scale, colormap)
    data = logit_to_probability(logits.astype(np.float64)) if scale == "probability" else logits.astype(np.float64)
    levels = np.clip((data - bar.lo) / (bar.hi - bar.lo) * 255.0 + 0.5, 0, 255).astype(np.uint8)
    image = cv2.applyColorMap(levels, colormap)
    _draw_targets(image, targets, None, DETECTION_BGR, False, {}, tags=False)
    if not colorbar:
        return image
    return _with_colorbar(image, bar.lo, bar.hi, colormap, bar.title)


def _with_colorbar(image: np.ndarray, lo: float, hi: float, colormap: int, title: str) -> np.ndarray:
    h, w = image.shape[:2]
    font, line = _scale(image)
    weight = _text_thickness(font)
    labels = [f"{v:.3g}" for v in (hi, (lo + hi) / 2, lo)]
    text_w = max(cv2.getTextSize(s, FONT, font, weight)[0][0] for s in [*labels, title])
    text_h = cv2.getTextSize("0", FONT, font, weight)[0][1]
    bar_w, gap = max(8, w // 25), max(6, round(6 * font))
    panel = np.full((max(h, 7 * text_h), bar_w + text_w + 3 * gap, 3), 255, np.uint8)
    # the top label is centred on the bar's top: half its height and a gap below the title's baseline (on a
    # 1280-px frame the two overlapped)
    top, bottom = 2 * text_h + gap, panel.shape[0] - text_h // 2 - 4
    ramp = np.linspace(255, 0, bottom - top).astype(np.uint8)[:, None].repeat(bar_w, axis=1)
    panel[top:bottom, gap:gap + bar_w] = cv2.applyColorMap(ramp, colormap)
    cv2.putText(panel, title, (gap, text_h + 2), FONT, font, BLACK, weight, cv2.LINE_AA)
    for label, y in zip(labels, (top, (top + bottom) // 2, bottom - 1), strict=True):
        cv2.line(panel, (gap + bar_w, y), (gap + bar_w + gap // 2, y), BLACK, line)
        cv2.putText(panel, label, (gap * 2 + bar_w, min(y + text_h // 2, panel.shape[0] - 2)),
                    FONT, font, BLACK, weight, cv2.LINE_AA)
    canvas = np.full((panel.shape[0], w + panel.shape[1], 3), 255, np.uint8)
    canvas[:h, :w] = image
    canvas[:, w:] = panel
    return canvas


@dataclass(frozen=True)
class Match:
    """Target-level comparison with ground truth.

    correct: predicted targets matched to a GT target; false_alarms: predicted
    targets matching none; missed: GT targets no prediction matched.
    """

    correct: tuple[Target, ...]
    false_alarms: tuple[Target, ...]
    missed: tuple[Target, ...]


def _first_pixel_per_label(labels: np.ndarray) -> np.ndarray:
    """Flat index of the first pixel of labels 1..n (raster order)."""
    flat = labels.ravel()
    values, first = np.unique(flat, return_index=True)
    return first[values > 0]


def match_targets(predicted: Detections, gt_mask: np.ndarray, max_distance: float = 3.0) -> Match:
    """Targets split into correct / false alarm / missed by the same rule as Pd and Fa.

    Uses `lwirst.metrics.match_targets` (DNANet's centroid distance < `max_distance`),
    so the Fig. 5 picture always agrees with the counts printed beside it.
    """
    gt_mask = np.asarray(gt_mask, dtype=bool)
    if gt_mask.shape != predicted.shape:
        raise LwirstError(f"ground truth is {gt_mask.shape[1]}x{gt_mask.shape[0]} but the prediction "
                          f"is {predicted.shape[1]}x{predicted.shape[0]}")
    result = metric_match(predicted.mask, gt_mask, max_distance)
    truth = mask_targets(gt_mask)
    # the same pixels carry both labellings: map metric components to Detections ids
    pred_ids = predicted.labels.ravel()[_first_pixel_per_label(result.pred_labels)]
    gt_ids = truth.labels.ravel()[_first_pixel_per_label(result.gt_labels)]
    pred_by_id = {t.id: t for t in predicted}
    gt_by_id = {t.id: t for t in truth}
    hit = result.pred_matched
    return Match(tuple(pred_by_id[i] for i in pred_ids[hit]),
                 tuple(pred_by_id[i] for i in pred_ids[~hit]),
                 tuple(gt_by_id[i] for i in gt_ids[result.gt_match < 0]))


def outcome_boxes(image: np.ndarray, match: Match, missed: bool = True, ids: bool = False,
                  clear: Sequence[tuple[int, int, int, int] | None] = (), tags: bool = True,
                  hot: Collection[int] = ()) -> np.ndarray:
    """Boxes coloured by outcome (correct, false alarm and, if `missed`, missed: those whose ids are in `hot`
    as hot but below threshold), each tagged "ok", "FA", "miss" or "hot" (with "#id" of detections when `ids`)
    unless not `tags` (a view that writes its own, the dashboard's panels), on a copy of `image`; tags keep clear
    of `clear` (x0, y0, x1, y1: a `text_band`)."""
    canvas = to_bgr(image).copy()
    _, thickness = _scale(canvas)
    groups = [(match.correct, CORRECT), (match.false_alarms, FALSE_ALARM)]
    if missed:
        groups += [(tuple(t for t in match.missed if t.id not in hot), MISSED),
                   (tuple(t for t in match.missed if t.id in hot), HOT)]
    tagged = tags and sum(len(g) for g, _ in groups) <= TAGGED_MAX
    truth = (MISSED, HOT)  # ground-truth targets: no detection id
    marks = [(t.box, outcome(name).bgr,
              (f"#{t.id} {outcome(name).tag}" if ids and name not in truth else outcome(name).tag) if tagged else None)
             for targets, name in groups for t in targets]
    _marks(canvas, marks, thickness, clear)
    return canvas


def evaluation_overlay(image: np.ndarray, predicted: Detections, gt_mask: np.ndarray,
                       max_distance: float = 3.0, tags: bool = True) -> tuple[np.ndarray, Match]:
    """Fig. 5 picture in `lwirst.palette`'s colours: correct, missed and false-alarm boxes, tagged (unless not
    `tags`)."""
    match = match_targets(predicted, gt_mask, max_distance)
    return match_overlay(image, match, tags), match


def match_overlay(image: np.ndarray, match: Match, tags: bool = True, hot: Collection[int] = ()) -> np.ndarray:
    """`evaluation_overlay` of a match already made, the missed targets whose ids are in `hot` drawn as hot but
    below threshold (a view that knows the peaks: a gallery's thumbnail agrees with the inspector)."""
    summary = f"ok {len(match.correct)}  miss {len(match.missed)}  FA {len(match.false_alarms)}"
    boxes = [t.box for t in (*match.correct, *match.false_alarms, *match.missed)]
    canvas = to_bgr(image).copy()
    band = text_band(canvas, [summary], avoid=boxes)
    return outcome_boxes(canvas, match, clear=[band], tags=tags, hot=hot)
