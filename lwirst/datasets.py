"""Dataset readers for the layouts IR small-target users actually have.

A dataset is a list of (name, image path, mask path) items plus a loader; it is
validated when opened so a broken layout fails once, with every offending file
listed, instead of deep inside a training loop.

Layouts (``detect_layout`` names them):

- ``sirst``: SIRST / NUAA-SIRST, ``images/Misc_N.png``, ``masks/Misc_N_pixels0.png``,
  split lists ``idx_427/{train,val,trainval,test}.txt``.
- ``basic``: BasicIRSTD, NUDT-SIRST, IRSTD-1k: ``images/``, ``masks/`` (same file
  names), split lists ``img_idx/<split>_<NAME>.txt``, ``50_50/<split>.txt`` or
  ``<split>.txt``.
- ``mdfa``: MDFA, ``training/%06d_1.png`` image + ``%06d_2.png`` mask, test images
  in ``test_org/`` with masks of the same name in ``test_gt/``.
- ``sirst_aug``: SIRST-Aug, ``trainval/`` and ``test/`` each with ``images/`` and
  ``masks/``.
- ``folder``: ``images/`` and ``masks/`` matched by file stem (a ``_mask`` or
  ``_pixels0`` suffix on the mask is allowed), optional ``<split>.txt`` lists.

Split names: ``train`` and ``trainval`` stand in for each other where a dataset has
only one of them (NUDT-SIRST has ``train``, SIRST-Aug ``trainval``), and ``all`` is
every image of a dataset.
"""

from __future__ import annotations

import dataclasses
import glob
import hashlib
import logging
import numbers
import os
from collections import Counter
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import overload

import cv2
import numpy as np

from lwirst.errors import LwirstError
from lwirst.imageio import (
    IMAGE_SUFFIXES,
    flat_pairs,
    image_files,
    mask_stem,
    read_image,
    read_mask,
    skipped_files,
    to_gray,
    too_small,
)
from lwirst.paths import DATA_DIR_ENV as DATA_DIR_ENV
from lwirst.polarity import inverted

log = logging.getLogger(__name__)

LAYOUTS = ("sirst", "basic", "mdfa", "sirst_aug", "folder")
# The paper's fusion set (Sec. V-A-c): MDFA inverted to black-hot, the rest white-hot.
PAPER_FUSION = ("mdfa@black", "sirst", "sirst_aug", "nudt")
BLACK_HOT_TAG = "@black"

# Folder names each dataset is found under inside a data root (else the root itself).
_SUBDIRS: dict[str, tuple[str, ...]] = {
    "sirst": ("sirst", "SIRST", "NUAA-SIRST", "nuaa_sirst"),
    "nudt": ("NUDT-SIRST", "nudt", "nudt_sirst", "NUDT_SIRST"),
    "irstd1k": ("IRSTD-1k", "IRSTD-1K", "irstd1k", "irstd_1k"),
    "basic": (),
    "mdfa": ("MDFA", "mdfa"),
    "sirst_aug": ("sirst_aug", "SIRST-Aug", "sirst-aug", "SIRST_Aug"),
    "folder": (),
    "auto": (),
}
# Layouts each dataset name accepts (BasicIRSTD ships NUAA-SIRST in its own layout).
_ACCEPTS: dict[str, tuple[str, ...]] = {
    "sirst": ("sirst", "basic"),
    "nudt": ("basic",),
    "irstd1k": ("basic",),
    "basic": ("basic",),
    "mdfa": ("mdfa",),
    "sirst_aug": ("sirst_aug",),
}
_LAYOUT_HELP = (
    "SIRST (images/, masks/, idx_427/), "
    "BasicIRSTD/NUDT-SIRST/IRSTD-1k (images/, masks/, img_idx/ or 50_50/), "
    "MDFA (training/, test_org/, test_gt/), SIRST-Aug (trainval/, test/) "
    "or a folder (images/ + masks/, or NAME.png beside NAME_mask.png)"
)


@dataclass(frozen=True)
class Item:
    """One image/mask pair; `source` names the dataset it came from inside a merged set."""

    name: str
    image: Path
    mask: Path
    black_hot: bool = False
    source: str = ""
    mask_threshold: float | None = None  # binarise a non-binary mask at this share of full scale


@dataclass
class Sample:
    """One image as stored (8/16-bit, grey or colour) with its boolean mask; `mask_stored`, the mask file's
    (width, height) where it was annotated on a rescaled copy and resized to the image (`fit_mask`), so that a
    view can say what its scores read against."""

    name: str
    image: np.ndarray
    mask: np.ndarray
    mask_stored: tuple[int, int] | None = None

    def mask_note(self) -> str:
        """"mask 320x256 resized to its 640x512 image" where the mask was resized, else ""."""
        if self.mask_stored is None:
            return ""
        return resized_mask_text(self.mask_stored, self.image.shape)


def resized_mask_text(stored: tuple[int, int], shape: tuple[int, ...]) -> str:
    """How a mask of `stored` (width, height) fitted to an image of `shape` (H, W, ...) is told, in a log line and
    beside a view's scores alike."""
    return f"mask {stored[0]}x{stored[1]} resized to its {shape[1]}x{shape[0]} image (same aspect ratio)"


