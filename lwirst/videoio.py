"""MP4 writing shared by the video pipeline and the synthetic sequence writer, and the reading of grey video
deeper than 8 bits.

H.264 through PyAV (`av` from PyPI, whose wheels ship libx264) when it is installed:
'h264', which browsers play directly. Else OpenCV: H.264 ('avc1') when its build can
encode it, else MPEG-4 Part 2 ('mp4v'). Kept free of the inference stack so
`lwirst.synth` can use it without importing torch.
"""

from __future__ import annotations

import contextlib
import functools
import importlib.util
import logging
import math
import tempfile
from collections.abc import Iterator
from fractions import Fraction
from pathlib import Path
from typing import Protocol

import cv2
import numpy as np

from lwirst.errors import LwirstError
from lwirst.stderr_capture import captured_stderr

log = logging.getLogger(__name__)

CODECS = ("avc1", "mp4v")
PYAV_ENCODER = "libx264"
PYAV_CODEC = "h264"
# Codecs of written MP4s that browsers play as they are.
BROWSER_CODECS = (PYAV_CODEC, "avc1", "h264 (ffmpeg)")


class FrameWriter(Protocol):
    """What `open_writer` returns: BGR uint8 frames of the opened size in, `release` to finish."""

    def write(self, image: np.ndarray) -> None: ...

    def release(self) -> None: ...


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


@functools.cache
def pyav_h264() -> bool:
    """Whether PyAV is installed with an H.264 encoder (`PYAV_ENCODER`), checked once per process."""
    try:
        import av
    except ImportError:
        log.debug("PyAV is not installed; MP4s are written by OpenCV")
        return False
    try:
        av.codec.Codec(PYAV_ENCODER, "w")
    except (ValueError, av.error.FFmpegError):
        log.debug("this PyAV has no %s encoder; MP4s are written by OpenCV", PYAV_ENCODER)
        return False
    return True


class PyAVWriter:
    """H.264 (yuv420p, the profile browsers play) in an MP4 with its index first (+faststart).

    4:2:0 needs even sides: a frame with an odd side gets its last row or column repeated.
    """

    def __init__(self, path: Path, size: tuple[int, int], fps: float) -> None:
        import av

        self._pad = (size[0] % 2, size[1] % 2)
        path.open("wb").close()  # FFmpeg opens the file only at the first frame: fail here instead
        self._container = av.open(str(path), "w", format="mp4", container_options={"movflags": "+faststart"})
        try:
            self._stream = self._container.add_stream(PYAV_ENCODER, rate=Fraction(fps).limit_denominator(1001))
            self._stream.width, self._stream.height = size[0] + self._pad[0], size[1] + self._pad[1]
            self._stream.pix_fmt = "yuv420p"
            self._stream.options = {"preset": "veryfast", "crf": "20"}
        except BaseException:
            self._container.close()
            raise
        self._open = True

    def write(self, image: np.ndarray) -> None:
        import av

        if any(self._pad):
            image = cv2.copyMakeBorder(image, 0, self._pad[1], 0, self._pad[0], cv2.BORDER_REPLICATE)
        frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(image), format="bgr24")
        self._container.mux(self._stream.encode(frame))

    def release(self) -> None:
        """Flush the encoder and close the file (once; later calls do nothing)."""
        if not self._open:
            return
        self._open = False
        try:
            self._container.mux(self._stream.encode(None))
        finally:
            self._container.close()


def _open_pyav(path: Path, size: tuple[int, int], fps: float) -> PyAVWriter | None:
    """A PyAV H.264 writer, or None (logged) when it cannot open: OpenCV's writers are tried next."""
    import av

    try:
        return PyAVWriter(path, size, fps)
    except (OSError, ValueError, av.error.FFmpegError) as exc:
        log.debug("PyAV cannot write %s (%s); trying OpenCV", path, exc)
        return None


def open_writer(path: Path, size: tuple[int, int], fps: float, name: Path | None = None) -> tuple[FrameWriter, str]:
    """A writer for an MP4 at `path` and the codec it writes (`PYAV_CODEC`, else one of `CODECS`); errors name the
    output as `name` (default `path`: a caller writing under a temporary name names the file asked for)."""
    if pyav_h264():
        writer = _open_pyav(path, size, fps)
        if writer is not None:
            return writer, PYAV_CODEC
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
    raise LwirstError(f"{name or path}: cannot write a video there (a folder of that name, or no permission)")


