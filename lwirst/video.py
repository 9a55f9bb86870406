"""Segment and track a video (or a folder of frames) into an annotated MP4 and a target CSV.

Streaming: frames are read, processed, drawn and written one small batch at a
time, so memory does not grow with the video's length. The CSV is flushed after
every frame and the video writer is released in `finally`, so an interruption
(Ctrl-C) or a bad frame half-way leaves a playable partial video and the rows of
every finished frame.

Codec (`lwirst.videoio`): H.264 through PyAV ('h264') when it is installed, else
OpenCV's H.264 ('avc1') when its build can encode it, else MPEG-4 Part 2 ('mp4v'),
which most desktop players but not all browsers play; when an `ffmpeg` binary is on
PATH an 'mp4v' result is transcoded to H.264. `VideoResult.codec` says which one
was written.

A folder of frames must hold only images (hidden files aside): any other entry is
an error naming it, because skipping files silently would shift frame numbers and
timestamps and hide a mistyped folder.
"""

from __future__ import annotations

import contextlib
import csv
import dataclasses
import itertools
import logging
import math
import re
import shutil
import subprocess
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol, TextIO

import cv2
import numpy as np
from PIL import Image

from lwirst.drawing import FrameOutcomes, overlay, pad_to
from lwirst.errors import LwirstError
from lwirst.eval_protocol import FrameTally, RunSpec
from lwirst.imageio import (
    IMAGE_SUFFIXES,
    check_declared,
    check_image,
    image_format,
    read_header_size,
    read_image,
    text_head,
    tiff_pages,
    tiff_pixel_bytes,
)
from lwirst.limits import limit, side_text
from lwirst.pipeline import FpsMeter, FramePipeline, FrameResult
from lwirst.postprocess import Detections, TargetFilter
from lwirst.rounding import count_text
from lwirst.sequence_truth import FrameTruth
from lwirst.stderr_capture import captured_stderr, reason
from lwirst.validate import missing_file_text
from lwirst.videoio import BROWSER_CODECS, DeepGreyCapture, open_capture, open_writer, quiet_opencv

log = logging.getLogger(__name__)

CSV_COLUMNS = ("frame", "time_s", "track_id", "x", "y", "box_x", "box_y", "box_w", "box_h",
               "size", "ratio", "peak", "peak_prob")
DEFAULT_FPS = 25.0
MAX_FPS = 1000.0
# FFmpeg's words for a frame it had to patch ("[mjpeg @ 0x...] overread 8", "ac-tex damaged", "File ended prematurely")
_DAMAGE_WORDS = re.compile(r"overread|damaged|error|corrupt|conceal|prematurely|invalid|missing", re.IGNORECASE)
_DECODER_DELAY = 2  # frames a decoder may still output after the read that reported a packet's damage (reordering)
Progress = Callable[[int, "int | None"], None]


@dataclass(frozen=True)
class VideoResult:
    """What `process_video` wrote.

    frames_done: frames written to both the video and the CSV; frames_total: the
    count the source declares (None when unknown); interrupted: stopped by Ctrl-C.
    """

    out_path: Path
    csv_path: Path | None
    codec: str
    frames_done: int
    frames_total: int | None
    fps: float
    rows: int
    elapsed_s: float
    interrupted: bool
    size: tuple[int, int]  # (width, height) of the video: every frame of a file or folder has it
    detections: int = 0  # targets kept, summed over frames (the CSV's target rows)
    untracked: str = ""  # why no track formed from them (`Tracker.untracked`), "" when one did
    variable_rate: bool = False  # frames not evenly spaced in time: the CSV has their own times, the MP4 plays at fps
    # how each frame ran (its applied protocol and size, palette, peak margin): a split's frames differ in size
    tally: FrameTally = dataclasses.field(default_factory=FrameTally)
    removed: int = 0  # detections the size / ratio filter left out, summed over frames: in no output

    def filter_text(self, target_filter: TargetFilter) -> str:
        """What the size / ratio filter removed, "" without one: those detections are in neither the video, the
        CSV nor the tracks, and a target left out on some frames breaks its track there."""
        if not target_filter.active:
            return ""
        if not self.removed:
            return f"the size / ratio filter ({target_filter}) removed no detection"
        return (f"the size / ratio filter ({target_filter}) removed {count_text(self.removed, 'detection')} "
                "(summed over frames): they are in neither the video, the CSV nor the tracks")

    @property
    def palettes(self) -> dict[str, int]:
        """Frames decoded per pseudo-colour palette."""
        return dict(self.tally.decoded)

    def applied(self, run: RunSpec) -> str:
        """How the frames reached `run`'s network and the frames its peak margin held ("auto: 6 of 8 images as a
        pyramid, 2 resized to 256×256; on frames over twice ... (6 frames)"), as `evaluate` says it; "" before
        a frame ran."""
        applied = self.tally.record(run).applied_protocol(run)
        return f"{applied.inputs()}{self.tally.margin_text(run)}" if self.tally.ran and applied is not None else ""

    @property
    def processing_fps(self) -> float:
        return self.frames_done / self.elapsed_s if self.elapsed_s > 0 else 0.0


