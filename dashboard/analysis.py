"""UI helpers shared by the analysis pages (Evaluate, Compare, Ablations, Failures).

Builds on `dashboard.common` (sidebar choosers, cached segmenters and datasets, error
display); the computation itself is `lwirst.evaluate` and `lwirst.analysis`.

- `Run`: one evaluation (model, data, threshold, result, cost). Runs of this session are
  kept in `st.session_state` (`remember`, `session_runs`: the latest last), so the Failure
  inspector picks up what the Evaluate page ran; `disk_runs` reopens those cached on disk.
- `stored_run` loads a result from the disk cache without the network; `evaluate_run`
  runs the network with a progress bar (and fills the disk cache).
- `masks` and `rescored` re-score a run at another threshold / Eq. 4 filter without the
  network (`st.cache_data`); `measured_points` gathers what the Compare page plots.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import streamlit as st
from streamlit.delta_generator import DeltaGenerator

from dashboard import common
from dashboard.server_load import SERVER_LOAD, RunBudget
from lwirst import analysis
from lwirst.backends.ort_worker import NAME as WORKER_BACKEND
from lwirst.checkpoint import display_name, file_hash
from lwirst.complexity import Complexity
from lwirst.datasets import SegDataset
from lwirst.errors import LwirstError
from lwirst.eval_protocol import EvalProtocol, RunSpec
from lwirst.evalcache import LIMIT as CACHE_LIMIT
from lwirst.evalcache import mark_used
from lwirst.evaluate import (
    EvalResult,
    cache_key,
    cache_keys,
    cache_root,
    code_signature,
    evaluate,
    is_stored,
    read_cached,
    rescore_result,
)
from lwirst.inference import Saliency, module_digest
from lwirst.maps import StoredMaps
from lwirst.modelcard import DEMO_MODEL, TrainingRecord, lineage_in_sample_note
from lwirst.onnxtrial import trial_run
from lwirst.postprocess import NO_FILTER, TargetFilter, logit_to_probability, probability_text
from lwirst.run_settings import RunSettings

log = logging.getLogger(__name__)


RUNS_KEY = "analysis_runs"
AUTO_EVALUATE_MAX_IMAGES = 16  # datasets this small are evaluated without asking (the embedded samples)


def scored_unasked(choice: common.DataChoice) -> bool:
    """Whether Evaluate and Failures score this data on opening, without a click: a set of at most
    AUTO_EVALUATE_MAX_IMAGES images (seconds of work); a larger one waits for its button."""
    return len(common.open_data(choice)) <= AUTO_EVALUATE_MAX_IMAGES


@dataclass(eq=False)
class Run:
    """One evaluation: a model on a dataset split at a threshold, its result and the model's cost.

    key: the disk-cache key of `lwirst.evaluate` (model hash, data, split, protocol, how frames ran,
    threshold, Eq. 4 filter); it also keys every cached re-scoring of the run.
    """

    label: str
    key: str
    choice: common.DataChoice
    threshold: float
    result: EvalResult
    params: int | None = None
    flops: float | None = None


class EvalSegmenter:
    """A shared segmenter as `lwirst.evaluate.evaluate` drives it: each call takes the network lock,
    and the demo network (no file) is named and content-hashed so its results are cached on disk too."""

    def __init__(self, shared: common.SharedSegmenter) -> None:
        self.shared = shared
        info = shared.segmenter.describe()
        module = shared.segmenter.module
        if not info.hash and module is not None:
            info = dataclasses.replace(info, model=DEMO_MODEL, hash=module_digest(module)[:16])
        self.info = info

    def describe(self) -> RunSpec:
        return self.info

    @property
    def complexity(self) -> Complexity | None:
        return self.shared.segmenter.complexity

    def predict(self, image: np.ndarray) -> Saliency:
        return self.shared.predict(image)


@st.cache_resource(max_entries=8, show_spinner="Loading the model...")
def eval_segmenter(engine: common.Engine) -> EvalSegmenter:
    """The cached segmenter of an engine, wrapped for `evaluate`."""
    return EvalSegmenter(common.segmenter(engine))


# ---------------------------------------------------------------- models


def model_options() -> dict[str, Path | None]:
    """Label -> model file the server offers (as in the sidebar); None is the untrained demo network."""
    return common.model_options()


def engine_for(path: Path | None, chosen: common.Engine) -> common.Engine:
    """An engine for a model file with the sidebar's backend, protocol, scale consensus, peak margin, polarity and
    ignore zones."""
    return dataclasses.replace(chosen, path=str(path) if path is not None else None,
                               version=common.file_version(path))


@st.cache_data(max_entries=64, show_spinner="Test-running the uploaded model in a capped worker process...")
def _trial_refusal(digest: str, name: str, channels: int, size: tuple[int, int] | None, _data: bytes) -> str | None:
    """Why a test run refuses the upload `digest`, or None; the outcome is cached, so a refused
    upload is not run again on every rerun of the page."""
    try:
        trial_run(_data, name, channels, size)
    except LwirstError as exc:
        return str(exc)
    return None


def uploaded_engine(name: str, data: bytes, chosen: common.Engine) -> common.Engine:
    """A validated ONNX upload, run once in a capped worker process, then stored in the server's cache
    for this session (where it expires) as an engine (errors are `LwirstError`) that runs every frame in such a
    worker (`lwirst.backends.ort_worker`), whatever the sidebar's backend: a tensor sized from a real frame's
    values escapes the trial's dummy frame, and took gigabytes of the server's memory."""
    upload = analysis.check_onnx_upload(data, name, common.settings().max_upload_bytes)
    channels, height, width = upload.input_shape[1:4]
    size = (height, width) if isinstance(height, int) and isinstance(width, int) and height and width else None
    refusal = _trial_refusal(upload.digest, name, channels if isinstance(channels, int) else 3, size, data)
    if refusal is not None:
        raise LwirstError(refusal)
    stored = engine_for(analysis.store_upload(data, upload, session=common.session_id()), chosen)
    return dataclasses.replace(stored, backend=WORKER_BACKEND)


@st.cache_data(max_entries=32, show_spinner=False)
def _cost(path: str | None, version: str) -> tuple[int | None, float | None]:
    card = common.card_of(path, version)
    return card.params, card.flops


def cost(engine: common.Engine) -> tuple[int | None, float | None]:
    """Params and FLOPs (256×256) of an engine's model; None where unknown (an ONNX graph that cannot run)."""
    return _cost(engine.path, engine.version)


