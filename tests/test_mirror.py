"""The mirrored confirmation run (`lwirst.consensus`, `Segmenter(mirror=True)`): large frames only, the map
rule checked against independent runs, and how results, FLOPs, the cache and the command line say so."""

from __future__ import annotations

import cv2
import numpy as np
import pandas as pd
import pytest

from lwirst.consensus import agreed, describe, flops_factor, legend, mirrored_input, whole_blobs
from lwirst.eval_protocol import EvalProtocol
from lwirst.evaluate import EvalResult, cache_key, frame_flops
from lwirst.inference import Segmenter
from lwirst.run_settings import RunSettings
from tests.cli_process import run_lwirst
from tests.conftest import applied_of
from tests.test_consensus import _enlarged_run, _frame

LARGE = (640, 832)  # a pyramid whose half level (320x416) is over twice the model area: both levels run natively


def test_mirroring_twice_gives_the_array_back():
    chw = np.arange(2 * 3 * 5, dtype=np.float32).reshape(2, 3, 5)
    assert mirrored_input(chw)[0, 0].tolist() == [4, 3, 2, 1, 0]
    np.testing.assert_array_equal(mirrored_input(mirrored_input(chw)), chw)
    assert mirrored_input(chw[0]).flags.c_contiguous


def test_a_large_frame_must_also_show_its_targets_mirrored():
    """Each pyramid level's agreed pixels are also agreed with an independent native run of the level mirrored
    left-right, mirrored back; the levels are then united, and blobs kept whole, as without the mirror."""
    h, w = LARGE
    image = _frame(LARGE, [(h // 3, w // 4), (2 * h // 3, 3 * w // 4)])
    confirmed = Segmenter(threads=1, backend="torch", confirm=1.5, margin=0)  # the mirror alone: no peak margin
    mirrored = Segmenter(threads=1, backend="torch", confirm=1.5, mirror=True, margin=0)
    native = Segmenter(threads=1, backend="torch", protocol="native", margin=0)
    half = cv2.resize(image, (w // 2, h // 2), interpolation=cv2.INTER_AREA)
    firsts, kept = [], []
    for level in (image, half):
        first = native.predict(level).logits
        flipped = native.predict(np.ascontiguousarray(level[:, ::-1])).logits[:, ::-1]
        firsts.append(first)
        kept.append(agreed(agreed(first, _enlarged_run(native, level, level.shape[:2])), flipped))
    def united(maps):
        return np.maximum(maps[0], cv2.resize(maps[1], (w, h), interpolation=cv2.INTER_LINEAR))
    expected = whole_blobs(united(kept), united(firsts))
    got = mirrored.predict(image)
    assert got.protocol == "pyramid" and got.mirrored and got.confirm == 1.5
    np.testing.assert_allclose(got.logits, expected, atol=1e-4)
    unmirrored = confirmed.predict(image)
    assert not unmirrored.mirrored
    assert (got.logits <= unmirrored.logits + 1e-5).all()  # a confirmation only removes
    assert (got.logits < unmirrored.logits - 1).any()  # and here it does remove something, so the check can fail
    batch = mirrored.predict_batch([image, image[:, : w // 2]], batch_size=2)
    np.testing.assert_allclose(batch[0].logits, got.logits, atol=1e-4)
    assert mirrored.describe().settings.mirror is True and "mirror" not in confirmed.describe().to_json()


@pytest.mark.parametrize("hw", [(256, 256), (240, 320)])
def test_sirst_sized_frames_skip_the_mirror(hw):
    """Frames "auto" resizes run as without the mirror: round 47 found it removed no false blob there."""
    image = _frame(hw, [(hw[0] // 2, hw[1] // 2)])
    plain = Segmenter(threads=1, backend="torch", confirm=1.5).predict(image)
    got = Segmenter(threads=1, backend="torch", confirm=1.5, mirror=True).predict(image)
    np.testing.assert_array_equal(got.logits, plain.logits)
    assert not got.mirrored


def test_results_say_the_mirror_ran_and_count_its_runs():
    protocol = {"protocol": "auto", "size": [256, 256], "applied": {"resize": 1, "pyramid": 1}, "confirm": 1.5}
    applied = applied_of({**protocol, "mirror": True})
    assert applied is not None and applied.settings.mirror and not applied_of(protocol).settings.mirror
    assert str(applied).endswith("; large frames also confirmed mirrored (a target must also show with the frame "
                                 "mirrored left-right)")
    assert applied.short == "auto: 1 as a pyramid, 1 resized, confirmed at 1.5x and mirrored"
    assert legend(None, True) == ", confirmed mirrored" and legend(1.5) == ", confirmed at 1.5x"
    assert describe(None, True).startswith("no scale consensus; large frames also confirmed mirrored")
    assert flops_factor(1.5, True) == pytest.approx(flops_factor(1.5) + 1)

    # the mirrored run repeats each run of the large frame at its own input size; the small frame has none
    table = pd.DataFrame({"height": [240, LARGE[0]], "width": [320, LARGE[1]], "protocol": ["resize", "pyramid"]})
    flops = 1000.0
    plain = frame_flops(EvalResult({}, table, {}, EvalProtocol.from_json(protocol)), flops)
    both = frame_flops(EvalResult({}, table, {}, EvalProtocol.from_json({**protocol, "mirror": True})), flops)
    assert plain is not None and both is not None
    unit = flops / (256 * 256)
    large_runs = LARGE[0] * LARGE[1] + LARGE[0] * LARGE[1] // 4
    assert both.mean - plain.mean == pytest.approx(large_runs * unit / 2)


def test_a_mirrored_evaluation_is_cached_apart():
    from lwirst.datasets import open_dataset
    from lwirst.paths import SAMPLES_DIR

    data = open_dataset(SAMPLES_DIR, "folder", "test")
    plain = cache_key(Segmenter(threads=1, confirm=1.5), data, 0.0)
    assert cache_key(Segmenter(threads=1, confirm=1.5, mirror=True), data, 0.0) != plain


def test_the_command_line_takes_a_switch_word_and_says_what_ran(tmp_path):
    bad = run_lwirst("demo", "--mirror", "maybe", "--out", str(tmp_path / "a"))
    assert bad.returncode == 2 and "--mirror" in bad.stderr and "Traceback" not in bad.stderr
    on = run_lwirst("demo", "--mirror", "yes", "--out", str(tmp_path / "b"), "--threads", "1")  # any switch word
    assert on.returncode == 0, on.stderr
    assert "large frames also confirmed mirrored" in on.stdout
    off = run_lwirst("demo", "--mirror", "off", "--out", str(tmp_path / "c"), "--threads", "1")
    assert off.returncode == 0 and "mirrored" not in off.stdout


def test_a_mirrored_run_is_its_own_point_on_the_accuracy_flops_chart(tmp_path):
    """Named apart from the consensus-only run, at the same cost per 256×256 frame (no mirrored run there); a
    cached evaluation's table row says it ran mirrored."""
    import json

    from lwirst.analysis import cached_runs, card_points, measured_point

    metrics = {"f1": 0.8, "miou": 0.7}
    protocol = {"protocol": "auto", "size": [256, 256], "applied": {"resize": 30}, "confirm": 1.5}
    plain = measured_point("m", metrics, "sirst", "test", 160_000, 3e8, applied=applied_of(protocol))
    both = measured_point("m", metrics, "sirst", "test", 160_000, 3e8,
                          applied=applied_of({**protocol, "mirror": True}))
    assert plain["name"] == "m, consensus 1.5×" and both["name"] == "m, consensus 1.5×, mirror"
    assert both["flops_m"] == plain["flops_m"] and both["source"].endswith("confirmed at 1.5x and mirrored)")
    both_on = RunSettings(confirm=1.5, mirror=True)
    card = card_points({"m": (metrics, "sirst", "test", 160_000, 3e8)}, settings={"m": both_on})
    assert card["name"].tolist() == ["m, consensus 1.5×, mirror"]

    for key, mirror in (("a", True), ("b", None)):
        (tmp_path / key).mkdir()
        stored = {**protocol, "model": "m", "hash": "h", "backend": "torch", **({"mirror": mirror} if mirror else {})}
        (tmp_path / key / "metrics.json").write_text(json.dumps({"protocol": stored, "metrics": {"images": 30}}))
        (tmp_path / key / "curves.json").write_text("{}")  # a whole entry: a partial one is no cached run
        (tmp_path / key / "per_image.csv").write_text("name\n")
    rows = cached_runs(tmp_path).set_index("key")
    assert bool(rows.loc["a", "mirror"]) and not bool(rows.loc["b", "mirror"])
    (tmp_path / "a" / "curves.json").unlink()  # as a kill mid-save once left it: not offered as a run
    assert cached_runs(tmp_path)["key"].tolist() == ["b"]
