"""The shipped model: loads on every backend and reproduces its model card on SIRST test.

The card's figures come from `scripts/ship_model.py`; this test re-measures them with
`lwirst evaluate`'s code path, so a changed model, metric or protocol cannot pass
silently, and it holds the model to the issue's bar (mIoU 0.63, F1 0.77, Pd 0.95, Fa 40e-6),
which it meets: mIoU 0.703, F1 0.825, Pd 0.982 (107 of 109 targets), Fa 36e-6 (212 false-alarm
pixels where the bar allows 234).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from lwirst.datasets import open_dataset
from lwirst.evaluate import evaluate
from lwirst.inference import DEFAULT_MODEL, MODELS_DIR, Segmenter
from lwirst.train import RECIPES, Recipe

CARD = json.loads((MODELS_DIR / "lwirst-sirst.json").read_text())


def test_card_describes_the_shipped_weights() -> None:
    assert DEFAULT_MODEL.exists() and (MODELS_DIR / "lwirst-sirst.onnx").exists()
    assert CARD["params"] == 163232 and round(CARD["flops"] / 1e6, 2) == 303.53
    assert CARD["data"]["dataset"] == "sirst" and "test" not in (CARD["data"]["train_split"],
                                                                  CARD["data"]["val_split"])


def test_default_recipe_is_the_one_that_trained_the_shipped_model() -> None:
    assert Recipe(**CARD["recipe"]) == RECIPES["default"]


@pytest.mark.data
def test_shipped_model_reproduces_its_card_on_sirst_test(data_root: Path) -> None:
    dataset = open_dataset(data_root, "sirst", "test")
    assert len(dataset) == 86
    result = evaluate(Segmenter(None, backend="torch"), dataset, use_cache=False, keep_saliency=False)
    for name, expected in CARD["test_metrics"]["resize"].items():
        tolerance = 5e-7 if name == "fa" else 2e-3
        assert result.metrics[name] == pytest.approx(expected, abs=tolerance), name
    # the bar, on the protocol where the published weights reach mIoU 0.611, F1 0.759,
    # Pd 0.982, Fa 86e-6
    assert result.metrics["miou"] >= 0.63 and result.metrics["f1"] >= 0.77 and result.metrics["pd"] >= 0.95
    assert result.metrics["fa"] <= 40e-6