class VideoStopped(LwirstError):
    """An error that stopped a run after `result.frames_done` frames were written (a corrupt frame, a
    video that ends early or runs past its frame limit): `reason` is the cause alone, the message adds
    where the frames done are, so a caller that shows them (the dashboard) need not lose them."""

    def __init__(self, message: str, reason: str, result: VideoResult) -> None:
        super().__init__(message)
        self.reason, self.result = reason, result


class FrameSource:
    """Frames of a video file, of a folder of images or of a multi-page TIFF (a stack, as thermal cameras
    record raw frames), one at a time, all of one size, at most `frames_limit` (a `lwirst.limits` name) of them.

    Opening reads the first frame, so an unreadable or empty source fails before
    any output is created. The limit is checked against the count a video declares, and again while
    reading, since a container may declare none (a raw H.264 stream) or a wrong one.
    """

    def __init__(self, source: str | Path, fps: float | None = None,
                 frames_limit: str = "LWIRST_MAX_VIDEO_FRAMES", work_limit: str | None = None) -> None:
        """`work_limit`: a `lwirst.limits` name bounding the megapixels of all frames together, so that fewer
        frames of a larger size are allowed (a dashboard visitor's video: the server's CPU is shared)."""
        self.path = Path(source)
        self.name = str(self.path)
        self._capture: cv2.VideoCapture | DeepGreyCapture | None = None
        self._files: list[Path] = []
        self._pages = 0  # a TIFF stack's page count (0: no stack)
        self._stack: Image.Image | None = None  # its reader, page after page
        self._page_size: tuple[int, int] = (0, 0)
        self._limit_name, self._most = frames_limit, limit(frames_limit)
        self._work_limit = work_limit
        self._times: list[float] = []  # each frame read, its time in the video (s), where the container says it
        self._declared_fps = DEFAULT_FPS
        self._fps_given = bool(fps)  # the caller's rate times the frames, not the container's stamps
        self._damage_read = -_DECODER_DELAY - 1  # the count of frames read when the decoder last reported damage
        self._cut_inside_frame = False  # the last frame was one the file ends inside: dropped
        if not self.path.exists():
            raise LwirstError(f"{self.path}: no such file or folder")
        if not (self.path.is_dir() or self.path.is_file()):  # a named pipe hung the reader
            raise LwirstError(missing_file_text(self.path))
        if self.path.is_dir():
            self._files = _frame_files(self.path)
            self.total: int | None = len(self._files)
            self._check_count()
            _check_frame_sizes(self.path, self._files)
            self.fps = float(fps) if fps else DEFAULT_FPS
        elif (kind := _image_kind(self.path)) == "TIFF" and (
                pages := len(tiff_pages(self.path, self._most, self._check_page))) > 1:
            self._pages = self.total = pages
            self._check_count()
            self._bound_work(*self._page_size)
            self._stack = _open_stack(self.path)
            self.fps = float(fps) if fps else DEFAULT_FPS
        else:
            if kind:  # FFmpeg plays a still image as a video of one frame
                raise LwirstError(f"{self.path}: a {kind} image, not a video; segment it as an image")
            with quiet_opencv(), captured_stderr() as chatter:  # FFmpeg writes to descriptor 2 itself
                self._capture = open_capture(self.path)
            if not self._capture.isOpened():
                # FFmpeg's own words ("moov atom not found") help a developer, not a visitor: logged
                log.info("%s: FFmpeg cannot open it%s", self.path, reason(chatter))
                raise LwirstError(f"{self.path}: {unreadable_video(self.path)}")
            self._bound_work(*self._check_declared_size())
            declared = self._capture.get(cv2.CAP_PROP_FRAME_COUNT)
            self.total = int(declared) if math.isfinite(declared) and declared > 0 else None
            self._check_count()
            native = self._capture.get(cv2.CAP_PROP_FPS)
            self._declared_fps = native if math.isfinite(native) and 0 < native <= 1000 else DEFAULT_FPS
            self.fps = float(fps) if fps else self._declared_fps
        if not (math.isfinite(self.fps) and 0 < self.fps <= MAX_FPS):
            self.close()
            raise LwirstError(f"frame rate must be a number in (0, {MAX_FPS:g}], got {fps}")
        self.index = 0
        first = self._read()
        if first is None:
            self.close()
            raise LwirstError(f"{self.path}: contains no readable frames")
        self._pending: np.ndarray | None = first
        self.size = (first.shape[1], first.shape[0])
        self._bound_work(*self.size)  # as decoded: a container may declare another size
        self._check_count()

    def _bound_work(self, width: float, height: float) -> None:
        """With a work limit, the most frames of `width` x `height` it allows, when fewer than the frame limit."""
        if self._work_limit is None or not (math.isfinite(width) and math.isfinite(height)) or width * height < 1:
            return
        megapixels = limit(self._work_limit)
        frames = max(1, int(megapixels * 1_000_000 // (width * height)))
        if frames < self._most:
            self._most = frames
            self._limit_name = (f"{self._work_limit}: {megapixels} megapixels in all, {frames} frames of "
                                f"{int(width)}x{int(height)}")

    def _check_count(self) -> None:
        """Refuse a source whose declared frame count is over the limit, before a frame is decoded."""
        if self.total is not None and self.total > self._most:
            self.close()
            raise LwirstError(f"{self.path}: {self.total} frames is more than the limit of {self._most} "
                              f"({self._limit_name}); cut the video")

    def _check_declared_size(self) -> tuple[float, float]:
        """Refuse frames over LWIRST_MAX_VIDEO_PIXELS from the container, before one is decoded; the width and
        height it declares (NaN where it does not say)."""
        assert self._capture is not None
        width = self._capture.get(cv2.CAP_PROP_FRAME_WIDTH)
        height = self._capture.get(cv2.CAP_PROP_FRAME_HEIGHT)
        if math.isfinite(width) and math.isfinite(height):
            try:
                self._refuse_large_frames(width, height, "downscale the video")
            except LwirstError:
                self.close()
                raise
        return width, height

    def _refuse_large_frames(self, width: float, height: float, advice: str) -> None:
        """Frames over LWIRST_MAX_VIDEO_PIXELS, a video's or a stack's, are refused alike (a stack's pages may be
        single images, which LWIRST_MAX_IMAGE_PIXELS alone would allow larger)."""
        budget = limit("LWIRST_MAX_VIDEO_PIXELS")
        if width * height > budget:
            raise LwirstError(f"{self.path}: {int(width)}x{int(height)} frames are larger than the limit of "
                              f"{side_text(budget)} pixels (LWIRST_MAX_VIDEO_PIXELS); {advice}")

    def _check_page(self, index: int, tags: dict[int, int]) -> None:
        """Refuse a stack's page, from its directory before any page is decoded, whose size is unsaid, over the
        image limits, or other than the first page's."""
        width, height = tags.get(256), tags.get(257)
        name = f"{self.path} page {index + 1}"
        if width is None or height is None:
            raise LwirstError(f"{name}: its TIFF directory states no size (damaged)")
        check_declared(width, height, tiff_pixel_bytes(tags), name)
        self._refuse_large_frames(width, height, "downscale the stack")
        if index == 0:
            self._page_size = (width, height)
        elif (width, height) != self._page_size:
            raise LwirstError(f"{name} is {width}x{height} but page 1 is {self._page_size[0]}x{self._page_size[1]}; "
                              "every frame must have one size")

    def _read(self) -> np.ndarray | None:
        if self._stack is not None:
            if self.index >= self._pages:
                return None
            name = f"{self.path} {self.frame_name(self.index)}"
            try:
                self._stack.seek(self.index)  # the next page: one directory on, not a walk from the first
                return check_image(_page_pixels(self._stack, name), name)
            except (OSError, ValueError, EOFError) as exc:
                log.info("%s: not decoded (%s)", name, exc)
                raise LwirstError(f"{name} cannot be decoded (damaged or cut short)") from exc
        if self._capture is not None:
            with captured_stderr() as chatter:  # a damaged frame's decoder warnings are logged, not printed
                ok, frame = self._capture.read()
            if ok:
                self._stamp(self._capture.get(cv2.CAP_PROP_POS_MSEC) / 1000.0)
                if _DAMAGE_WORDS.search(chatter.text):
                    self._damage_read = len(self._times)
            return frame if ok else None
        if self.index >= len(self._files):
            return None
        return read_image(self._files[self.index])

    def frame_name(self, index: int) -> str:
        if self._pages:
            return f"page {index + 1}"
        return self._files[index].name if self._files else f"frame {index}"

    def __iter__(self) -> Iterator[np.ndarray]:
        while True:
            frame = self._pending if self._pending is not None else self._read()
            self._pending = None
            if frame is None or self._cut_inside():
                return
            if self.index >= self._most:
                raise LwirstError(f"{self.path}: more than the limit of {self._most} frames ({self._limit_name}); "
                                  "cut the video")
            if (frame.shape[1], frame.shape[0]) != self.size:
                w, h = self.size
                raise LwirstError(f"{self.path}: {self.frame_name(self.index)} is {frame.shape[1]}x"
                                  f"{frame.shape[0]} but the first frame is {w}x{h}; "
                                  "every frame must have one size")
            yield frame
            self.index += 1

    def _cut_inside(self) -> bool:
        """Whether the frame just taken is the last, and one the file ends inside: the decoder reported damage
        within its delay of it, and no frame follows (read ahead, and kept pending).

        A file cut inside its last frame decodes that frame from the part stored and the rest of the frame
        before (a cut MJPG's lower half, an MPEG-4 frame's): its targets would be stale, so it is dropped, and
        the video is reported cut short. A damaged frame with frames after it is kept: it holds a moment of
        the video.
        """
        if len(self._times) - self._damage_read > _DECODER_DELAY:
            return False
        self._pending = self._read()
        if self._pending is not None:
            return False
        log.info("%s: the file ends inside %s (the decoder patched it); dropped", self.path,
                 self.frame_name(self.index))
        self._cut_inside_frame = True
        return True

    def _stamp(self, seconds: float) -> None:
        """Record the time of the frame just read; one the container leaves unsaid (or out of order) follows the
        one before at the frame rate."""
        before = self._times[-1] if self._times else None
        if not math.isfinite(seconds) or seconds < 0 or (before is not None and seconds <= before):
            seconds = 0.0 if before is None else before + 1.0 / self._declared_fps
        self._times.append(seconds)

    def time_of(self, index: int) -> float:
        """Frame `index`'s time in the video, in seconds: as the container stamps it (a variable-rate video's
        frames are not `index / fps` apart), or at the frame rate for a folder, or where `fps` was given."""
        if self._fps_given or index >= len(self._times):
            return index / self.fps
        return self._times[index] - self._times[0]

    @property
    def variable_rate(self) -> bool:
        """Whether the frames read so far stray from even spacing at the frame rate by over half a frame."""
        return not self._fps_given and any(abs(self.time_of(i) - i / self.fps) > 0.5 / self.fps
                                           for i in range(len(self._times)))

    def truncated(self) -> bool:
        """True when a video ended well before the frame count its header declares, and before the duration
        that count stands for.

        Containers without a frame index report an estimate (duration x nominal rate), hence the tolerance; a
        variable-rate video reads fewer frames than that estimate over its whole duration, and is whole.
        """
        if self._cut_inside_frame:
            return True
        if self._capture is None or self.total is None:
            return False
        short = self.total - max(2, int(0.02 * self.total))
        if self.index >= short:
            return False
        read = self._times[:self.index]
        end = read[-1] - read[0] + 1.0 / self._declared_fps if read else 0.0
        return end < short / self._declared_fps

    def close(self) -> None:
        if self._capture is not None:
            self._capture.release()
        if self._stack is not None:
            self._stack.close()


def _open_stack(path: Path) -> Image.Image:
    """A TIFF stack's reader (Pillow's, which steps from a page to the next; OpenCV's reads a page by walking
    every directory before it, so a 3000-page stack took minutes, its last page a quarter-second alone)."""
    try:
        return Image.open(path)
    except (OSError, ValueError) as exc:
        raise LwirstError(f"{path}: a TIFF stack that cannot be read ({exc})") from exc


# Pillow's modes of a TIFF page, as the arrays OpenCV gives for the same page (grey, BGR, BGRA; deep as stored)
_AS_STORED = {"L", "I;16", "I;16L", "I;16B", "I;16N", "F"}
_CHANNELS = {"RGB": [2, 1, 0], "RGBA": [2, 1, 0, 3]}


def _page_pixels(page: Image.Image, name: str) -> np.ndarray:
    """The pixels of a stack's current page as `read_image` gives an image's."""
    if page.mode in _AS_STORED:
        return np.asarray(page)
    if page.mode in _CHANNELS:
        return np.ascontiguousarray(np.asarray(page)[..., _CHANNELS[page.mode]])
    if page.mode in ("1", "LA"):  # bilevel, or grey and alpha: 8-bit grey
        return np.asarray(page.convert("L"))
    if page.mode in ("P", "PA"):  # a palette's colours: BGR
        return np.ascontiguousarray(np.asarray(page.convert("RGB"))[..., ::-1])
    raise LwirstError(f"{name}: a TIFF page of pixel mode {page.mode}, which this reader does not take; save the "
                      "stack as 8- or 16-bit grey or colour")


def _natural_key(path: Path) -> tuple[list[object], str]:
    """frame2 before frame10; the name itself breaks ties such as 01 / 1."""
    parts = [int(part) if part.isdigit() else part.lower() for part in re.split(r"(\d+)", path.name)]
    return parts, path.name


def _frame_files(folder: Path) -> list[Path]:
    entries = [p for p in folder.iterdir() if not p.name.startswith(".")]
    others = sorted(p.name for p in entries if not (p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES))
    if others:
        shown = ", ".join(others[:5]) + (f" and {len(others) - 5} more" if len(others) > 5 else "")
        raise LwirstError(f"{folder}: not image frames: {shown}; the folder must hold only "
                          f"{'/'.join(s.lstrip('.') for s in IMAGE_SUFFIXES)} frames")
    files = sorted(entries, key=_natural_key)
    if not files:
        raise LwirstError(f"{folder}: the folder holds no image frames")
    return files


def _check_frame_sizes(folder: Path, files: list[Path]) -> None:
    """Every frame's size from its header, before anything is written: an odd frame is refused up front
    instead of stopping the run after the frames before it are out."""
    first = read_header_size(files[0])
    for path in files[1:]:
        size = read_header_size(path)
        if size != first:
            raise LwirstError(f"{folder}: {path.name} is {size[0]}x{size[1]} but the first frame, {files[0].name}, "
                              f"is {first[0]}x{first[1]}; every frame must have one size")


def _hidden(path: Path, tag: str = "partial") -> Path:
    """Where an output is written until it is complete (or transcoded): hidden beside it, tagged, its suffix kept
    (OpenCV's writers and FFmpeg choose the container by it)."""
    return path.with_name(f".{path.stem}.{tag}{path.suffix}")


def _settle(outputs: list[tuple[Path, Path]], keep: bool) -> None:
    """Give each (partial, final) output its name, or drop the partials where nothing is kept (an MP4 without
    frames does not play; a CSV header alone says nothing): an existing file under the final name is then left
    as it was."""
    for partial, final in outputs:
        if not keep:
            with contextlib.suppress(OSError):  # never made (its folder could not be): nothing to drop
                partial.unlink()
            continue
        try:
            partial.replace(final)
        except OSError as exc:
            raise LwirstError(f"{final}: cannot be written ({exc.strerror}); the frames done are in {partial}") from exc


def _transcode_h264(path: Path) -> bool:
    """Re-encode with an `ffmpeg` binary to H.264 (browser-playable); False when unavailable or failed."""
    ffmpeg = shutil.which("ffmpeg")
    if ffmpeg is None:
        return False
    tmp = _hidden(path, "h264")
    cmd = [ffmpeg, "-y", "-v", "error", "-i", str(path), "-c:v", "libx264", "-pix_fmt", "yuv420p",
           "-vf", "pad=ceil(iw/2)*2:ceil(ih/2)*2", "-movflags", "+faststart", str(tmp)]
    done = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if done.returncode != 0 or not tmp.is_file() or tmp.stat().st_size == 0:
        log.warning("ffmpeg could not transcode %s to H.264, keeping mp4v: %s",
                    path, done.stderr.strip()[-300:])
        tmp.unlink(missing_ok=True)
        return False
    tmp.replace(path)
    return True


def _outcomes(truth: FrameTruth | None, frame: int, kept: Detections) -> FrameOutcomes | None:
    """Frame `frame`'s kept targets judged against the truth, as the Video page scores them; None without."""
    if truth is None:
        return None
    targets = list(kept)
    correct, missed = truth.outcomes(frame, np.array([(t.x, t.y) for t in targets], float).reshape(-1, 2))
    return FrameOutcomes(frozenset(targets[i].id for i in correct), tuple((x, y) for x, y in missed.tolist()))


def _open_csv(path: Path, name: Path) -> TextIO:
    """The CSV at `path`, its errors naming the output `name`."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        return path.open("w", newline="", encoding="utf-8")
    except OSError as exc:
        raise LwirstError(f"{name}: cannot write the CSV ({exc.strerror})") from exc


def _rows(frame: int, time_s: float, result: FrameResult) -> list[list[object]]:
    track_ids: dict[int, int] = {}
    for track in result.tracks or ():
        if track.target is not None and track.track_id is not None:
            track_ids[track.target.id] = track.track_id
    rows: list[list[object]] = [
        [frame, f"{time_s:.4f}", track_ids.get(t.id, ""), f"{t.x:.2f}", f"{t.y:.2f}", t.box_x, t.box_y,
         t.box_w, t.box_h, t.size, f"{t.ratio:.4f}", f"{t.peak:.4f}", f"{t.peak_prob:.4f}"]
        for t in result.kept]
    # A frame without targets still gets a row (empty target fields), so every frame is accounted for.
    return rows or [[frame, f"{time_s:.4f}"] + [""] * (len(CSV_COLUMNS) - 2)]


def _batches(frames: Iterator[np.ndarray], size: int) -> Iterator[list[np.ndarray]]:
    """Chunks of `size` frames; a bad frame first lets the good ones read before it through."""
    chunk: list[np.ndarray] = []
    try:
        for frame in frames:
            chunk.append(frame)
            if len(chunk) == size:
                yield chunk
                chunk = []
    except LwirstError:
        if chunk:
            yield chunk
        raise
    if chunk:
        yield chunk


# Frames per network call: on OpenVINO a batch runs as frames in flight on parallel
# streams (`lwirst bench`'s video mode), and a file has no live latency to keep low.
VIDEO_BATCH = 8
# Pixels per network call: a batch of large frames holds fewer of them (`frames_per_call`). Eight
# 4096x4096 frames in one call, each run as a pyramid with its consensus run, took over 20 GB.
VIDEO_BATCH_PIXELS = VIDEO_BATCH * 640 * 512


def frames_per_call(batch: int, size: tuple[int, int]) -> int:
    """`batch`, lowered so that a call holds at most VIDEO_BATCH_PIXELS pixels of frames of `size` (w, h);
    at least one frame."""
    width, height = size
    return max(1, min(batch, VIDEO_BATCH_PIXELS // max(1, width * height)))
# The rate stamped on each frame is measured over about this many recent frames.
RATE_WINDOW = 32


class Frames(Protocol):
    """What `process_frames` reads: frames in order (`FrameSource`, `lwirst.streams.SplitFrames`), the
    size of the video they make, its frame rate and frame count (None when unknown)."""

    name: str
    size: tuple[int, int]
    fps: float
    total: int | None

    def __iter__(self) -> Iterator[np.ndarray]: ...

    def time_of(self, index: int) -> float: ...

    @property
    def variable_rate(self) -> bool: ...

    def truncated(self) -> bool: ...

    def close(self) -> None: ...


def process_video(source: str | Path, out_path: str | Path, csv_path: str | Path | None,
                  pipeline: FramePipeline, progress: Progress | None = None, batch: int = VIDEO_BATCH,
                  fps: float | None = None, transcode: bool = True,
                  frames_limit: str = "LWIRST_MAX_VIDEO_FRAMES", work_limit: str | None = None,
                  truth: FrameTruth | None = None) -> VideoResult:
    """Run `pipeline` over every frame of `source`, writing the annotated MP4 and the target CSV.

    source: a video file OpenCV can read, or a folder of image frames (natural
    order: frame2 before frame10). fps overrides the frame rate (a folder
    defaults to 25); frames_limit names the `lwirst.limits` setting bounding its frames, work_limit the one
    bounding their megapixels together (`FrameSource`). The rest is
    `process_frames`.
    """
    if batch < 1:
        raise LwirstError(f"batch must be at least 1, got {batch}")
    out_path = Path(out_path)
    csv_file = Path(csv_path) if csv_path is not None else None
    if out_path.suffix.lower() != ".mp4":
        raise LwirstError(f"{out_path}: the output video must be an .mp4 file")
    if Path(source).resolve() == out_path.resolve():
        raise LwirstError(f"{out_path}: the output would overwrite the input video")
    if csv_file is not None and csv_file.resolve() in (out_path.resolve(), Path(source).resolve()):
        raise LwirstError(f"{csv_file}: the CSV would overwrite the "
                          f"{'output video' if csv_file.resolve() == out_path.resolve() else 'input video'}")
    frames = FrameSource(source, fps, frames_limit, work_limit)
    return process_frames(frames, out_path, csv_file, pipeline, progress, batch, transcode, truth)


def process_frames(frames: Frames, out_path: Path, csv_file: Path | None, pipeline: FramePipeline,
                   progress: Progress | None = None, batch: int = VIDEO_BATCH,
                   transcode: bool = True, truth: FrameTruth | None = None) -> VideoResult:
    """Run `pipeline` over `frames` (closed at the end), `batch` (at least 1) frames per network call (fewer
    for large frames: `frames_per_call`), writing the annotated MP4 and the target CSV.

    Each frame runs through the network at its own size; an annotated frame smaller than `frames.size`
    is padded at its right and bottom (`lwirst.drawing.pad_to`), so a target's CSV coordinates are both
    its frame's own and the video's pixels. progress(done, total) is called after each frame is written;
    raising KeyboardInterrupt from it (or Ctrl-C) stops the run cleanly and the result has
    interrupted=True. The pipeline's tracker, if any, is reset first. The network sees the first chunk
    once untimed (warm-up), so the rate stamped on the frames is the steady one, over the last
    RATE_WINDOW frames. Errors (bad source, unwritable output) raise `LwirstError`; one met after the
    first frame (a frame of another size, a corrupt frame, a video that ends early or runs past its limit)
    raises `VideoStopped`, and whatever was written before stays usable. Both files are written under hidden
    names and renamed at the end, so a killed run leaves nothing under them; stopped (either way) before the
    first frame is written, nothing is kept: frames_done 0 means no output. With `truth` (a
    generated video's, `lwirst.sequence_truth`) each frame's boxes take the outcome colours and its misses are boxed.
    """
    handle: TextIO | None = None
    # written under hidden names and given theirs at the end, stopped or not: a run killed outright (no `finally`)
    # left a 48-byte MP4 that plays nothing under the name asked for, and a rerun was told it already exists
    outputs = [(_hidden(out_path), out_path)] + ([(_hidden(csv_file), csv_file)] if csv_file is not None else [])
    try:
        for kind, final in (("a video", out_path), ("the CSV", csv_file)):
            if final is not None and final.is_dir():  # the files written beside it would not take its name
                raise LwirstError(f"{final}: cannot write {kind} there (a folder of that name)")
        if csv_file is not None:
            handle = _open_csv(_hidden(csv_file), csv_file)
        try:
            out_path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise LwirstError(f"{out_path.parent}: cannot create the output folder ({exc.strerror})") from exc
        writer, codec = open_writer(_hidden(out_path), frames.size, frames.fps, name=out_path)
    except BaseException:
        frames.close()
        if handle is not None:
            handle.close()
        _settle(outputs, keep=False)
        raise
    done = rows = detections = removed = 0
    tally = FrameTally()  # how the frames ran: the palettes decoded
    interrupted = False
    stop: str | None = None  # why an error ended the run
    start = time.perf_counter()
    try:
        if handle is not None:
            table = csv.writer(handle)
            table.writerow(CSV_COLUMNS)
            handle.flush()
        batch = frames_per_call(batch, frames.size)
        chunks = _batches(iter(frames), batch)
        first = next(chunks, None)
        if first is not None:  # warm the network up so the stamped rate is the steady one
            pipeline.segmenter.predict_batch(first)
            chunks = itertools.chain([first], chunks)
        pipeline.reset()
        meter = FpsMeter(window=max(1, RATE_WINDOW // batch))
        meter.tick(0)
        for chunk in chunks:
            results = [pipeline.process(chunk[0])] if len(chunk) == 1 else pipeline.process_batch(chunk)
            speed = meter.tick(len(chunk))
            for image, result in zip(chunk, results, strict=True):
                drawn = overlay(image, result.kept, result.tracks, fps=speed, fps_label="pipeline fps",
                                outcomes=_outcomes(truth, done, result.kept), ignored=result.saliency.ignored)
                writer.write(pad_to(drawn, *frames.size))
                detections += len(result.kept)
                removed += len(result.detections) - len(result.kept)
                tally.add(result.saliency)
                if handle is not None:
                    new_rows = _rows(done, frames.time_of(done), result)
                    table.writerows(new_rows)
                    handle.flush()
                    rows += len(new_rows)
                done += 1
                if progress is not None:
                    progress(done, frames.total)
    except KeyboardInterrupt:
        interrupted = True
        if done:  # before the first frame nothing is kept (below), and the caller says so
            # no path: a dashboard's run writes to a scratch folder that is gone once its output is read
            log.warning("interrupted after %d frames; the annotated video and CSV written so far hold them", done)
    except LwirstError as exc:
        stop = str(exc)
    finally:
        writer.release()
        if handle is not None:
            handle.close()
        frames.close()
        _settle(outputs, keep=done > 0)  # stopped before the first frame: nothing playable to keep
    tracker = pipeline.tracker
    truncated = not interrupted and stop is None and frames.truncated()
    cut = interrupted or stop is not None or truncated
    # read to its end, a video holds the frames read: a header's count can be an estimate (a variable rate's)
    result = VideoResult(out_path, csv_file, codec, done, frames.total if cut else done, frames.fps, rows,
                         time.perf_counter() - start, interrupted, frames.size, detections,
                         tracker.untracked(detections) if tracker is not None else "", frames.variable_rate, tally,
                         removed)
    if stop is not None:
        held = f"{out_path} and the CSV hold them" if done else "no video or CSV was kept"
        raise VideoStopped(f"{stop} (stopped after {done} frames; {held})", stop, result)
    if truncated:
        declared = f" of the {frames.total} frames its header declares" if frames.total else " frames"
        stop = f"{frames.name}: the video ends after {done}{declared} (truncated or corrupt)"
        raise VideoStopped(f"{stop}; {out_path} and the CSV hold the {done} frames read", stop, result)
    if not interrupted and codec not in BROWSER_CODECS and transcode and _transcode_h264(out_path):
        result = dataclasses.replace(result, codec="h264 (ffmpeg)")
    log.info("wrote %d frames to %s with codec %s", done, out_path, result.codec)
    return result


def _image_kind(path: Path) -> str:
    """The image format a file's first bytes say it is (`imageio.image_format`), "" for anything else."""
    try:
        with path.open("rb") as handle:
            head = handle.read(8)
    except OSError:
        return ""  # the video reader says what is wrong with it
    return image_format(head)


def unreadable_video(path: Path) -> str:
    """Why FFmpeg could not open a file, as far as its first bytes say: empty, text (a log, an HTML error page,
    a Git LFS pointer saved as .mp4), else damage or an unsupported format."""
    try:
        with path.open("rb") as handle:
            head = handle.read(40)
    except OSError as exc:
        return f"not readable ({exc.strerror or exc})"
    if not head:
        return "the file is empty; choose a video (MP4, AVI, MKV, ...)"
    if (text := text_head(head)) is not None:
        return (f"not a readable video: it holds text ({text}...), not video data; choose a video (MP4, AVI, "
                "MKV, ...)")
    return "not a readable video (corrupt, truncated or unsupported format)"
