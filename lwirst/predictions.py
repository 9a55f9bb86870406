"""Another method's saved outputs, read as saliency maps so `lwirst evaluate` scores them like a model.

A folder holds one file per image of the split, named by the image (``Misc_1.png``; a
``_mask``, ``_pred`` or ``_logits`` suffix is allowed, as `lwirst segment` and BasicIRSTD write them):

- an image (PNG, BMP, TIFF, JPEG): a binary mask (0 and 1, 255 or full scale)
  or a probability map (8- or 16-bit grey: value / full scale; 0 and 100 is probability 0.39);
- ``.npy``: float logits, or probabilities when every value lies in [0, 1]; an integer map is a
  0/1 mask or, as uint8/uint16, read as an image is (never as logits).

Probabilities become logits (clipped just inside 0 and 1), so one threshold, the Pd/Fa sweep
and the ROC work unchanged. Every image must have exactly one file of its own size, and
every file an image: a missing, extra or mis-sized file is an error naming it.

An `lwirst segment` output folder (it holds ``*_targets.json``) is read as it is: for an
image of the split, segment's other outputs (``_overlay.png``, ``_heatmap.png``, the targets
CSV/JSON) are ignored, and its ``_logits.npy`` (``segment --save-logits``) is preferred to its
``_mask.png``, so AUC and the curves are the model's; any other file stays an error.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from lwirst.errors import LwirstError
from lwirst.eval_protocol import RunSpec
from lwirst.imageio import IMAGE_SUFFIXES, full_scale, read_image
from lwirst.limits import limit, side_text
from lwirst.run_settings import PLAIN, RunSettings
from lwirst.saliency import Saliency

log = logging.getLogger(__name__)

SUFFIXES = (*IMAGE_SUFFIXES, ".npy")
NAME_TAGS = ("_mask", "_pred", "_logits")
# `lwirst segment`'s outputs besides the mask and the logits (ignored in a segment output folder).
SEGMENT_EXTRAS = ("_overlay.png", "_heatmap.png", "_targets.csv", "_targets.json")
SEGMENT_MARK = "_targets.json"
SEGMENT_MAPS = ("_mask.png", "_logits.npy")  # what a segment output holds to be scored
# Probabilities are clipped to [EPS, 1 - EPS] before the logit: a saved 0 or 1 stays finite.
EPS = 1e-6
SHOWN = 8


@dataclass(frozen=True)
class SavedPrediction:
    """One saved output and the image name it belongs to."""

    name: str
    path: Path

    def logits(self) -> np.ndarray:
        """The file as float32 logits at its own size."""
        if self.path.suffix.lower() == ".npy":
            return _array_logits(self.path)
        return _image_logits(self.path)


class PredictionFolder:
    """The saved outputs of one folder, matched to a split's image names."""

    def __init__(self, folder: str | Path, names: list[str]) -> None:
        self.folder = Path(folder)
        if not self.folder.is_dir():
            raise LwirstError(f"--predictions {self.folder}: not a folder")
        found: dict[str, list[Path]] = {}
        files = sorted(p for p in self.folder.iterdir() if p.is_file())
        wanted = set(names)
        segment = any(p.name.endswith(SEGMENT_MARK) for p in files)
        ignored, others = 0, set()
        for path in files:
            if segment and _segment_extra(path.name, wanted):
                ignored += 1
                continue
            other = _segment_image(path.name) if segment else None
            if other is not None and other not in wanted:  # the folder segmented more than this split
                others.add(other)
                continue
            if path.suffix.lower() in SUFFIXES:
                found.setdefault(_image_name(path.stem, names), []).append(path)
        self.read_as = "files"
        # the masks' growth these files were drawn with: another method's none (the paper's Eq. 2); an lwirst
        # segment output its own, recorded in its targets JSON, so it scores as the model that wrote it
        self.growth: float | None = None
        self.reading = PLAIN  # how a segment run read its frames (polarity, zones), recorded with it
        if segment:
            self.growth, self.reading = _recorded_run(next(p for p in files if p.name.endswith(SEGMENT_MARK)))
            preferred = 0
            for name, paths in found.items():
                logits = [p for p in paths if p.name == f"{name}_logits.npy"]
                if logits and len(paths) == 2 and any(p.name == f"{name}_mask.png" for p in paths):
                    found[name] = logits
                    preferred += 1
            used = "logits (_logits.npy)" if preferred else "masks (_mask.png)"
            self.read_as = (f"an lwirst segment output: {used}; {ignored} overlay/heatmap/targets file(s) ignored"
                            + (f"; the outputs of {len(others)} image(s) outside the split ignored" if others else ""))
            log.info("--predictions %s: %s", self.folder, self.read_as)
        missing = [name for name in names if name not in found]
        extra = sorted(str(p.name) for name, paths in found.items() if name not in wanted for p in paths)
        doubled = sorted(name for name, paths in found.items() if name in wanted and len(paths) > 1)
        problems = []
        if missing:
            problems.append(f"{len(missing)} image(s) have no prediction: {_listed(missing)}")
        if extra:
            problems.append(f"{len(extra)} file(s) match no image of the split: {_listed(extra)}")
        if doubled:
            problems.append(f"{len(doubled)} image(s) have several files: {_listed(doubled)}")
        if problems:
            raise LwirstError(f"--predictions {self.folder}: " + "; ".join(problems)
                              + " (one file per image, named by the image)")
        self.files = {name: SavedPrediction(name, found[name][0]) for name in names}

    def saliency(self, name: str, shape: tuple[int, int]) -> Saliency:
        """The saved map of image `name`, which must be `shape` (H, W) like its ground truth."""
        saved = self.files[name]
        logits = saved.logits()
        if logits.shape != tuple(shape):
            raise LwirstError(f"{saved.path}: prediction is {logits.shape[1]}x{logits.shape[0]} but image {name} "
                              f"is {shape[1]}x{shape[0]}; save predictions at each image's own size")
        return Saliency(logits, "saved", "saved")

    def describe(self) -> RunSpec:
        """What evaluate records in place of a model."""
        kinds = sorted({p.path.suffix.lower() for p in self.files.values()})
        return RunSpec(str(self.folder), "", "saved predictions", "/".join(kinds), "as saved", None, None,
                       self.read_as, settings=self.reading)


