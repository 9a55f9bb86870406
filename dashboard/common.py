"""Shared UI pieces of the dashboard pages: sidebar choosers, cached loaders, widgets, errors.

How pages use it:

- `dashboard/app.py` calls `keep_widget_state()` and `engine_sidebar()` on every run,
  so the model, backend, protocol and scale-consensus choices are in the sidebar of every page.
- `engine()` is the current choice; `segmenter(engine)` the cached model;
  `saliency(engine, key, image)` the one cached network call; `FramePipeline.rescore`
  re-runs only the post-processing.
- `data_source()` (sidebar: a configured data root, LWIRST_DATA_DIR first, or the
  embedded samples; a dataset in it; a split), `open_data` / `load_item` read it.
- `postprocess_controls()` renders the threshold and Eq. 4 filter widgets (`filter_controls()` the filter's
  alone, for Evaluate, which has its own threshold).
- `run_page(main)` runs a page (`app.py` runs each one through it) so that any error is a readable `st.error`,
  never a traceback.
"""

from __future__ import annotations

import hashlib
import importlib.util
import io
import logging
import os
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

import numpy as np
import pandas as pd
import streamlit as st
from streamlit.delta_generator import DeltaGenerator
from streamlit.runtime.scriptrunner import RerunException, StopException, get_script_run_ctx
from streamlit.runtime.uploaded_file_manager import UploadedFile

from dashboard import urlstate
from dashboard.config import (
    MASK_THRESHOLD_ENV,
    RATIO_CAP,
    SAMPLES_DIR,
    SIZE_CAP,
    THRESHOLD_RANGE,
    MissingRoot,
    Settings,
    load_settings,
)
from dashboard.server_load import SERVER_LOAD, FairLock, RunBudget
from lwirst import paths
from lwirst.analysis import uploads_root
from lwirst.backends import available_backends, default_backend, engine_choice, get_backend
from lwirst.card_view import help_for
from lwirst.consensus import DASHBOARD_SCALE, DEFAULT_MIRROR, DEFAULT_SCALE, RADIUS, cut_masks, flops_factor
from lwirst.consensus import said as said_consensus
from lwirst.datasets import (
    Sample,
    SegDataset,
    detect_layout,
    find_datasets,
    frames_without_layout,
    list_splits,
    listing_stamp,
    masks_named_otherwise,
    open_dataset,
    rename_advice,
)
from lwirst.errors import LwirstError
from lwirst.eval_protocol import RunSpec
from lwirst.evaluate import cache_root as evaluation_cache_root
from lwirst.evaluate import data_fingerprints as fingerprints_of
from lwirst.frame_report import FrameReport, filter_from_ranges, frame_report
from lwirst.inference import (
    AUTO_AREA_FACTOR,
    DEFAULT_MODEL,
    PROTOCOLS,
    REPO_ROOT,
    Saliency,
    Segmenter,
    describe_frame_run,
    frame_clearance,
)
from lwirst.limits import limit
from lwirst.live import CameraSource, LiveStream, LoopingVideo, Source, SyntheticSensor, local_cameras
from lwirst.modelcard import DEMO_MODEL, ModelCard, demo_network, find_models, model_card
from lwirst.paper import PAPER_SIZE
from lwirst.pipeline import FramePipeline, FrameResult
from lwirst.plots import video_frame_size as frame_size_of
from lwirst.polarity import BLACK_HOT, POLARITIES
from lwirst.polarity import DEFAULT as DEFAULT_POLARITY
from lwirst.polarity import HELP as POLARITY_HELP
from lwirst.polarity import said as said_polarity
from lwirst.postprocess import GROW_TO, TargetFilter, describe_growth, probability_text
from lwirst.prominence import DEFAULT_PER_DOUBLING, cleared, per_doubling_text
from lwirst.rounding import count_text
from lwirst.run_settings import PLAIN, RunSettings
from lwirst.saliency import SMALL_AREA_FACTOR
from lwirst.sequence_truth import TruthScore, score_video
from lwirst.streams import DatasetStream
from lwirst.tracking import Tracker, TrackerSettings
from lwirst.uploads import check_upload_size, decode_upload, image_key, store_upload
from lwirst.web_video import (
    STACK_SUFFIXES,
    UPLOAD_FRAMES,
    UPLOAD_WORK,
    VIDEO_SUFFIXES,
    LoopingUpload,
    RunClock,
    VideoOutput,
    check_video_upload,
    segment_split,
    segment_video,
)
from lwirst.zones import MAX_REGIONS, Region, Zones
from lwirst.zones import said as said_zones

log = logging.getLogger(__name__)

PAGES_DIR = paths.PAGES_DIR
SAMPLES_LABEL = "Embedded synthetic samples"
IMAGE_TYPES = ("png", "jpg", "jpeg", "bmp", "tif", "tiff")
# Widget keys whose values survive page switches (see `keep_widget_state`).
PERSISTENT = ("model", "backend", "protocol", "consensus", "mirror", "margin", "polarity", "ignore_regions",
              "data_root", "data_dataset", "data_split", "threshold", "size_range", "ratio_range", "heat_scale",
              "dev_demo", "track_gate", "track_missed", "track_hits",
              # each page's choice of input: a visitor coming back finds the source and image they left
              "frame_source", "dataset_image", "video_source", "video_sample", "video_split", "live_source")
DEV_DEMO = "dev_demo"  # developer option: offer the untrained demo network in the Model list
CONSENSUS_ON = DEFAULT_SCALE is not None  # the scale-consensus toggle's starting value: the project's default
# The toggle's help; the second run's input has DASHBOARD_SCALE² the pixels, hence the compute.
CONSENSUS_HELP = (f"Keeps a target (its whole blob) only where a second run of the frame, enlarged "
                  f"{DASHBOARD_SCALE:g}×, also finds it within {RADIUS} pixels: fewer false alarms on cluttered "
                  f"frames, some dim targets lost, about {flops_factor(DASHBOARD_SCALE):g}× the compute")
MIRROR_HELP = ("Large frames (those the auto protocol runs as a pyramid) keep a target only where a run of the frame "
               "mirrored left-right also finds it: fewer false alarms on large cluttered frames, one more run of each "
               "(SIRST-sized frames are unchanged)")
IGNORE_CHARS = 600  # the regions' text: MAX_REGIONS rectangles of a few numbers each
IGNORE_EXAMPLE = "e.g. 0,0,100%,24; 600,10,30,30"
IGNORE_HELP = (f"Rectangles of every frame that are no scene, such as a camera's burnt-in text, logo or crosshair "
               f"arms: X,Y,W,H in pixels, or with % of the frame, separated by ';' (at most {MAX_REGIONS}). They are "
               "filled from their surroundings before the network runs, and nothing is found in them")
MARGIN = DEFAULT_PER_DOUBLING or 1.0  # the peak margin the toggle runs (logits per doubling of the area)
_ON_1280 = frame_clearance((1024, 1280), "pyramid", PAPER_SIZE, MARGIN)  # the margin on a 1280x1024 frame
MARGIN_HELP = (f"Frames over twice the model's area keep a target only where its peak clears the threshold by "
               f"{per_doubling_text(MARGIN)} ({_ON_1280:.1f} on a 1280×1024 frame): a large sensor's frame "
               "then alarms about as often as a small one's, a few dim targets lost there (SIRST-sized frames and "
               "frames resized to the model are unchanged)")
_NETWORK_LOCK = FairLock()  # one frame in flight on the server, every visitor's in turn


@dataclass(frozen=True)
class PageSpec:
    """One page of the app: its file under pages/, title, icon, URL path and a one-line description."""

    file: str
    title: str
    icon: str
    url: str
    about: str
    uses_model: bool = True  # False: the page shows every model, so the sidebar offers no model choice there
    @property
    def path(self) -> Path:
        return PAGES_DIR / self.file


PAGE_SPECS = (
    PageSpec("1_home.py", "Home", ":material/home:", "home", "what the tool does, the model card, a demo"),
    PageSpec("2_single_frame.py", "Single frame", ":material/image:", "single-frame",
             "segment one image; tune the threshold and the Eq. 4 filter live"),
    PageSpec("3_video.py", "Video", ":material/movie:", "video",
             "segment and track a video into an annotated MP4 and a targets CSV"),
    PageSpec("4_live.py", "Live", ":material/sensors:", "live",
             "a stream segmented as it plays, with live controls, fps and tracks"),
    PageSpec("5_evaluate.py", "Evaluate", ":material/analytics:", "evaluate",
             "score a model on a dataset split"),
    PageSpec("6_compare.py", "Compare", ":material/compare:", "compare", "compare models and backends",
             uses_model=False),
    PageSpec("7_ablations.py", "Ablations", ":material/science:", "ablations", "the paper's ablation tables",
             uses_model=False),
    PageSpec("8_failures.py", "Failures", ":material/report:", "failures", "where the model misses"),
)