class SegDataset:
    """Image/mask pairs of one split.

    `black_hot` inverts the grey levels of every item (MDFA in the paper); items can
    also carry their own flag, which is how a merged set inverts only its MDFA part.
    `origin` (a split list or folder) is named in errors so users know what to fix. `skipped`: the files beside
    its frames in image formats this project does not read (a folder's WebP frames), which no split holds, so that
    every view can name them.
    """

    def __init__(self, items: list[Item], *, name: str, split: str, black_hot: bool = False,
                 validate: bool = True, origin: str = "", skipped: tuple[str, ...] = ()) -> None:
        self.name = name
        self.split = split
        self.origin = origin
        self.skipped = skipped
        if not items:
            where = f" ({origin})" if origin else ""
            raise LwirstError(f"dataset {name!r}: split {split!r} is empty{where}{_nested_hint(origin)}")
        if black_hot:
            items = [dataclasses.replace(item, black_hot=True) for item in items]
        self.items = items
        self.black_hot = black_hot
        if validate:
            self.validate()

    def __len__(self) -> int:
        return len(self.items)

    def binarised(self, threshold: float, *, validate: bool = True) -> SegDataset:
        """This split with non-binary masks binarised at `threshold` x full scale (see `read_mask`)."""
        if not 0.0 <= threshold < 1.0:
            raise LwirstError(f"mask threshold {threshold:g} must lie in [0, 1) (a share of the mask's full scale)")
        items = [dataclasses.replace(item, mask_threshold=threshold) for item in self.items]
        return SegDataset(items, name=self.name, split=self.split, black_hot=self.black_hot, validate=validate,
                          origin=self.origin, skipped=self.skipped)

    @property
    def names(self) -> list[str]:
        return [item.name for item in self.items]

    def load(self, index: int) -> Sample:
        item = self.items[index]
        missing = _missing(item)
        if missing:  # as `validate` says it (a set opened without validation reads its files only here)
            raise LwirstError(missing)
        image = self.load_image(index)
        mask = read_mask(item.mask, item.mask_threshold)
        stored = None if mask.shape == image.shape[:2] else (mask.shape[1], mask.shape[0])
        return Sample(item.name, image, fit_mask(mask, image.shape[:2], item.name), stored)

    def load_image(self, index: int) -> np.ndarray:
        """The image of an item alone, as `load` reads it: a frame whose mask is missing or unusable can still
        be segmented and looked at, unscored."""
        item = self.items[index]
        if not item.image.is_file():
            raise LwirstError(f"{item.name}: missing image {item.image}")
        image = read_image(item.image)
        return inverted(to_gray(image)) if item.black_hot else image

    @overload
    def __getitem__(self, index: int) -> Sample: ...

    @overload
    def __getitem__(self, index: slice) -> list[Sample]: ...

    def __getitem__(self, index: int | slice) -> Sample | list[Sample]:
        """One sample (negative indices count from the end), or a list of them for a slice; anything else is
        a clear error, not Python's own."""
        if isinstance(index, slice):
            return [self.load(i) for i in range(*index.indices(len(self)))]
        if isinstance(index, bool) or not isinstance(index, numbers.Integral):
            raise LwirstError(f"dataset {self.name!r}: index with an integer or a slice, not {type(index).__name__}")
        if not -len(self) <= index < len(self):
            raise IndexError(f"dataset {self.name!r}: index {index} out of range for {len(self)} samples")
        return self.load(int(index))

    def validate(self) -> None:
        """Check every pair exists, decodes, is binary and has matching sizes, and names are unique.

        Files are decoded on a few threads (OpenCV releases the GIL), which keeps
        opening a 10 000-image set to seconds.
        """
        problems = [self._repeated(name, count) for name, count in Counter(self.names).items() if count > 1]
        with ThreadPoolExecutor(max_workers=min(8, os.cpu_count() or 1)) as pool:
            problems += [p for p in pool.map(_check_item, self.items) if p]
        if problems:
            shown = "\n  ".join(problems[:20])
            more = f"\n  ... and {len(problems) - 20} more" if len(problems) > 20 else ""
            where = f" ({self.origin})" if self.origin else ""
            raise LwirstError(
                f"dataset {self.name!r} split {self.split!r}{where}: {len(problems)} problem(s):\n"
                f"  {shown}{more}{self._unmatched_masks()}"
            )

    def _repeated(self, name: str, count: int) -> str:
        """A name that comes more than once: listed twice, or two image files of one stem (x.png and x.jpg)."""
        files = sorted({item.image.name for item in self.items if item.name == name})
        if len(files) > 1:
            return f"{name}: {' and '.join(files)} share one name, hence one mask; keep one of them"
        return f"{name}: listed {count} times"

    def _unmatched_masks(self) -> str:
        """Where masks are missing, the mask files beside them that match no image's name (masks named
        NAME_label.png, say): a line saying how a mask is found, or ''. Every image of the images' folders
        counts, not only this split's: the masks of another split's images are not strays."""
        folders = {item.mask.parent for item in self.items if not item.mask.is_file()}
        names = set(self.names) | {item.image.stem for item in self.items}
        names |= {p.stem for folder in {item.image.parent for item in self.items} if folder.is_dir()
                  for p in image_files(folder)}
        strays = [p for folder in sorted(folders) if folder.is_dir() for p in image_files(folder)
                  if mask_stem(p) not in names and p not in {item.mask for item in self.items}]
        if not folders:
            return ""
        # most frames of a sensor's recording hold no target, and their masks are the ones left unsaved
        empty = ("\n  a frame without targets needs a mask too, all zero (black) at its size; or leave the frame "
                 "out of the split (a <split>.txt list names the frames a split holds)")
        if not strays:
            return empty
        return (f"\n  {strays[0].parent.name}/ holds {len(strays)} mask file(s) named after no image (e.g. "
                f"{strays[0].name}): the mask of images/NAME.ext is found as NAME.png, NAME_mask.png or "
                f"NAME_pixels0.png; rename them{empty}")


def _missing(item: Item) -> str:
    """Which files of a pair do not exist, or ''."""
    missing = [f"{kind} {path}" for kind, path in (("image", item.image), ("mask", item.mask)) if not path.is_file()]
    return f"{item.name}: missing {', '.join(missing)}" if missing else ""


def _check_item(item: Item) -> str:
    """The problem with one pair, or ''."""
    missing = _missing(item)
    if missing:
        return missing
    try:
        height, width = read_image(item.image).shape[:2]
        if (small := too_small(item.name, width, height)) is not None:  # as `segment` and the uploads refuse it
            return str(small)
        read_truth(item.mask, (height, width), item.mask_threshold, item.name)
    except LwirstError as exc:
        return str(exc)
    return ""


