"""OpenVINO settings and graph forms that `lwirst bench` does not sweep, side by side on the shipped model.

    python benchmarks/bench_openvino_settings.py [--threads 2] [--rounds 20] [--seconds 1]
        [--size 512 640] [--emulate-isa avx2]

Part 1, batch 1: the fast network (BN folded, LeakyRelu, grey input folded) compiled with the
LATENCY hint and a static shape as `Segmenter` does, against the same with CPU pinning, denormal
flushing, OpenVINO's snippets fusion disabled, the THROUGHPUT hint on one stream, dynamic shapes,
the sub-pixel decoder (`Options.subpixel`), and convolutions pinned to oneDNN's older blocked-layout
jit kernels instead of brgconv; a second copy of the default shows how far two identical
configurations drift apart in one run. Part 2, video batch: a batch as parallel single-frame
streams (the default) against one batched request. Rounds interleave the variants in alternating
order; the table gives mean (what a long video sees), median, min and per-round wins against the
first variant. Only figures from one run compare.

`--size H W` times frames of that size at their own resolution (the large-frame protocol).
`--emulate-isa avx2` reruns this script in a child process whose runtimes are capped to AVX2
(`lwirst.hostcpu`): AVX2 kernels on this host, not a measurement of an AVX2 host.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from lwirst.hostcpu import ISA_CAPS, cap_in_environ, capped_environ, check_emulation, cpu_flags, host_kind, isa_cap

# Layer types whose kernel the "blocked jit" variant pins.
CONVOLUTIONS = ("Convolution", "GroupConvolution", "ConvolutionBackpropData")


def frame(size: tuple[int, int]) -> np.ndarray:
    return np.random.default_rng(0).integers(0, 256, size, dtype=np.uint8)  # content does not change speed


def fast_network(threads: int, size: tuple[int, int], subpixel: bool = False):
    """The network and input `Segmenter`'s fast OpenVINO path runs for one shipped-model frame of `size`."""
    from lwirst.inference import FAST, Segmenter

    segmenter = Segmenter(None, backend="openvino", threads=threads, options=FAST.replace(subpixel=subpixel))
    net, x = segmenter.prepare(frame(size))
    return net.model.clone(), np.ascontiguousarray(x[None])


def pinned_to_jit(model, isa: str):
    """`model` with every convolution asking for oneDNN's jit kernel of `isa` (blocked layouts).

    The CPU plugin reads the PrimitivesPriority attribute as an IR attribute, so the model goes
    through an IR file and back.
    """
    import openvino as ov

    for op in model.get_ordered_ops():
        if op.get_type_name() in CONVOLUTIONS:
            op.get_rt_info()["PrimitivesPriority"] = f"cpu:jit_{isa}"
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "pinned.xml"
        ov.save_model(model, path, compress_to_fp16=False)
        return ov.Core().read_model(path)


def setting_calls(threads: int, size: tuple[int, int], isa: str) -> dict[str, Callable[[], object]]:
    import openvino as ov

    core = ov.Core()
    model, x = fast_network(threads, size)
    subpixel, _ = fast_network(threads, size, subpixel=True)
    dynamic = model.clone()
    for m in (model, subpixel):
        m.reshape(list(x.shape))
    base = {"INFERENCE_PRECISION_HINT": "f32", "PERFORMANCE_HINT": "LATENCY", "INFERENCE_NUM_THREADS": threads}
    settings = {"default": (model, base), "default (again)": (model, base),
                "cpu pinning": (model, {**base, "ENABLE_CPU_PINNING": True}),
                "denormals flushed": (model, {**base, "CPU_DENORMALS_OPTIMIZATION": True}),
                "snippets disabled": (model, {**base, "SNIPPETS_MODE": "DISABLE"}),
                "throughput, 1 stream": (model, {**base, "PERFORMANCE_HINT": "THROUGHPUT", "NUM_STREAMS": 1}),
                "dynamic shapes": (dynamic, base),
                "sub-pixel decoder": (subpixel, base),
                f"blocked jit_{isa} convs": (pinned_to_jit(model.clone(), isa), base)}
    calls = {}
    for name, (network, config) in settings.items():
        request = core.compile_model(network, "CPU", config).create_infer_request()
        calls[name] = lambda request=request: request.infer({0: x})
    return calls


def batch_calls(threads: int, batch: int, size: tuple[int, int]) -> dict[str, Callable[[], object]]:
    from lwirst.inference import FAST, Segmenter

    calls = {}
    for name, options in (("streams (default)", FAST), ("one request", FAST.replace(streams=False))):
        net, x = Segmenter(None, backend="openvino", threads=threads, options=options).prepare(frame(size))
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
    print(f"{'variant':<26}{'mean fps':>10}{'median':>10}{'min':>10}{'wins vs first':>15}")
    for name, values in fps.items():
        wins = sum(a > b for a, b in zip(values, first, strict=True))
        print(f"{name:<26}{np.mean(values):>10.1f}{np.median(values):>10.1f}{min(values):>10.1f}"
              f"{f'{wins}/{len(values)}':>15}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--batch", type=int, default=8, help="video batch of part 2")
    parser.add_argument("--rounds", type=int, default=20)
    parser.add_argument("--seconds", type=float, default=1.0, help="per variant and round")
    parser.add_argument("--size", type=int, nargs=2, default=(256, 256), metavar=("H", "W"))
    parser.add_argument("--emulate-isa", choices=sorted(ISA_CAPS), default=None)
    args = parser.parse_args()
    cap = isa_cap(args.emulate_isa) if args.emulate_isa else None
    if cap is not None and not cap_in_environ(cap):
        check_emulation(cap)
        return subprocess.run([sys.executable, *sys.argv], env=capped_environ(cap), check=False).returncode
    size = (args.size[0], args.size[1])
    jit = cap.name if cap else "avx512" if host_kind(cpu_flags()).startswith("AVX-512") else "avx2"
    where = f"{size[1]}x{size[0]}" + (f", {cap.label} kernels emulated on this host" if cap else "")
    report(f"batch 1, {args.threads} threads, {where}, OpenVINO settings ({args.rounds} rounds)",
           measure(setting_calls(args.threads, size, jit), 1, args.rounds, args.seconds))
    report(f"batch {args.batch}, {args.threads} threads, {where}, how a batch runs ({args.rounds} rounds)",
           measure(batch_calls(args.threads, args.batch, size), args.batch, args.rounds, args.seconds))
    return 0


if __name__ == "__main__":
    sys.exit(main())
