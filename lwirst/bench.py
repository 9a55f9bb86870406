"""Side-by-side throughput of every backend and optimisation, measured in one run.

Machine noise (other processes, frequency changes) easily moves one configuration
by 2x between runs, so no figure here is compared across runs: every variant is
timed in short slices, interleaved in a shuffled order over several rounds, and
reported as a ratio to the baseline measured in the same run. The baseline is a
plain `torch.onnx.export` of the same weights on ONNX Runtime with default session
options and the same thread count.

Per variant: model-only throughput and latency (the network call on a prepared
input), end-to-end throughput and latency (frame in -> preprocessing -> network
-> resize back -> threshold and 8-connected targets), SIRST-val mIoU (pixel IoU
over the split, logits > 0 at each image's own resolution; val, not test: the int8 and bf16 verdicts
rest on it, and test chooses nothing) and the largest logit
difference from PyTorch eager. The arithmetic ceiling is conv MACs against the
cores' fp32 FMA peak (`CpuPeak`).

The report names the host kind (AVX2 / AVX-512 / AVX-512+bf16, `lwirst.hostcpu`). int8
variants are refused on CPUs without VNNI (their int8 dot products saturate in 16 bits)
unless named in `variants`, and any int8 variant is reported "not usable" unless the
CPU has VNNI, it loses at most INT8_MAX_LOSS mIoU and it beats the best float path.

`emulate` (`lwirst bench --emulate-isa avx2`) times another host kind's kernels on this one:
the run must be in a process whose environment caps the runtimes (`lwirst.hostcpu.ISA_CAPS`;
the CLI starts one), the ceiling counts that ISA's FMA width at this host's clock, every row
says whether its runtime really ran capped (OpenVINO's chosen primitives, PyTorch's and
OpenCV's dispatch; ONNX Runtime cannot be capped) and the report and bars are labelled
emulated: the cores, caches and clock are still this host's.

The last table times what the commands run by default, scale consensus (`lwirst.consensus`: a
second run of each frame, enlarged), against one run per frame: the default variant end to end,
on the benchmark frames and at each frame size, the two calls timed in adjacent pairs.

`frame_sizes` adds sensor-size frames (the scored images upscaled): batch 1, a few fast
variants and the baseline, each under the default large-frame protocol (a pyramid
above twice the model's area: native size and half of it), with model-only fps (every
run of a frame: both levels of a pyramid) and end-to-end fps against the ceiling scaled
to the network inputs' total area, timed interleaved per size after the main run.
"""

from __future__ import annotations

import dataclasses
import itertools
import logging
import os
import random
import time
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

import cv2
import numpy as np
import torch

from lwirst.backends import (
    FAST,
    PLAIN,
    Options,
    available_backends,
    backend_names,
    default_backend,
    get_backend,
    preference,
)
from lwirst.complexity import count_complexity
from lwirst.consensus import DEFAULT_MIRROR, DEFAULT_SCALE, flops_factor
from lwirst.errors import LwirstError
from lwirst.hostcpu import NO_VNNI, IsaCap, cap_in_environ, cpu_flags, host_kind, int8_hazard, isa_cap
from lwirst.imageio import to_gray
from lwirst.inference import Segmenter
from lwirst.metrics import PixelMetrics
from lwirst.models import build_model
from lwirst.postprocess import detect

log = logging.getLogger(__name__)

BASELINE = "baseline"
REFERENCE = "torch"
MIOU_TOLERANCE = 0.002
INT8_MAX_LOSS = 0.01
# The split whose mIoU the int8 and bf16 verdicts read (test chooses nothing), and the disjoint one int8 calibrates on
SCORE_SPLIT, CALIBRATION_SPLIT = "val", "train"
# Sensor-size bar (issue #22): 640x512 frames, 2 threads, default large-frame protocol.
SENSOR_SIZE = (512, 640)
SENSOR_E2E_FPS = 25.0
SENSOR_CEILING_SHARE = 0.6
DEFAULT_PROTOCOL = "auto"  # what every command runs unless told: the Segmenter resolves it per frame size
# Variants timed at the --size frame sizes (a full sweep at 1280x1024 would take minutes).
FRAME_VARIANTS = ("ort-fast", "ort-subpixel", "openvino-fast", "openvino-subpixel")
FRAME_SAMPLES = 8
QUICK_PAIRS = 5  # timed (model-only, end-to-end) pairs per cell in a --quick run: fewer let one slow call decide
# Under emulation, what each row's runtime ran (JSON "kernels", the table's last column).
CAPPED, NOT_CAPPED, ABOVE_CAP = "capped", "not capped", "above the cap"
CV_CPU_AVX_512F = 13  # cv::CPU_AVX_512F, for cv2.checkHardwareSupport


@dataclass(frozen=True)
class Variant:
    """One way of running the network: a backend and the optimisations applied."""

    name: str
    backend: str
    options: Options
    note: str


VARIANTS: tuple[Variant, ...] = (
    Variant(BASELINE, "onnxruntime", PLAIN, "plain torch.onnx.export, ORT default session options"),
    Variant(REFERENCE, "torch", PLAIN, "PyTorch eager, the network as trained (reference)"),
    Variant("torch-fast", "torch", FAST.replace(channels_last=True),
            "eager, BN + input folded, channels-last"),
    Variant("ort-bnfold", "onnxruntime", PLAIN.replace(fold_bn=True), "BN folded (stage 1 included)"),
    Variant("ort-leaky", "onnxruntime", PLAIN.replace(fold_bn=True, rewrite=True),
            "+ scalar PReLU -> LeakyRelu, constants folded"),
    Variant("ort-nospin", "onnxruntime", PLAIN.replace(fold_bn=True, rewrite=True, spin=False),
            "+ worker threads do not busy-wait"),
    Variant("ort-fast", "onnxruntime", FAST, "+ normalisation and grey channels folded into stage 1"),
    Variant("ort-subpixel", "onnxruntime", FAST.replace(subpixel=True),
            "ort-fast with each stride-2 deconv as 4 phase convs + DepthToSpace (no zero taps)"),
    Variant("opencv", "opencv", PLAIN, "OpenCV DNN, plain export"),
    Variant("opencv-fast", "opencv", FAST, "OpenCV DNN, all exact rewrites"),
    Variant("openvino", "openvino", PLAIN, "OpenVINO LATENCY hint, plain export, dynamic shapes"),
    Variant("openvino-static", "openvino", PLAIN.replace(static_shapes=True),
            "plain export compiled for the model input shape"),
    Variant("openvino-onerequest", "openvino", FAST.replace(streams=False),
            "+ BN folded, rewrites, input folded; a batch is one request"),
    Variant("openvino-fast", "openvino", FAST, "the same; a batch runs as parallel frames, one stream per thread"),
    Variant("openvino-subpixel", "openvino", FAST.replace(subpixel=True),
            "openvino-fast with each stride-2 deconv as 4 phase convs + DepthToSpace (no zero taps)"),
    Variant("openvino-bf16", "openvino", FAST.replace(bf16=True),
            "openvino-fast computing in bfloat16 (native AVX512_BF16/AMX only)"),
    Variant("ort-int8-u8", "onnxruntime", FAST.replace(int8="u8"), "QDQ int8, u8 asymmetric activations"),
    Variant("ort-int8-s8", "onnxruntime", FAST.replace(int8="s8"), "QDQ int8, s8 symmetric activations"),
    Variant("openvino-int8-s8", "openvino", FAST.replace(int8="s8"), "the s8 QDQ network on OpenVINO"),
)


def all_variants() -> tuple[Variant, ...]:
    """VARIANTS, then one row per registered backend that has none (named after it, with the options
    `Segmenter` gives it by default), so a backend added to the registry is timed with no edit here."""
    covered = {v.backend for v in VARIANTS}
    extra = tuple(Variant(name, name, FAST if get_backend(name).runs_onnx else PLAIN,
                          f"registered backend {name}, the options backend auto would give it")
                  for name in preference() if name not in covered)
    return VARIANTS + extra


