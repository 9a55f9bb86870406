"""The backend registry: one engine table for `Segmenter`, the CLI's `--backend`, the dashboard and `lwirst bench`.

A backend is one module defining ``SPEC`` (a `BackendSpec`: name, PyPI package, capabilities,
how it sets threads, and `build`) plus one line in `_MODULES` below (or, in a package of its own, one entry point
in the group "lwirst.backends": `lwirst.registry`). Backend modules import
their runtime only when building, so listing names and capabilities loads no torch.
`register` adds a backend defined elsewhere (a plugin, a test) at run time.
"""

from __future__ import annotations

import logging

from lwirst.backends.base import Backend, BackendSpec, NetworkSource, check_channels, importable
from lwirst.backends.options import FAST, INT8_MODES, PLAIN, Options
from lwirst.errors import LwirstError
from lwirst.registry import BACKENDS, load_entry, unknown, with_installed

# Registry name -> module defining SPEC.
_MODULES: dict[str, str] = {
    "torch": "lwirst.backends.torch_eager",
    "onnxruntime": "lwirst.backends.ort",
    "opencv": "lwirst.backends.opencv_dnn",
    "openvino": "lwirst.backends.openvino_cpu",
    "onnxruntime-worker": "lwirst.backends.ort_worker",
}
_SPECS: dict[str, BackendSpec] = {}
_LEFT_OUT: set[str] = set()  # backends whose module failed to load, warned about once
log = logging.getLogger(__name__)

__all__ = ["FAST", "INT8_MODES", "PLAIN", "Backend", "BackendSpec", "NetworkSource", "Options",
           "available_backends", "backend_names", "check_channels", "default_backend", "engine_choice",
           "get_backend", "importable", "modules", "preference", "register", "unregister"]


def modules() -> dict[str, str]:
    """Registry name -> module: the built-in backends, then those installed packages declare."""
    return with_installed(_MODULES, BACKENDS, "backend")


def backend_names() -> tuple[str, ...]:
    """Every registered backend name, installed or not (the CLI's `--backend` choices besides auto)."""
    registered = modules()
    return (*registered, *(name for name in _SPECS if name not in registered))


def get_backend(name: str) -> BackendSpec:
    """The registered backend `name`; an unknown name lists the known ones."""
    if name not in _SPECS:
        registered = modules()
        if name not in registered:
            raise unknown("backend", name, backend_names(), f"choose one of {', '.join(backend_names())} or auto")
        _SPECS[name] = load_entry(registered[name], "SPEC", name, "a backend module must import its runtime inside "
                                  "functions, so that listing backends never needs it")
    return _SPECS[name]


def register(spec: BackendSpec) -> None:
    """Add a backend at run time; it then appears in every engine list (CLI, dashboard, bench)."""
    if spec.name == "auto" or spec.name in backend_names():
        raise LwirstError(f"a backend named {spec.name!r} is already registered")
    _SPECS[spec.name] = spec


def unregister(name: str) -> None:
    """Remove a backend added by `register` (the built-in ones stay)."""
    if name in modules():
        raise LwirstError(f"{name!r} is built in or installed and cannot be unregistered")
    _SPECS.pop(name, None)


def _loadable() -> list[str]:
    """The backends whose module loads; one that does not is logged and left out of "auto" and the
    engine lists (so one broken backend module does not stop every command), and named when asked for."""
    names = []
    for name in backend_names():
        try:
            get_backend(name)
        except LwirstError as exc:
            if name not in _LEFT_OUT:
                _LEFT_OUT.add(name)
                log.warning("backend %s left out: %s", name, exc)
            continue
        names.append(name)
    return names


def preference() -> tuple[str, ...]:
    """Every backend that loads, the one "auto" prefers first."""
    return tuple(sorted(_loadable(), key=lambda name: get_backend(name).preference))


def available_backends() -> list[str]:
    """Backends whose runtime is importable here, in registry order."""
    return [name for name in _loadable() if get_backend(name).installed]


def default_backend() -> str:
    """The fastest installed backend (what backend "auto" means)."""
    installed = available_backends()
    return next(name for name in preference() if name in installed)


def engine_choice(backend: str, bf16: bool = False) -> dict[str, object]:
    """`Segmenter` keyword arguments for a backend choice; bf16 means the fast path in bfloat16
    (with "auto": on the preferred installed backend that has a bfloat16 path)."""
    if not bf16:
        return {"backend": backend}
    if backend == "auto":
        installed = available_backends()
        backend = next((name for name in preference() if name in installed and get_backend(name).bf16),
                       next(name for name in preference() if get_backend(name).bf16))
    return {"backend": backend, "options": FAST.replace(bf16=True)}
