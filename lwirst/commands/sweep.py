"""`lwirst sweep`: the paper's ablation tables as Ray Tune trials, and their report.

    lwirst sweep --tables III VII VIII --seeds 2 --epochs 30 --data-dir D [--address auto]
    lwirst sweep --report [--csv data/ablations/FILE.csv | --run-dir R]
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import sys
from pathlib import Path

from lwirst.commands.recipe_args import field_type
from lwirst.commands.segment import add_mask_threshold_argument
from lwirst.datasets import DATASET_HELP, UnknownSplitError, in_test_split, overlap_warning, validation_overlap
from lwirst.errors import LwirstError
from lwirst.recipes import RECIPES, Recipe
from lwirst.sweep import (
    RESULTS_CSV,
    TABLES,
    Sweep,
    SweepData,
    collect_results,
    connect,
    load_results,
    plan_trials,
    prepare_sweep,
    ranked_metrics,
    report,
    run_sweep,
    select_presets,
    write_results,
)
from lwirst.validate import check_outputs, number

HIDDEN_RECIPE_FIELDS = ("seed", "epochs")  # seeds come from --seeds; --epochs has its own flag


def add_arguments(parser: argparse.ArgumentParser) -> None:
    what = parser.add_argument_group("what to run")
    what.add_argument("--tables", nargs="+", default=[], metavar="T", help=f"paper tables ({' '.join(TABLES)})")
    what.add_argument("--presets", nargs="+", default=[], metavar="P", help="extra presets, by name")
    what.add_argument("--seeds", type=number(int, lo=1, hi=1000), default=2,
                      help="seeds per preset: 0 .. N-1 (default 2)")
    what.add_argument("--epochs", type=number(int, lo=1, hi=100_000), help="epochs per trial (default: the recipe's)")
    what.add_argument("--recipe", default="default", choices=sorted(RECIPES))
    for field in dataclasses.fields(Recipe):
        if field.name in HIDDEN_RECIPE_FIELDS:
            continue
        flag = "--" + field.name.replace("_", "-")
        kind, metavar = field_type(field)
        what.add_argument(flag, type=kind, metavar=metavar, help=f"override recipe {field.name}")
    data = parser.add_argument_group("data (train, validate for the best epoch, score on test)")
    data.add_argument("--data-dir", help="dataset root (default: $LWIRST_DATA_DIR); same path on every node")
    data.add_argument("--dataset", default="sirst", help=DATASET_HELP)
    data.add_argument("--train-split", default="trainval")
    data.add_argument("--val-split", default="val", help="selects the best epoch; never the test split")
    data.add_argument("--test-split", default="test", help="scored once per trial, for reporting only")
    add_mask_threshold_argument(data)
    where = parser.add_argument_group("where")
    where.add_argument("--run-dir", default="runs/sweep",
                       help="sweep directory: trials/, tune/, results.csv (default runs/sweep)")
    where.add_argument("--address", help="Ray cluster: auto, HOST:PORT or ray://HOST:PORT "
                                         "(default: start a local Ray instance)")
    where.add_argument("--num-cpus", type=number(int, lo=1, hi=100_000),
                       help="CPUs of the local Ray instance (default: all)")
    where.add_argument("--cpus-per-trial", type=number(int, lo=1, hi=1024), default=1,
                       help="CPUs (torch threads) per trial")
    where.add_argument("--gpus-per-trial", type=number(float, lo=0, hi=64), default=0,
                       help="GPUs per trial (default 0)")
    out = parser.add_argument_group("results")
    out.add_argument("--csv", help="also write the results CSV here (e.g. data/ablations/NAME.csv); "
                                   "with --report, the CSV to read")
    out.add_argument("--note", help="free text for the note column of every row (e.g. caveats of a short "
                                    "schedule); kept in the sweep directory until replaced")
    out.add_argument("--report", action="store_true",
                     help="print the paper-vs-measured ranking of finished results; train nothing")
    out.add_argument("--metric", default="best_miou", choices=ranked_metrics(),
                     help="what --report ranks by (best_ or final_ and a score of the metric table's sweep view)")


def _recipe(args: argparse.Namespace) -> Recipe:
    overrides = {f.name: getattr(args, f.name) for f in dataclasses.fields(Recipe)
                 if f.name not in HIDDEN_RECIPE_FIELDS and getattr(args, f.name) is not None}
    if args.epochs is not None:
        overrides["epochs"] = args.epochs
    recipe = dataclasses.replace(RECIPES[args.recipe], **overrides, seed=0)
    recipe.validate()
    return recipe


def _check_args(args: argparse.Namespace) -> None:
    if args.seeds < 1:
        raise LwirstError("--seeds must be at least 1")
    if args.cpus_per_trial < 1 or args.gpus_per_trial < 0:
        raise LwirstError("--cpus-per-trial must be >= 1 and --gpus-per-trial >= 0")
    if args.num_cpus is not None and args.address:
        raise LwirstError("--num-cpus sizes a local Ray instance; a cluster given by --address has its own")
    if args.num_cpus is not None and args.num_cpus < args.cpus_per_trial:
        raise LwirstError(f"--num-cpus {args.num_cpus} cannot fit one trial of --cpus-per-trial "
                          f"{args.cpus_per_trial}")
    if "test" in (args.val_split, args.train_split) or args.test_split in (args.val_split, args.train_split):
        raise LwirstError("the test split is for reporting only: train and validate on other splits")


def _check_csv(csv: str | None, sweep: Sweep, data_dir: str, presets: list[str]) -> None:
    """Refuse, before any training, a --csv that would destroy something: it is written once every trial has
    trained, over whatever the path holds (a split list, a dataset's image, the sweep's own files and another
    sweep's committed results were replaced). It may be a new file or this sweep's own earlier CSV."""
    if not csv:
        return
    check_outputs({"--csv": csv}, [data_dir or None], force=True)
    path = Path(os.path.realpath(csv))  # where the write lands, each link followed before a ".." after it
    if path.is_relative_to(sweep.run_dir):
        raise LwirstError(f"--csv {csv} lies inside the sweep directory {sweep.run_dir}, which keeps its own "
                          f"{RESULTS_CSV}; write the copy elsewhere (e.g. data/ablations/NAME.csv)")
    if not path.exists():
        return
    try:
        existing = load_results([path])
    except LwirstError as exc:
        raise LwirstError(f"--csv {csv} exists and is not a sweep results CSV; it would be replaced: choose "
                          "another path") from exc
    other = sorted(set(existing["schedule"].astype(str)) - {sweep.schedule})
    if other:
        raise LwirstError(f"--csv {csv} holds the results of another sweep (schedule {other[0]}); this one "
                          f"({sweep.schedule}) would replace them: choose another path")
    d = sweep.data  # one schedule is not one sweep: rows of other data, splits or presets would be lost too
    data = {(d.dataset, d.train_split, d.val_split, d.test_split)}
    theirs = set(existing[["dataset", "train_split", "val_split", "test_split"]].astype(str).itertuples(
        index=False, name=None))
    own = sweep.run_dir / RESULTS_CSV  # an earlier call on this run directory: its rows are written again
    written = set(presets) | (set(load_results([own])["preset"].astype(str)) if own.is_file() else set())
    lost = sorted(theirs - data) or sorted(set(existing["preset"].astype(str)) - written)
    if lost:
        raise LwirstError(f"--csv {csv} holds results this sweep would replace and not write again "
                          f"({' '.join(lost[0]) if isinstance(lost[0], tuple) else 'preset ' + lost[0]}): "
                          "choose another path")


def run(args: argparse.Namespace) -> int:
    run_dir = Path(args.run_dir)
    if run_dir.exists() and not run_dir.is_dir():
        raise LwirstError(f"--run-dir {run_dir} is a file; give a folder")
    if args.report:
        path = Path(args.csv) if args.csv else run_dir / RESULTS_CSV
        print(report(load_results([path]), args.tables, args.metric))
        return 0
    _check_args(args)
    if args.address:  # joined before the run directory is created or locked to this recipe ("auto" has no probe)
        connect(args.address, None)
    presets = select_presets(args.tables, args.presets)
    seeds = list(range(args.seeds))
    data_dir = args.data_dir or os.environ.get("LWIRST_DATA_DIR") or ""
    data = SweepData(str(Path(data_dir).resolve()) if data_dir else "", args.dataset, args.train_split,
                     args.val_split, args.test_split, args.mask_threshold)
    try:
        train, val, test = data.open()  # a missing or broken split fails here, before Ray
    except UnknownSplitError as exc:  # `lwirst synth` writes train and test lists only
        raise LwirstError(f"{exc}. A split is a list of image names, one per line, in <data>/<split>.txt: for "
                          "--val-split val, list some training images in val.txt and train on the others") from exc
    sizes = [len(train), len(val), len(test)]
    # by image, not by split name: "all", or a list that repeats the test images, held them (as `lwirst train`)
    if tested := max(len(set(val.names) & set(test.names)), in_test_split(data_dir or None, args.dataset, val)):
        raise LwirstError(f"--val-split {args.val_split}: {tested} of its {len(val)} images are test images, which "
                          "must never choose a model; choose a split without them")
    if tested := max(len(set(train.names) & set(test.names)), in_test_split(data_dir or None, args.dataset, train)):
        print(f"warning: {tested} of the {len(train)} training images (--train-split {args.train_split}) are test "
              "images: every test score of this sweep will be in-sample")
    if overlap := validation_overlap(train, val):  # as `lwirst train` says it (trainval holds val)
        print(f"{overlap_warning(overlap)} (best_* columns; final_* ones do not depend on that choice)")
    sweep = Sweep(run_dir.resolve(), _recipe(args), args.recipe, data)
    _check_csv(args.csv, sweep, data_dir, presets)
    prepare_sweep(sweep, presets, seeds, args.note)
    plans = plan_trials(presets, seeds)
    print(f"sweep {sweep.run_dir}: {len(presets)} presets x {len(seeds)} seed(s) = {len(plans)} trials "
          f"(presets of the same architecture share one); schedule {sweep.schedule}; "
          f"{args.dataset} {args.train_split} ({sizes[0]}) / {args.val_split} ({sizes[1]}) / "
          f"{args.test_split} ({sizes[2]})", flush=True)
    # Ctrl-C stops the sweep as SIGTERM does (exit 130). Ray Tune's own handler instead waited for its trials,
    # returned as if the sweep had ended (exit 1) and advised a Ray call a user of this command never makes.
    os.environ.setdefault("TUNE_DISABLE_SIGINT_HANDLER", "1")
    try:
        unfinished = run_sweep(sweep, plans, address=args.address, num_cpus=args.num_cpus,
                               cpus_per_trial=args.cpus_per_trial, gpus_per_trial=args.gpus_per_trial,
                               say=lambda line: print(line, flush=True))
    except KeyboardInterrupt:
        print(f"finished trials are kept in {sweep.run_dir}; run the same command again to resume the others",
              file=sys.stderr, flush=True)
        raise
    frame = collect_results(sweep)
    written = [write_results(frame, sweep.run_dir / RESULTS_CSV)]
    if args.csv:
        written.append(write_results(frame, args.csv))
    print(f"{len(frame)} result row(s) in {', '.join(str(p) for p in written)}")
    if unfinished:
        shown = ", ".join(unfinished[:5]) + (" ..." if len(unfinished) > 5 else "")
        print(f"{len(unfinished)} trial(s) unfinished ({shown}); run the same command again to resume them")
        return 1
    print()
    print(report(frame, metric=args.metric))
    return 0
