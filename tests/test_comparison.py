"""`lwirst.comparison`: the recorded one-run comparison as the views read it."""

from __future__ import annotations

import json
from pathlib import Path

from lwirst.comparison import COMPARISON_PATH, load_comparison, part_table, suite_table
from lwirst.paths import DEFAULT_MODEL


def test_the_shipped_record_reads_as_one_run_of_both_sides() -> None:
    run = load_comparison()
    assert run is not None and set(run.models) == {"shipped", "published"}
    assert run.command.startswith("python scripts/compare_models.py") and run.commit in run.source
    raw = json.loads(COMPARISON_PATH.read_text())
    table = part_table(run, "sirst_test")
    assert list(table["mIoU"]) == [raw["models"][n]["sirst_test"]["miou"] for n in ("shipped", "published")]
    assert table["model"][0].endswith("consensus 1.5×, margin 1") and "consensus" not in table["model"][1]
    assert "margin" not in table["model"][1]  # a fixed-size graph runs every frame resized: no margin


def test_a_missing_or_foreign_file_shows_no_comparison(tmp_path: Path) -> None:
    assert load_comparison(tmp_path / "absent.json") is None
    (tmp_path / "other.json").write_text('{"models": {}}')  # no command: not a recorded run
    assert load_comparison(tmp_path / "other.json") is None


def test_a_part_no_model_was_scored_on_is_an_empty_table(tmp_path: Path) -> None:
    record = {"command": "c", "commit": "abc", "host": "h", "protocol": "p",
              "models": {"a": {"path": "a.onnx", "sirst_test": {"miou": 0.5, "targets": 4, "detected": 3,
                                                                "false_alarms": 2, "fa": 1e-6}}}}
    (tmp_path / "run.json").write_text(json.dumps(record))
    run = load_comparison(tmp_path / "run.json")
    assert run is not None and part_table(run, "samples").empty and suite_table(run).empty
    row = part_table(run, "sirst_test").to_dict("records")[0]
    assert row["targets found"] == "3 of 4" and row["false alarms"] == 2 and row["Fa (×1e-6)"] == 1.0


def test_the_record_scored_the_weights_that_ship(tmp_path: Path) -> None:
    """A comparison.json kept from earlier weights showed their figures as the shipped model's: the record holds
    each file's content hash, and the shipped side's must be the shipped file's (new weights need a new run)."""
    run = load_comparison()
    assert run is not None and run.scored("shipped", DEFAULT_MODEL) is True
    assert run.scored("published", DEFAULT_MODEL) is False  # another file: its hash differs
    raw = json.loads(COMPARISON_PATH.read_text())
    raw["models"]["shipped"]["hash"] = "0" * 16
    (tmp_path / "old.json").write_text(json.dumps(raw))
    assert load_comparison(tmp_path / "old.json").scored("shipped", DEFAULT_MODEL) is False
    del raw["models"]["shipped"]["hash"]
    (tmp_path / "bare.json").write_text(json.dumps(raw))
    assert load_comparison(tmp_path / "bare.json").scored("shipped", DEFAULT_MODEL) is None
