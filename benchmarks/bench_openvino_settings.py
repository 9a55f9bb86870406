"""OpenVINO settings that `lwirst bench` does not sweep, measured side by side on the shipped model.

    python benchmarks/bench_openvino_settings.py [--threads 2] [--rounds 20] [--seconds 1]

Part 1, batch 1: the fast network (BN folded, LeakyRelu, grey input folded) compiled with the
LATENCY hint as `Segmenter` does, against the same with CPU pinning, denormal flushing, or
OpenVINO's snippets fusion disabled; a second copy of the default shows how far two identical
configurations drift apart in one run. Part 2, video batch: a batch as parallel single-frame
streams (the default) against one batched request. Rounds interleave the variants in alternating
order; the table gives mean (what a long video sees), median, min and per-round wins against the
first variant. Only figures from one run compare.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable

import numpy as np
import openvino as ov

from lwirst.inference import FAST, Segmenter

SIZE = (256, 256)
FRAME = np.random.default_rng(0).integers(0, 256, SIZE, dtype=np.uint8)  # content does not change speed


def fast_network(threads: int) -> tuple[ov.Model, np.ndarray]:
    """The network and input `Segmenter`'s fast OpenVINO path runs for one shipped-model frame."""
    net, x = Segmenter(None, backend="openvino", threads=threads, options=FAST).prepare(FRAME)
    model = net.model.clone()
    model.reshape([1, *x.shape])
    return model, np.ascontiguousarray(x[None])


def setting_calls(threads: int) -> dict[str, Callable[[], object]]:
    core = ov.Core()
    model, frame = fast_network(threads)
    base = {"INFERENCE_PRECISION_HINT": "f32", "PERFORMANCE_HINT": "LATENCY", "INFERENCE_NUM_THREADS": threads}
    settings = {"default": base, "default (again)": base,
                "cpu pinning": {**base, "ENABLE_CPU_PINNING": True},
                "denormals flushed": {**base, "CPU_DENORMALS_OPTIMIZATION": True},
                "snippets disabled": {**base, "SNIPPETS_MODE": "DISABLE"}}
    calls = {}
    for name, config in settings.items():
        request = core.compile_model(model, "CPU", config).create_infer_request()
        calls[name] = lambda request=request: request.infer({0: frame})
    return calls


def batch_calls(threads: int, batch: int) -> dict[str, Callable[[], object]]:
    calls = {}
    for name, options in (("streams (default)", FAST), ("one request", FAST.replace(streams=False))):
        net, x = Segmenter(None, backend="openvino", threads=threads, options=options).prepare(FRAME)
        frames = np.ascontiguousarray(np.repeat(x[None], batch, axis=0))
        calls[name] = lambda net=net, frames=frames: net.run(frames)
    return calls


def measure(calls: dict[str, Callable[[], object]], frames_per_call: int, rounds: int,
            seconds: float) -> dict[str, list[float]]:
    """fps per round for each call, visiting the calls in alternating order each round."""
    for call in calls.values():
        call()
    fps: dict[str, list[float]] = {name: [] for name in calls}
    order = list(calls)
    for index in range(rounds):
        for name in order if index % 2 == 0 else order[::-1]:
            start, count = time.perf_counter(), 0
            while time.perf_counter() - start < seconds:
                calls[name]()
                count += frames_per_call
            fps[name].append(count / (time.perf_counter() - start))
    return fps


def report(title: str, fps: dict[str, list[float]]) -> None:
    first = next(iter(fps.values()))
    print(f"\n{title}")
    print(f"{'variant':<20}{'mean fps':>10}{'median':>10}{'min':>10}{'wins vs first':>15}")
    for name, values in fps.items():
        wins = sum(a > b for a, b in zip(values, first, strict=True))
        print(f"{name:<20}{np.mean(values):>10.1f}{np.median(values):>10.1f}{min(values):>10.1f}"
              f"{f'{wins}/{len(values)}':>15}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--batch", type=int, default=8, help="video batch of part 2")
    parser.add_argument("--rounds", type=int, default=20)
    parser.add_argument("--seconds", type=float, default=1.0, help="per variant and round")
    args = parser.parse_args()
    report(f"batch 1, {args.threads} threads, OpenVINO settings ({args.rounds} rounds)",
           measure(setting_calls(args.threads), 1, args.rounds, args.seconds))
    report(f"batch {args.batch}, {args.threads} threads, how a batch runs ({args.rounds} rounds)",
           measure(batch_calls(args.threads, args.batch), args.batch, args.rounds, args.seconds))


if __name__ == "__main__":
    main()