def page_spec(url: str) -> PageSpec:
    """The registered page served at `url` (a page that links to another asks the registry for its file)."""
    return next(spec for spec in PAGE_SPECS if spec.url == url)


def available_pages() -> list[PageSpec]:
    """The registered pages. A spec whose file is missing (a typo in its name) is left out of the navigation
    and logged as an error in the server's terminal; so is a spec repeating an earlier one's url (Streamlit
    refuses two pages at one url, and that took the whole dashboard down); a pages/*.py file no spec names is
    logged as a warning."""
    missing = [spec.file for spec in PAGE_SPECS if not spec.path.is_file()]
    if missing:
        log.error("page file(s) %s not found in %s: left out of the navigation", ", ".join(missing), PAGES_DIR)
    named = {spec.file for spec in PAGE_SPECS}
    unlisted = sorted(p.name for p in PAGES_DIR.glob("*.py") if p.name not in named)
    if unlisted:
        log.warning("page file(s) %s have no PageSpec in dashboard/common.py: not in the navigation",
                    ", ".join(unlisted))
    return _unique_urls([spec for spec in PAGE_SPECS if spec.file not in missing])


def _unique_urls(specs: list[PageSpec]) -> list[PageSpec]:
    """The specs less any whose url an earlier one has, each logged as an error naming both files."""
    first: dict[str, PageSpec] = {}
    for spec in specs:
        if spec.url in first:
            log.error("pages %s and %s share the url %r in dashboard/common.py's PAGE_SPECS: %s is left out of the "
                      "navigation; give it a url of its own", first[spec.url].file, spec.file, spec.url, spec.file)
        else:
            first[spec.url] = spec
    return list(first.values())


# ---------------------------------------------------------------- errors


def for_visitors(text: str) -> str:
    """A message as a visitor may read it: the server's folders named as the sidebar names them (a data root
    by its label, a model folder by its name, the checkout as relative paths, the cache and uploads by what
    they are), so an error shows no path of the server's disk."""
    folders = {str(Path(root)): label for label, root in _data_roots().items()}
    folders.update({str(root): root.name for root in settings().model_roots})
    cache = evaluation_cache_root()
    folders.update({str(cache.parent / "uploads"): "uploads", str(cache): "the evaluation cache"})
    for folder in sorted(folders, key=len, reverse=True):  # the deepest first: a root inside another
        text = text.replace(folder, folders[folder])
    return text.replace(f"{REPO_ROOT}/", "").replace(str(REPO_ROOT), "the app's folder")


def upload_name(upload: UploadedFile) -> str:
    """An upload's file name, its last component only: a browser sends a base name, a crafted request any text,
    and a name holding a server folder's path came back from `for_visitors` rewritten, telling the visitor that
    the folder exists."""
    name = PurePosixPath(upload.name.replace("\\", "/")).name
    return name if name not in ("", ".", "..") else "upload"


def visitor_text(exc: LwirstError) -> str:
    """Our error as a visitor reads it: server paths as `for_visitors` names them, and a command-line flag's
    advice with what the dashboard offers instead."""
    text = for_visitors(str(exc))
    cli = "pass --mask-threshold T (mask_threshold=T in Python)"
    if cli in text:  # the setting the dashboard has, in the command line's place
        text = text.replace(cli, f"start the dashboard with {MASK_THRESHOLD_ENV}=T (as `lwirst evaluate "
                                 "--mask-threshold T` takes it)")
    return "  \n".join(text.splitlines())  # a listed problem per line (Markdown joins plain newlines into one)


def show_error(exc: BaseException) -> None:
    """A readable message for any error: ours verbatim (its server paths as `for_visitors` names them), others
    named without a traceback."""
    if isinstance(exc, LwirstError):
        st.error(visitor_text(exc), icon=":material/error:")
        return
    log.exception("dashboard error")
    st.error(f"Unexpected error ({type(exc).__name__}: {for_visitors(str(exc))}). The input was not processed; "
             "try another input or setting.", icon=":material/error:")


def run_page(main: Callable[[], None]) -> None:
    """Run a page's main(); an exception becomes `show_error` (Streamlit's rerun/stop pass through)."""
    try:
        main()
    except Exception as exc:
        show_error(exc)


def heat_scale() -> str:
    """Sidebar: the heatmap's scale, probability or logit (Single frame and Failures share it)."""
    st.session_state.setdefault("heat_scale", "probability")
    return st.sidebar.radio("Heatmap scale", ["probability", "logit"], key="heat_scale", horizontal=True)


KEPT_KEY = "kept_widget_state"  # a plain key (no widget's): Streamlit never drops it as a stale widget's


def keep_widget_state() -> None:
    """Keep the values of shared widgets when a page that lacks them is shown (Streamlit drops a widget's state when
    it is not rendered; re-assigning the key keeps it). A copy is kept under KEPT_KEY as well: a fragment's run
    (Live's stream) leaves a value under the widget's id only, and a page change drops that before this runs, so
    Live forgot its source when the visitor left it streaming."""
    kept = st.session_state.setdefault(KEPT_KEY, {})
    for key in PERSISTENT:
        if key in st.session_state:
            kept[key] = st.session_state[key]
        if key in kept:
            st.session_state[key] = kept[key]


def select_default(key: str, options: Sequence[str], default: str | None = None) -> None:
    """Before a selectbox is drawn (the sidebar's or a page's): a stored value that is no longer offered falls
    back to the default; when that value came from the URL, the sidebar says so (`urlstate.unavailable`)."""
    if st.session_state.get(key) not in options:
        st.session_state[key] = default if default in options else options[0]
    notice = urlstate.unavailable(key, options)
    if notice:
        st.sidebar.warning(notice, icon=":material/link_off:")


# ---------------------------------------------------------------- model


def runs_on(backend: str, protocol: str, settings: RunSettings = PLAIN) -> str:
    """A run's backend, protocol and how its frames ran, for labels: "openvino/auto · consensus 1.5× · mirror ·
    margin 1 · black-hot · ignore 0,0,100%,24"."""
    return f"{backend}/{protocol}{settings.label()}"


@dataclass(frozen=True)
class Engine:
    """What runs the network: a model file (None: the demo network), its version, backend, protocol and how its
    frames run (`lwirst.run_settings`: scale consensus, mirror check, peak margin, polarity, the ignore zones'
    key, of regions only). Frozen: it is the cached segmenter's key as it stands (Streamlit hashes its
    fields)."""

    path: str | None
    version: str
    backend: str
    protocol: str
    settings: RunSettings = PLAIN

    @property
    def runs_on(self) -> str:
        return runs_on(self.backend, self.protocol, self.settings)


def session_id() -> str:
    """This browser session's id, under which its uploads are stored and bounded."""
    ctx = get_script_run_ctx()
    return ctx.session_id if ctx is not None else "local"


def settings() -> Settings:
    """The server's settings (read from the environment on every call)."""
    return load_settings()


_LOGGED_MISSING: set[MissingRoot] = set()


def missing_roots_warning() -> None:
    """Sidebar: a configured data or model root that is not a folder (a typo in LWIRST_DATA_DIR would
    otherwise pass for "no dataset configured"); the server's terminal gets the full path, once."""
    missing = settings().missing
    for root in missing:
        if root not in _LOGGED_MISSING:
            _LOGGED_MISSING.add(root)
            log.warning("%s=%s is not a folder: the dashboard leaves it out", root.variable, root.path)
    if missing:
        names = "; ".join(f"{root.variable} names a folder that does not exist ({root.path.name})" for root in missing)
        st.sidebar.warning(f"{names}. This server offers only the folders that exist, and the embedded samples.",
                           icon=":material/folder_off:")


SHIPPED_LABEL = f"{DEFAULT_MODEL.name} (shipped)"


def trained_models() -> dict[str, Path]:
    """Label -> model file under the configured roots, the shipped model first."""
    options: dict[str, Path] = {}
    for path in find_models(settings().model_roots, DEFAULT_MODEL):
        label = SHIPPED_LABEL if path == DEFAULT_MODEL.resolve() else f"{path.name} ({path.parent.name})"
        options[label] = path
    return options


def model_options(include_demo: bool | None = None) -> dict[str, Path | None]:
    """The trained models, and the untrained demo network last: only when asked for (the developer
    option, by default the session's) or when no trained model is installed."""
    options: dict[str, Path | None] = dict(trained_models())
    if include_demo is None:
        include_demo = bool(st.session_state.get(DEV_DEMO, False))
    if include_demo or not options:
        options[DEMO_MODEL] = None
    return options


def backends_for(path: Path | None, backends: Sequence[str]) -> list[str]:
    """The backends that can run a model: an ONNX file needs one that runs ONNX graphs."""
    if path is not None and path.suffix.lower() == ".onnx":
        return [b for b in backends if get_backend(b.removesuffix(BF16_SUFFIX)).runs_onnx]
    return list(backends)


# A backend's fast path computing in bfloat16 ("openvino-bf16"), offered where the CPU has it natively.
BF16_SUFFIX = "-bf16"


