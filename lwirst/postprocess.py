"""Post-processing of a saliency map into targets (paper Sec. III-C, Eqs. 2-4).

threshold (Eq. 2, on logits: 0 is probability 0.5, the threshold the network was
trained for) -> 8-connected clustering (Eq. 3) -> mask growth -> per-target
features -> the online feature filter (Eq. 4).

Mask growth (hysteresis, not in the paper): a target is still detected only where a
pixel passes the threshold, but its mask then grows by up to `GROW_RADIUS` 8-connected
steps through pixels above a lower "mask threshold" (`GROW_TO`), never into a pixel
that another target also reaches. The network's masks are tighter than the ground
truth (it learnt to stay quiet on clutter), so growing them gives truer masks and
sizes while the detected targets stay exactly those of Eqs. 2-3. Chosen by rounds 16
and 17's pre-registered rules (data/models/PREREGISTRATION.md).

Every feature is computed in one pass over the label image with `np.bincount` /
`np.maximum.at`, so the cost is O(area + targets) whatever the number of targets;
looping over labels with a full-frame mask each (as the published code does) is
O(area x targets) and misses the real-time budget on cluttered frames.
"""

from __future__ import annotations

import functools
import logging
import math
import numbers
from collections.abc import Iterator
from dataclasses import asdict, dataclass, fields
from typing import overload

import cv2
import numpy as np
import pandas as pd

from lwirst.errors import LwirstError
from lwirst.saliency import Saliency

log = logging.getLogger(__name__)

COLUMNS = ("id", "x", "y", "box_x", "box_y", "box_w", "box_h", "size", "ratio",
           "peak", "mean", "peak_prob", "mean_prob")
_INT_COLUMNS = ("id", "box_x", "box_y", "box_w", "box_h", "size")


def logit_to_probability(logit: float | np.ndarray) -> float | np.ndarray:
    """Sigmoid, overflow-free for large negative logits."""
    if isinstance(logit, np.ndarray):
        return 0.5 * (1.0 + np.tanh(0.5 * logit))
    return 0.5 * (1.0 + math.tanh(0.5 * float(logit)))


def threshold_from_probability(probability: float) -> float:
    """Logit threshold equivalent to a probability threshold (0.5 -> 0.0, the paper's Th)."""
    p = float(probability)
    if not 0.0 < p < 1.0:
        raise LwirstError(f"probability threshold {probability} must lie strictly between 0 and 1")
    return math.log(p / (1.0 - p))


def threshold_from_user(value: float) -> float:
    """The logit threshold meant by a `--threshold` value.

    A value strictly between 0 and 1 is a probability, as BasicIRSTD and most IRSTD code take
    it (0.5 -> logit 0). Any other value cannot be a useful probability and is read as a logit,
    as `--threshold` was before it took probabilities; that reading is logged as ambiguous,
    since `--logit-threshold` says it without doubt.
    """
    value = float(value)
    if 0.0 < value < 1.0:
        return threshold_from_probability(value)
    log.warning("threshold %g is not a probability in (0, 1): read as a logit (probability %.4g); "
                "pass --logit-threshold %g to say so, or a probability such as 0.5", value,
                logit_to_probability(value), value)
    return value


# The default mask threshold (a logit; probability GROW_TO_PROBABILITY); None turns growth off.
GROW_TO_PROBABILITY = 0.2
GROW_TO: float | None = threshold_from_probability(GROW_TO_PROBABILITY)
GROW_RADIUS = 1  # the most 8-connected steps a mask grows from the pixels above the threshold
_EIGHT = np.ones((3, 3), np.uint8)
_NO_LABEL = np.float32(2**24)


def describe_growth(grow_to: float | None) -> str:
    """How masks are drawn, for protocol lines."""
    if grow_to is None:
        return "masks: pixels above the threshold (no growth)"
    return (f"masks grown up to {GROW_RADIUS} px into pixels above probability "
            f"{float(logit_to_probability(grow_to)):.2g}, targets never joined")


