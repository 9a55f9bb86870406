"""Plugins from an installed package: a metric and an architecture declared in a package's entry points reach
the metric table, evaluation, the network registry and the command line without editing lwirst (a notebook
audit had to edit files in site-packages)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from lwirst import models, scoring
from lwirst.errors import LwirstError
from lwirst.evaluate import code_signature, rescore
from lwirst.registry import installed
from tests.test_scoring import AREA_PLUGIN

NET = '''from dataclasses import dataclass
import torch
from lwirst.models.base import Architecture, ConfigFields

@dataclass(frozen=True)
class Config(ConfigFields):
    in_channels: int = 3

class Net(torch.nn.Module):
    def __init__(self, config):
        super().__init__()
        self.config = config
        self.conv = torch.nn.Conv2d(config.in_channels, 1, 3, padding=1)
    def forward(self, x):
        return self.conv(x)

ARCHITECTURE = Architecture("tinyep", "Tiny (entry point)", Net, Config)
'''


def install(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, entry_points: str) -> None:
    """A distribution installed on the path as pip leaves one: its .dist-info with METADATA and entry_points.txt."""
    info = tmp_path / "demo_lwirst_plugins-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: demo-lwirst-plugins\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text(entry_points)
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setattr(models, "_LOADED", {})
    installed.cache_clear()
    code_signature.cache_clear()


@pytest.fixture(autouse=True)
def forget_plugins():
    yield
    installed.cache_clear()  # the next test sees this machine's packages again
    code_signature.cache_clear()


def test_an_installed_metric_and_architecture_reach_lwirst(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                           capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "area_ep_plugin.py").write_text(AREA_PLUGIN)
    (tmp_path / "tinyep_net.py").write_text(NET)
    before = code_signature()
    install(tmp_path, monkeypatch, "[lwirst.metrics]\narea = area_ep_plugin\n\n"
                                   "[lwirst.architectures]\ntinyep = tinyep_net\n")
    # the metric: in the table and scored by evaluation's re-scoring
    assert "area_ratio" in [spec.key for spec in scoring.metric_specs()]
    mask = np.zeros((16, 16), dtype=bool)
    mask[4:7, 4:7] = True
    logits = np.where(mask, 5.0, -5.0).astype(np.float32)
    logits[4, 8] = 5.0
    assert rescore({"a": logits}, {"a": mask}, 0.0, grow_to=None)["area_ratio"] == pytest.approx(10 / 9)
    # the architecture: listed after the built-in ones, built, and offered on the command line
    assert models.architecture_names()[-1] == "tinyep" and models.architecture_names()[0] == "lwirstnet"
    net = models.build_model("tinyep")
    assert models.architecture_of(net.config) == "tinyep"
    from lwirst.cli import main

    assert main(["complexity", "--arch", "tinyep"]) == 0
    assert "Tiny (entry point)" in capsys.readouterr().out
    # results computed with the plugins are cached under their code, not the package's alone
    assert code_signature() != before


def test_an_installed_plugin_that_cannot_be_used_stops_nothing_else(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                                   caplog: pytest.LogCaptureFixture) -> None:
    """A broken or clashing plugin of some other package stopped every command, the shipped model's included
    (architecture_of loaded every architecture; an error message listed every backend; an entry point written
    "module:attr" failed even --help): it is left out, with a warning, and fails only where it is asked for."""
    from lwirst import backends
    from lwirst.inference import Segmenter

    (tmp_path / "broken_net.py").write_text("import nonexistent_dependency_xyz\n")
    (tmp_path / "broken_backend.py").write_text("import nonexistent_dependency_xyz\n")
    (tmp_path / "area_ep_plugin.py").write_text(AREA_PLUGIN)
    install(tmp_path, monkeypatch, "[lwirst.architectures]\nbroken = broken_net\nacm = broken_net\n\n"
                                   "[lwirst.backends]\nfastx = broken_backend\n\n"
                                   "[lwirst.metrics]\narea = area_ep_plugin:METRIC\n")
    monkeypatch.setattr(backends, "_LEFT_OUT", set())
    try:
        assert models.architecture_of(models.build_model().config) == "lwirstnet"  # the shipped network builds
        assert models.modules()["acm"] == "lwirst.models.acm"  # a built-in name is never taken over
        assert any("declares the architecture 'acm'" in r.message and "left out" in r.message
                   for r in caplog.records)
        assert any("architecture 'broken' is left out" in r.message and "broken_net" in r.message
                   for r in caplog.records)
        with pytest.raises(LwirstError, match=r"broken_net \(registered as 'broken'\) failed to import"):
            models.build_model("broken")
        segmenter = Segmenter(threads=1)  # "auto" and its advice leave the broken backend out
        assert segmenter.backend_kind != "fastx" and "fastx" not in backends.preference()
        assert any("backend fastx left out" in r.message for r in caplog.records)
        with pytest.raises(LwirstError, match="broken_backend"):
            backends.get_backend("fastx")
        assert "area_ep_plugin" in scoring.plugin_modules()  # "module:attr" names its module
    finally:
        backends._SPECS.pop("fastx", None)
