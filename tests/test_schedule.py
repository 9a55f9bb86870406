"""The ablation schedule's rule: the shortest candidate whose every seed reaches the bar is chosen,
curves are read from real run logs, and runs without validation are refused."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from lwirst.errors import LwirstError
from lwirst.schedule import REFERENCE, collect_curves, curves_figure, load_curves, verdict


def _log(folder: Path, ious: list[float]) -> Path:
    folder.mkdir(parents=True)
    lines = ["epoch,lr,train_loss,val_iou,seconds"]
    lines += [f"{i + 1},0.001,0.5,{iou},30.0" for i, iou in enumerate(ious)]
    (folder / "metrics.csv").write_text("\n".join(lines) + "\n")
    return folder


def _curves(candidates: dict[tuple[int, int], list[float]], reference: list[float]) -> pd.DataFrame:
    rows = [(REFERENCE, len(reference), 0, e + 1, v) for e, v in enumerate(reference)]
    rows += [("default", epochs, seed, e + 1, v) for (epochs, seed), ious in candidates.items()
             for e, v in enumerate(ious)]
    return pd.DataFrame(rows, columns=["schedule", "epochs", "seed", "epoch", "val_iou"])


def test_the_shortest_schedule_whose_every_seed_passes_is_chosen() -> None:
    reference = [0.1, 0.5, 0.8, 0.7]  # best 0.8 -> bar 0.76
    candidates = {(2, 0): [0.5, 0.77], (2, 1): [0.6, 0.75], (2, 2): [0.77, 0.2],  # one seed short of the bar
                  (3, 0): [0.2, 0.77, 0.6], (3, 1): [0.76, 0.1, 0.1], (3, 2): [0.1, 0.1, 0.9]}
    result = verdict(_curves(candidates, reference))
    assert result.reference_best == 0.8 and result.bar == pytest.approx(0.76)
    assert result.chosen_epochs == 3
    runs = result.runs.set_index(["epochs", "seed"])
    assert runs.loc[(2, 2), "best_epoch"] == 1 and runs.loc[(2, 2), "final_val_iou"] == 0.2
    assert runs.loc[(3, 2), "best_val_iou"] == 0.9 and runs.loc[(3, 2), "best_epoch"] == 3
    assert list(runs["passes"]) == [True, False, True, True, True, True]


def test_a_schedule_with_too_few_seeds_or_no_pass_is_not_chosen() -> None:
    reference = [0.5, 0.8]
    assert verdict(_curves({(1, 0): [0.9], (1, 1): [0.9]}, reference)).chosen_epochs is None
    assert verdict(_curves({(1, s): [0.1] for s in range(3)}, reference)).chosen_epochs is None
    with pytest.raises(LwirstError, match="no reference"):
        verdict(_curves({(1, 0): [0.9]}, []))


def test_curves_come_from_run_logs_and_round_trip(tmp_path: Path) -> None:
    runs = {(REFERENCE, 3, 0): _log(tmp_path / "ref", [0.2, 0.6, 0.62]),
            ("default", 2, 0): _log(tmp_path / "a", [0.3, 0.61]),
            ("default", 2, 1): _log(tmp_path / "b", [0.4, 0.5])}
    curves = collect_curves(runs)
    assert len(curves) == 7 and curves.loc[curves["seed"] == 1, "val_iou"].tolist() == [0.4, 0.5]
    path = tmp_path / "curves.csv"
    curves.to_csv(path, index=False)
    pd.testing.assert_frame_equal(load_curves(path), curves)
    assert load_curves(tmp_path / "missing.csv") is None
    figure = curves_figure(curves, verdict(curves, seeds=2))
    assert len(figure.data) == 3  # two seeds and the reference


def test_a_run_without_validation_is_refused(tmp_path: Path) -> None:
    folder = tmp_path / "noval"
    folder.mkdir()
    (folder / "metrics.csv").write_text("epoch,lr,train_loss,val_iou,seconds\n1,0.001,0.5,nan,30\n")
    with pytest.raises(LwirstError, match="no validation IoU"):
        collect_curves({("default", 1, 0): folder})
    with pytest.raises(LwirstError, match="not a readable training log"):
        collect_curves({("default", 1, 0): tmp_path / "absent"})


def test_the_ablation_recipe_is_the_schedule_the_committed_curves_chose() -> None:
    """`--recipe ablation` exists exactly when the committed evidence chose a schedule, and is it."""
    import dataclasses

    from lwirst.train import RECIPES

    curves = load_curves()
    chosen = verdict(curves).chosen_epochs if curves is not None else None
    if chosen is None:
        assert "ablation" not in RECIPES
    else:
        assert RECIPES["ablation"] == dataclasses.replace(RECIPES["default"], epochs=chosen)