def disk_cost(row: Any) -> tuple[int | None, float | None]:
    """Params and FLOPs of a cached run's model (a listing's row, or its tuple): those its evaluation recorded,
    so that a model this server does not offer is placed too; else the offered file's (`_offered_cost`: a result
    stored before evaluations recorded them)."""
    params, flops = row.model_params, row.model_flops
    if pd.notna(params) and pd.notna(flops):
        return int(params), float(flops)
    return _offered_cost(row.model, row.hash)


def _offered_cost(model: str, digest: str = "") -> tuple[int | None, float | None]:
    """Params and FLOPs of a model known by file name and content hash only (a run cached on disk): the
    offered file of that content, else the first of that name."""
    if model == DEMO_MODEL:
        return _cost(None, "demo")
    path = offered_model(digest) or next((p for p in model_options().values()
                                          if p is not None and model in (p.name, display_name(p))), None)
    return _cost(str(path), str(path.stat().st_mtime_ns)) if path is not None else (None, None)


@st.cache_data(max_entries=256, show_spinner=False)
def _content_hash(path: str, version: str) -> str:
    return file_hash(path)


def offered_model(digest: str) -> Path | None:
    """The offered model file whose content hash is `digest` (a run's recorded hash, ":precision" and all):
    a run records only its model's file name, which every training run's best.safetensors shares."""
    return offered_files().get(digest.split(":")[0])


def offered_files() -> dict[str, Path]:
    """The model files this server offers, by content hash (each file hashed once per version)."""
    return {_content_hash(str(p), str(p.stat().st_mtime_ns)): p for p in model_options().values() if p is not None}


def in_sample(run: Run) -> str:
    """That images of the run's split are in the split its model trained on (SIRST val is in the shipped model's
    trainval), so its scores are in-sample; '' when none are or the model is not a file this server offers."""
    path = offered_model(run.result.protocol.run.hash)
    if path is None:
        return ""
    c = run.choice
    return _in_sample(c.root, c.dataset, c.split, str(path), str(path.stat().st_mtime_ns), c.name)


@st.cache_data(max_entries=32, show_spinner=False)
def _in_sample(root: str, dataset: str, split: str, path: str, version: str, shown: str) -> str:
    """The model's in-sample note, or that of the weights it was fine-tuned from (`lineage_in_sample_note`); a
    record naming a path out of the data roots, or a root this server does not offer, is never opened."""
    def roots(training: TrainingRecord) -> list[str] | None:
        return common.offered_root(training.data_dir) if common.plain_dataset(training.dataset) else None

    chosen = common.open_data(common.DataChoice("", root, dataset, split))
    return lineage_in_sample_note(root, chosen, Path(path), shown, roots)


