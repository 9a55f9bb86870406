"""Scale consensus (`lwirst.consensus`): the map rule, the Segmenter's second run, and how results say so."""

from __future__ import annotations

import subprocess

import cv2
import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from lwirst.consensus import RADIUS, WHOLE_ABOVE, agreed, check_scale, cut_masks, recorded, whole_blobs
from lwirst.errors import LwirstError
from lwirst.eval_protocol import AppliedProtocol, EvalProtocol
from lwirst.evaluate import EvalResult, cache_key, frame_flops
from lwirst.inference import Segmenter
from lwirst.postprocess import detect
from lwirst.run_settings import RunSettings
from tests.cli_process import run_lwirst
from tests.conftest import applied_of

MAPS = arrays(np.float32, st.tuples(st.integers(1, 12), st.integers(1, 12)),
              elements=st.floats(-8, 8, width=32, allow_nan=False))

CONSENSUS = RunSettings(confirm=1.5)


def _near(second: np.ndarray, y: int, x: int, t: float) -> bool:
    """Whether `second` exceeds t within RADIUS pixels (Chebyshev) of (y, x), by looking."""
    h, w = second.shape
    window = second[max(0, y - RADIUS):min(h, y + RADIUS + 1), max(0, x - RADIUS):min(w, x + RADIUS + 1)]
    return bool((window > t).any())


def _blobs(above: np.ndarray) -> list[set[tuple[int, int]]]:
    """The 8-connected blobs of a boolean array, by a flood fill over the pixels."""
    left, blobs = {tuple(int(v) for v in p) for p in np.argwhere(above)}, []
    while left:
        todo, blob = [left.pop()], set()
        while todo:
            y, x = todo.pop()
            blob.add((y, x))
            around = {(y + dy, x + dx) for dy in (-1, 0, 1) for dx in (-1, 0, 1)} & left
            left -= around
            todo.extend(around)
        blobs.append(blob)
    return blobs


def _confirm(primary: np.ndarray, second: np.ndarray) -> np.ndarray:
    """A one-level frame's map under consensus, as the Segmenter builds it."""
    return whole_blobs(agreed(primary, second), primary)


@settings(max_examples=80, deadline=None)
@given(MAPS, st.data(), st.floats(-4, 4, width=32))
def test_a_blob_is_kept_whole_where_both_runs_agree_within_the_radius(primary, data, t):
    """At a threshold t, a blob of the primary map is on, every pixel of it, when at one of its pixels the
    second map is above t within the radius; otherwise it is off. The agreed pixels are just those pixels."""
    second = data.draw(arrays(np.float32, primary.shape, elements=st.floats(-8, 8, width=32, allow_nan=False)))
    fused = _confirm(primary, second)
    assert fused.shape == primary.shape and (fused <= primary).all()
    expected = np.zeros(primary.shape, bool)
    for blob in _blobs(primary > t):
        if any(_near(second, y, x, t) for y, x in blob):
            expected[tuple(np.array(sorted(blob)).T)] = True
    np.testing.assert_array_equal(fused > t, expected)
    pixels = agreed(primary, second) > t
    for y, x in np.ndindex(primary.shape):
        assert pixels[y, x] == (primary[y, x] > t and _near(second, y, x, t)), (y, x)


@settings(max_examples=80, deadline=None)
@given(MAPS, st.data(), st.floats(-4, 4, width=32))
def test_keeping_blobs_whole_never_adds_a_blob(primary, data, t):
    """Whatever pixels were kept (agreed at one level, or the union of a pyramid's levels), keeping their blobs
    whole adds none: a frame alarms exactly when its kept pixels do, with at most as many blobs."""
    cut = data.draw(arrays(np.float32, primary.shape, elements=st.floats(0, 12, width=32)))
    kept = primary - cut
    whole = whole_blobs(kept, primary)
    assert (whole >= kept).all() and (whole <= primary).all()
    assert (whole > t).any() == (kept > t).any()
    assert len(_blobs(whole > t)) <= len(_blobs(kept > t))


