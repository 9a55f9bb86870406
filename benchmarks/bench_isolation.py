"""Does timing several runtimes in one process, as `lwirst bench` does, change their speed?

    python benchmarks/bench_isolation.py [--threads 2] [--rounds 30] [--seconds 0.1] [--repeats 2]
        [--emulate-isa avx2]

Three variants of `lwirst bench` (the baseline on ONNX Runtime, PyTorch eager, openvino-fast) are
timed at batch 1 on one 256x256 frame in short slices, in a shuffled order each round: once all
in one process ("together", as the bench does), and once each in a process of its own
("alone"), where the other variants' slices are idle sleeps of the same length, so both see the
same duty cycle. ONNX Runtime's and PyTorch's worker threads spin for a while after a call, and
a runtime's threads may still be waking when another starts: if that costs the next runtime
time, "together" is slower than "alone". The modes alternate over `--repeats` sets of processes
so machine drift hits both; the table gives median fps per mode and their ratio.
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import subprocess
import sys
import time

import numpy as np

from lwirst.hostcpu import ISA_CAPS, cap_in_environ, capped_environ, check_emulation, isa_cap

VARIANTS = ("baseline", "torch", "openvino-fast")


def calls(names: list[str], threads: int) -> dict:
    """One prepared network call per variant, built as `lwirst bench` builds it."""
    from lwirst.bench import VARIANTS as BENCH_VARIANTS
    from lwirst.inference import Segmenter

    frame = np.random.default_rng(0).integers(0, 256, (256, 256), dtype=np.uint8)
    out = {}
    for variant in (v for v in BENCH_VARIANTS if v.name in names):
        net, x = Segmenter(None, backend=variant.backend, threads=threads, options=variant.options).prepare(frame)
        out[variant.name] = lambda net=net, x=x[None]: net.run(x)
    return out


def time_slices(present: dict, rounds: int, seconds: float) -> dict[str, list[float]]:
    """fps per slice for the present variants; absent ones sleep through their slice."""
    for call in present.values():
        call()
    fps: dict[str, list[float]] = {name: [] for name in present}
    order, rng = list(VARIANTS), random.Random(0)
    for _ in range(rounds):
        rng.shuffle(order)
        for name in order:
            start = time.perf_counter()
            if name not in present:
                time.sleep(seconds)
                continue
            count = 0
            while time.perf_counter() - start < seconds:
                present[name]()
                count += 1
            fps[name].append(count / (time.perf_counter() - start))
    return fps


def child(mode: str, args: argparse.Namespace) -> dict[str, float]:
    command = [sys.executable, __file__, "--mode", mode, "--threads", str(args.threads), "--rounds",
               str(args.rounds), "--seconds", str(args.seconds)]
    done = subprocess.run(command, capture_output=True, text=True, check=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=30)
    parser.add_argument("--seconds", type=float, default=0.1, help="per variant and round")
    parser.add_argument("--repeats", type=int, default=2, help="sets of processes, modes alternating")
    parser.add_argument("--emulate-isa", choices=sorted(ISA_CAPS), default=None)
    parser.add_argument("--mode", default=None, help=argparse.SUPPRESS)  # a child: "together" or a variant
    args = parser.parse_args()
    cap = isa_cap(args.emulate_isa) if args.emulate_isa else None
    if cap is not None and not cap_in_environ(cap):
        check_emulation(cap)
        return subprocess.run([sys.executable, *sys.argv], env=capped_environ(cap), check=False).returncode
    if args.mode:
        names = list(VARIANTS) if args.mode == "together" else [args.mode]
        fps = time_slices(calls(names, args.threads), args.rounds, args.seconds)
        print(json.dumps({name: statistics.median(values) for name, values in fps.items()}))
        return 0
    together: dict[str, list[float]] = {name: [] for name in VARIANTS}
    alone: dict[str, list[float]] = {name: [] for name in VARIANTS}
    for repeat in range(args.repeats):
        modes = ["together", *VARIANTS]
        for mode in modes if repeat % 2 == 0 else modes[::-1]:
            for name, value in child(mode, args).items():
                (together if mode == "together" else alone)[name].append(value)
    where = f"{cap.label} kernels emulated on this host, " if cap else ""
    print(f"batch 1, 256x256, {args.threads} threads, {where}{args.repeats} x {args.rounds} rounds of "
          f"{args.seconds} s slices; median fps per process")
    print(f"{'variant':<16}{'alone':>24}{'together':>24}{'together/alone':>16}")
    for name in VARIANTS:
        a, t = statistics.median(alone[name]), statistics.median(together[name])
        print(f"{name:<16}{' '.join(f'{v:.1f}' for v in alone[name]):>24}"
              f"{' '.join(f'{v:.1f}' for v in together[name]):>24}{t / a:>16.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
