"""The evidence behind the ablation schedule: per-epoch validation IoU of short runs of the
default network against the full default recipe's, and the rule that picks the schedule.

Ablation tables compare variants; a schedule too short to leave the all-background state ranks
noise (the first sweep's 8-epoch runs did). The schedule is the shortest one whose every seed
reaches a fixed share of the full recipe's best validation IoU (pre-registered in
data/ablations/README.md); `scripts/schedule_evidence.py` writes the curves this module reads.
"""

from __future__ import annotations

import csv
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import plotly.graph_objects as go

from lwirst import palette
from lwirst.errors import LwirstError
from lwirst.paths import ABLATIONS_DIR

CURVES_CSV = ABLATIONS_DIR / "schedule" / "curves.csv"
REFERENCE = "reference"  # the `schedule` value of the full recipe's curve
SHARE = 0.95  # of the reference's best validation IoU, for every seed of a schedule
SEEDS = 3  # runs a candidate needs before it can be chosen
COLUMNS = ("schedule", "epochs", "seed", "epoch", "val_iou")


def read_run_curve(run_dir: str | Path) -> list[tuple[int, float]]:
    """(epoch, val IoU) of a training run directory's metrics.csv; refuses a run trained without
    validation."""
    path = Path(run_dir) / "metrics.csv"
    try:
        with path.open(newline="", encoding="utf-8") as handle:
            rows = [(int(r["epoch"]), float(r["val_iou"])) for r in csv.DictReader(handle)]
    except (OSError, KeyError, ValueError) as exc:
        raise LwirstError(f"{path}: not a readable training log ({exc})") from exc
    if not rows or any(v != v for _, v in rows):
        raise LwirstError(f"{path}: the run has no validation IoU per epoch (trained with --val-split '')")
    return rows


def collect_curves(runs: Mapping[tuple[str, int, int], str | Path]) -> pd.DataFrame:
    """Tidy curves from {(schedule, epochs, seed): run directory}."""
    rows = [(schedule, epochs, seed, epoch, iou) for (schedule, epochs, seed), run in runs.items()
            for epoch, iou in read_run_curve(run)]
    return pd.DataFrame(rows, columns=list(COLUMNS))


def load_curves(path: Path | None = None) -> pd.DataFrame | None:
    """The curves at `path` (default: the committed ones), or None when there are none yet (or the
    file is not a curves file)."""
    try:
        curves = pd.read_csv(path or CURVES_CSV, dtype={"schedule": str})
    except (OSError, ValueError):
        return None
    return curves if set(COLUMNS) <= set(curves.columns) and not curves.empty else None


@dataclass(frozen=True)
class ScheduleVerdict:
    """What the curves say: the bar, each run's best epoch, and the chosen schedule's length."""

    reference_best: float
    bar: float
    runs: pd.DataFrame  # epochs, seed, best_val_iou, best_epoch, final_val_iou, passes
    chosen_epochs: int | None  # None: no candidate passed


def verdict(curves: pd.DataFrame, share: float = SHARE, seeds: int = SEEDS) -> ScheduleVerdict:
    """Apply the rule: the shortest candidate with `seeds` runs whose every best val IoU >= share x
    the reference's best."""
    reference = curves[curves["schedule"] == REFERENCE]
    if reference.empty:
        raise LwirstError("the curves hold no reference run")
    best_ref = float(reference["val_iou"].max())
    bar = share * best_ref
    candidates = curves[curves["schedule"] != REFERENCE].sort_values(["epochs", "seed", "epoch"])
    grouped = candidates.groupby(["epochs", "seed"])
    best = candidates.loc[grouped["val_iou"].idxmax()]
    runs = pd.DataFrame({"epochs": best["epochs"].to_numpy(), "seed": best["seed"].to_numpy(),
                         "best_val_iou": best["val_iou"].to_numpy(), "best_epoch": best["epoch"].to_numpy(),
                         "final_val_iou": grouped["val_iou"].last().to_numpy()})
    runs["passes"] = runs["best_val_iou"] >= bar
    passing = runs.groupby("epochs")["passes"].agg(lambda ok: len(ok) >= seeds and ok.all())
    chosen = next((int(e) for e, ok in sorted(passing.items()) if ok), None)
    return ScheduleVerdict(best_ref, bar, runs, chosen)


def curves_figure(curves: pd.DataFrame, result: ScheduleVerdict) -> go.Figure:
    """Validation IoU per epoch: every seed of every candidate, the reference, and the bar."""
    figure = go.Figure()
    for i, (epochs, group) in enumerate(curves[curves["schedule"] != REFERENCE].groupby("epochs")):
        for seed, run in group.groupby("seed"):
            figure.add_scatter(x=run["epoch"], y=run["val_iou"], mode="lines", name=f"{epochs} epochs",
                               legendgroup=str(epochs), showlegend=bool(seed == group["seed"].min()),
                               line={"color": palette.SERIES[i % len(palette.SERIES)], "width": 1.5},
                               hovertemplate=f"{epochs} epochs, seed {seed}: epoch %{{x}}, val IoU %{{y:.3f}}"
                                             "<extra></extra>")
    reference = curves[curves["schedule"] == REFERENCE]
    figure.add_scatter(x=reference["epoch"], y=reference["val_iou"], mode="lines",
                       name=f"full recipe ({int(reference['epochs'].max())} epochs)",
                       line={"color": palette.PAPER_GREY, "width": 1.5, "dash": "dot"})
    figure.add_hline(y=result.bar, line={"color": "#d62728", "dash": "dash", "width": 1},
                     annotation_text=f"bar {result.bar:.3f} = {SHARE:.0%} of the full recipe's best",
                     annotation_position="bottom right")
    figure.update_layout(xaxis_title="epoch", yaxis_title="SIRST val IoU", height=360,
                         margin={"l": 10, "r": 10, "t": 30, "b": 10}, legend={"orientation": "h", "y": 1.12})
    return figure