FINGERPRINT_VERSION = 2  # 2: no dataset name or split label


def names_digest(dataset: SegDataset) -> str:
    """Hash of the ordered image names and the resolved image paths of a split (not of file contents)."""
    digest = hashlib.sha256()
    for item in dataset.items:
        digest.update(f"{item.name}\0{item.image.resolve()}\0{item.mask.resolve()}\n".encode())
    return digest.hexdigest()[:20]


IDENTITY_HEX = 12  # hex digits of one file's identity: 48 bits, no chance collision among 10^4 x 10^4 files
IDENTITY_BYTES = 4096  # read from each end of a file for its identity


def file_identity(path: Path) -> str:
    """A file's identity by content, whatever its name or folder: its byte size and its first and last
    `IDENTITY_BYTES` (a frame's header and first and last rows), hashed. Cheap (8 KiB read): a copy, a renamed
    copy or the file in another split list is the same file; a re-encoded one is not (an edit inside a large
    uncompressed frame's middle rows would keep it: still mostly the frame it trained on)."""
    size = path.stat().st_size
    with open(path, "rb") as handle:
        head = handle.read(IDENTITY_BYTES)
        handle.seek(max(size - IDENTITY_BYTES, len(head)))
        tail = handle.read(IDENTITY_BYTES)
    return hashlib.sha256(f"{size}\0".encode() + head + b"\0" + tail).hexdigest()[:IDENTITY_HEX]


def files_record(dataset: SegDataset) -> str:
    """The identities of a split's images (`file_identity`), sorted and joined: what a model's record keeps of
    the frames it trained on (`train_files`), so that evaluating it says which frames are those, wherever they
    lie, under whatever name; it holds no path, and travels with an exported file."""
    return "".join(sorted({file_identity(item.image) for item in dataset.items}))


def fingerprint(dataset: SegDataset) -> str:
    """Content fingerprint of a split: the resolved absolute path, size and modification time of
    every image and mask, the names in order, the split list's bytes, the inversion flags and mask thresholds.

    Editing, replacing or moving any file, or reaching another dataset through the same relative
    path, changes it; it costs one stat per file, no decoding. How the split was reached does not: one
    folder opened as "basic" or by its own name under its parent, a "train" list read for "trainval", is
    the same data, and its results are found either way.
    """
    digest = hashlib.sha256(f"v{FINGERPRINT_VERSION}".encode())
    for item in dataset.items:
        digest.update(f"{item.name}|{int(item.black_hot)}".encode())
        if item.mask_threshold is not None:  # other ground truth than the binary masks
            digest.update(f"|mask>{item.mask_threshold:g}".encode())
        for path in (item.image, item.mask):
            resolved = path.resolve()
            try:
                stat = resolved.stat()
                digest.update(f"|{resolved}|{stat.st_size}|{stat.st_mtime_ns}".encode())
            except OSError:
                digest.update(f"|{resolved}|missing".encode())
        digest.update(b"\n")
    for part in str(dataset.origin).split(" + "):
        origin = Path(part)
        if part and origin.is_file():
            digest.update(origin.read_bytes())
    return digest.hexdigest()[:24]


def fingerprints(dataset: SegDataset) -> tuple[str, ...]:
    """The fingerprints whose results hold for `dataset`: its own, and where its masks are binarised at a
    threshold, that of the same split read without one. A split scored without a threshold held binary masks
    only (`read_mask` refuses others), and a binary mask reads the same at any threshold."""
    own = fingerprint(dataset)
    if all(item.mask_threshold is None for item in dataset.items):
        return (own,)
    plain = SegDataset([dataclasses.replace(item, mask_threshold=None) for item in dataset.items],
                       name=dataset.name, split=dataset.split, validate=False, origin=dataset.origin)
    return own, fingerprint(plain)


def fit_mask(mask: np.ndarray, shape: tuple[int, ...], name: str = "mask") -> np.ndarray:
    """`mask` at image size `shape` (H, W).

    A mask annotated on a rescaled copy of its image (SIRST's Misc_111: 592x400 mask,
    325x220 image) is resized when the aspect ratios agree within 2 %: area-resampled
    and kept where it covers half a pixel, or anywhere it covers when that would erase
    it. Any other size mismatch is an error.
    """
    h, w = int(shape[0]), int(shape[1])
    mh, mw = mask.shape[:2]
    if (mh, mw) == (h, w):
        return mask
    if abs((mw / mh) / (w / h) - 1.0) > 0.02:
        raise LwirstError(f"{name}: image {w}x{h} but mask {mw}x{mh}")
    cover = cv2.resize(mask.astype(np.float32), (w, h), interpolation=cv2.INTER_AREA)
    fitted = cover >= 0.5
    return fitted if fitted.any() or not mask.any() else cover > 0


def read_truth(path: str | Path, shape: tuple[int, int], threshold: float | None = None,
               name: str | None = None) -> np.ndarray:
    """An image's ground truth: binarised on request (`read_mask`), fitted to an image of `shape` where it was
    annotated on a rescaled copy (`fit_mask`, with a warning naming `name`, default the mask's file name), any
    other size a clear error. How a dataset checks its pairs, and how `lwirst demo` reads the masks beside a
    folder of frames."""
    mask = read_mask(path, threshold)
    if mask.shape[:2] == tuple(shape):
        return mask
    name = name or Path(path).name
    fitted = fit_mask(mask, shape, name)
    log.warning("%s: %s", name, resized_mask_text((mask.shape[1], mask.shape[0]), shape))
    return fitted


def resolve_data_dir(data_dir: str | Path | None) -> Path:
    """`--data-dir` if given, else $LWIRST_DATA_DIR; it must exist."""
    chosen = data_dir if data_dir not in (None, "") else os.environ.get(DATA_DIR_ENV)
    if not chosen:
        raise LwirstError(f"no data directory: pass --data-dir or set {DATA_DIR_ENV}")
    path = Path(chosen).expanduser()
    if not path.is_dir():
        raise LwirstError(f"data directory {path} does not exist")
    return path


