"""One `Segmenter` interface over several inference backends.

A segmenter takes an image as users have it (8/16-bit, grey/BGR/BGRA, any size) and
returns the saliency map (logits) at the image's own resolution. Two input
protocols: "resize" (the paper's deployment: resize to the model size, run, resize
the map back), "native" (pad to a multiple of 8, run at full resolution, crop) and
"auto", the default: resize for frames of at most twice the model size's area (SIRST's
~320x240 frames), native above. Resizing a 1280x1024 frame to 256x256 shrinks a 3-pixel
target below a pixel; the network is fully convolutional and trained on 2-4x native-scale
crops, so large frames run at their own resolution. The protocol a frame actually ran
with travels with its result so evaluations can state it.

`Options` say how the network is built; the defaults are the fastest exact float
path measured by `lwirst bench` (BN folded, exact graph rewrites, normalisation
folded into stage 1 so frames go in as raw pixels, and grey IR frames through a
one-channel copy of the network). Backend "auto" picks the fastest installed
runtime and falls back to ONNX Runtime, then PyTorch.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import importlib.util
import logging
import os
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import cv2
import numpy as np
import onnx
import torch

from lwirst.checkpoint import file_hash, load_model
from lwirst.errors import LwirstError
from lwirst.export import (
    check_segmentation_onnx,
    fold_batchnorm,
    onnx_fixed_size,
    onnx_input_channels,
    pin_input_shape,
    size_dependent,
    to_onnx_bytes,
)
from lwirst.imageio import check_image, to_bgr, to_uint8
from lwirst.optimize import (
    RAW_BGR,
    RAW_GREY,
    RGB,
    can_fold_input,
    fold_input,
    input_kind,
    optimize_onnx,
    quantize_onnx,
    set_input_kind,
)
from lwirst.paths import DEFAULT_MODEL as DEFAULT_MODEL
from lwirst.paths import MODELS_DIR as MODELS_DIR
from lwirst.paths import REPO_ROOT as REPO_ROOT
from lwirst.preprocess import normalize, pad_to_multiple
from lwirst.saliency import Saliency as Saliency

# DEFAULT_MODEL, MODELS_DIR, REPO_ROOT and Saliency are re-exported from their light homes,
# lwirst.paths and lwirst.saliency, for code that imported them from here.
log = logging.getLogger(__name__)

PROTOCOLS = ("auto", "resize", "native")
# "auto" resizes frames of at most this many times the model size's area, runs larger ones natively.
AUTO_AREA_FACTOR = 2
BACKENDS = ("torch", "onnxruntime", "opencv", "openvino")
# Fastest first, as measured by `lwirst bench` (batch 1, 2 threads, quiet machine: OpenVINO ~2x ONNX
# Runtime with the same rewrites); "auto" takes the first installed.
PREFERENCE = ("openvino", "onnxruntime", "torch")
INT8_MODES = ("s8", "u8")
_MAX_STATIC_SHAPES = 4


def _importable(module: str) -> bool:
    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):  # ValueError: a module blocked by sys.modules[name] = None
        return False


def available_backends() -> list[str]:
    """Backends whose runtime is importable here."""
    names = {"torch": "torch", "onnxruntime": "onnxruntime", "opencv": "cv2", "openvino": "openvino"}
    return [b for b in BACKENDS if _importable(names[b])]


def default_backend() -> str:
    """The fastest installed backend (what backend "auto" means)."""
    installed = available_backends()
    return next(b for b in (*PREFERENCE, *BACKENDS) if b in installed)


@dataclass(frozen=True)
class Options:
    """How the network is built and run; each flag is one optimisation `lwirst bench` measures.

    fold_bn: BatchNorm folded into the convolutions (exact in eval mode).
    rewrite: exact ONNX rewrites (`lwirst.optimize.optimize_onnx`: scalar PReLU -> LeakyRelu, ...).
    fold_input: normalisation folded into stage 1; grey frames run a one-channel network
        (`lwirst.optimize.fold_input`), colour frames a raw-BGR one. Needs a checkpoint.
    static_shapes: OpenVINO compiles the model-size input shapes statically (faster than dynamic).
    spin: ONNX Runtime's worker threads busy-wait between operators (its default). Off, a
        loaded machine no longer loses whole time slices to spinning threads.
    channels_last: PyTorch eager runs in channels-last memory format.
    int8: "s8" or "u8" for a QDQ int8 network (ONNX backends), calibrated on the
        `calibration` images given to the Segmenter; None for float.
    streams: OpenVINO runs a batch as parallel single-frame requests, one per thread
        (video throughput); off, the whole batch is one request.
    bf16: OpenVINO computes in bfloat16 (8-bit mantissa, fp32 range). Only on CPUs with
        native bfloat16 arithmetic (AVX512_BF16 or AMX), where it doubles the FMA peak;
        elsewhere OpenVINO would emulate it, slower than fp32, so it is refused.
    subpixel: with `rewrite`, each strided transposed convolution becomes stride-1
        convolutions per output phase and a DepthToSpace, skipping the kernel's zero taps
        (`lwirst.optimize.subpixel_deconvolutions`; exact). Off by default until measured
        faster on a host kind (`lwirst bench` variants ort-subpixel, openvino-subpixel).
    """

    fold_bn: bool = True
    rewrite: bool = True
    fold_input: bool = True
    static_shapes: bool = True
    spin: bool = False
    channels_last: bool = False
    int8: str | None = None
    streams: bool = True
    bf16: bool = False
    subpixel: bool = False

    def __post_init__(self) -> None:
        if self.int8 is not None and self.int8 not in INT8_MODES:
            raise LwirstError(f"int8 mode {self.int8!r} must be one of {', '.join(INT8_MODES)}")
        if self.int8 and self.bf16:
            raise LwirstError("choose int8 or bf16, not both")

    def replace(self, **changes: object) -> Options:
        return dataclasses.replace(self, **changes)

    @property
    def precision(self) -> str:
        """The arithmetic the network runs in: "fp32", "bf16" or "int8-s8" / "int8-u8"."""
        if self.int8:
            return f"int8-{self.int8}"
        return "bf16" if self.bf16 else "fp32"


FAST = Options()
# The network as trained, run as exported: the reference every optimisation is checked against.
PLAIN = Options(fold_bn=False, rewrite=False, fold_input=False, static_shapes=False, spin=True, streams=False)


class Backend(Protocol):
    name: str
    in_channels: int

    def run(self, batch: np.ndarray) -> np.ndarray:
        """float32 N x C x H x W -> float32 N x 1 x H x W logits."""


class TorchBackend:
    name = "torch"

    def __init__(self, module: torch.nn.Module, threads: int | None = None, *,
                 channels_last: bool = False) -> None:
        self.module = module.eval()
        first = next((m for m in module.modules() if isinstance(m, torch.nn.Conv2d)), None)
        self.in_channels = first.in_channels if first is not None else 3
        self.threads = threads
        self.memory_format = torch.channels_last if channels_last else torch.contiguous_format
        if channels_last:
            self.module = self.module.to(memory_format=torch.channels_last)

    @torch.no_grad()
    def run(self, batch: np.ndarray) -> np.ndarray:
        # torch's thread count is process-wide: set it per call so several segmenters coexist.
        if self.threads and torch.get_num_threads() != self.threads:
            torch.set_num_threads(self.threads)
        device = next(self.module.parameters()).device  # a model still on the GPU after training
        x = torch.from_numpy(batch).to(device).contiguous(memory_format=self.memory_format)
        return self.module(x).contiguous().cpu().numpy()


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


class OpenCVBackend:
    """OpenCV DNN on pinned shapes: its importer aborts on symbolic dimensions, and a net
    pinned to batch 1 fails on fused residual adds at other batch sizes."""

    name = "opencv"

    def __init__(self, data: bytes, size: tuple[int, int], threads: int | None = None) -> None:
        self.proto = check_segmentation_onnx(data)
        self.in_channels = onnx_input_channels(self.proto)
        self.threads = threads
        self._nets: dict[tuple[int, ...], cv2.dnn.Net] = {}
        self._load((1, self.in_channels, *size))

    def _load(self, shape: tuple[int, ...]) -> cv2.dnn.Net:
        if shape not in self._nets:
            if len(self._nets) >= _MAX_STATIC_SHAPES:
                self._nets.pop(next(iter(self._nets)))
            pinned = pin_input_shape(self.proto, shape[2:], batch=shape[0])
            try:
                self._nets[shape] = cv2.dnn.readNetFromONNX(np.frombuffer(pinned, dtype=np.uint8))
            except cv2.error as exc:
                reason = str(exc).strip().splitlines()[-1]
                raise LwirstError(f"OpenCV DNN cannot load this model: {reason}") from exc
        return self._nets[shape]

    def run(self, batch: np.ndarray) -> np.ndarray:
        if self.threads and cv2.getNumThreads() != self.threads:
            cv2.setNumThreads(self.threads)
        net = self._load(tuple(batch.shape))
        net.setInput(np.ascontiguousarray(batch))
        return net.forward()


def engine_choice(backend: str, bf16: bool = False) -> dict[str, object]:
    """`Segmenter` keyword arguments for a backend choice; bf16 means OpenVINO's fast path in bfloat16."""
    if not bf16:
        return {"backend": backend}
    return {"backend": "openvino" if backend == "auto" else backend, "options": FAST.replace(bf16=True)}


