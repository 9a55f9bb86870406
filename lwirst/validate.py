"""Validation shared by every command: strict argparse value types and output-path guards.

Numbers: `number(kind, lo=..., hi=...)` is an argparse ``type`` that refuses NaN,
infinities and values outside a range, naming the range, so `--lr inf` or
`--threshold nan` never reach the work. Booleans: `strict_bool` accepts
true/false, yes/no, on/off and 1/0 and refuses anything else (`--hflip ture`).

Outputs: `check_outputs` resolves every output path a command will write and
refuses, before any work starts, when one equals an input, sits inside an input
folder or a dataset folder, contains an input, equals another output, lies under
a regular file, or already exists (unless ``force``). Refusals raise `LwirstError`.
"""

from __future__ import annotations

import argparse
import glob
import hashlib
import math
import os
import stat
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path

from lwirst.errors import LwirstError
from lwirst.paths import MODELS_DIR

TRUE_WORDS = ("1", "true", "yes", "on")
FALSE_WORDS = ("0", "false", "no", "off")
DATA_DIR_ENV = "LWIRST_DATA_DIR"


def strict_bool(text: str) -> bool:
    """argparse type: true/false, yes/no, on/off, 1/0 (any case); anything else is an error."""
    word = text.strip().lower()
    if word in TRUE_WORDS:
        return True
    if word in FALSE_WORDS:
        return False
    raise argparse.ArgumentTypeError(f"expected true or false (or yes/no, on/off, 1/0), got {text!r}")


def _describe(lo: float | None, hi: float | None, lo_open: bool, hi_open: bool) -> str:
    if lo is not None and hi is not None:
        return f"in {'(' if lo_open else '['}{lo:g}, {hi:g}{')' if hi_open else ']'}"
    if lo is not None:
        return f"{'>' if lo_open else '>='} {lo:g}"
    if hi is not None:
        return f"{'<' if hi_open else '<='} {hi:g}"
    return "a finite number"


def number(kind: type = float, *, lo: float | None = None, hi: float | None = None,
           lo_open: bool = False, hi_open: bool = False, multiple: int | None = None) -> Callable[[str], float | int]:
    """argparse type: a finite `kind` (int or float) within [lo, hi] (open ends when asked), and a multiple of
    `multiple` when given (a network side: the encoder halves it three times)."""
    what = "an integer" if kind is int else "a number"
    bounds = _describe(lo, hi, lo_open, hi_open)

    def parse(text: str) -> float | int:
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected {what} {bounds}, got {text!r}") from None
        if isinstance(value, float) and not math.isfinite(value):
            raise argparse.ArgumentTypeError(f"must be a finite number {bounds}, got {text!r}")
        if (lo is not None and (value <= lo if lo_open else value < lo)) or \
                (hi is not None and (value >= hi if hi_open else value > hi)):
            raise argparse.ArgumentTypeError(f"must be {bounds}, got {text}")
        if multiple is not None and value % multiple:
            raise argparse.ArgumentTypeError(f"must be a multiple of {multiple}, got {text}")
        return value

    parse.__name__ = kind.__name__  # argparse names the type in its messages
    return parse


def check_finite(name: str, value: float, lo: float | None = None, hi: float | None = None) -> float:
    """Library-side twin of `number`: raise `LwirstError` for NaN/Inf or a value out of range."""
    if not isinstance(value, int | float) or not math.isfinite(value):
        raise LwirstError(f"{name} must be a finite number, got {value!r}")
    if (lo is not None and value < lo) or (hi is not None and value > hi):
        raise LwirstError(f"{name} must be {_describe(lo, hi, False, False)}, got {value:g}")
    return value


# Positive integers for the usual options.
THREADS = number(int, lo=1, hi=1024)


def missing_file_text(path: Path) -> str:
    """Why an input that is no regular file cannot be read: absent, or a pipe, device or socket (a link to
    /dev/zero, a named pipe: "no such file" of a file that is there misled, and a pipe given as a video hung)."""
    if not path.exists():
        return f"{path}: no such file"
    if path.is_dir():
        return f"{path}: is a folder, expected a file"
    return f"{path}: not a regular file (a pipe, a device or a socket); give a file"


def _resolved(path: str | Path) -> Path:
    # realpath follows each link before the ".." after it, as the system does: abspath first took lnk/../x for the
    # x beside lnk, not the x beside its target, and an input was written over through such a path
    return Path(os.path.realpath(Path(path).expanduser()))