@dataclass(frozen=True)
class CpuPeak:
    """fp32 FMA peak of this CPU, read from /proc/cpuinfo; `assumption` says how."""

    model: str
    cores: int
    ghz: float
    isa: str
    fma_units: int
    lanes: int
    flops_per_lane: int
    assumption: str
    kind: str = "other"  # lwirst.hostcpu.HOST_KINDS
    int8_hazard: str | None = None  # why int8 is inaccurate here (no VNNI), None when it has VNNI
    emulated: str | None = None  # the IsaCap name when the kernels are capped below this host's ISA
    emulation: str = ""  # the label every emulated result carries

    @property
    def flops_per_cycle(self) -> int:
        return self.fma_units * self.lanes * self.flops_per_lane

    def gflops(self, threads: int) -> float:
        return min(threads, self.cores) * self.ghz * self.flops_per_cycle


def detect_cpu(cpuinfo: str | None = None, cores: int | None = None, emulate: IsaCap | None = None) -> CpuPeak:
    """Clock and FMA width from /proc/cpuinfo (flags, vendor, family, cpu MHz).

    Assumes two FMA units per core. AVX-512 counts 16 fp32 lanes, except on AMD
    family 0x19 (Zen 4) which executes 512-bit FMAs on 256-bit units (8 lanes);
    AVX2 + FMA counts 8 lanes x 2 flops; without FMA a multiply and an add issue
    separately (1 flop per lane per unit). The clock is the reported "cpu MHz"
    (nominal for a VM; turbo may be higher, which would only raise the ceiling).
    With `emulate`, the peak is that ISA's (its lanes x 2 FMA units x 2 flops) at this
    host's clock, and the peak carries the label of an emulated run.
    """
    if cpuinfo is None:
        try:
            cpuinfo = Path("/proc/cpuinfo").read_text()
        except OSError:
            cpuinfo = ""
    fields: dict[str, str] = {}
    mhz: list[float] = []
    for line in cpuinfo.splitlines():
        key, _, value = line.partition(":")
        key, value = key.strip(), value.strip()
        if key == "cpu MHz":
            mhz.append(float(value))
        fields.setdefault(key, value)
    flags = set(fields.get("flags", "").split())
    amd_zen4 = fields.get("vendor_id") == "AuthenticAMD" and fields.get("cpu family") == "25"
    if "avx512f" in flags and not amd_zen4:
        isa, lanes, per = "AVX-512 + FMA", 16, 2
    elif "avx512f" in flags:
        isa, lanes, per = "AVX-512 on 256-bit units (AMD Zen 4) + FMA", 8, 2
    elif "avx2" in flags and "fma" in flags:
        isa, lanes, per = "AVX2 + FMA", 8, 2
    elif "avx" in flags:
        isa, lanes, per = "AVX (no FMA)", 8, 1
    else:
        isa, lanes, per = "SSE or unknown", 4, 1
    ghz = max(mhz) / 1000.0 if mhz else 2.0
    if cores is None:
        cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    clock = "cpu MHz from /proc/cpuinfo" if mhz else "clock unknown, assumed 2.0 GHz"
    assumption = (f"{isa}: 2 FMA units x {lanes} fp32 lanes x {per} flops per cycle per core, "
                  f"{ghz:.2f} GHz ({clock})")
    flags_seen = cpu_flags(cpuinfo)
    model = fields.get("model name", "unknown CPU")
    if emulate is None:
        return CpuPeak(model, cores, ghz, isa, 2, lanes, per, assumption, host_kind(flags_seen),
                       int8_hazard(flags_seen))
    kind = host_kind(flags_seen)
    label = (f"{emulate.label} kernels emulated on {model} ({kind}): not a measurement of an {emulate.label} "
             f"host (this host's cores, caches and clock); ONNX Runtime's MLAS is not capped, so its rows, the "
             "baseline included, run faster than on such a host and ratios to the baseline are pessimistic")
    return CpuPeak(model, cores, ghz, f"{emulate.label} + FMA (emulated)", 2, emulate.lanes, 2,
                   f"{emulate.label} + FMA, emulated: 2 FMA units x {emulate.lanes} fp32 lanes x 2 flops per cycle "
                   f"per core, {ghz:.2f} GHz (this host's {clock})", kind, NO_VNNI, emulate.name, label)


@dataclass
class Timing:
    """Per-call latencies of one (variant, threads, batch, mode) cell."""

    frames_per_call: int
    latencies: list[float] = field(default_factory=list)

    @property
    def fps(self) -> float:
        total = sum(self.latencies)
        return self.frames_per_call * len(self.latencies) / total if total else 0.0

    def percentile_ms(self, q: float) -> float:
        return float(np.percentile(self.latencies, q) * 1e3) if self.latencies else 0.0


@dataclass
class Result:
    """One row of the report (and of the JSON)."""

    name: str
    backend: str
    batch: int
    threads: int
    fps: float
    p50_ms: float
    p95_ms: float
    e2e_fps: float
    e2e_p50_ms: float
    e2e_p95_ms: float
    mIoU: float | None  # the JSON key the issue names
    max_abs_diff: float | None
    targets_equal: float | None
    precision: str
    note: str
    ratio: float = 0.0
    ceiling_share: float = 0.0
    frame: tuple[int, int] | None = None  # frame size (H, W) for --size rows; None: the model-size run
    protocol: str = "resize"
    net_size: tuple[int, int] | None = None  # the network's input (H, W) for --size rows (a pyramid's first run)
    net_pixels: int | None = None  # network input pixels per frame, every run counted (a pyramid's two)
    measured_share: float | None = None  # paired median of model/e2e latency (`paired_share`); None: fps ratio

    @property
    def measured_pipeline_share(self) -> float:
        """End-to-end over model-only speed as measured (above 1 only through timing noise)."""
        if self.measured_share is not None:
            return self.measured_share
        return self.e2e_fps / self.fps if self.fps else 0.0

    @property
    def pipeline_share(self) -> float:
        """What end-to-end keeps of model-only speed, capped at 1: the pipeline contains the network call."""
        return min(1.0, self.measured_pipeline_share)


@dataclass(frozen=True)
class ConsensusRow:
    """One variant's end-to-end speed with the commands' default scale consensus against one run per frame.

    `kept` is the median over adjacent (one run, consensus) call pairs of their latency ratio: what
    consensus keeps of the one-run frame rate, measured under the same machine state (`paired_share`).
    """

    variant: str
    frame: tuple[int, int] | None  # (H, W) of a --size row; None: the benchmark frames as they are
    protocol: str
    threads: int
    scale: float
    once_fps: float
    consensus_fps: float
    kept: float | None
    mirrored: bool = False  # the default's mirrored run confirmed these (large) frames too

    @property
    def flops_share(self) -> float:
        """What the FLOPs alone predict consensus keeps: 1 / (1 + scale²), 1 / (2 + scale²) with the mirror."""
        return 1.0 / flops_factor(self.scale, self.mirrored)


@dataclass
class BenchConfig:
    model: Path | None = None
    data_dir: Path | None = None
    threads: Sequence[int] = (1, 2)
    batches: Sequence[int] = (1, 8)
    seconds: float = 1.0
    rounds: int = 5
    quick: bool = False
    variants: Sequence[str] | None = None
    size: tuple[int, int] = (256, 256)
    frame_sizes: Sequence[tuple[int, int]] = ()
    calibration_images: int = 32
    seed: int = 0
    emulate: str | None = None  # an ISA_CAPS name: time that ISA's kernels (in a capped process)