# ---------------------------------------------------------------- helpers


def _read_split(path: Path) -> list[str]:
    """Names in a split list, one per line; a trailing image suffix is dropped."""
    if not path.is_file():
        raise LwirstError(f"split list {path} does not exist")
    names = []
    try:
        text = path.read_text(encoding="utf-8-sig")  # a byte-order mark (Notepad, Excel) is no part of a name
    except UnicodeDecodeError as exc:
        raise LwirstError(f"split list {path} is not UTF-8 text (byte {exc.start}); save it as plain UTF-8, "
                          "one image name per line") from exc
    except OSError as exc:
        raise LwirstError(f"split list {path} cannot be read ({exc.strerror})") from exc
    for line in text.splitlines():
        name = line.strip()
        if name and not name.startswith("#"):
            names.append(name[: -len(Path(name).suffix)] if Path(name).suffix.lower() in IMAGE_SUFFIXES
                         else name)
    return names


def _find_file(folder: Path, stem: str) -> Path:
    """`folder/stem.<any image suffix>`, in any case (f0.PNG, as cameras and Windows tools name files, is found
    as the unlisted folders find it); the .png path when none exists (reported by validate)."""
    for suffix in IMAGE_SUFFIXES:
        path = folder / f"{stem}{suffix}"
        if path.is_file():
            return path
    for path in folder.glob(f"{glob.escape(stem)}.*"):  # rare: only a name the lower-case tries missed
        if path.suffix.lower() in IMAGE_SUFFIXES and path.is_file():
            return path
    return folder / f"{stem}.png"


def _nested_hint(origin: str) -> str:
    """Why a folder of no images may be empty to a reader: its images sit in sub-folders, which no layout
    searches."""
    folder = Path(origin)
    if not origin or not folder.is_dir():
        return ""
    nested = sorted(sub.name for sub in folder.iterdir() if sub.is_dir() and image_files(sub))
    if not nested:
        return ""
    shown = ", ".join(f"{n}/" for n in nested[:3]) + (", ..." if len(nested) > 3 else "")
    return (f"; its images are in sub-folders ({shown}), which are not searched: put them (and their masks) "
            "directly in the folder, or make each sub-folder a dataset of its own")


def _pair_folder(image_dir: Path, mask_dir: Path, prefix: str = "") -> list[Item]:
    """Every image of `image_dir` with the mask of the same stem (missing masks are reported later)."""
    for folder in (image_dir, mask_dir):
        if not folder.is_dir():
            raise LwirstError(f"{folder}: folder does not exist; expected {_LAYOUT_HELP}")
    masks = {mask_stem(p): p for p in image_files(mask_dir)}
    return [Item(prefix + p.stem, p, masks.get(p.stem, mask_dir / f"{p.stem}.png"))
            for p in image_files(image_dir)]


def _alias(split: str, available: Sequence[str]) -> str:
    """`train` and `trainval` stand in for each other when a dataset has only one of them."""
    if split not in available:
        for a, b in (("train", "trainval"), ("trainval", "train")):
            if split == a and b in available:
                return b
    return split


class UnknownSplitError(LwirstError):
    """A dataset has no list for the requested split (callers may add advice)."""


def _unknown_split(root: Path, split: str, available: Sequence[str]) -> UnknownSplitError:
    return UnknownSplitError(f"{root}: no split {split!r}; available: {', '.join(available) or 'none'}")


def _require_dirs(root: Path, layout: str, *names: str) -> None:
    if not root.is_dir():
        raise LwirstError(f"dataset directory {root} does not exist")
    absent = [n for n in names if not (root / n).is_dir()]
    if absent:
        raise LwirstError(f"{root}: not a {layout} layout (no {', '.join(a + '/' for a in absent)})"
                          f"{unlabelled_advice(root)}; the layouts read: {_LAYOUT_HELP}")


_MASK_FOLDER_NAMES = ("labels", "label", "mask", "gt", "ground_truth", "groundtruth", "annotations", "targets")


def masks_named_otherwise(root: Path) -> str:
    """The folder beside a dataset-like folder's images/ that may hold its masks under another name (labels/,
    gt/, ...), "" for none: frames are what users bring first, and their masks, if any, come under many names."""
    if not (root / "images").is_dir() or (root / "masks").is_dir():
        return ""
    return next((sub.name for sub in sorted(root.iterdir()) if sub.is_dir()
                 and sub.name.lower() in _MASK_FOLDER_NAMES and image_files(sub)), "")


def rename_advice(folder: str) -> str:
    """What to do with a folder that may hold masks under another name (`masks_named_otherwise`)."""
    return f"if {folder}/ holds binary masks named as the frames, rename it masks/"


def unlabelled_advice(root: Path) -> str:
    """What to do with a folder of frames that is no dataset (no masks beside them), as a clause to add to an
    error ("" where the folder holds no images/): a folder of masks under another name to rename, and what runs
    without masks."""
    if not (root / "images").is_dir() or (root / "masks").is_dir():
        return ""
    rename = f"; {rename_advice(named)}" if (named := masks_named_otherwise(root)) else ""
    return (f"{rename}; without masks, `lwirst segment {root / 'images'}` finds the targets of every frame (nothing "
            "to score them against), and `lwirst masks` makes masks from box or point labels (CSV, YOLO, COCO, VOC)")


# ---------------------------------------------------------------- readers


def open_sirst(root: Path, split: str = "test", index: str = "idx_427", *, black_hot: bool = False,
               validate: bool = True) -> SegDataset:
    """SIRST / NUAA-SIRST: images/Misc_N.png, masks/Misc_N_pixels0.png, idx_427/<split>.txt."""
    root = Path(root)
    _require_dirs(root, "SIRST", "images", "masks")
    items, origin = _listed_items(root, split, lambda: _split_lists(root / index),
                                  lambda n: root / "masks" / f"{n}_pixels0.png")
    return SegDataset(items, name="sirst", split=split, black_hot=black_hot, validate=validate, origin=origin)