# ---------------------------------------------------------------- runs


def run_keys(engine: common.Engine, choice: common.DataChoice, threshold: float,
             target_filter: TargetFilter = NO_FILTER) -> tuple[str, ...]:
    """The disk-cache keys whose results answer evaluating `engine` on `choice`, its own first
    (`lwirst.evaluate.cache_keys`; loads the model, not the images)."""
    return cache_keys(eval_segmenter(engine), common.open_data(choice), threshold, target_filter=target_filter)


@st.cache_resource(max_entries=8, show_spinner="Reading the cached evaluation...")
def _readable(path: str, mtime: float) -> EvalResult | None:
    """A cached evaluation (`lwirst.evaluate.read_cached`), or None where it is damaged: as if never run, so the
    page offers to evaluate it again, which stores it whole. One object for every session, never changed (its maps
    are read from disk when asked for): a copy per session held 1.5 GB each on 600 large frames."""
    return read_cached(Path(path))


def _read_as_chosen(path: str, mtime: float, choice: common.DataChoice) -> EvalResult | None:
    """A cached evaluation (`_readable`) under the dataset name and split label `choice` reaches its data by: the
    cache keys on the files, and another spelling of them (`--dataset nudt`, a `trainval` list read for `train`)
    may have stored it. Marked used for every session that reads it (`_readable` reads it once for all), so that
    a run the pages show is the last the cache's bound removes; None once it removed it, as if never run."""
    result = _readable(path, mtime) if mark_used(Path(path)) else None
    if result is None:
        return None
    return dataclasses.replace(result, protocol=result.protocol.renamed(
        result.protocol.run.model, common.open_data(choice).name, choice.split))


def _cached_stamp(key: str) -> tuple[str, float] | None:
    """The folder and metrics.json time of the whole result cached under `key`; None for none, or one removed
    meanwhile (the cache keeps within its bound)."""
    folder = cache_root() / key
    try:
        return (str(folder), (folder / "metrics.json").stat().st_mtime) if is_stored(folder) else None
    except OSError:
        return None


def gone(path: str, model: str) -> LwirstError:
    """Why a cached run listed on a page does not read back, in one line: removed since it was listed (the
    cache keeps within its bound), or damaged."""
    if not Path(path).exists():
        return LwirstError(f"the cached evaluation of {model} on this data was removed to keep the evaluation "
                           f"cache within its bound ({CACHE_LIMIT}); it is evaluated again when asked for")
    return LwirstError(f"the cached evaluation of {model} on this data is damaged: evaluate it again on the "
                       "Evaluate page, which replaces it")


def stored_run(label: str, engine: common.Engine, choice: common.DataChoice, threshold: float,
               target_filter: TargetFilter = NO_FILTER) -> Run | None:
    """This session's run, else the one cached on disk, else the same model's run on the same data at
    another threshold or Eq. 4 filter scored again at these from its maps (`lwirst.evaluate.rescore_result`: no
    network; a run cached on disk first, whose result scored again every session shares, else one of this
    session's), else None; never runs the network."""
    keys = run_keys(engine, choice, threshold, target_filter)
    key = keys[0] if keys else ""
    if key in session_runs():
        return session_runs()[key]
    stamp = next((found for found in map(_cached_stamp, keys) if found is not None), None)
    result = _read_as_chosen(*stamp, choice) if stamp is not None else None
    if result is not None:
        return remember(Run(label, key, choice, threshold, result, *cost(engine)))
    same = _SameRun(eval_segmenter(engine).describe(), common.data_fingerprints(choice))
    row = same.disk_row(choice, threshold)  # first: its result scored again is every session's
    source = same.session_result(choice, threshold) if row is None else None
    if source is None and row is None:
        return None
    scored = source.protocol.threshold if source is not None else float(row["threshold"])
    asked = f"threshold {threshold:g}" + (f", filter {target_filter}" if target_filter.active else "")
    if row is not None:  # its result scored again is shared (`_rescored_disk_run`): its use is each session's
        mark_used(Path(row["path"]))
    with st.spinner(f"Scoring the run at threshold {scored:g} again at {asked} (its stored maps, no network)..."):
        # the maps are the network's, never filtered: any run's answers for any filter
        if source is not None:
            with SERVER_LOAD.running("scoring"):
                result = rescore_result(source, common.open_data(choice), threshold, target_filter=target_filter)
        else:
            result = _rescored_disk_run(row["path"], row["mtime"], choice, threshold, _bounds(target_filter))
    return remember(Run(label, key, choice, threshold, result, *cost(engine)))