def _recorded_run(record: Path) -> tuple[float | None, RunSettings]:
    """The mask growth (a logit; None: none) a `lwirst segment` targets JSON records, and how its run read
    frames (its polarity and ignore zones; the maps hold the rest); no growth, read as they are when
    unreadable."""
    try:
        data = json.loads(record.read_text())
        grow_to, run = data.get("grow_to"), RunSpec.from_json(data.get("model") or {})
    except (OSError, ValueError, AttributeError):
        log.warning("%s: unreadable; its folder's masks are scored without growth", record)
        return None, PLAIN
    growth = float(grow_to) if isinstance(grow_to, (int, float)) and not isinstance(grow_to, bool) else None
    return growth, RunSettings(polarity=run.settings.polarity, ignore=run.settings.ignore)


def _segment_extra(filename: str, names: set[str]) -> bool:
    """Whether a file is one of `lwirst segment`'s outputs other than mask and logits, of an image in `names`."""
    return any(filename.endswith(tail) and filename.removesuffix(tail) in names for tail in SEGMENT_EXTRAS)


def _segment_image(filename: str) -> str | None:
    """The image a `lwirst segment` output file was written for (its name less the output's tail), if any."""
    tail = next((t for t in (*SEGMENT_EXTRAS, *SEGMENT_MAPS) if filename.endswith(t)), None)
    return filename.removesuffix(tail) if tail else None


def _image_name(stem: str, names: list[str]) -> str:
    """The image a file stem belongs to: the stem itself, else the stem without a known tag."""
    if stem in names:
        return stem
    for tag in NAME_TAGS:
        if stem.endswith(tag) and stem.removesuffix(tag) in names:
            return stem.removesuffix(tag)
    return stem


def _listed(items: list[str]) -> str:
    more = f", ... and {len(items) - SHOWN} more" if len(items) > SHOWN else ""
    return ", ".join(items[:SHOWN]) + more


