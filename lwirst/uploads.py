"""Uploaded images checked against a server's limits before anything decodes or runs them."""

from __future__ import annotations

import hashlib
import math

import numpy as np

from lwirst.errors import LwirstError
from lwirst.imageio import decode_image, header_size


def image_key(image: np.ndarray) -> str:
    """Content hash of an image array (shape and type included), to key cached results."""
    digest = hashlib.sha1(np.ascontiguousarray(image).tobytes(), usedforsecurity=False)
    digest.update(f"{image.shape}{image.dtype}".encode())
    return digest.hexdigest()


def check_upload_size(size: int, name: str, max_bytes: int) -> None:
    """Refuse an upload over the server's limit, saying both sizes."""
    if size > max_bytes:
        raise LwirstError(f"{name}: {size / 2**20:.1f} MB is over this server's upload limit of "
                          f"{max_bytes / 2**20:.0f} MB")


def decode_upload(data: bytes, name: str, max_bytes: int, max_pixels: int, min_side: int) -> np.ndarray:
    """An uploaded image decoded as stored (8/16-bit, grey/colour/alpha), within the server's limits."""
    check_upload_size(len(data), name, max_bytes)
    size = header_size(data) if data else None
    if size is not None and size[0] * size[1] > max_pixels:  # before any pixel is decoded
        _too_large(name, *size, max_pixels)
    image = decode_image(data, name, max_pixels=max_pixels)
    h, w = image.shape[:2]
    if min(h, w) < min_side:
        raise LwirstError(f"{name}: {w}x{h} is too small to segment; use an image at least "
                          f"{min_side}x{min_side} pixels")
    if h * w > max_pixels:
        _too_large(name, w, h, max_pixels)
    return image


def _too_large(name: str, w: int, h: int, max_pixels: int) -> None:
    side = math.isqrt(max_pixels)
    raise LwirstError(f"{name}: {w}x{h} is larger than this dashboard accepts ({side}x{side} pixels); "
                      "downscale it or use `lwirst segment` on the command line")
