"""Input normalisation shared by training and every inference backend.

The paper's deployment feeds the network RGB / 255 normalised with the ImageNet
mean and std; IR frames arrive grey, 16-bit or RGBA, so everything is first
brought to 8-bit BGR by `lwirst.imageio.to_bgr`.
"""

from __future__ import annotations

import numpy as np

from lwirst.imageio import to_bgr

MEAN = np.array([0.485, 0.456, 0.406], dtype=np.float32)
STD = np.array([0.229, 0.224, 0.225], dtype=np.float32)


def normalize(bgr: np.ndarray, channels: int = 3) -> np.ndarray:
    """uint8 H x W x 3 BGR -> float32 3 x H x W normalised RGB; for a one-channel network (`channels` 1) the
    mean of those three planes, 1 x H x W, so that training and every command feed it alike."""
    rgb = bgr[..., ::-1].astype(np.float32) * (1.0 / 255.0)
    chw = ((rgb - MEAN) / STD).transpose(2, 0, 1)
    return np.ascontiguousarray(chw.mean(axis=0, keepdims=True) if channels == 1 else chw)


def prepare(image: np.ndarray) -> np.ndarray:
    """Any supported image -> float32 3 x H x W network input at its own size."""
    return normalize(to_bgr(image))


def pad_to_multiple(chw: np.ndarray, multiple: int = 8) -> tuple[np.ndarray, tuple[int, int]]:
    """Pad bottom/right to a multiple of `multiple`; returns the padded array and the original size.

    Reflection (edge replication for tiny images) rather than zeros: a constant band
    would create an artificial edge the network may read as a target.
    """
    h, w = chw.shape[1:]
    ph, pw = (-h) % multiple, (-w) % multiple
    if ph == 0 and pw == 0:
        return chw, (h, w)
    mode = "reflect" if min(h, w) > max(ph, pw) else "edge"
    return np.pad(chw, ((0, 0), (0, ph), (0, pw)), mode=mode), (h, w)
