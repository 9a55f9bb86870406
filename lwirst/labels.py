"""Ground-truth masks from box or point labels, so frames labelled for detection can be scored.

Many infrared small-target sets are labelled with boxes (detection sets, VOC or COCO files, YOLO text files)
or with points (a click on each target); `lwirst evaluate` scores masks. `read_labels` reads the common label
formats into `Label`s per image; `derive_mask` draws each target's shape from the frame itself: inside its
box (a point's: a square of 2r + 1 pixels around it) the pixels whose contrast against the median of a ring just
outside the box is above a fifth of the peak's (`LEVEL`: the share whose shapes best match the masks SIRST's
annotators drew), kept where they connect to the peak. Pd, Fa and the false-alarm counts read the same from such
masks as from drawn ones (a target's centroid moves by a fraction of a pixel: `tests/test_labels.py` measures it on
SIRST's own masks); IoU and nIoU compare predictions with these shapes, not with an annotator's.

Formats (`FORMATS`; ``auto`` tells them apart by the path):
- ``csv``: a header naming the image column (``image``, ``name`` or ``file``) and either ``x, y, w, h`` (a box in
  pixels, top-left corner) or ``x, y`` (a point); a row with empty coordinates lists a target-free image.
- ``yolo``: a folder of ``NAME.txt``, one ``class cx cy w h`` line per target, normalised to the image size.
- ``coco``: a COCO JSON file (``images`` with ``id`` and ``file_name``, ``annotations`` with ``image_id`` and
  ``bbox`` [x, y, w, h]).
- ``voc``: a folder of Pascal VOC ``NAME.xml`` files (``object/bndbox`` with ``xmin ymin xmax ymax``, VOC's
  1-based pixels, both corners inside the box); a file
  declaring a DOCTYPE or entities is refused (entity expansion is how an XML file exhausts a reader).

An image with no label is target-free: that is how YOLO and VOC sets mark empty frames.
"""

from __future__ import annotations

import csv
import io
import json
import math
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from xml.etree import ElementTree

import cv2
import numpy as np

from lwirst.errors import LwirstError

FORMATS = ("auto", "csv", "yolo", "coco", "voc")
MAX_LABEL_BYTES = 64 * 2**20  # a label file larger than this is not a label file
POINT_RADIUS = 4  # a point label's target is looked for within this many pixels (a 9x9 square)
RING = 2  # the background is the median of a ring this many pixels wide around the box
MIN_CONTRAST = 1.0  # grey levels (8-bit scale) under which a box holds no visible target
# A target's pixels stand above this share of its contrast over the ring: of 0.1 to 0.5 (step 0.1, then 0.15 and
# 0.25) the share whose shapes best match SIRST trainval's drawn masks from their boxes (IoU 0.872 over the split;
# 0.607 at half maximum, whose shapes are the cores annotators draw around); SIRST test, read once after: 0.869.
LEVEL = 0.2


@dataclass(frozen=True)
class Label:
    """One target: a box (x, y the top-left corner, w and h in pixels) or a point (w = h = 0), in the image's
    own pixels."""

    x: float
    y: float
    w: float = 0.0
    h: float = 0.0

    def __post_init__(self) -> None:
        if not all(math.isfinite(v) for v in (self.x, self.y, self.w, self.h)):
            raise ValueError("a label's coordinates must be finite numbers")
        if self.w < 0 or self.h < 0:
            raise ValueError("a box cannot have a negative width or height")

    @property
    def is_point(self) -> bool:
        return self.w == 0 and self.h == 0

    def window(self, shape: tuple[int, int], radius: int = POINT_RADIUS) -> tuple[int, int, int, int] | None:
        """(x0, y0, x1, y1), the pixels the target lies in, clipped to a frame of `shape` (H, W); None when
        none of it is in the frame. A box covers every pixel it touches."""
        if self.is_point:
            cx, cy = math.floor(self.x), math.floor(self.y)
            x0, y0, x1, y1 = cx - radius, cy - radius, cx + radius + 1, cy + radius + 1
        else:
            x0, y0 = math.floor(self.x), math.floor(self.y)
            x1, y1 = max(x0 + 1, math.ceil(self.x + self.w)), max(y0 + 1, math.ceil(self.y + self.h))
        x0, y0, x1, y1 = max(x0, 0), max(y0, 0), min(x1, shape[1]), min(y1, shape[0])
        return (x0, y0, x1, y1) if x0 < x1 and y0 < y1 else None


