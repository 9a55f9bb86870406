"""One `Segmenter` interface over several inference backends.

A segmenter takes an image as users have it (8/16-bit, grey/BGR/BGRA, any size) and
returns the saliency map (logits) at the image's own resolution. Input protocols:
"resize" (the paper's deployment: resize to the model size, run, resize the map back),
"native" (pad to a multiple of 8, run at full resolution, crop), "pyramid" (a native run
and a run of the frame at half its size, their maps united by a pixel-wise maximum) and
"auto", the default: resize for frames of at most twice the model size's area (SIRST's ~320x240
frames), pyramid above, native for frames of at most a quarter of it (enlarged 2x or more, a
small frame's targets grow beyond the sizes the network learnt). Resizing a 1280x1024 frame to
256x256 shrinks a 3-pixel target below a pixel, so a large frame runs at its own resolution;
but a large sensor also shows close targets several times larger than SIRST's, which the
network, trained on SIRST's sizes, loses at full resolution and finds at half of it (round 45,
`--suite enlarged`). The half-size frame runs as "auto" would run a frame of that size (resized
to the model size if SIRST-sized, natively if larger). The protocol a frame actually ran with travels
with its result so evaluations can state it.

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
import logging
import numbers
import os
import threading
from collections import OrderedDict
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import NamedTuple

import cv2
import numpy as np
import onnx
import torch

from lwirst import backends, tiling
from lwirst.backends import FAST as FAST
from lwirst.backends import PLAIN as PLAIN
from lwirst.backends import Backend as Backend
from lwirst.backends import NetworkSource
from lwirst.backends import Options as Options
from lwirst.backends import available_backends as available_backends
from lwirst.backends import default_backend as default_backend
from lwirst.backends import engine_choice as engine_choice
from lwirst.backends.opencv_dnn import OpenCVBackend as OpenCVBackend
from lwirst.backends.openvino_cpu import OpenVinoBackend as OpenVinoBackend
from lwirst.backends.openvino_cpu import cpu_has_bf16 as cpu_has_bf16
from lwirst.backends.ort import OrtBackend as OrtBackend
from lwirst.backends.torch_eager import TorchBackend as TorchBackend
from lwirst.checkpoint import display_name, file_hash, load_model
from lwirst.complexity import Complexity, count_complexity, onnx_complexity
from lwirst.consensus import agreed, check_scale, mirrored_input, whole_blobs
from lwirst.errors import LwirstError, NonFiniteOutput
from lwirst.eval_protocol import RunSpec
from lwirst.export import (
    check_segmentation_onnx,
    fold_batchnorm,
    onnx_cost,
    onnx_fixed_size,
    onnx_input_channels,
    onnx_trained_size,
    size_dependent,
    to_onnx_bytes,
    trained_size,
)
from lwirst.imageio import check_image, stretch, to_bgr
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
from lwirst.palettes import as_intensity, colourful
from lwirst.paper import PAPER_SIZE
from lwirst.paths import DEFAULT_MODEL as DEFAULT_MODEL
from lwirst.paths import MODELS_DIR as MODELS_DIR
from lwirst.paths import REPO_ROOT as REPO_ROOT
from lwirst.polarity import DEFAULT as DEFAULT_POLARITY
from lwirst.polarity import as_white_hot
from lwirst.polarity import check as check_polarity
from lwirst.preprocess import normalize, pad_to_multiple
from lwirst.prominence import DEFAULT_PER_DOUBLING, prominent
from lwirst.prominence import check as check_margin
from lwirst.prominence import margin as margin_for
from lwirst.run_settings import RunSettings
from lwirst.saliency import AUTO_AREA_FACTOR as AUTO_AREA_FACTOR
from lwirst.saliency import PROTOCOLS as PROTOCOLS
from lwirst.saliency import SMALL_AREA_FACTOR
from lwirst.saliency import Saliency as Saliency
from lwirst.validate import missing_file_text
from lwirst.zones import NO_ZONES, Zones, fill, hold_below

# DEFAULT_MODEL, MODELS_DIR, REPO_ROOT, PROTOCOLS and Saliency are re-exported from their light homes,
# lwirst.paths and lwirst.saliency, and the backend classes, Options and engine choice from
# lwirst.backends, for code that imported them from here.
log = logging.getLogger(__name__)

NATIVE_MULTIPLE = 8  # the native protocol pads a frame to a multiple of this (the network's total stride)


def single_run(hw: tuple[int, int], size: tuple[int, int]) -> str:
    """How one run feeds a frame of size `hw` by the "auto" rule: natively if at most SMALL_AREA_FACTOR or over
    AUTO_AREA_FACTOR times the model size's area, else resized to it."""
    area, model = hw[0] * hw[1], size[0] * size[1]
    return "resize" if SMALL_AREA_FACTOR * model < area <= AUTO_AREA_FACTOR * model else "native"


def large_frame(hw: tuple[int, int], size: tuple[int, int]) -> bool:
    """Whether "auto" runs a frame of size `hw` as a pyramid (over AUTO_AREA_FACTOR times the model's area): the
    frames the mirror check confirms (round 47: on SIRST-sized frames it removed no false blob)."""
    return hw[0] * hw[1] > AUTO_AREA_FACTOR * size[0] * size[1]


