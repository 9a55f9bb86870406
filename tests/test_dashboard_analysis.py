"""Dashboard pages 5-8 (Evaluate, Compare, Ablations, Failure inspector) driven by AppTest, and the
computation behind them (`lwirst.analysis`).

AppTests use the embedded samples (two test images) and the untrained demo network (seed 0,
deterministic), with the evaluation cache in a temporary folder.
"""

from __future__ import annotations

import base64
import itertools
import json
import math
import os
import shutil
import threading
import time
from collections.abc import Iterator, Mapping
from pathlib import Path

import cv2
import numpy as np
import onnx
import pandas as pd
import pytest
import streamlit as st
from onnx import TensorProto, helper
from streamlit.testing.v1 import AppTest

from dashboard import analysis as dash
from dashboard import common
from dashboard.common import SAMPLES_LABEL
from lwirst import ablation_stats, analysis, palette, schedule
from lwirst.consensus import DASHBOARD_SCALE
from lwirst.errors import LwirstError
from lwirst.eval_protocol import AppliedProtocol, EvalProtocol
from lwirst.evaluate import EvalResult, cache_root
from lwirst.export import to_onnx_bytes
from lwirst.maps import MAPS_FILE, StoredMaps, write_maps
from lwirst.metrics import PdFa, PixelMetrics
from lwirst.modelcard import DEMO_MODEL, demo_network
from lwirst.postprocess import TargetFilter, detect
from lwirst.rounding import flops_text
from lwirst.run_settings import RunSettings
from lwirst.scoring import OPERATOR, metric_specs, plugin_metrics, plugin_results
from tests import dashboard_pages as pages  # puts dashboard/ on the path
from tests.conftest import applied_of
from tests.dashboard_pages import PAGES, REPO, errors

# ---------------------------------------------------------------- helpers


@pytest.fixture(autouse=True)
def fresh(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """An empty evaluation cache, no ablation results and empty Streamlit data caches for each test."""
    monkeypatch.setenv("LWIRST_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setattr(analysis, "ABLATIONS_DIR", tmp_path / "ablations")
    monkeypatch.setattr(schedule, "CURVES_CSV", tmp_path / "ablations" / "schedule" / "curves.csv")
    st.cache_data.clear()
    yield tmp_path
    st.cache_data.clear()


def open_page(page: str, **state: object) -> AppTest:
    """The app on `page` with the demo network (the developer option on), scale consensus off, whichever model
    `state` names instead (the untrained network's blobs rarely survive its second run) and the embedded samples
    (plus `state`); no exception."""
    return pages.open_page(page, **{"model": DEMO_MODEL, "dev_demo": True, "consensus": False,
                                    "data_root": SAMPLES_LABEL, **state})


def chart(at: AppTest, key: str) -> dict:
    return json.loads(next(c.proto.spec for c in at.get("plotly_chart") if c.proto.id.endswith(key)))


def wrong_shape_onnx() -> bytes:
    """A valid ONNX graph whose output has 3 channels instead of one saliency map."""
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, ["n", 3, "h", "w"])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, ["n", 3, "h", "w"])
    graph = helper.make_graph([helper.make_node("Identity", ["x"], ["y"])], "identity", [x], [y])
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]).SerializeToString()


def sluggish_onnx(products: int = 40, side: int = 1024) -> bytes:
    """A valid saliency model that takes a second or more a frame: `products` matrix products of side² floats built
    from the frame (so ONNX Runtime cannot fold them away when it loads the graph), averaged into its map."""
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, ["n", 3, "h", "w"])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, ["n", 1, "h", "w"])
    shape = helper.make_tensor("s", TensorProto.INT64, [2], [side, side])
    entry = helper.make_tensor("v", TensorProto.FLOAT, [1], [1.0 / side])  # a product of two stays 1 / side
    nodes = [helper.make_node("ReduceMean", ["x"], ["m"], axes=[1], keepdims=1),
             helper.make_node("ReduceMin", ["x"], ["low"], keepdims=0),
             helper.make_node("Constant", [], ["shape"], value=shape),
             helper.make_node("ConstantOfShape", ["shape"], ["c"], value=entry),
             helper.make_node("Mul", ["low", "c"], ["zero"]),  # the frame's minimum (0 on these frames) times c
             helper.make_node("Add", ["c", "zero"], ["p0"])]
    for i in range(products):
        nodes.append(helper.make_node("MatMul", [f"p{i}", "c"], [f"p{i + 1}"]))
    nodes += [helper.make_node("ReduceMin", [f"p{products}"], ["e"], keepdims=0),
              helper.make_node("Add", ["m", "e"], ["y"])]
    graph = helper.make_graph(nodes, "sluggish", [x], [y])
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]).SerializeToString()


def sweep_csv(path: Path, rows: list[tuple[str, str, int, float]]) -> Path:
    """A sweep results CSV with (table, preset, seed, best mIoU) rows."""
    frame = pd.DataFrame([{"table": t, "preset": p, "seed": s, "schedule": "default+epochs=2", "epochs": 2,
                           "dataset": "sirst", "train_split": "trainval", "test_split": "test",
                           "best_miou": v, "best_f1": v + 0.1, "best_pd": 0.9, "final_miou": v - 0.01,
                           "final_f1": v + 0.09, "final_pd": 0.9, "params_m": 0.16, "flops_m": 303.53}
                          for t, p, s, v in rows])
    path.parent.mkdir(parents=True, exist_ok=True)
    frame.to_csv(path, index=False)
    return path


def plotted(values: object) -> list[float]:
    """A Plotly JSON array (a list, or a typed array: dtype + base64 bytes) as a list."""
    if isinstance(values, dict):
        return np.frombuffer(base64.b64decode(values["bdata"]), dtype=values["dtype"]).tolist()
    return list(values)  # type: ignore[call-overload]


# ---------------------------------------------------------------- lwirst.analysis


def test_pareto_front_keeps_points_no_other_beats_on_cost_and_accuracy() -> None:
    cost = [1.0, 2.0, 3.0, 2.5, 10.0]
    accuracy = [0.5, 0.7, 0.6, 0.7, 0.8]
    assert analysis.pareto_front(cost, accuracy).tolist() == [True, True, False, False, True]
    # a false-alarm rate: fewer is better, so the cheap point alone is on the front with the lowest one
    assert analysis.pareto_front(cost, accuracy, higher=False).tolist() == [True, False, False, False, False]
    assert analysis.pareto_front(cost, [9.0, 3.0, 3.0, 5.0, 1.0], higher=False).tolist() == [
        True, True, False, False, True]


def test_fig4_plots_a_false_alarm_rate_in_its_table_units_with_the_fewest_on_the_front() -> None:
    """Fa is stored as a fraction and labelled ×1e-6; the front kept the highest Fa, the worst models."""
    rows = [analysis.measured_point(name, {"miou": 0.7, "fa": fa}, "sirst", "test", params, flops, protocol="auto")
            for name, fa, params, flops in [("cheap-noisy", 90e-6, 100_000, 200e6), ("dear-quiet", 10e-6, 400_000,
                                            900e6), ("dear-noisy", 120e-6, 500_000, 1000e6)]]
    figure = analysis.fig4_figure(analysis.fig4_points(pd.DataFrame(rows)), "fa", "flops_m")
    points = [t for t in figure.data if t.mode != "lines"]
    assert sorted(y for t in points for y in t.y) == pytest.approx([10.0, 90.0, 120.0])  # ×1e-6, as labelled
    front = next(t for t in figure.data if t.mode == "lines")
    assert list(front.y) == pytest.approx([90.0, 10.0])  # the noisy dear model is beaten on both
    assert "lower is better" in figure.layout.yaxis.title.text and figure.layout.title.text.startswith("Fa")
    assert "Fa (×1e-6) %{y:.2f}" in points[0].hovertemplate  # the plotted score on hover, not only mIoU and F1


def test_fig4_puts_paper_and_measured_points_apart_on_log_axes() -> None:
    measured = pd.DataFrame([analysis.measured_point("mine", {"miou": 0.7, "f1": 0.8}, "sirst", "test",
                                                     160_000, 303.5e6, protocol="resize")])
    points = analysis.fig4_points(measured)
    assert len(points) == 16
    figure = analysis.fig4_figure(points, "miou", "flops_m")
    names = [trace.name for trace in figure.data]
    assert analysis.PAPER_SOURCE in names and "measured here, sirst test (resize)" in names
    assert f"Pareto front: {analysis.PAPER_SOURCE}" in names
    assert figure.layout.xaxis.type == "log"
    # each tick labelled with its value: plotly's own log ticks read "100 2 5 1,000", the "2" meaning 200
    axis = figure.layout.xaxis
    assert [float(t.replace(",", "")) for t in axis.ticktext] == pytest.approx(list(axis.tickvals))
    assert "1,000" in axis.ticktext and not [t for t in axis.ticktext if "e" in t]
    narrow = analysis.fig4_figure(analysis.fig4_points(measured).query("flops_m < 1000"), "miou", "flops_m")
    assert {"200", "500"} <= set(narrow.layout.xaxis.ticktext)  # 1-2-5 steps where the range is short
    paper = next(t for t in figure.data if t.name == analysis.PAPER_SOURCE)
    assert len(paper.x) == 15 and paper.marker.symbol == "circle"


def test_fig4_writes_only_names_that_do_not_overlap() -> None:
    rows = [analysis.measured_point("lwirst-sirst", {"miou": miou}, "sirst", "test", 163_200, 303.5e6,
                                    protocol=protocol, origin=origin)
            for miou, protocol, origin in [(0.6892, "native", analysis.CARD_PREFIX),
                                           (0.6987, "resize", analysis.CARD_PREFIX),
                                           (0.699, "auto", analysis.MEASURED_PREFIX)]]  # stars on one spot
    for i, (params, flops, miou) in enumerate([(20_000, 100e6, 0.0), (60_000, 230e6, 0.004),
                                               (300_000, 500e6, 0.11), (400_000, 1200e6, 0.22)]):
        sweep = analysis.measured_point(f"preset{i}", {"miou": miou}, "sirst", "test", params, flops, protocol="auto")
        rows.append({**sweep, "group": analysis.SWEEP_GROUP})
    points = analysis.fig4_points(pd.DataFrame(rows))
    for cost in ("flops_m", "params_m"):
        figure = analysis.fig4_figure(points, "miou", cost)
        traces = [t for t in figure.data if t.mode != "lines"]
        xs, ys = [x for t in traces for x in t.x], [y for t in traces for y in t.y]
        pixels = analysis.to_pixels(xs, ys)
        texts = [s for t in traces for s in t.text or [""] * len(t.x)]
        places = [s for t in traces for s in t.textposition or [""] * len(t.x)]
        written = [(p, text, place) for p, text, place in zip(pixels, texts, places, strict=True) if text]
        boxes = [analysis.label_box(p, text, place) for p, text, place in written]
        assert not any(a.overlaps(b) for i, a in enumerate(boxes) for b in boxes[i + 1:])
        for front in (t for t in figure.data if t.mode == "lines"):  # nor a Pareto front's horizontal runs
            ends = [pixels[xs.index(x)] for x in front.x]
            runs = [analysis.Box(a[0], a[1] - 1, b[0], a[1] + 1) for a, b in itertools.pairwise(ends)]
            assert not any(run.overlaps(box) for run in runs for box in boxes)
        names = [text for _, text, _ in written]
        assert names.count("lwirst-sirst") == 1  # this project's model: named once, always
        assert len(names) < 16  # the paper's dense cluster is left to the hover text
        assert all(len(t.hovertext) == len(t.x) for t in traces)  # every point still named on hover


def test_fig4_names_the_paper_s_lw_irstnet_beside_the_shipped_model() -> None:
    """The network this project reproduces sits at the plot's left edge with its Pareto front leaving it
    rightwards: no side position fits, and it went unnamed where a stakeholder looks first; a corner fits."""
    card = analysis.measured_point("lwirst-sirst", {"miou": 0.75, "f1": 0.857}, "sirst", "test", 163_200, 303.5e6,
                                   protocol="auto", origin=analysis.CARD_PREFIX, settings=RunSettings(confirm=1.5))
    points = analysis.fig4_points(pd.DataFrame([card]))
    for metric, cost in itertools.product(("miou", "f1"), ("flops_m", "params_m")):
        figure = analysis.fig4_figure(points, metric, cost)
        traces = [t for t in figure.data if t.mode != "lines"]
        pixels = analysis.to_pixels([x for t in traces for x in t.x], [y for t in traces for y in t.y])
        written = [(p, text, place) for p, text, place in zip(
            pixels, [s for t in traces for s in t.text], [s for t in traces for s in t.textposition], strict=True)
            if text]
        assert analysis.PAPER_MODEL in [text for _, text, _ in written], (metric, cost)
        boxes = [analysis.label_box(p, text, place) for p, text, place in written]
        assert not any(a.overlaps(b) for i, a in enumerate(boxes) for b in boxes[i + 1:])


