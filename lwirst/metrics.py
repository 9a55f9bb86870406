"""Pixel-, curve- and target-level metrics for IR small-target segmentation (pure numpy).

Inputs, for every class and function here:

- predictions: a boolean array is used as is; a float array holds scores and is
  thresholded as ``score > threshold`` (logits with the default threshold 0, which
  is probability 0.5; pass ``threshold=0.5`` for probabilities); an integer array
  (e.g. a 0/255 PNG) means ``value != 0``, with threshold 0 (another is refused: it would be ignored).
  A prediction holding NaN is refused, and so is a threshold that is not a finite number.
- masks: boolean, or integer with ``value != 0`` as target.
- shapes: one image ``(H, W)``, a batch ``(N, H, W)`` or ``(N, 1, H, W)``; a colour image ``(H, W, 3)`` is
  refused (it would read as H images), so read masks as grey.

Ratios whose denominator is zero are undefined (NaN, shown "n/a", null in JSON): precision with nothing
predicted (a detector that says nothing is not perfectly precise), recall and Pd with no target, F1 and
IoU with neither, every rate of a metric that has seen no image. Read 1.0 they looked perfect: a set
without targets scored Pd 1.0, an empty loop a perfect run. One image's IoU (nIoU's) is the exception:
an image with neither target nor prediction is right, and scores 1. Training losses
live in `lwirst.losses`, not here.
"""

from __future__ import annotations

import functools
import logging
import math
import numbers
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
from scipy import ndimage

from lwirst.errors import MetricInputError

log = logging.getLogger(__name__)
_SAID: set[str] = set()  # warnings already logged
_EIGHT = np.ones((3, 3), dtype=bool)
# How nIoU treats a frame with no target, for results to state it: conventions differ and it moves the figure.
NIOU_CONVENTION = ("mean over images of each image's IoU; a target-free image with no prediction scores 1 "
                   "(ACM's code scores it 0)")


def _batch(x: np.ndarray) -> np.ndarray:
    x = np.asarray(x)
    # a trailing channel axis (an image read with one, or in colour) would read as H images W pixels wide; a batch
    # of images 1, 3 or 4 pixels wide is no image set anyone scores, unless its images are under 8 pixels high
    if x.ndim == 3 and x.shape[2] == 1 and min(x.shape[:2]) >= 8:
        x = x[..., 0]
    if x.ndim == 3 and x.shape[2] in (3, 4) and min(x.shape[:2]) >= 8:
        raise MetricInputError(f"shape {x.shape} is a colour image (H, W, {x.shape[2]}), which a metric would read as "
                               f"{x.shape[0]} images: pass one channel (e.g. x[..., 0], or read it with "
                               "cv2.IMREAD_GRAYSCALE)")
    if x.ndim == 4 and x.shape[1] == 1:
        x = x[:, 0]
    if x.ndim == 2:
        x = x[None]
    if x.ndim != 3:
        raise MetricInputError(f"expected (H, W), (N, H, W) or (N, 1, H, W), got shape {x.shape}")
    return x


def binarize(pred: np.ndarray, threshold: float = 0.0) -> np.ndarray:
    """Boolean prediction of a boolean, score (``> threshold``) or integer (``!= 0``) array.

    A float map of probabilities (every value in [0, 1], some strictly between) at the default logit threshold 0
    would count every pixel as a target: that is logged, since such a map wants ``threshold=0.5``. A map holding
    NaN is refused (NaN > t is False: those pixels would silently count as background), and so is an integer
    map with a threshold other than 0 (an integer map is a mask: the threshold would be ignored)."""
    pred = np.asarray(pred)
    if pred.dtype == bool:
        return pred
    if np.issubdtype(pred.dtype, np.floating):
        threshold = check_threshold(threshold)
        if np.isnan(pred).any():
            raise MetricInputError(f"the prediction holds {int(np.isnan(pred).sum())} NaN value(s): replace them (e.g. "
                                   "np.nan_to_num) before scoring")
        if threshold == 0.0 and not _SAID and pred.size and pred.min() >= 0.0 and pred.max() <= 1.0 and \
                ((pred > 0.0) & (pred < 1.0)).any():
            _SAID.add("probabilities")  # once per process, not once per image of a loop
            log.warning("a map of probabilities (all values in [0, 1]) thresholded at logit 0 makes every pixel a "
                        "target; pass threshold=0.5 for probabilities")
        return pred > threshold
    if threshold != 0.0:
        raise MetricInputError(f"an integer prediction ({pred.dtype}) is a mask, read as value != 0, so threshold "
                               f"{threshold:g} would be ignored: pass it as a float map (e.g. pred / 255 with "
                               "threshold=0.5), or as a mask with threshold 0")
    return pred != 0


