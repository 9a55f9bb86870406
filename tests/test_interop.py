"""Interop a researcher expects: scoring another method's saved outputs, BasicIRSTD-style probability
thresholds, 6 significant digits in metrics JSON, opt-in binarisation of non-binary masks, and
lwirst.metrics agreeing with PyIRSTDMetrics on real predictions of the shipped model."""

from __future__ import annotations

import argparse
import json
import logging
import math
import shutil
from pathlib import Path

import cv2
import numpy as np
import pytest

from lwirst.cli import main
from lwirst.commands import evaluate as evaluate_command
from lwirst.commands.segment import threshold_from_args
from lwirst.datasets import fingerprint, open_dataset
from lwirst.errors import LwirstError
from lwirst.evaluate import evaluate_predictions, summary_lines
from lwirst.inference import Segmenter
from lwirst.metrics import PdFa, PixelMetrics
from lwirst.postprocess import GROW_TO, detect
from lwirst.rounding import round_floats, significant

IMAGES = 4


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory, data_root: Path) -> dict:
    """A few SIRST test images as a plain folder dataset, and the shipped model's logits on them."""
    split = open_dataset(data_root, "sirst", "test")
    root = tmp_path_factory.mktemp("interop") / "few"
    (root / "images").mkdir(parents=True)
    (root / "masks").mkdir()
    for item in split.items[:IMAGES]:
        shutil.copy(item.image, root / "images" / f"{item.name}{item.image.suffix}")
        shutil.copy(item.mask, root / "masks" / f"{item.name}{item.mask.suffix}")
    dataset = open_dataset(root, "folder", "all")
    segmenter = Segmenter(None, backend="onnxruntime", threads=1)
    samples = [dataset.load(i) for i in range(len(dataset))]
    logits = {s.name: segmenter.predict(s.image).logits for s in samples}
    return {"root": root, "dataset": dataset, "masks": {s.name: s.mask for s in samples}, "logits": logits}


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x.astype(np.float64)))


@pytest.mark.parametrize("loose", [False, True])
def test_metrics_agree_with_pyirstdmetrics(world: dict, loose: bool) -> None:
    irstd = pytest.importorskip("py_irstd_metrics")  # PyPI: pyirstdmetrics
    # The model's own threshold, and one passing the top 1% of pixels, so false alarms are counted too.
    everything = np.concatenate([logits.ravel() for logits in world["logits"].values()])
    threshold = float(np.quantile(everything, 0.99)) if loose else 0.0
    pixel, pdfa = PixelMetrics(threshold), PdFa(threshold)
    reference = irstd.CMMetrics(num_bins=1, threshold=0.5, metric_handlers={
        "miou": irstd.IoUHandler(with_binary=True, sample_based=False),
        "niou": irstd.IoUHandler(with_binary=True, sample_based=True),
    })
    reference_pdfa = irstd.ProbabilityDetectionAndFalseAlarmRate(num_bins=1, distance_threshold=3)
    for name, logits in world["logits"].items():
        mask = world["masks"][name]
        pixel.update(logits, mask)
        pdfa.update(logits, mask)
        prob = _sigmoid(logits - threshold)  # prob > 0.5 exactly where logits > threshold
        reference.update(prob, mask)
        reference_pdfa.update(prob, mask)
    ours, theirs = pixel.compute(), reference.get()
    assert 0 < ours.iou < 1.0  # real, imperfect predictions: the comparison means something
    assert ours.iou == pytest.approx(float(theirs["miou"]["binary"]), rel=1e-12)
    assert ours.niou == pytest.approx(float(theirs["niou"]["binary"]), rel=1e-12)
    targets, target_ref = pdfa.compute(), reference_pdfa.get()
    assert targets.pd == pytest.approx(float(target_ref["probability_detection"][0]), rel=1e-12)
    assert targets.fa == pytest.approx(float(target_ref["false_alarm"][0]), rel=1e-12, abs=0)
    if loose:
        assert targets.fa_pixels > 0  # the low threshold exercises the false-alarm count too


def _write_predictions(world: dict, folder: Path) -> None:
    """Half the images as 0/255 PNG masks of the model's output, half as .npy logits."""
    folder.mkdir()
    for index, (name, logits) in enumerate(world["logits"].items()):
        if index % 2:
            np.save(folder / f"{name}.npy", logits)
        else:
            cv2.imwrite(str(folder / f"{name}_mask.png"), np.where(logits > 0, 255, 0).astype(np.uint8))