def backend_options() -> list[str]:
    """Installed backends (the registry's engine table), plus each one's bfloat16 path where this
    CPU computes bfloat16 natively."""
    installed = available_backends()
    bf16 = [name + BF16_SUFFIX for name in installed if (probe := get_backend(name).bf16) is not None and probe()]
    return [*installed, *bf16]


def engine_sidebar() -> None:
    """Sidebar: model (from the configured model roots), the backends that can run it, input protocol,
    scale consensus, and the developer option that offers the untrained demo network."""
    models = model_options()
    select_default("model", list(models))
    backends = backends_for(models[st.session_state["model"]], backend_options())
    select_default("backend", backends, default_backend())
    select_default("protocol", list(PROTOCOLS))
    st.session_state.setdefault("consensus", CONSENSUS_ON)
    st.session_state.setdefault("mirror", DEFAULT_MIRROR)
    st.session_state.setdefault("margin", DEFAULT_PER_DOUBLING > 0)
    select_default("polarity", list(POLARITIES), DEFAULT_POLARITY)
    with st.sidebar:
        st.subheader("Model")
        st.selectbox("Model", list(models), key="model", help="Model files found under the server's "
                     "configured model folders (data/models and LWIRST_DASHBOARD_MODEL_ROOTS)")
        bf16 = [b for b in backends if b.endswith(BF16_SUFFIX)]
        st.selectbox("Backend", backends, key="backend",
                     help=f"{default_backend()} (fp32) is the fastest exact path here; {', '.join(bf16)} is faster "
                          "but rounds to bfloat16 (see `lwirst bench`)" if bf16 else None)
        # folded, its settings named on the fold: open, they pushed the threshold a demo uses below the fold
        # keyed: its title says the choices, and a new title made a new, folded group after each change
        with st.expander(f"How frames run: {run_summary()}", key="how_frames_run"):
            st.radio("Input protocol", list(PROTOCOLS), key="protocol", horizontal=True,
                     help=help_for("auto", "resize", "native", "pyramid"))
            st.toggle(f"Scale consensus ({DASHBOARD_SCALE:g}×)", key="consensus", help=CONSENSUS_HELP)
            st.toggle("Mirror check (large frames)", key="mirror", help=MIRROR_HELP)
            st.toggle("Peak margin (large frames)", key="margin", help=MARGIN_HELP)
            st.radio("Sensor polarity", list(POLARITIES), key="polarity", horizontal=True, help=POLARITY_HELP)
            st.text_input("Ignore regions", key="ignore_regions", max_chars=IGNORE_CHARS, placeholder=IGNORE_EXAMPLE,
                          help=IGNORE_HELP)
        with st.expander("Developer options"):
            st.toggle("Offer the untrained demo network", key=DEV_DEMO,
                      help="A network with random weights (seed 0), for testing the pipeline: its "
                           "detections are meaningless")
    if (refused := zones_refusal()) is not None:  # beside the results, which run without them
        st.error(f"Ignore regions not applied: {refused}. The frames run without them.", icon=":material/error:")
    if models[st.session_state["model"]] is not None:
        return
    if trained_models():
        st.warning("Developer option: the pages run the **untrained demo network** (random weights, seed 0), "
                   "so its detections are meaningless. Choose a trained model in the sidebar for real results.",
                   icon=":material/warning:")
    else:
        st.warning("No trained model is installed: the pages run an **untrained demo network** (random weights, "
                   f"seed 0), so its detections are meaningless. Put the shipped model at "
                   f"`{DEFAULT_MODEL.relative_to(REPO_ROOT)}` to see real results.", icon=":material/warning:")


def run_summary() -> str:
    """The protocol, confirmation and polarity chosen, in a few words ("auto, consensus 1.5×, margin, black-hot")."""
    parts = [str(st.session_state.get("protocol", "auto"))]
    parts += [f"consensus {DASHBOARD_SCALE:g}×"] if st.session_state.get("consensus") else []
    parts += ["mirror"] if st.session_state.get("mirror") else []
    parts += ["margin"] if st.session_state.get("margin") else []
    parts += [BLACK_HOT.replace("-", "\u2011")] if chosen_polarity() == BLACK_HOT else []  # no break at the hyphen
    parts += ["ignore regions"] if chosen_zones() else []
    return ", ".join(parts)


def engine() -> Engine:
    """The sidebar's current model, backend, protocol and scale consensus."""
    models = model_options()
    path = models.get(st.session_state.get("model", next(iter(models))))
    return Engine(str(path) if path is not None else None, file_version(path),
                  st.session_state.get("backend", default_backend()), st.session_state.get("protocol", "auto"),
                  RunSettings(*chosen_confirmation(), chosen_margin(), chosen_polarity(), chosen_zones()))


def file_version(path: Path | None) -> str:
    """What keys a model file's cached loads: its modification time ("demo": the untrained network, no file)."""
    return str(path.stat().st_mtime_ns) if path is not None and path.exists() else "demo"


def chosen_confirmation() -> tuple[float | None, bool]:
    """The sidebar's scale consensus (its enlargement; None: off) and mirror check, without finding the models."""
    return (DASHBOARD_SCALE if st.session_state.get("consensus", CONSENSUS_ON) else None,
            bool(st.session_state.get("mirror", DEFAULT_MIRROR)))


def chosen_margin() -> float:
    """The sidebar's peak margin on large frames (logits per doubling of the area; 0: off)."""
    return MARGIN if st.session_state.get("margin", DEFAULT_PER_DOUBLING > 0) else 0.0


def chosen_polarity() -> str:
    """The sidebar's sensor polarity (`lwirst.polarity`); a value the radio cannot hold reads as the default."""
    chosen = st.session_state.get("polarity", DEFAULT_POLARITY)
    return chosen if chosen in POLARITIES else DEFAULT_POLARITY


def _zones_of(text: str) -> Zones:
    """The sidebar's ignore regions, "X,Y,W,H" separated by ";" (`lwirst.zones`)."""
    return Zones(tuple(Region.parse(part) for part in text.split(";") if part.strip()))


def sidebar_zones() -> tuple[str, str | None]:
    """The sidebar's ignore regions as their key ("0,0,100%,24;600,10,30,30") and why they cannot be applied:
    ("", the reason) for text that does not parse, ("", None) for none."""
    try:
        return _zones_of(str(st.session_state.get("ignore_regions", ""))).key, None
    except LwirstError as exc:
        return "", str(exc)


def zones_refusal() -> str | None:
    """Why the sidebar's ignore regions cannot be applied (None: they can, or there are none)."""
    return sidebar_zones()[1]


def chosen_zones() -> str:
    """The sidebar's ignore regions' key; "" for none or for text that does not parse (the page says why)."""
    return sidebar_zones()[0]


def white_hot_note(what: str) -> None:
    """Under black-hot, that `what` (lwirst's own synthetic content: the samples, the synthetic sensor, the sample
    video) is white-hot, so inverted it loses its targets: the page showed 0 targets beside bright ones, the
    reason only in a caption below the fold."""
    if chosen_polarity() == BLACK_HOT:
        st.warning(f"{what} white-hot, as lwirst's generator draws them: the sidebar's Sensor polarity black-hot "
                   "inverts them, so their targets are lost. Choose white-hot for them.", icon=":material/contrast:")


def own_content(label: str) -> bool:
    """Whether a Live source or a sidebar dataset is lwirst's own synthetic content (white-hot)."""
    return (label in (SYNTHETIC_SENSOR, SAMPLES_LABEL) or label.startswith(LOOP_PREFIX)
            or label == f"{DATASET_PREFIX}{SAMPLES_LABEL}")


def model_path(chosen: Engine) -> Path | None:
    """The model file of an engine (None: the demo network)."""
    return Path(chosen.path) if chosen.path is not None else None


class SharedSegmenter:
    """A cached `Segmenter` shared by every session. Each Segmenter is thread-safe itself; this one lock, over
    every model, keeps one frame in flight on the server, so visitors' frames cannot add up in memory."""

    def __init__(self, segmenter: Segmenter) -> None:
        self.segmenter = segmenter

    def predict(self, image: np.ndarray) -> Saliency:
        with _NETWORK_LOCK:
            return self.segmenter.predict(image)

    def predict_batch(self, images: Sequence[np.ndarray]) -> list[Saliency]:
        with _NETWORK_LOCK:
            return self.segmenter.predict_batch(images)


@st.cache_resource(max_entries=8, show_spinner="Loading the model...")
def segmenter(chosen: Engine) -> SharedSegmenter:
    """The cached segmenter of an engine choice (loaded once per server)."""
    model = demo_network() if chosen.path is None else chosen.path
    name = chosen.backend.removesuffix(BF16_SUFFIX)
    engine = engine_choice(name, bf16=name != chosen.backend)
    # at the size the model trained at (the dashboard has no size control: a model trained at 128x128 ran at 256)
    ran = chosen.settings
    return SharedSegmenter(Segmenter(model, protocol=chosen.protocol, size=None, confirm=ran.confirm,
                                     mirror=ran.mirror, margin=ran.margin, polarity=ran.polarity,
                                     ignore=_zones_of(ran.ignore), **engine))


