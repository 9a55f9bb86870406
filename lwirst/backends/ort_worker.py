"""ONNX Runtime in a worker process whose memory and time are capped: the backend for models from untrusted sources.

A served dashboard runs its visitors' uploaded ONNX models on it. The static bounds of `lwirst.onnxguard` and the
trial run of `lwirst.onnxtrial` cannot see a tensor sized from the input's pixel values: a twelve-node graph whose
trial frame allocated nothing took 1.6 GB inside the server on every real frame (10 GB after a few), and kept it.
Here the network runs in a child process whose address space is capped (``RLIMIT_AS``, LWIRST_ONNX_WORKER_MB) and
whose every call is timed (LWIRST_ONNX_WORKER_SECONDS): a run over either is an error naming the limit, the child
is stopped (the next frame starts another), and the server's own memory is untouched. At most LWIRST_ONNX_WORKERS
children live at once; starting one more stops the least recently used idle one. Frames and logits cross a pipe as
raw float32, a few milliseconds a frame.
"""

from __future__ import annotations

import json
import logging
import os
import resource
import selectors
import struct
import subprocess
import sys
import threading
import time
import weakref
from collections import OrderedDict
from collections.abc import Callable
from pathlib import Path
from typing import IO

import numpy as np

from lwirst.backends.base import BackendSpec, NetworkSource, check_channels
from lwirst.errors import LwirstError
from lwirst.limits import limit

log = logging.getLogger(__name__)

NAME = "onnxruntime-worker"
_MEMORY_WORDS = ("memory", "alloc", "bad_alloc")
# Backends with a running child, least recently used first; weak: a backend no one holds stops its child. Reentrant:
# a backend collected while the registry is being changed stops its child under the same lock.
_LIVE: OrderedDict[int, weakref.ref[WorkerBackend]] = OrderedDict()
_LIVE_LOCK = threading.RLock()


class _Child:
    """A backend's child process, apart from the backend, so that collecting the backend stops it."""

    def __init__(self) -> None:
        self.process: subprocess.Popen[bytes] | None = None

    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def stop(self) -> None:
        process, self.process = self.process, None
        if process is None:
            return
        if process.poll() is None:
            process.kill()
            process.wait()
        for pipe in (process.stdin, process.stdout):
            if pipe is not None:
                pipe.close()


class WorkerBackend:
    """An ONNX graph run by ONNX Runtime in a capped child process (started at the first frame)."""

    name = NAME

    def __init__(self, onnx_bytes: Callable[[], bytes], threads: int | None = None) -> None:
        import onnx

        graph = onnx.load_from_string(onnx_bytes())
        shape = [d.dim_value if d.HasField("dim_value") else None
                 for d in graph.graph.input[0].type.tensor_type.shape.dim]
        self.in_channels = check_channels(shape)
        self._onnx = onnx_bytes  # the graph, made again for each child: no copy held here or left on disk
        self._threads = threads or 0  # 0: ONNX Runtime's default, as the in-process backend's
        self._child = _Child()
        weakref.finalize(self, self._child.stop)
        self._busy = threading.Lock()  # one frame at a time; an idle worker may be stopped for another's room

    def run(self, batch: np.ndarray) -> np.ndarray:
        """float32 N x C x H x W -> float32 N x 1 x H x W logits, computed in the child; a child that runs out of
        memory or time, or dies, is stopped and named in a `LwirstError`."""
        batch = np.ascontiguousarray(batch, dtype=np.float32)
        with self._busy:
            process = self._started()
            megabytes, seconds = limit("LWIRST_ONNX_WORKER_MB"), limit("LWIRST_ONNX_WORKER_SECONDS")
            header = json.dumps({"shape": list(batch.shape)}).encode()
            try:
                if process.stdin is None or process.stdout is None:
                    raise OSError("the worker's pipes are closed")
                process.stdin.write(struct.pack("<I", len(header)) + header)
                process.stdin.write(memoryview(batch).cast("B"))
                process.stdin.flush()
                reply, payload = _receive(process.stdout, time.monotonic() + seconds, batch.size)
            except TimeoutError:
                self.stop()
                raise LwirstError(f"the model did not finish a {_frame(batch)} frame within {seconds} s "
                                  "(LWIRST_ONNX_WORKER_SECONDS); stopped") from None
            except OverflowError as exc:
                self.stop()
                raise LwirstError(f"the model's output on a {_frame(batch)} frame {exc}; stopped") from None
            except (OSError, EOFError, ValueError):
                self.stop()
                raise LwirstError(f"the model's worker process ended on a {_frame(batch)} frame (over its "
                                  f"{megabytes} MB, LWIRST_ONNX_WORKER_MB, or a crash); stopped") from None
            error = reply.get("error")
            if error is not None:
                self.stop()
                if error == "memory":
                    raise LwirstError(f"the model needed more than {megabytes} MB (LWIRST_ONNX_WORKER_MB) on a "
                                      f"{_frame(batch)} frame; stopped")
                raise LwirstError(f"the model failed on a {_frame(batch)} frame ({error})")
            return np.frombuffer(payload, np.float32).reshape(reply["shape"])

    def _started(self) -> subprocess.Popen[bytes]:
        """This backend's child, started where it is not running (after stopping least recently used idle ones
        beyond LWIRST_ONNX_WORKERS)."""
        with _LIVE_LOCK:
            _LIVE.pop(id(self), None)
            if not self._child.running():
                others = [backend for ref in _LIVE.values() if (backend := ref()) is not None]
                for other in others[:max(0, len(others) + 1 - limit("LWIRST_ONNX_WORKERS"))]:
                    if other._busy.acquire(blocking=False):  # one in the middle of a frame is left alone
                        try:
                            other.stop()
                        finally:
                            other._busy.release()
                self._child.stop()  # one that ended on its own: its pipes closed
                self._child.process = self._spawn()
            _LIVE[id(self)] = weakref.ref(self)
            process = self._child.process
        assert process is not None
        return process

    def _spawn(self) -> subprocess.Popen[bytes]:
        """A child, handed the graph through its input before the first frame."""
        data = self._onnx()
        env = {**os.environ, "MALLOC_ARENA_MAX": "2",
               "PYTHONPATH": os.pathsep.join(filter(None, [str(Path(__file__).resolve().parents[2]),
                                                           os.environ.get("PYTHONPATH")]))}
        command = [sys.executable, "-m", "lwirst.backends.ort_worker", str(limit("LWIRST_ONNX_WORKER_MB")),
                   str(self._threads)]
        process = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                   stderr=subprocess.DEVNULL, env=env)
        try:
            if process.stdin is None:
                raise OSError("no pipe to the worker")
            process.stdin.write(struct.pack("<Q", len(data)))
            process.stdin.write(data)
            process.stdin.flush()
        except OSError:  # it died loading (over its memory): the first frame says so
            pass
        return process

    def running(self) -> bool:
        """Whether its child process is running (it starts at the first frame, and after a stop)."""
        return self._child.running()

    def stop(self) -> None:
        """Stop the child (the next frame starts another)."""
        with _LIVE_LOCK:
            _LIVE.pop(id(self), None)
        self._child.stop()


