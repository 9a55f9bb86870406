"""What a backend is: the `Backend` it builds, the `BackendSpec` it registers, and what it is built from.

Backend modules import their runtime inside functions, so the registry can list names and
capabilities (CLI choices, the dashboard's selector, `lwirst bench`) without loading torch,
ONNX Runtime or OpenVINO.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np

from lwirst.backends.options import Options

# Fixed-shape compilations a backend keeps per network (OpenCV pinned nets, OpenVINO static shapes).
MAX_STATIC_SHAPES = 4


class Backend(Protocol):
    name: str
    in_channels: int

    def run(self, batch: np.ndarray) -> np.ndarray:
        """float32 N x C x H x W -> float32 N x 1 x H x W logits."""


@dataclass(frozen=True)
class NetworkSource:
    """What `Segmenter` hands a backend's `build` for one input convention.

    `module` and `onnx` build the network lazily in the form the backend runs (the folded
    PyTorch module, or the exported, rewritten and possibly quantised ONNX graph), so a
    backend pays only for the form it asks for.
    """

    module: Callable[[], Any]
    onnx: Callable[[], bytes]
    size: tuple[int, int]
    threads: int | None
    options: Options
    native: bool  # frames run at their own size (protocol "native"), not only at `size`


@dataclass(frozen=True)
class BackendSpec:
    """One registered backend: its name, where it comes from, what it can do and how it is built.

    runtime: the import name whose presence means "installed" (PyPI `package` provides it).
    threads: how `--threads` reaches the runtime (for the engine table).
    runs_onnx: the backend runs an ONNX graph (checkpoints are exported first) and so
        also accepts .onnx files; False: it runs the PyTorch module and needs a checkpoint.
    int8: runs the QDQ int8 networks of `Options.int8`.
    bf16: None when the backend has no bfloat16 path; else whether this host computes
        bfloat16 natively (checked only when bf16 is asked for).
    reshapes_fixed_graphs: runs an ONNX graph exported for one input size at other sizes.
    preference: "auto" takes the installed backend with the lowest value (fastest first).
    """

    name: str
    package: str
    runtime: str
    threads: str
    build: Callable[[NetworkSource], Backend]
    runs_onnx: bool = True
    int8: bool = False
    bf16: Callable[[], bool] | None = None
    reshapes_fixed_graphs: bool = False
    preference: int = 100

    @property
    def installed(self) -> bool:
        return importable(self.runtime)

    def capabilities(self) -> tuple[str, ...]:
        """Short capability names, for tables and help."""
        flags = (("checkpoint", True), ("onnx", self.runs_onnx), ("int8", self.int8),
                 ("bf16", self.bf16 is not None), ("any-size fixed graphs", self.reshapes_fixed_graphs))
        return tuple(name for name, ok in flags if ok)


def importable(module: str) -> bool:
    """Whether `import module` would find it (without importing it)."""
    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):  # ValueError: a module blocked by sys.modules[name] = None
        return False


def check_channels(shape: Sequence) -> int:
    """Input channels of an ONNX input shape (1 or 3; symbolic or odd values mean 3)."""
    value = shape[1] if len(shape) > 1 else None
    return value if isinstance(value, int) and value in (1, 3) else 3