def test_a_sweep_of_ones_own_reaches_the_pages_through_the_ablation_roots(tmp_path: Path,
                                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    """A researcher's sweep writes RUN_DIR/results.csv, outside the package's data/ablations (site-packages when
    installed): LWIRST_DASHBOARD_ABLATION_ROOTS offers it beside the committed results, named by its folder."""
    from dashboard.config import ABLATION_ROOTS_ENV, MissingRoot, load_settings

    sweep_csv(tmp_path / "ablations" / "committed.csv", [("VII", "table7_ch_8_16_32", 0, 0.5)])
    sweep_csv(tmp_path / "mysweep" / "results.csv", [("VIII", "table8_bilinear", 0, 0.41)])
    monkeypatch.setenv(ABLATION_ROOTS_ENV, os.pathsep.join([str(tmp_path / "mysweep"), str(tmp_path / "typo")]))
    settings = load_settings()
    assert settings.ablation_roots == ((tmp_path / "mysweep").resolve(),)
    assert MissingRoot(ABLATION_ROOTS_ENV, (tmp_path / "typo").resolve()) in settings.missing
    results, problems = analysis.load_ablation_results([analysis.ABLATIONS_DIR, *settings.ablation_roots])
    assert not problems and results["source_file"].tolist() == ["committed.csv", "mysweep/results.csv"]
    sweep_csv(tmp_path / "sweeps" / "s1" / "results.csv", [("VIII", "table8_deconv", 0, 0.43)])  # a folder of sweeps
    below = analysis.load_ablation_results(tmp_path / "sweeps")[0]
    assert below["source_file"].tolist() == ["sweeps/s1/results.csv"]
    sweep_csv(tmp_path / "elsewhere" / "sweeps" / "results.csv", [("VIII", "table8_deconv", 1, 0.44)])
    both = analysis.load_ablation_results([tmp_path / "sweeps", tmp_path / "elsewhere" / "sweeps"])[0]
    assert both["source_file"].tolist() == [f"{tmp_path.name}/sweeps/s1/results.csv", "elsewhere/sweeps/results.csv"]
    assert results["preset"].tolist() == ["table7_ch_8_16_32", "table8_bilinear"]
    at = open_page("7_ablations.py")  # the page reads the variable's folders
    at.selectbox(key="ablation_table").set_value("VIII").run()
    assert not at.exception
    assert any("table8_bilinear" in d.value.to_string() and "0.41" in d.value.to_string() for d in at.dataframe)


def test_ablation_view_sets_computed_cost_and_measured_scores_beside_the_paper(tmp_path: Path) -> None:
    sweep_csv(tmp_path / "ablations" / "t7.csv", [("VII", "table7_ch_8_16_32", 0, 0.50),
                                                 ("VII", "table7_ch_8_16_32", 1, 0.54),
                                                 ("VII", "table7_ch_8_32_64", 0, 0.60)])
    (tmp_path / "ablations" / "other.csv").write_text("a,b\n1,2\n")
    results, problems = analysis.load_ablation_results([tmp_path / "ablations"])
    assert len(results) == 3 and problems == [
        "other.csv is not a sweep results CSV (no best_f1, best_miou, best_pd, dataset, final_f1, final_miou, "
        "final_pd, preset, schedule, seed, table, test_split, train_split column)"]
    with pytest.raises(LwirstError, match="the paper's tables print miou and f1"):
        analysis.ablation_view("VII", results, "best_pd")  # once set beside the paper's mIoU
    view = analysis.ablation_view("VII", results, "best_miou").set_index("preset")
    assert view.loc["table7_ch_8_16_32", "here"] == pytest.approx(0.52)
    assert view.loc["table7_ch_8_16_32", "seeds"] == 2 and view.loc["table7_ch_8_16_32", "here_sd"] > 0
    assert view.loc["table7_ch_16_64_128", "status"] == analysis.NOT_MEASURED
    assert math.isnan(view.loc["table7_ch_16_64_128", "here"])
    assert view.loc["table7_ch_8_32_64", "flops_check"] == "match"
    checks = analysis.ablation_view("III", results, "best_miou").set_index("row")
    assert checks.loc["At-Conv.", "flops_check"] == "match (merged cell)"  # words, not "merged_match"
    assert not any("_" in c for c in [*checks["flops_check"], *checks["params_check"]])
    assert view.loc["table7_ch_8_32_64", "params_m"] == pytest.approx(0.1632, abs=1e-4)
    agreement = analysis.rank_agreement(view.reset_index())
    assert agreement.paper_winner == "8 32 64" and agreement.here_winner == "8 32 64"
    assert agreement.tau == pytest.approx(1.0) and agreement.compared == 2
    figure = analysis.ablation_figure(view.reset_index(), "best_miou", "VII")
    assert any(analysis.NOT_MEASURED in " ".join(t.text or ()) for t in figure.data if t.mode == "text")
    assert {t.name for t in figure.data} >= {"paper (Table VII as printed)"}  # not Table II's fusion-set legend
    bars = next(t for t in figure.data if t.name.startswith(analysis.MEASURED_PREFIX)).error_x
    measured = view.reset_index().dropna(subset=["here"])
    assert all(0 <= minus <= mean for minus, mean in zip(np.asarray(bars.arrayminus)[measured.index],
                                                         measured["here"], strict=True))
    assert figure.layout.xaxis.range[1] > view["paper"].max() * 1.2  # room for "not measured yet" beside it


def test_rank_agreement_is_undefined_without_two_measured_rows() -> None:
    view = pd.DataFrame({"row": ["a", "b"], "paper": [0.6, 0.7], "here": [0.5, math.nan]})
    agreement = analysis.rank_agreement(view)
    assert agreement.paper_winner == "b" and agreement.here_winner == "a"
    assert math.isnan(agreement.tau) and agreement.compared == 1


def _scene() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Three 3×3 targets: one detected (peak 3), one hot but 0.5 under threshold 0, one cold (peak -6)."""
    mask = np.zeros((64, 64), bool)
    logits = np.full((64, 64), -8.0, np.float32)
    for (y, x), peak in zip(((10, 10), (30, 40), (50, 20)), (3.0, -0.5, -6.0), strict=True):
        mask[y - 1:y + 2, x - 1:x + 2] = True
        logits[y - 1:y + 2, x - 1:x + 2] = peak - 1.0
        logits[y, x] = peak
    image = np.full((64, 64), 40, np.uint8)
    return image, logits, mask


def test_hot_but_below_threshold_targets_are_flagged_with_how_far_under() -> None:
    image, logits, mask = _scene()
    view = analysis.image_view(image, logits, mask, 0.0, None, "logit", margin=2.0)
    assert len(view.match.correct) == 1 and len(view.match.missed) == 2
    hot = view.hot.set_index("status")
    assert hot.loc[analysis.HOT, "under_by"] == pytest.approx(0.5)
    assert hot.loc[analysis.HOT, "peak_prob"] == pytest.approx(1 / (1 + math.exp(0.5)))
    assert hot.loc["cold", "under_by"] == pytest.approx(6.0)
    # the target found above the threshold, removed by a size filter, is under nothing (it read "by -3.00")
    filtered = analysis.image_view(image, logits, mask, 0.0, TargetFilter(min_size=20), "logit", margin=2.0).hot
    above = filtered[np.isclose(filtered["peak_logit"], 3.0)].iloc[0]
    assert math.isnan(above["under_by"]) and above["status"] == "above threshold: filtered out or off-centre"
    cyan = np.all(view.heatmap == analysis.HOT_COLOR, axis=2)
    assert cyan[25:36, 35:46].any() and not cyan[45:56, 15:26].any()  # boxed: the hot one, not the cold one
    # A wider margin makes the cold target hot too; a lower threshold detects the hot one.
    assert (analysis.image_view(image, logits, mask, 0.0, None, margin=7.0).hot["status"] == analysis.HOT).all()
    assert len(analysis.image_view(image, logits, mask, -1.0, None).match.missed) == 1


def test_a_gallery_thumbnail_draws_a_hot_miss_as_the_inspector_does() -> None:
    """The gallery's thumbnail boxed a hot-but-below target as a plain miss while the inspector below it said hot."""
    image, logits, mask = _scene()
    thumb = analysis.thumbnail(image, logits, mask, 0.0, None, size=(64, 64), margin=2.0)
    hot = np.all(thumb == analysis.HOT_COLOR, axis=2)
    missed = np.all(thumb == palette.outcome(palette.MISSED).bgr, axis=2)
    assert hot[25:36, 35:46].any() and not missed[25:36, 35:46].any()  # the hot one
    assert missed[45:56, 15:26].any() and not hot[45:56, 15:26].any()  # the cold one
    plain = analysis.thumbnail(image, logits, mask, 0.0, None, size=(64, 64), margin=0.1)  # neither hot
    assert not np.all(plain == analysis.HOT_COLOR, axis=2).any()


def test_rescoring_counts_misses_and_hot_misses_per_image() -> None:
    _, logits, mask = _scene()
    saliency, masks = {"a": logits}, {"a": mask}
    _, table = analysis.rescore_table(saliency, masks, 0.0, margin=2.0)
    assert table.loc[0, ["targets", "detected", "missed", "hot_misses"]].tolist() == [3, 1, 2, 1]
    metrics, table = analysis.rescore_table(saliency, masks, -1.0)
    assert table.loc[0, "detected"] == 2 and metrics["pd"] == pytest.approx(2 / 3)
    assert analysis.rescore_table(saliency, masks, 0.0, TargetFilter(min_size=20))[0]["pd"] == 0.0
    with pytest.raises(LwirstError, match="mask 32x32"):
        analysis.rescore_table(saliency, {"a": mask[:32, :32]}, 0.0)
    with pytest.raises(LwirstError, match="an image the dataset lacks"):
        analysis.rescore_table(saliency, {}, 0.0)
    images = pd.DataFrame({"name": ["x", "y", "z"], "iou": [0.9, 0.1, 0.5], "missed": [0, 2, 0],
                           "false_alarms": [3, 0, 1], "fa_pixels": [3, 0, 40], "hot_misses": [0, 1, 0]})
    assert analysis.rank_images(images, "false alarms (count)")["name"].tolist() == ["x", "z", "y"]
    assert analysis.rank_images(images, "false-alarm pixels")["name"].tolist() == ["z", "x", "y"]
    assert analysis.filter_images(images, ["hot but below threshold"])["name"].tolist() == ["y"]
    assert analysis.filter_images(images, ["missed", "false alarm"], (0.4, 1.0))["name"].tolist() == ["x", "z"]
    moves = dict((move.label, move.delta) for move in analysis.metric_moves(
        {"precision": 0.5, "recall": 0.5, "f1": 0.5, "miou": 0.5, "pd": 0.5, "fa": 2e-6},
        {"precision": 0.6, "recall": 0.4, "f1": 0.5, "miou": 0.5, "pd": 1.0, "fa": 1e-6}))
    assert moves["P"] == "+0.1000" and moves["Pd"] == "+0.5000" and moves["Fa (×1e-6)"] == "-1.00"


class _FirstReadLast(Mapping[str, np.ndarray]):
    """Stored maps whose first map is handed out only once the second has been read: read one at a time, in
    order, the first would wait for good."""

    def __init__(self, maps: Mapping[str, np.ndarray]) -> None:
        self.maps, self.names, self.second_read = maps, list(maps), threading.Event()

    def __getitem__(self, name: str) -> np.ndarray:
        if name == self.names[0] and not self.second_read.wait(20):
            raise AssertionError("the maps were read one at a time")
        if name == self.names[1]:
            self.second_read.set()
        return self.maps[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self.names)

    def __len__(self) -> int:
        return len(self.names)


def test_rescoring_reads_maps_ahead_yet_scores_as_one_plain_pass(tmp_path: Path) -> None:
    """A slider step reads and thresholds the next maps on threads while one is scored: the table keeps the maps'
    order, each row is its image scored alone, the metrics those of one plain pass over the maps, and of two
    images in error the first is named, not the one a thread read first."""
    rng = np.random.default_rng(7)
    maps, masks = {}, {}
    for i in range(9):
        mask, logits = np.zeros((48, 64), bool), rng.normal(-6.0, 1.0, (48, 64))
        if i % 3:  # a target in two images of three, found or missed
            y, x = rng.integers(4, 40), rng.integers(4, 56)
            mask[y:y + 3, x:x + 3] = True
            logits[y:y + 3, x:x + 3] += rng.uniform(3.0, 9.0)
        if i % 4 == 0:
            logits[1:3, 60:62] = 4.0  # a false alarm
        maps[f"img{i}"], masks[f"img{i}"] = logits.astype(np.float32), mask
    write_maps(tmp_path / MAPS_FILE, maps)
    stored = StoredMaps(tmp_path / MAPS_FILE)
    metrics, table = analysis.rescore_table(_FirstReadLast(stored), masks, -1.0)
    assert table["name"].tolist() == list(maps)
    alone = [analysis.rescore_table({name: stored[name]}, {name: masks[name]}, -1.0)[1] for name in maps]
    pd.testing.assert_frame_equal(table, pd.concat(alone, ignore_index=True))
    pixel, pdfa, plugins = PixelMetrics(0.5), PdFa(0.5), plugin_metrics(0.5)
    for name in maps:
        found = detect(stored[name], -1.0).mask
        for metric in (pixel, pdfa, *plugins):
            metric.update(found, masks[name])
    plain = {**pixel.compute().as_metrics(), **pdfa.compute().as_metrics(), **plugin_results(plugins)}
    assert pd.Series(metrics).equals(pd.Series(plain)) and metrics["targets"] == 6
    with pytest.raises(LwirstError, match=r"^img2: mask 32x32"):
        analysis.rescore_table(stored, masks | {"img2": mask[:32, :32], "img3": mask[:16, :16]}, -1.0)


def test_onnx_uploads_are_validated_and_stored_under_a_safe_name(tmp_path: Path) -> None:
    with pytest.raises(LwirstError, match="1-channel saliency map"):
        analysis.check_onnx_upload(wrong_shape_onnx(), "rgb.onnx", 1 << 20)
    with pytest.raises(LwirstError, match="not a valid ONNX model"):
        analysis.check_onnx_upload(b"not onnx", "junk.onnx", 1 << 20)
    with pytest.raises(LwirstError, match="upload limit"):
        analysis.check_onnx_upload(b"x" * 2048, "big.onnx", 1024)
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, ["n", 1, "h", "w"])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, ["n", 1, "h", "w"])
    graph = helper.make_graph([helper.make_node("Identity", ["x"], ["y"])], "g", [x], [y])
    data = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]).SerializeToString()
    upload = analysis.check_onnx_upload(data, "../../etc/my model.onnx", 1 << 20)
    assert upload.input_shape == ("n", 1, "h", "w")
    path = analysis.store_upload(data, upload, tmp_path, session="s1")
    assert path.parent.parent == tmp_path / "s1" and path.name == "my_model.onnx"
    assert onnx.load(str(path)).graph.node[0].op_type == "Identity"


