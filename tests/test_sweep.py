"""`lwirst sweep`: trials on a local Ray, its CSV and report, resuming, and bad input."""

from __future__ import annotations

import dataclasses
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest

from lwirst.checkpoint import load_model
from lwirst.cli import main, terminate_as_interrupt
from lwirst.datasets import open_dataset
from lwirst.sweep import (
    RESULT_FILE,
    Sweep,
    SweepData,
    csv_columns,
    drop_repeated_runs,
    plan_trials,
    prepare_sweep,
    report,
    run_sweep,
)
from lwirst.synth import SceneConfig, write_dataset
from lwirst.train import RECIPES, score_resized
from tests.conftest import soften_one_mask

pytest.importorskip("ray.tune")

TINY = ["--dataset", "folder", "--train-split", "train", "--size", "32", "--batch-size", "2"]


@pytest.fixture(scope="module")
def tiny_data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """10 synthetic 48x48 scenes: train.txt and test.txt from `write_dataset`, val.txt two train images."""
    root = write_dataset(tmp_path_factory.mktemp("synth"), 10, SceneConfig(size=(48, 48)), seed=3)
    names = (root / "train.txt").read_text().split()
    (root / "val.txt").write_text("".join(f"{n}\n" for n in names[:2]))
    return root


def _sweep(data: Path, run: Path, *extra: str) -> list[str]:
    return ["sweep", "--data-dir", str(data), "--run-dir", str(run), *TINY, *extra]