def _frame(batch: np.ndarray) -> str:
    return f"{batch.shape[-1]}x{batch.shape[-2]}"


def _receive(pipe: IO[bytes], deadline: float, most: int) -> tuple[dict, bytes]:
    """One reply of the child (a JSON header, then its payload of at most `most` floats: a map is smaller than
    its frame, and a graph whose output grows from the frame's values would move its memory into the server), read
    by `deadline` (TimeoutError after; OverflowError for a payload over `most`)."""
    selector = selectors.DefaultSelector()
    selector.register(pipe, selectors.EVENT_READ)
    try:
        (size,) = struct.unpack("<I", _read(pipe, 4, selector, deadline))
        if size > 4096:  # a header is a few bytes of JSON
            raise ValueError("a worker's reply header over 4 KB")
        reply = json.loads(_read(pipe, size, selector, deadline))
        count = int(np.prod(reply["shape"])) if "shape" in reply else 0
        if count > most:
            raise OverflowError(f"holds {count} values, more than its input's {most}")
        return reply, _read(pipe, count * 4, selector, deadline)
    finally:
        selector.close()


def _read(pipe: IO[bytes], size: int, selector: selectors.BaseSelector, deadline: float) -> bytes:
    chunks, left = [], size
    while left:
        if not selector.select(max(0.0, deadline - time.monotonic())):
            raise TimeoutError
        chunk = os.read(pipe.fileno(), min(left, 1 << 22))
        if not chunk:
            raise EOFError
        chunks.append(chunk)
        left -= len(chunk)
    return b"".join(chunks)


def build(source: NetworkSource) -> WorkerBackend:
    return WorkerBackend(source.onnx, source.threads)


SPEC = BackendSpec(name=NAME, package="onnxruntime", runtime="onnxruntime", build=build, preference=1000,
                   threads="SessionOptions.intra_op_num_threads, in a worker process (capped memory and time)")


def _serve(megabytes: int, threads: int) -> None:
    """The child: cap the address space, read the graph from its input and load it, then answer frames until its
    input closes."""
    cap = megabytes * 2**20
    resource.setrlimit(resource.RLIMIT_AS, (cap, cap))
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    import onnxruntime as ort  # only now: under the cap

    source, sink = sys.stdin.buffer, sys.stdout.buffer
    model = source.read(struct.unpack("<Q", source.read(8))[0])
    options = ort.SessionOptions()
    options.intra_op_num_threads, options.inter_op_num_threads = threads, 1
    options.log_severity_level = 4
    session = ort.InferenceSession(model, options, providers=["CPUExecutionProvider"])
    del model
    name = session.get_inputs()[0].name
    while len(head := source.read(4)) == 4:
        header = json.loads(source.read(struct.unpack("<I", head)[0]))
        count = int(np.prod(header["shape"]))
        batch = np.frombuffer(source.read(count * 4), np.float32).reshape(header["shape"])
        payload = b""
        try:
            out = np.ascontiguousarray(session.run(None, {name: batch})[0], dtype=np.float32)
            reply: dict[str, object] = {"shape": list(out.shape)}
            payload = out.tobytes()
        except MemoryError:
            reply = {"error": "memory"}
        except Exception as exc:  # ONNX Runtime raises its own types; the message says what failed
            text = (str(exc).splitlines() or [type(exc).__name__])[0]
            reply = {"error": "memory" if any(w in text.lower() for w in _MEMORY_WORDS) else text[:200]}
        encoded = json.dumps(reply).encode()
        sink.write(struct.pack("<I", len(encoded)) + encoded + payload)
        sink.flush()


if __name__ == "__main__":
    _serve(int(sys.argv[1]), int(sys.argv[2]))
