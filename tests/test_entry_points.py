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


@pytest.mark.parametrize(("entry_points", "message"), [
    ("[lwirst.architectures]\nacm = tinyep_net\n", "declares the architecture 'acm' in lwirst.architectures, a "
                                                   "built-in name"),
    ("[lwirst.metrics]\narea = area_ep_plugin:METRIC\n", "name the module only (e.g. 'area_ep_plugin')"),
], ids=["built-in-name", "attribute"])
def test_an_installed_plugin_that_cannot_be_registered_is_named(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                                entry_points: str, message: str) -> None:
    install(tmp_path, monkeypatch, entry_points)
    with pytest.raises(LwirstError, match=message.replace("(", r"\(").replace(")", r"\)")):
        models.architecture_names() if "architectures" in entry_points else scoring.plugin_modules()
