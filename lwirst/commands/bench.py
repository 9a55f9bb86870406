"""`lwirst bench`: every backend and optimisation side by side, timed interleaved in one run."""

from __future__ import annotations

import argparse
import logging
import os
import subprocess
import sys
from pathlib import Path

from lwirst import jsonio
from lwirst.errors import LwirstError
from lwirst.hostcpu import (
    CHILD,
    ISA_CAPS,
    IsaCap,
    cap_in_environ,
    cap_variables,
    capped_environ,
    check_emulation,
    isa_cap,
    loaded_runtimes,
)
from lwirst.validate import THREADS, check_outputs, number

HELP = "Side-by-side throughput benchmark of every backend and optimisation"


def _default_threads() -> list[int]:
    cores = os.cpu_count() or 1
    return sorted({1, min(2, cores), cores})


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--model", type=Path, default=None,
                        help="checkpoint or .onnx (default: the shipped model, else random weights)")
    parser.add_argument("--data-dir", type=Path, default=None,
                        help="dataset root holding sirst/ (default: $LWIRST_DATA_DIR)")
    parser.add_argument("--threads", type=THREADS, nargs="+", default=None,
                        help="thread counts to measure (default: 1, 2 and all cores)")
    parser.add_argument("--batch", type=number(int, lo=1, hi=256), nargs="+", default=[1, 8],
                        help="batch sizes; >1 is video mode (default: 1 8)")
    parser.add_argument("--seconds", type=number(float, lo=0, hi=3600, lo_open=True), default=1.0,
                        help="timing budget per variant and mode")
    parser.add_argument("--rounds", type=number(int, lo=1, hi=1000), default=5,
                        help="interleaved rounds the budget is split into")
    parser.add_argument("--size", type=number(int, lo=8, hi=4096, multiple=8), nargs=2, action="append", default=None,
                        metavar=("H", "W"),
                        help="also time sensor-size frames of H x W (repeatable, e.g. --size 512 640 "
                             "--size 1024 1280): batch 1, model-only and end-to-end fps per size under the "
                             "default large-frame protocol, against that size's ceiling")
    parser.add_argument("--variants", nargs="+", default=None,
                        help="only these variants (the baseline always runs)")
    parser.add_argument("--quick", action="store_true",
                        help="smoke run: one thread count, batches 1 and 2, a couple of calls per cell")
    parser.add_argument("--json", type=Path, default=None, help="also write the results as JSON here")
    parser.add_argument("--force", action="store_true", help="overwrite an existing --json file")
    parser.add_argument("--emulate-isa", type=_isa, default=None, metavar="ISA",
                        help=f"time the kernels of a narrower host kind on this one ({', '.join(ISA_CAPS)}): the "
                             "run moves to a child process whose runtimes are capped to that ISA, the ceiling "
                             "counts its FMA width at this host's clock, and every result is labelled emulated "
                             "(ONNX Runtime cannot be capped)")


def _isa(text: str) -> str:
    """argparse type: a known ISA cap name (usage error otherwise)."""
    try:
        return isa_cap(text).name
    except LwirstError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def forwarded_argv(args: argparse.Namespace) -> list[str]:
    """The bench options of `args` as a command line, for the capped child process."""
    argv = [*(["--model", str(args.model)] if args.model else []),
            *(["--data-dir", str(args.data_dir)] if args.data_dir else []),
            *(["--threads", *map(str, args.threads)] if args.threads else []),
            "--batch", *map(str, args.batch), "--seconds", repr(args.seconds), "--rounds", str(args.rounds)]
    for h, w in args.size or ():
        argv += ["--size", str(h), str(w)]
    argv += [*(["--variants", *args.variants] if args.variants else []), *(["--quick"] if args.quick else []),
             *(["--json", str(args.json)] if args.json else []), *(["--force"] if args.force else [])]
    return argv + (["--emulate-isa", args.emulate_isa] if args.emulate_isa else [])


