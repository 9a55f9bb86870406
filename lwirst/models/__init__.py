"""The network registry: one door (`build_model`) for every architecture lwirst can train and run.

An architecture is one module file defining ``ARCHITECTURE`` (see `Architecture`), with a
config dataclass of its own, and one line in `_MODULES` below (or, in a package of its own, one entry point in
the group "lwirst.architectures": `lwirst.registry`). Training, checkpoints, complexity counts, export, the
benchmark, model cards and sweeps build networks through `build_model` only, and
checkpoints store the registry name, so a new network is trainable, exportable,
evaluable and selectable in the dashboard without touching those modules.

Names are listed without importing the model files (no torch until a network is
built), so command-line choices and settings stay light.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from lwirst.config import json_object
from lwirst.errors import LwirstError
from lwirst.models.base import Architecture, NetworkConfig
from lwirst.registry import ARCHITECTURES, load_entry, unknown, warn_once, with_installed

# Registry name -> module defining ARCHITECTURE. The first is the default (old checkpoints name none).
_MODULES: dict[str, str] = {
    "lwirstnet": "lwirst.models.lwirstnet",
    "acm": "lwirst.models.acm",
    "enet": "lwirst.models.enet",
}
DEFAULT_ARCHITECTURE = "lwirstnet"
_LOADED: dict[str, Architecture] = {}
# What a failing model module is told: unlike a backend's, its imports (torch) may sit at the top
_FIX = ("fix the module or install what it imports, or take out its registration (its line in _MODULES in "
        "lwirst/models/__init__.py, or its package's lwirst.architectures entry point)")
# What the registry, checkpoints and inference call on a config (`lwirst.models.base.ConfigFields` has them)
_CONFIG_METHODS = ("from_dict", "from_json", "to_dict", "to_json")

__all__ = ["DEFAULT_ARCHITECTURE", "Architecture", "NetworkConfig", "architecture_names", "architecture_of",
           "build_model", "config_from_dict", "config_from_json", "get_architecture", "modules"]


def modules() -> dict[str, str]:
    """Registry name -> module: the built-in architectures, then those installed packages declare."""
    return with_installed(_MODULES, ARCHITECTURES, "architecture")


def architecture_names() -> tuple[str, ...]:
    """Registered names, the default first."""
    return tuple(modules())


def get_architecture(name: str) -> Architecture:
    """The registered architecture `name`; an unknown name lists the known ones."""
    registered = modules()
    if name not in registered:
        raise unknown("architecture", name, tuple(registered), f"registered: {', '.join(registered)}")
    if name not in _LOADED:
        where = f"{registered[name]} (registered as {name!r})"
        spec = load_entry(registered[name], "ARCHITECTURE", name, _FIX)
        _check_config(where, spec.config)
        _LOADED[name] = spec
    return _LOADED[name]


def _check_config(where: str, config: Any) -> None:
    """What the registry needs of an architecture's config, checked when it loads: a config missing it failed
    later in a raw AttributeError traceback (`lwirst complexity --arch X`, `lwirst train --arch X`)."""
    name = getattr(config, "__name__", repr(config))
    if not isinstance(config, type) or not dataclasses.is_dataclass(config):
        raise LwirstError(f"{where}: its config {name} is not a dataclass; declare it with @dataclass(frozen=True)")
    fields = dataclasses.fields(config)
    if "in_channels" not in {f.name for f in fields}:
        raise LwirstError(f"{where}: its config {name} has no in_channels field (the channels inference, export "
                          "and checkpoints feed the network); add `in_channels: int = 3`")
    missing = [method for method in _CONFIG_METHODS if not callable(getattr(config, method, None))]
    if missing:
        raise LwirstError(f"{where}: its config {name} has no {', '.join(missing)}; inherit "
                          "lwirst.models.base.ConfigFields")
    bare = [f.name for f in fields if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING]
    if bare:
        raise LwirstError(f"{where}: its config {name} has no default for {', '.join(bare)}; every field needs one "
                          "(build_model and --arch build the default config)")


def architecture_of(config: Any) -> str:
    """Registry name of the architecture a config object describes (by its type).

    The config's type is what names a network in training, checkpoints and counts, so two architectures
    sharing one config class are refused here rather than silently built, saved and counted as the first."""
    names = [name for name in architecture_names() if type(config) is _loaded_config(name)]
    if len(names) > 1:
        raise LwirstError(f"architectures {', '.join(map(repr, names))} share the config class "
                          f"{type(config).__name__}; a config names its network, so give each architecture its "
                          "own config dataclass (a subclass will do)")
    if not names:
        broken = [name for name in architecture_names() if _loaded_config(name) is None]
        left_out = f" (left out, failing to load: {', '.join(broken)})" if broken else ""
        raise LwirstError(f"{type(config).__name__} is not the config of a registered architecture{left_out}")
    return names[0]


def _loaded_config(name: str) -> type | None:
    """The config class of architecture `name`; None for one whose module fails to load (warned once), built in
    or installed: one broken model module must not stop the others (the shipped LW-IRSTNet above all), only a
    use of its own (`get_architecture`, by name or by a checkpoint that records it, names the error)."""
    try:
        return get_architecture(name).config
    except LwirstError as exc:
        warn_once(f"architecture {name!r} is left out: {exc}")
        return None


def config_from_dict(data: dict[str, Any], architecture: str | None = None) -> NetworkConfig:
    """A config from JSON-like fields; an ``architecture`` field (else the argument, else the
    default) names the network. Unknown fields are refused by the config class."""
    fields = dict(data)
    name = str(fields.pop("architecture", None) or architecture or DEFAULT_ARCHITECTURE)
    return get_architecture(name).config.from_dict(fields)


def config_from_json(text: str, architecture: str | None = None) -> NetworkConfig:
    """`config_from_dict` of a JSON object (a config file, a run's saved config)."""
    return config_from_dict(json_object(text), architecture)


def build_model(name: str | None = None, config: NetworkConfig | None = None) -> Any:
    """A freshly initialised network: architecture `name` (default: the one `config` describes,
    else LW-IRSTNet) built from `config` (default: that architecture's default config)."""
    if name is None:
        name = architecture_of(config) if config is not None else DEFAULT_ARCHITECTURE
    spec = get_architecture(name)
    if config is None:
        config = spec.config()
    elif type(config) is not spec.config:
        raise LwirstError(f"architecture {name!r} needs a {spec.config.__name__}, got {type(config).__name__}")
    try:
        module = spec.module(config)
    except (ValueError, TypeError, RuntimeError, ZeroDivisionError) as exc:  # e.g. a width of 0 reaching torch
        raise LwirstError(f"{spec.label} cannot be built from its config ({type(exc).__name__}: {exc}); "
                          "check the config's values") from exc
    if not hasattr(module, "config"):
        raise LwirstError(f"{spec.module.__name__} keeps no .config; checkpoints and export need it "
                          "(set self.config = config in __init__)")
    key = (name, spec.module, config.to_json())
    if key not in _CHECKED and not _on_meta(module):
        _check_output(spec, module, config.in_channels)
        _CHECKED.add(key)
    return module


def _on_meta(module: Any) -> bool:
    """Whether a network was built on torch's meta device (a checkpoint's shape skeleton). Its forward pass is
    not checked: torch imports its symbolic-shape machinery (sympy, dynamo) for meta convolutions, 1.5-2 s of
    every command's start, and the real network built from the checkpoint next is checked instead."""
    first = next(iter(module.parameters()), None) if hasattr(module, "parameters") else None
    return first is not None and first.device.type == "meta"


_CHECKED: set[tuple[str, type, str]] = set()  # (architecture, its module class, config) whose output was checked
# batch, height, width of the shape check: multiples of 8 (the contract) but not of 16, so a network that only runs
# on multiples of 16 or 32 (a plain 4-level U-Net) is refused here, not on the first real frame of such a size
_PROBE = (2, 72, 56)
CONTRACT = "a network must map N x C x H x W, H and W any multiple of 8, to N x 1 x H x W logits"


def _check_output(spec: Architecture, module: Any, channels: int) -> None:
    """One forward pass of a zero batch, once per architecture and config: a network whose output is not
    N x 1 x H x W logits, or that cannot run sides that are multiples of 8 but not of 16, is named in one line
    here, instead of a torch error deep in a loss or on a real frame, or masks silently resized by inference
    and export."""
    import torch

    batch, height, width = _PROBE
    module.eval()
    try:
        with torch.no_grad(), torch.random.fork_rng(devices=[]):  # a network drawing at run time leaves no trace
            out = module(torch.zeros(batch, channels, height, width))
    except Exception as exc:
        reason = (str(exc).strip().splitlines() or [""])[0]  # torch's messages may run over several lines
        raise LwirstError(f"{spec.label} cannot run a {batch}x{channels}x{height}x{width} input "
                          f"({type(exc).__name__}: {reason}); {CONTRACT}") from exc
    finally:
        module.train()
    shape = tuple(getattr(out, "shape", ()))
    if shape != (batch, 1, height, width):
        raise LwirstError(f"{spec.label} maps a {batch}x{channels}x{height}x{width} input to "
                          f"{'x'.join(map(str, shape)) or type(out).__name__}; {CONTRACT}")
