"""Issue #21, served mode: an uploaded ONNX model runs first in a capped worker process (a graph
whose huge tensor only exists at run time is refused there, the parent's memory untouched), and
uploads stored on disk expire and are bounded per session."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from onnx import TensorProto, helper

from lwirst.errors import LwirstError
from lwirst.export import check_segmentation_onnx
from lwirst.onnxtrial import trial_run
from lwirst.uploads import prune_uploads, store_upload

REPO = Path(__file__).resolve().parents[1]
SHIPPED_ONNX = REPO / "data" / "models" / "lwirst-sirst.onnx"


def _graph(nodes: list, name: str = "g") -> bytes:
    graph = helper.make_graph(nodes, name, [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 3, "H", "W"])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", 1, "H", "W"])])
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]).SerializeToString()


def runtime_bomb(side: int = 30000) -> bytes:
    """A ~500-byte model whose ConstantOfShape takes its side from the input's values (max(x) + side):
    shape inference cannot see it, so the static bound passes; a run allocates side² floats (3.6 GB)."""
    def const(name: str, kind: int, dims: list[int], values: list) -> object:
        return helper.make_node("Constant", [], [name], value=helper.make_tensor(name, kind, dims, values))

    return _graph([
        helper.make_node("ReduceMean", ["x"], ["m"], axes=[1], keepdims=1),
        helper.make_node("ReduceMax", ["x"], ["peak"], keepdims=0),
        const("k", TensorProto.FLOAT, [], [float(side)]),
        helper.make_node("Add", ["peak", "k"], ["side_f"]),
        helper.make_node("Cast", ["side_f"], ["side"], to=TensorProto.INT64),
        const("axis", TensorProto.INT64, [1], [0]),
        helper.make_node("Unsqueeze", ["side", "axis"], ["side1"]),
        const("ones", TensorProto.INT64, [2], [1, 1]),
        helper.make_node("Concat", ["ones", "side1", "side1"], ["shape"], axis=0),
        helper.make_node("ConstantOfShape", ["shape"], ["big"]),
        helper.make_node("ReduceMax", ["big"], ["b"], keepdims=0),
        helper.make_node("Add", ["m", "b"], ["y"])], "runtime-bomb")


def slow_model() -> bytes:
    """Three 4096² float matrix products (~400 GFLOP, tens of seconds on one thread) in 64 MB tensors."""
    shape = helper.make_tensor("s", TensorProto.INT64, [2], [4096, 4096])
    one = helper.make_tensor("one", TensorProto.FLOAT, [1], [1.0])
    return _graph([
        helper.make_node("ReduceMean", ["x"], ["m"], axes=[1], keepdims=1),
        helper.make_node("Constant", [], ["shape"], value=shape),
        helper.make_node("ConstantOfShape", ["shape"], ["a"], value=one),
        helper.make_node("MatMul", ["a", "a"], ["b"]),
        helper.make_node("MatMul", ["b", "a"], ["c"]),
        helper.make_node("MatMul", ["c", "a"], ["d"]),
        helper.make_node("ReduceMin", ["d"], ["e"], keepdims=0),
        helper.make_node("Add", ["m", "e"], ["y"])], "slow")


def tiny_model() -> bytes:
    return _graph([helper.make_node("ReduceMean", ["x"], ["y"], axes=[1], keepdims=1)])


def _trial_in_child(model: Path) -> dict[str, object]:
    """`trial_run` from a small Python process: its outcome, its own peak memory (VmHWM, kB) and the
    worker's (ru_maxrss of children, kB)."""
    code = ("import json, re, resource, sys\nfrom lwirst.onnxtrial import trial_run\nfrom lwirst.errors import "
            "LwirstError\ntry:\n    trial_run(open(sys.argv[1], 'rb').read(), 'bomb.onnx', 3)\n    error = None\n"
            "except LwirstError as exc:\n    error = str(exc)\n"
            "peak = int(re.search(r'VmHWM:\\s+(\\d+)', open('/proc/self/status').read()).group(1))\n"
            "print(json.dumps({'error': error, 'parent_kb': peak, "
            "'worker_kb': resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss}))")
    done = subprocess.run([sys.executable, "-c", code, str(model)], capture_output=True, text=True, timeout=300,
                          env={**os.environ, "PYTHONPATH": str(REPO)}, check=True)
    return json.loads(done.stdout.splitlines()[-1])


def test_runtime_bomb_passes_the_static_check_but_not_the_trial_run(tmp_path: Path) -> None:
    data = runtime_bomb()
    assert len(data) < 1024
    check_segmentation_onnx(data, "bomb.onnx")  # nothing declared is large
    model = tmp_path / "bomb.onnx"
    model.write_bytes(data)
    report = _trial_in_child(model)
    assert report["error"] == ("bomb.onnx: a test run on a 256x256 frame needed more than 1024 MB "
                               "(LWIRST_ONNX_TRIAL_MB); refused")
    assert report["parent_kb"] < 200_000, report  # the caller never held the tensor
    assert report["worker_kb"] < 1024 * 1024, report  # the worker stayed under its cap


def test_trial_limits_are_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LWIRST_ONNX_TRIAL_SECONDS", "1")
    with pytest.raises(LwirstError, match=r"did not finish within 1 s \(LWIRST_ONNX_TRIAL_SECONDS\)"):
        trial_run(slow_model(), "slow.onnx", 3)
    monkeypatch.setenv("LWIRST_ONNX_TRIAL_SECONDS", "0")
    with pytest.raises(LwirstError, match="must be a positive integer"):
        trial_run(tiny_model(), "x.onnx", 3)


