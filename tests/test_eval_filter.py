"""`lwirst evaluate` through the paper's Eq. 4 filter (--min-size, --max-size, --min-ratio, --max-ratio): the
scored targets are those `lwirst segment` keeps, checked against an independent OpenCV labelling of real model
maps; the filter is recorded, said, keyed and kept apart on charts."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import cv2
import numpy as np
import pytest

from lwirst.analysis import measured_point
from lwirst.cli import main
from lwirst.datasets import open_dataset
from lwirst.eval_protocol import EvalProtocol
from lwirst.evaluate import cache_keys, evaluate_predictions, summary_lines
from lwirst.inference import Segmenter
from lwirst.metrics import PdFa, PixelMetrics
from lwirst.postprocess import NO_FILTER, TargetFilter

IMAGES = 6


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory, data_root: Path) -> dict:
    """A few SIRST val frames as a folder dataset, the shipped model's logits saved as .npy beside them."""
    split = open_dataset(data_root, "sirst", "val")
    root = tmp_path_factory.mktemp("evalfilter")
    for sub in ("data/images", "data/masks", "preds"):
        (root / sub).mkdir(parents=True)
    # two frames whose targets' grown and ungrown sizes fall either side of 5 and 12 px (Misc_37, Misc_190)
    for item in [split.items[i] for i in (0, 1, 2, 3, 30, 7)]:
        shutil.copy(item.image, root / "data/images" / f"{item.name}{item.image.suffix}")
        shutil.copy(item.mask, root / "data/masks" / f"{item.name}{item.mask.suffix}")
    dataset = open_dataset(root / "data", "folder", "all")
    segmenter = Segmenter(None, backend="onnxruntime", threads=1)
    samples = [dataset.load(i) for i in range(len(dataset))]
    logits = {s.name: segmenter.predict(s.image).logits for s in samples}
    for name, value in logits.items():
        np.save(root / "preds" / f"{name}.npy", value)
    # a threshold passing the top 0.5 % of pixels: many small blobs beside the targets, for the filter to drop
    loose = float(np.quantile(np.concatenate([v.ravel() for v in logits.values()]), 0.995))
    return {"root": root, "dataset": dataset, "segmenter": segmenter, "logits": logits, "loose": loose,
            "masks": {s.name: s.mask for s in samples}}


def _kept_by_opencv(logits: np.ndarray, threshold: float, bounds: TargetFilter) -> np.ndarray:
    """Independently of `lwirst.postprocess`: 8-connected blobs of logits > threshold whose pixel count and box
    width / height lie strictly inside the bounds."""
    count, labels, stats, _ = cv2.connectedComponentsWithStats((logits > threshold).astype(np.uint8), connectivity=8)
    keep = np.zeros(count, bool)
    for label in range(1, count):
        size = stats[label, cv2.CC_STAT_AREA]
        ratio = stats[label, cv2.CC_STAT_WIDTH] / stats[label, cv2.CC_STAT_HEIGHT]
        keep[label] = ((bounds.min_size is None or size > bounds.min_size)
                       and (bounds.max_size is None or size < bounds.max_size)
                       and (bounds.min_ratio is None or ratio > bounds.min_ratio)
                       and (bounds.max_ratio is None or ratio < bounds.max_ratio))
    return keep[labels]


@pytest.mark.parametrize("bounds", [TargetFilter(min_size=3), TargetFilter(max_size=40, max_ratio=2.5),
                                    TargetFilter(min_ratio=0.6, min_size=1)])
def test_only_targets_within_the_bounds_are_scored(world: dict, bounds: TargetFilter) -> None:
    threshold = world["loose"]
    filtered = evaluate_predictions(world["root"] / "preds", world["dataset"], threshold=threshold,
                                    target_filter=bounds)
    plain = evaluate_predictions(world["root"] / "preds", world["dataset"], threshold=threshold)
    pixel, pdfa = PixelMetrics(), PdFa()
    for name, logits in world["logits"].items():
        kept = _kept_by_opencv(logits, threshold, bounds)
        pixel.update(kept, world["masks"][name])
        pdfa.update(kept, world["masks"][name])
    ours, targets = pixel.compute(), pdfa.compute()
    assert filtered.metrics["miou"] == pytest.approx(ours.iou, rel=1e-12)
    assert filtered.metrics["pd"] == pytest.approx(targets.pd, rel=1e-12)
    assert filtered.metrics["false_alarms"] == targets.false_alarms
    # the filter dropped something here, so the comparison means something
    assert filtered.metrics["false_alarms"] + filtered.metrics["detected"] < (
        plain.metrics["false_alarms"] + plain.metrics["detected"])
    assert filtered.metrics["blobs_per_frame"] == pytest.approx(targets.false_alarms / IMAGES)


