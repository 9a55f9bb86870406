"""One `Segmenter` interface over several inference backends.

A segmenter takes an image as users have it (8/16-bit, grey/BGR/BGRA, any size) and
returns the saliency map (logits) at the image's own resolution. Two input
protocols: "resize" (the paper's deployment: resize to the model size, run, resize
the map back) and "native" (pad to a multiple of 8, run at full resolution, crop);
the protocol travels with the result so evaluations can state it.
"""

from __future__ import annotations

import importlib.util
import logging
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import cv2
import numpy as np
import torch

from lwirst.checkpoint import file_hash, load_model
from lwirst.errors import LwirstError
from lwirst.export import check_segmentation_onnx, onnx_input_channels, pin_input_shape, to_onnx_bytes
from lwirst.imageio import check_image, to_bgr
from lwirst.preprocess import normalize, pad_to_multiple

log = logging.getLogger(__name__)

REPO_ROOT = Path(__file__).resolve().parents[1]
MODELS_DIR = REPO_ROOT / "data" / "models"
DEFAULT_MODEL = MODELS_DIR / "lwirst-sirst.safetensors"
PROTOCOLS = ("resize", "native")
BACKENDS = ("torch", "onnxruntime", "opencv", "openvino")


def available_backends() -> list[str]:
    """Backends whose runtime is importable here."""
    names = {"torch": "torch", "onnxruntime": "onnxruntime", "opencv": "cv2", "openvino": "openvino"}
    return [b for b in BACKENDS if importlib.util.find_spec(names[b]) is not None]


def default_backend() -> str:
    return "onnxruntime" if "onnxruntime" in available_backends() else "torch"


@dataclass
class Saliency:
    """Logits at the input image's resolution (threshold 0 is probability 0.5)."""

    logits: np.ndarray
    protocol: str
    backend: str

    @property
    def probability(self) -> np.ndarray:
        return 1.0 / (1.0 + np.exp(-np.clip(self.logits, -60, 60)))

    @property
    def shape(self) -> tuple[int, int]:
        return self.logits.shape


class Backend(Protocol):
    name: str
    in_channels: int

    def run(self, batch: np.ndarray) -> np.ndarray:
        """float32 N x C x H x W -> float32 N x 1 x H x W logits."""


class TorchBackend:
    name = "torch"

    def __init__(self, module: torch.nn.Module, threads: int | None = None) -> None:
        self.module = module.eval()
        self.in_channels = getattr(getattr(module, "config", None), "in_channels", 3)
        if threads:
            torch.set_num_threads(threads)

    @torch.no_grad()
    def run(self, batch: np.ndarray) -> np.ndarray:
        return self.module(torch.from_numpy(batch)).numpy()


class OrtBackend:
    name = "onnxruntime"

    def __init__(self, data: bytes, threads: int | None = None) -> None:
        import onnxruntime as ort

        options = ort.SessionOptions()
        if threads:
            options.intra_op_num_threads = threads
        options.log_severity_level = 3
        self.session = ort.InferenceSession(data, options, providers=["CPUExecutionProvider"])
        self.input = self.session.get_inputs()[0].name
        self.in_channels = check_channels(self.session.get_inputs()[0].shape)

    def run(self, batch: np.ndarray) -> np.ndarray:
        return self.session.run(None, {self.input: batch})[0]


class OpenCVBackend:
    name = "opencv"

    def __init__(self, data: bytes, size: tuple[int, int], threads: int | None = None) -> None:
        proto = check_segmentation_onnx(data)
        self.in_channels = onnx_input_channels(proto)
        pinned = pin_input_shape(proto, size)
        if threads:
            cv2.setNumThreads(threads)
        try:
            self.net = cv2.dnn.readNetFromONNX(np.frombuffer(pinned, dtype=np.uint8))
        except cv2.error as exc:
            reason = str(exc).strip().splitlines()[-1]
            raise LwirstError(f"OpenCV DNN cannot load this model: {reason}") from exc

    def run(self, batch: np.ndarray) -> np.ndarray:
        self.net.setInput(np.ascontiguousarray(batch))
        return self.net.forward()


class OpenVinoBackend:
    name = "openvino"

    def __init__(self, data: bytes, threads: int | None = None) -> None:
        import openvino as ov

        core = ov.Core()
        model = core.read_model(data, b"")
        config = {"PERFORMANCE_HINT": "LATENCY", "INFERENCE_PRECISION_HINT": "f32"}
        if threads:
            config["INFERENCE_NUM_THREADS"] = int(threads)
        self.compiled = core.compile_model(model, "CPU", config)
        self.in_channels = check_channels(list(self.compiled.input(0).get_partial_shape().to_string()))
        self.request = self.compiled.create_infer_request()

    def run(self, batch: np.ndarray) -> np.ndarray:
        return np.asarray(self.request.infer({0: batch})[self.compiled.output(0)])


def check_channels(shape: Sequence) -> int:
    value = shape[1] if len(shape) > 1 else None
    return value if isinstance(value, int) and value in (1, 3) else 3


def _read_model_file(path: Path) -> bytes:
    if not path.exists():
        raise LwirstError(f"model {path} does not exist")
    if path.is_dir():
        raise LwirstError(f"model {path} is a directory; give a .safetensors, .pt or .onnx file")
    data = path.read_bytes()
    if not data:
        raise LwirstError(f"model {path} is empty")
    return data