def test_wrong_shape_and_nan_outputs_are_refused() -> None:
    half = _graph([helper.make_node("ReduceMean", ["x"], ["m"], axes=[1], keepdims=1),
                   helper.make_node("MaxPool", ["m"], ["y"], kernel_shape=[2, 2], strides=[2, 2])])
    with pytest.raises(LwirstError, match=r"output of shape \[1, 1, 128, 128\]; expected \[1, 1, 256, 256\]"):
        trial_run(half, "half.onnx", 3)
    with pytest.raises(LwirstError, match="NaN or infinite logits"):
        trial_run(runtime_bomb(side=0), "empty.onnx", 3)  # a 0x0 tensor's max is -inf


def test_normal_models_are_accepted() -> None:
    trial_run(tiny_model(), "tiny.onnx", 3)
    trial_run(SHIPPED_ONNX.read_bytes(), SHIPPED_ONNX.name, 3)


# uploads stored on disk


def test_uploads_expire_after_their_ttl(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LWIRST_UPLOAD_TTL_SECONDS", "60")
    old = store_upload(tmp_path, "s1", "aaa", "../../etc/old model.onnx", b"1")
    assert old == tmp_path / "s1" / "aaa" / "old_model.onnx"
    past = time.time() - 120
    os.utime(old.parent, (past, past))
    fresh = store_upload(tmp_path, "s2", "bbb", "new.onnx", b"2")  # storing prunes
    assert not old.exists() and not (tmp_path / "s1").exists()
    assert fresh.read_bytes() == b"2"
    assert prune_uploads(tmp_path, now=time.time() + 61) == [fresh.parent]
    assert list(tmp_path.iterdir()) == []


def test_uploads_are_bounded_per_session_least_recently_used_first(tmp_path: Path,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LWIRST_UPLOAD_MAX_FILES", "2")
    monkeypatch.setenv("LWIRST_UPLOAD_MAX_MB", "1")
    paths = []
    for i, digest in enumerate("abc"):
        paths.append(store_upload(tmp_path, "s1", digest, f"{digest}.onnx", b"x"))
        stamp = time.time() - 100 + i
        os.utime(paths[-1].parent, (stamp, stamp))
    other = store_upload(tmp_path, "s2", "z", "z.onnx", b"z")  # another session has its own bound
    assert [p.exists() for p in paths] == [False, True, True] and other.exists()
    store_upload(tmp_path, "s1", "b", "b.onnx", b"x")  # using b again makes c the oldest
    store_upload(tmp_path, "s1", "d", "d.onnx", b"x")
    assert sorted(p.name for p in (tmp_path / "s1").iterdir()) == ["b", "d"]
    big = b"\0" * (600 * 1024)
    store_upload(tmp_path, "s1", "e", "e.onnx", big)
    store_upload(tmp_path, "s1", "f", "f.onnx", big)  # 1.2 MB together: e and the older d go
    assert sorted(p.name for p in (tmp_path / "s1").iterdir()) == ["f"]
    with pytest.raises(LwirstError, match=r"over this server's stored-upload limit of 1 MB"):
        store_upload(tmp_path, "s1", "g", "g.onnx", b"\0" * (2 * 2**20))


def test_uploads_are_bounded_over_all_sessions_together(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Each session had its own 1 GB: a script opening N sessions could store N GB on the server's disk."""
    monkeypatch.setenv("LWIRST_UPLOAD_TOTAL_MB", "1")
    big = b"\0" * (400 * 1024)
    stored = []
    for i in range(3):  # three sessions, 400 kB each: the third passes 1 MB, and the least recently used goes
        stored.append(store_upload(tmp_path, f"s{i}", f"d{i}", "m.onnx", big))
        stamp = time.time() - 100 + i
        os.utime(stored[-1].parent, (stamp, stamp))
    assert [p.exists() for p in stored] == [False, True, True]
    assert not (tmp_path / "s0").exists()  # its only upload went with it
    latest = store_upload(tmp_path, "s3", "d3", "m.onnx", big)
    assert [p.exists() for p in stored] == [False, False, True] and latest.exists()
    with pytest.raises(LwirstError, match=r"over this server's stored-upload limit of 1 MB \(LWIRST_UPLOAD_TOTAL_MB\)"):
        store_upload(tmp_path, "s4", "d4", "m.onnx", b"\0" * (2 * 2**20))  # it was stored, then pruned at once
    assert latest.exists()
    assert sum(p.stat().st_size for p in tmp_path.rglob("*.onnx")) <= 2**20


@pytest.mark.parametrize(("name", "value", "said"), [
    ("LWIRST_DASHBOARD_MAX_UPLOAD_MB", "5MB", "must be a positive whole number of megabytes"),
    ("LWIRST_DASHBOARD_MAX_UPLOAD_MB", "0", "must be a positive whole number of megabytes"),
    ("LWIRST_MAX_IMAGE_PIXELS", "lots", "must be a positive integer"),
])
def test_the_dashboard_refuses_to_serve_with_a_limit_written_wrong(monkeypatch: pytest.MonkeyPatch, name: str,
                                                                    value: str, said: str,
                                                                    caplog: pytest.LogCaptureFixture,
                                                                    capsys: pytest.CaptureFixture[str]) -> None:
    """An upload cap of "5MB" served the default 200 MB without a word."""
    from dashboard.config import DEFAULT_MAX_UPLOAD_MB, load_settings
    from lwirst.cli import main

    monkeypatch.setenv(name, value)
    assert main(["dashboard", "--port", "8999"]) == 1  # refused before Streamlit starts
    assert f"{name}={value!r} {said}" in capsys.readouterr().err
    if name.startswith("LWIRST_DASHBOARD"):  # a server started otherwise says it and keeps the default
        assert load_settings().max_upload_mb == DEFAULT_MAX_UPLOAD_MB
        assert any(said in r.message for r in caplog.records)