@dataclass
class BenchReport:
    config: dict
    cpu: CpuPeak
    conv_macs: float
    model: str
    random_weights: bool
    results: list[Result]
    skipped: dict[str, str]
    load: tuple[list[float], list[float]]
    frames: str
    dense_macs: float = 0.0  # conv MACs without a strided deconvolution's zero taps (information only)
    frame_results: list[Result] = field(default_factory=list)  # the --size rows
    # Under emulation: per variant, what its runtime ran ("kernels": CAPPED, NOT_CAPPED or ABOVE_CAP, and for
    # OpenVINO the primitives it chose and those above the cap); None for a native run.
    emulation: dict[str, dict] | None = None
    consensus: list[ConsensusRow] = field(default_factory=list)  # the default path with and without consensus

    @property
    def cap(self) -> IsaCap | None:
        """The ISA cap the kernels ran under; None for a native run."""
        return isa_cap(self.cpu.emulated) if self.cpu.emulated else None

    def kernels(self, name: str) -> str | None:
        """Whether variant `name` ran on capped kernels (None for a native run)."""
        return None if self.emulation is None else self.emulation[name]["kernels"]

    def frame_ceiling_fps(self, threads: int, net_pixels: int, precision: str = "fp32") -> float:
        """The ceiling for frames fed to the network as `net_pixels` input pixels in all: conv MACs scale with
        the input area."""
        model_area = self.config["size"][0] * self.config["size"][1]
        return self.ceiling_fps(threads, precision) * model_area / net_pixels

    def int8_usability(self) -> dict[str, dict]:
        """Per int8 variant: usable only with VNNI, <= INT8_MAX_LOSS mIoU loss and faster than floats.

        Judged at batch 1 and the bar's thread count, as the bars are.
        """
        threads = _bar_threads(self.config)
        reference = self.row(REFERENCE, 1, threads)
        floats = [r for r in (self.best(1, threads), self.best(1, threads, "bf16")) if r is not None]
        top_float = max(floats, key=lambda r: r.fps, default=None)
        out: dict[str, dict] = {}
        for r in self.results:
            if not r.precision.startswith("int8") or (r.batch, r.threads) != (1, threads):
                continue
            ref_miou = _informative(reference.mIoU if reference is not None else None)
            loss = ref_miou - r.mIoU if ref_miou is not None and r.mIoU is not None else None
            reasons = [self.cpu.int8_hazard] if self.cpu.int8_hazard else []
            if loss is None:
                reasons.append("mIoU loss unknown (" + ("the PyTorch reference finds no target pixel)"
                                                        if reference is not None and reference.mIoU == 0
                                                        else f"no SIRST {SCORE_SPLIT} data)"))
            elif loss > INT8_MAX_LOSS:
                reasons.append(f"loses {loss:.3f} mIoU (> {INT8_MAX_LOSS})")
            if top_float is not None and r.fps <= top_float.fps:
                reasons.append(f"not faster than {top_float.name} ({r.fps:.0f} vs {top_float.fps:.0f} fps)")
            out[r.name] = {"usable": not reasons, "mIoU_loss": loss, "reasons": reasons}
        return out

    def ceiling_fps(self, threads: int, precision: str = "fp32") -> float:
        """Conv MACs against the FMA peak; native bfloat16 dot products do two MACs per fp32 lane."""
        return self.cpu.gflops(threads) * 1e9 / (2.0 * self.conv_macs) * (2.0 if precision == "bf16" else 1.0)

    def best(self, batch: int, threads: int, precision: str = "fp32") -> Result | None:
        rows = [r for r in self.results if r.batch == batch and r.threads == threads
                and r.precision == precision and self.contender(r)]
        return max(rows, key=lambda r: r.fps, default=None)

    def contender(self, row: Result) -> bool:
        """Whether a row can be the fastest path: not the baseline, and under emulation only rows whose
        runtime really ran capped (an uncapped ONNX Runtime row measures this host's ISA, not the emulated one)."""
        return row.name != BASELINE and self.kernels(row.name) in (None, CAPPED)

    def row(self, name: str, batch: int, threads: int) -> Result | None:
        return next((r for r in self.results if (r.name, r.batch, r.threads) == (name, batch, threads)), None)

    def bars(self) -> dict[str, dict]:
        """The issue's acceptance bars, evaluated on this run."""
        threads = _bar_threads(self.config)
        reference = self.row(REFERENCE, 1, threads)
        ref_miou = reference.mIoU if reference else None
        out: dict[str, dict] = {}

        def path_bar(row: Result) -> dict:
            # agreement with a reference that finds nothing (0 against 0) says nothing: untested, not met
            miou_ok = (None if _informative(ref_miou) is None else
                       row.mIoU is not None and abs(row.mIoU - ref_miou) <= MIOU_TOLERANCE)
            return {"variant": row.name, "precision": row.precision, "threads": threads, "fps": row.fps,
                    "ratio": row.ratio, "ratio_met": row.ratio >= 3.0, "mIoU": row.mIoU, "torch_mIoU": ref_miou,
                    "mIoU_met": miou_ok, "ceiling_fps": self.ceiling_fps(threads, row.precision),
                    "ceiling_share": row.ceiling_share, "fp32_ceiling_share": row.fps / self.ceiling_fps(threads),
                    "ceiling_met": row.ceiling_share >= 0.7,
                    "pipeline_share": row.pipeline_share, "pipeline_met": row.pipeline_share >= 0.9,
                    "pipeline_measured": row.measured_pipeline_share,
                    "pipeline_capped": row.measured_pipeline_share > 1.0}

        best = self.best(1, threads)
        if best is not None:
            out["fastest_float"] = path_bar(best)
        best_bf16 = self.best(1, threads, "bf16")
        if best_bf16 is not None:
            out["fastest_bf16"] = path_bar(best_bf16)
        default = self.row(default_variant(), 1, threads)
        if default is not None:
            out["default_path"] = path_bar(default)
        batched = [b for b in self.config["batches"] if b > 1]
        base1 = self.row(BASELINE, 1, threads)
        for b, precision in itertools.product(batched, ("fp32", "bf16")):
            top = self.best(b, threads, precision)
            if top is not None and base1 is not None and base1.fps:
                key = f"batch_{b}" + ("" if precision == "fp32" else f"_{precision}")
                out[key] = {"variant": top.name, "precision": precision, "fps": top.fps,
                                     "ratio_to_batch1_baseline": top.fps / base1.fps,
                                     "ratio_to_same_batch_baseline": top.ratio,
                                     "met": top.fps / base1.fps >= 3.0}
        for b in self.config["batches"]:
            int8 = [r for r in self.results if r.precision.startswith("int8") and r.batch == b
                    and r.threads == threads]
            floats = [r for r in (self.best(b, threads), self.best(b, threads, "bf16")) if r is not None]
            if not int8 or not floats:
                continue
            top_float = max(floats, key=lambda r: r.fps)
            top8 = max(int8, key=lambda r: r.fps)
            known = _informative(ref_miou)
            loss = known - top8.mIoU if known is not None and top8.mIoU is not None else None
            out[f"int8_batch_{b}"] = {
                "variant": top8.name, "float_variant": top_float.name,
                "speedup_vs_best_float": top8.fps / top_float.fps, "mIoU_loss": loss,
                "ship": (top8.fps > top_float.fps and loss is not None and loss <= INT8_MAX_LOSS
                         and self.cpu.int8_hazard is None)}
        for frame in sorted({r.frame for r in self.frame_results if r.frame is not None}):
            rows = [r for r in self.frame_results if r.frame == frame and r.threads == threads
                    and r.precision == "fp32" and self.contender(r)]
            top = max(rows, key=lambda r: r.e2e_fps, default=None)
            if top is None or top.net_size is None or top.net_pixels is None:
                continue
            ceiling = self.frame_ceiling_fps(threads, top.net_pixels)
            bar = {"variant": top.name, "frame": list(frame), "protocol": top.protocol,
                   "net_size": list(top.net_size), "net_pixels": top.net_pixels, "threads": threads,
                   "fps": top.fps, "e2e_fps": top.e2e_fps, "ratio": top.ratio, "ceiling_fps": ceiling,
                   "ceiling_share": top.fps / ceiling}
            if tuple(frame) == SENSOR_SIZE:
                bar.update(e2e_met=top.e2e_fps >= SENSOR_E2E_FPS, ceiling_met=top.fps / ceiling >= SENSOR_CEILING_SHARE)
            out[f"frame_{frame[0]}x{frame[1]}"] = bar
        if self.cpu.emulated:
            for bar in out.values():
                bar["emulated"] = self.cpu.emulation
        return out

    def to_json(self) -> dict:
        return {
            "config": self.config, "model": self.model, "random_weights": self.random_weights,
            "host_kind": self.cpu.kind, "int8_hazard": self.cpu.int8_hazard,
            "frames": self.frames, "cpu": {**asdict(self.cpu), "flops_per_cycle": self.cpu.flops_per_cycle},
            "conv_macs": self.conv_macs, "dense_macs": self.dense_macs,
            "ceiling_fps": {str(t): self.ceiling_fps(t) for t in self.config["threads"]},
            "load_average": {"start": self.load[0], "end": self.load[1]}, "busy": self.busy(),
            "emulation": None if self.emulation is None else {
                "isa": self.cpu.emulated, "label": self.cpu.emulation, "variants": self.emulation},
            "results": [self._row_json(r) for r in self.results],
            "frame_results": [self._row_json(r) for r in self.frame_results],
            "consensus": [{**asdict(r), "flops_share": r.flops_share} for r in self.consensus],
            "int8": self.int8_usability(),
            "skipped": self.skipped, "bars": self.bars(), "engines": engine_table(),
        }

    def _row_json(self, r: Result) -> dict:
        row = {**asdict(r), "pipeline_share": r.pipeline_share}
        if self.cpu.emulated:
            row.update(emulated=self.cpu.emulated, kernels=self.kernels(r.name))
        return row

    def table(self) -> str:
        """The side-by-side table and the bars, as plain text."""
        vw, bw = _width(21, (r.name for r in self.results)), _width(12, (r.backend for r in self.results))
        head = (f"{'variant':<{vw}}{'backend':<{bw}}{'thr':>4}{'batch':>6}{'fps':>8}{'p50 ms':>8}{'p95 ms':>8}"
                f"{'e2e fps':>9}{'e2e p50':>8}{'e2e p95':>8}{'e2e/mod':>8}{'mIoU':>8}{'max|dz|':>9}{'x base':>8}")
        cap = self.cap
        emulated = cap is not None
        if emulated:
            head += f"  {'kernels':<13}"
        kind = self.cpu.kind + (f" (kernels capped to {cap.label}: emulated)" if cap else "")
        lines = [f"EMULATED: {self.cpu.emulation}"] if emulated else []
        if self.config.get("quick"):
            lines.append(f"QUICK SMOKE RUN (--quick): about {QUICK_PAIRS} timed calls per cell, mIoU on 4 SIRST "
                         f"{SCORE_SPLIT} images and int8 calibration on 4 {CALIBRATION_SPLIT} images: it checks that "
                         "every variant runs; its speeds, ratios, losses and bars are not measurements")
        lines += [f"model: {self.model}" + ("  (random weights: mIoU is not meaningful)"
                                            if self.random_weights else ""),
                  f"cpu: {self.cpu.model}, {self.cpu.cores} cores; {self.cpu.assumption}",
                  f"host kind: {kind}; int8: "
                  + (f"not usable here: {self.cpu.int8_hazard}" if self.cpu.int8_hazard
                     else "VNNI present (32-bit int8 accumulation)"),
                  f"frames: {self.frames}",
                  f"load average at start {self.load[0]}, at end {self.load[1]}"
                  + (f"  WARNING: {self.busy()}: other work shared the CPU, so the speeds, ratios and verdicts "
                     "below are not measurements of this host; run again on a quiet machine" if self.busy() else ""),
                  "engines (lwirst.backends):"]
        engines = engine_table()
        ew = _width(12, engines)
        for name, row in engines.items():
            where = "installed" if row["installed"] else f"not installed (pip install {row['package']})"
            lines.append(f"  {name:<{ew}}{where}; {', '.join(row['capabilities'])}; threads: {row['threads']}")
        lines += ["", head, "-" * len(head)]
        for r in self.results:
            miou = f"{r.mIoU:.4f}" if r.mIoU is not None else "-"
            diff = f"{r.max_abs_diff:.1e}" if r.max_abs_diff is not None else "-"
            lines.append(f"{r.name:<{vw}}{r.backend:<{bw}}{r.threads:>4}{r.batch:>6}{r.fps:>8.1f}{r.p50_ms:>8.2f}"
                         f"{r.p95_ms:>8.2f}{r.e2e_fps:>9.1f}{r.e2e_p50_ms:>8.2f}{r.e2e_p95_ms:>8.2f}"
                         f"{r.pipeline_share:>8.2f}{miou:>8}{diff:>9}"
                         f"{r.ratio:>8.2f}" + (f"  {self.kernels(r.name)}" if emulated else ""))
        lines.append("")
        lines.append("latencies are per call (one batch); fps counts frames; e2e = frame -> preprocessing -> "
                     "network -> logits at frame size -> targets; max|dz| = largest logit difference from "
                     f"PyTorch over SIRST {SCORE_SPLIT}; x base = fps / baseline fps at the same threads and batch; "
                     "e2e/mod = end-to-end over model-only speed, from the medians of paired calls (the fps "
                     f"columns are means, which one slow call moves); mIoU = SIRST {SCORE_SPLIT} (in-sample for a "
                     "model trained on trainval, as the shipped one is: it compares paths of one model, it is no "
                     "accuracy) resized to the model size and run once (no scale consensus, no mask growth): the "
                     "int8 and bf16 losses are measured so, while `lwirst evaluate` scores the defaults")
        notes = {r.name: r.note for r in self.results}
        lines.extend(f"  {name:<21}{note}" for name, note in notes.items())
        lines.extend(self._emulation_notes())
        for t in self.config["threads"]:
            lines.append(f"arithmetic ceiling, {t} thread(s): {self.conv_macs / 1e6:.1f} M conv MACs per frame "
                         f"at {self.cpu.gflops(t):.0f} GFLOP/s -> {self.ceiling_fps(t):.0f} fps"
                         + (f" (bfloat16: {self.ceiling_fps(t, 'bf16'):.0f} fps)"
                            if any(r.precision == "bf16" for r in self.results) else ""))
        if 0 < self.dense_macs < self.conv_macs:
            lines.append(f"  (the paper's count: transposed convs per output pixel; without their zero taps a frame "
                         f"is {self.dense_macs / 1e6:.1f} M MACs, a {self.conv_macs / self.dense_macs:.2f}x higher "
                         "ceiling; the bars use the paper's count)")
        for name, reason in self.skipped.items():
            lines.append(f"skipped {name}: {reason}")
        lines.extend(self._frame_table())
        lines.extend(self._consensus_table())
        for name, verdict in self.int8_usability().items():
            lines.append(f"int8 {name}: " + ("usable" if verdict["usable"]
                                             else "not usable: " + "; ".join(verdict["reasons"])))
        lines.append("")
        lines.extend(_format_bars(self.bars(), self.cpu, self.busy()))
        return "\n".join(lines)

    def busy(self) -> str:
        """Why this run's timings are no measurement of the host, or "": other work held more cores than it has
        (the load average at the start or the end above the core count), so one stray slow call can move a mean
        and turn a verdict (two back-to-back runs under load read 3.35x and 2.41x)."""
        load = max((*self.load[0][:1], *self.load[1][:1]), default=0.0)  # the 1-minute averages
        if load <= self.cpu.cores:
            return ""
        return f"the load average ({load:g}) exceeded this host's {self.cpu.cores} cores"

    def _emulation_notes(self) -> list[str]:
        """What the kernels column means, and every OpenVINO primitive that escaped the cap."""
        if self.emulation is None or self.cap is None:
            return []
        label = self.cap.label
        lines = [f"kernels (emulation): {CAPPED} = the runtime ran {label} kernels (OpenVINO's primitives, PyTorch's "
                 f"and OpenCV's dispatch, read back from them); {NOT_CAPPED} = ONNX Runtime, which has no ISA cap; "
                 f"{ABOVE_CAP} = some kernels used wider instructions than {label}"]
        for name, seen in self.emulation.items():
            if seen.get("above_cap"):
                lines.append(f"  {name}: {ABOVE_CAP}: {', '.join(seen['above_cap'])}")
        return lines

    def _frame_table(self) -> list[str]:
        if not self.frame_results:
            return []
        vw = _width(19, (r.name for r in self.frame_results))
        head = (f"{'frame':<11}{'variant':<{vw}}{'protocol':<9}{'net in':>18}{'thr':>4}{'fps':>8}{'p50 ms':>8}"
                f"{'e2e fps':>9}{'e2e p50':>8}{'e2e/mod':>8}{'x base':>8}{'ceiling':>9}{'share':>7}"
                + (f"  {'kernels':<13}" if self.emulation is not None else ""))
        lines = ["", "sensor-size frames (batch 1; model-only and end-to-end with targets on the full frame):",
                 head, "-" * len(head)]
        for r in self.frame_results:
            if r.frame is None or r.net_size is None or r.net_pixels is None:
                continue
            ceiling = self.frame_ceiling_fps(r.threads, r.net_pixels, r.precision)
            net_in = f"{r.net_size[1]}x{r.net_size[0]}" + (" + more" if r.net_pixels > r.net_size[0] * r.net_size[1]
                                                            else "")
            lines.append(f"{r.frame[1]}x{r.frame[0]:<7}{r.name:<{vw}}{r.protocol:<9}"
                         f"{net_in:>18}{r.threads:>4}{r.fps:>8.1f}{r.p50_ms:>8.2f}"
                         f"{r.e2e_fps:>9.1f}{r.e2e_p50_ms:>8.2f}{r.pipeline_share:>8.2f}{r.ratio:>8.2f}"
                         f"{ceiling:>9.0f}{r.fps / ceiling * 100:>6.0f}%"
                         + (f"  {self.kernels(r.name)}" if self.emulation is not None else ""))
        lines.append("frame = W x H; net in = the first run's network input (+ more: a pyramid's half-size run too, "
                     "timed in fps); ceiling = the model-size ceiling scaled by every run's input area")
        return lines

    def _consensus_table(self) -> list[str]:
        if not self.consensus:
            return []
        vw = _width(19, (r.variant for r in self.consensus))
        head = (f"{'frame':<11}{'variant':<{vw}}{'protocol':<9}{'thr':>4}{'once fps':>10}{'consensus fps':>15}"
                f"{'kept':>7}{'FLOPs say':>11}")
        scale = self.consensus[0].scale
        mirror = any(r.mirrored for r in self.consensus)
        also = " (large frames also mirrored)" if mirror else ""
        lines = ["", f"scale consensus at {scale:g}x{also}, the default of evaluate, segment, video, demo and the "
                 "dashboard (batch 1, end-to-end; `--confirm off` runs the network once):", head, "-" * len(head)]
        for r in self.consensus:
            kept = "-" if r.kept is None else f"{r.kept * 100:.0f}%"
            frame = "as given" if r.frame is None else f"{r.frame[1]}x{r.frame[0]}"
            lines.append(f"{frame:<11}{r.variant:<{vw}}{r.protocol:<9}{r.threads:>4}"
                         f"{r.once_fps:>10.1f}{r.consensus_fps:>15.1f}{kept:>7}{r.flops_share * 100:>10.0f}%")
        lines.append(f"kept = paired median of one-run over consensus latency; FLOPs say = 1 / (1 + {scale:g}²)"
                     + (f" (1 / (2 + {scale:g}²) with the mirrored run)" if mirror else "")
                     + ", the share the confirmation runs leave if time followed arithmetic")
        return lines


