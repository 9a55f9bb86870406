"""The training mix: real frames plus frames generated from them, all deterministic by seed.

A network trained on SIRST's 256 training frames alone learns those scenes: on other
sensors' frames it misses targets and raises alarms on empty sky. The recipe's shares
(`implant`, `synthetic`, `negatives`, per real frame per epoch) add generated frames:

* **implant**: a real training background with its own targets inpainted away, with
  1-3 new targets: real cut-outs (other training frames' targets, rotated, rescaled and
  re-contrasted) or Gaussian point-spread targets at SCR 3-40, and sometimes clutter;
* **synthetic**: a scene of the SIRST-calibrated generator presets (`lwirst.synth`,
  ``sirst`` / ``sirst_terrain``) with grey level, clouds and noise varied per scene;
* **negative**: a frame with no target at all: an inpainted real background or a
  target-free synthetic scene, with wide bright blobs, dark blobs and hot pixels as bait;
* **mosaic**: pieces of several real backgrounds reduced 1-2.5x and quilted into one frame
  (`lwirst.implant.mosaic`): the dense small-scale clutter of a large sensor's frame, half
  of them with 1-3 targets implanted at their own size, half target-free;
* **hard**: a crop around a false alarm the init weights raise on a large target-free frame
  (`lwirst.mining`), mask empty: negatives where the network errs; with `hard_implant` p, a drawn
  crop gets 1-3 implanted targets with chance p, so the network must tell a target from the
  clutter on that texture rather than go quiet there.

`upscale` is the probability that a real or background frame is enlarged 2-4x at its own
aspect ratio and cropped at full resolution instead of squashed to the training size:
what a large sensor's frame looks like to a network run at native resolution.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import cv2
import numpy as np

from lwirst.implant import (
    Cutout,
    add_bait,
    add_cutout,
    add_hot_pixels,
    add_psf,
    cut_targets,
    grey,
    mosaic,
    remove_targets,
    transform_cutout,
)
from lwirst.synth import PRESETS, render_scene

KINDS = ("real", "implant", "synthetic", "negative", "mosaic", "hard")
SYNTH_PRESETS = ("sirst", "sirst_terrain")


@dataclass(frozen=True)
class Geometry:
    """How a frame becomes a training crop: squash to size x U(scale), or (p = upscale) enlarge 2-4x."""

    size: int
    scale_min: float
    scale_max: float
    upscale: float = 0.0

    def apply(self, image: np.ndarray, mask: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        size = self.size
        if self.upscale and rng.random() < self.upscale:
            factor = float(rng.uniform(2.0, 4.0))
            h, w = mask.shape
            dsize = (max(8, round(w * factor)), max(8, round(h * factor)))
        else:
            side = max(8, round(size * rng.uniform(self.scale_min, self.scale_max)))
            dsize = (side, side)
        image = cv2.resize(image, dsize, interpolation=cv2.INTER_LINEAR)
        mask = cv2.resize(mask, dsize, interpolation=cv2.INTER_NEAREST)
        return crop_or_pad(image, mask, size, rng)


def crop_or_pad(image: np.ndarray, mask: np.ndarray, size: int,
                rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """A random size x size window; sides shorter than `size` are zero-padded at a random offset."""
    h, w = mask.shape
    ph, pw = max(0, size - h), max(0, size - w)
    if ph or pw:
        top, left = int(rng.integers(0, ph + 1)), int(rng.integers(0, pw + 1))
        border = (top, ph - top, left, pw - left)
        image = cv2.copyMakeBorder(np.ascontiguousarray(image), *border, cv2.BORDER_CONSTANT, value=0)
        mask = cv2.copyMakeBorder(np.ascontiguousarray(mask), *border, cv2.BORDER_CONSTANT, value=0)
        h, w = mask.shape
    y, x = int(rng.integers(0, h - size + 1)), int(rng.integers(0, w - size + 1))
    return image[y:y + size, x:x + size], mask[y:y + size, x:x + size]


def random_scene_config(rng: np.random.Generator, size: int, targets: tuple[int, int]):
    """A calibrated preset with its grey level, clouds and noise varied (SIRST spans mean 50-190)."""
    preset = PRESETS[SYNTH_PRESETS[int(rng.integers(0, len(SYNTH_PRESETS)))]]
    return preset.replace(size=(size, size), targets=targets, sky_level=float(rng.uniform(40, 170)),
                          cloud_contrast=float(rng.uniform(15, 80)), cloud_cover=float(rng.uniform(0.1, 0.7)),
                          noise_std=float(rng.uniform(0.5, 4.0)), fpn_std=float(rng.uniform(0.0, 2.0)),
                          ground_level=float(rng.uniform(60, 190)))


def grey_to_bgr(canvas: np.ndarray) -> np.ndarray:
    """A float grey canvas as the 8-bit BGR frame training and inference take."""
    return cv2.cvtColor(np.clip(np.rint(canvas), 0, 255).astype(np.uint8), cv2.COLOR_GRAY2BGR)


def _distractors(canvas: np.ndarray, taken: np.ndarray, rng: np.random.Generator, baits: int) -> None:
    for _ in range(baits):
        add_bait(canvas, taken, rng)
    if rng.random() < 0.4:
        add_hot_pixels(canvas, taken, rng, int(rng.integers(1, 6)))


class FrameBank:
    """Real frames, their inpainted backgrounds and their targets' cut-outs, kept in memory."""

    def __init__(self, images: Sequence[np.ndarray], masks: Sequence[np.ndarray], geometry: Geometry,
                 hard_implant: float = 0.0) -> None:
        self.images, self.masks, self.geometry = list(images), list(masks), geometry
        self.hard_implant = hard_implant
        self.backgrounds = [remove_targets(i, m > 0) for i, m in zip(self.images, self.masks, strict=True)]
        self.cutouts: list[Cutout] = [c for i, m in zip(self.images, self.masks, strict=True)
                                      for c in cut_targets(i, m > 0)]
        self.hard: list[np.ndarray] = []  # mined crops (`lwirst.mining`); empty until a trainer mines them

    def make(self, kind: str, rng: np.random.Generator, index: int = 0) -> tuple[np.ndarray, np.ndarray]:
        """One BGR uint8 size x size frame of `kind` and its 0/1 mask (`index` picks the real frame)."""
        if kind == "real":
            return self.geometry.apply(self.images[index], self.masks[index], rng)
        if kind == "implant":
            return self._implanted(rng)
        if kind == "synthetic":
            scene = render_scene(random_scene_config(rng, self.geometry.size, (1, 3)), rng.integers(0, 2**31, 2))
            return cv2.cvtColor(scene.image, cv2.COLOR_GRAY2BGR), scene.mask.astype(np.uint8)
        if kind == "negative":
            return self._negative(rng)
        if kind == "mosaic":
            return self._mosaic(rng)
        if kind == "hard":  # without mined crops (e.g. a BN refit outside training), an ordinary negative
            if not self.hard:
                return self._negative(rng)
            crop = self.hard[int(rng.integers(0, len(self.hard)))]
            if self.hard_implant and rng.random() < self.hard_implant:  # no draw at 0: older runs resume unchanged
                return self._implanted(rng, grey(crop))
            return crop, np.zeros(crop.shape[:2], np.uint8)
        raise ValueError(f"unknown frame kind {kind!r}")

    def _background(self, rng: np.random.Generator) -> np.ndarray:
        i = int(rng.integers(0, len(self.backgrounds)))
        image, _ = self.geometry.apply(self.backgrounds[i], np.zeros(self.masks[i].shape, np.uint8), rng)
        return cv2.cvtColor(np.ascontiguousarray(image), cv2.COLOR_BGR2GRAY).astype(np.float32)

    def _implanted(self, rng: np.random.Generator, canvas: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        canvas = self._background(rng) if canvas is None else canvas
        taken = np.zeros(canvas.shape, dtype=bool)
        mask = np.zeros(canvas.shape, dtype=bool)
        for _ in range(int(rng.integers(1, 4))):
            if self.cutouts and rng.random() < 0.6:
                cutout = transform_cutout(self.cutouts[int(rng.integers(0, len(self.cutouts)))], rng)
                placed = add_cutout(canvas, taken, cutout, rng)
            else:
                placed = add_psf(canvas, taken, rng)
            if placed is not None:
                mask |= placed
        if rng.random() < 0.3:
            _distractors(canvas, taken, rng, int(rng.integers(0, 3)))
        return grey_to_bgr(canvas), mask.astype(np.uint8)

    def _negative(self, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        size = self.geometry.size
        if rng.random() < 0.6:
            canvas = self._background(rng)
        else:
            scene = render_scene(random_scene_config(rng, size, (0, 0)), rng.integers(0, 2**31, 2))
            canvas = scene.image.astype(np.float32)
        _distractors(canvas, np.zeros(canvas.shape, dtype=bool), rng, int(rng.integers(0, 4)))
        return grey_to_bgr(canvas), np.zeros((size, size), np.uint8)


    def _mosaic(self, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        size = self.geometry.size
        canvas = mosaic(self.backgrounds, (size, size), rng, tile=max(16, size // 2), overlap=max(4, size // 8))
        if rng.random() < 0.5:
            return self._implanted(rng, canvas)
        if rng.random() < 0.3:
            _distractors(canvas, np.zeros(canvas.shape, dtype=bool), rng, int(rng.integers(0, 3)))
        return grey_to_bgr(canvas), np.zeros((size, size), np.uint8)


def epoch_kinds(real: int, implant: float, synthetic: float, negatives: float,
                mosaics: float = 0.0, hard: float = 0.0) -> list[tuple[str, int]]:
    """The (kind, real index) list one epoch draws from: every real frame once plus the shares."""
    items = [("real", i) for i in range(real)]
    for kind, share in (("implant", implant), ("synthetic", synthetic), ("negative", negatives),
                        ("mosaic", mosaics), ("hard", hard)):
        items += [(kind, 0)] * round(share * real)
    return items
