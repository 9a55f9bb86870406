"""The metric table: every view reads it, formats follow it, and evaluation runs its plugins."""

from __future__ import annotations

import math
import re
from pathlib import Path

import cv2
import numpy as np
import pandas as pd
import pytest

from lwirst import card_view, scoring
from lwirst import evaluate as evaluate_module
from lwirst.analysis import metric_moves
from lwirst.errors import LwirstError
from lwirst.eval_protocol import EvalProtocol
from lwirst.evaluate import EvalResult, code_signature, rescore, summary_lines, tree_digest
from lwirst.metrics import NIOU_CONVENTION
from lwirst.modelcard import ModelCard, card_metrics, format_metric
from lwirst.postprocess import GROW_TO, describe_growth
from lwirst.scoring import (
    CARD,
    LIVE,
    OPERATOR,
    SUMMARY,
    SWEEP,
    VIEWS,
    MetricSpec,
    metric_spec,
    metric_specs,
    plugin_specs,
    view_keys,
)
from lwirst.sweep import csv_columns


def _summary(metrics: dict, record: dict) -> list[str]:
    """The summary lines of a result with these metrics whose metrics.json stored `record` as its protocol."""
    return summary_lines(EvalResult(metrics, pd.DataFrame(), {}, EvalProtocol.from_json(record)))


def test_keys_are_unique_and_the_views_are_the_ones_the_layers_use() -> None:
    keys = [s.key for s in metric_specs()]
    assert len(keys) == len(set(keys))
    assert list(card_metrics()) == list(view_keys(CARD))
    assert {"miou", "f1", "pd", "fa"} <= set(view_keys(SWEEP))
    assert all(f"best_{k}" in csv_columns() and f"final_{k}" in csv_columns() for k in view_keys(SWEEP))
    for view in VIEWS:
        assert all(view in s.views for s in metric_specs(view))


def test_every_operator_metric_of_evaluate_has_a_row() -> None:
    keys = {s.key for s in metric_specs()}
    assert {"blobs_per_frame", "blobs_per_empty_frame", "empty_alarm_rate", "pd_at_fa", "miou", "fa"} <= keys


def test_formats_directions_and_missing_values() -> None:
    fa = metric_spec("fa")
    assert fa.format(36e-6) == "36.00" == format_metric("fa", 36e-6) and fa.better == "lower"
    assert fa.improved(40e-6, 36e-6) is True and metric_spec("miou").improved(0.7, 0.6) is False
    assert metric_spec("targets").format(109) == "109" and metric_spec("empty_alarm_rate").format(0.25) == "25.0%"
    assert metric_spec("miou").format(float("nan")) == "n/a" == metric_spec("miou").format(None)
    # five digits before the point and more are whole: a card holds about eight characters ("134028.09" broke)
    assert fa.format(0.13402809) == "134028" and fa.delta(36e-6, 0.13402809) == "+133992"
    assert fa.format(9999e-6) == "9999.00" and fa.delta(0.13402809, 36e-6) == "-133992"
    assert metric_spec("unheard_of").label == "unheard_of"
    with pytest.raises(ValueError, match="better"):
        MetricSpec("x", "x", "", better="bigger")


@pytest.mark.parametrize("fmt, value, printed", [(".2f", 0.1234, "0.12"), ("d", 76956.0, "76956"),
                                                 (".1%", 0.0283, "0.028"), (".0%", 0.25, "0.25")])
def test_tables_of_numbers_round_a_metric_as_its_format_prints_it(fmt: str, value: float, printed: str) -> None:
    """Tables that hold numbers (Compare's, the sweep report's, the suite's) gave every format but ".Nf" four
    decimals: a plugin's count of pixels read 76956.0000. They keep the digits the card prints, a share as its
    fraction."""
    spec = MetricSpec("x", "x", "", fmt=fmt)
    assert format(round(value, spec.decimals), f".{spec.decimals}f") == printed
    assert float(spec.format(value).rstrip("%")) / (100 if fmt.endswith("%") else 1) == pytest.approx(
        round(value, spec.decimals))