def _listed_items(root: Path, split: str, lists: Callable[[], dict[str, Path]],
                  mask_of: Callable[[str], Path], image_dir: Path | None = None) -> tuple[list[Item], str]:
    """The items a split list names (<image_dir, default images/>/<name>.*, mask_of(name)), or every
    pair for split "all"."""
    if split == "all":
        return _pair_folder(root / "images", root / "masks"), str(root)
    found = lists()
    if split == "trainval" and split not in found and {"train", "val"} <= set(found):  # SIRST's sense of it
        chosen = [found["train"], found["val"]]
    else:
        alias = _alias(split, list(found))
        if alias not in found:
            raise _unknown_split(root, split, [*sorted(found), "all"])
        chosen = [found[alias]]
    names = list(dict.fromkeys(name for path in chosen for name in _read_split(path)))
    folder = root / "images" if image_dir is None else image_dir
    return [Item(n, _find_file(folder, n), mask_of(n)) for n in names], " + ".join(str(p) for p in chosen)


def _split_lists(folder: Path) -> dict[str, Path]:
    return {p.stem: p for p in sorted(folder.glob("*.txt"))} if folder.is_dir() else {}


STANDARD_SPLITS = ("train", "val", "test", "trainval")  # always split lists: their errors are reported


def _folder_split_lists(root: Path) -> dict[str, Path]:
    """The split lists at a `folder` dataset's root: train/val/test/trainval.txt, and any other .txt file
    naming at least one of its images (in images/, or beside the masks when flat); a README.txt or notes.txt
    there is no split."""
    folder = root / "images" if (root / "images").is_dir() else root
    stems = {p.stem for p in image_files(folder)} if folder.is_dir() else set()
    lists = {}
    for name, path in _split_lists(root).items():
        if name not in STANDARD_SPLITS:
            try:
                names = _read_split(path)
            except LwirstError:
                names = []
            if not stems.intersection(names):
                log.info("%s names none of the images in %s: not a split list", path, folder)
                continue
        lists[name] = path
    return lists


def _basic_splits(root: Path) -> dict[str, Path]:
    """Split name -> list file, from img_idx/<split>_<NAME>.txt, 50_50/<split>.txt or <split>.txt."""
    found: dict[str, Path] = {}
    for path in sorted(root.glob("*.txt")) + sorted((root / "50_50").glob("*.txt")):
        found[path.stem] = path
    for path in sorted((root / "img_idx").glob("*_*.txt")):
        split = path.stem.split("_", 1)[0]
        if split in found and found[split].parent.name == "img_idx":
            raise LwirstError(f"{root}/img_idx: several {split!r} lists ({found[split].name}, {path.name}); "
                              "keep one per split")
        found[split] = path
    return found


def open_basic(root: Path, split: str = "test", *, name: str = "basic", black_hot: bool = False,
               validate: bool = True) -> SegDataset:
    """BasicIRSTD layout (NUDT-SIRST, IRSTD-1k, ...): images/, masks/ with the same names, split lists."""
    root = Path(root)
    _require_dirs(root, "BasicIRSTD", "images", "masks")
    items, origin = _listed_items(root, split, lambda: _basic_splits(root),
                                  lambda n: _find_file(root / "masks", n))
    return SegDataset(items, name=name, split=split, black_hot=black_hot, validate=validate, origin=origin)


def _mdfa_items(root: Path, subset: str, prefix: str = "") -> list[Item]:
    if subset == "train":
        images = [p for p in image_files(root / "training") if p.stem.endswith("_1")]
        return [Item(prefix + p.stem[:-2], p, p.with_name(f"{p.stem[:-2]}_2{p.suffix}")) for p in images]
    return _pair_folder(root / "test_org", root / "test_gt", prefix)


def open_mdfa(root: Path, split: str = "test", *, black_hot: bool = False,
              validate: bool = True) -> SegDataset:
    """MDFA: training/%06d_1.png + %06d_2.png (split ``train``), test_org/ + test_gt/ (split ``test``).

    With `black_hot` the grey levels are inverted, as the paper does for its fusion set.
    In split ``all`` names are prefixed ``train-`` / ``test-`` since the subsets reuse numbers.
    """
    root = Path(root)
    if not (root / "training").is_dir() and not (root / "test_org").is_dir():
        _require_dirs(root, "MDFA", "training", "test_org", "test_gt")
    available = _mdfa_splits(root)
    chosen = _alias(split, available)
    if chosen not in available:
        raise _unknown_split(root, split, available)
    if chosen == "all":
        items = _mdfa_items(root, "train", "train-") + _mdfa_items(root, "test", "test-")
    else:
        items = _mdfa_items(root, chosen)
    return SegDataset(items, name="mdfa", split=split, black_hot=black_hot, validate=validate,
                      origin=str(root / ("training" if chosen == "train" else "test_org")))


def _mdfa_splits(root: Path) -> list[str]:
    splits = [s for s, d in (("train", "training"), ("test", "test_org")) if (root / d).is_dir()]
    return [*splits, "all"]


def open_sirst_aug(root: Path, split: str = "test", *, black_hot: bool = False,
                   validate: bool = True) -> SegDataset:
    """SIRST-Aug: trainval/{images,masks} and test/{images,masks}; ``all`` prefixes names by subset."""
    root = Path(root)
    available = _sirst_aug_splits(root)
    if available == ["all"]:
        _require_dirs(root, "SIRST-Aug", "trainval", "test")
    chosen = _alias(split, available)
    if chosen not in available:
        raise _unknown_split(root, split, available)
    if chosen == "all":
        items = [item for sub in available[:-1]
                 for item in _pair_folder(root / sub / "images", root / sub / "masks", f"{sub}-")]
    else:
        items = _pair_folder(root / chosen / "images", root / chosen / "masks")
    return SegDataset(items, name="sirst_aug", split=split, black_hot=black_hot, validate=validate,
                      origin=str(root / chosen))