def _width(least: int, names: Iterable[str]) -> int:
    """A column's width: `least`, or the longest name and a space (a backend added under a longer name than the
    built-in ones pushed every column after it out of line)."""
    return max(least, *(len(name) + 1 for name in names))


def _format_bars(bars: dict[str, dict], cpu: CpuPeak, busy: str = "") -> list[str]:
    """The bars as text; under emulation, or on a busy host (`busy`: why), each verdict says so, never "met"
    alone."""
    suffix = " under emulation" if cpu.emulated else ""
    suffix += "; busy host, not a measurement" if busy else ""

    def mark(ok: bool | None, untested: str = "the PyTorch reference finds no target pixel") -> str:
        if ok is None:
            return f"untested: {untested}"
        return ("met" if ok else "NOT met") + suffix

    def above(share: float) -> str:  # the ceiling is priced at the nominal clock, which a boosting CPU passes
        return " (above the ceiling: this CPU ran faster than the clock it assumes)" if share > 1.0 else ""

    lines = []
    if cpu.emulated and bars:
        label = isa_cap(cpu.emulated).label
        lines.append(f"bars judged on {label} kernels emulated on this {cpu.kind} host, not on an {label} host "
                     f"(fastest paths chosen among rows that ran capped):")
    for key, title in (("fastest_float", "fastest fp32 path"), ("fastest_bf16", "fastest bfloat16 path"),
                       ("default_path", "default path (backend auto)")):
        if key not in bars:
            continue
        b = bars[key]
        miou = ("n/a" if b["mIoU"] is None else f"{b['mIoU']:.4f} vs torch "
                + ("n/a" if b["torch_mIoU"] is None else f"{b['torch_mIoU']:.4f}"))
        untested = (f"no SIRST {SCORE_SPLIT} data to score" if b["mIoU"] is None
                    else "no PyTorch reference ran: it needs a checkpoint" if b["torch_mIoU"] is None
                    else "the PyTorch reference finds no target pixel")
        lines += [
            f"{title}, batch 1, {b['threads']} threads: {b['variant']} at {b['fps']:.1f} fps",
            f"  {b['ratio']:.2f}x baseline (bar 3x: {mark(b['ratio_met'])}); mIoU {miou} "
            f"(bar within {MIOU_TOLERANCE}: {mark(b['mIoU_met'], untested)})",
            f"  {b['ceiling_share'] * 100:.1f}% of the {b['ceiling_fps']:.0f} fps {b['precision']} ceiling"
            f"{above(b['ceiling_share'])} (bar 70%: {mark(b['ceiling_met'])})"
            + (f", {b['fp32_ceiling_share'] * 100:.0f}% of the fp32 one" if b["precision"] != "fp32" else "")
            + f"; end-to-end keeps {b['pipeline_share'] * 100:.1f}% of model-only fps"
            + (f" (capped: measured {b['pipeline_measured'] * 100:.1f}%, timing noise, as the pipeline contains "
               "the network call)" if b.get("pipeline_capped") else "")
            + f" (bar 90%: {mark(b['pipeline_met'])})",
        ]
    for key, b in bars.items():
        if key.startswith("batch_"):
            lines.append(f"video mode {key.replace('_', ' ')}: {b['variant']} {b['fps']:.1f} fps = "
                         f"{b['ratio_to_batch1_baseline']:.2f}x the batch-1 baseline "
                         f"({b['ratio_to_same_batch_baseline']:.2f}x the same-batch one; bar 3x: {mark(b['met'])})")
    for key, b in bars.items():
        if key.startswith("frame_"):
            frame = f"{b['frame'][1]}x{b['frame'][0]}"
            line = (f"{frame} frames, batch 1, {b['threads']} threads ({b['protocol']} protocol): {b['variant']} "
                    f"{b['e2e_fps']:.1f} fps end-to-end, {b['fps']:.1f} fps model-only = "
                    f"{b['ceiling_share'] * 100:.0f}% of the {b['ceiling_fps']:.0f} fps ceiling for that size"
                    f"{above(b['ceiling_share'])}")
            if "e2e_met" in b:
                line += (f" (bars: >= {SENSOR_E2E_FPS:.0f} fps end-to-end: {mark(b['e2e_met'])}; "
                         f">= {SENSOR_CEILING_SHARE * 100:.0f}% of the ceiling: {mark(b['ceiling_met'])})")
            lines.append(line)
    for key, b in bars.items():
        if key.startswith("int8_"):
            loss = "n/a" if b["mIoU_loss"] is None else f"{b['mIoU_loss']:+.4f}"
            lines.append(f"int8, {key[5:].replace('_', ' ')}: {b['variant']} runs at "
                         f"{b['speedup_vs_best_float']:.2f}x the best float path ({b['float_variant']}), "
                         f"mIoU loss {loss} (bar: faster and <= {INT8_MAX_LOSS}): "
                         f"{'worth shipping' if b['ship'] else 'not worth shipping'}")
    return lines