def test_live_moves_and_summary_follow_the_table() -> None:
    moves = {move.label: move.delta for move in metric_moves(
        {"precision": 0.5, "recall": 0.5, "f1": 0.5, "miou": 0.5, "pd": 0.5, "fa": 2e-6},
        {"precision": 0.6, "recall": 0.4, "f1": 0.5, "miou": 0.5, "pd": 1.0, "fa": 1e-6})}
    assert moves["P"] == "+0.1000" and moves["Fa (×1e-6)"] == "-1.00"
    metrics = {s.key: 0.5 for s in metric_specs()} | {"fa": 36e-6, "empty_frames": 2, "images": 10}
    protocol = {"model": "m", "backend": "torch", "protocol": "resize", "size": [256, 256], "threshold": 0.0,
                "dataset": "d", "split": "test"}
    lines = _summary(metrics, protocol)
    assert all(f"{key} " in lines[1] for key in view_keys(SUMMARY)) and "fa 36.00e-6" in lines[1]
    assert "empty frames alarmed 1 of 2" in lines[2]
    assert lines[3] == f"niou over 2 target-free image(s) too: {NIOU_CONVENTION}"  # conventions part there
    assert "protocol resize [256, 256]" in lines[0]  # a result stored before it recorded what ran: as asked
    assert "masks" not in lines[0]  # a result stored before mask growth says nothing about it
    grown = _summary(metrics, protocol | {"masks": describe_growth(GROW_TO)})
    assert f"threshold 0.5 (logit 0) ({describe_growth(GROW_TO)})  d/test" in grown[0]
    bad = _summary(metrics | {"fa": 0.309001163}, protocol)
    assert "fa 3.09e-01 " in bad[1] and "e-6" not in bad[1]  # not "fa 309001.16e-6"
    assert metric_spec("fa").text(999e-6) == "999.00e-6" and metric_spec("fa").text(1e-3) == "1.00e-03"
    assert metric_spec("fa").text(float("nan")) == "n/a" and metric_spec("miou").text(0.5) == "0.5000"
    # a threshold the user gave as a probability is printed as one, its logit labelled beside it
    strict = _summary(metrics, protocol | {"threshold": math.log(9)})
    assert "threshold 0.9 (logit 2.197)" in strict[0]


def test_the_summary_says_how_colour_frames_were_read() -> None:
    """Decoding off and decoding on give different figures on pseudo-colour data: the protocol line tells them apart."""
    protocol = {"model": "m", "backend": "torch", "protocol": "resize", "size": [256, 256], "threshold": 0.0,
                "dataset": "d", "split": "test", "palettes": True}
    first = _summary({"images": 4}, protocol)[0]
    off = _summary({"images": 4}, protocol | {"palettes": False})[0]
    colours = {"decoded_palettes": {"jet": 3, "iron": 1}}
    decoded = _summary({"images": 4}, protocol | colours)[0]
    assert "colour" not in first and "pseudo-colour decoding off" in off
    assert "; 4 frames decoded from the pseudo-colour palettes iron, jet  threshold" in decoded
    unknown = _summary({"images": 4}, protocol | {"colour_as_is": 2})[0]
    assert "; 2 colour frames in no palette the decoder knows ran on their colours" in unknown


def test_the_operator_view_reads_counts_out_of_their_totals() -> None:
    """Targets found and alarmed empty frames read "n of N"; with no target-free frame the share is not a
    number but says so; the CLI's operator line and the Evaluate page's operator row read the same rows."""
    metrics = {"targets": 68, "detected": 6, "false_alarms": 31, "blobs_per_frame": 0.795, "empty_frames": 5,
               "empty_alarm_rate": 0.4, "pd_at_fa": 0.0, "images": 39}
    plugins = {s.key for s in plugin_specs()}  # a researcher's own operator metrics come after these
    shown = {s.label: s.out_of(metrics) for s in metric_specs(OPERATOR) if s.key not in plugins}
    assert shown == {"targets found": "6 of 68", "false alarms": "31", "false-alarm blobs/frame": "0.795",
                     "empty frames alarmed": "2 of 5", "Pd at ≤0.1 FA/frame": "0.0000"}
    none = metrics | {"empty_frames": 0, "empty_alarm_rate": float("nan")}
    assert metric_spec("empty_alarm_rate").out_of(none) == "no target-free frame in this split"
    protocol = {"model": "m", "backend": "torch", "protocol": "auto", "size": [256, 256], "threshold": 0.0,
                "dataset": "d", "split": "test", "applied": {"native": 39}}
    operator = _summary(none, protocol)[2]
    assert "targets found 6 of 68  false alarms 31" in operator
    assert operator.endswith("(no target-free frame in this split)") and "empty frames alarmed" not in operator
    assert len(_summary(none | {"niou": 0.5}, protocol)) == 3  # no nIoU note


