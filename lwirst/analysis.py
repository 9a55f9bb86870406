"""The computation behind the dashboard's analysis pages, kept free of Streamlit.

- Evaluate: metric cards, ROC / PR / Pd-Fa figures with models overlaid, the per-image
  table and the downloads of `lwirst.evaluate` results; validation and storage of
  uploaded ONNX models; the evaluation results cached on disk.
- Compare: the paper's Fig. 4 (accuracy against FLOPs and Params) with Table II and
  the models measured here on the same axes, and Pareto fronts.
- Ablations: Tables III-IX beside Params/FLOPs computed from each preset and the
  project's own sweep results (``data/ablations/*.csv``), rank agreement (Kendall tau).
- Failures: live re-scoring of stored saliency maps at another threshold / Eq. 4
  filter, and the paper's Fig. 6 case: ground-truth targets missed although their
  peak saliency is high, yet under the threshold ("hot but below threshold").
"""

from __future__ import annotations

import hashlib
import itertools
import math
import re
import textwrap
from collections.abc import Collection, Mapping, Sequence
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any, NamedTuple

import cv2
import numpy as np
import pandas as pd
import plotly.graph_objects as go
from scipy import ndimage
from scipy.stats import kendalltau

from lwirst import ablation_stats, jsonio, palette, paths, uploads
from lwirst.chips import Chip, target_chips
from lwirst.config import presets_for_table
from lwirst.consensus import flops_factor
from lwirst.drawing import (
    HeatScale,
    Match,
    draw_targets,
    evaluation_overlay,
    heat_scale,
    heatmap,
    mask_image,
    match_overlay,
    match_targets,
)
from lwirst.errors import LwirstError, renamed
from lwirst.eval_protocol import AppliedProtocol, EvalProtocol, filter_legend, growth_legend
from lwirst.evaluate import EvalResult, cache_root, frame_flops, rescore, shown_iou, stored_summary
from lwirst.export import check_segmentation_onnx
from lwirst.imageio import to_bgr
from lwirst.metrics import image_record
from lwirst.modelcard import card_metrics, format_metric
from lwirst.paper import compare_preset, load_table
from lwirst.polarity import legend as polarity_legend
from lwirst.postprocess import (
    HOT_MARGIN,
    TargetFilter,
    detect,
    logit_to_probability,
    mask_targets,
    probability_of,
    probability_text,
)
from lwirst.prominence import legend as margin_legend
from lwirst.rounding import flops_text, params_text, rate_text
from lwirst.run_settings import PLAIN, RunSettings
from lwirst.scoring import (
    CARD,
    LIVE,
    OPERATOR,
    SWEEP,
    image_results,
    metric_spec,
    metric_specs,
    plugin_metrics,
    plugin_specs,
    view_keys,
)
from lwirst.sweep import EXPERIMENT_DATA, PAPER_SCORES, RESULTS_CSV, drop_repeated_runs, read_results, repeated_runs
from lwirst.sweep import REQUIRED as SWEEP_COLUMNS
from lwirst.uploads import check_upload_size
from lwirst.zones import legend as zones_legend

ABLATIONS_DIR = paths.ABLATIONS_DIR
HOT_COLOR = palette.outcome(palette.HOT).bgr  # yellow, as in every panel and table
PAPER_DATA = "fusion set"  # the paper's data: the union of MDFA, SIRST, SIRST-Aug and NUDT-SIRST (Sec. V-A)
PAPER_SOURCE = f"paper, {PAPER_DATA} (Table II)"
PAPER_MODEL = "LW-IRSTNet"  # the paper's network, which this project reproduces
SHIPPED_NAME = paths.DEFAULT_MODEL.stem  # the name of the shipped model's Fig. 4 points (card or measured)
CARD_PREFIX = "model card"
MEASURED_PREFIX = "measured here"
NOT_MEASURED = "not measured yet"
HOT = palette.HOT
SWEEP_GROUP = "ablation sweep"
TABLE_TITLES = {
    "III": "Convolution methods of DAAA modules",
    "IV": "Channel expansion or compression ratio",
    "V": "Atrous ratio",
    "VI": "Kernel sizes of asymmetric convolution",
    "VII": "Number of channels in different stages",
    "VIII": "Upsampling methods",
    "IX": "Feature fusion methods",
}
RANKINGS = {
    "IoU (worst first)": ("iou", True),
    "missed targets": ("missed", False),
    "smallest missed target": ("smallest_missed", True),
    "false alarms (count)": ("false_alarms", False),
    "false-alarm pixels": ("fa_pixels", False),
    "hot but below threshold": ("hot_misses", False),
}
# Ties of any ranking are broken by these, in order (worst first), then by the dataset's order.
TIE_BREAKS = (("missed", False), ("false_alarms", False), ("iou", True))
# Gallery filters: outcome -> the per-image column that must be non-zero.
OUTCOME_COLUMNS = {palette.MISSED: "missed", palette.FALSE_ALARM: "false_alarms", palette.HOT: "hot_misses"}


# ---------------------------------------------------------------- evaluate


def metric_cards(metrics: Mapping[str, float]) -> list[tuple[str, str, str]]:
    """(label, value, help) of the accuracy cards (the table's card view)."""
    return [(label, format_metric(key, metrics.get(key)), help_) for key, (label, help_) in card_metrics().items()]


def cost_cards(result: EvalResult, params: int | None, flops: float | None) -> list[tuple[str, str, str]]:
    """(label, value, help) of the model's cost and speed. FLOPs are per 256×256 frame (the paper's
    convention); where the run's frames ran at other sizes, a card beside the fps gives the FLOPs per
    frame the run fed the network (`frame_flops`), the cost that fps measures."""
    cards = [("Params", params_text(params) if params else "n/a", "trainable parameters"),
             (FLOPS_LABEL, flops_text(flops), "per 256×256 input frame (the paper's convention), THOP convention "
                                              "(ONNX files: counted on the graph, BN folded away)")]
    ran = frame_flops(result, flops)
    if ran is not None and not ran.at_paper_size:
        sizes = "; ".join(f"{n} at {w}×{h}: {flops_text(cost)}" for (h, w), (n, cost) in ran.by_input.items())
        cards.append(("FLOPs per frame run", f"≈ {flops_text(ran.mean)}",
                      f"mean over this run's frames at the size the network ran them ({sizes}): the network is "
                      "fully convolutional, so FLOPs scale with the input's pixel count"))
    fps = result.metrics.get("fps")
    cards.append(("Model-only fps", rate_text(fps),
                  "network calls per second measured on this machine while evaluating (the network alone: "
                  "no reading, scoring or drawing); it varies with the machine's load and the backend"))
    return cards


FLOPS_LABEL = "FLOPs per 256×256 frame"


@dataclass(frozen=True)
class OperatorRow:
    """The operator view (`lwirst.scoring`) as cards, counts read "n of N"; a count out of nothing (no
    target-free frame in the split) is a "—" card and a note saying why, too long for a card."""

    cards: list[tuple[str, str, str]]
    notes: list[str]


def operator_row(metrics: Mapping[str, float]) -> OperatorRow:
    """The operator cards of a run's metrics, with the notes of those that have no value."""
    cards, notes = [], []
    for spec in metric_specs(OPERATOR):
        if spec.key in metrics:
            value = spec.out_of(metrics)
            if spec.of and not metrics.get(spec.of, 1):  # out of nothing: `none` says why
                notes.append(f"{spec.label}: {value}")
                value = "—"
            cards.append((spec.label, value, spec.help))
    return OperatorRow(cards, notes)


FEW_IMAGES = 20  # a run on fewer images is flagged beside its scores (and not plotted on Compare)


def sample_note(metrics: Mapping[str, float]) -> str:
    """How many images and targets a run's scores stand on, flagged when too few to carry four decimals."""
    images, targets = int(metrics.get("images", 0)), metrics.get("targets")
    text = f"{images} image{'s' if images != 1 else ''}" + (
        f", {int(targets)} target{'s' if targets != 1 else ''}" if targets is not None else "")
    if images < FEW_IMAGES:  # said of the images: "28 targets: too few (under 20)" read as if 28 were under 20
        text += f": too few images (under {FEW_IMAGES}) for these scores to say much"
    return text


def operating_envelope(pd_in_fa_order: Sequence[float]) -> list[float]:
    """The best Pd reachable at each Fa or below: a running maximum along Fa (NaN points skipped)."""
    best, out = -math.inf, []
    for value in pd_in_fa_order:
        if value == value:  # not NaN
            best = max(best, value)
        out.append(best if best > -math.inf else math.nan)
    return out


