"""Resumable training of any registered network (`lwirst.models`; LW-IRSTNet by default).

A run directory holds everything: `run.json` (config, recipe, data), `metrics.csv`
(one row per finished epoch), `last.safetensors` / `best.safetensors` (weights a
user can load; EMA weights when EMA is on) and `state.pt` (optimizer, EMA, epoch;
tensors only, loaded with `weights_only=True`). Everything is written atomically
after each epoch, and every random draw of epoch e is seeded from (seed, e), so a
run killed mid-epoch resumes from its last finished epoch and reproduces the
uninterrupted run.
"""

from __future__ import annotations

import csv
import dataclasses
import fcntl
import json
import logging
import math
import os
import pickle
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import torch

from lwirst import jsonio
from lwirst.checkpoint import RUN_RECORD, RUN_WEIGHTS, atomic_write, load_checkpoint, save_checkpoint, save_torch
from lwirst.datasets import SegDataset
from lwirst.errors import LwirstError, NonFiniteOutput
from lwirst.imageio import to_bgr
from lwirst.inference import PLAIN, Segmenter
from lwirst.interrupts import held_interrupts
from lwirst.losses import LOSSES
from lwirst.metrics import PdFa, PixelMetrics
from lwirst.mining import mine_hard_negatives
from lwirst.models import DEFAULT_ARCHITECTURE, NetworkConfig, architecture_of, build_model
from lwirst.palettes import as_intensity, random_palette
from lwirst.preprocess import normalize
from lwirst.recipes import RECIPES as RECIPES
from lwirst.recipes import Recipe as Recipe
from lwirst.scoring import SWEEP, plugin_metrics, plugin_results, view_keys
from lwirst.sensor import add_sensor_noise, draw_noise_std
from lwirst.trainmix import FrameBank, Geometry, epoch_kinds
from lwirst.validate import leftover_temporaries

log = logging.getLogger(__name__)
# A run's files, its resumable state first; under --force the new run's are staged as REPLACING + name.
RUN_FILES = ("state.pt", *RUN_WEIGHTS, "metrics.csv", RUN_RECORD)
REPLACING = ".replacing-"
SWAPPING = ".replacing-whole"  # written once every staged file is: a swap cut short is finished, not undone
LOCK = ".lock"


