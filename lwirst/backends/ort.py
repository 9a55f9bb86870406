"""ONNX Runtime on the CPU execution provider: the portable fast path, and auto's fallback."""

from __future__ import annotations

import numpy as np

from lwirst.backends.base import BackendSpec, NetworkSource, check_channels


class OrtBackend:
    name = "onnxruntime"

    def __init__(self, data: bytes, threads: int | None = None, *, spin: bool = True) -> None:
        import onnxruntime as ort

        options = ort.SessionOptions()
        if threads:
            options.intra_op_num_threads = threads
        if not spin:
            options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        options.log_severity_level = 3
        self.session = ort.InferenceSession(data, options, providers=["CPUExecutionProvider"])
        self.input = self.session.get_inputs()[0].name
        self.in_channels = check_channels(self.session.get_inputs()[0].shape)

    def run(self, batch: np.ndarray) -> np.ndarray:
        return self.session.run(None, {self.input: batch})[0]


def build(source: NetworkSource) -> OrtBackend:
    return OrtBackend(source.onnx(), source.threads, spin=source.options.spin)


SPEC = BackendSpec(name="onnxruntime", package="onnxruntime", runtime="onnxruntime", build=build, int8=True,
                   preference=20, threads="SessionOptions.intra_op_num_threads (per session)")
