"""OpenCV DNN: no extra runtime where OpenCV is installed anyway; re-infers shapes per input size."""

from __future__ import annotations

from typing import Any

import numpy as np

from lwirst.backends.base import MAX_STATIC_SHAPES, BackendSpec, NetworkSource
from lwirst.errors import LwirstError


class OpenCVBackend:
    """OpenCV DNN on pinned shapes: its importer aborts on symbolic dimensions, and a net
    pinned to batch 1 fails on fused residual adds at other batch sizes."""

    name = "opencv"

    def __init__(self, data: bytes, size: tuple[int, int], threads: int | None = None) -> None:
        from lwirst.export import check_segmentation_onnx, onnx_input_channels

        self.proto = check_segmentation_onnx(data)
        self.in_channels = onnx_input_channels(self.proto)
        self.threads = threads
        self._nets: dict[tuple[int, ...], Any] = {}
        self._load((1, self.in_channels, *size))

    def _load(self, shape: tuple[int, ...]) -> Any:
        import cv2

        from lwirst.export import pin_input_shape

        if shape not in self._nets:
            if len(self._nets) >= MAX_STATIC_SHAPES:
                self._nets.pop(next(iter(self._nets)))
            pinned = pin_input_shape(self.proto, shape[2:], batch=shape[0])
            try:
                self._nets[shape] = cv2.dnn.readNetFromONNX(np.frombuffer(pinned, dtype=np.uint8))
            except cv2.error as exc:
                reason = str(exc).strip().splitlines()[-1]
                raise LwirstError(f"OpenCV DNN cannot load this model: {reason}") from exc
        return self._nets[shape]

    def run(self, batch: np.ndarray) -> np.ndarray:
        import cv2

        if self.threads and cv2.getNumThreads() != self.threads:
            cv2.setNumThreads(self.threads)
        net = self._load(tuple(batch.shape))
        net.setInput(np.ascontiguousarray(batch))
        return net.forward()


def build(source: NetworkSource) -> OpenCVBackend:
    return OpenCVBackend(source.onnx(), source.size, source.threads)


# int8: OpenCV 5.1's int8 pooling layer asserts on LW-IRSTNet's QDQ graphs (pool2_int8_layer), so it runs none.
SPEC = BackendSpec(name="opencv", package="opencv-python-headless", runtime="cv2", build=build, int8=False,
                   reshapes_fixed_graphs=True, preference=90,
                   threads="cv2.setNumThreads before each call (process-wide)")
