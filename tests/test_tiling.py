"""Inputs too large to run whole run as overlapping windows (`lwirst.tiling`): the windows tile the input,
each core keeps its margin of context, and the shipped model's map comes out as the whole run's."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from lwirst import tiling
from lwirst.consensus import DEFAULT_SCALE
from lwirst.inference import Segmenter
from lwirst.paths import DEFAULT_MODEL, REPO_ROOT


@given(n=st.integers(1, 6000).map(lambda k: k * tiling.STRIDE),
       side=st.integers(13, 400).map(lambda k: k * tiling.STRIDE),
       margin=st.integers(0, 48).map(lambda k: k * tiling.STRIDE))
def test_spans_tile_the_axis_with_their_margin(n: int, side: int, margin: int) -> None:
    if side <= 2 * margin:
        with pytest.raises(ValueError):
            tiling.spans(n, side, margin)
        return
    spans = tiling.spans(n, side, margin)
    covered = np.zeros(n, dtype=int)
    for span in spans:
        covered[span.keep] += 1
        assert span.size == spans[0].size <= min(n, side)  # one window size: the windows batch together
        assert span.start % tiling.STRIDE == 0 and span.start >= 0 and span.start + span.size <= n
        assert span.start <= span.keep.start < span.keep.stop <= span.start + span.size
        assert span.start == 0 or span.keep.start - span.start >= margin  # context before, where the axis goes on
        assert span.start + span.size == n or span.start + span.size - span.keep.stop >= margin  # and after
    assert (covered == 1).all()  # every pixel comes from exactly one core
    if n <= side:
        assert len(spans) == 1


def test_inputs_up_to_the_run_limit_run_whole() -> None:
    side = tiling.WINDOW_SIDE
    assert tiling.windows((side, side)) is None
    assert tiling.windows((2048 * 3 // 2, 2048 * 3 // 2)) is None  # a 2048x2048 frame's consensus run
    plan = tiling.windows((side + tiling.STRIDE, side))
    assert plan is not None and len(plan) == 2


def test_unaligned_axis_is_refused() -> None:
    with pytest.raises(ValueError, match="multiples"):
        tiling.spans(1001, 512, 128)


def _strip() -> np.ndarray:
    """The embedded sample frames side by side: 256 x 2048 pixels, their targets included."""
    frames = sorted((REPO_ROOT / "data" / "samples" / "images").glob("*.png"))[:8]
    return np.concatenate([cv2.resize(cv2.imread(str(p)), (256, 256)) for p in frames], axis=1)


def test_windowed_run_gives_the_whole_runs_map(monkeypatch: pytest.MonkeyPatch) -> None:
    """The shipped model as every command runs it (auto protocol: a pyramid here, consensus 1.5x) over a
    strip whose runs exceed a lowered run limit: windows 1280 wide with the real margin give the whole
    run's map, no call wider than a window."""
    frame = _strip()
    segmenter = Segmenter(DEFAULT_MODEL, confirm=DEFAULT_SCALE)
    whole = segmenter.predict(frame)
    monkeypatch.setattr(tiling, "WINDOW_SIDE", 1280)
    monkeypatch.setattr(tiling, "RUN_PIXELS", 1280 * 256)
    calls: list[tuple[int, ...]] = []
    call = segmenter._call  # every network call goes through it, to the real backend
    monkeypatch.setattr(segmenter, "_call", lambda kind, batch: calls.append(batch.shape) or call(kind, batch))
    windowed = segmenter.predict(frame)
    assert calls and all(max(h, w) <= 1280 for *_, h, w in calls)  # no run wider than a window
    assert all(n == 1 or n * h * w <= tiling.RUN_PIXELS for n, _, h, w in calls)  # batched within the limit
    assert any(w == 1280 for *_, w in calls)  # the native run and its consensus ran as windows
    assert whole.protocol == windowed.protocol == "pyramid"
    assert np.abs(windowed.logits - whole.logits).max() < 0.05
    assert ((windowed.logits > 0) == (whole.logits > 0)).all()
    assert (whole.logits > 0).sum() > 20  # the strip's targets were found, so the masks compared hold something