@dataclass(frozen=True)
class DerivedMask:
    """A mask drawn from labels, with the labels it could not draw: outside the frame, or without contrast
    (then the whole box, or a 3x3 square at the point, stands for the target)."""

    mask: np.ndarray
    outside: int
    flat: int


def derive_mask(grey: np.ndarray, labels: Iterable[Label], radius: int = POINT_RADIUS) -> DerivedMask:
    """The mask of `labels`' targets in a white-hot grey frame (invert a black-hot one first)."""
    if grey.ndim != 2:
        raise ValueError("derive_mask takes a single-channel frame")
    frame = grey.astype(np.float32)
    if grey.dtype == np.uint16:
        frame *= 255.0 / 65535.0  # contrast in 8-bit grey levels, as MIN_CONTRAST is
    mask = np.zeros(grey.shape, bool)
    outside = flat = 0
    for label in labels:
        window = label.window(grey.shape, radius)
        if window is None:
            outside += 1
            continue
        shape = _target_pixels(frame, window)
        if shape is None:
            flat += 1
            shape = _stand_in(label, window, grey.shape)
        mask |= shape
    return DerivedMask(mask, outside, flat)


def _target_pixels(frame: np.ndarray, window: tuple[int, int, int, int]) -> np.ndarray | None:
    """The pixels of the window at or above LEVEL of the peak's contrast over the ring's median, connected (8-way)
    to the peak; None when the peak stands less than MIN_CONTRAST above the ring."""
    x0, y0, x1, y1 = window
    h, w = frame.shape
    ox0, oy0, ox1, oy1 = max(x0 - RING, 0), max(y0 - RING, 0), min(x1 + RING, w), min(y1 + RING, h)
    outer = frame[oy0:oy1, ox0:ox1]
    inner = np.zeros(outer.shape, bool)
    inner[y0 - oy0:y1 - oy0, x0 - ox0:x1 - ox0] = True
    box = frame[y0:y1, x0:x1]
    background = float(np.median(outer[~inner])) if (~inner).any() else float(box.min())
    peak_at = np.unravel_index(int(np.argmax(box)), box.shape)
    contrast = float(box[peak_at]) - background
    if contrast < MIN_CONTRAST:
        return None
    above = (box >= background + LEVEL * contrast).astype(np.uint8)
    _, parts = cv2.connectedComponents(above, connectivity=8)
    out = np.zeros(frame.shape, bool)
    out[y0:y1, x0:x1] = parts == parts[peak_at]
    return out


def _stand_in(label: Label, window: tuple[int, int, int, int], shape: tuple[int, int]) -> np.ndarray:
    """Where the frame shows no target: the box itself, or a 3x3 square at the point."""
    out = np.zeros(shape, bool)
    if label.is_point:
        cx, cy = math.floor(label.x), math.floor(label.y)
        out[max(cy - 1, 0):cy + 2, max(cx - 1, 0):cx + 2] = True
    else:
        x0, y0, x1, y1 = window
        out[y0:y1, x0:x1] = True
    return out


# ---------------------------------------------------------------- label files


