"""`--threads` on every command that runs the network, with one name, range and default."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from lwirst.cli import main
from lwirst.synth import SceneConfig, write_dataset


@pytest.fixture(scope="module")
def synth_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("synth")
    write_dataset(root, 4, SceneConfig(size=(64, 64)), seed=5, test_fraction=0.25)
    return root


@pytest.fixture(scope="module")
def checkpoint(random_checkpoint: Path) -> Path:
    return random_checkpoint


def test_evaluate_runs_with_the_threads_it_is_given(synth_dir: Path, checkpoint: Path, tmp_path: Path) -> None:
    out = tmp_path / "eval"
    assert main(["evaluate", "--model", str(checkpoint), "--data-dir", str(synth_dir), "--dataset", "folder",
                 "--split", "all", "--size", "64", "64", "--no-cache", "--threads", "1", "--out", str(out)]) == 0
    assert json.loads((out / "metrics.json").read_text())["protocol"]["threads"] == 1


def test_demo_takes_threads_and_every_command_refuses_zero(synth_dir: Path, checkpoint: Path,
                                                          tmp_path: Path, capsys) -> None:
    images = synth_dir / "images"
    assert main(["demo", "--images", str(images), "--model", str(checkpoint), "--threads", "1",
                 "--out", str(tmp_path / "demo")]) == 0
    for command in (["demo"], ["evaluate"], ["segment", "x.png", "--out", "o"], ["train", "--run-dir", "r"]):
        with pytest.raises(SystemExit) as exit_info:
            main([*command, "--threads", "0"])
        assert exit_info.value.code == 2
        assert "argument --threads: must be in [1, 1024]" in capsys.readouterr().err
