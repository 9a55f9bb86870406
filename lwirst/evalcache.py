"""The evaluation cache's disk use: maps stored once, and the whole cache kept within LWIRST_CACHE_MAX_MB.

Two results of one model on one data (two thresholds, two Eq. 4 filters) hold the same maps, 521 MB on 600
large frames: a result's ``saliency.npz`` is a hard link to ``<cache>/eval/.maps/<sha256>.npz``, so readers of
the result's folder see a plain file, and removing one result never breaks another. Where the file system
cannot link (a cross-device error, no hard links), each result keeps its own copy.

Results are removed least recently used first (a folder's modification time: stored, or read, `mark_used`)
once the cache (results, shared maps, the kept maps of interrupted runs) is over the bound, as
`lwirst.uploads` bounds a served dashboard's uploads: a served dashboard stores every visitor's evaluation.
"""

from __future__ import annotations

import filecmp
import hashlib
import logging
import os
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path
from stat import S_ISREG

from lwirst.limits import limit

log = logging.getLogger(__name__)

SHARED_MAPS = ".maps"  # the cache's folder of maps shared by content
LIMIT = "LWIRST_CACHE_MAX_MB"


def share_maps(maps: Path, root: Path) -> None:
    """Make `maps` (a result being stored under `root`) a link to the shared file of the same bytes, or the
    shared file itself when none holds them yet; where linking fails the result keeps its own copy."""
    if not maps.is_file():
        return
    shared = root / SHARED_MAPS / f"{_digest(maps)}.npz"
    try:
        shared.parent.mkdir(parents=True, exist_ok=True)
        try:
            os.link(maps, shared)  # the first of these bytes: the shared file is this one
        except FileExistsError:
            if filecmp.cmp(maps, shared, shallow=False):
                _link_over(shared, maps)  # the copy just written goes; the result reads the shared file
            else:  # damaged in place since (a disk error, a hand edit): these bytes are the shared ones now
                _link_over(maps, shared)
    except OSError as exc:
        log.info("%s: kept as a copy of its own, not shared (%s)", maps, exc.strerror or exc)


def _link_over(source: Path, target: Path) -> None:
    """Make `target` a link to `source`'s file, in one step: a reader finds one or the other, whole."""
    linked = target.with_name(f".{target.name}.{os.getpid()}.link")
    os.link(source, linked)
    linked.replace(target)


def _digest(path: Path) -> str:
    """A file's SHA-256, read a megabyte at a time (a set's maps are hundreds of MB)."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(2**20):
            digest.update(chunk)
    return digest.hexdigest()


def mark_used(folder: Path) -> bool:
    """Mark a stored result as used now (read or stored), so that it is the last to go (`bound`); False when it
    is gone (removed to keep the cache within its bound)."""
    try:
        os.utime(folder)
    except OSError:
        return False
    return True


@dataclass
class Usage:
    """The bytes under the cache's root, each file counted once whatever links it: by file (device, inode),
    its size and the root's entries that hold it (a result's folder, ``.maps``, a run's ``.partial-*``...)."""

    sizes: dict[tuple[int, int], int] = field(default_factory=dict)
    holders: dict[tuple[int, int], set[str]] = field(default_factory=dict)

    @classmethod
    def of(cls, root: Path) -> Usage:
        """What `root` holds now; a file removed while it is read (another process's bound) counts for none."""
        usage = cls()
        for entry in _entries(root):
            for path in entry.rglob("*") if entry.is_dir() else [entry]:
                try:
                    stat = path.lstat()
                except OSError:  # removed meanwhile
                    continue
                if S_ISREG(stat.st_mode):
                    usage.sizes[stat.st_dev, stat.st_ino] = stat.st_size
                    usage.holders.setdefault((stat.st_dev, stat.st_ino), set()).add(entry.name)
        usage.drop(SHARED_MAPS)  # counted with the results that link them; those none links go (`bound`)
        return usage

    @property
    def total(self) -> int:
        """The bytes the bound holds the cache to."""
        return sum(self.sizes.values())

    def drop(self, entry: str) -> None:
        """Forget `entry`'s files, and the shared maps only it linked."""
        for key, holders in list(self.holders.items()):
            holders.discard(entry)
            if holders <= {SHARED_MAPS}:
                del self.holders[key], self.sizes[key]


def _entries(root: Path) -> list[Path]:
    """A folder's entries; none where it is not there (a cache never written)."""
    try:
        return list(root.iterdir())
    except OSError:
        return []


STALE_DAYS = 7  # a hidden folder untouched this long is left over (an interrupted run's maps, a killed save)


def prepare(root: Path) -> None:
    """Before an evaluation is run into `root`: its bound read (a bad LWIRST_CACHE_MAX_MB is refused before the
    run, not after it), and the hidden folders untouched for STALE_DAYS removed: an interrupted run's maps that
    no run of this code goes on from (another key), and what a process killed while saving or removing a result
    left. They count against the bound, which never removes them."""
    limit(LIMIT)
    oldest = time.time() - STALE_DAYS * 86400
    for folder in _entries(root):
        try:
            if folder.name.startswith(".") and folder.name != SHARED_MAPS and folder.stat().st_mtime < oldest:
                shutil.rmtree(folder, ignore_errors=True)
        except OSError:
            continue


def bound(root: Path, keep: Path) -> None:
    """Mark `keep` (a result just stored) used, remove the least recently used other results while the cache
    is over LWIRST_CACHE_MAX_MB, then every shared map no result links. Results being written (dot folders) and
    interrupted runs' maps count, but are never removed here."""
    mark_used(keep)
    most = limit(LIMIT) * 2**20
    usage = Usage.of(root)
    removed = 0
    for folder in _least_recently_used(root, keep):
        if usage.total <= most:
            break
        if _remove(folder):
            usage.drop(folder.name)
            removed += 1
    _remove_unlinked(root / SHARED_MAPS)
    if removed:
        log.info("removed %d least recently used cached evaluation(s) from %s to keep it within %s=%d",
                 removed, root, LIMIT, most // 2**20)


def _least_recently_used(root: Path, keep: Path) -> list[Path]:
    """The stored results under `root` but `keep`, least recently used first."""
    used = []
    for folder in _entries(root):
        if folder.name.startswith(".") or folder.name == keep.name:
            continue
        try:
            if folder.is_dir():
                used.append((folder.stat().st_mtime, folder))
        except OSError:  # removed meanwhile
            continue
    return [folder for _, folder in sorted(used)]


def _remove(folder: Path) -> bool:
    """Remove a result at once, as readers see it (renamed aside, then deleted): a reader never finds it half
    removed, which it would take for a damaged result. False when another process removed it first."""
    aside = folder.with_name(f".removed-{folder.name}.{os.getpid()}.{time.monotonic_ns()}")
    try:
        folder.rename(aside)
    except OSError:
        return False
    shutil.rmtree(aside, ignore_errors=True)
    return True


def _remove_unlinked(shared: Path) -> None:
    """Remove the shared maps that no result links any more (their only name is the shared one)."""
    for maps in _entries(shared):
        try:
            if maps.stat().st_nlink == 1:
                maps.unlink()
        except OSError:  # removed meanwhile
            continue
