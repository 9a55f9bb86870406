"""The backend registry is the one engine table: CLI choices, Segmenter, the dashboard and bench read it,
so a backend registered at run time is selectable everywhere without touching those modules."""

from __future__ import annotations

import argparse
import json
from collections.abc import Iterator
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

from lwirst import backends
from lwirst.backends import BackendSpec, NetworkSource
from lwirst.checkpoint import save_checkpoint
from lwirst.cli import main
from lwirst.commands import demo, evaluate, segment, video
from lwirst.errors import LwirstError
from lwirst.model import LWIRSTNet


class BrightestPixel:
    """A stand-in runtime: logit +1 at each frame's brightest input value, -1 elsewhere."""

    name = "brightest"
    in_channels = 3

    def run(self, batch: np.ndarray) -> np.ndarray:
        grey = batch.mean(axis=1, keepdims=True)
        peak = grey.max(axis=(2, 3), keepdims=True)
        return np.where(grey >= peak, 1.0, -1.0).astype(np.float32)


def _build(source: NetworkSource) -> BrightestPixel:
    assert source.threads == 1 and source.size == (256, 256)
    return BrightestPixel()


SPEC = BackendSpec(name="brightest", package="numpy", runtime="numpy", build=_build, runs_onnx=False,
                   preference=1000, threads="single-threaded numpy")


@pytest.fixture
def registered() -> Iterator[BackendSpec]:
    backends.register(SPEC)
    yield SPEC
    backends.unregister(SPEC.name)


def _backend_choices(command) -> tuple[str, ...]:
    parser = argparse.ArgumentParser()
    command.add_arguments(parser)
    action = next(a for a in parser._actions if "--backend" in a.option_strings)
    return tuple(action.choices)


@pytest.mark.parametrize("command", [segment, video, evaluate, demo])
def test_cli_backend_choices_are_the_registry(command) -> None:
    assert _backend_choices(command) == ("auto", *backends.backend_names())
    assert {"torch", "onnxruntime", "opencv", "openvino"} <= set(backends.backend_names())


def test_builtin_specs_declare_what_segmenter_relies_on() -> None:
    torch_spec, ort_spec = backends.get_backend("torch"), backends.get_backend("onnxruntime")
    assert not torch_spec.runs_onnx and not torch_spec.int8 and torch_spec.bf16 is None
    assert ort_spec.runs_onnx and ort_spec.int8 and ort_spec.package == "onnxruntime"
    assert backends.get_backend("opencv").package == "opencv-python-headless"
    assert backends.get_backend("opencv").reshapes_fixed_graphs
    assert backends.get_backend("openvino").bf16 is not None
    assert backends.preference()[:3] == ("openvino", "onnxruntime", "torch")
    with pytest.raises(LwirstError, match="did you mean onnxruntime"):
        backends.get_backend("onnxruntim")


def test_registered_backend_appears_everywhere_and_runs(registered: BackendSpec, tmp_path: Path) -> None:
    from dashboard.common import backend_options, backends_for
    from lwirst.bench import engine_table

    assert _backend_choices(segment)[-1] == "brightest"
    assert "brightest" in backends.available_backends()
    assert backends.default_backend() != "brightest"  # preference 1000: never auto's first pick
    assert "brightest" in backend_options()
    assert "brightest" not in backends_for(Path("net.onnx"), backend_options())  # it needs a checkpoint
    assert engine_table()["brightest"]["threads"] == "single-threaded numpy"
    with pytest.raises(LwirstError, match="already registered"):
        backends.register(SPEC)

    torch.manual_seed(0)
    net = LWIRSTNet().eval()
    model = tmp_path / "net.safetensors"
    save_checkpoint(model, net, net.config)
    image = np.full((60, 90), 40, np.uint8)
    image[20:23, 30:33] = 250
    cv2.imwrite(str(tmp_path / "scene.png"), image)
    out = tmp_path / "out"
    assert main(["segment", str(tmp_path / "scene.png"), "--out", str(out), "--model", str(model),
                 "--backend", "brightest", "--threads", "1"]) == 0
    record = json.loads((out / "scene_targets.json").read_text())
    assert record["model"]["backend"] == "brightest"
    assert len(record["targets"]) == 1
    box = record["targets"][0]
    assert 28 <= box["x"] <= 33 and 18 <= box["y"] <= 23


def test_unregistered_backend_is_gone(registered: BackendSpec) -> None:
    backends.unregister(registered.name)
    assert "brightest" not in backends.backend_names()
    with pytest.raises(LwirstError, match="unknown backend"):
        backends.get_backend("brightest")
    with pytest.raises(LwirstError, match="built in"):
        backends.unregister("torch")


def test_bench_times_a_registered_backend_even_when_auto_prefers_it() -> None:
    """A backend with no hand-written bench variant gets one row; `auto` preferring it breaks nothing."""
    from lwirst.bench import all_variants, default_variant

    first = BackendSpec(name="brightest-first", package="numpy", runtime="numpy", build=_build, runs_onnx=False,
                        preference=-1, threads="single-threaded numpy")
    backends.register(first)
    try:
        row = next(v for v in all_variants() if v.backend == "brightest-first")
        assert row.name == "brightest-first" and row.options == backends.PLAIN
        assert backends.default_backend() == "brightest-first" and default_variant() == "brightest-first"
    finally:
        backends.unregister(first.name)
    assert not [v for v in all_variants() if v.backend == "brightest-first"]


def test_a_backend_module_that_fails_to_import_is_left_out_and_named(tmp_path: Path,
                                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    """Its runtime imported at module level and missing: every other backend still works."""
    (tmp_path / "fancy_backend.py").write_text("import fancyrt_that_is_not_installed\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setitem(backends._MODULES, "fancy", "fancy_backend")
    assert "fancy" in backends.backend_names()  # offered, so asking for it explains itself
    assert "fancy" not in backends.available_backends() and "fancy" not in backends.preference()
    assert backends.default_backend() == backends.preference()[0]
    with pytest.raises(LwirstError, match=r"fancy_backend \(registered as 'fancy'\) failed to import "
                                          r"\(ModuleNotFoundError"):
        backends.get_backend("fancy")
