"""`lwirst segment` outputs and the drawing functions behind them (shared with the dashboard)."""

from __future__ import annotations

import argparse
import json
from collections.abc import Iterator
from pathlib import Path

import cv2
import numpy as np
import pandas as pd
import pytest
import torch

from lwirst.checkpoint import save_checkpoint
from lwirst.cli import main
from lwirst.commands import segment as segment_command
from lwirst.drawing import (
    CORRECT_BGR,
    DETECTION_BGR,
    FALSE_ALARM_BGR,
    MISSED_BGR,
    draw_targets,
    evaluation_overlay,
    heatmap,
    mask_image,
    overlay,
)
from lwirst.errors import LwirstError
from lwirst.model import LWIRSTNet
from lwirst.postprocess import COLUMNS, detect, logit_to_probability
from lwirst.tracking import Tracker


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    # `--threads 1` in the commands sets torch's global thread count; put it back afterwards.
    previous = torch.get_num_threads()
    torch.manual_seed(0)
    net = LWIRSTNet().eval()
    path = tmp_path_factory.mktemp("model") / "net.safetensors"
    save_checkpoint(path, net, net.config)
    yield path
    torch.set_num_threads(previous)


def segment(checkpoint: Path, *args: str) -> int:
    return main(["segment", *args, "--model", str(checkpoint), "--backend", "torch", "--threads", "1"])


def scene(h: int = 60, w: int = 90) -> np.ndarray:
    rng = np.random.default_rng(1)
    image = rng.normal(60, 5, (h, w))
    image[20:23, 30:33] = 250
    return np.clip(image, 0, 255).astype(np.uint8)


def test_segment_writes_every_output(tmp_path: Path, checkpoint: Path, capsys: pytest.CaptureFixture[str]) -> None:
    a, b = tmp_path / "a" / "scene.png", tmp_path / "b" / "scene.png"
    a.parent.mkdir()
    b.parent.mkdir()
    cv2.imwrite(str(a), scene())
    cv2.imwrite(str(b), cv2.cvtColor(scene(50, 70), cv2.COLOR_GRAY2BGR).astype(np.uint16) * 257)  # 16-bit
    out = tmp_path / "out"
    rc = segment(checkpoint, str(a), str(b), "--out", str(out), "--probability", "0.5", "--min-size", "1",
                 "--protocol", "native", "--heatmap-scale", "logit")
    assert rc == 0, capsys.readouterr().err
    for stem, (h, w) in (("scene", (60, 90)), ("scene-2", (50, 70))):  # same name twice: no overwrite
        mask = cv2.imread(str(out / f"{stem}_mask.png"), cv2.IMREAD_UNCHANGED)
        assert mask.shape == (h, w) and set(np.unique(mask).tolist()) <= {0, 255}
        assert cv2.imread(str(out / f"{stem}_overlay.png")).shape == (h, w, 3)
        heat = cv2.imread(str(out / f"{stem}_heatmap.png"))
        assert heat.shape[0] >= h and heat.shape[1] > w  # colour bar on the right (may be taller)
        table = pd.read_csv(out / f"{stem}_targets.csv")
        assert list(table.columns) == list(COLUMNS)
        assert (table["size"] > 1).all() and int(table["size"].sum()) == int((mask == 255).sum())
        record = json.loads((out / f"{stem}_targets.json").read_text())
        assert (record["width"], record["height"]) == (w, h) and record["threshold"] == 0.0
        assert record["threshold_probability"] == 0.5  # the logit keeps its key; the probability is beside it
        assert record["grow_to_probability"] == pytest.approx(logit_to_probability(record["grow_to"]))
        assert 0 < record["grow_to_probability"] < 0.5
        assert record["filter"]["min_size"] == 1 and len(record["targets"]) == len(table)
        assert record["found"] == len(table) + len(record["dropped"])
        assert all(t["size"] <= 1 and {"x", "y", "id"} <= t.keys() for t in record["dropped"])  # where, and why
        assert record["model"]["protocol"] == "native"
        assert record["ran"] == {"protocol": "native", "mirrored": False, "palette": None, "as_colour": False,
                                 "clearance": 0.0, "repaired": []}  # a SIRST-sized frame: no peak margin
    printed = capsys.readouterr().out
    assert printed.count(" detections") == 2 and printed.count(" (ran natively) -> ") == 2  # as it ran
    assert printed.startswith("ran: model ") and " protocol native" in printed.splitlines()[0]  # what ran, once
    jet = tmp_path / "c" / "jet.png"  # "auto" and a palette: the record says what they resolved to
    jet.parent.mkdir()
    cv2.imwrite(str(jet), cv2.applyColorMap(scene(), cv2.COLORMAP_JET))
    assert segment(checkpoint, str(jet), "--out", str(out)) == 0
    # what "auto" resolved to (a 90x60 frame, under a quarter of the model's area: natively), and the palette it
    # decoded, on the screen too (not only in the record)
    assert " (ran natively; decoded from its jet palette) -> " in capsys.readouterr().out
    assert json.loads((out / "jet_targets.json").read_text())["ran"] == {"protocol": "native", "mirrored": False,
                                                                        "palette": "jet", "as_colour": False,
                                                                        "clearance": 0.0, "repaired": []}


