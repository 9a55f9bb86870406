"""`lwirst complexity`: parameters and FLOPs of presets, beside the paper's printed figures, or of any
registered architecture (--arch) or model file (--model)."""

from __future__ import annotations

import argparse
import textwrap
import unicodedata
from pathlib import Path
from typing import TYPE_CHECKING

from lwirst import jsonio
from lwirst.config import PRESETS
from lwirst.errors import LwirstError
from lwirst.models import architecture_names
from lwirst.paper import (
    CONVENTION,
    MATCH,
    MERGED_DIFFERS,
    MERGED_MATCH,
    MISMATCH,
    NOT_COMPARED,
    PAPER_SIZE,
    FigureCheck,
    PresetComparison,
    compare_preset,
    compare_presets,
    normalize_table,
)
from lwirst.validate import number

if TYPE_CHECKING:
    from lwirst.complexity import Complexity

_STATUS = {MATCH: "match", MISMATCH: "MISMATCH", MERGED_MATCH: "merged=", MERGED_DIFFERS: "merged!=",
           NOT_COMPARED: "-"}
_ROW_WIDTH = 30


def add_arguments(parser: argparse.ArgumentParser) -> None:
    what = parser.add_mutually_exclusive_group()
    what.add_argument("--preset", help="preset to measure (default lw_irstnet; see --list)")
    what.add_argument("--all-presets", action="store_true",
                      help="one line per preset of Tables II-IX, paper vs measured")
    what.add_argument("--list", action="store_true", help="list preset names and their paper rows")
    what.add_argument("--arch", choices=architecture_names(),
                      help="a registered architecture at its default config (e.g. enet, acm); no paper comparison")
    what.add_argument("--model", type=Path, help="a checkpoint (.safetensors, .pt) or ONNX file: the network "
                                                 "it holds, whatever its architecture")
    parser.add_argument("--table", help="only the presets of one paper table (II ... IX)")
    parser.add_argument("--size", nargs=2, type=number(int, lo=8, hi=8192, multiple=8), metavar=("H", "W"),
                        default=list(PAPER_SIZE),
                        help="input height and width, multiples of 8 (default: the paper's 256 256)")
    parser.add_argument("--json", action="store_true", help="print JSON instead of text")


def run(args: argparse.Namespace) -> int:
    if args.preset and args.table:
        raise LwirstError("--preset measures one preset and --table selects a table's presets; give one")
    table = normalize_table(args.table) if args.table else None
    names = [name for name, p in PRESETS.items() if table in (None, p.table)]
    size = (args.size[0], args.size[1])
    if (args.arch or args.model) and table:
        raise LwirstError("--table selects presets; --arch and --model measure one network")
    if args.arch or args.model:
        _print_network(*_network(args, size), size, args.json)
    elif args.list:
        _print_list(names, args.json)
    elif args.all_presets or table:
        _print_table(compare_presets(names, size), size, args.json)
    else:
        _print_single(compare_preset(args.preset or "lw_irstnet", size), args.json)
    return 0


def _network(args: argparse.Namespace, size: tuple[int, int]) -> tuple[str, int, Complexity]:
    """(what was measured, its input channels, its complexity) for --arch or --model."""
    from lwirst.complexity import config_complexity, onnx_complexity

    if args.arch:
        from lwirst.models import get_architecture

        spec = get_architecture(args.arch)
        config = spec.config()
        return f"{spec.label} ({spec.name}, default config)", config.in_channels, config_complexity(config, size)
    path: Path = args.model
    if not path.is_file():
        raise LwirstError(f"--model {path}: no such file")
    if path.suffix.lower() == ".onnx":
        from lwirst.export import check_segmentation_onnx, onnx_input_channels

        data = path.read_bytes()
        check_segmentation_onnx(data, str(path))
        import onnx

        name = f"{path.name} (ONNX graph: BatchNorm folded into convolutions counts as free)"
        return name, onnx_input_channels(onnx.load_from_string(data)), onnx_complexity(data, size)
    from lwirst.checkpoint import display_name, load_checkpoint
    from lwirst.models import architecture_of, get_architecture

    config, _, _ = load_checkpoint(path)
    label = get_architecture(architecture_of(config)).label
    return f"{display_name(path)} ({label})", config.in_channels, config_complexity(config, size)


def _print_network(name: str, channels: int, cost: Complexity, size: tuple[int, int], as_json: bool) -> None:
    if as_json:
        print(jsonio.dumps({"convention": CONVENTION, "network": name, "size": list(size), "params": cost.params,
                            "flops": cost.flops, "by_type": cost.by_type}, indent=2, ensure_ascii=False))
        return
    print(f"{name}; input 1x{channels}x{size[0]}x{size[1]}; {CONVENTION}")
    print(f"Params  {cost.params:,} ({cost.params_m:.4f} M)")
    print(f"FLOPs   {cost.flops / 1e6:.2f} M")
    if cost.by_type:
        print("FLOPs by layer type:")
        for kind, value in sorted(cost.by_type.items(), key=lambda kv: -kv[1]):
            print(f"  {kind:14s} {value / 1e6:10.2f} M  {100 * value / cost.flops:5.1f} %")


