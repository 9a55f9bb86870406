"""`python -m lwirst ARGS` as a process of its own, forked from a warm one.

Importing torch, ONNX, OpenVINO, scikit-image and pandas took ~1-3 s of every command a test ran, most of the
suite's command-line time. A multiprocessing forkserver imports them once per test worker and forks each command
from it in a few milliseconds. The command is still a process of its own: its own exit status, stdout, stderr,
working folder, environment, signals and exit handlers. lwirst itself is imported afresh in each command, after
its environment is set, so what it reads at import (limits, data and cache folders) is the test's. OpenCV is not
preloaded either: lwirst caps OpenCV's decoders through the environment before cv2 loads (`lwirst.limits`).

Tests of what only a fresh interpreter shows (which modules a command imports, how long it takes to start) run
`subprocess` themselves.
"""

from __future__ import annotations

import atexit
import contextlib
import multiprocessing
import os
import runpy
import subprocess
import sys
import tempfile
import types
from collections.abc import Iterator, Mapping
from pathlib import Path

PRELOAD = ("torch", "torch.onnx", "onnx", "onnxruntime", "openvino", "skimage.morphology", "scipy.ndimage",
           "pandas", "PIL.Image", "safetensors.torch")
_CONTEXT = multiprocessing.get_context("forkserver")
_CONTEXT.set_forkserver_preload(list(PRELOAD))


def _command(argv: list[str], cwd: str, env: dict[str, str], streams: list[str]) -> None:
    """The forked child: become `python -m lwirst ARGV` run in `cwd` with `env`, its stdin, stdout and stderr the
    files `streams`. Its exit status is the command's (multiprocessing exits with a SystemExit's code)."""
    if "cv2" in sys.modules:  # a preloaded module pulled OpenCV in, before lwirst could cap its decoders
        raise RuntimeError("cv2 was imported before the command ran")
    os.chdir(cwd)
    os.environ.clear()
    os.environ.update(env)
    for fd, (path, flags) in enumerate(zip(streams, (os.O_RDONLY, os.O_WRONLY, os.O_WRONLY), strict=True)):
        handle = os.open(path, flags)
        os.dup2(handle, fd)
        os.close(handle)
    sys.stdin = open(0, closefd=False)  # noqa: SIM115 - multiprocessing gave the child /dev/null
    extra = [entry for entry in env.get("PYTHONPATH", "").split(os.pathsep) if entry]
    sys.path[:0] = [cwd, *extra]  # as `python -m` finds modules: the working folder first, then PYTHONPATH
    sys.argv = ["lwirst", *argv]
    try:
        runpy.run_module("lwirst", run_name="__main__", alter_sys=True)
    finally:
        atexit._run_exitfuncs()  # what the interpreter runs at exit (logging's flush, temporary folders)


@contextlib.contextmanager
def _bare_main() -> Iterator[None]:
    """multiprocessing has each child run the parent's `__main__` module first; Streamlit installs every script it
    runs as `__main__`, and an AppTest leaves its page there, so the child would run a dashboard page (and fail)
    before the command."""
    kept = sys.modules["__main__"]
    sys.modules["__main__"] = types.ModuleType("__main__")
    try:
        yield
    finally:
        sys.modules["__main__"] = kept


def run_lwirst(*args: str | Path, cwd: Path | None = None, env: Mapping[str, str] | None = None,
               timeout: float = 300) -> subprocess.CompletedProcess[str]:
    """Run `python -m lwirst ARGS` to its end (killed after `timeout` seconds, as `subprocess.run` does) and
    return what `subprocess.run(..., capture_output=True, text=True)` would; its stdin is empty."""
    argv = [str(arg) for arg in args]
    with tempfile.TemporaryDirectory(prefix="lwirst-cli-") as folder:
        streams = [str(Path(folder) / name) for name in ("stdin", "stdout", "stderr")]
        for path in streams:
            Path(path).touch()
        child = _CONTEXT.Process(target=_command, args=(argv, str(cwd or Path.cwd()),
                                                        dict(os.environ if env is None else env), streams))
        with _bare_main():
            child.start()
        child.join(timeout)
        if child.is_alive():
            child.kill()
            child.join()
            raise subprocess.TimeoutExpired(["lwirst", *argv], timeout)
        out, err = (Path(path).read_text(errors="replace") for path in streams[1:])
    return subprocess.CompletedProcess(["lwirst", *argv], child.exitcode, out, err)