def test_segment_reports_bad_inputs(tmp_path: Path, checkpoint: Path, capsys: pytest.CaptureFixture[str]) -> None:
    good = tmp_path / "good.png"
    cv2.imwrite(str(good), scene())
    rc = segment(checkpoint, str(tmp_path / "missing.png"), str(good), "--out", str(tmp_path / "o"))
    err = capsys.readouterr().err  # a path that is not there: refused before the model loads, nothing written
    assert rc == 1 and "missing.png: no such file" in err and not (tmp_path / "o").exists()
    bad = tmp_path / "bad.png"
    bad.write_text("not an image")
    rc = segment(checkpoint, str(bad), str(good), "--out", str(tmp_path / "o"))
    err = capsys.readouterr().err
    assert rc == 1 and "bad.png: not a readable image" in err and "1 of 2 images failed" in err
    assert (tmp_path / "o" / "good_overlay.png").exists()  # the good image was still processed
    assert segment(checkpoint, str(bad), "--out", str(tmp_path / "none")) == 1  # every image failed:
    assert not (tmp_path / "none").exists()  # no empty output folder left behind
    tiny = tmp_path / "tiny.png"
    cv2.imwrite(str(tiny), np.full((1, 1), 200, np.uint8))  # segmented as "0 targets", where the dashboard refuses it
    assert segment(checkpoint, str(tiny), str(bad), "--out", str(tmp_path / "t")) == 1
    err = capsys.readouterr().err  # both refused from their headers, before the model loaded: no "ran:" line
    assert "tiny.png: 1x1 is too small to segment; use an image at least 8x8 pixels" in err
    assert "2 of 2 images failed" in err and not (tmp_path / "t").exists()
    rc = segment(checkpoint, str(good), "--out", str(tmp_path / "o"), "--min-size", "9", "--max-size", "3")
    assert rc == 1 and "every target would be dropped" in capsys.readouterr().err
    rc = segment(checkpoint, str(good), "--out", str(good / "sub"))
    assert rc == 1 and "cannot create the output folder" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        segment(checkpoint, str(good), "--out", str(tmp_path), "--threshold", "0", "--probability", "0.5")
    rc = segment(checkpoint, str(good), "--out", str(tmp_path / "o2"), "--bf16")  # --backend torch
    assert rc == 1 and "bfloat16 inference runs on the openvino backend only" in capsys.readouterr().err