def _blob_rule(kept: np.ndarray, primary: np.ndarray, t: float) -> np.ndarray:
    """The pixels above t that keeping blobs whole must give, by looking: blobs of primary > t holding kept > t."""
    expected = np.zeros(primary.shape, bool)
    for blob in _blobs(primary > t):
        if any(kept[y, x] > t for y, x in blob):
            expected[tuple(np.array(sorted(blob)).T)] = True
    return expected


def _serpentine(rows: int, cols: int) -> np.ndarray:
    """A one-pixel path winding over every other row, joined at alternate ends: one blob, far from end to end."""
    path = np.zeros((rows, cols), bool)
    path[::2] = True
    for r in range(1, rows, 2):
        path[r, cols - 1 if r % 4 == 1 else 0] = True
    return path


@pytest.mark.parametrize("shape", [(31, 30), (121, 120)])
def test_a_winding_blob_and_a_map_of_many_blobs_are_kept_whole_too(shape):
    """A blob longer than the dilation steps allow is rebuilt by the sorted algorithm, on its box (few cut pixels)
    or over the frame (many); the level sets are the blob rule's either way, with many other blobs about."""
    rng = np.random.default_rng(0)
    primary = np.where(_serpentine(*shape), 5.0, -9.0).astype(np.float32)
    specks = rng.random(shape) < 0.3
    primary[-1] = np.where(specks[-1], rng.uniform(0.5, 4, shape[1]), -9.0)  # a last row of small blobs
    kept = np.where(primary > 0, -2.0, primary).astype(np.float32)
    kept[0, 0] = 5.0  # the winding blob is confirmed at one end only
    kept[-1, ::3] = primary[-1, ::3]  # and some of the small ones
    assert (np.count_nonzero(kept < primary) > 1024) == (shape[0] > 100)  # both ways of rebuilding run
    whole = whole_blobs(kept, primary)
    for t in (-1.0, 0.0, 1.0, 4.5):
        np.testing.assert_array_equal(whole > t, _blob_rule(kept, primary, t))
    assert (whole[:-1][primary[:-1] > 0] == 5.0).all()


def test_a_large_target_keeps_its_rim_and_an_unconfirmed_blob_goes():
    """Round 43's pixel rule cut a target's rim where the enlarged run saw only its centre; the blob rule
    keeps the primary run's whole blob, and still drops a blob the second run does not see at all."""
    primary = np.full((20, 30), -9.0, np.float32)
    primary[4:13, 4:13] = 3.0  # a 9x9 target
    primary[6:9, 22:25] = 5.0  # clutter
    second = np.full_like(primary, -9.0)
    second[8, 8] = 2.0  # the enlarged run sees the target's centre only
    pixel_rule = agreed(primary, second)
    assert np.count_nonzero(pixel_rule > 0) == 25
    fused = _confirm(primary, second)
    assert np.count_nonzero(fused[:, :15] > 0) == 81 and not (fused[:, 15:] > 0).any()
    assert (fused[primary < WHOLE_ABOVE] == pixel_rule[primary < WHOLE_ABOVE]).all()


def test_results_thresholded_where_blobs_are_not_kept_whole_say_so():
    """Below probability 0.01 consensus is round 43's pixel rule (a flood over the frame would cost too much):
    a faint rim at that level is cut, and every protocol line at such a threshold says it; above it nothing is."""
    primary = np.full((20, 20), -9.0, np.float32)
    primary[3:14, 3:14] = WHOLE_ABOVE - 0.5  # a faint rim, above the low threshold only
    primary[4:13, 4:13] = 3.0
    second = np.full_like(primary, -9.0)
    second[8, 8] = 2.0
    fused = _confirm(primary, second)
    high, low = WHOLE_ABOVE + 0.5, WHOLE_ABOVE - 1.0
    np.testing.assert_array_equal(fused > high, primary > high)
    assert np.count_nonzero(fused > low) < np.count_nonzero(primary > low)
    assert cut_masks(high, 1.5) == "" and cut_masks(0.0, None, mirror=True) == ""
    assert cut_masks(low, None) == ""  # a plain run's masks are never cut
    assert "lose its rim" in cut_masks(low, 1.5) and cut_masks(low, None, mirror=True) == cut_masks(low, 1.5)
    np.testing.assert_array_equal(fused > WHOLE_ABOVE, primary > WHOLE_ABOVE)  # whole at the level itself
    assert cut_masks(WHOLE_ABOVE, 1.5) == ""


