"""Black-hot sensors (`lwirst.polarity`): frames said to be black-hot run as the white-hot frames they encode, in
the library, the commands and what results record."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from lwirst import polarity
from lwirst.errors import LwirstError
from lwirst.eval_protocol import AppliedProtocol, EvalProtocol, FramesRan, RunSpec
from lwirst.imageio import read_image, write_png
from lwirst.inference import Segmenter
from lwirst.paths import REPO_ROOT
from lwirst.pipeline import FramePipeline
from lwirst.run_settings import RunSettings
from tests.cli_process import run_lwirst

SAMPLES = sorted((REPO_ROOT / "data" / "samples" / "images").glob("*.png"))


@given(arrays(np.uint8, st.tuples(st.integers(1, 9), st.integers(1, 9), st.sampled_from([1, 3]))))
def test_inverting_twice_gives_the_frame_back_and_reverses_the_order_of_levels(frame: np.ndarray) -> None:
    once = polarity.inverted(frame)
    assert once.dtype == np.uint8
    assert np.array_equal(polarity.inverted(once), frame)
    assert np.array_equal(once.astype(int), 255 - frame.astype(int))
    assert np.array_equal(polarity.as_white_hot(frame, polarity.WHITE_HOT), frame)


def test_only_8_bit_frames_are_inverted_and_only_known_polarities_accepted() -> None:
    with pytest.raises(ValueError, match="8-bit"):
        polarity.inverted(np.zeros((4, 4), np.uint16))
    with pytest.raises(LwirstError, match="white-hot or black-hot"):
        Segmenter(backend="torch", polarity="grey-hot")


@pytest.fixture(scope="module")
def shipped_pair(one_torch_thread) -> tuple[FramePipeline, FramePipeline]:
    """The shipped model with its defaults, white-hot and black-hot."""
    return (FramePipeline(Segmenter(backend="torch")),
            FramePipeline(Segmenter(backend="torch", polarity=polarity.BLACK_HOT)))


def test_a_black_hot_frame_said_black_hot_runs_as_its_white_hot_frame(shipped_pair) -> None:
    white, black = shipped_pair
    found_white = found_inverted_as_is = 0
    for path in SAMPLES:
        frame = read_image(path)
        as_white = white.process(frame)
        as_black = black.process(polarity.inverted(frame))
        assert np.array_equal(as_black.saliency.logits, as_white.saliency.logits), path.name
        assert [(t.x, t.y, t.size) for t in as_black.kept] == [(t.x, t.y, t.size) for t in as_white.kept]
        found_white += len(as_white.kept)
        found_inverted_as_is += len(white.process(polarity.inverted(frame)).kept)
    # why the option exists: run as white-hot, the inverted samples lose their targets
    assert found_white >= 14
    assert found_inverted_as_is < found_white / 2


def test_a_colour_frame_is_inverted_after_its_palette_is_decoded(shipped_pair) -> None:
    from lwirst.palettes import palettes

    white, black = shipped_pair
    grey = read_image(SAMPLES[0])
    drawn = palettes()["ironbow"][polarity.inverted(grey)]  # a black-hot frame drawn with a palette
    as_black = black.process(drawn)
    assert as_black.saliency.palette == "ironbow"
    assert np.array_equal(as_black.saliency.logits, white.process(grey).saliency.logits)


def test_a_result_records_a_black_hot_run_and_reads_older_results_as_white_hot() -> None:
    run = RunSpec("m.safetensors", "h", "torch", settings=RunSettings(polarity=polarity.BLACK_HOT))
    stored = run.to_json()
    assert stored["polarity"] == "black-hot"
    assert RunSpec.from_json(stored) == run
    white = RunSpec("m.safetensors", "h", "torch")
    assert "polarity" not in white.to_json()  # a white-hot run is stored as before polarity existed
    assert RunSpec.from_json(white.to_json()).settings.polarity == polarity.WHITE_HOT
    assert RunSpec.from_json({**stored, "polarity": "sideways"}).settings.polarity == polarity.WHITE_HOT
    assert run.settings != white.settings
    frames = FramesRan({"resize": 3}, 3)
    protocol = EvalProtocol(run, 0.0, None, "", "d", "s", frames=frames)
    assert "; black-hot frames inverted" in protocol.text()
    assert "black-hot" not in EvalProtocol(white, 0.0, None, "", "d", "s", frames=frames).text()
    applied = protocol.applied
    assert isinstance(applied, AppliedProtocol) and applied.short.endswith(", black-hot, Eq. 2 masks")


def test_evaluations_of_the_two_polarities_are_cached_apart(synth_dir: Path) -> None:
    from lwirst.datasets import open_dataset
    from lwirst.evaluate import cache_keys

    data = open_dataset(synth_dir, "folder", "all")
    white = cache_keys(Segmenter(backend="torch"), data, 0.0)
    black = cache_keys(Segmenter(backend="torch", polarity=polarity.BLACK_HOT), data, 0.0)
    assert white and black and not set(white) & set(black)


def test_segment_and_demo_take_polarity_and_say_it(tmp_path: Path) -> None:
    frames = tmp_path / "frames"
    frames.mkdir()
    for path in SAMPLES[:2]:
        write_png(frames / path.name, polarity.inverted(read_image(path)))
    out = tmp_path / "out"
    done = run_lwirst("segment", frames, "--out", out, "--backend", "torch", "--polarity", "black-hot")
    assert done.returncode == 0, done.stderr
    assert "black-hot frames inverted" in done.stdout
    record = json.loads((out / f"{SAMPLES[0].stem}_targets.json").read_text())
    assert record["model"]["polarity"] == "black-hot"
    refused = run_lwirst("segment", frames, "--out", tmp_path / "x", "--polarity", "hot", timeout=120)
    assert refused.returncode == 2 and "invalid choice: 'hot'" in refused.stderr and "Traceback" not in refused.stderr
