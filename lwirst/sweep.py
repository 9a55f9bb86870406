"""Ablation sweeps of the paper's Tables III-IX on Ray Tune.

Every (variant, seed) is one Tune trial. It trains through `lwirst.train.Trainer`
(the `lwirst train` code path) in its own run directory
``<run_dir>/trials/<variant>-s<seed>``. Each epoch it reports metrics and a checkpoint
to Tune. After the last epoch it scores the test split with the weights of the
best-validation epoch and with the final weights, and writes ``result.json``.

- A variant is the first preset (in `PRESETS` order) with a given config. Rows that
  repeat the shipped network (``table3_daaa``, ``table7_ch_8_32_64``, ``table8_deconv``
  ...) therefore share the trained ``lw_irstnet`` runs instead of training them again.
- Resuming: a trial with ``result.json`` is never launched again. An unfinished one
  continues from the last epoch its run directory saved (``resume=True``).
- ``sweep.json`` pins the recipe, dataset and splits of a sweep directory. A later
  call with other settings fails before any trial starts.
- ``results.csv`` has one tidy row per (table, preset, seed). `report` sets the
  measured ranking beside the paper's.

Ray is imported only where a sweep runs, so `load_results` and `report` work without it.
"""

from __future__ import annotations

import csv
import dataclasses
import json
import logging
import math
import signal
import socket
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from lwirst import jsonio
from lwirst.ablation_stats import ALPHA, paired_comparisons, table_verdict
from lwirst.config import PRESETS, NetConfig, get_preset, presets_for_table
from lwirst.datasets import SegDataset, open_dataset
from lwirst.errors import LwirstError
from lwirst.paths import checkout_commit
from lwirst.recipes import RECIPES, Recipe
from lwirst.rounding import count_text
from lwirst.scoring import SWEEP, MetricSpec, metric_spec, view_keys
from lwirst.validate import atomic_write

if TYPE_CHECKING:  # torch loads in the trials, not where a sweep is planned or reported (`lwirst sweep --help`)
    from lwirst.train import Trainer

log = logging.getLogger(__name__)

TABLES = ("III", "IV", "V", "VI", "VII", "VIII", "IX")
SWEEP_FILE = "sweep.json"
RESULT_FILE = "result.json"
RESULTS_CSV = "results.csv"


def csv_columns() -> list[str]:
    """The columns of results.csv: the trial, then the best and final weights' scores of the metric
    table's sweep view (what `score_resized` measures, plugins included), then cost and provenance."""
    scores = view_keys(SWEEP)
    return ["table", "preset", "row", "variant", "seed", "epochs", "schedule", "dataset", "train_split",
            "val_split", "test_split", "best_epoch", "best_val_iou",
            *(f"best_{s}" for s in scores), *(f"final_{s}" for s in scores),
            "params_m", "flops_m", "wall_s", "hardware", "commit", "note"]
# the scores every sweep results CSV holds, the first ones included (a plugin's columns came later)
REQUIRED = tuple(f"{when}_{s}" for when in ("best", "final") for s in ("miou", "f1", "pd"))


def ranked_metrics() -> tuple[str, ...]:
    """What a report can rank by: the best and final columns of every metric in the metric table's sweep view
    (`lwirst.scoring`, a plugin's too), each ranked the way its row says is better."""
    return tuple(f"{when}_{key}" for when in ("best", "final") for key in view_keys(SWEEP))


def _spec(metric: str) -> MetricSpec:
    """The metric table's row of a ranked column ("best_fa" -> Fa's)."""
    if metric not in ranked_metrics():
        raise LwirstError(f"unknown metric {metric!r}; choose one of {', '.join(ranked_metrics())}")
    return metric_spec(metric.split("_", 1)[1])


@dataclass(frozen=True)
class SweepData:
    """Where trials read their images; `data_dir` must be the same path on every Ray node."""

    data_dir: str
    dataset: str = "sirst"
    train_split: str = "trainval"
    val_split: str = "val"
    test_split: str = "test"
    mask_threshold: float | None = None  # binarise masks that are not strictly binary (`read_mask`)

    def open(self) -> tuple[SegDataset, SegDataset, SegDataset]:
        """Train, validation and test splits, validated (a missing split is a `LwirstError`)."""
        train, val, test = (open_dataset(self.data_dir, self.dataset, split, mask_threshold=self.mask_threshold)
                            for split in (self.train_split, self.val_split, self.test_split))
        return train, val, test