def test_saved_predictions_score_as_the_model_does(world: dict, tmp_path: Path) -> None:
    folder = tmp_path / "preds"
    _write_predictions(world, folder)
    for grow_to in (None, GROW_TO):  # the paper's masks, then the default grown ones
        result = evaluate_predictions(folder, world["dataset"], grow_to=grow_to)
        pixel, pdfa = PixelMetrics(0.0), PdFa(0.0)
        for index, (name, logits) in enumerate(world["logits"].items()):
            saved_mask = index % 2 == 0  # a 0/255 mask keeps no lower confidence to grow into
            found = logits if grow_to is None or saved_mask else detect(logits, 0.0, grow_to).mask
            pixel.update(found, world["masks"][name])
            pdfa.update(found, world["masks"][name])
        assert result.metrics["miou"] == pixel.compute().iou
        assert result.metrics["niou"] == pixel.compute().niou
        assert result.metrics["pd"] == pdfa.compute().pd
        assert result.metrics["fa"] == pdfa.compute().fa
        assert math.isnan(result.metrics["fps"])  # files were read, nothing ran
        assert result.metrics["images"] == IMAGES


def test_saved_binary_masks_are_said_to_be_one_operating_point(world: dict, tmp_path: Path) -> None:
    """The header printed a threshold and mask growth for 0/255 masks, which neither can change, and an AUC that
    is one point's; a folder of masks says so, one with any map or logits does not."""
    masks, mixed = tmp_path / "masks", tmp_path / "mixed"
    masks.mkdir()
    for name, logits in world["logits"].items():
        cv2.imwrite(str(masks / f"{name}.png"), np.where(logits > 0, 255, 0).astype(np.uint8))
    _write_predictions(world, mixed)
    said = "saved binary masks: the threshold and mask growth change nothing"
    only_masks = evaluate_predictions(masks, world["dataset"])
    assert only_masks.protocol.binary_predictions == IMAGES
    assert any(line.startswith(said) for line in summary_lines(only_masks))
    assert "(saved masks, as they are)" in summary_lines(only_masks)[0] and "grown" not in summary_lines(only_masks)[0]
    with_maps = summary_lines(evaluate_predictions(mixed, world["dataset"], grow_to=GROW_TO))
    assert not any(line.startswith(said) for line in with_maps) and "grown" in with_maps[0]  # growth reaches maps
    stricter = evaluate_predictions(masks, world["dataset"], threshold=math.log(0.999 / 0.001))
    assert stricter.metrics["miou"] == only_masks.metrics["miou"]  # what the line says


def test_ground_truth_as_probability_maps_scores_perfectly(world: dict, tmp_path: Path) -> None:
    folder = tmp_path / "gt"
    folder.mkdir()
    for name, mask in world["masks"].items():  # 8-bit probability maps: 0.9 inside, 0.1 outside
        cv2.imwrite(str(folder / f"{name}.png"), np.where(mask, 230, 25).astype(np.uint8))
    result = evaluate_predictions(folder, world["dataset"])
    assert result.metrics["miou"] == 1.0 and result.metrics["pd"] == 1.0 and result.metrics["fa"] == 0.0
    stricter = evaluate_predictions(folder, world["dataset"], threshold=math.log(0.95 / 0.05))
    assert stricter.metrics["pd"] == 0.0  # 230/255 = 0.90 is under probability 0.95


def test_a_saved_map_is_read_by_its_values_never_taken_for_a_mask_or_logits(world: dict, tmp_path: Path) -> None:
    """A map of 0 and 100 (probability 0.39 on the targets) was taken for a binary mask and found every target at
    0.5; the same map as a uint8 .npy was read as logits, so every pixel was a target."""
    forms = {"png": lambda path, level: cv2.imwrite(f"{path}.png", level),
             "npy": lambda path, level: np.save(f"{path}.npy", level)}
    for form, write in forms.items():
        folder = tmp_path / form
        folder.mkdir()
        for name, mask in world["masks"].items():
            write(folder / name, np.where(mask, 100, 0).astype(np.uint8))
        assert evaluate_predictions(folder, world["dataset"]).metrics["pd"] == 0.0, form
        lower = evaluate_predictions(folder, world["dataset"], threshold=math.log(0.3 / 0.7)).metrics
        assert lower["miou"] == 1.0 and lower["pd"] == 1.0, form
    ints = tmp_path / "ints"
    ints.mkdir()
    for name, mask in world["masks"].items():  # np.save(mask.astype(int)): a 0/1 mask
        np.save(ints / f"{name}.npy", mask.astype(np.int64))
    assert evaluate_predictions(ints, world["dataset"]).metrics["miou"] == 1.0
    deep = tmp_path / "deep"
    deep.mkdir()
    for name, mask in world["masks"].items():  # an 8-bit 0/255 mask saved as 16 bits is a mask still
        cv2.imwrite(str(deep / f"{name}.png"), np.where(mask, 255, 0).astype(np.uint16))
    assert evaluate_predictions(deep, world["dataset"]).metrics["miou"] == 1.0
    np.save(ints / f"{name}.npy", np.where(world["masks"][name], 200, 0).astype(np.int32))
    with pytest.raises(LwirstError, match=r"an integer map \(int32\) other than a 0/1 mask"):
        evaluate_predictions(ints, world["dataset"])


