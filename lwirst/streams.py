"""A dataset split played as a stream: live (its images in order, looping, as a `lwirst.live` source)
or as a video (its first images as frames of one size, for `lwirst.video.process_video`)."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from lwirst.datasets import SegDataset
from lwirst.errors import LwirstError


class DatasetStream:
    """The images of a dataset split, one per frame, in order, starting over at the end.

    Frames keep their own size (SIRST's differ): each is segmented as it is, like a
    camera that switches scenes; `independent_frames` tells a stream to restart tracking on
    every frame, so no track links targets of two unrelated images.
    """

    independent_frames = True

    def __init__(self, dataset: SegDataset, name: str) -> None:
        if len(dataset) == 0:
            raise LwirstError(f"{name}: the split has no image to stream")
        self.dataset, self.name = dataset, name
        self.position = 0

    def read(self) -> np.ndarray:
        sample = self.dataset.load(self.position % len(self.dataset))
        self.position += 1
        return sample.image

    def close(self) -> None:
        """Nothing to release: images are read one at a time."""


def pad_to(image: np.ndarray, width: int, height: int) -> np.ndarray:
    """`image` centred on a `width` x `height` canvas filled with its own median grey, so the border
    reads as background rather than as a cold edge."""
    top, left = (height - image.shape[0]) // 2, (width - image.shape[1]) // 2
    canvas = np.empty((height, width, *image.shape[2:]), image.dtype)
    canvas[...] = np.median(image.reshape(-1, *image.shape[2:]), axis=0).astype(image.dtype)
    canvas[top:top + image.shape[0], left:left + image.shape[1]] = image
    return canvas


def split_frames(dataset: SegDataset, name: str, folder: Path, most: int) -> int:
    """Write the first `most` images of a split to `folder` as numbered PNG frames, each padded to the
    largest width and height among them (rounded up to even, as H.264 needs), so a frame folder of one
    size plays them as a video; returns how many were written."""
    count = min(len(dataset), most)
    if count == 0:
        raise LwirstError(f"{name}: the split has no image to play")
    images = [dataset.load(index).image for index in range(count)]
    width = max(image.shape[1] for image in images)
    height = max(image.shape[0] for image in images)
    width, height = width + width % 2, height + height % 2
    folder.mkdir(parents=True, exist_ok=True)
    for index, image in enumerate(images):
        if not cv2.imwrite(str(folder / f"frame{index:05d}.png"), pad_to(image, width, height)):
            raise LwirstError(f"{folder}: cannot write frame {index}")
    return count
