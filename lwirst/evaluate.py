"""Scoring a model on a dataset split, with results cached on disk.

The protocol (input size, resize or native, threshold, backend) is part of every
result, with the protocol each image actually ran with ("auto" decides per image:
`AppliedProtocol`). Scores are computed at each image's own resolution: the segmenter
returns logits at the input size, whichever protocol ran the network.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import importlib.util
import json
import logging
import os
import shutil
import time
import zipfile
import zlib
from collections import ChainMap, Counter, deque
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import numpy as np
import pandas as pd

from lwirst import jsonio
from lwirst.checkpoint import atomic_write
from lwirst.consensus import cut_masks
from lwirst.datasets import Sample, SegDataset, fingerprints
from lwirst.errors import LwirstError
from lwirst.eval_protocol import PD_AT_FA_BUDGET, PDFA_THRESHOLDS, RESULT_FIELDS, EvalProtocol, FrameTally, RunSpec
from lwirst.evalcache import bound, mark_used, prepare, share_maps
from lwirst.inference import Segmenter, consensus_input, frame_clearance, large_frame, network_input, runs
from lwirst.maps import MAPS_FILE, HeldMaps, PartialMaps, StoredMaps, write_maps
from lwirst.metrics import (
    NIOU_CONVENTION,
    CurveMetric,
    FrameAlarms,
    PdFa,
    PixelMetrics,
    TargetScores,
    image_record,
    pd_at_false_alarm_rate,
)
from lwirst.paper import PAPER_SIZE
from lwirst.paths import CACHE_ENV as CACHE_ENV
from lwirst.postprocess import GROW_TO, NO_FILTER, TargetFilter, describe_growth, describe_threshold, detect
from lwirst.predictions import PredictionFolder, saturated
from lwirst.rounding import round_floats
from lwirst.saliency import Saliency
from lwirst.scoring import (
    OPERATOR,
    SUMMARY,
    image_results,
    metric_spec,
    metric_specs,
    plugin_metrics,
    plugin_results,
    view_keys,
)

log = logging.getLogger(__name__)

CACHE_SCHEMA = 10  # bump when the key or the stored result changes meaning (3: operator metrics, 4: plugin metrics,
# 5: palette frames decoded, 6: mask growth, 7: growth never joins targets, 8: AUC/AP with split end bins,
# 9: the protocol records the protocols applied, 10: and the mask growth)

READ_AHEAD = 2  # maps read and thresholded on threads while the one before is scored (`rescore`): a Failures
# slider step on 600 frames of up to 1280x1024 took 6.1 s one map at a time, 3.8 s two ahead (2 idle cores; as
# long with one, the same CPU seconds)
_T = TypeVar("_T")

RESULT_FILES = ("curves.json", "per_image.csv", "metrics.json")  # a stored result's files, in the order written
TEXT_COLUMNS = ("name", "missed_peaks", "protocol")  # per_image.csv's columns that are not numbers


def sweep_thresholds(threshold: float) -> np.ndarray:
    """The Pd-Fa sweep's logit thresholds: the fixed grid and the run's own, so that Pd at a fixed false-alarm
    rate is never below a run's operating point that meets the budget (a threshold off the grid read 0)."""
    return np.union1d(PDFA_THRESHOLDS, [round(float(threshold), 3)])


def cache_root() -> Path:
    return Path(os.environ.get(CACHE_ENV, Path.home() / ".cache" / "lwirst")) / "eval"