@st.cache_resource(max_entries=8, show_spinner=False)
def _rescored_disk_run(path: str, mtime: float, choice: common.DataChoice, threshold: float,
                       bounds: tuple[float | None, ...]) -> EvalResult:
    """A cached run scored again at another threshold / filter, one for every session (each new visitor scored a
    600-frame set again: 38 s of CPU a tab), never changed."""
    source = _read_as_chosen(path, mtime, choice)
    if source is None:
        raise gone(path, "the model")
    with SERVER_LOAD.running("scoring"):
        return rescore_result(source, common.open_data(choice), threshold, target_filter=TargetFilter(*bounds))


@dataclass(frozen=True)
class _SameRun:
    """The run a result must be of to answer for another threshold or filter: the same model content, backend,
    protocol and way frames ran (`info`), on the same data (one of `data`, its fingerprints). A consensus (or
    mirrored, margin, black-hot or zoned) run never answers for a plain one, nor the other way round."""

    info: RunSpec
    data: tuple[str, ...]

    def holds(self, protocol: EvalProtocol) -> bool:
        run = protocol.run
        return (run.hash, run.backend, run.protocol, run.settings) == (
            self.info.hash, self.info.backend, self.info.protocol, self.info.settings) \
            and protocol.data_fingerprint in self.data

    def session_result(self, choice: common.DataChoice, threshold: float) -> EvalResult | None:
        """This session's result of the run at the nearest other threshold that kept its maps."""
        found = [(abs(run.threshold - threshold), run.result) for run in session_runs().values()
                 if run.choice == choice and self.holds(run.result.protocol) and run.result.saliency]
        return min(found, key=lambda pair: pair[0])[1] if found else None

    def disk_row(self, choice: common.DataChoice, threshold: float) -> pd.Series | None:
        """The disk cache's row of the run at the nearest other threshold that kept its maps."""
        rows = disk_runs(choice)
        if rows.empty:
            return None
        info = self.info
        rows = rows[(rows["hash"] == info.hash) & (rows["backend"] == info.backend)
                    & (rows["protocol"] == info.protocol) & rows["data"].isin(self.data)
                    & rows.apply(lambda row: RunSettings.from_json(row) == info.settings, axis=1)
                    & rows["path"].map(lambda path: (Path(path) / "saliency.npz").is_file())]
        if rows.empty:
            return None
        return rows.loc[(rows["threshold"].astype(float) - threshold).abs().idxmin()]


def progress_bar(bar: DeltaGenerator, label: str, budget: RunBudget | None = None) -> Callable[[int, int], None]:
    """An `evaluate` progress callback that moves `bar`, and stops the run (a `LwirstError`) once it is over its
    `budget` (None: no bound)."""

    def progress(done: int, total: int) -> None:
        if budget is not None:
            budget.check(label, "image", done, total, "Evaluate it on your own machine with `lwirst evaluate "
                                                      "--model FILE`, or here on a smaller set.")
        bar.progress(done / total if total else 1.0,
                     text=f"{label}: image {done} of {total}{SERVER_LOAD.shared('evaluation')}")

    return progress


def evaluate_run(label: str, engine: common.Engine, choice: common.DataChoice, threshold: float,
                 bar: DeltaGenerator, target_filter: TargetFilter = NO_FILTER) -> Run:
    """Evaluate a model on a dataset split (through an Eq. 4 filter) with a progress bar; the result is kept in
    the session and cached on disk, where every visitor's pages list it, unless the model is a visitor's upload
    (private to its session)."""
    segmenter = eval_segmenter(engine)
    dataset = common.open_data(choice)
    key = cache_key(segmenter, dataset, threshold, target_filter=target_filter)
    with SERVER_LOAD.running("evaluation", lambda text: bar.progress(0.0, text=text)):
        # the set is opened unchecked (pickers read images on demand): every problem of it is listed before the
        # network runs, as `lwirst evaluate` lists them (a bad file stopped a run after the images before it)
        bar.progress(0.0, text=f"{label}: checking every file of the set...")
        _checked(common.data_fingerprints(choice), dataset)
        upload = analysis.is_upload(engine.path)
        result = evaluate(segmenter, dataset, threshold=threshold, target_filter=target_filter,
                          progress=progress_bar(bar, label, RunBudget() if upload else None),  # type: ignore[arg-type]
                          use_cache=not upload)
    return remember(Run(label, key, choice, threshold, result, *cost(engine)))


