"""Progress bars for the commands, on terminals only."""

from __future__ import annotations

from typing import Any

from tqdm import tqdm


def progress_bar(**kwargs: Any) -> tqdm:
    """A tqdm bar that stays silent when stderr is not a terminal: in a log file its redraws pile up on one
    line, and an error printed after an interrupted bar would continue that line."""
    return tqdm(disable=None, **kwargs)
