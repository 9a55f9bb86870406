"""Presentation logic behind the dashboard: the one colour language (`lwirst.palette`), target chips
(`lwirst.chips`) and overlays that stay readable on 4000x3000 frames (`lwirst.drawing`)."""

from __future__ import annotations

import math

import cv2
import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lwirst import analysis, palette, plots
from lwirst.chips import Chip, stretch, target_chips
from lwirst.drawing import FALSE_ALARM_BGR, evaluation_overlay, heatmap, text_band
from lwirst.eval_protocol import EvalProtocol
from lwirst.evaluate import EvalResult
from lwirst.frame_report import frame_report
from lwirst.inference import Saliency
from lwirst.pipeline import FrameResult
from lwirst.postprocess import NO_FILTER, detect

UNRECORDED = EvalProtocol.from_json({})  # a result whose protocol the figures do not read


def scene(shape: tuple[int, int] = (96, 128)) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A dark frame with a correct detection, a false alarm, a hot miss and a cold miss."""
    image = np.full(shape, 20, np.uint8)
    logits = np.full(shape, -9.0, np.float32)
    mask = np.zeros(shape, bool)
    image[20:23, 30:33] = 200
    logits[20:23, 30:33] = 3.0
    mask[20:23, 30:33] = True  # correct
    logits[60:62, 100:102] = 2.0  # false alarm
    image[70:72, 20:22] = 60
    logits[70:72, 20:22] = -1.5
    mask[70:72, 20:22] = True  # missed, hot (peak -1.5 within 4 of 0)
    mask[40:42, 60:62] = True  # missed, cold (peak -9)
    return image, logits, mask


def test_palette_is_one_language_with_directional_deltas() -> None:
    colours = [o.hex for o in palette.OUTCOMES.values()]
    assert len(set(colours)) == len(colours)  # every outcome its own colour
    assert palette.outcome(palette.FALSE_ALARM).bgr == (0x00, 0x5E, 0xD5)
    assert palette.delta_color("fa", -1e-6) == "green"  # fewer false alarms is better
    assert palette.delta_color("miou", -0.01) == "red"
    assert palette.delta_color("pd", 0.0) == "gray"  # no change is not an improvement
    assert palette.series_colors(["b", "a"]) == palette.series_colors(["a", "b", "a"])


def test_chips_cover_every_detection_and_ground_truth_target_worst_first() -> None:
    image, logits, mask = scene()
    kept = detect(logits, 0.0)
    chips, total = target_chips(image, logits, kept, mask, threshold=0.0, margin=4.0)
    assert total == 4
    assert [c.outcome for c in chips] == [palette.HOT, palette.MISSED, palette.FALSE_ALARM, palette.CORRECT]
    hot = chips[0]
    assert (round(hot.x), round(hot.y)) == (20, 70)  # the chip is where the target is
    x, y, w, h = hot.window
    assert x <= 20 < x + w and y <= 70 < y + h
    assert hot.zoom >= 4 and hot.picture.shape[1] > 2 * 15 * 4  # magnified, input and heatmap side by side
    assert tuple(hot.picture[0, 0]) == palette.outcome(palette.HOT).bgr  # border in the outcome's colour
    assert hot.caption.startswith("hot at (20, 70)")  # a missed target has no detection number
    ids = {(round(t.x), round(t.y)): t.id for t in kept}
    for chip in chips[2:]:  # detections carry the number the overlay and the target table give them
        assert chip.caption.startswith(f"#{ids[(round(chip.x), round(chip.y))]} ")
    # Without ground truth every detection is a plain detection chip.
    plain, total = target_chips(image, logits, kept, None)
    assert total == 2 and {c.outcome for c in plain} == {palette.DETECTION}
    assert sorted(c.number for c in plain) == sorted(ids.values())


@pytest.mark.parametrize(("zoom", "shown"), [(8.0, "×8"), (0.62439, "×0.62"), (2.5, "×2.5"), (128.0, "×128")])
def test_a_chips_magnification_reads_rounded(zoom: float, shown: str) -> None:
    """A large target's crop shrunk to fit read "×0.62439"."""
    chip = Chip(palette.MISSED, 10.0, 20.0, (9, 19, 3, 3), (0, 0, 32, 32), zoom, 1.0, np.zeros((4, 8, 3), np.uint8))
    assert chip.caption == f"miss at (10, 20) {shown}"


