"""A shipped weight mean (`lwirst average`) says so on its card: `scripts/ship_model.py --soup` finds each
member's training run by content hash, and the card's summary and tables name the members, their
weights, losses and seeds instead of one run's loss and seed."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest
import torch

from lwirst.card_view import recipe_table, soup_losses, soup_table, summary
from lwirst.checkpoint import file_hash, save_checkpoint
from lwirst.modelcard import ModelCard, TrainingRecord
from lwirst.models import build_model
from lwirst.train import RECIPES
from scripts.ship_model import member_logs, render_soup, soup_training

DATA = {"dataset": "sirst", "train_split": "trainval", "val_split": "", "train_images": 341,
        "init": {"file": "last.safetensors", "sha256": "0123456789abcdef"}, "init_path": "/runs/r20/last.safetensors"}
LOSSES = ("softiou+bce+focal+bgpeak+keep", "softiou+bce+focal+bgpeak")


def _run(folder: Path, seed: int, loss: str, data: dict = DATA) -> Path:
    """A finished training run's files: final weights, run.json, state.pt and the per-epoch log."""
    torch.manual_seed(seed)
    net = build_model().eval()
    recipe = dataclasses.replace(RECIPES["finetune"], loss=loss, seed=seed).to_dict()
    folder.mkdir()
    save_checkpoint(folder / "last.safetensors", net, net.config, {"recipe": recipe})
    (folder / "run.json").write_text(json.dumps({"config": dataclasses.asdict(net.config), "recipe": recipe,
                                                 "data": data}))
    torch.save({"epoch": 36, "wall_seconds": 600.0 * seed}, folder / "state.pt")
    (folder / "metrics.csv").write_text("epoch,lr,train_loss,val_iou,seconds\n1,0.0003,0.9,,80\n2,0.0002,0.7,,81\n")
    return folder


@pytest.fixture
def runs(tmp_path: Path) -> list[Path]:
    return [_run(tmp_path / f"run{seed}", seed, loss) for seed, loss in zip((1, 2), LOSSES, strict=True)]


def _soup(path: Path, members: list[Path], weights: list[float]) -> Path:
    """A weight mean's checkpoint as `lwirst average` writes it: ingredients by content hash and weight."""
    net = build_model().eval()
    meta = {"averaged": [{"file": f"{m.name}/last.safetensors", "sha256": file_hash(m / "last.safetensors"),
                          "weight": w} for m, w in zip(members, weights, strict=True)],
            "bn_refit": {"batches": 32, "batch_size": 4, "seed": 0}}
    save_checkpoint(path, net, net.config, meta)
    return path


def test_ship_finds_each_member_by_hash_and_records_its_loss_seed_and_weight(runs: list[Path],
                                                                           tmp_path: Path) -> None:
    # the runs are given in the other order: matching is by content, not position
    training = soup_training(_soup(tmp_path / "mean.safetensors", runs, [0.75, 0.25]), runs[::-1])
    members = training["soup"]["members"]
    assert [(m["run"], m["weight"], m["loss"], m["seed"]) for m in members] == [
        ("run1", 0.75, LOSSES[0], 1), ("run2", 0.25, LOSSES[1], 2)]
    assert training["wall_time_s"] == 1800.0 and training["epochs"] == 36 and training["data"] == DATA
    assert training["soup"]["bn_refit"]["batches"] == 32
    log = member_logs(runs)
    assert list(log["member"]) == ["run1", "run1", "run2", "run2"]
    table = render_soup(training["soup"])
    assert "| run1 | 0.75 | `softiou+bce+focal+bgpeak+keep` | 1 |" in table


def test_ship_refuses_a_member_without_its_run_and_a_file_that_is_no_mean(runs: list[Path], tmp_path: Path) -> None:
    soup = _soup(tmp_path / "mean.safetensors", runs, [0.5, 0.5])
    with pytest.raises(SystemExit, match=r"run2/last\.safetensors is none of"):
        soup_training(soup, runs[:1])
    with pytest.raises(SystemExit, match="not a weight mean"):
        soup_training(runs[0] / "last.safetensors", runs)