def log_ticks(lo: float, hi: float) -> list[float]:
    """Tick values 1, 2 and 5 times each power of ten from `lo` to `hi` (both > 0), with the decades around
    them, so a log axis reads "10 20 50 100" over any range."""
    low, high = math.floor(math.log10(lo)), math.ceil(math.log10(hi))
    every = [m * 10.0 ** d for d in range(low, high + 1) for m in (1, 2, 5)]
    kept = [float(f"{t:.3g}") for t in every if lo / 10 <= t <= hi * 10]
    return kept if len(kept) <= 12 else [t for t in kept if f"{t:g}".lstrip("0.").startswith("1")]


def tick_text(value: float) -> str:
    """A log axis' tick as written out: "0.02", "500", "10,000" (never "1e+06" or "10k")."""
    return f"{value:,.0f}" if value >= 1 else f"{value:.{max(0, 1 - math.floor(math.log10(value)))}f}".rstrip("0")


def curve_figures(results: Mapping[str, EvalResult], shipped: Collection[str] = ()) -> dict[str, go.Figure]:
    """ROC, PR and Pd-Fa curves with one trace per labelled result; the labels in `shipped` (the shipped
    model's runs) are drawn in `palette.SHIPPED`, as on every other chart."""
    roc, pr, pdfa = go.Figure(), go.Figure(), go.Figure()
    # one distinct colour per model, the same on every load
    colours = {**palette.series_colors([label for label in results if label not in shipped],
                                       reserved=(palette.SHIPPED,)),
               **{label: palette.SHIPPED for label in results if label in shipped}}
    # Fa in the cards' unit (1e-6) on a log axis: a threshold with no false-alarm pixel (Fa 0) is drawn at
    # the axis' left edge, a decade under the smallest Fa measured, and its hover says 0.
    measured = [fa * 1e6 for r in results.values() for fa in r.curves["pdfa_fa"]]
    positive = [fa for fa in measured if fa > 0]
    edge = 10 ** (math.floor(math.log10(min(positive))) - 1) if positive else 1e-3
    for label, result in results.items():
        c, line = result.curves, {"color": colours[label]}
        auc, ap = result.metrics.get("auc", math.nan), result.metrics.get("ap", math.nan)
        shown = label.replace(" · ", "<br>")  # model, then backend/protocol: a legend line fits a third of the page
        roc.add_scatter(x=c["roc_fpr"], y=c["roc_tpr"], mode="lines", name=f"{shown} (AUC {auc:.3f})", line=line)
        pr.add_scatter(x=c["pr_recall"], y=c["pr_precision"], mode="lines", name=f"{shown} (AP {ap:.3f})",
                       line=line)
        # Pd is not monotone in Fa (at a lower threshold blobs merge and a centroid can drift off its
        # target), so a line through the thresholds' points zig-zags. Each threshold is a marker; the
        # line is the operating envelope: the best Pd reachable at that Fa or less.
        order = sorted(range(len(c["pdfa_fa"])), key=lambda i: (c["pdfa_fa"][i], c["pdfa_pd"][i]))
        fa = [max(c["pdfa_fa"][i] * 1e6, edge) for i in order]
        pd_ = [c["pdfa_pd"][i] for i in order]
        pdfa.add_scatter(x=fa, y=pd_, mode="markers", name=shown, legendgroup=label, marker=line,
                         customdata=[[c["pdfa_threshold"][i], c["pdfa_fa"][i] * 1e6] for i in order],
                         hovertemplate="threshold %{customdata[0]}<br>Fa %{customdata[1]:.3g} ×1e-6<br>Pd %{y:.3f}")
        pdfa.add_scatter(x=fa, y=operating_envelope(pd_), mode="lines", line={**line, "shape": "hv"},
                         legendgroup=label, showlegend=False, hoverinfo="skip")
    # the legend goes under the plot, one entry per line: long model labels wrap there instead of being cut
    layout = {"height": 420 + 36 * len(results), "margin": {"l": 10, "r": 10, "t": 40, "b": 10},
              "legend": {"orientation": "v", "yanchor": "top", "y": -0.18, "x": 0, "font": {"size": 11}}}
    roc.update_layout(title="ROC (pixels)", xaxis_title="false-positive rate (log)",
                      yaxis_title="true-positive rate", **layout)
    roc.update_xaxes(type="log", exponentformat="power")  # 10⁻⁴, not SI's "100µ" for a rate
    pr.update_layout(title="Precision-recall (pixels)", xaxis_title="recall", yaxis_title="precision", **layout)
    zero = len(positive) < len(measured)
    pdfa.update_layout(title="Pd-Fa (targets, logit thresholds -8..8 and the run's)", yaxis_title="Pd", **layout,
                       xaxis_title="Fa (×1e-6, log" + ("; Fa 0 at the left edge)" if zero else ")"))
    # every label the value it marks: plotly's own log ticks wrote "2" for 20 beside a "10" on a short range
    ticks = log_ticks(edge, max(positive, default=edge * 100))
    pdfa.update_xaxes(type="log", tickvals=ticks, ticktext=[tick_text(t) for t in ticks])
    if not positive:  # every point at Fa 0: plotly centred its range on them, as if they read Fa 0.001
        pdfa.update_xaxes(range=[math.log10(edge) - 0.05, math.log10(edge) + 2])
    pdfa.update_yaxes(range=[0, 1.05])  # Pd is a share
    return {"roc": roc, "pr": pr, "pdfa": pdfa}


def per_image_table(result: EvalResult) -> pd.DataFrame:
    """The per-image table, worst IoU first (`shown_iou`: a clean target-free image last, its IoU undefined)."""
    return shown_iou(result.per_image).sort_values("iou", kind="stable").reset_index(drop=True)


def metrics_table(results: Mapping[str, EvalResult]) -> pd.DataFrame:
    """One row per labelled result: its protocol, its threshold in both units (a bare "threshold 0.0" read as a
    probability, where `--threshold` takes one) and every metric."""
    rows = []
    for label, result in results.items():
        p = result.protocol
        rows.append({"model": label, "dataset": p.dataset, "split": p.split, "backend": p.run.backend,
                     "protocol": p.run.protocol, "threshold_logit": p.threshold,
                     "threshold_probability": probability_of(p.threshold), **result.metrics})
    return pd.DataFrame(rows)


def per_image_csv(results: Mapping[str, EvalResult]) -> bytes:
    """The per-image rows of every labelled result as one CSV (a `model` column first)."""
    frames = [shown_iou(r.per_image).assign(model=label)[["model", *r.per_image.columns]]
              for label, r in results.items()]
    return pd.concat(frames, ignore_index=True).to_csv(index=False).encode() if frames else b""


def results_json(results: Mapping[str, EvalResult]) -> bytes:
    """Metrics, protocol, curves and per-image rows of every labelled result, as JSON."""
    payload = {label: {"metrics": r.metrics, "protocol": r.protocol.to_json(), "curves": r.curves,
                       "per_image": shown_iou(r.per_image).to_dict(orient="records")} for label, r in results.items()}
    return jsonio.dumps(payload, indent=2, default=str).encode()


@dataclass(frozen=True)
class OnnxUpload:
    """A validated ONNX upload: file name, content hash and the graph's input/output shapes."""

    name: str
    digest: str
    input_shape: tuple[int | str, ...]
    output_shape: tuple[int | str, ...]


def _dims(value: Any) -> tuple[int | str, ...]:
    return tuple(d.dim_value if d.HasField("dim_value") else (d.dim_param or "?")
                 for d in value.type.tensor_type.shape.dim)


def check_onnx_upload(data: bytes, name: str, max_bytes: int) -> OnnxUpload:
    """Refuse an upload that is too large or not a one-input N×C×H×W -> N×1×H×W segmentation model."""
    check_upload_size(len(data), name, max_bytes)
    if not data:
        raise LwirstError(f"{name}: the file is empty")
    proto = check_segmentation_onnx(data, name)
    initializers = {i.name for i in proto.graph.initializer}
    graph_input = next(i for i in proto.graph.input if i.name not in initializers)
    return OnnxUpload(name, hashlib.sha256(data).hexdigest()[:16], _dims(graph_input), _dims(proto.graph.output[0]))


def uploads_root() -> Path:
    """Where a served dashboard keeps its visitors' uploaded models and videos (beside the evaluation cache)."""
    return cache_root().parent / "uploads"