class TrainSet:
    """Training images kept in memory as 8-bit BGR (SIRST is ~30 MB), plus the recipe's generated
    frames (`lwirst.trainmix`), with seeded augmentation.

    Index i < the real count is real frame i; the indices after it are generated frames.
    """

    def __init__(self, dataset: SegDataset, recipe: Recipe, in_channels: int = 3) -> None:
        self.recipe = recipe
        self.in_channels = in_channels  # what the network takes: 3 (normalised RGB) or 1 (their mean)
        images, masks, decoded = [], [], 0
        for i in range(len(dataset)):
            sample = dataset.load(i)
            # as `Segmenter` feeds the network (validation, every command): a palette frame as its intensity
            image, palette = as_intensity(to_bgr(sample.image))
            images.append(to_bgr(image))
            masks.append(sample.mask.astype(np.uint8))
            decoded += bool(palette)
        if decoded:
            log.info("%d of %d training frames drawn with a pseudo-colour palette train as the intensity they "
                     "encode, as they run", decoded, len(images))
        geometry = Geometry(recipe.size, recipe.scale_min, recipe.scale_max, recipe.upscale)
        self.bank = FrameBank(images, masks, geometry, recipe.hard_implant)
        self.items = epoch_kinds(len(images), recipe.implant, recipe.synthetic, recipe.negatives, recipe.mosaic,
                                 recipe.hard)

    def __len__(self) -> int:
        return len(self.items)

    def sample(self, index: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        """The frame at `index` cropped to the training size, flipped, transposed and grey-scaled."""
        r = self.recipe
        kind, real = self.items[index]
        image, mask = self.bank.make(kind, rng, real)
        if r.hflip and rng.random() < 0.5:
            image, mask = image[:, ::-1], mask[:, ::-1]
        if r.vflip and rng.random() < 0.5:
            image, mask = image[::-1], mask[::-1]
        if r.transpose and rng.random() < 0.5:
            image, mask = image.transpose(1, 0, 2), mask.T
        if r.gain:
            factor = rng.uniform(1 - r.gain, 1 + r.gain)
            image = np.clip(image.astype(np.float32) * factor, 0, 255).astype(np.uint8)
        if r.noise and rng.random() < r.noise:  # no draw at all without it: older runs resume unchanged
            image = add_sensor_noise(image, draw_noise_std(rng), rng)
        if r.colour and rng.random() < r.colour:  # no draw at all without it: older runs resume unchanged
            image = random_palette(rng)[cv2.cvtColor(np.ascontiguousarray(image), cv2.COLOR_BGR2GRAY)]
        return normalize(np.ascontiguousarray(image), self.in_channels), mask.astype(np.float32)[None]


def _optimizer(model: torch.nn.Module, r: Recipe) -> torch.optim.Optimizer:
    params = model.parameters()
    if r.optimizer == "sgd":
        return torch.optim.SGD(params, lr=r.lr, momentum=r.momentum, weight_decay=r.weight_decay)
    if r.optimizer == "adagrad":
        return torch.optim.Adagrad(params, lr=r.lr, weight_decay=r.weight_decay)
    if r.optimizer == "adamw":
        return torch.optim.AdamW(params, lr=r.lr, weight_decay=r.weight_decay)
    return torch.optim.Adam(params, lr=r.lr, weight_decay=r.weight_decay)


def learning_rate(r: Recipe, step: int, total: int, steps_per_epoch: int) -> float:
    """Linear warm-up, then poly / cosine / constant decay over the whole schedule."""
    warm = r.warmup_epochs * steps_per_epoch
    if step < warm:
        return r.lr * (step + 1) / warm
    progress = (step - warm) / max(1, total - warm)
    if r.schedule == "poly":
        return r.lr * (1 - progress) ** r.poly_power
    if r.schedule == "cosine":
        return r.lr * 0.5 * (1 + math.cos(math.pi * progress))
    return r.lr


class EMA:
    """Exponential moving average of every float tensor of the state dict (BN stats included)."""

    def __init__(self, model: torch.nn.Module, decay: float) -> None:
        self.decay = decay
        self.shadow = {k: v.detach().clone() for k, v in model.state_dict().items()}

    @torch.no_grad()
    def update(self, model: torch.nn.Module) -> None:
        for k, v in model.state_dict().items():
            if v.dtype.is_floating_point:
                self.shadow[k].mul_(self.decay).add_(v.detach(), alpha=1 - self.decay)
            else:
                self.shadow[k].copy_(v)


@torch.no_grad()
def recalibrate_batchnorm(model: torch.nn.Module, train_set: TrainSet, *, seed: int, batch_size: int,
                          batches: int = 8) -> None:
    """Re-estimate BN running statistics with a cumulative average over augmented training batches."""
    norms = [m for m in model.modules() if isinstance(m, torch.nn.BatchNorm2d)]
    for m in norms:
        m.reset_running_stats()
        m.momentum = None
    model.train()
    rng = np.random.default_rng([seed, 7919])
    order = rng.permutation(len(train_set))
    device = next(model.parameters()).device
    for start in range(0, min(len(order), batches * batch_size), batch_size):
        chunk = order[start:start + batch_size]
        model(torch.from_numpy(np.stack([train_set.sample(int(i), rng)[0] for i in chunk])).to(device))
    for m in norms:
        m.momentum = 0.1
    model.eval()


def score_resized(model: torch.nn.Module, dataset: SegDataset, size: int, *,
                  targets: bool = True) -> dict[str, float]:
    """Pixel mIoU and F1 (and target Pd, Fa, and the sweep view's plugin metrics) of `model` under
    the resize protocol.

    The exact network (no folding) through `Segmenter`, so training, sweeps and
    `lwirst evaluate` share one protocol: resize to size x size, logits back to each
    image's own size, threshold 0 (plugins score the thresholded mask, as in `evaluate`).
    """
    segmenter = Segmenter.from_module(model, size=(size, size), options=PLAIN)
    pixel, target = PixelMetrics(), PdFa()
    plugins = plugin_metrics(0.5) if targets else []
    for i in range(len(dataset)):
        sample = dataset.load(i)
        logits = segmenter.predict(sample.image).logits
        pixel.update(logits, sample.mask)
        if targets:
            target.update(logits, sample.mask)
            for metric in plugins:
                metric.update(logits > 0, sample.mask)
    p = pixel.compute()
    scores = {"miou": p.iou, "f1": p.f1}
    if targets:
        t = target.compute()
        sweep = set(view_keys(SWEEP))
        scores |= {"pd": t.pd, "fa": t.fa}
        scores |= {k: v for k, v in plugin_results(plugins).items() if k in sweep}
    return scores


@dataclass
class EpochRecord:
    epoch: int
    lr: float
    train_loss: float
    val_iou: float
    seconds: float


def _lock_run_dir(run_dir: Path) -> int:
    """An exclusive lock on `run_dir` (its `.lock` file, created with the folder), held while a `Trainer` trains
    there: two trainings started in one run directory both reported success while one's files were silently
    the other's. Returns the lock's file descriptor."""
    run_dir.mkdir(parents=True, exist_ok=True)
    fd = os.open(run_dir / LOCK, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        raise LwirstError(f"{run_dir} is in use by another training (it holds the run directory's lock); wait for "
                          "it to end, or train in another --run-dir") from None
    return fd


def _drop_unfinished_writes(run_dir: Path) -> None:
    """Delete the temporary files of saves a kill cut short (`atomic_write`'s hidden siblings of the run's files,
    and safetensors' own `.tmpXXXXXX` beside them): the directory is locked, so no save of another process is
    under way."""
    stale = list(run_dir.glob(".tmp??????"))
    for name in RUN_FILES:
        for prefix in ("", REPLACING):
            stale += leftover_temporaries(run_dir / f"{prefix}{name}")
    for path in stale:
        if path.is_file():
            path.unlink(missing_ok=True)


class Trainer:
    """One run directory, resumable at epoch granularity."""

    def __init__(self, run_dir: str | Path, config: NetworkConfig, recipe: Recipe, train_set: SegDataset,
                 val_set: SegDataset | None, *, data_info: dict[str, Any] | None = None,
                 resume: bool = False, force: bool = False, threads: int | None = None,
                 device: str = "auto", init: str | Path | None = None) -> None:
        """`init`: a checkpoint of the same network to start from (fine-tuning) instead of seeded
        random weights; its file name and hash go into run.json."""
        recipe.validate()
        if recipe.hard and init is None:
            raise LwirstError("hard negatives are the false alarms of the weights a run starts from: pass --init "
                              "with --hard")
        if device == "auto":
            device = "cuda" if torch.cuda.is_available() else "cpu"
        if device not in ("cpu", "cuda"):
            raise LwirstError(f"--device {device}: expected auto, cpu or cuda")
        if device == "cuda" and not torch.cuda.is_available():
            raise LwirstError("--device cuda: this torch sees no CUDA device (a CPU build, or no GPU); use cpu or auto")
        self.device = torch.device(device)
        self.run_dir = Path(run_dir)
        self.config, self.recipe = config, recipe
        self.val_set = val_set
        self.data_info = data_info or {}
        if threads:
            torch.set_num_threads(threads)
        fresh = not self.run_dir.exists()
        self._lock: int | None = _lock_run_dir(self.run_dir)  # one training per run dir, until `release`
        try:
            _drop_unfinished_writes(self.run_dir)
            self._replacing = self._check_run_dir(resume, force)  # --force: the old run goes at the first save
            self.train_set = TrainSet(train_set, recipe, self.config.in_channels)
            torch.manual_seed(recipe.seed)  # the initial weights are part of the run's determinism
            self.model = build_model(config=config).to(self.device)
            if init is not None:
                init_config, state, _ = load_checkpoint(init)
                if init_config != config:
                    raise LwirstError(f"--init {init}: its network config differs from this run's")
                self.model.load_state_dict(state)
            if recipe.hard:  # mined from the init weights on every start, so a resumed run draws the same crops
                self.train_set.bank.hard = mine_hard_negatives(self.model, self.train_set.bank.backgrounds, recipe.size,
                                                               np.random.default_rng([recipe.seed, 4099]))
            self.optimizer = _optimizer(self.model, recipe)
            self.ema = EMA(self.model, recipe.ema_decay) if recipe.ema_decay > 0 else None
            self.epoch = 0
            self.best_iou = -1.0
            # the --init weights' val IoU, scored once before the first epoch: a fine-tune's best epoch can be
            # worse than where it started, and the summary must say so (NaN: no init, no val set, or no target)
            self.init_iou = math.nan
            self.wall_seconds = 0.0
            self.history: list[dict[str, Any]] = []  # metrics.csv's rows, saved in state.pt with the epoch they log
            if resume and not self._replacing and (self.run_dir / "run.json").exists():
                self._load_state()
            elif init is not None and val_set is not None:
                self.init_iou = self._val_iou(self.model)
        except BaseException:  # a refused or interrupted start: the lock goes with it, and a folder it made
            self.release()
            if fresh and [p.name for p in self.run_dir.iterdir()] == [LOCK]:
                shutil.rmtree(self.run_dir, ignore_errors=True)
            raise

    def _run_header(self) -> dict[str, Any]:
        """What run.json stores, JSON-normalised (tuples become lists) so it compares equal on resume."""
        header = {"architecture": architecture_of(self.config), "config": self.config.to_dict(),
                  "recipe": self.recipe.to_dict(), "data": self.data_info}
        return json.loads(jsonio.dumps(header))

    def _check_run_dir(self, resume: bool, force: bool) -> bool:
        """Refuse a run dir whose run this one may not take over; True when `force` replaces a run there (its
        files go when the new run saves its first epoch, so an interruption before loses neither)."""
        if (self.run_dir / SWAPPING).exists():  # a replacement killed in its swap: the new run is whole, finish it
            self._swap_in()
        for name in RUN_FILES:  # a replacement killed before its first save was whole: nothing of it stays
            (self.run_dir / f"{REPLACING}{name}").unlink(missing_ok=True)
        run_json = self.run_dir / "run.json"
        if not run_json.exists():
            return False
        if force:
            return True
        if not resume:
            raise LwirstError(
                f"{self.run_dir} already holds a run; pass --resume to continue it or --force to overwrite it"
            )
        saved = json.loads(run_json.read_text())
        header = self._run_header()
        saved_arch = saved.get("architecture", DEFAULT_ARCHITECTURE)  # runs from before the registry
        if saved_arch != header["architecture"]:
            raise LwirstError(f"cannot resume {self.run_dir}: it trains {saved_arch}, not {header['architecture']}; "
                              "use a new --run-dir or the same architecture")
        # a recipe field added after the run started is the run's as long as it keeps its default
        defaults = {f.name: f.default for f in dataclasses.fields(Recipe)}
        saved["recipe"] = {**{k: v for k, v in defaults.items() if k not in saved.get("recipe", {})},
                           **saved.get("recipe", {})}
        for key in ("config", "recipe"):
            if saved.get(key) != header[key]:
                diff = sorted(k for k in set(saved.get(key, {})) | set(header[key])
                              if saved.get(key, {}).get(k) != header[key].get(k))
                shown = "; ".join(f"{k}: {saved.get(key, {}).get(k)!r} in run.json, {header[key].get(k)!r} now"
                                  for k in diff[:3])
                raise LwirstError(
                    f"cannot resume {self.run_dir}: its {key} differs in {', '.join(diff)} ({shown}); "
                    "use a new --run-dir or the same settings (`lwirst train --run-dir DIR --resume` alone "
                    "takes them from run.json)"
                )
        return False

    def _load_state(self) -> None:
        path = self.run_dir / "state.pt"
        if not path.exists():
            raise LwirstError(f"cannot resume {self.run_dir}: its state.pt (weights, optimiser and epoch) is missing "
                              "(a kill during its first save leaves it so); start the run again with --force, or "
                              "start a new run from its last.safetensors (--init, with a new --run-dir)")
        try:
            state = torch.load(path, map_location=self.device, weights_only=True)
        except (RuntimeError, OSError, ValueError, EOFError, pickle.UnpicklingError) as exc:
            raise LwirstError(f"cannot resume {self.run_dir}: its state.pt is unreadable ({type(exc).__name__}); its "
                              "last.safetensors can start a new run (--init, with a new --run-dir)") from exc
        self.model.load_state_dict(state["model"])
        self.optimizer.load_state_dict(state["optimizer"])
        if self.ema is not None:
            self.ema.shadow = state["ema"]
        self.epoch = int(state["epoch"])
        self.best_iou = float(state["best_iou"])
        self.init_iou = float(state.get("init_iou", math.nan))  # runs saved before it was scored: unknown
        self.wall_seconds = float(state.get("wall_seconds", 0.0))
        logged = self._logged_rows(self.epoch + 1)
        self.history = list(state.get("history") or logged)  # runs saved before state.pt held the rows: the log's
        if logged != self.history:  # an interrupt fell between the two saves
            self._write_metrics()
        log.info("resumed %s at epoch %d", self.run_dir, self.epoch)

    def _logged_rows(self, before: int) -> list[dict[str, str]]:
        """metrics.csv's rows of the epochs before `before` ([] without the file)."""
        metrics = self.run_dir / "metrics.csv"
        if not metrics.exists():
            return []
        with metrics.open() as handle:
            return [row for row in csv.DictReader(handle) if int(row["epoch"]) < before]

    def _write_metrics(self, stage: str = "") -> None:
        """metrics.csv from `history`, atomically (under `stage`'s prefix while a run is being replaced)."""
        def write(path: Path) -> None:
            with path.open("w", newline="") as handle:
                writer = csv.DictWriter(handle, fieldnames=list(self.history[-1]))
                writer.writeheader()
                writer.writerows(self.history)

        if self.history:
            atomic_write(self.run_dir / f"{stage}metrics.csv", write)

    @property
    def finished(self) -> bool:
        return self.epoch >= self.recipe.epochs

    def eval_model(self) -> torch.nn.Module:
        """The weights a user gets: the EMA when enabled, else the raw weights.

        Averaged weights do not fit averaged BatchNorm statistics (measured here: an
        EMA with averaged running stats predicted nothing while the raw weights scored
        0.60 IoU), so the EMA's BN statistics are re-estimated on training batches.
        """
        if self.ema is None:
            return self.model
        model = build_model(config=self.config).to(self.device)
        model.load_state_dict(self.ema.shadow)
        recalibrate_batchnorm(model, self.train_set, seed=self.recipe.seed,
                              batch_size=self.recipe.batch_size)
        return model.eval()

    def train_epoch(self, progress: Callable[[int, int, float], None] | None = None) -> EpochRecord:
        r = self.recipe
        epoch = self.epoch
        start = time.perf_counter()
        rng = np.random.default_rng([r.seed, epoch])
        torch.manual_seed(r.seed * 100_003 + epoch)
        order = rng.permutation(len(self.train_set))
        steps = len(order) // r.batch_size or 1
        total = steps * r.epochs
        self.model.train()
        losses = []
        lr = r.lr
        loss_fn = LOSSES[r.loss]
        for step in range(steps):
            batch = order[step * r.batch_size:(step + 1) * r.batch_size]
            pairs = [self.train_set.sample(int(i), rng) for i in batch]
            x = torch.from_numpy(np.stack([p[0] for p in pairs])).to(self.device)
            y = torch.from_numpy(np.stack([p[1] for p in pairs])).to(self.device)
            lr = learning_rate(r, epoch * steps + step, total, steps)
            for group in self.optimizer.param_groups:
                group["lr"] = lr
            loss = loss_fn(self.model(x), y)
            self.optimizer.zero_grad(set_to_none=True)
            loss.backward()
            self.optimizer.step()
            if self.ema is not None:
                self.ema.update(self.model)
            losses.append(loss.item())
            if progress:
                progress(step + 1, steps, losses[-1])
        model = self.eval_model()  # validated and saved alike (EMA weights: BN re-estimated once)
        val_iou = self._val_iou(model)
        seconds = time.perf_counter() - start
        with held_interrupts():  # the epoch counts once its files are whole: what a stop says is saved, is
            self.epoch += 1
            self.wall_seconds += seconds
            record = EpochRecord(self.epoch, lr, float(np.mean(losses)), val_iou, seconds)
            self._save(record, model)
        return record

    def _val_iou(self, model: torch.nn.Module) -> float:
        """Pixel IoU on the val set as best.safetensors is chosen by it; without one NaN, once one training
        frame has shown the weights' output is finite (weights can overflow in eval mode only)."""
        try:
            if self.val_set:
                return score_resized(model, self.val_set, self.recipe.size, targets=False)["miou"]
            x = torch.from_numpy(self.train_set.sample(0, np.random.default_rng(0))[0][None]).to(self.device)
            with torch.no_grad():
                if not bool(torch.isfinite(model.eval()(x)).all()):
                    raise NonFiniteOutput("in eval mode")
            return math.nan
        except NonFiniteOutput as exc:
            raise LwirstError(f"training diverged at epoch {self.epoch + 1}: the network's output is no longer "
                              f"finite; the epochs saved before stay in {self.run_dir}. Lower --lr, or start again "
                              "from a saved checkpoint") from exc

    def _save(self, record: EpochRecord, model: torch.nn.Module) -> None:
        """The epoch's files. Under --force the new run's first save is written beside the old run's files
        (`REPLACING` names) and swapped in only once whole: a kill before then leaves the old run as it was,
        where deleting its files first left a run directory mixing both runs."""
        self.run_dir.mkdir(parents=True, exist_ok=True)
        stage = REPLACING if self._replacing else ""
        header = self._run_header()
        atomic_write(self.run_dir / f"{stage}run.json", lambda p: p.write_text(jsonio.dumps(header, indent=2)))
        meta = {"epoch": record.epoch, "val_iou": record.val_iou, "recipe": self.recipe.to_dict(),
                "data": self.data_info}
        save_checkpoint(self.run_dir / f"{stage}last.safetensors", model, self.config, meta)
        improved = not math.isnan(record.val_iou) and record.val_iou > self.best_iou
        if improved:
            self.best_iou = record.val_iou
            save_checkpoint(self.run_dir / f"{stage}best.safetensors", model, self.config, meta)
        row = {k: f"{v:.6g}" if isinstance(v, float) else str(v) for k, v in dataclasses.asdict(record).items()}
        self.history = [r for r in self.history if int(r["epoch"]) < record.epoch] + [row]
        # state.pt marks the epoch done and holds the log's rows, so an interrupt before metrics.csv is written
        # loses no row: resume writes it again (state.pt alone once lost an epoch's row for good)
        state = {"model": self.model.state_dict(), "optimizer": self.optimizer.state_dict(),
                 "ema": self.ema.shadow if self.ema else {}, "epoch": self.epoch,
                 "best_iou": self.best_iou, "init_iou": self.init_iou, "wall_seconds": self.wall_seconds,
                 "history": self.history}
        save_torch(self.run_dir / f"{stage}state.pt", state)
        self._write_metrics(stage)
        if stage:  # the new run is whole: it takes the old one's place
            new = [name for name in RUN_FILES if (self.run_dir / f"{stage}{name}").exists()]
            atomic_write(self.run_dir / SWAPPING, lambda p: p.write_text("\n".join(new)))
            self._swap_in()
            self._replacing = False

    def _swap_in(self) -> None:
        """Move a whole staged run over the old one, file by file (run.json last), then drop the mark, which
        names the new run's files; run again on the next start when a kill cut it short, so the two runs
        never stay mixed."""
        new = (self.run_dir / SWAPPING).read_text().split()
        for name in RUN_FILES:
            staged = self.run_dir / f"{REPLACING}{name}"
            if staged.exists():
                os.replace(staged, self.run_dir / name)
            elif name not in new:  # e.g. no best.safetensors yet: none of the old run's may stay
                (self.run_dir / name).unlink(missing_ok=True)
        (self.run_dir / SWAPPING).unlink()

    def fit(self, until: int | None = None,
            on_epoch: Callable[[EpochRecord], None] | None = None,
            progress: Callable[[int, int, float], None] | None = None) -> None:
        """Train until the recipe's last epoch (or `until`, for chunked runs); the run directory's lock goes
        with the end of the training, however it ends."""
        stop = min(self.recipe.epochs, until or self.recipe.epochs)
        if self._lock is None:  # a later chunk of the same trainer: the directory is locked again
            self._lock = _lock_run_dir(self.run_dir)
        try:
            while self.epoch < stop:
                record = self.train_epoch(progress)
                log.info("epoch %d loss %.4f val IoU %.4f (%.1fs)", record.epoch, record.train_loss,
                         record.val_iou, record.seconds)
                if on_epoch:
                    on_epoch(record)
        finally:
            self.release()

    def release(self) -> None:
        """Let another training have the run directory (`_lock_run_dir`)."""
        if self._lock is not None:
            os.close(self._lock)
            self._lock = None

    def __del__(self) -> None:  # a trainer dropped without fit (an inspection, a failed start)
        if getattr(self, "_lock", None) is not None:
            self.release()
