"""Resource limits applied before anything is decoded or run, as settings with defaults.

Each limit is read from an environment variable when set (a positive integer), so a
server can tighten or loosen them without code changes:

- ``LWIRST_MAX_IMAGE_PIXELS``: largest image, from its header (default 8192 x 8192 on
  the command line; the dashboard has its own, smaller, upload limit).
- ``LWIRST_MAX_VIDEO_PIXELS``: largest video frame, from the container (default 4096 x 4096).
- ``LWIRST_MAX_VIDEO_FRAMES``: most frames a video may declare (default 1 000 000).
- ``LWIRST_MAX_ONNX_ELEMENTS``: most elements any one tensor of an ONNX graph may declare
  or create (default 2**27, 512 MB of float32).
"""

from __future__ import annotations

import os

from lwirst.errors import LwirstError

DEFAULTS = {
    "LWIRST_MAX_IMAGE_PIXELS": 8192 * 8192,
    "LWIRST_MAX_VIDEO_PIXELS": 4096 * 4096,
    "LWIRST_MAX_VIDEO_FRAMES": 1_000_000,
    "LWIRST_MAX_ONNX_ELEMENTS": 2**27,
}


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
    """A pixel budget as 'WxH' when it is a square, else as a count."""
    side = int(pixels ** 0.5)
    return f"{side}x{side}" if side * side == pixels else f"{pixels} pixels"
