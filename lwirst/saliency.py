"""The network's output as every consumer sees it, free of any inference runtime.

Kept apart from `lwirst.inference` so post-processing, drawing and the dashboard's
light modules can type and read saliency maps without importing torch or ONNX.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

# How a frame may be fed to the network (`lwirst.inference.runs`); a Saliency records the one applied, which is
# never "auto". Here, not in `lwirst.inference`, so that command-line parsers offer them without loading torch.
PROTOCOLS = ("auto", "resize", "native", "pyramid")
# "auto" resizes frames of at most this many times the model size's area, runs larger ones as a pyramid.
AUTO_AREA_FACTOR = 2
# ...and runs frames of at most this share of it natively: resized, such a frame is enlarged 2x or more and its
# targets grow beyond the sizes the network learnt (scripts/small_frame_probe.py, SIRST val crops of 48-128 px:
# 24-95 of about 100 targets found resized, 97-102 natively; no SIRST val or test frame and no suite frame is this
# small, one train frame is)
SMALL_AREA_FACTOR = 0.25


@dataclass
class Saliency:
    """Logits at the input image's resolution (threshold 0 is probability 0.5)."""

    logits: np.ndarray
    protocol: str
    backend: str
    palette: str = ""  # the pseudo-colour palette the frame was decoded from (`lwirst.palettes`), if any
    confirm: float | None = None  # enlargement of the scale-consensus run (`lwirst.consensus`), if one ran
    mirrored: bool = False  # whether a mirrored run confirmed it too (`lwirst.consensus`, large frames)
    as_colour: bool = False  # a colour frame no known palette decoded: the network ran on its colours
    clearance: float = 0.0  # logits a blob's peak had to clear the threshold by (`lwirst.prominence`, large frames)
    ignored: np.ndarray | None = None  # the pixels of the run's ignore zones (`lwirst.zones`), held below threshold
    # (x, y) of the defect spots the 8-bit stretch gave their neighbours' median (`lwirst.imageio.Stretch`): a
    # saturated one- or two-pixel target reads the same, so views say where
    repaired: tuple[tuple[int, int], ...] = ()

    @property
    def probability(self) -> np.ndarray:
        return 1.0 / (1.0 + np.exp(-np.clip(self.logits, -60, 60)))

    @property
    def shape(self) -> tuple[int, int]:
        return self.logits.shape