def _sirst_aug_splits(root: Path) -> list[str]:
    return [*(s for s in ("trainval", "test") if (root / s / "images").is_dir()), "all"]


def open_folder(root: Path, split: str = "all", *, black_hot: bool = False,
                validate: bool = True) -> SegDataset:
    """Plain folder: images/NAME.ext and masks/NAME.ext (or NAME_mask / NAME_pixels0) matched by name,
    or flat: NAME.ext beside NAME_mask.ext in the folder itself (`imageio.flat_pairs`).

    A ``<split>.txt`` at the root selects a split (``lwirst synth`` writes train.txt and
    test.txt). A folder without any split list serves every image for any split, with a
    warning, as split "all", so a bare folder of examples still works for evaluation.
    """
    root = Path(root)
    pairs = flat_pairs(root) if root.is_dir() and not (root / "images").is_dir() else None
    if pairs is None:
        _require_dirs(root, "folder", "images", "masks")
    lists = _folder_split_lists(root)
    skipped = tuple(path.name for path in skipped_files(root if pairs is not None else root / "images"))
    if split == "all" or not lists:
        if split != "all":
            log.warning("%s has no split lists: every image serves, as split 'all' (asked for %r)", root, split)
        if pairs is not None:
            items, origin = [Item(frame.stem, frame, mask) for frame, mask in pairs], str(root)
        else:
            items, origin = _pair_folder(root / "images", root / "masks"), str(root / "images")
    elif pairs is not None:
        masks = {frame.stem: mask for frame, mask in pairs}
        items, origin = _listed_items(root, split, lambda: lists,
                                      lambda n: masks.get(n, root / f"{n}_mask.png"), image_dir=root)
    else:
        masks = {mask_stem(p): p for p in image_files(root / "masks")}
        items, origin = _listed_items(root, split, lambda: lists,
                                      lambda n: masks.get(n, root / "masks" / f"{n}.png"))
    # a folder without lists serves every image, and is named for what it serves: "test" of a bare folder said a
    # split it does not have (the dashboard, reading the same folder, said "all")
    return SegDataset(items, name=root.name, split=split if lists else "all", black_hot=black_hot,
                      validate=validate, origin=origin, skipped=skipped)


# ---------------------------------------------------------------- detection and dispatch

# Help texts of the commands' --dataset and --split options (evaluate, train, sweep).
DATASET_HELP = ("layout of --data-dir (default sirst): sirst (images/, masks/, idx_427/); basic, nudt or irstd1k "
                "(BasicIRSTD: img_idx/ or 50_50/); mdfa; sirst_aug (trainval/, test/); folder (any images/ + "
                "masks/ folder matched by name, or one folder of NAME.png beside NAME_mask.png); auto (detect "
                "it); a sub-folder name; or fusion:a+b (several merged, name@black inverts one)")
SPLIT_HELP = ("split to use (default %(default)s): a split list of the dataset (e.g. test, trainval, train, val); "
              "all = every image. A folder dataset without <split>.txt lists serves every image for any split")


def _layout_of(root: Path) -> str | None:
    if (root / "training").is_dir() or (root / "test_org").is_dir():
        return "mdfa"
    if (root / "trainval" / "images").is_dir() or (root / "test" / "images").is_dir():
        return "sirst_aug"
    if (root / "images").is_dir() and (root / "masks").is_dir():
        if any(p.is_dir() for p in root.glob("idx_*")):
            return "sirst"
        if (root / "img_idx").is_dir() or (root / "50_50").is_dir():
            return "basic"
        return "folder"
    if not (root / "images").is_dir() and flat_pairs(root) is not None:
        return "folder"
    return None


def detect_layout(root: str | Path) -> str:
    """Name the layout of a dataset folder (one of LAYOUTS) or raise saying what is expected."""
    root = Path(root)
    if not root.is_dir():
        raise LwirstError(f"dataset directory {root} does not exist")
    layout = _layout_of(root)
    if layout is None:
        inside = find_datasets(root)
        first = next(iter(inside), "")
        hint = f"; it holds datasets {', '.join(inside)}: name one with --dataset {first}" if inside else ""
        raise LwirstError(f"{root}: unrecognised dataset layout; expected {_LAYOUT_HELP}{hint}"
                          f"{'' if inside else unlabelled_advice(root)}")
    return layout


def _open_layout(layout: str, root: Path, split: str, name: str, black_hot: bool,
                 validate: bool) -> SegDataset:
    if layout == "sirst":
        return open_sirst(root, split, black_hot=black_hot, validate=validate)
    if layout == "basic":
        return open_basic(root, split, name=name, black_hot=black_hot, validate=validate)
    if layout == "mdfa":
        return open_mdfa(root, split, black_hot=black_hot, validate=validate)
    if layout == "sirst_aug":
        return open_sirst_aug(root, split, black_hot=black_hot, validate=validate)
    return open_folder(root, split, black_hot=black_hot, validate=validate)


def _parse_member(spec: str) -> tuple[str, bool]:
    """``mdfa@black`` -> ("mdfa", True)."""
    spec = spec.strip()
    if spec.endswith(BLACK_HOT_TAG):
        return spec[: -len(BLACK_HOT_TAG)], True
    return spec, False


def _locate(root: Path, dataset: str) -> tuple[Path, str]:
    """Folder and canonical name of `dataset` under `root`: a known name, or a sub-folder read with `auto`;
    `auto` at a root that is no dataset itself but holds exactly one reads that one."""
    if dataset == "auto" and root.is_dir() and _layout_of(root) is None:
        inside = find_datasets(root)
        if len(inside) == 1:
            name = next(iter(inside))
            log.info("%s holds one dataset, %s: reading it", root, name)
            return root / name, "auto"
    if dataset in _SUBDIRS:
        for sub in _SUBDIRS[dataset]:
            if (root / sub).is_dir():
                return root / sub, dataset
        return root, dataset
    if dataset and (root / dataset).is_dir():
        return root / dataset, "auto"
    known = ", ".join([*_SUBDIRS, "fusion:a+b"])
    raise LwirstError(f"unknown dataset {dataset!r}: pass --dataset with one of {known} or a sub-folder of {root}")