def box_colours(image: np.ndarray, box: tuple[int, int, int, int]) -> set[tuple[int, int, int]]:
    """Colours on the ring just outside a target's box (where `_box` draws)."""
    x, y, w, h = box
    ring = [image[y - 3, x + w // 2], image[y + h + 2, x + w // 2], image[y + h // 2, x - 3]]
    return {tuple(int(c) for c in px) for px in ring}


def test_evaluation_overlay_uses_the_outcome_palette() -> None:
    logits = np.full((80, 80), -5.0, np.float32)
    logits[10:13, 10:13] = 2.0  # matches GT exactly -> correct
    logits[40:42, 60:62] = 2.0  # no GT here -> false alarm
    gt = np.zeros((80, 80), bool)
    gt[11:13, 11:14] = True
    gt[60:63, 20:23] = True  # never predicted -> missed
    image, match = evaluation_overlay(np.full((80, 80), 30, np.uint8), detect(logits), gt)
    assert (len(match.correct), len(match.false_alarms), len(match.missed)) == (1, 1, 1)
    assert CORRECT_BGR in box_colours(image, match.correct[0].box)
    assert FALSE_ALARM_BGR in box_colours(image, match.false_alarms[0].box)
    assert MISSED_BGR in box_colours(image, match.missed[0].box)
    with pytest.raises(LwirstError, match="ground truth"):
        evaluation_overlay(np.zeros((80, 80), np.uint8), detect(logits), gt[:40])


def test_match_is_one_to_one_and_uses_distance() -> None:
    logits = np.full((40, 40), -5.0, np.float32)
    logits[10, 10] = logits[10, 12] = 1.0  # two predictions near one GT pixel
    gt = np.zeros((40, 40), bool)
    gt[10, 11] = True
    _, match = evaluation_overlay(np.zeros((40, 40), np.uint8), detect(logits), gt)
    assert len(match.correct) == 1 and len(match.false_alarms) == 1 and not match.missed


@pytest.mark.parametrize("side", [128, 640, 1280, 4000])
def test_the_colour_bar_title_stays_clear_of_its_top_label(side: int) -> None:
    """On a 1280x1024 frame "prob" was drawn over the "1" tick."""
    logits = np.full((side * 4 // 5, side), -6.0, np.float32)
    logits[10:14, 10:14] = 6.0
    panel = heatmap(logits)[:, side:].astype(int)
    bar = np.flatnonzero((panel.max(axis=2) - panel.min(axis=2) > 40).any(axis=0))  # the colour ramp's columns
    text = panel[:, bar.max() + 1:]  # ticks and labels (the title runs across them too)
    inked = (text < 128).any(axis=(1, 2))[: panel.shape[0] // 3]
    runs = np.flatnonzero(np.diff(inked.astype(int)) == 1)  # rows where a run of ink starts
    assert len(runs) + int(inked[0]) >= 2, "title and top label run together"


def test_heatmap_scales_and_mask() -> None:
    logits = np.linspace(-4, 4, 64 * 64, dtype=np.float32).reshape(64, 64)
    for scale in ("probability", "logit"):
        bar = heatmap(logits, scale)
        plain = heatmap(logits, scale, colorbar=False)
        assert bar.dtype == np.uint8 and bar.shape[0] == 64 and bar.shape[1] > 64
        np.testing.assert_array_equal(bar[:, :64], plain)
    # Symmetric logit scale: logit 0 sits at the colormap's middle.
    zero = heatmap(np.array([[-2.0, 0.0, 2.0]], np.float32), "logit", colorbar=False)[0, 1]
    mid = cv2.applyColorMap(np.array([[128]], np.uint8), cv2.COLORMAP_INFERNO)[0, 0]
    assert np.abs(zero.astype(int) - mid.astype(int)).max() <= 3
    with pytest.raises(LwirstError, match="scale"):
        heatmap(logits, "percent")
    assert mask_image(np.array([[True, False]])).tolist() == [[255, 0]]


def test_a_heatmap_file_boxes_its_kept_targets_on_a_large_frame_and_leaves_their_pixels() -> None:
    """A 3-pixel target of a 1280x1024 heatmap was a speck in the file: its box is drawn, around it, not over it,
    and left of the colour bar, which is the same as without targets."""
    logits = np.full((1024, 1280), -4.0, np.float32)
    logits[500:503, 700:703] = 3.0
    kept = detect(logits)
    plain, boxed = heatmap(logits), heatmap(logits, targets=kept)
    assert plain.shape == boxed.shape
    x, y, w, h = kept[0].box
    np.testing.assert_array_equal(boxed[y:y + h, x:x + w], plain[y:y + h, x:x + w])
    np.testing.assert_array_equal(boxed[:, 1280:], plain[:, 1280:])
    changed = np.argwhere((boxed != plain).any(axis=2))
    assert len(changed) and changed[:, 1].max() < 1280
    assert DETECTION_BGR in {tuple(int(c) for c in px) for px in boxed[changed[:, 0], changed[:, 1]]}
    near = np.abs(changed - np.array([y + 1, x + 1])).max(axis=1)  # every change is the box around the target
    assert near.max() <= 1280 // 40


def test_a_large_frame_resized_is_said_to_shrink_its_targets_once_and_a_frame_at_its_own_size_is_not(
        tmp_path: Path, checkpoint: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """`--protocol resize` squeezes a 1024x1280 frame 4x (a 3-pixel target below a pixel): each such image's line
    says how much, the first one why it matters and what runs it at its own size; a frame no larger than twice
    the model's area, or one run natively, says nothing of it; a frame of the model's size says it was not resized."""
    sizes = {"big1.png": (1024, 1280), "big2.png": (1024, 1280), "small.png": (300, 300), "model.png": (256, 256)}
    for name, (h, w) in sizes.items():
        cv2.imwrite(str(tmp_path / name), scene(h, w))
    images = [str(tmp_path / name) for name in sizes]
    assert segment(checkpoint, *images, "--out", str(tmp_path / "r"), "--protocol", "resize") == 0
    lines = capsys.readouterr().out.splitlines()
    said = [next(line for line in lines if line.startswith(image)) for image in images]
    assert [line.count("(ran resized, ÷5 across, ÷4 down)") for line in said] == [1, 1, 0, 0]
    assert "(ran resized)" in said[2] and "(ran at the model size)" in said[3]
    notes = [line for line in lines if line.startswith("note: ") and " ran " in line]
    assert notes == ["note: big1.png ran resized to 256×256, ÷5 across, ÷4 down: a target under 5×4 pixels shrinks "
                     "below one; --protocol auto (the default) or native runs frames over twice the model's area at "
                     "their own size"]
    assert segment(checkpoint, *images[:1], "--out", str(tmp_path / "n"), "--protocol", "native") == 0
    assert "÷" not in capsys.readouterr().out


def test_a_frame_where_nothing_rose_is_told_once_of_black_hot_as_single_frame_tells_it(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A black-hot camera's frame gave "0 detections" and nothing more on the command line, where Single frame
    names the polarity setting: the first such frame gets the note, once, and not under --polarity black-hot."""
    from lwirst.paths import SAMPLES_DIR

    frame = cv2.imread(str(SAMPLES_DIR / "images" / "synth_00000.png"), cv2.IMREAD_GRAYSCALE)
    for name in ("dark1.png", "dark2.png"):
        cv2.imwrite(str(tmp_path / name), 255 - frame)  # hot targets dark
    images = [str(tmp_path / "dark1.png"), str(tmp_path / "dark2.png")]
    base = ["segment", *images, "--backend", "torch", "--threads", "1"]
    assert main([*base, "--out", str(tmp_path / "w")]) == 0
    out = capsys.readouterr().out
    assert [line for line in out.splitlines() if "black-hot" in line] == [
        "note: nothing rose above the threshold in dark1.png; if the camera shows hot targets dark (black-hot), run "
        "with --polarity black-hot"]
    assert main([*base, "--out", str(tmp_path / "b"), "--polarity", "black-hot"]) == 0
    out = capsys.readouterr().out
    assert "note: nothing rose" not in out and "0 detections" not in out  # inverted, its targets are found


def test_a_frame_whose_peak_is_just_under_a_raised_threshold_says_how_far_and_no_more(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A threshold set above a frame's targets found nothing, and the note sent the user to black-hot and the ignore
    zones: the frame's line says how far under the threshold the map's highest point is, and the note comes only
    where the network saw nothing within HOT_MARGIN of it."""
    from lwirst.paths import SAMPLES_DIR
    from lwirst.postprocess import HOT_MARGIN

    base = ["segment", str(SAMPLES_DIR / "images" / "synth_00000.png"), "--backend", "torch", "--threads", "1"]
    assert main([*base, "--out", str(tmp_path / "a")]) == 0
    capsys.readouterr()
    peak = float(pd.read_csv(tmp_path / "a" / "synth_00000_targets.csv")["peak"].max())
    for under, noted in ((0.5, False), (HOT_MARGIN + 1, True)):
        assert main([*base, "--out", str(tmp_path / f"t{under}"), "--logit-threshold", str(peak + under)]) == 0
        out = capsys.readouterr().out
        line = next(line for line in out.splitlines() if line.startswith(base[1]))
        assert ": 0 detections; its highest point, " in line and f"is {under:.2f} logit under the threshold" in line
        assert ("note: nothing rose" in out) == noted, out


def test_a_saturated_point_target_replaced_as_a_stuck_pixel_is_said_where(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A 14-bit frame's one-pixel target at full scale (16383) with no blur reads as a stuck pixel: the stretch gives
    it its neighbours' median, and it was erased without a word. The frame's line says that spots were replaced,
    a note says where and what else reads the same, and the targets JSON lists each spot; Single frame says it too."""
    rng = np.random.default_rng(5)
    raw = (1330 + rng.normal(0, 30, (256, 256))).clip(0, 16000).astype(np.uint16)
    raw[40, 60] = raw[200, 150:152] = 16383
    cv2.imwrite(str(tmp_path / "sat.png"), raw)
    base = ["segment", str(tmp_path / "sat.png"), "--backend", "torch", "--threads", "1", "--out", str(tmp_path / "o")]
    assert main(base) == 0
    out = capsys.readouterr().out
    assert "; 2 defect spot(s) replaced) -> " in out
    note = next(line for line in out.splitlines() if line.startswith("note: in sat.png, "))
    assert "2 spots of one or two pixels" in note and "at (60, 40), (150, 200)" in note
    assert "a target sharp enough to sit on one or two saturated pixels reads the same" in note
    assert json.loads((tmp_path / "o" / "sat_targets.json").read_text())["ran"]["repaired"] == [[60, 40], [150, 200]]


def test_a_raw_frame_whose_burnt_in_text_took_its_range_is_pointed_to_the_ignore_zones(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A 14-bit frame's timestamp at full scale took its whole stretch, and the note where nothing rose pointed to
    black-hot only: it names --ignore first; with the text ignored, the target is found."""
    from lwirst.paths import SAMPLES_DIR

    frame = cv2.imread(str(SAMPLES_DIR / "images" / "synth_00000.png"), cv2.IMREAD_GRAYSCALE)
    raw = 7000 + frame.astype(np.uint16)
    raw[2:14, 4:120] = np.where(np.indices((12, 116)).sum(axis=0) % 3 == 0, 16383, 7000)
    cv2.imwrite(str(tmp_path / "raw.png"), raw)
    base = ["segment", str(tmp_path / "raw.png"), "--backend", "torch", "--threads", "1"]
    assert main([*base, "--out", str(tmp_path / "a")]) == 0
    notes = [line for line in capsys.readouterr().out.splitlines() if line.startswith("note: nothing rose")]
    assert notes == ["note: nothing rose above the threshold in raw.png; if burnt-in text, a logo or a reticle "
                     "sets this raw frame's range, --ignore X,Y,W,H over it sets it free; if the camera shows hot "
                     "targets dark (black-hot), run with --polarity black-hot"]
    assert main([*base, "--out", str(tmp_path / "b"), "--ignore", "0,0,100%,16"]) == 0
    out = capsys.readouterr().out
    assert "note: nothing rose" not in out and "0 detections" not in out


@pytest.mark.parametrize(("hw", "protocol", "factor"), [
    ((1024, 1280), "resize", "÷5 across, ÷4 down"), ((512, 512), "resize", "÷2 each way"),
    ((362, 362), "resize", None), ((1024, 1280), "native", None), ((1024, 1280), "pyramid", None),
    ((256, 4096), "resize", "÷16 across, ÷1 down"), ((3000, 4000), "resize", "÷16 across, ÷12 down")])
def test_how_much_a_resized_frame_shrinks_is_said_beyond_what_auto_resizes(
        hw: tuple[int, int], protocol: str, factor: str | None) -> None:
    from lwirst.inference import shrink_note, shrunk_by

    assert shrunk_by(hw, protocol, (256, 256)) == factor
    assert (shrink_note(hw, protocol, (256, 256)) is None) == (factor is None)


def test_overlay_with_tracks_does_not_touch_input() -> None:
    logits = np.full((64, 64), -3.0, np.float32)
    logits[30:33, 30:33] = 1.0
    kept = detect(logits)
    tracks = Tracker(min_hits=1).update(kept)
    image = np.full((64, 64), 20, np.uint16) * 100
    before = image.copy()
    drawn = overlay(image, kept, tracks, fps=30.0)
    assert drawn.shape == (64, 64, 3) and drawn.dtype == np.uint8
    np.testing.assert_array_equal(image, before)
    assert DETECTION_BGR in box_colours(drawn, kept[0].box)


@pytest.mark.parametrize("colour", [CORRECT_BGR, MISSED_BGR, FALSE_ALARM_BGR, DETECTION_BGR])
def test_box_labels_sit_on_a_plate_with_contrasting_ink_on_a_frame_of_their_own_colour(colour) -> None:
    """Coloured text on a dark frame of the same hue was unreadable: the label is ink on a plate now."""
    from lwirst.drawing import _marks

    frame = np.empty((128, 128, 3), np.uint8)
    frame[:] = np.asarray(colour, np.uint8) // 2  # a dark frame of the outcome's hue
    before = frame.copy()
    _marks(frame, [((60, 60, 3, 3), colour, "#1 ok")], 1)
    label = frame[:60][(frame[:60] != before[:60]).any(axis=2)]  # the pixels the label changed, above the box
    luma = label.astype(float) @ [0.114, 0.587, 0.299]
    assert (label == colour).all(axis=1).mean() > 0.4  # mostly plate
    assert luma.max() - luma.min() >= 100  # and ink that stands out on it


def test_segment_reads_folders_and_its_output_scores_with_evaluate(
        tmp_path: Path, checkpoint: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A folder input is its images (sorted, not recursive); the output folder, with --save-logits,
    feeds `evaluate --predictions` directly: logits preferred to masks, the other outputs ignored."""
    from lwirst.datasets import open_dataset
    from lwirst.evaluate import evaluate_predictions

    data = tmp_path / "data"
    (data / "images" / "nested").mkdir(parents=True)
    (data / "masks").mkdir()
    for i in range(3):
        cv2.imwrite(str(data / "images" / f"f{i}.png"), scene())
        mask = np.zeros((60, 90), np.uint8)
        mask[20:23, 30:33] = 255
        cv2.imwrite(str(data / "masks" / f"f{i}.png"), mask)
    cv2.imwrite(str(data / "images" / "nested" / "deeper.png"), scene())  # not recursive
    (data / "images" / "notes.txt").write_text("not an image")
    out = tmp_path / "out"
    assert segment(checkpoint, str(data / "images"), "--out", str(out), "--save-logits") == 0, capsys.readouterr().err
    assert sorted(p.name for p in out.glob("*_mask.png")) == ["f0_mask.png", "f1_mask.png", "f2_mask.png"]
    logits = np.load(out / "f1_logits.npy")
    assert logits.shape == (60, 90) and logits.dtype == np.float32
    capsys.readouterr()
    dataset = open_dataset(data, "folder", "all")
    result = evaluate_predictions(out, dataset)
    read_as = result.protocol.run.input
    assert "logits (_logits.npy)" in read_as and "12 overlay/heatmap/targets" in read_as
    assert 0.0 <= result.metrics["auc"] <= 1.0 and result.metrics["images"] == 3
    for name in ("f0", "f1", "f2"):
        (out / f"{name}_logits.npy").unlink()
    masks_only = evaluate_predictions(out, dataset)  # without --save-logits: segment's masks
    assert "masks (_mask.png)" in masks_only.protocol.run.input
    assert main(["evaluate", "--data-dir", str(data), "--dataset", "folder", "--split", "all",
                 "--predictions", str(out)]) == 0
    assert "an lwirst segment output: masks" in capsys.readouterr().out
    (data / "train.txt").write_text("f0\nf1\n")
    (data / "test.txt").write_text("f2\n")  # the folder segmented whole, scored on one split of it
    part = evaluate_predictions(out, open_dataset(data, "folder", "test"))
    assert part.metrics["images"] == 1
    assert "the outputs of 2 image(s) outside the split ignored" in part.protocol.run.input
    (out / "f0_other.png").write_bytes((out / "f0_mask.png").read_bytes())  # an unknown file stays an error
    with pytest.raises(LwirstError, match=r"match no image of the split: f0_other\.png"):
        evaluate_predictions(out, dataset)


def test_segment_folder_input_keeps_the_output_checks(tmp_path: Path, checkpoint: Path,
                                                      capsys: pytest.CaptureFixture[str]) -> None:
    folder = tmp_path / "frames"
    folder.mkdir()
    cv2.imwrite(str(folder / "a.png"), scene())
    assert segment(checkpoint, str(folder), "--out", str(folder / "out")) == 1
    assert "lies inside the input folder" in capsys.readouterr().err
    empty = tmp_path / "empty"
    empty.mkdir()
    assert segment(checkpoint, str(empty), "--out", str(tmp_path / "o")) == 1
    assert "holds no" in capsys.readouterr().err


def test_a_folders_entries_that_are_no_files_are_named_not_passed_over(tmp_path: Path, checkpoint: Path,
                                                                      caplog: pytest.LogCaptureFixture) -> None:
    """A named pipe, a looping link, a broken link and a folder, each named as a PNG, were left out without a word;
    the readable frame beside them is segmented."""
    import os

    folder = tmp_path / "frames"
    folder.mkdir()
    cv2.imwrite(str(folder / "a.png"), scene())
    os.mkfifo(folder / "b.png")
    (folder / "c.png").symlink_to("c.png")  # a link to itself
    (folder / "d.png").symlink_to(tmp_path / "gone.png")
    (folder / "e.png").mkdir()
    assert segment(checkpoint, str(folder), "--out", str(tmp_path / "out")) == 0
    assert ("skipped 4 entries named as images that are not regular files (b.png, c.png, d.png, e.png): a named "
            "pipe, a socket, a folder, or a broken or looping link") in caplog.text
    assert sorted(p.name for p in (tmp_path / "out").glob("*_overlay.png")) == ["a_overlay.png"]


def test_a_folders_images_of_other_formats_are_named_not_passed_over(tmp_path: Path, checkpoint: Path,
                                                                    capsys: pytest.CaptureFixture[str],
                                                                    caplog: pytest.LogCaptureFixture) -> None:
    """A valid WebP beside PNGs was left out without a word, and named alone it read "truncated, corrupt"."""
    folder = tmp_path / "frames"
    folder.mkdir()
    cv2.imwrite(str(folder / "a.png"), scene())
    cv2.imwrite(str(folder / "b.webp"), scene())
    assert segment(checkpoint, str(folder), "--out", str(tmp_path / "out")) == 0
    assert "skipped 1 file(s) of image formats this project does not read (b.webp)" in caplog.text
    assert segment(checkpoint, str(folder / "b.webp"), "--out", str(tmp_path / "out2")) == 1
    err = capsys.readouterr().err
    assert "a WEBP image, a format this project does not read; convert it to PNG or TIFF" in err
    assert "corrupt" not in err


def test_a_long_name_that_fits_is_written(tmp_path: Path, checkpoint: Path,
                                         capsys: pytest.CaptureFixture[str]) -> None:
    """A 240-character name whose outputs (249 bytes) fit failed: their temporary names (259 bytes) did not."""
    image = tmp_path / f"{'a' * 240}.png"
    cv2.imwrite(str(image), scene())
    assert segment(checkpoint, str(image), "--out", str(tmp_path / "out")) == 0, capsys.readouterr().err
    assert (tmp_path / "out" / f"{'a' * 240}_targets.json").is_file()
    assert [p.name for p in (tmp_path / "out").iterdir() if p.name.startswith(".")] == []  # no temporary left


def test_an_image_named_twice_is_segmented_once(tmp_path: Path, checkpoint: Path,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    folder = tmp_path / "frames"
    folder.mkdir()
    for name in ("a.png", "b.png"):
        cv2.imwrite(str(folder / name), scene())
    out = tmp_path / "out"
    # a by itself, again through another spelling of its path, and through its folder with b
    assert segment(checkpoint, str(folder / "a.png"), str(folder / ".." / "frames" / "a.png"), str(folder),
                   "--out", str(out)) == 0
    assert "2 image(s) named more than once: each is segmented once" in capsys.readouterr().out
    assert sorted(path.name for path in out.glob("*_mask.png")) == ["a_mask.png", "b_mask.png"]


@pytest.mark.parametrize(("options", "warned"), [(["--grow-to", "0.7"], True), (["--grow-to", "0.5"], True),
                                                 (["--grow-to", "0.3"], False),
                                                 (["--probability", "0.9", "--grow-to", "0.8"], False)])
def test_a_mask_threshold_not_below_the_threshold_is_said_to_grow_nothing(
        options: list[str], warned: bool, capsys: pytest.CaptureFixture[str]) -> None:
    parser = argparse.ArgumentParser()
    segment_command.add_postprocess_arguments(parser)
    args = parser.parse_args(options)
    grow_to = segment_command.growth_from_args(args)
    assert grow_to is not None and ("so none is grown" in capsys.readouterr().err) == warned


def test_output_stems_never_take_another_images_stem() -> None:
    """x.tif became x-2, whose outputs were x-2.png's: the run was refused with a name the user never chose."""
    images = [Path("x.png"), Path("x.tif"), Path("x-2.png"), Path("b/x.png")]
    assert segment_command.output_stems(images) == ["x", "x-3", "x-2", "x-4"]


def test_an_interrupted_segment_run_goes_on_with_resume(tmp_path: Path, checkpoint: Path,
                                                        capsys: pytest.CaptureFixture[str]) -> None:
    """An interrupted folder run could only be redone whole (--force): --resume skips the images with all their
    outputs and writes the others, replacing what the interruption left of them."""
    folder, out = tmp_path / "frames", tmp_path / "out"
    folder.mkdir()
    for i in range(3):
        cv2.imwrite(str(folder / f"f{i}.png"), scene())
    assert segment(checkpoint, str(folder), "--out", str(out)) == 0
    kept = {p.name: p.stat().st_mtime_ns for p in out.iterdir() if not p.name.startswith("f2")}
    (out / "f2_targets.json").unlink()  # as an interruption during f2's outputs leaves them
    capsys.readouterr()
    assert segment(checkpoint, str(folder), "--out", str(out)) == 1  # refused: outputs exist
    assert "already exists" in capsys.readouterr().err
    assert segment(checkpoint, str(folder), "--out", str(out), "--resume") == 0
    printed = capsys.readouterr().out
    assert "--resume: 2 of 3 images already have all their outputs; skipped" in printed
    assert "f2.png: " in printed and "f0.png: " not in printed
    assert (out / "f2_targets.json").is_file()
    assert {p.name: p.stat().st_mtime_ns for p in out.iterdir() if not p.name.startswith("f2")} == kept
    assert segment(checkpoint, str(folder), "--out", str(out), "--resume", "--force") == 1
    assert "--resume skips the images already done and --force redoes them" in capsys.readouterr().err


@pytest.mark.parametrize("changed", [["--probability", "0.9"], ["--confirm", "off"], ["--margin", "off"],
                                     ["--protocol", "native"], ["--min-size", "2"], ["--grow-to", "off"]])
def test_resume_refuses_outputs_written_with_other_settings(tmp_path: Path, checkpoint: Path, changed: list[str],
                                                           capsys: pytest.CaptureFixture[str]) -> None:
    """A run resumed at another threshold, model or protocol went on without a word: the folder then held two
    runs' results under one name, the per-image CSVs saying nothing of which."""
    folder, out = tmp_path / "frames", tmp_path / "out"
    folder.mkdir()
    for i in range(2):
        cv2.imwrite(str(folder / f"f{i}.png"), scene())
    assert segment(checkpoint, str(folder / "f0.png"), "--out", str(out)) == 0  # as if stopped after f0
    capsys.readouterr()
    assert segment(checkpoint, str(folder), "--out", str(out), "--resume", *changed) == 1
    said = capsys.readouterr().err
    assert "f0_targets.json was written with other settings" in said and not (out / "f1_targets.json").exists()
    assert f"({segment_command.RESUMED_SETTINGS[_changed_key(changed)]}: " in said  # named as the command takes it
    record = json.loads((out / "f0_targets.json").read_text())
    older = {k: v for k, v in record.items() if k != "grow_to"}  # as written before mask growth was recorded
    (out / "f0_targets.json").write_text(json.dumps(older))
    assert segment(checkpoint, str(folder), "--out", str(out), "--resume") == 1
    assert "was written by an earlier lwirst (it records no grow_to)" in capsys.readouterr().err
    (out / "f0_targets.json").write_text(json.dumps(record))
    assert segment(checkpoint, str(folder), "--out", str(out), "--resume") == 0  # the same settings go on
    assert (out / "f1_targets.json").is_file()


def _changed_key(options: list[str]) -> str:
    """The `_targets.json` setting an option changes."""
    return {"--probability": "threshold", "--confirm": "confirm", "--margin": "margin", "--protocol": "protocol",
            "--min-size": "filter", "--grow-to": "grow_to"}[options[0]]


def test_a_frame_with_truth_boxes_its_outcomes() -> None:
    """The sample video scored 121 of 128 target-frames, yet every box was the one detection colour and the 7
    misses were nowhere on it: with outcomes, a found target is boxed correct, a box that found nothing false
    alarm, and each missed target gets a box of its own."""
    from lwirst.drawing import FrameOutcomes

    image = np.full((120, 160), 40, np.uint8)
    logits = np.full((120, 160), -9.0, np.float32)
    logits[30:33, 40:43] = 9.0  # found
    logits[80:83, 120:123] = 9.0  # a false alarm
    kept = detect(logits, 0.0)
    hit = next(t for t in kept if t.x < 60)
    drawn = overlay(image, kept, outcomes=FrameOutcomes(frozenset({hit.id}), ((100.0, 20.0),)))
    false = next(t for t in kept if t.id != hit.id)
    assert CORRECT_BGR in box_colours(drawn, hit.box) and DETECTION_BGR not in box_colours(drawn, hit.box)
    assert FALSE_ALARM_BGR in box_colours(drawn, false.box)
    assert MISSED_BGR in box_colours(drawn, (99, 19, 3, 3))
    plain = overlay(image, kept)  # no truth: detections, as before
    assert box_colours(plain, hit.box) == {DETECTION_BGR} == box_colours(plain, false.box)


def test_a_label_never_covers_a_neighbouring_target_or_label() -> None:
    """Four targets a few pixels apart (SIRST Misc_29): each label was put above its box whatever lay there,
    hiding the target above and running into its label. Each plate now covers no box and no other plate, and
    stays against its own box (at a corner where its sides are taken)."""
    from lwirst.drawing import _frame_of, _marks

    def _overlap(a: tuple[int, int, int, int], b: tuple[int, int, int, int]) -> int:
        return max(0, min(a[2], b[2]) - max(a[0], b[0]) + 1) * max(0, min(a[3], b[3]) - max(a[1], b[1]) + 1)

    frame = np.zeros((128, 128, 3), np.uint8)
    boxes = [(40, 60, 3, 3), (40, 48, 3, 3), (52, 60, 3, 3), (52, 48, 2, 2)]
    marks = [(box, CORRECT_BGR, f"#{i} ok") for i, box in enumerate(boxes, 1)]
    plates = _marks(frame, marks, 1)
    rects = [_frame_of(frame, box, 1) for box in boxes]
    assert _overlap((rects[0][0], rects[0][1] - 14, rects[0][2], rects[0][1] - 3), rects[1])  # above #1: #2
    assert len(plates) == 4
    band = (0, 0, 127, 40)  # a text band drawn before (the "ok 1 miss 0 FA 0" summary): labels keep clear of it
    assert not any(_overlap(plate, band) for plate in _marks(frame.copy(), marks, 1, [band]))
    for i, plate in enumerate(plates):
        assert not any(_overlap(plate, rect) for rect in rects)
        assert not any(_overlap(plate, other) for j, other in enumerate(plates) if j != i)
        assert min(plate) >= 0 and max(plate[2], plate[3]) < 128
    # against its own box, past the 1-px halo (Misc_29's went up to 38 px off): here all but the last, placed where
    # every place against its box was taken by the others
    offs = [max(p[0] - x1, x0 - p[2], p[1] - y1, y0 - p[3]) for p, (x0, y0, x1, y1) in zip(plates, rects, strict=True)]
    assert offs[:3] == [2, 2, 2], offs


def test_a_frame_of_many_detections_is_boxed_without_labels_and_fast() -> None:
    """An untrained network's hundreds of blobs: every one boxed, none labelled (tags would hide the frame), in
    well under a second (placing each label clear of all others took minutes)."""
    import time

    from lwirst.drawing import _frame_of

    logits = np.full((512, 512), -5.0, np.float32)
    logits[4::12, 4::12] = 5.0  # 1849 one-pixel blobs
    kept = detect(logits)
    start = time.perf_counter()
    drawn = draw_targets(np.zeros((512, 512), np.uint8), kept)
    assert time.perf_counter() - start < 5
    assert len(kept) == 1849 and (drawn == DETECTION_BGR).all(axis=2).any()
    # boxes only: no pixel outside every box's outline (a label's plate would fill one); the outlines overlap
    outline = np.zeros((512, 512), bool)
    for t in kept:
        x0, y0, x1, y1 = _frame_of(drawn, t.box, 1)
        outline[max(y0, 0):y1 + 1, max(x0, 0):x1 + 1] = True
    assert not (drawn.any(axis=2) & ~outline).any()
    tracks = Tracker(min_hits=1).update(kept)
    tracked = overlay(np.zeros((512, 512), np.uint8), kept, tracks)
    assert not (tracked.any(axis=2) & ~outline)[60:].any()  # tracks untagged too (the band sits at the top)


def _ratio(a: np.ndarray | tuple[int, ...], b: np.ndarray | tuple[int, ...]) -> float:
    """WCAG contrast ratio of two BGR pixels."""
    from lwirst.palette import contrast_ratio

    return contrast_ratio(*("#{2:02X}{1:02X}{0:02X}".format(*(int(c) for c in px)) for px in (a, b)))


def test_every_judged_box_says_its_outcome_in_its_label(monkeypatch: pytest.MonkeyPatch) -> None:
    """Where truth is known (a dataset split on Live, the sample video), a found target and a false alarm differed
    by colour only: labels were "T<n>" or "#id", a tentative track's box had none. Each now says "ok" or "FA"."""
    import lwirst.drawing as drawing
    from lwirst.drawing import FrameOutcomes

    written: list[str] = []
    real = cv2.putText
    monkeypatch.setattr(drawing.cv2, "putText", lambda image, text, *args: (written.append(text),
                                                                             real(image, text, *args))[1])
    logits = np.full((120, 160), -9.0, np.float32)
    logits[30:33, 40:43] = 9.0  # found
    logits[80:83, 120:123] = 9.0  # a false alarm
    kept = detect(logits, 0.0)
    hit = next(t for t in kept if t.x < 60)
    judged = FrameOutcomes(frozenset({hit.id}), ((100.0, 20.0),))
    image = np.full((120, 160), 40, np.uint8)
    tentative = Tracker(min_hits=3).update(kept)  # first frame: every track tentative
    overlay(image, kept, tentative, outcomes=judged)
    assert sorted(written[1:]) == ["FA", "miss", "ok"]  # after the summary band
    written.clear()
    overlay(image, kept, outcomes=judged)  # no tracks: ids and outcomes
    assert sorted(written[1:]) == [f"#{hit.id} ok", f"#{next(t.id for t in kept if t.id != hit.id)} FA", "miss"]
    written.clear()
    tracker = Tracker(min_hits=1)
    overlay(image, kept, tracker.update(kept), outcomes=judged)
    assert sorted(text.split()[-1] for text in written[1:]) == ["FA", "miss", "ok"]
    assert all(text.startswith("T") for text in written[1:] if text != "miss")  # confirmed: the track's name too
    written.clear()
    overlay(image, kept, tentative)  # no truth: detections, a tentative track's box unlabelled as before
    assert written == ["targets: 2"]


@pytest.mark.parametrize("colour", [CORRECT_BGR, MISSED_BGR, FALSE_ALARM_BGR, DETECTION_BGR])
def test_a_box_has_a_dark_halo_and_its_tag_sits_against_it(colour: tuple[int, int, int]) -> None:
    """A bluish-green box on a grey sky of its own luminance was 1.15:1 against it (3:1 is needed for a graphic):
    a dark halo now runs on both sides of the stroke, and the tag's plate starts right after the halo."""
    from lwirst.drawing import _frame_of, _marks

    grey = round(float(np.asarray(colour, float) @ [0.114, 0.587, 0.299]))
    frame = np.full((128, 128, 3), grey, np.uint8)
    assert _ratio(colour, frame[0, 0]) < 1.6  # a sky as bright as the box
    (plate,) = _marks(frame, [((60, 60, 3, 3), colour, "ok")], 1)
    x0, y0, x1, y1 = _frame_of(frame, (60, 60, 3, 3), 1)
    middle = (x0 + x1) // 2
    for outside, stroke, inside in [(frame[y0 - 1, middle], frame[y0, middle], frame[y0 + 1, middle]),
                                    (frame[y1 + 1, middle], frame[y1, middle], frame[y1 - 1, middle]),
                                    (frame[60, x0 - 1], frame[60, x0], frame[60, x0 + 1]),
                                    (frame[60, x1 + 1], frame[60, x1], frame[60, x1 - 1])]:
        assert tuple(stroke) == colour
        assert _ratio(stroke, outside) >= 3 and _ratio(stroke, inside) >= 3
    assert (frame[61, 61] == grey).all()  # the target's own pixels: untouched
    px0, _, px1, py1 = plate
    assert py1 == y0 - 2 and px0 <= middle <= px1  # above the box, against the halo's row y0 - 1
    assert (frame[py1, px0:px1 + 1] == colour).all(axis=1).mean() > 0.5  # plate, not sky, in that row


def test_a_box_at_the_frames_corner_keeps_its_size_inside_the_frame() -> None:
    """A target at (306, 192) of a 307x193 frame (SIRST Misc_158 on Live) kept a 5x5 corner of its box: the box
    now grows inwards by what runs past the edge, and still leaves the target's pixel alone."""
    from lwirst.drawing import _marks

    def extent(box: tuple[int, int, int, int]) -> tuple[int, int]:
        frame = np.full((193, 307, 3), 90, np.uint8)
        _marks(frame, [(box, FALSE_ALARM_BGR, None)], 1)
        assert (frame[box[1], box[0]] == 90).all()  # the target's pixel: untouched
        rows, cols = np.nonzero((frame == FALSE_ALARM_BGR).all(axis=2))
        return cols.max() - cols.min() + 1, rows.max() - rows.min() + 1

    middle = extent((150, 90, 1, 1))
    assert middle[0] >= 7 and extent((306, 192, 1, 1)) == middle == extent((0, 0, 1, 1))


@pytest.mark.parametrize("colour", [CORRECT_BGR, MISSED_BGR, FALSE_ALARM_BGR, DETECTION_BGR])
def test_tag_ink_reaches_the_text_contrast_ratio_on_its_plate(colour: tuple[int, int, int]) -> None:
    """White ink on the bluish-green and vermillion plates was 3.42:1 and 3.87:1 (chosen by luma): the ink is the
    one of black and white with the higher WCAG ratio, at least 4.5:1 on every outcome's plate."""
    from lwirst.drawing import _marks

    frame = np.zeros((128, 128, 3), np.uint8)
    (plate,) = _marks(frame, [((60, 60, 3, 3), colour, "#1 ok")], 1)
    x0, y0, x1, y1 = plate
    pixels = frame[y0:y1 + 1, x0:x1 + 1].reshape(-1, 3)
    ink = max(pixels.tolist(), key=lambda px: _ratio(px, colour))
    assert _ratio(ink, colour) >= 4.5


def test_misc_29s_tags_sit_against_their_boxes(sirst_root: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """SIRST Misc_29 on Live (a dataset split, every target judged): with their outcomes the tags grew to "#2 ok"
    and two of the four crowded ones were put further off, 20 and 38 px from their boxes. Each now sits against its
    box, past the 1-px halo (a corner or the middle of a side where the others took its sides)."""
    import lwirst.drawing as drawing
    from lwirst.datasets import open_dataset

    offs = []
    real = drawing._label

    def spy(image: np.ndarray, rect: tuple[int, int, int, int], *args: object) -> tuple[int, int, int, int]:
        plate = real(image, rect, *args)
        offs.append(max(plate[0] - rect[2], rect[0] - plate[2], plate[1] - rect[3], rect[1] - plate[3]))
        return plate

    monkeypatch.setattr(drawing, "_label", spy)
    data = open_dataset(sirst_root.parent, "sirst", "test")
    item = data[list(data.names).index("Misc_29")]
    mask = np.asarray(item.mask, bool)
    kept = detect(np.where(mask, 5.0, -5.0).astype(np.float32), 0.0)  # every target found
    overlay(item.image, kept, outcomes=drawing.mask_outcomes(kept, mask), fps=10.0, fps_label="end-to-end fps")
    assert len(offs) == len(kept) >= 4 and set(offs) == {2}, offs
