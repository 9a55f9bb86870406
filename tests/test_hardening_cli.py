"""Issue #21 fault suite: every bad value or path is refused by `python -m lwirst` with one line on
stderr and the documented exit code (1: LwirstError, 2: a usage error), and no input file changes.

Each case runs the real command in a subprocess; nothing is mocked.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch
from onnx import TensorProto

from lwirst.backends import backend_names, get_backend
from lwirst.checkpoint import save_checkpoint
from lwirst.cli import main
from lwirst.model import LWIRSTNet
from lwirst.stderr_capture import Captured, TerminalHandler, captured_stderr
from tests.cli_process import run_lwirst
from tests.test_hardening_bombs import typed_onnx

REPO = Path(__file__).resolve().parents[1]


def run_cli(*args: str | Path, cwd: Path | None = None, env: dict[str, str] | None = None,
            timeout: float = 300) -> subprocess.CompletedProcess[str]:
    """`python -m lwirst ARGS` with this checkout's lwirst first on the path (forked warm: tests/cli_process.py)."""
    full_env = {**os.environ, "PYTHONPATH": str(REPO), "LWIRST_CACHE_DIR": str(cwd or REPO / ".no-cache"),
                **(env or {})}
    return run_lwirst(*args, cwd=cwd, env=full_env, timeout=timeout)


def one_line_error(done: subprocess.CompletedProcess[str]) -> str:
    """The single non-empty stderr line of a failed command (no traceback, no usage dump).

    A dataset's problem list follows its error line as indented lines; those are part of it."""
    lines = [line for line in done.stderr.splitlines() if line.strip() and not line.startswith("  ")]
    assert "Traceback" not in done.stderr, done.stderr
    assert len(lines) == 1, done.stderr
    assert lines[0].startswith("error: "), lines[0]
    return lines[0]


def digest(paths: list[Path]) -> dict[str, str]:
    """Content hash of every file under `paths` (files or folders), to prove inputs unchanged."""
    files = [f for p in paths for f in ([p] if p.is_file() else sorted(p.rglob("*")) if p.is_dir() else [])
             if f.is_file()]
    return {str(f): hashlib.sha256(f.read_bytes()).hexdigest() for f in files}


class World:
    """Small real inputs: a checkpoint, a video, a folder dataset, an image, a plain file."""

    def __init__(self, root: Path) -> None:
        self.root = root
        torch.manual_seed(0)
        net = LWIRSTNet().eval()
        self.model = root / "m.safetensors"
        save_checkpoint(self.model, net, net.config)
        self.video = root / "in.mp4"
        writer = cv2.VideoWriter(str(self.video), cv2.VideoWriter_fourcc(*"mp4v"), 10, (64, 48))
        for i in range(4):
            frame = np.full((48, 64, 3), 40, np.uint8)
            frame[20:23, 10 + i:13 + i] = 250
            writer.write(frame)
        writer.release()
        self.data = root / "data" / "set"
        (self.data / "images").mkdir(parents=True)
        (self.data / "masks").mkdir()
        for i in range(2):
            image = np.full((32, 32), 50, np.uint8)
            image[10:13, 10:13] = 250
            mask = np.zeros((32, 32), np.uint8)
            mask[10:13, 10:13] = 255
            cv2.imwrite(str(self.data / "images" / f"s{i}.png"), image)
            cv2.imwrite(str(self.data / "masks" / f"s{i}.png"), mask)
        (self.data / "test.txt").write_text("s0\ns1\n")
        (self.data / "train.txt").write_text("s0\ns1\n")
        self.image = root / "scene.png"
        cv2.imwrite(str(self.image), np.full((32, 32), 60, np.uint8))
        self.plain = root / "plain.txt"
        self.plain.write_text("a regular file")
        self.existing = root / "existing.mp4"
        self.existing.write_bytes(b"someone's video")


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> World:
    return World(tmp_path_factory.mktemp("world"))


Case = tuple[Callable[[World], list[str | Path]], int, str]

