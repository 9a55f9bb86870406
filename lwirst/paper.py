"""The paper's Tables II-IX as data, and the check of every preset against them.

The tables live in ``data/paper/table2.csv`` ... ``table9.csv``, one row per printed
row, figures exactly as printed (empty where the printed cell is empty). Common
columns: ``row`` (the printed row label, also `Preset.row`), ``preset`` (the
`lwirst.config.PRESETS` key, empty for Table II's other algorithms), ``flops_m``,
``params_m``, ``miou``, ``f1``, ``dataset`` ("fusion": the four-dataset union of
Sec. V-A), ``note``; Tables III-IX add ``merged_from``, the preset whose row carries
the printed cell that a merged (empty) cell shares; Table II adds ``year``,
``algorithm``, ``ref`` (citation number), ``group`` ("generic" segmentation
networks or "irst", designed for IR small targets), ``fps``, ``precision`` and
``recall``; Tables IV-VII add the varied hyperparameters.

`compare_preset` measures a preset with `lwirst.complexity` and states, per figure,
whether it matches the print at the printed precision, so the CLI, the tests and
the dashboard give the same verdicts.
"""

from __future__ import annotations

import dataclasses
import logging
import math
from dataclasses import dataclass, field
from functools import cache
from typing import TYPE_CHECKING, Any

import pandas as pd

from lwirst.config import PRESETS, get_preset
from lwirst.errors import LwirstError
from lwirst.paths import PAPER_DIR

if TYPE_CHECKING:
    from lwirst.complexity import Complexity

log = logging.getLogger(__name__)

DATA_DIR = PAPER_DIR
TABLES = ("II", "III", "IV", "V", "VI", "VII", "VIII", "IX")
# how the paper counted, so the tables it printed and the figures measured here are comparable
CONVENTION = "THOP 0.1.1 convention (1 MAC = 1 FLOP; BN 4/elem, PReLU 1/elem, ReLU/pool/resize 0)"
PAPER_SIZE = (256, 256)
"""Input size of every FLOPs figure in the paper (Sec. III-B: x is 3 x 256 x 256)."""

# Table II prints FLOPs and Params with four decimals, Tables III-IX with two.
_DECIMALS = {table: 4 if table == "II" else 2 for table in TABLES}
_ARABIC = {table: index for index, table in enumerate(TABLES, start=2)}

MATCH = "match"
MISMATCH = "mismatch"
MERGED_MATCH = "merged_match"
MERGED_DIFFERS = "merged_differs"
NOT_COMPARED = "not_compared"
# The statuses in words, for readers of a table (a merged cell prints one figure for several rows).
STATUS_WORDS = {MATCH: "match", MISMATCH: "differs", MERGED_MATCH: "match (merged cell)",
                MERGED_DIFFERS: "differs (merged cell)", NOT_COMPARED: "not compared"}


def normalize_table(table: str) -> str:
    """ "iii" -> "III"; anything that is not Table II-IX is a user error."""
    name = str(table).strip().upper()
    if name not in TABLES:
        raise LwirstError(f"unknown table {table!r}; the paper's tables with data are {', '.join(TABLES)}")
    return name


@cache
def _read(table: str) -> pd.DataFrame:
    path = DATA_DIR / f"table{_ARABIC[table]}.csv"
    if not path.is_file():
        raise LwirstError(f"paper table data missing: {path} (reinstall lwirst from the repository)")
    text = {"row": "string", "preset": "string", "merged_from": "string", "note": "string", "ref": "Int64"}
    frame = pd.read_csv(path, dtype=text)
    frame.insert(0, "table", table)
    log.debug("loaded %s: %d rows", path, len(frame))
    return frame


def load_table(table: str) -> pd.DataFrame:
    """One paper table ("II" ... "IX") as printed; a fresh copy the caller may modify."""
    return _read(normalize_table(table)).copy()


def load_all() -> pd.DataFrame:
    """Tables II-IX stacked (columns a table lacks are NaN)."""
    return pd.concat([_read(t) for t in TABLES], ignore_index=True)


def _clean(value: Any) -> Any:
    if value is pd.NA or (isinstance(value, float) and math.isnan(value)):
        return None
    return value.item() if hasattr(value, "item") else value


def paper_figures(preset: str) -> dict[str, Any]:
    """The printed row of a preset: table, row, figures (None where the cell is empty),
    merged_from (None unless the cell is merged) and note."""
    get_preset(preset)
    table = PRESETS[preset].table
    frame = _read(table)
    rows = frame[frame["preset"] == preset]
    if rows.empty:
        raise LwirstError(f"preset {preset!r} has no row in Table {table}'s data")
    figures = {key: _clean(value) for key, value in rows.iloc[0].items()}
    figures.setdefault("merged_from", None)  # Table II has no merged cells, hence no column
    return figures


@dataclass(frozen=True)
class FigureCheck:
    """One printed figure against its measurement (both in millions)."""

    name: str
    measured: float
    paper: float | None
    decimals: int
    status: str
    explanation: str = ""

    @property
    def matches(self) -> bool:
        return self.status in (MATCH, MERGED_MATCH)

    @property
    def status_words(self) -> str:
        return STATUS_WORDS[self.status]


