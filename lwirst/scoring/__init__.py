"""One table of the metrics lwirst reports, and the protocol a metric implements.

Every place that names, labels, formats or ranks a metric (the CLI summary of
`lwirst evaluate`, the Evaluate and model cards, live re-scoring, Compare's table, sweep
columns) iterates over `metric_specs()` instead of keeping its own list. A row says how
a key is *shown*; the value comes from the code that scores. So a new metric is one
module defining ``SPECS`` (its rows) and ``METRIC`` (a factory taking a threshold and
returning a `Metric`, see `plugin_metrics`) plus one line in `_PLUGINS` (or, in a package of its own, one
entry point in the group "lwirst.metrics": `lwirst.registry`): `evaluate`,
`rescore` (the dashboard's live re-scoring) and the scoring of trainings and sweeps run
every plugin over every image. A plain row in `_BUILTIN` only labels a key that
`lwirst.evaluate` already computes.

Light: imports numpy only until a plugin is loaded (plugins use numpy and scipy, never torch).
"""

from __future__ import annotations

import importlib
import math
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar

import numpy as np

from lwirst.errors import LwirstError
from lwirst.registry import METRICS, installed

R_co = TypeVar("R_co", covariant=True)

# Modules adding metrics computed during evaluation (each defines SPECS and METRIC).
_PLUGINS: tuple[str, ...] = (
    "lwirst.scoring.hiou",
)

# Column names the tables beside the metrics already use: the per-image table (`evaluate`, Failures), Evaluate's
# metrics table, the cached runs (Failures, Compare), Compare's Fig. 4 points and a sweep's columns (a score x is
# best_x / final_x there). A metric with one of these keys would overwrite that column, so a plugin may not take
# one (a test keeps this list in step with those tables).
RESERVED_KEYS = frozenset({
    "name", "iou", "missed", "fa_pixels", "peak", "missed_peaks", "height", "width", "protocol", "smallest_missed",
    "hot_misses", "source", "data", "group", "year", "flops_m", "params_m", "schedule", "epoch", "val_iou",
    "model", "dataset", "split", "backend", "threshold", "key", "path", "mtime", "hash", "confirm", "mirror",
    "margin", "polarity", "ignore", "filter", "applied", "code", "model_params", "model_flops", "threshold_logit",
    "threshold_probability",
})

# Views a metric can appear in.
CARD = "card"          # the Evaluate page's and model cards' metric cards
SUMMARY = "summary"    # the first metric line of `lwirst evaluate`
OPERATOR = "operator"  # the operator numbers: `lwirst evaluate`'s operator line, the Evaluate page's operator row
LIVE = "live"          # the dashboard's live re-scoring cards
SWEEP = "sweep"        # the scores a sweep records per trial (best_* / final_* columns)
VIEWS = (CARD, SUMMARY, OPERATOR, LIVE, SWEEP)
# A unit-scaled value (Fa in 1e-6) at or above this many units is printed without the unit, in e-notation.
UNIT_LIMIT = 1000.0
WHOLE_FROM = 10_000.0  # display values this large are shown without decimals (`MetricSpec.format`)


class Metric(Protocol[R_co]):
    """Accumulates over images: `update` with one prediction (scores, logits or booleans; see
    `lwirst.metrics`) and its mask, `compute` the dataset result, `reset` to start again."""

    def reset(self) -> None: ...

    def update(self, pred: np.ndarray, mask: np.ndarray) -> None: ...

    def compute(self) -> R_co: ...


class MetricResult(Protocol):
    """A plugin metric's typed result, flattened into an evaluation's metrics dict."""

    def as_metrics(self) -> dict[str, float]: ...