def store_upload(data: bytes, upload: OnnxUpload, root: Path | None = None, session: str = "local") -> Path:
    """Save a validated upload under the server's cache (``<cache>/uploads/<session>/<hash>/<name>.onnx``),
    where it expires (`lwirst.uploads.store_upload`)."""
    return uploads.store_upload(root or uploads_root(), session, upload.digest, f"{Path(upload.name).stem}.onnx",
                                data)


def is_upload(path: str | Path | None) -> bool:
    """Whether a model file is a visitor's upload: its evaluations stay in that visitor's session, never in the
    evaluation cache every visitor's Compare and Failures list."""
    return path is not None and Path(path).resolve().is_relative_to(uploads_root().resolve())


def cached_runs(root: Path | None = None) -> pd.DataFrame:
    """Every evaluation cached on disk: directory, model, data, protocol (`confirm`: the scale consensus's
    enlargement, None or NaN for none; `mirror`: whether large frames were also confirmed mirrored; `applied`:
    as it ran, None for a result stored before that was recorded; `filter`: the Eq. 4 filter its targets
    passed, "" for none; `code`: the `lwirst.evaluate.code_signature` that scored it, "" before results recorded
    it) and metrics (newest first)."""
    root = root or cache_root()
    rows = []
    for summary in root.glob("*/metrics.json") if root.is_dir() else []:
        # a result being written (`evaluate.store` stages it in a dot folder), or not a whole result (damaged by
        # hand or by the disk): the cache evaluates it again
        data = None if summary.parent.name.startswith(".") else stored_summary(summary.parent)
        try:
            protocol = EvalProtocol.from_json(data["protocol"])  # type: ignore[index]
            metrics = jsonio.nan_for_null(data["metrics"])  # type: ignore[index]
            mtime = summary.stat().st_mtime
        except (KeyError, TypeError, AttributeError, OSError):  # None: not whole; not an evaluation's; or removed
            continue  # since it was read (the cache keeps within its bound)
        run = protocol.run
        rows.append({"key": summary.parent.name, "path": str(summary.parent), "mtime": mtime,
                     "model": run.model, "hash": run.hash, "backend": run.backend, "protocol": run.protocol,
                     "threshold": protocol.threshold, "dataset": protocol.dataset, "split": protocol.split,
                     "data": protocol.data_fingerprint, **asdict(run.settings),
                     "model_params": run.params, "model_flops": run.flops,
                     "filter": str(protocol.target_filter) if protocol.target_filter.active else "",
                     "applied": protocol.applied,
                     "code": str(data.get("code") or ""), **metrics})  # type: ignore[union-attr]
    if not rows:
        return pd.DataFrame(columns=["key", "path", "mtime", "model", "hash", "backend", "protocol", "threshold",
                                     "dataset", "split", "data", *(f.name for f in fields(RunSettings)),
                                     "model_params", "model_flops", "filter", "applied", "code", "images"])
    return pd.DataFrame(rows).sort_values("mtime", ascending=False).reset_index(drop=True)


# ---------------------------------------------------------------- compare (Fig. 4)


def pareto_front(x: Sequence[float], y: Sequence[float], higher: bool = True) -> np.ndarray:
    """True where no other point has x <= and y >= with one strict (low cost, high accuracy wins); with
    `higher` False, y <= (a false-alarm rate: low cost and few alarms win)."""
    xs, ys = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    if not higher:
        ys = -ys
    front = np.ones(len(xs), dtype=bool)
    for i in range(len(xs)):
        dominated = (xs <= xs[i]) & (ys >= ys[i]) & ((xs < xs[i]) | (ys > ys[i]))
        front[i] = not dominated.any()
    return front


def paper_points() -> pd.DataFrame:
    """Table II's 15 algorithms as Fig. 4 points (figures as printed, fusion datasets). The columns of every
    Fig. 4 point: `source` is its legend entry, `data` the dataset and split it was scored on, `protocol`
    the input protocol asked for (empty where none applies)."""
    table = load_table("II")
    return pd.DataFrame({
        "name": table["algorithm"], "source": PAPER_SOURCE, "data": PAPER_DATA, "protocol": "",
        "group": table["group"], "year": table["year"],
        "flops_m": table["flops_m"], "params_m": table["params_m"], "fps": table["fps"],
        "precision": table["precision"], "recall": table["recall"], "miou": table["miou"], "f1": table["f1"],
    })


def point_columns() -> list[str]:
    """The columns of every Fig. 4 point: the paper's, then the metric table's card metrics it lacks (the
    paper prints four; a model measured here or in a card has them all, a plugin's too)."""
    paper = list(paper_points().columns)
    return [*paper, *(spec.key for spec in metric_specs(CARD) if spec.key not in paper)]


def measured_source(dataset: str, split: str, protocol: str | None = None, origin: str = MEASURED_PREFIX,
                    threshold: float = 0.0) -> str:
    """The legend entry of points scored on one dataset split (and input protocol, and threshold where it is not
    the paper's logit 0), by `origin`: measured here, a model's card or the ablation sweep; the dataset comes
    right after the origin, where it is read. Runs at two thresholds are two sources, each with its own front:
    one front through both picked whichever threshold flattered a model."""
    at = f" at threshold {probability_text(threshold, 3)}" if threshold else ""
    return f"{origin}, {dataset} {split}{f' ({protocol})' if protocol else ''}{at}"


def measured_point(name: str, metrics: Mapping[str, float], dataset: str, split: str, params: int | None,
                   flops: float | None, protocol: str | None = None, origin: str = MEASURED_PREFIX,
                   applied: AppliedProtocol | None = None, settings: RunSettings = PLAIN,
                   threshold: float = 0.0) -> dict[str, Any]:
    """A Fig. 4 point of a model evaluated here or scored in its card, with every card metric of the metric
    table (cost in millions; NaN when unknown, e.g. ONNX FLOPs); `source` names its origin, dataset, split,
    threshold (a logit, 0 the paper's) and protocol: as applied where known (a run of "auto" on large frames
    ran them all natively, which a card's "auto" on SIRST did not).
    A run with scale consensus (`lwirst.consensus`) is a detector of its own: named and keyed apart from
    the plain run, and costed with its second run (a 256×256 frame also runs at 256·s × 256·s). So is a run
    whose large frames were also confirmed mirrored, costed as before: a 256×256 frame has no mirrored run; and
    a run with a peak margin on large frames (`lwirst.prominence`), which costs nothing. A black-hot run (its
    frames inverted, `lwirst.polarity`), one with ignore zones (`lwirst.zones`) and one scored through an Eq. 4
    filter are named apart too. `settings`: how a card's scores ran (`applied` holds a run's own)."""
    if applied is not None:
        shown, settings = applied.short, applied.settings
    else:  # a card's score: the protocol it names, and the confirmation it was measured with
        shown = protocol + settings.legend() if protocol else protocol
    confirm, mirror, margin = settings.confirm, settings.mirror, settings.margin
    if confirm:
        name, protocol = f"{name}, consensus {confirm:g}×", f"{protocol or ''} + consensus {confirm:g}×"
        flops = flops * flops_factor(confirm) if flops else flops
    if mirror:
        name, protocol = f"{name}, mirror", f"{protocol or ''} + mirror"
    if margin:
        name, protocol = f"{name}{margin_legend(margin)}", f"{protocol or ''} + margin {margin:g}"
    scored = (growth_legend(applied.grow_to), filter_legend(applied.target_filter)) if applied is not None else ()
    for tag in (polarity_legend(settings.polarity), zones_legend(settings.ignore), *scored):
        if tag:  # frames read otherwise (black-hot ones inverted, zones ignored), masks grown otherwise, or filtered
            name, protocol = f"{name}{tag}", f"{protocol or ''} + {tag[2:]}"
    return {"name": name, "source": measured_source(dataset, split, shown, origin, threshold),
            "data": f"{dataset} {split}",
            "protocol": protocol or "", "group": origin, "year": math.nan,
            "flops_m": flops / 1e6 if flops else math.nan, "params_m": params / 1e6 if params else math.nan,
            "fps": metrics.get("fps", math.nan),
            **{spec.key: metrics.get(spec.key, math.nan) for spec in metric_specs(CARD)}}