# id -> (arguments, exit code, expected text in the error line). Numbers in the ids are the items.
CASES: dict[str, Case] = {
    # 4. outputs that destroy inputs
    "4-video-csv-is-input": (lambda w: ["video", w.video, "--out", w.root / "o.mp4", "--csv", w.video,
                                        "--model", w.model], 1, "is an input of this command"),
    "4-export-out-is-checkpoint": (lambda w: ["export", "--checkpoint", w.model, "--out", w.model], 1,
                                   "is an input of this command"),
    "4-video-csv-equals-out": (lambda w: ["video", w.video, "--out", w.root / "o.mp4", "--csv",
                                          w.root / "o.mp4", "--model", w.model], 1, "is also the --out output"),
    "4-segment-into-dataset-masks": (lambda w: ["segment", w.image, "--out", w.data / "masks", "--model",
                                                w.model], 1, "inside the dataset folder"),
    "4-synth-into-existing-dataset": (lambda w: ["synth", "--out", w.data, "--count", "2", "--size", "32",
                                                 "32"], 1, "is not empty"),
    "4-video-out-exists": (lambda w: ["video", w.video, "--out", w.existing, "--model", w.model], 1,
                           "already exists; pass --force"),
    "4-segment-out-contains-input": (lambda w: ["segment", w.image, "--out", w.root, "--model", w.model], 1,
                                     "contains the input"),
    "4-demo-out-is-images": (lambda w: ["demo", "--images", w.data / "images", "--out", w.data / "images",
                                        "--model", w.model], 1, "is an input of this command"),
    "4-demo-into-dataset": (lambda w: ["demo", "--images", w.data / "images", "--out", w.data / "demo",
                                       "--model", w.model], 1, "inside the dataset folder"),
    "4-train-run-dir-in-dataset-images": (lambda w: ["train", "--run-dir", w.data / "images" / "run", "--data-dir",
                                                     w.data.parent, "--dataset", "set", "--val-split", ""], 1,
                                          "lies inside the input folder"),
    # 9. coloured masks
    "9-red-mask": (lambda w: ["evaluate", "--data-dir", w.root / "red", "--dataset", "folder", "--split",
                              "test", "--model", w.model, "--backend", "torch"], 1, "mask is coloured"),
    # 10. NaN / Inf values
    "10-train-lr-inf": (lambda w: ["train", "--run-dir", w.root / "r", "--lr", "inf"], 2, "--lr"),
    "10-evaluate-threshold-nan": (lambda w: ["evaluate", "--threshold", "nan"], 2, "finite"),
    # 11. silently ignored values
    "11-bench-garbage-onnx": (lambda w: ["bench", "--model", w.root / "garbage.onnx", "--quick"], 1,
                              "not a valid ONNX model"),
    "11-bench-missing-data-dir": (lambda w: ["bench", "--data-dir", w.root / "nonexistent", "--quick"], 1,
                                  "no sirst/images folder"),
    "11-train-until-0": (lambda w: ["train", "--run-dir", w.root / "r", "--until", "0"], 2, "--until"),
    "11-train-hflip-ture": (lambda w: ["train", "--run-dir", w.root / "r", "--hflip", "ture"], 2,
                            "expected true or false"),
    # 13. values that hang
    "13-video-fps-inf": (lambda w: ["video", w.video, "--out", w.root / "o.mp4", "--fps", "inf"], 2, "--fps"),
    "13-bench-seconds-inf": (lambda w: ["bench", "--seconds", "inf"], 2, "--seconds"),
    "13-bench-seconds-nan": (lambda w: ["bench", "--seconds", "nan"], 2, "--seconds"),
    # 14. tracebacks
    "14-segment-threads-negative": (lambda w: ["segment", w.image, "--out", w.root / "o", "--threads", "-2"], 2,
                                    "--threads"),
    "14-video-threads-negative": (lambda w: ["video", w.video, "--out", w.root / "o.mp4", "--threads", "-1",
                                             "--backend", "torch"], 2, "--threads"),
    "14-video-threads-negative-openvino": (lambda w: ["video", w.video, "--out", w.root / "o.mp4", "--threads",
                                                      "-1", "--backend", "openvino"], 2, "--threads"),
    "14-train-threads-negative": (lambda w: ["train", "--run-dir", w.root / "r", "--threads", "-1"], 2,
                                  "--threads"),
    "14-split-list-not-utf8": (lambda w: ["evaluate", "--data-dir", w.root / "latin", "--dataset", "folder",
                                          "--split", "test", "--model", w.model, "--backend", "torch"], 1,
                               "not UTF-8"),
    "14-train-lr-nan": (lambda w: ["train", "--run-dir", w.root / "r", "--lr", "nan"], 2, "--lr"),
    "14-train-weight-decay-negative": (lambda w: ["train", "--run-dir", w.root / "r", "--weight-decay", "-1"],
                                       2, "--weight-decay"),
    "14-train-momentum-negative": (lambda w: ["train", "--run-dir", w.root / "r", "--momentum", "-1"], 2,
                                   "--momentum"),
    "14-export-opset-99": (lambda w: ["export", "--checkpoint", w.model, "--out", w.root / "x.onnx",
                                      "--opset", "99"], 2, "--opset"),
    "14-bench-batch-100000": (lambda w: ["bench", "--batch", "100000"], 2, "--batch"),
    # 15. failures found late
    "15-run-dir-unwritable": (lambda w: ["train", "--run-dir", w.plain / "run", "--data-dir", w.data.parent,
                                         "--dataset", "set"], 1, "--run-dir"),
    "15-evaluate-out-unwritable": (lambda w: ["evaluate", "--data-dir", w.data.parent, "--dataset", "set",
                                              "--model", w.model, "--out", w.plain / "res"], 1, "is a file"),
    "15-evaluate-size-huge": (lambda w: ["evaluate", "--size", "100000", "100000"], 2, "--size"),
    # 16. unclear errors
    "16-video-fps-nan": (lambda w: ["video", w.video, "--out", w.root / "o.mp4", "--fps", "nan"], 2, "finite"),
    "16-video-fps-1e9": (lambda w: ["video", w.video, "--out", w.root / "o.mp4", "--fps", "1e9"], 2,
                         "[0.1, 1000]"),
    "16-video-fps-1e-6": (lambda w: ["video", w.video, "--out", w.root / "o.mp4", "--fps", "1e-6"], 2,
                          "[0.1, 1000]"),
    "16-export-onnx-checkpoint": (lambda w: ["export", "--checkpoint", w.root / "x.onnx", "--out",
                                             w.root / "y.onnx"], 1, "already an ONNX model"),
    "16-dashboard-port-99999": (lambda w: ["dashboard", "--port", "99999"], 2, "[1, 65535]"),
    "16-sweep-port-99999": (lambda w: ["sweep", "--presets", "lw_irstnet", "--run-dir", w.root / "sw", "--address",
                                       "127.0.0.1:99999", "--data-dir", w.root], 1,
                            "port 99999 is not between 1 and 65535"),
    "16-out-under-a-file": (lambda w: ["segment", w.image, "--out", w.plain / "sub", "--model", w.model], 1,
                            "is a file, not a folder"),
    # later options: the sensor's polarity and the ignore zones (`lwirst.polarity`, `lwirst.zones`)
    "17-video-csv-is-ignore-mask": (lambda w: ["video", w.video, "--out", w.root / "o.mp4", "--csv", w.image,
                                               "--ignore-mask", w.image, "--model", w.model], 1,
                                    "is an input of this command"),
    "17-segment-ignore-not-a-rectangle": (lambda w: ["segment", w.image, "--out", w.root / "o", "--model", w.model,
                                                     "--backend", "torch", "--ignore", "1,2,3"], 1,
                                          "expected X,Y,W,H"),
    "17-segment-ignore-mask-not-an-image": (lambda w: ["segment", w.image, "--out", w.root / "o", "--model",
                                                       w.model, "--backend", "torch", "--ignore-mask", w.plain], 1,
                                            "plain.txt"),
    "17-evaluate-polarity-unknown": (lambda w: ["evaluate", "--polarity", "grey-hot"], 2, "invalid choice"),
}


