"""Post-processing and frame-pipeline speed (prints figures; not a test).

1. Eqs. 2-4 on a 256x256 logit map with 50 targets: median ms over many runs
   (target <= 1 ms), with the default mask growth and without it (the paper's masks),
   beside the per-label full-frame-mask loop of the published code for comparison.
2. The whole frame pipeline at 256x256 as the commands run it (scale consensus by
   default): PNG decode + model + post-processing + tracking + drawing, in frames per
   second (target >= 25 fps on 2 cores).

    python benchmarks/bench_postprocess.py [--runs 2000] [--frames 200] [--backend auto] [--threads 2]
        [--confirm 1.5|off]
"""

from __future__ import annotations

import argparse
import os
import statistics
import time

import cv2
import numpy as np

from lwirst.commands.segment import confirm_value
from lwirst.consensus import DEFAULT_SCALE, describe
from lwirst.drawing import overlay
from lwirst.inference import DEFAULT_MODEL, Segmenter
from lwirst.pipeline import FramePipeline
from lwirst.postprocess import TargetFilter, detect
from lwirst.tracking import Tracker


def synthetic_map(targets: int = 50, size: int = 256, seed: int = 0) -> np.ndarray:
    """Logits with `targets` separate blobs of 1-12 px on a background below 0."""
    rng = np.random.default_rng(seed)
    logits = rng.normal(-6.0, 1.0, (size, size)).astype(np.float32)
    cells = rng.choice((size // 16) ** 2, targets, replace=False)
    for cell in cells:
        y, x = divmod(int(cell), size // 16)
        h, w = rng.integers(1, 4, 2)
        logits[y * 16 + 4:y * 16 + 4 + h, x * 16 + 4:x * 16 + 4 + w] = rng.uniform(0.5, 6.0)
    return logits


def per_label_loop(logits: np.ndarray, threshold: float = 0.0) -> list[tuple[int, float, float]]:
    """The published approach: one full-frame mask per label (O(area x targets))."""
    count, labels = cv2.connectedComponents((logits > threshold).astype(np.uint8), connectivity=8)
    out = []
    for i in range(1, count):
        where = labels == i
        out.append((int(where.sum()), float(logits[where].max()), float(logits[where].mean())))
    return out


def median_ms(fn, runs: int) -> float:
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times) * 1e3


def frames(count: int, size: int = 256) -> list[bytes]:
    """PNG-encoded IR-like frames with three moving targets (decoding is part of the timing)."""
    rng = np.random.default_rng(1)
    yy, xx = np.mgrid[0:size, 0:size]
    encoded = []
    for f in range(count):
        image = rng.normal(60, 6, (size, size))
        for k, (vx, vy) in enumerate(((1.5, 0.5), (-1.0, 1.0), (0.7, -1.2))):
            cx, cy = (40 + 60 * k + vx * f) % size, (80 + 40 * k + vy * f) % size
            image += 150 * np.exp(-((xx - cx) ** 2 + (yy - cy) ** 2) / 3.0)
        ok, data = cv2.imencode(".png", np.clip(image, 0, 255).astype(np.uint8))
        assert ok
        encoded.append(data.tobytes())
    return encoded


class Timed:
    """Segmenter wrapper that remembers how long the last network call took."""

    def __init__(self, inner: Segmenter) -> None:
        self.inner, self.last = inner, 0.0

    def predict(self, image: np.ndarray):
        start = time.perf_counter()
        out = self.inner.predict(image)
        self.last = time.perf_counter() - start
        return out

    def predict_batch(self, images: list[np.ndarray]):
        return [self.predict(image) for image in images]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=2000)
    parser.add_argument("--frames", type=int, default=200)
    parser.add_argument("--backend", default="auto")
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--confirm", type=confirm_value, default=DEFAULT_SCALE, metavar="SCALE|off",
                        help="scale consensus of the pipeline's network runs (default: the commands' own)")
    parser.add_argument("--model", default=None,
                        help="checkpoint or .onnx (default: the shipped model, else an untrained network, "
                             "whose noisy output is a worst case for post-processing)")
    args = parser.parse_args()

    logits = synthetic_map()
    flt = TargetFilter(min_size=1, max_size=100, min_ratio=0.2, max_ratio=5)
    found = detect(logits)
    print(f"post-processing, 256x256 map, {len(found)} targets ({len(found.filter(flt))} kept), "
          f"{os.cpu_count()} CPUs, cv2 threads {cv2.getNumThreads()}")
    ours = median_ms(lambda: detect(logits).filter(flt), args.runs)
    print(f"  lwirst.postprocess (threshold + 8-CCL + features + Eq. 4, masks grown as by default): {ours:.3f} ms "
          f"median over {args.runs}")
    plain = median_ms(lambda: detect(logits, grow_to=None).filter(flt), args.runs)
    print(f"  the same without mask growth (the paper's Eq. 2 masks):                 {plain:.3f} ms")
    naive = median_ms(lambda: per_label_loop(logits), max(50, args.runs // 20))
    print(f"  per-label full-frame masks (published code's approach):   {naive:.3f} ms")

    model = args.model or (DEFAULT_MODEL if DEFAULT_MODEL.exists() else None)
    if model is None:
        import torch

        from lwirst.model import LWIRSTNet

        torch.manual_seed(0)
        segmenter = Segmenter(LWIRSTNet().eval(), backend=args.backend, threads=args.threads, confirm=args.confirm)
    else:
        segmenter = Segmenter(model, backend=args.backend, threads=args.threads, confirm=args.confirm)
    timed = Timed(segmenter)
    pipeline = FramePipeline(timed, target_filter=TargetFilter(min_size=1), tracker=Tracker())
    data = frames(args.frames)
    stages = {"decode": 0.0, "model": 0.0, "postprocess+track": 0.0, "draw": 0.0}
    targets = 0
    for warm in data[:5]:
        pipeline.process(cv2.imdecode(np.frombuffer(warm, np.uint8), cv2.IMREAD_UNCHANGED))
    pipeline.reset()
    start = time.perf_counter()
    for encoded in data:
        t0 = time.perf_counter()
        image = cv2.imdecode(np.frombuffer(encoded, np.uint8), cv2.IMREAD_UNCHANGED)
        t1 = time.perf_counter()
        result = pipeline.process(image)
        t2 = time.perf_counter()
        overlay(image, result.kept, result.tracks, fps=0.0)
        t3 = time.perf_counter()
        stages["decode"] += t1 - t0
        stages["postprocess+track"] += t2 - t1 - timed.last
        stages["model"] += timed.last
        stages["draw"] += t3 - t2
        targets += len(result.kept)
    total = time.perf_counter() - start
    name = os.path.basename(str(model)) if model is not None else "untrained LWIRSTNet"
    print(f"frame pipeline, 256x256, {name}, backend {segmenter.backend_name}, {describe(args.confirm)}, "
          f"threads {args.threads or 'default'}: {len(data) / total:.1f} fps over {len(data)} frames")
    print("  per frame: " + ", ".join(f"{k} {v / len(data) * 1e3:.2f} ms" for k, v in stages.items())
          + f"; {targets / len(data):.1f} targets kept per frame")


if __name__ == "__main__":
    main()
