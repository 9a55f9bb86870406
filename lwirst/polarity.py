"""Sensor polarity: white-hot (hot is bright: what LW-IRSTNet learnt) or black-hot (hot is dark).

Why: most thermal cameras offer a black-hot mode, and some datasets are recorded in it (MDFA, which the paper
inverts for its fusion set). The network learnt white-hot frames only, so on black-hot frames it finds nothing:
40 synthetic scenes (`lwirst synth --black-hot`, seed 3), 0 of 84 targets, against 77 of them white-hot. A frame
said to be black-hot is inverted as it is read (255 - v on its 8-bit pixels, after a pseudo-colour palette is
decoded), so the network sees the white-hot frame it encodes; overlays are still drawn on the frame as given.
Nothing guesses the polarity: a scene's grey levels do not tell a dark sky seen white-hot from warm ground seen
black-hot, so the user says it (`--polarity`, the dashboard's sidebar).
"""

from __future__ import annotations

import numpy as np

from lwirst.errors import LwirstError

WHITE_HOT = "white-hot"
BLACK_HOT = "black-hot"
POLARITIES = (WHITE_HOT, BLACK_HOT)
DEFAULT = WHITE_HOT
HELP = ("white-hot (default): hot targets bright, what the network learnt; black-hot: hot targets dark, as a "
        "camera's black-hot mode shows them (frames are inverted before the network runs; the network finds "
        "nothing on black-hot frames run as white-hot)")
LABEL_HELP = ("white-hot (default): hot targets bright; black-hot: hot targets dark, as a camera's black-hot mode "
              "shows them (a label's target is then looked for as a dark spot)")


def check(polarity: str) -> str:
    """`polarity` if it is one of `POLARITIES`; anything else is a clear error."""
    if polarity not in POLARITIES:
        raise LwirstError(f"unknown polarity {polarity!r}; choose {' or '.join(POLARITIES)}")
    return polarity


def recorded(value: object) -> str:
    """The polarity a result (or a table cell) records: white-hot where none is (absent, null, NaN, or a result
    stored before polarity existed)."""
    return value if isinstance(value, str) and value in POLARITIES else DEFAULT


def inverted(pixels: np.ndarray) -> np.ndarray:
    """An 8-bit frame's grey levels inverted (255 - v), every channel: black-hot to white-hot and back."""
    if pixels.dtype != np.uint8:
        raise ValueError(f"inverting needs 8-bit pixels, got {pixels.dtype}")
    return np.subtract(255, pixels, dtype=np.uint8)


def as_white_hot(pixels: np.ndarray, polarity: str) -> np.ndarray:
    """8-bit pixels as the network learnt them: a black-hot frame inverted, a white-hot one as it is."""
    return inverted(pixels) if polarity == BLACK_HOT else pixels


def said(polarity: str, template: str = "{}") -> str:
    """`template` holding "black-hot frames inverted" for a black-hot run; "" for the default white-hot one, which
    every result stated before polarity existed ran as."""
    return template.format("black-hot frames inverted") if polarity == BLACK_HOT else ""


def legend(polarity: str) -> str:
    """A chart point's name tag for a black-hot run (", black-hot"); "" for white-hot."""
    return f", {BLACK_HOT}" if polarity == BLACK_HOT else ""