def frame_clearance(hw: tuple[int, int], protocol: str, size: tuple[int, int], per_doubling: float) -> float:
    """The logits a blob's peak must clear the threshold by on a frame of size `hw` run by the applied
    `protocol` with a peak margin of `per_doubling` (`lwirst.prominence`): 0 for a frame resized to the
    model's `size`, where the network decides at its own size."""
    return 0.0 if protocol == "resize" else margin_for(hw, size, per_doubling, AUTO_AREA_FACTOR)


def _united(union: np.ndarray | None, level: np.ndarray, hw: tuple[int, int]) -> np.ndarray:
    """A frame's map so far united (pixel-wise maximum) with one level's, a pyramid's half level resized up."""
    if level.shape != hw:
        level = cv2.resize(level, (hw[1], hw[0]), interpolation=cv2.INTER_LINEAR)
    return level if union is None else np.maximum(union, level)


def halved(hw: tuple[int, int]) -> tuple[int, int]:
    """The (height, width) of a pyramid's second level: the frame at half its size (at least a pixel)."""
    return max(1, round(hw[0] / 2)), max(1, round(hw[1] / 2))


def runs(hw: tuple[int, int], protocol: str, size: tuple[int, int]) -> list[tuple[tuple[int, int], str]]:
    """The network runs an applied protocol makes of a frame of size `hw`: (the size of the frame the run
    feeds, "resize" or "native"); a pyramid's second run feeds the frame halved."""
    if protocol == "pyramid":
        half = halved(hw)
        return [(hw, "native"), (half, single_run(half, size))]
    return [(hw, protocol)]