def test_chip_limit_keeps_the_worst() -> None:
    image, logits, mask = scene()
    chips, total = target_chips(image, logits, detect(logits, 0.0), mask, limit=2)
    assert total == 4 and [c.outcome for c in chips] == [palette.HOT, palette.MISSED]


def test_false_alarm_has_the_same_colour_in_every_panel() -> None:
    image, logits, mask = scene()
    kept = detect(logits, 0.0)
    result = FrameResult(Saliency(logits, "resize", "torch"), kept, kept, None, 0.0, NO_FILTER)
    report = frame_report(image, result, mask=mask)
    assert report.match is not None
    box = report.match.false_alarms[0].box
    for picture in (report.overlay, report.truth):
        assert picture is not None
        x, y, w, _h = box
        assert tuple(int(c) for c in picture[y - 3, x + w // 2]) == FALSE_ALARM_BGR


def test_the_summary_band_leaves_a_target_in_its_corner_untouched() -> None:
    """The "ok / miss / FA" band sat in the top-left corner whatever lay there: it dimmed a target by the
    frame's top edge (SIRST Misc_250) and lettered over it. It now takes a corner holding no target."""
    image = np.full((128, 128), 20, np.uint8)
    image[8:11, 10:13] = 200  # a target under the top-left corner's band
    mask = image > 100
    logits = np.where(mask, 3.0, -9.0).astype(np.float32)
    drawn, match = evaluation_overlay(image, detect(logits), mask)
    assert len(match.correct) == 1
    assert (drawn[8:11, 10:13] == 200).all()  # the target's own pixels: neither dimmed nor lettered
    band = drawn[4:20, 70:124].astype(int)  # the top-right corner took the band: dimmed, with white text
    assert (band == 255).any() and (band == 8).any()  # 20 dimmed to 40 %, and the text
    assert (drawn[110:124, 4:60] == 20).all()  # the bottom corners are untouched


def test_a_frame_too_small_for_the_count_label_is_drawn_without_it() -> None:
    """On an 8x8 frame the "targets: 0" band was a dark block over a quarter of the frame, too small to read: a
    band that does not fit is not drawn; on a frame it fits, it is."""
    tiny = np.full((8, 8), 100, np.uint8)
    assert text_band(tiny, ["targets: 0"]) is None and (tiny == 100).all()
    frame = np.full((64, 96), 100, np.uint8)
    assert text_band(frame, ["targets: 0"]) is not None and (frame < 100).any()


@pytest.mark.parametrize("shape", [(3000, 4000), (256, 256)])
def test_overlays_scale_with_the_frame(shape: tuple[int, int]) -> None:
    image = np.full(shape, 30, np.uint8)
    logits = np.full(shape, -9.0, np.float32)
    logits[100:104, 100:104] = 2.0
    mask = np.zeros(shape, bool)
    drawn, _ = evaluation_overlay(image, detect(logits), mask)
    # the false-alarm box is drawn thicker on a 4000x3000 frame (about 1 px once shown 800 px wide), and at least
    # 1/40 of the frame across, so that a 4 px target's box stays visible once the frame is shown small
    edges = np.flatnonzero(np.all(drawn[102] == FALSE_ALARM_BGR, axis=-1))  # the row through the target
    assert len(edges) // 2 >= (max(shape) // 450 if max(shape) > 1000 else 1)
    assert edges[-1] - edges[0] + 1 >= max(max(shape) // 40, 4 + 2 * 2)
    bar = heatmap(logits)
    # the colour bar grows with the frame: its labels stay readable when the map is shown small
    assert bar.shape[1] - shape[1] >= max(shape) // 20


def test_trajectories_sit_on_the_frame_and_counts_have_integer_ticks() -> None:
    tracks = pd.DataFrame({"track_id": [1, 1, 2], "x": [-100.0, 40.0, 150.0], "y": [10.0, 20.0, 300.0]})
    figure = plots.trajectory_figure(tracks, 256, 256)
    assert tuple(figure.layout.xaxis.range) == (0, 256) and tuple(figure.layout.yaxis.range) == (256, 0)
    assert min(min(t.x) for t in figure.data) >= 0 and max(max(t.y) for t in figure.data) <= 256
    assert len({t.line.color for t in figure.data}) == 2
    counts = plots.count_figure(pd.DataFrame({"frame": range(5), "targets": [0, 1, 3, 2, 1]}))
    assert counts.layout.yaxis.dtick == 1 and counts.layout.yaxis.tickformat == "d"


def test_pd_fa_is_drawn_along_fa_and_models_get_distinct_colours() -> None:
    """Every threshold is a marker in Fa order; the line is the running best Pd, never zig-zagging
    back down where Pd is not monotone in Fa (the screenshot's spike to 0.87 at Fa 12e-6)."""
    curves = {"roc_fpr": [0, 1], "roc_tpr": [0, 1], "pr_recall": [0, 1], "pr_precision": [1, 0],
              "pdfa_threshold": [-1.0, 0.0, 1.0, 2.0], "pdfa_fa": [3e-5, 1e-5, 2e-5, 1.5e-5],
              "pdfa_pd": [0.9, 0.7, 0.8, 0.6]}
    results = {name: EvalResult({"auc": 0.9}, pd.DataFrame(), curves, UNRECORDED, {}) for name in ("a", "b")}
    figures = analysis.curve_figures(results)
    points, envelope = figures["pdfa"].data[0], figures["pdfa"].data[1]
    assert points.mode == "markers" and list(points.x) == sorted(points.x)
    assert list(points.y) == [0.7, 0.6, 0.8, 0.9] and [t for t, _ in points.customdata] == [0.0, 2.0, 1.0, -1.0]
    assert list(points.x) == pytest.approx([10, 15, 20, 30])  # in the cards' unit, 1e-6
    assert envelope.mode == "lines" and list(envelope.y) == [0.7, 0.7, 0.8, 0.9]
    assert all(b >= a for a, b in zip(envelope.y, envelope.y[1:], strict=False))
    assert figures["pdfa"].data[0].marker.color != figures["pdfa"].data[2].marker.color


def test_pd_fa_with_no_false_alarm_is_at_the_left_edge_and_pd_stays_a_share() -> None:
    """A model with no false-alarm pixel at some thresholds (the embedded samples): Fa 0 cannot sit on a log
    axis, so those points are drawn a decade under the smallest Fa measured, the axis says so, their hover
    says 0, and the Pd axis ends at 1 (a lone point at Pd 1 was drawn on an axis running to 2)."""
    curves = {"roc_fpr": [0, 1], "roc_tpr": [0, 1], "pr_recall": [0, 1], "pr_precision": [1, 0],
              "pdfa_threshold": [-1.0, 0.0, 1.0], "pdfa_fa": [4e-6, 0.0, 0.0], "pdfa_pd": [1.0, 1.0, 0.5]}
    figure = analysis.curve_figures({"m": EvalResult({"auc": 0.9}, pd.DataFrame(), curves, UNRECORDED, {})})["pdfa"]
    points = figure.data[0]
    assert list(points.x) == pytest.approx([0.1, 0.1, 4.0])
    assert [fa for _, fa in points.customdata] == pytest.approx([0.0, 0.0, 4.0])
    assert "Fa 0 at the left edge" in figure.layout.xaxis.title.text
    assert tuple(figure.layout.yaxis.range) == (0, 1.05)
    quiet = dict(curves, pdfa_fa=[0.0, 0.0, 0.0])
    alone = analysis.curve_figures({"m": EvalResult({}, pd.DataFrame(), quiet, UNRECORDED, {})})["pdfa"]
    assert list(alone.data[0].x) == pytest.approx([1e-3] * 3)
    # at the axis' left edge, not in the middle of a range plotly centred on them, over a tick reading "0.001"
    low, high = alone.layout.xaxis.range
    assert low <= math.log10(1e-3) < low + 0.1 and high >= math.log10(1e-3) + 1


def test_pd_fa_tick_labels_are_the_values_they_mark() -> None:
    """Plotly's own log ticks read "3 4 5 ... 10 ... 2" on Fa 3-20 (×1e-6), the last "2" meaning 20."""
    curves = {"roc_fpr": [0, 1], "roc_tpr": [0, 1], "pr_recall": [0, 1], "pr_precision": [1, 0],
              "pdfa_threshold": [-1.0, 0.0, 1.0], "pdfa_fa": [20e-6, 9e-6, 3e-6], "pdfa_pd": [1.0, 0.8, 0.5]}
    axis = analysis.curve_figures({"m": EvalResult({}, pd.DataFrame(), curves, UNRECORDED, {})})["pdfa"].layout.xaxis
    assert [float(text) for text in axis.ticktext] == pytest.approx(list(axis.tickvals))
    assert {2.0, 5.0, 10.0, 20.0} <= set(axis.tickvals)  # 1-2-5 steps across the measured range
    assert analysis.log_ticks(1e-3, 5e4) == pytest.approx([10.0 ** d for d in range(-3, 6)])  # wide: decades


def test_the_shipped_models_curves_are_its_colour_and_no_one_elses() -> None:
    """On Evaluate's curves the shipped model is `palette.SHIPPED`, as on Compare, whatever its label sorts
    as; the other models keep distinct colours that are not it."""
    curves = {"roc_fpr": [0, 1], "roc_tpr": [0, 1], "pr_recall": [0, 1], "pr_precision": [1, 0],
              "pdfa_threshold": [0.0], "pdfa_fa": [1e-5], "pdfa_pd": [0.9]}
    names = ("a-model", "shipped run", "z-model")
    results = {name: EvalResult({"auc": 0.9}, pd.DataFrame(), curves, UNRECORDED, {}) for name in names}
    roc = analysis.curve_figures(results, shipped=["shipped run"])["roc"]
    colours = {trace.name.split(" (AUC")[0]: trace.line.color for trace in roc.data}
    assert colours["shipped run"] == palette.SHIPPED
    assert palette.SHIPPED not in (colours["a-model"], colours["z-model"])
    assert colours["a-model"] != colours["z-model"]


def test_sweep_points_keep_the_schedule_out_of_the_name_unless_it_tells_rows_apart() -> None:
    """A sweep's long schedule string cut every name short in the Compare table: it has a column of its own,
    and a name repeats it only where one variant was swept on the same data with two schedules."""
    short, long = "default+epochs=8", "default+epochs=30"
    rows = [{"preset": preset, "seed": seed, "schedule": schedule, "dataset": "sirst", "train_split": train,
             "test_split": "test", "params_m": 0.16, "flops_m": 303.5, "best_miou": 0.5 + seed / 10, "best_f1": 0.6}
            for preset, schedule, train in (("a", short, "trainval"), ("b", short, "trainval"),
                                            ("b", long, "trainval"), ("c", short, "train"), ("c", short, "trainval"))
            for seed in (0, 1)]
    points = analysis.sweep_points(pd.DataFrame(rows)).set_index("name")
    assert list(points.index) == ["a (2 seeds)", f"b (2 seeds, {short})", f"b (2 seeds, {long})",
                                  "c (2 seeds, trained on train)", "c (2 seeds, trained on trainval)"]
    assert list(points["schedule"]) == [short, short, long, short, short]
    assert points.loc["a (2 seeds)", "miou"] == pytest.approx(0.55)
    assert len(analysis.merge_points(points.reset_index())) == 5  # unique names: none merged away, none averaged


def test_sweep_points_carry_every_score_the_sweep_recorded() -> None:
    """Only mIoU and F1 reached Compare: with Pd chosen, the sweep's diamonds vanished unexplained."""
    rows = [{"preset": "a", "seed": seed, "schedule": "s", "dataset": "sirst", "train_split": "trainval",
             "test_split": "test", "params_m": 0.16, "flops_m": 303.5, "best_miou": 0.5, "best_f1": 0.6,
             "best_pd": 0.8 + seed / 10, "best_fa": 2e-6} for seed in (0, 1)]
    point = analysis.sweep_points(pd.DataFrame(rows)).iloc[0]
    assert point["pd"] == pytest.approx(0.85) and point["fa"] == pytest.approx(2e-6)
    old = analysis.sweep_points(pd.DataFrame(rows).drop(columns=["best_pd", "best_fa"])).iloc[0]
    assert old["miou"] == pytest.approx(0.5) and "pd" not in old  # an older sweep: no Pd, not a zero


@given(st.integers(1, 900), st.integers(1, 900))
@settings(max_examples=60, deadline=None)
def test_thumbnails_of_any_shape_share_one_size_and_show_the_whole_frame(height: int, width: int) -> None:
    """Gallery cells stay aligned: every frame fits whole, centred on the backdrop, none cropped."""
    picture = np.full((height, width, 3), 255, np.uint8)
    boxed = analysis.letterbox(picture, (320, 240))
    assert boxed.shape == (240, 320, 3)
    inside = np.argwhere((boxed == 255).all(axis=2))
    (top, left), (bottom, right) = inside.min(axis=0), inside.max(axis=0)
    assert bottom - top + 1 == 240 or right - left + 1 == 320  # fills one side
    scale = min(320 / width, 240 / height)  # the aspect ratio kept: sides within a pixel of the scaled frame's
    assert abs(bottom - top + 1 - height * scale) <= 1 and abs(right - left + 1 - width * scale) <= 1
    assert abs(top - (239 - bottom)) <= 1 and abs(left - (319 - right)) <= 1  # centred
    assert len(inside) == (bottom - top + 1) * (right - left + 1)  # the frame is one rectangle


def test_parameter_counts_stay_readable_at_any_size() -> None:
    from lwirst.rounding import params_text

    assert params_text(163_232) == "0.1632 M" and params_text(163_232, 3) == "0.163 M"
    assert params_text(297) == "297" and params_text(297, 4) == "297"  # not "0.000 M"
    assert params_text(999) == "999" and params_text(12_000) == "0.0120 M" and params_text(12_000, 3) == "0.012 M"


def test_a_slow_rate_is_never_printed_as_zero() -> None:
    """A loaded machine's webcam ran at 0.04 frames per second and its card read "0.0": as if nothing ran."""
    from lwirst.rounding import rate_text

    assert [rate_text(v) for v in (12.34, 1.0, 0.042, 0.0051)] == ["12.3", "1.0", "0.042", "0.0051"]
    assert [rate_text(v) for v in (0.999, 0.0999, 0.5)] == ["1.0", "0.10", "0.50"]
    assert [rate_text(v) for v in (0.0, -1.0, float("nan"), None)] == ["n/a"] * 4


def test_pictures_under_the_panels_rings_carry_no_tags() -> None:
    """The dashboard's panels ring every target at 18 screen pixels and write its tag beside the ring: the tags
    drawn into the pictures (Single frame's, the Failure inspector's overlay and its heatmap's "#1" of a hot
    target) lay under the rings, unreadable. Those pictures are drawn with boxes only: no filled plate."""
    from scipy import ndimage

    image, logits, mask = scene()
    kept = detect(logits, 0.0)
    result = FrameResult(Saliency(logits, "resize", "torch"), kept, kept, None, 0.0, NO_FILTER)
    report = frame_report(image, result, mask=mask)
    plain = frame_report(image, result)  # no ground truth: detections
    view = analysis.image_view(image, logits, mask, 0.0, None, margin=4.0)
    outcomes = [palette.outcome(name).bgr for name in palette.OUTCOMES]
    for picture in (report.overlay, report.truth, plain.overlay, view.overlay, view.heatmap):
        assert picture is not None
        for colour in outcomes:
            filled = ndimage.binary_erosion(np.all(picture == colour, axis=2), np.ones((3, 3), bool))
            assert not filled.any(), colour  # strokes only, no plate
        assert any(np.all(picture == colour, axis=2).any() for colour in outcomes)  # the boxes are there


def test_a_frame_report_s_csv_has_every_column_segment_writes() -> None:
    """Single frame's download lacked the mean logit and mean probability `lwirst segment`'s targets CSV has."""
    import io

    from lwirst.frame_report import frame_report
    from lwirst.inference import Segmenter
    from lwirst.pipeline import FramePipeline
    from lwirst.postprocess import COLUMNS
    from lwirst.synth import PRESETS, render_scene

    scene = render_scene(PRESETS["sirst"], 0)
    result = FramePipeline(Segmenter(threads=1, confirm=1.5)).process(scene.image)
    report = frame_report(scene.image, result, mask=scene.mask)
    table = pd.read_csv(io.BytesIO(report.csv()))
    assert list(table.columns) == [COLUMNS[0], "outcome", *COLUMNS[1:]] and len(table) == len(result.kept) > 0
    assert table["mean_prob"].between(0.5, 1).all()  # kept pixels are above the threshold
    assert "mean" not in report.table.columns and "outcome" in report.table  # the page's table: fewer columns


def test_a_grey_crop_a_lossy_codec_tinted_is_stretched_grey_and_a_palette_crop_keeps_its_colours() -> None:
    """A grey video decoded from a lossy file keeps its channels 2-3 levels apart; the chip's stretch magnified
    that into a dark green picture. Such a crop is stretched as grey; a pseudo-colour crop keeps its hues."""
    rng = np.random.default_rng(0)
    grey = rng.normal(128, 3, (24, 24)).clip(0, 255)
    grey[11:14, 11:14] = 160  # a faint target
    tinted = np.stack([grey - 3, grey, grey - 2], axis=2).clip(0, 255).astype(np.uint8)  # B, G, R as decoded
    out = stretch(tinted)
    assert out.shape == tinted.shape and out.dtype == np.uint8
    assert (out[..., 0] == out[..., 1]).all() and (out[..., 1] == out[..., 2]).all()  # grey
    assert out[12, 12, 0] > 200 and np.median(out) < 120  # the target stands out of its stretched background
    palette = cv2.applyColorMap(grey.astype(np.uint8), cv2.COLORMAP_INFERNO)
    coloured = stretch(palette)
    assert np.abs(coloured[..., 0].astype(int) - coloured[..., 2]).max() > 50  # still in colour


def test_a_large_frames_report_says_its_heatmap_is_held_lower(one_torch_thread: None) -> None:
    """Single frame's heatmap of a 1280x1024 frame read "saliency (probability)" on a 0..1 bar while its colours
    were the map held 3.32 logits lower (a peak of 0.97 showed 0.51): the report carries the margin and the
    title says it; a frame at the model's size is not held."""
    from lwirst.inference import Segmenter
    from lwirst.pipeline import FramePipeline
    from lwirst.prominence import held_note

    pipeline = FramePipeline(Segmenter(threads=1, confirm=None))
    large = np.full((512, 640, 3), 60, np.uint8)
    report = frame_report(large, pipeline.process(large))
    assert report.clearance == pytest.approx(np.log2(512 * 640 / (2 * 256 * 256)), abs=0.01)
    assert held_note(report.clearance) == f", less a {report.clearance:.2f}-logit peak margin"
    small = np.full((256, 256, 3), 60, np.uint8)
    assert frame_report(small, pipeline.process(small)).clearance == 0 and held_note(0.0) == ""


def test_a_one_pixel_targets_chip_shows_it_alone_in_white() -> None:
    """In a 15x15 crop the stretch's white point (the 99.5th percentile) is the second or third brightest pixel:
    a 1-px target 40 levels over the sky and noise 4 levels over it both read white, the target one speck among
    several. With the target's box, white is its own peak and the noise stays grey."""
    rng = np.random.default_rng(3)
    crop = rng.normal(90, 1.5, (15, 15)).round().clip(0, 255).astype(np.uint8)
    crop[7, 7] = 130
    box = (slice(7, 8), slice(7, 8))
    plain, boxed = stretch(crop), stretch(crop, box)
    assert (plain >= 250).sum() >= 2  # noise stretched to white beside the target: the defect
    assert boxed[7, 7] == 255 and (boxed >= 200).sum() == 1  # the target alone
    assert boxed[box].max() == 255 and np.median(boxed) > 0  # the sky is still visible, not black


@pytest.mark.parametrize(("low", "high", "said"), [(7000.0, 16383.0, "7000 to 16383"),
                                                   (1000.0, 1000.02, "1000 to 1000.02"),
                                                   (-300.0, 3000.0, "-300 to 3000"), (0.0, 1.0, "0 to 1"),
                                                   (5.0, 5.0, "5 to 5"),
                                                   (1000.0, float(np.float32(1000.02)), "1000 to 1000.02")])
def test_a_stretch_range_is_said_with_the_digits_that_tell_its_ends_apart(low: float, high: float,
                                                                          said: str) -> None:
    """Single frame said a float frame's range 1000.0 to 1000.02 as "1000.01 to 1000.02" (six digits)."""
    from lwirst.rounding import span_text

    assert span_text(low, high) == said