@dataclass(frozen=True)
class MetricSpec:
    """How one key of an evaluation's metrics is shown.

    label: short name on cards and tables; help: one line saying what it measures;
    scale and fmt: the number printed is ``format(value * scale, fmt)`` (Fa is printed in
    units of 1e-6, as the literature does, with `unit` "e-6" in plain text); better:
    "higher" or "lower" is better, None when neither (counts, speed); views: where it appears;
    of: the key of the count this value is out of, so that `out_of` says "6 of 68" (a share, fmt "%",
    as its count: "1 of 5"); `none` says why there is no value when that count is zero; `without_targets`: it
    holds a value on frames with no target (a false-alarm rate does; a score of targets found does not), so a
    suite's target-free parts show it.
    """

    key: str
    label: str
    help: str
    fmt: str = ".4f"
    scale: float = 1.0
    unit: str = ""
    better: str | None = "higher"
    views: tuple[str, ...] = ()
    of: str = ""
    none: str = "n/a"
    without_targets: bool = False

    def __post_init__(self) -> None:
        if self.better not in ("higher", "lower", None):
            raise ValueError(f"{self.key}: better must be 'higher', 'lower' or None")
        unknown = set(self.views) - set(VIEWS)
        if unknown:
            raise ValueError(f"{self.key}: unknown view(s) {sorted(unknown)}")

    @property
    def decimals(self) -> int:
        """Digits after the point of the number its format prints, for tables that hold numbers rather than the
        formatted text: ".2f" -> 2, a whole number ("d") 0, a share as a fraction two more than its percentage
        (".1%" -> 3: 2.8 % is 0.028), 4 for any other (a count of pixels read 76956.0000 in Compare's table)."""
        if self.fmt.endswith("d"):
            return 0
        fixed = re.fullmatch(r"\.(\d+)([f%])", self.fmt)
        if fixed is None:
            return 4
        return int(fixed[1]) + (2 if fixed[2] == "%" else 0)

    def format(self, value: Any) -> str:
        """The value as cards print it; missing or NaN as "n/a"."""
        if value is None or (isinstance(value, float) and math.isnan(value)):
            return "n/a"
        if isinstance(value, (int, float, np.integer, np.floating)):
            return self._number(float(value) * self.scale)
        return str(value)

    def _number(self, scaled: float, sign: str = "") -> str:
        """A value in display units by the spec's format; from `WHOLE_FROM` on, whole (a card holds about eight
        characters: Fa "134028.09" broke across two lines on a projector, its change cut to "+1340...")."""
        if self.fmt.endswith("d") or abs(scaled) >= WHOLE_FROM:
            return format(round(scaled), sign + "d")
        return format(scaled, sign + self.fmt.lstrip("+"))

    def text(self, value: Any) -> str:
        """The value with its unit, as plain-text summaries print it ("8.19e-6"). A value of a
        unit-scaled metric that would need four or more digits before the point (Fa >= 1e-3 in units
        of 1e-6) is printed in plain scientific notation instead ("3.09e-01", not "309001.16e-6")."""
        text = self.format(value)
        if not self.unit or text == "n/a" or not isinstance(value, (int, float, np.integer, np.floating)):
            return text
        if abs(float(value) * self.scale) >= UNIT_LIMIT:
            return format(float(value), ".2e")
        return text + self.unit

    def out_of(self, values: Mapping[str, Any]) -> str:
        """The value as an operator reads it from a whole metrics dict: "n of N" against its `of` count (a
        share as its count: "1 of 5"), `none` when that count is zero; else `format`."""
        value, total = values.get(self.key), values.get(self.of) if self.of else None
        if total is not None and not total:
            return self.none
        if total is None or value is None or (isinstance(value, float) and math.isnan(value)):
            return self.format(value)
        if self.fmt.endswith("%"):
            return f"{round(float(value) * total)} of {total:.0f}"
        return f"{self.format(value)} of {total:.0f}"

    def delta(self, before: float, after: float) -> str:
        """Signed change in display units (live re-scoring); "" when either side is undefined (NaN)."""
        if math.isnan(before) or math.isnan(after):
            return ""
        return self._number((after - before) * self.scale, "+")

    def improved(self, before: float, after: float) -> bool | None:
        """Whether `after` is better than `before`; None when the metric has no better direction or either
        side is undefined (NaN: e.g. precision with nothing predicted)."""
        if self.better is None or after == before or math.isnan(before) or math.isnan(after):
            return None
        return (after > before) == (self.better == "higher")