@st.cache_data(max_entries=16, ttl=3600, show_spinner="Running the network...")
def saliency(chosen: Engine, key: str, _image: np.ndarray) -> Saliency:
    """The network's saliency map of an image; `key` (its content hash) caches it per engine."""
    return segmenter(chosen).predict(_image)


def rescore(chosen: Engine, saliency_map: Saliency, post: Postprocess) -> FrameResult:
    """Threshold + Eq. 4 filter on an existing saliency map, without the network."""
    return FramePipeline(segmenter(chosen)).rescore(saliency_map, post.threshold, post.target_filter)


def tracking_pipeline(chosen: Engine, post: Postprocess) -> FramePipeline:
    """A fresh pipeline with a tracker (video, live stream) on the cached segmenter."""
    return FramePipeline(segmenter(chosen), post.threshold, post.target_filter, Tracker(**asdict(post.tracking)))


def analyse(chosen: Engine, frame: Frame, post: Postprocess, scale: str = "probability") -> FrameReport:
    """Everything the pages show for one frame; only the first call per image and engine runs the network."""
    return frame_report(frame.image, rescore(chosen, saliency(chosen, frame.key, frame.image), post), scale,
                        frame.mask)


@st.cache_data(max_entries=8, show_spinner="Reading the model card...")
def card_of(path: str | None, version: str) -> ModelCard:
    """The model card of a model file at one version (`file_version`; None: the untrained demo network)."""
    return model_card(Path(path) if path is not None else None)


def card(chosen: Engine) -> ModelCard:
    """The model card of the chosen model (cached per file version)."""
    return card_of(chosen.path, chosen.version)


# ---------------------------------------------------------------- data


@dataclass(frozen=True)
class DataChoice:
    """A dataset the sidebar points at: a configured root (or the samples), a dataset in it, a split."""

    label: str
    root: str
    dataset: str
    split: str

    @property
    def name(self) -> str:
        """How every page names it: "data/sirst (test)", the data root's label, the dataset, the split."""
        return f"{self.label} ({self.split})"


def data_name(root_label: str, dataset: str) -> str:
    """How the pages name a dataset: its data root's label, then the dataset's folder unless the root is
    itself one dataset ("auto")."""
    return root_label if dataset == "auto" else f"{root_label}/{dataset}"


def _data_roots() -> dict[str, str]:
    """Label -> folder: the configured data roots (LWIRST_DATA_DIR first), then the embedded samples."""
    roots: dict[str, str] = {}
    for root in settings().data_roots:
        label = root.name if root.name not in roots else f"{root.name} ({len(roots) + 1})"
        roots[label] = str(root)
    if SAMPLES_DIR.is_dir():
        roots[SAMPLES_LABEL] = str(SAMPLES_DIR)
    return roots


STAMP_TTL_S = 2.0  # a rerun asks for a folder's stamp several times: a root of 5,000 folders took 56 ms a time


@st.cache_data(ttl=STAMP_TTL_S, show_spinner=False)
def folder_stamp(folder: Path) -> tuple[int, ...]:
    """The modification times of a folder and of its sub-folders: adding a dataset to a data root, or a split to
    a dataset, changes one of them. The pickers' lists are cached by it, so a folder made while the server runs is
    offered within two seconds (a two-minute cache had sent a visitor's link to other data)."""
    try:
        return (folder.stat().st_mtime_ns, *(sub.stat().st_mtime_ns for sub in sorted(folder.iterdir())
                                              if sub.is_dir()))
    except OSError:
        return ()


@st.cache_data(ttl=120, show_spinner=False)
def _datasets(root: str, stamp: tuple[int, ...]) -> list[str]:
    """The datasets in a data root: the root itself ("auto") if it is one, and its dataset sub-folders."""
    try:
        detect_layout(root)
        found = ["auto"]
    except LwirstError:
        found = []
    return found + list(find_datasets(root))


@st.cache_data(ttl=120, show_spinner=False)
def _not_offered(root: str, stamp: tuple[int, ...]) -> tuple[str, list[str]]:
    """What a root holds that is no dataset: where its own masks may lie under another name ("" for nowhere),
    and its folders of frames left out of the datasets, each with where its masks may lie (each a folder
    listing: once per stamp, not on every rerun)."""
    def named(folder: Path) -> str:
        masks = masks_named_otherwise(folder)
        return f"{folder.name} ({rename_advice(masks)})" if masks else folder.name

    return masks_named_otherwise(Path(root)), [named(Path(root) / name) for name in frames_without_layout(root)]


@st.cache_data(ttl=120, show_spinner=False)
def _splits(root: str, dataset: str, stamp: tuple[int, ...]) -> list[str]:
    return list_splits(root, dataset)


def data_roots() -> dict[str, str]:
    """Label -> folder of every data root the server offers (see `_data_roots`)."""
    return _data_roots()


def plain_dataset(spec: str) -> bool:
    """Whether a model record's dataset names datasets under a root ("sirst", "fusion:a+b", "mdfa@black"), not a
    path out of it ("../elsewhere"), which the server would open wherever it pointed."""
    return not any(part in spec for part in ("/", "\\", ".."))


def offered_root(folder: str) -> list[str]:
    """`folder` (a model's recorded data root) as a list when it lies inside a data root the server offers, else
    []: the server opens no folder it does not offer, whatever a model file names."""
    if not folder:
        return []
    where = Path(folder).resolve()
    return [folder] if any(where.is_relative_to(Path(root).resolve()) for root in _data_roots().values()) else []


def datasets_in(root: str) -> list[str]:
    """The datasets of a data root (cached while its folders are unchanged)."""
    return _datasets(root, folder_stamp(Path(root)))


def splits_of(root: str, dataset: str) -> list[str]:
    """The splits of a dataset (cached while its folders are unchanged)."""
    folder = Path(root) if dataset == "auto" else Path(root) / dataset
    return _splits(root, dataset, folder_stamp(folder))


# What a visitor whose folder is not offered needs: the layouts read, and what runs without masks
DATASET_LAYOUTS = ("A dataset is a folder of images/ and masks/ matched by name (or NAME.png beside NAME_mask.png), "
                   "or SIRST, BasicIRSTD, MDFA or SIRST-Aug as published. Frames without masks run on Single frame "
                   "and Video (Upload), or with `lwirst segment`; `lwirst masks` makes masks from box or point "
                   "labels.")


def data_source() -> DataChoice | None:
    """Sidebar: a data directory (configured roots or the embedded samples), a dataset in it and a split."""
    roots = _data_roots()
    if not roots:
        st.sidebar.info("No data: the embedded samples are missing and no data root is configured "
                        "(set LWIRST_DATA_DIR).")
        return None
    select_default("data_root", list(roots))
    st.sidebar.subheader("Data")
    root_label = st.sidebar.selectbox("Data directory", list(roots), key="data_root",
                                      help="Folders the server offers: LWIRST_DATA_DIR, "
                                           "LWIRST_DASHBOARD_DATA_ROOTS and the embedded samples")
    if list(roots) == [SAMPLES_LABEL]:
        st.sidebar.caption("This server offers only the embedded samples. Whoever runs it offers a folder of "
                           "frames and masks by starting it with `LWIRST_DATA_DIR=/that/folder lwirst dashboard` "
                           "(more with LWIRST_DASHBOARD_DATA_ROOTS); one frame or video runs on Single frame or "
                           "Video (Upload).")
    root = roots[root_label]
    datasets = datasets_in(root)
    renamed, left_out = _not_offered(root, folder_stamp(Path(root)))
    if not datasets:
        st.sidebar.error(f"{root_label} holds no dataset in a supported layout"
                         f"{': ' + rename_advice(renamed) if renamed else ''}. {DATASET_LAYOUTS}",
                         icon=":material/folder_off:")
        st.info(f"No dataset to show from {root_label}: the sidebar's Data section says why, and what to do.",
                icon=":material/folder_off:")  # the page below is empty: said where the visitor looks
        return None
    if left_out:
        st.sidebar.caption(f"Left out of the datasets (frames without a dataset layout, such as no masks/): "
                           f"{', '.join(left_out)}. {DATASET_LAYOUTS}")
    select_default("data_dataset", datasets)
    dataset = st.sidebar.selectbox("Dataset", datasets, key="data_dataset",
                                   format_func=lambda d: f"all of {root_label}" if d == "auto" else d)
    splits = splits_of(root, dataset)
    select_default("data_split", splits, "test" if "test" in splits else "all")
    split = st.sidebar.selectbox("Split", splits, key="data_split")
    choice = DataChoice(data_name(root_label, dataset), root, dataset, split)
    if skipped := skipped_frames(choice):  # the command line names them; a page passed them over in silence
        st.sidebar.caption(f"Not read: {count_text(len(skipped), 'file')} of an image format this project does not "
                           f"read ({', '.join(skipped[:3])}{', ...' if len(skipped) > 3 else ''}); convert them to "
                           "PNG or TIFF to have them scored.")
    return choice


