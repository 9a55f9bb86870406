"""A wheel is a complete lwirst: built from the tree, installed (not editable) into a fresh virtual
environment and run from outside the checkout, `lwirst demo` and `lwirst dashboard` find the shipped
model, samples, pages and settings as package data.

The venv sees the system site-packages for torch and friends (nothing is downloaded); the test
checks that lwirst itself is imported from the wheel, not from a checkout.
"""

from __future__ import annotations

import importlib.util
import os
import re
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from tests.conftest import REPO

# What a wheel is built from: everything else in the checkout stays out of it.
SOURCES = ("pyproject.toml", "README.md", "lwirst", "dashboard", "pages", "data", ".streamlit")


def test_every_package_of_the_tree_is_listed_in_pyproject() -> None:
    block = re.search(r"^packages = \[(.*?)\]", (REPO / "pyproject.toml").read_text(), re.M | re.S)
    assert block, "pyproject.toml lists no packages under [tool.setuptools]"
    listed = set(re.findall(r'"([^"]+)"', block.group(1)))
    found = {".".join(p.parent.relative_to(REPO).parts) for top in ("lwirst", "dashboard")
             for p in (REPO / top).rglob("__init__.py")}
    assert found <= listed, f"add {sorted(found - listed)} to [tool.setuptools] packages"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _wait_healthy(url: str, process: subprocess.Popen, seconds: float) -> str:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"lwirst dashboard exited with {process.returncode}")
        try:
            with urllib.request.urlopen(url, timeout=2) as reply:
                return reply.read().decode()
        except OSError:
            time.sleep(0.5)
    raise AssertionError(f"{url} did not answer within {seconds:g} s")


@pytest.fixture(scope="module")
def venv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("wheel")
    source = root / "src"
    source.mkdir()
    for name in SOURCES:
        path = REPO / name
        if path.is_dir():
            shutil.copytree(path, source / name, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
        else:
            shutil.copy2(path, source / name)
    isolation = [] if importlib.util.find_spec("setuptools") is None else ["--no-build-isolation"]
    subprocess.run([sys.executable, "-m", "pip", "wheel", str(source), "--no-deps", "-q", *isolation,
                    "-w", str(root / "dist")], check=True, cwd=root)
    wheel = next((root / "dist").glob("lwirst-*.whl"))
    env_dir = root / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--system-site-packages", "--without-pip", str(env_dir)],
                   check=True)
    python = env_dir / "bin" / "python"
    # pip of the base environment, run by the venv's interpreter, installs into the venv.
    subprocess.run([str(python), "-m", "pip", "install", "--no-deps", "--no-index", "-q", str(wheel)],
                   check=True, cwd=root)
    return env_dir


def _env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME")}


def test_the_installed_wheel_runs_the_demo_outside_the_checkout(venv: Path, tmp_path: Path) -> None:
    python, lwirst = venv / "bin" / "python", venv / "bin" / "lwirst"
    where = subprocess.run([str(python), "-c", "import lwirst, lwirst.paths as p; print(lwirst.__file__); "
                            "print(p.IN_CHECKOUT, p.DEFAULT_MODEL.is_file())"],
                           cwd=tmp_path, env=_env(), capture_output=True, text=True, check=True)
    module, flags = where.stdout.splitlines()
    assert Path(module).is_relative_to(venv) and flags == "False True"
    done = subprocess.run([str(lwirst), "demo", "--out", "demo", "--backend", "onnxruntime"], cwd=tmp_path,
                          env=_env(), capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    samples = [p for p in (REPO / "data" / "samples" / "images").iterdir() if p.is_file()]
    assert len(list((tmp_path / "demo").glob("*_overlay.png"))) == len(samples) > 0


def test_the_installed_wheel_serves_the_dashboard(venv: Path, tmp_path: Path) -> None:
    python, lwirst = venv / "bin" / "python", venv / "bin" / "lwirst"
    # The app and its default page run against the installed package (Streamlit's script runner).
    script = (
        "from lwirst.paths import DASHBOARD_APP, PAGES_DIR; from streamlit.testing.v1 import AppTest; "
        "assert sorted(p.name for p in PAGES_DIR.glob('*.py')); "
        "at = AppTest.from_file(str(DASHBOARD_APP), default_timeout=240).run(); "
        "assert not at.exception, [e.value for e in at.exception]; print(DASHBOARD_APP)")
    ran = subprocess.run([str(python), "-c", script], cwd=tmp_path, env=_env(), capture_output=True, text=True,
                         timeout=300)
    assert ran.returncode == 0, ran.stderr[-3000:]
    assert Path(ran.stdout.strip()).is_relative_to(venv)
    port = _free_port()
    server = subprocess.Popen([str(lwirst), "dashboard", "--port", str(port), "--address", "127.0.0.1"],
                              cwd=tmp_path, env=_env(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                              start_new_session=True)
    try:
        assert _wait_healthy(f"http://127.0.0.1:{port}/_stcore/health", server, 90) == "ok"
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=10) as reply:
            assert reply.status == 200 and b"<html" in reply.read().lower()
    finally:
        os.killpg(server.pid, 15)
        server.wait(timeout=30)
