"""OpenVINO on the CPU plugin: the fastest measured path, with static shapes, streams and bfloat16."""

from __future__ import annotations

import functools
import os
from collections import Counter
from collections.abc import Callable

import numpy as np

from lwirst.backends.base import MAX_STATIC_SHAPES, BackendSpec, NetworkSource, check_channels, importable


@functools.cache
def cpu_has_bf16() -> bool:
    """Whether OpenVINO's CPU plugin computes bfloat16 natively here."""
    if not importable("openvino"):
        return False
    import openvino as ov

    return "BF16" in ov.Core().get_property("CPU", "OPTIMIZATION_CAPABILITIES")


class OpenVinoBackend:
    """OpenVINO CPU; model-size shapes get their own static compilation, and with
    `static_frames` so does every other input size (a sensor's frames, run natively),
    up to `MAX_STATIC_SHAPES` compilations; shapes beyond that share one dynamic one.
    Each compilation keeps its infer request, so a stream of same-size frames reuses
    the request's buffers instead of reallocating per frame.

    A single frame runs one request with the LATENCY hint, all threads on it. With
    `streams`, a batch (video) runs as parallel single-frame requests, one stream of
    one thread per core: small layers parallelise poorly across threads, so frames in
    flight side by side beat one batched request (`lwirst bench` measures both).
    Precision is pinned: OpenVINO silently computes in bfloat16 on CPUs that support it
    unless told otherwise, and fp32 is the reference every path is checked against.
    """

    name = "openvino"

    def __init__(self, data: bytes, threads: int | None = None, *,
                 static_size: tuple[int, int] | None = None, bf16: bool = False, streams: bool = False,
                 static_frames: bool = False) -> None:
        import openvino as ov

        self.core = ov.Core()
        self.model = self.core.read_model(data, b"")
        self.precision = "bf16" if bf16 else "f32"
        self.threads = int(threads) if threads else None
        self.streams = (self.threads or os.cpu_count() or 1) if streams else 1
        self.static_size = static_size
        self.static_frames = static_frames
        self.in_channels = check_channels([d.get_length() if d.is_static else -1
                                           for d in self.model.input(0).get_partial_shape()])
        self._requests: dict[tuple, Callable[[np.ndarray], np.ndarray]] = {}
        self._compilations: list = []  # every compiled model, for `kernels`

    def _compiled(self, shape: tuple[int, ...] | None, streams: int):
        model = self.model
        if shape is not None:
            model = self.model.clone()
            model.reshape(list(shape))
        config: dict[str, object] = {"INFERENCE_PRECISION_HINT": self.precision}
        if streams > 1:
            config.update(PERFORMANCE_HINT="THROUGHPUT", NUM_STREAMS=streams, INFERENCE_NUM_THREADS=streams)
        else:
            config["PERFORMANCE_HINT"] = "LATENCY"
            if self.threads:
                config["INFERENCE_NUM_THREADS"] = self.threads
        compiled = self.core.compile_model(model, "CPU", config)
        self._compilations.append(compiled)
        return compiled

    def kernels(self) -> Counter[str]:
        """Nodes per "layer type: primitive" over every model compiled so far ("Convolution:
        brgconv_avx2_f32"): which instruction set the CPU plugin really chose, e.g. under a cap."""
        counts: Counter[str] = Counter()
        for compiled in self._compilations:
            for op in compiled.get_runtime_model().get_ordered_ops():
                info = op.get_rt_info()
                primitive = info["primitiveType"].astype(str) if "primitiveType" in info else "unknown"
                if not primitive.startswith("unknown"):  # constants, inputs, reshapes: no kernel
                    counts[f"{info['layerType'].astype(str)}: {primitive}"] += 1
        return counts

    def _single(self, shape: tuple[int, ...] | None) -> Callable[[np.ndarray], np.ndarray]:
        import openvino as ov

        request = self._compiled(shape, 1).create_infer_request()

        def infer(batch: np.ndarray) -> np.ndarray:
            # Zero-copy input; the output buffer is reused by the next call, so copy it out.
            request.set_input_tensor(ov.Tensor(np.ascontiguousarray(batch), shared_memory=True))
            request.infer()
            return request.get_output_tensor().data.copy()

        return infer

    def _parallel(self, shape: tuple[int, ...] | None) -> Callable[[np.ndarray], np.ndarray]:
        import openvino as ov

        queue = ov.AsyncInferQueue(self._compiled(shape, self.streams), self.streams)
        outputs: dict[int, np.ndarray] = {}
        queue.set_callback(lambda request, index: outputs.__setitem__(index, request.get_output_tensor().data.copy()))

        def infer(batch: np.ndarray) -> np.ndarray:
            batch = np.ascontiguousarray(batch)  # stays alive until wait_all: zero-copy is safe
            outputs.clear()
            for index in range(len(batch)):
                queue.start_async(ov.Tensor(batch[index:index + 1], shared_memory=True), index)
            queue.wait_all()
            return np.concatenate([outputs[index] for index in range(len(batch))])

        return infer

    def run(self, batch: np.ndarray) -> np.ndarray:
        parallel = self.streams > 1 and len(batch) > 1
        shape = (1, *batch.shape[1:]) if parallel else tuple(batch.shape)
        wanted = self.static_frames or (self.static_size is not None and tuple(batch.shape[2:]) == self.static_size)
        compiled = sum(key[1] is not None for key in self._requests)
        static = wanted and ((parallel, shape) in self._requests or compiled < MAX_STATIC_SHAPES)
        key = (parallel, shape if static else None)
        if key not in self._requests:
            self._requests[key] = (self._parallel if parallel else self._single)(key[1])
        return self._requests[key](batch)


def build(source: NetworkSource) -> OpenVinoBackend:
    options = source.options
    static = source.size if options.static_shapes and not source.native else None
    return OpenVinoBackend(source.onnx(), source.threads, static_size=static, bf16=options.bf16,
                           streams=options.streams, static_frames=options.static_shapes)


# Preferred first: the fastest measured by `lwirst bench` (batch 1, 2 threads: ~2x ONNX Runtime with the
# same rewrites). bf16 looks the host probe up at call time, so a test can stand in for another CPU.
SPEC = BackendSpec(name="openvino", package="openvino", runtime="openvino", build=build, int8=True,
                   bf16=lambda: cpu_has_bf16(), preference=10,
                   threads="INFERENCE_NUM_THREADS per compiled model; one stream per thread for batches")