def skipped_frames(choice: DataChoice) -> tuple[str, ...]:
    """The names of the files beside a dataset's frames in formats this project does not read (WebP, GIF, ...),
    as the dataset found them when it opened (`SegDataset.skipped`); () for a dataset that does not open."""
    try:
        return open_data(choice).skipped
    except LwirstError:
        return ()


@st.cache_resource(max_entries=8, show_spinner="Opening the dataset...")
def _opened(root: str, dataset: str, split: str, stamp: tuple[tuple[str, int], ...],
            mask_threshold: float | None) -> SegDataset:
    return open_dataset(root, dataset, split, validate=False, mask_threshold=mask_threshold)


def _open_data(root: str, dataset: str, split: str) -> SegDataset:
    """Opened once per server and listing: a dataset whose folders or split lists changed since
    (`listing_stamp`) is opened again, so a server left running sees images added or removed."""
    try:
        stamp = listing_stamp(root, dataset)
    except LwirstError:
        stamp = ()
    return _opened(root, dataset, split, stamp, settings().mask_threshold)


def open_data(choice: DataChoice) -> SegDataset:
    """The dataset of a choice (images are read on demand)."""
    return _open_data(choice.root, choice.dataset, choice.split)


@st.cache_data(ttl=STAMP_TTL_S, show_spinner=False)
def data_fingerprints(choice: DataChoice) -> tuple[str, ...]:
    """The content fingerprints whose results hold for a choice's data (`lwirst.evaluate.data_fingerprints`: a stat
    of every file): asked by several views of one rerun, taken once; a file rewritten is seen within two seconds."""
    return fingerprints_of(open_data(choice))


@st.cache_data(max_entries=64, show_spinner=False)
def _load_item(root: str, dataset: str, split: str, index: int, files: tuple[tuple[str, int], ...]) -> Sample:
    return _open_data(root, dataset, split).load(index)


def _files_stamp(data: SegDataset, index: int) -> tuple[tuple[str, int], ...]:
    """Each file of an item with its modification time: an image or mask rewritten in place is read again."""
    item = data.items[index]
    stamp = []
    for path in (item.image, item.mask):
        try:
            stamp.append((str(path), Path(path).stat().st_mtime_ns))
        except OSError:
            stamp.append((str(path), -1))
    return tuple(stamp)


def _item(root: str, dataset: str, split: str, index: int) -> Sample:
    return _load_item(root, dataset, split, index, _files_stamp(_open_data(root, dataset, split), index))


def load_item(choice: DataChoice, index: int) -> Sample:
    """Image and mask of one dataset item (cached by its files' times)."""
    return _item(choice.root, choice.dataset, choice.split, index)


def files_stamp(choice: DataChoice, index: int | None = None) -> tuple[tuple[str, int], ...]:
    """Each file of one item (or of every item) with its modification time: a cache keyed on it reads an
    image or mask edited in place again."""
    data = open_data(choice)
    return tuple(entry for i in (range(len(data)) if index is None else (index,)) for entry in _files_stamp(data, i))


def load_image(choice: DataChoice, index: int) -> np.ndarray:
    """The image of one dataset item alone (its mask missing or unusable), cached by its files' times."""
    return _load_image(choice.root, choice.dataset, choice.split, index,
                       _files_stamp(_open_data(choice.root, choice.dataset, choice.split), index))


@st.cache_data(max_entries=16, show_spinner=False)
def _load_image(root: str, dataset: str, split: str, index: int, files: tuple[tuple[str, int], ...]) -> np.ndarray:
    return _open_data(root, dataset, split).load_image(index)


def chosen_data() -> DataChoice | None:
    """The data this session's sidebar points at (chosen on another page), without drawing its widgets; None
    before a choice, or when the choice is no longer offered."""
    roots = _data_roots()
    label, dataset, split = (st.session_state.get(key) for key in ("data_root", "data_dataset", "data_split"))
    if label not in roots or dataset not in datasets_in(roots[label]) or split not in splits_of(roots[label], dataset):
        return None
    return DataChoice(data_name(label, dataset), roots[label], dataset, split)


DEMO_SCAN = 32  # images the demo looks through, from the one asked for, for one whose ground truth holds a target


@dataclass(frozen=True)
class DemoFrame:
    """The Home page's demo frame, where it lives, its index there, how many target-free images before it
    the demo passed over, and whether its mask was resized to it (`Sample.mask_note`)."""

    frame: Frame
    where: DataChoice
    index: int
    passed_over: int
    mask_note: str = ""


def demo_frame(index: int = 0) -> DemoFrame:
    """Image `index` (wrapping round) of the data the sidebar points at, once the visitor chose some; else of the
    test split of the first dataset the server offers (LWIRST_DATA_DIR's first), else of the embedded samples.
    Where that image's ground truth holds no target, the next one that does (`DEMO_SCAN` images at most): a
    user's split often opens on frames of empty sky, and a demo of them shows nothing to find."""
    chosen = chosen_data()
    offered = [] if chosen is None else [chosen]
    for label, root in _data_roots().items():
        for dataset in datasets_in(root):
            try:
                splits = splits_of(root, dataset)
            except LwirstError:
                continue
            offered.append(DataChoice(data_name(label, dataset), root, dataset, "test" if "test" in splits else "all"))
    for choice in offered:
        try:
            size = len(open_data(choice))
        except LwirstError:
            continue
        start = index % size if size else 0
        first: tuple[int, Sample] | None = None
        for step in range(min(size, DEMO_SCAN)):
            position = (start + step) % size
            try:
                sample = load_item(choice, position)
            except LwirstError:
                continue
            first = first or (position, sample)
            if sample.mask.any():
                return DemoFrame(make_frame(sample.name, sample.image, sample.mask), choice, position, step,
                                 sample.mask_note())
        if first is not None:  # no target in reach: the image asked for (or the first readable one) as it is
            return DemoFrame(make_frame(first[1].name, first[1].image, first[1].mask), choice, first[0], 0,
                             first[1].mask_note())
    raise LwirstError("no demo frame: the embedded samples are missing and no dataset is configured")


IMAGE_OF_KEY = "dataset_image_of"  # the DataChoice whose image the Single frame picker's position points into


def show_in_single_frame(choice: DataChoice, index: int) -> None:
    """Point the Single frame page at image `index` of `choice` (sidebar data and image picker) and open it."""
    root_label = next(label for label, root in _data_roots().items() if root == choice.root)
    st.session_state.update({"data_root": root_label, "data_dataset": choice.dataset, "data_split": choice.split,
                             "dataset_image": index, IMAGE_OF_KEY: choice,
                             "frame_source": "Sample or dataset image"})
    st.switch_page(page_spec("single-frame").path)


def decode(upload: UploadedFile, name: str) -> np.ndarray:
    """An uploaded image, validated against this server's limits; decoded once per upload, not on every rerun of
    the page (a 4096x4096 JPEG takes seconds, and each widget's change reruns it)."""
    return _decoded(upload.file_id, name, upload.getvalue())


@st.cache_data(max_entries=4, show_spinner="Reading the image...")
def _decoded(file_id: str, name: str, _data: bytes) -> np.ndarray:
    limits = settings()
    return decode_upload(_data, name, limits.max_upload_bytes, limits.max_image_pixels, limits.min_image_side)


@dataclass(frozen=True)
class Frame:
    """An image to segment: name, pixels as stored, ground-truth mask if known, content key."""

    name: str
    image: np.ndarray
    mask: np.ndarray | None
    key: str


def make_frame(name: str, image: np.ndarray, mask: np.ndarray | None = None) -> Frame:
    """A frame keyed by its content, so the same pixels never run the network twice."""
    return Frame(name, image, mask, image_key(image))


# ---------------------------------------------------------------- post-processing widgets


@dataclass(frozen=True)
class Postprocess:
    """The threshold (a logit; 0 is the paper's Th), the Eq. 4 filter and, where a page tracks (Video, Live),
    how targets link into tracks."""

    threshold: float
    target_filter: TargetFilter
    tracking: TrackerSettings = field(default_factory=TrackerSettings)


# The tracking sliders' upper ends: a gate of 200 px spans most of a 256-px frame
GATE_CAP, MISSED_CAP, HITS_CAP = 200, 30, 10