def int8_refusal(variant: Variant, cpu: CpuPeak, requested: Sequence[str]) -> str | None:
    """Why the bench refuses to time an int8 variant here (no VNNI), unless it was asked for by name."""
    if not variant.options.int8 or cpu.int8_hazard is None or variant.name in requested:
        return None
    return f"not usable: {cpu.int8_hazard} (name it in --variants to time it anyway)"


def _informative(reference_miou: float | None) -> float | None:
    """The PyTorch reference's mIoU when it can judge another path's accuracy: a model that finds no target
    pixel (mIoU 0, e.g. random weights) agrees with any other that finds none, which tests nothing."""
    return reference_miou if reference_miou is not None and reference_miou > 0 else None


def _bar_threads(config: dict) -> int:
    """The thread count the bars are judged at: 2 when measured, else the most measured."""
    return 2 if 2 in config["threads"] else max(config["threads"])


def engine_table() -> dict[str, dict]:
    """The registered backends as the report states them: package, installed here, capabilities, threads."""
    table = {}
    for name in backend_names():
        spec = get_backend(name)
        table[name] = {"package": spec.package, "installed": spec.installed,
                       "capabilities": list(spec.capabilities()), "threads": spec.threads}
    return table


def default_variant() -> str:
    """The variant that `Segmenter(backend="auto")` runs here."""
    backend = default_backend()
    options = FAST if get_backend(backend).runs_onnx else PLAIN
    return next(v.name for v in all_variants() if (v.backend, v.options) == (backend, options))