def check_threshold(threshold: float) -> float:
    """A metric's score threshold: a finite number (a NaN threshold would find nothing, silently)."""
    if isinstance(threshold, bool) or not isinstance(threshold, (int, float, np.integer, np.floating)) \
            or not math.isfinite(threshold):
        raise MetricInputError(f"threshold must be a finite number, got {threshold!r}")
    return float(threshold)


def check_distance(distance: float) -> float:
    """The centroid distance within which a blob detects a target: a positive, finite number of pixels."""
    if isinstance(distance, bool) or not isinstance(distance, (int, float, np.integer, np.floating)) \
            or not math.isfinite(distance) or distance <= 0:
        raise MetricInputError(f"distance must be a positive number of pixels, got {distance!r}")
    return float(distance)


def binary_batches(pred: np.ndarray, mask: np.ndarray, threshold: float) -> tuple[np.ndarray, np.ndarray]:
    """Prediction and mask as boolean (N, H, W) batches (one image or many), the prediction binarised at
    `threshold` (`binarize`: booleans as they are); shapes that differ are a ValueError. What every metric's
    `update` starts from, a plugin's too."""
    p, m = _batch(binarize(pred, threshold)), _batch(_as_mask(mask))
    if p.shape != m.shape:
        raise MetricInputError(f"prediction shape {p.shape} differs from mask shape {m.shape}")
    return p, m


def _as_mask(mask: np.ndarray) -> np.ndarray:
    """A mask as booleans (``value != 0``); a boolean one as it is, not copied (a copy per metric per image)."""
    mask = np.asarray(mask)
    return mask if mask.dtype == bool else mask != 0


def _ratio(num: float, den: float) -> float:
    """num / den; 1.0 when den is 0: one image with neither target nor prediction is right (nIoU's convention)."""
    return float(num) / float(den) if den else 1.0


def _share(part: float, whole: float) -> float:
    """part / whole; NaN (undefined) when `whole` is 0: precision with nothing predicted, recall and Pd with
    nothing there, F1 and IoU with neither."""
    return float(part) / float(whole) if whole else float("nan")


class PixelMetrics:
    """Pixel-level precision, recall, F1 and IoU over a whole dataset, plus nIoU.

    Counts are summed over every image first: precision = ΣTP/(ΣTP+ΣFP),
    recall = ΣTP/(ΣTP+ΣFN), F1 = 2ΣTP/(2ΣTP+ΣFP+ΣFN), IoU = ΣTP/(ΣTP+ΣFP+ΣFN) (the
    paper's "mIoU"). nIoU = mean over images of TP/(TP+FP+FN), an image with neither
    target nor prediction scoring 1 (ACM's nIoU scores it 0 through its epsilon; SIRST
    has a target in every image, so they agree there).

    Zero denominators follow this module's convention, not torchmetrics' zero_division=0: with no
    predicted pixel, precision is undefined (NaN; recall and IoU are 0 when there is a target, so F1
    = 2ΣTP/(2ΣTP+ΣFP+ΣFN) is 0 too); with no target pixel, recall is undefined too (NaN: a target-free set
    has nothing to recall, and read 1.0 it looked perfect), and with neither target nor prediction, F1 and
    IoU are undefined as well (its figures are its false alarms: none). nIoU keeps its per-image convention.
    """

    def __init__(self, threshold: float = 0.0) -> None:
        self.threshold = check_threshold(threshold)
        self.reset()

    def reset(self) -> None:
        self.tp = self.fp = self.fn = 0
        self.image_ious: list[float] = []

    def update(self, pred: np.ndarray, mask: np.ndarray) -> None:
        p, m = binary_batches(pred, mask, self.threshold)
        tp = _counts(p & m)  # the others from the counts: a third of the frame-sized passes
        fp, fn = _counts(p) - tp, _counts(m) - tp
        self.tp += int(tp.sum())
        self.fp += int(fp.sum())
        self.fn += int(fn.sum())
        union = tp + fp + fn
        self.image_ious.extend(np.where(union > 0, tp / np.maximum(union, 1), 1.0).tolist())

    def compute(self) -> PixelScores:
        tp, fp, fn = self.tp, self.fp, self.fn
        return PixelScores(precision=_share(tp, tp + fp), recall=_share(tp, tp + fn),
                           f1=_share(2 * tp, 2 * tp + fp + fn), iou=_share(tp, tp + fp + fn),
                           niou=float(np.mean(self.image_ious)) if self.image_ious else math.nan,
                           tp=tp, fp=fp, fn=fn, images=len(self.image_ious))