def sweep_points(results: pd.DataFrame, when: str = "best") -> pd.DataFrame:
    """Fig. 4 points of the ablation sweeps: per trained variant (presets of one architecture share
    their runs) and schedule, every test score the sweep recorded (the metric table's sweep view, a plugin's
    too; `when`_KEY columns) averaged over seeds. The schedule has a column of its own
    (a long string that cut every name short in a table); a name repeats it only where the same
    variant was swept on the same data with more than one schedule, so names stay unique."""
    needed = {"params_m", "flops_m", "dataset", "train_split", "test_split", f"{when}_miou"}
    if results.empty or not needed <= set(results.columns):
        return pd.DataFrame(columns=[*point_columns(), "schedule"])
    scores = [key for key in view_keys(SWEEP) if f"{when}_{key}" in results.columns]
    key = "variant" if "variant" in results.columns else "preset"
    val = results["val_split"].fillna("") if "val_split" in results.columns else ""
    runs = results.assign(training=results["train_split"] + np.where(val != "", " (best epoch on " + val + ")", ""))
    runs = runs.drop_duplicates([key, "seed", "schedule", "dataset", "training", "test_split"])
    shared = runs.groupby([key, "dataset", "test_split"], sort=False)
    schedules, trainings = shared["schedule"].nunique(), shared["training"].nunique()
    rows = []
    for (preset, dataset, training, split, schedule), group in runs.groupby(
            [key, "dataset", "training", "test_split", "schedule"], sort=False):
        seeds = f"{len(group)} seed{'s' if len(group) > 1 else ''}"
        tag = (f", {schedule}" if schedule and schedules[(preset, dataset, split)] > 1 else "") + \
            (f", trained on {training}" if trainings[(preset, dataset, split)] > 1 else "")
        rows.append({"name": f"{preset} ({seeds}{tag})", "schedule": schedule or math.nan,
                     "source": measured_source(dataset, split, origin=SWEEP_GROUP), "data": f"{dataset} {split}",
                     "protocol": "", "group": SWEEP_GROUP, "year": math.nan,
                     "flops_m": group["flops_m"].mean(), "params_m": group["params_m"].mean(), "fps": math.nan,
                     "precision": math.nan, "recall": math.nan,
                     **{key: pd.to_numeric(group[f"{when}_{key}"], errors="coerce").mean() for key in scores}})
    return pd.DataFrame(rows)


def card_points(cards: Mapping[str, tuple[Mapping[str, Any], str, str, int | None, float | None]],
                settings: Mapping[str, RunSettings] | None = None) -> pd.DataFrame:
    """Fig. 4 points from model cards: name -> (test metrics, flat or per protocol; dataset; split;
    params; FLOPs); one point per input protocol the card scored. `settings`: name -> how a card's scores ran:
    the scale consensus (round 43's card), which names and costs its points, the mirror check (round 47's card,
    if it adopted it) and the peak margin (round 51's card), which names all its points alike (one model, one
    label on the chart), though a resized frame holds none."""
    rows = []
    for name, (metrics, dataset, split, params, flops) in cards.items():
        per_protocol = metrics if metrics and all(isinstance(v, Mapping) for v in metrics.values()) \
            else {"": metrics}
        for protocol, values in per_protocol.items():
            if values:
                rows.append(measured_point(name, values, dataset, split, params, flops, protocol or None,
                                           CARD_PREFIX, settings=(settings or {}).get(name, PLAIN)))
    return pd.DataFrame(rows, columns=point_columns())


def merge_points(points: pd.DataFrame) -> pd.DataFrame:
    """One point per name, origin, data and protocol (the last wins: a fresh measurement replaces a cached
    one); a card's point is dropped where the same model was measured here on the same data and protocol, as the
    run records it (`_as_recorded`)."""
    if points.empty:
        return points
    merged = points.drop_duplicates(["name", "group", "data", "protocol"], keep="last")
    keys = [_as_recorded(name, data, protocol)
            for name, data, protocol in merged[["name", "data", "protocol"]].itertuples(index=False, name=None)]
    measured = {key for key, group in zip(keys, merged["group"], strict=True) if group == MEASURED_PREFIX}
    duplicate = [g == CARD_PREFIX and key in measured for g, key in zip(merged["group"], keys, strict=True)]
    # the measurement that replaces a card's point takes its name: the model keeps one name on the chart and in
    # the table, where a resize run's own (no margin) stood apart from its model's other rows, its protocol unsaid
    card_names = {key: name for key, name, dup in zip(keys, merged["name"], duplicate, strict=True) if dup}
    names = [card_names.get(key, name) if group == MEASURED_PREFIX else name
             for key, name, group in zip(keys, merged["name"], merged["group"], strict=True)]
    kept = merged.assign(name=names)
    return kept[~pd.Series(duplicate, index=merged.index)].reset_index(drop=True)


_MARGIN_TAGS = (re.compile(r", margin [0-9.]+"), re.compile(r" \+ margin [0-9.]+"))


def _as_recorded(name: str, data: str, protocol: str) -> tuple[str, str, str]:
    """A point's (name, data, protocol) as a run of it records them: a card names every point of its model with
    its peak margin (one model, one label on the chart), but a frame resized to the model holds none, and a resize
    run measured here records none (Compare listed the same run twice under two names)."""
    if not protocol.startswith("resize"):
        return name, data, protocol
    return _MARGIN_TAGS[0].sub("", name), data, _MARGIN_TAGS[1].sub("", protocol)


def distinct_names(points: pd.DataFrame) -> pd.Series:
    """Each point's name, told apart where names repeat (one model run with several protocols, on several
    data, or measured here beside its card): the protocol it ran, then the data, then the origin, added
    only as far as needed, so a pinned name column alone says which row is which."""
    names = points["name"].astype(str)
    protocol = points["protocol"].fillna("").astype(str).str.split(" + ", regex=False).str[0]
    for extra in (protocol, points["data"].astype(str), points["group"].astype(str)):
        telling = extra.groupby(names).transform("nunique") > 1  # it differs among the rows of that name
        names = names.where(~telling | extra.eq(""), names + " · " + extra)
    return names


def is_shipped(name: str) -> bool:
    """Whether a Fig. 4 point is the shipped model's: named by its file's stem (a point measured at
    another threshold adds ", threshold <probability>")."""
    return name == SHIPPED_NAME or name.startswith(f"{SHIPPED_NAME}, ")


def fig4_points(measured: pd.DataFrame) -> pd.DataFrame:
    """Paper points and measured points (columns of `paper_points`; `source` names each one's origin)."""
    paper = paper_points()
    return pd.concat([paper, measured], ignore_index=True) if not measured.empty else paper


# Point labels are placed on a Compare panel's plot area (its charts are 460 px wide at any window, the
# axes and margins taking the rest; measured in Chromium): a label goes above its point, else below, else
# it is left to the hover text. Placed on a wider area (420 px), neighbours' labels overlapped.
PLOT_PX = (360.0, 210.0)
# The legend sits under the plot area, which keeps its height however many entries it holds (at a fixed 500 px,
# six long entries left the points a 130-px strip and cut the last ones off): the figure grows by the legend's
# lines, each entry wrapped to what fits in a 460-px chart (11-px text beside its marker; measured in Chromium).
FIG4_FIXED_PX = 420  # title, plot area, axis labels and title
LEGEND_CHARS, LEGEND_LINE_PX, LEGEND_ENTRY_PX = 62, 15, 8
LABEL_CHAR_PX, LABEL_HEIGHT_PX, MARKER_PX = 5.6, 12.0, 7.0


@dataclass(frozen=True)
class Box:
    """A rectangle on the plot area, in pixels (y upwards)."""

    left: float
    bottom: float
    right: float
    top: float

    def overlaps(self, other: Box) -> bool:
        return (self.left < other.right and other.left < self.right
                and self.bottom < other.top and other.bottom < self.top)


def to_pixels(x: Sequence[float], y: Sequence[float], log_x: bool = True) -> list[tuple[float, float]]:
    """Points on the `PLOT_PX` area, axes spanning the points (log x)."""
    xs = [math.log10(v) if log_x else v for v in x]
    span_x, span_y = (max(xs) - min(xs)) or 1.0, (max(y) - min(y)) or 1.0
    width, height = PLOT_PX
    return [((a - min(xs)) / span_x * width, (b - min(y)) / span_y * height) for a, b in zip(xs, y, strict=True)]


# Left before right: a Pareto front (drawn 'hv') leaves each of its points to the right. The corners last: a
# point at the plot's left edge with its front leaving rightwards (the paper's LW-IRSTNet) fits only there.
POSITIONS = ("top center", "bottom center", "middle left", "middle right", "top right", "bottom right",
             "top left", "bottom left")