def synthetic_frames(count: int, size: tuple[int, int] = (240, 320), seed: int = 0) -> list[np.ndarray]:
    """Grey IR-like frames (noisy background, a few small bright blobs) for runs without data."""
    rng = np.random.default_rng(seed)
    frames = []
    for _ in range(count):
        frame = rng.normal(90, 12, size).astype(np.float32)
        for _ in range(3):
            y, x = rng.integers(8, size[0] - 8), rng.integers(8, size[1] - 8)
            cv2.circle(frame, (int(x), int(y)), int(rng.integers(1, 4)), 230.0, -1)
        frames.append(np.clip(frame, 0, 255).astype(np.uint8))
    return frames


def _load_split(data_dir: Path | None, split: str, limit: int | None = None) -> list:
    from lwirst.datasets import open_dataset

    dataset = open_dataset(data_dir, "sirst", split)
    indices = range(len(dataset))
    if limit is not None and limit < len(dataset):
        indices = np.linspace(0, len(dataset) - 1, limit).round().astype(int)
    return [dataset[int(i)] for i in indices]


def _find_data(data_dir: Path | None) -> Path | None:
    """The SIRST root to score on: --data-dir, else $LWIRST_DATA_DIR; None (timings only) without either (a
    developer's path served as a default, and the same command read other data on another machine)."""
    given = data_dir or os.environ.get("LWIRST_DATA_DIR")
    root = Path(given) if given else None
    if root is not None and not (root / "sirst" / "images").is_dir():  # a mistyped setting, not "no data"
        log.warning("%s=%s holds no sirst/images folder: timing synthetic frames, with no mIoU",
                    "--data-dir" if data_dir else "LWIRST_DATA_DIR", given)
        return None
    return root


def _load_model(path: Path | None, seed: int) -> tuple[torch.nn.Module | None, str, bool]:
    from lwirst.checkpoint import load_model
    from lwirst.paths import DEFAULT_MODEL

    if path is not None and path.suffix.lower() == ".onnx":
        return None, str(path), False
    if path is None and not DEFAULT_MODEL.exists():
        torch.manual_seed(seed)
        return build_model().eval(), f"random LWIRSTNet (seed {seed})", True
    path = path or DEFAULT_MODEL
    module, _ = load_model(path)
    return module, str(path), False