def network_input(hw: tuple[int, int], protocol: str, size: tuple[int, int]) -> tuple[int, int]:
    """The (height, width) a frame of size `hw` is fed to the network at by one run ("resize" or
    "native"; `runs` splits a pyramid): what its FLOPs scale with."""
    if protocol == "resize":
        return size[0], size[1]
    return tuple(-(-side // NATIVE_MULTIPLE) * NATIVE_MULTIPLE for side in hw)  # type: ignore[return-value]


def consensus_input(hw: tuple[int, int], protocol: str, size: tuple[int, int], scale: float) -> tuple[int, int]:
    """The (height, width) of a frame's scale-consensus run (`lwirst.consensus`) before padding: what one
    run ("resize" or "native") fed the network, enlarged `scale` times."""
    base = size if protocol == "resize" else hw
    return round(base[0] * scale), round(base[1] * scale)


def describe_frame_run(hw: tuple[int, int], protocol: str, size: tuple[int, int], own: str = "its own size") -> str:
    """How one frame of size `hw` ran, in words: resized to the model size, natively at `own` (and padded), or
    as a pyramid of both."""
    if protocol == "resize":
        if tuple(hw) == tuple(size):
            return f"as it is, at the model size {size[1]}×{size[0]}"
        return f"resized to {size[1]}×{size[0]} (its map scaled back to {hw[1]}×{hw[0]})"
    if protocol == "pyramid":
        (_, first), (half, second) = runs(hw, protocol, size)
        return (f"as a pyramid: {describe_frame_run(hw, first, size)}, and at half size ({half[1]}×{half[0]}) "
                f"{describe_frame_run(half, second, size, 'that size')}; the two maps united")
    if protocol != "native":
        return protocol
    padded = network_input(hw, protocol, size)
    return f"natively at {own}" + (f" (padded to {padded[1]}×{padded[0]})" if padded != tuple(hw) else "")


def ran_briefly(hw: tuple[int, int], protocol: str, size: tuple[int, int] | None) -> str:
    """`describe_frame_run` in a word or two, for a command's one line per frame: "at the model size" (a frame of
    that size is not resized), "resized", "natively" or "as a pyramid"."""
    if protocol == "resize":
        return "at the model size" if size is not None and tuple(hw) == tuple(size) else "resized"
    return {"native": "natively", "pyramid": "as a pyramid"}.get(protocol, protocol)


def _shrink(hw: tuple[int, int], protocol: str, size: tuple[int, int]) -> tuple[str, str] | None:
    """How many times smaller a frame of size `hw` was fed across and down (2 significant digits), where an
    applied `protocol` resized it more than "auto" would (over `AUTO_AREA_FACTOR` times the model's area)."""
    if protocol != "resize" or hw[0] * hw[1] <= AUTO_AREA_FACTOR * size[0] * size[1]:
        return None
    return f"{hw[1] / size[1]:.2g}", f"{hw[0] / size[0]:.2g}"


def _said(shrink: tuple[str, str]) -> str:
    across, down = shrink
    return f"÷{across} each way" if across == down else f"÷{across} across, ÷{down} down"


def shrunk_by(hw: tuple[int, int], protocol: str, size: tuple[int, int]) -> str | None:
    """How much smaller a frame of size `hw` was fed to the network by an applied `protocol` ("÷5 across, ÷4
    down"; "÷2 each way"), where that is more than "auto" would resize: a target a few pixels across then shrinks
    below a pixel, the likeliest reason a user's large frame shows nothing. None where the frame ran at its own
    size or was resized less."""
    shrink = _shrink(hw, protocol, size)
    return None if shrink is None else _said(shrink)


def shrink_note(hw: tuple[int, int], protocol: str, size: tuple[int, int]) -> str | None:
    """`shrunk_by` in words ("resized to 256×256, ÷5 across, ÷4 down: a target under 5×4 pixels shrinks below
    one"), None where it does not apply."""
    if (shrink := _shrink(hw, protocol, size)) is None:
        return None
    return (f"resized to {size[1]}×{size[0]}, {_said(shrink)}: a target under {shrink[0]}×{shrink[1]} pixels "
            "shrinks below one")


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


def _names(wanted: Callable[[backends.BackendSpec], bool]) -> str:
    """The backends with a capability, for error messages ("onnxruntime, opencv or openvino"); one whose module
    fails to load is left out, as `backends.preference` leaves it out (warned once)."""
    usable = backends.preference()
    names = [name for name in backends.backend_names() if name in usable and wanted(backends.get_backend(name))]
    return ", ".join(names[:-1]) + f" or {names[-1]}" if len(names) > 1 else "".join(names)


def _read_model_file(path: Path) -> bytes:
    if not path.exists():
        raise LwirstError(f"model {path} does not exist")
    if path.is_dir():
        raise LwirstError(f"model {path} is a directory; give a .safetensors, .pt or .onnx file")
    if not path.is_file():  # a pipe hung the read, /dev/zero filled the memory
        raise LwirstError(f"model {missing_file_text(path)}")
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


QUANTIZED_OPS = frozenset({"QuantizeLinear", "DequantizeLinear", "QLinearConv", "ConvInteger", "MatMulInteger"})


def runtime_reason(exc: BaseException) -> str:
    """A runtime's error in one line: its first line that says something (OpenVINO opens with lines naming
    its own source files, "Exception from src/...", and the reason comes after them), and its last where that
    differs (OpenVINO's first is a long node dump; its last, "Argument shapes are inconsistent.", the cause)."""
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    said = [line for line in lines if not line.startswith("Exception from ")] or lines or [type(exc).__name__]
    first = said[0] if len(said[0]) <= 200 else said[0][:160] + "…"
    return first if len(said) == 1 else f"{first} ({said[-1][:160].rstrip('.')})"


def other_backends(name: str, model_is_onnx: bool) -> str:
    """"; another backend may run it: onnxruntime" naming the installed backends besides `name` that could run
    the model (an ONNX file: those that run ONNX), or "" when there is none: what a refusal should point to."""
    others = [b for b in backends.available_backends()
              if b != name and (backends.get_backend(b).runs_onnx or not model_is_onnx)]
    return f"; another backend may run it: {', '.join(others)}" if others else ""


class Decoded(NamedTuple):
    """One frame as `Segmenter` reads it (`Segmenter._decoded`)."""

    kind: str  # the input convention (RAW_GREY, RAW_BGR or RGB)
    pixels: np.ndarray  # the 8-bit pixels it takes
    palette: str  # the pseudo-colour palette decoded, or ""
    as_colour: bool  # a colour frame no known palette decoded: the network runs on its colours
    ignored: np.ndarray | None = None  # the pixels of the run's ignore zones (`lwirst.zones`), filled in `pixels`
    repaired: tuple[tuple[int, int], ...] = ()  # the defect spots the stretch replaced (`Saliency.repaired`)


class Segmenter:
    """Image in, `Saliency` out, on any backend; see the module docstring for protocols.

    With `options.fold_input` (the default for ONNX backends) a grey frame runs the
    one-channel network and a colour frame the raw-BGR one (built on first use),
    both exact against the trained network. `size` is the model input size (H, W) the resize protocol and the
    pyramid's reduced level use; None (the commands' default, and the dashboard's, which has no size control): the
    size the model trained at where it records one, a fixed-size ONNX graph's own, else 256 x 256.
    """

    def __init__(self, model: str | Path | torch.nn.Module | None = None, backend: str = "auto",
                 protocol: str = "auto", size: tuple[int, int] | None = (256, 256),
                 threads: int | None = None, *, options: Options | None = None,
                 calibration: Sequence[np.ndarray] | None = None, palettes: bool = True,
                 confirm: float | None = None, mirror: bool = False,
                 margin: float = DEFAULT_PER_DOUBLING, polarity: str = DEFAULT_POLARITY,
                 ignore: Zones = NO_ZONES) -> None:
        if threads is not None and (isinstance(threads, bool) or not isinstance(threads, numbers.Integral)):
            raise LwirstError(f"threads must be a whole number, got {threads!r}")  # a backend fails on 2.5 later
        threads = None if threads is None else int(threads)  # a numpy integer as Python's: results record it
        if threads is not None and not 1 <= threads <= 1024:
            raise LwirstError(f"threads must be between 1 and 1024, got {threads}")
        if protocol not in PROTOCOLS:
            raise LwirstError(f"unknown protocol {protocol!r}; choose {', '.join(PROTOCOLS)}")
        self._size_asked = size is not None  # None: the size the model trained at, as its record says
        size = (int(size[0]), int(size[1])) if size is not None else PAPER_SIZE
        if size[0] % 8 or size[1] % 8 or min(size) <= 0:
            raise LwirstError(f"model size {size} must be positive multiples of 8")
        chosen_for_me = backend == "auto"
        backend = default_backend() if chosen_for_me else backend
        spec = backends.get_backend(backend)
        if not spec.installed:
            raise LwirstError(f"backend {backend!r} is not installed here (pip install {spec.package})")
        options = options or (FAST if spec.runs_onnx else PLAIN)
        if options.int8 and not spec.int8:
            raise LwirstError(f"int8 runs on the {_names(lambda s: s.int8)} backends, not {backend}")
        if options.int8 and not calibration:
            raise LwirstError("an int8 network needs calibration images (training images, not test)")
        if options.bf16 and spec.bf16 is None:
            raise LwirstError(f"bfloat16 inference runs on the {_names(lambda s: s.bf16 is not None)} backend only")
        if options.bf16 and not spec.bf16():
            raise LwirstError("this CPU has no native bfloat16 arithmetic (AVX512_BF16 or AMX); "
                              f"{backend} would emulate it, slower than fp32: use fp32")
        self.protocol, self.size, self.threads, self.options = protocol, size, threads, options
        self.backend_kind, self.spec = backend, spec
        self.module: torch.nn.Module | None = None
        self.meta: dict = {}
        self.model_name = "in-memory module"
        self.model_hash = ""
        self._onnx: bytes | None = None
        self._calibration = list(calibration or [])
        self._warned_colour = False
        self._lock = threading.Lock()  # network calls, and the lazy building of the networks they use
        self.palettes = palettes  # decode pseudo-colour frames to the intensity they encode
        self.confirm = check_scale(confirm)  # enlargement of the consensus run (`lwirst.consensus`), or None
        self.mirror = bool(mirror)  # large frames also confirmed by a mirrored run (`lwirst.consensus`)
        self.margin = check_margin(margin)  # peak margin per doubling of a large frame's area (`lwirst.prominence`)
        self.polarity = check_polarity(polarity)  # black-hot frames are inverted as they are read (`lwirst.polarity`)
        if not isinstance(ignore, Zones):
            raise LwirstError(f"ignore takes lwirst.zones.Zones (e.g. read_zones(['0,0,100%,24'])), not "
                              f"{type(ignore).__name__}")
        self.ignore = ignore  # parts of every frame that are no scene, e.g. a burnt-in display (`lwirst.zones`)
        self._palettes_seen: set[str] = set()
        self.quantized = False  # an ONNX file holding an int8 (QDQ or integer) graph
        if isinstance(model, torch.nn.Module):
            self.module = model.eval()
        else:
            path = Path(model) if model is not None else DEFAULT_MODEL
            if model is None and not path.exists():
                raise LwirstError(f"the shipped model {path} is missing; reinstall or pass --model")
            self.model_name = display_name(path)
            if path.suffix.lower() == ".onnx":
                self._onnx = _read_model_file(path)
                proto = check_segmentation_onnx(self._onnx, str(path))
                self._check_trained_size(onnx_trained_size(proto))
                self.quantized = any(node.op_type in QUANTIZED_OPS for node in proto.graph.node)
                if self.quantized:  # results record int8, not the options' fp32
                    log.warning("%s is an int8 network: its scores differ from the fp32 model's (`lwirst bench` "
                                "prints the mIoU it loses on SIRST)", path.name)
                if not spec.runs_onnx:
                    raise LwirstError(f"the {backend} backend needs a checkpoint, not an ONNX file; "
                                      f"choose {_names(lambda s: s.runs_onnx)}")
            else:
                _read_model_file(path)
                self.module, self.meta = load_model(path)
                self._check_trained_size(trained_size(self.meta))
            self.model_hash = file_hash(path)
        self._check_fixed_size()
        if self.protocol == "resize":  # every frame runs at the model's size: no frame a margin holds (results say so)
            self.margin = 0.0
        self._nets: dict[str, Backend] = {}
        self.primary = self._primary_kind()
        self.backend = self._net(self.primary)
        if self.quantized:
            self._check_int8_runs(chosen_for_me, options is None)

    def _check_int8_runs(self, may_switch: bool, own_options: bool) -> None:
        """Run an int8 graph once, on a blank frame at the model size: a runtime may load one it cannot run
        (OpenVINO and a u8 graph: "Argument shapes are inconsistent") and then refuse every frame, one error each.
        Where the backend was chosen for the caller ("auto"), the next installed backend that runs int8 ONNX takes
        over, with a warning; a backend the caller named fails here, once."""
        blank = np.zeros((8, 8), np.uint8)
        candidates = [b for b in backends.available_backends()
                      if b != self.backend_kind and backends.get_backend(b).runs_onnx and backends.get_backend(b).int8]
        while True:
            try:
                self._call(self.primary, self._prepare(blank, self.primary, view="resize")[None])
                return
            except LwirstError as exc:
                if not (may_switch and candidates):
                    raise
                refused, self.backend_kind = self.backend_kind, candidates.pop(0)
                self.spec = backends.get_backend(self.backend_kind)
                self.options = FAST if own_options else self.options
                self._nets.clear()
                self.backend = self._net(self.primary)
                reason = runtime_reason(exc.__cause__) if exc.__cause__ is not None else str(exc)
                log.warning("%s cannot run %s (%s); it runs on %s", refused, self.model_name, reason,
                            self.backend_kind)

    def _check_trained_size(self, trained: int | None) -> None:
        """Run at the size the model trained at when no size was asked for; warn when a model trained at another
        size runs at the one asked for: a model trained at 128x128 and run at 256x256 found 6 of 12 targets where
        it found 10 at its own size, and nothing said why."""
        if trained is not None and not self._size_asked and trained % 8 == 0:
            self.size = (trained, trained)
        elif trained is not None and (trained, trained) != self.size:
            log.warning("%s was trained at %dx%d and runs here at %dx%d (the resize protocol and the pyramid's "
                        "reduced level use this size): run it as trained with size=(%d, %d) in Python, --size %d %d on "
                        "the command line",
                        self.model_name, trained, trained, self.size[1], self.size[0], trained, trained, trained,
                        trained)

    def _check_fixed_size(self) -> None:
        """Refuse, up front, an ONNX graph built for one input size at another size or native.

        A size-dependent network (`lwirst.export.size_dependent`) is exported at the model
        size, so only the torch backend runs it natively. A fixed-size ONNX file stops ONNX
        Runtime and OpenVINO with a shape error; OpenCV re-infers its shapes and runs it.
        """
        if self._onnx is not None:
            fixed = onnx_fixed_size(onnx.load_from_string(self._onnx))
            if self.spec.reshapes_fixed_graphs:
                fixed = None
        else:
            fixed = self.size if self.spec.runs_onnx and size_dependent(self.module) else None
        if fixed is not None and not self._size_asked:  # no size asked: the one size its graph holds for
            self.size = (int(fixed[0]), int(fixed[1]))
        if fixed is not None and self.protocol == "auto" and tuple(fixed) == self.size:
            log.info("%s holds for %dx%d inputs only: every frame is resized", self.model_name, *fixed)
            self.protocol = "resize"
        if fixed is not None and self.confirm is not None:  # its enlarged second run cannot feed such a graph
            log.warning("%s holds for %dx%d inputs only, so scale consensus cannot run its %gx second pass: "
                        "frames run once (results say so)", self.model_name, *fixed, self.confirm)
            self.confirm = None
        if fixed is None or (self.protocol == "resize" and tuple(fixed) == self.size):
            return
        wanted = (f"on each image at its own size ({self.protocol} protocol)" if self.protocol in ("native", "pyramid")
                  else f"at {self.size[0]}x{self.size[1]}")
        advice = (f"run it with the {_names(lambda s: s.reshapes_fixed_graphs)} backend, which re-infers its shapes, "
                  f"or at that size with the resize protocol (`lwirst evaluate --protocol resize --size {fixed[0]} "
                  f"{fixed[1]}`)" if self._onnx is not None else
                  f"use the resize protocol, or the {_names(lambda s: not s.runs_onnx)} backend")
        raise LwirstError(f"{self.model_name}: its ONNX graph holds for {fixed[0]}x{fixed[1]} inputs only, "
                          f"so {self.backend_kind} cannot run it {wanted}; {advice}")

    def _primary_kind(self) -> str:
        if self._onnx is not None:
            proto = onnx.load_from_string(self._onnx)
            self.in_channels = onnx_input_channels(proto)
            return input_kind(proto)
        self.in_channels = getattr(getattr(self.module, "config", None), "in_channels", 3)
        folds = self.options.fold_input and self.in_channels == 3 and can_fold_input(self.module)
        if self.options.fold_input and not folds:
            log.info("%s: input folding does not apply to this network; it runs on normalised %s",
                     self.model_name, "RGB" if self.in_channels == 3 else "grey")
            self.options = dataclasses.replace(self.options, fold_input=False)  # what runs, as `describe` records
        return RAW_GREY if folds else RGB

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
        source = NetworkSource(module=lambda: self._module_for(kind), onnx=lambda: self._onnx_for(kind),
                               size=self.size, threads=self.threads, options=self.options,
                               native=self.protocol == "native")
        try:
            return self.spec.build(source)
        except LwirstError:
            raise
        except Exception as exc:  # runtimes raise their own exception types on bad graphs
            raise LwirstError(f"{self.backend_kind} cannot load {self.model_name}: {runtime_reason(exc)}"
                              f"{self._elsewhere()}") from exc

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
        return "pyramid" if large_frame(hw, self.size) else single_run(hw, self.size)

    def _prepare(self, image: np.ndarray, kind: str, scale: float = 1.0, view: str | None = None) -> np.ndarray:
        """One 8-bit image -> the network input (C x H' x W') of convention `kind` for one run `view`
        ("resize" or "native"; default: the frame's first run, the native one of a pyramid).

        `scale` enlarges the input the run gives (the consensus run), which then runs natively."""
        hw = image.shape[:2]
        protocol = view or runs(hw, self.frame_protocol(hw), self.size)[0][1]
        if protocol not in ("resize", "native"):
            raise ValueError(f"one run is resize or native, not {protocol!r}")
        if kind == RAW_GREY:
            plane = grey_plane(image)
            if plane is None:
                plane = cv2.cvtColor(to_bgr(image), cv2.COLOR_BGR2GRAY)
            pixels = plane
        else:
            pixels = to_bgr(image)
        if protocol == "resize":
            pixels = cv2.resize(pixels, (self.size[1], self.size[0]), interpolation=cv2.INTER_LINEAR)
        if scale != 1.0:
            h, w = consensus_input(pixels.shape[:2], "native", self.size, scale)
            pixels = cv2.resize(pixels, (w, h), interpolation=cv2.INTER_LINEAR)
        if kind == RGB:
            chw = normalize(pixels, self.in_channels)
        elif kind == RAW_GREY:
            chw = pixels[None].astype(np.float32)
        else:
            chw = pixels.transpose(2, 0, 1).astype(np.float32)
        if protocol == "native" or scale != 1.0:
            chw, _ = pad_to_multiple(chw, NATIVE_MULTIPLE)
        return np.ascontiguousarray(chw, dtype=np.float32)

    def _decoded(self, image: np.ndarray) -> Decoded:
        """How one frame is read: its input convention and 8-bit pixels (white-hot: a black-hot frame inverted after
        its palette is decoded; the ignore zones filled from their surroundings), the palette decoded, whether it is
        a colour frame that no known palette decoded (logged once per Segmenter), and the ignored pixels."""
        image = check_image(image)
        ignored = self.ignore.covered(image.shape[:2])
        stretched = stretch(image, ignored)  # the zones' pixels set no stretch: a burnt-in timestamp took it all
        image = stretched.pixels
        palette, as_colour = "", False
        if self.palettes and image.ndim == 3 and image.shape[2] in (3, 4):
            colours = image[..., :3]  # a BGRA frame's alpha encodes no intensity (matplotlib's imsave writes one)
            decoded, palette = as_intensity(colours)
            image = decoded if palette else image
            as_colour = not palette and colourful(colours)
            seen = palette or ("?" if as_colour else "")  # "?": colour no known palette drew
            if seen and seen not in self._palettes_seen:
                self._palettes_seen.add(seen)
                if palette:
                    log.info("%s: frames drawn with the %r palette run as the intensity they encode",
                             self.model_name, palette)
                else:
                    log.warning("a colour frame drawn with no pseudo-colour palette the decoder knows runs on its "
                                "colours; the network learnt grey frames, so targets may be missed (convert such "
                                "frames to grey intensity)")
        kind, pixels = self._kind_of(image)
        pixels = as_white_hot(pixels, self.polarity)
        return Decoded(kind, pixels if ignored is None else fill(pixels, ignored), palette, as_colour, ignored,
                       tuple(stretched.repaired_spots()))

    def prepare(self, image: np.ndarray) -> tuple[Backend, np.ndarray]:
        """The backend one frame goes to and its network input (C x H' x W') for its first run, for
        benchmarks."""
        return self.prepare_runs(image)[0]

    def prepare_runs(self, image: np.ndarray) -> list[tuple[Backend, np.ndarray]]:
        """The backend and network input (C x H' x W') of every run the protocol makes of one frame (a
        pyramid's two levels; consensus runs aside), for benchmarks that time the network alone."""
        frame = self._decoded(image)
        return [(self._net(frame.kind), self._prepare(fed, frame.kind, view=view))
                for fed, view in self._levels(frame.pixels, self.frame_protocol(frame.pixels.shape[:2]))]

    def _levels(self, pixels: np.ndarray, protocol: str) -> list[tuple[np.ndarray, str]]:
        """The pixels each run of `runs` feeds ("resize" or "native"): the frame, or it reduced (INTER_AREA)."""
        return [(pixels if hw == pixels.shape[:2] else
                 cv2.resize(pixels, (hw[1], hw[0]), interpolation=cv2.INTER_AREA), view)
                for hw, view in runs(pixels.shape[:2], protocol, self.size)]

    def _frame_map(self, logits: np.ndarray, hw: tuple[int, int], view: str) -> np.ndarray:
        """One run's output as a map at the frame's (h, w): resized back, or cropped from its padding."""
        if not np.isfinite(logits).all():
            raise NonFiniteOutput(f"{self.model_name}: the model output holds NaN or infinite values; its weights "
                              "or graph are broken (retrain or re-export it)")
        h, w = hw
        if view == "resize":
            return cv2.resize(logits, (w, h), interpolation=cv2.INTER_LINEAR) if logits.shape != (h, w) else logits
        return logits[:h, :w]

    def _second_map(self, logits: np.ndarray, hw: tuple[int, int], view: str) -> np.ndarray:
        """A consensus run's output (cropped from its padding) resized back to the frame's (h, w)."""
        assert self.confirm is not None
        sh, sw = consensus_input(hw, view, self.size, self.confirm)
        return cv2.resize(np.ascontiguousarray(logits[:sh, :sw]), (hw[1], hw[0]), interpolation=cv2.INTER_LINEAR)

    def _run_all(self, inputs: Sequence[tuple[str, np.ndarray]], batch_size: int) -> list[np.ndarray]:
        """The network's (H' x W') output for each (convention, C x H' x W' input). Same-shaped runs are
        batched, at most `batch_size` and `tiling.RUN_PIXELS` pixels a call; an input over RUN_PIXELS runs as
        windows (`lwirst.tiling`) whose cores are placed as they come, so memory follows the window."""
        outputs: list[np.ndarray] = [np.empty(0, np.float32)] * len(inputs)
        groups: dict[tuple, list[tuple[int, tiling.Window | None]]] = {}
        for index, (kind, chw) in enumerate(inputs):
            plan = tiling.windows(chw.shape[1:])
            if plan is not None:
                outputs[index] = np.empty(chw.shape[1:], np.float32)
            for window in plan or [None]:
                shape = chw.shape if window is None else (chw.shape[0], window.rows.size, window.cols.size)
                groups.setdefault((kind, shape), []).append((index, window))
        for (kind, shape), pending in groups.items():
            per_call = max(1, min(batch_size, tiling.RUN_PIXELS // (shape[1] * shape[2])))
            for start in range(0, len(pending), per_call):
                chunk = pending[start:start + per_call]
                out = self._call(kind, np.stack([inputs[i][1] if window is None else tiling.cut(inputs[i][1], window)
                                                 for i, window in chunk]))
                for j, (i, window) in enumerate(chunk):
                    if window is None:
                        outputs[i] = out[j, 0]
                    else:
                        tiling.place(outputs[i], out[j, 0], window)
        return outputs

    def _call(self, kind: str, batch: np.ndarray) -> np.ndarray:
        """One network call of convention `kind`, one at a time per Segmenter; a runtime's refusal to run it as a
        one-line error. The lock makes a Segmenter safe to share between threads: a runtime's request (OpenVINO's
        input-then-infer, OpenCV's setInput-then-forward) is not atomic, and two threads swapped frames."""
        try:
            with self._lock:
                out = self._net(kind).run(batch)
        except LwirstError:
            raise
        except Exception as exc:  # a runtime that loaded a graph may still refuse to run it (int8 layers)
            raise LwirstError(f"{self.backend_kind} cannot run {self.model_name}: {runtime_reason(exc)}"
                              f"{self._elsewhere()}") from exc
        wanted = (batch.shape[0], 1, *batch.shape[2:])
        if tuple(np.shape(out)) != wanted:  # a half-size map was scaled up silently, or crashed consensus
            raise LwirstError(f"{self.model_name}: a {batch.shape[3]}x{batch.shape[2]} frame gave an output of shape "
                              f"{list(np.shape(out))}; expected {list(wanted)} (one logit per input pixel)")
        return out

    def _elsewhere(self) -> str:
        """`other_backends` for this model and backend."""
        return other_backends(self.backend_kind, str(self.model_name).lower().endswith(".onnx"))

    def predict(self, image: np.ndarray) -> Saliency:
        """One frame (H x W grey, H x W x 3 BGR or x 4 BGRA; 8- or 16-bit or float) as its `Saliency`: logits at the
        frame's own size (threshold them with `lwirst.postprocess.detect`; 0 is probability 0.5), and how the
        frame ran (protocol, palette, mirror). Colour is in OpenCV's BGR order, as `lwirst.imageio.read_image`
        and cv2.imread give it: pass an RGB array (PIL, matplotlib) as `rgb[..., ::-1]`, since a pseudo-colour
        palette read in the other order is another palette (jet's reversed is jet inverted, and reads so).
        Several frames go to `predict_batch` (a list, or an N x H x W array).

        An 8-bit frame runs as it is; a 16-bit or float frame is first stretched over its own range to 8 bits
        (`lwirst.imageio.to_uint8`), whatever its scale, so a float frame in [0, 1] is not the same input as
        that frame times 255 as uint8: pass 8-bit frames as uint8 to run exactly what a camera's 8-bit output
        runs."""
        return self.predict_batch([image], batch_size=1)[0]

    def predict_batch(self, images: Sequence[np.ndarray], batch_size: int = 8) -> list[Saliency]:
        """Many frames at once; same-shaped inputs are stacked into batches of `batch_size`.

        A pyramid frame also runs at half its size (INTER_AREA), as "auto" runs a frame of that size, and
        its map is the pixel-wise maximum of the two, the half-size one resized up. With `confirm` every
        run is repeated enlarged and the pixels both see are `agreed` at the size it ran at; the frame's map
        is then its blobs (after any union) that hold an agreed pixel, whole (`lwirst.consensus`)."""
        decoded = [self._decoded(image) for image in images]
        protocols = [self.frame_protocol(frame.pixels.shape[:2]) for frame in decoded]
        items, owners = [], []
        for index, (frame, protocol) in enumerate(zip(decoded, protocols, strict=True)):
            mirrored = self.mirrors(frame.pixels.shape[:2])
            for fed, view in self._levels(frame.pixels, protocol):
                items.append((frame.kind, fed, view, mirrored))
                owners.append(index)
        primaries: list[np.ndarray | None] = [None] * len(decoded)
        kept: list[np.ndarray | None] = [None] * len(decoded)
        for index, (level, agreed_level) in zip(owners, self._maps(items, batch_size), strict=True):
            hw = decoded[index].pixels.shape[:2]
            primaries[index] = _united(primaries[index], level, hw)
            if agreed_level is not None:
                kept[index] = _united(kept[index], agreed_level, hw)
        maps = [p if k is None else whole_blobs(k, p) for p, k in zip(primaries, kept, strict=True)]
        clearances = [self.clearance(m.shape, protocol) for m, protocol in zip(maps, protocols, strict=True)]
        return [Saliency(np.ascontiguousarray(hold_below(prominent(m, c), frame.ignored), dtype=np.float32), protocol,
                         self.backend.name, frame.palette, self.confirm, self.mirrors(m.shape), frame.as_colour, c,
                         frame.ignored, frame.repaired)
                for m, c, protocol, frame in zip(maps, clearances, protocols, decoded, strict=True)]

    def clearance(self, hw: tuple[int, int], protocol: str) -> float:
        """`frame_clearance` of a frame of size `hw` run by the applied `protocol` on this segmenter."""
        return frame_clearance(hw, protocol, self.size, self.margin)

    def mirrors(self, hw: tuple[int, int]) -> bool:
        """Whether a frame of size `hw` gets the mirrored confirmation run: with `mirror`, a `large_frame`."""
        return self.mirror and large_frame(hw, self.size)

    def _maps(self, items: Sequence[tuple[str, np.ndarray, str, bool]],
              batch_size: int) -> list[tuple[np.ndarray, np.ndarray | None]]:
        """Each (convention, 8-bit pixels, "resize" or "native", mirrored) run once: (its map, the pixels kept),
        both at the pixels' size; the pixels kept are None when no confirmation ran. With `confirm` they are
        those `agreed` with its enlarged repeat, and where `mirrored` also with the run of the mirrored input
        (`lwirst.consensus.mirrored_input`)."""
        inputs = [(kind, self._prepare(pixels, kind, view=view)) for kind, pixels, view, _ in items]
        first = self._run_all(inputs, batch_size)
        maps = [self._frame_map(out, pixels.shape[:2], view)
                for out, (_, pixels, view, _) in zip(first, items, strict=True)]
        kept: list[np.ndarray | None] = [None] * len(maps)
        if self.confirm is not None:
            second = self._run_all([(kind, self._prepare(pixels, kind, self.confirm, view))
                                    for kind, pixels, view, _ in items], batch_size)
            kept = [agreed(m, self._second_map(out, pixels.shape[:2], view))
                    for m, out, (_, pixels, view, _) in zip(maps, second, items, strict=True)]
        wanted = [i for i, item in enumerate(items) if item[3]]
        if wanted:
            mirrored = self._run_all([(inputs[i][0], mirrored_input(inputs[i][1])) for i in wanted], batch_size)
            for i, out in zip(wanted, mirrored, strict=True):
                _, pixels, view, _ = items[i]
                kept[i] = agreed(maps[i] if kept[i] is None else kept[i],
                                 self._frame_map(mirrored_input(out), pixels.shape[:2], view))
        return list(zip(maps, kept, strict=True))

    @property
    def settings(self) -> RunSettings:
        """How this segmenter's frames run beside backend and protocol, as results record it."""
        return RunSettings(self.confirm, self.mirror, self.margin, self.polarity, self.ignore.key)

    @functools.cached_property
    def complexity(self) -> Complexity | None:
        """Params and FLOPs of one 256x256 pass of the network, as model cards state them (whatever size it runs
        at): an evaluation records them, so that a comparison places its result without the model file; None where
        an ONNX graph's cannot be counted. Counted once per segmenter (a pass of the network, or an ONNX Runtime
        session), however many evaluations a served dashboard runs with it."""
        if self.module is not None:
            with self._lock:  # a pass of the module, as a network call
                return count_complexity(self.module)
        if self._onnx and (noted := onnx_cost(onnx.load_from_string(self._onnx))) is not None:
            return Complexity(*noted)  # an export's network, as its checkpoint's card counts it (`lwirst.cost`)
        try:
            return onnx_complexity(self._onnx or b"")
        except LwirstError as exc:
            log.warning("%s: its params and FLOPs cannot be counted (%s)", self.model_name, exc)
            return None

    def describe(self) -> RunSpec:
        """The model as it runs, as results record it."""
        precision = "int8" if self.quantized else self.options.precision
        digest = f"{self.model_hash}:{precision}" if self.model_hash and precision != "fp32" else self.model_hash
        return RunSpec(self.model_name, digest, self.backend.name, precision, self.protocol, self.size,
                       self.threads or os.cpu_count(), self.primary, self.palettes, dataclasses.asdict(self.options),
                       self.settings)
