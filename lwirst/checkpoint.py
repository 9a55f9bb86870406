"""Checkpoints that carry their own config and never unpickle arbitrary objects.

Weights are stored as safetensors with the architecture's registry name, its
config JSON (and free-form metadata such as the recipe or metrics) in the
safetensors header, so loading needs no flags. Files written before the registry
name no architecture and load as LW-IRSTNet. Legacy `.pt`/`.pth` files are read with `torch.load(weights_only=True)`.
"""

from __future__ import annotations

import errno
import hashlib
import json
import os
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from lwirst import jsonio
from lwirst.errors import LwirstError
from lwirst.models import DEFAULT_ARCHITECTURE, NetworkConfig, architecture_of, build_model, get_architecture
from lwirst.validate import atomic_write as write_atomically
from lwirst.validate import missing_file_text

MAX_PARAMETERS = 250_000_000  # 1 GB of float32: far above any registered network (LW-IRSTNet 0.16 M)
CONFIG_KEY = "lwirst_config"
META_KEY = "lwirst_meta"
ARCH_KEY = "lwirst_architecture"
RUN_WEIGHTS = ("last.safetensors", "best.safetensors")  # the weights `lwirst train` writes in every run directory
RUN_RECORD = "run.json"  # beside them in a run directory


def atomic_write(path: Path, writer: Callable[[Path], object]) -> None:
    """`lwirst.validate.atomic_write` into a folder created first (run directories, model folders)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    write_atomically(path, writer)


def save_checkpoint(path: str | Path, model: torch.nn.Module, config: NetworkConfig,
                    meta: dict[str, Any] | None = None) -> None:
    """Save weights + architecture + config (+ JSON-serialisable meta) atomically as safetensors."""
    tensors = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    header = {ARCH_KEY: architecture_of(config), CONFIG_KEY: config.to_json(),
              META_KEY: jsonio.dumps(meta or {}, sort_keys=True, default=str)}

    def write(tmp: Path) -> None:
        try:
            save_file(tensors, str(tmp), metadata=header)
        except SafetensorError as exc:  # a full or read-only disk, as the OSError it is ("... (os error 28)")
            code = re.search(r"os error (\d+)", str(exc))
            if code is None:
                raise
            raise OSError(int(code[1]), os.strerror(int(code[1])), str(path)) from exc
        umask = os.umask(0)
        os.umask(umask)
        tmp.chmod(0o666 & ~umask)  # safetensors writes through a private (0600) temporary file

    atomic_write(Path(path), write)


def save_torch(path: Path, state: dict[str, Any]) -> None:
    """`torch.save` of a resumable state, atomically; a failed write (torch reports a full disk as a
    RuntimeError, "unexpected pos") is the OSError it is."""

    def write(tmp: Path) -> None:
        try:
            torch.save(state, tmp)
        except RuntimeError as exc:
            if "inline_container" not in str(exc):  # not its zip writer failing: a bug, with its traceback
                raise
            raise OSError(errno.EIO, f"{exc}; is the disk full?", str(path)) from exc

    atomic_write(path, write)


def _read_safetensors(path: Path) -> tuple[dict[str, torch.Tensor], dict[str, str]]:
    from safetensors import safe_open

    try:
        with safe_open(str(path), framework="pt") as handle:
            header = handle.metadata() or {}
        return load_file(str(path)), header
    except (SafetensorError, OSError, ValueError) as exc:
        raise LwirstError(f"{path}: not a readable safetensors checkpoint ({exc})") from exc


def _read_torch(path: Path) -> tuple[dict[str, torch.Tensor], dict[str, str]]:
    try:
        payload = torch.load(str(path), map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises many types for corrupt or unsafe files
        raise LwirstError(
            f"{path}: cannot be loaded safely as a weights-only checkpoint ({type(exc).__name__}); "
            "if you trust it, load it in Python and re-save it with lwirst.checkpoint.save_checkpoint "
            "as .safetensors"
        ) from exc
    if isinstance(payload, dict) and {"model", "optimizer", "epoch"} <= set(payload):
        beside = [name for name in RUN_WEIGHTS if (path.parent / name).is_file()]
        where = f"{' or '.join(beside)} beside it" if beside else \
            f"its run directory's {RUN_WEIGHTS[0]} or {RUN_WEIGHTS[1]}"
        raise LwirstError(f"{path}: a training's resume state (`lwirst train --resume` reads it), not a model; the "
                          f"weights are in {where}")
    if not isinstance(payload, dict) or "state_dict" not in payload or "config" not in payload:
        raise LwirstError(f"{path}: expected a dict with 'config' and 'state_dict' (an lwirst checkpoint)")
    header = {CONFIG_KEY: json.dumps(payload["config"]), META_KEY: json.dumps(payload.get("meta", {}))}
    if isinstance(payload.get("architecture"), str):
        header[ARCH_KEY] = payload["architecture"]
    return payload["state_dict"], header


def load_checkpoint(path: str | Path) -> tuple[NetworkConfig, dict[str, torch.Tensor], dict[str, Any]]:
    """Read (config, state_dict, meta) and check the tensors fit the config; the config's type
    says the architecture (`lwirst.models.architecture_of`)."""
    path = Path(path)
    if not path.exists():
        raise LwirstError(f"checkpoint {path} does not exist")
    if not path.is_file():  # a folder, a pipe or a device ("does not exist" of /dev/zero misled)
        raise LwirstError(f"checkpoint {missing_file_text(path)}")
    if path.stat().st_size == 0:
        raise LwirstError(f"checkpoint {path} is empty")
    if path.suffix.lower() == ".onnx":
        raise LwirstError(f"{path} is an ONNX model, not a checkpoint; give a .safetensors or .pt file")
    if path.suffix in (".pt", ".pth"):
        state, header = _read_torch(path)
    else:
        state, header = _read_safetensors(path)
    if CONFIG_KEY not in header:
        raise LwirstError(f"{path}: checkpoint has no lwirst config in its header; was it saved by lwirst?")
    try:
        architecture = get_architecture(header.get(ARCH_KEY) or DEFAULT_ARCHITECTURE)
    except LwirstError as exc:
        raise LwirstError(f"{path}: {exc}") from exc
    try:
        config = architecture.config.from_json(header[CONFIG_KEY])
    except LwirstError as exc:
        raise LwirstError(f"{path}: invalid network config in the checkpoint: {exc}") from exc
    except (TypeError, ValueError, KeyError) as exc:  # a field of the wrong type
        raise LwirstError(f"{path}: invalid network config in the checkpoint ({type(exc).__name__}: {exc})") from exc
    try:
        meta = json.loads(header.get(META_KEY, "{}"))
    except json.JSONDecodeError as exc:
        raise LwirstError(f"{path}: the checkpoint's metadata is not valid JSON ({exc.msg})") from exc
    if not isinstance(meta, dict):
        raise LwirstError(f"{path}: the checkpoint's metadata must be a JSON object")
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise LwirstError(f"{path}: the weights must be a dict of tensors")
    with torch.device("meta"):  # shapes and types only: a config asking for gigabytes allocates nothing
        try:
            skeleton = build_model(architecture.name, config)
        except (RuntimeError, ValueError) as exc:
            raise LwirstError(f"{path}: its network config cannot be built ({exc})") from exc
    size = sum(t.numel() for t in skeleton.state_dict().values())
    if size > MAX_PARAMETERS:
        raise LwirstError(f"{path}: its config asks for {size / 1e6:.0f} M parameters (limit "
                          f"{MAX_PARAMETERS / 1e6:.0f} M); not a {architecture.label} checkpoint")
    check_state_fits(skeleton, state, str(path))
    return config, state, meta


def check_state_fits(model: torch.nn.Module, state: dict[str, torch.Tensor], name: str) -> None:
    """Raise a readable error when tensor names or shapes disagree with the model."""
    expected = model.state_dict()
    missing = sorted(set(expected) - set(state))
    unexpected = sorted(set(state) - set(expected))
    wrong = [f"{k} {tuple(state[k].shape)} != {tuple(v.shape)}" for k, v in expected.items()
             if k in state and tuple(state[k].shape) != tuple(v.shape)]
    if not (missing or unexpected or wrong):
        for key, value in expected.items():
            tensor = state[key]
            if tensor.is_floating_point() != value.is_floating_point():
                raise LwirstError(f"{name}: tensor {key} is stored as {tensor.dtype}, expected {value.dtype}")
            if tensor.is_floating_point() and not bool(torch.isfinite(tensor).all()):
                raise LwirstError(f"{name}: tensor {key} holds NaN or infinite values; the weights are broken "
                                  "(a diverged training run?)")
    if missing or unexpected or wrong:
        parts = []
        if missing:
            parts.append(f"{len(missing)} missing (e.g. {missing[0]})")
        if unexpected:
            parts.append(f"{len(unexpected)} unexpected (e.g. {unexpected[0]})")
        if wrong:
            parts.append(f"{len(wrong)} with wrong shape (e.g. {wrong[0]})")
        raise LwirstError(f"{name}: tensors do not fit its config: {'; '.join(parts)}")


def load_model(path: str | Path) -> tuple[torch.nn.Module, dict[str, Any]]:
    """Build the network a checkpoint describes, with its weights, in eval mode."""
    config, state, meta = load_checkpoint(path)
    model = build_model(config=config)
    model.load_state_dict(state)
    return model.eval(), meta


def display_name(path: str | Path) -> str:
    """A model file as results and pages name it: its file name, but a training run's weights with their
    run directory ("r1/best.safetensors"), since every run's weights share the same two names."""
    path = Path(path)
    if path.name in RUN_WEIGHTS and path.parent.name and (path.parent / RUN_RECORD).is_file():
        return f"{path.parent.name}/{path.name}"
    return path.name


def file_hash(path: str | Path) -> str:
    """Short content hash used to key cached results."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()[:16]