def test_another_methods_maps_are_scored_as_it_drew_them(world: dict, tmp_path: Path,
                                                         capsys: pytest.CaptureFixture[str]) -> None:
    """evaluate --predictions grew another method's masks by this project's post-processing, raising its mIoU
    above what the paper's Eq. 2 gives it; --grow-to still asks for growth, and an lwirst segment output is
    grown as the run that wrote it grew its masks (read as Eq. 2, it scored below the model itself)."""
    folder = tmp_path / "preds"
    folder.mkdir()
    for name, logits in world["logits"].items():
        np.save(folder / f"{name}.npy", logits)
    eq2 = evaluate_predictions(folder, world["dataset"], grow_to=None).metrics["miou"]
    grown = evaluate_predictions(folder, world["dataset"], grow_to=GROW_TO).metrics["miou"]
    assert eq2 != grown
    seg = tmp_path / "seg"
    assert main(["segment", str(world["root"] / "images"), "--out", str(seg), "--save-logits",
                 "--backend", "onnxruntime", "--threads", "1"]) == 0
    args = ["evaluate", "--data-dir", str(world["root"]), "--dataset", "folder", "--split", "all"]
    cases = {"other": ([folder], None, eq2), "asked": ([folder, "--grow-to", "0.2"], GROW_TO, grown),
             "segment": ([seg], GROW_TO, grown)}
    for case, (extra, grow_to, miou) in cases.items():
        out = tmp_path / f"out-{case}"
        assert main([*args, "--predictions", *map(str, extra), "--out", str(out)]) == 0
        saved = json.loads((out / "metrics.json").read_text())
        if grow_to is None:
            assert saved["protocol"]["grow_to"] is None, case
        else:
            assert saved["protocol"]["grow_to"] == pytest.approx(grow_to, abs=1e-4), case
        assert saved["metrics"]["miou"] == pytest.approx(miou, rel=1e-5), case
    capsys.readouterr()


def test_evaluate_cli_writes_six_significant_digits(world: dict, tmp_path: Path,
                                                     capsys: pytest.CaptureFixture[str]) -> None:
    folder = tmp_path / "preds"
    _write_predictions(world, folder)
    out = tmp_path / "out"
    assert main(["evaluate", "--data-dir", str(world["root"]), "--dataset", "folder", "--split", "all",
                 "--predictions", str(folder), "--threshold", "0.5", "--out", str(out)]) == 0
    metrics = json.loads((out / "metrics.json").read_text())["metrics"]
    floats = [v for v in metrics.values() if isinstance(v, float) and math.isfinite(v)]
    assert floats and all(v == significant(v) for v in floats)
    assert len(f"{metrics['miou']:e}".split("e")[0].replace(".", "").rstrip("0")) <= 6
    assert metrics["miou"] == pytest.approx(evaluate_predictions(folder, world["dataset"]).metrics["miou"],
                                            rel=1e-5)
    assert "saved predictions" in capsys.readouterr().out