def test_card_names_the_members_instead_of_one_runs_loss_and_seed(runs: list[Path], tmp_path: Path) -> None:
    training = soup_training(_soup(tmp_path / "mean.safetensors", runs, [0.75, 0.25]), runs)
    card = ModelCard("mean", 163232, 303.5e6, training=TrainingRecord.from_json({**training, "hardware": "a CPU"}))
    text = summary(card)
    assert "Its weights are a weighted mean (0.75 / 0.25) of 2 runs (Members below), each fine-tuned" in text
    assert "for 36 epochs (30 min in all on a CPU)" in text
    chosen = "the mean M of two runs (one quiet; one holding), shipped by its rule; test scored once"
    assert summary(dataclasses.replace(card, training=dataclasses.replace(card.training, chosen_by=chosen))).endswith(
        "The shipped weights are the mean M of two runs, shipped by its rule.")
    settings = set(recipe_table(card)["setting"])
    assert "learning rate" in settings and not {"loss", "random seed"} & settings
    members = soup_table(card)
    assert list(members["member run"]) == ["run1", "run2"] and list(members["weight"]) == ["0.75", "0.25"]
    losses = soup_losses(card)  # each loss in words once, the table naming it as --loss does
    assert list(losses) == list(dict.fromkeys(members["loss"])) and list(members["seed"]) == ["1", "2"]
    assert "background peak margin" in losses[members["loss"].iloc[1]]
    # one run's weights: no members, the loss and seed are the recipe's
    single = dataclasses.replace(card, training=dataclasses.replace(card.training, members=()))
    assert soup_table(single).empty and {"loss", "random seed"} <= set(recipe_table(single)["setting"])
    assert "It was fine-tuned" in summary(single)


def test_members_started_from_the_same_weights_under_another_name_match_but_other_data_is_refused(
        runs: list[Path], tmp_path: Path) -> None:
    renamed = _run(tmp_path / "run3", 3, LOSSES[0], {**DATA, "init": {**DATA["init"], "file": "round20.safetensors"}})
    members = [*runs, renamed]
    training = soup_training(_soup(tmp_path / "mean.safetensors", members, [0.4, 0.3, 0.3]), members)
    assert [m["run"] for m in training["soup"]["members"]] == ["run1", "run2", "run3"]
    assert {m["start"] for m in training["soup"]["members"]} == {"0123456789abcdef"}
    # a member fine-tuned from other weights (e.g. from an earlier mean, which lay elsewhere) joins, its start named
    chained = _run(tmp_path / "run4", 4, LOSSES[0], {**DATA, "init": {"file": "last.safetensors", "sha256": "f" * 16},
                                                     "init_path": "/runs/round41.safetensors"})
    mixed = soup_training(_soup(tmp_path / "mixed.safetensors", [*runs, chained], [0.4, 0.3, 0.3]), [*runs, chained])
    assert [m["start"] for m in mixed["soup"]["members"]] == ["0123456789abcdef"] * 2 + ["f" * 16]
    assert "| run4 | 0.3 | `softiou+bce+focal+bgpeak+keep` | 4 | ffffffffffffffff | as below |" in render_soup(
        mixed["soup"])
    other = _run(tmp_path / "run5", 5, LOSSES[0], {**DATA, "train_split": "train", "train_images": 256})
    with pytest.raises(SystemExit, match="run5: trained on other data"):
        soup_training(_soup(tmp_path / "other.safetensors", [*runs, other], [0.4, 0.3, 0.3]), [*runs, other])