def test_rescore_returns_every_live_metric() -> None:
    mask = np.zeros((16, 16), dtype=bool)
    mask[4:7, 4:7] = True
    logits = np.where(mask, 5.0, -5.0).astype(np.float32)
    scores = rescore({"a": logits}, {"a": mask}, 0.0)
    assert set(view_keys(LIVE)) <= set(scores) and math.isclose(scores["miou"], 1.0)


# ---------------------------------------------------------------- plugins as a researcher adds them

AREA_PLUGIN = '''
from dataclasses import dataclass
import numpy as np
from lwirst.scoring import CARD, LIVE, SWEEP, MetricSpec

@dataclass(frozen=True)
class AreaResult:
    ratio: float
    def as_metrics(self):
        return {"area_ratio": self.ratio}

class AreaRatio:
    """Predicted pixels / ground-truth pixels over the dataset."""
    def __init__(self, threshold):
        self.threshold = threshold
        self.reset()
    def reset(self):
        self.pred = self.truth = 0
    def update(self, pred, mask):
        self.pred += int(np.count_nonzero(np.asarray(pred) > self.threshold))
        self.truth += int(np.count_nonzero(mask))
    def compute(self):
        return AreaResult(self.pred / self.truth if self.truth else float("nan"))

METRIC = AreaRatio
SPECS = (MetricSpec("area_ratio", "area ratio", "predicted / true pixels", better=None, views=(CARD, LIVE, SWEEP)),)
'''


def add_plugin(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, name: str, source: str) -> None:
    """A plugin module written where Python finds it, added to the table as the README says (one line)."""
    (tmp_path / f"{name}.py").write_text(source)
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setattr(scoring, "_PLUGINS", (*scoring._PLUGINS, name))


def test_a_plugin_metric_reaches_cards_live_rescoring_and_sweep_columns(tmp_path: Path,
                                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    add_plugin(tmp_path, monkeypatch, "area_plugin", AREA_PLUGIN)
    mask = np.zeros((16, 16), dtype=bool)
    mask[4:7, 4:7] = True
    logits = np.where(mask, 5.0, -5.0).astype(np.float32)
    logits[4, 8] = 5.0  # one false pixel: 10 predicted for 9 true
    scores = rescore({"a": logits}, {"a": mask}, 0.0, grow_to=None)
    assert math.isclose(scores["area_ratio"], 10 / 9)
    assert "area_ratio" in card_metrics() and "best_area_ratio" in csv_columns()
    card = ModelCard("m", test_metrics={"auto": {"miou": 0.5, "fa": 2.5e-6, "area_ratio": 10 / 9}})
    assert card_view.test_table(card).to_dict("records") == [  # Home's card table reads the metric table
        {"input protocol": "auto", "mIoU": 0.5, "Fa (×1e-6)": 2.5, "area ratio": round(10 / 9, 4)}]
    before = scores | {"area_ratio": 1.0}
    move = next(m for m in metric_moves(before, scores) if m.key == "area_ratio")
    assert move.label == "area ratio" and math.isclose(move.change, 1 / 9)


def test_live_moves_skip_a_metric_one_side_lacks() -> None:
    """A run cached before a metric existed has no value for it: its card is left out, not a KeyError."""
    old = {"precision": 0.5, "recall": 0.5, "f1": 0.5, "miou": 0.5, "pd": 0.5}
    new = old | {"fa": 1e-6}
    assert [m.key for m in metric_moves(old, new)] == ["precision", "recall", "f1", "miou", "pd"]


@pytest.mark.parametrize("name, source, where", [
    ("syntax_plugin", "def broken(:\n", "failed to import (SyntaxError"),
    ("half_plugin", "SPECS = ()\n", "defines no METRIC"),
    ("raising_plugin", AREA_PLUGIN.replace("self.pred += int(", "self.pred += 1 / 0 + int("),
     "failed in update (ZeroDivisionError"),
    ("nocompute_plugin", AREA_PLUGIN.replace("def compute(self):", "def total(self):"),
     "builds a metric with no compute()"),
    ("dict_plugin", AREA_PLUGIN.replace("return AreaResult(", "return dict(ratio="), "failed in compute ("),
    ("clash_plugin", AREA_PLUGIN.replace('MetricSpec("area_ratio"', 'MetricSpec("pd"'),
     "declares the key 'pd', which the built-in table already has"),
    ("undeclared_plugin", AREA_PLUGIN.replace('{"area_ratio": self.ratio}', '{"area_ratio": self.ratio, "pd": 0.0}'),
     "returned 'pd', which its SPECS do not declare"),
    ("column_plugin", AREA_PLUGIN.replace('"area_ratio"', '"iou"'),  # wrote -1 over every image's IoU
     "declares the key 'iou', which a table beside the metrics (RESERVED_KEYS) already has"),
], ids=["syntax", "no-metric", "raises", "no-compute", "plain-dict", "built-in-key", "undeclared-key", "column-key"])
def test_a_broken_plugin_is_named_in_one_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, name: str,
                                              source: str, where: str) -> None:
    add_plugin(tmp_path, monkeypatch, name, source)
    mask = np.zeros((8, 8), dtype=bool)
    with pytest.raises(LwirstError, match=rf"metric plugin {name} {re.escape(where)}") as caught:
        rescore({"a": np.zeros((8, 8), np.float32)}, {"a": mask}, 0.0)
    assert "\n" not in str(caught.value)


