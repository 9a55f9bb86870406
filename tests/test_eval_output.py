"""What `lwirst evaluate` writes and prints: strict JSON (null, never NaN), labelled thresholds,
a readable Fa at any magnitude, and error messages naming the option to pass. Small synthetic
folders only: no model, no SIRST."""

from __future__ import annotations

import io
import json
import math
from pathlib import Path

import cv2
import numpy as np
import pytest

from lwirst import jsonio
from lwirst.cli import main
from lwirst.datasets import open_dataset
from lwirst.evaluate import EvalResult, evaluate_predictions


def _strict(text: str) -> object:
    def refuse(token: str) -> None:
        raise ValueError(f"non-standard JSON token {token}")

    return json.loads(text, parse_constant=refuse)


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    """Three 32x40 frames with one target each, as a plain images/ + masks/ folder."""
    root = tmp_path / "plain"
    (root / "images").mkdir(parents=True)
    (root / "masks").mkdir()
    for i in range(3):
        image = np.full((32, 40), 40, np.uint8)
        mask = np.zeros((32, 40), np.uint8)
        mask[10 + i:13 + i, 20:23] = 255
        image[mask > 0] = 220
        cv2.imwrite(str(root / "images" / f"f{i}.png"), image)
        cv2.imwrite(str(root / "masks" / f"f{i}.png"), mask)
    return root


def _logits(folder: Path, out: Path, fn=lambda mask: np.where(mask > 0, 3.0, -3.0)) -> Path:
    out.mkdir()
    for path in sorted((folder / "masks").iterdir()):
        mask = cv2.imread(str(path), cv2.IMREAD_GRAYSCALE)
        np.save(out / f"{path.stem}.npy", fn(mask).astype(np.float32))
    return out


def test_jsonio_writes_null_and_reads_nan() -> None:
    data = {"a": float("nan"), "b": [1.5, float("inf"), np.float32("nan")], "c": None, "d": 3, "e": "NaN"}
    text = jsonio.dumps(data)
    assert _strict(text) == {"a": None, "b": [1.5, None, None], "c": None, "d": 3, "e": "NaN"}
    back = jsonio.nan_for_null(_strict(text))
    assert math.isnan(back["a"]) and back["b"][0] == 1.5 and math.isnan(back["b"][1]) and back["e"] == "NaN"


