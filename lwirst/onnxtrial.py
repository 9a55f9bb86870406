"""An uploaded ONNX model's first run, in a memory-capped, time-capped worker process.

The static bounds of `lwirst.onnxguard` cannot see a tensor whose size is computed from
the input's values at run time (e.g. ConstantOfShape of a shape derived from ReduceMax).
So before a server loads an uploaded model, `trial_run` runs it once on a dummy frame in
a child process whose address space is capped (``RLIMIT_AS``, set in the child before
numpy or ONNX Runtime load) and which is killed after a wall-clock limit; the model is
refused when the child dies, runs out of memory or time, or outputs the wrong shape or
NaN/Inf. Limits: ``LWIRST_ONNX_TRIAL_MB`` and ``LWIRST_ONNX_TRIAL_SECONDS`` (`lwirst.limits`).
"""

from __future__ import annotations

import json
import logging
import os
import resource
import signal
import subprocess
import sys
import tempfile
from pathlib import Path

from lwirst import jsonio
from lwirst.errors import LwirstError
from lwirst.limits import limit

log = logging.getLogger(__name__)

TRIAL_SIZE = 256  # height and width of the dummy frame when the model's are symbolic
_MEMORY_WORDS = ("memory", "alloc", "bad_alloc")


def trial_run(data: bytes, name: str, channels: int, size: tuple[int, int] | None = None) -> None:
    """Run the ONNX model `data` once on a 1 x channels x H x W frame in a capped child process;
    raise `LwirstError` (one line, naming `name`) when that run fails in any way."""
    megabytes, seconds = limit("LWIRST_ONNX_TRIAL_MB"), limit("LWIRST_ONNX_TRIAL_SECONDS")
    height, width = size or (TRIAL_SIZE, TRIAL_SIZE)
    env = {**os.environ, "MALLOC_ARENA_MAX": "2", "OMP_NUM_THREADS": "1",
           "PYTHONPATH": os.pathsep.join(filter(None, [str(Path(__file__).resolve().parents[1]),
                                                       os.environ.get("PYTHONPATH")]))}
    with tempfile.TemporaryDirectory(prefix="lwirst-trial-") as folder:
        model = Path(folder) / "model.onnx"
        model.write_bytes(data)
        command = [sys.executable, "-m", "lwirst.onnxtrial", str(model), str(megabytes), str(channels),
                   str(height), str(width)]
        try:
            done = subprocess.run(command, capture_output=True, text=True, env=env, timeout=seconds, check=False)
        except subprocess.TimeoutExpired:
            raise LwirstError(f"{name}: a test run on a {width}x{height} frame did not finish within {seconds} s "
                              "(LWIRST_ONNX_TRIAL_SECONDS); refused") from None
    report = _last_json(done.stdout)
    log.debug("trial of %s: rc %s, report %s, stderr %s", name, done.returncode, report, done.stderr[-2000:])
    if report.get("ok"):
        return
    error = str(report.get("error", ""))
    if "MemoryError" in error or any(w in (error or done.stderr).lower() for w in _MEMORY_WORDS):
        raise LwirstError(f"{name}: a test run on a {width}x{height} frame needed more than {megabytes} MB "
                          "(LWIRST_ONNX_TRIAL_MB); refused")
    if error:
        raise LwirstError(f"{name}: {error}")
    how = f"signal {signal.Signals(-done.returncode).name}" if done.returncode < 0 else f"exit {done.returncode}"
    raise LwirstError(f"{name}: the model crashed a test run on a {width}x{height} frame ({how}); refused")


def _last_json(text: str) -> dict[str, object]:
    for line in reversed(text.splitlines()):
        try:
            value = json.loads(line)
        except ValueError:
            continue
        if isinstance(value, dict):
            return value
    return {}


def _child(model: str, megabytes: int, channels: int, height: int, width: int) -> dict[str, object]:
    """The worker: cap the address space, then load and run the model once; a JSON-able report."""
    cap = megabytes * 2**20
    resource.setrlimit(resource.RLIMIT_AS, (cap, cap))
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    import numpy as np  # only now: under the cap
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = options.inter_op_num_threads = 1
    options.log_severity_level = 4
    try:
        session = ort.InferenceSession(model, options, providers=["CPUExecutionProvider"])
        frame = np.random.default_rng(0).random((1, channels, height, width), dtype=np.float32)
        output = session.run(None, {session.get_inputs()[0].name: frame})[0]
    except MemoryError:
        return {"error": "MemoryError"}
    except Exception as exc:  # ONNX Runtime raises its own types; the message says what failed
        text = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        text = text.replace(f"from {model} ", " ").replace(model, "the model")  # no server path for a visitor
        if any(w in text.lower() for w in _MEMORY_WORDS):
            return {"error": "MemoryError"}
        return {"error": f"a test run on a {width}x{height} frame failed ({text[:200]}); refused"}
    expected = (1, 1, height, width)
    if tuple(output.shape) != expected:
        return {"error": f"a {width}x{height} frame gave an output of shape {list(output.shape)}; expected "
                         f"{list(expected)} (one logit map of the input's size)"}
    if not np.isfinite(output).all():
        return {"error": f"a test run on a {width}x{height} frame gave NaN or infinite logits; refused"}
    return {"ok": True}


if __name__ == "__main__":
    path, mb, c, h, w = sys.argv[1:6]
    print(jsonio.dumps(_child(path, int(mb), int(c), int(h), int(w))), flush=True)
