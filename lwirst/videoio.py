"""MP4 writing shared by the video pipeline and the synthetic sequence writer.

H.264 ('avc1') when this OpenCV build can encode it, else MPEG-4 Part 2 ('mp4v').
Kept free of the inference stack so `lwirst.synth` can use it without importing torch.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import tempfile
from collections.abc import Iterator
from pathlib import Path

import cv2

from lwirst.errors import LwirstError
from lwirst.stderr_capture import captured_stderr

log = logging.getLogger(__name__)

CODECS = ("avc1", "mp4v")


@contextlib.contextmanager
def quiet_opencv() -> Iterator[None]:
    """Silence OpenCV's log lines while probing codecs/containers; we report failures ourselves."""
    previous = cv2.utils.logging.getLogLevel()
    cv2.utils.logging.setLogLevel(cv2.utils.logging.LOG_LEVEL_SILENT)
    try:
        yield
    finally:
        cv2.utils.logging.setLogLevel(previous)


@functools.cache
def available_codecs() -> tuple[str, ...]:
    """Which of `CODECS` this OpenCV build can encode, probed once per process.

    Probing a missing encoder makes FFmpeg print errors, hence once and silenced.
    """
    found = []
    with tempfile.TemporaryDirectory() as tmp, captured_stderr(), quiet_opencv():
        for codec in CODECS:
            fourcc = cv2.VideoWriter_fourcc(*codec)
            writer = cv2.VideoWriter(str(Path(tmp) / "probe.mp4"), fourcc, 10, (64, 64))
            if writer.isOpened():
                found.append(codec)
            writer.release()
    log.debug("MP4 encoders available: %s", found)
    return tuple(found)


def open_writer(path: Path, size: tuple[int, int], fps: float) -> tuple[cv2.VideoWriter, str]:
    codecs = available_codecs()
    if not codecs:
        raise LwirstError("this OpenCV build cannot encode MP4 (neither avc1 nor mp4v); "
                          "install opencv-python-headless from PyPI")
    for codec in codecs:
        with quiet_opencv():
            writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*codec), fps, size)
        if writer.isOpened():
            return writer, codec
        writer.release()
    raise LwirstError(f"{path}: cannot write a video there (a folder of that name, or no permission)")