@st.cache_data(max_entries=16, show_spinner=False)
def _checked(fingerprints: tuple[str, ...], _dataset: SegDataset) -> bool:
    """`_dataset.validate()`, once per content (`fingerprints`): several models evaluated on one set decoded every
    file of it again before each. A set that fails is not cached: it is checked again, and names its problems."""
    _dataset.validate()
    return True


def session_runs() -> dict[str, Run]:
    """This session's runs by key, oldest first. A run whose stored maps the cache's bound removed before this
    session read them is forgotten, as if never run: the pages that need its maps (Failures, another threshold)
    could only say so, with no way to run it again but a new session."""
    runs = st.session_state.setdefault(RUNS_KEY, {})
    for key in [key for key, run in runs.items()
                if isinstance(run.result.saliency, StoredMaps) and not run.result.saliency.readable]:
        del runs[key]
    return runs


INSPECT_KEY = "_failure_request"  # (run key, image name): a row of Evaluate's per-image table, for Failures to open


def inspect_in_failures(run: Run, image: str) -> None:
    """Open the Failures page on `image` of `run` (a row picked in Evaluate's per-image table)."""
    st.session_state[INSPECT_KEY] = (run.key, image)
    st.switch_page(common.page_spec("failures").path)


def asked_to_inspect() -> tuple[str, str] | None:
    """The (run key, image) a row of Evaluate's table asked Failures to open, once."""
    return st.session_state.pop(INSPECT_KEY, None)


def remember(run: Run) -> Run:
    """Keep a run in the session (moved to the end: the latest run)."""
    runs = session_runs()
    runs.pop(run.key, None)
    runs[run.key] = run
    return run


@st.cache_data(max_entries=4, show_spinner=False)
def _cache_listing(root: str, stamp: tuple[tuple[str, int, int, int], ...]) -> pd.DataFrame:
    """`lwirst.analysis.cached_runs` of `root`, read again only when an entry comes, goes or is rewritten (a
    listing of names and times, `stamp`, is cheap; reading and checking every result is not, and each page asks for
    it)."""
    return analysis.cached_runs(Path(root))


def _file_stamp(path: Path) -> tuple[int, int, int] | None:
    """A file's modification time, inode and size: a rewrite within one tick of the clock still tells; None for
    a result removed since it was listed (the cache keeps within its bound)."""
    try:
        stat = path.stat()
    except OSError:
        return None
    return stat.st_mtime_ns, stat.st_ino, stat.st_size


def cached_listing() -> pd.DataFrame:
    """Every evaluation cached on disk (`lwirst.analysis.cached_runs`), whatever code scored it."""
    root = cache_root()
    stamps = ((entry.parent.name, _file_stamp(entry)) for entry in root.glob("*/metrics.json"))
    stamp = tuple(sorted((name, *found) for name, found in stamps if found is not None)) if root.is_dir() else ()
    return _cache_listing(str(root), stamp)


def listed_runs() -> pd.DataFrame:
    """The evaluation cache as every visitor may see it: the results this code scored. One scored by another
    version (before a metric or model module was edited, or by an older lwirst, which also cached visitors'
    uploaded models) is never shown, as the command line never answers from it."""
    runs = cached_listing()
    return runs if runs.empty else runs[runs["code"] == code_signature()].reset_index(drop=True)


def runs_of_other_code(include_demo: bool) -> int:
    """How many cached evaluations Compare would show but another version of the code scored (left out): those
    on data this server offers, the demo network's only when it is shown."""
    runs = cached_listing()
    if runs.empty:
        return 0
    shown = runs["data"].isin(offered_data()) & (include_demo | (runs["model"] != DEMO_MODEL))
    return int((shown & (runs["code"] != code_signature())).sum())


def disk_runs(choice: common.DataChoice) -> pd.DataFrame:
    """Evaluations cached on disk whose results hold for the data of `choice` (`lwirst.evaluate.data_fingerprints`:
    the same files, whatever name or path they were reached by)."""
    runs = listed_runs()
    if runs.empty:
        return runs
    return runs[runs["data"].isin(common.data_fingerprints(choice))].reset_index(drop=True)