def probability_text(logit: float, digits: int = 4) -> str:
    """The probability of a logit to `digits` significant digits, but never a bare 0 or 1: within 5e-4 of either
    it reads "1 − 6.1e-06" or "9.4e-14", so a threshold at logit 12 does not read like a peak at logit 11."""
    def sigmoid(x: float) -> float:  # the form that keeps its relative precision far out in the tail
        return 1.0 / (1.0 + math.exp(-x)) if x >= 0 else math.exp(x) / (1.0 + math.exp(x))

    near_one, probability = sigmoid(-float(logit)), sigmoid(float(logit))
    if near_one < 5e-4:
        return f"1 − {near_one:.2g}"
    return f"{probability:.2g}" if probability < 5e-4 else f"{probability:.{digits}g}"


def describe_threshold(logit: float) -> str:
    """A logit threshold as users give it: the probability, then the logit ("0.9 (logit 2.197)")."""
    return f"{probability_text(logit)} (logit {float(logit):.4g})"


# Default of how far under the threshold (logits) a peak may be and still count as hot (a missed target's, the
# paper's Fig. 6 case; a map's highest point where nothing rose): at threshold 0 that is probability >= 0.018,
# while SIRST backgrounds sit near logit -10 (probability 5e-5).
HOT_MARGIN = 4.0


def peak_text(peak: float, threshold: float) -> str:
    """Where a map's highest point stands against the threshold, for a frame where nothing rose above it:
    "its highest point, 0.794 (logit 1.35), is 0.65 logit under the threshold"; whether that is a hair or a world
    away tells a threshold set high from a frame the network sees nothing in."""
    return f"its highest point, {describe_threshold(peak)}, is {threshold - peak:.2f} logit under the threshold"


def probability_of(logit: float | None) -> float | None:
    """The probability of a logit threshold, rounded to 6 significant digits (None stays None), for JSON."""
    return None if logit is None else float(f"{float(logit_to_probability(logit)):.6g}")


@dataclass(frozen=True)
class TargetFilter:
    """Eq. 4: bounds on pixel size (m, k) and aspect ratio (l, n); None disables a bound.

    A target is dropped when size <= min_size, size >= max_size, ratio <= min_ratio
    or ratio >= max_ratio (the paper's bounds are exclusive). Ratio is box width /
    box height.
    """

    min_size: float | None = None
    max_size: float | None = None
    min_ratio: float | None = None
    max_ratio: float | None = None

    def __post_init__(self) -> None:
        for f in fields(self):
            value = getattr(self, f.name)
            if value is None:
                continue
            if isinstance(value, bool) or not isinstance(value, numbers.Real) or not math.isfinite(value):
                raise LwirstError(f"filter bound {f.name}={value!r} must be a finite number (or None: no bound)")
            if value < 0:  # sizes and ratios are never negative: such a bound would bound nothing
                raise LwirstError(f"filter bound {f.name}={value!r} must be at least 0 (or None: no bound)")
        for lo, hi in (("min_size", "max_size"), ("min_ratio", "max_ratio")):
            a, b = getattr(self, lo), getattr(self, hi)
            if a is not None and b is not None and a >= b:
                raise LwirstError(f"filter {lo}={a} is not below {hi}={b}; every target would be dropped")

    @property
    def active(self) -> bool:
        """True when a bound can drop a target: a lower bound of 0 cannot (every target has a pixel and a
        positive ratio), so `--min-size 0` scores, keys and reads as no filter."""
        return bool(self._binding())

    @property
    def key(self) -> str:
        """The bounds that can drop a target, exact, for cache keys ("min_size=3.0"; 3 and 3.0 one key; "" for
        none): the label's `__str__` rounds to 6 digits, and two filters apart beyond them would share a result."""
        return ",".join(f"{name}={value!r}" for name, value in self._binding().items())

    def _binding(self) -> dict[str, float]:
        """The bounds that can drop a target, as floats (3 and 3.0 are one bound: one cache key, one label)."""
        return {f.name: float(value) for f in fields(self) if (value := getattr(self, f.name)) is not None
                and not (f.name.startswith("min_") and value == 0)}

    def keep(self, size: np.ndarray, ratio: np.ndarray) -> np.ndarray:
        """Vectorised Eq. 4: True for targets that survive."""
        size = np.asarray(size, dtype=np.float64)
        ratio = np.asarray(ratio, dtype=np.float64)
        ok = np.ones(size.shape, dtype=bool)
        if self.min_size is not None:
            ok &= size > self.min_size
        if self.max_size is not None:
            ok &= size < self.max_size
        if self.min_ratio is not None:
            ok &= ratio > self.min_ratio
        if self.max_ratio is not None:
            ok &= ratio < self.max_ratio
        return ok

    def to_dict(self) -> dict[str, float | None]:
        return asdict(self)

    @classmethod
    def recorded(cls, value: object) -> TargetFilter:
        """The filter a result records (`to_dict`'s form); no filter where none was recorded (absent, null). A
        record holding no valid filter (a hand-edited file) is a TypeError, as any unreadable record is: read as
        unfiltered, its figures would be shown for a run that never was."""
        if value is None:
            return NO_FILTER
        try:
            return cls(**{f.name: value.get(f.name) for f in fields(cls)})  # type: ignore[attr-defined]
        except (LwirstError, AttributeError) as exc:
            raise TypeError(f"unreadable Eq. 4 filter record {value!r}") from exc

    def __str__(self) -> str:
        """The bounds that can drop a target, as protocol lines and labels say them ("size > 2 px,
        width/height < 3"); "none" for none."""
        said = {"min_size": "size > {:g} px", "max_size": "size < {:g} px", "min_ratio": "width/height > {:g}",
                "max_ratio": "width/height < {:g}"}
        return ", ".join(said[name].format(value) for name, value in self._binding().items()) or "none"