def test_a_mean_of_a_shipped_mean_and_runs_lists_every_member_with_its_share(runs: list[Path],
                                                                           tmp_path: Path) -> None:
    # an earlier mean of run1 and run2, shipped with its card and log beside its weights
    earlier = _soup(tmp_path / "earlier.safetensors", runs, [0.5, 0.5])
    card = {**soup_training(earlier, runs), "name": "earlier"}
    earlier.with_suffix(".json").write_text(json.dumps(card))
    member_logs(runs).to_csv(earlier.with_suffix(".train_log.csv"), index=False)
    third = _run(tmp_path / "run3", 3, LOSSES[1])
    net = build_model().eval()
    mean = tmp_path / "mean.safetensors"
    save_checkpoint(mean, net, net.config, {"averaged": [
        {"file": "earlier.safetensors", "sha256": file_hash(earlier), "weight": 2 / 3},
        {"file": "run3/last.safetensors", "sha256": file_hash(third / "last.safetensors"), "weight": 1 / 3}]})
    training = soup_training(mean, [third], [earlier])
    members = training["soup"]["members"]
    assert [(m["run"], m["weight"], m["seed"]) for m in members] == [("run1", 0.3333, 1), ("run2", 0.3333, 2),
                                                                      ("run3", 0.3333, 3)]
    assert training["wall_time_s"] == 600.0 + 1200.0 + 1800.0
    assert [b["weight"] for b in training["soup"]["built_from"]] == [0.6667, 0.3333]
    assert "the equal mean of 3 runs" in summary(ModelCard("mean", 163232, 303.5e6,
                                                           training=TrainingRecord.from_json(
                                                               {**training, "hardware": "a CPU"})))
    assert list(member_logs([third], [earlier])["member"]) == ["run1", "run1", "run2", "run2", "run3", "run3"]
    assert "It was written as the mean of `earlier.safetensors`" in render_soup(training["soup"])
    # without its card beside it, an earlier mean is refused; so is a mean trained on other data
    earlier.with_suffix(".json").unlink()
    with pytest.raises(SystemExit, match="no weight mean's card beside it"):
        soup_training(mean, [third], [earlier])
    earlier.with_suffix(".json").write_text(json.dumps({**card, "data": {**DATA, "train_images": 300}}))
    with pytest.raises(SystemExit, match="run3: trained on other data"):
        soup_training(mean, [third], [earlier])


def test_a_fine_tune_of_a_mean_averaged_with_it_names_its_start_and_recipe_change(runs: list[Path],
                                                                                tmp_path: Path) -> None:
    """Round 43's shape: the mean of an earlier mean and a run fine-tuned from that mean with another recipe."""
    earlier = _soup(tmp_path / "earlier.safetensors", runs, [0.5, 0.5])
    earlier.with_suffix(".json").write_text(json.dumps({**soup_training(earlier, runs), "name": "earlier"}))
    torch.manual_seed(9)
    net = build_model().eval()
    recipe = dataclasses.replace(RECIPES["finetune"], loss=LOSSES[0], seed=14, noise=0.5).to_dict()
    tuned = tmp_path / "tuned"
    tuned.mkdir()
    save_checkpoint(tuned / "last.safetensors", net, net.config, {"recipe": recipe})
    (tuned / "run.json").write_text(json.dumps({"config": dataclasses.asdict(net.config), "recipe": recipe,
                                                "data": {**DATA, "init": {"file": "earlier.safetensors",
                                                                          "sha256": file_hash(earlier)}}}))
    torch.save({"epoch": 36, "wall_seconds": 900.0}, tuned / "state.pt")
    mean = tmp_path / "mean.safetensors"
    save_checkpoint(mean, net, net.config, {"averaged": [
        {"file": "earlier.safetensors", "sha256": file_hash(earlier), "weight": 0.5},
        {"file": "tuned/last.safetensors", "sha256": file_hash(tuned / "last.safetensors"), "weight": 0.5}]})
    members = soup_training(mean, [tuned], [earlier])["soup"]["members"]
    assert [(m["run"], m["start"], m["recipe_changes"]) for m in members] == [
        ("run1", "0123456789abcdef", {}), ("run2", "0123456789abcdef", {}),
        ("tuned", file_hash(earlier), {"noise": 0.5})]


def test_a_training_record_of_odd_types_reads_what_it_can_and_no_more() -> None:
    """A card written by another tool: an integral float epoch count reads (it was dropped), a text wall time
    and a boolean or out-of-range consensus do not (a true read as consensus at 1x, which lwirst never runs)."""
    odd = TrainingRecord.from_json({"epochs": 40.0, "wall_time_s": "3600", "confirm": True, "data": ["x"],
                                    "soup": {"members": [{"run": "a"}, "b"]}, "chosen_by": 7})
    assert (odd.epochs, odd.wall_time_s, odd.confirm, odd.data, odd.chosen_by) == (40, None, None, {}, "")
    assert odd.members == ({"run": "a"},)
    assert TrainingRecord.from_json({"epochs": 40.5, "confirm": 9.0}).epochs is None
    assert TrainingRecord.from_json({"confirm": 1.5, "mirror": True, "margin": 1}).confirm == 1.5
