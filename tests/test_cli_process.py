"""The warm-fork runner of command-line tests (tests/cli_process.py) gives what a fresh `python -m lwirst` gives."""

from __future__ import annotations

import os
import subprocess
import sys
import types
from pathlib import Path

import pytest

from tests.cli_process import run_lwirst


def test_a_command_runs_in_its_own_folder_and_environment(tmp_path: Path) -> None:
    (tmp_path / "frame.png").write_bytes(b"not a png")
    env = {**os.environ, "LWIRST_MAX_IMAGE_PIXELS": "0"}
    done = run_lwirst("segment", "frame.png", "--out", "out", cwd=tmp_path, env=env)
    fresh = subprocess.run([sys.executable, "-m", "lwirst", "segment", "frame.png", "--out", "out"],
                           cwd=tmp_path, env=env, capture_output=True, text=True, check=False)
    assert (done.returncode, done.stdout, done.stderr) == (fresh.returncode, fresh.stdout, fresh.stderr)
    assert done.returncode == 1 and "LWIRST_MAX_IMAGE_PIXELS='0'" in done.stderr, done.stderr


def test_a_command_runs_whatever_module_is_main(tmp_path: Path) -> None:
    """An AppTest leaves its Streamlit page as `__main__`, which multiprocessing would run in the child first."""
    page = tmp_path / "page.py"
    page.write_text("raise SystemExit(7)\n")
    stand_in = types.ModuleType("__main__")
    stand_in.__file__ = str(page)
    kept, sys.modules["__main__"] = sys.modules["__main__"], stand_in
    try:
        done = run_lwirst("--help")
    finally:
        sys.modules["__main__"] = kept
    assert done.returncode == 0 and "segment" in done.stdout, done


def test_a_command_past_its_timeout_is_killed(tmp_path: Path) -> None:
    """As `subprocess.run` does: the demo (seconds of work) is stopped at 0.2 s, before it writes its results."""
    with pytest.raises(subprocess.TimeoutExpired):
        run_lwirst("demo", "--out", tmp_path / "demo", timeout=0.2)
    assert not list(tmp_path.rglob("*_overlay.png"))
