"""Server-side settings of the dashboard, read from the environment on every call.

Visitors never type a path: data directories and model files are offered from the
roots configured here (or uploaded), so a dashboard served to others is not a file
browser of the server.

- ``LWIRST_DATA_DIR``: the default data root (the CLI's dataset root).
- ``LWIRST_DASHBOARD_DATA_ROOTS``: further data roots, separated by ``os.pathsep``.
- ``LWIRST_DASHBOARD_MODEL_ROOTS``: further model folders besides ``data/models``.
- ``LWIRST_DASHBOARD_ABLATION_ROOTS``: further folders of sweep results CSVs besides ``data/ablations``
  (a folder of ``lwirst sweep --csv`` files, a sweep's ``--run-dir`` with its ``results.csv``, or a folder of
  such run directories).
- ``LWIRST_DASHBOARD_MAX_UPLOAD_MB``: largest upload accepted (default 200, as the
  ``server.maxUploadSize`` of ``.streamlit/config.toml``).
- ``LWIRST_DASHBOARD_ICE_SERVERS``: STUN/TURN URLs, comma-separated, for the browser
  webcam (streamlit-webrtc). Default none: direct connections only, which is what a
  server on localhost or the visitor's LAN needs and never waits on an unreachable
  STUN server; set e.g. ``stun:stun.l.google.com:19302`` for visitors behind NAT.
"""

from __future__ import annotations

import logging
import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

from lwirst.datasets import DATA_DIR_ENV
from lwirst.imageio import MIN_SIDE
from lwirst.paths import ABLATION_ROOTS_ENV as ABLATION_ROOTS_ENV
from lwirst.paths import DATA_ROOTS_ENV as DATA_ROOTS_ENV
from lwirst.paths import MODEL_ROOTS_ENV as MODEL_ROOTS_ENV
from lwirst.paths import MODELS_DIR
from lwirst.paths import SAMPLES_DIR as SAMPLES_DIR

# the sidebar's ranges, which a shared link's values are clamped to as well (`urlstate`)
THRESHOLD_RANGE = (-30.0, 30.0)  # trained models reach peak logits above 20
SIZE_CAP = 500
RATIO_CAP = 10.0

log = logging.getLogger(__name__)
MAX_UPLOAD_ENV = "LWIRST_DASHBOARD_MAX_UPLOAD_MB"
ICE_SERVERS_ENV = "LWIRST_DASHBOARD_ICE_SERVERS"
MASK_THRESHOLD_ENV = "LWIRST_DASHBOARD_MASK_THRESHOLD"  # the CLI's --mask-threshold, for the served datasets
DEFAULT_MAX_UPLOAD_MB = 200


class MissingRoot(NamedTuple):
    """A configured root that is not a folder: the variable that names it, and the path."""

    variable: str
    path: Path


@dataclass(frozen=True)
class Settings:
    """What the server offers: data and model roots, and limits on what visitors send.

    max_image_pixels: largest uploaded image (4096 x 4096); an 8K frame is refused
    with a message rather than stalling a shared server. min_image_side: smallest
    image side worth segmenting (the network downsamples by 8). ice_servers: WebRTC
    STUN/TURN URLs for the browser webcam.
    """

    data_roots: tuple[Path, ...]
    model_roots: tuple[Path, ...]
    ablation_roots: tuple[Path, ...] = ()  # folders of sweep results CSVs besides data/ablations
    max_upload_mb: int = DEFAULT_MAX_UPLOAD_MB
    max_image_pixels: int = 4096 * 4096
    min_image_side: int = MIN_SIDE
    ice_servers: tuple[str, ...] = ()
    missing: tuple[MissingRoot, ...] = ()  # configured roots that are not folders
    mask_threshold: float | None = None  # binarise non-binary masks (JPEG masks) at this share of full scale

    @property
    def max_upload_bytes(self) -> int:
        return self.max_upload_mb * 1024 * 1024


def _paths(value: str | None) -> list[Path]:
    return [Path(p).expanduser().resolve() for p in (value or "").split(os.pathsep) if p.strip()]


def _unique_dirs(paths: list[Path]) -> tuple[Path, ...]:
    return tuple(dict.fromkeys(p for p in paths if p.is_dir()))


def upload_limit_problem() -> str:
    """What is wrong with the operator's `MAX_UPLOAD_ENV` ("" when it is unset or a whole number of megabytes):
    "5MB" or "abc" fell back to 200 MB silently, where the operator meant to lower it."""
    raw = os.environ.get(MAX_UPLOAD_ENV, "").strip()
    if not raw or (raw.isdigit() and int(raw) > 0):
        return ""
    return f"{MAX_UPLOAD_ENV}={raw!r} must be a positive whole number of megabytes (e.g. 50)"


def _upload_limit() -> int:
    problem = upload_limit_problem()
    if problem:
        if problem not in _WARNED:  # once per value: the settings are read on every rerun
            _WARNED.add(problem)
            log.warning("%s: the default %d MB holds", problem, DEFAULT_MAX_UPLOAD_MB)
        return DEFAULT_MAX_UPLOAD_MB
    raw = os.environ.get(MAX_UPLOAD_ENV, "").strip()
    return int(raw) if raw else DEFAULT_MAX_UPLOAD_MB


def _mask_threshold() -> float | None:
    """The operator's `MASK_THRESHOLD_ENV`, a share of full scale strictly between 0 and 1; else None (masks
    must be binary, as the command line wants them without --mask-threshold). A value that is none is
    logged, naming the variable (visitors are told only that the server reads binary masks)."""
    raw = os.environ.get(MASK_THRESHOLD_ENV, "").strip()
    if not raw:
        return None
    try:
        value = float(raw)
    except ValueError:
        value = math.nan
    if 0 < value < 1:
        return value
    if raw not in _WARNED:  # once per value: the settings are read on every rerun
        _WARNED.add(raw)
        log.warning("%s=%r is no share of full scale between 0 and 1 (e.g. 0.5): ignored", MASK_THRESHOLD_ENV, raw)
    return None


_WARNED: set[str] = set()


def _missing() -> tuple[MissingRoot, ...]:
    """Each configured root that is not a folder (a typo must not pass for "nothing configured")."""
    return tuple(MissingRoot(env, path) for env in (DATA_DIR_ENV, DATA_ROOTS_ENV, MODEL_ROOTS_ENV, ABLATION_ROOTS_ENV)
                 for path in _paths(os.environ.get(env)) if not path.is_dir())


def load_settings() -> Settings:
    """Settings from the environment; roots that do not exist are left out and listed in `missing`."""
    data = _paths(os.environ.get(DATA_DIR_ENV)) + _paths(os.environ.get(DATA_ROOTS_ENV))
    models = [MODELS_DIR.resolve(), *_paths(os.environ.get(MODEL_ROOTS_ENV))]
    ice = tuple(url.strip() for url in os.environ.get(ICE_SERVERS_ENV, "").split(",") if url.strip())
    ablations = _paths(os.environ.get(ABLATION_ROOTS_ENV))
    return Settings(data_roots=_unique_dirs(data), model_roots=_unique_dirs(models),
                    ablation_roots=_unique_dirs(ablations),
                    max_upload_mb=_upload_limit(), ice_servers=ice, missing=_missing(),
                    mask_threshold=_mask_threshold())