def label_box(point: tuple[float, float], text: str, position: str) -> Box:
    """Where a 10-px label sits beside its point at a Plotly `textposition` of `POSITIONS`."""
    x, y = point
    width, half_height = len(text) * LABEL_CHAR_PX, LABEL_HEIGHT_PX / 2
    if position == "top center":
        return Box(x - width / 2, y + MARKER_PX, x + width / 2, y + MARKER_PX + LABEL_HEIGHT_PX)
    if position == "bottom center":
        return Box(x - width / 2, y - MARKER_PX - LABEL_HEIGHT_PX, x + width / 2, y - MARKER_PX)
    if position == "middle right":
        return Box(x + MARKER_PX, y - half_height, x + MARKER_PX + width, y + half_height)
    if position == "middle left":
        return Box(x - MARKER_PX - width, y - half_height, x - MARKER_PX, y + half_height)
    vertical, horizontal = position.split()
    bottom = y + MARKER_PX if vertical == "top" else y - MARKER_PX - LABEL_HEIGHT_PX
    left = x if horizontal == "right" else x - width
    return Box(left, bottom, left + width, bottom + LABEL_HEIGHT_PX)


def place_labels(points: Sequence[tuple[float, float]], texts: Sequence[str],
                 lines: Sequence[Box] = ()) -> list[str | None]:
    """A `POSITIONS` entry per label, or None (hover only), in priority order (first texts first), so
    that no label covers another label, another point's marker or one of `lines` (thin boxes), or leaves
    the plot sideways; a name is written once, at the first of its points where it fits."""
    markers = [Box(x - MARKER_PX, y - MARKER_PX, x + MARKER_PX, y + MARKER_PX) for x, y in points]
    placed: list[Box] = list(lines)
    written: set[str] = set()
    positions: list[str | None] = []
    for i, (point, text) in enumerate(zip(points, texts, strict=True)):
        position = None
        for candidate in POSITIONS if text and text not in written else ():
            box = label_box(point, text, candidate)
            inside = box.left >= -MARKER_PX and box.right <= PLOT_PX[0] + MARKER_PX
            others = (m for j, m in enumerate(markers) if j != i)
            if inside and not any(box.overlaps(b) for b in placed) and not any(box.overlaps(m) for m in others):
                position = candidate
                placed.append(box)
                written.add(text)
                break
        positions.append(position)
    return positions


def _front_lines(shown: pd.DataFrame, metric: str, cost: str, pixels: Mapping[int, tuple[float, float]]) -> list[Box]:
    """The segments of each source's Pareto front as drawn ('hv': right, then up), as thin boxes."""
    boxes = []
    for _, group in shown.groupby("source"):
        front = group[pareto_front(group[cost], group[metric], _higher(metric))].sort_values(cost)
        ends = [pixels[i] for i in front.index]
        for (x1, y1), (x2, y2) in itertools.pairwise(ends):
            boxes += [Box(x1, y1 - 1, x2, y1 + 1), Box(x2 - 1, min(y1, y2), x2 + 1, max(y1, y2))]
    return boxes


def _point_labels(shown: pd.DataFrame, metric: str, cost: str, pareto: bool) -> dict[int, str]:
    """Row index -> label position of the points that get a written name: this project's models first
    (each name once), then the paper's LW-IRSTNet, then its others by accuracy; sweep presets are many
    and are named on hover only."""
    paper = shown["source"] == PAPER_SOURCE
    by_rank = shown[paper].assign(_own=shown["name"] != PAPER_MODEL).sort_values(
        ["_own", metric], ascending=[True, not _higher(metric)])
    candidates = pd.concat([shown[~paper & (shown["group"] != SWEEP_GROUP)], by_rank.drop(columns="_own")])
    pixels = dict(zip(shown.index, to_pixels(shown[cost].tolist(), shown[metric].tolist()), strict=True))
    # Every shown point is an obstacle; the candidates come first, in priority order.
    order = [*candidates.index, *(i for i in shown.index if i not in candidates.index)]
    texts = [str(shown.at[i, "name"]) if i in candidates.index else "" for i in order]
    lines = _front_lines(shown, metric, cost, pixels) if pareto else []
    positions = place_labels([pixels[i] for i in order], texts, lines)
    return {i: p for i, p in zip(order, positions, strict=True) if p is not None}


def _higher(metric: str) -> bool:
    """Whether a higher `metric` is better (a false-alarm rate's is not), as the metric table says."""
    return metric_spec(metric).better != "lower"


def fig4_figure(points: pd.DataFrame, metric: str, cost: str, pareto: bool = True) -> go.Figure:
    """One panel of Fig. 4: accuracy (`miou`, `f1` or another card metric; a point without it is left out, as
    the paper's are for metrics Table II does not print) against cost (`flops_m` or `params_m`), log x axis.
    A metric where lower is better (Fa) is plotted in its table units, and its fronts keep the lowest.

    Markers say the kind of source, the same whatever else is shown (`_symbol`): paper grey circles,
    model cards stars, models measured here squares, ablation-sweep presets diamonds; one colour per
    source; each source gets its own dashed Pareto front. The shipped model's points and label are
    `palette.SHIPPED` whatever their source, and colours are assigned from all of `points`, so every
    panel gives a point the same colour. Where any source was scored on other data than the paper's, the
    title says the scores are not comparable and its subtitle names each one's data (`data_note`). FLOPs
    are per 256×256 frame, the paper's convention; a consensus run's count its second run (`measured_point`).
    """
    spec = metric_spec(metric)
    names = {metric: spec.label + ("" if _higher(metric) else ", lower is better"),
             "flops_m": "FLOPs per 256×256 frame, all runs (M, log)", "params_m": "Params (M, log)"}
    # in the units its label says (Fa ×1e-6), as every table prints it
    points = points.assign(**{metric: points[metric] * spec.scale if metric in points else math.nan})
    shown = points.dropna(subset=[metric, cost])
    shown = shown[shown[cost] > 0]
    figure = go.Figure()
    hover = ("<b>%{hovertext}</b><br>%{customdata[0]}<br>FLOPs %{customdata[1]:.2f} M<br>Params %{customdata[2]:.4f} M"
             "<br>P %{customdata[3]:.4f} R %{customdata[4]:.4f}<br>mIoU %{customdata[5]:.4f} F1 %{customdata[6]:.4f}"
             "<br>fps %{customdata[7]:.1f}"
             + ("" if metric in ("miou", "f1") else f"<br>{spec.label} %{{y:.{spec.decimals}f}}")  # the plotted one
             + "<extra></extra>")
    measured_sources = sorted(s for s in dict.fromkeys(shown["source"]) if s != PAPER_SOURCE)
    others = points[(points["source"] != PAPER_SOURCE) & ~points["name"].map(is_shipped)]
    colours = {PAPER_SOURCE: palette.PAPER_GREY,  # by sorted name: the same on every load and panel
               **palette.series_colors(list(others["source"]), reserved=(palette.SHIPPED,))}
    labels = _point_labels(shown, metric, cost, pareto) if not shown.empty else {}  # names that fit; others: hover
    symbols = {source: _symbol(group) for source, group in points.groupby("source")}
    legend_px = 0
    for source in [PAPER_SOURCE, *measured_sources]:
        group = shown[shown["source"] == source].sort_values(cost)
        if group.empty:
            continue
        shipped = group["name"].map(is_shipped)
        # a source holding the shipped model and others is two legend entries: each says whose points it has
        both = bool(shipped.any() and not shipped.all())
        entries = []
        if not shipped.all():
            entries.append(legend_entry(
                f"{source}: {', '.join(dict.fromkeys(group.loc[~shipped, 'name']))}" if both else source))
            _fig4_trace(figure, group[~shipped], metric, cost, source, colours[source], symbols[source], labels,
                        hover, entries[-1])
        if shipped.any():
            entries.append(legend_entry(f"{source}: shipped model" if both else source))
            _fig4_trace(figure, group[shipped], metric, cost, source, palette.SHIPPED, symbols[source], labels,
                        hover, entries[-1])
        legend_px += sum(LEGEND_LINE_PX * (entry.count("<br>") + 1) + LEGEND_ENTRY_PX for entry in entries)
        if pareto and len(group) > 1:  # in its source's legend group, not an entry of its own (the caption says)
            front = group[pareto_front(group[cost], group[metric], _higher(metric))].sort_values(cost)
            figure.add_scatter(x=front[cost], y=front[metric], mode="lines", line={
                "dash": "dash", "color": colours.get(source, palette.SHIPPED), "shape": "hv"},
                name=f"Pareto front: {source}", legendgroup=source, showlegend=False, hoverinfo="skip")
    note = data_note(shown)  # the subtitle names the data; a longer title was cut at 1024 px
    figure.update_layout(title={"text": f"{spec.label} vs {names[cost].split(' ')[0]}"
                                        + (": not comparable" if note else ""),
                                "subtitle": {"text": note}},
                         xaxis_title=names[cost], yaxis_title=names[metric], height=FIG4_FIXED_PX + legend_px,
                         margin={"l": 10, "r": 10, "t": 60, "b": 60 + legend_px},
                         legend={"orientation": "v", "yref": "container", "yanchor": "bottom", "y": 0, "x": 0,
                                 "xanchor": "left", "font": {"size": 11}, "tracegroupgap": 0})
    figure.update_xaxes(type="log", exponentformat="none", separatethousands=True)  # "10,000" M, not "10k" M
    if not shown.empty:  # every label the value it marks ("100 200 500 1,000"; plotly wrote "100 2 5 1,000")
        ticks = log_ticks(float(shown[cost].min()), float(shown[cost].max()))
        figure.update_xaxes(tickvals=ticks, ticktext=[tick_text(t) for t in ticks])
    return figure


