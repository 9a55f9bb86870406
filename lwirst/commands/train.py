"""`lwirst train`: resumable training with the paper's or the default recipe."""

from __future__ import annotations

import argparse
import csv
import dataclasses
import json
import math
import os
import shlex
import sys
from collections import Counter
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tqdm import tqdm

from lwirst.commands.progress import progress_bar
from lwirst.commands.recipe_args import field_type
from lwirst.commands.segment import add_mask_threshold_argument
from lwirst.config import get_preset
from lwirst.datasets import (
    DATASET_HELP,
    SegDataset,
    UnknownSplitError,
    files_record,
    in_test_split,
    names_digest,
    open_dataset,
    overlap_warning,
    resolve_data_dir,
    validation_overlap,
)
from lwirst.errors import LwirstError, OptionsConflict
from lwirst.imageio import read_header_size
from lwirst.models import (
    DEFAULT_ARCHITECTURE,
    NetworkConfig,
    architecture_names,
    architecture_of,
    config_from_json,
    get_architecture,
)
from lwirst.recipes import RECIPES, Recipe
from lwirst.validate import THREADS, check_outputs, number

if TYPE_CHECKING:
    from lwirst.train import Trainer

# Options of other commands that a user reaches for here, and what this command takes instead (`lwirst.cli`)
MISTAKEN = {"--model": "train chooses its network with --arch NAME (or --preset, --config) and starts from a "
                       "trained model's weights with --init FILE"}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--run-dir", required=True, help="run directory (keep it outside the repository)")
    parser.add_argument("--data-dir", help="dataset root (default: $LWIRST_DATA_DIR)")
    parser.add_argument("--dataset", default=None, help=DATASET_HELP)
    parser.add_argument("--train-split", default=None, help="training split (default train; a split list of the "
                        "dataset; a folder without <split>.txt lists serves every image)")
    parser.add_argument("--val-split", default=None, help="validation split (default val); never the test split")
    add_mask_threshold_argument(parser)
    parser.add_argument("--arch", choices=architecture_names(), default=None,
                        help=f"network architecture (default {DEFAULT_ARCHITECTURE}, or the config file's "
                             "'architecture' field)")
    parser.add_argument("--preset", default=None,
                        help="LW-IRSTNet preset (`lwirst complexity --list`; default lw_irstnet)")
    parser.add_argument("--config", help="network config JSON file (overrides --preset); an 'architecture' "
                                         "field names the network")
    parser.add_argument("--recipe", default=None, choices=sorted(RECIPES), help="named recipe (default: default)")
    for field in dataclasses.fields(Recipe):
        flag = "--" + field.name.replace("_", "-")
        kind, metavar = field_type(field)
        parser.add_argument(flag, type=kind, default=None, metavar=metavar, help=f"override recipe {field.name}")
    parser.add_argument("--init", help="start from this checkpoint's weights (fine-tuning; same network) instead of "
                        "seeded random weights")
    parser.add_argument("--resume", action="store_true",
                        help="continue the run in --run-dir with the network, recipe and data its run.json records "
                             "(options given here must match them)")
    parser.add_argument("--force", action="store_true",
                        help="replace the run in --run-dir (finished or not) once the new run saves its first epoch")
    parser.add_argument("--until", type=number(int, lo=1, hi=100_000),
                        help="stop after this epoch (train in resumable chunks)")
    parser.add_argument("--threads", type=THREADS, default=os.cpu_count(), help="torch CPU threads")
    parser.add_argument("--device", default="auto", choices=("auto", "cpu", "cuda"),
                        help="auto (CUDA when present, else CPU), cpu or cuda")


DATA_DEFAULTS = {"dataset": "sirst", "train_split": "train", "val_split": "val", "mask_threshold": None}