def test_cached_runs_lists_saved_results(tmp_path: Path) -> None:
    result = EvalResult({"miou": 0.5, "images": 2}, pd.DataFrame({"name": ["a"], "iou": [0.5]}), {},
                        EvalProtocol.from_json({"model": "m.safetensors", "hash": "h", "backend": "torch",
                                                "protocol": "resize", "threshold": 0.0, "dataset": "samples",
                                                "split": "test"}))
    result.save(tmp_path / "abc")
    (tmp_path / "broken").mkdir()
    (tmp_path / "broken" / "metrics.json").write_text("{")
    runs = analysis.cached_runs(tmp_path)
    assert runs["key"].tolist() == ["abc"] and runs.loc[0, "miou"] == 0.5
    assert analysis.cached_runs(tmp_path / "missing").empty


def test_results_another_version_of_the_code_scored_are_listed_nowhere(
        monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """The command line never answers from a result other code scored (its key holds the code signature), but
    the pages listed every cached result: a metric edited since showed its old figure on Compare. Each result
    records the code that scored it; one of another version, or of an lwirst from before that was recorded (which
    also cached visitors' uploaded models), is left out of every view and counted on Compare."""
    from lwirst.evaluate import _result_digest, code_signature

    monkeypatch.setenv("LWIRST_CACHE_DIR", str(tmp_path / "cache"))
    base = {"model": "m", "backend": "torch", "protocol": "resize", "threshold": 0.0, "dataset": "samples",
            "split": "test", "hash": "cafe"}
    for key in ("current", "edited-metric", "older-lwirst"):
        folder = EvalResult({"miou": 0.5, "images": 2}, pd.DataFrame({"name": ["a"], "iou": [0.5]}), {},
                            EvalProtocol.from_json(base)).save(cache_root() / key)
        summary = json.loads((folder / "metrics.json").read_text())
        assert summary.pop("digest") and summary["code"] == code_signature()
        if key == "edited-metric":
            summary["code"] = "0123456789abcdef"
        elif key == "older-lwirst":
            del summary["code"]
        (folder / "metrics.json").write_text(json.dumps({**summary, "digest": _result_digest(summary, folder)}))
    assert set(analysis.cached_runs()["key"]) == {"current", "edited-metric", "older-lwirst"}
    assert set(dash.listed_runs()["key"]) == {"current"}
    assert dash.runs_of_other_code(include_demo=False) == 0  # on data this server does not offer: never shown
    offered = sorted(dash.offered_data())[0]
    for folder in cache_root().iterdir():  # as if scored on the embedded samples, which this server offers
        summary = json.loads((folder / "metrics.json").read_text())
        summary.pop("digest")
        summary["protocol"]["data_fingerprint"] = offered
        (folder / "metrics.json").write_text(json.dumps({**summary, "digest": _result_digest(summary, folder)}))
    assert dash.runs_of_other_code(include_demo=False) == 2
    at = open_page("6_compare.py")
    assert any(c.value.startswith("Not shown: 2 cached evaluation(s) scored by another version") for c in at.caption)


def test_compare_places_a_cached_run_of_a_model_the_server_does_not_offer(monkeypatch: pytest.MonkeyPatch,
                                                                          tmp_path: Path) -> None:
    """A run evaluated from the command line with a model file the server does not offer was listed "cost
    unknown" and left off the accuracy-against-cost charts: a result records its network's params and FLOPs, and
    Compare places it by them; one stored before they were recorded is still named as not on the charts."""
    monkeypatch.setenv("LWIRST_CACHE_DIR", str(tmp_path / "cache"))
    offered = sorted(dash.offered_data())[0]
    for key, cost in (("recorded", {"params": 170_000, "flops": 250e6}), ("older", {})):
        protocol = EvalProtocol.from_json({"model": f"{key}.safetensors", "hash": f"{key}-hash", "backend": "torch",
                                           "protocol": "resize", "threshold": 0.0, "dataset": "mine",
                                           "split": "test", "data_fingerprint": offered, **cost})
        EvalResult({"miou": 0.5, "f1": 0.6, "images": dash.FIG4_MIN_IMAGES}, pd.DataFrame({"name": ["a"]}), {},
                   protocol).save(cache_root() / key)
    points = dash.measured_points(include_demo=False, include_sweeps=False).set_index("name")
    assert points.loc["recorded", ["params_m", "flops_m"]].tolist() == pytest.approx([0.17, 250.0])
    assert points.loc["older", ["params_m", "flops_m"]].isna().all()
    at = open_page("6_compare.py")
    unplotted = [c.value for c in at.caption if c.value.startswith("Not on the charts (cost unknown")]
    assert len(unplotted) == 1 and unplotted[0].endswith(": older"), unplotted


# ---------------------------------------------------------------- Evaluate page


def test_evaluate_runs_with_cards_curves_and_table_and_reopens_from_the_disk_cache(
        network_calls: list[int]) -> None:
    at = open_page("5_evaluate.py")  # the samples are few: evaluated on opening, no button to press
    assert not at.exception and not errors(at) and not at.button
    assert len(network_calls) == 2  # the samples' test split
    assert {m.label for m in at.metric} >= {"P", "R", "F1", "mIoU", "nIoU", "Pd", "Fa (×1e-6)", "AUC", "Params",
                                             analysis.FLOPS_LABEL, "Model-only fps"}
    assert pages.metric(at, "Params") == "0.1632 M"
    assert float(pages.metric(at, "Model-only fps")) > 0
    assert len(at.get("plotly_chart")) == 3
    ious = at.dataframe[0].value["iou"].tolist()
    assert ious == sorted(ious)
    shown = json.loads(at.dataframe[0].proto.columns)  # the headers: human words, no raw column names
    assert {c: shown[c]["label"] for c in ("fa_pixels", "missed_peaks", "false_alarms", "name")} == {
        "fa_pixels": "false-alarm pixels", "missed_peaks": "missed targets' peak logits",
        "false_alarms": "false alarms", "name": "image"}
    precision = pages.metric(at, "P")

    again = open_page("5_evaluate.py")  # a new session: straight from the disk cache
    assert pages.metric(again, "P") == precision
    assert not network_calls  # the page of the new session made no network call
    again.number_input(key="eval_threshold").set_value(2.0).run()  # scored again from the stored maps
    assert not network_calls and not errors(again)
    assert pages.metric(again, "P") != precision
    assert any("scored again from the maps of its run at threshold 0" in c.value for c in again.caption)
    rescored = next(r for r in again.session_state[dash.RUNS_KEY].values() if r.threshold == 2.0).result
    assert not list(cache_root().glob("*/metrics.json"))[1:]  # a re-scoring is not written to the disk cache
    for maps in cache_root().glob("*/saliency.npz"):  # without stored maps, the network runs at 2.0 ...
        maps.unlink()
    direct = open_page("5_evaluate.py", eval_threshold=2.0)
    assert network_calls
    run = next(r for r in direct.session_state[dash.RUNS_KEY].values() if r.threshold == 2.0).result
    for key in ("precision", "recall", "f1", "miou", "niou", "pd", "fa", "targets", "false_alarms"):  # ... alike
        assert rescored.metrics[key] == pytest.approx(run.metrics[key], rel=1e-3, abs=1e-6, nan_ok=True), key


def test_evaluate_scores_through_the_sidebars_size_and_ratio_filter(network_calls: list[int]) -> None:
    """The sidebar's Eq. 4 filter (the widgets every page shares) reaches Evaluate's scores, as `lwirst evaluate
    --min-size` does: re-scored from the stored maps without the network, named in the run's label and caption,
    and equal to the network's own run through the filter; a filtered run cached on disk says its filter where
    Failures lists it, and Failures' baseline is that run's own filter."""
    at = open_page("5_evaluate.py")
    plain = next(iter(at.session_state[dash.RUNS_KEY].values())).result
    network_calls.clear()
    at.slider(key="size_range").set_value((4, common.SIZE_CAP)).run()
    assert not network_calls and not errors(at)
    run = next(r for r in at.session_state[dash.RUNS_KEY].values() if r.result.protocol.target_filter.active)
    assert run.result.protocol.target_filter == TargetFilter(min_size=4)
    assert "· filter size > 4 px" in run.label
    assert any("Eq. 4 filter size > 4 px" in c.value for c in at.caption)
    assert run.result.metrics["detected"] + run.result.metrics["false_alarms"] < (
        plain.metrics["detected"] + plain.metrics["false_alarms"])  # the filter dropped blobs: it was applied
    for maps in cache_root().glob("*/saliency.npz"):  # without stored maps, the network runs through the filter
        maps.unlink()
    direct = open_page("5_evaluate.py", size_range=(4, common.SIZE_CAP))
    assert network_calls
    scored = next(iter(direct.session_state[dash.RUNS_KEY].values())).result
    for key in ("precision", "recall", "miou", "niou", "pd", "fa", "targets", "detected", "false_alarms"):
        assert scored.metrics[key] == pytest.approx(run.result.metrics[key], rel=1e-3, abs=1e-6, nan_ok=True), key
    listed = dash.listed_runs()
    assert list(listed["filter"]) == ["size > 4 px"]  # the plain run lost its maps above: no longer whole
    assert "· filter size > 4 px" in dash.disk_label(listed.iloc[0])
    failures = open_page("8_failures.py", size_range=(4, common.SIZE_CAP))
    failures.selectbox(key="failure_run").set_value(next(
        label for label in failures.selectbox(key="failure_run").options if "filter size > 4 px" in label)).run()
    assert any("against the evaluation (threshold 0.5 (logit 0), filter size > 4 px)" in c.value
               for c in failures.caption)


def test_evaluate_shows_the_operator_row_the_protocol_as_run_and_how_few_images() -> None:
    """The operator numbers the result holds are on the page, read from the metric table's operator view;
    the caption states the protocol each image ran with; a two-image run says it stands on two images."""
    at = open_page("5_evaluate.py")
    assert not at.exception and not errors(at)
    run = next(iter(at.session_state[dash.RUNS_KEY].values()))
    m = run.result.metrics
    assert m["empty_frames"] == 0  # the samples' test split: every frame holds a target
    shown = {s.key: pages.metric(at, s.label) for s in metric_specs(OPERATOR)}
    assert shown == {s.key: "—" if s.of and not m[s.of] else s.out_of(m) for s in metric_specs(OPERATOR)}
    assert [shown[key] for key in ("detected", "false_alarms", "blobs_per_frame", "empty_alarm_rate", "pd_at_fa")] \
        == [f"{m['detected']} of {m['targets']}", str(m["false_alarms"]), f"{m['blobs_per_frame']:.3f}", "—",
            f"{m['pd_at_fa']:.4f}"]
    captions = " ".join(c.value for c in at.caption)
    assert "empty frames alarmed: no target-free frame in this split" in captions  # why that card has no value
    assert "protocol auto: all 2 images at the model size 256×256, as they are" in captions
    # each field apart (Markdown collapsed the command line's two spaces: "...grey frames) threshold 0.5")
    assert " · threshold 0.5 (logit 0) (" in captions and " · backend " in captions
    assert "[256, 256]" not in captions
    header = " ".join(md.value for md in at.markdown)
    assert f"2 images, {m['targets']} targets: too few images (under {analysis.FEW_IMAGES})" in header
    assert "FLOPs per frame run" not in {c.label for c in at.metric}  # the samples ran at 256×256: one figure
    # with scale consensus they ran again at 384×384: that cost is a card of its own
    confirmed = open_page("5_evaluate.py", consensus=True)
    assert "; scale consensus at 1.5x" in " ".join(c.value for c in confirmed.caption)
    assert pages.metric(confirmed, "FLOPs per frame run").endswith(flops_text(run.flops * (1 + 1.5**2)))


def test_an_evaluation_with_scale_consensus_never_answers_for_one_without(network_calls: list[int]) -> None:
    """A consensus run's result and maps are its own: a plain request, at its threshold or at another (the
    re-scoring lookup), from this session or the disk cache, is not served from them but runs the network (the
    samples are evaluated on opening); a consensus request is served from them."""
    at = open_page("5_evaluate.py", consensus=True)
    assert not at.exception and not errors(at) and len(network_calls) == 2
    assert f"· consensus {DASHBOARD_SCALE:g}×" in " ".join(md.value for md in at.markdown)  # the run's label
    assert f"scale consensus at {DASHBOARD_SCALE:g}x" in " ".join(c.value for c in at.caption)  # as it ran
    network_calls.clear()
    plain = open_page("5_evaluate.py", eval_threshold=2.0)  # a new session: the disk cache holds the consensus run
    assert len(network_calls) == 2 and "· consensus" not in " ".join(md.value for md in plain.markdown)
    network_calls.clear()
    at.number_input(key="eval_threshold").set_value(2.0).run()  # consensus at 2.0: from the consensus run's maps
    assert any("scored again from the maps of its run at threshold 0" in c.value for c in at.caption)
    at.toggle(key="consensus").set_value(False).run()  # plain at 2.0: the plain session's run, from the disk
    assert not network_calls and "· consensus" not in " ".join(md.value for md in at.markdown)
    rescored = open_page("5_evaluate.py", consensus=True, eval_threshold=2.0)
    assert any("scored again from the maps of its run at threshold 0" in c.value for c in rescored.caption)
    assert f"· consensus {DASHBOARD_SCALE:g}×" in " ".join(md.value for md in rescored.markdown)
    assert not network_calls  # the page of the new session made no network call


def test_the_flops_card_gives_the_cost_of_the_frames_a_run_fed_the_network() -> None:
    """FLOPs are labelled per 256×256 frame; a run whose frames ran natively at 640×512 and 1280×1024 also
    gives the FLOPs per frame it actually ran, the cost behind the fps beside it."""
    per_image = pd.DataFrame({"height": [512, 512, 1024], "width": [640, 640, 1280], "protocol": ["native"] * 3})
    result = EvalResult({"fps": 10.0}, per_image, {}, EvalProtocol.from_json({"protocol": "auto", "size": [256, 256],
                                                       "applied": {"native": 3}}))
    cards = {label: (value, help_) for label, value, help_ in analysis.cost_cards(result, 163_232, 303.53e6)}
    assert cards[analysis.FLOPS_LABEL][0] == "303.5 M"
    value, help_ = cards["FLOPs per frame run"]
    assert value == f"≈ {(2 * 1517.65 + 6070.6) / 3 / 1000:.2f} G"  # 303.53 M × 5 and × 20, by pixel count
    assert "2 at 640×512: 1.52 G; 1 at 1280×1024: 6.07 G" in help_
    labels = list(cards)
    assert labels.index("FLOPs per frame run") + 1 == labels.index("Model-only fps")


def test_evaluate_overlays_an_uploaded_onnx_model_and_refuses_a_wrong_one() -> None:
    at = open_page("5_evaluate.py")
    at.file_uploader(key="eval_onnx").set_value(("bad.onnx", wrong_shape_onnx(), "application/octet-stream")).run()
    assert not at.exception
    assert any("bad.onnx" in e and "1-channel saliency map" in e for e in errors(at))
    at.file_uploader(key="eval_onnx").set_value(("junk.onnx", b"not a model", "application/octet-stream")).run()
    junk = [e for e in errors(at) if "not a valid ONNX model" in e]
    assert len(junk) == 1 and junk[0].count("junk.onnx") == 1, junk  # the file named once

    onnx_bytes = to_onnx_bytes(demo_network())
    at.file_uploader(key="eval_onnx").set_value(("demo.onnx", onnx_bytes, "application/octet-stream")).run()
    assert not at.exception and not errors(at)
    # the upload's cost is counted on its graph, where the export folded BatchNorm away
    assert [m.value for m in at.metric if m.label == "Params"] == ["0.1632 M", "0.1576 M"]
    assert [m.value for m in at.metric if m.label == analysis.FLOPS_LABEL] == ["303.5 M", "286.4 M"]
    roc = chart(at, "eval_roc")
    assert len(roc["data"]) == 2 and any("upload: demo.onnx" in t["name"] for t in roc["data"])
    # run in a capped worker process whatever the sidebar's backend: named in its label and its run's caption
    assert any(t["name"].startswith("upload: demo.onnx<br>onnxruntime-worker/") for t in roc["data"])
    assert any("backend onnxruntime-worker" in c.value for c in at.caption), [c.value for c in at.caption]
    # a visitor's upload and what it scored stay in that visitor's session: another visitor's Failures and
    # Compare listed it (file name, per-image results and maps) from the shared evaluation cache
    assert "demo.onnx" not in set(analysis.cached_runs()["model"])
    at.switch_page(str(PAGES / "8_failures.py")).run()
    assert any("demo.onnx" in str(o) for o in at.selectbox(key="failure_run").options)  # its own session: yes
    other = open_page("8_failures.py")
    assert not any("demo.onnx" in str(o) for o in other.selectbox(key="failure_run").options)


def test_an_uploaded_models_evaluation_stops_at_the_servers_time_budget(monkeypatch: pytest.MonkeyPatch) -> None:
    """A model that passes its trial may still take up to LWIRST_ONNX_WORKER_SECONDS on every frame, holding one of
    the server's run places for hours on a large set: its run stops once LWIRST_MAX_UPLOAD_RUN_SECONDS have gone,
    in one line saying where and what to do; the sidebar's model is evaluated as ever."""
    monkeypatch.setenv("LWIRST_MAX_UPLOAD_RUN_SECONDS", "1")
    at = open_page("5_evaluate.py")
    at.file_uploader(key="eval_onnx").set_value(("slow.onnx", sluggish_onnx(), "application/octet-stream")).run()
    assert not at.exception
    stopped = [e for e in errors(at) if "slow.onnx" in e]
    assert len(stopped) == 1 and "stopped after image 1 of 2" in stopped[0], errors(at)
    assert stopped[0].count("slow.onnx") == 1  # the model named once (its label was said twice)
    assert "LWIRST_MAX_UPLOAD_RUN_SECONDS" in stopped[0] and "lwirst evaluate --model" in stopped[0]
    assert pages.metric(at, "P")  # the sidebar's model: scored
    roc = chart(at, "eval_roc")
    assert not any("slow.onnx" in t["name"] for t in roc["data"])


def test_evaluate_draws_the_shipped_model_in_its_colour() -> None:
    """The shipped model's curves are `palette.SHIPPED` beside another model, as on Compare."""
    at = open_page("5_evaluate.py", model=common.SHIPPED_LABEL)
    at.file_uploader(key="eval_onnx").set_value(("demo.onnx", to_onnx_bytes(demo_network()),
                                                 "application/octet-stream")).run()
    assert not at.exception and not errors(at)
    colours = {t["name"]: t["line"]["color"] for t in chart(at, "eval_roc")["data"]}
    assert len(colours) == 2
    shipped = [c for name, c in colours.items() if name.startswith(common.SHIPPED_LABEL)]
    others = [c for name, c in colours.items() if not name.startswith(common.SHIPPED_LABEL)]
    assert shipped == [palette.SHIPPED] and others and palette.SHIPPED not in others


def test_evaluate_and_failures_report_a_mask_size_mismatch(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Every bad file of the set is named, as `lwirst evaluate` names them: the pages stopped at the first one,
    and a visitor fixed five masks one error at a time."""
    root = tmp_path / "baddata"
    (root / "images").mkdir(parents=True)
    (root / "masks").mkdir()
    for name, rows in (("a", 32), ("b", 64), ("c", 16)):
        cv2.imwrite(str(root / "images" / f"{name}.png"), np.full((64, 64), 30, np.uint8))
        cv2.imwrite(str(root / "masks" / f"{name}.png"), np.zeros((rows, 64), np.uint8))
    monkeypatch.setenv("LWIRST_DATA_DIR", str(root))
    at = open_page("5_evaluate.py", data_root="baddata")  # three images: evaluated on opening
    assert not at.exception
    said = [e for e in errors(at) if "2 problem(s)" in e]
    assert len(said) == 1 and "image 64x64 but mask 64x32" in said[0] and "image 64x64 but mask 64x16" in said[0]
    at.switch_page(str(PAGES / "8_failures.py")).run()  # evaluates the set on demand: the same list
    assert not at.exception
    assert any("image 64x64 but mask 64x32" in e and "image 64x64 but mask 64x16" in e for e in errors(at)), \
        errors(at)


def test_a_run_cached_by_one_spelling_of_a_dataset_opens_under_the_name_another_asks_by(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, network_calls: list[int]) -> None:
    """One folder reached under two names (a dataset of one root, and through a link as another's) is one set of
    files: the second server finds the first's run, with no network call, and names it as its own sidebar does (it
    said the first's name, e.g. "nudt/test" under "NUDT-SIRST (test)")."""
    from lwirst.synth import SceneConfig, write_dataset

    write_dataset(tmp_path / "a" / "mine", 4, SceneConfig(size=(64, 64)), seed=5, test_fraction=0.5)
    (tmp_path / "b").mkdir()
    (tmp_path / "b" / "theirs").symlink_to(tmp_path / "a" / "mine", target_is_directory=True)
    monkeypatch.setenv("LWIRST_DATA_DIR", str(tmp_path / "a"))
    first = open_page("5_evaluate.py", data_root="a")
    assert network_calls and not errors(first)
    assert any(" · mine/test (2 images)" in c.value for c in first.caption), [c.value for c in first.caption]
    network_calls.clear()
    monkeypatch.setenv("LWIRST_DATA_DIR", str(tmp_path / "b"))
    again = open_page("5_evaluate.py", data_root="b")
    assert not network_calls and not errors(again)  # straight from the disk cache
    assert any(" · theirs/test (2 images)" in c.value for c in again.caption), [c.value for c in again.caption]


def test_a_model_record_naming_a_path_out_of_the_data_roots_is_not_followed(tmp_path: Path,
                                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    """The in-sample note opens the split a model's record names: "../outside/ds" opened a folder beside the offered
    root (and listed it), where a note said its images were the training split's."""
    from lwirst.checkpoint import save_checkpoint
    from lwirst.config import NetConfig
    from lwirst.synth import SceneConfig, write_dataset

    write_dataset(tmp_path / "root" / "mine", 4, SceneConfig(size=(64, 64)), seed=5, test_fraction=0.5)
    (tmp_path / "outside").mkdir()
    (tmp_path / "outside" / "ds").symlink_to(tmp_path / "root" / "mine", target_is_directory=True)
    monkeypatch.setenv("LWIRST_DATA_DIR", str(tmp_path / "root"))
    model = tmp_path / "models" / "m.safetensors"
    model.parent.mkdir()
    for dataset, said in (("../outside/ds", False), ("mine", True)):
        save_checkpoint(model, demo_network(), NetConfig(), meta={"data": {"dataset": dataset, "train_split": "test",
                                                                          "data_dir": "/etc"}})
        note = dash._in_sample(str(tmp_path / "root"), "mine", "test", str(model), dataset, "mine (test)")
        assert bool(note) is said, note
    assert common.plain_dataset("fusion:mdfa@black+sirst") and not common.plain_dataset("..")


def test_an_error_names_the_servers_folders_as_the_sidebar_does(tmp_path: Path,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    """A visitor read '/work/.../roots/ds_nested/images' in an error: a data root is named by its label."""
    root = tmp_path / "nested"
    for folder in ("images", "masks"):
        (root / folder / "seq1").mkdir(parents=True)
        cv2.imwrite(str(root / folder / "seq1" / "a.png"), np.zeros((64, 64), np.uint8))
    monkeypatch.setenv("LWIRST_DATA_DIR", str(root))
    at = open_page("5_evaluate.py", data_root="nested")
    said = errors(at)
    assert any("its images are in sub-folders (seq1/)" in e and "(nested/images)" in e for e in said), said
    assert not any(str(tmp_path) in e for e in said), said


def test_a_data_directory_with_the_wrong_layout_is_a_readable_error(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "junk" / "pictures").mkdir(parents=True)
    monkeypatch.setenv("LWIRST_DATA_DIR", str(tmp_path / "junk"))
    for page in ("5_evaluate.py", "8_failures.py"):
        at = open_page(page, data_root="junk")
        assert any("no dataset" in e for e in errors(at)), errors(at)


# ---------------------------------------------------------------- Compare page


def test_compare_shows_the_shipped_model_from_its_card_on_first_load() -> None:
    at = open_page("6_compare.py", model=next(iter(common.trained_models()), ""))
    flops = chart(at, "compare_flops")
    card = json.loads((REPO / "data" / "models" / "lwirst-sirst.json").read_text())
    # the card was scored with the default scale consensus (round 43) and peak margin (round 51)
    name = "lwirst-sirst, consensus 1.5×, margin 1"
    for protocol, scores in card["test_metrics"].items():
        trace = next(t for t in flops["data"]
                     if t["name"] == f"model card, sirst test ({protocol}, confirmed at 1.5x, margin 1)")
        assert list(trace["hovertext"]) == [name] and plotted(trace["y"])[0] == pytest.approx(scores["miou"])
        assert plotted(trace["x"])[0] == pytest.approx(card["flops"] * 3.25 / 1e6)  # its second run costs too
    assert analysis.PAPER_SOURCE in {t["name"] for t in flops["data"]}
    for key in ("compare_flops", "compare_params"):  # the star and its name: one colour on both panels
        stars = [t for t in chart(at, key)["data"] if name in list(t.get("hovertext", []))]
        assert len(stars) == len(card["test_metrics"])
        assert {(t["marker"]["color"], t["textfont"]["color"]) for t in stars} == {(palette.SHIPPED, palette.SHIPPED)}
        assert sum(list(t["text"]).count(name) for t in stars) == 1


def test_compare_draws_the_shipped_model_in_one_colour_on_every_panel() -> None:
    """The shipped model's stars and its written name are `palette.SHIPPED` in both panels of both
    metrics, whichever of its points the label lands on, and no other source takes that colour; a
    source missing from one panel (no FLOPs) does not shift the others' colours."""
    shipped = analysis.SHIPPED_NAME
    rows = [analysis.measured_point(shipped, {"miou": miou, "f1": miou + 0.1}, "sirst", "test", 163_200, 303.5e6,
                                    protocol=protocol, origin=origin)
            for miou, protocol, origin in [(0.689, "native", analysis.CARD_PREFIX),
                                           (0.699, "resize", analysis.CARD_PREFIX),
                                           (0.70, "auto", analysis.MEASURED_PREFIX)]]
    rows.append(analysis.measured_point("other", {"miou": 0.5, "f1": 0.6}, "sirst", "test", 90_000, 120e6,
                                        protocol="auto"))  # beside the shipped model in one source
    rows.append(analysis.measured_point("export", {"miou": 0.6, "f1": 0.7}, "samples", "test", 163_200, None,
                                        protocol="auto"))  # an ONNX file: no FLOPs, on the Params panel only
    points = analysis.fig4_points(pd.DataFrame(rows))
    panels = [analysis.fig4_figure(points, metric, cost)
              for metric in ("miou", "f1") for cost in ("flops_m", "params_m")]
    seen: list[dict[tuple[str, bool], str]] = []
    for figure in panels:
        traces = [t for t in figure.data if t.mode != "lines" and t.name != analysis.PAPER_SOURCE]
        colours = {}
        for trace in traces:
            owners = {analysis.is_shipped(name) for name in trace.hovertext}
            assert len(owners) == 1, trace.name  # a trace holds the shipped model's points or none of them
            mine = owners.pop()
            assert trace.textfont.color == trace.marker.color  # a label has its marker's colour
            assert (trace.marker.color == palette.SHIPPED) == mine, trace.name
            colours[trace.name, mine] = trace.marker.color
        written = [t for t in traces if shipped in (t.text or ())]
        assert len(written) == 1 and written[0].textfont.color == palette.SHIPPED
        seen.append(colours)
    assert [len(colours) for colours in seen] == [4, 5, 4, 5]  # the export is on the Params panels only
    merged = {key: colour for colours in seen for key, colour in colours.items()}
    assert all(colours == {k: merged[k] for k in colours} for colours in seen)  # one colour per series everywhere
    # The shipped model is blue on every source, so its sources differ in shape (kind and protocol), the
    # same on every panel.
    shapes = [{t.legendgroup: t.marker.symbol for t in figure.data
               if t.mode != "lines" and t.name != analysis.PAPER_SOURCE} for figure in panels]
    assert shapes[1] == {"model card, sirst test (native)": "star-open-dot",
                         "model card, sirst test (resize)": "star-open", "measured here, sirst test (auto)": "square",
                         "measured here, samples test (auto)": "square"}
    blue = {t.marker.symbol for t in panels[1].data if t.mode != "lines" and t.marker.color == palette.SHIPPED}
    assert len(blue) == 3
    assert all(shape.items() <= shapes[1].items() for shape in shapes)
    # the source holding the shipped model and "other" is two legend entries, each naming whose points it has
    names = {t.name for t in panels[0].data if t.legendgroup == "measured here, sirst test (auto)" and t.showlegend
             is not False}
    assert names == {"measured here, sirst test (auto): shipped model", "measured here, sirst test (auto): other"}


def test_compare_legend_fits_its_chart_and_keeps_the_plot_area() -> None:
    """At a fixed 500 px, six long legend entries left the points a 130-px strip, ran past the chart's edge
    (cutting off the model each names) and lost the last entries below it: each entry is wrapped to the
    chart's width, the figure grows by its lines, and a Pareto front is drawn in its source's group, not listed.
    Runs at two thresholds are two sources (one front through both picked the flattering one)."""
    long = "auto: 18 as a pyramid, 12 resized, confirmed at 1.5x, margin 1"
    rows = [analysis.measured_point(name, {"miou": miou}, "mydata", "all", 163_200, 986e6, protocol=long,
                                    threshold=threshold)
            for name, miou, threshold in (("round8", 0.40, 0.0), ("mine", 0.30, 0.0),
                                          (analysis.SHIPPED_NAME, 0.41, 0.0), (analysis.SHIPPED_NAME, 0.53, -6.0))]
    few = analysis.fig4_figure(analysis.fig4_points(pd.DataFrame(rows[:1])), "miou", "flops_m")
    many = analysis.fig4_figure(analysis.fig4_points(pd.DataFrame(rows)), "miou", "flops_m")
    listed = [t.name for t in many.data if t.showlegend is not False]
    assert len(listed) == 4  # the paper, mydata's two sources' shipped point and the others
    assert all(len(line) <= analysis.LEGEND_CHARS for name in listed for line in name.split("<br>"))
    assert any("round8, mine" in name.replace("<br>", " ") for name in listed)  # the names, not cut off
    at = [name.replace("<br>", " ") for name in listed if "at threshold" in name.replace("<br>", " ")]
    assert at == [f"measured here, mydata all ({long}) at threshold 0.00247"]
    assert not [t for t in many.data if t.mode == "lines" and t.showlegend is not False]
    plot = [figure.layout.height - figure.layout.margin.t - figure.layout.margin.b for figure in (few, many)]
    assert plot[0] == plot[1]  # the plot area keeps its height: the figure grows by the legend
    assert many.layout.height > few.layout.height and many.layout.legend.yref == "container"


def test_compare_markers_follow_the_kind_of_source_whatever_else_is_shown() -> None:
    """A model card's point keeps its star when a measurement joins the chart (it used to become a square),
    and the chart names the data each kind of source was scored on, beside the paper's fusion set."""
    card = analysis.measured_point(analysis.SHIPPED_NAME, {"miou": 0.75}, "sirst", "test", 163_200, 303.5e6,
                                   protocol="auto", origin=analysis.CARD_PREFIX)
    mine = analysis.measured_point(analysis.SHIPPED_NAME, {"miou": 0.04}, "mysensor", "test", 163_200, 303.5e6,
                                   protocol="auto", applied=AppliedProtocol("auto", (256, 256), {"native": 39}))

    def symbols(rows: list[dict]) -> dict[str, str]:
        figure = analysis.fig4_figure(analysis.fig4_points(pd.DataFrame(rows)), "miou", "flops_m")
        return {t.name: t.marker.symbol for t in figure.data if t.mode != "lines"}

    alone, both = symbols([card]), symbols([card, mine])
    assert alone["model card, sirst test (auto)"] == both["model card, sirst test (auto)"] == "star"
    assert both["measured here, mysensor test (auto: all native)"] == "square"
    assert alone[analysis.PAPER_SOURCE] == both[analysis.PAPER_SOURCE] == "circle"
    figure = analysis.fig4_figure(analysis.fig4_points(pd.DataFrame([card, mine])), "miou", "flops_m")
    assert figure.layout.title.text == "mIoU vs FLOPs: not comparable"
    assert figure.layout.title.subtitle.text == ("paper: fusion set · model card: sirst test · "
                                                 "measured here: mysensor test")
    assert figure.layout.xaxis.title.text == "FLOPs per 256×256 frame, all runs (M, log)"
    assert analysis.PAPER_SOURCE == "paper, fusion set (Table II)"
    # a metric Table II does not print: the card's points alone, on one data, compare with each other
    alone = analysis.fig4_figure(analysis.fig4_points(pd.DataFrame([{**card, "hiou": 0.7}])), "hiou", "flops_m")
    assert alone.layout.title.text == "hIoU vs FLOPs" and not alone.layout.title.subtitle.text


def test_repeated_compare_names_say_what_tells_them_apart() -> None:
    """One model run with three protocols read as three rows of one name; each now names only what differs."""
    runs = [analysis.measured_point("m", {"miou": 0.5}, "sirst", "test", 1, 1e6, protocol=p,
                                    settings=RunSettings(confirm=1.5))
            for p in ("auto", "resize", "native")]
    runs += [analysis.measured_point("n", {"miou": 0.4}, d, "test", 1, 1e6, protocol="auto") for d in ("a", "b")]
    runs.append(analysis.measured_point("solo", {"miou": 0.4}, "a", "test", 1, 1e6, protocol="auto"))
    names = analysis.distinct_names(pd.DataFrame(runs)).tolist()
    assert names == ["m, consensus 1.5× · auto", "m, consensus 1.5× · resize", "m, consensus 1.5× · native",
                     "n · a test", "n · b test", "solo"]


def test_compare_points_merge_and_keep_their_colours() -> None:
    point = analysis.measured_point("m", {"miou": 0.5}, "sirst", "test", 1, 1e6, protocol="auto")
    later = analysis.measured_point("m", {"miou": 0.6}, "sirst", "test", 1, 1e6, protocol="auto",
                                    applied=AppliedProtocol("auto", (256, 256), {"resize": 84, "native": 2}))
    card = analysis.measured_point("m", {"miou": 0.7}, "sirst", "test", 1, 1e6, protocol="auto",
                                   origin=analysis.CARD_PREFIX)
    merged = analysis.merge_points(pd.DataFrame([card, point, later]))
    assert merged["miou"].tolist() == [0.6]  # one point: the latest measurement, not the card's
    other = analysis.measured_point("n", {"miou": 0.4}, "samples", "test", 1, 1e6, protocol="auto")
    colours = [{t.name: t.marker.color for t in analysis.fig4_figure(analysis.fig4_points(pd.DataFrame(rows)),
                                                                    "miou", "flops_m").data}
               for rows in ([point, other], [other, point])]
    assert colours[0] == colours[1]


def test_compare_keeps_runs_whose_masks_grew_differently_apart() -> None:
    """A run with --grow-to off replaced the default run's point of the same name: mIoU 0.729 became 0.720
    under one legend, with nothing saying the masks differ. A stored result's growth is read back, from its
    "masks" text where it predates the "grow_to" field."""
    from lwirst.postprocess import GROW_TO, describe_growth

    ran = {"resize": 86}
    points = [analysis.measured_point("m", {"miou": miou}, "sirst", "val", 1, 1e6, protocol="auto",
                                      applied=AppliedProtocol("auto", (256, 256), ran, grow_to=grow_to))
              for miou, grow_to in ((0.729, GROW_TO), (0.720, None), (0.731, -2.0))]
    merged = analysis.merge_points(pd.DataFrame(points))
    assert sorted(merged["miou"]) == [0.720, 0.729, 0.731]
    assert merged["name"].tolist() == ["m", "m, Eq. 2 masks", "m, masks grown to p0.12"]
    stored = {"protocol": "auto", "applied": ran}
    for masks, grown in ((describe_growth(None), None), (describe_growth(GROW_TO), GROW_TO)):
        assert EvalProtocol.from_json({**stored, "masks": masks}).grow_to == grown
        assert applied_of({**stored, "masks": masks}).grow_to == grown
    assert EvalProtocol.from_json({"grow_to": None, "masks": describe_growth(GROW_TO)}).grow_to is None


def two_runs_of_one_file_name(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, Path]:
    """Two training runs' best.safetensors (two networks), offered by the model root and evaluated on the
    samples (run_b last); run name -> checkpoint."""
    from lwirst.checkpoint import save_checkpoint
    from lwirst.config import get_preset
    from lwirst.models import build_model

    files = {}
    for run, preset in (("run_a", "lw_irstnet"), ("run_b", "table7_ch_8_16_32")):
        (tmp_path / "runs" / run).mkdir(parents=True)
        config, files[run] = get_preset(preset), tmp_path / "runs" / run / "best.safetensors"
        save_checkpoint(files[run], build_model(config=config), config)
        (tmp_path / "runs" / run / "run.json").write_text("{}")  # a run directory, as `lwirst train` writes it
    monkeypatch.setenv("LWIRST_DASHBOARD_MODEL_ROOTS", str(tmp_path / "runs"))
    at = open_page("5_evaluate.py", eval_models=["best.safetensors (run_a)", "best.safetensors (run_b)"])
    assert not errors(at) and len(at.session_state[dash.RUNS_KEY]) == 2  # both evaluated on opening
    return files


def models_table(at: AppTest) -> pd.DataFrame:
    """Compare's table of this project's models (after the one-run comparison's tables)."""
    return next(d.value for d in at.dataframe if "source" in d.value.columns)


def test_compare_keeps_training_runs_of_one_file_name_apart(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Every run directory holds a best.safetensors: two runs evaluated on one split are two points, each
    with its own network's cost (they were merged into one "best", costed as whichever file came first)."""
    two_runs_of_one_file_name(tmp_path, monkeypatch)
    at = open_page("6_compare.py")  # a new session: the runs come from the disk cache
    table = models_table(at).set_index("name")
    assert {"run_a/best", "run_b/best"} <= set(table.index)
    assert table.loc["run_a/best", "params_m"] != table.loc["run_b/best", "params_m"]


def test_compare_keeps_runs_weights_apart_that_this_server_does_not_offer(tmp_path: Path) -> None:
    """Results name a run's weights "alpha/best.safetensors"; where the server did not offer the file, Compare
    named both runs' points "best" and merged them into one, the later run's."""
    offered = sorted(dash.offered_data())
    for run, miou in (("alpha", 0.41), ("beta", 0.77)):
        protocol = EvalProtocol.from_json({"model": f"{run}/best.safetensors", "hash": f"h{run}", "backend": "torch",
                                           "protocol": "resize", "threshold": 0.0, "dataset": "samples",
                                           "split": "test", "data_fingerprint": offered[0], "grow_to": None})
        EvalResult({"miou": miou, "images": 40}, pd.DataFrame({"name": ["a"], "iou": [miou]}), {},
                   protocol).save(cache_root() / run)
    points = dash.measured_points(include_demo=False, include_sweeps=False).set_index("name")
    assert points.loc["alpha/best", "miou"] == 0.41 and points.loc["beta/best", "miou"] == 0.77


def test_a_cached_run_removed_to_keep_the_cache_within_its_bound_is_dropped_or_said_so(
        network_calls: list[int]) -> None:
    """The cache removes its least recently used results (`lwirst.evalcache`), a page's opening one counting as a
    use, while pages list them: a list drops the run, a row listed before it went says so in one line, the page
    that opened it goes on with the maps it read, and a new session evaluates the model again."""
    at = open_page("8_failures.py")  # the samples: evaluated on opening, stored on disk
    run = next(iter(at.session_state[dash.RUNS_KEY].values()))
    (row,) = (row for _, row in dash.disk_runs(run.choice).iterrows())
    os.utime(row["path"], (0, 0))  # unused since 1970
    open_page("8_failures.py")  # a new session opens it from the disk cache
    assert os.stat(row["path"]).st_mtime > time.time() - 600
    st.session_state.pop(dash.RUNS_KEY, None)  # the session these calls see holds none of its runs
    shutil.rmtree(row["path"])  # as the cache's bound removes it
    assert dash.disk_runs(run.choice).empty
    with pytest.raises(LwirstError, match="removed to keep the evaluation cache within its bound"):
        dash.open_disk_run(row, run.choice)
    at.run()
    assert not at.exception and not errors(at)
    network_calls.clear()
    again = open_page("8_failures.py")
    assert network_calls and not errors(again)
    assert not dash.disk_runs(run.choice).empty  # stored again


def test_a_sessions_run_whose_maps_the_bound_removed_is_evaluated_again_not_a_dead_end(
        network_calls: list[int]) -> None:
    """A tab's run whose stored maps the cache's bound removed before the tab read them: another threshold said
    "the stored maps ... were removed; evaluate the model again" with no Run button, until a new session. The
    session now forgets such a run, so the page evaluates the model again (the samples: on opening)."""
    at = open_page("5_evaluate.py")  # the samples: evaluated on opening; the maps stay on disk, unread
    (run,) = at.session_state[dash.RUNS_KEY].values()
    assert isinstance(run.result.saliency, StoredMaps) and run.result.saliency.readable
    shutil.rmtree(run.result.saliency.path.parent)  # as the cache's bound removes it
    network_calls.clear()
    at.number_input(key="eval_threshold").set_value(1.0).run()
    assert not at.exception and not errors(at), errors(at)
    assert network_calls and at.metric  # evaluated again, at the new threshold
    assert all(r.result.saliency.readable for r in at.session_state[dash.RUNS_KEY].values())


def test_failures_opens_the_sidebar_runs_own_evaluation_not_another_file_of_its_name(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The run picker matched the sidebar model by file name, so run_a opened run_b's (later) evaluation."""
    from lwirst.checkpoint import file_hash

    files = two_runs_of_one_file_name(tmp_path, monkeypatch)
    runs = analysis.cached_runs()
    precision = runs.loc[runs["hash"] == file_hash(files["run_a"]), "precision"].item()
    at = open_page("8_failures.py", model="best.safetensors (run_a)")
    assert at.selectbox(key="failure_run").value.startswith("best.safetensors (run_a) · ")
    assert pages.metric(at, "P") == f"{precision:.4f}"


def test_a_row_picked_in_evaluates_table_opens_its_image_on_failures(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                                      network_calls: list[int]) -> None:
    """Evaluate's per-image table led nowhere: a row picked opens that image on Failures, in the run the table
    showed (here not the one Failures opens on by itself: the latest), at that run's threshold (Evaluate's own, not
    the sidebar's), with every image shown, and nothing run again."""
    two_runs_of_one_file_name(tmp_path, monkeypatch)
    at = open_page("5_evaluate.py", eval_models=["best.safetensors (run_a)", "best.safetensors (run_b)"],
                   eval_threshold=1.0, failure_iou=(0.99, 1.0))  # a filter left on Failures that would hide the image
    network_calls.clear()  # both runs read from the disk cache
    picker = at.selectbox(key="eval_table_model")
    picker.set_value(next(label for label in picker.options if "run_a" in label)).run()
    table = next(d.value for d in at.dataframe if "iou" in d.value.columns)
    assert len(table) >= 2 and any("Select a row to inspect" in c.value for c in at.caption)
    at.session_state["eval_per_image"] = {"selection": {"rows": [1], "columns": [], "cells": []}}
    at.run()
    assert not at.exception and at.title[0].value == "Failure inspector"
    assert at.selectbox(key="failure_run").value.startswith("best.safetensors (run_a) · ")
    assert at.selectbox(key="failure_image").value == table["name"].iloc[1]
    assert at.slider(key="failure_iou").value == (0.0, 1.0)
    assert at.slider(key="threshold").value == 1.0 and any("threshold is now that run's" in i.value for i in at.info)
    assert not network_calls
    at.switch_page(str(PAGES / "8_failures.py")).run()  # the page the visitor is on now (AppTest's own switch)
    at.selectbox(key="failure_image").set_value(table["name"].iloc[0]).run()  # the request was used once:
    assert at.selectbox(key="failure_image").value == table["name"].iloc[0]  # the visitor's next choice stands


def test_compare_keeps_runs_at_two_thresholds_apart() -> None:
    """One model evaluated at two thresholds on one split was one legend entry with one Pareto front through
    both points, which picked the flattering threshold: each threshold is a source of its own, named so."""
    at = open_page("5_evaluate.py")  # the demo network on the samples, at logit 0 (stored on disk)
    at.number_input(key="eval_threshold").set_value(2.0).run()  # the same run scored again at logit 2
    at.session_state["compare_demo"] = True
    at.switch_page(str(PAGES / "6_compare.py")).run()
    sources = set(models_table(at)["source"])
    at_two = [source for source in sources if source.endswith(" at threshold 0.881")]
    assert len(at_two) == 1 and at_two[0].removesuffix(" at threshold 0.881") in sources, sources


def test_compare_hides_cached_runs_of_data_this_server_does_not_offer(tmp_path: Path) -> None:
    at = open_page("5_evaluate.py")
    for summary in (tmp_path / "cache").rglob("metrics.json"):  # as if computed on another server's data
        data = json.loads(summary.read_text())
        data["protocol"]["data_fingerprint"] = "elsewhere"
        summary.write_text(json.dumps(data))
    at = open_page("6_compare.py", compare_demo=True)
    assert not any(t["name"].startswith("measured here") for t in chart(at, "compare_flops")["data"])
    # the box ticked with nothing to show says how to get the demo network's points
    assert any("has no evaluation on this server's data yet" in c.value for c in at.caption)


def test_compare_plots_table_ii_beside_the_models_measured_here(tmp_path: Path) -> None:
    sweep_csv(tmp_path / "ablations" / "t7.csv", [("VII", "table7_ch_8_16_32", 0, 0.55)])
    at = open_page("5_evaluate.py")
    at.switch_page(str(PAGES / "6_compare.py")).run()
    assert not at.exception and not errors(at)
    flops = chart(at, "compare_flops")
    names = {trace["name"] for trace in flops["data"]}
    assert analysis.PAPER_SOURCE in names
    assert "ablation sweep, sirst test" not in names  # short sweep runs: opt-in
    assert not any(n.startswith("measured here, samples test") for n in names)  # the demo network: hidden
    assert flops["layout"]["xaxis"]["type"] == "log" and flops["layout"]["yaxis"]["title"]["text"] == "mIoU"
    assert chart(at, "compare_params")["layout"]["xaxis"]["title"]["text"].startswith("Params")
    at.checkbox(key="compare_sweeps").check().run()
    assert "ablation sweep, sirst test" in {t["name"] for t in chart(at, "compare_flops")["data"]}

    at.checkbox(key="compare_demo").check().run()
    at.radio(key="compare_metric").set_value("F1").run()
    flops = chart(at, "compare_flops")
    # two sample images are too few to plot beside benchmark scores: listed in the table, said in a caption
    assert not any(trace["name"].startswith("measured here, samples test") for trace in flops["data"])
    assert any("fewer than 20 images" in c.value and "untrained demo" in c.value for c in at.caption)
    assert not any("has no evaluation on this server's data yet" in c.value for c in at.caption)
    assert flops["layout"]["yaxis"]["title"]["text"] == "F1"
    table = models_table(at)
    assert "untrained demo" in set(table["name"])
    assert "model card, sirst test (resize, confirmed at 1.5x, margin 1)" in set(table["source"])
    # the demo's run is labelled with the protocol as it ran: the samples have the model size, so "auto" ran
    # them as they are
    assert "measured here, samples test (auto: all at the model size)" in set(table["source"])


def test_compare_plots_any_card_metric_with_a_better_direction() -> None:
    """Only mIoU and F1 could be plotted: a metric plugin's, Pd or nIoU could not be chosen at all, nor Fa,
    where lower is better. Table II prints none of them, so only this project's points show, and the page
    says so."""
    from lwirst.scoring import CARD, metric_specs

    at = open_page("6_compare.py")
    options = at.radio(key="compare_metric").options
    lower = [s.label for s in metric_specs(CARD) if s.better == "lower"]  # a plugin's too, in table order
    assert options[:2] == ["mIoU", "F1"] and options[-len(lower):] == lower and "Fa (×1e-6)" in lower  # lower: last
    assert set(options) == {s.label for s in metric_specs(CARD) if s.better} >= {"Pd", "nIoU", "hIoU"}
    at.radio(key="compare_metric").set_value("Fa (×1e-6)").run()
    assert not at.exception
    assert chart(at, "compare_flops")["layout"]["yaxis"]["title"]["text"] == "Fa (×1e-6), lower is better"
    at.radio(key="compare_metric").set_value("Pd").run()
    assert not at.exception
    flops = chart(at, "compare_flops")
    assert flops["layout"]["yaxis"]["title"]["text"] == "Pd"
    assert analysis.PAPER_SOURCE not in {trace["name"] for trace in flops["data"]}
    assert any(trace["name"].startswith("model card") for trace in flops["data"])
    assert any(c.value == "Table II prints no Pd: only this project's models have points." for c in at.caption)


# ---------------------------------------------------------------- Ablations page


def test_ablations_show_paper_computed_and_measured_figures(tmp_path: Path) -> None:
    def comparison(at: AppTest) -> pd.DataFrame:
        return next(d.value for d in at.dataframe if "preset" in d.value.columns)

    at = open_page("7_ablations.py")
    assert pages.metric(at, "Best here") == analysis.NOT_MEASURED
    rows = comparison(at)
    assert rows["preset"].tolist()[0] == "table3_regular" and set(rows["measured here"]) == {analysis.NOT_MEASURED}

    sweep_csv(tmp_path / "ablations" / "t7.csv", [("VII", "table7_ch_8_16_32", 0, 0.70),
                                                 ("VII", "table7_ch_8_32_64", 0, 0.60)])
    (tmp_path / "ablations" / "notes.csv").write_text("x\n1\n")
    st.cache_data.clear()
    at.selectbox(key="ablation_table").set_value("VII").run()
    assert not at.exception
    assert any("notes.csv" in w.value for w in at.warning)
    # one seed each: a higher mean is not called a winner, and the short schedule is said first
    assert pages.metric(at, "Paper's best") == "8 32 64" and pages.metric(at, "Best here") == "no clear best"
    assert any("short screening schedule (2 epochs" in w.value for w in at.warning)
    assert pages.metric(at, "Kendall tau (paper vs here)") == "-1.00"
    tau = next(m for m in at.metric if m.label == "Kendall tau (paper vs here)")
    assert tau.delta == "not significant"  # two rows: the card says so itself
    assert any("The paper's choice (8 32 64) here: too few seeds" in m.value for m in at.markdown)  # rows by name
    rows = comparison(at).set_index("preset")
    assert rows.loc["table7_ch_16_64_128", "measured here"] == analysis.NOT_MEASURED
    assert rows.loc["table7_ch_8_16_32", "FLOPs check"] == "match"
    at.radio(key="ablation_metric").set_value("F1").run()
    assert comparison(at).set_index("preset").loc["table7_ch_8_16_32", "F1, here (mean)"] == pytest.approx(0.8)
    assert at.get("plotly_chart")
    # three seeds, the paper's row ahead of each alternative in every seed pair: said in words
    sweep_csv(tmp_path / "ablations" / "t8.csv",
              [("VIII", p, s, v + 0.01 * s + 0.003 * (s == 1) * (p == "table8_bilinear")
                + 0.002 * (s == 2) * (p == "table8_bilinear_deconv"))  # real seeds scatter: never the same gap
               for p, v in (("table8_deconv", 0.6), ("table8_bilinear", 0.5), ("table8_bilinear_deconv", 0.55))
               for s in range(3)])
    st.cache_data.clear()
    at.selectbox(key="ablation_table").set_value("VIII").run()
    assert any("The paper's choice (Deconvolution) here: reproduced" in m.value for m in at.markdown)
    assert any("Deconvolution vs Bilinear:" in c.value and "table8_" not in c.value for c in at.caption)
    # the same schedule swept on another split is another experiment: chosen apart, never averaged in as seeds
    other = tmp_path / "ablations" / "t8_train.csv"
    sweep_csv(other, [("VIII", p, s, 0.2) for p in ("table8_deconv", "table8_bilinear") for s in range(3)])
    pd.read_csv(other).assign(train_split="train").to_csv(other, index=False)
    st.cache_data.clear()
    at.run()
    picker = at.selectbox(key="ablation_schedule")
    assert picker.options == ["default+epochs=2 · sirst train → test", "default+epochs=2 · sirst trainval → test"]
    picker.set_value("default+epochs=2 · sirst train → test").run()
    assert comparison(at).set_index("preset").loc["table8_deconv", "F1, here (mean)"] == pytest.approx(0.3)
    picker.set_value("default+epochs=2 · sirst trainval → test").run()
    assert comparison(at).set_index("preset").loc["table8_deconv", "F1, here (mean)"] == pytest.approx(0.71)
    # a file recording no schedule is not the default schedule's: both offered, neither averaged into the other
    runs = analysis.load_ablation_results([tmp_path / "ablations"])[0]
    unscheduled = runs[runs["table"] == "VIII"].assign(schedule="")
    experiments = analysis.sweep_experiments(pd.concat([runs, unscheduled]), "VIII")
    assert "(no schedule recorded) · sirst trainval → test" in experiments and len(experiments) == 4


def test_ablations_name_the_commit_their_trials_ran_and_where_the_command_is(tmp_path: Path) -> None:
    """The sweep's rows came from uncommitted code ("-dirty") and the page showed neither the commit nor where the
    command that wrote them is."""
    path = sweep_csv(tmp_path / "ablations" / "t7.csv", [("VII", "table7_ch_8_16_32", 0, 0.70),
                                                         ("VII", "table7_ch_8_32_64", 0, 0.60)])
    pd.read_csv(path).assign(commit="abc1234-dirty").to_csv(path, index=False)
    at = open_page("7_ablations.py")
    at.selectbox(key="ablation_table").set_value("VII").run()
    summary = next(d.value for d in at.dataframe if "seeds" in d.value.columns)
    assert summary["commit"].tolist() == ["abc1234-dirty"]
    said = " ".join(c.value for c in at.caption)
    assert "data/ablations/README.md" in said and '"-dirty": with changes under lwirst/ not yet committed' in said


def test_ablations_open_with_the_schedule_and_its_curves(tmp_path: Path) -> None:
    """The page states the rule in force (the third round's): the bar waits for the full recipe's three seeds, and
    a schedule is named once its seeds' mean best reaches it."""
    at = open_page("7_ablations.py")
    assert not any("Why this schedule" in e.label for e in at.expander)  # nothing measured: nothing said
    curves = [("reference", 125, 0, e + 1, v) for e, v in enumerate([0.2, 0.6, 0.8, 0.7])]  # curves cut short
    curves += [("default", 60, s, e + 1, v) for s in range(3) for e, v in enumerate([0.5, 0.7])]
    path = tmp_path / "ablations" / "schedule" / "curves.csv"
    path.parent.mkdir(parents=True)

    def write_and_run() -> None:
        pd.DataFrame(curves, columns=["schedule", "epochs", "seed", "epoch", "val_iou"]).to_csv(path, index=False)
        st.cache_data.clear()
        at.run()
        assert not at.exception

    write_and_run()
    # seed 0's curve, and seed 1's best recorded without its curve (schedule.RECORDED_REFERENCE)
    assert any("No schedule is pinned yet" in w.value and "(2 of 3 measured;" in w.value for w in at.warning)
    expander = next(e for e in at.expander if "Why this schedule" in e.label)
    assert expander.get("plotly_chart") and expander.dataframe[0].value["passes"].tolist() == [None]
    curves += [("reference", 125, s, e + 1, v) for s in (1, 2) for e, v in enumerate([0.6, 0.8])]  # mean best 0.8
    write_and_run()
    assert any("No measured schedule has reached the convergence bar yet" in w.value and "0.760" in w.value
               for w in at.warning)
    assert next(e for e in at.expander if "Why this schedule" in e.label).dataframe[0].value["passes"].tolist() == [
        False]
    curves += [("default", 80, s, e + 1, v) for s in range(3) for e, v in enumerate([0.5, 0.7, 0.78])]
    write_and_run()
    assert any("cut to 80 epochs" in m.value and "3 seeds' mean best" in m.value for m in at.markdown)
    curves = [row for row in curves if row[1] != 80] + [("default", 80, s, 1, 0.6) for s in range(3)]
    write_and_run()  # both candidates fail: the rule's last step names the full recipe
    assert any("the full default recipe (125 epochs" in m.value for m in at.markdown)


def test_best_here_is_named_only_when_the_paired_test_separates_it() -> None:
    def view(a: list[float], b: list[float]) -> pd.DataFrame:
        rows = {"a": dict(enumerate(a)), "b": dict(enumerate(b))}
        return pd.DataFrame({"row": list(rows), "here": [np.mean(a), np.mean(b)],
                             "here_sd": [np.std(a, ddof=1) if len(a) > 1 else math.nan for a in (a, b)],
                             "seeds": [len(a), len(b)], "here_by_seed": list(rows.values())})

    assert analysis.best_here(view([0.70, 0.72, 0.69], [0.50, 0.53, 0.49]))[0] == "a"
    assert analysis.best_here(view([0.70, 0.62, 0.74], [0.65, 0.66, 0.64]))[0] == "no clear best"
    assert analysis.best_here(view([0.7], [0.5]))[0] == "no clear best"  # one seed
    # Clear of each other's seed spread (0.32 - 0.03 > 0.17 + 0.11), yet the paired test says noise (differences
    # 0.05 and 0.25, p 0.19): the rule that starred "a" here contradicted the paper's-choice verdict beside it.
    headline, why = analysis.best_here(view([0.30, 0.34], [0.25, 0.09]))
    assert headline == "no clear best" and "within the seed noise" in why
    results = pd.DataFrame({"preset": ["a", "a", "b", "b"], "seed": [0, 1, 0, 1], "m": [0.30, 0.34, 0.25, 0.09]})
    assert ablation_stats.paired_comparisons(results, "a", "m")[0].verdict == ablation_stats.WITHIN_NOISE


# ---------------------------------------------------------------- Failure inspector


def test_failure_inspector_rescores_live_without_the_network(network_calls: list[int]) -> None:
    at = open_page("8_failures.py", threshold=1.0)
    assert not errors(at)
    assert len(network_calls) == 2  # the samples are evaluated on demand, once
    panels = [json.loads(c.proto.spec) for c in at.get("plotly_chart")]
    assert sum(p["data"][0].get("type") == "image" for p in panels) == 4  # overlay, heatmap, input, truth
    assert any(" at (" in img.caption for image in at.get("image") for img in image.proto.imgs)  # chips
    pd_before, fa_before = pages.metric(at, "Pd"), pages.metric(at, "Fa (×1e-6)")
    first = at.selectbox(key="failure_image").value

    at.slider(key="threshold").set_value(5.0).run()
    assert pages.metric(at, "Pd") != pd_before and pages.metric(at, "Fa (×1e-6)") != fa_before
    at.slider(key="size_range").set_value((3, 500)).run()
    at.radio(key="failure_rank").set_value("false alarms (count)").run()
    assert not at.exception
    assert len(network_calls) == 2
    table = at.dataframe[0].value
    assert table["false_alarms"].tolist() == sorted(table["false_alarms"], reverse=True)
    assert at.selectbox(key="failure_image").value in (first, table["name"][0])

    at.slider(key="hot_margin").set_value(10.0).run()
    assert any("hot but below the threshold" in w.value for w in at.warning)
    assert (at.dataframe[1].value["status"] == analysis.HOT).any()
    assert len(network_calls) == 2
    at.slider(key="size_range").set_value((0, 500)).run()
    at.slider(key="threshold").set_value(0.0).run()  # the evaluation's own setting: nothing changed
    assert {m.delta for m in at.metric if m.label in ("P", "R", "F1", "mIoU", "Pd", "Fa (×1e-6)")} == {"no change"}


def test_failure_inspector_says_how_many_images_its_scores_stand_on() -> None:
    at = open_page("8_failures.py")
    run = next(iter(at.session_state[dash.RUNS_KEY].values()))
    note = f"2 images, {run.result.metrics['targets']} targets: too few"
    assert any(note in c.value for c in at.caption), [c.value for c in at.caption]


def test_failure_gallery_filters_ranks_and_drives_the_inspected_image() -> None:
    at = open_page("8_failures.py", threshold=1.0)
    thumbnails = [i for i in at.get("image") if i.proto.imgs and ": IoU " in i.proto.imgs[0].caption]
    assert len(thumbnails) == 2  # both samples
    at.radio(key="failure_rank").set_value("false-alarm pixels").run()
    table = at.dataframe[0].value
    assert table["fa_pixels"].tolist() == sorted(table["fa_pixels"], reverse=True)
    assert all(isinstance(v, str) and v != "None" for v in table["smallest_missed"])  # "—", never "None"
    assert at.selectbox(key="failure_image").value == table["name"][0]  # the new ranking's top is inspected
    at.button(key="failure_pick_1").click().run()
    assert at.selectbox(key="failure_image").value == table["name"][1]  # a thumbnail's Inspect opens it
    at.slider(key="failure_iou").set_value((0.99, 1.0)).run()
    assert any("No image of this run matches" in i.value for i in at.info)  # the demo network scores ~0 IoU


def test_failure_inspector_picks_up_the_latest_evaluate_run() -> None:
    at = open_page("5_evaluate.py", eval_threshold=0.5)
    at.switch_page(str(PAGES / "8_failures.py")).run()
    assert not at.exception and not errors(at)
    assert at.selectbox(key="failure_run").value.startswith(DEMO_MODEL)
    assert "(logit 0.5)" in " ".join(c.value for c in at.caption)  # the run Evaluate made, at logit 0.5


def test_failures_metric_cards_sit_three_to_a_row() -> None:
    """Six to a row cut each change and its "better" / "worse" ("+0.0148 better" in a 54-px box) at 1024 px. One card
    per metric of the table's live view (a plugin's too), three to a row."""
    from lwirst.scoring import LIVE, view_keys

    at = open_page("5_evaluate.py")
    at.switch_page(str(PAGES / "8_failures.py")).run()
    assert not at.exception and not errors(at)

    def rows_of_cards(node: object) -> list[int]:  # per block of columns holding metric cards: its column count
        kids = getattr(node, "children", {})
        columns = [c for c in kids.values() if getattr(c, "type", None) == "column"] if isinstance(kids, dict) else []
        found = [len(columns)] if any(getattr(g, "type", None) == "metric" for c in columns
                                      for g in c.children.values()) else []
        return found + [n for c in (kids.values() if isinstance(kids, dict) else []) for n in rows_of_cards(c)]

    cards = len(view_keys(LIVE))
    assert cards >= 6 and len(at.metric) == cards
    assert rows_of_cards(at.main) == [3] * -(-cards // 3)


def test_fig4_names_an_onnx_file_apart_from_its_checkpoint() -> None:
    """Two files of one stem (the checkpoint and its ONNX export) are two points: each keeps its own speed."""
    from dashboard.analysis import _point_name

    assert _point_name("lwirst-sirst.safetensors", 0.0) == "lwirst-sirst"
    assert _point_name("lwirst-sirst.onnx", 2.0) == "lwirst-sirst (onnx), threshold 0.881"
    assert _point_name("lwirst-sirst.onnx", -0.8472978603872037) == "lwirst-sirst (onnx), threshold 0.3"


def test_run_picker_opens_on_the_sidebar_model_at_the_sidebar_threshold_and_keeps_every_run_apart() -> None:
    """Another visitor's later runs (another file of the same name, another threshold) must not become a
    fresh session's baseline, and runs differing only by threshold must stay two options."""
    from dashboard.analysis import run_choices

    def row(key: str, model: str, threshold: float, mtime: float) -> dict:
        return {"key": key, "model": model, "backend": "openvino", "protocol": "auto", "threshold": threshold,
                "dataset": "sirst", "split": "test", "mtime": mtime}

    on_disk = pd.DataFrame([row("k-onnx", "lwirst-sirst.onnx", 0.0, 3.0),
                            row("k-th2", "lwirst-sirst.safetensors", 2.0, 2.0),
                            row("k-th0", "lwirst-sirst.safetensors", 0.0, 1.0)])
    sidebar = common.Engine("/models/lwirst-sirst.safetensors", "v", "openvino", "auto")
    choices = run_choices({}, on_disk, sidebar, 0.0)
    assert [item["key"] for item in choices.values()] == ["k-th0", "k-th2", "k-onnx"]
    assert len(choices) == 3 and "threshold 2 (p 0.88)" in list(choices)[1]
    at_two = run_choices({}, on_disk, sidebar, 1.9)
    assert next(iter(at_two.values()))["key"] == "k-th2"
    twin = pd.concat([on_disk, pd.DataFrame([row("k-th0-copy", "lwirst-sirst.safetensors", 0.0, 0.5)])])
    assert len(run_choices({}, twin, sidebar, 0.0)) == 4  # same label, another file: still its own option
    consensus_row = row("k-c", "lwirst-sirst.safetensors", 0.0, 0.2) | {"confirm": 1.5}
    confirmed = pd.concat([on_disk, pd.DataFrame([consensus_row])])  # the plain rows' confirm: NaN
    assert next(iter(run_choices({}, confirmed, sidebar, 0.0).values()))["key"] == "k-th0"  # a plain sidebar
    consensus = common.Engine(sidebar.path, "v", "openvino", "auto", RunSettings(confirm=1.5))
    label, first = next(iter(run_choices({}, confirmed, consensus, 0.0).items()))
    assert first["key"] == "k-c" and label.startswith("lwirst-sirst.safetensors · openvino/auto · consensus 1.5×")
    # a run whose large frames were also confirmed mirrored is another detector: it answers for that sidebar only
    mirrored = pd.concat([confirmed, pd.DataFrame([consensus_row | {"key": "k-m", "mirror": True, "mtime": 0.1}])])
    assert next(iter(run_choices({}, mirrored, consensus, 0.0).values()))["key"] == "k-c"
    both = common.Engine(sidebar.path, "v", "openvino", "auto", RunSettings(confirm=1.5, mirror=True))
    label, first = next(iter(run_choices({}, mirrored, both, 0.0).items()))
    assert first["key"] == "k-m" and "openvino/auto · consensus 1.5× · mirror (cached on disk)" in label


def test_heatmap_panels_keep_the_frames_pixel_coordinates_and_draw_their_colour_bar_beside() -> None:
    """The colour bar used to be painted into the picture, so the panel's x axis ran past the frame and
    hover coordinates covered the bar; now the picture is the frame and the bar is Plotly's."""
    from dashboard import views
    from lwirst.drawing import heat_scale, heatmap

    logits = np.linspace(-6.0, 3.0, 40 * 64, dtype=np.float32).reshape(40, 64)
    picture = heatmap(logits, "logit", colorbar=False)
    assert picture.shape == (40, 64, 3)
    figure = views.zoom_figure(picture, "saliency", heat_scale(logits, "logit"))
    assert list(figure.layout.xaxis.range) == [-0.5, 63.5] and list(figure.layout.yaxis.range) == [39.5, -0.5]
    bar = figure.data[1].marker
    assert bar.showscale and (bar.cmin, bar.cmax) == (-6.0, 6.0)  # symmetric about the threshold 0
    first_bgr = cv2.applyColorMap(np.zeros((1, 1), np.uint8), cv2.COLORMAP_INFERNO)[0, 0]
    assert bar.colorscale[0][1] == "rgb({},{},{})".format(*first_bgr[::-1])  # the bar is the map's own colours
    plain = views.zoom_figure(picture, "input")
    assert plain.data[1:] == ()  # other pictures get no bar
    assert plain.layout.xaxis.domain == figure.layout.xaxis.domain  # and the same plot area: same size, same ticks
    assert bar.colorbar.x >= figure.layout.xaxis.domain[1]  # the bar beside the picture, not over it
    (edge,) = figure.layout.shapes  # the picture's outline: a black heatmap vanished on the dark theme's page
    assert (edge.x0, edge.y0, edge.x1, edge.y1) == (-0.5, -0.5, 63.5, 39.5) and edge.line.color == views.FRAME_EDGE


def test_targets_are_ringed_at_any_frame_size_and_the_pixels_untouched() -> None:
    """A 2-pixel target falls between screen pixels in a panel drawn below the frame's size: its chip's
    centroid gets a ring of fixed screen size in its outcome's colour. How large a panel is drawn depends on
    the window (a 256-pixel frame at 1024 px too, which was left unringed), so every frame's targets are."""
    from dashboard import views
    from lwirst import palette
    from lwirst.chips import Chip

    tiny = np.zeros((8, 8, 3), np.uint8)
    marks = [Chip(palette.MISSED, 1000.0, 500.0, (999, 499, 2, 2), (990, 490, 20, 20), 8.0, 0.1, tiny),
             Chip(palette.CORRECT, 20.0, 30.0, (19, 29, 3, 3), (10, 20, 20, 20), 8.0, 0.9, tiny)]
    large = np.zeros((1024, 1280, 3), np.uint8)
    figure = views.zoom_figure(large, "overlay", marks=marks)
    halo, rings = figure.data[1], figure.data[2]
    # under each ring a wider dark one, so an outcome's colour shows on a frame of its own hue (inferno)
    assert list(halo.x) == list(rings.x) and halo.marker.line.width > rings.marker.line.width
    assert halo.marker.color == views.HALO and halo.marker.size == rings.marker.size
    assert list(rings.x) == [1000.0, 20.0] and list(rings.y) == [500.0, 30.0]
    assert list(rings.marker.color) == [palette.OUTCOMES[palette.MISSED].hex, palette.OUTCOMES[palette.CORRECT].hex]
    assert rings.hovertext[0] == marks[0].caption
    assert figure.data[0].source == views.zoom_figure(large, "overlay").data[0].source  # same pixels
    small = views.zoom_figure(np.zeros((256, 256, 3), np.uint8), "overlay", marks=marks[1:])
    assert list(small.data[2].x) == [20.0]
    assert views.zoom_figure(large, "overlay").data[1:] == ()  # no target, no ring


def ring_marks() -> list:
    """SIRST Misc_229's two detections 17 pixels apart (#1 correct, #2 a false alarm), a miss in the frame's corner
    and a hot miss, as chips of a 319x222 frame."""
    from lwirst import palette
    from lwirst.chips import Chip

    tiny = np.zeros((8, 8, 3), np.uint8)
    return [Chip(palette.CORRECT, 142.7, 102.3, (142, 102, 2, 2), (135, 95, 15, 15), 8.0, 0.9, tiny, 1),
            Chip(palette.FALSE_ALARM, 160.0, 103.0, (160, 103, 1, 1), (152, 95, 15, 15), 8.0, 0.5, tiny, 2),
            Chip(palette.MISSED, 318.0, 221.0, (317, 220, 2, 2), (304, 207, 15, 15), 8.0, 0.1, tiny),
            Chip(palette.HOT, 60.0, 40.0, (59, 39, 2, 2), (52, 32, 15, 15), 8.0, 0.3, tiny)]


def test_each_outcome_is_ringed_in_a_shape_of_its_own_and_whole_at_the_edge() -> None:
    """Every outcome was the same open circle on the saliency and input panels, told apart by colour only, and a
    ring by the frame's edge was cut by the plot area: each outcome now has its shape, and rings are not clipped."""
    from dashboard import views
    from lwirst import palette

    marks = ring_marks()
    figure = views.zoom_figure(np.zeros((222, 319, 3), np.uint8), "input", marks=marks)
    halo, rings = figure.data[1], figure.data[2]
    assert len(set(rings.marker.symbol)) == len(marks)  # correct, false alarm, missed, hot: four shapes
    assert list(halo.marker.symbol) == list(rings.marker.symbol)
    assert list(rings.marker.color) == [palette.OUTCOMES[m.outcome].hex for m in marks]  # the colours kept
    assert halo.cliponaxis is False and rings.cliponaxis is False  # the corner's miss drawn whole
    assert not figure.layout.annotations  # tags only where asked (the outcome pictures)
    # a caption names each ring by the shape drawn: one glyph per marker shape, and no two shapes share one
    shapes = {o.symbol: o.glyph for o in palette.OUTCOMES.values()}
    assert all(shapes[o.symbol] == o.glyph for o in palette.OUTCOMES.values())
    assert len(set(shapes.values())) == len(shapes)
    assert views.ring_shapes(marks) == "○ correct, ◇ missed, □ false alarm, △ hot but below threshold"


def test_every_zoomable_picture_says_in_text_what_its_rings_mark() -> None:
    """A screen reader read a panel as its axes' tick numbers ("img: 0 100 200 300 ..."): the outcomes were pixels
    only. Each panel's text alternative names its title and every ring's tag."""
    from dashboard import views

    at = open_page("2_single_frame.py")
    alts = [c.proto.alt for c in at.get("plotly_chart")]
    assert alts and all(alt for alt in alts), alts
    titled = [alt for alt in alts if alt.startswith("kept targets")]
    assert titled and ("ring" in titled[0] or "no target ringed" in titled[0]), titled
    marks = ring_marks()
    said = views.picture_alt("overlay", marks)
    assert said.startswith(f"overlay; {len(marks)} rings: ") and all(views.tag_text(m) in said for m in marks)


def test_ring_tags_are_legible_and_clear_of_every_ring() -> None:
    """The 18-px rings were drawn over the tags in the picture ("#1 ok" unreadable, "FA" and "miss" cut), 5 px tall
    in a 319-pixel frame shown 245 px wide: each ring's tag is written beside it at 12 px, covering no ring (its
    own or a neighbour's) and no other tag, inside the plot area."""
    from dashboard import views

    marks = ring_marks()
    h, w = 222, 319
    figure = views.zoom_figure(np.zeros((h, w, 3), np.uint8), "overlay", marks=marks, tags=True)
    scale = views.plot_scale(h, w)
    radius = views.RING_PX / 2 + views.RING_HALO / 2
    rings = [((m.x + 0.5) * scale, (m.y + 0.5) * scale) for m in marks]
    boxes = []
    for note, mark in zip(figure.layout.annotations, marks, strict=True):
        assert note.text == views.tag_text(mark) and note.font.size >= 11
        width, height = views.tag_size(note.text)
        x, y = (mark.x + 0.5) * scale + note.xshift, (mark.y + 0.5) * scale - note.yshift
        boxes.append((x - width / 2, y - height / 2, x + width / 2, y + height / 2))
    assert [note.text for note in figure.layout.annotations] == ["#1 ok", "#2 FA", "miss", "hot"]
    for i, (x0, y0, x1, y1) in enumerate(boxes):
        assert x0 >= 0 and y0 >= 0 and x1 <= w * scale and y1 <= h * scale
        for rx, ry in rings:
            assert min(x1, rx + radius) <= max(x0, rx - radius) or min(y1, ry + radius) <= max(y0, ry - radius)
        for a0, b0, a1, b1 in boxes[:i]:
            assert min(x1, a1) <= max(x0, a0) or min(y1, b1) <= max(y0, b0)


def test_rankings_break_ties_by_misses_then_false_alarms_and_rank_the_smallest_miss() -> None:
    """Thirty images at IoU 0 used to come in name order; the worst of them now lead."""
    images = pd.DataFrame({"name": ["a", "b", "c", "d"], "iou": [0.0, 0.0, 0.0, 0.6], "missed": [1, 2, 2, 0],
                           "smallest_missed": [9.0, 2.0, 4.0, float("nan")], "false_alarms": [0, 1, 3, 0],
                           "fa_pixels": [0, 4, 9, 0], "hot_misses": [0, 0, 0, 0]})
    assert analysis.rank_images(images, "IoU (worst first)")["name"].tolist() == ["c", "b", "a", "d"]
    assert analysis.rank_images(images, "smallest missed target")["name"].tolist() == ["b", "c", "a", "d"]
    assert analysis.rank_images(images, "missed targets")["name"].tolist() == ["c", "b", "a", "d"]


def test_the_smallest_missed_target_is_measured_per_image() -> None:
    mask = np.zeros((32, 32), bool)
    mask[2:4, 2:4] = True  # 4 px, missed
    mask[10:13, 10:13] = True  # 9 px, missed
    mask[20:25, 20:25] = True  # 25 px, found
    logits = np.full((32, 32), -5.0, np.float32)
    logits[20:25, 20:25] = 5.0
    _, rows = analysis.rescore_table({"x": logits, "y": np.where(mask, 5.0, -5.0).astype(np.float32)},
                                  {"x": mask, "y": mask}, 0.0)
    assert rows.set_index("name").loc["x", "smallest_missed"] == 4.0
    assert np.isnan(rows.set_index("name").loc["y", "smallest_missed"])  # nothing missed


def test_failures_scores_a_mask_edited_while_the_server_runs_as_it_is_now(tmp_path: Path,
                                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    """The ground truth Failures re-scores against was cached by dataset name alone: after a mask was blanked,
    Evaluate read 0 targets for the image and Failures still 2 (its gallery thumbnail still drew them)."""
    from lwirst.synth import SceneConfig, write_dataset

    root = write_dataset(tmp_path / "mine", 2, SceneConfig(size=(64, 64)), seed=2, test_fraction=0.5)
    monkeypatch.setenv("LWIRST_DATA_DIR", str(root))
    at = open_page("8_failures.py", data_root="mine", data_split="all", threshold=-30.0)

    def targets() -> dict[str, int]:
        table = at.dataframe[0].value
        return dict(zip(table["name"], table["targets"], strict=True))

    before = targets()
    name = max(before, key=before.get)
    assert before[name] > 0
    mask = root / "masks" / f"{name}.png"
    assert cv2.imwrite(str(mask), np.zeros((64, 64), np.uint8))
    later = time.time_ns() + 10**9
    os.utime(mask, ns=(later, later))
    at.run()
    assert not at.exception and not errors(at)
    assert targets() == {**before, name: 0}


def test_a_metric_change_says_better_or_worse_in_words() -> None:
    """"R ↑ +0.1213" (better) and "Fa ↑ +161" (worse) differed by colour only: each change now says which."""
    from dashboard import views
    from lwirst import palette

    class Card:
        def metric(self, label: str, value: str, delta: str, **options: object) -> None:
            self.delta, self.colour = delta, options["delta_color"]

    card = Card()
    for metric, change, shown, verdict in [("recall", 0.1213, "+0.1213", "better"), ("fa", 161e-6, "+161", "worse"),
                                           ("fa", -3e-6, "-3", "better"), ("miou", -0.02, "-0.0200", "worse")]:
        views.metric_change(card, metric, "0.5", metric, change, shown)
        assert card.delta == f"{shown} {verdict}"
        assert card.colour == {"better": palette.BETTER, "worse": palette.WORSE}[verdict]
    views.metric_change(card, "Pd", "1.0", "pd", 0.0, "+0.0000")
    assert card.delta == "no change"


@pytest.mark.parametrize("theme", ["light", "dark"])
def test_chart_text_reaches_the_text_contrast_ratio_in_both_themes(monkeypatch: pytest.MonkeyPatch,
                                                                   theme: str) -> None:
    """Compare's paper names (#8C8C8C) were 3.4:1 on the light theme's white, the axes' grey 3.7:1, and the shipped
    model's blue name 3.5:1 on the dark theme's page: every text colour a chart sets is now at least 4.5:1 on the
    theme's page, a trace's text in a shade of its marker's colour."""
    from dashboard import views
    from lwirst import palette

    monkeypatch.setattr(views.st, "get_option", lambda name: theme if name == "theme.base" else None)
    rows = [analysis.measured_point(analysis.SHIPPED_NAME, {"miou": 0.7}, "sirst", "test", 163_200, 303.5e6),
            analysis.measured_point("other", {"miou": 0.5}, "sirst", "test", 90_000, 120e6)]
    figure = views.legible(analysis.fig4_figure(analysis.fig4_points(pd.DataFrame(rows)), "miou", "flops_m"))
    page = palette.PAGE[theme]
    labelled = [t for t in figure.data if t.textfont.color is not None]
    assert {t.name for t in labelled} >= {analysis.PAPER_SOURCE}
    for trace in labelled:
        assert palette.contrast_ratio(trace.textfont.color, page) >= palette.TEXT_RATIO, trace.name
    texts = [figure.layout.xaxis.tickfont.color, figure.layout.yaxis.title.font.color,
             figure.layout.title.subtitle.font.color]
    if theme == "light":  # the dark theme's own axis text is 12:1
        assert all(palette.contrast_ratio(colour, page) >= palette.TEXT_RATIO for colour in texts), texts


def test_a_clean_target_free_image_reads_iou_n_a_in_the_tables_as_on_single_frame() -> None:
    """Evaluate's table listed 464 clean empty frames at IoU 1.0000 (nIoU's convention) where Single frame reads
    n/a: the tables read n/a too, an alarmed empty frame 0, and the IoU filter keeps the first only in its whole
    range."""
    empty = np.zeros((16, 16), bool)
    quiet, noisy = np.full((16, 16), -5.0, np.float32), np.full((16, 16), -5.0, np.float32)
    noisy[3:5, 3:5] = 5.0
    _, table = analysis.rescore_table({"quiet": quiet, "noisy": noisy}, {"quiet": empty, "noisy": empty}, 0.0)
    rows = table.set_index("name")
    assert math.isnan(rows.loc["quiet", "iou"]) and rows.loc["noisy", "iou"] == 0.0
    assert analysis.filter_images(table)["name"].tolist() == ["quiet", "noisy"]
    assert analysis.filter_images(table, iou=(0.0, 0.5))["name"].tolist() == ["noisy"]
    stored = table.assign(iou=[1.0, 0.0])  # as evaluate records them
    result = EvalResult({}, stored, {}, EvalProtocol.from_json(
        {"model": "m", "backend": "torch", "protocol": "auto", "threshold": 0.0, "dataset": "d", "split": "s",
         "size": [256, 256]}))
    shown = analysis.per_image_table(result)
    assert shown["name"].tolist() == ["noisy", "quiet"] and math.isnan(shown.loc[1, "iou"])
    from dashboard import views

    assert views.number_text(shown.loc[1, "iou"], 3) == "n/a"
