"""A video's detections against the generator's truth: one-to-one centroid matching, hidden targets left
out, and the embedded sample's truth file readable."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lwirst.errors import LwirstError
from lwirst.paths import SAMPLES_DIR
from lwirst.sequence_truth import MATCH_PX, FrameTruth, read_truth, score_detections, score_video, truth_path


def truth(rows: list[tuple[int, int, float, float, int]]) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=["frame", "id", "x", "y", "visible"])


def found(rows: list[tuple[int, float, float]]) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=["frame", "x", "y"])


def test_a_near_box_finds_its_target_and_a_far_one_is_a_false_alarm() -> None:
    score = score_detections(truth([(0, 0, 10, 10, 1), (1, 0, 12, 10, 1)]),
                             found([(0, 11, 11), (1, 12 + MATCH_PX, 10), (1, 40, 40)]), frames=2)
    assert [(t.id, t.visible, t.found) for t in score.targets] == [(0, 2, 1)]
    assert score.false_alarms == 2  # 3 px away is not within 3 px; the far box finds nothing
    assert score.pd == 0.5


def test_a_frame_without_detections_finds_nothing() -> None:
    """`lwirst video`'s CSV gives a frame without detections a row without a position: read as a detection at
    NaN, it was paired with a target, and a video whose every frame was empty read Pd 0.50 with its empty rows
    counted as false alarms (black-hot or ignore zones make such frames common)."""
    nothing = found([(0, float("nan"), float("nan")), (1, float("nan"), float("nan"))])
    score = score_detections(truth([(0, 0, 10, 10, 1), (1, 0, 11, 10, 1)]), nothing, frames=2)
    assert score.found == 0 and score.false_alarms == 0 and score.pd == 0.0
    one = pd.concat([nothing, found([(1, 11, 10)])], ignore_index=True)
    score = score_detections(truth([(0, 0, 10, 10, 1), (1, 0, 11, 10, 1)]), one, frames=2)
    assert score.found == 1 and score.false_alarms == 0


def test_one_box_over_two_crossing_targets_finds_one_of_them() -> None:
    score = score_detections(truth([(0, 0, 20, 20, 1), (0, 1, 21, 20, 1)]), found([(0, 20.8, 20)]), frames=1)
    assert [t.found for t in score.targets] == [0, 1]  # the box sits nearer target 1
    assert score.found == 1 and score.false_alarms == 0


def test_hidden_targets_count_neither_as_found_nor_as_missed() -> None:
    score = score_detections(truth([(0, 0, 5, 5, 0), (1, 0, 5, 5, 1)]), found([(0, 5, 5), (1, 5, 5)]), frames=2)
    assert (score.targets[0].visible, score.targets[0].found) == (1, 1)
    assert score.false_alarms == 1  # a box on a hidden target finds nothing there


def test_a_stopped_run_is_scored_on_the_frames_it_processed() -> None:
    """A run stopped after 41 of 64 frames counted the 23 it never reached as misses (Pd 0.59 for 0.95)."""
    table = read_truth(truth_path(SAMPLES_DIR / "sequence.mp4"))
    exact = table[["frame", "x", "y"]]
    done = exact[exact["frame"] < 41]
    stopped = score_detections(table, done, frames=41)
    assert stopped.visible == ((table["visible"] == 1) & (table["frame"] < 41)).sum() < (table["visible"] == 1).sum()
    assert stopped.found == stopped.visible and stopped.pd == 1.0
    assert stopped.false_alarms == ((table["visible"] == 0) & (table["frame"] < 41)).sum()


def test_each_target_names_the_tracks_that_followed_it() -> None:
    """The Video page read "Confirmed tracks 3" for a sample with 2 targets and said nothing of which broke."""
    table = truth([(f, i, 10.0 + 20 * i, 10.0 + f, 1) for f in range(4) for i in (0, 1)])
    boxes = pd.DataFrame([(f, 10.0, 10.0 + f, 1) for f in range(4)]
                         + [(f, 30.0, 10.0 + f, 2 if f < 2 else 3) for f in range(4)]
                         + [(3, 50.0, 50.0, "")],  # a tentative box (no id yet) that finds nothing
                         columns=["frame", "x", "y", "track_id"])
    score = score_detections(table, boxes, frames=4)
    assert [(t.id, t.found, t.tracks) for t in score.targets] == [(0, 4, ((1, 4),)), (1, 4, ((2, 2), (3, 2)))]
    assert score.false_alarms == 1
    assert [t.tracks for t in score_detections(table, boxes.drop(columns="track_id"), frames=4).targets] == [(), ()]


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 3), st.integers(0, 2), st.floats(0, 30), st.floats(0, 30),
                          st.integers(0, 1)), max_size=12, unique_by=lambda r: (r[0], r[1])),
       st.lists(st.tuples(st.integers(0, 3), st.floats(0, 30), st.floats(0, 30)), max_size=12))
def test_found_and_false_alarms_account_for_every_box(targets: list, boxes: list) -> None:
    """Each box either finds one visible target or is a false alarm; no target is found more often than it
    is visible, and no frame finds more targets than it has boxes."""
    score = score_detections(truth(targets), found(boxes), frames=4)
    assert score.found + score.false_alarms == len(boxes)
    assert all(0 <= t.found <= t.visible for t in score.targets)
    per_frame_boxes = pd.Series([b[0] for b in boxes]).value_counts() if boxes else pd.Series(dtype=int)
    per_frame_visible = pd.Series([t[0] for t in targets if t[4]]).value_counts() if targets else pd.Series(dtype=int)
    bound = sum(min(per_frame_boxes.get(f, 0), per_frame_visible.get(f, 0)) for f in range(4))
    assert score.found <= bound
    assert 0.0 <= score.pd <= 1.0 if score.visible else np.isnan(score.pd)  # nothing visible: no Pd


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 3), st.integers(0, 2), st.floats(0, 30), st.floats(0, 30),
                          st.integers(0, 1)), max_size=12, unique_by=lambda r: (r[0], r[1])),
       st.lists(st.tuples(st.integers(0, 3), st.floats(0, 30), st.floats(0, 30)), max_size=12))
def test_each_frames_drawn_outcomes_add_up_to_the_score(targets: list, boxes: list) -> None:
    """The annotated video boxes what the page counts: per frame, the detections that found a target and the
    visible targets none found, summed over frames, are the score's found and missed target-frames."""
    table, detections = truth(targets), found(boxes)
    score = score_detections(table, detections, frames=4)
    frames = FrameTruth(table)
    correct = missed = 0
    for f in range(4):
        here = detections[detections["frame"] == f][["x", "y"]].to_numpy(float).reshape(-1, 2)
        hits, misses = frames.outcomes(f, here)
        assert hits <= set(range(len(here))) and misses.shape[1] == 2
        correct, missed = correct + len(hits), missed + len(misses)
    assert correct == score.found and missed == score.visible - score.found
    assert len(boxes) - correct == score.false_alarms


def test_the_sample_video_has_a_readable_truth_and_a_visitors_video_none(tmp_path: Path) -> None:
    video = SAMPLES_DIR / "sequence.mp4"
    table = read_truth(truth_path(video))
    assert set(table["id"]) == {0, 1} and table["frame"].max() == 63
    exact = table[["frame", "x", "y"]]
    perfect = score_video(video, exact, frames=64)
    assert perfect is not None and perfect.false_alarms == (table["visible"] == 0).sum()
    assert perfect.found == perfect.visible == (table["visible"] == 1).sum()
    assert score_video(tmp_path / "mine.mp4", exact, frames=64) is None


def test_a_truth_table_without_positions_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "v_tracks.csv"
    path.write_text("frame,id\n0,0\n")
    with pytest.raises(LwirstError, match="lacks the columns x, y, visible"):
        read_truth(path)