def _layout_for(folder: Path, dataset: str) -> str:
    if dataset == "folder":
        return "folder"
    layout = detect_layout(folder)
    accepted = _ACCEPTS.get(dataset, LAYOUTS)
    if layout not in accepted:
        raise LwirstError(f"{folder} is not a {dataset} dataset: it has the {layout} layout; pass --dataset "
                          f"{layout} (or --dataset auto) to read it as that, or point --data-dir at a {dataset} "
                          f"dataset (--dataset {dataset} expects the {' or '.join(accepted)} layout: "
                          f"{_LAYOUT_HELP})")
    return layout


def listing_stamp(data_dir: str | Path, dataset: str | Sequence[str] = "auto") -> tuple[tuple[str, int], ...]:
    """A cheap stamp of what a dataset lists: the modification times of its folder, the folders two
    levels below and the split lists there. Adding, removing or renaming an image, or editing a split
    list, changes it (an image rewritten in place does not: compare the file's own time for that), so a
    long-running server can tell that a dataset it opened has changed without reading every file."""
    root = Path(data_dir)
    folders = []
    for spec in _members(dataset) or [dataset if isinstance(dataset, str) else "auto"]:
        name = _parse_member(spec)[0]
        folders.append(root if name in ("auto", "folder") else _locate(root, name)[0])
    stamp = []
    for folder in folders:
        for path in [folder, *folder.glob("*/"), *folder.glob("*/*/"), *folder.glob("*.txt"), *folder.glob("*/*.txt")]:
            try:
                stamp.append((str(path), path.stat().st_mtime_ns))
            except OSError:
                continue
    return tuple(sorted(stamp))


def _members(dataset: str | Sequence[str]) -> list[str] | None:
    """Member specs of a merged dataset, or None for a single one."""
    if not isinstance(dataset, str):
        return list(dataset)
    if dataset == "fusion":
        return list(PAPER_FUSION)
    if dataset.startswith("fusion:"):
        return [m for m in dataset.removeprefix("fusion:").split("+") if m.strip()]
    return None


def merge_datasets(datasets: Sequence[SegDataset], name: str = "fusion") -> SegDataset:
    """One dataset of several; names become ``<source>-<name>`` so they stay unique."""
    if not datasets:
        raise LwirstError("a merged dataset needs at least one member")
    sources = Counter(ds.name for ds in datasets)
    repeated = [s for s, n in sources.items() if n > 1]
    if repeated:
        raise LwirstError(f"merged dataset lists {', '.join(repeated)} more than once")
    items = [dataclasses.replace(item, name=f"{ds.name}-{item.name}", source=ds.name)
             for ds in datasets for item in ds.items]
    clashes = [n for n, count in Counter(item.name for item in items).items() if count > 1]
    if clashes:
        raise LwirstError(f"merged dataset {name!r}: names clash after prefixing: {', '.join(clashes[:10])}")
    return SegDataset(items, name=name, split=datasets[0].split, validate=False,
                      origin=" + ".join(ds.origin or ds.name for ds in datasets))


def validation_overlap(train: SegDataset, val: SegDataset | None) -> int:
    """How many validation images are also training images (a folder's trainval holds val)."""
    return len(set(train.names) & set(val.names)) if val is not None else 0


def overlap_warning(count: int) -> str:
    """What `train` and `sweep` print for `validation_overlap` images: the best epoch is chosen in-sample."""
    return (f"warning: {count} validation image(s) are also training images; validation scores are in-sample and "
            "the 'best' checkpoint is not an independent choice")


def in_test_split(data_dir: str | Path | None, dataset: str | Sequence[str], chosen: SegDataset) -> int:
    """How many of `chosen`'s images a test list names: a split such as "all" holds them too, which training,
    validation and BatchNorm refits must know. A merged set's members are asked one by one (one without a
    test list hid the others'); a dataset without a test list has none (its "test" would be every image)."""
    root = resolve_data_dir(data_dir)
    members = _members(dataset)
    names = set(chosen.names)
    count = 0
    for spec in members if members is not None else [dataset]:
        if "test" not in list_splits(root, spec):
            continue
        test = open_dataset(root, [spec] if members is not None else spec, "test", validate=False)  # names as merged
        count += len(names & set(test.names))
    return count


# Dataset names that say how a folder is laid out, not which data it holds: a record naming one is opened only
# where the record says it lay, never under another data root.
LAYOUT_ONLY = ("folder", "auto", "basic")


@dataclass(frozen=True)
class TrainedOn:
    """The split a model's record says it trained on (`dataset`, `split`) and, since records keep it, the
    identities of its images (`files_record`: a string of `IDENTITY_HEX`-digit identities)."""

    dataset: str
    split: str
    files: str = ""

    @property
    def shown(self) -> str:
        return f"{self.dataset} {self.split}"

    @property
    def identities(self) -> frozenset[str]:
        """The identities the record holds; none where `files` is no whole list of them (a split's single digest,
        as records written for a few hours held: those are read as records without identities)."""
        step, files = IDENTITY_HEX, self.files
        if not files or len(files) % step or not all(c in "0123456789abcdef" for c in files):
            return frozenset()
        return frozenset(files[i:i + step] for i in range(0, len(files), step))