def _inside(child: Path, parent: Path) -> bool:
    return child != parent and child.is_relative_to(parent)


def dataset_root(path: Path) -> Path | None:
    """The dataset folder `path` lies in (or is): under $LWIRST_DATA_DIR, or a folder holding
    both images/ and masks/, or frames beside their masks (`imageio.flat_pairs`), among `path`
    and its ancestors; None when neither."""
    from lwirst.imageio import flat_pairs

    env = os.environ.get(DATA_DIR_ENV)
    if env:
        root = _resolved(env)
        if path == root or _inside(path, root):
            return root
    for folder in (path, *path.parents):
        if (folder / "images").is_dir() and (folder / "masks").is_dir():
            return folder
        if folder.is_dir() and _listable(folder) and flat_pairs(folder) is not None:
            return folder
    return None


def _listable(folder: Path) -> bool:
    return os.access(folder, os.R_OK | os.X_OK)


def _file_above(path: Path) -> Path | None:
    """The first ancestor of `path` that exists as a non-directory, if any."""
    for folder in reversed(path.parents):
        if folder.exists() and not folder.is_dir():
            return folder
    return None


def check_outputs(files: Mapping[str, str | Path | Iterable[str | Path] | None],
                  inputs: Iterable[str | Path | None] = (), *, force: bool = False,
                  folders: Mapping[str, str | Path | None] | None = None,
                  dataset_parent_only: bool = False, own_dataset: str | Path | None = None) -> None:
    """Refuse output paths that would destroy an input, a dataset, the shipped models or an existing file.

    files: flag name -> file path (or the several files written for that flag).
    inputs: the files and folders the command reads. folders: flag name -> a folder
    the command creates and fills (checked for containing an input; the files it will
    hold are given in `files`). force: allow overwriting existing output files, never
    inputs or datasets. dataset_parent_only: a folder output may itself be a dataset
    (synth writes one) but must not lie inside another. Last, each folder written to is probed
    (`check_writable_folder`; a `folders` entry whose flag also lists files, by those files only): a read-only
    or full disk fails here, not after the work. own_dataset: the dataset folder the command itself completes
    (`lwirst masks` writes the masks/ beside its images/), inside which its outputs may lie.
    """
    sources = [_resolved(p) for p in inputs if p not in (None, "")]
    # each output is checked against the inputs by lookups, not by a walk over them: `segment` of a 20 000-frame
    # folder checks 100 000 outputs against 20 000 inputs, pair by pair some 10**9 filesystem calls
    named = set(sources)
    source_dirs = [source for source in sources if source.is_dir()]
    linked = {ids: source for source in reversed(sources) if (ids := _file_id(source)) is not None}
    above: dict[Path, Path | None] = {}  # a folder -> the file above it (`_file_above`), once per folder
    roots: dict[Path, Path | None] = {}  # a folder -> its dataset (`dataset_root`), once per folder
    seen: dict[Path, str] = {}
    entries: list[tuple[str, str | Path, bool]] = [
        (flag, raw, True) for flag, raw in (folders or {}).items() if raw not in (None, "")]
    for flag, value in files.items():
        if value in (None, ""):
            continue
        for raw in [value] if isinstance(value, str | Path) else list(value):
            entries.append((flag, raw, False))
    shipped = _resolved(MODELS_DIR)
    probe: dict[Path, str] = {}  # folder written to -> its flag
    for flag, raw, is_folder in entries:
        path = _resolved(raw)
        if not is_folder or flag not in files:  # a folder's files say where it is written; none: nothing is
            probe.setdefault(path if is_folder else path.parent, flag)
        if path.parent not in above:
            above[path.parent] = _file_above(path)
        if (blocker := above[path.parent]) is not None:
            raise LwirstError(f"{flag} {raw}: cannot create the output folder ({blocker} is a file, "
                              "not a folder)")
        if path in named:
            raise LwirstError(f"{flag} {raw} is an input of this command; writing it would destroy "
                              "the input (choose another path)")
        if not is_folder and (source := linked.get(_file_id(path))) is not None:  # another name of an input's data
            raise LwirstError(f"{flag} {raw} is a hard link to the input {source}: writing it would destroy "
                              "the input (choose another path)")
        if folder := next((source for source in source_dirs if _inside(path, source)), None):
            raise LwirstError(f"{flag} {raw} lies inside the input folder {folder}; write outputs elsewhere")
        if is_folder and (held := next((source for source in sources if _inside(source, path)), None)):
            raise LwirstError(f"{flag} {raw} contains the input {held}; write outputs to a folder "
                              "that holds no inputs")
        if path == shipped or _inside(path, shipped):  # only scripts/ship_model.py writes there, knowingly
            raise LwirstError(f"{flag} {raw} lies in the shipped models folder ({shipped}), whose files are the "
                              "default model and its card; write outputs elsewhere")
        where = path.parent if dataset_parent_only or not is_folder else path
        if where not in roots:
            roots[where] = dataset_root(where)
        root = roots[where]
        if root is not None and (own_dataset is None or root != _resolved(own_dataset)):
            raise LwirstError(f"{flag} {raw} lies inside the dataset folder {root}; write outputs outside "
                              "datasets")
        if is_folder:
            if os.path.exists(path) and not os.path.isdir(path):
                raise LwirstError(f"{flag} {raw} is a file; give a folder")
            continue
        if path in seen:
            raise LwirstError(f"{flag} {raw} is also the {seen[path]} output; give each output its own path")
        seen[path] = flag
        if os.path.isdir(path):
            raise LwirstError(f"{flag} {raw} is a directory; give a file name")
        if os.path.lexists(path) and not force:
            raise LwirstError(f"{flag} {raw} already exists; pass --force to overwrite it")
        if os.path.islink(Path(raw).expanduser()):  # a plain write follows the link and changes another file
            raise LwirstError(f"{flag} {raw} is a symbolic link to {path}; --force would overwrite that file "
                              "through it: give another path, or remove the link")
    for folder, flag in probe.items():
        check_writable_folder(folder, flag)


