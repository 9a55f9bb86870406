"""An evaluation's saliency maps, held so that a large dataset does not hold the machine's memory.

A result keeps every image's logits so that another threshold or filter can be scored without the network. On
600 frames of up to 1280x1024 those were 1.6 GB as float32 in every reader: each dashboard session, each
cache hit of `lwirst evaluate` (2.1 GB to print a cached summary), the run itself (3.3 GB at its peak). Here:

- `StoredMaps`: a stored result's ``saliency.npz``, read one map at a time when asked for;
- `HeldMaps`: maps in memory as float16, the precision the cache stores;
- `PartialMaps`: the maps of an evaluation under way, one file per image as each is computed (float32, as they
  were scored), so that an interrupted run goes on from them (`lwirst.evaluate.evaluate`);
- `write_maps`: a ``saliency.npz`` written one map at a time (NumPy's own npz layout: `numpy.load` reads it).

Every mapping hands out float32 arrays, each a fresh copy.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import threading
import zipfile
import zlib
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import numpy as np

from lwirst.errors import LwirstError

MAPS_FILE = "saliency.npz"


class StoredMaps(Mapping[str, np.ndarray]):
    """The maps of a stored result, read from its npz one at a time (`np.load` reads a member on access), through
    one open file: opened again for each map, reading a set's 600 maps took 5.4 s instead of 3.6 s. (Reads are
    thread-safe: `zipfile` locks its shared file, and the file is opened once under a lock of its own; `rescore`
    reads maps on threads.)"""

    _file: Any = None  # the open npz, from the first map read

    def __init__(self, path: str | Path, check: bool = True) -> None:
        """check: read every member once (their CRCs), so a damaged file is found now, as a damaged result,
        not when a page first asks for one of its maps."""
        self.path = Path(path)
        try:
            with zipfile.ZipFile(self.path) as archive:
                names = archive.namelist()
                if check and (bad := archive.testzip()) is not None:
                    raise zipfile.BadZipFile(f"member {bad} is damaged")
        except (OSError, zipfile.BadZipFile, zlib.error, EOFError) as exc:
            raise LwirstError(f"{self.path}: the stored maps cannot be read ({exc})") from exc
        self._names = tuple(name.removesuffix(".npy") for name in names)
        self._known = frozenset(self._names)
        self._opening = threading.Lock()

    def __getitem__(self, name: str) -> np.ndarray:
        if name not in self._known:
            raise KeyError(name)
        try:
            return self._archive()[name].astype(np.float32)
        except FileNotFoundError as exc:  # the result removed since it was read: the cache keeps within its bound
            raise LwirstError("the stored maps of this evaluation were removed to keep the evaluation cache within "
                              "its bound (LWIRST_CACHE_MAX_MB); evaluate the model again") from exc
        except (OSError, ValueError, KeyError, zipfile.BadZipFile, zlib.error, EOFError) as exc:
            raise LwirstError(f"{self.path}: the stored map of {name} cannot be read ({exc}); evaluate the model "
                              "again") from exc

    @property
    def readable(self) -> bool:
        """Whether the maps can still be read: open already (a removed file stays readable while open), or on
        disk (the cache's bound removes results)."""
        return self._file is not None or self.path.is_file()

    def _archive(self) -> Any:
        """The open npz, opened by the first read: once, however many threads read the first maps together."""
        with self._opening:
            if self._file is None:
                self._file = np.load(self.path, allow_pickle=False)
            return self._file

    def __iter__(self) -> Iterator[str]:
        return iter(self._names)

    def __len__(self) -> int:
        return len(self._names)

    def __del__(self) -> None:
        if self._file is not None:
            self._file.close()


class HeldMaps(Mapping[str, np.ndarray]):
    """Maps kept in memory as float16 (half of float32's bytes; what the cache would store)."""

    def __init__(self) -> None:
        self._maps: dict[str, np.ndarray] = {}

    def add(self, name: str, logits: np.ndarray) -> None:
        self._maps[name] = np.asarray(logits, np.float16)

    def __getitem__(self, name: str) -> np.ndarray:
        return self._maps[name].astype(np.float32)

    def __iter__(self) -> Iterator[str]:
        return iter(self._maps)

    def __len__(self) -> int:
        return len(self._maps)


def write_maps(path: Path, maps: Mapping[str, np.ndarray]) -> None:
    """`maps` as float16 into an npz at `path`, one map in memory at a time (`np.savez_compressed` takes them
    all at once)."""
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        for name in maps:
            with archive.open(f"{name}.npy", "w", force_zip64=True) as handle:
                np.lib.format.write_array(handle, np.asarray(maps[name], np.float16), allow_pickle=False)


class PartialMaps(Mapping[str, np.ndarray]):
    """An evaluation's maps written as they are computed, one npz per image with what the run said of it (the
    protocol it ran with, its palette, its peak margin...): the folder an interrupted run goes on from. A file
    that does not read back whole (a kill mid-write) counts as never written."""

    def __init__(self, folder: Path) -> None:
        self.folder = Path(folder)
        self._names: dict[str, Path] = {}
        for meta in sorted(self.folder.glob("*.json")) if self.folder.is_dir() else ():
            try:
                name = json.loads(meta.read_text())["name"]
            except (OSError, ValueError, KeyError, TypeError):
                continue
            if isinstance(name, str) and meta.with_suffix(".npz").is_file():
                self._names[name] = meta.with_suffix(".npz")

    def _file(self, name: str) -> Path:
        return self.folder / hashlib.sha1(name.encode(), usedforsecurity=False).hexdigest()[:20]

    def add(self, name: str, logits: np.ndarray, about: Mapping[str, Any]) -> None:
        """Keep one image's map and what the run said of it; the map's file first, then the note that makes it
        count (written last, so a kill between the two leaves no half-kept image)."""
        self.folder.mkdir(parents=True, exist_ok=True)
        file = self._file(name)
        with (tmp := file.with_suffix(".npz.tmp")).open("wb") as handle:
            np.savez_compressed(handle, logits=np.asarray(logits, np.float32))
        tmp.replace(file.with_suffix(".npz"))
        note = file.with_suffix(".json.tmp")
        note.write_text(json.dumps({**about, "name": name}))
        note.replace(file.with_suffix(".json"))
        self._names[name] = file.with_suffix(".npz")

    def about(self, name: str) -> dict[str, Any] | None:
        """What the run said of `name`'s map, or None where it is not kept or does not read back."""
        try:
            about = json.loads(self._file(name).with_suffix(".json").read_text())
        except (OSError, ValueError):
            return None
        return about if isinstance(about, dict) and about.get("name") == name else None

    def get_map(self, name: str, shape: tuple[int, ...]) -> np.ndarray | None:
        """`name`'s map when it is kept whole and of `shape`, else None (computed again)."""
        if name not in self._names:
            return None
        try:
            with np.load(self._names[name], allow_pickle=False) as data:
                logits = data["logits"]
        except (OSError, ValueError, KeyError, zipfile.BadZipFile, zlib.error, EOFError):
            return None
        return logits if logits.shape == tuple(shape) and logits.dtype == np.float32 else None

    def __getitem__(self, name: str) -> np.ndarray:
        if name not in self._names:
            raise KeyError(name)
        with np.load(self._names[name], allow_pickle=False) as data:
            return data["logits"]

    def __iter__(self) -> Iterator[str]:
        return iter(self._names)

    def __len__(self) -> int:
        return len(self._names)

    def remove(self) -> None:
        shutil.rmtree(self.folder, ignore_errors=True)
