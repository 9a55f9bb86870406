"""Collect the ablation-schedule runs' validation curves into data/ablations/schedule/curves.csv and
apply the pre-registered rule in force (the third round's, data/ablations/README.md, issue #20; the full recipe's
seed 1 counts by its recorded best, `lwirst.schedule.RECORDED_REFERENCE`, its curve having been lost):

    python scripts/schedule_evidence.py --reference 125,0=/work/runs/xd_a --reference 125,2=/work/runs/abl_ref_s2 \\
        --run 60,0=/work/runs/abl_e60_s0 --run 60,1=/work/runs/abl_e60_s1 --run 60,2=/work/runs/abl_e60_s2 \\
        --out data/ablations/schedule/curves.csv
"""

from __future__ import annotations

import argparse
from pathlib import Path

from lwirst.errors import LwirstError
from lwirst.schedule import REFERENCE, SEEDS, collect_curves, verdict


def _run(text: str) -> tuple[int, int, Path]:
    try:
        key, path = text.split("=", 1)
        epochs, seed = (int(v) for v in key.split(","))
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"{text!r}: give EPOCHS,SEED=RUN_DIR") from exc
    return epochs, seed, Path(path)


def _reference(text: str) -> tuple[int, int, Path]:
    """EPOCHS[,SEED]=RUN_DIR: a seed of the full recipe (seed 0 when not given)."""
    try:
        key, path = text.split("=", 1)
        epochs, _, seed = key.partition(",")
        return int(epochs), int(seed or 0), Path(path)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"{text!r}: give EPOCHS[,SEED]=RUN_DIR") from exc


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--reference", type=_reference, action="append", required=True,
                        help="EPOCHS[,SEED]=RUN_DIR: a seed of the full recipe (repeat for each seed)")
    parser.add_argument("--run", type=_run, action="append", required=True, help="EPOCHS,SEED=RUN_DIR")
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    runs = {(REFERENCE, epochs, seed): path for epochs, seed, path in args.reference}
    runs |= {("default", epochs, seed): path for epochs, seed, path in args.run}
    try:
        curves = collect_curves(runs)
    except LwirstError as exc:
        print(f"error: {exc}")
        return 1
    args.out.parent.mkdir(parents=True, exist_ok=True)
    curves.to_csv(args.out, index=False, float_format="%.6g")
    result = verdict(curves)
    bar = (f"bar {result.bar:.4f}" if result.bar is not None
           else f"bar pending ({result.reference_seeds} of {SEEDS} reference seeds)")
    print(f"reference mean best val IoU {result.reference_best:.4f} over {result.reference_seeds} seed(s); {bar}")
    print(result.runs.to_string(index=False, float_format=lambda v: f"{v:.4f}"))
    print(result.candidates.to_string(index=False, float_format=lambda v: f"{v:.4f}"))
    print(f"chosen schedule: {result.chosen_epochs} epochs" if result.chosen_epochs
          else "no candidate meets the rule" if result.bar is not None else "nothing can be chosen yet")
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
