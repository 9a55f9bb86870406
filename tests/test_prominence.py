"""Prominence by frame area (`lwirst.prominence`): the map rule, the margin, the Segmenter and the command line."""

from __future__ import annotations

import math
import subprocess

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from lwirst.analysis import card_points, distinct_names, measured_point, merge_points
from lwirst.consensus import WHOLE_ABOVE, cut_masks
from lwirst.errors import LwirstError
from lwirst.evaluate import cache_key
from lwirst.inference import AUTO_AREA_FACTOR, Segmenter
from lwirst.prominence import DEFAULT_PER_DOUBLING, check, margin, prominent
from lwirst.run_settings import RunSettings
from tests.cli_process import run_lwirst
from tests.conftest import applied_of
from tests.test_consensus import _blobs

MAPS = arrays(np.float32, st.tuples(st.integers(1, 12), st.integers(1, 12)),
              elements=st.floats(-8, 8, width=32, allow_nan=False))


@settings(max_examples=120, deadline=None)
@given(MAPS, st.floats(0.125, 6, width=32), st.floats(-8, 4, width=32))
def test_a_blob_stays_whole_exactly_when_its_peak_clears_the_threshold_by_the_margin(logits, clearance, t):
    """At any threshold t above the floor, the pixels above t are the 8-connected blobs of logits > t whose
    peak exceeds t + clearance, every pixel of each: checked blob by blob with a flood fill. At or below the
    floor a pixel is simply lowered by the clearance (what `cut_masks` warns of)."""
    got = prominent(logits, clearance)
    assert got.shape == logits.shape and (got <= logits).all()
    low = logits <= WHOLE_ABOVE
    np.testing.assert_array_equal(got[low], logits[low] - np.float32(clearance))
    if t <= WHOLE_ABOVE:
        return
    expected = np.zeros(logits.shape, bool)
    for blob in _blobs(logits > t):
        if max(logits[p] for p in blob) - np.float32(clearance) > np.float32(t):  # float32, as the maps are
            for p in blob:
                expected[p] = True
    np.testing.assert_array_equal(got > t, expected)


def test_no_margin_gives_the_map_back():
    logits = np.random.default_rng(0).normal(0, 3, (20, 30)).astype(np.float32)
    assert prominent(logits, 0.0) is logits


@pytest.mark.parametrize(("hw", "k", "expected"), [
    ((256, 256), 1.0, 0.0),  # SIRST-sized: untouched
    ((362, 362), 1.0, 0.0),  # at twice the model's area: still untouched
    ((512, 512), 1.0, 1.0),  # four times: one doubling beyond
    ((1024, 1280), 1.0, math.log2(10)),
    ((1024, 1280), 0.5, math.log2(10) / 2),
    ((1024, 1280), 0.0, 0.0),
])
def test_the_margin_grows_by_k_per_doubling_of_the_area_beyond_twice_the_models(hw, k, expected):
    assert margin(hw, (256, 256), k, AUTO_AREA_FACTOR) == pytest.approx(expected, abs=1e-3)


@pytest.mark.parametrize("bad", [-0.5, 8.5, float("nan"), float("inf")])
def test_a_margin_out_of_range_is_a_clear_error(bad):
    with pytest.raises(LwirstError, match="peak margin"):
        check(bad)
    with pytest.raises(LwirstError, match="peak margin"):
        Segmenter(threads=1, backend="torch", margin=bad)


def _frame(hw: tuple[int, int], seed: int = 3) -> np.ndarray:
    """A cluttered grey frame with a few bright points: a trained network marks blobs of several strengths."""
    rng = np.random.default_rng(seed)
    frame = rng.normal(90, 12, hw).clip(0, 255)
    for y, x in rng.integers(8, min(hw) - 8, (12, 2)):
        frame[y - 1:y + 2, x - 1:x + 2] += rng.uniform(20, 120)
    return frame.clip(0, 255).astype(np.uint8)


