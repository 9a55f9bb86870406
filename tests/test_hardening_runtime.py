"""Issue #21 items 5, 6, 12: SIGTERM leaves a playable video, cluster addresses fail fast, a served
dashboard says what it exposes. Real processes, sockets and signals; nothing mocked."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

from lwirst.checkpoint import save_checkpoint
from lwirst.cli import main
from lwirst.commands.dashboard import absolute_roots, served_warning
from lwirst.errors import LwirstError
from lwirst.model import LWIRSTNet
from lwirst.sweep import PROBE_TIMEOUT_S, check_address

REPO = Path(__file__).resolve().parents[1]
ENV = {**os.environ, "PYTHONPATH": str(REPO)}


def error_line(done: subprocess.CompletedProcess[str]) -> str:
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert "Traceback" not in done.stderr and len(lines) == 1, done.stderr
    return lines[0]


# 6. SIGTERM during `lwirst video`


def _video_under_way(tmp_path: Path) -> subprocess.Popen[str]:
    """`lwirst video` on a 3000-frame video, once its CSV (written as `.o.partial.csv` until the run ends) holds
    20 rows."""
    torch.manual_seed(0)
    net = LWIRSTNet().eval()
    model = tmp_path / "m.safetensors"
    save_checkpoint(model, net, net.config)
    src = tmp_path / "long.avi"
    writer = cv2.VideoWriter(str(src), cv2.VideoWriter_fourcc(*"MJPG"), 25, (64, 48))
    for i in range(3000):
        frame = np.full((48, 64, 3), 40, np.uint8)
        frame[20:23, (i % 50) + 5:(i % 50) + 8] = 250
        writer.write(frame)
    writer.release()
    growing = tmp_path / ".o.partial.csv"
    proc = subprocess.Popen([sys.executable, "-m", "lwirst", "video", str(src), "--out", str(tmp_path / "o.mp4"),
                             "--model", str(model), "--backend", "torch", "--threads", "1", "--batch", "1",
                             "--protocol", "resize"],  # the frames' pace waited for (auto runs 64x48 natively)
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=ENV, cwd=tmp_path)
    deadline = time.monotonic() + 240
    while time.monotonic() < deadline and (not growing.exists() or growing.read_text().count("\n") < 20):
        assert proc.poll() is None, proc.communicate()
        time.sleep(0.2)
    return proc


def test_sigterm_during_video_leaves_a_playable_mp4(tmp_path: Path) -> None:
    out = tmp_path / "o.mp4"
    proc = _video_under_way(tmp_path)
    proc.send_signal(signal.SIGTERM)
    stdout, stderr = proc.communicate(timeout=120)
    assert proc.returncode == 130, stderr
    assert "interrupted" in stdout
    capture = cv2.VideoCapture(str(out))
    frames = 0
    while capture.read()[0]:
        frames += 1
    capture.release()
    assert 5 <= frames < 3000  # the container was finalised: a playable partial video
    assert (tmp_path / "o.csv").is_file() and not list(tmp_path.glob(".o.partial*"))


def test_a_video_run_killed_outright_leaves_nothing_under_the_names_asked_for(tmp_path: Path) -> None:
    """Killed with no chance to close its files (SIGKILL, a power cut), `lwirst video` left a 48-byte MP4 that
    plays nothing and a CSV of frames it does not hold, and the same command again was refused: "already exists".
    The files are written under hidden names until the run ends."""
    proc = _video_under_way(tmp_path)
    proc.kill()
    proc.communicate(timeout=60)
    assert not (tmp_path / "o.mp4").exists() and not (tmp_path / "o.csv").exists()
    assert (tmp_path / ".o.partial.csv").is_file()  # the rows done, for whoever needs them


def test_sigterm_during_segment_says_how_many_images_are_done_and_resume_goes_on(tmp_path: Path) -> None:
    """An interrupted folder could only be redone whole; stopped, `segment` says how many images this run
    finished, each with all its outputs, and the same command with --resume writes the rest."""
    torch.manual_seed(0)
    net = LWIRSTNet().eval()
    model = tmp_path / "m.safetensors"
    save_checkpoint(model, net, net.config)
    frames, out = tmp_path / "frames", tmp_path / "out"
    frames.mkdir()
    for i in range(24):
        cv2.imwrite(str(frames / f"f{i:02d}.png"), np.random.default_rng(i).integers(0, 255, (512, 640), np.uint8))
    command = [sys.executable, "-m", "lwirst", "segment", str(frames), "--out", str(out), "--model", str(model),
               "--backend", "torch", "--threads", "1", "--confirm", "off"]
    proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=ENV,
                            cwd=tmp_path)
    deadline = time.monotonic() + 240
    while time.monotonic() < deadline and not list(out.glob("*_targets.json")):
        assert proc.poll() is None, proc.communicate()
        time.sleep(0.1)
    proc.send_signal(signal.SIGTERM)
    _, stderr = proc.communicate(timeout=120)
    finished = len(list(out.glob("*_targets.json")))
    assert proc.returncode == 130 and 1 <= finished < 24, stderr
    assert (f"stopped after {finished} of 24 images, each with all its outputs; the same command with --resume "
            "goes on") in stderr
    done = subprocess.run([*command, "--resume"], capture_output=True, text=True, env=ENV, cwd=tmp_path,
                          timeout=600)
    assert done.returncode == 0, done.stderr
    assert f"--resume: {finished} of 24 images already have all their outputs; skipped" in done.stdout
    assert len(list(out.glob("*_targets.json"))) == 24


# 12. --address probes


@pytest.fixture()
def silent_port() -> Iterator[int]:
    """A TCP port that accepts connections and never answers (not Ray)."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(8)
    held: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        server.settimeout(0.2)
        while not stop.is_set():
            try:
                held.append(server.accept()[0])
            except OSError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    yield server.getsockname()[1]
    stop.set()
    thread.join()
    for conn in held:
        conn.close()
    server.close()