def _counts(batch: np.ndarray) -> np.ndarray:
    """Each image's true pixels, one count at a time: counted over two axes at once, NumPy sums bytes, eight times
    slower on a 1280x1024 frame."""
    return np.array([np.count_nonzero(image) for image in batch], dtype=np.int64)


@dataclass(frozen=True)
class PixelScores:
    """`PixelMetrics`' result: the ratios (conventions there) and the pixel counts they come from."""

    precision: float
    recall: float
    f1: float
    iou: float
    niou: float
    tp: int
    fp: int
    fn: int
    images: int

    def as_metrics(self) -> dict[str, float]:
        """Under the metric table's keys (`lwirst.scoring`): the dataset IoU is the paper's mIoU."""
        return {"precision": self.precision, "recall": self.recall, "f1": self.f1, "miou": self.iou,
                "niou": self.niou}


@dataclass
class Curves:
    """ROC and PR curves at thresholds[k] (in input units: logits or probabilities), k ascending.

    Point k predicts target where the score's bin is >= k; k = 0 is "everything", the
    last point "nothing". auc is the ROC area, ap the average precision.
    """

    thresholds: np.ndarray
    tpr: np.ndarray
    fpr: np.ndarray
    precision: np.ndarray
    recall: np.ndarray
    auc: float
    ap: float


