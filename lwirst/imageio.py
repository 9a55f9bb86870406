"""Reading and normalising images as users hand them to us.

Every reader validates: a missing path, an empty or truncated file, a non-image
and a zero-size image each raise `LwirstError` with the file named, never a cv2
traceback.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from lwirst.errors import LwirstError

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff")
MAX_PIXELS = 8192 * 8192


def decode_image(data: bytes, name: str = "image") -> np.ndarray:
    """Decode encoded image bytes keeping bit depth and channels (IMREAD_UNCHANGED)."""
    if not data:
        raise LwirstError(f"{name}: the file is empty; choose a PNG, JPG, BMP or TIFF image")
    buffer = np.frombuffer(data, dtype=np.uint8)
    image = cv2.imdecode(buffer, cv2.IMREAD_UNCHANGED)
    if image is None:
        raise LwirstError(f"{name}: not a readable image (truncated, corrupt or not PNG/JPG/BMP/TIFF)")
    return check_image(image, name)


def read_image(path: str | Path) -> np.ndarray:
    """Read an image file as stored (8/16-bit, grey/BGR/BGRA)."""
    path = Path(path)
    if not path.exists():
        raise LwirstError(f"{path}: no such file")
    if path.is_dir():
        raise LwirstError(f"{path}: is a directory, expected an image file")
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise LwirstError(f"{path}: cannot be read ({exc.strerror})") from exc
    return decode_image(data, str(path))


def check_image(image: np.ndarray, name: str = "image") -> np.ndarray:
    """Validate an in-memory image array; return it unchanged."""
    if not isinstance(image, np.ndarray) or image.ndim not in (2, 3):
        raise LwirstError(f"{name}: expected an H x W or H x W x C image array")
    if image.shape[0] == 0 or image.shape[1] == 0:
        raise LwirstError(f"{name}: the image has zero size")
    if image.ndim == 3 and image.shape[2] not in (1, 3, 4):
        raise LwirstError(f"{name}: {image.shape[2]} channels; expected 1 (grey), 3 (colour) or 4 (RGBA)")
    if image.shape[0] * image.shape[1] > MAX_PIXELS:
        raise LwirstError(f"{name}: {image.shape[1]}x{image.shape[0]} is larger than 8192x8192; downscale it")
    if image.dtype not in (np.uint8, np.uint16, np.float32, np.float64):
        raise LwirstError(f"{name}: pixel type {image.dtype} is not supported (use 8- or 16-bit)")
    return image


def to_uint8(image: np.ndarray) -> np.ndarray:
    """8-bit view of an image: 16-bit and float images are min-max stretched.

    IR sensors deliver 14/16-bit counts whose useful range is a small band of the
    full scale, so a fixed /257 would leave targets invisible; stretching the
    frame's own range keeps local contrast, as IR viewers do.
    """
    if image.dtype == np.uint8:
        return image
    data = image.astype(np.float64)
    lo, hi = float(np.min(data)), float(np.max(data))
    if hi <= lo:
        return np.zeros(image.shape, dtype=np.uint8)
    return np.clip((data - lo) * (255.0 / (hi - lo)) + 0.5, 0, 255).astype(np.uint8)


def to_bgr(image: np.ndarray) -> np.ndarray:
    """8-bit 3-channel BGR copy of any supported image (grey replicated, alpha dropped)."""
    image = to_uint8(check_image(image))
    if image.ndim == 2 or image.shape[2] == 1:
        return cv2.cvtColor(image.reshape(image.shape[0], image.shape[1]), cv2.COLOR_GRAY2BGR)
    if image.shape[2] == 4:
        return cv2.cvtColor(image, cv2.COLOR_BGRA2BGR)
    return image


def to_gray(image: np.ndarray) -> np.ndarray:
    """8-bit single-channel copy of any supported image."""
    bgr = to_bgr(image)
    return cv2.cvtColor(bgr, cv2.COLOR_BGR2GRAY)


def read_mask(path: str | Path) -> np.ndarray:
    """Read a binary ground-truth mask as bool; non-binary masks are an error."""
    mask = read_image(path)
    if mask.ndim == 3:
        mask = mask[..., 0]
    values = np.unique(mask)
    if values.size > 2 or (values.size == 2 and values[0] != 0):
        raise LwirstError(
            f"{path}: mask is not binary (values {values[:6].tolist()}...); "
            "expected 0 and one foreground value"
        )
    return mask > 0