def open_capture(path: Path) -> cv2.VideoCapture | DeepGreyCapture:
    """A reader of a video that keeps a grey stream's counts, which thermal cameras record raw: converted to BGR
    (OpenCV's default) a 16-bit count kept its high byte, some 26 grey levels, and a dim target went on 10 of 24
    frames. A 16-bit grey stream is read raw (uint16); a 10- to 14-bit one, which OpenCV delivers cut to 8 bits
    even raw (a 60-count target over the sky left 4 grey levels, found on no frame), through PyAV as 16-bit; any
    other stream converted to BGR as usual (raw, a colour stream gives its luma plane alone, and a palette would
    not be decoded)."""
    probe = cv2.VideoCapture(str(path))
    try:
        code = probe.get(cv2.CAP_PROP_CODEC_PIXEL_FORMAT) if probe.isOpened() else math.nan
        sixteen = (probe.isOpened() and probe.set(cv2.CAP_PROP_CONVERT_RGB, 0)
                   and (first := probe.read())[0] and first[1].dtype == np.uint16)
    finally:
        probe.release()
    pixel_format = int(code).to_bytes(4, "little") if math.isfinite(code) and 0 <= code < 2**32 else b""
    if not sixteen and pixel_format[:3] == b"Y1\x00" and 8 < pixel_format[3] < 16:
        if importlib.util.find_spec("av") is not None:
            return DeepGreyCapture(path)
        log.warning("%s: a %d-bit grey video, which OpenCV reads cut to 8 bits (dim targets may be lost); pip "
                    "install av to read its counts", path, pixel_format[3])
    # one decoding thread: FFmpeg's frame threads report a damaged packet a frame or more late, from another
    # thread, outside the read that returns it (`FrameSource` drops a last frame the file ends inside)
    capture = cv2.VideoCapture(str(path), cv2.CAP_FFMPEG, [cv2.CAP_PROP_N_THREADS, 1])
    if sixteen:
        capture.set(cv2.CAP_PROP_CONVERT_RGB, 0)  # before the first frame is read
    return capture


class DeepGreyCapture:
    """What `lwirst.video.FrameSource` asks of `cv2.VideoCapture`, over PyAV, for a grey stream of 10 to 14 bits:
    each frame as uint16 counts (scaled to 16 bits by FFmpeg: the 8-bit stretch is each frame's own)."""

    def __init__(self, path: Path) -> None:
        import av

        self._failure = av.error.FFmpegError
        self._box = av.open(str(path))
        self._stream = self._box.streams.video[0]
        self._frames = self._box.decode(self._stream)
        self._time = math.nan

    def isOpened(self) -> bool:  # OpenCV's name, as FrameSource calls it
        return True

    def get(self, prop: int) -> float:
        """Width, height, frame count (declared, else duration x rate, as OpenCV estimates it; 0 unsaid), frame
        rate and the last frame's time in ms; NaN for what this reader does not know."""
        stream = self._stream
        rate = float(stream.average_rate or 0)
        known = {cv2.CAP_PROP_FRAME_WIDTH: float(stream.codec_context.width),
                 cv2.CAP_PROP_FRAME_HEIGHT: float(stream.codec_context.height),
                 cv2.CAP_PROP_FRAME_COUNT: float(stream.frames) or (
                     round(self._box.duration / 1e6 * rate) if self._box.duration and rate else 0.0),
                 cv2.CAP_PROP_FPS: rate, cv2.CAP_PROP_POS_MSEC: self._time * 1000.0}
        return known.get(prop, math.nan)

    def read(self) -> tuple[bool, np.ndarray | None]:
        try:
            frame = next(self._frames)
        except (StopIteration, self._failure):  # the end, or a damaged tail: FrameSource says which
            return False, None
        self._time = float(frame.time) if frame.time is not None else math.nan
        return True, frame.to_ndarray(format="gray16le")

    def release(self) -> None:
        self._box.close()