def run_bench(config: BenchConfig, progress: Callable[[str], None] | None = None) -> BenchReport:
    """Build every variant, time them interleaved, score them on SIRST val; see the module docstring."""
    say = progress or log.info
    load_start = [round(v, 2) for v in os.getloadavg()]
    module, model_name, random_weights = _load_model(config.model, config.seed)
    data_root = _find_data(config.data_dir)
    installed = set(available_backends())
    cap = isa_cap(config.emulate) if config.emulate else None
    if cap is not None and not cap_in_environ(cap):
        raise LwirstError(f"emulating {cap.label} needs a process started with the runtimes capped "
                          f"({', '.join(f'{k}={v}' for k, v in cap.env)}); lwirst bench --emulate-isa starts one")
    cpu = detect_cpu(emulate=cap)
    skipped: dict[str, str] = {}
    variants = []
    named = {v.backend for v in VARIANTS}
    for v in all_variants():
        if module is None and v.backend not in named and v.options.fold_input:
            # a registered backend's row runs what `Segmenter` runs: an ONNX file's input is not folded
            v = dataclasses.replace(v, options=v.options.replace(fold_input=False), note=f"{v.note} (ONNX file: "
                                    "input not folded)")
        if config.variants and v.name not in (*config.variants, BASELINE, REFERENCE):
            continue
        refusal = int8_refusal(v, cpu, config.variants or ())
        if refusal:
            skipped[v.name] = refusal
        elif cap is not None and v.options.bf16:
            skipped[v.name] = f"no native bfloat16 on an {cap.label} host"
        elif v.backend not in installed:
            skipped[v.name] = f"{v.backend} is not installed"
        elif module is None and (not get_backend(v.backend).runs_onnx or v.options.fold_input):
            skipped[v.name] = "needs a checkpoint, not an ONNX file"
        elif v.options.int8 and data_root is None:
            skipped[v.name] = "int8 calibration needs the SIRST training images"
        else:
            variants.append(v)

    scored = _load_split(data_root, SCORE_SPLIT, 4 if config.quick else None) if data_root else []
    calibration = []
    if data_root and any(v.options.int8 for v in variants):
        limit = 4 if config.quick else config.calibration_images
        calibration = [s.image for s in _load_split(data_root, CALIBRATION_SPLIT, limit)]
    if scored:
        frames = [to_gray(s.image) for s in scored]
        frames_note = (f"{len(frames)} SIRST {SCORE_SPLIT} images, timed as 8-bit grey frames (IR sensors deliver "
                       "grey) and scored as stored (some are colour), as `lwirst evaluate` scores them")
    else:
        frames = synthetic_frames(16)
        frames_note = "16 synthetic 240x320 grey frames (no SIRST data found)"

    source = module if module is not None else config.model
    segmenters: dict[tuple[str, int], Segmenter] = {}
    for v in variants:
        for t in config.threads:
            say(f"building {v.name} ({t} thread{'s' * (t > 1)})")
            try:
                segmenters[v.name, t] = Segmenter(source, backend=v.backend, size=config.size, threads=t,
                                                  options=v.options, calibration=calibration or None)
            except LwirstError as exc:
                skipped[v.name] = str(exc)
                break
    variants = [v for v in variants if v.name not in skipped]

    scores = _score(variants, segmenters, scored, config, say)
    timings = _time_cells(variants, segmenters, frames, config, say)

    results = []
    for v in variants:
        for t in config.threads:
            for b in config.batches:
                model_t, e2e_t = timings[v.name, t, b, "model"], timings[v.name, t, b, "e2e"]
                miou, diff, equal = scores.get(v.name, (None, None, None))
                results.append(Result(
                    v.name, v.backend, b, t, model_t.fps, model_t.percentile_ms(50), model_t.percentile_ms(95),
                    e2e_t.fps, e2e_t.percentile_ms(50), e2e_t.percentile_ms(95), miou, diff, equal,
                    v.options.precision, v.note, measured_share=paired_share(model_t, e2e_t)))
    complexity = count_complexity(module if module is not None else build_model(), config.size)
    report = BenchReport(
        config={"threads": list(config.threads), "batches": list(config.batches), "seconds": config.seconds,
                "rounds": config.rounds, "size": list(config.size), "quick": config.quick,
                "frame_sizes": [list(f) for f in config.frame_sizes]},
        cpu=cpu, conv_macs=complexity.conv_macs, model=model_name, random_weights=random_weights,
        results=results, skipped=skipped, load=(load_start, [round(v, 2) for v in os.getloadavg()]),
        frames=frames_note, dense_macs=complexity.dense_macs)
    for r in results:
        base = report.row(BASELINE, r.batch, r.threads)
        r.ratio = r.fps / base.fps if base and base.fps else 0.0
        r.ceiling_share = r.fps / report.ceiling_fps(r.threads, r.precision)
    used = {v.name: [segmenters[v.name, t] for t in config.threads] for v in variants}
    if config.frame_sizes:
        report.frame_results = _time_frame_sizes(source, variants, frames, config, say, used)
        for r in report.frame_results:
            base = next((b for b in report.frame_results if (b.name, b.frame, b.threads) ==
                         (BASELINE, r.frame, r.threads)), None)
            r.ratio = r.fps / base.fps if base and base.fps else 0.0
            if r.net_pixels is not None:
                r.ceiling_share = r.fps / report.frame_ceiling_fps(r.threads, r.net_pixels, r.precision)
    report.consensus = _time_consensus(source, variants, frames, config, say, used)
    if cap is not None:
        report.emulation = {name: kernel_evidence(next(v for v in variants if v.name == name), segs, cap)
                            for name, segs in used.items()}
    return report


def kernel_evidence(variant: Variant, segmenters: Sequence[Segmenter], cap: IsaCap) -> dict:
    """What one variant's runtime really ran under a cap, read from the runtime itself.

    OpenVINO: the primitive of every node it compiled (any name holding one of `cap.above`
    is beyond the cap); PyTorch: the ATen dispatch level; OpenCV: whether its AVX-512 paths
    are still enabled. ONNX Runtime cannot be capped.
    """
    if variant.backend == "openvino":
        from lwirst.backends.openvino_cpu import OpenVinoBackend

        counts = sum((s.backend.kernels() for s in segmenters if isinstance(s.backend, OpenVinoBackend)),
                     Counter())
        above = sorted(k for k in counts if any(mark in k.lower() for mark in cap.above))
        return {"kernels": ABOVE_CAP if above else CAPPED, "primitives": dict(sorted(counts.items())),
                "above_cap": above}
    if variant.backend == "torch":
        level = torch.backends.cpu.get_cpu_capability()
        return {"kernels": CAPPED if level.lower() == cap.name else ABOVE_CAP, "aten": level}
    if variant.backend == "opencv":
        avx512 = bool(cv2.checkHardwareSupport(CV_CPU_AVX_512F))
        return {"kernels": ABOVE_CAP if avx512 else CAPPED, "avx512_enabled": avx512}
    return {"kernels": NOT_CAPPED}


def _time_frame_sizes(source: torch.nn.Module | Path | None, variants: Sequence[Variant],
                      frames: list[np.ndarray], config: BenchConfig,
                      say: Callable[[str], None], used: dict[str, list[Segmenter]]) -> list[Result]:
    """Batch-1 model-only and end-to-end fps at each sensor frame size, interleaved per size.

    Frames are the benchmark frames upscaled to the size (a sensor delivers them whole);
    each variant runs the default large-frame protocol, so a big frame goes through the
    network at its own resolution (and at half of it, for targets larger than SIRST's) and its
    targets are found on the full-size map. The
    segmenters built are added to `used` (variant name -> segmenters).
    """
    chosen = [v for v in variants if v.name == BASELINE or v.name in FRAME_VARIANTS]
    one = BenchConfig(threads=config.threads, batches=(1,), seconds=config.seconds, rounds=config.rounds,
                      quick=config.quick, seed=config.seed)
    rows: list[Result] = []
    for frame in config.frame_sizes:
        h, w = frame
        protocol = DEFAULT_PROTOCOL
        sized = [cv2.resize(f, (w, h), interpolation=cv2.INTER_LINEAR) for f in frames[:FRAME_SAMPLES]]
        segmenters: dict[tuple[str, int], Segmenter] = {}
        kept = []
        for v in chosen:
            try:
                for t in config.threads:
                    segmenters[v.name, t] = Segmenter(source, backend=v.backend, size=config.size, threads=t,
                                                      protocol=protocol, options=v.options)
                    used[v.name].append(segmenters[v.name, t])
                kept.append(v)
            except LwirstError as exc:
                say(f"skipping {v.name} at {w}x{h}: {exc}")
        say(f"{w}x{h} frames ({protocol} protocol): {', '.join(v.name for v in kept)}")
        timings = _time_cells(kept, segmenters, sized, one, say)
        for v in kept:
            for t in config.threads:
                inputs = [x.shape[1:] for _, x in segmenters[v.name, t].prepare_runs(sized[0])]
                net_hw = inputs[0]
                model_t, e2e_t = timings[v.name, t, 1, "model"], timings[v.name, t, 1, "e2e"]
                rows.append(Result(
                    v.name, v.backend, 1, t, model_t.fps, model_t.percentile_ms(50), model_t.percentile_ms(95),
                    e2e_t.fps, e2e_t.percentile_ms(50), e2e_t.percentile_ms(95), None, None, None,
                    v.options.precision, v.note, frame=(h, w), protocol=protocol,
                    net_size=(int(net_hw[0]), int(net_hw[1])), net_pixels=sum(int(np.prod(hw)) for hw in inputs),
                    measured_share=paired_share(model_t, e2e_t)))
    return rows