_BUILTIN: tuple[MetricSpec, ...] = (
    MetricSpec("precision", "P", "pixel precision", views=(CARD, SUMMARY, LIVE)),
    MetricSpec("recall", "R", "pixel recall", views=(CARD, SUMMARY, LIVE)),
    MetricSpec("f1", "F1", "pixel F1", views=(CARD, SUMMARY, LIVE, SWEEP)),
    MetricSpec("miou", "mIoU", "dataset IoU (the paper's mIoU)", views=(CARD, SUMMARY, LIVE, SWEEP)),
    MetricSpec("niou", "nIoU", "mean of per-image IoU (a target-free image with no prediction: 1)",
               views=(CARD, SUMMARY)),
    MetricSpec("pd", "Pd", "detected / ground-truth targets (centroid distance < 3 px)",
               views=(CARD, SUMMARY, LIVE, SWEEP)),
    MetricSpec("fa", "Fa (×1e-6)", "pixels of predicted components that detect no target / all pixels",
               fmt=".2f", scale=1e6, unit="e-6",
               better="lower", views=(CARD, SUMMARY, LIVE, SWEEP)),
    MetricSpec("auc", "AUC", "area under the pixel ROC curve", views=(CARD, SUMMARY)),
    MetricSpec("ap", "AP", "area under the pixel precision-recall curve"),
    MetricSpec("target_precision", "target P", "detections / predicted components"),
    MetricSpec("target_f1", "target F1", "2 · detected / (targets + predicted components)"),
    MetricSpec("targets", "targets", "ground-truth targets", fmt="d", better=None),
    MetricSpec("detected", "targets found", "ground-truth targets detected", fmt="d", better=None,
               views=(OPERATOR,), of="targets", none="no target in this split"),
    MetricSpec("false_alarms", "false alarms", "predicted components that detect no target, over all images",
               fmt="d", better="lower", views=(OPERATOR,)),
    MetricSpec("images", "images", "images scored", fmt="d", better=None),
    MetricSpec("fps", "fps", "network calls per second measured while evaluating", fmt=".1f", better=None),
    MetricSpec("blobs_per_frame", "false-alarm blobs/frame", "false-alarm components per frame", fmt=".3f",
               better="lower", views=(OPERATOR,)),
    MetricSpec("blobs_per_empty_frame", "false blobs/empty frame",
               "false-alarm components per frame holding no target", fmt=".3f", better="lower"),
    MetricSpec("empty_alarm_rate", "empty frames alarmed", "target-free frames raising any alarm",
               fmt=".1%", better="lower", views=(OPERATOR,), of="empty_frames",
               none="no target-free frame in this split"),
    MetricSpec("empty_frames", "empty frames", "frames holding no target", fmt="d", better=None),
    MetricSpec("pd_at_fa", "Pd at ≤0.1 FA/frame",
               "best Pd over logit thresholds -8..8 (step 1) and the run's own, with at most 0.1 false-alarm "
               "blobs (components) per frame",
               views=(OPERATOR,)),
)


def plugin_modules() -> tuple[str, ...]:
    """The metric plugins' modules: `_PLUGINS`, then those installed packages declare (`lwirst.registry`)."""
    return (*_PLUGINS, *(module for module in installed(METRICS).values() if module not in _PLUGINS))


def _plugins() -> list[Any]:
    """The plugin modules; one that fails to import, or lacks SPECS or METRIC, is named in a one-line error
    (a metric missing from the results would be a wrong result, so it is not skipped)."""
    modules = []
    owner = {key: "a table beside the metrics (RESERVED_KEYS)" for key in RESERVED_KEYS}
    owner |= {spec.key: "the built-in table" for spec in _BUILTIN}  # a key shown twice would hide one value
    names = plugin_modules()
    for index, name in enumerate(names):
        if name in names[:index]:
            raise LwirstError(f"metric plugin {name} is listed twice in _PLUGINS (lwirst/scoring/__init__.py) or "
                              "in installed packages' lwirst.metrics entry points; remove one")
        try:
            module = importlib.import_module(name)
        except Exception as exc:
            raise LwirstError(f"metric plugin {name} failed to import ({type(exc).__name__}: {exc}); fix it or "
                              "remove its line from _PLUGINS in lwirst/scoring/__init__.py") from exc
        absent = [attr for attr in ("SPECS", "METRIC") if not hasattr(module, attr)]
        if absent:
            raise LwirstError(f"metric plugin {name} defines no {' or '.join(absent)}")
        for spec in module.SPECS:
            if spec.key in owner:
                raise LwirstError(f"metric plugin {name} declares the key {spec.key!r}, which {owner[spec.key]} "
                                  "already has; give its metric a key of its own")
            owner[spec.key] = f"metric plugin {name}"
        modules.append(module)
    return modules


