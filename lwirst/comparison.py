"""The shipped model beside the published LW-IRSTNet weights, as one run of `scripts/compare_models.py` recorded
them (`data/models/comparison.json`): the comparison every view shows as one, because both sides come from one
run, one protocol and the same data, with the command, commit and host beside the figures. The paper's printed
figures (Table II) are context on other data and never the other side of it."""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from lwirst.checkpoint import file_hash
from lwirst.paths import MODELS_DIR
from lwirst.prominence import legend as margin_legend
from lwirst.prominence import recorded
from lwirst.scoring import CARD, metric_spec, metric_specs

COMPARISON_PATH = MODELS_DIR / "comparison.json"

# What each side of the comparison is, as a reader knows it (the JSON names them by the run's --model names).
SIDES = {"shipped": "shipped", "published": "published (authors' ONNX)"}
# The parts of a run, by their JSON key, as the tables title them.
PARTS = {"sirst_test": "SIRST test", "samples": "embedded samples"}
# The cross-domain suite's pooled operator figures: key -> label.
SUITE_FIGURES = {"pd": "Pd", "blobs_per_empty_frame": "false blobs per empty frame",
                 "empty_alarm_rate": "empty frames alarmed"}


@dataclass(frozen=True)
class ComparisonRun:
    """One recorded run: the command that produced it, where it ran, the protocol every model ran under, and each
    model's entry (its file, backend, consensus, and figures per part)."""

    command: str
    commit: str
    host: str
    protocol: str
    models: Mapping[str, Mapping[str, Any]]

    @property
    def source(self) -> str:
        """The run as a caption names it."""
        return f"one run of `{self.command}` at commit {self.commit} on {self.host}"

    def scored(self, name: str, path: Path) -> bool | None:
        """Whether the run's `name` model is the file at `path` (its recorded content hash, `file_hash`); None when
        the run recorded no hash for it. A record kept from earlier weights read as the shipped model's figures."""
        recorded = self.models.get(name, {}).get("hash")
        return recorded == file_hash(path) if isinstance(recorded, str) and recorded else None


def load_comparison(path: Path | None = None) -> ComparisonRun | None:
    """The recorded run (default `COMPARISON_PATH`), or None when the file is absent or not such a record (a
    checkout without it shows no comparison rather than a broken one)."""
    try:
        data = json.loads((path or COMPARISON_PATH).read_text(encoding="utf-8"))
        return ComparisonRun(str(data["command"]), str(data["commit"]), str(data["host"]), str(data["protocol"]),
                             dict(data["models"]))
    except (OSError, ValueError, KeyError, TypeError):
        return None


def _side(name: str, entry: Mapping[str, Any]) -> str:
    confirm = entry.get("confirm")
    consensus = f", consensus {confirm:g}×" if isinstance(confirm, int | float) and confirm else ""
    return f"{SIDES.get(name, name)}: {entry.get('path', '?')}{consensus}{margin_legend(recorded(entry.get('margin')))}"


def part_table(run: ComparisonRun, part: str) -> pd.DataFrame:
    """One part's card metrics, a row per model (Fa in units of 1e-6, as the cards print it); Pd also as
    "found of targets". Empty when no model was scored on that part."""
    rows = []
    for name, entry in run.models.items():
        figures = entry.get(part)
        if not isinstance(figures, Mapping):
            continue
        row: dict[str, Any] = {"model": _side(name, entry)}
        for spec in metric_specs(CARD):
            if spec.key in figures:
                value = figures[spec.key]
                row[spec.label] = value * spec.scale if isinstance(value, int | float) else math.nan
        if "targets" in figures and "detected" in figures:
            row["targets found"] = f"{figures['detected']:.0f} of {figures['targets']:.0f}"
        if "false_alarms" in figures:
            row[metric_spec("false_alarms").label] = int(figures["false_alarms"])
        rows.append(row)
    return pd.DataFrame(rows)


def suite_table(run: ComparisonRun) -> pd.DataFrame:
    """The cross-domain suite's pooled operator figures, a row per model; empty when the run scored no suite."""
    rows = []
    for name, entry in run.models.items():
        pooled = entry.get("suite", {}).get("pooled") if isinstance(entry.get("suite"), Mapping) else None
        if isinstance(pooled, Mapping):
            rows.append({"model": _side(name, entry), **{label: pooled.get(key, math.nan)
                                                         for key, label in SUITE_FIGURES.items()}})
    return pd.DataFrame(rows)