def test_maps_of_different_shapes_are_refused():
    with pytest.raises(ValueError, match="one shape"):
        agreed(np.zeros((4, 4), np.float32), np.zeros((4, 5), np.float32))


@pytest.mark.parametrize("scale", [1.0, 1.1, 5, float("nan"), float("inf")])
def test_scales_outside_the_range_are_refused(scale):
    with pytest.raises(LwirstError, match="confirm scale"):
        check_scale(scale)
    with pytest.raises(LwirstError, match="confirm scale"):
        Segmenter(threads=1, confirm=scale)


def _frame(hw: tuple[int, int], points: list[tuple[int, int]], seed: int = 0) -> np.ndarray:
    """A smooth grey frame with bright 3x3 targets at `points` and one long bright edge (clutter)."""
    rng = np.random.default_rng(seed)
    frame = cv2.GaussianBlur(rng.normal(90, 25, hw).astype(np.float32), (0, 0), 6)
    frame[:, hw[1] // 2:] += 60
    for y, x in points:
        frame[y - 1:y + 2, x - 1:x + 2] = 255
    return np.clip(frame, 0, 255).astype(np.uint8)


def _enlarged_run(native: Segmenter, fed: np.ndarray, hw: tuple[int, int]) -> np.ndarray:
    """An independent consensus run: `fed` enlarged 1.5x by OpenCV, run natively, its map resized to `hw`."""
    big = cv2.resize(fed, (round(fed.shape[1] * 1.5), round(fed.shape[0] * 1.5)), interpolation=cv2.INTER_LINEAR)
    return cv2.resize(native.predict(big).logits, (hw[1], hw[0]), interpolation=cv2.INTER_LINEAR)


@pytest.mark.parametrize("hw", [(256, 256), (240, 320), (600, 800)])
def test_the_segmenter_confirms_with_a_run_of_the_frame_enlarged(hw):
    """The map keeps, whole, the blobs of the plain map that hold a pixel agreed with an independent native
    run of the frame as the protocol fed it (resized for SIRST-sized frames), enlarged 1.5x by OpenCV and
    its map resized back. A large frame runs as a pyramid: both its plain and its agreed maps are united
    with those of the frame halved (run as a frame of that size is), resized up, before blobs are kept."""
    image = _frame(hw, [(hw[0] // 3, hw[1] // 4), (2 * hw[0] // 3, 3 * hw[1] // 4)])
    yy, xx = np.mgrid[:hw[0], :hw[1]]
    disc = np.exp(-(np.hypot(yy - hw[0] // 2, xx - hw[1] // 3) / 5) ** 4)  # a target larger than SIRST's
    image = np.clip(image + 160 * disc, 0, 255).astype(np.uint8)
    plain = Segmenter(threads=1, backend="torch", margin=0)  # consensus alone: no peak margin on the large frame
    confirmed = Segmenter(threads=1, backend="torch", confirm=1.5, margin=0)
    native = Segmenter(threads=1, backend="torch", protocol="native", margin=0)
    pyramid = plain.frame_protocol(hw) == "pyramid"
    assert pyramid == (hw == (600, 800))
    first = (native if pyramid else plain).predict(image).logits
    kept = agreed(first, _enlarged_run(native, image if pyramid else cv2.resize(image, (256, 256)), hw))
    if pyramid:
        half = cv2.resize(image, (hw[1] // 2, hw[0] // 2), interpolation=cv2.INTER_AREA)
        assert confirmed.frame_protocol(half.shape[:2]) == "resize"
        half_first = plain.predict(half).logits
        half_kept = agreed(half_first, _enlarged_run(native, cv2.resize(half, (256, 256)), half.shape[:2]))
        up = [cv2.resize(m, (hw[1], hw[0]), interpolation=cv2.INTER_LINEAR) for m in (half_first, half_kept)]
        assert (up[1] > kept + 1).any()  # the half-size level adds something here, so the check can fail
        first, kept = np.maximum(first, up[0]), np.maximum(kept, up[1])
    expected = whole_blobs(kept, first)
    assert (expected > kept + 1).any()  # the disc's rim comes back, so the check can fail
    got = confirmed.predict(image)
    assert got.protocol == ("pyramid" if pyramid else "resize")
    np.testing.assert_allclose(got.logits, expected, atol=1e-4)
    assert got.confirm == 1.5 and plain.predict(image).confirm is None
    batch = confirmed.predict_batch([image, image[: hw[0] // 2 * 2, : hw[1] // 2 * 2]], batch_size=2)
    np.testing.assert_allclose(batch[0].logits, got.logits, atol=1e-4)
    assert confirmed.describe().settings.confirm == 1.5 and "confirm" not in plain.describe().to_json()


@pytest.mark.parametrize("hw", [(1, 1), (1, 5), (3, 2)])
def test_a_pyramid_takes_frames_too_small_to_halve(hw):
    """Forced on a frame of a pixel or two, the half level is at least a pixel: a map of the frame's size."""
    got = Segmenter(threads=1, backend="torch", protocol="pyramid", confirm=1.5).predict(np.full(hw, 90, np.uint8))
    assert got.logits.shape == hw and got.protocol == "pyramid" and np.isfinite(got.logits).all()


def test_consensus_keeps_the_sample_targets_the_plain_run_finds():
    """On the embedded samples every target found by both runs keeps its mask: consensus only removes."""
    from lwirst.datasets import open_dataset
    from lwirst.paths import SAMPLES_DIR

    data = open_dataset(SAMPLES_DIR, "folder", "all")
    plain, confirmed = Segmenter(threads=1), Segmenter(threads=1, confirm=1.5)
    for index in range(len(data)):
        image = data.load(index).image
        a, b = detect(plain.predict(image).logits), detect(confirmed.predict(image).logits)
        assert len(b) <= len(a)
        assert (b.mask <= a.mask).all()


def test_results_state_the_consensus_and_count_its_flops():
    applied = applied_of({"protocol": "auto", "size": [256, 256], "applied": {"resize": 2}, "confirm": 1.5})
    assert applied is not None and applied.settings.confirm == 1.5
    assert str(applied).startswith("auto: all 2 images resized to 256×256; scale consensus at 1.5x")
    assert applied.short == "auto: all resized, confirmed at 1.5x"
    assert applied_of({"protocol": "auto", "size": [256, 256], "applied": {"resize": 2}}).settings.confirm is None
    # frames that already had the model size were not resized, and a result says so
    as_is = {"protocol": "auto", "size": [256, 256], "applied": {"resize": 3}, "at_model_size": 3}
    assert str(applied_of(as_is)) == "auto: all 3 images at the model size 256×256, as they are"
    assert applied_of(as_is).short == "auto: all at the model size"
    some = {**as_is, "applied": {"resize": 3, "pyramid": 1}, "at_model_size": 1}
    assert str(applied_of(some)) == ("auto: 1 of 4 images as a pyramid, 3 resized to 256×256 "
                                             "(1 already that size)")
    assert str(applied_of({**some, "protocol": "resize", "applied": {"resize": 3}})) == (
        "resize to 256×256 (3 images, 1 already that size)")

    table = pd.DataFrame({"height": [240, 1024], "width": [320, 1280], "protocol": ["resize", "native"]})
    protocol = {"protocol": "auto", "size": [256, 256], "applied": {"resize": 1, "native": 1}}
    flops = 1000.0
    plain = frame_flops(EvalResult({}, table, {}, EvalProtocol.from_json(protocol)), flops)
    both = frame_flops(EvalResult({}, table, {}, EvalProtocol.from_json({**protocol, "confirm": 1.5})), flops)
    assert plain is not None and both is not None
    unit = flops / (256 * 256)
    assert plain.mean == pytest.approx((256 * 256 + 1024 * 1280) * unit / 2)
    # the second runs: 384x384 for the resized frame, 1536x1920 for the native one
    assert both.mean == pytest.approx((256 * 256 + 1024 * 1280 + 384 * 384 + 1536 * 1920) * unit / 2)
    assert both.by_input[(384, 384)] == (1, pytest.approx(384 * 384 * unit))
    # a result stored before round 45 says its large frame ran natively; "auto" runs one as a pyramid now
    assert applied_of({**protocol, "confirm": 1.5}).short == "auto: 1 native, 1 resized, confirmed at 1.5x"

    table = pd.DataFrame({"height": [240, 1024], "width": [320, 1280], "protocol": ["resize", "pyramid"]})
    protocol = {"protocol": "auto", "size": [256, 256], "applied": {"resize": 1, "pyramid": 1}}
    applied = applied_of(protocol)
    assert str(applied) == "auto: 1 of 2 images as a pyramid, 1 resized to 256×256"
    assert str(applied_of({**protocol, "applied": {"pyramid": 3}})) == "auto: all 3 images as a pyramid"
    assert str(applied_of({**protocol, "applied": {"pyramid": 1}})) == "auto: the image as a pyramid"  # not "all 1"
    assert applied.short == "auto: 1 as a pyramid, 1 resized"
    plain = frame_flops(EvalResult({}, table, {}, EvalProtocol.from_json(protocol)), flops)
    both = frame_flops(EvalResult({}, table, {}, EvalProtocol.from_json({**protocol, "confirm": 1.5})), flops)
    assert plain is not None and both is not None
    # the large frame runs at 1024x1280 and halved, natively at 512x640; with consensus each again, enlarged
    assert plain.mean == pytest.approx((256 * 256 + 1024 * 1280 + 512 * 640) * unit / 2)
    assert both.mean == pytest.approx((256 * 256 + 1024 * 1280 + 512 * 640 + 384 * 384 + 1536 * 1920 + 768 * 960)
                                      * unit / 2)
    # a frame whose half is small: the second level is resized to the model size
    record = {"protocol": "auto", "size": [256, 256], "applied": {"pyramid": 1}}
    small = frame_flops(EvalResult({}, pd.DataFrame({"height": [512], "width": [640], "protocol": ["pyramid"]}),
                                   {}, EvalProtocol.from_json(record)), flops)
    assert small is not None and small.mean == pytest.approx((512 * 640 + 256 * 256) * unit)


def test_a_consensus_evaluation_is_cached_apart_from_a_plain_one():
    """The evaluation cache keyed a consensus run like the plain one, so either answered for the other."""
    from lwirst.datasets import open_dataset
    from lwirst.paths import SAMPLES_DIR

    data = open_dataset(SAMPLES_DIR, "folder", "test")
    plain = cache_key(Segmenter(threads=1), data, 0.0)
    assert plain == cache_key(Segmenter(threads=1), data, 0.0)
    assert cache_key(Segmenter(threads=1, confirm=1.5), data, 0.0) not in (plain, cache_key(
        Segmenter(threads=1, confirm=2.0), data, 0.0))


@pytest.mark.parametrize(("value", "scale"), [(1.5, 1.5), (2, 2.0), (None, None), (float("nan"), None),
                                              ("1.5", None), (0.0, None)])
def test_the_recorded_scale_reads_a_protocol_or_a_table_cell(value, scale):
    assert recorded(value) == scale


def _lwirst(*args: str) -> subprocess.CompletedProcess:
    return run_lwirst(*args)


def test_the_command_line_takes_off_or_a_scale_and_says_what_ran(tmp_path):
    bad = _lwirst("demo", "--confirm", "9", "--out", str(tmp_path / "a"))
    assert bad.returncode == 2 and "--confirm" in bad.stderr and "Traceback" not in bad.stderr
    off = _lwirst("demo", "--confirm", "off", "--out", str(tmp_path / "b"), "--threads", "1")
    assert off.returncode == 0 and "scale consensus" not in off.stdout
    on = _lwirst("demo", "--confirm", "1.5", "--out", str(tmp_path / "c"), "--threads", "1")
    assert on.returncode == 0, on.stderr
    assert "; scale consensus at 1.5x" in on.stdout


def test_a_consensus_run_is_its_own_point_on_the_accuracy_flops_chart():
    """Compare keys points by name, data and protocol: a plain and a consensus run of one model must stay two
    points, and the consensus one costs its second run too (a 256x256 frame also runs at 384x384)."""
    from lwirst import analysis

    applied = AppliedProtocol("auto", (256, 256), {"resize": 86})
    plain = analysis.measured_point("m", {"miou": 0.7}, "sirst", "test", 163_200, 300e6, protocol="auto",
                                    applied=applied)
    confirmed = analysis.measured_point("m", {"miou": 0.6}, "sirst", "test", 163_200, 300e6, protocol="auto",
                                        applied=AppliedProtocol("auto", (256, 256), {"resize": 86},
                                                                settings=CONSENSUS))
    merged = analysis.merge_points(pd.DataFrame([plain, confirmed]))
    assert len(merged) == 2
    assert confirmed["name"] == "m, consensus 1.5×" and confirmed["flops_m"] == pytest.approx(300 * 3.25)
    assert plain["flops_m"] == pytest.approx(300)


def test_a_fixed_size_onnx_graph_runs_once_and_says_so(tmp_path, caplog):
    """The published LW-IRSTNet ONNX holds for 256x256 inputs only; consensus's 384x384 second run stopped
    ONNX Runtime with a shape error mid-evaluation. Such a graph now runs once, with a warning."""
    import onnx

    from lwirst.export import export_onnx
    from lwirst.models import build_model

    path = tmp_path / "fixed.onnx"
    export_onnx(build_model().eval(), path)
    graph = onnx.load(path)
    for tensor in (*graph.graph.input, *graph.graph.output):
        for axis, size in ((2, 256), (3, 256)):
            tensor.type.tensor_type.shape.dim[axis].ClearField("dim_param")
            tensor.type.tensor_type.shape.dim[axis].dim_value = size
    onnx.save(graph, path)
    with caplog.at_level("WARNING", logger="lwirst.inference"):
        segmenter = Segmenter(path, backend="onnxruntime", threads=1, confirm=1.5)
    assert segmenter.confirm is None and "scale consensus cannot run" in caplog.text
    saliency = segmenter.predict(_frame((240, 320), [(100, 100)]))
    assert saliency.confirm is None and "confirm" not in segmenter.describe().to_json()


def test_a_card_scored_with_consensus_puts_its_points_at_that_cost():
    """Round 43's card was scored with consensus: its Fig. 4 points are named for it and cost 3.25x the
    network's FLOPs (they stood at 303.5 M), and a run measured here the same way replaces the card's point."""
    from lwirst import analysis

    metrics = {"auto": {"miou": 0.75, "f1": 0.86}, "native": {"miou": 0.72, "f1": 0.83}}
    cards = analysis.card_points({"m": (metrics, "sirst", "test", 163_232, 303.5e6)}, settings={"m": CONSENSUS})
    assert set(cards["name"]) == {"m, consensus 1.5×"}
    assert list(cards["flops_m"]) == pytest.approx([303.5 * 3.25] * 2)
    assert "(auto, confirmed at 1.5x)" in cards["source"].iloc[0]
    native = cards[cards["source"].str.contains("native")]
    assert analysis._symbol(native) == "star-open-dot"  # the protocol's marker, consensus or not
    plain = analysis.card_points({"m": (metrics, "sirst", "test", 163_232, 303.5e6)})
    assert set(plain["name"]) == {"m"} and list(plain["flops_m"]) == pytest.approx([303.5] * 2)
    measured = analysis.measured_point("m", {"miou": 0.75}, "sirst", "test", 163_232, 303.5e6, protocol="auto",
                                       applied=AppliedProtocol("auto", (256, 256), {"resize": 86},
                                                                settings=CONSENSUS))
    merged = analysis.merge_points(pd.concat([cards, pd.DataFrame([measured])], ignore_index=True))
    assert sorted(merged["group"]) == sorted([analysis.CARD_PREFIX, analysis.MEASURED_PREFIX])  # native card stays