_SATURATED = float(np.log((1 - EPS) / EPS)) - 1e-3  # |logit| of a saved 0 or 1, less float32's rounding


def saturated(logits: np.ndarray) -> bool:
    """Whether a saved map is all 0 and 1 (a binary mask): no threshold strictly between moves any pixel."""
    return bool(np.all(np.abs(logits) >= _SATURATED))


def _to_logits(probability: np.ndarray) -> np.ndarray:
    p = np.clip(probability.astype(np.float64), EPS, 1 - EPS)
    return np.log(p / (1 - p)).astype(np.float32)


def _image_logits(path: Path) -> np.ndarray:
    image = read_image(path)
    if image.ndim == 3:
        if image.shape[2] >= 3 and not (np.array_equal(image[..., 0], image[..., 1])
                                        and np.array_equal(image[..., 0], image[..., 2])):
            raise LwirstError(f"{path}: prediction is coloured; save masks or probability maps as grey images")
        image = image[..., 0]
    return _grey_logits(image)


def _grey_logits(image: np.ndarray) -> np.ndarray:
    """An 8/16-bit prediction: a binary mask (0 and one of 1, 255 or full scale: an 8-bit mask saved as 16 bits
    is one too) as saturated logits, any other as a probability map (value / full scale); a map of 0 and 100 is
    probability 0.39, not a mask."""
    values = np.unique(image)
    if values[0] == 0 and set(values[1:].tolist()) <= {1, 255, full_scale(image)} and values.size <= 2:
        return _to_logits((image > 0).astype(np.float64))
    return _to_logits(image / full_scale(image))


def _npy_header(path: Path) -> None:
    """Refuse an .npy file from the shape and type its header declares, checked against the file's size and the
    image pixel limit before anything is allocated (a 1 kB file claiming 200000 x 200000 doubles asked for 298 GiB)."""
    from numpy.lib import format as npy

    try:
        with path.open("rb") as handle:
            read = npy.read_array_header_1_0 if npy.read_magic(handle) == (1, 0) else npy.read_array_header_2_0
            shape, _, dtype = read(handle)
            body = path.stat().st_size - handle.tell()
    except (OSError, ValueError) as exc:
        raise LwirstError(f"{path}: not a readable .npy array ({exc})") from exc
    dims = [d for d in shape if d != 1]
    if len(dims) != 2 or 0 in dims or dtype.kind not in "iuf":  # complex parts were dropped with a warning
        raise LwirstError(f"{path}: expected one H x W map of real numbers, got shape {tuple(shape)} ({dtype})")
    if dims[0] * dims[1] > limit("LWIRST_MAX_IMAGE_PIXELS"):
        raise LwirstError(f"{path}: a {dims[1]}x{dims[0]} map is larger than the image limit of "
                          f"{side_text(limit('LWIRST_MAX_IMAGE_PIXELS'))} pixels")
    if body < dims[0] * dims[1] * dtype.itemsize:
        raise LwirstError(f"{path}: the file is truncated (its header declares {tuple(shape)} {dtype})")


def _array_logits(path: Path) -> np.ndarray:
    _npy_header(path)
    try:
        array = np.load(path, allow_pickle=False)
    except (OSError, ValueError) as exc:
        raise LwirstError(f"{path}: not a readable .npy array ({exc})") from exc
    array = np.squeeze(array)
    if array.dtype.kind in "iu":  # an integer map is no logit map: a mask, or probabilities scaled as an image's
        if array.min() >= 0 and array.max() <= 1:
            return _to_logits(array)
        if array.dtype not in (np.uint8, np.uint16):
            raise LwirstError(f"{path}: an integer map ({array.dtype}) other than a 0/1 mask; save logits or "
                              "probabilities as floats, or an 8/16-bit probability map as uint8/uint16")
        return _grey_logits(array)
    if not np.isfinite(array).all():
        raise LwirstError(f"{path}: the map holds NaN or infinite values")
    if array.min() >= 0 and array.max() <= 1:
        return _to_logits(array)
    return array.astype(np.float32)