def run(args: argparse.Namespace) -> int:
    from lwirst.checkpoint import display_name, file_hash  # here, not at import: `lwirst train --help` loads no torch
    from lwirst.train import Trainer

    if args.resume and args.force:
        raise LwirstError("--resume continues the run in --run-dir and --force replaces it: pass one of them")
    saved = _saved_run(Path(args.run_dir)) if args.resume else None
    if args.resume and saved is None:
        raise LwirstError(f"cannot resume {args.run_dir}: no run is saved there (no run.json: the path is mistyped, "
                          "or the run stopped before its first epoch); start it without --resume")
    _fill_data_options(args, saved)
    if args.val_split == "test":
        raise LwirstError("the test split must never be used for validation; choose another --val-split")
    config = _network_config(args, saved)
    recipe = _recipe(args, saved)
    if args.until is not None and args.until > recipe.epochs:
        raise OptionsConflict(f"--until {args.until} is past the run's last epoch, {recipe.epochs}: it would stop "
                              "nothing; give an epoch up to the last, or leave --until out")
    _fill_init(args, saved, recipe)
    if args.init:
        _check_init(args.init, config)
    elif args.recipe == "finetune":
        print("warning: --recipe finetune goes on from trained weights (--init CHECKPOINT); without --init it trains "
              "from random weights at a fine-tuning learning rate, short of what the default recipe would reach")
    data_root = args.data_dir or os.environ.get("LWIRST_DATA_DIR")
    check_outputs({}, [data_root, args.init, args.config], folders={"--run-dir": args.run_dir})
    train_set = open_dataset(args.data_dir, args.dataset, args.train_split, mask_threshold=args.mask_threshold)
    try:
        val_set = (open_dataset(args.data_dir, args.dataset, args.val_split, mask_threshold=args.mask_threshold)
                   if args.val_split else None)
    except UnknownSplitError as exc:
        raise LwirstError(f"{exc}. Name a validation split with --val-split (never test), or pass "
                          "--val-split '' to train a fixed schedule without validation") from exc
    if val_set is not None and (tested := in_test_split(args.data_dir, args.dataset, val_set)):
        raise LwirstError(f"--val-split {args.val_split}: {tested} of its {len(val_set)} images are in the test "
                          "split, which must never choose a model; choose a split without them")
    if tested := in_test_split(args.data_dir, args.dataset, train_set):
        print(f"warning: {tested} of the {len(train_set)} training images (--train-split {args.train_split}) are "
              "in the test split: this model's test scores will be in-sample")
    if overlap := validation_overlap(train_set, val_set):
        print(overlap_warning(overlap))
    if val_set is not None and not _has_target(val_set):
        print(f"warning: validation split {args.val_split!r} holds no target pixel in its {len(val_set)} frames: "
              "val IoU is undefined while the network predicts nothing and 0 once it predicts anything, so "
              "best.safetensors is no choice by accuracy; name a split with targets (--val-split), or pass "
              "--val-split '' to train a fixed schedule")
    data_info = {"dataset": args.dataset, "train_split": args.train_split, "val_split": args.val_split,
                 "mask_threshold": args.mask_threshold,
                 "train_images": len(train_set), "val_images": len(val_set) if val_set else 0,
                 "val_overlap": overlap, "data_dir": str(resolve_data_dir(args.data_dir).resolve()),
                 "train_names": names_digest(train_set), "train_files": files_record(train_set),
                 "val_names": names_digest(val_set) if val_set else ""}
    if args.init:
        # named as pages name it: a run's weights with their run directory ("r3/last.safetensors", not one of
        # every run's two names)
        data_info["init"] = {"file": display_name(args.init), "sha256": file_hash(args.init)}
        data_info["init_path"] = str(Path(args.init).resolve())
    if args.resume:
        _keep_init(Path(args.run_dir), saved or {}, data_info)
        _check_same_data(Path(args.run_dir), data_info)
    trainer = Trainer(args.run_dir, config, recipe, train_set, val_set, data_info=data_info,
                      resume=args.resume, force=args.force, threads=args.threads, device=args.device,
                      init=args.init)
    compare_command = _compare_command(args)
    shrunk = _shrunk_validation(val_set, recipe.size)  # headers only, read once
    if trainer.finished:
        print(f"{args.run_dir}: already finished ({trainer.epoch} epochs); use --force to retrain")
        print(_summary(Path(args.run_dir), trainer.epoch, recipe, val_set is not None, trainer.init_iou,
                       bool(shrunk)))
        return 0
    if args.until is not None and args.until <= trainer.epoch:  # a resume that trains nothing says so
        print(f"{args.run_dir}: --until {args.until} is already reached ({trainer.epoch} of {recipe.epochs} epochs "
              "done); give a later --until, or none to finish the run")
        return 0
    for line in _plan(trainer, recipe, val_set, args.until):
        print(line)
    if shrunk:
        print(f"warning: {shrunk}; so best.safetensors, and the --init weights' score, are chosen by a measure "
              f"in which such targets barely show. Compare the files where they run at their own size: "
              f"{compare_command}")
    bar = progress_bar(total=None, unit="batch", leave=False, dynamic_ncols=True)

    def progress(step: int, steps: int, loss: float) -> None:
        bar.total = steps
        bar.n = step
        bar.set_description(f"epoch {trainer.epoch + 1}/{recipe.epochs} loss {loss:.4f}")
        bar.refresh()

    def on_epoch(record) -> None:
        val = f"val IoU {_iou_text(record.val_iou)}  " if val_set is not None else ""
        tqdm.write(f"epoch {record.epoch:3d}  lr {record.lr:.2e}  loss {record.train_loss:.4f}  "
                   f"{val}{record.seconds:.1f}s")
        bar.reset()  # the next epoch starts now: its rate and ETA count from here

    try:
        trainer.fit(until=args.until, on_epoch=on_epoch, progress=progress)
    except KeyboardInterrupt:
        bar.close()
        print(_interrupted(args.run_dir, trainer.epoch, recipe.epochs, replacing=args.force), file=sys.stderr)
        return 130
    finally:
        bar.close()
    print(_summary(Path(args.run_dir), trainer.epoch, recipe, val_set is not None, trainer.init_iou, bool(shrunk)))
    return 0