@functools.cache
def cpu_has_bf16() -> bool:
    """Whether OpenVINO's CPU plugin computes bfloat16 natively here."""
    if not _importable("openvino"):
        return False
    import openvino as ov

    return "BF16" in ov.Core().get_property("CPU", "OPTIMIZATION_CAPABILITIES")


class OpenVinoBackend:
    """OpenVINO CPU; model-size shapes get their own static compilation, and with
    `static_frames` so does every other input size (a sensor's frames, run natively),
    up to `_MAX_STATIC_SHAPES` compilations; shapes beyond that share one dynamic one.
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
        return self.core.compile_model(model, "CPU", config)

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
        static = wanted and ((parallel, shape) in self._requests or compiled < _MAX_STATIC_SHAPES)
        key = (parallel, shape if static else None)
        if key not in self._requests:
            self._requests[key] = (self._parallel if parallel else self._single)(key[1])
        return self._requests[key](batch)


_CACHE: OrderedDict[str, bytes] = OrderedDict()
_CACHE_SIZE = 16


def _digest(*parts: bytes | str) -> str:
    digest = hashlib.sha256()
    for part in parts:
        digest.update(part.encode() if isinstance(part, str) else part)
        digest.update(b"\0")
    return digest.hexdigest()


def module_digest(module: torch.nn.Module) -> str:
    """Content hash of a network: its class, config and every tensor of its state."""
    config = getattr(module, "config", None)
    parts: list[bytes | str] = [type(module).__name__, config.to_json() if hasattr(config, "to_json") else ""]
    for name, tensor in module.state_dict().items():
        parts += [name, tensor.detach().cpu().contiguous().numpy().tobytes()]
    return _digest(*parts)


def _cached(key: str, build: Callable[[], bytes]) -> bytes:
    """Content-keyed memo of ONNX builds: one export serves every thread count and segmenter."""
    if key in _CACHE:
        _CACHE.move_to_end(key)
        return _CACHE[key]
    data = _CACHE[key] = build()
    if len(_CACHE) > _CACHE_SIZE:
        _CACHE.popitem(last=False)
    return data


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


def grey_plane(image: np.ndarray) -> np.ndarray | None:
    """The 8-bit grey plane of an image whose colour channels are all equal, else None."""
    if image.ndim == 2:
        return image
    if image.shape[2] == 1:
        return image[..., 0]
    b, g, r = image[..., 0], image[..., 1], image[..., 2]
    return b if np.array_equal(b, g) and np.array_equal(g, r) else None


class Segmenter:
    """Image in, `Saliency` out, on any backend; see the module docstring for protocols.

    With `options.fold_input` (the default for ONNX backends) a grey frame runs the
    one-channel network and a colour frame the raw-BGR one (built on first use),
    both exact against the trained network.
    """

    def __init__(self, model: str | Path | torch.nn.Module | None = None, backend: str = "auto",
                 protocol: str = "auto", size: tuple[int, int] = (256, 256),
                 threads: int | None = None, *, options: Options | None = None,
                 calibration: Sequence[np.ndarray] | None = None) -> None:
        if threads is not None and not 1 <= int(threads) <= 1024:
            raise LwirstError(f"threads must be between 1 and 1024, got {threads}")
        if protocol not in PROTOCOLS:
            raise LwirstError(f"unknown protocol {protocol!r}; choose {', '.join(PROTOCOLS)}")
        size = (int(size[0]), int(size[1]))
        if size[0] % 8 or size[1] % 8 or min(size) <= 0:
            raise LwirstError(f"model size {size} must be positive multiples of 8")
        backend = default_backend() if backend == "auto" else backend
        if backend not in BACKENDS:
            raise LwirstError(f"unknown backend {backend!r}; choose one of {', '.join(BACKENDS)} or auto")
        if backend not in available_backends():
            package = {"opencv": "opencv-python-headless"}.get(backend, backend)
            raise LwirstError(f"backend {backend!r} is not installed here (pip install {package})")
        options = options or (PLAIN if backend == "torch" else FAST)
        if options.int8 and backend == "torch":
            raise LwirstError("int8 runs on the ONNX backends (onnxruntime, openvino, opencv), not torch")
        if options.int8 and not calibration:
            raise LwirstError("an int8 network needs calibration images (training images, not test)")
        if options.bf16 and backend != "openvino":
            raise LwirstError("bfloat16 inference runs on the openvino backend only")
        if options.bf16 and not cpu_has_bf16():
            raise LwirstError("this CPU has no native bfloat16 arithmetic (AVX512_BF16 or AMX); "
                              "OpenVINO would emulate it, slower than fp32: use fp32")
        self.protocol, self.size, self.threads, self.options = protocol, size, threads, options
        self.backend_kind = backend
        self.module: torch.nn.Module | None = None
        self.meta: dict = {}
        self.model_name = "in-memory module"
        self.model_hash = ""
        self._onnx: bytes | None = None
        self._calibration = list(calibration or [])
        self._warned_colour = False
        if isinstance(model, torch.nn.Module):
            self.module = model.eval()
        else:
            path = Path(model) if model is not None else DEFAULT_MODEL
            if model is None and not path.exists():
                raise LwirstError(f"the shipped model {path} is missing; reinstall or pass --model")
            self.model_name = path.name
            if path.suffix.lower() == ".onnx":
                self._onnx = _read_model_file(path)
                check_segmentation_onnx(self._onnx, str(path))
                if backend == "torch":
                    raise LwirstError("the torch backend needs a checkpoint, not an ONNX file; "
                                      "choose onnxruntime, opencv or openvino")
            else:
                _read_model_file(path)
                self.module, self.meta = load_model(path)
            self.model_hash = file_hash(path)
        self._check_fixed_size()
        self._nets: dict[str, Backend] = {}
        self.primary = self._primary_kind()
        self.backend = self._net(self.primary)

    def _check_fixed_size(self) -> None:
        """Refuse, up front, an ONNX graph built for one input size at another size or native.

        A size-dependent network (`lwirst.export.size_dependent`) is exported at the model
        size, so only the torch backend runs it natively. A fixed-size ONNX file stops ONNX
        Runtime and OpenVINO with a shape error; OpenCV re-infers its shapes and runs it.
        """
        if self._onnx is not None:
            fixed = onnx_fixed_size(onnx.load_from_string(self._onnx))
            if self.backend_kind not in ("onnxruntime", "openvino"):
                fixed = None
            advice = "use the resize protocol at that size, or the opencv backend"
        else:
            fixed = self.size if self.backend_kind != "torch" and size_dependent(self.module) else None
            advice = "use the resize protocol, or the torch backend"
        if fixed is not None and self.protocol == "auto" and tuple(fixed) == self.size:
            log.info("%s holds for %dx%d inputs only: every frame is resized", self.model_name, *fixed)
            self.protocol = "resize"
        if fixed is None or (self.protocol == "resize" and tuple(fixed) == self.size):
            return
        wanted = ("on each image at its own size (native protocol)" if self.protocol == "native"
                  else f"at {self.size[0]}x{self.size[1]}")
        raise LwirstError(f"{self.model_name}: its ONNX graph holds for {fixed[0]}x{fixed[1]} inputs only, "
                          f"so {self.backend_kind} cannot run it {wanted}; {advice}")

    def _primary_kind(self) -> str:
        if self._onnx is not None:
            proto = onnx.load_from_string(self._onnx)
            self.in_channels = onnx_input_channels(proto)
            return input_kind(proto)
        self.in_channels = getattr(getattr(self.module, "config", None), "in_channels", 3)
        if self.options.fold_input and self.in_channels == 3 and not can_fold_input(self.module):
            log.info("%s: input folding does not apply to this network; it runs on normalised RGB",
                     self.model_name)
            return RGB
        return RAW_GREY if self.options.fold_input and self.in_channels == 3 else RGB

    def _net(self, kind: str) -> Backend:
        """The backend for one input convention, built on first use."""
        if kind not in self._nets:
            log.info("building the %s network for %s input", self.backend_kind, kind)
            self._nets[kind] = self._make_backend(kind)
        return self._nets[kind]

    def _module_for(self, kind: str) -> torch.nn.Module:
        module = self.module
        if self.options.fold_bn or kind != RGB:
            module = fold_batchnorm(module)
        if kind != RGB:
            module = fold_input(module, grey=kind == RAW_GREY)
        return module

    def _onnx_for(self, kind: str) -> bytes:
        if self._onnx is not None:
            key, data = _digest(self._onnx), self._onnx
        else:
            key = _digest(module_digest(self.module), kind, str(self.options.fold_bn))
            data = _cached(key, lambda: self._export(kind))
        if self.options.rewrite:
            subpixel = self.options.subpixel
            key = _digest(key, "rewrite", "subpixel" if subpixel else "")
            data = _cached(key, lambda: optimize_onnx(data, subpixel=subpixel))
        if self.options.int8:
            batches = [self._prepare(image, kind)[None] for image in self._calibration]
            key = _digest(key, self.options.int8, *(b.tobytes() for b in batches))
            data = _cached(key, lambda: quantize_onnx(data, batches, symmetric=self.options.int8 == "s8"))
        return data

    def _export(self, kind: str) -> bytes:
        data = to_onnx_bytes(self._module_for(kind), size=self.size, in_channels=1 if kind == RAW_GREY else 3,
                             fold=False)
        proto = onnx.load_from_string(data)
        set_input_kind(proto, kind)
        return proto.SerializeToString()

    def _make_backend(self, kind: str) -> Backend:
        try:
            if self.backend_kind == "torch":
                return TorchBackend(self._module_for(kind), self.threads,
                                    channels_last=self.options.channels_last)
            data = self._onnx_for(kind)
            if self.backend_kind == "onnxruntime":
                return OrtBackend(data, self.threads, spin=self.options.spin)
            if self.backend_kind == "opencv":
                return OpenCVBackend(data, self.size, self.threads)
            static = self.size if self.options.static_shapes and self.protocol != "native" else None
            return OpenVinoBackend(data, self.threads, static_size=static, bf16=self.options.bf16,
                                   streams=self.options.streams, static_frames=self.options.static_shapes)
        except LwirstError:
            raise
        except Exception as exc:  # runtimes raise their own exception types on bad graphs
            reason = str(exc).splitlines()[0][:200] if str(exc) else type(exc).__name__
            raise LwirstError(f"{self.backend_kind} cannot load {self.model_name}: {reason}") from exc

    @classmethod
    def from_module(cls, module: torch.nn.Module, protocol: str = "resize",
                    size: tuple[int, int] = (256, 256), backend: str = "torch", *,
                    options: Options | None = None) -> Segmenter:
        return cls(module, backend=backend, protocol=protocol, size=size, options=options)

    @property
    def backend_name(self) -> str:
        return self.backend.name

    def _kind_of(self, image: np.ndarray) -> tuple[str, np.ndarray]:
        """The input convention for one 8-bit image, and the image to feed it."""
        if self.primary == RGB:
            return RGB, image
        grey = grey_plane(image)
        if grey is not None:
            return (RAW_GREY, grey) if self.primary == RAW_GREY else (RAW_BGR, image)
        if self.primary == RAW_GREY and self._onnx is not None:
            if not self._warned_colour:
                log.warning("a one-channel ONNX model gets colour frames as grey; pass a checkpoint "
                            "for exact colour results")
                self._warned_colour = True
            return RAW_GREY, cv2.cvtColor(to_bgr(image), cv2.COLOR_BGR2GRAY)
        return RAW_BGR, image

    def frame_protocol(self, hw: tuple[int, int]) -> str:
        """The protocol a frame of size `hw` runs with (resolves "auto")."""
        if self.protocol != "auto":
            return self.protocol
        small = hw[0] * hw[1] <= AUTO_AREA_FACTOR * self.size[0] * self.size[1]
        return "resize" if small else "native"

    def _prepare(self, image: np.ndarray, kind: str) -> np.ndarray:
        """One 8-bit image -> the network input (C x H' x W') of convention `kind`."""
        protocol = self.frame_protocol(image.shape[:2])
        if kind == RAW_GREY:
            plane = grey_plane(image)
            if plane is None:
                plane = cv2.cvtColor(to_bgr(image), cv2.COLOR_BGR2GRAY)
            pixels = plane
        else:
            pixels = to_bgr(image)
        if protocol == "resize":
            pixels = cv2.resize(pixels, (self.size[1], self.size[0]), interpolation=cv2.INTER_LINEAR)
        if kind == RGB:
            chw = normalize(pixels)
            if self.in_channels == 1:  # a one-channel model trained on normalised grey
                chw = chw.mean(axis=0, keepdims=True)
        elif kind == RAW_GREY:
            chw = pixels[None].astype(np.float32)
        else:
            chw = pixels.transpose(2, 0, 1).astype(np.float32)
        if protocol == "native":
            chw, _ = pad_to_multiple(chw, 8)
        return np.ascontiguousarray(chw, dtype=np.float32)

    def _input(self, image: np.ndarray) -> tuple[str, np.ndarray, tuple[int, int]]:
        """(input convention, network input C x H' x W', original (h, w))."""
        image = to_uint8(check_image(image))
        kind, pixels = self._kind_of(image)
        return kind, self._prepare(pixels, kind), image.shape[:2]

    def prepare(self, image: np.ndarray) -> tuple[Backend, np.ndarray]:
        """The backend one frame goes to and its network input (C x H' x W'), for benchmarks."""
        kind, chw, _ = self._input(image)
        return self._net(kind), chw

    def _output(self, logits: np.ndarray, hw: tuple[int, int]) -> Saliency:
        if not np.isfinite(logits).all():
            raise LwirstError(f"{self.model_name}: the model output holds NaN or infinite values; its weights "
                              "or graph are broken (retrain or re-export it)")
        h, w = hw
        protocol = self.frame_protocol(hw)
        if protocol == "resize":
            if logits.shape != (h, w):
                logits = cv2.resize(logits, (w, h), interpolation=cv2.INTER_LINEAR)
        else:
            logits = logits[:h, :w]
        return Saliency(np.ascontiguousarray(logits, dtype=np.float32), protocol, self.backend.name)

    def predict(self, image: np.ndarray) -> Saliency:
        kind, chw, hw = self._input(image)
        return self._output(self._net(kind).run(chw[None])[0, 0], hw)

    def predict_batch(self, images: Sequence[np.ndarray], batch_size: int = 8) -> list[Saliency]:
        """Many frames at once; same-shaped inputs are stacked into batches of `batch_size`."""
        prepared = [self._input(image) for image in images]
        results: list[Saliency | None] = [None] * len(prepared)
        groups: dict[tuple, list[int]] = {}
        for index, (kind, chw, _) in enumerate(prepared):
            groups.setdefault((kind, chw.shape), []).append(index)
        for (kind, _), indices in groups.items():
            for start in range(0, len(indices), batch_size):
                chunk = indices[start:start + batch_size]
                out = self._net(kind).run(np.stack([prepared[i][1] for i in chunk]))
                for j, i in enumerate(chunk):
                    results[i] = self._output(out[j, 0], prepared[i][2])
        return [r for r in results if r is not None]

    def describe(self) -> dict[str, object]:
        precision = self.options.precision
        digest = f"{self.model_hash}:{precision}" if self.model_hash and precision != "fp32" else self.model_hash
        return {"model": self.model_name, "hash": digest, "backend": self.backend.name, "precision": precision,
                "protocol": self.protocol, "size": list(self.size),
                "threads": self.threads or os.cpu_count(), "input": self.primary,
                "options": dataclasses.asdict(self.options)}