def legend_entry(text: str) -> str:
    """A legend entry wrapped to the chart's width (`LEGEND_CHARS` a line): a long one ran past the chart's edge,
    cutting off the model it names."""
    return "<br>".join(textwrap.wrap(text, LEGEND_CHARS, break_on_hyphens=False)) or text


def data_note(points: pd.DataFrame) -> str:
    """The data each kind of source shown was scored on ("paper: fusion set · model card: sirst test"), or ""
    when every point shown was scored on the same data (a metric Table II does not print shows no paper point)."""
    shown = list(dict.fromkeys(points["data"]))
    if len(shown) < 2:
        return ""
    kinds = {data: list(dict.fromkeys(group["group"])) for data, group in points.groupby("data", sort=False)
             if data != PAPER_DATA}
    paper = [f"paper: {PAPER_DATA}"] if PAPER_DATA in shown else []
    return " · ".join([*paper, *(f"{', '.join(k)}: {data}" for data, k in kinds.items())])


# The marker of a source follows from what the source is, never from what else is shown: its kind gives
# the shape, its input protocol the fill, so the shipped model (one colour on every source) is told apart.
KIND_SYMBOLS = {CARD_PREFIX: "star", MEASURED_PREFIX: "square", SWEEP_GROUP: "diamond"}
PROTOCOL_FILLS = {"resize": "-open", "native": "-open-dot", "pyramid": "-dot"}  # "auto" (and none): filled


def _symbol(points: pd.DataFrame) -> str:
    """The marker of one source's points: paper circles; a card's stars, a measurement's squares and a
    sweep's diamonds, filled for protocol auto, open for resize, open with a dot for native, filled with a
    dot for pyramid."""
    kind, protocol = points["group"].iloc[0], points["protocol"].iloc[0]
    if kind not in KIND_SYMBOLS:
        return "circle"
    return KIND_SYMBOLS[kind] + PROTOCOL_FILLS.get(str(protocol).split(" + ")[0], "")  # "resize + consensus 1.5×"


def _fig4_trace(figure: go.Figure, points: pd.DataFrame, metric: str, cost: str, source: str, color: str,
                symbol: str, labels: Mapping[int, str], hover: str, name: str) -> None:
    """One colour's points of a Fig. 4 source: markers of the source's shape, and the names `labels`
    placed, in that colour; `name` is its legend entry."""
    paper = source == PAPER_SOURCE
    data = points[["source", "flops_m", "params_m", "precision", "recall", "miou", "f1", "fps"]]
    labelled = not (points["group"] == SWEEP_GROUP).all()  # sweep points are many: names on hover only
    figure.add_scatter(
        x=points[cost], y=points[metric], mode="markers+text" if labelled else "markers", name=name,
        legendgroup=source,
        text=[name if i in labels else "" for i, name in zip(points.index, points["name"], strict=True)],
        textposition=[labels.get(i, "top center") for i in points.index],
        textfont={"size": 10, "color": color},
        # an open marker is drawn by its line: 2 px, so native's dot shows (at 1 px it read as resize's plain star)
        marker={"symbol": symbol, "size": 10 if paper else 14, "color": color,
                "line": {"width": 2, "color": color} if "open" in symbol else {"width": 1, "color": "white"}},
        customdata=data.to_numpy(), hovertemplate=hover, hovertext=points["name"])


# ---------------------------------------------------------------- ablations


def load_ablation_results(directories: Path | Sequence[Path] | None = None) -> tuple[pd.DataFrame, list[str]]:
    """Every sweep results CSV in `directories` (default data/ablations) stacked, each run once, and one message
    per file left out, saying why (`lwirst.sweep.read_results`, the command's own reader). Outside data/ablations a
    sweep's run directory one folder below counts too (its `results.csv`: a folder of sweeps), and a file is named
    by its folder too (every sweep's own CSV is a `results.csv`)."""
    frames, problems = [], []
    folders = [directories] if isinstance(directories, Path) else directories
    folders = list(dict.fromkeys(folders if folders is not None else [ABLATIONS_DIR]))
    labels = folder_labels(folders)
    for directory in folders:
        found = sorted(directory.glob("*.csv")) if directory.is_dir() else []
        if directory != ABLATIONS_DIR:
            found += sorted(directory.glob(f"*/{RESULTS_CSV}"))
        for path in found:
            name = path.name if directory == ABLATIONS_DIR else f"{labels[directory]}/{path.relative_to(directory)}"
            try:
                frames.append(read_results(path).assign(source_file=name))
            except LwirstError as exc:
                text = str(renamed(exc, path, name))
                problems.append(text if text.startswith(name) else text.replace(path.name, name, 1))
    if not frames:
        return pd.DataFrame(columns=["table", "preset", "seed", "schedule", *SWEEP_COLUMNS]), problems
    stacked = pd.concat(frames, ignore_index=True)
    results, repeated = drop_repeated_runs(stacked)
    if repeated:  # which file's rows went: a sweep copied under another folder vanished from the page unnamed
        files = ", ".join(sorted(set(stacked.loc[repeated_runs(stacked), "source_file"])))
        problems.append(f"{repeated} repeated row(s) (the same run listed twice, e.g. a copied CSV) counted once: "
                        f"those of {files}, listed again in a later file")
    return results, problems


def folder_labels(folders: Sequence[Path]) -> dict[Path, str]:
    """Each folder by its name, or by as many of its last path parts as tell it from the others: two roots
    named alike ("a/sweeps", "b/sweeps") would otherwise label their files alike."""
    labels = {}
    for folder in folders:
        parts = folder.parts
        depth = 1
        while depth < len(parts) and any(other != folder and other.parts[-depth:] == parts[-depth:]
                                         for other in folders):
            depth += 1
        labels[folder] = "/".join(parts[-depth:]).lstrip("/") or str(folder)
    return labels


def sweep_experiments(results: pd.DataFrame, table: str) -> dict[str, pd.DataFrame]:
    """`table`'s sweep runs, one entry per experiment (training schedule, dataset and splits: runs of another are
    not more seeds of the same rows), labelled "schedule · dataset train → test (best epoch on val)" (a schedule
    swept on two datasets was averaged into one table, named by the first)."""
    rows = results[results["table"] == table] if len(results) else results
    experiments: dict[str, pd.DataFrame] = {}
    for key, group in rows.groupby(["schedule", *EXPERIMENT_DATA], sort=True, dropna=False) if len(rows) else ():
        schedule, dataset, train, val, test = (str(v) if pd.notna(v) and str(v) else "" for v in key)
        label = (f"{schedule or '(no schedule recorded)'} · {dataset or '?'} {train or '?'} → {test or '?'}"
                 f"{f' (best epoch on {val})' if val else ''}")
        if label in experiments:  # two keys one label would overwrite one experiment with the other
            raise LwirstError(f"Table {table}'s sweeps {label!r} cannot be told apart; fix the CSVs' split columns")
        experiments[label] = group
    return experiments