@dataclass
class PresetComparison:
    """A preset measured at one input size, beside its paper row."""

    preset: str
    table: str
    row: str
    size: tuple[int, int]
    complexity: Complexity
    flops: FigureCheck
    params: FigureCheck
    note: str = ""
    paper: dict[str, Any] = field(default_factory=dict)

    @property
    def summary(self) -> str:
        """One line on the row's verdict: how a merged cell was read, else the paper note."""
        merged = (MERGED_MATCH, MERGED_DIFFERS)
        if self.flops.status not in merged and self.params.status not in merged:
            return self.note
        owner = paper_figures(self.paper["merged_from"])["row"]
        d = self.flops.decimals
        head = (f"merged cell, not printed for this row: the cell ({_fmt_pair(self.flops.paper, self.params.paper, d)})"
                f" is printed on the {owner!r} row; ")
        if self.flops.status == MERGED_MATCH and self.params.status == MERGED_MATCH:
            return head + "this row has the same cost, so it matches"
        return head + (f"this row costs {_fmt_pair(self.flops.measured, self.params.measured, d)}, "
                       "so the cell cannot be its figure")

    def to_dict(self) -> dict[str, Any]:
        def check(c: FigureCheck) -> dict[str, Any]:
            return {"measured_m": c.measured, "paper_m": c.paper, "decimals": c.decimals,
                    "status": c.status, "matches": c.matches, "explanation": c.explanation}

        return {
            "preset": self.preset, "table": self.table, "row": self.row, "size": list(self.size),
            "params": self.complexity.params, "flops": self.complexity.flops,
            "flops_by_type": dict(self.complexity.by_type),
            "flops_check": check(self.flops), "params_check": check(self.params), "note": self.note,
            "summary": self.summary,
            "paper": self.paper,
        }


def _fmt_pair(flops: float | None, params: float | None, decimals: int) -> str:
    return f"{flops:.{decimals}f} M FLOPs, {params:.{decimals}f} M params"


def _rounds_to(measured: float, printed: float, decimals: int) -> bool:
    # Equal as the table would print them: no float-equality pitfalls at the last digit.
    return f"{measured:.{decimals}f}" == f"{printed:.{decimals}f}"


def _check(name: str, measured: float, figures: dict[str, Any], key: str, decimals: int,
           size: tuple[int, int]) -> FigureCheck:
    printed = figures.get(key)
    if printed is None and figures.get("merged_from"):
        owner = paper_figures(figures["merged_from"])
        shared = owner[key]
        if size != PAPER_SIZE:
            return FigureCheck(name, measured, None, decimals, NOT_COMPARED,
                               f"merged cell; the paper measured {PAPER_SIZE[0]}x{PAPER_SIZE[1]} inputs")
        where = (f"merged cell, not printed for this row: the cell ({shared:.{decimals}f} M) is printed "
                 f"on the {owner['row']!r} row")
        if _rounds_to(measured, shared, decimals):
            return FigureCheck(name, measured, shared, decimals, MERGED_MATCH,
                               f"{where}; this row has the same cost, so it matches")
        return FigureCheck(name, measured, shared, decimals, MERGED_DIFFERS,
                           f"{where}; this row costs {measured:.{decimals}f} M, so the cell cannot be its figure")
    if printed is None:
        return FigureCheck(name, measured, None, decimals, NOT_COMPARED, "not printed")
    if size != PAPER_SIZE:
        return FigureCheck(name, measured, printed, decimals, NOT_COMPARED,
                           f"paper {printed:.{decimals}f} M at {PAPER_SIZE[0]}x{PAPER_SIZE[1]}; "
                           f"not compared at {size[0]}x{size[1]}")
    if _rounds_to(measured, printed, decimals):
        return FigureCheck(name, measured, printed, decimals, MATCH)
    return FigureCheck(name, measured, printed, decimals, MISMATCH,
                       f"paper/measured = {printed / measured:.3f}")


@cache
def _measure(preset: str, size: tuple[int, int]) -> Complexity:
    # Presets are frozen, so each one is measured once per process (the CLI's table, the
    # tests and the dashboard ask for the same ones).
    from lwirst.complexity import config_complexity

    return config_complexity(get_preset(preset), size)


def compare_preset(preset: str, size: tuple[int, int] = PAPER_SIZE) -> PresetComparison:
    """Measure `preset` at `size` and check its FLOPs and Params against the paper."""
    from lwirst.complexity import check_input_size

    size = check_input_size(size)
    figures = paper_figures(preset)
    cached = _measure(preset, size)
    measured = dataclasses.replace(cached, by_type=dict(cached.by_type))
    decimals = _DECIMALS[figures["table"]]
    flops = _check("FLOPs", measured.flops_m, figures, "flops_m", decimals, size)
    params = _check("Params", measured.params_m, figures, "params_m", decimals, size)
    log.info("%s: %.2f M FLOPs (%s), %.4f M params (%s)", preset, flops.measured, flops.status,
             params.measured, params.status)
    return PresetComparison(preset=preset, table=figures["table"], row=figures["row"], size=size,
                            complexity=measured, flops=flops, params=params,
                            note=figures.get("note") or "", paper=figures)


def compare_presets(presets: list[str] | None = None,
                    size: tuple[int, int] = PAPER_SIZE) -> list[PresetComparison]:
    """`compare_preset` for several presets (default: every preset, table by table)."""
    names = presets if presets is not None else list(PRESETS)
    return [compare_preset(name, size) for name in names]
