"""A dataset split played as a live stream: its images in order, looping, as `lwirst.live` sources."""

from __future__ import annotations

import numpy as np

from lwirst.datasets import SegDataset
from lwirst.errors import LwirstError


class DatasetStream:
    """The images of a dataset split, one per frame, in order, starting over at the end.

    Frames keep their own size (SIRST's differ): each is segmented as it is, like a
    camera that switches scenes.
    """

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