def test_the_segmenter_holds_large_frames_to_the_margin_and_leaves_small_ones():
    """A pyramid frame's map is the plain map put through `prominent` at its area's margin; a SIRST-sized frame
    and a large frame resized to the model's size keep their maps; the Saliency records the margin."""
    large, small = _frame((640, 800)), _frame((240, 320))
    plain = Segmenter(threads=1, backend="torch", margin=0)
    held = Segmenter(threads=1, backend="torch", margin=1.0)
    expected_clearance = math.log2(640 * 800 / (2 * 256 * 256))
    base, got = plain.predict(large), held.predict(large)
    assert got.protocol == "pyramid" and got.clearance == pytest.approx(expected_clearance)
    np.testing.assert_allclose(got.logits, prominent(base.logits, got.clearance), atol=1e-5)
    t = float(base.logits.max()) - got.clearance / 2  # the strongest blob clears t, but not by the margin
    assert t > WHOLE_ABOVE and (base.logits > t).any() and not (got.logits > t).any()
    assert held.predict(small).clearance == 0.0
    np.testing.assert_array_equal(held.predict(small).logits, plain.predict(small).logits)
    resized = Segmenter(threads=1, backend="torch", protocol="resize", margin=1.0).predict(large)
    assert resized.clearance == 0.0
    assert held.describe().settings.margin == 1.0 and "margin" not in plain.describe().to_json()
    assert Segmenter(threads=1, backend="torch").margin == DEFAULT_PER_DOUBLING


def test_frames_resized_to_the_model_hold_no_margin_and_results_do_not_claim_one():
    """With the resize protocol (asked for, or forced by a fixed-size graph) no frame runs large, so the
    segmenter holds no margin and its description, cache key and labels say none."""
    resized = Segmenter(threads=1, backend="torch", protocol="resize", margin=1.0)
    assert resized.margin == 0.0 and "margin" not in resized.describe().to_json()


def test_masks_thresholded_below_the_floor_say_the_margin_cuts_them():
    low, high = WHOLE_ABOVE - 1, WHOLE_ABOVE + 1
    assert cut_masks(high, None, margin=1.0) == "" and cut_masks(low, None) == ""
    note = cut_masks(low, None, margin=1.0)
    assert "lose its rim" in note and "peak margin" in note and "consensus" not in note
    assert "consensus" in cut_masks(low, 1.5, margin=1.0) and "peak margin" in cut_masks(low, 1.5, margin=1.0)


def test_a_margin_run_is_its_own_point_and_says_so_in_legends():
    """Two runs that differ only in a margin that held frames are two points on Compare (named and keyed
    apart); a margin that held no frame (SIRST-sized frames only) changed nothing, so its run is the plain
    one's point; the card's points carry the margin they were scored with, each alike."""
    base = {"protocol": "auto", "size": [256, 256], "applied": {"pyramid": 2, "resize": 3}, "confirm": 1.5}
    plain, held = applied_of(base), applied_of({**base, "margin": 1.0, "margin_frames": 2})
    assert held.settings.margin == 1.0 and plain.settings.margin == 0.0
    assert ", margin 1" in held.short and "margin" not in plain.short
    assert applied_of({**base, "margin": 1.0, "margin_frames": 0}) == plain
    points = [measured_point("m", {"miou": 0.5}, "sirst", "test", 1, 1e8, "auto", applied=a) for a in (plain, held)]
    assert points[0]["name"] != points[1]["name"] and points[0]["protocol"] != points[1]["protocol"]
    assert len(merge_points(pd.DataFrame(points))) == 2
    scores = {"auto": {"miou": 0.5}, "resize": {"miou": 0.5}}
    card = card_points({"m": (scores, "sirst", "test", 1, 1e8)}, settings={"m": RunSettings(confirm=1.5, margin=1.0)})
    assert list(card["name"]) == ["m, consensus 1.5×, margin 1"] * 2


def test_a_result_scored_again_from_its_maps_keeps_its_margin_note(tmp_path):
    """Rescoring at another threshold (the dashboard's sibling runs) reads the stored maps, which hold the
    margin: its protocol still says so, with the frames it held."""
    import cv2

    from lwirst.datasets import open_dataset
    from lwirst.evaluate import evaluate, rescore_result

    for name, hw in (("large", (640, 800)), ("small", (240, 320))):
        for folder in ("images", "masks"):
            (tmp_path / folder).mkdir(exist_ok=True)
        cv2.imwrite(str(tmp_path / "images" / f"{name}.png"), _frame(hw))
        cv2.imwrite(str(tmp_path / "masks" / f"{name}.png"), np.zeros(hw, np.uint8))
    data = open_dataset(tmp_path, "folder", "all")
    result = evaluate(Segmenter(threads=1, backend="torch", margin=1.0), data, use_cache=False)
    assert "peak clears the threshold by 1 logit per doubling of the area" in result.protocol.masks
    assert "(1 frame)" in result.protocol.masks and result.protocol.frames.margin_frames == 1
    again = rescore_result(result, data, 1.0)
    assert again.protocol.masks == result.protocol.masks


