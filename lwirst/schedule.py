"""The evidence behind the ablation schedule: per-epoch validation IoU of short runs of the
default network against the full default recipe's, and the rule that picks the schedule.

Ablation tables compare variants; a schedule too short to leave the all-background state ranks
noise (the first sweep's 8-epoch runs did). The rule in force is the third round's, pre-registered in
data/ablations/README.md: the bar is a share of the mean best validation IoU of the full recipe's
three seeds (one high draw set it before), and the schedule is the shortest candidate whose three
seeds' mean best reaches it with every seed above the all-background floor. Until the reference has
its three seeds the bar, and so the schedule, is pending. `scripts/schedule_evidence.py` writes the
curves this module reads.
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
SHARE = 0.95  # of the mean of the reference seeds' best validation IoUs: the bar for a candidate's mean
SEEDS = 3  # seeds the reference needs before its bar is set, and a candidate before it can be chosen
FLOOR = 0.5  # every seed of a passing candidate reaches it: well above the all-background state
CANDIDATES = (60, 80)  # the third round's candidates (epochs), tried in this order; both failing, the full recipe
# Reference seeds whose best val IoU was recorded but whose curve was lost (data/ablations/README.md, second round,
# outcome 5): seed 1 of the full recipe, best 0.632 at epoch 95; the rule re-uses measured seeds, never re-runs them
RECORDED_REFERENCE = {1: 0.632}
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
    """What the curves say: the reference seeds' mean best, the bar (None until the reference has `SEEDS`
    seeds), each run's best epoch, each candidate's mean, and the chosen schedule's length."""

    reference_best: float  # the mean of the reference seeds' best val IoUs measured so far
    reference_seeds: int
    bar: float | None
    runs: pd.DataFrame  # epochs, seed, best_val_iou, best_epoch, final_val_iou
    candidates: pd.DataFrame  # epochs, seeds, mean_best, lowest_best, candidate (of this round), passes (None:
    # the bar pending, or not a candidate)
    chosen_epochs: int | None  # None: no candidate passed, or the bar is pending


def _best_runs(curves: pd.DataFrame) -> pd.DataFrame:
    """One row per (epochs, seed) run: its best val IoU and that epoch, and its last epoch's."""
    ordered = curves.sort_values(["epochs", "seed", "epoch"])
    grouped = ordered.groupby(["epochs", "seed"])
    best = ordered.loc[grouped["val_iou"].idxmax()]
    return pd.DataFrame({"epochs": best["epochs"].to_numpy(), "seed": best["seed"].to_numpy(),
                         "best_val_iou": best["val_iou"].to_numpy(), "best_epoch": best["epoch"].to_numpy(),
                         "final_val_iou": grouped["val_iou"].last().to_numpy()})


def verdict(curves: pd.DataFrame, share: float = SHARE, seeds: int = SEEDS, floor: float = FLOOR,
            candidates: tuple[int, ...] = CANDIDATES,
            recorded: dict[int, float] | None = None) -> ScheduleVerdict:
    """Apply the rule: once the reference has `seeds` seeds (its curves' and the best-only `recorded` ones,
    default RECORDED_REFERENCE), the bar is `share` x the mean of their best val IoUs, and the schedule is the
    first of `candidates` with `seeds` seeds whose mean best reaches the bar and whose every seed's best reaches
    `floor`; when every candidate has its seeds and fails, the full recipe itself."""
    reference = curves[curves["schedule"] == REFERENCE]
    if reference.empty:
        raise LwirstError("the curves hold no reference run")
    known = {**(RECORDED_REFERENCE if recorded is None else recorded),
             **reference.groupby("seed")["val_iou"].max().to_dict()}
    mean = sum(known.values()) / len(known)
    bar = share * mean if len(known) >= seeds else None
    runs = _best_runs(curves[curves["schedule"] != REFERENCE])
    per = runs.groupby("epochs")["best_val_iou"]
    table = pd.DataFrame({"epochs": per.size().index.to_numpy(), "seeds": per.size().to_numpy(),
                          "mean_best": per.mean().to_numpy(), "lowest_best": per.min().to_numpy()})
    table["candidate"] = table["epochs"].isin(candidates)
    table["passes"] = [None if bar is None or not candidate else bool(n >= seeds and m >= bar and low >= floor)
                       for n, m, low, candidate in table[["seeds", "mean_best", "lowest_best", "candidate"]].to_numpy()]
    judged = table.set_index("epochs")

    def outcome(epochs: int) -> bool | None:  # None: the bar pending, or the candidate short of its seeds
        if bar is None or epochs not in judged.index or judged.loc[epochs, "seeds"] < seeds:
            return None
        return bool(judged.loc[epochs, "passes"])

    outcomes = [outcome(epochs) for epochs in candidates]
    chosen = next((e for e, ok in zip(candidates, outcomes, strict=True) if ok), None)
    if chosen is None and outcomes and all(ok is False for ok in outcomes):
        chosen = int(reference["epochs"].max())  # every candidate failed: the full recipe (rule, step 3)
    return ScheduleVerdict(mean, len(known), bar, runs, table, chosen)


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
    name = f"full recipe ({int(reference['epochs'].max())} epochs)"
    for seed, run in reference.groupby("seed"):
        figure.add_scatter(x=run["epoch"], y=run["val_iou"], mode="lines", name=name, legendgroup=REFERENCE,
                           showlegend=bool(seed == reference["seed"].min()),
                           line={"color": palette.PAPER_GREY, "width": 1.5, "dash": "dot"},
                           hovertemplate=f"full recipe, seed {seed}: epoch %{{x}}, val IoU %{{y:.3f}}<extra></extra>")
    if result.bar is not None:
        figure.add_hline(y=result.bar, line={"color": "#d62728", "dash": "dash", "width": 1},
                         annotation_text=f"bar {result.bar:.3f} = {SHARE:.0%} of the full recipe's mean best "
                                         f"({result.reference_seeds} seeds)", annotation_position="bottom right")
    figure.update_layout(xaxis_title="epoch", yaxis_title="SIRST val IoU", height=360,
                         margin={"l": 10, "r": 10, "t": 30, "b": 10}, legend={"orientation": "h", "y": 1.12})
    return figure