def _file_id(path: Path) -> tuple[int, int] | None:
    """(device, inode) of a regular file, None for anything else: two names of one file on disk (hard links) share
    it."""
    try:
        status = os.stat(path)
    except OSError:
        return None
    return (status.st_dev, status.st_ino) if stat.S_ISREG(status.st_mode) else None


def check_writable_folder(folder: str | Path, flag: str = "--out") -> None:
    """Write and remove a probe file in `folder`, or in its nearest existing ancestor when it does
    not exist yet (nothing is created), so an unwritable or full target fails now, not after the work."""
    path = Path(os.path.realpath(Path(folder).expanduser()))  # where a write lands (`_resolved`)
    existing = next((p for p in (path, *path.parents) if os.path.lexists(p)), Path("/"))
    if not existing.is_dir():
        raise LwirstError(f"{flag} {folder}: {existing} is a file, not a folder")
    probe = existing / f".lwirst-probe-{os.getpid()}"
    try:
        with probe.open("wb") as handle:
            handle.write(b"\0" * 4096)
            handle.flush()
            os.fsync(handle.fileno())
    except OSError as exc:
        raise LwirstError(f"{flag} {folder}: cannot write there ({exc.strerror})") from exc
    finally:
        if os.path.lexists(probe):
            probe.unlink()


NAME_MAX = 255  # bytes in one file name on Linux, macOS and Windows file systems


def atomic_write_bytes(path: str | Path, data: bytes) -> None:
    """Write `data` to a temporary sibling, then rename: a failure leaves no partial file."""
    atomic_write(path, lambda tmp: tmp.write_bytes(data))


def leftover_temporaries(path: str | Path) -> list[Path]:
    """The hidden siblings `atomic_write` wrote for `path` and a kill left behind (any process's)."""
    path = Path(path)
    return list(path.parent.glob(f".{glob.escape(path.stem)}.tmp[0-9]*{glob.escape(path.suffix)}"))


def atomic_write(path: str | Path, writer: Callable[[Path], object]) -> None:
    """Call `writer(tmp)` on a hidden sibling that keeps the suffix, then rename it to `path`."""
    path = Path(path)
    tmp = path.with_name(f".{path.stem}.tmp{os.getpid()}{path.suffix}")
    if len(os.fsencode(tmp.name)) > NAME_MAX:  # a name that fits, whose longer temporary name would not
        digest = hashlib.sha256(os.fsencode(path.name)).hexdigest()[:16]
        tmp = path.with_name(f".{digest}.tmp{os.getpid()}{path.suffix}")
    try:
        writer(tmp)
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()