def postprocess_controls(tracking: bool = False) -> Postprocess:
    """Sidebar: threshold and Eq. 4 filter widgets (changing them never re-runs the network), and the tracker's
    where a page tracks."""
    st.session_state.setdefault("threshold", 0.0)
    with st.sidebar:
        st.subheader("Post-processing", help="The paper's Sec. III-C: threshold the saliency map, group pixels "
                     "into 8-connected targets, keep targets whose size and aspect ratio pass the filter (Eq. 4)")
        threshold = st.slider("Threshold (logit)", *THRESHOLD_RANGE, step=0.1, key="threshold",
                              help=help_for("threshold", "logit"))
        st.caption(f"= probability {probability_text(threshold, 3)}; {describe_growth(GROW_TO)}"
                   + cut_masks(threshold, *chosen_confirmation(), chosen_margin()))
        target_filter = _filter_sliders()
    return Postprocess(float(threshold), target_filter, tracker_controls() if tracking else TrackerSettings())


def filter_controls() -> TargetFilter:
    """Sidebar: the Eq. 4 filter's widgets alone, for a page with its own threshold (Evaluate); the same
    widgets as `postprocess_controls`', so a filter set on one page holds on every page."""
    with st.sidebar:
        st.subheader("Post-processing", help="Keep only targets whose size and aspect ratio pass the paper's "
                     "filter (Eq. 4): the scores count those targets")
        return _filter_sliders()


def _filter_sliders() -> TargetFilter:
    """The Eq. 4 filter's range sliders, where they are drawn."""
    st.session_state.setdefault("size_range", (0, SIZE_CAP))
    st.session_state.setdefault("ratio_range", (0.0, RATIO_CAP))
    _open_collapsed("size_range", 1, SIZE_CAP)
    size = st.slider("Target size (pixels, ends excluded)", 0, SIZE_CAP, key="size_range", on_change=_keep_open,
                     args=("size_range", 1, SIZE_CAP),
                     help=f"{help_for('Eq. 4')}\n\n0 and {SIZE_CAP} mean no bound")
    _range_note("size_range")
    _open_collapsed("ratio_range", 0.1, RATIO_CAP)
    ratio = st.slider("Aspect ratio (width / height, ends excluded)", 0.0, RATIO_CAP, step=0.1,
                      key="ratio_range",
                      on_change=_keep_open, args=("ratio_range", 0.1, RATIO_CAP),
                      help=f"{help_for('Eq. 4')}\n\n0 and {RATIO_CAP:g} mean no bound")
    _range_note("ratio_range")
    return filter_from_ranges(size, ratio, SIZE_CAP, RATIO_CAP)


def tracker_controls() -> TrackerSettings:
    """Sidebar: how targets link into tracks (`lwirst video`'s --gate, --max-missed and --min-hits)."""
    default = TrackerSettings()
    # defaults through the session state, as the other widgets' (`keep_widget_state` keeps their values across
    # pages): a default passed to a widget as well logged a "set via the Session State API" warning per page
    for key, value in (("track_gate", int(default.gate)), ("track_missed", default.max_missed),
                       ("track_hits", default.min_hits)):
        st.session_state.setdefault(key, value)
    with st.sidebar:
        st.subheader("Tracking", help="Each frame's targets join the tracks they are nearest to; a track gets an "
                     "id (T<n>) once seen on enough frames, so a one-frame false alarm never does")
        gate = st.slider("Gate (pixels per frame)", 1, GATE_CAP, key="track_gate",
                         help="The largest jump a target may make between two frames and keep its track: a target "
                              "moving faster gets no track; a wide gate can join a target to a nearby false alarm")
        missed = st.slider("Frames a track coasts unseen", 0, MISSED_CAP, key="track_missed",
                           help="A confirmed track whose target is not found goes on along its path this many "
                                "frames (a target that blinks out keeps its id)")
        hits = st.slider("Frames before a track gets an id", 1, HITS_CAP, key="track_hits",
                         help="Detections, frame after frame, before a track is confirmed and drawn as T<n>")
    return TrackerSettings(float(gate), missed, hits)


def _keep_open(key: str, step: float, cap: float) -> None:
    """A range slider's callback: a valid range clears the note of `_open_collapsed`, a collapsed one
    is opened."""
    if _keeps_any(*st.session_state[key], step):
        st.session_state.pop(f"{key}_note", None)
    else:
        _open_collapsed(key, step, cap)


def _keeps_any(low: float, high: float, step: float) -> bool:
    """Whether Eq. 4's exclusive bounds (low, high) can keep a target: a whole pixel count (`step` an int)
    needs a gap of two (7 < size < 9 keeps 8), a ratio any gap."""
    return low < high - (step if isinstance(step, int) else 0)


def _open_collapsed(key: str, step: float, cap: float) -> None:
    """A collapsed range (one that keeps no target: Eq. 4's ends are excluded), whether dragged there or
    from a shared URL, is opened to the narrowest that keeps any before its slider is drawn, and a note
    under the slider says so."""
    low, high = st.session_state[key]
    if _keeps_any(low, high, step):
        return
    whole = isinstance(step, int)
    gap = 2 * step if whole else step
    opened = (low, low + gap) if low + gap <= cap else (cap - gap, cap)
    if not whole:
        opened = (round(opened[0], 1), round(opened[1], 1))
    st.session_state[key] = opened
    kept = f"{opened[0]:g} < value < {opened[1]:g}: Eq. 4's ends are excluded"
    st.session_state[f"{key}_note"] = (f"The range {low:g}–{high:g} is empty and would drop every target: "
                                      f"opened to {opened[0]:g}–{opened[1]:g}, the narrowest that keeps any ({kept}).")


def _range_note(key: str) -> None:
    """The note of `_keep_open`, right under its slider."""
    note = st.session_state.get(f"{key}_note")
    if note:
        st.caption(f":orange[{note}]")


# ---------------------------------------------------------------- video


@dataclass(frozen=True)
class VideoSource:
    """A video to process: an embedded sample (path), an upload (`stored` in the server's upload store, on disk
    and bounded as uploaded models are; held in memory, Video's and Live's pinned up to 400 MB a browser tab, with
    no bound over the tabs) or a dataset split (its images as frames); key identifies its content."""

    name: str
    key: str
    path: Path | None = None
    stored: Path | None = None
    split: DataChoice | None = None

    @property
    def data(self) -> bytes | None:
        """An upload's bytes, read from the store for a run (and its place there refreshed); None for the other
        sources. An upload the store has dropped (unused past its time, or making room for newer ones) is a
        clear error."""
        if self.stored is None:
            return None
        try:
            data = self.stored.read_bytes()
            os.utime(self.stored.parent)  # in use: the store keeps the least recently used longest
        except OSError:
            raise LwirstError(dropped_text(f"{self.name}: this upload")) from None
        return data


def dropped_text(upload: str) -> str:
    """That `upload` ("Your upload **clip.mp4**") is no longer in the upload store, why, and what to do."""
    return (f"{upload} is no longer kept on the server (uploads unused for {limit('LWIRST_UPLOAD_TTL_SECONDS')} s, "
            "or the oldest when newer ones need the room, are dropped); upload it again")


def sample_videos() -> dict[str, Path]:
    """The embedded sample videos, by file name."""
    return {p.name: p for p in sorted(SAMPLES_DIR.glob("*")) if p.suffix.lower() in VIDEO_SUFFIXES}


def video_from_sample(name: str, path: Path) -> VideoSource:
    return VideoSource(name, f"{path}:{path.stat().st_mtime_ns}", path=path)


def video_truth(source: VideoSource, output: VideoOutput) -> TruthScore | None:
    """An embedded sample's detections against the truth beside it (None for uploads and splits)."""
    if source.path is None:
        return None
    try:
        return score_video(source.path, pd.read_csv(io.BytesIO(output.csv)), output.result.frames_done)
    except LwirstError as exc:
        log.warning("no truth for %s: %s", source.name, exc)
        return None


def _chosen_first(labels: list[str]) -> list[str]:
    """`labels` with the sidebar's data (`chosen_data`) first, where it is one of them: a page opens on it."""
    chosen = chosen_data()
    first = f"{DATASET_PREFIX}{chosen.name}" if chosen is not None else None
    return sorted(labels, key=lambda label: label != first)


def video_splits() -> list[str]:
    """The dataset splits the Video page can play: the sidebar's first, then configured roots' (labels as on
    Live)."""
    streams = list(dataset_streams())
    return _chosen_first(sorted(streams, key=lambda label: label.startswith(f"{DATASET_PREFIX}{SAMPLES_LABEL}")))


def video_from_split(label: str) -> VideoSource:
    """A dataset split (a `dataset_streams` label) played as a video, bounded by LWIRST_MAX_SPLIT_FRAMES."""
    choice = dataset_streams()[label]
    most = limit("LWIRST_MAX_SPLIT_FRAMES")
    return VideoSource(choice.name, f"{choice.root}:{choice.dataset}:{choice.split}:{most}", split=choice)