def detect_format(path: Path) -> str:
    """The format of a label file or folder, from its name and contents."""
    if path.is_dir():
        kinds = {p.suffix.lower() for p in path.iterdir() if p.is_file()}
        if ".xml" in kinds:
            return "voc"
        if ".txt" in kinds:
            return "yolo"
        raise LwirstError(f"{path}: a label folder holds YOLO NAME.txt or VOC NAME.xml files, and this one holds "
                          "neither")
    if path.suffix.lower() == ".json":
        return "coco"
    if path.suffix.lower() == ".csv":
        return "csv"
    raise LwirstError(f"{path}: labels are a .csv or COCO .json file, or a folder of YOLO .txt or VOC .xml files; "
                      "name the format with --format")


def read_labels(path: str | Path, images: Mapping[str, tuple[int, int]], fmt: str = "auto") -> dict[str, list[Label]]:
    """Every image's labels (an image without any: an empty list), by image stem.

    images: image stem -> (H, W), the frames the labels belong to (YOLO's coordinates are shares of the size).
    A label naming an image that is not among them is an error naming it, as is a malformed line.
    """
    path = Path(path)
    if not path.exists():
        raise LwirstError(f"{path}: no such label file or folder")
    if fmt not in FORMATS:
        raise LwirstError(f"unknown label format {fmt!r}; choose one of {', '.join(FORMATS)}")
    kind = detect_format(path) if fmt == "auto" else fmt
    reader = {"csv": _read_csv, "yolo": _read_yolo, "coco": _read_coco, "voc": _read_voc}[kind]
    found = reader(path, images)
    unknown = sorted(set(found) - set(images))
    if unknown:
        raise LwirstError(f"{path}: {len(unknown)} label(s) name no image of the folder (e.g. {unknown[0]!r}); "
                          "labels are matched to images by file name without its extension")
    return {name: found.get(name, []) for name in images}


def _text(path: Path) -> str:
    """A label file's text, bounded and decoded, with one clear error for each way it can fail."""
    try:
        size = path.stat().st_size
        if size > MAX_LABEL_BYTES:
            raise LwirstError(f"{path}: {size / 2**20:.0f} MB is too large for a label file "
                              f"(at most {MAX_LABEL_BYTES // 2**20} MB)")
        return path.read_bytes().decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise LwirstError(f"{path}: not UTF-8 text (byte {exc.start})") from exc
    except OSError as exc:
        raise LwirstError(f"{path}: cannot be read ({exc.strerror})") from exc


def _number(text: str, where: str) -> float:
    try:
        value = float(text)
    except (TypeError, ValueError):
        raise LwirstError(f"{where}: {text!r} is not a number") from None
    if not math.isfinite(value):
        raise LwirstError(f"{where}: {text!r} is not a finite number")
    return value


def _label(where: str, x: float, y: float, w: float = 0.0, h: float = 0.0) -> Label:
    try:
        return Label(x, y, w, h)
    except ValueError as exc:
        raise LwirstError(f"{where}: {exc}") from None


def _stem(name: str) -> str:
    return Path(name.replace("\\", "/")).stem


def _read_csv(path: Path, images: Mapping[str, tuple[int, int]]) -> dict[str, list[Label]]:
    rows = csv.DictReader(io.StringIO(_text(path)))
    fields = {(f or "").strip().lower(): f for f in rows.fieldnames or ()}
    column = next((fields[k] for k in ("image", "name", "file") if k in fields), None)
    if column is None or "x" not in fields or "y" not in fields:
        raise LwirstError(f"{path}: the header must name the image (image, name or file) and x, y (a point) or "
                          f"x, y, w, h (a box); it reads {', '.join(fields) or 'nothing'}")
    boxes = "w" in fields and "h" in fields
    out: dict[str, list[Label]] = {}
    for line, row in enumerate(rows, start=2):
        where = f"{path} line {line}"
        name = _stem((row.get(column) or "").strip())
        if not name:
            raise LwirstError(f"{where}: no image named")
        keys = ("x", "y", "w", "h") if boxes else ("x", "y")
        cells = [(row.get(fields[k]) or "").strip() for k in keys]
        labels = out.setdefault(name, [])
        if not any(cells):  # the image is listed, with no target
            continue
        labels.append(_label(where, *(_number(c, where) for c in cells)))
    return out