def run_choices(session: dict[str, Run], on_disk: pd.DataFrame, engine: common.Engine,
                threshold: float) -> dict[str, Run | pd.Series]:
    """A run picker's options, by label: this session's runs (latest first), then those cached on disk,
    the sidebar engine's (model file, backend, protocol, scale consensus) nearest `threshold` first, then the others
    (newest first): a fresh session opens on its own model at its own threshold, not on whatever another
    visitor evaluated last. Labels name the threshold and never collide, so two evaluations of one
    model at two thresholds (or of two files of one name) stay two options. Every run is on one dataset and
    split (the caller's choice), which the picker's own label names."""
    entries: list[tuple[float, str, str, Run | pd.Series]] = [(run.threshold, run.label, run.key, run)
                                                               for run in reversed(session.values())]
    entries += [(float(row["threshold"]), f"{disk_label(row)} (cached on disk)", row["key"], row)
                for _, row in on_disk.iterrows() if row["key"] not in session]
    ours = engine_run(engine)

    def rank(entry: tuple) -> tuple[bool, bool, float]:
        if isinstance(entry[-1], Run):
            return (False, False, 0.0)
        sidebar = ours(entry[-1])
        return (True, not sidebar, abs(entry[0] - threshold) if sidebar else 0.0)

    choices: dict[str, Run | pd.Series] = {}
    for th, label, key, item in sorted(entries, key=rank):
        label = f"{label} · threshold {th:g} (p {logit_to_probability(th):.2f})"
        choices[label if label not in choices else f"{label} [{key[:8]}]"] = item
    return choices


def engine_run(engine: common.Engine) -> Callable[[Run | pd.Series], bool]:
    """Whether a run (this session's, or a row of `disk_runs`) is of the sidebar's engine: its model file (by
    content where both say it), backend, protocol and settings."""
    model = display_name(engine.path) if engine.path else DEMO_MODEL
    digest = _content_hash(engine.path, engine.version) if engine.path and Path(engine.path).is_file() else ""

    def of_engine(item: Run | pd.Series) -> bool:
        if isinstance(item, Run):
            spec = item.result.protocol.run
            name, content, ran = spec.model, spec.hash, (spec.backend, spec.protocol, spec.settings)
        else:
            name, content = item["model"], str(item.get("hash", ""))
            ran = (item["backend"], item["protocol"], RunSettings.from_json(item))
        same_file = name == model and (not digest or not content or content.split(":")[0] == digest)
        return same_file and ran == (engine.backend, engine.protocol, engine.settings)

    return of_engine


def model_label(name: str, digest: str) -> str:
    """A run's model as the sidebar lists it ("best.safetensors (run)") when this server offers that file
    (by content: every run directory's best.safetensors shares the name), else its file name."""
    path = offered_model(digest) if digest else None
    return next((label for label, option in model_options().items() if path is not None and option == path), name)


def open_disk_run(row: pd.Series, choice: common.DataChoice) -> Run:
    """A run cached on disk (a row of `disk_runs`) as a session run."""
    if row["key"] in session_runs():
        return remember(session_runs()[row["key"]])
    result = _read_as_chosen(row["path"], row["mtime"], choice)
    if result is None:
        raise gone(row["path"], row["model"])
    cost = disk_cost(row)
    return remember(Run(disk_label(row), row["key"], choice, float(row["threshold"]), result, *cost))


def disk_label(row: pd.Series) -> str:
    """A cached run's model (as the sidebar lists it), backend, protocol and scale consensus:
    "m.safetensors · openvino/auto"."""
    name = model_label(row["model"], str(row.get("hash", "")))
    scored = row.get("filter")
    return (f"{name} · {common.runs_on(row['backend'], row['protocol'], RunSettings.from_json(row))}"
            + (f" · filter {scored}" if isinstance(scored, str) and scored else ""))


def report_error(label: str, exc: Exception) -> None:
    """One model's failure as a readable error naming the model; the page goes on with the others."""
    if isinstance(exc, LwirstError):
        said = common.visitor_text(exc)
        st.error(said if said.startswith(f"{label}: ") else f"{label}: {said}", icon=":material/error:")
        return
    log.exception("analysis error")
    st.error(f"{label}: unexpected error ({type(exc).__name__}: {common.for_visitors(str(exc))}); this model was "
             "not evaluated.", icon=":material/error:")


# ---------------------------------------------------------------- live re-scoring


@st.cache_resource(max_entries=4, show_spinner="Reading the ground truth...")  # shared, never changed: not copied
def _masks(root: str, dataset: str, split: str, files: tuple[tuple[str, int], ...]) -> dict[str, np.ndarray]:
    data = common.open_data(common.DataChoice("", root, dataset, split))
    return {sample.name: sample.mask for sample in (data.load(i) for i in range(len(data)))}


def _bounds(target_filter: TargetFilter) -> tuple[float | None, ...]:
    return tuple(target_filter.to_dict().values())