NO_FILTER = TargetFilter()


@dataclass(frozen=True)
class Target:
    """One 8-connected target. Coordinates are pixels of the image the map belongs to.

    x, y: centroid; box_*: bounding box (x, y, width, height); size: pixel count;
    ratio: box_w / box_h; peak/mean: max and mean logit over the target's pixels;
    peak_prob/mean_prob: the same as probabilities (mean of per-pixel probabilities).
    """

    id: int
    x: float
    y: float
    box_x: int
    box_y: int
    box_w: int
    box_h: int
    size: int
    ratio: float
    peak: float
    mean: float
    peak_prob: float
    mean_prob: float

    @property
    def centroid(self) -> tuple[float, float]:
        return (self.x, self.y)

    @property
    def box(self) -> tuple[int, int, int, int]:
        return (self.box_x, self.box_y, self.box_w, self.box_h)

    def to_dict(self) -> dict[str, float | int]:
        return asdict(self)


class Detections:
    """The targets found in one saliency map, as columns (one entry per target).

    Target ids are the connected-component labels of the thresholded map and stay
    the same after filtering, so a filtered set can be compared with the full one.
    """

    def __init__(self, label_image: np.ndarray, n_labels: int, columns: dict[str, np.ndarray],
                 threshold: float) -> None:
        self._label_image = label_image
        self._n_labels = n_labels
        self._columns = columns
        self.threshold = float(threshold)

    @property
    def shape(self) -> tuple[int, int]:
        return (int(self._label_image.shape[0]), int(self._label_image.shape[1]))

    def __len__(self) -> int:
        return int(self._columns["id"].shape[0])

    def __iter__(self) -> Iterator[Target]:
        return iter(self.targets)

    @overload
    def __getitem__(self, index: int) -> Target: ...

    @overload
    def __getitem__(self, index: slice) -> tuple[Target, ...]: ...

    def __getitem__(self, index: int | slice) -> Target | tuple[Target, ...]:
        return self.targets[index]

    def __repr__(self) -> str:
        return f"Detections({len(self)} targets, threshold={self.threshold:g}, shape={self.shape})"

    @functools.cached_property
    def targets(self) -> tuple[Target, ...]:
        cols = [self._columns[name].tolist() for name in COLUMNS]
        return tuple(Target(*row) for row in zip(*cols, strict=True))

    def column(self, name: str) -> np.ndarray:
        """One feature for all targets, as an array (read-only view)."""
        view = self._columns[name].view()
        view.flags.writeable = False
        return view

    @property
    def ids(self) -> np.ndarray:
        return self.column("id")

    @property
    def labels(self) -> np.ndarray:
        """int32 image: a target's id on its pixels, 0 elsewhere (dropped targets are 0)."""
        if self._all_kept:
            return self._label_image.copy()
        ids = self._columns["id"]
        lut = np.zeros(self._n_labels, dtype=np.int32)
        lut[ids] = ids
        return lut[self._label_image]

    @property
    def mask(self) -> np.ndarray:
        """Boolean mask of the pixels of the targets in this set."""
        return (self._label_image if self._all_kept else self.labels) > 0

    @property
    def _all_kept(self) -> bool:
        """Whether no target was filtered out, so the labelling is the answer as it is: a frame-sized lookup
        took 1.6 ms a frame of 1280x1024, the comparison a twentieth of it."""
        return len(self._columns["id"]) == self._n_labels - 1

    def to_frame(self) -> pd.DataFrame:
        """One row per target with the columns of `COLUMNS`, same dtypes when empty."""
        return pd.DataFrame({name: self._columns[name] for name in COLUMNS}, columns=list(COLUMNS))

    def filter(self, target_filter: TargetFilter | None) -> Detections:
        """Eq. 4: the targets that pass the filter (idempotent)."""
        if target_filter is None or not target_filter.active:
            return self
        keep = target_filter.keep(self._columns["size"], self._columns["ratio"])
        if keep.all():
            return self
        columns = {name: values[keep] for name, values in self._columns.items()}
        return Detections(self._label_image, self._n_labels, columns, self.threshold)