def ablation_view(table: str, results: pd.DataFrame, metric: str = "best_miou") -> pd.DataFrame:
    """One row per preset of a paper table: the printed figures, Params/FLOPs computed from the preset
    (with the match verdict), and the mean / sd / number of seeds measured here for `metric`, with the
    per-seed scores (`here_by_seed`, seed -> score) the verdicts pair."""
    printed = [f"{when}_{key}" for when in ("best", "final") for key in PAPER_SCORES]
    if metric not in printed:
        raise LwirstError(f"metric {metric!r}: the paper's tables print {' and '.join(PAPER_SCORES)}; choose one of "
                          f"{', '.join(printed)}")
    paper = load_table(table).set_index("preset")
    score = metric.split("_", 1)[1]
    mine = results[results["table"] == table] if len(results) else results
    stats = mine.groupby("preset")[metric].agg(["mean", "std", "count"]) if len(mine) else None
    by_seed = ablation_stats.seed_scores(mine, metric) if len(mine) else pd.DataFrame()
    rows = []
    for preset in presets_for_table(table):
        check = compare_preset(preset.name)
        printed = paper.loc[preset.name] if preset.name in paper.index else None
        measured = stats.loc[preset.name] if stats is not None and preset.name in stats.index else None
        n = int(measured["count"]) if measured is not None else 0
        rows.append({
            "row": preset.row, "preset": preset.name,
            "paper_flops_m": check.flops.paper, "flops_m": check.flops.measured,
            "flops_check": check.flops.status_words,
            "paper_params_m": check.params.paper, "params_m": check.params.measured,
            "params_check": check.params.status_words,
            "paper": float(printed[score]) if printed is not None and pd.notna(printed[score]) else math.nan,
            "here": float(measured["mean"]) if n else math.nan,
            "here_sd": float(measured["std"]) if n > 1 else math.nan,
            "seeds": n, "status": f"{n} seed{'s' if n != 1 else ''}" if n else NOT_MEASURED,
            "here_by_seed": by_seed[preset.name].dropna().to_dict() if preset.name in by_seed.columns else {},
        })
    return pd.DataFrame(rows)


@dataclass(frozen=True)
class RankAgreement:
    """Which row wins in the paper and here, and Kendall's tau between the two rankings."""

    paper_winner: str | None
    here_winner: str | None
    tau: float
    p_value: float
    compared: int


def rank_agreement(view: pd.DataFrame) -> RankAgreement:
    """Winners (highest score) and Kendall tau over the rows that have both a paper and a measured value."""
    both = view.dropna(subset=["paper", "here"])
    paper_winner = view.loc[view["paper"].idxmax(), "row"] if view["paper"].notna().any() else None
    here_winner = view.loc[view["here"].idxmax(), "row"] if view["here"].notna().any() else None
    tau = p = math.nan
    if len(both) >= 2 and both["paper"].nunique() > 1 and both["here"].nunique() > 1:
        result = kendalltau(both["paper"], both["here"])
        tau, p = float(result.statistic), float(result.pvalue)
    return RankAgreement(paper_winner, here_winner, tau, p, len(both))




def best_here(view: pd.DataFrame) -> tuple[str, str]:
    """(headline, why) of the best row measured here, said only when the seeds separate it from the
    runner-up by the test the paper's choice gets (`ablation_stats.paired`: paired by seed, one-sided
    t-test): a looser rule here once named a best row the paired test on the same page called noise."""
    measured = view.dropna(subset=["here"]).sort_values("here", ascending=False)
    if measured.empty:
        return NOT_MEASURED, "no sweep results for this table"
    top = measured.iloc[0]
    if len(measured) == 1:
        return "no clear best", "one row measured"
    second = measured.iloc[1]
    test = ablation_stats.paired(pd.Series(top["here_by_seed"], dtype=float), str(second["row"]),
                                 pd.Series(second["here_by_seed"], dtype=float))
    if test.verdict == ablation_stats.TOO_FEW_SEEDS:
        return "no clear best", "fewer than two common seeds cannot tell noise from a difference"
    if test.verdict == ablation_stats.NO_SPREAD:
        return "no clear best", (f"{top['row']} and {second['row']} differ by the same amount on every seed: "
                                 "degenerate runs, nothing to tell")
    said = f"paired by seed, one-sided p {test.p_better:.3f}"
    if test.verdict != ablation_stats.REPRODUCED:
        return "no clear best", (f"{top['row']} ({top['here']:.3f}) and {second['row']} ({second['here']:.3f}) "
                                 f"differ within the seed noise ({said})")
    return str(top["row"]), f"ahead of {second['row']} beyond the seed noise ({said} < {ablation_stats.ALPHA:g})"


def rank_table(view: pd.DataFrame) -> pd.DataFrame:
    """Row, paper rank and value, measured rank and value (1 = best; '-' where missing)."""
    ranks = view[["row", "paper", "here"]].copy()
    ranks.insert(1, "paper rank", view["paper"].rank(ascending=False, method="min"))
    ranks.insert(3, "rank here", view["here"].rank(ascending=False, method="min"))
    return ranks.sort_values(["paper rank", "rank here"], na_position="last").reset_index(drop=True)


def ablation_figure(view: pd.DataFrame, metric: str, table: str) -> go.Figure:
    """Dot chart: each row's paper score (Table `table` as printed) beside its score here (mean ± sd, the
    bar cut at 0 where sd exceeds the mean: no score is negative); each side's winner starred."""
    label = "F1" if metric.endswith("f1") else "mIoU"
    figure = go.Figure()
    agreement = rank_agreement(view)
    best = best_here(view)[0]  # starred only when the seeds separate it
    here_best = best if best in set(view["row"]) else None
    sd = view["here_sd"].fillna(0)
    for column, name, color, winner in ((("paper", f"paper (Table {table} as printed)", palette.PAPER_GREY,
                                          agreement.paper_winner),
                                         ("here", f"{MEASURED_PREFIX} (mean ± sd over seeds)", palette.SERIES[0],
                                          here_best))):
        values = view[column]
        figure.add_scatter(
            x=values, y=view["row"], mode="markers", name=name,
            marker={"color": color, "size": [16 if r == winner else 10 for r in view["row"]],
                    "symbol": ["star" if r == winner else "circle" for r in view["row"]]},
            error_x={"type": "data", "array": sd, "arrayminus": np.minimum(sd, values.fillna(0))}
            if column == "here" else None,
            hovertemplate="%{y}: %{x:.4f}<extra>" + name + "</extra>")
    missing = view[view["here"].isna()]
    if not missing.empty:
        figure.add_scatter(x=missing["paper"], y=missing["row"], mode="text",
                           text=[f"   {NOT_MEASURED}"] * len(missing), textposition="middle right",
                           textfont={"color": "#d62728", "size": 10}, showlegend=False, hoverinfo="skip")
        # room on the right for the note beside the rightmost paper score
        drawn = pd.concat([view["paper"], view["here"] + sd]).dropna()
        if not drawn.empty:
            left, right = min(0.0, float(drawn.min())), float(drawn.max())
            figure.update_xaxes(range=[left, right + 0.45 * ((right - left) or 1.0)])
    figure.update_layout(xaxis_title=f"test {label}", height=130 + 40 * len(view),
                         margin={"l": 10, "r": 10, "t": 50, "b": 10}, legend={"orientation": "h", "y": 1.0,
                                                                             "yanchor": "bottom"})
    figure.update_yaxes(autorange="reversed", type="category")
    return figure


# ---------------------------------------------------------------- failures


def rescore_table(saliency: Mapping[str, np.ndarray], masks: Mapping[str, np.ndarray], threshold: float,
                  target_filter: TargetFilter | None = None, margin: float = HOT_MARGIN
                  ) -> tuple[dict[str, float], pd.DataFrame]:
    """Dataset metrics (`lwirst.evaluate.rescore`) and per-image scores of stored saliency maps at `threshold` and
    the Eq. 4 filter (no network), in one pass over the maps: IoU (`shown_iou`), targets, detected, missed, the
    smallest missed target's pixels (NaN when none is missed), of the missed how many are hot but below the
    threshold, false alarms. (Three passes, each reading every map, took 25 s a slider step on 600 large frames.)"""
    rows, plugins = [], plugin_metrics(0.5)

    def row(name: str, logits: np.ndarray, mask: np.ndarray, found: np.ndarray) -> None:
        record = image_record(found, mask, saliency=logits)  # one matching gives the misses' peaks and sizes
        peaks = np.asarray(record.missed_saliency)
        hot = int(np.count_nonzero((peaks <= threshold) & (peaks >= threshold - margin)))
        smallest = float(min(record.missed_areas)) if record.missed_areas else math.nan
        rows.append({"name": name, "iou": record.iou, "targets": record.targets, "detected": record.detected,
                     "missed": record.missed, "smallest_missed": smallest, "hot_misses": hot,
                     "false_alarms": record.false_alarms, "fa_pixels": record.fa_pixels, "peak": float(logits.max()),
                     **image_results(plugins, found, mask)})

    metrics = rescore(saliency, masks, threshold, target_filter, each=row)
    table = pd.DataFrame(rows, columns=["name", "iou", "targets", "detected", "missed", "smallest_missed",
                                        "hot_misses", "false_alarms", "fa_pixels", "peak",
                                        *(s.key for s in plugin_specs())])
    return metrics, shown_iou(table)