def _compare_command(args: argparse.Namespace) -> str:
    """The `lwirst evaluate` line that scores this run's checkpoints (and its --init file) on its validation split
    at their own size, as pasted: the same data options, each file by its path."""
    run_dir = Path(args.run_dir)
    command = ["lwirst", "evaluate", *(["--data-dir", str(args.data_dir)] if args.data_dir else []),
               "--dataset", str(args.dataset), "--split", str(args.val_split),
               *(["--mask-threshold", f"{args.mask_threshold:g}"] if args.mask_threshold is not None else []),
               "--model", str(run_dir / "last.safetensors")]
    others = [str(run_dir / "best.safetensors"), *([str(args.init)] if args.init else [])]
    return f"{shlex.join(command)} (then with --model {' and with --model '.join(map(shlex.quote, others))})"


def _shrunk_validation(val_set: SegDataset | None, size: int) -> str:
    """How many validation frames are over twice the model's area (read from their headers), which val IoU
    scores resized to `size`: a 1280x1024 frame is ÷5 across there, and its targets of a few pixels fall below
    one, so the epoch it calls best is noise (an audit's fine-tune it told to discard scored twice the mIoU of
    its --init weights under `lwirst evaluate`). "" where none is."""
    from lwirst.inference import shrink_note, shrunk_by

    if val_set is None:
        return ""
    sizes = []
    for item in val_set.items:
        try:
            width, height = read_header_size(item.image)
        except LwirstError:
            continue
        if shrunk_by((height, width), "resize", (size, size)) is not None:
            sizes.append((width * height, width, height))
    if not sizes:
        return ""
    _, width, height = max(sizes)
    largest = shrink_note((height, width), "resize", (size, size))
    return (f"{len(sizes)} of the {len(val_set)} validation frames are over twice the model's area, and val IoU "
            f"scores them shrunk: the largest, {width}x{height}, {largest}")


def _has_target(dataset: SegDataset) -> bool:
    """Whether any frame's mask holds a target pixel; stops at the first that does (usually the first)."""
    return any(dataset.load(i).mask.any() for i in range(len(dataset)))


EMA_KEEP_WARNING = 0.05  # the share of its starting weights an EMA may still hold at the end without a warning