def detect(logits: np.ndarray | Saliency, threshold: float = 0.0, grow_to: float | None = GROW_TO) -> Detections:
    """Eqs. 2-3: threshold a logit map and measure every 8-connected target.

    With `grow_to` (a logit below `threshold`) each target's mask grows by up to
    `GROW_RADIUS` 8-connected steps through pixels above it (see the module docstring);
    None keeps Eq. 2's mask.
    """
    logits = _check_logits(logits)
    if not math.isfinite(threshold):
        raise LwirstError(f"threshold {threshold} must be a finite logit")
    if grow_to is not None and not math.isfinite(grow_to):
        raise LwirstError(f"mask threshold {grow_to} must be a finite logit")
    mask = logits > _in_precision(logits, threshold)
    if grow_to is not None and grow_to < threshold:
        mask = grow_mask(logits, mask, grow_to)
    fg = np.flatnonzero(mask)
    if fg.size == 0:  # frames without targets skip the labelling pass
        return Detections(np.zeros(mask.shape, np.int32), 1, _empty_columns(), threshold)
    # Label only the box around the foreground (targets are tiny), without OpenCV's
    # statistics pass: it costs several times the labelling itself, while every
    # feature below is a bincount over the few foreground pixels.
    ys, xs = np.divmod(fg, mask.shape[1])
    y0, y1, x0, x1 = ys[0], ys[-1] + 1, xs.min(), xs.max() + 1
    count, crop_labels = cv2.connectedComponents(
        np.ascontiguousarray(mask[y0:y1, x0:x1]).view(np.uint8), connectivity=8, ltype=cv2.CV_32S)
    labels = np.zeros(mask.shape, np.int32)
    labels[y0:y1, x0:x1] = crop_labels
    n = count - 1
    fg_labels = crop_labels[ys - y0, xs - x0] - 1
    fg_logits = logits.ravel()[fg].astype(np.float64)
    sizes = np.bincount(fg_labels, minlength=n)

    def target_mean(values: np.ndarray) -> np.ndarray:
        return np.bincount(fg_labels, weights=values, minlength=n) / sizes

    left, top = np.full(n, mask.shape[1]), np.full(n, mask.shape[0])
    right, bottom = np.full(n, -1), np.full(n, -1)
    np.minimum.at(left, fg_labels, xs)
    np.minimum.at(top, fg_labels, ys)
    np.maximum.at(right, fg_labels, xs)
    np.maximum.at(bottom, fg_labels, ys)
    peak = np.full(n, -np.inf)
    np.maximum.at(peak, fg_labels, fg_logits)
    box_w, box_h = right - left + 1, bottom - top + 1
    columns = {
        "id": np.arange(1, count, dtype=np.int64),
        "x": target_mean(xs),
        "y": target_mean(ys),
        "box_x": left,
        "box_y": top,
        "box_w": box_w,
        "box_h": box_h,
        "size": sizes,
        "ratio": box_w / box_h,
        "peak": peak,
        "mean": target_mean(fg_logits),
        "peak_prob": logit_to_probability(peak),
        "mean_prob": target_mean(logit_to_probability(fg_logits)),
    }
    return Detections(labels, count, columns, threshold)