@dataclass(frozen=True)
class Sweep:
    """One sweep directory: a recipe (its seed varies per trial) and the data all trials use."""

    run_dir: Path
    recipe: Recipe
    recipe_name: str
    data: SweepData

    @property
    def schedule(self) -> str:
        """The recipe as ``name`` plus the fields that differ from it, e.g. ``default+epochs=6,size=128``."""
        base = RECIPES[self.recipe_name].to_dict()
        changed = [f"{k}={v}" for k, v in self.recipe.to_dict().items() if k != "seed" and base[k] != v]
        return self.recipe_name + ("+" + ",".join(changed) if changed else "")

    def header(self) -> dict[str, Any]:
        recipe = {k: v for k, v in self.recipe.to_dict().items() if k != "seed"}
        data = {k: v for k, v in dataclasses.asdict(self.data).items()
                if k != "data_dir" and (k != "mask_threshold" or v is not None)}  # as a sweep before the option
        return {"recipe_name": self.recipe_name, "recipe": recipe, "data": data}

    def trial_dir(self, name: str) -> Path:
        return self.run_dir / "trials" / name


@dataclass(frozen=True)
class TrialPlan:
    """One Tune trial: a variant (canonical preset) trained with one seed."""

    variant: str
    seed: int

    @property
    def name(self) -> str:
        return f"{self.variant}-s{self.seed}"


def select_presets(tables: Sequence[str] = (), presets: Sequence[str] = ()) -> list[str]:
    """Presets of the named tables followed by the named presets, without repeats."""
    names: list[str] = []
    for table in tables:
        key = str(table).strip().upper()
        if key not in TABLES:
            raise LwirstError(f"unknown table {table!r}; the ablation tables are {', '.join(TABLES)}")
        names += [p.name for p in presets_for_table(key)]
    for name in presets:
        get_preset(name)
        if PRESETS[name].table not in TABLES:
            raise LwirstError(f"preset {name!r} is not a row of an ablation table ({', '.join(TABLES)})")
        names.append(name)
    if not names:
        raise LwirstError("nothing to sweep: pass --tables and/or --presets")
    return list(dict.fromkeys(names))


def variant_of(preset: str) -> str:
    """The first preset with the same config: presets of one architecture share their trials."""
    config = get_preset(preset)
    return next(name for name, p in PRESETS.items() if p.config == config)


def plan_trials(presets: Sequence[str], seeds: Sequence[int]) -> list[TrialPlan]:
    variants = dict.fromkeys(variant_of(p) for p in presets)
    return [TrialPlan(v, s) for v in variants for s in seeds]


def chosen_variant(table: str) -> str:
    """The row of `table` that the paper kept: the one whose config is the shipped network."""
    return next(p.name for p in presets_for_table(table) if p.config == NetConfig())


# ---------------------------------------------------------------- sweep directory


def prepare_sweep(sweep: Sweep, presets: Sequence[str], seeds: Sequence[int], note: str | None = None) -> None:
    """Create or check ``sweep.json`` and add the presets and seeds to the ones it lists.

    A directory made with another recipe, dataset or split is refused before any trial runs.
    `note` (free text for every CSV row) replaces the saved one when given.
    """
    path = sweep.run_dir / SWEEP_FILE
    header = sweep.header()
    listed: dict[str, Any] = {"presets": [], "seeds": [], "note": ""}
    if path.exists():
        try:
            saved = json.loads(path.read_text())
        except (OSError, json.JSONDecodeError) as exc:
            raise LwirstError(f"cannot read {path}: {exc}") from exc
        for key in ("recipe_name", "recipe", "data"):
            if saved.get(key) != header[key]:
                raise LwirstError(
                    f"{sweep.run_dir} holds a sweep with another {key.replace('_', ' ')} "
                    f"({_difference(saved.get(key), header[key])}); use a new --run-dir or the same settings"
                )
        listed = {"presets": saved.get("presets", []), "seeds": saved.get("seeds", []),
                  "note": saved.get("note", "")}
    listed["presets"] = list(dict.fromkeys([*listed["presets"], *presets]))
    listed["seeds"] = sorted(set(listed["seeds"]) | set(seeds))
    if note is not None:
        listed["note"] = note
    sweep.run_dir.mkdir(parents=True, exist_ok=True)
    atomic_write(path, lambda p: p.write_text(jsonio.dumps({**header, **listed}, indent=2)))