def _prepare(world: World, case: str) -> None:
    """Inputs some cases need beyond the shared world."""
    if case == "9-red-mask":
        red = world.root / "red"
        if not red.exists():
            (red / "images").mkdir(parents=True)
            (red / "masks").mkdir()
            image = np.full((32, 32), 50, np.uint8)
            cv2.imwrite(str(red / "images" / "a.png"), image)
            mask = np.zeros((32, 32, 3), np.uint8)
            mask[10:13, 10:13] = (0, 0, 255)  # red in BGR
            cv2.imwrite(str(red / "masks" / "a.png"), mask)
            (red / "test.txt").write_text("a\n")
    if case == "14-split-list-not-utf8":
        latin = world.root / "latin"
        if not latin.exists():
            (latin / "images").mkdir(parents=True)
            (latin / "masks").mkdir()
            cv2.imwrite(str(latin / "images" / "caf\u00e9.png"), np.full((32, 32), 50, np.uint8))
            cv2.imwrite(str(latin / "masks" / "caf\u00e9.png"), np.zeros((32, 32), np.uint8))
            (latin / "test.txt").write_bytes("caf\u00e9\n".encode("latin-1"))
    if case == "11-bench-garbage-onnx":
        (world.root / "garbage.onnx").write_bytes(b"\x08\x07garbage" * 30)
    if case == "16-export-onnx-checkpoint":
        (world.root / "x.onnx").write_bytes(b"\x08\x07")


@pytest.mark.parametrize("case", sorted(CASES))
def test_refused_with_one_line_and_inputs_unchanged(world: World, case: str) -> None:
    _prepare(world, case)
    build, code, expected = CASES[case]
    before = digest([world.root])
    done = run_cli(*build(world), cwd=world.root, env={"LWIRST_DATA_DIR": ""}, timeout=120)
    line = one_line_error(done)
    assert done.returncode == code, (done.returncode, line)
    assert expected in done.stderr, line
    assert digest([world.root]) == before  # no input changed, no output appeared


