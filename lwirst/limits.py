"""Resource limits applied before anything is decoded or run, as settings with defaults.

Each limit is read from an environment variable when set (a positive integer), so a
server can tighten or loosen them without code changes:

- ``LWIRST_MAX_IMAGE_PIXELS``: largest image, from its header (default 8192 x 8192 on
  the command line; the dashboard has its own, smaller, upload limit). The dashboard also caps
  OpenCV's decoder at it (`cap_decoder`), for a file whose header hides its size.
- ``LWIRST_MAX_VIDEO_PIXELS``: largest video frame, from the container (default 4096 x 4096).
- ``LWIRST_MAX_VIDEO_FRAMES``: most frames a video may declare, or hold when read (default 1 000 000).
- ``LWIRST_MAX_UPLOAD_VIDEO_FRAMES``: most frames of a video a dashboard visitor uploads (default 3000,
  two minutes at 25 fps): each is processed on the server's shared CPU, and the Video page keeps its
  annotated copy in memory; `lwirst video` on the command line takes longer ones.
- ``LWIRST_MAX_UPLOAD_VIDEO_MEGAPIXELS``: most megapixels of all the frames of an uploaded video together
  (default 400: all 3000 frames at 256x256, 305 at 1280x1024, 23 at 4096x4096): a frame's work grows with its
  pixels, and 300 frames of 4096x4096 held a served dashboard's CPU for hours.
- ``LWIRST_MAX_SPLIT_FRAMES``: most images of a dataset split the dashboard's Video page plays
  as one video (default 100: the first ones, in order).
- ``LWIRST_MAX_ONNX_ELEMENTS``: most elements any one tensor of an ONNX graph may declare
  or create (default 2**27, 512 MB of float32).
- ``LWIRST_ONNX_TRIAL_MB``: address space of the worker process that runs an uploaded ONNX
  model once before the server loads it (default 1024 MB; Python and ONNX Runtime take ~300).
- ``LWIRST_ONNX_TRIAL_SECONDS``: wall-clock limit of that run (default 60 s).
- ``LWIRST_ONNX_WORKER_MB``, ``LWIRST_ONNX_WORKER_SECONDS``: address space of the worker process in which a served
  dashboard runs an uploaded ONNX model on every frame (`lwirst.backends.ort_worker`: a tensor sized from a real
  frame's values escapes the trial), and the time of one call (defaults 4096 MB, which runs LW-IRSTNet on a
  6144x6144 frame, and 120 s); ``LWIRST_ONNX_WORKERS``: most such workers at once (default 2).
- ``LWIRST_MAX_UPLOAD_RUN_SECONDS``: longest run of a visitor's upload on a served dashboard, an uploaded model's
  evaluation or an uploaded video's processing (default 600 s): it holds one of the server's run places, and a
  model that passes its trial can still take up to ``LWIRST_ONNX_WORKER_SECONDS`` on every frame of a set (an
  86-frame split, hours), a small video of progressive-JPEG frames seconds to decode each. The run stops with the
  frame that crosses it; the command line on the visitor's own machine has no such bound.
- ``LWIRST_MAX_SERVER_RUNS``: most videos and evaluations a dashboard server runs at once, every
  visitor's together (default 2): they take turns through one network lock on the server's cores, so more at
  once gain no speed, and each holds memory while it runs (a frame's maps, a video's encoders and encoded copies).
- ``LWIRST_MAX_WAITING_RUNS``: most such runs waiting for a place (default 8, first come first served); a
  visitor whose run would be one more is told the server is busy.
- ``LWIRST_UPLOAD_TTL_SECONDS``: a served dashboard drops an upload (a model, a video) stored on disk this long
  after its last use (default 3600 s).
- ``LWIRST_UPLOAD_MAX_FILES`` and ``LWIRST_UPLOAD_MAX_MB``: most uploads, and most megabytes of
  them, kept on disk per session; the least recently used go first (defaults 8 and 1024).
- ``LWIRST_UPLOAD_TOTAL_MB``: most megabytes of uploads kept on disk for all sessions together, so that
  many sessions cannot fill the disk; the least recently used go first, whoever's (default 4096).
- ``LWIRST_CACHE_MAX_MB``: most megabytes of the evaluation cache (results, the maps they share, the maps of
  interrupted runs), after each result stored; the least recently stored or read results go first, never the
  one just stored (`lwirst.evalcache`). A served dashboard stores every visitor's evaluation of an offered
  model; the default, 16384, holds a 600-frame set of 1280x1024 frames (521 MB of maps, shared by its
  thresholds and filters) many times over.
"""

from __future__ import annotations

import os
import sys

from lwirst.errors import LwirstError

DEFAULTS = {
    "LWIRST_MAX_IMAGE_PIXELS": 8192 * 8192,
    "LWIRST_MAX_VIDEO_PIXELS": 4096 * 4096,
    "LWIRST_MAX_VIDEO_FRAMES": 1_000_000,
    "LWIRST_MAX_UPLOAD_VIDEO_FRAMES": 3000,
    "LWIRST_MAX_UPLOAD_VIDEO_MEGAPIXELS": 400,
    "LWIRST_MAX_SPLIT_FRAMES": 100,
    "LWIRST_MAX_ONNX_ELEMENTS": 2**27,
    "LWIRST_ONNX_TRIAL_MB": 1024,
    "LWIRST_ONNX_TRIAL_SECONDS": 60,
    "LWIRST_ONNX_WORKER_MB": 4096,
    "LWIRST_ONNX_WORKER_SECONDS": 120,
    "LWIRST_ONNX_WORKERS": 2,
    "LWIRST_MAX_UPLOAD_RUN_SECONDS": 600,
    "LWIRST_MAX_SERVER_RUNS": 2,
    "LWIRST_MAX_WAITING_RUNS": 8,
    "LWIRST_UPLOAD_TTL_SECONDS": 3600,
    "LWIRST_UPLOAD_MAX_FILES": 8,
    "LWIRST_UPLOAD_MAX_MB": 1024,
    "LWIRST_UPLOAD_TOTAL_MB": 4096,
    "LWIRST_CACHE_MAX_MB": 16384,
}


DECODER_CAP_ENV = "OPENCV_IO_MAX_IMAGE_PIXELS"


def cap_decoder() -> bool:
    """Make OpenCV's image decoders refuse images over LWIRST_MAX_IMAGE_PIXELS: a second line behind
    `lwirst.imageio.check_header`, for a file whose header hides its size (OpenCV's own cap is 2**30 pixels,
    8 GB of 16-bit RGBA). OpenCV reads the cap once, when it loads: once cv2 is imported (a later run of the
    dashboard's script, a command called in-process) this does nothing and says so (False). A cap already set
    in the environment is kept."""
    if "cv2" in sys.modules:
        return False
    os.environ.setdefault(DECODER_CAP_ENV, str(limit("LWIRST_MAX_IMAGE_PIXELS")))
    return True


def limit(name: str) -> int:
    """The limit `name` (one of `DEFAULTS`): its environment override, else the default."""
    text = os.environ.get(name)
    if text is None or text == "":
        return DEFAULTS[name]
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise LwirstError(f"{name}={text!r} must be a positive integer")
    return value


def side_text(pixels: int) -> str:
    """A pixel budget as 'WxH' when it is a square, else as a count; the caller adds the unit ("... pixels")."""
    side = int(pixels ** 0.5)
    return f"{side}x{side}" if side * side == pixels else f"{pixels}"