def metric_specs(view: str | None = None) -> tuple[MetricSpec, ...]:
    """The table (built-in rows, then each plugin's), or the rows shown in one view, in display order."""
    if view is not None and view not in VIEWS:
        raise ValueError(f"unknown view {view!r}; choose one of {', '.join(VIEWS)}")
    rows = [*_BUILTIN, *plugin_specs()]
    return tuple(s for s in rows if view is None or view in s.views)


def metric_spec(key: str) -> MetricSpec:
    """The row of `key`; an unknown key gets a plain row (label = key, four decimals)."""
    return next((s for s in metric_specs() if s.key == key), MetricSpec(key, key, "", better=None))


def view_keys(view: str) -> tuple[str, ...]:
    return tuple(s.key for s in metric_specs(view))


class _Named:
    """A plugin metric whose failures name the plugin in a one-line error instead of a traceback: at build
    when it lacks a method (not after a whole dataset), and when its result holds a key it does not declare."""

    def __init__(self, name: str, factory: Callable[[float], Metric[MetricResult]], threshold: float,
                 keys: Iterable[str]) -> None:
        self.name = name
        self.keys = frozenset(keys)
        self.metric = self._call("build", lambda: factory(threshold))
        missing = [m for m in ("reset", "update", "compute") if not callable(getattr(self.metric, m, None))]
        if missing:
            raise LwirstError(f"metric plugin {name} builds a metric with no {'(), '.join(missing)}(); a metric "
                              "defines reset(), update(pred, mask) and compute()")

    def _call(self, what: str, action: Callable[[], Any]) -> Any:
        try:
            return action()
        except Exception as exc:
            raise LwirstError(f"metric plugin {self.name} failed in {what} ({type(exc).__name__}: {exc})") from exc

    def reset(self) -> None:
        self._call("reset", lambda: self.metric.reset())

    def update(self, pred: np.ndarray, mask: np.ndarray) -> None:
        self._call("update", lambda: self.metric.update(pred, mask))

    def compute(self) -> MetricResult:
        return self._call("compute", lambda: self.metric.compute())

    def results(self) -> dict[str, float]:
        """The computed result as metrics, only under the keys the plugin's SPECS declare."""
        result = self.compute()
        values = self._call("compute", lambda: dict(result.as_metrics()))
        undeclared = sorted(set(values) - self.keys)
        if undeclared:
            raise LwirstError(f"metric plugin {self.name} returned {', '.join(map(repr, undeclared))}, which its "
                              "SPECS do not declare; add a MetricSpec for each key it returns")
        return values


def plugin_metrics(threshold: float) -> list[_Named]:
    """A fresh instance of every plugin metric. Evaluation hands each `update` the boolean mask of the
    targets kept (after the user's threshold, mask growth and filter), the same pixels the built-in
    pixel metrics score, so `threshold` is the one that binarises those: 0.5."""
    return [_Named(m.__name__, m.METRIC, threshold, (s.key for s in m.SPECS)) for m in _plugins()]


def plugin_specs() -> tuple[MetricSpec, ...]:
    """The plugins' rows of the table (the built-in rows label keys `lwirst.evaluate` computes itself)."""
    return tuple(spec for module in _plugins() for spec in module.SPECS)


def image_results(metrics: Sequence[_Named], pred: np.ndarray, mask: np.ndarray) -> dict[str, float]:
    """Every plugin's result on one image alone (each metric reset, updated once, computed): the per-image
    values the Failures page ranks by and per_image.csv holds, beside the dataset's."""
    for metric in metrics:
        metric.reset()
        metric.update(pred, mask)
    return plugin_results(metrics)


def plugin_results(metrics: Iterable[_Named]) -> dict[str, float]:
    """Every plugin's result flattened into one metrics dict (keys are unique across plugins: `_plugins`)."""
    merged: dict[str, float] = {}
    for metric in metrics:
        merged |= metric.results()
    return merged