def test_prediction_folder_problems_are_named(world: dict, tmp_path: Path) -> None:
    names = list(world["logits"])
    folder = tmp_path / "preds"
    _write_predictions(world, folder)
    np.save(folder / "not_an_image_of_the_split.npy", np.zeros((4, 4), np.float32))
    with pytest.raises(LwirstError, match=r"match no image of the split: not_an_image_of_the_split\.npy"):
        evaluate_predictions(folder, world["dataset"])
    (folder / "not_an_image_of_the_split.npy").unlink()
    missing = next(folder.glob(f"{names[1]}.*"))
    missing.unlink()
    with pytest.raises(LwirstError, match=f"1 image\\(s\\) have no prediction: {names[1]}"):
        evaluate_predictions(folder, world["dataset"])
    np.save(folder / f"{names[1]}.npy", np.zeros((8, 8), np.float32))
    with pytest.raises(LwirstError, match="prediction is 8x8 but image"):
        evaluate_predictions(folder, world["dataset"])
    assert main(["evaluate", "--data-dir", str(world["root"]), "--dataset", "folder", "--split", "all",
                 "--predictions", str(folder), "--model", "x.onnx"]) == 1


@pytest.mark.parametrize(("shape", "descr", "body", "said"), [
    ((200000, 200000), "<f8", 1000, "is larger than the image limit"),  # asked numpy for 298 GiB
    ((100, 100), "<f4", 1000, "the file is truncated"),
    ((8, 8), "<c8", 512, "expected one H x W map of real numbers"),  # the imaginary part was dropped, warned
], ids=["huge-header", "truncated", "complex"])
def test_a_saved_array_is_checked_from_its_header_before_it_is_read(world: dict, tmp_path: Path, shape: tuple,
                                                                    descr: str, body: int, said: str) -> None:
    from numpy.lib import format as npy

    folder = tmp_path / "preds"
    _write_predictions(world, folder)
    name = list(world["logits"])[1]  # saved as .npy
    with (folder / f"{name}.npy").open("wb") as handle:
        npy.write_array_header_1_0(handle, {"descr": descr, "fortran_order": False, "shape": shape})
        handle.write(b"\0" * body)
    with pytest.raises(LwirstError, match=f"{name}.npy: .*{said}"):
        evaluate_predictions(folder, world["dataset"])


def _threshold(*argv: str) -> float:
    parser = argparse.ArgumentParser()
    evaluate_command.add_arguments(parser)
    return threshold_from_args(parser.parse_args(list(argv)))


def test_threshold_is_a_probability_and_the_logit_form_is_explicit(caplog: pytest.LogCaptureFixture) -> None:
    assert _threshold() == 0.0
    with caplog.at_level(logging.WARNING):
        assert _threshold("--threshold", "0.5") == 0.0
        assert _threshold("--threshold", "0.8") == pytest.approx(math.log(4))
        assert _threshold("--logit-threshold", "0.8") == 0.8
        assert _threshold("--probability", "0.8") == pytest.approx(math.log(4))
        assert not caplog.records
        assert _threshold("--threshold", "2") == 2.0  # not a probability: the old logit reading
        assert _threshold("--threshold", "0") == 0.0
    assert len(caplog.records) == 2 and "--logit-threshold" in caplog.records[0].getMessage()
    with pytest.raises(SystemExit):
        _threshold("--threshold", "0.5", "--logit-threshold", "0")


def test_non_binary_masks_are_refused_unless_binarised(tmp_path: Path) -> None:
    root = tmp_path / "soft"
    (root / "images").mkdir(parents=True)
    (root / "masks").mkdir()
    image = np.full((32, 32), 50, np.uint8)
    cv2.imwrite(str(root / "images" / "a.png"), image)
    soft = np.zeros((32, 32), np.uint8)
    soft[10:15, 10:15] = 255
    soft[9, 10:15] = 100  # an interpolated edge: 100/255 = 0.39
    cv2.imwrite(str(root / "masks" / "a.png"), soft)
    with pytest.raises(LwirstError, match=r"not binary.*--mask-threshold"):
        open_dataset(root, "folder", "all")
    half = open_dataset(root, "folder", "all", mask_threshold=0.5)
    low = open_dataset(root, "folder", "all", mask_threshold=0.3)
    assert half.load(0).mask.sum() == 25 and low.load(0).mask.sum() == 30
    assert fingerprint(half) != fingerprint(low)  # other ground truth, other cached results
    with pytest.raises(LwirstError, match=r"\[0, 1\)"):
        half.binarised(1.5)


def test_significant_digits_keep_small_rates() -> None:
    assert significant(3.612345678e-05) == 3.61235e-05
    assert round(3.612345678e-05, 6) == 3.6e-05  # what decimal rounding used to write
    assert round_floats({"a": [0.123456789, 2], "b": float("nan"), "c": True}) == {
        "a": [0.123457, 2], "b": pytest.approx(float("nan"), nan_ok=True), "c": True}
