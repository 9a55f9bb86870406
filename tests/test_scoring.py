"""The metric table: every view reads it, formats follow it, and evaluation runs its plugins."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from lwirst.analysis import LIVE_METRICS, metric_moves
from lwirst.evaluate import EvalResult, rescore, summary_lines
from lwirst.modelcard import CARDS, format_metric
from lwirst.postprocess import GROW_TO, describe_growth
from lwirst.scoring import CARD, LIVE, SUMMARY, SWEEP, VIEWS, MetricSpec, metric_spec, metric_specs, view_keys
from lwirst.sweep import SCORES


def test_keys_are_unique_and_the_views_are_the_ones_the_layers_use() -> None:
    keys = [s.key for s in metric_specs()]
    assert len(keys) == len(set(keys))
    assert list(CARDS) == list(view_keys(CARD))
    assert view_keys(LIVE) == LIVE_METRICS
    assert set(SCORES) == {"miou", "f1", "pd", "fa"} == set(view_keys(SWEEP))
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
    assert metric_spec("unheard_of").label == "unheard_of"
    with pytest.raises(ValueError, match="better"):
        MetricSpec("x", "x", "", better="bigger")


def test_live_moves_and_summary_follow_the_table() -> None:
    moves = {label: delta for label, _, delta in metric_moves(
        {"precision": 0.5, "recall": 0.5, "f1": 0.5, "miou": 0.5, "pd": 0.5, "fa": 2e-6},
        {"precision": 0.6, "recall": 0.4, "f1": 0.5, "miou": 0.5, "pd": 1.0, "fa": 1e-6})}
    assert moves["P"] == "+0.1000" and moves["Fa (×1e-6)"] == "-1.00"
    metrics = {s.key: 0.5 for s in metric_specs()} | {"fa": 36e-6, "empty_frames": 2, "images": 10}
    protocol = {"model": "m", "backend": "torch", "protocol": "resize", "size": [256, 256], "threshold": 0.0,
                "dataset": "d", "split": "test"}
    lines = summary_lines(EvalResult(metrics, pd.DataFrame(), {}, protocol))
    assert all(f"{key} " in lines[1] for key in view_keys(SUMMARY)) and "fa 36.00e-6" in lines[1]
    assert "empty frames alarmed 50.0%" in lines[2] and "(2 empty frames)" in lines[2]
    assert "masks" not in lines[0]  # a result stored before mask growth says nothing about it
    grown = summary_lines(EvalResult(metrics, pd.DataFrame(), {}, protocol | {"masks": describe_growth(GROW_TO)}))
    assert f"threshold 0.5 (logit 0) ({describe_growth(GROW_TO)})  d/test" in grown[0]
    bad = summary_lines(EvalResult(metrics | {"fa": 0.309001163}, pd.DataFrame(), {}, protocol))
    assert "fa 3.09e-01 " in bad[1] and "e-6" not in bad[1]  # not "fa 309001.16e-6"
    assert metric_spec("fa").text(999e-6) == "999.00e-6" and metric_spec("fa").text(1e-3) == "1.00e-03"
    assert metric_spec("fa").text(float("nan")) == "n/a" and metric_spec("miou").text(0.5) == "0.5000"
    # a threshold the user gave as a probability is printed as one, its logit labelled beside it
    strict = summary_lines(EvalResult(metrics, pd.DataFrame(), {}, protocol | {"threshold": math.log(9)}))
    assert "threshold 0.9 (logit 2.197)" in strict[0]


def test_rescore_returns_every_live_metric() -> None:
    mask = np.zeros((16, 16), dtype=bool)
    mask[4:7, 4:7] = True
    logits = np.where(mask, 5.0, -5.0).astype(np.float32)
    scores = rescore({"a": logits}, {"a": mask}, 0.0)
    assert set(LIVE_METRICS) <= set(scores) and math.isclose(scores["miou"], 1.0)
