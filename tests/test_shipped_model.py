"""The shipped model: reproduces its model card on SIRST test and finds the embedded samples' targets.

The card's figures come from `scripts/ship_model.py`; this test re-measures them with
`lwirst evaluate`'s code path, so a changed model, metric or protocol cannot pass
silently. It holds the model to the project's SIRST bar (mIoU 0.63, F1 0.77, Pd 0.95,
Fa 40e-6), checks that the README states which figures of the card's same-run comparison fall below
the published weights' (the issue's bar is none; round 43's model, chosen on validation data, is below
on pixel recall and on one target of SIRST test), and holds it to the demo's bar on the embedded
samples (at least 90 % of the targets found, at most one false alarm per ten frames).
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest

from lwirst.consensus import DEFAULT_MIRROR, DEFAULT_SCALE
from lwirst.datasets import open_dataset
from lwirst.evaluate import evaluate
from lwirst.inference import DEFAULT_MODEL, MODELS_DIR, Segmenter
from lwirst.losses import LOSSES
from lwirst.train import RECIPES, Recipe

CARD = json.loads((MODELS_DIR / "lwirst-sirst.json").read_text())


def test_card_describes_the_shipped_weights() -> None:
    assert DEFAULT_MODEL.exists() and (MODELS_DIR / "lwirst-sirst.onnx").exists()
    assert CARD["params"] == 163232 and round(CARD["flops"] / 1e6, 2) == 303.53
    assert CARD["data"]["dataset"] == "sirst" and "test" not in (CARD["data"]["train_split"],
                                                                  CARD["data"]["val_split"])


def test_the_shipped_onnx_carries_its_checkpoints_cost_and_training_record() -> None:
    """The shipped ONNX was written before files carried these notes: evaluated, it counted its BN-folded graph
    (0.1603 M params, 286 M FLOPs, where its checkpoint says 0.1632 M and 303.5 M; Compare placed one model at two
    costs) and, copied elsewhere, lost its in-sample flag on its own training frames."""
    import onnx

    from lwirst.checkpoint import load_model
    from lwirst.complexity import config_complexity
    from lwirst.export import ARCHITECTURE_NOTE, onnx_cost, onnx_note, onnx_record
    from lwirst.modelcard import shareable_training
    from lwirst.models import architecture_of

    proto = onnx.load(str(MODELS_DIR / "lwirst-sirst.onnx"))
    model, meta = load_model(DEFAULT_MODEL)
    cost = config_complexity(model.config)
    assert onnx_cost(proto) == (cost.params, cost.flops) == (163232, pytest.approx(303.53e6, rel=1e-4))
    assert onnx_note(proto, ARCHITECTURE_NOTE) == architecture_of(model.config)
    record = onnx_record(proto)
    assert record and record == json.loads(json.dumps(dict(shareable_training(DEFAULT_MODEL, meta)), default=str))


def test_shipped_members_are_finetunes_with_their_own_loss_and_seed() -> None:
    """The shipped weights are a mean of fine-tunes: the card's recipe is its first member's, and every
    member ran the finetune recipe but for the loss, seed and recipe fields the card lists for it, from
    the start weights it names."""
    recipe = Recipe(**CARD["recipe"])
    finetune = RECIPES["finetune"]
    assert dataclasses.replace(recipe, loss=finetune.loss, seed=finetune.seed) == finetune
    assert CARD["data"]["init"]["file"]  # a fine-tune names the weights it started from
    members = CARD["soup"]["members"]
    assert len(members) == 9 and sum(m["weight"] for m in members) == pytest.approx(1, abs=1e-3)
    assert (members[0]["loss"], members[0]["seed"]) == (recipe.loss, recipe.seed)
    assert len({(m["loss"], m["seed"]) for m in members}) == len(members)
    for member in members:
        assert member["loss"] in LOSSES  # a loss this code can train
        assert len(member["start"]) == 16  # the start weights' content hash
        own = Recipe(**{**CARD["recipe"], "loss": member["loss"], "seed": member["seed"], **member["recipe_changes"]})
        assert dataclasses.replace(own, loss=finetune.loss, seed=finetune.seed, noise=finetune.noise) == finetune


FIGURES = {"precision": "precision", "recall": "recall", "f1": "F1", "miou": "mIoU", "niou": "nIoU", "pd": "Pd"}


def below_published(shipped: dict[str, float], published: dict[str, float]) -> list[str]:
    """The SIRST-test figures on which the shipped model is below the published weights (Fa: above)."""
    names = [name for key, name in FIGURES.items() if shipped[key] < published[key]]
    return names + (["Fa"] if shipped["fa"] > published["fa"] else [])


def test_card_comparison_is_one_run_and_the_readme_says_where_the_shipped_model_is_below_the_published() -> None:
    """The README and card compare figures of one compare_models.py run, the shipped model with the
    consensus it runs with by default; the published ONNX is measured locally (never committed), so CI
    checks the recorded run's own consistency, and that the README's statement of the project's SIRST bar
    (no figure below the published weights') names exactly the figures the run shows below them."""
    comparison = CARD["comparison"]
    assert comparison["command"].startswith("python scripts/compare_models.py")
    shipped, published = comparison["models"]["shipped"], comparison["models"]["published"]
    assert shipped["confirm"] == CARD["confirm"] and published["confirm"] is None  # a fixed 256x256 graph
    assert shipped["sirst_test"]["miou"] == pytest.approx(CARD["test_metrics"]["auto"]["miou"], abs=2e-3)
    below = below_published(shipped["sirst_test"], published["sirst_test"])
    readme = " ".join((MODELS_DIR.parents[1] / "README.md").read_text().split())
    said = "met on every figure" if not below else \
        f"met on every figure but {', '.join(below[:-1])}{' and ' if len(below) > 1 else ''}{below[-1]}"
    assert f"project's SIRST bar (no figure below the published weights') is **{said}**" in readme, said


@pytest.mark.data
def test_shipped_model_reproduces_its_card_on_sirst_test(data_root: Path) -> None:
    dataset = open_dataset(data_root, "sirst", "test")
    assert len(dataset) == 86
    result = evaluate(Segmenter(None, backend="torch", confirm=CARD["confirm"]), dataset, use_cache=False,
                      keep_saliency=False)
    for name, expected in CARD["test_metrics"]["auto"].items():
        tolerance = 5e-7 if name == "fa" else 2e-3
        assert result.metrics[name] == pytest.approx(expected, abs=tolerance), name
    # the project's SIRST bar (the published weights, same run and protocol: see the card's comparison)
    assert result.metrics["miou"] >= 0.63 and result.metrics["f1"] >= 0.77 and result.metrics["pd"] >= 0.95
    assert result.metrics["fa"] <= 40e-6


def test_shipped_model_finds_the_embedded_samples_targets() -> None:
    """`lwirst demo`'s bar, measured by its own code path on the embedded samples."""
    from lwirst.commands.demo import DemoTotals
    from lwirst.imageio import read_image, read_mask
    from lwirst.metrics import match_targets
    from lwirst.paths import SAMPLES_DIR
    from lwirst.pipeline import FramePipeline

    pipeline = FramePipeline(Segmenter(None, backend="torch", confirm=DEFAULT_SCALE,
                                       mirror=DEFAULT_MIRROR))  # as `lwirst demo` runs
    totals = DemoTotals()
    for path in sorted((SAMPLES_DIR / "images").glob("*.png")):
        kept = pipeline.process(read_image(path)).kept
        totals.add(match_targets(kept.mask, read_mask(SAMPLES_DIR / "masks" / path.name)))
    assert totals.frames == 8 and totals.targets >= 8
    assert totals.met, totals.line()


def test_a_runs_checkpoint_says_which_epoch_it_holds_and_what_it_started_from(tmp_path: Path) -> None:
    """Stopped with --until 1, a run's last.safetensors read "trained on FOLDER (train, 26 images)" beside a recipe
    of 3 epochs, and a fine-tune said "from earlier weights" without naming the file its record names."""
    from lwirst.card_view import summary
    from lwirst.checkpoint import save_checkpoint
    from lwirst.model import LWIRSTNet
    from lwirst.modelcard import model_card

    net = LWIRSTNet()
    data = {"dataset": "folder", "train_split": "train", "train_images": 26,
            "init": {"file": "start.safetensors", "sha256": "0123456789abcdef"}}
    early, whole = tmp_path / "early.safetensors", tmp_path / "whole.safetensors"
    save_checkpoint(early, net, net.config, {"epoch": 1, "recipe": {"epochs": 3}, "data": data})
    save_checkpoint(whole, net, net.config, {"epoch": 3, "recipe": {"epochs": 3}, "data": {**data, "init": None}})
    assert ("It was fine-tuned from start.safetensors on a folder (train, 26 images); these are the weights of "
            "epoch 1 of the 3 its recipe plans.") in summary(model_card(early))
    assert "It was trained on a folder (train, 26 images) for 3 epochs." in summary(model_card(whole))


def test_card_summary_says_a_mean_of_fine_tunes_is_one() -> None:
    """The summary's epochs and wall time are the last step's, so a fine-tune says it is one, and a
    weight mean says so and how many runs it averages."""
    from lwirst.card_view import summary
    from lwirst.modelcard import model_card

    card = model_card(DEFAULT_MODEL)
    text = summary(card)
    assert ("Its weights are a weighted mean (0.0625 / 0.0625 / 0.0625 / 0.0625 / 0.0625 / 0.0625 / 0.0625 / "
            "0.0625 / 0.5) of 9 runs (Members below), each fine-tuned from earlier weights "
            f"on SIRST (trainval, 341 images) and frames generated from them (Training data below) for "
            f"{CARD['epochs']} epochs") in text
    assert "303.5 M FLOPs per 256×256 frame (986.5 M with the scale consensus at 1.5×" in text
    single = dataclasses.replace(card, training=dataclasses.replace(card.training, members=()))
    assert "It was fine-tuned from an earlier lwirst-sirst.safetensors on SIRST" in summary(single)
    scratch = dataclasses.replace(single, training=dataclasses.replace(single.training, data={
        k: v for k, v in card.training.data.items() if k != "init"}))
    assert "It was trained on SIRST" in summary(scratch) and "fine-tuned" not in summary(scratch)


def test_card_tables_show_the_generated_frames_with_the_data_and_no_server_path() -> None:
    """The Home page said the model trained on SIRST and generated scenes while its Training data table
    listed SIRST alone (the mix sat in the recipe under field names), beside the training server's path."""
    from lwirst.card_view import data_table, recipe_table
    from lwirst.modelcard import model_card

    card = model_card(DEFAULT_MODEL)
    data, recipe = data_table(card), recipe_table(card)
    rows = dict(zip(data["setting"], data["value"], strict=True))
    assert rows["synthetic scenes per real frame"] == f"{CARD['recipe']['synthetic']:g}"
    assert rows["target-free frames per real frame"] == f"{CARD['recipe']['negatives']:g}"
    assert not {"data dir", "train names", "val names"} & set(rows)
    assert CARD["data"]["data_dir"] not in set(data["value"])
    assert not {"implant", "synthetic", "negatives", "mosaic", "upscale"} & set(recipe["setting"])
    assert "learning rate" in set(recipe["setting"])