def test_a_margin_run_is_cached_apart_from_a_plain_one():
    from lwirst.datasets import open_dataset
    from lwirst.paths import SAMPLES_DIR

    data = open_dataset(SAMPLES_DIR, "folder", "test")
    keys = {cache_key(Segmenter(threads=1, margin=k), data, 0.0) for k in (0, 1, 2)}
    assert len(keys) == 3


def _lwirst(*args: str) -> subprocess.CompletedProcess:
    return run_lwirst(*args)


def test_the_command_line_takes_off_or_a_margin_and_says_what_ran(tmp_path):
    image = tmp_path / "large.png"
    import cv2

    cv2.imwrite(str(image), _frame((640, 800)))
    bad = _lwirst("segment", str(image), "--margin", "9", "--out", str(tmp_path / "a"))
    assert bad.returncode == 2 and "--margin" in bad.stderr and "Traceback" not in bad.stderr
    off = _lwirst("segment", str(image), "--margin", "off", "--out", str(tmp_path / "b"), "--threads", "1")
    assert off.returncode == 0, off.stderr
    assert "peak clears" not in off.stdout
    on = _lwirst("segment", str(image), "--out", str(tmp_path / "c"), "--threads", "1")
    assert on.returncode == 0, on.stderr
    assert "peak clears the threshold by 1 logit per doubling" in on.stdout
    import json

    records = {folder: json.loads(next((tmp_path / folder).rglob("*.json")).read_text()) for folder in "bc"}
    assert records["b"]["ran"]["clearance"] == 0.0  # the frame's own margin, in its record
    assert records["c"]["ran"]["clearance"] == pytest.approx(math.log2(640 * 800 / (2 * 256 * 256)))


def test_every_view_says_a_frames_margin_in_the_same_words() -> None:
    """Single frame (with the rule) and Live (without) once phrased one margin two ways."""
    from lwirst.prominence import cleared

    assert cleared(0.0, 1.0) == ""
    held = "; the map, heatmap and peaks shown are held that much lower"  # a listed peak read as breaking the rule
    assert cleared(1.3219, 1.0) == ("a target counted only where its peak cleared the threshold by 1.32 logits "
                                    "(peak margin: 1 per doubling of the area beyond twice the model's)" + held)
    assert cleared(1.3219) == ("a target counted only where its peak cleared the threshold by 1.32 logits (peak margin)"
                               + held)


def test_a_resize_run_measured_here_replaces_its_cards_point_though_the_card_names_its_margin():
    """The card names every point of its model with its margin (one model, one label), but a resize run holds
    none and records none: Compare listed the card's resize point and the same run measured here as two rows of
    one model with identical scores."""
    settings = RunSettings(confirm=1.5, margin=1.0)
    scores = {"auto": {"miou": 0.5}, "resize": {"miou": 0.6}}
    card = card_points({"m": (scores, "sirst", "test", 1, 1e8)}, settings={"m": settings})
    ran = applied_of({"protocol": "resize", "size": [256, 256], "applied": {"resize": 5}, "confirm": 1.5})
    here = measured_point("m", {"miou": 0.6}, "sirst", "test", 1, 1e8, "resize", applied=ran)
    merged = merge_points(pd.concat([card, pd.DataFrame([here])], ignore_index=True))
    assert sorted(zip(merged["group"], merged["miou"], strict=True)) == [("measured here", 0.6), ("model card", 0.5)]
    # under its model's one name, so a table tells its rows apart by protocol ("· resize"), as the card's were
    assert set(merged["name"]) == {"m, consensus 1.5×, margin 1"}
    assert sorted(distinct_names(merged)) == [f"m, consensus 1.5×, margin 1 · {p}" for p in ("auto", "resize")]
    other = measured_point("m", {"miou": 0.6}, "sirst", "val", 1, 1e8, "resize", applied=ran)  # other data: kept
    assert len(merge_points(pd.concat([card, pd.DataFrame([other])], ignore_index=True))) == 3
