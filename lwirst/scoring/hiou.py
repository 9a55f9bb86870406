"""hIoU, the hybrid pixel/target metric of Pang et al., "Rethinking Evaluation of Infrared Small
Target Detection" (NeurIPS 2025 Datasets & Benchmarks), with distance matching.

Per image, targets are the 8-connected components of the mask and of the thresholded
prediction, paired by `lwirst.metrics.match_targets` (each ground-truth target, in
raster label order, takes the first still-unpaired predicted component whose centroid
lies closer than 3 px: the DNANet Pd/Fa rule, the paper's distance-only matching).
Over the whole dataset, with TP paired targets, FP unpaired predicted components and
FN unpaired ground-truth targets:

    locIoU = TP / (TP + FP + FN)               (target level: how well targets are found)
    segIoU = (1 / TP) * sum over pairs of IoU(predicted component, ground-truth target)
    hIoU   = locIoU * segIoU

so a method scores high only when it finds the targets, raises no spurious blobs and
outlines what it found; a detection outlined badly or a false blob both lower it,
which neither pixel mIoU nor Pd/Fa alone do. Conventions: a pair's IoU compares the
two components only (other blobs do not count against it); with no pair segIoU is 0,
so hIoU is 0 whenever anything was predicted or present; a dataset with no target and
no prediction at all is undefined (NaN), as every ratio of `lwirst.metrics` with a zero
denominator is (the authors' toolkit returns 0 there). Keys: ``hiou``, ``hiou_loc``, ``hiou_seg``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from lwirst.metrics import binary_batches, match_targets
from lwirst.scoring import CARD, SUMMARY, MetricSpec


@dataclass(frozen=True)
class HIoUResult:
    hiou: float
    loc_iou: float
    seg_iou: float
    tp: int
    fp: int
    fn: int

    def as_metrics(self) -> dict[str, float]:
        return {"hiou": self.hiou, "hiou_loc": self.loc_iou, "hiou_seg": self.seg_iou}


class HIoU:
    """hIoU over a dataset (see the module docstring); predictions follow `lwirst.metrics`."""

    def __init__(self, threshold: float = 0.0, distance: float = 3.0) -> None:
        self.threshold = threshold
        self.distance = distance
        self.reset()

    def reset(self) -> None:
        self.tp = self.fp = self.fn = 0
        self.pair_iou = 0.0

    def update(self, pred: np.ndarray, mask: np.ndarray) -> None:
        p, m = binary_batches(pred, mask, self.threshold)
        for p_img, m_img in zip(p, m, strict=True):
            match = match_targets(p_img, m_img, self.distance)
            paired = np.flatnonzero(match.gt_match >= 0)
            self.tp += len(paired)
            self.fn += len(match.gt_areas) - len(paired)
            self.fp += len(match.pred_areas) - len(paired)
            for i in paired:
                j = int(match.gt_match[i])
                gt, pr = match.gt_labels == i + 1, match.pred_labels == j + 1
                self.pair_iou += float(np.count_nonzero(gt & pr) / np.count_nonzero(gt | pr))

    def compute(self) -> HIoUResult:
        found = self.tp + self.fp + self.fn
        loc = self.tp / found if found else math.nan  # neither target nor prediction: nothing to score
        seg = self.pair_iou / self.tp if self.tp else (math.nan if not found else 0.0)
        return HIoUResult(loc * seg, loc, seg, self.tp, self.fp, self.fn)


METRIC = HIoU
SPECS = (
    MetricSpec("hiou", "hIoU", "hybrid IoU: target-level IoU x mean IoU of the paired targets (Pang et al., "
               "NeurIPS 2025; centroid distance < 3 px)", views=(CARD, SUMMARY)),
    MetricSpec("hiou_loc", "locIoU", "paired targets / (paired + missed + false components)"),
    MetricSpec("hiou_seg", "segIoU", "mean pixel IoU of the paired target and prediction components"),
)