def rankings() -> dict[str, tuple[str, bool]]:
    """The Failures page's rankings, label -> (per-image column, ascending): `RANKINGS`, then each metric
    plugin's card metric that has a better direction, worst first (`lwirst.scoring.image_results`)."""
    return {**RANKINGS, **{f"{spec.label} (worst first)": (spec.key, spec.better == "higher")
                           for spec in plugin_specs() if CARD in spec.views and spec.better}}


def rank_images(per_image: pd.DataFrame, by: str) -> pd.DataFrame:
    """Images ordered by one of `rankings()` (worst first; images without a value, such as no missed
    target, last), ties broken by `TIE_BREAKS` and then the dataset order: when thirty images share
    IoU 0, those missing more targets and raising more false alarms come first, not the first names."""
    ranks = rankings()
    if by not in ranks:
        raise LwirstError(f"unknown ranking {by!r}; choose one of {', '.join(ranks)}")
    keys = [ranks[by], *(key for key in TIE_BREAKS if key[0] != ranks[by][0])]
    keys = [key for key in keys if key[0] in per_image.columns]
    return per_image.sort_values([c for c, _ in keys], ascending=[a for _, a in keys], kind="stable",
                                 na_position="last").reset_index(drop=True)


def filter_images(per_image: pd.DataFrame, outcomes: Sequence[str] = (),
                  iou: tuple[float, float] = (0.0, 1.0)) -> pd.DataFrame:
    """The images with at least one target of any of `outcomes` (none: every image) and IoU in `iou` (an image
    without one, `shown_iou`, only in the whole range)."""
    keep = per_image["iou"].between(*iou) | (per_image["iou"].isna() & (tuple(iou) == (0.0, 1.0)))
    if outcomes:
        keep &= per_image[[OUTCOME_COLUMNS[o] for o in outcomes]].gt(0).any(axis=1)
    return per_image[keep].reset_index(drop=True)


THUMBNAIL_BACKDROP = (40, 40, 40)  # BGR grey around a thumbnail of another aspect ratio


def thumbnail(image: np.ndarray, logits: np.ndarray, mask: np.ndarray, threshold: float,
              target_filter: TargetFilter | None, size: tuple[int, int] = (320, 240),
              margin: float = HOT_MARGIN) -> np.ndarray:
    """The Fig. 5 overlay of one image at `threshold` and the Eq. 4 filter, its missed targets within `margin` of
    the threshold drawn hot as the inspector draws them (a thumbnail called "miss" what the inspector below it called
    "hot"), fitted whole into a `size` (width, height) frame on a grey backdrop: every thumbnail of a gallery has
    one shape, so a grid of frames of mixed sizes stays aligned."""
    match = match_targets(detect(logits, threshold).filter(target_filter), mask)
    return letterbox(match_overlay(image, match, hot=hot_ids(hot_targets(logits, mask, match, threshold, margin))),
                     size)


def letterbox(picture: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """`picture` (H x W x 3) scaled to fit (width, height) whole and centred on THUMBNAIL_BACKDROP."""
    width, height = size
    h, w = picture.shape[:2]
    scale = min(width / w, height / h)
    fit = (max(1, min(width, round(w * scale))), max(1, min(height, round(h * scale))))
    scaled = cv2.resize(picture, fit, interpolation=cv2.INTER_AREA if scale < 1 else cv2.INTER_NEAREST)
    canvas = np.empty((height, width, 3), dtype=picture.dtype)
    canvas[:] = THUMBNAIL_BACKDROP
    top, left = (height - fit[1]) // 2, (width - fit[0]) // 2
    canvas[top:top + fit[1], left:left + fit[0]] = scaled
    return canvas


class MetricMove(NamedTuple):
    """One live re-scoring card: the metric's key, label, value now and change since before (as printed,
    Fa in 1e-6), and the raw change (its sign and the metric's direction colour the card)."""

    key: str
    label: str
    value: str
    delta: str
    change: float


def metric_moves(before: Mapping[str, float], after: Mapping[str, float],
                 names: Sequence[str] | None = None) -> list[MetricMove]:
    """The live re-scoring cards of `names` (default: the table's live view) that both results hold."""
    moves = []
    for name in view_keys(LIVE) if names is None else names:
        if name in before and name in after:
            spec = metric_spec(name)
            moves.append(MetricMove(name, spec.label, spec.format(after[name]), spec.delta(before[name], after[name]),
                                    after[name] - before[name]))
    return moves


def hot_targets(logits: np.ndarray, mask: np.ndarray, match: Match, threshold: float,
                margin: float) -> pd.DataFrame:
    """The missed ground-truth targets of a Fig. 5 match with the peak logit inside each: 'hot' when
    the peak is under the threshold by at most `margin` (the paper's Fig. 6 case), with how far under (NaN for a
    peak above it: a target the Eq. 4 filter removed, or found off-centre, is under nothing). A target is numbered
    as the ground truth numbers it (`truth_id`, shown "GT2"), apart from the detections' "#2" on the overlay: both
    read "#2" on one screen for two targets."""
    ids = [t.id for t in match.missed]
    labels = mask_targets(mask).labels  # the numbering `evaluation_overlay` matched
    peaks = np.atleast_1d(ndimage.maximum(logits, labels, ids)) if ids else []
    rows = []
    for target, peak in zip(match.missed, peaks, strict=True):
        under = threshold - float(peak)
        if under < 0:
            under, status = math.nan, "above threshold: filtered out or off-centre"
        elif under <= margin:
            status = HOT
        else:
            status = "cold"
        rows.append({"truth_id": target.id, "x": round(target.x, 1), "y": round(target.y, 1), "size": target.size,
                     "peak_logit": float(peak), "peak_prob": float(logit_to_probability(float(peak))),
                     "under_by": under, "status": status})
    return pd.DataFrame(rows, columns=["truth_id", "x", "y", "size", "peak_logit", "peak_prob", "under_by", "status"])


def hot_ids(hot: pd.DataFrame) -> set[int]:
    """The ground-truth ids of the hot targets of a `hot_targets` table."""
    return set(hot.loc[hot["status"] == HOT, "truth_id"])


@dataclass
class ImageView:
    """The Failure inspector's pictures (8-bit BGR) and tables for one image."""

    input: np.ndarray
    truth: np.ndarray
    heatmap: np.ndarray
    overlay: np.ndarray
    match: Match
    hot: pd.DataFrame
    chips: list[Chip]
    targets_total: int
    heat: HeatScale | None = None  # what the heatmap's colours mean (it carries no colour bar of its own)


def image_protocol(result: EvalResult, name: str) -> str:
    """The protocol image `name` ran with in `result`'s evaluation ("pyramid", "resize", ...), "" where the
    result recorded none: the inspector showed a large frame's maps with no word of the pyramid that made them."""
    table = result.per_image
    applied = table.loc[table["name"] == name, "protocol"] if "protocol" in table else pd.Series(dtype=object)
    return applied.iloc[0] if not applied.empty and isinstance(applied.iloc[0], str) else ""


def image_view(image: np.ndarray, logits: np.ndarray, mask: np.ndarray, threshold: float,
               target_filter: TargetFilter | None, scale: str = "probability", margin: float = HOT_MARGIN) -> ImageView:
    """Input, ground truth, heatmap (its colour range in `heat`; hot-but-below targets boxed in cyan) and the Fig. 5
    overlay (`lwirst.palette` outcome colours) at `threshold` and the Eq. 4 filter, and the target chips."""
    if mask.shape != logits.shape or image.shape[:2] != logits.shape:
        raise LwirstError(f"image {image.shape[1]}x{image.shape[0]}, mask {mask.shape[1]}x{mask.shape[0]} and "
                          f"saliency {logits.shape[1]}x{logits.shape[0]} differ in size; re-run the evaluation")
    kept = detect(logits, threshold).filter(target_filter)
    overlay, match = evaluation_overlay(image, kept, mask, tags=False)  # the panel writes the tags
    hot = hot_targets(logits, mask, match, threshold, margin)
    flagged = hot_ids(hot)
    heat = draw_targets(heatmap(logits, scale, colorbar=False), [t for t in match.missed if t.id in flagged],
                        color=HOT_COLOR, tags=False)  # its ring says "hot": a label under the ring was hidden
    chips, total = target_chips(image, logits, kept, mask, threshold, margin, scale)
    return ImageView(to_bgr(image), mask_image(mask), heat, overlay, match, hot, chips, total,
                     heat_scale(logits, scale))