def _read_yolo(path: Path, images: Mapping[str, tuple[int, int]]) -> dict[str, list[Label]]:
    out: dict[str, list[Label]] = {}
    for file in sorted(path.glob("*.txt")):
        if file.stem not in images:
            if file.stem.lower() == "classes":  # YOLO sets keep their class names beside the labels
                continue
            out[file.stem] = []  # named as unknown by read_labels
            continue
        height, width = images[file.stem]
        labels = out.setdefault(file.stem, [])
        for number, line in enumerate(_text(file).splitlines(), start=1):
            if not line.strip():
                continue
            where = f"{file} line {number}"
            fields = line.split()
            if len(fields) < 5:
                raise LwirstError(f"{where}: a YOLO line is 'class cx cy w h' (shares of the image size)")
            cx, cy, w, h = (_number(f, where) for f in fields[1:5])
            if not all(0.0 <= v <= 1.0 for v in (cx, cy, w, h)):
                raise LwirstError(f"{where}: YOLO coordinates are shares of the image size, from 0 to 1")
            labels.append(_label(where, (cx - w / 2) * width, (cy - h / 2) * height, w * width, h * height))
    return out


def _read_coco(path: Path, images: Mapping[str, tuple[int, int]]) -> dict[str, list[Label]]:
    try:
        data = json.loads(_text(path))
    except json.JSONDecodeError as exc:
        raise LwirstError(f"{path}: not valid JSON ({exc.msg} at line {exc.lineno})") from None
    if not isinstance(data, dict) or not isinstance(data.get("images"), list) \
            or not isinstance(data.get("annotations", []), list):
        raise LwirstError(f"{path}: a COCO file holds 'images' and 'annotations' lists")
    names: dict[object, str] = {}
    for entry in data["images"]:
        if not isinstance(entry, dict) or "id" not in entry or not isinstance(entry.get("file_name"), str):
            raise LwirstError(f"{path}: every entry of 'images' needs an 'id' and a 'file_name'")
        names[entry["id"]] = _stem(entry["file_name"])
    out: dict[str, list[Label]] = {name: [] for name in names.values()}
    for index, entry in enumerate(data.get("annotations", [])):
        where = f"{path} annotation {index}"
        if not isinstance(entry, dict) or entry.get("image_id") not in names:
            raise LwirstError(f"{where}: its 'image_id' is none of the 'images'")
        box = entry.get("bbox")
        if not isinstance(box, list) or len(box) != 4:
            raise LwirstError(f"{where}: 'bbox' is [x, y, width, height]")
        out[names[entry["image_id"]]].append(_label(where, *(_number(str(v), where) for v in box)))
    return out


def _read_voc(path: Path, images: Mapping[str, tuple[int, int]]) -> dict[str, list[Label]]:
    out: dict[str, list[Label]] = {}
    for file in sorted(path.glob("*.xml")):
        text = _text(file)
        if re.search(r"<!(DOCTYPE|ENTITY)", text, re.IGNORECASE):
            raise LwirstError(f"{file}: declares a DOCTYPE or entities, which a VOC label never needs; refused")
        try:
            root = ElementTree.fromstring(text)
        except ElementTree.ParseError as exc:
            raise LwirstError(f"{file}: not well-formed XML ({exc})") from None
        labels = out.setdefault(file.stem, [])
        for index, box in enumerate(root.iter("bndbox")):
            where = f"{file} object {index + 1}"
            x0, y0, x1, y1 = (_number(box.findtext(k), where) for k in ("xmin", "ymin", "xmax", "ymax"))
            if x1 < x0 or y1 < y0:
                raise LwirstError(f"{where}: xmax and ymax must not be less than xmin and ymin")
            labels.append(_label(where, x0 - 1, y0 - 1, x1 - x0 + 1, y1 - y0 + 1))  # 1-based, corners inclusive
    return out