def video_upload(key: str) -> VideoSource | None:
    """An uploader for a video file (at most the server's upload limit), validated by `video_from_upload`;
    None (with a hint or the readable refusal shown) until a valid video is uploaded."""
    most_mb, frames, megapixels = settings().max_upload_mb, limit(UPLOAD_FRAMES), limit(UPLOAD_WORK)
    # Streamlit empties an uploader when its page is left; the last valid upload is kept (with whether the
    # uploader still shows it), so a visitor back from another page finds their video and its result
    kept_key, returning = f"{key}_kept", key not in st.session_state
    kept: tuple[VideoSource, bool] | None = st.session_state.get(kept_key)
    upload = st.file_uploader("Video file", type=[s.lstrip(".") for s in VIDEO_SUFFIXES + STACK_SUFFIXES], key=key,
                              max_upload_size=most_mb, help=f"At most {most_mb} MB, {frames} frames and "
                                                            f"{megapixels} megapixels in all")
    forgot = st.session_state.get(f"{key}_forget", False)  # the button below, clicked: this run drops it
    if upload is None and kept is not None and kept[0].stored is not None and not kept[0].stored.is_file():
        st.session_state.pop(kept_key, None)  # the store dropped it: said, not offered as kept
        st.warning(dropped_text(f"Your upload **{kept[0].name}**") + ".", icon=":material/history:")
        kept = None
    if upload is None and kept is not None and (returning or not kept[1]) and not forgot:
        st.session_state[kept_key] = (kept[0], False)
        st.caption(f"Your upload **{kept[0].name}**, kept while you were on other pages; upload another file "
                   "to replace it.")
        st.button("Forget this video", key=f"{key}_forget")
        return kept[0]
    if upload is None:  # none yet, the visitor removed theirs, or forgot the kept one
        st.session_state.pop(kept_key, None)
        st.info(f"Upload a video (MP4, AVI, MOV, MKV, MPEG, WebM, animated GIF, or a multi-page TIFF of a camera's "
                f"raw frames) of at most {frames} frames "
                f"({UPLOAD_FRAMES} on this server), fewer of large frames: {megapixels} megapixels in all "
                f"({UPLOAD_WORK}; {megapixels * 10**6 // (1280 * 1024)} frames of 1280×1024). `lwirst video` on the "
                "command line takes longer ones.")
        return None
    st.session_state.pop(kept_key, None)  # another file replaces the kept one, refused or not
    try:
        source = video_from_upload(upload_name(upload), upload.getvalue())
    except LwirstError as exc:
        show_error(exc)
        return None
    st.session_state[kept_key] = (source, True)
    return source


def video_from_upload(name: str, data: bytes) -> VideoSource:
    """An uploaded video, refused when over the server's upload limit or when its container declares
    frames or a frame count over `lwirst.limits` (for frames, `UPLOAD_FRAMES` and `UPLOAD_WORK`)."""
    check_upload_size(len(data), name, settings().max_upload_bytes)
    key = hashlib.sha1(data, usedforsecurity=False).hexdigest()
    refusal = _video_refusal(key, name, data)
    if refusal is not None:
        raise LwirstError(refusal)
    return VideoSource(name, key, stored=store_upload(uploads_root(), session_id(), key, name, data))


@st.cache_data(max_entries=32, show_spinner="Checking the video...")
def _video_refusal(key: str, name: str, _data: bytes) -> str | None:
    """Why the container of upload `key` is refused, or None (cached: not probed again on each rerun)."""
    try:
        check_video_upload(_data, name)
    except LwirstError as exc:
        return str(exc)
    return None


@dataclass
class VideoRun:
    """This session's last video run: the video (`VideoSource.key`), engine and settings it runs with, the
    video's name, the frames done so far of how many, and its output once it ends (None while it runs, or
    when it was stopped before any output could be kept; only the frames done when it was stopped)."""

    signature: tuple[str, Engine, Postprocess]
    name: str
    done: int = 0
    total: int | None = None
    output: VideoOutput | None = None
    unasked: bool = False  # started without a click (the sample, on opening the page)
    stopped_by_visitor: bool = False  # the page's Stop (its click callback says so)
    # another script run of the session started while this one went on or just after it ended (a page change,
    # another widget, or Stop's click): Streamlit stops a run that way, where the header's Stop starts none
    cut_by_rerun: bool = False
    ended_at: float = 0.0  # time.monotonic() when it ended (set before `ended`)
    # set once the run has ended and `output` holds all it will: a click that stops a run starts the next script
    # run at once, on another thread, while the stopped one still writes out its frames
    ended: threading.Event = field(default_factory=threading.Event, compare=False, repr=False)


# How long a page waits for a stopped run to write out its frames: one frame and a short video's encoding
VIDEO_UNWIND_S = 30.0
# A script run starting this soon after a video run ended is the rerun that stopped it (a page change, a widget);
# after the header's Stop no run starts until the visitor acts
RERUN_GRACE_S = 1.5


def _last_run() -> VideoRun | None:
    """This session's last video run, if any, once it has ended (waiting for a stopped one to keep its frames,
    at most VIDEO_UNWIND_S; a run still going after that is read as it stands)."""
    run = st.session_state.get("video_output")
    if run is not None and not run.ended.wait(VIDEO_UNWIND_S):
        log.warning("the last video run on %s had not ended after %.0f s", run.name, VIDEO_UNWIND_S)
    return run


def stored_video(source: VideoSource, chosen: Engine, post: Postprocess) -> VideoOutput | None:
    """This session's processed video, if it was made from this video, engine and settings (complete, or
    the frames done before its run was stopped)."""
    run = _last_run()
    return run.output if run is not None and run.signature == (source.key, chosen, post) else None


def cut_short_unasked(source: VideoSource, chosen: Engine, post: Postprocess) -> bool:
    """Whether this session's last run, started unasked with these settings, was cut short by another script run
    (a page change, another widget) rather than by the visitor's Stop (the page's or the header's): run again
    unasked, it shows the page as on opening."""
    run = _last_run()
    return (run is not None and run.signature == (source.key, chosen, post) and run.unasked
            and run.cut_by_rerun and not run.stopped_by_visitor
            and (run.output is None or run.output.result.interrupted))


def note_new_run() -> None:
    """At the start of every script run of the session (any page): a video run still going, or one that ended
    within RERUN_GRACE_S, is being cut short by this one. Streamlit stops the old run with the same exception
    whether a rerun or the header's Stop asked, and the old run may finish unwinding before the new one gets
    here, so the cause is told by whether a new run started at about that time."""
    run = st.session_state.get("video_output")
    if isinstance(run, VideoRun) and (not run.ended.is_set() or time.monotonic() - run.ended_at < RERUN_GRACE_S):
        run.cut_by_rerun = True


def stop_video() -> None:
    """The page's Stop (a click callback, before the page's next run): the run it stops was the visitor's choice."""
    run = st.session_state.get("video_output")
    if run is not None:
        run.stopped_by_visitor = True


def stopped_run(source: VideoSource) -> str | None:
    """'The last run on NAME was stopped after N of M frames.' when this session's last run on this video
    was stopped (the header's Stop, or a widget changed while it ran); else None. A page runs one script
    at a time per session, so a run without a complete output, seen from a later run, was stopped."""
    run = _last_run()
    if run is None or run.signature[0] != source.key or (run.output is not None and
                                                          not run.output.result.interrupted):
        return None
    of = f" of {run.total}" if run.total else ""
    return f"The last run on {run.name} was stopped after {run.done}{of} frames."


def run_video(source: VideoSource, chosen: Engine, post: Postprocess, bar: DeltaGenerator,
              unasked: bool = False) -> VideoOutput:
    """Segment and track every frame, updating a progress bar; the run and its result are kept in the session.

    Streamlit stops a script (the header's Stop, or a rerun when a widget changes) by raising from its next
    element call, here the progress bar's; after a Stop it refuses session-state access too. So the run's
    record goes into the session before the first frame and is only updated in place: a stopped run ends
    as if interrupted (`process_frames` keeps a playable video of the frames done), its partial output is
    put in the record for the next run of the page to show, and Streamlit's exception goes on. A click starts
    that next run at once, on another thread, so it waits for the record's `ended` (`_last_run`). At most one
    output per session, as for a full run."""
    run = VideoRun((source.key, chosen, post), source.name, unasked=unasked)
    st.session_state["video_output"] = run
    halted: list[StopException | RerunException] = []

    clock = RunClock()
    budget = RunBudget() if source.stored is not None else None  # a visitor's upload: its run is bounded in time

    def progress(done: int, total: int | None) -> None:
        run.done, run.total = done, total
        if budget is not None:  # stopped as a damaged frame stops it: the frames before are kept and shown
            budget.check(source.name, "frame", done, total, "Process a shorter clip here, or the whole video on your "
                                                           "own machine with `lwirst video`.")
        try:
            bar.progress(min(done / total, 1.0) if total else 0.0,
                         text=clock.text(done, total) + SERVER_LOAD.shared("video"))
        except (StopException, RerunException) as exc:
            halted.append(exc)
            raise KeyboardInterrupt from exc

    try:
        pipeline = tracking_pipeline(chosen, post)
        with SERVER_LOAD.running("video", lambda text: bar.progress(0.0, text=text)):
            if source.split is not None:
                output = segment_split(open_data(source.split), source.name, pipeline, progress)
            else:
                media = source.data if source.stored is not None else source.path  # an upload runs as one
                output = segment_video(media, source.name, pipeline, progress)
    except LwirstError:
        if not halted:  # an error, shown where it happened: not a stopped run
            del st.session_state["video_output"]
            raise
    else:
        run.output = output
    finally:
        run.ended_at = time.monotonic()
        run.ended.set()
    if halted:  # Streamlit's stop or rerun goes on
        raise halted[0]
    return output