@pytest.mark.parametrize("command", ["export", "average", "train"])
def test_the_shipped_models_folder_takes_no_output(world: World, command: str) -> None:
    """`average --force --out data/models/lwirst-sirst.safetensors` replaced the default model under its card,
    and `train --run-dir data/models` filled the folder the dashboard lists and the wheel ships. (Probed with
    new names, so a regression cannot replace the shipped files.)"""
    from lwirst.paths import MODELS_DIR

    probe = MODELS_DIR / "probe-output"
    args = {"export": ["export", "--checkpoint", world.model, "--out", probe.with_suffix(".onnx")],
            "average": ["average", world.model, world.model, "--out", probe.with_suffix(".safetensors"), "--force",
                        "--data-dir", world.data.parent, "--dataset", "set", "--split", "train"],
            "train": ["train", "--run-dir", probe, "--data-dir", world.data.parent, "--dataset", "set",
                      "--val-split", "", "--epochs", "1", "--size", "32"]}[command]
    before = digest([MODELS_DIR])
    try:
        done = run_cli(*args, cwd=world.root, env={"LWIRST_DATA_DIR": ""}, timeout=120)
        assert done.returncode == 1 and "lies in the shipped models folder" in one_line_error(done)
        assert digest([MODELS_DIR]) == before and not list(MODELS_DIR.glob("probe-output*"))
    finally:
        for left in MODELS_DIR.glob("probe-output*"):
            left.unlink() if left.is_file() else shutil.rmtree(left)


@pytest.mark.parametrize("backend", [name for name in backend_names() if get_backend(name).runs_onnx])
@pytest.mark.parametrize(("where", "elem"), [("output", TensorProto.INT64), ("input", TensorProto.UINT8)],
                         ids=["int64-output", "uint8-input"])
def test_onnx_of_another_type_is_one_line_on_every_backend(world: World, tmp_path: Path, backend: str, where: str,
                                                           elem: int) -> None:
    """Item 14: these models raised a traceback from inside each runtime."""
    if not get_backend(backend).installed:
        pytest.skip(f"{backend} is not installed")
    model = tmp_path / f"{where}.onnx"
    model.write_bytes(typed_onnx(where, elem))
    before = digest([world.image, model])
    done = run_cli("segment", world.image, "--out", tmp_path / "o", "--model", model, "--backend", backend,
                   cwd=tmp_path)
    assert done.returncode == 1
    assert f"the {where} is {TensorProto.DataType.Name(elem)}; expected FLOAT" in one_line_error(done)
    assert digest([world.image, model]) == before and not (tmp_path / "o").exists()