@dataclass
class EvalResult:
    """Dataset metrics, per-image table, curves and the protocol that produced them.

    `metrics` holds the metric table's keys (`lwirst.scoring`, where each is defined). `per_image` has one row
    per image: name; iou (its pixel IoU); targets, detected, missed and false_alarms (target counts, the
    DNANet centroid rule); fa_pixels (predicted pixels outside every target); peak (the image's highest logit);
    missed_peaks (each missed target's peak logit, ";"-joined text); height and width; protocol (as it ran).
    """

    metrics: dict[str, float]
    per_image: pd.DataFrame
    curves: dict[str, list[float]] = field(repr=False)  # hundreds of points: a notebook shows the rest
    protocol: EvalProtocol
    saliency: Mapping[str, np.ndarray] = field(default_factory=dict, repr=False)  # logits by image (`lwirst.maps`)
    cached: bool = False  # served from the evaluation cache (its fps are the earlier run's); never stored

    def save(self, directory: str | Path, digits: int | None = None) -> Path:
        """Every file of the result, metrics.json last: it marks a whole result (the cache and `load` take a
        folder without it for one that was never finished, e.g. a full disk or a kill mid-save). `digits`: the
        significant digits metrics.json keeps of each float (None: every one, as the cache stores them)."""
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        atomic_write(directory / "curves.json", lambda p: p.write_text(jsonio.dumps(self.curves)))
        atomic_write(directory / "per_image.csv", lambda p: self.per_image.to_csv(p, index=False))
        if isinstance(self.saliency, StoredMaps):  # the maps of a stored result (scored again): the file as it is
            atomic_write(directory / MAPS_FILE, lambda path: shutil.copyfile(self.saliency.path, path))
        elif self.saliency:
            atomic_write(directory / MAPS_FILE, lambda path: write_maps(path, self.saliency))
        # the other files' sizes and a digest of the figures: a file cut short or a figure edited since (a disk
        # error, a hand edit) marks the result damaged before anything reads it (`is_stored`), so no page shows
        # its cards from metrics.json alone
        sizes = {name: (directory / name).stat().st_size for name in (*RESULT_FILES[:-1], MAPS_FILE)
                 if (directory / name).is_file()}
        # the code that scored it (`code_signature`): a view listing the cache shows only the current code's results
        summary: dict[str, Any] = {"metrics": self.metrics, "protocol": self.protocol.to_json(), "files": sizes,
                                   "code": code_signature()}
        if digits is not None:  # for people to read; the cache keeps every digit, so it reads back the fresh result
            summary = round_floats(summary, digits)  # type: ignore[assignment]
        text = jsonio.dumps({**summary, "digest": _result_digest(summary, directory)}, indent=2)
        atomic_write(directory / "metrics.json", lambda p: p.write_text(text))
        return directory

    @classmethod
    def load(cls, directory: str | Path) -> EvalResult:
        directory = Path(directory)
        try:
            summary = json.loads((directory / "metrics.json").read_text())
            curves = json.loads((directory / "curves.json").read_text())
            per_image = pd.read_csv(directory / "per_image.csv", keep_default_na=False)
            if not (isinstance(summary, dict) and isinstance(summary.get("metrics"), dict)
                    and isinstance(summary.get("protocol"), dict) and isinstance(curves, dict)):
                raise ValueError("metrics.json or curves.json is not an evaluation's")
            missing = sorted(set(RESULT_FIELDS) - set(summary["protocol"]))
            if missing or "name" not in per_image.columns:
                raise ValueError(f"its protocol lacks {', '.join(missing)}" if missing
                                 else "per_image.csv has no image names")
            protocol = EvalProtocol.from_json(summary["protocol"])
            maps = directory / MAPS_FILE
            saliency: Mapping[str, np.ndarray] = StoredMaps(maps) if maps.exists() else {}  # read when asked for
        except (OSError, ValueError, KeyError, TypeError, EOFError, zipfile.BadZipFile, zlib.error) as exc:
            raise LwirstError(f"{directory}: not a readable evaluation result ({exc})") from exc
        for column in per_image.columns.difference(TEXT_COLUMNS):  # CSV's "" (a NaN, e.g. a plugin's) is NaN
            per_image[column] = pd.to_numeric(per_image[column].replace("", np.nan), errors="coerce")
        metrics = {k: jsonio.nan_for_null(v) for k, v in summary["metrics"].items()}  # null: an undefined metric
        curves = {k: jsonio.nan_for_null(v) for k, v in curves.items()}
        return cls(metrics, per_image, curves, protocol, saliency)


@dataclass(frozen=True)
class FrameFlops:
    """FLOPs per frame as a run fed its frames to the network. The network is fully convolutional, so a
    frame costs the FLOPs counted at `PAPER_SIZE` (256×256) scaled by its network input's pixel count.

    mean: per frame over the run; by_input: network input (height, width) -> (images, FLOPs per frame),
    most images first.
    """

    mean: float
    by_input: dict[tuple[int, int], tuple[int, float]]

    @property
    def at_paper_size(self) -> bool:
        """Whether every frame ran at the size the FLOPs are counted at."""
        return set(self.by_input) == {PAPER_SIZE}


def frame_flops(result: EvalResult, flops: float | None) -> FrameFlops | None:
    """The FLOPs per frame `result`'s images ran at, from each image's size and applied protocol, given
    the model's FLOPs at `PAPER_SIZE`; None without FLOPs or without a network (saved predictions)."""
    applied = result.protocol.applied
    table = result.per_image
    if not flops or applied is None or table.empty or not set(table["protocol"]) <= {"resize", "native", "pyramid"}:
        return None
    frames = [((int(h), int(w)), str(p)) for h, w, p in zip(table["height"], table["width"], table["protocol"],
                                                              strict=True)]
    per_frame = [(hw, runs(hw, p, applied.size)) for hw, p in frames]
    fed = [run for _, frame_runs in per_frame for run in frame_runs]
    inputs = Counter(network_input(hw, view, applied.size) for hw, view in fed)
    confirm = applied.settings.confirm
    if confirm:  # each run was repeated enlarged, natively (padded)
        inputs.update(network_input(consensus_input(hw, view, applied.size, confirm), "native", applied.size)
                      for hw, view in fed)
    if applied.settings.mirror:  # each run of a large frame was repeated mirrored, at its own input size
        inputs.update(network_input(hw, view, applied.size) for frame_hw, frame_runs in per_frame
                      if large_frame(frame_hw, applied.size) for hw, view in frame_runs)
    scale = flops / (PAPER_SIZE[0] * PAPER_SIZE[1])
    by_input = {hw: (n, hw[0] * hw[1] * scale) for hw, n in inputs.most_common()}
    mean = sum(n * cost for n, cost in by_input.values()) / len(frames)
    return FrameFlops(mean, by_input)


def _fingerprints(dataset: SegDataset) -> tuple[str, ...]:
    """The content fingerprints of a file-backed split (its own first, `lwirst.datasets.fingerprints`), or of an
    in-memory one (a suite part) by its own rule."""
    own = getattr(dataset, "fingerprint", None)
    return (own(),) if callable(own) else fingerprints(dataset)


def data_fingerprint(dataset: SegDataset) -> str:
    """The short content fingerprint an evaluation records for its data (`EvalProtocol.data_fingerprint`)."""
    return _fingerprints(dataset)[0][:16]