class CurveMetric:
    """ROC and precision-recall curves with ROC AUC and average precision, from fixed-bin histograms.

    Scores are probabilities in [0, 1], or logits with ``logits=True`` (a sigmoid
    maps them first). Each pixel's score falls in one of `bins` equal bins over
    [0, 1]; the metric keeps two histograms (target and background pixels), so memory
    and cost per update do not grow with the dataset and thresholds are exact bin
    edges k/bins. AUC is the trapezoid area of the binned ROC, which equals the
    Mann-Whitney statistic of the binned scores exactly (ties within a bin count
    one half): exact for scores on a 1/bins grid, within one bin's mass otherwise.
    AP = Σ_k (R_k − R_{k+1}) P_k, the step-wise area of the PR curve (sklearn's
    definition on binned scores). Both are NaN when the data has no target pixel or
    no background pixel.

    With ``logits=True`` the two end bins are open-ended: every logit below
    logit(1/bins) (about −6.9 for 1000 bins) or at/above logit(1 − 1/bins) would tie
    there, so a model whose logits all lie beyond them would score AUC 0.5 whatever
    its ranking. Those two bins are therefore split again by the logit itself rounded
    to float16 (three significant digits, any magnitude up to ±65504); their points
    join the curve at the float16 values that occur (thresholds in logits). With no
    logit in an end bin the curve is exactly the `bins`-bin one.
    """

    _KEYS = 1 << 16  # float16 bit patterns, ordered

    def __init__(self, bins: int = 1000, logits: bool = False) -> None:
        if bins < 1:
            raise MetricInputError("bins must be >= 1")
        self.bins = bins
        self.logits = logits
        self.reset()

    def reset(self) -> None:
        self.positives = np.zeros(self.bins, dtype=np.int64)
        self.negatives = np.zeros(self.bins, dtype=np.int64)
        # logits only: the lowest and highest bin split by float16 logit (ordered keys), [target, background]
        tails = 2 if self.logits else 0
        self.tails = np.zeros((tails, 2, self._KEYS), dtype=np.int64)

    def update(self, scores: np.ndarray, mask: np.ndarray) -> None:
        s, m = _batch(np.asarray(scores, dtype=np.float64)), _batch(np.asarray(mask) != 0)
        if s.shape != m.shape:
            raise MetricInputError(f"score shape {s.shape} differs from mask shape {m.shape}")
        if np.isnan(s).any():
            raise MetricInputError(f"the scores hold {int(np.isnan(s).sum())} NaN value(s): replace them before "
                                   "scoring")
        if not self.logits and s.size and (s.min() < 0.0 or s.max() > 1.0):  # they would all pile in the end bins
            raise MetricInputError(f"scores from {s.min():g} to {s.max():g} are no probabilities: pass a logit map "
                                   "with CurveMetric(logits=True)")
        logits = s
        if self.logits:
            s = 0.5 * (1.0 + np.tanh(0.5 * s))  # sigmoid without overflow
        index = np.clip((s * self.bins).astype(np.int64), 0, self.bins - 1)
        self.positives += np.bincount(index[m], minlength=self.bins)
        self.negatives += np.bincount(index[~m], minlength=self.bins)
        if self.logits:
            for tail, end in enumerate((0, self.bins - 1)[: 2 if self.bins > 1 else 1]):
                inside = index == end
                if inside.any():
                    keys = _float16_keys(logits[inside])
                    self.tails[tail, 0] += np.bincount(keys[m[inside]], minlength=self._KEYS)
                    self.tails[tail, 1] += np.bincount(keys[~m[inside]], minlength=self._KEYS)

    def _cells(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(lower threshold, target count, background count) of each histogram cell, ascending."""
        edges = np.arange(self.bins + 1) / self.bins
        if not self.logits:
            return edges[:-1], self.positives, self.negatives
        with np.errstate(divide="ignore"):
            edges = np.log(edges) - np.log1p(-edges)
        cells: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []  # (lower thresholds, targets, background)

        def end_bin(bin_index: int, tail: int) -> None:
            counts = self.tails[tail]
            keys = np.flatnonzero(counts.sum(axis=0))
            if len(keys) == 0:  # an empty end bin stays one cell
                cells.append((edges[bin_index:bin_index + 1], np.zeros(1), np.zeros(1)))
                return
            values = _float16_values(keys)
            values[0] = edges[bin_index]  # the bin's first cell starts where the bin does
            cells.append((values, counts[0, keys], counts[1, keys]))

        end_bin(0, 0)
        middle = slice(1, max(self.bins - 1, 1))
        cells.append((edges[middle], self.positives[middle], self.negatives[middle]))
        if self.bins > 1:
            end_bin(self.bins - 1, 1)
        low, pos, neg = zip(*cells, strict=True)
        return (np.concatenate(low).astype(np.float64), np.concatenate(pos).astype(np.int64),
                np.concatenate(neg).astype(np.int64))

    def compute(self) -> Curves:
        lower, positives, negatives = self._cells()
        # counts at or above cell k, k = 0..cells (the last is the empty prediction)
        tp = np.append(np.cumsum(positives[::-1])[::-1], 0).astype(np.float64)
        fp = np.append(np.cumsum(negatives[::-1])[::-1], 0).astype(np.float64)
        n_pos, n_neg = tp[0], fp[0]
        tpr = tp / n_pos if n_pos else np.full_like(tp, np.nan)
        fpr = fp / n_neg if n_neg else np.full_like(fp, np.nan)
        predicted = tp + fp
        precision = np.divide(tp, predicted, out=np.ones_like(tp), where=predicted > 0)
        auc = ap = float("nan")
        if n_pos and n_neg:
            auc = float(np.sum((fpr[:-1] - fpr[1:]) * (tpr[:-1] + tpr[1:]) / 2))
            ap = float(np.sum((tpr[:-1] - tpr[1:]) * precision[:-1]))
        top = np.inf if self.logits else 1.0
        return Curves(np.append(lower, top), tpr, fpr, precision, tpr.copy(), auc, ap)


def _float16_keys(values: np.ndarray) -> np.ndarray:
    """Indices 0..65535 ordered as the values rounded to float16 (−inf first, +inf last; NaN not expected)."""
    rounded = np.asarray(values, dtype=np.float16) + np.float16(0)  # -0 + 0 is +0: one key for zero
    bits = rounded.view(np.uint16).astype(np.int64)
    return np.where(bits & 0x8000, 0xFFFF - bits, bits | 0x8000)


def _float16_values(keys: np.ndarray) -> np.ndarray:
    """The float16 value of each `_float16_keys` index, as float64."""
    keys = np.asarray(keys, dtype=np.int64)
    bits = np.where(keys & 0x8000, keys & 0x7FFF, 0xFFFF - keys).astype(np.uint16)
    return bits.view(np.float16).astype(np.float64)


@dataclass(frozen=True)
class LabelBox:
    """The components of a boolean image labelled on the box around its pixels (targets are tiny): `labels` the
    box's labels, lying at (`top`, `left`) in a frame of `shape`; an image without pixels has an empty box."""

    labels: np.ndarray = field(repr=False)
    top: int
    left: int
    shape: tuple[int, int]

    @property
    def window(self) -> tuple[slice, slice]:
        """Where the box lies in the frame, to index a frame-sized array with."""
        height, width = self.labels.shape
        return slice(self.top, self.top + height), slice(self.left, self.left + width)

    def frame(self) -> np.ndarray:
        """The labels over the whole frame (0 outside the components)."""
        labels = np.zeros(self.shape, np.int32)
        labels[self.window] = self.labels
        return labels


@dataclass
class TargetMatch:
    """Connected components of one prediction and one mask and how they pair up.

    Labels are 8-connected, numbered 1.. in raster order of their first pixel;
    centroids are (row, col) pixel means; gt_match[i] is the index of the predicted
    component that detected GT target i, or -1. The frame-sized label images are built when first read: four
    matchings an image held two each, and allocating them cost more than the matching (0.5 ms a 1280x1024 frame).
    """

    pred_box: LabelBox
    gt_box: LabelBox
    pred_centroids: np.ndarray
    gt_centroids: np.ndarray
    pred_areas: np.ndarray
    gt_areas: np.ndarray
    gt_match: np.ndarray

    @functools.cached_property
    def pred_labels(self) -> np.ndarray:
        return self.pred_box.frame()

    @functools.cached_property
    def gt_labels(self) -> np.ndarray:
        return self.gt_box.frame()

    @property
    def pred_matched(self) -> np.ndarray:
        matched = np.zeros(len(self.pred_areas), dtype=bool)
        matched[self.gt_match[self.gt_match >= 0]] = True
        return matched

    @property
    def false_alarm_pixels(self) -> int:
        return int(self.pred_areas[~self.pred_matched].sum())


def _components(binary: np.ndarray) -> tuple[LabelBox, np.ndarray, np.ndarray]:
    """Labels (8-connected, raster order), centroids and areas of a boolean image's components, labelling only
    the box around its pixels: labelling whole frames was most of a Failures slider step (600 frames of up to
    1280x1024, four matchings each: 24 of 40 s)."""
    rows = np.flatnonzero(binary.any(axis=1))
    if rows.size == 0:
        return LabelBox(np.zeros((0, 0), np.int32), 0, 0, binary.shape), np.zeros((0, 2)), np.zeros(0, np.int64)
    y0, y1 = int(rows[0]), int(rows[-1]) + 1
    cols = np.flatnonzero(binary[y0:y1].any(axis=0))
    x0, x1 = int(cols[0]), int(cols[-1]) + 1
    box, count = ndimage.label(binary[y0:y1, x0:x1], structure=_EIGHT)
    ys, xs = np.nonzero(box)
    ids = box[ys, xs]
    ys, xs = ys + y0, xs + x0
    areas = np.bincount(ids, minlength=count + 1)[1:]
    safe = np.maximum(areas, 1)
    centroids = np.stack([np.bincount(ids, ys, count + 1)[1:] / safe,
                          np.bincount(ids, xs, count + 1)[1:] / safe], axis=1)
    return LabelBox(box, y0, x0, binary.shape), centroids, areas


def match_targets(pred: np.ndarray, mask: np.ndarray, distance: float = 3.0) -> TargetMatch:
    """Pair GT targets with predicted components as DNANet's PD_FA does.

    For each GT component in label order, the first still-unmatched predicted
    component (label order) whose centroid lies at Euclidean distance < `distance`
    from the GT centroid detects it. Both inputs are single boolean (H, W) images.
    """
    distance = check_distance(distance)
    pred, mask = np.asarray(pred, dtype=bool), np.asarray(mask, dtype=bool)
    if pred.shape != mask.shape or pred.ndim != 2:
        raise MetricInputError(f"need two (H, W) images of one shape, got {pred.shape} and {mask.shape}")
    p_labels, p_cent, p_area = _components(pred)
    g_labels, g_cent, g_area = _components(mask)
    gt_match = np.full(len(g_area), -1, dtype=np.int64)
    free = np.ones(len(p_area), dtype=bool)
    for i, centre in enumerate(g_cent):
        close = free & (np.hypot(*(p_cent - centre).T) < distance) if len(p_area) else free
        if close.any():
            j = int(np.argmax(close))
            gt_match[i] = j
            free[j] = False
    return TargetMatch(p_labels, g_labels, p_cent, g_cent, p_area, g_area, gt_match)


class PdFa:
    """Target-level probability of detection and false-alarm rate (DNANet convention).

    Components are 8-connected; matching is `match_targets` (centroid distance < 3).
    Pd = detected GT targets / GT targets; Fa = pixels of unmatched predicted
    components / all pixels seen (each image's real size, where DNANet assumes
    256x256). DNANet drops unmatched components whose area equals a matched one's;
    here every unmatched component counts. Target-level precision = detections /
    predicted components, recall = Pd, F1 = 2·detected / (targets + predicted).
    Zero denominators follow this module's convention: no predicted component leaves target
    precision undefined (NaN; F1 is 0 when there are targets); no target leaves Pd and recall undefined (NaN:
    a target-free set's figure is its false alarms).
    """

    def __init__(self, threshold: float = 0.0, distance: float = 3.0) -> None:
        self.threshold = check_threshold(threshold)
        self.distance = check_distance(distance)
        self.reset()

    def reset(self) -> None:
        self.targets = self.detected = self.predicted = self.fa_pixels = self.pixels = 0

    def update(self, pred: np.ndarray, mask: np.ndarray) -> None:
        p, m = binary_batches(pred, mask, self.threshold)
        for p_img, m_img in zip(p, m, strict=True):
            match = match_targets(p_img, m_img, self.distance)
            self.targets += len(match.gt_areas)
            self.detected += int(np.count_nonzero(match.gt_match >= 0))
            self.predicted += len(match.pred_areas)
            self.fa_pixels += match.false_alarm_pixels
            self.pixels += p_img.size

    def compute(self) -> TargetScores:
        return TargetScores.from_counts(self.targets, self.detected, self.predicted, self.fa_pixels, self.pixels)


@dataclass(frozen=True)
class TargetScores:
    """`PdFa`'s result: Pd, Fa and the target-level precision, recall (= Pd) and F1, with their counts."""

    pd: float
    fa: float
    precision: float
    recall: float
    f1: float
    targets: int
    detected: int
    false_alarms: int
    fa_pixels: int

    @classmethod
    def from_counts(cls, targets: int, detected: int, predicted: int, fa_pixels: int, pixels: int) -> TargetScores:
        """The scores of these counts (predicted: components; pixels: all seen), with `PdFa`'s conventions."""
        return cls(pd=_share(detected, targets), fa=_share(fa_pixels, pixels), precision=_share(detected, predicted),
                   recall=_share(detected, targets), f1=_share(2 * detected, targets + predicted), targets=targets,
                   detected=detected, false_alarms=predicted - detected, fa_pixels=fa_pixels)

    def as_metrics(self) -> dict[str, float]:
        """Under the metric table's keys: the target-level precision and F1 apart from the pixels'."""
        return {"pd": self.pd, "fa": self.fa, "target_precision": self.precision, "target_f1": self.f1,
                "targets": self.targets, "detected": self.detected, "false_alarms": self.false_alarms}


class FrameAlarms:
    """What an operator watching the alarms sees: false-alarm blobs per frame, and how
    often a frame with no target raises any alarm.

    A false-alarm blob is a predicted 8-connected component that detects no GT target
    (`match_targets`); an empty frame is one whose mask holds no target, and it alarms
    when any component is predicted in it. `blobs_per_frame` = false blobs / frames;
    `blobs_per_empty_frame` = false blobs in empty frames / empty frames;
    `empty_alarm_rate` = alarmed empty frames / empty frames. With no empty frame the
    last two are NaN: there was nothing to stay quiet on.
    """

    def __init__(self, threshold: float = 0.0, distance: float = 3.0) -> None:
        self.threshold = check_threshold(threshold)
        self.distance = check_distance(distance)
        self.reset()

    def reset(self) -> None:
        self.frames = self.false_blobs = self.empty_frames = self.empty_blobs = self.alarmed_empty = 0

    def update(self, pred: np.ndarray, mask: np.ndarray) -> None:
        p, m = binary_batches(pred, mask, self.threshold)
        for p_img, m_img in zip(p, m, strict=True):
            match = match_targets(p_img, m_img, self.distance)
            self.add_frame(int(np.count_nonzero(~match.pred_matched)), len(match.gt_areas))

    def add_frame(self, false_blobs: int, targets: int) -> None:
        """Count one frame already matched elsewhere (e.g. an `ImageRecord`): no second labelling."""
        self.frames += 1
        self.false_blobs += false_blobs
        if targets == 0:
            self.empty_frames += 1
            self.empty_blobs += false_blobs
            self.alarmed_empty += int(false_blobs > 0)

    def compute(self) -> AlarmScores:
        per_empty = self.empty_blobs / self.empty_frames if self.empty_frames else float("nan")
        rate = self.alarmed_empty / self.empty_frames if self.empty_frames else float("nan")
        return AlarmScores(blobs_per_frame=self.false_blobs / self.frames if self.frames else float("nan"),
                           blobs_per_empty_frame=per_empty, empty_alarm_rate=rate, empty_frames=self.empty_frames,
                           alarmed_empty_frames=self.alarmed_empty)


@dataclass(frozen=True)
class AlarmScores:
    """`FrameAlarms`' result (definitions there)."""

    blobs_per_frame: float
    blobs_per_empty_frame: float
    empty_alarm_rate: float
    empty_frames: int
    alarmed_empty_frames: int

    def as_metrics(self) -> dict[str, float]:
        """Under the metric table's keys (the alarmed count is the rate's numerator, not a metric of its own)."""
        return {"blobs_per_frame": self.blobs_per_frame, "blobs_per_empty_frame": self.blobs_per_empty_frame,
                "empty_alarm_rate": self.empty_alarm_rate, "empty_frames": self.empty_frames}


def pd_at_false_alarm_rate(points: Sequence[TargetScores], frames: int, budget: float = 0.1) -> float:
    """Pd at a fixed false-alarm rate: the highest Pd among operating points (PdFa results at
    several thresholds) with at most `budget` false-alarm blobs per frame; 0 when none is quiet enough, and
    undefined (NaN) where there is no target to detect, however many alarms."""
    if frames <= 0:
        raise MetricInputError("need at least one frame")
    if isinstance(budget, bool) or not (isinstance(budget, numbers.Real) and math.isfinite(budget) and budget >= 0):
        raise MetricInputError(f"the false-alarm budget must be a number of blobs per frame >= 0, got {budget!r}")
    if not any(p.targets for p in points):
        return float("nan")
    quiet = [p.pd for p in points if p.false_alarms / frames <= budget]
    return max(quiet, default=0.0)


@dataclass(frozen=True)
class ImageRecord:
    """One image's scores for evaluation tables; missed_saliency[i] is the highest score
    inside the i-th missed GT target (NaN when the prediction was boolean), missed_areas[i] its pixels."""

    iou: float
    targets: int
    detected: int
    missed: int
    false_alarms: int
    fa_pixels: int
    missed_saliency: tuple[float, ...]
    missed_areas: tuple[int, ...] = ()


def image_record(pred: np.ndarray, mask: np.ndarray, threshold: float = 0.0,
                 distance: float = 3.0, saliency: np.ndarray | None = None) -> ImageRecord:
    """Score one (H, W) image: pixel IoU (1 when target and prediction are both empty) and targets.

    A missed target's peak is read from `saliency` (default: `pred` when it holds scores)."""
    scores = np.asarray(pred if saliency is None else saliency)
    p, m = binarize(np.asarray(pred), threshold), _as_mask(mask)
    match = match_targets(p, m, distance)
    tp = np.count_nonzero(p & m)
    union = np.count_nonzero(p) + np.count_nonzero(m) - tp
    missed = np.flatnonzero(match.gt_match < 0)
    if np.issubdtype(scores.dtype, np.floating) and len(missed):
        box = match.gt_box  # the targets' pixels: over the whole frame the maximum sorted all of it
        inside = box.labels > 0
        peaks = ndimage.maximum(scores[box.window][inside], box.labels[inside], missed + 1)
        saliency = tuple(float(v) for v in np.atleast_1d(peaks))
    else:
        saliency = (float("nan"),) * len(missed)
    detected = len(match.gt_areas) - len(missed)
    return ImageRecord(_ratio(tp, union), len(match.gt_areas), detected, len(missed),
                       len(match.pred_areas) - detected, match.false_alarm_pixels, saliency,
                       tuple(int(a) for a in match.gt_areas[missed]))