def _difference(saved: Any, wanted: Any) -> str:
    if isinstance(saved, dict) and isinstance(wanted, dict):
        keys = sorted(k for k in set(saved) | set(wanted) if saved.get(k) != wanted.get(k))
        return ", ".join(f"{k}: {saved.get(k)!r} there, {wanted.get(k)!r} now" for k in keys)
    return f"{saved!r} there, {wanted!r} now"


def finished(sweep: Sweep, plan: TrialPlan) -> bool:
    return (sweep.trial_dir(plan.name) / RESULT_FILE).is_file()


# ---------------------------------------------------------------- one trial (runs on a Ray worker)


def hardware(threads: int) -> str:
    """What one trial trained on, e.g. ``AMD EPYC 7B13, 1 thread``."""
    from lwirst.bench import detect_cpu

    return f"{detect_cpu().model}, {threads} thread{'s' if threads != 1 else ''}"


def _finish(trainer: Trainer, test_set: SegDataset, threads: int, commit: str) -> dict[str, Any]:
    """Score the best-validation and the final weights on the test split, each as saved (what `lwirst evaluate`
    of the file reproduces: the EMA's BatchNorm statistics, estimated anew, differed on every estimate); write
    ``result.json``."""
    from lwirst.checkpoint import load_model
    from lwirst.complexity import config_complexity
    from lwirst.train import score_resized

    best_path = trainer.run_dir / "best.safetensors"
    last = load_model(trainer.run_dir / "last.safetensors")[0]
    best = score_resized(load_model(best_path)[0] if best_path.exists() else last, test_set, trainer.recipe.size)
    final = score_resized(last, test_set, trainer.recipe.size)
    with (trainer.run_dir / "metrics.csv").open() as handle:
        rows = list(csv.DictReader(handle))
    best_row = max(rows, key=lambda r: float(r["val_iou"]) if r["val_iou"] != "nan" else -1.0)
    cost = config_complexity(trainer.config)
    result = {
        "epochs": trainer.epoch, "best_epoch": int(best_row["epoch"]), "best_val_iou": float(best_row["val_iou"]),
        **{f"best_{k}": v for k, v in best.items()}, **{f"final_{k}": v for k, v in final.items()},
        "params_m": cost.params / 1e6, "flops_m": cost.flops / 1e6, "wall_s": trainer.wall_seconds,
        "hardware": hardware(threads), "commit": commit,
    }
    atomic_write(trainer.run_dir / RESULT_FILE, lambda p: p.write_text(jsonio.dumps(result, indent=2)))
    return result


def run_trial(config: dict[str, Any], *, sweep: Sweep, plans: dict[str, TrialPlan], threads: int,
              commit: str) -> None:
    """Tune function trainable: train the trial ``config["trial"]`` to the end, reporting every epoch."""
    from ray import tune

    from lwirst.train import Trainer

    plan = plans[config["trial"]]
    variant, seed = plan.variant, plan.seed
    run_dir = sweep.trial_dir(plan.name)
    train_set, val_set, test_set = sweep.data.open()
    data_info = {**dataclasses.asdict(sweep.data), "train_images": len(train_set),
                 "val_images": len(val_set), "test_images": len(test_set)}
    trainer = Trainer(run_dir, get_preset(variant), dataclasses.replace(sweep.recipe, seed=seed), train_set,
                      val_set, data_info=data_info, resume=True, threads=threads)

    def report(metrics: dict[str, Any]) -> None:
        tune.report(metrics, checkpoint=tune.Checkpoint.from_directory(str(run_dir)))

    def on_epoch(record: Any) -> None:
        metrics = {"epoch": record.epoch, "train_loss": record.train_loss, "val_iou": record.val_iou}
        if trainer.finished:
            metrics |= _finish(trainer, test_set, threads, commit)
        report(metrics)

    trainer.fit(on_epoch=on_epoch)
    if not (run_dir / RESULT_FILE).exists():  # stopped between its last epoch and its scoring
        report({"epoch": trainer.epoch, **_finish(trainer, test_set, threads, commit)})


