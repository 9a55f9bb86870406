"""Training: a short run learns and writes its run directory; a killed run resumes to
the same weights; run directories are protected from mistakes."""

from __future__ import annotations

import csv
import itertools
import json
import os
import re
import shlex
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch

from lwirst.checkpoint import load_checkpoint, load_model, save_checkpoint
from lwirst.cli import main
from lwirst.config import NetConfig
from lwirst.datasets import open_dataset
from lwirst.errors import LwirstError
from lwirst.models import build_model
from lwirst.preprocess import MEAN, STD
from lwirst.train import RECIPES, Recipe, Trainer, TrainSet, learning_rate
from tests.cli_process import run_lwirst

SMALL = ["--size", "64", "--batch-size", "4", "--threads", "1", "--scale-min", "0.8", "--scale-max", "1.2"]


def _train_args(run_dir: Path, data: Path, epochs: int) -> list[str]:
    return ["train", "--run-dir", str(run_dir), "--data-dir", str(data), "--dataset", "folder",
            "--train-split", "train", "--val-split", "train", "--epochs", str(epochs), *SMALL]


def _metric_rows(run_dir: Path) -> list[dict[str, str]]:
    path = run_dir / "metrics.csv"
    if not path.exists():
        return []
    with path.open() as handle:
        return list(csv.DictReader(handle))


def test_the_test_split_is_refused_for_validation(synth_dir: Path, tmp_path: Path, capsys) -> None:
    args = _train_args(tmp_path / "run", synth_dir, 1)
    args[args.index("--val-split") + 1] = "test"
    assert main(args) == 1
    assert "never be used for validation" in capsys.readouterr().err


def test_test_images_never_choose_a_model_and_training_on_them_is_said(synth_dir: Path, tmp_path: Path,
                                                                       capsys) -> None:
    """Only the split named "test" was refused: "all" validated (and chose best.safetensors) on the test images
    with no word, and training on them went unsaid."""
    tested = len((synth_dir / "test.txt").read_text().split())
    args = _train_args(tmp_path / "run", synth_dir, 1)
    args[args.index("--val-split") + 1] = "all"
    assert main(args) == 1
    assert f"--val-split all: {tested} of its 16 images are in the test split" in capsys.readouterr().err
    assert not (tmp_path / "run").exists()
    args = _train_args(tmp_path / "run", synth_dir, 1)
    args[args.index("--train-split") + 1] = "all"
    assert main(args) == 0
    assert f"warning: {tested} of the 16 training images (--train-split all) are in the test split" in (
        capsys.readouterr().out)


def test_a_missing_validation_split_says_how_to_train_without_one(synth_dir: Path, tmp_path: Path,
                                                                 capsys) -> None:
    args = _train_args(tmp_path / "run", synth_dir, 1)
    args[args.index("--val-split") + 1] = "val"  # synth writes train and test lists only
    assert main(args) == 1
    err = capsys.readouterr().err
    assert "no split 'val'" in err and "--val-split ''" in err
    assert not (tmp_path / "run").exists()


def test_two_epochs_on_synthetic_data_write_a_complete_run(synth_dir: Path, tmp_path: Path) -> None:
    run_dir = tmp_path / "run"
    train = open_dataset(synth_dir, "folder", "train")
    val = open_dataset(synth_dir, "folder", "all")
    trainer = Trainer(run_dir, NetConfig(), Recipe(epochs=2, batch_size=4, size=64), train, val, threads=1)
    trainer.fit()
    rows = _metric_rows(run_dir)
    assert [int(r["epoch"]) for r in rows] == [1, 2]
    assert all(float(r["train_loss"]) == float(r["train_loss"]) for r in rows)  # not NaN
    assert float(rows[1]["train_loss"]) < float(rows[0]["train_loss"])
    config, _, meta = load_checkpoint(run_dir / "last.safetensors")
    assert config == NetConfig() and meta["epoch"] == 2
    assert (run_dir / "best.safetensors").exists() and (run_dir / "run.json").exists()


def test_same_seed_gives_the_same_weights(synth_dir: Path, tmp_path: Path) -> None:
    train = open_dataset(synth_dir, "folder", "train")
    weights = []
    for name in ("a", "b"):
        trainer = Trainer(tmp_path / name, NetConfig(), Recipe(epochs=1, batch_size=4, size=64), train, None,
                          threads=1)
        trainer.fit()
        weights.append(trainer.model.state_dict())
    for key, value in weights[0].items():
        assert torch.equal(value, weights[1][key]), key


def test_killed_run_resumes_to_the_uninterrupted_weights(synth_dir: Path, tmp_path: Path) -> None:
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    reference, resumed = tmp_path / "reference", tmp_path / "resumed"
    cmd = [sys.executable, "-m", "lwirst.cli"]
    subprocess.run([*cmd, *_train_args(reference, synth_dir, 3)], check=True, env=env, capture_output=True)

    proc = subprocess.Popen([*cmd, *_train_args(resumed, synth_dir, 3)], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 120
    while len(_metric_rows(resumed)) < 1 and time.monotonic() < deadline:
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)  # mid-way through epoch 2: no chance to clean up
    proc.wait()
    finished = len(_metric_rows(resumed))
    assert 1 <= finished < 3, "the kill should land before the run finishes"

    subprocess.run([*cmd, *_train_args(resumed, synth_dir, 3), "--resume"], check=True, env=env,
                   capture_output=True)
    assert [int(r["epoch"]) for r in _metric_rows(resumed)] == [1, 2, 3]
    expected = torch.load(reference / "state.pt", weights_only=True)["model"]
    got = torch.load(resumed / "state.pt", weights_only=True)["model"]
    for key, value in expected.items():
        torch.testing.assert_close(got[key], value, rtol=1e-5, atol=1e-6, msg=key)