def test_the_cache_key_follows_the_code(tmp_path: Path) -> None:
    """An edited model or metric, or a new plugin file, gives another digest, so no stale result is served."""
    tree = tmp_path / "pkg"
    (tree / "models").mkdir(parents=True)
    (tree / "models" / "net.py").write_text("x = 1\n")
    first = tree_digest(tree)
    assert tree_digest(tree) == first
    (tree / "models" / "net.py").write_text("x = 2\n")
    edited = tree_digest(tree)
    (tree / "area.py").write_text("")
    assert len({first, edited, tree_digest(tree)}) == 3
    assert code_signature() == tree_digest(Path(evaluate_module.__file__).resolve().parent)


def test_a_plugin_in_a_package_that_fails_to_import_is_still_one_line(tmp_path: Path,
                                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    """Finding its file for the cache digest imported its package first: a traceback, before the registry's
    one-line error."""
    package = tmp_path / "badpkg"
    package.mkdir()
    (package / "__init__.py").write_text("raise RuntimeError('lab config missing')\n")
    (package / "area.py").write_text(AREA_PLUGIN)
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setattr(scoring, "_PLUGINS", (*scoring._PLUGINS, "badpkg.area"))
    code_signature.cache_clear()
    try:
        assert code_signature()  # the module's file is not found: the registry says why when it is used
    finally:
        code_signature.cache_clear()
    with pytest.raises(LwirstError, match=r"metric plugin badpkg\.area failed to import \(RuntimeError: lab config"):
        metric_specs()


def test_the_cache_key_follows_a_plugin_kept_outside_the_package(tmp_path: Path,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    """A metric plugin in the user's own folder: editing it answered the next evaluate from the cache."""
    add_plugin(tmp_path, monkeypatch, "outside_plugin", AREA_PLUGIN)
    code_signature.cache_clear()
    try:
        first = code_signature()
        assert first != tree_digest(Path(evaluate_module.__file__).resolve().parent)
        (tmp_path / "outside_plugin.py").write_text(AREA_PLUGIN.replace("predicted / true pixels", "edited"))
        code_signature.cache_clear()
        assert code_signature() != first
    finally:
        code_signature.cache_clear()  # the next caller sees the registries as they are then


def test_trainings_and_sweeps_score_the_sweep_views_plugins(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    add_plugin(tmp_path, monkeypatch, "area_sweep_plugin", AREA_PLUGIN)
    from lwirst.datasets import open_dataset
    from lwirst.models import build_model
    from lwirst.synth import SceneConfig, write_dataset
    from lwirst.train import score_resized

    data = open_dataset(write_dataset(tmp_path / "synth", 3, SceneConfig(size=(32, 32)), seed=1), "folder", "all")
    scores = score_resized(build_model().eval(), data, 32)
    assert set(view_keys(SWEEP)) == set(scores) and "area_ratio" in scores
    assert score_resized(build_model().eval(), data, 32, targets=False).keys() == {"miou", "f1"}


def test_a_plugin_listed_twice_is_named_as_such(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The same module twice would otherwise read as two plugins fighting over one key."""
    add_plugin(tmp_path, monkeypatch, "twice_plugin", AREA_PLUGIN)
    monkeypatch.setattr(scoring, "_PLUGINS", (*scoring._PLUGINS, "twice_plugin"))
    with pytest.raises(LwirstError, match="metric plugin twice_plugin is listed twice in _PLUGINS"):
        metric_specs()


def test_the_reserved_keys_hold_every_column_beside_the_metrics(tmp_path: Path) -> None:
    """A plugin key equal to a per-image, Fig. 4 point or sweep column overwrote that column silently."""
    import cv2

    from lwirst.analysis import cached_runs, metrics_table, point_columns, rescore_table
    from lwirst.datasets import open_dataset
    from lwirst.inference import Segmenter
    from lwirst.modelcard import demo_network

    root = tmp_path / "frames"
    (root / "images").mkdir(parents=True)
    (root / "masks").mkdir()
    mask = np.zeros((40, 40), np.uint8)
    mask[10:13, 10:13] = 255
    cv2.imwrite(str(root / "images" / "a.png"), np.where(mask > 0, 220, 40).astype(np.uint8))
    cv2.imwrite(str(root / "masks" / "a.png"), mask)
    result = evaluate_module.evaluate(Segmenter.from_module(demo_network(), protocol="auto"),
                                      open_dataset(root, "folder", "all"), use_cache=False)
    _, images = rescore_table(result.saliency, {"a": mask > 0}, 0.0)
    sweep = [c.split("_", 1)[1] for c in csv_columns() if c.startswith(("best_", "final_"))]  # a key x: best_x
    metrics = {spec.key for spec in metric_specs()}
    table = metrics_table({"run": result})  # the threshold in both units: a bare 0.0 read as a probability
    assert table.loc[0, ["threshold_logit", "threshold_probability"]].tolist() == [0.0, 0.5]
    evaluated = table.columns
    runs = cached_runs(tmp_path / "no-cache").columns
    for columns in (result.per_image.columns, images.columns, point_columns(), sweep, evaluated, runs):
        assert set(columns) - metrics <= scoring.RESERVED_KEYS
    assert not scoring.RESERVED_KEYS & metrics  # a built-in metric is guarded as such


FALSE_PIXELS_PLUGIN = '''
from dataclasses import dataclass
import numpy as np
from lwirst.scoring import SUMMARY, MetricSpec

@dataclass(frozen=True)
class Share:
    value: float
    def as_metrics(self):
        return {"false_share": self.value}

class FalseShare:
    """Predicted pixels outside the truth / all pixels: defined on a frame with no target."""
    def __init__(self, threshold):
        self.threshold = threshold
        self.reset()
    def reset(self):
        self.false = self.pixels = 0
    def update(self, pred, mask):
        self.false += int(np.count_nonzero((np.asarray(pred) > self.threshold) & ~mask))
        self.pixels += mask.size
    def compute(self):
        return Share(self.false / self.pixels if self.pixels else float("nan"))

METRIC = FalseShare
SPECS = (MetricSpec("false_share", "false share", "false pixels / pixels", better="lower", views=(SUMMARY,),
                    without_targets=WITHOUT),)
'''


@pytest.mark.parametrize("without_targets", [True, False])
def test_a_suite_shows_a_plugin_on_target_free_parts_where_its_row_says_it_holds_there(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, without_targets: bool) -> None:
    """A false-alarm rate means something on empty frames (`without_targets`), a target score does not: the suite's
    table kept the first blank on its target-free parts, the very parts built to read false alarms."""
    from lwirst.datasets import open_dataset
    from lwirst.evaluate import evaluate_predictions
    from lwirst.suite import SuitePart, SuiteResult

    add_plugin(tmp_path, monkeypatch, f"share_plugin_{without_targets}",
               FALSE_PIXELS_PLUGIN.replace("WITHOUT", str(without_targets)))
    for sub in ("images", "masks", "preds"):
        (tmp_path / "empty" / sub).mkdir(parents=True)
    logits = np.full((32, 32), -6.0, np.float32)
    logits[4:6, 4:6] = 3.0  # a false blob of 4 pixels
    cv2.imwrite(str(tmp_path / "empty" / "images" / "f.png"), np.full((32, 32), 40, np.uint8))
    cv2.imwrite(str(tmp_path / "empty" / "masks" / "f.png"), np.zeros((32, 32), np.uint8))
    np.save(tmp_path / "empty" / "preds" / "f.npy", logits)
    result = evaluate_predictions(tmp_path / "empty" / "preds", open_dataset(tmp_path / "empty", "folder", "all"),
                                  grow_to=None)
    assert result.metrics["false_share"] == pytest.approx(4 / 1024)
    part = SuitePart("empty-x", "target-free", 1, lambda i: None, target_free=True)  # type: ignore[arg-type,return-value]
    row = SuiteResult([(part, result)]).rows()[0]
    assert row["false_share"] == (pytest.approx(4 / 1024) if without_targets else None)
    assert row["pd"] is None and row["hiou"] is None and row["blobs_per_frame"] == 1.0