@pytest.fixture()
def small_mount(tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[Path]:
    """A 64 kB tmpfs, read-only or filled to the last byte (needs root; skipped elsewhere)."""
    kind = request.param
    where = tmp_path / kind
    where.mkdir()
    options = "size=64k" + (",ro" if kind == "read-only" else "")
    if os.geteuid() != 0 or subprocess.run(["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(where)],
                                           capture_output=True, check=False).returncode:
        pytest.skip("mounting a tmpfs needs root")
    try:
        if kind == "full":
            with contextlib.suppress(OSError), (where / "filler").open("wb") as handle:
                handle.write(b"\0" * 2**20)
        yield where
    finally:
        subprocess.run(["umount", str(where)], check=True)


@pytest.mark.parametrize("small_mount", ["read-only", "full"], indirect=True)
@pytest.mark.parametrize("command", ["train", "evaluate", "export", "video", "bench"])
def test_unwritable_or_full_output_fails_before_the_work(world: World, small_mount: Path, command: str) -> None:
    """Item 15: a read-only or full --run-dir / --out once failed after a whole epoch or all the scoring;
    export, video and bench --json after their work too (video's and average's with a traceback)."""
    why = {"read-only": "Read-only file system", "full": "No space left on device"}[small_mount.name]
    args = {"train": ["train", "--run-dir", small_mount / "run", "--data-dir", world.data.parent, "--dataset",
                      "set", "--val-split", "", "--epochs", "1", "--threads", "1"],
            "evaluate": ["evaluate", "--data-dir", world.data.parent, "--dataset", "set", "--model", world.model,
                         "--backend", "torch", "--out", small_mount / "res"],
            "export": ["export", "--checkpoint", world.model, "--out", small_mount / "m.onnx"],
            "video": ["video", world.video, "--out", small_mount / "v.mp4", "--model", world.model],
            "bench": ["bench", "--quick", "--json", small_mount / "b.json", "--threads", "1"]}[command]
    before = digest([world.root])
    start = time.monotonic()
    done = run_cli(*args, cwd=small_mount.parent)
    assert done.returncode == 1
    line = one_line_error(done)
    assert "cannot write there" in line and why in line, line
    assert time.monotonic() - start < 60  # refused at start-up, not after an epoch or the scoring
    assert digest([world.root]) == before


def test_checking_outputs_grows_with_the_number_of_frames_not_its_square(tmp_path: Path,
                                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    """`segment` of a 20 000-frame folder checked each of its 100 000 outputs against each input in turn: no first
    frame after minutes (hours at 100 000 frames). Counted in filesystem calls, twice the frames cost twice the
    calls, not four times."""
    from lwirst.validate import check_outputs

    def calls(frames: int) -> int:
        folder, out = tmp_path / f"in{frames}", tmp_path / f"out{frames}"
        folder.mkdir()
        inputs = [folder / f"{i}.png" for i in range(frames)]
        for path in inputs:
            path.write_bytes(b"x")
        outputs = [out / f"{i}_{kind}.png" for i in range(frames) for kind in ("mask", "overlay")]
        count = [0]

        def counted(call: Callable[..., object]) -> Callable[..., object]:
            def wrapper(*args: object, **kwargs: object) -> object:
                count[0] += 1
                return call(*args, **kwargs)
            return wrapper

        with monkeypatch.context() as patch:
            patch.setattr(os, "stat", counted(os.stat))
            patch.setattr(os, "lstat", counted(os.lstat))
            check_outputs({"--out": outputs}, [folder, *inputs], folders={"--out": out})
        return count[0]

    small, large = calls(100), calls(200)
    assert small > 0 and large < 2.5 * small, (small, large)


def test_force_allows_overwriting_an_output_but_never_an_input(world: World, tmp_path: Path) -> None:
    out = tmp_path / "o.mp4"
    out.write_bytes(b"old output")
    done = run_cli("video", world.video, "--out", out, "--model", world.model, "--backend", "torch",
                   "--threads", "1", "--force", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert out.read_bytes() != b"old output" and (tmp_path / "o.csv").is_file()
    before = digest([world.video])
    done = run_cli("video", world.video, "--out", out, "--csv", world.video, "--model", world.model, "--force",
                   cwd=tmp_path)
    assert done.returncode == 1 and "is an input" in one_line_error(done)
    assert digest([world.video]) == before
    truth = tmp_path / "truth.csv"  # a file no command reads here, reached through a link named as an output
    truth.write_text("frame,x,y\n")
    (tmp_path / "link.csv").symlink_to(truth)
    done = run_cli("video", world.video, "--out", out, "--csv", tmp_path / "link.csv", "--model", world.model,
                   "--force", cwd=tmp_path)
    assert done.returncode == 1 and "is a symbolic link to" in one_line_error(done)
    assert truth.read_text() == "frame,x,y\n"
    hard = tmp_path / "hard.mp4"  # another name of the input's own bytes: --force rewrote the input through it
    os.link(world.video, hard)
    done = run_cli("video", world.video, "--out", hard, "--model", world.model, "--force", cwd=tmp_path)
    assert done.returncode == 1 and "is a hard link to the input" in one_line_error(done)
    assert digest([world.video]) == before


def test_a_link_then_dotdot_is_checked_where_the_system_writes(world: World, tmp_path: Path) -> None:
    """`lnk/../in.mp4`, lnk a link into a/b: the system follows the link before the "..", and writes a/in.mp4;
    the check read it as the in.mp4 beside lnk, so the input video was written over as it was read, and an
    evaluation's results landed inside the dataset. Both are refused now, and nothing is written."""
    folder = tmp_path / "a"
    (folder / "b").mkdir(parents=True)
    video = folder / "in.mp4"
    shutil.copyfile(world.video, video)
    (tmp_path / "lnk").symlink_to("a/b")
    before = digest([video])
    done = run_cli("video", video, "--out", tmp_path / "lnk" / ".." / "in.mp4", "--csv", tmp_path / "o.csv",
                   "--model", world.model, "--threads", "1", cwd=tmp_path)
    assert done.returncode == 1 and "is an input of this command" in one_line_error(done)
    assert digest([video]) == before and not (tmp_path / "o.csv").exists()
    data = tmp_path / "mine"
    for part in ("images", "masks"):
        (data / part).mkdir(parents=True)
        cv2.imwrite(str(data / part / "f0.png"), np.zeros((32, 32), np.uint8))
    (tmp_path / "into").symlink_to("mine/images")
    done = run_cli("evaluate", "--data-dir", data, "--dataset", "folder", "--split", "all", "--model", world.model,
                   "--out", tmp_path / "into" / ".." / "res", cwd=tmp_path)
    assert done.returncode == 1 and "inside" in one_line_error(done)
    assert not (data / "res").exists()


def test_video_csv_has_a_row_for_frames_without_targets(world: World, tmp_path: Path) -> None:
    out = tmp_path / "o.mp4"
    done = run_cli("video", world.video, "--out", out, "--model", world.model, "--backend", "torch",
                   "--threads", "1", "--threshold", "10000", cwd=tmp_path)  # nothing passes this threshold
    assert done.returncode == 0, done.stderr
    rows = (tmp_path / "o.csv").read_text().splitlines()
    assert [row.split(",")[0] for row in rows[1:]] == ["0", "1", "2", "3"]


def test_segment_write_failure_names_the_file_and_goes_on(world: World, tmp_path: Path) -> None:
    second = tmp_path / "second.png"
    cv2.imwrite(str(second), np.full((32, 32), 70, np.uint8))
    long = tmp_path / f"{'x' * 247}.png"  # its outputs' names exceed the 255-byte limit: writing them fails
    cv2.imwrite(str(long), np.full((32, 32), 70, np.uint8))
    out = tmp_path / "out"
    done = run_cli("segment", long, second, "--out", out, "--model", world.model, "--backend", "torch",
                   "--threads", "1", cwd=tmp_path)
    assert done.returncode == 1
    assert "cannot write" in done.stderr and "_mask.png" in done.stderr and "1 of 2 images failed" in done.stderr
    assert (out / "second_targets.json").is_file()  # the other image was still written
    assert not [p for p in out.iterdir() if ".tmp" in p.name]  # no partial temporary file left


# Native libraries' stderr chatter (libpng, FFmpeg) never reaches the terminal: the one line says it.


def corrupt_png() -> bytes:
    ok, encoded = cv2.imencode(".png", np.zeros((64, 64), np.uint8))
    assert ok
    data = bytearray(encoded.tobytes())
    data[60:70] = b"\xff" * 10  # inside IDAT: libpng warns, then fails its checksum
    return bytes(data)


def test_corrupt_png_gives_one_plain_line_and_logs_libpng_s_words(tmp_path: Path) -> None:
    """Plain, as for videos (a dashboard shows it to visitors); libpng's words are a log line (-v)."""
    (tmp_path / "bad.png").write_bytes(corrupt_png())
    done = run_cli("segment", "bad.png", "--out", "o", "--backend", "onnxruntime", cwd=tmp_path)
    assert done.returncode == 1
    errors = [line for line in done.stderr.splitlines() if line.strip()]
    assert errors == ["error: bad.png: not a readable image: a PNG file that is cut short or corrupt (its data does "
                      "not decode)",
                      "1 of 1 images failed"], done.stderr
    verbose = run_cli("-v", "segment", "bad.png", "--out", "o", "--backend", "onnxruntime", cwd=tmp_path)
    logged = next(line for line in verbose.stderr.splitlines() if line.startswith("INFO lwirst.imageio: bad.png"))
    assert "libpng error: IDAT: CRC error" in logged


@pytest.mark.parametrize(("data", "said"), [
    (b"", "the file is empty; choose a video (MP4, AVI, MKV, ...)"),
    (b"version https://git-lfs.github.com/spec/v1\n", "not a readable video: it holds text ('version "
                                                      "https://git-lfs.'...), not video data; choose a video (MP4, "
                                                      "AVI, MKV, ...)"),
], ids=["empty", "text"])
def test_an_empty_or_text_file_named_as_a_video_says_what_it_holds(tmp_path: Path, data: bytes, said: str) -> None:
    """Both read "not a readable video (corrupt, truncated or unsupported format)", where an image says "the file is
    empty" or "it holds text": the same words for the same mistake."""
    (tmp_path / "clip.mp4").write_bytes(data)
    done = run_cli("video", "clip.mp4", "--out", "o.mp4", cwd=tmp_path)
    assert done.returncode == 1 and one_line_error(done) == f"error: clip.mp4: {said}"


@pytest.mark.parametrize(("data", "why"), [
    (b"\x00\x00\x00\x18ftypmp42" + b"\x00" * 2000, "moov atom not found"),
    (b"RIFF\x00\x10\x00\x00AVI LIST" + b"\xff" * 600, "FFmpeg cannot open it"),
], ids=["mp4-without-moov", "avi-garbage"])
def test_corrupt_video_gives_one_plain_line_and_logs_ffmpeg_s_words(tmp_path: Path, data: bytes, why: str) -> None:
    """The error is plain (a dashboard shows it to visitors); FFmpeg's words are a log line (-v), never its
    "[mov,mp4 @ 0x...]" chatter."""
    (tmp_path / "bad.mp4").write_bytes(data)
    done = run_cli("video", "bad.mp4", "--out", "o.mp4", cwd=tmp_path)
    assert done.returncode == 1
    line = one_line_error(done)  # exactly one stderr line
    assert line == "error: bad.mp4: not a readable video (corrupt, truncated or unsupported format)"
    verbose = run_cli("-v", "video", "bad.mp4", "--out", "o.mp4", cwd=tmp_path)
    logged = next(line for line in verbose.stderr.splitlines() if line.startswith("INFO lwirst.video: bad.mp4: "))
    assert "FFmpeg cannot open it" in logged and why in logged and "@ 0x" not in verbose.stderr


# `train --config FILE`: every problem with the file names it.


@pytest.mark.parametrize(("content", "expected"), [
    (None, "cannot read it (No such file or directory)"),
    (b'{"num_daaa": 2', "network config is not valid JSON"),
    (b"\xff\xfe\x00", "not a UTF-8 text file"),
    (b'{"bogus": 1}', "unknown network config field(s): bogus"),
    (b'{"num_daaa": 9}', "invalid network config: num_daaa must be between 1 and 4"),
    (b'{"dropout_stage2": "x"}', "network config field dropout_stage2 takes a number, not 'x'"),
    (b"[1, 2]", "network config JSON must be an object"),
], ids=["missing", "bad-json", "not-utf8", "unknown-key", "out-of-range", "wrong-type", "not-an-object"])
def test_train_config_errors_name_the_file(tmp_path: Path, content: bytes | None, expected: str) -> None:
    config = tmp_path / "net.json"
    if content is not None:
        config.write_bytes(content)
    done = run_cli("train", "--config", config.name, "--run-dir", "run", "--epochs", "1", cwd=tmp_path)
    assert done.returncode == 1
    line = one_line_error(done)
    assert line.startswith("error: --config net.json: ") and expected in line, line
    assert not (tmp_path / "run").exists()


def test_demo_follows_the_output_rules_of_segment(world: World, tmp_path: Path) -> None:
    """`demo --images DIR --out DIR` once overwrote an input named a_overlay.png with a.png's overlay, and a
    second run silently replaced the first one's outputs."""
    shots = tmp_path / "shots"
    shots.mkdir()
    cv2.imwrite(str(shots / "a.png"), np.full((32, 32), 60, np.uint8))
    cv2.imwrite(str(shots / "a_overlay.png"), np.full((32, 32), 90, np.uint8))
    before = digest([shots])
    done = run_cli("demo", "--images", shots, "--out", shots, "--model", world.model, "--threads", "1", cwd=tmp_path)
    assert done.returncode == 1 and "is an input of this command" in one_line_error(done)
    assert digest([shots]) == before
    out = tmp_path / "out"
    args = ("demo", "--images", shots, "--out", out, "--model", world.model, "--backend", "torch", "--threads", "1")
    assert run_cli(*args, cwd=tmp_path).returncode == 0
    first = digest([out])
    assert len(first) == 4  # an overlay and a heatmap per image
    done = run_cli(*args, cwd=tmp_path)
    assert done.returncode == 1 and "already exists; pass --force" in one_line_error(done)
    assert digest([out]) == first
    assert run_cli(*args, "--force", cwd=tmp_path).returncode == 0
    assert "default: ./lwirst-demo" in " ".join(run_cli("demo", "--help", cwd=tmp_path).stdout.split())
    # the newcomer's first command, run twice: its own default folder is refreshed, not refused
    default = ("demo", "--model", world.model, "--backend", "torch", "--threads", "1")
    assert run_cli(*default, cwd=tmp_path).returncode == 0
    assert run_cli(*default, cwd=tmp_path).returncode == 0 and (tmp_path / "lwirst-demo").is_dir()


def test_a_closed_output_pipe_stops_a_command_quietly(tmp_path: Path) -> None:
    """`lwirst segment ... | head -1`: the reader goes, the command stops as Unix tools do, with no traceback."""
    env = {**os.environ, "PYTHONPATH": str(REPO), "LWIRST_CACHE_DIR": str(tmp_path)}
    images = REPO / "data" / "samples" / "images"
    with subprocess.Popen([sys.executable, "-m", "lwirst", "segment", images, "--out", tmp_path / "out",
                           "--confirm", "off", "--threads", "1"], cwd=tmp_path, env=env,
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) as proc:
        assert proc.stdout is not None and proc.stderr is not None
        ran, first = proc.stdout.readline(), proc.stdout.readline()
        proc.stdout.close()
        err = proc.stderr.read()
        code = proc.wait(timeout=300)
    assert ran.startswith("ran: model ") and first.startswith(str(images)), (ran, first)
    assert code == 141, err
    assert "Traceback" not in err and "BrokenPipe" not in err and "Exception ignored" not in err, err


def test_a_warning_logged_while_another_thread_captures_stderr_still_reaches_the_terminal(
        capfd: pytest.CaptureFixture[str]) -> None:
    """Decoding a frame points descriptor 2 at a file for the native libraries' chatter; a warning another
    thread logged meanwhile (a dataset check: a mask resized) went into it, shown only with -v, half the time."""
    logger = logging.getLogger("lwirst.test_terminal")
    terminal = open(2, "w", buffering=1, closefd=False)  # noqa: SIM115 (descriptor 2 itself, as the CLI's stderr)
    handler = TerminalHandler(terminal)
    logger.addHandler(handler)
    inside, done = threading.Event(), threading.Event()
    captured: list[Captured] = []

    def decode() -> None:
        with captured_stderr() as chatter:
            os.write(2, b"libpng warning: chatter\n")
            inside.set()
            done.wait(10)
        captured.append(chatter)

    try:
        worker = threading.Thread(target=decode)
        worker.start()
        assert inside.wait(10)
        logger.warning("f00: mask 256x256 is resized to its 512x512 image")
        done.set()
        worker.join(10)
    finally:
        logger.removeHandler(handler)
        terminal.close()
    err = capfd.readouterr().err
    assert "f00: mask 256x256 is resized" in err and "chatter" not in err
    assert "chatter" in captured[0].text and "resized" not in captured[0].text


@pytest.mark.parametrize(("argv", "hint"), [
    (["train", "--model", "tinyconv", "--run-dir", "r"],
     "; --model: train chooses its network with --arch NAME (or --preset, --config) and starts from a trained "
     "model's weights with --init FILE (see lwirst train --help)"),
    (["evaluate", "--treshold=0.3"], "; did you mean --threshold? (see lwirst evaluate --help)"),
    (["evaluate", "--bogus", "1"], "arguments: --bogus 1 (see lwirst evaluate --help)"),
], ids=["another-commands-option", "typo", "unlike-any"])
def test_an_unknown_option_gets_a_hint(capsys: pytest.CaptureFixture[str], argv: list[str], hint: str) -> None:
    """`lwirst train --model NAME` said only "unrecognized arguments": every other command names a model so."""
    with pytest.raises(SystemExit) as stop:
        main(argv)
    error = capsys.readouterr().err.strip()
    assert stop.value.code == 2 and error.startswith(f"error: lwirst {argv[0]}: unrecognized arguments: ")
    assert error.endswith(hint)


@pytest.mark.parametrize("command", ["segment", "video"])
def test_a_pipe_or_a_device_given_as_an_input_is_named_as_such(tmp_path: Path, command: str) -> None:
    """A named pipe given to `lwirst video` hung with no word, and `segment` called a pipe, or a link to /dev/zero,
    "no such file" though it was there."""
    pipe = tmp_path / ("clip.mp4" if command == "video" else "frame.png")
    os.mkfifo(pipe)
    device = tmp_path / ("zero.mp4" if command == "video" else "zero.png")
    device.symlink_to("/dev/zero")
    for given in (pipe, device):
        done = run_cli(command, given, "--out", tmp_path / ("out.mp4" if command == "video" else "out"),
                       cwd=tmp_path, timeout=60)
        assert done.returncode == 1
        assert one_line_error(done) == f"error: {given}: not a regular file (a pipe, a device or a socket); give a file"


@pytest.mark.parametrize(("flag", "name", "said"), [("--model", "p.onnx", "model "),
                                                     ("--model", "p.safetensors", "model "),
                                                     ("--ignore-mask", "m.png", "")])
def test_a_pipe_given_as_a_model_or_an_ignore_mask_is_named_as_such(tmp_path: Path, flag: str, name: str,
                                                                     said: str) -> None:
    """A named pipe given as a model or an ignore mask hung the command, and a link to /dev/zero given as a model
    read until memory ran out."""
    frame = tmp_path / "f.png"
    cv2.imwrite(str(frame), np.full((64, 64), 50, np.uint8))
    pipe = tmp_path / name
    os.mkfifo(pipe)
    done = run_cli("segment", frame, flag, pipe, "--out", tmp_path / "out", cwd=tmp_path, timeout=60)
    assert done.returncode == 1
    assert one_line_error(done) == f"error: {said}{pipe}: not a regular file (a pipe, a device or a socket); " \
                                   "give a file"
    if flag == "--model":
        zero = tmp_path / f"zero{pipe.suffix}"
        zero.symlink_to("/dev/zero")
        done = run_cli("segment", frame, flag, zero, "--out", tmp_path / "out", cwd=tmp_path, timeout=60)
        assert done.returncode == 1 and "not a regular file" in one_line_error(done)