def test_evaluate_outputs_are_strict_json(folder: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    preds = _logits(folder, tmp_path / "preds")
    out = tmp_path / "out"
    assert main(["evaluate", "--data-dir", str(folder), "--dataset", "folder", "--split", "all",
                 "--predictions", str(preds)]) == 0
    printed = _strict(capsys.readouterr().out.strip().splitlines()[-1])
    assert printed["fps"] is None and printed["empty_alarm_rate"] is None  # undefined here: null, not NaN
    assert main(["evaluate", "--data-dir", str(folder), "--dataset", "folder", "--split", "all",
                 "--predictions", str(preds), "--out", str(out)]) == 0
    saved = _strict((out / "metrics.json").read_text())
    assert saved["metrics"]["blobs_per_empty_frame"] is None and saved["metrics"]["pd"] == 1.0
    _strict((out / "curves.json").read_text())
    loaded = EvalResult.load(out)  # null back to NaN where a number is expected
    assert math.isnan(loaded.metrics["fps"]) and math.isnan(loaded.metrics["empty_alarm_rate"])
    assert loaded.metrics["pd"] == 1.0


def test_exports_read_a_clean_empty_frames_iou_as_the_pages_do(folder: Path, tmp_path: Path) -> None:
    """Evaluate's table read n/a for a target-free frame where nothing was found, and its CSV download and
    `--out`'s per_image.csv 1.0 (nIoU's convention): a user averaging the column got nIoU, not an IoU. An
    alarmed empty frame reads 0 everywhere; the record (the cache's, nIoU's) keeps 1."""
    import pandas as pd

    from lwirst import analysis

    empty = np.zeros((32, 40), np.uint8)
    for name in ("g0", "g1"):
        cv2.imwrite(str(folder / "images" / f"{name}.png"), empty)
        cv2.imwrite(str(folder / "masks" / f"{name}.png"), empty)
    preds = _logits(folder, tmp_path / "preds")
    alarm = np.full((32, 40), -3.0, np.float32)
    alarm[2:4, 2:4] = 3.0
    np.save(preds / "g1.npy", alarm)
    result = evaluate_predictions(preds, open_dataset(folder, "folder", "all"))
    assert dict(zip(result.per_image["name"], result.per_image["iou"], strict=True))["g0"] == 1.0
    out = tmp_path / "out"
    assert main(["evaluate", "--data-dir", str(folder), "--dataset", "folder", "--split", "all",
                 "--predictions", str(preds), "--out", str(out)]) == 0
    written = pd.read_csv(out / "per_image.csv").set_index("name")["iou"]
    downloaded = pd.read_csv(io.BytesIO(analysis.per_image_csv({"m": result}))).set_index("name")["iou"]
    exported = {row["name"]: row["iou"] for row in _strict(analysis.results_json({"m": result}))["m"]["per_image"]}
    for table in (written.to_dict(), downloaded.to_dict(), exported):
        assert math.isnan(table["g0"]) if isinstance(table["g0"], float) else table["g0"] is None
        assert table["g1"] == 0.0 and table["f0"] == 1.0


def test_eval_result_round_trip_keeps_nan_curves(tmp_path: Path, folder: Path) -> None:
    result = evaluate_predictions(_logits(folder, tmp_path / "p"), open_dataset(folder, "folder", "all"))
    assert result.per_image["hiou"].tolist() == [1.0, 1.0, 1.0]  # a plugin metric, per image as well
    result.curves["roc_tpr"][0] = float("nan")
    result.per_image.loc[0, "hiou"] = float("nan")  # as on a frame with neither target nor prediction
    result.save(tmp_path / "r")
    _strict((tmp_path / "r" / "curves.json").read_text())
    loaded = EvalResult.load(tmp_path / "r")
    assert math.isnan(loaded.curves["roc_tpr"][0])
    assert loaded.per_image["hiou"].dtype == float and math.isnan(loaded.per_image["hiou"][0])  # not the text ""
    assert loaded.per_image["missed_peaks"].tolist() == result.per_image["missed_peaks"].tolist()


def test_dataset_split_and_size_options_explain_themselves() -> None:
    import argparse

    from lwirst.commands import evaluate as evaluate_command
    from lwirst.commands import train as train_command

    helps = {}
    for module in (evaluate_command, train_command):
        parser = argparse.ArgumentParser()
        module.add_arguments(parser)
        helps |= {(module.__name__, a.dest): a.help or "" for a in parser._actions}
    dataset = helps[("lwirst.commands.evaluate", "dataset")]
    for layout in ("sirst", "basic", "nudt", "irstd1k", "mdfa", "sirst_aug", "folder", "auto", "fusion:a+b"):
        assert layout in dataset
    assert helps[("lwirst.commands.train", "dataset")] == dataset
    split = helps[("lwirst.commands.evaluate", "split")]
    assert "all" in split and "without" in split  # what --split means for a folder with no split lists
    assert "resize" in helps[("lwirst.commands.evaluate", "size")]


def test_a_plain_folder_read_as_sirst_names_the_option(folder: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["evaluate", "--data-dir", str(folder), "--predictions", str(folder / "masks")]) == 1
    err = capsys.readouterr().err
    assert "it has the folder layout; pass --dataset folder" in err and len(err.strip().splitlines()) == 1


def test_evaluate_states_the_protocol_each_image_ran_and_the_flops_it_cost(tmp_path: Path,
                                                                           capsys: pytest.CaptureFixture[str]) -> None:
    """Under "auto" two SIRST-sized frames run resized, a large one as a pyramid (natively, and halved, which is
    SIRST-sized, resized) and a 64x64 one natively (resized it would be enlarged 4x): the summary line says each
    kind with its count (not "auto [256, 256]"; a small frame's "native" hid the pyramid in it), and the FLOPs per
    frame run are THOP's count at each network input actually fed."""
    from lwirst.complexity import count_complexity
    from lwirst.evaluate import evaluate, frame_flops, summary_lines
    from lwirst.inference import Segmenter
    from lwirst.modelcard import demo_network

    root = tmp_path / "mixed"
    (root / "images").mkdir(parents=True)
    (root / "masks").mkdir()
    for name, (h, w) in {"small0": (240, 320), "small1": (200, 256), "large": (420, 500), "tiny": (64, 64)}.items():
        mask = np.zeros((h, w), np.uint8)
        mask[50:53, 60:63] = 255
        cv2.imwrite(str(root / "images" / f"{name}.png"), np.where(mask > 0, 220, 40).astype(np.uint8))
        cv2.imwrite(str(root / "masks" / f"{name}.png"), mask)
    network = demo_network()
    result = evaluate(Segmenter.from_module(network, protocol="auto"), open_dataset(root, "folder", "all"),
                      use_cache=False, keep_saliency=False)
    assert result.protocol.frames.applied == {"pyramid": 1, "resize": 2, "native": 1}
    assert "protocol auto: 1 of 4 images as a pyramid, 1 native, 2 resized to 256×256  " in summary_lines(result)[0]
    assert result.protocol.applied.short.startswith("auto: 1 as a pyramid, 1 native, 2 resized")
    ran = frame_flops(result, count_complexity(network).flops)
    assert ran is not None and not ran.at_paper_size
    exact = {hw: count_complexity(network, hw).flops for hw in ((256, 256), (424, 504), (64, 64))}  # padded to 8
    assert {hw: n for hw, (n, _) in ran.by_input.items()} == {(256, 256): 3, (424, 504): 1, (64, 64): 1}
    assert all(math.isclose(cost, exact[hw], rel_tol=1e-9) for hw, (_, cost) in ran.by_input.items())
    assert math.isclose(ran.mean, (3 * exact[256, 256] + exact[424, 504] + exact[64, 64]) / 4, rel_tol=1e-9)