def test_an_interrupt_between_the_epochs_files_loses_no_row_of_the_log(synth_dir: Path, tmp_path: Path,
                                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    """state.pt (the epoch done) was written before metrics.csv: Ctrl-C in between, and after --resume the log
    read epochs 1, 3, 4, its best epoch perhaps among the lost."""
    run_dir = tmp_path / "run"
    train = open_dataset(synth_dir, "folder", "train")

    def trainer(resume: bool) -> Trainer:
        return Trainer(run_dir, NetConfig(), Recipe(epochs=3, batch_size=4, size=64), train, train, resume=resume,
                       threads=1)

    original = Trainer._write_metrics

    def interrupted(self: Trainer, stage: str = "") -> None:
        if self.epoch == 2:
            raise KeyboardInterrupt  # after state.pt marked epoch 2 done
        original(self, stage)

    monkeypatch.setattr(Trainer, "_write_metrics", interrupted)
    with pytest.raises(KeyboardInterrupt):
        trainer(False).fit()
    assert [int(r["epoch"]) for r in _metric_rows(run_dir)] == [1]
    monkeypatch.setattr(Trainer, "_write_metrics", original)
    resumed = trainer(True)
    assert [int(r["epoch"]) for r in _metric_rows(run_dir)] == [1, 2]  # written again from state.pt
    resumed.fit()
    rows = _metric_rows(run_dir)
    assert [int(r["epoch"]) for r in rows] == [1, 2, 3] and all(r["val_iou"] for r in rows)


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_a_stop_during_an_epochs_save_lands_after_it(synth_dir: Path, tmp_path: Path, signum: int,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    """Ctrl-C (or SIGTERM, which the CLI reads as Ctrl-C) while the first epoch's files were written left its
    weights and no state.pt: "epoch 1 is saved" was said of a run that could be neither resumed nor started again
    without --force. The signal now waits until the epoch's files are whole; a kill's leftover temporary file goes
    at the next start."""
    from lwirst import train as train_module
    from lwirst.cli import terminate_as_interrupt

    run_dir = tmp_path / "run"
    data = open_dataset(synth_dir, "folder", "train")
    real_save = train_module.save_torch
    sent: list[int] = []

    def stopped_while_saving(path: Path, state: dict) -> None:
        if not sent:
            sent.append(signum)
            signal.raise_signal(signum)  # to this thread, delivered now: between two of the epoch's files
        real_save(path, state)

    monkeypatch.setattr(train_module, "save_torch", stopped_while_saving)
    before = {signal.SIGINT: signal.signal(signal.SIGINT, signal.default_int_handler),
              signal.SIGTERM: signal.signal(signal.SIGTERM, terminate_as_interrupt)}
    try:
        trainer = Trainer(run_dir, NetConfig(), Recipe(epochs=2, batch_size=4, size=64), data, data, threads=1)
        with pytest.raises(KeyboardInterrupt):
            trainer.fit()
    finally:
        for sig, handler in before.items():
            signal.signal(sig, handler)
    assert sent and trainer.epoch == 1
    assert torch.load(run_dir / "state.pt", weights_only=True)["epoch"] == 1
    assert [int(r["epoch"]) for r in _metric_rows(run_dir)] == [1]
    with pytest.raises(LwirstError, match=r"resume state .* not a model; the weights are in last\.safetensors or "
                                          r"best\.safetensors beside it"):
        load_checkpoint(run_dir / "state.pt")  # `lwirst export --checkpoint RUN/state.pt`, say
    alone = tmp_path / "alone" / "weights.pt"  # copied away from its run: no file is beside it
    alone.parent.mkdir()
    shutil.copy(run_dir / "state.pt", alone)
    with pytest.raises(LwirstError, match=r"not a model; the weights are in its run directory's last\.safetensors"):
        load_checkpoint(alone)
    (run_dir / ".state.tmp4242.pt").write_bytes(b"")  # what a kill inside torch.save leaves
    (run_dir / ".tmpxzMSlP").write_bytes(b"\0" * 64)  # and inside safetensors' save_file
    resumed = Trainer(run_dir, NetConfig(), Recipe(epochs=2, batch_size=4, size=64), data, data, resume=True,
                      threads=1)
    assert resumed.epoch == 1 and not (run_dir / ".state.tmp4242.pt").exists() and not (run_dir / ".tmpxzMSlP").exists()
    resumed.fit()
    assert [int(r["epoch"]) for r in _metric_rows(run_dir)] == [1, 2]


def test_resume_needs_only_the_run_dir_and_ctrl_c_says_so(synth_dir: Path, tmp_path: Path, capsys,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    """`--resume` once failed unless every recipe option of the start was repeated, and Ctrl-C printed only
    "interrupted"; now the run's run.json supplies them and Ctrl-C prints the command that continues it."""
    monkeypatch.delenv("LWIRST_DATA_DIR", raising=False)
    run_dir = tmp_path / "run"
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    # Ctrl-C as from a terminal: a test runner started in the background (or its workers) may pass SIGINT
    # on ignored, and Python then never raises KeyboardInterrupt (the run went on to its last epoch in CI)
    proc = subprocess.Popen([sys.executable, "-m", "lwirst.cli", *_train_args(run_dir, synth_dir, 8)], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    deadline = time.monotonic() + 120
    while len(_metric_rows(run_dir)) < 1 and time.monotonic() < deadline:
        time.sleep(0.05)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 130 and 1 <= len(_metric_rows(run_dir)) < 8, err
    assert f"continue with: lwirst train --run-dir {run_dir} --resume" in err
    assert "\r" not in err and err.startswith("interrupted"), err  # no bar in a log to share its line
    assert main(["train", "--run-dir", str(run_dir), "--resume", "--threads", "1"]) == 0
    assert [int(r["epoch"]) for r in _metric_rows(run_dir)] == list(range(1, 9))
    assert json.loads((run_dir / "run.json").read_text())["recipe"]["size"] == 64  # the run's, not 256
    capsys.readouterr()
    assert main(["train", "--run-dir", str(run_dir), "--resume", "--size", "32"]) == 1
    assert "recipe differs in size (size: 64 in run.json, 32 given)" in capsys.readouterr().err
    assert main(["train", "--run-dir", str(run_dir), "--resume", "--epochs", "10"]) == 1
    assert "a run cannot be lengthened" in capsys.readouterr().err
    assert main(["train", "--run-dir", str(run_dir), "--resume", "--epochs", "4"]) == 1
    assert "To stop after epoch 4, resume with --until 4 instead of --epochs" in capsys.readouterr().err
    assert main(["train", "--run-dir", str(run_dir), "--resume", "--size", "64", "--threads", "1"]) == 0
    assert "already finished (8 epochs)" in capsys.readouterr().out


def test_init_is_checked_before_the_data_is_read(synth_dir: Path, tmp_path: Path, capsys) -> None:
    """A missing --init file was a FileNotFoundError traceback after every frame was loaded."""
    run_dir = tmp_path / "run"
    assert main([*_train_args(run_dir, synth_dir, 1), "--init", str(tmp_path / "missing.safetensors")]) == 1
    assert "missing.safetensors does not exist" in capsys.readouterr().err and not run_dir.exists()
    init = tmp_path / "init.safetensors"
    save_checkpoint(init, build_model(config=NetConfig()), NetConfig())
    assert main([*_train_args(run_dir, synth_dir, 1), "--init", str(init), "--preset", "table7_ch_8_16_32"]) == 1
    assert "its network differs from this run's in channels" in capsys.readouterr().err


def test_a_hard_negative_run_resumes_with_only_its_run_dir(synth_dir: Path, tmp_path: Path, capsys,
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    """Hard negatives are mined from the --init weights on every start, so `--resume` (the command Ctrl-C
    prints) failed with "pass --init with --hard"; run.json now records the --init file. Mining runs for
    real: its mosaics are 4 x 5 training crops, small at this test's crop size."""
    run_dir, init = tmp_path / "run", tmp_path / "init.safetensors"
    save_checkpoint(init, build_model(config=NetConfig()), NetConfig())
    assert main([*_train_args(run_dir, synth_dir, 2), "--init", str(init), "--hard", "0.25", "--until", "1"]) == 0
    # one's usual dataset in $LWIRST_DATA_DIR does not override the run's own data folder on --resume
    (tmp_path / "usual").mkdir()
    monkeypatch.setenv("LWIRST_DATA_DIR", str(tmp_path / "usual"))
    assert main(["train", "--run-dir", str(run_dir), "--resume", "--threads", "1"]) == 0
    assert [int(r["epoch"]) for r in _metric_rows(run_dir)] == [1, 2]
    header = json.loads((run_dir / "run.json").read_text())
    del header["data"]["init_path"]  # a run started before run.json recorded it: the message names the file
    (run_dir / "run.json").write_text(json.dumps(header))
    capsys.readouterr()
    assert main(["train", "--run-dir", str(run_dir), "--resume", "--threads", "1"]) == 1
    assert "pass --init with that checkpoint (init.safetensors, sha256" in capsys.readouterr().err


def test_the_end_of_a_run_says_which_checkpoint_holds_what(synth_dir: Path, tmp_path: Path, capsys) -> None:
    """The last line said only "best val IoU": not which file, which epoch, or by what rule it was chosen."""
    run_dir = tmp_path / "run"
    assert main(_train_args(run_dir, synth_dir, 2)) == 0
    rows = _metric_rows(run_dir)
    best = max(rows, key=lambda row: (float(row["val_iou"]), -int(row["epoch"])))
    out = capsys.readouterr().out
    assert f"best.safetensors: epoch {best['epoch']}, the highest val IoU" in out
    assert "--protocol resize --size 64 64 --grow-to off --confirm off" in out
    assert "last.safetensors: the EMA weights after epoch 2" in out  # the default recipe averages them
    assert load_checkpoint(run_dir / "best.safetensors")[2]["epoch"] == int(best["epoch"])
    assert main([*_train_args(tmp_path / "fixed", synth_dir, 1), "--val-split", ""]) == 0
    assert "no validation split: no best.safetensors; use last.safetensors" in capsys.readouterr().out


def test_existing_run_needs_resume_or_force(synth_dir: Path, tmp_path: Path, capsys) -> None:
    run_dir = tmp_path / "run"
    assert main(_train_args(run_dir, synth_dir, 1)) == 0
    assert main(_train_args(run_dir, synth_dir, 1)) == 1
    assert "--resume" in capsys.readouterr().err
    assert main([*_train_args(run_dir, synth_dir, 1), "--resume"]) == 0
    assert "already finished" in capsys.readouterr().out
    assert main([*_train_args(run_dir, synth_dir, 1), "--force"]) == 0
    model, meta = load_model(run_dir / "last.safetensors")
    assert meta["epoch"] == 1 and not model.training


def test_until_is_in_the_plan_and_a_resume_it_already_reached_says_so(synth_dir: Path, tmp_path: Path,
                                                                       capsys) -> None:
    """The plan said "epochs 1-3" for a run stopping at 1, and a resume at --until 1 printed "epochs 2-3" and the
    EMA warning, trained nothing and exited quietly."""
    run_dir = tmp_path / "run"
    assert main([*_train_args(run_dir, synth_dir, 3), "--until", "1"]) == 0
    assert "epoch 1 of 3 (--until 1; --resume goes on)" in capsys.readouterr().out
    assert main([*_train_args(run_dir, synth_dir, 3), "--resume", "--until", "1"]) == 0
    out = capsys.readouterr().out
    assert "--until 1 is already reached (1 of 3 epochs done)" in out and "training: " not in out
    assert [int(r["epoch"]) for r in _metric_rows(run_dir)] == [1]


@pytest.mark.parametrize(("extra", "message"), [
    (["--scale-min", "2", "--scale-max", "1"], "scale_min 2 is above scale_max 1 (--scale-min, --scale-max)"),
    (["--warmup-epochs", "10"], "warmup_epochs 10 is longer than the run's 3 epochs (--warmup-epochs, --epochs)"),
    (["--until", "5"], "--until 5 is past the run's last epoch, 3"),
])
def test_options_that_cannot_hold_together_are_a_usage_error(synth_dir: Path, tmp_path: Path, capsys,
                                                             extra: list[str], message: str) -> None:
    """Each value alone in range, together they trained something else without a word (a warm-up longer than the
    run never reached --lr; --until past the end stopped nothing) or failed as a run's error (exit 1)."""
    run_dir = tmp_path / "run"
    assert main([*_train_args(run_dir, synth_dir, 3), *extra]) == 2  # given last, extra wins over SMALL
    err = capsys.readouterr().err
    assert err.startswith("error: lwirst train: ") and message in err and not run_dir.exists()


def test_a_fine_tune_without_weights_to_go_on_from_is_warned(synth_dir: Path, tmp_path: Path, capsys) -> None:
    assert main([*_train_args(tmp_path / "run", synth_dir, 1), "--recipe", "finetune"]) == 0
    assert "warning: --recipe finetune goes on from trained weights (--init CHECKPOINT)" in capsys.readouterr().out


def test_resume_with_a_different_config_is_refused(synth_dir: Path, tmp_path: Path, capsys) -> None:
    run_dir = tmp_path / "run"
    assert main([*_train_args(run_dir, synth_dir, 2), "--until", "1"]) == 0
    assert main([*_train_args(run_dir, synth_dir, 2), "--resume", "--preset", "table7_ch_8_16_32"]) == 1
    err = capsys.readouterr().err
    assert "config differs" in err and "channels" in err
    assert main([*_train_args(run_dir, synth_dir, 2), "--resume", "--lr", "0.2"]) == 1
    assert "recipe differs in lr" in capsys.readouterr().err


def test_a_run_from_before_a_recipe_field_resumes_while_the_field_keeps_its_default(
        synth_dir: Path, tmp_path: Path, capsys) -> None:
    """A run whose run.json predates a recipe field (here `colour`) resumes; setting the field is a change."""
    run_dir = tmp_path / "run"
    assert main([*_train_args(run_dir, synth_dir, 2), "--until", "1"]) == 0
    header = json.loads((run_dir / "run.json").read_text())
    del header["recipe"]["colour"]
    (run_dir / "run.json").write_text(json.dumps(header))
    assert main([*_train_args(run_dir, synth_dir, 2), "--resume", "--colour", "0.5"]) == 1
    assert "recipe differs in colour" in capsys.readouterr().err
    assert main([*_train_args(run_dir, synth_dir, 2), "--resume"]) == 0
    assert [int(r["epoch"]) for r in _metric_rows(run_dir)] == [1, 2]


def test_colour_draws_frames_through_palettes_and_keeps_masks(synth_dir: Path) -> None:
    """With `colour` 1 every training frame is a palette frame over the same mask; with 0 frames stay grey."""
    train = open_dataset(synth_dir, "folder", "train")
    grey, coloured = TrainSet(train, Recipe(size=64)), TrainSet(train, Recipe(size=64, colour=1.0))
    for index in range(4):
        plain, plain_mask = grey.sample(index, np.random.default_rng(index))
        drawn, drawn_mask = coloured.sample(index, np.random.default_rng(index))
        plain_rgb, drawn_rgb = (np.rint((x * STD[:, None, None] + MEAN[:, None, None]) * 255) for x in (plain, drawn))
        assert (plain_rgb[0] == plain_rgb[1]).all() and (plain_rgb[1] == plain_rgb[2]).all()  # grey
        assert (drawn_rgb[0] != drawn_rgb[1]).mean() > 0.5 or (drawn_rgb[1] != drawn_rgb[2]).mean() > 0.5
        assert np.array_equal(plain_mask, drawn_mask)  # the palette draw comes after every geometric one
        again, _ = coloured.sample(index, np.random.default_rng(index))
        assert np.array_equal(drawn, again)


def test_palette_frames_train_as_the_intensity_they_run_as(synth_dir: Path, tmp_path: Path) -> None:
    """Validation and every command decode a pseudo-colour frame to its intensity (`Segmenter`); training
    stored its colours, so a palette-coloured dataset trained on one input and ran on another."""
    import cv2

    from lwirst.palettes import palettes

    train = open_dataset(synth_dir, "folder", "train")
    for name in ("images", "masks"):
        (tmp_path / name).mkdir()
    for item in train.items:
        grey = cv2.imread(str(item.image), cv2.IMREAD_GRAYSCALE)
        cv2.imwrite(str(tmp_path / "images" / item.image.name), palettes()["inferno"][grey])
        cv2.imwrite(str(tmp_path / "masks" / item.mask.name), cv2.imread(str(item.mask), cv2.IMREAD_GRAYSCALE))
    coloured = open_dataset(tmp_path, "folder", "all")
    assert coloured.names == train.names and coloured.load(0).image.ndim == 3
    plain, drawn = TrainSet(train, Recipe(size=64)), TrainSet(coloured, Recipe(size=64))
    for index in range(3):
        grey_sample, grey_mask = plain.sample(index, np.random.default_rng(index))
        decoded_sample, decoded_mask = drawn.sample(index, np.random.default_rng(index))
        assert np.abs(decoded_sample - grey_sample).max() < 0.05  # the same frame, within the palette's steps
        assert np.array_equal(grey_mask, decoded_mask)


@pytest.mark.parametrize("changes, message", [
    ({"optimizer": "rmsprop"}, "unknown optimizer"),
    ({"loss": "dice"}, "unknown loss"),
    ({"size": 60}, "multiple of 8"),
    ({"scale_min": 2.0}, "scale_min"),
    ({"scale_min": 0.0}, "scale_min must be positive"),
    ({"warmup_epochs": 5, "epochs": 2}, "warmup_epochs 5 is longer than the run's 2 epochs"),
    ({"gain": 1.0}, "gain"),
    ({"colour": 1.5}, "colour"),
])
def test_invalid_recipes_are_rejected(changes: dict, message: str) -> None:
    with pytest.raises(LwirstError, match=message):
        Recipe(**changes).validate()


def test_augmentation_keeps_image_and_mask_aligned(synth_dir: Path) -> None:
    """Every flip, transpose, scale and gain moves the target's pixels and its mask together."""
    import numpy as np

    recipe = Recipe(size=64, scale_min=0.6, scale_max=1.6, vflip=True, transpose=True, gain=0.3)
    train_set = TrainSet(open_dataset(synth_dir, "folder", "train"), recipe)
    image = np.full((48, 80, 3), 40, np.uint8)
    mask = np.zeros((48, 80), np.uint8)
    image[10:14, 60:66], mask[10:14, 60:66] = 150, 1  # an off-centre, non-square target (no clipping)
    train_set.bank.images, train_set.bank.masks = [image], [mask]
    rng = np.random.default_rng(0)
    orientations = set()
    for _ in range(60):
        x, y = train_set.sample(0, rng)
        assert x.shape == (3, 64, 64) and y.shape == (1, 64, 64)
        if y.sum():
            r, c = np.unravel_index(np.argmax(x[0]), x[0].shape)
            assert y[0][max(r - 1, 0):r + 2, max(c - 1, 0):c + 2].any()  # within a pixel (resize rounding)
            rows, cols = np.nonzero(y[0])
            orientations.add(np.ptp(rows) > np.ptp(cols))
    assert orientations == {True, False}  # the 4x6 target was transposed in some samples


def test_paper_recipe_is_the_published_one() -> None:
    paper = RECIPES["paper"]
    assert (paper.optimizer, paper.lr, paper.momentum, paper.weight_decay) == ("sgd", 0.05, 0.9, 1e-4)
    assert (paper.schedule, paper.batch_size, paper.epochs, paper.loss) == ("poly", 64, 100, "softiou")


def test_poly_schedule_decays_to_zero_after_warmup() -> None:
    recipe = Recipe(lr=0.01, warmup_epochs=1, epochs=10)
    lrs = [learning_rate(recipe, step, 100, 10) for step in range(100)]
    assert lrs[0] == pytest.approx(0.001) and lrs[9] == pytest.approx(0.01)
    assert all(a >= b for a, b in itertools.pairwise(lrs[9:])) and lrs[-1] < 0.001


def test_a_run_is_never_lost_or_mislabelled_by_resume_force_or_init(synth_dir: Path, tmp_path: Path, capsys) -> None:
    """The train audit's cases: --resume on a mistyped folder started a new run; --force wiped a run before the
    new one saved anything; a resume without --init dropped the run's --init record and one with another --init
    rewrote it; a lost or damaged state.pt restarted silently or printed a traceback."""
    run_dir, init, other = tmp_path / "run", tmp_path / "init.safetensors", tmp_path / "other.safetensors"
    save_checkpoint(init, build_model(config=NetConfig()), NetConfig())
    torch.manual_seed(1)
    save_checkpoint(other, build_model(config=NetConfig()), NetConfig())
    assert main(["train", "--run-dir", str(tmp_path / "typo"), "--resume", "--threads", "1"]) == 1
    assert "no run is saved there" in capsys.readouterr().err and not (tmp_path / "typo").exists()
    assert main([*_train_args(run_dir, synth_dir, 3), "--init", str(init), "--until", "2"]) == 0
    said = capsys.readouterr().out.rstrip().splitlines()
    assert said[-1].startswith("  continue with: lwirst train --run-dir")  # a chunk says how to go on, last
    recorded = json.loads((run_dir / "run.json").read_text())["data"]["init"]
    assert main(["train", "--run-dir", str(run_dir), "--resume", "--init", str(other), "--threads", "1"]) == 1
    assert "is not what it started from (init.safetensors" in capsys.readouterr().err
    assert main(["train", "--run-dir", str(run_dir), "--resume", "--force"]) == 1
    assert "pass one of them" in capsys.readouterr().err

    # --force keeps the old run until the new one has an epoch of its own
    recipe = RECIPES["default"].__class__(**{**RECIPES["default"].to_dict(), "epochs": 1, "size": 64,
                                             "batch_size": 4})
    data = open_dataset(synth_dir, "folder", "train")
    Trainer(run_dir, NetConfig(), recipe, data, None, force=True, threads=1)
    assert len(_metric_rows(run_dir)) == 2 and (run_dir / "best.safetensors").exists()

    saved = (run_dir / "state.pt").read_bytes()
    (run_dir / "state.pt").write_bytes(saved[:1000])
    assert main(["train", "--run-dir", str(run_dir), "--resume", "--threads", "1"]) == 1
    err = capsys.readouterr().err
    assert "its state.pt is unreadable" in err and "Traceback" not in err
    (run_dir / "state.pt").unlink()
    assert main(["train", "--run-dir", str(run_dir), "--resume", "--threads", "1"]) == 1
    assert "its state.pt (weights, optimiser and epoch) is missing" in capsys.readouterr().err
    assert len(_metric_rows(run_dir)) == 2  # nothing retrained over it
    (run_dir / "state.pt").write_bytes(saved)
    assert main(["train", "--run-dir", str(run_dir), "--resume", "--threads", "1"]) == 0
    assert [int(r["epoch"]) for r in _metric_rows(run_dir)] == [1, 2, 3]
    assert json.loads((run_dir / "run.json").read_text())["data"]["init"] == recorded  # kept without --init


def test_a_fine_tune_of_a_runs_weights_names_that_run(synth_dir: Path, tmp_path: Path) -> None:
    """Every run's weights are last.safetensors or best.safetensors: a fine-tune's card read "fine-tuned from
    last.safetensors", as if from itself. The start is recorded as pages name it, with its run directory; a resume
    naming the same start (by content) goes on."""
    from lwirst.card_view import summary
    from lwirst.modelcard import model_card

    first, second = tmp_path / "first", tmp_path / "second"
    assert main(_train_args(first, synth_dir, 1)) == 0
    start = ["--init", str(first / "last.safetensors")]
    assert main([*_train_args(second, synth_dir, 2), *start, "--until", "1"]) == 0
    assert json.loads((second / "run.json").read_text())["data"]["init"]["file"] == "first/last.safetensors"
    said = summary(model_card(second / "last.safetensors"))
    assert "fine-tuned from first/last.safetensors on a folder" in said and "epoch 1 of the 2" in said
    assert main(["train", "--run-dir", str(second), "--resume", *start, "--threads", "1"]) == 0
    assert "for 2 epochs" in summary(model_card(second / "last.safetensors"))


def test_a_run_whose_training_image_changed_is_not_resumed_and_says_why(synth_dir: Path, tmp_path: Path,
                                                                         capsys) -> None:
    """The run's record of its images differs once one is edited: resuming would train on other frames than it
    started on. The refusal said "resume with the run's --data-dir/--dataset/splits", which the user had done."""
    import cv2

    data = tmp_path / "data"
    shutil.copytree(synth_dir, data)
    run_dir = tmp_path / "run"
    assert main([*_train_args(run_dir, data, 2), "--until", "1"]) == 0
    first = data / "images" / (data / "train.txt").read_text().split()[0]
    image = next(first.parent.glob(f"{first.name}.*"))
    picture = cv2.imread(str(image), cv2.IMREAD_UNCHANGED)
    picture[0, 0] = 255 - picture[0, 0]
    cv2.imwrite(str(image), picture)
    capsys.readouterr()
    assert main(["train", "--run-dir", str(run_dir), "--resume", "--threads", "1"]) == 1
    err = capsys.readouterr().err
    assert "a training image's content changed since the run started" in err and "new --run-dir" in err


def test_force_replaces_a_run_only_once_its_first_save_is_whole(synth_dir: Path, tmp_path: Path,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    """A --force run killed at its first save had deleted the old run's best.safetensors and metrics.csv and
    rewritten run.json beside the old state.pt: a resume then named a best file that did not exist."""
    from lwirst import train as train_module

    run_dir = tmp_path / "run"
    assert main(_train_args(run_dir, synth_dir, 2)) == 0
    old = {p.name: p.read_bytes() for p in run_dir.iterdir() if p.name != ".lock"}
    recipe = Recipe(**{**RECIPES["plain"].to_dict(), "epochs": 1, "size": 32, "batch_size": 4})
    data = open_dataset(synth_dir, "folder", "train")

    def killed(path: Path, state: dict) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(train_module, "save_torch", killed)
    with pytest.raises(KeyboardInterrupt):
        Trainer(run_dir, NetConfig(), recipe, data, data, force=True, threads=1).fit()
    monkeypatch.undo()
    assert {p.name: p.read_bytes() for p in run_dir.iterdir() if not p.name.startswith(".")} == old

    Trainer(run_dir, NetConfig(), recipe, data, data, force=True, threads=1).fit()
    assert sorted(p.name for p in run_dir.iterdir()) == sorted([*old, ".lock"])  # every file new, none staged
    assert json.loads((run_dir / "run.json").read_text())["recipe"]["size"] == 32
    assert [int(r["epoch"]) for r in _metric_rows(run_dir)] == [1]
    assert all((run_dir / name).read_bytes() != old[name] for name in ("state.pt", "last.safetensors"))


def test_a_run_directory_takes_one_training_at_a_time(synth_dir: Path, tmp_path: Path) -> None:
    """Two trainings started in one new run directory both reported success while every file was the second's."""
    recipe = Recipe(**{**RECIPES["plain"].to_dict(), "epochs": 1, "size": 32, "batch_size": 4})
    data = open_dataset(synth_dir, "folder", "train")
    run_dir = tmp_path / "run"
    first = Trainer(run_dir, NetConfig(), recipe, data, data, threads=1)
    with pytest.raises(LwirstError, match="is in use by another training"):
        Trainer(run_dir, NetConfig(), recipe, data, data, threads=1)
    other = run_lwirst(*_train_args(run_dir, synth_dir, 1))
    assert other.returncode == 1 and "is in use by another training" in other.stderr, other.stderr
    first.fit()
    assert [int(r["epoch"]) for r in _metric_rows(run_dir)] == [1]
    again = Trainer(run_dir, NetConfig(), recipe, data, data, resume=True, threads=1)  # the lock went with the fit
    assert again.epoch == 1


def test_a_swap_cut_short_is_finished_and_a_refused_start_leaves_no_folder(synth_dir: Path, tmp_path: Path,
                                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    """A kill between the staged files' moves left the new state.pt beside the old run.json; the next start
    deleted what was left staged, and the mix stayed. A refused start made an empty run folder; a second chunk
    of one trainer ran unlocked."""
    from lwirst import train as train_module

    run_dir = tmp_path / "run"
    recipe = Recipe(**{**RECIPES["plain"].to_dict(), "epochs": 2, "size": 32, "batch_size": 4})
    data = open_dataset(synth_dir, "folder", "train")
    Trainer(run_dir, NetConfig(), recipe, data, data, threads=1).fit()
    moves, real = [], os.replace

    def cut(src: object, dst: object) -> None:
        if Path(str(src)).name == ".replacing-last.safetensors":
            raise KeyboardInterrupt  # the swap's second move: state.pt moved, the rest still staged
        moves.append(dst)
        real(src, dst)

    new = Recipe(**{**recipe.to_dict(), "epochs": 1, "size": 64})
    monkeypatch.setattr(train_module.os, "replace", cut)
    with pytest.raises(KeyboardInterrupt):
        Trainer(run_dir, NetConfig(), new, data, data, force=True, threads=1).fit()
    monkeypatch.undo()
    resumed = Trainer(run_dir, NetConfig(), new, data, data, resume=True, threads=1)  # finishes the swap first
    assert json.loads((run_dir / "run.json").read_text())["recipe"]["size"] == 64 and resumed.epoch == 1
    assert [int(r["epoch"]) for r in _metric_rows(run_dir)] == [1] and not list(run_dir.glob(".replacing-*"))
    resumed.release()

    with pytest.raises(LwirstError):
        Trainer(tmp_path / "fresh", NetConfig(), recipe, data, data, init=tmp_path / "none.safetensors", threads=1)
    assert not (tmp_path / "fresh").exists()

    chunked = Trainer(tmp_path / "chunks", NetConfig(), recipe, data, data, threads=1)
    chunked.fit(until=1)
    other = Trainer(tmp_path / "chunks", NetConfig(), recipe, data, data, resume=True, threads=1)  # between chunks
    with pytest.raises(LwirstError, match="in use by another training"):
        chunked.fit()  # the later chunk locks the folder again, and another trainer holds it
    other.fit()
    assert [int(r["epoch"]) for r in _metric_rows(tmp_path / "chunks")] == [1, 2]


def test_the_start_of_a_run_says_what_it_trains_and_warns_of_an_ema_that_barely_moves(
        synth_dir: Path, tmp_path: Path, capsys) -> None:
    """On a small dataset the default EMA (0.999) saved weights that were still almost the starting ones."""
    assert main([*_train_args(tmp_path / "a", synth_dir, 1), "--ema-decay", "0.999", "--implant", "0.5"]) == 0
    out = capsys.readouterr().out
    plan = next(line for line in out.splitlines() if line.startswith("training: "))
    real = len(open_dataset(synth_dir, "folder", "train"))
    assert plan.startswith(f"training: {real} real frames + {round(0.5 * real)} implant, ")  # then the recipe's
    assert "warning: the saved weights are an EMA (decay 0.999)" in out and "--ema-decay 0" in out
    assert main([*_train_args(tmp_path / "b", synth_dir, 1), "--ema-decay", "0"]) == 0
    assert "EMA" not in capsys.readouterr().out


def test_train_binarises_soft_masks_as_its_error_advises(tmp_path: Path, capsys) -> None:
    """The soft-mask error advised --mask-threshold, which only evaluate had."""
    import cv2

    data = tmp_path / "data"
    data.mkdir()
    for split, count in (("train", 4), ("val", 2)):
        for i in range(count):
            name = f"{split}{i}"
            image = np.full((64, 64), 40, np.uint8)
            image[20:24, 30:34] = 200
            mask = np.zeros((64, 64), np.uint8)
            mask[20:24, 30:34] = 255
            mask[19, 30:34] = 96  # an anti-aliased edge
            cv2.imwrite(str(data / f"{name}.png"), image)
            cv2.imwrite(str(data / f"{name}_mask.png"), mask)
        (data / f"{split}.txt").write_text("".join(f"{split}{i}\n" for i in range(count)))
    args = ["train", "--run-dir", str(tmp_path / "run"), "--data-dir", str(data), "--dataset", "folder",
            "--epochs", "1", *SMALL]
    assert main(args) == 1
    assert "--mask-threshold" in capsys.readouterr().err
    assert main([*args, "--mask-threshold", "0.5"]) == 0
    recorded = json.loads((tmp_path / "run" / "run.json").read_text())["data"]
    assert recorded["mask_threshold"] == 0.5
    # which files it trained on, with no path, for the in-sample note wherever the model or the folder goes
    from lwirst.datasets import TrainedOn, file_identity, open_dataset

    train = open_dataset(data, "folder", "train", validate=False)
    assert TrainedOn("folder", "train", recorded["train_files"]).identities == {
        file_identity(item.image) for item in train.items}


def test_a_validation_split_without_targets_is_said_to_choose_nothing(tmp_path: Path, capsys) -> None:
    """Val IoU on target-free frames reads 1 or 0, so best.safetensors was chosen by nothing, silently."""
    import cv2

    data = tmp_path / "data"
    data.mkdir()
    for split, count in (("train", 4), ("val", 2), ("valt", 2)):
        for i in range(count):
            name = f"{split}{i}"
            image = np.full((64, 64), 40, np.uint8)
            mask = np.zeros((64, 64), np.uint8)
            if split != "val" and i == count - 1:  # a target in the last frame: the check reads past the first
                image[20:24, 30:34] = 200
                mask[20:24, 30:34] = 255
            cv2.imwrite(str(data / f"{name}.png"), image)
            cv2.imwrite(str(data / f"{name}_mask.png"), mask)
        (data / f"{split}.txt").write_text("".join(f"{split}{i}\n" for i in range(count)))
    args = ["train", "--data-dir", str(data), "--dataset", "folder", "--epochs", "1", "--ema-decay", "0", *SMALL]
    assert main([*args, "--run-dir", str(tmp_path / "a")]) == 0
    out = capsys.readouterr().out
    assert "warning: validation split 'val' holds no target pixel in its 2 frames" in out
    assert main([*args, "--run-dir", str(tmp_path / "b"), "--val-split", "valt"]) == 0
    assert "no target pixel" not in capsys.readouterr().out


def test_a_fine_tune_that_never_beats_its_init_says_so(synth_dir: Path, tmp_path: Path, capsys) -> None:
    """A fine-tune's best.safetensors was the best of its epochs only: one that made the --init weights worse
    ended with "best.safetensors: epoch 1" and no word that the starting file scored higher. The shipped
    weights find the synthetic targets; one epoch at a learning rate of 5 wrecks them."""
    run_dir = tmp_path / "run"
    init = Path(__file__).parents[1] / "data" / "models" / "lwirst-sirst.safetensors"
    args = [*_train_args(run_dir, synth_dir, 2), "--init", str(init), "--lr", "0.2", "--ema-decay", "0"]
    assert main([*args, "--until", "1"]) == 0
    out = capsys.readouterr().out
    init_iou = float(out.split("the --init weights scored ")[1].split()[0])
    assert init_iou > max(float(row["val_iou"]) for row in _metric_rows(run_dir))
    assert "this fine-tune has not beaten where it started; keep the --init file" in out
    assert main(["train", "--run-dir", str(run_dir), "--resume", "--threads", "1"]) == 0  # remembered on resume
    assert f"the --init weights scored {init_iou:.4f}" in capsys.readouterr().out


def test_validation_frames_scored_shrunk_are_said_to_choose_nothing_and_the_files_to_compare(
        synth_dir: Path, tmp_path: Path, capsys) -> None:
    """Val IoU scores every frame resized to --size: on an audit's 1280x1024 frames it told a user to keep the
    --init file over a fine-tune `lwirst evaluate` scored twice as high. Frames over twice the model's area get a
    warning with the command that compares the files, and the summary advises nothing by that score; at the
    frames' own size neither is said."""
    init = Path(__file__).parents[1] / "data" / "models" / "lwirst-sirst.safetensors"
    shrunk = [*_train_args(tmp_path / "a", synth_dir, 1), "--init", str(init), "--ema-decay", "0", "--size", "32"]
    assert main(shrunk) == 0
    out = capsys.readouterr().out
    assert ("warning: 12 of the 12 validation frames are over twice the model's area, and val IoU scores them "
            "shrunk: the largest, 64x64, resized to 32×32, ÷2 each way: a target under 2×2 pixels shrinks below one; "
            "so best.safetensors") in out
    assert (f"lwirst evaluate --data-dir {synth_dir} --dataset folder --split train --model "
            f"{tmp_path / 'a' / 'last.safetensors'} (then with --model {tmp_path / 'a' / 'best.safetensors'} and "
            f"with --model {init})") in out
    command = out.split("at their own size: ")[1].split(" (then with")[0]
    assert main([*shlex.split(command)[1:], "--threads", "1", "--size", "32", "32"]) == 0  # it runs as pasted
    capsys.readouterr()
    assert "compare these files, and the --init file, with `lwirst evaluate` before keeping one" in out
    assert "keep the --init file" not in out
    assert main([*_train_args(tmp_path / "b", synth_dir, 1), "--init", str(init), "--ema-decay", "0"]) == 0
    out = capsys.readouterr().out
    assert "over twice the model's area" not in out and "compare these files" not in out


def test_a_diverging_run_stops_at_its_epoch_and_keeps_those_before(synth_dir: Path, tmp_path: Path, capsys) -> None:
    """A learning rate far too high ended with "the model output holds NaN ... (retrain or re-export it)", the
    message for a broken model file, after a whole epoch of NaN steps; nothing said the run had diverged."""
    for val in ("train", ""):  # without a validation split, one training frame checks the epoch's weights
        run_dir = tmp_path / f"run{val}"
        assert main([*_train_args(run_dir, synth_dir, 3), "--lr", "10", "--ema-decay", "0", "--val-split", val]) == 1
        err = capsys.readouterr().err
        found = re.search(r"training diverged at epoch (\d+)\b.*: the network's output is no longer finite", err)
        assert found and "Lower --lr" in err, err
        assert len(_metric_rows(run_dir)) == int(found[1]) - 1  # the epochs before it are saved, none after


def test_a_run_s_weights_are_named_with_their_run_directory(synth_dir: Path, tmp_path: Path, capsys) -> None:
    """Every run writes best.safetensors: evaluate's summary, its metrics.json and the model card named that
    file only, so two runs' results read alike; they name the run directory too. A file that is not a run's
    weights keeps its own name."""
    from lwirst.modelcard import model_card

    assert main(_train_args(tmp_path / "alpha", synth_dir, 1)) == 0
    capsys.readouterr()
    out = tmp_path / "scores"
    assert main(["evaluate", "--model", str(tmp_path / "alpha" / "best.safetensors"), "--data-dir", str(synth_dir),
                 "--dataset", "folder", "--split", "test", "--protocol", "resize", "--size", "64", "64",
                 "--confirm", "off", "--threads", "1", "--no-cache", "--out", str(out)]) == 0
    assert "alpha/best.safetensors" in capsys.readouterr().out
    assert json.loads((out / "metrics.json").read_text())["protocol"]["model"] == "alpha/best.safetensors"
    assert model_card(tmp_path / "alpha" / "best.safetensors").name == "alpha/best.safetensors"
    loose = tmp_path / "loose" / "best.safetensors"  # weights copied out of their run: no run.json beside
    loose.parent.mkdir()
    loose.write_bytes((tmp_path / "alpha" / "best.safetensors").read_bytes())
    assert model_card(loose).name == "best.safetensors"


@pytest.mark.parametrize(("iou", "text"), [(5.6e-06, "5.6e-06"), (0.0, "0.0000"), (0.0107634, "0.0108"),
                                           (1e-4, "0.0001"), (float("nan"), "nan")])
def test_a_tiny_val_iou_is_printed_as_itself_not_as_zero(iou: float, text: str) -> None:
    """A from-scratch run's val IoU of 5.6e-06 read 0.0000, as if it had found nothing."""
    from lwirst.commands.train import _iou_text

    assert _iou_text(iou) == text