def _plan(trainer: Trainer, recipe: Recipe, val_set: SegDataset | None, until: int | None = None) -> list[str]:
    """What the run will do, before its first step: frames per epoch (real and generated), steps, device, the
    epochs this call trains (to --until, where one stops it early), and a warning when the EMA of the weights,
    the saved weights, would still be mostly the starting ones by the run's end."""
    kinds = Counter(kind for kind, _ in trainer.train_set.items)
    made = ", ".join(f"{n} {kind}" for kind, n in kinds.items() if kind != "real")
    steps = max(1, len(trainer.train_set) // recipe.batch_size)
    left = steps * (recipe.epochs - trainer.epoch)
    first, last = trainer.epoch + 1, min(recipe.epochs, until or recipe.epochs)
    epochs = f"epochs {first}-{last}" if first < last else f"epoch {first}"
    if last < recipe.epochs:
        epochs += f" of {recipe.epochs} (--until {until}; --resume goes on)"
    lines = [f"training: {kinds['real']} real frames{f' + {made} generated' if made else ''} per epoch, "
             f"{steps} steps of {recipe.batch_size}, {epochs} on {trainer.device}; "
             + (f"validation: {len(val_set)} frames" if val_set is not None else "no validation")]
    start = "starting weights" if trainer.epoch == 0 else "weights it holds now"
    kept = recipe.ema_decay ** left if recipe.ema_decay else 0.0
    if kept > EMA_KEEP_WARNING:
        lines.append(f"warning: the saved weights are an EMA (decay {recipe.ema_decay:g}); over the {left} steps "
                     f"left it keeps {kept:.0%} of the {start}. On a small dataset or a short run, "
                     "pass --ema-decay 0 (or a lower decay) to save the trained weights themselves")
    return lines


def _summary(run_dir: Path, epoch: int, recipe: Recipe, validated: bool, init_iou: float = math.nan,
             shrunk_val: bool = False) -> str:
    """Where the run stands and which checkpoint holds what, by which rule: a user picks one to evaluate. Where
    the validation frames are large enough that val IoU scores them shrunk (`shrunk_val`), it advises nothing by
    that score."""
    weights = "EMA weights" if recipe.ema_decay else "weights"
    lines = [f"run directory: {run_dir} (epoch {epoch}/{recipe.epochs}; per-epoch log: metrics.csv)",
             f"  last.safetensors: the {weights} after epoch {epoch}"]
    # the command that continues a stopped run comes last, after every checkpoint is said
    tail = [f"  continue with: lwirst train --run-dir {shlex.quote(str(run_dir))} --resume"] \
        if epoch < recipe.epochs else []
    if not validated:
        lines.append("  no validation split: no best.safetensors; use last.safetensors")
        return "\n".join(lines + tail)
    best_epoch, best_iou = _best_epoch(run_dir / "metrics.csv")
    if not best_epoch:  # a target-free validation split where nothing was found: no IoU to choose by
        lines.append("  no epoch had a val IoU (its frames hold no target and none was found): no best.safetensors; "
                     "use last.safetensors")
        return "\n".join(lines + tail)
    lines.append(f"  best.safetensors: epoch {best_epoch}, the highest val IoU ({_iou_text(best_iou)}): pixel IoU at "
                 f"probability 0.5 with every val frame resized to {recipe.size}x{recipe.size}, as `lwirst evaluate "
                 f"--protocol resize --size {recipe.size} {recipe.size} --grow-to off --confirm off` scores it")
    if shrunk_val:
        init = "" if math.isnan(init_iou) else ", and the --init file,"
        lines.append(f"  val IoU scored large frames shrunk (warned above): compare these files{init} with "
                     "`lwirst evaluate` before keeping one")
    elif init_iou > best_iou:  # NaN (no --init, or a run saved before it was scored) compares False
        lines.append(f"  warning: the --init weights scored {_iou_text(init_iou)} before the first epoch, more than "
                     "any epoch: this fine-tune has not beaten where it started; keep the --init file")
    return "\n".join(lines + tail)


def _iou_text(iou: float) -> str:
    """A val IoU to 4 decimals, or to 2 significant digits under 1e-4: a from-scratch run's 5.6e-06 read 0.0000, as
    if it had found nothing, and its best epoch was chosen among zeros."""
    return f"{iou:.1e}" if 0 < iou < 1e-4 else f"{iou:.4f}"


def _best_epoch(metrics: Path) -> tuple[int, float]:
    """The epoch best.safetensors holds: the first with the highest val IoU (a later tie does not replace it)."""
    with metrics.open(newline="") as handle:
        rows = [(int(row["epoch"]), float(row["val_iou"])) for row in csv.DictReader(handle)]
    scored = [row for row in rows if not math.isnan(row[1])]
    return max(scored, key=lambda row: (row[1], -row[0])) if scored else (0, math.nan)


def _interrupted(run_dir: str, epoch: int, epochs: int, replacing: bool = False) -> str:
    """What Ctrl-C leaves and how to go on: finished epochs are saved, the one under way is lost; a run that
    --force was to replace stays until the new one saves its first epoch."""
    if epoch == 0:
        kept = f"; the run --force was to replace is still in {run_dir}" if replacing else ""
        return f"interrupted before the first epoch finished; nothing was saved{kept} (run the same command again)"
    saved = "epoch 1" if epoch == 1 else f"epochs 1-{epoch}"
    return (f"interrupted: {saved} of {epochs} {'is' if epoch == 1 else 'are'} saved in {run_dir}; continue with: "
            f"lwirst train --run-dir {shlex.quote(str(run_dir))} --resume")


def _saved_run(run_dir: Path) -> dict[str, Any] | None:
    """run.json of the run `--resume` continues; None when the run has not saved an epoch yet."""
    try:
        saved = json.loads((run_dir / "run.json").read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as exc:
        raise LwirstError(f"cannot resume {run_dir}: run.json is unreadable ({exc})") from exc
    if not isinstance(saved, dict):
        raise LwirstError(f"cannot resume {run_dir}: run.json is not a JSON object")
    return saved


def _fill_data_options(args: argparse.Namespace, saved: dict[str, Any] | None) -> None:
    """Data options not given: on --resume the run's (run.json), else the defaults. The run's data folder
    wins over $LWIRST_DATA_DIR (set for one's usual dataset, it broke resuming a run on other data); the
    variable serves where that folder is gone (the data moved to another path or machine)."""
    data = saved.get("data", {}) if saved else {}
    for key, default in DATA_DEFAULTS.items():
        if getattr(args, key) is None:
            setattr(args, key, data.get(key, default))
    recorded = data.get("data_dir")
    if (args.data_dir is not None and recorded and Path(recorded).is_dir()
            and Path(args.data_dir).expanduser().resolve() != Path(recorded).resolve()):  # before it is opened
        raise LwirstError(f"cannot resume {args.run_dir}: its data differs (it trains on {recorded}, not "
                          f"{args.data_dir}); leave --data-dir out (the run's folder is used) or train in a new "
                          "--run-dir")
    if args.data_dir is None and recorded and (Path(recorded).is_dir() or not os.environ.get("LWIRST_DATA_DIR")):
        args.data_dir = recorded


def _fill_init(args: argparse.Namespace, saved: dict[str, Any] | None, recipe: Recipe) -> None:
    """On --resume of a run with hard negatives (mined from its --init weights on every start), --init
    from run.json: the printed `--resume` command must continue such a run too."""
    if args.init or saved is None or not recipe.hard:
        return
    data = saved.get("data", {})
    if not data.get("init_path"):
        init = data.get("init", {})
        raise LwirstError(f"cannot resume {args.run_dir}: its hard negatives are mined from the weights it started "
                          f"from; pass --init with that checkpoint ({init.get('file', '?')}, sha256 "
                          f"{init.get('sha256', '?')})")
    args.init = data["init_path"]


def _check_init(init: str, config: NetworkConfig) -> None:
    """`--init` is read before the data: a missing file or another network fails at once, naming the fields."""
    from lwirst.checkpoint import load_checkpoint

    init_config, _, _ = load_checkpoint(init)
    if init_config == config:
        return
    theirs, ours = init_config.to_dict(), config.to_dict()
    fields = sorted(k for k in set(theirs) | set(ours) if theirs.get(k) != ours.get(k))
    if architecture_of(init_config) != architecture_of(config):
        fields = ["architecture"]
    raise LwirstError(f"--init {init}: its network differs from this run's in {', '.join(fields)}; give the "
                      "network it was trained with (--preset, --config or --arch)")


def _recipe(args: argparse.Namespace, saved: dict[str, Any] | None) -> Recipe:
    """The recipe to train: on --resume the one run.json records, refusing any option given here that
    differs from it; else --recipe with the options given here on top."""
    overrides = {f.name: getattr(args, f.name) for f in dataclasses.fields(Recipe)
                 if getattr(args, f.name) is not None}
    if saved is None or "recipe" not in saved or args.recipe is not None:
        recipe = dataclasses.replace(RECIPES[args.recipe or "default"], **overrides)  # the Trainer compares it
        recipe.validate()  # before any work: options that cannot hold together are a usage error
        return recipe
    fields = {f.name: f.default for f in dataclasses.fields(Recipe)}  # a field added later keeps its default
    recorded = {**fields, **{k: v for k, v in saved["recipe"].items() if k in fields}}
    differ = sorted(k for k, v in overrides.items() if recorded[k] != v)
    if "epochs" in differ and args.epochs < recorded["epochs"]:
        raise LwirstError(f"cannot resume {args.run_dir}: it trains {recorded['epochs']} epochs, not "
                          f"{args.epochs}; its learning-rate schedule spans those epochs. To stop after epoch "
                          f"{args.epochs}, resume with --until {args.epochs} instead of --epochs")
    if "epochs" in differ:
        raise LwirstError(f"cannot resume {args.run_dir}: it trains {recorded['epochs']} epochs, not "
                          f"{args.epochs}; its learning-rate schedule spans those epochs, so a run cannot be "
                          f"lengthened (to train further, start a new --run-dir with --init "
                          f"{Path(args.run_dir) / 'last.safetensors'})")
    if differ:
        shown = "; ".join(f"{k}: {recorded[k]!r} in run.json, {overrides[k]!r} given" for k in differ[:3])
        raise LwirstError(f"cannot resume {args.run_dir}: its recipe differs in {', '.join(differ)} ({shown}); "
                          "--resume takes the run's recipe from its run.json: drop those options or start a new "
                          "--run-dir")
    try:
        return Recipe(**recorded)
    except TypeError as exc:
        raise LwirstError(f"cannot resume {args.run_dir}: run.json's recipe is malformed ({exc})") from exc


def _network_config(args: argparse.Namespace, saved: dict[str, Any] | None = None) -> NetworkConfig:
    """The network to train: a config file, else an LW-IRSTNet preset, else `--arch`'s default config;
    on --resume without any of them, the network run.json records."""
    if saved is not None and "config" in saved and not (args.config or args.preset or args.arch):
        try:
            return config_from_json(json.dumps(saved["config"]), saved.get("architecture", DEFAULT_ARCHITECTURE))
        except LwirstError as exc:
            raise LwirstError(f"cannot resume {args.run_dir}: run.json's network config: {exc}") from exc
    if args.config:
        try:
            text = Path(args.config).read_text(encoding="utf-8")
        except OSError as exc:
            raise LwirstError(f"--config {args.config}: cannot read it ({exc.strerror})") from exc
        except UnicodeDecodeError as exc:
            raise LwirstError(f"--config {args.config}: not a UTF-8 text file; give a JSON network config") from exc
        try:
            return config_from_json(text, args.arch)
        except LwirstError as exc:
            raise LwirstError(f"--config {args.config}: {exc}") from exc
    if args.arch in (None, DEFAULT_ARCHITECTURE):
        return get_preset(args.preset or "lw_irstnet")
    if args.preset:
        raise LwirstError(f"--preset names LW-IRSTNet variants; {args.arch} takes its settings from --config")
    return get_architecture(args.arch).config()


def _keep_init(run_dir: Path, saved: dict[str, Any], data_info: dict[str, Any]) -> None:
    """On --resume the run keeps the record of the weights it started from (the weights themselves come from
    state.pt): without --init the recorded one stays, and an --init given must be that checkpoint (by content;
    it may have moved)."""
    recorded = saved.get("data", {})
    if "init" not in data_info:
        data_info.update({key: recorded[key] for key in ("init", "init_path") if key in recorded})
        return
    started = recorded.get("init")
    if not started or started.get("sha256") != data_info["init"]["sha256"]:
        was = f"{started.get('file', '?')} (sha256 {started.get('sha256', '?')[:12]})" if started else \
            "seeded random weights"
        raise LwirstError(f"cannot resume {run_dir}: --init {data_info['init']['file']} is not what it started "
                          f"from ({was}); drop --init, or start a new --run-dir")


def _check_same_data(run_dir: Path, data_info: dict[str, object]) -> None:
    """`--resume` refuses another dataset, split or data folder than the run was started on (fields an older
    run.json lacks are not compared, nor its --init file's name or place: `_keep_init` compares its content)."""
    saved = (_saved_run(run_dir) or {}).get("data", {})
    differ = sorted(key for key, value in data_info.items()
                    if key in saved and key not in ("init", "init_path") and saved[key] != value)
    if differ == ["train_files"]:  # the same files by name, other content: no option brings the old frames back
        raise LwirstError(f"cannot resume {run_dir}: a training image's content changed since the run started (the "
                          "run's record of its images differs); start a new --run-dir to train on the frames as "
                          "they are now")
    if differ:
        shown = ", ".join("the training images' content (train_files)" if key == "train_files" else
                          f"{key} {saved[key]!r} -> {data_info[key]!r}" for key in differ[:3])
        raise LwirstError(f"cannot resume {run_dir}: its data differs ({shown}); resume with the run's "
                          "--data-dir/--dataset/splits or start a new --run-dir")