def _print_list(names: list[str], as_json: bool) -> None:
    if as_json:
        print(jsonio.dumps([{"preset": n, "table": PRESETS[n].table, "row": PRESETS[n].row} for n in names],
                         indent=2, ensure_ascii=False))
        return
    for name in names:
        print(f"{name:28s} Table {PRESETS[name].table:5s} {PRESETS[name].row}")


def _fmt(value: float | None, decimals: int) -> str:
    return "" if value is None else f"{value:.{decimals}f}"


def _verdict(check: FigureCheck) -> str:
    if check.status in (MATCH, MISMATCH):
        return f"paper {_fmt(check.paper, check.decimals)}, measured {check.measured:.{check.decimals}f}: " + (
            "match" if check.status == MATCH else f"MISMATCH ({check.explanation})")
    return check.explanation


def _print_single(c: PresetComparison, as_json: bool) -> None:
    if as_json:
        print(jsonio.dumps({"convention": CONVENTION, **c.to_dict()}, indent=2, ensure_ascii=False))
        return
    flops = c.complexity.flops
    print(f"{c.preset}: Table {c.table}, {c.row!r}")
    print(f"input 1x{PRESETS[c.preset].config.in_channels}x{c.size[0]}x{c.size[1]}; {CONVENTION}")
    print(f"Params  {c.complexity.params:,} ({c.complexity.params_m:.4f} M)")
    print(f"FLOPs   {flops / 1e6:.2f} M")
    print("FLOPs by layer type:")
    for kind, value in sorted(c.complexity.by_type.items(), key=lambda kv: -kv[1]):
        print(f"  {kind:14s} {value / 1e6:10.2f} M  {100 * value / flops:5.1f} %")
    print(f"Paper, Table {c.table} (fusion datasets, {PAPER_SIZE[0]}x{PAPER_SIZE[1]} input):")
    for check in (c.flops, c.params):
        print(textwrap.fill(_verdict(check), 100, initial_indent=f"  {check.name:7s}",
                            subsequent_indent=" " * 9))
    if c.note and not c.paper.get("merged_from"):
        print(textwrap.fill(c.note, 100, initial_indent="  note:  ", subsequent_indent=" " * 9))


def _width(text: str) -> int:
    return sum(2 if unicodedata.east_asian_width(char) in "WF" else 1 for char in text)


def _clip(text: str, width: int) -> str:
    """Pad or cut to `width` terminal columns (the Table VIII label has a wide 、)."""
    if _width(text) > width:
        while _width(text) > width - 1:
            text = text[:-1]
        text += "…"
    return text + " " * (width - _width(text))


def _print_table(rows: list[PresetComparison], size: tuple[int, int], as_json: bool) -> None:
    if as_json:
        print(jsonio.dumps({"convention": CONVENTION, "size": list(size),
                          "presets": [c.to_dict() for c in rows]}, indent=2, ensure_ascii=False))
        return
    print(f"{CONVENTION}; input {size[0]}x{size[1]}; paper figures as printed "
          "(Table II: 4 decimals, III-IX: 2)")
    header = (f"{'table':5s} {'preset':28s} {'row':{_ROW_WIDTH}s} {'FLOPs paper':>11s} {'measured':>9s} "
              f"{'':8s} {'Params paper':>12s} {'measured':>8s} {'':8s} note")
    print(header)
    print("-" * len(header))
    notes: list[str] = []
    for c in rows:
        ref = ""
        if c.summary:
            notes.append(f"[{len(notes) + 1}] {c.preset}: {c.summary}")
            ref = f"[{len(notes)}]"
        print(f"{c.table:5s} {c.preset:28s} {_clip(c.row, _ROW_WIDTH)} "
              f"{_paper_cell(c.flops):>11s} {c.flops.measured:9.{c.flops.decimals}f} "
              f"{_STATUS[c.flops.status]:8s} "
              f"{_paper_cell(c.params):>12s} {c.params.measured:8.{c.params.decimals}f} "
              f"{_STATUS[c.params.status]:8s} {ref}")
    counts = {s: sum(ch.status == s for c in rows for ch in (c.flops, c.params)) for s in _STATUS}
    print(f"\nfigures: {counts[MATCH]} match, {counts[MERGED_MATCH]} merged cells with the same cost, "
          f"{counts[MERGED_DIFFERS]} merged cells that cannot be the row's, {counts[MISMATCH]} mismatch")
    print("merged= / merged!=: merged cell, not printed for this row (its printed figure in parentheses);"
          " the row costs the same / differs, so the cell is / cannot be its figure")
    if counts[NOT_COMPARED]:
        print(f"-: not compared, the paper measured {PAPER_SIZE[0]}x{PAPER_SIZE[1]} inputs")
    for note in notes:
        print(textwrap.fill(note, 110, subsequent_indent="    "))


def _paper_cell(check: FigureCheck) -> str:
    value = _fmt(check.paper, check.decimals)
    return f"({value})" if check.status in (MERGED_MATCH, MERGED_DIFFERS) else value