def data_fingerprints(dataset: SegDataset) -> tuple[str, ...]:
    """The short fingerprints of every recorded result that holds for `dataset` (its own first)."""
    return tuple(digest[:16] for digest in _fingerprints(dataset))


def tree_digest(folder: Path) -> str:
    """A digest of the names and contents of every .py file under `folder`."""
    digest = hashlib.sha256()
    for path in sorted(folder.rglob("*.py")):
        digest.update(path.relative_to(folder).as_posix().encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()[:16]


@functools.cache
def code_signature() -> str:
    """The `tree_digest` of the lwirst package (models, metrics and their plugins, post-processing,
    backends), with that of every registered model, backend or metric module kept outside it: a result
    computed by other code, such as a model or metric being edited, is never served from the cache."""
    package = Path(__file__).resolve().parent
    outside = sorted({source for source in map(_module_source, registered_modules())
                      if source is not None and not source.is_relative_to(package)})
    if not outside:
        return tree_digest(package)
    digest = hashlib.sha256(tree_digest(package).encode())
    for source in outside:  # a package's whole folder, a module's file
        digest.update(str(source).encode() + b"\0" + (tree_digest(source) if source.is_dir() else
                                                      hashlib.sha256(source.read_bytes()).hexdigest()).encode())
    return digest.hexdigest()[:16]


def registered_modules() -> list[str]:
    """The modules of the three registries: architectures, backends and metric plugins (installed ones too)."""
    from lwirst import backends, models, scoring

    return [*models.modules().values(), *backends.modules().values(), *scoring.plugin_modules()]


def _module_source(name: str) -> Path | None:
    """The file of a module (the folder of a package), found without running the module itself (a dotted name's
    package is imported); None when it has none or cannot be found."""
    try:  # a dotted name imports its package: one that fails is the registry's one-line error when it is used
        spec = importlib.util.find_spec(name)
    except Exception:
        return None
    if spec is None or not spec.origin or not Path(spec.origin).is_file():
        return None
    origin = Path(spec.origin).resolve()
    return origin.parent if spec.submodule_search_locations else origin


def _maps_key(segmenter: Segmenter, dataset: SegDataset) -> str:
    """What an evaluation's maps are a function of (`cache_keys` less the threshold, growth and filter, which
    only score them): the key of the maps an interrupted run kept."""
    info = segmenter.describe()
    parts = [f"schema{CACHE_SCHEMA}", f"code{code_signature()}", info.hash, ",".join(dataset.names), info.backend,
             info.protocol, str(info.recorded_size), f"palettes={info.palettes}", *info.settings.key_parts()]
    return hashlib.sha256("|".join([_fingerprints(dataset)[0], *parts]).encode()).hexdigest()[:20]


MAPS_MARK = "maps-"  # a stored result's empty file named for the key of its maps (`_maps_key`)


def _stored_maps(maps_key: str) -> EvalResult | None:
    """The cached result, newest first, of the maps `maps_key` names (the same model, data, protocol and code
    at another threshold, growth or filter), or None: its maps are scored again instead of running the
    network, as a dashboard does (`rescore_result`)."""
    marks = [mark for mark in cache_root().glob(f"*/{MAPS_MARK}{maps_key}")
             if not mark.parent.name.startswith(".")]
    for mark in sorted(marks, key=_mtime, reverse=True):
        result = read_cached(mark.parent)
        if result is not None and isinstance(result.saliency, StoredMaps):
            log.info("scoring the maps of the cached evaluation %s again (no network)", mark.parent)
            return result
    return None


def _mtime(path: Path) -> float:
    try:
        return path.parent.stat().st_mtime
    except OSError:  # removed meanwhile (the cache keeps within its bound)
        return 0.0


def cache_key(segmenter: Segmenter, dataset: SegDataset, threshold: float, grow_to: float | None = GROW_TO,
              target_filter: TargetFilter = NO_FILTER) -> str:
    """Key on model content, the data's content fingerprint (resolved paths, sizes, mtimes, split
    list, not the name it was reached by), protocol, scale consensus, threshold, mask growth, Eq. 4 filter, the
    cache schema and the code (`code_signature`)."""
    keys = cache_keys(segmenter, dataset, threshold, grow_to, target_filter)
    return keys[0] if keys else ""


def cache_keys(segmenter: Segmenter, dataset: SegDataset, threshold: float, grow_to: float | None = GROW_TO,
               target_filter: TargetFilter = NO_FILTER) -> tuple[str, ...]:
    """The keys of every cached result that holds for this evaluation (`cache_key`'s first; then that of the
    same split read without a mask threshold, `lwirst.datasets.fingerprints`); () for a model without a hash."""
    info = segmenter.describe()
    if not info.hash:
        return ()
    parts = [f"schema{CACHE_SCHEMA}", f"code{code_signature()}", info.hash, ",".join(dataset.names), info.backend,
             info.protocol, str(info.recorded_size), f"{threshold:g}", f"palettes={info.palettes}", f"grow={grow_to}"]
    parts += info.settings.key_parts()  # a plain run keeps the key it had before these switches existed
    if target_filter.active:  # an unfiltered run keeps the key it had before evaluate took a filter
        parts.append(f"filter={target_filter.key}")
    return tuple(hashlib.sha256("|".join([data, *parts]).encode()).hexdigest()[:20] for data in _fingerprints(dataset))


def evaluate(segmenter: Segmenter, dataset: SegDataset, *, threshold: float = 0.0,
             progress: Callable[[int, int], None] | None = None, use_cache: bool = True,
             keep_saliency: bool = True, grow_to: float | None = GROW_TO,
             target_filter: TargetFilter = NO_FILTER, storing: Callable[[], None] | None = None) -> EvalResult:
    """Run `segmenter` over `dataset` and score it (cached by `cache_key`). `threshold` is a logit, as the maps
    are (0, the default, is probability 0.5; `lwirst.postprocess.threshold_from_probability` converts one),
    unlike the command line's `--threshold`, which takes the probability. With `target_filter` only the targets
    within its Eq. 4 bounds are scored, as `lwirst segment` keeps them.

    Cached, each image's map is kept on disk as it is computed (`lwirst.maps.PartialMaps`), not in memory: a run
    stopped by Ctrl-C or SIGTERM raises `EvaluationInterrupted`, and the next run of the same model and data
    (at any threshold or filter) scores those maps instead of running the network on them again. `storing` is
    called before the result and its maps are written to the cache (a minute on large sets).
    keep_saliency: whether the result hands its maps back (read from the cache when asked for; a cached run stores
    them either way)."""
    keys = cache_keys(segmenter, dataset, threshold, grow_to, target_filter) if use_cache else ()
    for key in keys:
        result = read_cached(cache_root() / key)
        if result is not None:
            log.info("evaluation cache hit %s", cache_root() / key)
            # the same content, maybe in another file, reached by another dataset name or split label
            result.protocol = result.protocol.renamed(segmenter.describe().model, dataset.name, dataset.split)
            result.cached = True
            return result
    maps_key = _maps_key(segmenter, dataset) if keys else ""
    if keys:
        prepare(cache_root())  # before the run or the scoring: a bad bound refused now, not after it
        if (source := _stored_maps(maps_key)) is not None:
            result = rescore_result(source, dataset, threshold, grow_to, progress, target_filter)
            if storing is not None:
                storing()
            store(result, cache_root() / keys[0], maps=maps_key)
            if not keep_saliency:
                result.saliency = {}
            return result
    cost = segmenter.complexity
    run = dataclasses.replace(segmenter.describe(), params=cost.params if cost else None,
                              flops=cost.flops if cost else None)  # so a comparison places it without the file
    if not keys:
        return _score(dataset, lambda sample: segmenter.predict(sample.image), run, threshold,
                      grow_to, progress=progress, keep_saliency=keep_saliency, target_filter=target_filter)
    cached = cache_root() / keys[0]
    partial = PartialMaps(cache_root() / f".partial-{maps_key}")
    resuming = _Resuming(segmenter, partial)
    if partial:  # said where the command line shows it: the interrupted run told the user it would go on
        log.warning("going on from the %d map(s) an interrupted run kept; the network runs on the other images",
                    len(partial))
    try:
        result = _score(dataset, resuming.predict, run, threshold, grow_to, progress=progress,
                        keep_saliency=False, target_filter=target_filter)
    except KeyboardInterrupt:
        raise EvaluationInterrupted(len(partial), len(dataset), partial.folder) from None
    if resuming.kept:  # the network ran on the others only: their rate is the model's
        result.metrics["fps"] = (resuming.computed / resuming.seconds if resuming.computed and resuming.seconds
                                 else float("nan"))
    result.saliency = resuming.maps  # stored with the result whether or not the caller keeps them
    if storing is not None:
        storing()
    store(result, cached, spent=partial, maps=maps_key)  # not stored (a full disk): the maps stay for a later run
    if is_stored(cached):
        result.saliency = StoredMaps(cached / MAPS_FILE, check=False)
    if not keep_saliency:
        result.saliency = {}
    return result


class EvaluationInterrupted(KeyboardInterrupt):
    """An evaluation stopped (Ctrl-C, SIGTERM) after `kept` of `total` images' maps were kept in `folder`:
    the same evaluation goes on from them."""

    def __init__(self, kept: int, total: int, folder: Path) -> None:
        super().__init__(f"interrupted with the maps of {kept} of {total} images kept")
        self.kept, self.total, self.folder = kept, total, folder


# What an evaluation keeps of each image's map besides the logits: what `_score` reads of a `Saliency`.
_KEPT_FIELDS = {"protocol": str, "backend": str, "palette": str, "confirm": (float, int, type(None)),
                "mirrored": bool, "as_colour": bool, "clearance": (float, int)}


class _Resuming:
    """A segmenter's predictions kept as each is made (`PartialMaps`), and those an interrupted run kept read
    back instead of run again: exactly the maps it scored (float32). Where the cache cannot be written (a full
    disk), the maps are held in memory and the run goes on."""

    def __init__(self, segmenter: Segmenter, partial: PartialMaps) -> None:
        self.segmenter, self.partial = segmenter, partial
        self.held = HeldMaps()
        self.kept = self.computed = 0
        self.seconds = 0.0

    @property
    def maps(self) -> Mapping[str, np.ndarray]:
        """Every map of the run, where it is kept."""
        return ChainMap(self.partial, self.held) if self.held else self.partial

    def predict(self, sample: Sample) -> Saliency:
        about = self.partial.about(sample.name)
        logits = self.partial.get_map(sample.name, sample.mask.shape[:2]) if about is not None else None
        if about is not None and logits is not None and all(
                isinstance(about.get(key), kinds) for key, kinds in _KEPT_FIELDS.items()):
            self.kept += 1
            return Saliency(logits, **{key: about[key] for key in _KEPT_FIELDS})
        start = time.perf_counter()
        predicted = self.segmenter.predict(sample.image)
        self.seconds += time.perf_counter() - start
        self.computed += 1
        try:
            self.partial.add(sample.name, predicted.logits, {key: getattr(predicted, key) for key in _KEPT_FIELDS})
        except OSError as exc:
            if not self.held:
                log.warning("%s: the maps cannot be kept on disk (%s); they are held in memory, and an interrupted "
                            "run would start again", self.partial.folder, exc.strerror or exc)
            self.held.add(sample.name, predicted.logits)
        return predicted


def _result_digest(summary: Mapping[str, Any], folder: Path) -> str:
    """A stored result's digest: its metrics.json content (less the digest) and its small files' bytes; the
    saliency maps are checked by their size here and by their zip's CRCs when read."""
    as_read = json.loads(jsonio.dumps(summary))  # as metrics.json reads back: keys are strings, tuples lists
    digest = hashlib.sha256(json.dumps(as_read, sort_keys=True).encode())
    for name in RESULT_FILES[:-1]:
        digest.update((folder / name).read_bytes())
    return digest.hexdigest()


def shown_iou(table: pd.DataFrame) -> pd.DataFrame:
    """A per-image table with IoU as people read it (the pages, the command line's and the dashboard's
    exports): undefined (NaN, "n/a", an empty CSV cell) on a target-free image where nothing was found, whose
    record keeps 1 (nIoU's convention, which the tables read as a perfect score: 464 clean empty frames read
    IoU 1.0000 there and n/a on Single frame); 0 where it alarmed."""
    clean_empty = (table["targets"] == 0) & (table["false_alarms"] == 0)
    return table.assign(iou=table["iou"].where(~clean_empty))


def stored_summary(folder: Path) -> dict[str, Any] | None:
    """The parsed metrics.json of a whole stored result, as `EvalResult.save` wrote it: every file (metrics.json is
    written last), each of the size metrics.json recorded, and its digest unchanged (a result saved before
    sizes and digests were recorded: every file present); None for anything else."""
    if not all((folder / name).is_file() for name in RESULT_FILES):
        return None
    try:
        summary = json.loads((folder / "metrics.json").read_text())
        digest = summary.pop("digest", None)
        if not all((folder / name).stat().st_size == size for name, size in summary.get("files", {}).items()):
            return None
        return summary if digest is None or digest == _result_digest(summary, folder) else None
    except (OSError, ValueError, AttributeError, TypeError):
        return None


def is_stored(folder: Path) -> bool:
    """Whether `folder` holds a whole stored result (`stored_summary`)."""
    return stored_summary(folder) is not None


def read_cached(folder: Path) -> EvalResult | None:
    """The result cached in `folder`, or None: none stored there, or a damaged one (a kill or a full disk
    mid-save, a hand edit), which is then evaluated again and stored whole, where it once failed every run."""
    if not (folder / "metrics.json").is_file():  # written last: without it, never finished
        return None
    if not is_stored(folder):
        log.warning("ignoring a damaged cached evaluation in %s (a file missing, cut short or edited); it is "
                    "evaluated again", folder)
        return None
    try:
        result = EvalResult.load(folder)
    except LwirstError as exc:
        log.warning("ignoring a damaged cached evaluation (%s); it is evaluated again", exc)
        return None
    mark_used(folder)  # the last to go when the cache is over its bound
    return result


def store(result: EvalResult, folder: Path, spent: PartialMaps | None = None, maps: str = "") -> None:
    """Cache a result, its maps shared with any result of the same maps (`lwirst.evalcache.share_maps`), then
    remove `spent` (the maps it was scored from, kept as they were computed) and the least recently used
    results while the cache is over its bound (`lwirst.evalcache.bound`). `maps`: the key of its maps
    (`_maps_key`), marked in the folder so that another threshold or filter finds them (`_stored_maps`). A
    failed write (a full disk) is a warning, never the loss of the result just scored, and leaves no folder the
    cache would take for one."""
    # Written beside it, then renamed into place: two runs of one key (two visitors pressing Run together) each
    # wiped the folder the other was writing, and neither result was cached.
    staging = folder.with_name(f".{folder.name}.{os.getpid()}.{time.monotonic_ns()}")
    try:
        result.save(staging)
        if maps and result.saliency:
            (staging / f"{MAPS_MARK}{maps}").touch()
        share_maps(staging / MAPS_FILE, folder.parent)
        _place(staging, folder)
    except OSError as exc:
        log.warning("the evaluation was not cached (%s: %s); its results stand", folder, exc.strerror or exc)
        return
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    if spent is not None:
        spent.remove()
    bound(folder.parent, keep=folder)


def _place(staging: Path, folder: Path) -> None:
    """Move a result written in `staging` to `folder`, unless a whole one is there (the same, stored first by
    another run): a complete result stays readable, and the rename fails on it."""
    try:
        staging.rename(folder)
    except OSError:
        if read_cached(folder) is not None:
            return
        shutil.rmtree(folder, ignore_errors=True)  # a damaged or unfinished one (a run killed mid-save)
        staging.rename(folder)


AS_SAVED = "as saved"  # `evaluate_predictions`' default growth: the one the files were drawn with


def evaluate_predictions(predictions: str | Path, dataset: SegDataset, *, threshold: float = 0.0,
                         progress: Callable[[int, int], None] | None = None,
                         grow_to: float | str | None = AS_SAVED,
                         target_filter: TargetFilter = NO_FILTER) -> EvalResult:
    """Score another method's saved masks or maps (`lwirst.predictions`) with the same metrics as a model.

    By default masks grow as the files were drawn: another method's are the pixels above the threshold (the
    paper's Eq. 2; mask growth is this project's post-processing, and grown, its maps would score masks it
    never drew), an `lwirst segment` output's grow as that run grew them. A logit, or None, overrides it.
    Not cached: the files are read, not computed."""
    folder = PredictionFolder(predictions, dataset.names)
    if grow_to == AS_SAVED:
        grow_to = folder.growth
    binary = 0  # saved binary masks, whose "curves" are one operating point

    def predict(sample: Sample) -> Saliency:
        nonlocal binary
        saved = folder.saliency(sample.name, sample.mask.shape[:2])
        binary += saturated(saved.logits)
        return saved

    result = _score(dataset, predict, folder.describe(), threshold, grow_to, progress=progress,
                    keep_saliency=False, timed=False, target_filter=target_filter)
    result.protocol = dataclasses.replace(result.protocol, binary_predictions=binary)
    return result


def _score(dataset: SegDataset, predict: Callable[[Sample], Saliency], run: RunSpec, threshold: float,
           grow_to: float | None, *, progress: Callable[[int, int], None] | None, keep_saliency: bool,
           timed: bool = True, target_filter: TargetFilter = NO_FILTER, known: EvalResult | None = None
           ) -> EvalResult:
    """Every metric over `dataset` of the maps `predict` gives (fps only when `timed`: a model ran).

    Threshold metrics score the detected targets' masks (`detect`: grown to `grow_to`) that pass
    `target_filter`; the Pd-Fa sweep scores the logits at each of its thresholds, without growth, or with an
    active filter the targets that pass it as the headline's do (grown, so that the filter sees the sizes
    `lwirst segment` reports, and the sweep's point at this threshold is the headline's); the ROC and PR curves
    score the map's pixels, which no target filter reaches.

    known: a result of the same maps: its ROC and PR curves, which no threshold, growth or filter changes, and,
    scored through the same growth and filter, its Pd-Fa points at the thresholds both sweep, are taken from it
    (on 600 frames of up to 1280x1024 scoring again took 146 s, most of it the sweep's 17 thresholds)."""
    pixel, pdfa, alarms = PixelMetrics(), PdFa(), FrameAlarms()
    curve = CurveMetric(bins=1000, logits=True) if known is None else None
    reused = _known_points(known, grow_to, target_filter) if known is not None else {}
    sweep = [PdFa(float(t)) for t in sweep_thresholds(threshold) if float(t) not in reused]
    pixels = 0
    plugins, per_frame = plugin_metrics(0.5), plugin_metrics(0.5)
    rows, saliency = [], HeldMaps()
    tally = FrameTally()
    model_seconds = 0.0
    for index in range(len(dataset)):
        sample = dataset.load(index)
        start = time.perf_counter()
        predicted = predict(sample)
        model_seconds += time.perf_counter() - start
        logits = predicted.logits
        mask = sample.mask
        tally.add(predicted)
        found = detect(logits, threshold, grow_to).filter(target_filter).mask
        for metric in (pixel, pdfa, *plugins):
            metric.update(found, mask)
        if curve is not None:
            curve.update(logits, mask)
        pixels += mask.size
        for metric in sweep:
            metric.update(_swept(logits, metric.threshold, target_filter, grow_to), mask)
        record = image_record(found, mask, saliency=logits)
        alarms.add_frame(record.false_alarms, record.targets)  # the record's matching, not a second one
        rows.append({
            "name": sample.name, "iou": record.iou, "targets": record.targets, "detected": record.detected,
            "missed": record.missed, "false_alarms": record.false_alarms, "fa_pixels": record.fa_pixels,
            "peak": float(logits.max()),
            "missed_peaks": ";".join(f"{v:.3f}" for v in record.missed_saliency),
            "height": int(mask.shape[0]), "width": int(mask.shape[1]), "protocol": predicted.protocol,
            **image_results(per_frame, found, mask),
        })
        if keep_saliency:
            saliency.add(sample.name, logits)
        if progress:
            progress(index + 1, len(dataset))

    swept = {m.threshold: m.compute() for m in sweep} | reused
    points = [swept[float(t)] for t in sweep_thresholds(threshold)]
    mask = _mask_metrics(pixel, pdfa)
    if curve is not None:
        cv = curve.compute()
        step = max(1, len(cv.fpr) // 400)
        auc, ap, pixel_curves = cv.auc, cv.ap, {
            "roc_fpr": cv.fpr[::step].tolist(), "roc_tpr": cv.tpr[::step].tolist(),
            "pr_recall": cv.recall[::step].tolist(), "pr_precision": cv.precision[::step].tolist()}
    else:
        assert known is not None
        auc, ap = known.metrics["auc"], known.metrics["ap"]
        pixel_curves = {key: known.curves[key] for key in PIXEL_CURVES}
    metrics = {  # the pixel metrics, the curves', then the targets' (metrics.json's order since its first runs)
        **{key: mask[key] for key in ("precision", "recall", "f1", "miou", "niou", "pd", "fa")},
        "auc": auc, "ap": ap, **mask, "images": len(dataset),
        "fps": len(dataset) / model_seconds if model_seconds and timed else float("nan"),
        **alarms.compute().as_metrics(),
        "pd_at_fa": pd_at_false_alarm_rate(points, len(dataset), PD_AT_FA_BUDGET),
        **plugin_results(plugins),
    }
    curves = {
        **pixel_curves, "pdfa_threshold": sweep_thresholds(threshold).tolist(),
        "pdfa_pd": [p.pd for p in points], "pdfa_fa": [p.fa for p in points],
        # the counts behind each point, so that a result scored again reuses them (`_known_points`)
        "pdfa_detected": [p.detected for p in points], "pdfa_false_alarms": [p.false_alarms for p in points],
        "pdfa_fa_pixels": [p.fa_pixels for p in points], "pdfa_pixels": [pixels],
    }
    masks = describe_growth(grow_to) + cut_masks(threshold, run.settings.confirm, run.settings.mirror,
                                                 tally.margin(run))
    protocol = EvalProtocol(run, threshold, grow_to, masks + tally.margin_text(run), dataset.name, dataset.split,
                            data_fingerprint(dataset), tally.record(run), target_filter=target_filter)
    return EvalResult(metrics, pd.DataFrame(rows), curves, protocol, saliency)


PIXEL_CURVES = ("roc_fpr", "roc_tpr", "pr_recall", "pr_precision")


def _known_points(known: EvalResult, grow_to: float | None, target_filter: TargetFilter) -> dict[float, TargetScores]:
    """The Pd-Fa points of `known` by threshold where they hold here: scored through the same growth and filter,
    with the counts behind them stored (a result cached before they were has none)."""
    c, p = known.curves, known.protocol
    counts = ("pdfa_threshold", "pdfa_detected", "pdfa_false_alarms", "pdfa_fa_pixels", "pdfa_pixels")
    if p.grow_to != grow_to or p.target_filter != target_filter or not all(key in c for key in counts):
        return {}
    targets, pixels = int(known.metrics["targets"]), int(c["pdfa_pixels"][0])
    return {float(t): TargetScores.from_counts(targets, int(d), int(d) + int(f), int(fp), pixels)
            for t, d, f, fp in zip(c["pdfa_threshold"], c["pdfa_detected"], c["pdfa_false_alarms"],
                                   c["pdfa_fa_pixels"], strict=True)}


def _swept(logits: np.ndarray, threshold: float, target_filter: TargetFilter, grow_to: float | None) -> np.ndarray:
    """What the Pd-Fa sweep scores at `threshold`: the map itself (its metric thresholds it), or with an active
    Eq. 4 filter the mask of the targets that pass it, grown as the headline's are (the filter bounds the sizes
    segment reports: on ungrown masks `--min-size 5` read Pd 0.938 at the run's own threshold, 0.969 beside)."""
    if not target_filter.active:
        return logits
    return detect(logits, threshold, grow_to).filter(target_filter).mask


def rescore_result(result: EvalResult, dataset: SegDataset, threshold: float, grow_to: float | None = GROW_TO,
                   progress: Callable[[int, int], None] | None = None,
                   target_filter: TargetFilter | None = None) -> EvalResult:
    """`result` scored at another threshold (and Eq. 4 filter; None: the one it was scored with) from the maps
    it kept, without the network: every metric, the curves, the operator view and the per-image table, as
    `evaluate` scores them. The maps are stored in
    float16, so a logit within float16 rounding of the threshold can fall the other way; the protocol says
    which run the maps came from (`rescored_from`), and model-only fps is that run's (the same network)."""
    if not result.saliency or set(result.saliency) != set(dataset.names):
        raise LwirstError("this evaluation kept no saliency map for every image of the split; run it again")
    ran = dict(zip(result.per_image["name"], result.per_image["protocol"], strict=True))
    run = result.protocol.run
    backend, size, per_doubling = run.backend, run.size or PAPER_SIZE, run.settings.margin

    def stored(sample: Sample) -> Saliency:  # the map as it ran, with the margin it was held to
        logits = result.saliency[sample.name]
        clearance = frame_clearance(logits.shape, ran[sample.name], size, per_doubling)
        return Saliency(logits, ran[sample.name], backend, clearance=clearance)

    rescored = _score(dataset, stored, run, threshold, grow_to, progress=progress, keep_saliency=False,
                      timed=False, target_filter=result.protocol.target_filter if target_filter is None
                      else target_filter, known=result)
    rescored.saliency = result.saliency  # the same maps, shared
    rescored.metrics["fps"] = result.metrics.get("fps", float("nan"))
    source = result.protocol  # the threshold of the run that computed the maps (a result scored again names it)
    rescored.protocol = dataclasses.replace(rescored.protocol, rescored_from=source.threshold
                                            if source.rescored_from is None else source.rescored_from)
    return rescored


def rescore(saliency: Mapping[str, np.ndarray], masks: Mapping[str, np.ndarray], threshold: float,
            target_filter: TargetFilter | None = None, grow_to: float | None = GROW_TO,
            each: Callable[[str, np.ndarray, np.ndarray, np.ndarray], None] | None = None) -> dict[str, float]:
    """Metrics of stored saliency maps at another threshold / Eq. 4 filter, without the network, each map read
    once (a stored result's are read from disk): `each(name, logits, mask, found)` sees every image as it is
    scored (found: the kept targets' pixels), so that a per-image table is made in the same pass."""
    pixel, pdfa, plugins = PixelMetrics(0.5), PdFa(0.5), plugin_metrics(0.5)

    def kept(name: str) -> tuple[str, np.ndarray, np.ndarray, np.ndarray]:
        """`name`'s map, its mask and the pixels of its targets that pass: what the threads compute ahead."""
        logits = saliency[name]
        mask = _mask_for(name, masks, logits)
        return name, logits, mask, detect(logits, threshold, grow_to).filter(target_filter).mask

    for name, logits, mask, found in _in_order(kept, saliency):
        for metric in (pixel, pdfa, *plugins):
            metric.update(found, mask)
        if each is not None:
            each(name, logits, mask, found)
    return {**_mask_metrics(pixel, pdfa), **plugin_results(plugins)}


def _in_order(work: Callable[[str], _T], names: Iterable[str], ahead: int = READ_AHEAD) -> Iterator[_T]:
    """`work(name)` of each of `names`, in their order, computed on `ahead` threads up to `ahead` names beyond the
    one handed out: reading a stored map (zlib) and thresholding it release the GIL, so they run beside the
    scoring of the maps before, with a few maps in memory at a time."""
    with ThreadPoolExecutor(ahead) as pool:
        pending: deque[Future[_T]] = deque()
        try:
            for name in names:
                pending.append(pool.submit(work, name))
                if len(pending) > ahead:
                    yield pending.popleft().result()
            while pending:
                yield pending.popleft().result()
        finally:  # stopped early (an image's error): the maps not yet read are not read
            for future in pending:
                future.cancel()


def _mask_for(name: str, masks: Mapping[str, np.ndarray], logits: np.ndarray) -> np.ndarray:
    """`name`'s mask, of its map's size, or a one-line error saying to evaluate again."""
    if name not in masks:
        raise LwirstError(f"{name}: this evaluation has an image the dataset lacks; re-run the evaluation")
    mask = masks[name]
    if mask.shape != logits.shape:
        raise LwirstError(f"{name}: mask {mask.shape[1]}x{mask.shape[0]} but saliency map "
                          f"{logits.shape[1]}x{logits.shape[0]}; re-run the evaluation on this dataset")
    return mask


def _mask_metrics(pixel: PixelMetrics, pdfa: PdFa) -> dict[str, float]:
    """The pixel and target metrics of the kept masks under the metric table's keys (the pixel metric's
    dataset IoU is the paper's mIoU, its precision and F1 the pixels', not the targets'): what `evaluate`
    and live re-scoring both report."""
    return {**pixel.compute().as_metrics(), **pdfa.compute().as_metrics()}


def _binary(result: EvalResult) -> bool:
    """Whether every image was scored from a saved binary mask (no map: one operating point)."""
    images = result.protocol.binary_predictions
    return bool(images) and images == result.metrics.get("images")


def run_fields(result: EvalResult) -> list[str]:
    """What ran, field by field: model, backend, protocol as applied, threshold (with the masks' growth), an
    Eq. 4 filter where one held, and data; the command joins them with two spaces, a page with its own
    separator (Markdown collapses two spaces, and a protocol ending in a parenthesis ran into the threshold)."""
    p, m = result.protocol, result.metrics
    masks = "saved masks, as they are" if _binary(result) else p.masks  # growth has no pixel to reach
    return [f"model {p.run.model}", f"backend {p.run.backend} {p.run.precision}", f"protocol {p.text()}",
            f"threshold {describe_threshold(p.threshold)}" + (f" ({masks})" if masks else ""),
            *([f"Eq. 4 filter {p.target_filter}"] if p.target_filter.active else []),
            f"{p.dataset}/{p.split} ({m['images']} images)"]


def summary_lines(result: EvalResult, names: Sequence[str] | None = None) -> list[str]:
    """Human-readable summary: the protocol (as applied), the metrics of the table's summary view
    (`lwirst.scoring`; Fa in units of 1e-6, as the IRSTD literature prints it), then the operator view."""
    m = result.metrics
    lines = ["  ".join(run_fields(result))]
    cells = []
    for name in names if names is not None else view_keys(SUMMARY):
        if name in m:
            spec = metric_spec(name)
            cells.append(f"{name} {spec.text(m[name])}")
    lines.append("  ".join(cells))
    if "blobs_per_frame" in m:
        shown = [(s, s.out_of(m)) for s in metric_specs(OPERATOR) if s.key in m]
        # a figure out of a count that is zero says why once, at the end (e.g. no target-free frame); any other
        # undefined figure keeps its label ("Pd at <=0.1 FA/frame n/a")
        absent = [s for s, text in shown if s.of and text == s.none]
        lines.append("  ".join(f"{s.label} {text}" for s, text in shown if s not in absent)
                     + (f"  ({'; '.join(s.none for s in absent)})" if absent else ""))
    if _binary(result):
        lines.append("saved binary masks: the threshold and mask growth change nothing, and AUC, AP and the curves "
                     "rest on one operating point (save probability maps or logits to compare curves)")
    if m.get("empty_frames") and "niou" in m:  # where nIoU's conventions part, say which one this is
        lines.append(f"niou over {m['empty_frames']} target-free image(s) too: {NIOU_CONVENTION}")
    return lines