@pytest.mark.slow
def test_two_trial_sweep_writes_csv_and_report(tiny_data: Path, tmp_path: Path,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "ablations" / "tiny.csv"
    args = _sweep(tiny_data, tmp_path / "run", "--presets", "table8_bilinear", "table8_deconv", "--seeds", "1",
                  "--epochs", "1", "--num-cpus", "2", "--csv", str(out), "--note", "smoke run")
    assert main(args) == 0
    frame = pd.read_csv(out)
    assert list(frame.columns) == csv_columns()
    assert sorted(frame["preset"]) == ["table8_bilinear", "table8_deconv"]
    assert set(frame["table"]) == {"VIII"} and set(frame["epochs"]) == {1} and set(frame["seed"]) == {0}
    assert frame["variant"].tolist() == ["table8_bilinear", "lw_irstnet"]
    for column in ("best_miou", "final_miou", "best_f1", "best_pd", "final_pd"):
        assert frame[column].between(0, 1).all(), column
    assert (frame["params_m"] > 0.1).all() and (frame["wall_s"] > 0).all()
    assert frame["schedule"].iloc[0] == "default+epochs=1,batch_size=2,size=32"
    assert set(frame["note"]) == {"smoke run"}
    assert pd.read_csv(tmp_path / "run" / "results.csv").equals(frame)
    test = open_dataset(tiny_data, "folder", "test")
    for trial in (tmp_path / "run" / "trials").iterdir():  # final_* scored the EMA's BatchNorm estimated anew,
        result = json.loads((trial / "result.json").read_text())  # which no saved file held
        assert result["final_miou"] == score_resized(load_model(trial / "last.safetensors")[0], test, 32)["miou"]
    # val.txt holds two training images: the best epoch is chosen in-sample, as `lwirst train` warns
    assert "warning: 2 validation image(s) are also training images" in capsys.readouterr().out

    assert main(["sweep", "--report", "--csv", str(out)]) == 0
    text = capsys.readouterr().out
    assert "Table VIII: test mIoU at the best-validation epoch" in text
    assert "Kendall tau (paper vs measured, 2 presets)" in text
    assert "paper's choice table8_deconv: rank" in text
    assert "a short screening schedule (1 epoch, under 50): far from converged" in text


@pytest.mark.slow
def test_interrupted_sweep_resumes_without_retraining(tiny_data: Path, tmp_path: Path,
                                                      capsys: pytest.CaptureFixture[str]) -> None:
    """Ctrl-C, as a terminal sends it (SIGTERM, which the command turns into the same stop after Ray's start, is
    `test_a_stopped_sweep_ends_its_own_ray_and_leaves_a_joined_one`'s)."""
    run = tmp_path / "run"
    args = _sweep(tiny_data, run, "--presets", "table8_deconv", "--seeds", "2", "--epochs", "6", "--num-cpus", "1")
    env = {k: v for k, v in os.environ.items() if k != "RAY_ADDRESS"}
    # as a terminal starts a command: Ctrl-C taken (a shell's background job, as the suite may run in, starts with
    # SIGINT ignored, and Python keeps it so)
    interactive = ("import signal, sys\nsignal.signal(signal.SIGINT, signal.default_int_handler)\n"
                   "from lwirst.cli import main\nsys.exit(main(sys.argv[1:]))")
    proc = subprocess.Popen([sys.executable, "-c", interactive, *args], env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)
    trials = [run / "trials" / f"lw_irstnet-s{seed}" for seed in (0, 1)]
    deadline = time.monotonic() + 480  # about 30 s on an idle 2-core machine
    interrupted = False
    try:  # Ctrl-C once one trial has finished and the other has saved an epoch
        while time.monotonic() < deadline and proc.poll() is None:
            done = [t for t in trials if (t / RESULT_FILE).exists()]
            if done and any((t / "metrics.csv").exists() for t in trials if t not in done):
                proc.send_signal(signal.SIGINT)
                interrupted = True
                break
            time.sleep(0.05)
        if not interrupted:
            proc.kill()
        output = proc.communicate(timeout=120)[0]
    finally:
        proc.kill()
    assert interrupted, f"no moment with one trial finished and the other mid-run:\n{output}"
    assert proc.returncode == 130, output  # stopped, as a shell reports Ctrl-C; not aborted (134) or ended (1)
    assert "run the same command again to resume" in output and "Tuner.restore" not in output, output
    finished = [t for t in trials if (t / RESULT_FILE).exists()]
    partial = [t for t in trials if t not in finished]
    assert len(finished) == 1 and len(partial) == 1, output
    kept = {p: p.read_bytes() for t in finished for p in (t / RESULT_FILE, t / "metrics.csv")}
    saved_rows = (partial[0] / "metrics.csv").read_text().splitlines()
    assert 2 <= len(saved_rows) <= 6  # header + at least one of six epochs

    assert main(args) == 0
    assert "1 of 2 trials already finished" in capsys.readouterr().out
    assert all(p.read_bytes() == content for p, content in kept.items())  # never retrained
    rows = (partial[0] / "metrics.csv").read_text().splitlines()
    assert len(rows) == 7 and rows[:len(saved_rows)] == saved_rows  # continued from its last epoch
    assert len(pd.read_csv(run / "results.csv")) == 2


@pytest.mark.slow
def test_a_stopped_sweep_ends_its_own_ray_and_leaves_a_joined_one(tiny_data: Path, tmp_path: Path) -> None:
    """A stop in Tune's loop (at the first epoch's progress line, which Tune says from that loop) ends the Ray the
    sweep started before the exit handlers run (left to them, a stopped sweep twice failed to exit in CI); a Ray
    the caller had joined keeps running. The sweep that starts Ray is stopped by a real SIGTERM through the
    command's handler, which `connect` takes back from Ray's native crash handler (a command it kept dumped core,
    exit 134; without the take-back this test fails); the caller's own Ray keeps Ray's handler, so Ctrl-C stops
    that one."""
    import ray

    def stop_at_first_epoch(line: str) -> None:
        if not line.startswith("["):
            return
        if joined:  # the caller's Ray keeps Ray's own SIGTERM handler
            raise KeyboardInterrupt
        os.kill(os.getpid(), signal.SIGTERM)
        time.sleep(5)  # the command's handler raises KeyboardInterrupt at once
        raise AssertionError("SIGTERM did not stop the sweep")

    recipe = dataclasses.replace(RECIPES["default"], epochs=2, batch_size=2, size=32)
    data = SweepData(str(tiny_data), "folder", "train", "val", "test")
    ray.shutdown()  # a Ray an earlier test of this worker left
    before = signal.signal(signal.SIGTERM, terminate_as_interrupt)  # as `main` sets it
    try:
        for joined in (False, True):
            if joined:
                ray.init(address="local", num_cpus=1, include_dashboard=False, log_to_driver=False)
            sweep = Sweep(tmp_path / f"run{joined}", recipe, "default", data)
            prepare_sweep(sweep, ["table8_deconv"], [0])
            with pytest.raises(KeyboardInterrupt):
                run_sweep(sweep, plan_trials(["table8_deconv"], [0]), num_cpus=1, say=stop_at_first_epoch)
            assert ray.is_initialized() == joined
            assert (sweep.run_dir / "trials" / "lw_irstnet-s0" / "metrics.csv").exists()  # stopped mid-trial
    finally:
        signal.signal(signal.SIGTERM, before)
        ray.shutdown()


@pytest.mark.parametrize(("extra", "message"), [
    (["--tables", "X"], "unknown table 'X'"),
    (["--presets", "table8_bilnear"], "unknown preset 'table8_bilnear'"),
    (["--presets", "lw_irstnet"], "not a row of an ablation table"),
    (["--presets", "table8_deconv", "--val-split", "holdout"], "list some training images in val.txt"),
    (["--presets", "table8_deconv", "--val-split", "test"], "test split is for reporting only"),
    (["--presets", "table8_deconv", "--val-split", "all"], "are test images, which must never choose a model"),
    (["--presets", "table8_deconv", "--address", "127.0.0.1:1"], "cannot reach the Ray cluster at 127.0.0.1:1"),
    (["--presets", "table8_deconv", "--lr", "0.5"], "another recipe (lr: 0.001 there, 0.5 now)"),
    (["--presets", "table8_deconv", "--csv", "{data}/test.txt"], "lies inside the input folder"),
    (["--presets", "table8_deconv", "--csv", "{run}/sweep.json"], "lies inside the sweep directory"),
    (["--presets", "table8_deconv", "--csv", "{run}"], "is a directory"),
])
def test_bad_input_fails_before_any_trial(tiny_data: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                          extra: list[str], message: str) -> None:
    run = tmp_path / "run"
    recipe = dataclasses.replace(RECIPES["default"], epochs=1, batch_size=2, size=32)
    data = SweepData(str(tiny_data), "folder", "train", "val", "test")
    prepare_sweep(Sweep(run, recipe, "default", data), ["table8_deconv"], [0])
    before = {p: p.read_bytes() for p in (tiny_data / "test.txt", run / "sweep.json")}
    extra = [e.format(data=tiny_data, run=run) for e in extra]
    assert main(_sweep(tiny_data, run, "--epochs", "1", *extra)) == 1
    assert message in capsys.readouterr().err
    assert not (run / "trials").exists()
    assert {p: p.read_bytes() for p in before} == before  # a --csv once replaced the split list, sweep.json


def test_a_sweep_binarises_masks_that_are_not_binary_on_request(tiny_data: Path, tmp_path: Path,
                                                                capsys: pytest.CaptureFixture[str]) -> None:
    """A dataset with one softened mask: refused with --mask-threshold named, which `sweep` now takes (it said so
    and then rejected the option); with it the splits open, and the sweep's record keeps the threshold."""
    data = tmp_path / "data"
    shutil.copytree(tiny_data, data)
    soften_one_mask(data)
    run = tmp_path / "run"
    recipe = dataclasses.replace(RECIPES["default"], epochs=1, batch_size=2, size=32)
    prepare_sweep(Sweep(run, recipe, "default", SweepData(str(data), "folder", "train", "val", "test", 0.5)),
                  ["table8_deconv"], [0])
    assert json.loads((run / "sweep.json").read_text())["data"]["mask_threshold"] == 0.5
    assert main(_sweep(data, run, "--epochs", "1", "--presets", "table8_deconv")) == 1
    assert "mask is not binary" in capsys.readouterr().err
    # with the threshold the data opens; the next check (another learning rate than the sweep's) stops it
    assert main(_sweep(data, run, "--epochs", "1", "--presets", "table8_deconv", "--mask-threshold", "0.5",
                       "--lr", "0.5")) == 1
    assert "another recipe (lr: 0.001 there, 0.5 now)" in capsys.readouterr().err
    assert not (run / "trials").exists()


def test_recipe_options_that_cannot_hold_together_are_a_usage_error(tiny_data: Path, tmp_path: Path,
                                                                    capsys: pytest.CaptureFixture[str]) -> None:
    assert main(_sweep(tiny_data, tmp_path / "run", "--presets", "table8_deconv", "--epochs", "1",
                       "--scale-min", "2", "--scale-max", "1")) == 2
    assert "error: lwirst sweep: scale_min 2 is above scale_max 1 (--scale-min, --scale-max)" in capsys.readouterr().err
    assert not (tmp_path / "run").exists()


def test_a_csv_of_another_sweep_or_no_sweep_is_never_replaced(tiny_data: Path, tmp_path: Path,
                                                             capsys: pytest.CaptureFixture[str]) -> None:
    """--csv data/ablations/sirst_short.csv (the committed results) was replaced by a two-row smoke run."""
    committed = tmp_path / "sirst_short.csv"
    committed.write_bytes((Path(__file__).parents[1] / "data" / "ablations" / "sirst_short.csv").read_bytes())
    notes = tmp_path / "notes.csv"
    notes.write_text("a,b\n1,2\n")
    for csv, message in ((committed, "holds the results of another sweep"), (notes, "not a sweep results CSV")):
        before = csv.read_bytes()
        assert main(_sweep(tiny_data, tmp_path / "run", "--epochs", "1", "--presets", "table8_deconv",
                           "--csv", str(csv))) == 1
        assert message in capsys.readouterr().err and csv.read_bytes() == before
        assert not (tmp_path / "run" / "trials").exists()
    # one schedule is not one sweep: the rows of presets this sweep does not run would be lost as well
    other = tmp_path / "other.csv"
    frame = pd.read_csv(committed)
    frame["schedule"] = "default+epochs=1,batch_size=2,size=32"
    frame.to_csv(other, index=False)
    before = other.read_bytes()
    assert main(_sweep(tiny_data, tmp_path / "run", "--epochs", "1", "--presets", "table8_deconv",
                       "--csv", str(other))) == 1
    assert "holds results this sweep would replace and not write again" in capsys.readouterr().err
    assert other.read_bytes() == before


def test_presets_of_one_architecture_share_trials() -> None:
    plans = plan_trials(["table3_daaa", "table7_ch_8_32_64", "table8_deconv", "table8_bilinear"], [0, 1])
    assert [p.name for p in plans] == ["lw_irstnet-s0", "lw_irstnet-s1", "table8_bilinear-s0",
                                       "table8_bilinear-s1"]


def test_report_ranks_against_the_paper() -> None:
    presets = {"table8_bilinear": (0.30, 0.305), "table8_bilinear_deconv": (0.40, 0.41), "table8_deconv": (0.50, 0.52)}
    rows = [{"table": "VIII", "preset": p, "seed": s, "schedule": "s", "dataset": "d", "train_split": "train",
             "test_split": "test", "best_miou": v[s]} for p, v in presets.items() for s in (0, 1)]
    text = report(pd.DataFrame(rows))
    assert "Kendall tau (paper vs measured, 3 presets): +1.00" in text
    assert "paper's choice table8_deconv: rank 1 of 3, +0.1050 vs the best other row -> ranks first here" in text
    assert "0.5100 ± 0.0141 (2)" in text
    # the seed pairs differ by 0.20 and 0.215: far beyond their spread
    assert "table8_deconv vs table8_bilinear: +0.2075 (sd 0.0106, 2 paired seeds" in text
    assert text.endswith("one-sided t-test at 0.05): reproduced")
    flipped = pd.DataFrame([{**r, "best_miou": 1 - r["best_miou"]} for r in rows])
    text = report(flipped)
    assert "-1.00" in text and "does not rank first here (best: table8_bilinear)" in text
    assert text.endswith("not reproduced")
    # the same schedule on other splits is another experiment: its own block, never averaged into this one (the
    # block named the first row's splits for both), and none of its rows dropped as a repeat
    other = pd.DataFrame([{**r, "train_split": "trainval", "best_miou": 1 - r["best_miou"]} for r in rows])
    both, repeated = drop_repeated_runs(pd.concat([pd.DataFrame(rows), other], ignore_index=True))
    assert repeated == 0 and len(both) == 12
    text = report(both)
    assert "d train -> test" in text and "d trainval -> test" in text
    assert "0.5100 ± 0.0141 (2)" in text and "(4)" not in text
    # the val split picks the best epoch: runs that differ there are other runs too, said in the block's header
    val = pd.DataFrame([{**r, "val_split": v} for r in rows for v in ("val", "val2")])
    assert drop_repeated_runs(val)[1] == 0
    assert "d train -> test (best epoch on val);" in report(val) and "(best epoch on val2);" in report(val)


def test_sweep_results_without_their_data_are_refused(tmp_path: Path) -> None:
    """A row with a blank split was silently left out of the report (pandas drops NaN group keys) while the
    Ablations page showed it: the one reader refuses such a file, naming the row."""
    from lwirst.errors import LwirstError
    from lwirst.sweep import read_results

    frame = pd.read_csv(Path(__file__).parents[1] / "data" / "ablations" / "sirst_short.csv")
    frame.loc[3, "train_split"] = None
    frame.to_csv(tmp_path / "blank.csv", index=False)
    with pytest.raises(LwirstError, match="row 4: no train_split recorded"):
        read_results(tmp_path / "blank.csv")


def test_report_ranks_by_any_sweep_score_in_its_own_direction() -> None:
    """Every score of the metric table's sweep view can rank a report (a plugin's too); Fa ranks lowest first,
    and the paired verdict reads a lower Fa as the better one. Fa once could not be asked for at all."""
    from lwirst.errors import LwirstError
    from lwirst.scoring import SWEEP, view_keys
    from lwirst.sweep import ranked_metrics

    assert set(ranked_metrics()) == {f"{w}_{k}" for w in ("best", "final") for k in view_keys(SWEEP)} >= {"best_fa"}
    fa = {"table8_bilinear": (30e-6, 32e-6), "table8_bilinear_deconv": (20e-6, 21e-6),
          "table8_deconv": (10e-6, 10.5e-6)}
    rows = pd.DataFrame([{"table": "VIII", "preset": p, "seed": s, "schedule": "s", "dataset": "d",
                          "train_split": "train", "test_split": "test", "best_fa": v[s]}
                         for p, v in fa.items() for s in (0, 1)])
    text = report(rows, metric="best_fa")
    assert "test Fa (×1e-6) (lower is better) at the best-validation epoch" in text
    assert "Kendall tau" not in text  # the paper prints no Fa to rank against
    assert "paper's choice table8_deconv: rank 1 of 3, -10.25 vs the best other row -> ranks first here" in text
    assert "10.25 ± 0.35 (2)" in text and "table8_deconv vs table8_bilinear: -20.75 (sd 1.06, 2 paired seeds" in text
    assert text.endswith("one-sided t-test at 0.05): reproduced")
    assert report(rows.assign(best_fa=1e-4 - rows["best_fa"]), metric="best_fa").endswith("not reproduced")
    with pytest.raises(LwirstError, match="unknown metric 'best_speed'"):
        report(rows, metric="best_speed")
    with pytest.raises(LwirstError, match="hold no final_fa column"):  # a CSV written before Fa was recorded
        report(rows, metric="final_fa")


def test_a_run_that_predicts_nothing_is_not_ranked_on_false_alarms_and_ties_are_said() -> None:
    """A network that collapsed to the background (Pd 0, Fa 0) has no false alarm: ranked by Fa it came first,
    and the report told a researcher to prefer it. A run that found no target but raised false alarms is ranked
    (its Fa is its own). A tie for first was called "does not rank first"."""
    runs = {"table8_bilinear": [(0.0, 0.0), (0.0, 0.0)], "table8_bilinear_deconv": [(20e-6, 0.9), (0.0, 0.0)],
            "table8_deconv": [(10e-6, 0.9), (11e-6, 0.95)]}
    rows = pd.DataFrame([{"table": "VIII", "preset": p, "seed": s, "schedule": "s", "dataset": "d",
                          "train_split": "train", "test_split": "test", "best_fa": fa, "best_pd": pd_,
                          "best_miou": pd_ / 2}
                         for p, values in runs.items() for s, (fa, pd_) in enumerate(values)])
    text = report(rows, metric="best_fa")
    assert "2  table8_bilinear_deconv        -     20.00 ±   -    (1; 1 run(s) predicting nothing left out)" in text
    assert "not ranked: table8_bilinear (each of its runs predicted nothing" in text
    assert "paper's choice table8_deconv: rank 1 of 2, -9.50 vs the best other row -> ranks first here" in text
    assert "(2; 1 run(s) predicted nothing)" in report(rows, metric="best_miou")  # ranked, and said
    alarmed = rows.assign(best_fa=rows["best_fa"].where(rows["preset"] != "table8_bilinear", 500e-6))
    assert "1  table8_deconv" in report(alarmed, metric="best_fa") and "500.00 ± 0.00 (2)" in \
        report(alarmed, metric="best_fa")  # no target, but false alarms of its own: ranked, last
    tied = rows.assign(best_miou=0.5)
    assert "rank 1 of 3, +0.0000 vs the best other row -> ties for first here (with table8_bilinear, " \
           "table8_bilinear_deconv)" in report(tied)
    collapsed = rows.assign(best_fa=0.0, best_pd=0.0)  # every run of the table: no crash, no verdict
    text = report(collapsed, metric="best_fa")
    assert "paper's choice table8_deconv: not ranked, so no verdict on it" in text and "t-test" not in text
    older = rows.assign(best_fa=float("nan"))  # a CSV written before Fa was recorded, stacked with a newer one
    assert "6 run(s) recorded no best_fa: left out" in report(older, metric="best_fa")


def test_a_run_listed_twice_counts_once(tmp_path: Path) -> None:
    """The same sweep CSV copied beside itself showed "4 seeds" for rows trained with 2, and a smaller sd."""
    from lwirst.analysis import load_ablation_results
    from lwirst.sweep import load_results

    rows = pd.DataFrame([{"table": "VIII", "preset": p, "seed": s, "schedule": "s", "dataset": "d", "train_split": "t",
                          "test_split": "test",
                          **{m: 0.5 + 0.1 * s for m in ("best_miou", "best_f1", "best_pd", "final_miou",
                                                         "final_f1", "final_pd")}}
                         for p in ("table8_deconv", "table8_bilinear") for s in (0, 1)])
    for name in ("a.csv", "a_copy.csv"):
        rows.to_csv(tmp_path / name, index=False)
    assert len(load_results([tmp_path / "a.csv", tmp_path / "a_copy.csv"])) == 4
    assert "(2)" in report(load_results([tmp_path / "a.csv", tmp_path / "a_copy.csv"]))  # two seeds, not four
    results, problems = load_ablation_results([tmp_path])
    assert len(results) == 4 and any("4 repeated row(s)" in p for p in problems)
    assert any(f"counted once: those of {tmp_path.name}/a.csv, listed again in a later file" in p for p in problems)



@pytest.mark.parametrize("change, message", [
    ({"best_miou": 7.5}, "row 2: best_miou 7.5 lies outside 0..1"),
    ({"best_miou": "oops"}, "row 2: best_miou 'oops' is not a number"),
    ({"preset": "table7_ch_8_16_32"}, "row 2: 'table7_ch_8_16_32' is not a row of Table VIII"),
    ({"preset": "table8_bogus"}, "row 2: 'table8_bogus' is not a row of Table VIII"),
    ({"seed": "zero"}, "row 2: seed 'zero' is not a whole number"),
])
def test_a_hand_edited_csv_is_refused_at_its_first_bad_row(tmp_path: Path, change: dict, message: str) -> None:
    """A CSV with mIoU 7.5 ranked it first, and a Table VII preset filed under Table VIII ranked as its row."""
    from lwirst.analysis import load_ablation_results
    from lwirst.errors import LwirstError
    from lwirst.sweep import load_results

    rows = [{"table": "VIII", "preset": p, "seed": 0, "schedule": "s", "dataset": "d", "train_split": "t",
             "test_split": "test", **{m: 0.5 for m in ("best_miou", "best_f1", "best_pd", "final_miou", "final_f1",
                                                       "final_pd")}}
            for p in ("table8_deconv", "table8_bilinear")]
    rows[1] |= change
    pd.DataFrame(rows).to_csv(tmp_path / "edited.csv", index=False)
    with pytest.raises(LwirstError, match=re.escape(message)):
        load_results([tmp_path / "edited.csv"])
    results, problems = load_ablation_results([tmp_path])
    assert results.empty and problems == [f"{tmp_path.name}/edited.csv: {message}; fix or remove that row"]  # the
    # same reader; a file outside data/ablations is named with its folder (every sweep's own CSV is results.csv)


def test_a_record_from_uncommitted_package_code_says_dirty(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A model card rescored with a new, uncommitted metric module recorded the bare HEAD commit, which holds no
    such module: an untracked or edited file under lwirst/ marks the commit "-dirty"; files elsewhere do not."""
    from lwirst import paths

    def git(*args: str) -> None:
        subprocess.run(["git", "-C", str(tmp_path), "-c", "user.name=t", "-c", "user.email=t@t", *args], check=True,
                       capture_output=True)

    monkeypatch.setattr(paths, "_CHECKOUT", tmp_path)
    assert paths.checkout_commit() == "unknown"  # not a git checkout
    (tmp_path / "lwirst").mkdir()
    (tmp_path / "lwirst" / "core.py").write_text("x = 1\n")
    git("init", "-q")
    git("add", ".")
    git("commit", "-q", "-m", "c")
    clean = paths.checkout_commit()
    assert re.fullmatch(r"[0-9a-f]{7,}", clean)
    (tmp_path / "notes.txt").write_text("outside the package\n")
    assert paths.checkout_commit() == clean
    (tmp_path / "lwirst" / "new_metric.py").write_text("SPECS = ()\n")  # untracked
    assert paths.checkout_commit() == clean + "-dirty"
    (tmp_path / "lwirst" / "new_metric.py").unlink()
    (tmp_path / "lwirst" / "core.py").write_text("x = 2\n")  # edited
    assert paths.checkout_commit() == clean + "-dirty"