def test_the_pd_fa_sweep_goes_through_the_filter(world: dict) -> None:
    bounds = TargetFilter(min_size=4)
    result = evaluate_predictions(world["root"] / "preds", world["dataset"], target_filter=bounds)
    curves = result.curves
    checked = 0
    for threshold, pd_value, fa_value in zip(curves["pdfa_threshold"], curves["pdfa_pd"], curves["pdfa_fa"],
                                             strict=True):
        if threshold < -4:  # below that the frame is one blob: nothing left to tell apart
            continue
        pdfa = PdFa()
        for name, logits in world["logits"].items():
            pdfa.update(_kept_by_opencv(logits, threshold, bounds), world["masks"][name])
        expected = pdfa.compute()
        assert pd_value == pytest.approx(expected.pd, rel=1e-12, nan_ok=True), threshold
        assert fa_value == pytest.approx(expected.fa, rel=1e-12, abs=0), threshold
        checked += 1
    assert checked >= 10


def test_the_filter_is_recorded_said_and_read_back(world: dict) -> None:
    bounds = TargetFilter(min_size=2, max_ratio=3)
    result = evaluate_predictions(world["root"] / "preds", world["dataset"], target_filter=bounds)
    stored = json.loads(json.dumps(result.protocol.to_json()))
    assert stored["filter"] == {"min_size": 2, "max_size": None, "min_ratio": None, "max_ratio": 3}
    assert EvalProtocol.from_json(stored).target_filter == bounds
    assert "Eq. 4 filter size > 2 px, width/height < 3" in summary_lines(result)[0]
    unfiltered = evaluate_predictions(world["root"] / "preds", world["dataset"])
    assert "filter" not in unfiltered.protocol.to_json()  # a plain result keeps the record it always had
    assert EvalProtocol.from_json(unfiltered.protocol.to_json()).target_filter == NO_FILTER
    assert "Eq. 4" not in summary_lines(unfiltered)[0]
    # two runs of one model through different filters must not merge into one chart point
    assert result.protocol.applied.short != unfiltered.protocol.applied.short
    assert "filter size > 2 px" in result.protocol.applied.short
    points = [measured_point("m", r.metrics, "d", "s", None, None, applied=r.protocol.applied)["name"]
              for r in (result, unfiltered)]
    assert points == ["m, Eq. 2 masks, filter size > 2 px, width/height < 3", "m, Eq. 2 masks"]  # named apart
    with pytest.raises(TypeError):  # read as unfiltered, its figures would stand for a run that never was
        EvalProtocol.from_json({**stored, "filter": {"min_size": "x"}})


def test_the_filter_is_part_of_the_cache_key_and_no_filter_keeps_the_old_one(world: dict) -> None:
    segmenter, dataset = world["segmenter"], world["dataset"]
    plain = cache_keys(segmenter, dataset, 0.0)
    assert cache_keys(segmenter, dataset, 0.0, target_filter=NO_FILTER) == plain
    one, other = (cache_keys(segmenter, dataset, 0.0, target_filter=TargetFilter(min_size=s)) for s in (2, 3))
    assert len({plain, one, other}) == 3
    # one filter, one key: the dashboard's slider gives ints, the command line floats; a bound of 0 drops nothing
    assert cache_keys(segmenter, dataset, 0.0, target_filter=TargetFilter(min_size=3.0)) == other
    assert cache_keys(segmenter, dataset, 0.0, target_filter=TargetFilter(min_size=0, min_ratio=0)) == plain
    assert not TargetFilter(min_size=0).active and str(TargetFilter(min_size=0, max_size=9)) == "size < 9 px"
    # bounds that read alike to 6 digits are still two filters
    close = cache_keys(segmenter, dataset, 0.0, target_filter=TargetFilter(min_size=3.0000001))
    assert close != other and str(TargetFilter(min_size=3.0000001)) == str(TargetFilter(min_size=3))


def test_the_sweep_at_the_runs_own_threshold_is_the_headline(world: dict) -> None:
    """The sweep filtered ungrown masks where the headline filters grown ones, as segment reports them: with
    --min-size 5 its point at the run's own threshold read Pd 0.938 beside a headline of 0.969."""
    from lwirst.evaluate import evaluate

    for bounds in (TargetFilter(min_size=5), TargetFilter(max_size=12)):
        result = evaluate(world["segmenter"], world["dataset"], target_filter=bounds, use_cache=False)
        at = result.curves["pdfa_threshold"].index(0.0)
        assert result.curves["pdfa_pd"][at] == pytest.approx(result.metrics["pd"], nan_ok=True)
        assert result.curves["pdfa_fa"][at] == pytest.approx(result.metrics["fa"])


def test_the_command_takes_the_bounds_and_refuses_impossible_ones(world: dict, tmp_path: Path,
                                                                   capsys: pytest.CaptureFixture[str]) -> None:
    base = ["evaluate", "--data-dir", str(world["root"] / "data"), "--dataset", "folder", "--split", "all",
            "--predictions", str(world["root"] / "preds")]
    assert main([*base, "--min-size", "3", "--max-ratio", "2.5", "--out", str(tmp_path / "out")]) == 0
    saved = json.loads((tmp_path / "out" / "metrics.json").read_text())
    assert saved["protocol"]["filter"]["min_size"] == 3
    assert "Eq. 4 filter size > 3 px, width/height < 2.5" in capsys.readouterr().out
    assert main([*base, "--min-size", "5", "--max-size", "3"]) != 0
    assert "min_size=5.0 is not below max_size=3.0" in capsys.readouterr().err