@st.cache_data(max_entries=64, show_spinner="Re-scoring the run...")
def _rescored(key: str, threshold: float, bounds: tuple[float | None, ...], margin: float,
              files: tuple[tuple[str, int], ...], _saliency: Mapping[str, np.ndarray],
              _masks: Mapping[str, np.ndarray]) -> tuple[dict[str, float], pd.DataFrame]:
    with SERVER_LOAD.running("scoring"):
        return analysis.rescore_table(_saliency, _masks, threshold, TargetFilter(*bounds), margin)


def rescored(run: Run, threshold: float, target_filter: TargetFilter,
             margin: float) -> tuple[dict[str, float], pd.DataFrame]:
    """Run metrics and per-image table at a threshold and Eq. 4 filter, from the stored maps (no network)."""
    if not run.result.saliency:
        raise LwirstError(f"{run.label}: this evaluation kept no saliency maps; run it again from the "
                          "Evaluate page")
    files = common.files_stamp(run.choice)  # a mask edited since is scored as it is now, as Evaluate scores it
    return _rescored(run.key, threshold, _bounds(target_filter), margin, files, run.result.saliency,
                     _masks(run.choice.root, run.choice.dataset, run.choice.split, files))


@st.cache_data(max_entries=256, show_spinner=False)
def _thumbnail(key: str, name: str, threshold: float, bounds: tuple[float | None, ...], margin: float, root: str,
               dataset: str, split: str, files: tuple[tuple[str, int], ...], _logits: np.ndarray) -> np.ndarray:
    choice = common.DataChoice("", root, dataset, split)
    sample = common.load_item(choice, common.open_data(choice).names.index(name))
    return analysis.thumbnail(sample.image, _logits, sample.mask, threshold, TargetFilter(*bounds), margin=margin)


def thumbnail(run: Run, name: str, threshold: float, target_filter: TargetFilter, margin: float) -> np.ndarray:
    """The gallery thumbnail of one image of a run at a threshold, filter and hot margin (cached by its files'
    times)."""
    c = run.choice
    files = common.files_stamp(c, common.open_data(c).names.index(name))
    return _thumbnail(run.key, name, threshold, _bounds(target_filter), margin, c.root, c.dataset, c.split, files,
                      run.result.saliency[name])


# ---------------------------------------------------------------- sidebar widgets


def hot_margin() -> float:
    """Sidebar: how far under the threshold (in logits) a missed target's peak may be to count as hot."""
    st.session_state.setdefault("hot_margin", analysis.HOT_MARGIN)
    return float(st.sidebar.slider("Hot margin (logit)", 0.0, 10.0, step=0.1, key="hot_margin",
                                   help="A missed target whose peak logit is at most this far below the "
                                        "threshold is flagged 'hot but below threshold' (the paper's Fig. 6)"))


# ---------------------------------------------------------------- compare


@st.cache_data(ttl=60, show_spinner=False)
def ablation_results() -> tuple[pd.DataFrame, list[str]]:
    """The sweep results under data/ablations and LWIRST_DASHBOARD_ABLATION_ROOTS, and a message per unreadable
    file (re-read each minute)."""
    return analysis.load_ablation_results([analysis.ABLATIONS_DIR, *common.settings().ablation_roots])


DEMO_POINT = "untrained demo"


def _point_name(model: str, threshold: float, path: Path | None = None) -> str:
    """A model's Fig. 4 name: its file's stem, with the file type for anything but a checkpoint (an ONNX
    export of the shipped weights is measured on its own backend and speed, so it is a point of its own),
    after its folder when other offered files share its name (run-dir/best and another-run/best are two
    models: points are merged by name), and the threshold as a probability when it is not the paper's 0.5."""
    short = DEMO_POINT if model == DEMO_MODEL else model_point_name(path or Path(model))
    # as the CLI's --threshold takes it (a probability); "th -0.847298" read as neither
    return f"{short}{f', threshold {probability_text(threshold, 3)}' if threshold else ''}"


def model_point_name(path: Path) -> str:
    """The Fig. 4 name of a model file (see `_point_name`)."""
    short = path.stem if path.suffix.lower() in ("", ".safetensors", ".pt") else f"{path.stem} ({path.suffix[1:]})"
    shared = sum(p is not None and p.name == path.name for p in model_options().values()) > 1
    shipped = path.resolve() == common.DEFAULT_MODEL.resolve()
    if not path.is_absolute() and path.parent.name:  # a recorded run's weights ("alpha/best.safetensors",
        return f"{path.parent.name}/{short}"  # `display_name`) that this server does not offer: named with the run
    return f"{path.parent.name}/{short}" if shared and path.is_absolute() and not shipped else short