# ---------------------------------------------------------------- driver


# The Ray node and job that `connect` started or joined (a job per `ray.init` of this process on a cluster, a node
# id per local start), not a Ray a notebook or a test session had joined first: an interrupted sweep ends only a Ray
# that is its own.
_our_ray: tuple[str, str] | None = None


def _ray_now() -> tuple[str, str]:
    """The node and job of the Ray this process is connected to."""
    import ray

    context = ray.get_runtime_context()
    return context.get_node_id(), context.get_job_id()


def connect(address: str | None, num_cpus: int | None) -> dict[str, float]:
    """Start a local Ray instance (no address) or join a cluster; return its resources.

    An unreachable address is a `LwirstError` within a few seconds, not a hang. A Ray
    this process already joined (a notebook, a test session) is reused.
    """
    import ray

    global _our_ray
    if address:
        check_address(address)
    if not ray.is_initialized():
        main_thread = threading.current_thread() is threading.main_thread()
        terminate = signal.getsignal(signal.SIGTERM) if main_thread else None
        try:
            if address:
                ray.init(address=address, log_to_driver=False)
            else:
                ray.init(address="local", num_cpus=num_cpus, include_dashboard=False, log_to_driver=False)
            if callable(terminate):  # Ray's native crash handler took SIGTERM (a core dump and exit 134): the
                signal.signal(signal.SIGTERM, terminate)  # command's own stop (as Ctrl-C) takes it back
            _our_ray = _ray_now()
        except (ConnectionError, RuntimeError, ValueError) as exc:
            target = address or "a local Ray instance"
            hint = ("; a cluster with token authentication (Ray's default) also needs RAY_AUTH_MODE=token "
                    "and its token in ~/.ray/auth_token or RAY_AUTH_TOKEN") if address else ""
            raise LwirstError(f"cannot start or reach {target}: {str(exc).splitlines()[0]}{hint}") from exc
    return dict(ray.cluster_resources())


# The HTTP/2 client preface and an empty SETTINGS frame (length 0, type 4, no flags, stream 0).
HTTP2_PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n" + b"\x00\x00\x00\x04\x00\x00\x00\x00\x00"
PROBE_TIMEOUT_S = 3.0


def check_address(address: str, timeout: float = PROBE_TIMEOUT_S) -> None:
    """Fail within seconds unless `address` answers as a gRPC (HTTP/2) server, as Ray's GCS and
    client server do: a closed port, a wrong host or another protocol is a `LwirstError`."""
    if address == "auto":
        return
    hostport = address.removeprefix("ray://")
    host, _, port = hostport.rpartition(":")
    if not host or not port.isdigit():
        raise LwirstError(f"--address must be auto, HOST:PORT or ray://HOST:PORT, got {address!r}")
    if not 0 < int(port) < 65536:
        raise LwirstError(f"--address {address}: port {port} is not between 1 and 65535")
    try:
        with socket.create_connection((host.strip("[]"), int(port)), timeout=timeout) as conn:
            conn.settimeout(timeout)
            conn.sendall(HTTP2_PREFACE)
            frame = b""
            while len(frame) < 9:
                chunk = conn.recv(9 - len(frame))
                if not chunk:
                    break
                frame += chunk
    except TimeoutError:
        frame = b""
    except OSError as exc:
        raise LwirstError(
            f"cannot reach the Ray cluster at {address}: {exc.strerror or exc}; start it with "
            "`ray start --head` (ray:// needs the client server port, 10001 by default)"
        ) from exc
    if len(frame) < 9 or frame[3] != 0x04:  # an HTTP/2 server opens with a SETTINGS frame
        raise LwirstError(f"{address} is open but does not answer as a Ray cluster (no gRPC handshake within "
                          f"{timeout:g} s); check the host and port (`ray status` on the head node)")


def _end_ray() -> None:
    """End this process's Ray at once when a sweep is stopped (Ctrl-C, SIGTERM).

    Tune does not clean up after a KeyboardInterrupt: its trials, the connection to Ray's control store and Ray
    itself were left to the interpreter's exit handlers, which call that store first (Tune's registry) and stop Ray
    after. Twice in CI a stopped sweep printed "interrupted" and had not exited two minutes later (not reproduced
    in 34 stops on the development machine). Ended here, the exit handlers find no Ray left to call. A Ray the
    caller joined is left running.
    """
    import ray

    if ray.is_initialized() and _ray_now() == _our_ray:
        log.info("stopping Ray")
        ray.shutdown()


