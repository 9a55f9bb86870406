"""Uploads on a server: images checked against its limits before anything decodes them, and the
upload store, where files kept on disk expire and are bounded per session (`lwirst.limits`)."""

from __future__ import annotations

import hashlib
import logging
import math
import os
import re
import shutil
import time
from pathlib import Path

import numpy as np

from lwirst.errors import LwirstError
from lwirst.imageio import decode_image, header_size, too_small
from lwirst.limits import limit

log = logging.getLogger(__name__)


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
    if (error := too_small(name, w, h, min_side)) is not None:
        raise error
    if h * w > max_pixels:
        _too_large(name, w, h, max_pixels)
    return image


def _too_large(name: str, w: int, h: int, max_pixels: int) -> None:
    side = math.isqrt(max_pixels)
    raise LwirstError(f"{name}: {w}x{h} is larger than this dashboard accepts ({side}x{side} pixels); "
                      "downscale it or use `lwirst segment` on the command line")


def _safe(text: str, fallback: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", text).strip("._")[:80] or fallback


def store_upload(root: Path, session: str, digest: str, name: str, data: bytes) -> Path:
    """Keep `data` as ``<root>/<session>/<digest>/<name>`` (a safe name), marked as used now, then
    drop what `prune_uploads` says has expired or is over the session's bounds. Storing the same
    upload again refreshes it, so an upload in use never expires."""
    for setting in ("LWIRST_UPLOAD_MAX_MB", "LWIRST_UPLOAD_TOTAL_MB"):  # over either, it would be pruned at once
        most = limit(setting) * 2**20
        if len(data) > most:
            raise LwirstError(f"{name}: {len(data) / 2**20:.1f} MB is over this server's stored-upload limit of "
                              f"{most / 2**20:.0f} MB ({setting})")
    path = Path(name)
    folder = root / _safe(session, "session") / _safe(digest, "upload")
    target = folder / (_safe(path.stem, "upload") + re.sub(r"[^a-z0-9.]+", "", path.suffix.lower())[:10])
    if not target.is_file():
        folder.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)
    os.utime(folder)
    prune_uploads(root)
    return target


def _bytes(folder: Path) -> int:
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())


def prune_uploads(root: Path, now: float | None = None) -> list[Path]:
    """Remove stored uploads unused for LWIRST_UPLOAD_TTL_SECONDS and, per session, the least recently
    used beyond LWIRST_UPLOAD_MAX_FILES or LWIRST_UPLOAD_MAX_MB, then, over all sessions, the least recently
    used beyond LWIRST_UPLOAD_TOTAL_MB; the removed folders."""
    now = time.time() if now is None else now
    ttl, files = limit("LWIRST_UPLOAD_TTL_SECONDS"), limit("LWIRST_UPLOAD_MAX_FILES")
    budget, total = limit("LWIRST_UPLOAD_MAX_MB") * 2**20, limit("LWIRST_UPLOAD_TOTAL_MB") * 2**20
    removed: list[Path] = []
    survivors: list[tuple[float, int, Path]] = []  # (last use, bytes, folder) of every upload kept per session
    for session in [p for p in root.iterdir() if p.is_dir()] if root.is_dir() else []:
        kept, used, full = 0, 0, False
        for upload in sorted((p for p in session.iterdir() if p.is_dir()), key=lambda p: p.stat().st_mtime,
                             reverse=True):
            size = _bytes(upload)
            full = full or now - upload.stat().st_mtime > ttl or kept >= files or used + size > budget
            if full:  # this one and every older one go
                shutil.rmtree(upload, ignore_errors=True)
                removed.append(upload)
                continue
            kept, used = kept + 1, used + size
            survivors.append((upload.stat().st_mtime, size, upload))
    used = 0
    for _, size, upload in sorted(survivors, key=lambda item: item[0], reverse=True):  # newest first
        used += size
        if used > total:
            shutil.rmtree(upload, ignore_errors=True)
            removed.append(upload)
    for session in [p for p in root.iterdir() if p.is_dir()] if root.is_dir() else []:
        if not any(session.iterdir()):  # its last upload went
            shutil.rmtree(session, ignore_errors=True)
    if removed:
        log.info("dropped %d expired or surplus upload(s) from %s", len(removed), root)
    return removed
