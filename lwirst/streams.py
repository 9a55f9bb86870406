"""A dataset split played as a stream: live (its images in order, looping, as a `lwirst.live` source)
or as a video (its first images as the frames of one video, for `lwirst.video.process_frames`).

Either way each image is segmented at its own size, as Single frame and Evaluate segment it: padding
an image onto a larger canvas changes what the network outputs (a 640x512 frame on a 1280x1024 canvas
showed a target that the image alone does not).
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np

from lwirst.datasets import SegDataset
from lwirst.errors import LwirstError
from lwirst.imageio import read_header_size


class DatasetStream:
    """The images of a dataset split, one per frame, in order, starting over at the end.

    Frames keep their own size (SIRST's differ): each is segmented as it is, like a
    camera that switches scenes; `independent_frames` tells a stream to restart tracking on
    every frame, so no track links targets of two unrelated images. `frame_label` names the
    image last read, since a looping stream's frame number says nothing about which it is, and
    `frame_mask` holds its ground truth, so the stream draws outcomes, misses included.
    """

    independent_frames = True

    def __init__(self, dataset: SegDataset, name: str) -> None:
        if len(dataset) == 0:
            raise LwirstError(f"{name}: the split has no image to stream")
        self.dataset, self.name = dataset, name
        self.position = 0
        self.frame_label: str | None = None
        self.frame_mask: np.ndarray | None = None  # the ground truth of the image read last

    def read(self) -> np.ndarray:
        index = self.position % len(self.dataset)
        sample = self.dataset.load(index)
        self.position += 1
        self.frame_label = f"{sample.name} (image {index + 1} of {len(self.dataset)})"
        self.frame_mask = sample.mask
        return sample.image

    def close(self) -> None:
        """Nothing to release: images are read one at a time."""


class SplitFrames:
    """The first `most` images of a split as the frames of one video (`lwirst.video.Frames`), read one at
    a time, each at its own size.

    `size` is the largest width and height among them (from their headers), rounded up to even as H.264
    needs: the video's frame size, onto which `process_frames` pads each annotated image.
    """

    def __init__(self, dataset: SegDataset, name: str, most: int, fps: float) -> None:
        self.total = min(len(dataset), most)
        if self.total == 0:
            raise LwirstError(f"{name}: the split has no image to play")
        self.dataset, self.name, self.fps = dataset, name, fps
        sizes = [read_header_size(item.image) for item in dataset.items[:self.total]]
        width, height = max(w for w, _ in sizes), max(h for _, h in sizes)
        self.size = (width + width % 2, height + height % 2)

    def __iter__(self) -> Iterator[np.ndarray]:
        for index in range(self.total):
            yield self.dataset.load(index).image

    def time_of(self, index: int) -> float:
        """Image `index`'s time in the video the split plays as: one every 1 / fps seconds."""
        return index / self.fps

    @property
    def variable_rate(self) -> bool:
        """A split plays at an even rate."""
        return False

    def truncated(self) -> bool:
        """A split is read to its end or stops on an error: never short without one."""
        return False

    def close(self) -> None:
        """Nothing to release: images are read one at a time."""