def _progress_callback(total: int, already: int, epochs: int, say: Callable[[str], None]) -> Any:
    """A Tune callback that says one line per trial epoch and per failed trial."""
    from ray import tune

    class Progress(tune.Callback):
        def __init__(self) -> None:
            self.done = already

        def on_trial_result(self, iteration: int, trials: list, trial: Any, result: dict, **info: Any) -> None:
            name = trial.config["trial"]
            line = (f"[{self.done}/{total} done] {name:32s} epoch {result['epoch']:3d}/{epochs}  "
                    f"loss {result.get('train_loss', float('nan')):.4f}  val IoU {result.get('val_iou', 0):.4f}")
            if "best_miou" in result:
                line += f"  -> test mIoU {result['best_miou']:.4f} (best epoch), {result['final_miou']:.4f} (final)"
            say(line)

        def on_trial_complete(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
            self.done += 1

        def on_trial_error(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
            say(f"[{self.done}/{total} done] {trial.config['trial']} FAILED (log: {trial.local_path})")

    return Progress()


def run_sweep(sweep: Sweep, plans: Sequence[TrialPlan], *, address: str | None = None,
              num_cpus: int | None = None, cpus_per_trial: int = 1, gpus_per_trial: float = 0,
              say: Callable[[str], None] = log.info) -> list[str]:
    """Run the unfinished `plans` as Tune trials; return the names of trials still unfinished.

    Progress lines go to `say` (the log by default; the CLI prints them).
    """
    pending = [p for p in plans if not finished(sweep, p)]
    kept = len(plans) - len(pending)
    if kept:
        say(f"{kept} of {len(plans)} trials already finished in {sweep.run_dir}; kept")
    if not pending:
        return []
    resources = connect(address, num_cpus)
    for kind, need in (("CPU", cpus_per_trial), ("GPU", gpus_per_trial)):
        if need > resources.get(kind, 0):
            raise LwirstError(f"each trial asks for {need:g} {kind}(s) but the Ray cluster has "
                              f"{resources.get(kind, 0):g}; lower --{kind.lower()}s-per-trial")
    from ray import tune

    by_name = {p.name: p for p in pending}
    trainable = tune.with_parameters(
        run_trial, sweep=sweep, plans=by_name, threads=cpus_per_trial, commit=checkout_commit())
    tuner = tune.Tuner(
        tune.with_resources(trainable, {"cpu": cpus_per_trial, "gpu": gpus_per_trial}),
        param_space={"trial": tune.grid_search(list(by_name))},
        run_config=tune.RunConfig(
            name=time.strftime("sweep-%Y%m%d-%H%M%S"),
            storage_path=str((sweep.run_dir / "tune").resolve()),
            checkpoint_config=tune.CheckpointConfig(num_to_keep=1),
            failure_config=tune.FailureConfig(max_failures=1),
            callbacks=[_progress_callback(len(plans), kept, sweep.recipe.epochs, say)],
            verbose=1,
        ),
    )
    say(f"running {len(pending)} trial(s) at {cpus_per_trial} CPU / {gpus_per_trial:g} GPU each on "
        f"Ray ({resources.get('CPU', 0):g} CPUs, {resources.get('GPU', 0):g} GPUs)")
    try:
        grid = tuner.fit()
    except KeyboardInterrupt:
        _end_ray()
        raise
    for result in grid:
        if result.error is not None:
            name = result.config.get("trial", "?") if result.config else "?"
            say(f"trial {name} failed: {str(result.error).strip().splitlines()[-1]}")
    return [p.name for p in plans if not finished(sweep, p)]


# ---------------------------------------------------------------- results


def collect_results(sweep: Sweep) -> pd.DataFrame:
    """One row per (table, preset, seed) of the presets ``sweep.json`` lists, for finished trials."""
    listed = json.loads((sweep.run_dir / SWEEP_FILE).read_text())
    rows = []
    for preset in listed["presets"]:
        for seed in listed["seeds"]:
            variant = variant_of(preset)
            path = sweep.trial_dir(TrialPlan(variant, seed).name) / RESULT_FILE
            if not path.is_file():
                continue
            try:
                result = json.loads(path.read_text())
            except (OSError, ValueError) as exc:
                raise LwirstError(f"{path} is unreadable ({type(exc).__name__}); delete it and run the same "
                                  "command again to redo that trial") from exc
            rows.append({"table": PRESETS[preset].table, "preset": preset, "row": PRESETS[preset].row,
                         "variant": variant, "seed": seed, "schedule": sweep.schedule, "note": listed.get("note", ""),
                         **{k: v for k, v in dataclasses.asdict(sweep.data).items() if k != "data_dir"},
                         **result})
    return pd.DataFrame(rows, columns=csv_columns())


def write_results(frame: pd.DataFrame, path: str | Path) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write(path, lambda p: frame.to_csv(p, index=False, float_format="%.6g"))
    return path


UNCONVERGED_EPOCHS = 50  # sweep runs shorter than this are flagged as unconverged, here and on the Ablations page
# The data of a sweep's runs: runs on other data or splits are another experiment, not more seeds (the val split
# picks the best epoch, so it changes every best_* score too).
EXPERIMENT_DATA = ("dataset", "train_split", "val_split", "test_split")
RUN_KEY = ("table", "preset", "seed", "schedule", *EXPERIMENT_DATA)  # one trained run: its row may be listed once


def repeated_runs(frame: pd.DataFrame) -> pd.Series:
    """Which rows of `frame` repeat a run (`RUN_KEY`, the columns it has) listed again later."""
    return frame.duplicated([column for column in RUN_KEY if column in frame.columns], keep="last")


def drop_repeated_runs(frame: pd.DataFrame) -> tuple[pd.DataFrame, int]:
    """`frame` with each run kept once, the last listed (`repeated_runs`), and how many repeats were dropped: the
    same CSV copied twice, or a row pasted twice, counted as extra seeds and shrank the sd."""
    again = repeated_runs(frame)
    return frame[~again].reset_index(drop=True), int(again.sum())


def row_problem(frame: pd.DataFrame) -> str | None:
    """What makes a sweep results table unfit to rank, for its first bad row (1 = the first data row), or None:
    a preset that is not a row of its table, no dataset or split recorded, a seed that is not a whole number, a
    score outside 0..1. A hand-edited CSV ranked mIoU 7.5 first and listed another table's preset as a row of this
    one."""
    metrics = [m for m in (*REQUIRED, "best_fa", "final_fa") if m in frame.columns]  # the scores known to be shares
    for number, row in enumerate(frame.itertuples(index=False), start=1):
        values = row._asdict()
        table, preset = str(values["table"]).strip().upper(), str(values["preset"])
        blank = [c for c in ("dataset", "train_split", "test_split") if pd.isna(values[c]) or not str(values[c])]
        if blank:  # its runs could not be told from another experiment's
            return f"row {number}: no {' or '.join(blank)} recorded"
        if preset not in PRESETS or PRESETS[preset].table != table:
            return f"row {number}: {preset!r} is not a row of Table {table}"
        seed = pd.to_numeric(values["seed"], errors="coerce")
        if pd.isna(seed) or seed != int(seed) or seed < 0:
            return f"row {number}: seed {values['seed']!r} is not a whole number"
        for metric in metrics:
            score = pd.to_numeric(values[metric], errors="coerce")
            if pd.isna(score) and pd.notna(values[metric]):
                return f"row {number}: {metric} {values[metric]!r} is not a number"
            if pd.notna(score) and not 0 <= score <= 1:
                return f"row {number}: {metric} {values[metric]} lies outside 0..1"
    return None


def read_results(path: str | Path) -> pd.DataFrame:
    """One sweep results CSV, as `lwirst sweep` writes it, its table names upper-cased and a missing schedule
    read as none; a file that is unreadable, foreign (no column of a sweep's run key, splits or scores) or
    hand-edited past use (`row_problem`) is a `LwirstError` saying which. The one reader of such files: the
    command's report and the dashboard's Ablations page accept and refuse the same ones."""
    try:
        frame = pd.read_csv(path, dtype={"table": str, "preset": str, "schedule": str})
    except (OSError, ValueError) as exc:  # parser errors and undecodable bytes are ValueErrors
        raise LwirstError(f"cannot read sweep results {path}: {type(exc).__name__}: "
                          f"{str(exc).splitlines()[0][:200] if str(exc) else ''}") from exc
    missing = {*RUN_KEY, *REQUIRED} - set(frame.columns) - {"val_split"}  # results written before it was recorded
    if missing:
        raise LwirstError(f"{path} is not a sweep results CSV (no {', '.join(sorted(missing))} column)")
    problem = row_problem(frame)
    if problem:
        raise LwirstError(f"{path}: {problem}; fix or remove that row")
    return frame.assign(table=frame["table"].str.strip().str.upper(), schedule=frame["schedule"].fillna(""),
                        val_split=frame["val_split"].fillna("") if "val_split" in frame.columns else "")


def load_results(paths: Sequence[str | Path]) -> pd.DataFrame:
    """Sweep CSVs stacked (`read_results`), each run once; a missing or foreign file is a `LwirstError`."""
    if not paths:
        raise LwirstError("no sweep results to report")
    results, repeated = drop_repeated_runs(pd.concat([read_results(path) for path in paths], ignore_index=True))
    if repeated:
        log.warning("%d repeated row(s) (same table, preset, seed, schedule, dataset and train, val and test splits) "
                    "counted once", repeated)
    return results


PAPER_SCORES = ("miou", "f1")  # the scores the paper's ablation tables print


def _paper_values(table: str, column: str) -> pd.Series:
    from lwirst.paper import load_table

    paper = load_table(table)
    return paper.set_index("preset")[column].astype(float) if column in paper else pd.Series(dtype=float)


def _tau(paper: pd.Series, measured: pd.Series) -> tuple[float, float, int]:
    from scipy.stats import kendalltau

    both = pd.concat([paper, measured], axis=1).dropna()
    if len(both) < 2 or both.iloc[:, 0].nunique() < 2 or both.iloc[:, 1].nunique() < 2:
        return math.nan, math.nan, len(both)
    tau, p = kendalltau(both.iloc[:, 0], both.iloc[:, 1])
    return float(tau), float(p), len(both)


def predicted_nothing(runs: pd.DataFrame, when: str) -> pd.Series:
    """Runs that found no target and raised no false-alarm pixel (Pd and Fa 0 at `when`, "best" or "final"): a
    network collapsed to the background. False where the CSV cannot tell (no Pd or Fa column)."""
    pd_, fa = f"{when}_pd", f"{when}_fa"
    if pd_ not in runs or fa not in runs:
        return pd.Series(False, index=runs.index)
    return runs[pd_].eq(0) & runs[fa].eq(0)


def report(frame: pd.DataFrame, tables: Sequence[str] = (), metric: str = "best_miou") -> str:
    """Per table and schedule: paper vs measured ranking, Kendall tau, and whether the paper's choice wins."""
    spec = _spec(metric)
    if metric not in frame.columns:
        raise LwirstError(f"these sweep results hold no {metric} column (written before that score was recorded); "
                          "choose another --metric")
    lower = spec.better == "lower"
    when = metric.split("_")[0]
    wanted = [str(t).upper() for t in tables] or list(TABLES)
    label = {"best": "at the best-validation epoch", "final": "after the last epoch"}[when]
    name = spec.label + (" (lower is better)" if lower else "")
    fmt = f".{spec.decimals}f"  # means and spreads as the metric's row prints them (Fa in units of 1e-6)
    blocks = []
    # one block per table, schedule and data: runs on other data or splits are other experiments, never averaged
    # in (the block named the first row's data for all of them)
    experiment = [c for c in ("table", "schedule", *EXPERIMENT_DATA) if c in frame.columns]  # val_split: if recorded
    for (table, schedule, *_), runs in frame.groupby(experiment, sort=False):
        if table not in wanted:
            continue
        seeds = sorted(runs["seed"].unique().tolist())
        empty = predicted_nothing(runs, when)
        lost = empty.groupby(runs["preset"]).sum()
        unscored = runs[metric].isna()  # a CSV written before this score was recorded, stacked with a newer one
        keep = ~unscored
        if lower:  # predicting nothing scores a perfect false-alarm rate: such runs are not ranked on it
            keep &= ~empty
        group = runs[keep]
        stats = group.groupby("preset")[metric].agg(["mean", "std", "count"])
        paper = _paper_values(table, spec.key).reindex(stats.index) if spec.key in PAPER_SCORES else None
        measured_rank = stats["mean"].rank(ascending=lower, method="min")
        order = stats.index
        if paper is not None:
            paper_rank = paper.rank(ascending=False, method="min")
            order = paper_rank.sort_values(na_position="last").index
        val = runs["val_split"].iloc[0] if "val_split" in runs.columns else ""
        lines = [f"Table {table}: test {name} {label}; {runs['dataset'].iloc[0]} "
                 f"{runs['train_split'].iloc[0]} -> {runs['test_split'].iloc[0]}"
                 f"{f' (best epoch on {val})' if val else ''}; "
                 f"schedule {schedule}; "
                 f"seeds {', '.join(str(s) for s in seeds)}",
                 f"  {'paper':>5} {'here':>4}  {'preset':26s} {'paper':>7}  measured (mean ± sd, n)"]
        if unscored.any():
            lines.append(f"  {int(unscored.sum())} run(s) recorded no {metric}: left out")
        for preset in order:
            s = stats.loc[preset]
            spread = f"{s['std'] * spec.scale:{fmt}}" if s["count"] > 1 else "  -   "
            p_rank = f"{paper_rank[preset]:.0f}" if paper is not None and not math.isnan(paper[preset]) else "-"
            p_val = f"{paper[preset]:.4f}" if paper is not None and not math.isnan(paper[preset]) else "   -   "
            gone = int(lost.get(preset, 0))
            note = (f"; {gone} run(s) predicting nothing left out" if lower else f"; {gone} run(s) predicted nothing"
                    ) if gone else ""
            lines.append(f"  {p_rank:>5} {measured_rank[preset]:4.0f}  {preset:26s} {p_val:>7}  "
                         f"{s['mean'] * spec.scale:{fmt}} ± {spread} ({s['count']:.0f}{note})")
        if dropped := sorted(set(runs["preset"]) - set(stats.index)):
            lines.append(f"  not ranked: {', '.join(dropped)} (each of its runs predicted nothing, no target and no "
                         f"false-alarm pixel, or recorded no {metric})")
        if paper is not None:
            tau, p, n = _tau(paper, stats["mean"])
            lines.append(f"  Kendall tau (paper vs measured, {n} preset{'s' if n != 1 else ''}): "
                         + ("undefined" if math.isnan(tau) else f"{tau:+.2f} (p = {p:.2f})"))
        chosen = chosen_variant(table)
        if chosen in dropped:
            lines.append(f"  paper's choice {chosen}: not ranked, so no verdict on it")
        elif chosen in stats.index and len(stats) > 1:
            leaders = [str(p) for p in stats.index[measured_rank == 1]]
            others = stats["mean"].drop(chosen)
            gap = stats.loc[chosen, "mean"] - (others.min() if lower else others.max())
            tied = [p for p in leaders if p != chosen]
            verdict = (("ties for first here (with " + ", ".join(tied) + ")" if tied else "ranks first here")
                       if chosen in leaders else f"does not rank first here (best: {', '.join(leaders)})")
            lines.append(f"  paper's choice {chosen}: rank {measured_rank[chosen]:.0f} of {len(stats)}, "
                         f"{gap * spec.scale:+{fmt}} vs the best other row -> {verdict}")
            comparisons = paired_comparisons(group, chosen, metric, lower_is_better=lower)
            lines += ["    " + c.sentence(chosen, spec.scale, fmt) for c in comparisons]
            lines.append(f"  verdict on the paper's choice (paired by seed, one-sided t-test at {ALPHA:g}): "
                         f"{table_verdict(comparisons)}")
        epochs = int(group["epochs"].max()) if "epochs" in group and group["epochs"].notna().any() else None
        if epochs is not None and epochs < UNCONVERGED_EPOCHS:
            lines.insert(1, f"  a short screening schedule ({count_text(epochs, 'epoch')}, under "
                            f"{UNCONVERGED_EPOCHS}): far from converged, so this ranks the schedule's first steps, "
                            "not the paper's networks")
        blocks.append("\n".join(lines))
    if not blocks:
        raise LwirstError(f"no results for table(s) {', '.join(wanted)}")
    return "\n\n".join(blocks)