def in_training(data_dir: str | Path | None, chosen: SegDataset, trained_on: TrainedOn,
                also: Sequence[str | Path] = ()) -> tuple[int, str]:
    """How many of `chosen`'s image files the split a model trained on also holds, and that split as a model card
    names it ("sirst trainval"): scores on those images are in-sample. A record of its images' identities decides
    frame by frame, wherever they lie (copies, renamed, listed in other splits). An older record's split is opened
    under the same data root (a named dataset: "sirst") and under `also` (the root the record names, where the
    caller may open it), and compared by resolved file. (0, "") when the card records none or it is found nowhere."""
    if not trained_on.dataset or not trained_on.split:
        return 0, ""
    if ours := trained_on.identities:
        shared = 0
        for item in chosen.items:
            try:
                shared += file_identity(item.image) in ours
            except OSError:  # a frame gone since it was listed: no claim either way
                continue
        return shared, trained_on.shown
    named = trained_on.dataset.split("@")[0] not in LAYOUT_ONLY
    files: set[Path] = set()
    for root in dict.fromkeys([*([data_dir] if named else []), *also]):
        try:
            # a folder without split lists serves every image for any split, with a warning that, said while
            # scoring other data, named a folder the user never asked for: read as "all", the same images, unsaid
            resolved = resolve_data_dir(root)
            served = "all" if list_splits(resolved, trained_on.dataset) == ["all"] else trained_on.split
            opened = open_dataset(resolved, trained_on.dataset, served, validate=False)
            files.update(item.image.resolve() for item in opened.items)
        except (LwirstError, OSError):  # OSError: a record naming a folder no one may read, a name too long
            continue
    if not files:
        return 0, ""
    return sum(item.image.resolve() in files for item in chosen.items), trained_on.shown


def in_sample_note(data_dir: str | Path | None, chosen: SegDataset, trained_on: TrainedOn, model: str,
                   shown: str, also: Sequence[str | Path] = ()) -> str:
    """The sentence every view says when `in_training` finds images of `chosen` (named `shown`) in the split
    `model` trained on, or ''."""
    shared, trained = in_training(data_dir, chosen, trained_on, also)
    if not shared:
        return ""
    return (f"{shared} of the {len(chosen)} images of {shown} are in {trained}, the split {model} trained on (its "
            "card's record): their scores are in-sample, not a measure of how it generalises.")


def open_dataset(data_dir: str | Path | None, dataset: str | Sequence[str] = "sirst", split: str = "test",
                 black_hot: bool = False, *, validate: bool = True, mask_threshold: float | None = None) -> SegDataset:
    """Open `dataset` under the data root (or given directly as the root).

    `dataset`: ``sirst``; ``nudt``, ``irstd1k`` or ``basic`` (BasicIRSTD layout);
    ``mdfa``; ``sirst_aug``; ``folder``; ``auto`` (detect the layout of the root);
    a sub-folder name (read with ``auto``); or a merged set: ``fusion:a+b+c`` or a
    list of names, where ``name@black`` inverts that member (``fusion`` alone is the
    paper's set, ``mdfa@black+sirst+sirst_aug+nudt``). `black_hot` inverts every image.
    `mask_threshold` binarises non-binary masks (`SegDataset.binarised`); without it they are refused.
    """
    if mask_threshold is not None:
        return open_dataset(data_dir, dataset, split, black_hot, validate=False).binarised(
            mask_threshold, validate=validate)
    root = resolve_data_dir(data_dir)
    members = _members(dataset)
    if members is None:
        return _open_one(root, str(dataset), split, black_hot, validate)
    parts = [_open_one(root, member, split, black_hot, validate) for member in members]
    merged = merge_datasets(parts, name="fusion:" + "+".join(members))
    log.info("opened %s split %s: %d images", merged.name, split, len(merged))
    return merged


def _open_one(root: Path, spec: str, split: str, black_hot: bool, validate: bool) -> SegDataset:
    name, member_black = _parse_member(spec)
    folder, canonical = _locate(root, name)
    layout = _layout_for(folder, canonical)
    generic = ("auto", "folder")
    label = canonical if canonical not in generic else (name if name not in generic else folder.name)
    ds = _open_layout(layout, folder, split, label, black_hot or member_black, validate)
    ds.name = label
    log.info("opened %s (%s layout) split %s: %d images", label, layout, split, len(ds))
    return ds


def list_splits(data_dir: str | Path, dataset: str | Sequence[str] = "auto") -> list[str]:
    """Split names `open_dataset(data_dir, dataset, split)` accepts, for UIs to offer; ``all`` is last."""
    root = Path(data_dir)
    if not root.is_dir():
        raise LwirstError(f"data directory {root} does not exist")
    members = _members(dataset)
    if members is not None:
        per_member = [set(list_splits(root, m)) for m in members]
        common = set.intersection(*per_member) if per_member else set()
        return [*sorted(common - {"all"}), "all"]
    folder, canonical = _locate(root, _parse_member(str(dataset))[0])
    layout = _layout_for(folder, canonical)
    if layout == "sirst":
        splits = sorted(_split_lists(folder / "idx_427"))
    elif layout == "basic":
        splits = sorted(_basic_splits(folder))
    elif layout == "mdfa":
        splits = _mdfa_splits(folder)[:-1]
    elif layout == "sirst_aug":
        splits = _sirst_aug_splits(folder)[:-1]
    else:
        splits = sorted(_folder_split_lists(folder))
    extra = [b for a, b in (("train", "trainval"), ("trainval", "train")) if a in splits and b not in splits]
    return [*sorted(set(splits) | set(extra)), "all"]


def find_datasets(data_dir: str | Path) -> dict[str, str]:
    """Sub-folders of a data root that hold a dataset, with their layout (for UIs' dataset pickers)."""
    root = Path(data_dir)
    if not root.is_dir():
        raise LwirstError(f"data directory {root} does not exist")
    layouts = {sub.name: _layout_of(sub) for sub in sorted(p for p in root.iterdir() if p.is_dir())}
    return {name: layout for name, layout in layouts.items() if layout}


def frames_without_layout(data_dir: str | Path) -> list[str]:
    """Sub-folders of a data root that hold frames (in images/ or loose) but no dataset layout, such as frames
    without masks: a picker that leaves them out says so, where they once vanished without a word. A root that is
    a dataset itself has none: its sub-folders (images/, masks/) are its parts."""
    root = Path(data_dir)
    if not root.is_dir() or _layout_of(root) is not None:
        return []
    return [sub.name for sub in sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))
            if _layout_of(sub) is None and image_files(sub / "images" if (sub / "images").is_dir() else sub)]