def video_size(output: VideoOutput) -> tuple[int, int]:
    """Width and height of a processed video's frames (read once per video)."""
    sizes = st.session_state.setdefault("video_sizes", {})
    key = id(output)
    if key not in sizes:
        sizes.clear()
        sizes[key] = frame_size_of(output.video)
    return sizes[key]


# ---------------------------------------------------------------- live


# Live streams at the pipeline's speed: each fragment run processes frames back to back for LIVE_BURST_S,
# showing those the browser can take (`dashboard.browser_pace`), then the fragment is re-run
# (LIVE_RESTART_S) so widget changes are picked up in between.
LIVE_BURST_S = 2.0
LIVE_RESTART_S = 0.05
SYNTHETIC_SENSOR = "Synthetic sensor"
LOOP_PREFIX = "Looping video: "
CAMERA_PREFIX = "Local camera "
DATASET_PREFIX = "Dataset split: "
UPLOADED_LOOP = "Uploaded video (looped)"
WEBCAM = "Browser webcam (streamlit-webrtc)"


def webrtc_available() -> bool:
    """Whether streamlit-webrtc is installed (the browser webcam source needs it)."""
    return importlib.util.find_spec("streamlit_webrtc") is not None


def server_cameras_allowed() -> bool:
    """Local cameras are off on a served dashboard (`lwirst dashboard --address` beyond loopback)
    unless it was started with --allow-cameras."""
    return os.environ.get("LWIRST_SERVED") != "1" or os.environ.get("LWIRST_SERVER_CAMERAS") == "1"


def dataset_streams() -> dict[str, DataChoice]:
    """Label -> dataset split of every configured data root (the embedded samples last), to play as a stream."""
    streams = {}
    for root_label, root in _data_roots().items():
        for dataset in datasets_in(root):
            label = data_name(root_label, dataset)
            for split in splits_of(root, dataset):
                choice = DataChoice(label, root, dataset, split)
                streams[f"{DATASET_PREFIX}{choice.name}"] = choice
    return streams


def live_sources() -> list[str]:
    """The live sources this server offers: its dataset splits first when one is configured (the sidebar's
    first), the synthetic sensor, looping sample videos, the visitor's uploaded video, local cameras and the
    webcam."""
    streams = list(dataset_streams())
    configured = [s for s in streams if not s.startswith(f"{DATASET_PREFIX}{SAMPLES_LABEL}")]
    sources = [*_chosen_first(configured), SYNTHETIC_SENSOR, *(LOOP_PREFIX + name for name in sample_videos()),
               UPLOADED_LOOP, *(s for s in streams if s not in configured)]
    if server_cameras_allowed():
        sources += [f"{CAMERA_PREFIX}{index}" for index in local_cameras()]
    return [*sources, WEBCAM] if webrtc_available() else sources


def tracked_source(label: str) -> bool:
    """Whether a Live source's frames are tracked: not a dataset split's, whose images are scenes apart."""
    return not label.startswith(DATASET_PREFIX)


def _open_source(label: str, upload: VideoSource | None) -> Source | None:
    if label == UPLOADED_LOOP and upload is not None and (data := upload.data) is not None:
        return LoopingUpload(data, upload.name)
    if label == SYNTHETIC_SENSOR:
        return SyntheticSensor()
    if label.startswith(LOOP_PREFIX):
        return LoopingVideo(sample_videos()[label.removeprefix(LOOP_PREFIX)])
    if label.startswith(CAMERA_PREFIX) and server_cameras_allowed():
        return CameraSource(int(label.removeprefix(CAMERA_PREFIX)))
    if label.startswith(DATASET_PREFIX):
        choice = dataset_streams()[label]
        return DatasetStream(open_data(choice), choice.name)
    return None


def live_stream(label: str, chosen: Engine, post: Postprocess, upload: VideoSource | None = None) -> LiveStream:
    """This session's stream for a source (`upload`: the video of `UPLOADED_LOOP`, from `video_upload`) and
    engine, restarted when either changes, set to `post`."""
    signature, stream = st.session_state.get("live_stream", (None, None))
    upload_key = upload.key if upload is not None else None
    if stream is None or signature != (label, upload_key, chosen):
        if stream is not None:
            stream.close()
        name = f"{LOOP_PREFIX}{upload.name}" if label == UPLOADED_LOOP and upload is not None else label
        stream = LiveStream(_open_source(label, upload), tracking_pipeline(chosen, post), name)
        st.session_state["live_stream"] = ((label, upload_key, chosen), stream)
    stream.configure(post.threshold, post.target_filter, post.tracking)
    return stream


@dataclass(frozen=True)
class SpeedInfo:
    """What runs the network: backend, input protocol (as asked for), CPU threads, the model size and how its
    frames run (`lwirst.run_settings`), for the speed captions and `frame_run`."""

    backend: str
    protocol: str
    threads: int
    size: tuple[int, int]
    settings: RunSettings = PLAIN

    @property
    def runner(self) -> str:
        return f"backend {self.backend}" + (f", {self.threads} CPU thread{'s' if self.threads != 1 else ''}"
                                            if self.threads else "")

    @property
    def read_as(self) -> str:
        """", with scale consensus at 1.5x (...)" when a second run confirms each frame (and "; large frames
        also confirmed mirrored (...)" with the mirror check), then ", black-hot frames inverted" for a black-hot
        sensor and ", ignore zones 0,0,100%,24" with ignore zones; else ""."""
        ran = self.settings
        return (said_consensus(ran.confirm, ran.mirror, ", with {}") + said_polarity(ran.polarity, ", {}")
                + said_zones(ran.ignore, ", {} (outlined in grey)"))

    def __str__(self) -> str:
        return f"{self.runner}, protocol {self.protocol}{self.read_as}"

    def frame_run(self, hw: tuple[int, int], applied: str, which: str = "This") -> str:
        """How one frame of size `hw` (`which`: "Each" for a video's frames) ran under protocol `applied` (what
        "auto" chose for it), and on what."""
        rule = (f" (protocol auto: frames up to {AUTO_AREA_FACTOR} × {self.size[1]}×{self.size[0]} pixels are "
                f"resized, but those of at most {SMALL_AREA_FACTOR:g} × {self.size[1]}×{self.size[0]} run at their own "
                "size; larger ones run as a pyramid)") if self.protocol == "auto" else ""
        clearance = frame_clearance(hw, applied, self.size, self.settings.margin)
        held = cleared(clearance, self.settings.margin)
        sentence = f" {held[:1].upper()}{held[1:]}." if held else ""
        return (f"{which} {hw[1]}×{hw[0]} frame ran {describe_frame_run(hw, applied, self.size)}{rule}, "
                f"on {self.runner}{self.read_as}.{sentence}")


def run_info(run: RunSpec) -> SpeedInfo:
    """What ran an evaluation's network (`SpeedInfo` of the run it recorded, its threads where it said them)."""
    return SpeedInfo(run.backend, run.protocol, run.threads or 0, run.size or PAPER_SIZE, run.settings)


def applied_protocol(chosen: Engine, hw: tuple[int, int]) -> str:
    """The protocol a frame of size `hw` runs with on an engine ("auto" resolved)."""
    return segmenter(chosen).segmenter.frame_protocol(hw)


def speed_info(chosen: Engine) -> SpeedInfo:
    """Backend, protocol, model size, threads and scale consensus of an engine's cached segmenter."""
    running = segmenter(chosen).segmenter
    info = running.describe()
    return SpeedInfo(info.backend, chosen.protocol, info.threads or os.cpu_count() or 1, info.size or PAPER_SIZE,
                     running.settings)


def rtc_configuration() -> dict[str, list[dict[str, list[str]]]]:
    """WebRTC ICE servers from the settings (none: direct connections only)."""
    servers = list(settings().ice_servers)
    return {"iceServers": [{"urls": servers}] if servers else []}


def webcam_callback(stream: LiveStream) -> Callable[[Any], Any]:
    """A streamlit-webrtc frame callback that segments each webcam frame and returns it annotated."""
    import av

    def callback(frame: av.VideoFrame) -> av.VideoFrame:
        shown = stream.feed(frame.to_ndarray(format="bgr24")).annotated
        return av.VideoFrame.from_ndarray(shown, format="bgr24")

    return callback


LOADED = True  # the last line: app.py tells the server's first import (torch, ONNX: seconds) from a loaded module