def postprocess(logits: np.ndarray, threshold: float = 0.0, target_filter: TargetFilter | None = None,
                grow_to: float | None = GROW_TO) -> tuple[Detections, Detections]:
    """Eqs. 2-4 in one call: (all targets, targets kept by the filter)."""
    found = detect(logits, threshold, grow_to)
    return found, found.filter(target_filter)


def grow_mask(logits: np.ndarray, seeds: np.ndarray, grow_to: float, radius: int = GROW_RADIUS) -> np.ndarray:
    """`seeds` grown `radius` steps (3x3) through the pixels above `grow_to`, one target at a time.

    Geodesic, so growth follows confident pixels only; bounded, so a map whose background sits
    near `grow_to` cannot flood the frame; and it never joins two targets: a pixel is added only
    when every target pixel around it, counting those added in the same step, belongs to one
    target, so grown targets never touch and 8-connected labelling finds exactly the targets of
    the seeds. Works on the seeds' box plus the radius (targets are tiny)."""
    rows, cols = np.flatnonzero(seeds.any(axis=1)), np.flatnonzero(seeds.any(axis=0))
    if rows.size == 0:
        return seeds
    h, w = seeds.shape
    y0, y1 = max(rows[0] - radius, 0), min(rows[-1] + 1 + radius, h)
    x0, x1 = max(cols[0] - radius, 0), min(cols[-1] + 1 + radius, w)
    allowed = logits[y0:y1, x0:x1] > _in_precision(logits, grow_to)
    _, labels = cv2.connectedComponents(np.ascontiguousarray(seeds[y0:y1, x0:x1]).view(np.uint8),
                                        connectivity=8, ltype=cv2.CV_32S)
    labels = labels.astype(np.float32)  # exact for fewer than 2**24 targets; the 3x3 filters need floats
    for _ in range(radius):
        highest, lowest = _around(labels)
        own = allowed & (labels == 0) & (highest > 0) & (highest == lowest)
        tentative = np.where(own, highest, labels)
        highest, lowest = _around(tentative)
        added = own & (highest == lowest)
        if not added.any():
            break
        labels = np.where(added, tentative, labels)
    grown = seeds.copy()
    grown[y0:y1, x0:x1] = labels > 0
    return grown


def _around(labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The highest and lowest target label in each pixel's 3x3 neighbourhood (lowest: _NO_LABEL when none)."""
    return (cv2.dilate(labels, _EIGHT),
            cv2.erode(np.where(labels > 0, labels, _NO_LABEL), _EIGHT))


def mask_targets(mask: np.ndarray) -> Detections:
    """The 8-connected targets of a ground-truth (boolean or 0/1) mask, as `Detections`."""
    return detect(np.asarray(mask, dtype=bool).astype(np.float32), 0.5, grow_to=None)


def _empty_columns() -> dict[str, np.ndarray]:
    return {name: np.zeros(0, dtype=np.int64 if name in _INT_COLUMNS else np.float64) for name in COLUMNS}


def _in_precision(logits: np.ndarray, threshold: float) -> np.floating:
    """`threshold` in the precision a map is compared in: float32, or the map's own where finer (a float64 map
    compares exactly); never coarser (a float16 threshold rounded up lost pixels just above it)."""
    return np.promote_types(logits.dtype, np.float32).type(threshold)


def _check_logits(logits: np.ndarray) -> np.ndarray:
    if isinstance(logits, Saliency):  # what `Segmenter.predict` returns: its map is what is meant
        logits = logits.logits
    array = np.asarray(logits)
    if array.ndim == 3 and array.shape[0] == 1:
        array = array[0]
    if array.ndim != 2 or array.shape[0] == 0 or array.shape[1] == 0:
        raise LwirstError(f"saliency map must be a non-empty H x W array, got shape {array.shape}")
    if not np.issubdtype(array.dtype, np.floating):
        raise LwirstError(f"saliency map must hold float logits, got {array.dtype}")
    return array