class Segmenter:
    """Image in, `Saliency` out, on any backend; see the module docstring for protocols."""

    def __init__(self, model: str | Path | torch.nn.Module | None = None, backend: str = "auto",
                 protocol: str = "resize", size: tuple[int, int] = (256, 256),
                 threads: int | None = None) -> None:
        if protocol not in PROTOCOLS:
            raise LwirstError(f"unknown protocol {protocol!r}; choose resize or native")
        size = (int(size[0]), int(size[1]))
        if size[0] % 8 or size[1] % 8 or min(size) <= 0:
            raise LwirstError(f"model size {size} must be positive multiples of 8")
        backend = default_backend() if backend == "auto" else backend
        if backend not in BACKENDS:
            raise LwirstError(f"unknown backend {backend!r}; choose one of {', '.join(BACKENDS)} or auto")
        if backend not in available_backends():
            raise LwirstError(f"backend {backend!r} is not installed here (pip install {backend})")
        self.protocol, self.size, self.threads = protocol, size, threads
        self.module: torch.nn.Module | None = None
        self.meta: dict = {}
        self.model_name = "in-memory module"
        self.model_hash = ""
        onnx_bytes: bytes | None = None
        if isinstance(model, torch.nn.Module):
            self.module = model.eval()
        else:
            path = Path(model) if model is not None else DEFAULT_MODEL
            if model is None and not path.exists():
                raise LwirstError(f"the shipped model {path} is missing; reinstall or pass --model")
            self.model_name = path.name
            if path.suffix.lower() == ".onnx":
                onnx_bytes = _read_model_file(path)
                check_segmentation_onnx(onnx_bytes, str(path))
                if backend == "torch":
                    raise LwirstError("the torch backend needs a checkpoint, not an ONNX file; "
                                      "choose onnxruntime, opencv or openvino")
            else:
                _read_model_file(path)
                self.module, self.meta = load_model(path)
            self.model_hash = file_hash(path)
        if backend != "torch" and onnx_bytes is None:
            onnx_bytes = to_onnx_bytes(self.module, size=size)
        self.backend = self._make_backend(backend, onnx_bytes)

    def _make_backend(self, backend: str, onnx_bytes: bytes | None) -> Backend:
        try:
            if backend == "torch":
                return TorchBackend(self.module, self.threads)
            if backend == "onnxruntime":
                return OrtBackend(onnx_bytes, self.threads)
            if backend == "opencv":
                return OpenCVBackend(onnx_bytes, self.size, self.threads)
            return OpenVinoBackend(onnx_bytes, self.threads)
        except LwirstError:
            raise
        except Exception as exc:  # runtimes raise their own exception types on bad graphs
            reason = str(exc).splitlines()[0][:200] if str(exc) else type(exc).__name__
            raise LwirstError(f"{backend} cannot load {self.model_name}: {reason}") from exc

    @classmethod
    def from_module(cls, module: torch.nn.Module, protocol: str = "resize",
                    size: tuple[int, int] = (256, 256), backend: str = "torch") -> Segmenter:
        return cls(module, backend=backend, protocol=protocol, size=size)

    @property
    def backend_name(self) -> str:
        return self.backend.name

    def _input(self, image: np.ndarray) -> tuple[np.ndarray, tuple[int, int]]:
        """Network input (C x H' x W') and the original (h, w)."""
        bgr = to_bgr(check_image(image))
        h, w = bgr.shape[:2]
        if self.protocol == "resize":
            bgr = cv2.resize(bgr, (self.size[1], self.size[0]), interpolation=cv2.INTER_LINEAR)
            chw = normalize(bgr)
        else:
            chw, _ = pad_to_multiple(normalize(bgr), 8)
        if self.backend.in_channels == 1:
            chw = chw.mean(axis=0, keepdims=True)
        return np.ascontiguousarray(chw, dtype=np.float32), (h, w)

    def _output(self, logits: np.ndarray, hw: tuple[int, int]) -> Saliency:
        h, w = hw
        if self.protocol == "resize":
            if logits.shape != (h, w):
                logits = cv2.resize(logits, (w, h), interpolation=cv2.INTER_LINEAR)
        else:
            logits = logits[:h, :w]
        return Saliency(np.ascontiguousarray(logits, dtype=np.float32), self.protocol, self.backend.name)

    def predict(self, image: np.ndarray) -> Saliency:
        chw, hw = self._input(image)
        return self._output(self.backend.run(chw[None])[0, 0], hw)

    def predict_batch(self, images: Sequence[np.ndarray], batch_size: int = 8) -> list[Saliency]:
        """Many frames at once; same-shaped inputs are stacked into batches of `batch_size`."""
        prepared = [self._input(image) for image in images]
        results: list[Saliency | None] = [None] * len(prepared)
        by_shape: dict[tuple[int, ...], list[int]] = {}
        for index, (chw, _) in enumerate(prepared):
            by_shape.setdefault(chw.shape, []).append(index)
        for indices in by_shape.values():
            for start in range(0, len(indices), batch_size):
                chunk = indices[start:start + batch_size]
                out = self.backend.run(np.stack([prepared[i][0] for i in chunk]))
                for j, i in enumerate(chunk):
                    results[i] = self._output(out[j, 0], prepared[i][1])
        return [r for r in results if r is not None]

    def describe(self) -> dict[str, object]:
        return {"model": self.model_name, "hash": self.model_hash, "backend": self.backend.name,
                "protocol": self.protocol, "size": list(self.size),
                "threads": self.threads or os.cpu_count()}