FIG4_MIN_IMAGES = analysis.FEW_IMAGES  # runs on fewer images (e.g. the two embedded samples) are listed, not plotted


def plotted(points: pd.DataFrame) -> pd.Series:
    """Which of `measured_points` go on the Fig. 4 charts (cards and sweeps always; runs on enough images)."""
    return points["plotted"].ne(False) if "plotted" in points.columns else pd.Series(True, index=points.index)


@st.cache_data(ttl=120, show_spinner=False)
def offered_data() -> set[str]:
    """Content fingerprints of every dataset split this server offers (what its cached runs may show)."""
    found = set()
    for root in common.data_roots().values():
        for dataset in common.datasets_in(root):
            for split in common.splits_of(root, dataset):
                try:
                    found.update(common.data_fingerprints(common.DataChoice("", root, dataset, split)))
                except LwirstError:
                    continue
    return found


@st.cache_data(max_entries=8, show_spinner=False)
def _card_point(path: str, version: str, name: str) -> pd.DataFrame:
    card = common.card_of(path, version)
    training = card.training
    return analysis.card_points({name: (card.test_metrics, training.dataset or "?", "test", card.params, card.flops)},
                                settings={name: training.settings})


def _card_checkpoints() -> list[Path]:
    """The offered checkpoints whose cards give Fig. 4 points (an ONNX export shares its checkpoint's card)."""
    return [path for path in common.trained_models().values() if path.suffix.lower() != ".onnx"]


def _cards() -> tuple[list[pd.DataFrame], list[str]]:
    """The offered checkpoints' Fig. 4 points, and why each whose card cannot be read is left out, as a visitor
    reads it (naming the file): one cut short in a model root blanked every chart and table."""
    frames, unreadable = [], []
    for path in _card_checkpoints():
        try:
            frames.append(_card_point(str(path), str(path.stat().st_mtime_ns), model_point_name(path)))
        except LwirstError as exc:
            unreadable.append(common.visitor_text(exc))
        except OSError as exc:
            unreadable.append(f"{path.parent.name}/{path.name}: {exc.strerror or 'unreadable'}")
    return frames, unreadable


def card_points() -> pd.DataFrame:
    """Fig. 4 points of the trained models' cards (the shipped model's first), one per scored protocol:
    present on first load, before anything is evaluated here; a card that cannot be read is left out
    (`unreadable_cards`)."""
    frames, _ = _cards()
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=list(analysis.paper_points()))


def unreadable_cards() -> list[str]:
    """Why each offered checkpoint whose card cannot be read is left off Compare's charts."""
    return _cards()[1]


def measured_points(include_demo: bool, include_sweeps: bool) -> pd.DataFrame:
    """Fig. 4 points: the model cards', then runs cached on disk for data this server offers (same content
    fingerprint) and this session's runs, merged (one per model, data, split and protocol: the latest);
    optionally the ablation sweeps' results. `plotted` is False for a run on fewer than FIG4_MIN_IMAGES
    images: too few frames to stand on one chart with benchmark scores."""
    rows = []
    offered = offered_data()
    for row in listed_runs().iloc[::-1].itertuples(index=False):  # oldest first: the latest wins
        if (row.model != DEMO_MODEL or include_demo) and row.data in offered:
            rows.append(analysis.measured_point(
                _point_name(row.model, row.threshold, offered_model(row.hash)), row._asdict(), row.dataset,
                row.split, *disk_cost(row), protocol=row.protocol, applied=row.applied,
                threshold=row.threshold)
                | {"plotted": row.images >= FIG4_MIN_IMAGES})
    for run in session_runs().values():
        p = run.result.protocol
        if p.run.model != DEMO_MODEL or include_demo:
            rows.append(analysis.measured_point(
                _point_name(p.run.model, run.threshold, offered_model(p.run.hash)),
                run.result.metrics, p.dataset, p.split, run.params,
                run.flops, protocol=p.run.protocol, applied=p.applied, threshold=run.threshold)
                | {"plotted": run.result.metrics.get("images", 0) >= FIG4_MIN_IMAGES})
    measured = pd.DataFrame(rows, columns=[*analysis.point_columns(), "plotted"])
    frames = [card_points(), measured]
    if include_sweeps:
        frames.append(analysis.sweep_points(ablation_results()[0]))
    frames = [f for f in frames if not f.empty]
    return analysis.merge_points(pd.concat(frames, ignore_index=True)) if frames else measured
