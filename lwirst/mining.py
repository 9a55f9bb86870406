"""Hard negatives: the false alarms a trained network raises on large target-free frames, as training crops.

A network that keeps SIRST-sized empty frames quiet still alarms on a large sensor's frame: a
1280x1024 frame holds some sixteen SIRST frames' worth of clutter, and the few confident blobs
it marks there (round 22: nine in ten peak above probability 0.9) are where the training
negatives should go. `mine_hard_negatives` runs a network natively on large target-free frames
made from the training backgrounds (quilted mosaics and 2-4x enlargements); every detection
there is a false alarm, and a crop holding it, mask empty, becomes a training frame
(`Recipe.hard`, round 23 in data/models/PREREGISTRATION.md).
"""

from __future__ import annotations

import copy
import logging
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import cv2
import numpy as np
import torch

from lwirst.implant import grey, mosaic
from lwirst.inference import PLAIN, Segmenter
from lwirst.postprocess import Target, detect
from lwirst.trainmix import grey_to_bgr

log = logging.getLogger(__name__)

MARGIN = 8  # a mined blob's centre stays this far inside its crop


@dataclass(frozen=True)
class MiningPlan:
    """How many large target-free frames the network is run on, and how many crops each may give."""

    mosaics: int = 48
    enlarged: int = 48
    per_frame: int = 4
    # (height, width) of a mosaic; None: 4 x 5 training crops, 1024x1280 at the recipes' size 256 (the largest
    # sensor frame the suite has), and as many crops' worth of clutter at any other training size
    shape: tuple[int, int] | None = None


def mine_hard_negatives(model: torch.nn.Module, backgrounds: Sequence[np.ndarray], size: int,
                        rng: np.random.Generator, plan: MiningPlan = MiningPlan()) -> list[np.ndarray]:
    """size x size BGR uint8 crops around the false alarms `model` raises on target-free frames.

    `backgrounds` are target-free BGR frames (the training frames with their targets inpainted
    away). The most confident blobs of a frame come first, at most `plan.per_frame` of them.
    Deterministic for a given model, backgrounds and `rng` state.
    """
    segmenter = Segmenter.from_module(copy.deepcopy(model), protocol="native", options=PLAIN)
    crops: list[np.ndarray] = []
    frames = 0
    for frame in _target_free_frames(backgrounds, rng, plan, plan.shape or (4 * size, 5 * size)):
        frames += 1
        found = detect(segmenter.predict(frame).logits)
        strongest = sorted(found.targets, key=lambda t: -t.peak)[:plan.per_frame]
        crops += [crop_around(frame, target, size, rng) for target in strongest]
    log.info("mined %d hard negatives from %d target-free frames", len(crops), frames)
    return crops


def _target_free_frames(backgrounds: Sequence[np.ndarray], rng: np.random.Generator, plan: MiningPlan,
                        shape: tuple[int, int]) -> Iterator[np.ndarray]:
    for _ in range(plan.mosaics):
        canvas = mosaic(backgrounds, shape, rng)
        yield grey_to_bgr(canvas)
    for _ in range(plan.enlarged):
        image = grey(backgrounds[int(rng.integers(0, len(backgrounds)))])
        factor = float(rng.uniform(2.0, 4.0))
        h, w = image.shape
        image = cv2.resize(image, (round(w * factor), round(h * factor)), interpolation=cv2.INTER_LINEAR)
        yield grey_to_bgr(image)


def crop_around(frame: np.ndarray, target: Target, size: int, rng: np.random.Generator) -> np.ndarray:
    """A size x size window of `frame` with the target's centre at a random place at least `MARGIN`
    pixels inside it (as close as the frame's edges allow); frames smaller than `size` are mirrored out."""
    h, w = frame.shape[:2]
    if h < size or w < size:
        frame = cv2.copyMakeBorder(frame, 0, max(0, size - h), 0, max(0, size - w), cv2.BORDER_REFLECT_101)
        h, w = frame.shape[:2]
    cy, cx = round(target.y), round(target.x)

    def start(centre: int, extent: int) -> int:
        low = min(max(0, centre - size + 1 + MARGIN), extent - size)
        high = max(low, min(centre - MARGIN, extent - size))
        return int(rng.integers(low, high + 1))

    top, left = start(cy, h), start(cx, w)
    return np.ascontiguousarray(frame[top:top + size, left:left + size])