def _run_capped(args: argparse.Namespace, cap: IsaCap) -> int:
    """Run this bench again in a child process whose runtimes load capped to `cap`; its exit code.

    The cap must be in the environment before OpenVINO, PyTorch and OpenCV load, so it cannot
    be applied to this process once any of them is imported. The child prints the table and
    writes the JSON itself.
    """
    verbose = ["-v"] if logging.getLogger().isEnabledFor(logging.INFO) else []
    command = [sys.executable, "-m", "lwirst", *verbose, "bench", *forwarded_argv(args)]
    print(f"emulating {cap.label}: timing in a child process with {' '.join(f'{k}={v}' for k, v in cap.env)}",
          file=sys.stderr, flush=True)
    return subprocess.run(command, env=capped_environ(cap), check=False).returncode


def run(args: argparse.Namespace) -> int:
    cap = isa_cap(args.emulate_isa) if args.emulate_isa else None
    if cap is not None:
        check_emulation(cap)
    # Decided before lwirst.bench loads the runtimes: here they can still be capped.
    capped_here = cap is not None and cap_in_environ(cap) and not loaded_runtimes()
    if cap is not None and not capped_here and os.environ.get(CHILD) == cap.name:
        raise LwirstError(f"the {cap.label}-capped child process could not load its runtimes capped")

    from lwirst.bench import BenchConfig, all_variants, run_bench

    # each count once, in the order given: "--threads 1 1" built every variant twice and printed each row twice
    threads = list(dict.fromkeys(args.threads or ([1] if args.quick else _default_threads())))
    batches = list(dict.fromkeys([1, 2] if args.quick and args.batch == [1, 8] else args.batch))
    if min(threads) < 1 or min(batches) < 1:
        raise LwirstError("--threads and --batch take positive integers")
    frame_sizes = [(int(h), int(w)) for h, w in args.size or ()]
    if any(min(size) <= 0 for size in frame_sizes):
        raise LwirstError("--size takes positive H W")
    if args.seconds <= 0 or args.rounds < 1:
        raise LwirstError("--seconds must be positive and --rounds at least 1")
    known = {v.name for v in all_variants()}
    unknown = sorted(set(args.variants or ()) - known)
    if unknown:
        raise LwirstError(f"unknown variant(s) {', '.join(unknown)}; choose from {', '.join(sorted(known))}")
    if args.model is not None and not args.model.is_file():
        raise LwirstError(f"model {args.model} " + ("is a folder, not a model file" if args.model.is_dir()
                                                    else "does not exist"))
    if args.model is not None and args.model.suffix.lower() == ".onnx":
        from lwirst.export import check_segmentation_onnx

        check_segmentation_onnx(args.model.read_bytes(), str(args.model))  # garbage fails here, not silently
    if args.data_dir is not None and not (args.data_dir / "sirst" / "images").is_dir():
        raise LwirstError(f"--data-dir {args.data_dir}: no sirst/images folder there; give the dataset root "
                          "that holds sirst/")
    if args.json is not None:
        check_outputs({"--json": args.json}, [args.model, args.data_dir], force=args.force)
    if cap is not None and not capped_here:
        return _run_capped(args, cap)
    if cap is None and cap_variables():
        print(f"note: {', '.join(cap_variables())} set: kernels may be capped, but nothing is labelled "
              "emulated (use --emulate-isa)", file=sys.stderr)
    cores = os.cpu_count() or 1
    if max(threads) > cores:
        print(f"note: {max(threads)} threads on {cores} cores oversubscribes the CPU", file=sys.stderr)
    config = BenchConfig(model=args.model, data_dir=args.data_dir, threads=threads, batches=batches,
                         seconds=0.05 if args.quick else args.seconds, rounds=args.rounds, quick=args.quick,
                         variants=args.variants, frame_sizes=frame_sizes, emulate=args.emulate_isa)
    report = run_bench(config, progress=lambda message: print(message, file=sys.stderr, flush=True))
    if not report.results:
        reasons = "; ".join(f"{name}: {why}" for name, why in list(report.skipped.items())[:3])
        raise LwirstError(f"no variant could run ({reasons})")
    print(report.table())
    if args.json:
        try:
            args.json.parent.mkdir(parents=True, exist_ok=True)
            args.json.write_text(jsonio.dumps(report.to_json(), indent=2))
        except OSError as exc:
            raise LwirstError(f"cannot write {args.json}: {exc.strerror}") from exc
        print(f"wrote {args.json}")
    return 0
