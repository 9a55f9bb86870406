"""Dataset readers for the layouts IR small-target users actually have.

A dataset is a list of (name, image path, mask path) items plus a loader; it is
validated when opened so a broken layout fails once, with every offending file
listed, instead of deep inside a training loop.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from lwirst.errors import LwirstError
from lwirst.imageio import IMAGE_SUFFIXES, read_image, read_mask, to_gray

DATA_DIR_ENV = "LWIRST_DATA_DIR"


@dataclass(frozen=True)
class Item:
    name: str
    image: Path
    mask: Path


@dataclass
class Sample:
    """One image as stored (8/16-bit, grey or colour) with its boolean mask."""

    name: str
    image: np.ndarray
    mask: np.ndarray


class SegDataset:
    """Image/mask pairs of one split; `black_hot` inverts grey levels (MDFA in the paper)."""

    def __init__(self, items: list[Item], *, name: str, split: str, black_hot: bool = False,
                 validate: bool = True) -> None:
        if not items:
            raise LwirstError(f"dataset {name!r}: split {split!r} is empty")
        self.items = items
        self.name = name
        self.split = split
        self.black_hot = black_hot
        if validate:
            self.validate()

    def __len__(self) -> int:
        return len(self.items)

    @property
    def names(self) -> list[str]:
        return [item.name for item in self.items]

    def load(self, index: int) -> Sample:
        item = self.items[index]
        image = read_image(item.image)
        if self.black_hot:
            image = 255 - to_gray(image)
        return Sample(item.name, image, read_mask(item.mask))

    def __getitem__(self, index: int) -> Sample:
        return self.load(index)

    def validate(self) -> None:
        """Check every pair exists, decodes, is binary and has matching sizes."""
        problems: list[str] = []
        for item in self.items:
            missing = [str(p) for p in (item.image, item.mask) if not p.is_file()]
            if missing:
                problems.append(f"{item.name}: missing {', '.join(missing)}")
                continue
            try:
                image = read_image(item.image)
                mask = read_mask(item.mask)
            except LwirstError as exc:
                problems.append(str(exc))
                continue
            if image.shape[:2] != mask.shape[:2]:
                problems.append(
                    f"{item.name}: image {image.shape[1]}x{image.shape[0]} but mask {mask.shape[1]}x{mask.shape[0]}"
                )
        if problems:
            shown = "\n  ".join(problems[:20])
            more = f"\n  ... and {len(problems) - 20} more" if len(problems) > 20 else ""
            raise LwirstError(
                f"dataset {self.name!r} split {self.split!r}: {len(problems)} problem(s):\n  {shown}{more}"
            )


def resolve_data_dir(data_dir: str | Path | None) -> Path:
    """`--data-dir` if given, else $LWIRST_DATA_DIR; it must exist."""
    chosen = data_dir if data_dir not in (None, "") else os.environ.get(DATA_DIR_ENV)
    if not chosen:
        raise LwirstError(f"no data directory: pass --data-dir or set {DATA_DIR_ENV}")
    path = Path(chosen).expanduser()
    if not path.is_dir():
        raise LwirstError(f"data directory {path} does not exist")
    return path


def _read_split(path: Path) -> list[str]:
    if not path.is_file():
        raise LwirstError(f"split list {path} does not exist")
    return [line.strip() for line in path.read_text().splitlines() if line.strip()]


def open_sirst(root: Path, split: str = "test", index: str = "idx_427") -> SegDataset:
    """SIRST / NUAA-SIRST: images/Misc_N.png, masks/Misc_N_pixels0.png, idx_427/<split>.txt."""
    if not (root / "images").is_dir() or not (root / "masks").is_dir():
        raise LwirstError(f"{root}: not a SIRST layout (expected images/ and masks/ folders)")
    names = _read_split(root / index / f"{split}.txt")
    items = [Item(n, root / "images" / f"{n}.png", root / "masks" / f"{n}_pixels0.png") for n in names]
    return SegDataset(items, name="sirst", split=split)


def open_folder(root: Path, split: str = "all") -> SegDataset:
    """Plain folder: images/NAME.ext and masks/NAME.ext (or NAME_mask / NAME_pixels0) matched by name."""
    image_dir, mask_dir = root / "images", root / "masks"
    if not image_dir.is_dir() or not mask_dir.is_dir():
        raise LwirstError(f"{root}: expected images/ and masks/ folders")
    masks: dict[str, Path] = {}
    for p in mask_dir.iterdir():
        if p.suffix.lower() in IMAGE_SUFFIXES:
            stem = p.stem
            for tag in ("_pixels0", "_mask"):
                stem = stem.removesuffix(tag)
            masks[stem] = p
    items, unmatched = [], []
    for p in sorted(image_dir.iterdir()):
        if p.suffix.lower() not in IMAGE_SUFFIXES:
            continue
        if p.stem in masks:
            items.append(Item(p.stem, p, masks[p.stem]))
        else:
            unmatched.append(p.name)
    if unmatched:
        raise LwirstError(f"{root}: no mask for {len(unmatched)} image(s): {', '.join(unmatched[:10])}")
    return SegDataset(items, name=root.name, split=split)


DATASETS = {"sirst": open_sirst, "folder": open_folder}


def open_dataset(data_dir: str | Path | None, dataset: str = "sirst", split: str = "test") -> SegDataset:
    """Open `dataset` under the data root (`sirst` lives in DATA_DIR/sirst)."""
    root = resolve_data_dir(data_dir)
    if dataset not in DATASETS:
        raise LwirstError(f"unknown dataset {dataset!r}; choose one of {', '.join(DATASETS)}")
    sub = root / dataset
    return DATASETS[dataset](sub if sub.is_dir() else root, split)
