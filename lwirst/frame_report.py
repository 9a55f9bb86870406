"""What a page shows for one segmented frame: pictures, target table and, with a mask, scores."""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from lwirst.chips import Chip, target_chips
from lwirst.drawing import (
    HeatScale,
    Match,
    evaluation_overlay,
    heat_scale,
    heatmap,
    outcome_boxes,
    outline_ignored,
    overlay,
    text_band,
)
from lwirst.imageio import check_image, stretch, to_bgr
from lwirst.metrics import image_record
from lwirst.palette import CORRECT, FALSE_ALARM
from lwirst.pipeline import FrameResult
from lwirst.postprocess import HOT_MARGIN, TargetFilter
from lwirst.scoring import image_results, metric_spec, plugin_metrics

TABLE_COLUMNS = ("id", "x", "y", "box_x", "box_y", "box_w", "box_h", "size", "ratio", "peak", "peak_prob")


def filter_from_ranges(size: tuple[float, float], ratio: tuple[float, float], size_cap: float,
                       ratio_cap: float) -> TargetFilter:
    """Eq. 4 bounds from two range sliders: a bound at the slider's end (0 or the cap) is off."""
    return TargetFilter(min_size=size[0] or None, max_size=None if size[1] >= size_cap else size[1],
                        min_ratio=ratio[0] or None, max_ratio=None if ratio[1] >= ratio_cap else ratio[1])


@dataclass(frozen=True)
class FrameScores:
    """One frame's scores against its mask: its targets and pixels (`image_record`, the centroid rule Pd uses
    everywhere) and every registered plugin metric on it alone (`lwirst.scoring.image_results`, e.g. hIoU), so a
    metric added to the table reaches the pages that show one frame. IoU is NaN on a frame with no target and
    nothing found (no IoU to speak of, where 1 read as a perfect detection), Pd NaN without a target."""

    iou: float
    targets: int
    detected: int
    false_alarms: int
    fa_pixels: int
    plugins: dict[str, float] = field(default_factory=dict)  # by metric key

    @property
    def pd(self) -> float:
        return self.detected / self.targets if self.targets else math.nan

    def cards(self) -> list[tuple[str, float]]:
        """(label, value) of every score, in display order: the built-in ones, then the plugins' labels."""
        return [("IoU", self.iou), ("Pd", self.pd), ("targets", self.targets), ("detected", self.detected),
                ("false alarms", self.false_alarms), ("false-alarm pixels", self.fa_pixels),
                *((metric_spec(key).label, value) for key, value in self.plugins.items())]


@dataclass
class FrameReport:
    """The pictures (8-bit BGR) and numbers one page shows for one segmented frame.

    found: targets above the threshold; kept: after the Eq. 4 filter. With ground
    truth, truth is the Fig. 5 picture (red correct, green missed, blue false alarm)
    and scores the per-image scores; the kept-targets overlay then colours each kept
    target by its outcome (correct or false alarm) in the same colours as truth. Their boxes carry no tags:
    the dashboard's panels write each target's beside its ring, at a size one can read (`chips` has them).
    """

    input: np.ndarray
    heatmap: np.ndarray
    overlay: np.ndarray
    found: int
    kept: int
    targets: pd.DataFrame  # every column of `lwirst segment`'s targets CSV, and the outcome where judged
    truth: np.ndarray | None = None
    match: Match | None = None
    scores: FrameScores | None = None
    chips: list[Chip] = field(default_factory=list)
    targets_total: int = 0
    palette: str = ""  # the pseudo-colour palette the frame was decoded from before the network, if any
    as_colour: bool = False  # a colour frame no known palette decoded: the network ran on its colours
    heat: HeatScale | None = None  # what the heatmap's colours mean (it carries no colour bar of its own)
    protocol: str = ""  # the input protocol this frame ran with ("resize" or "native": "auto" resolved)
    stretched: tuple[float, float, str] | None = None  # a 16-bit or float frame: the range shown as 0..255, its type
    peak: float = math.nan  # the map's highest logit, and the threshold it stands against (nothing found: how far
    threshold: float = math.nan  # under it, `lwirst.postprocess.peak_text`)
    repaired: list[tuple[int, int]] = field(default_factory=list)  # (x, y) of the defect pixels the stretch replaced
    clearance: float = 0.0  # logits the peak margin held the map, heatmap and peaks lower (a large frame), else 0

    @property
    def table(self) -> pd.DataFrame:
        """The targets as a page shows them: TABLE_COLUMNS, the outcome beside the id where there is one."""
        return self.targets.loc[:, [c for c in ("id", "outcome", *TABLE_COLUMNS[1:]) if c in self.targets.columns]]

    def csv(self) -> bytes:
        """The targets as CSV, with every column `lwirst segment` writes (the page's table shows fewer)."""
        return self.targets.to_csv(index=False).encode()


def frame_report(image: np.ndarray, result: FrameResult, scale: str = "probability",
                 mask: np.ndarray | None = None, margin: float = HOT_MARGIN,
                 chip_limit: int | None = 24) -> FrameReport:
    """Input, heatmap (its colour range in `heat`), overlay of kept targets, target table, the target chips
    (`lwirst.chips`: every detection and, with a mask, every missed target, worst first; `margin`
    says how far under the threshold a missed target's peak counts as hot) and, with a mask, scores."""
    stretched = stretch(check_image(image), result.saliency.ignored)  # as the network read it: zones set no range
    picture = to_bgr(stretched.pixels)
    report = FrameReport(picture, heatmap(result.saliency, scale, colorbar=False),
                         overlay(picture, result.kept, tags=False, ignored=result.saliency.ignored),
                         len(result.detections), len(result.kept), result.kept.to_frame(),
                         palette=result.saliency.palette, as_colour=result.saliency.as_colour,
                         heat=heat_scale(result.saliency, scale), protocol=result.saliency.protocol,
                         stretched=None if stretched.span is None else (*stretched.span, image.dtype.name),
                         peak=float(result.saliency.logits.max()), threshold=result.threshold,
                         repaired=list(result.saliency.repaired), clearance=result.saliency.clearance)
    report.chips, report.targets_total = target_chips(image, result.saliency.logits, result.kept, mask,
                                                      result.threshold, margin, scale, limit=chip_limit,
                                                      removed=result.removed)
    if mask is not None:
        report.truth, report.match = evaluation_overlay(picture, result.kept, mask, tags=False)
        shown = picture.copy()
        zones = outline_ignored(shown, result.saliency.ignored)
        band = text_band(shown, [f"targets: {len(result.kept)}"], avoid=[t.box for t in result.kept] + zones)
        report.overlay = outcome_boxes(shown, report.match, missed=False, ids=True, clear=[band], tags=False)
        correct = {t.id for t in report.match.correct}
        # beside the id, where a narrow window still shows it (last, it was the first column cut off)
        report.targets.insert(1, "outcome", [CORRECT if i in correct else FALSE_ALARM for i in report.targets["id"]])
        record = image_record(result.kept.mask, mask)
        empty = not record.targets and not len(result.kept)
        report.scores = FrameScores(math.nan if empty else record.iou, record.targets, record.detected,
                                    record.false_alarms, record.fa_pixels,
                                    image_results(plugin_metrics(0.5), result.kept.mask, mask))
    return report