def _time_consensus(source: torch.nn.Module | Path | None, variants: Sequence[Variant], frames: list[np.ndarray],
                    config: BenchConfig, say: Callable[[str], None],
                    used: dict[str, list[Segmenter]]) -> list[ConsensusRow]:
    """End-to-end fps of the default path with the commands' default scale consensus and with one run,
    on the benchmark frames and at each --size, at the bars' thread count, timed in adjacent pairs.

    The variant is the `auto` default when it was timed, else the first variant asked for: the row
    answers "what does the default cost on this host", which a one-run table cannot.
    """
    names = [v.name for v in variants]
    wanted = [default_variant(), *(n for n in names if n not in (BASELINE, REFERENCE)), REFERENCE]
    name = next((n for n in wanted if n in names), None)
    if name is None or DEFAULT_SCALE is None:
        return []
    variant = next(v for v in variants if v.name == name)
    threads = _bar_threads({"threads": list(config.threads)})
    one = BenchConfig(threads=(threads,), batches=(1,), seconds=config.seconds, rounds=config.rounds,
                      quick=config.quick, seed=config.seed)
    sets = [(None, frames[:FRAME_SAMPLES])] + [
        ((h, w), [cv2.resize(f, (w, h), interpolation=cv2.INTER_LINEAR) for f in frames[:FRAME_SAMPLES]])
        for h, w in config.frame_sizes]
    cells: dict[tuple, tuple[Callable[[], object], Callable[[], object]]] = {}
    protocols, mirrored = {}, {}
    for frame, sized in sets:
        protocols[frame] = protocol = DEFAULT_PROTOCOL
        try:
            pair = [Segmenter(source, backend=variant.backend, size=config.size, threads=threads, protocol=protocol,
                              options=variant.options, confirm=confirm, mirror=mirror)
                    for confirm, mirror in ((None, False), (DEFAULT_SCALE, DEFAULT_MIRROR))]
        except LwirstError as exc:
            say(f"no consensus row for {name}: {exc}")
            return []
        if pair[1].confirm is None:  # a fixed-size ONNX graph runs once whatever is asked
            say(f"no consensus row for {name}: its graph cannot take the enlarged second run")
            return []
        used[name].extend(pair)
        mirrored[frame] = pair[1].mirrors(sized[0].shape[:2])
        for segmenter, image in itertools.product(pair, sized):
            segmenter.predict(image)  # untimed: a runtime's first sight of a frame's shape compiles (as _score warms)
        cells[frame, threads, 1] = (_e2e_step(pair[0], sized, 1), _e2e_step(pair[1], sized, 1))
    say(f"timing {name} with and without scale consensus at {DEFAULT_SCALE:g}x")
    timings = time_pairs(cells, one, say)  # its "model" slot holds the one-run call, "e2e" the consensus one
    rows = []
    for frame, protocol in protocols.items():
        once, both = timings[frame, threads, 1, "model"], timings[frame, threads, 1, "e2e"]
        rows.append(ConsensusRow(name, frame, protocol, threads, DEFAULT_SCALE, once.fps, both.fps,
                                 paired_share(once, both), mirrored[frame]))
    return rows


def _score(variants: Sequence[Variant], segmenters: dict[tuple[str, int], Segmenter], scored: list,
           config: BenchConfig, say: Callable[[str], None]) -> dict[str, tuple[float, float | None, float | None]]:
    """mIoU on SIRST val per variant, with the max logit difference and mask agreement vs PyTorch."""
    if not scored:
        return {}
    reference: list[np.ndarray] | None = None
    ordered = sorted(variants, key=lambda v: v.name != REFERENCE)
    scores = {}
    for v in ordered:
        say(f"scoring {v.name} on {len(scored)} SIRST {SCORE_SPLIT} images")
        segmenter = segmenters[v.name, min(config.threads)]  # logits do not depend on threads
        metric = PixelMetrics()
        logits = []
        for sample in scored:
            out = segmenter.predict(sample.image).logits
            metric.update(out, sample.mask)
            logits.append(out)
        if v.name == REFERENCE:
            reference = logits
        diff = equal = None
        if reference is not None:
            diff = max(float(np.abs(a - b).max()) for a, b in zip(logits, reference, strict=True))
            equal = float(np.mean([np.array_equal(a > 0, b > 0) for a, b in zip(logits, reference, strict=True)]))
        scores[v.name] = (metric.compute().iou, diff, equal)
    return scores


def _time_cells(variants: Sequence[Variant], segmenters: dict[tuple[str, int], Segmenter],
                frames: list[np.ndarray], config: BenchConfig,
                say: Callable[[str], None]) -> dict[tuple, Timing]:
    """Model-only and end-to-end timings of every (variant, threads, batch) cell; see `time_pairs`."""
    cells: dict[tuple, tuple[Callable[[], object], Callable[[], object]]] = {}
    for v in variants:
        for t in config.threads:
            seg = segmenters[v.name, t]
            for b in config.batches:  # model-only: every run of the frame (a pyramid's two), batched b at a time
                batches = [(net, np.ascontiguousarray(np.repeat(x[None], b, axis=0)))
                           for net, x in seg.prepare_runs(frames[0])]
                cells[v.name, t, b] = (lambda batches=batches: [net.run(batch) for net, batch in batches],
                                       _e2e_step(seg, frames, b))
    return time_pairs(cells, config, say)


def time_pairs(cells: dict[tuple, tuple[Callable[[], object], Callable[[], object]]], config: BenchConfig,
               say: Callable[[str], None]) -> dict[tuple, Timing]:
    """Interleaved timing: every round visits every cell in a fresh shuffled order.

    Within a cell's slice, model-only and end-to-end calls are timed in adjacent pairs, so their
    ratio (what the pipeline keeps of the network's speed, `paired_share`) sees the same machine
    state. Each slice starts with one untimed pair, so the cost of switching cells (cold caches,
    sleeping thread pools) falls on no timed call, and the order within a pair alternates, so
    neither call is always the first. Quick runs still time QUICK_PAIRS pairs per cell.
    """
    timings: dict[tuple, Timing] = {}
    for key in cells:
        timings[(*key, "model")] = Timing(key[-1])
        timings[(*key, "e2e")] = Timing(key[-1])
    say(f"warming up {len(cells)} cells")
    for pair in cells.values():
        start = time.perf_counter()
        for _ in range(1 if config.quick else 2):
            for step in pair:
                step()
            if time.perf_counter() - start > config.seconds / 2:
                break
    rounds = 1 if config.quick else max(1, config.rounds)
    budget = config.seconds / rounds
    rng = random.Random(config.seed)
    keys = list(cells)
    for index in range(rounds):
        say(f"timing round {index + 1}/{rounds} ({len(keys)} cells x {budget:.2f} s)")
        rng.shuffle(keys)
        for key in keys:
            records = (timings[(*key, "model")].latencies, timings[(*key, "e2e")].latencies)
            if sum(records[0]) + sum(records[1]) >= config.seconds:
                continue  # a call slower than a round's slice already used the whole budget
            for step in cells[key]:
                step()  # untimed: the switch from the previous cell is paid here
            start = time.perf_counter()
            while True:
                order = (0, 1) if len(records[0]) % 2 == 0 else (1, 0)
                for which in order:
                    t0 = time.perf_counter()
                    cells[key][which]()
                    records[which].append(time.perf_counter() - t0)
                if time.perf_counter() - start >= budget and (not config.quick or len(records[0]) >= QUICK_PAIRS):
                    break
    return timings


def paired_share(model: Timing, e2e: Timing) -> float | None:
    """Median over adjacent call pairs of model-only / end-to-end latency: one stray slow call (another
    process, a clock change) cannot flip the ratio as it can a ratio of two means. None without pairs."""
    pairs = [m / e for m, e in zip(model.latencies, e2e.latencies, strict=False) if e > 0]
    return float(np.median(pairs) * e2e.frames_per_call / model.frames_per_call) if pairs else None


def _e2e_step(segmenter: Segmenter, frames: list[np.ndarray], batch: int) -> Callable[[], None]:
    """Next frame(s) in, targets out: what a video pipeline pays per call."""
    source = itertools.cycle(frames)
    if batch == 1:
        def single() -> None:
            detect(segmenter.predict(next(source)).logits)

        return single

    def batched() -> None:
        group = [next(source) for _ in range(batch)]
        for saliency in segmenter.predict_batch(group, batch_size=batch):
            detect(saliency.logits)

    return batched