@pytest.fixture()
def http1_port() -> Iterator[int]:
    """An HTTP/1.1 server: answers, but not with HTTP/2."""
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    server = ThreadingHTTPServer(("127.0.0.1", 0), BaseHTTPRequestHandler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server.server_address[1]
    server.shutdown()
    server.server_close()


@pytest.mark.slow  # Ray's start-up: one at a time with the sweeps and browser tours (tests/conftest.py)
def test_sweep_at_a_port_that_is_not_ray_fails_in_seconds(silent_port: int, tmp_path: Path) -> None:
    """Ray's client waited on a silent port for minutes; the probe gives up after PROBE_TIMEOUT_S. The bound is
    that timeout plus the command's start-up, measured beside it (a fixed 10 s failed on a loaded machine
    whose imports alone took 7 s)."""
    start = time.monotonic()
    subprocess.run([sys.executable, "-c", "import lwirst.cli, lwirst.commands.sweep, lwirst.sweep"], env=ENV,
                   cwd=tmp_path, timeout=60, check=True)
    startup = time.monotonic() - start
    start = time.monotonic()
    done = subprocess.run([sys.executable, "-m", "lwirst", "sweep", "--presets", "lw_irstnet", "--run-dir",
                           str(tmp_path / "sweep"), "--address", f"127.0.0.1:{silent_port}", "--data-dir",
                           str(tmp_path)], capture_output=True, text=True, env=ENV, cwd=tmp_path, timeout=60,
                          check=False)
    assert time.monotonic() - start < 2 * startup + PROBE_TIMEOUT_S + 3
    assert done.returncode == 1 and "does not answer as a Ray cluster" in error_line(done)
    assert not (tmp_path / "sweep").exists()  # the run directory was never locked to this recipe


def test_probe_refuses_other_protocols_closed_ports_and_bad_ports(http1_port: int) -> None:
    with pytest.raises(LwirstError, match="does not answer as a Ray cluster"):
        check_address(f"127.0.0.1:{http1_port}", timeout=2)
    closed = socket.socket()
    closed.bind(("127.0.0.1", 0))
    port = closed.getsockname()[1]
    closed.close()
    with pytest.raises(LwirstError, match="cannot reach the Ray cluster"):
        check_address(f"127.0.0.1:{port}")
    with pytest.raises(LwirstError, match="port 99999 is not between 1 and 65535"):
        check_address("127.0.0.1:99999")


def test_probe_accepts_an_http2_server() -> None:
    """Ray's GCS and client server speak gRPC, i.e. HTTP/2: it opens with a SETTINGS frame."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(4)
    port = server.getsockname()[1]

    def answer() -> None:
        for _ in range(2):
            conn = server.accept()[0]
            conn.recv(64)
            conn.sendall(b"\x00\x00\x00\x04\x00\x00\x00\x00\x00")  # empty SETTINGS, stream 0
            conn.close()

    thread = threading.Thread(target=answer, daemon=True)
    thread.start()
    try:
        check_address(f"127.0.0.1:{port}")
        check_address(f"ray://127.0.0.1:{port}")
    finally:
        thread.join(5)
        server.close()


# 5. served mode


@pytest.mark.parametrize("address", ["localhost", "127.0.0.1", "::1"])
def test_loopback_needs_no_warning(address: str) -> None:
    assert served_warning(address) == ""


@pytest.mark.parametrize("address", ["0.0.0.0", "192.168.1.4", "myhost.example"])
def test_a_served_dashboard_says_what_it_exposes(address: str) -> None:
    text = served_warning(address)
    assert "no login" in text and "reverse proxy" in text and "cameras are disabled" in text


def test_dashboard_help_says_how_to_offer_ones_own_models_and_data(capsys: pytest.CaptureFixture[str]) -> None:
    """The only way to get a trained run into the dashboard is an environment variable `--help` never named."""
    with pytest.raises(SystemExit):
        main(["dashboard", "--help"])
    out = " ".join(capsys.readouterr().out.split())
    assert "$LWIRST_DASHBOARD_MODEL_ROOTS" in out and "$LWIRST_DASHBOARD_DATA_ROOTS" in out


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.mark.parametrize(("address", "served"), [("0.0.0.0", True), ("127.0.0.1", False)])
def test_dashboard_command_warns_and_turns_cameras_off_when_served(address: str, served: bool) -> None:
    """The real `lwirst dashboard`: its stderr warning, and the environment its Streamlit process gets
    (read from /proc once that process has exec'd), which `server_cameras_allowed` reads."""
    env = {k: v for k, v in ENV.items() if k not in ("LWIRST_SERVED", "LWIRST_SERVER_CAMERAS")}
    proc = subprocess.Popen([sys.executable, "-m", "lwirst", "dashboard", "--address", address, "--port",
                             str(_free_port())], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
                            start_new_session=True)
    child_env: dict[str, str] | None = None
    try:
        deadline = time.monotonic() + 120
        while child_env is None and time.monotonic() < deadline and proc.poll() is None:
            for task in Path(f"/proc/{proc.pid}/task").glob("*/children"):
                for child in task.read_text().split():
                    with contextlib.suppress(OSError):
                        if b"streamlit" in Path(f"/proc/{child}/cmdline").read_bytes():
                            raw = Path(f"/proc/{child}/environ").read_bytes()
                            child_env = dict(item.split("=", 1) for item in raw.decode().split("\0") if "=" in item)
            time.sleep(0.1)
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)
        _, stderr = proc.communicate(timeout=60)
    assert child_env is not None, stderr
    if served:
        assert stderr.startswith(f"warning: serving on {address} exposes the dashboard to the network with no login")
        assert child_env.get("LWIRST_SERVED") == "1" and child_env.get("LWIRST_SERVER_CAMERAS") == "0"
    else:
        assert "warning" not in stderr and "LWIRST_SERVED" not in child_env


@pytest.mark.parametrize(("served", "cameras", "allowed"), [(None, None, True), ("1", "0", False), ("1", "1", True)])
def test_server_cameras_follow_the_served_setting(monkeypatch: pytest.MonkeyPatch, served: str | None,
                                                  cameras: str | None, allowed: bool) -> None:
    from dashboard.common import server_cameras_allowed

    for name, value in (("LWIRST_SERVED", served), ("LWIRST_SERVER_CAMERAS", cameras)):
        if value is None:
            monkeypatch.delenv(name, raising=False)
        else:
            monkeypatch.setenv(name, value)
    assert server_cameras_allowed() is allowed


def test_a_refused_write_is_one_line_and_a_checkpoint_is_readable_by_all(tmp_path: Path,
                                                                         monkeypatch: pytest.MonkeyPatch,
                                                                         capsys: pytest.CaptureFixture[str]) -> None:
    """A full or read-only disk at a checkpoint's save gave safetensors' (or torch's) own traceback; checkpoints
    were written 0600 (safetensors' private temporary file), unlike every other file of a run."""
    import errno

    from safetensors import SafetensorError

    from lwirst import checkpoint
    from lwirst.commands import complexity

    net = LWIRSTNet()
    umask = os.umask(0o022)
    try:
        save_checkpoint(tmp_path / "ok.safetensors", net, net.config)
    finally:
        os.umask(umask)
    assert (tmp_path / "ok.safetensors").stat().st_mode & 0o777 == 0o644  # as the umask has it

    def full(*args: object, **kwargs: object) -> None:
        raise SafetensorError("Error while serializing: IoError(No space left on device (os error 28))")

    monkeypatch.setattr(checkpoint, "save_file", full)
    with pytest.raises(OSError) as caught:
        save_checkpoint(tmp_path / "full.safetensors", net, net.config)
    assert caught.value.errno == errno.ENOSPC and caught.value.filename == str(tmp_path / "full.safetensors")
    assert not list(tmp_path.glob(".*"))  # no temporary file left behind

    def refused(args: object) -> int:
        raise OSError(errno.EROFS, "Read-only file system", "/mnt/ro/out.onnx")

    monkeypatch.setattr(complexity, "run", refused)
    assert main(["complexity"]) == 1
    assert capsys.readouterr().err == "error: /mnt/ro/out.onnx: Read-only file system\n"

    def missing(args: object) -> int:  # not a refused write: a bug keeps its traceback
        raise FileNotFoundError(errno.ENOENT, "No such file or directory", "x")

    monkeypatch.setattr(complexity, "run", missing)
    with pytest.raises(FileNotFoundError):
        main(["complexity"])


def test_the_dashboard_command_hands_streamlit_its_folders_as_absolute_paths(tmp_path: Path,
                                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    """Streamlit runs in the app's folder (site-packages when installed): LWIRST_DASHBOARD_ABLATION_ROOTS=runs/sweep,
    given where runs/ is, named a folder that was not there."""
    monkeypatch.chdir(tmp_path)
    env = absolute_roots({"LWIRST_DASHBOARD_ABLATION_ROOTS": os.pathsep.join(["runs/sweep", "/abs/other"]),
                          "LWIRST_DATA_DIR": "data", "LWIRST_CACHE_DIR": "", "HOME": "keep/me"})
    assert env == {"LWIRST_DASHBOARD_ABLATION_ROOTS": os.pathsep.join([str(tmp_path / "runs/sweep"), "/abs/other"]),
                   "LWIRST_DATA_DIR": str(tmp_path / "data"), "LWIRST_CACHE_DIR": "", "HOME": "keep/me"}
