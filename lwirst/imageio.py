"""Reading and normalising images as users hand them to us.

Every reader validates: a missing path, an empty or truncated file, a non-image
and a zero-size image each raise `LwirstError` with the file named, never a cv2
traceback.
"""

from __future__ import annotations

import logging
import math
import re
import struct
import zlib
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from lwirst.errors import LwirstError
from lwirst.limits import limit, side_text
from lwirst.stderr_capture import captured_stderr, reason
from lwirst.validate import missing_file_text

log = logging.getLogger(__name__)

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff")
MASK_TAGS = ("_pixels0", "_mask")  # NAME_mask.png / NAME_pixels0.png: the mask of NAME.png
HEADER_BYTES = 1 << 16  # enough for a PNG/BMP header and a JPEG's SOF after typical EXIF blocks
_JPEG_SOF = {0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF}


_MAGIC = {b"\x89PNG\r\n\x1a\n": "PNG", b"\xff\xd8": "JPEG", b"BM": "BMP", b"II*\x00": "TIFF", b"MM\x00*": "TIFF"}


def image_format(data: bytes) -> str:
    """The image format bytes open with ("PNG", "JPEG", "BMP" or "TIFF"), "" for anything else."""
    return next((kind for magic, kind in _MAGIC.items() if data.startswith(magic)), "")


# image formats this project does not read, by suffix: a folder's are named as skipped, not passed over in silence
UNSUPPORTED_SUFFIXES = (".webp", ".gif", ".jp2", ".j2k", ".pgm", ".ppm", ".pnm", ".pbm", ".pfm", ".exr", ".hdr",
                        ".heic", ".avif", ".dng", ".fits", ".fit")
_OTHER_MAGIC = {b"GIF8": "GIF", b"\x00\x00\x00\x0cjP  ": "JPEG 2000", b"\x76\x2f\x31\x01": "OpenEXR",
                b"SIMPLE  =": "FITS", b"II+\x00": "BigTIFF", b"MM\x00+": "BigTIFF", b"#?RADIANCE": "Radiance HDR",
                b"#?RGBE": "Radiance HDR", **{f"P{n}".encode(): "PNM (PGM/PPM)" for n in range(1, 7)},
                b"PF": "PFM", b"Pf": "PFM"}


def unreadable_reason(data: bytes) -> str:
    """Why bytes that are no PNG/JPEG/BMP/TIFF cannot be read: a known other format ("a WEBP image: ..."), else
    damage ("truncated, corrupt ..."), so a valid file of another format is not called corrupt."""
    other = "WEBP" if data[:4] == b"RIFF" and data[8:12] == b"WEBP" else next(
        (kind for magic, kind in _OTHER_MAGIC.items()  # a netpbm magic ("P5") is two letters and a blank
         if data.startswith(magic) and (not magic.startswith(b"P") or data[2:3].isspace())), "")
    if data.startswith(b"\x93NUMPY"):
        return "a NumPy array file (.npy), not an image file: np.load it and pass the array (or save it as a TIFF)"
    if other:
        article = "an" if other[0] in "AEIOU" else "a"
        return f"{article} {other} image, a format this project does not read; convert it to PNG or TIFF"
    if kind := image_format(data):
        return f"not a readable image: a {kind} file that is cut short or corrupt (its data does not decode)"
    if (text := text_head(data)) is not None:
        return f"not a readable image: it holds text ({text}...), not PNG/JPG/BMP/TIFF data"
    return "not a readable image: its data is not PNG/JPG/BMP/TIFF (another format, or damaged)"


def text_head(data: bytes) -> str | None:
    """The start of a file that holds text (a log, a CSV, an HTML error page, a Git LFS pointer saved under an
    image's or a video's name), quoted for a message; None for binary data or none."""
    head = data[:40].decode("utf-8", "replace")
    return repr(head[:24]) if data and all(c.isprintable() or c in "\r\n\t" for c in head) else None


def unsupported_files(folder: Path) -> list[Path]:
    """A folder's files of image formats `image_files` leaves out (UNSUPPORTED_SUFFIXES), sorted by name."""
    return sorted(p for p in folder.iterdir() if p.suffix.lower() in UNSUPPORTED_SUFFIXES and p.is_file())


def _names(paths: list[Path]) -> str:
    """The first five names of `paths`, for a one-line message."""
    return ", ".join(p.name for p in paths[:5]) + (", ..." if len(paths) > 5 else "")


def skipped_files(folder: Path) -> list[Path]:
    """`unsupported_files`, warned about: a folder's frames in a format this project does not read are named as
    skipped, never passed over in silence (a dataset's WebP frame was left out of its score without a word). So are
    entries named as images that `image_files` leaves out for being no regular file (a named pipe, a socket, a
    folder, a broken or looping link), which were passed over without a word."""
    skipped = unsupported_files(folder)
    if skipped:
        log.warning("%s: skipped %d file(s) of image formats this project does not read (%s); convert them to PNG "
                    "or TIFF", folder, len(skipped), _names(skipped))
    if irregular := sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES and not p.is_file()):
        what = ("entry named as an image that is not a regular file" if len(irregular) == 1
                else "entries named as images that are not regular files")
        log.warning("%s: skipped %d %s (%s): a named pipe, a socket, a folder, or a broken or looping link", folder,
                    len(irregular), what, _names(irregular))
    return skipped


def header_size(data: bytes) -> tuple[int, int] | None:
    """(width, height) from a PNG, JPEG, BMP or TIFF header without decoding; None when
    the bytes are none of those or the header is cut short."""
    kind = image_format(data)
    try:
        if kind == "PNG" and data[12:16] == b"IHDR":
            width, height = struct.unpack(">II", data[16:24])
            return (height, width) if orientation(data) in ON_SIDE else (width, height)
        if kind == "JPEG":
            size = _jpeg_size(data)
            return size[::-1] if size is not None and orientation(data) in ON_SIDE else size
        if kind == "BMP":
            (dib,) = struct.unpack("<I", data[14:18])
            if dib == 12:
                width, height = struct.unpack("<HH", data[18:22])
            else:
                width, height = struct.unpack("<ii", data[18:26])
            return abs(width), abs(height)
        if kind == "TIFF":
            return _tiff_size(data)
    except struct.error:
        return None
    return None


def _jpeg_size(data: bytes) -> tuple[int, int] | None:
    pos = _jpeg_segments(data, *_JPEG_SOF)
    if pos is None or pos + 9 > len(data):
        return None
    height, width = struct.unpack(">HH", data[pos + 5:pos + 9])
    return width, height


def _jpeg_segments(data: bytes, *wanted: int) -> int | None:
    """Where the first segment of a marker in `wanted` starts, walking a JPEG's segments from its start (each
    skipped by its length, so that markers inside one, an EXIF thumbnail's, are not met); None when the walk
    ends first."""
    return next((pos for marker, pos, _ in _jpeg_markers(data) if marker in wanted), None)


def _jpeg_markers(data: bytes, pos: int = 2) -> Iterator[tuple[int, int, int]]:
    """(marker, position, length) of each segment of a JPEG from `pos`, each skipped by its length (0 for a marker
    that has none), up to and including its first start of scan; stops where the bytes are no segment."""
    while pos + 4 <= len(data):
        if data[pos] != 0xFF:
            return
        marker = data[pos + 1]
        if marker == 0xFF:  # fill byte
            pos += 1
            continue
        if marker in (0xD8, 0x01) or 0xD0 <= marker <= 0xD7:  # markers without a length
            yield marker, pos, 0
            pos += 2
            continue
        (length,) = struct.unpack(">H", data[pos + 2:pos + 4])
        if marker == 0xD9 or length < 2:
            return
        yield marker, pos, length
        if marker == 0xDA:
            return
        pos += 2 + length


def _tiff_tags(data: bytes) -> dict[int, int]:
    """Width (256), height (257), bits per sample (258, the first sample's), orientation (274) and samples per
    pixel (277) of a TIFF's first image, as the header states them; {} when a size tag comes twice (libtiff reads
    the first; a second, small one hid a huge first one from the size check). Another tag given twice counts as
    libtiff reads it: the first (a later BitsPerSample of 8 hid 64-bit samples from the depth check)."""
    order = "<" if data[:2] == b"II" else ">"
    (offset,) = struct.unpack(order + "I", data[4:8])
    return _tiff_directory(lambda at, size: data[at:at + size], order, offset)[0]


def _tiff_directory(read: Callable[[int, int], bytes], order: str, offset: int) -> tuple[dict[int, int], int, int]:
    """The `_tiff_tags` of the image directory at `offset`, the next directory's offset (0: none) and the
    directory's length in bytes, from `read(offset, size)`: a TIFF's bytes, or a file read where it stands (a
    stack of frames is never read whole to find its pages). Its entries are searched as one array: a directory
    may declare thousands, and a stack may hold thousands of directories."""
    (count,) = struct.unpack(order + "H", read(offset, 2))
    listed = min(count, 4096)
    block = read(offset + 2, 12 * listed)
    if len(block) < 12 * listed:
        raise struct.error("a TIFF directory cut short")
    entries = np.frombuffer(block, np.dtype([("tag", order + "u2"), ("kind", order + "u2"), ("count", order + "u4"),
                                             ("value", "V4")]))
    found: dict[int, int] = {}
    for tag in (256, 257, 258, ORIENTATION_TAG, 277):
        where = np.flatnonzero(entries["tag"] == tag)
        if not where.size:
            continue
        if tag in (256, 257) and where.size > 1:
            return {}, 0, 2 + 12 * count + 4
        first = int(where[0])
        short = int(entries["kind"][first]) == 3
        value = block[12 * first + 8:12 * first + 12]
        if tag == 258 and int(entries["count"][first]) * (2 if short else 4) > 4:  # elsewhere: read the first
            (elsewhere,) = struct.unpack(order + "I", value)
            value = read(elsewhere, 4)
        found[tag] = struct.unpack(order + ("H" if short else "I"), value[:2 if short else 4])[0]
    following = read(offset + 2 + 12 * count, 4)
    return found, struct.unpack(order + "I", following)[0] if len(following) == 4 else 0, 2 + 12 * count + 4


def tiff_pages(path: str | Path, most: int,
               check: Callable[[int, dict[int, int]], None] | None = None) -> list[dict[int, int]]:
    """The `_tiff_tags` of each image of a TIFF file (a stack of frames, as thermal cameras record them), read
    from its directories without decoding a pixel (`_walk_tiff`), the file read where each directory stands."""
    path = Path(path)
    with path.open("rb") as handle:
        def read(at: int, size: int) -> bytes:
            handle.seek(at)
            return handle.read(size)

        return _walk_tiff(read, path.stat().st_size, str(path), most, check)


def _walk_tiff(read: Callable[[int, int], bytes], room: int, name: str, most: int,
               check: Callable[[int, dict[int, int]], None] | None = None) -> list[dict[int, int]]:
    """The `_tiff_tags` of each image of a TIFF of `room` bytes, from `read(offset, size)`: at most `most` + 1 of
    them, so that a caller can refuse a stack over its limit; `check(index, tags)` vets each page as it is
    found, so a bad page stops the walk there. A directory chain that loops back or leaves the file ends the
    list; directories that overlap (their bytes add up to more than the file's: a real file's never do) are
    refused, so a small file cannot make the walk long; [] for bytes that are no TIFF or whose first directory
    cannot be read."""
    pages: list[dict[int, int]] = []
    head = read(0, 8)
    if image_format(head) != "TIFF":
        return []
    order = "<" if head[:2] == b"II" else ">"
    (offset,) = struct.unpack(order + "I", head[4:8])
    seen: set[int] = set()
    try:
        while offset and offset not in seen and len(pages) <= most:
            seen.add(offset)
            tags, offset, length = _tiff_directory(read, order, offset)
            room -= length
            if room < 0:
                raise LwirstError(f"{name}: its TIFF directories overlap (damaged, or made to be slow to read)")
            if check is not None:
                check(len(pages), tags)
            pages.append(tags)
    except struct.error:  # a directory cut short: the pages before it stand
        pass
    return pages


def _tiff_size(data: bytes) -> tuple[int, int] | None:
    """(width, height) of a TIFF's first image as its decoder delivers it: libtiff turns it upright by its
    orientation tag."""
    found = _tiff_tags(data)
    if 256 in found and 257 in found:
        return (found[257], found[256]) if found.get(ORIENTATION_TAG) in ON_SIDE else (found[256], found[257])
    return None


ORIENTATION_TAG = 274  # EXIF's and TIFF's own (0x0112): how the stored pixels turn upright, as viewers show them
ON_SIDE = range(5, 9)  # orientations that turn a frame on its side: its width and height swap
# Each orientation's turn of an H x W (x C) array, as EXIF defines them: 2 mirrored, 3 upside down, 4 flipped, 5
# transposed, 6 a quarter turn clockwise, 7 transverse, 8 a quarter turn anticlockwise.
_UPRIGHT: dict[int, Callable[[np.ndarray], np.ndarray]] = {
    2: lambda a: a[:, ::-1], 3: lambda a: a[::-1, ::-1], 4: lambda a: a[::-1],
    5: lambda a: a.swapaxes(0, 1), 6: lambda a: a.swapaxes(0, 1)[:, ::-1],
    7: lambda a: a.swapaxes(0, 1)[::-1, ::-1], 8: lambda a: a.swapaxes(0, 1)[::-1]}


def orientation(data: bytes) -> int:
    """The orientation tag of JPEG, PNG or TIFF bytes (1 to 8), 1 (as stored) where there is none or no valid one.
    A phone's or camera's JPEG is often stored on its side with the tag saying so: every viewer shows it upright,
    and its masks are drawn upright, so it is read upright (a frame of 512x640 stored had its targets reported
    sideways, and its 640x512 mask refused). libtiff applies a TIFF's tag itself; OpenCV ignores JPEG's and PNG's
    when it keeps the bit depth. Read from the header's bytes, no pixel decoded: Pillow, asked for a PNG's eXIf
    chunk after its image data, decoded the whole image first (a 657 KB PNG of 13000x13000 took 650 MB before the
    size check refused it)."""
    kind = image_format(data)
    if kind == "TIFF":
        tags = _tiff_header(data) or {}
    elif kind == "JPEG":
        tags = _exif_tags(next((data[pos + 10:pos + 2 + length] for marker, pos, length in _jpeg_markers(data)
                                if marker == 0xE1 and data[pos + 4:pos + 10] == b"Exif\x00\x00"), b""))
    elif kind == "PNG":
        tags = _exif_tags(_png_chunk(data, b"eXIf"))
    else:
        tags = {}
    value = tags.get(ORIENTATION_TAG, 1)
    return value if value in range(1, 9) else 1


def _exif_tags(exif: bytes) -> dict[int, int]:
    """The `_tiff_tags` of an EXIF block (a TIFF header and its first directory); {} where it is none or cut
    short."""
    if exif[:4] not in (b"II*\x00", b"MM\x00*"):
        return {}
    try:
        return _tiff_tags(exif)
    except struct.error:
        return {}


PNG_CHUNK_TRIES = 16


def _png_chunk(data: bytes, kind: bytes) -> bytes:
    """The data of a PNG's first chunk of type `kind` (b"" where there is none), found by its name and taken only
    where its length and CRC agree: a chunk walk is one Python step per chunk, and a file may hold millions; a
    text chunk's mention of the name fails the check. At most PNG_CHUNK_TRIES mentions are checked: each costs a
    CRC over what its length claims."""
    at = data.find(kind, 12)
    for _ in range(PNG_CHUNK_TRIES):
        if at < 0:
            break
        if at >= 4:
            (length,) = struct.unpack(">I", data[at - 4:at])
            body = data[at + 4:at + 4 + length]
            crc = data[at + 4 + length:at + 8 + length]
            if len(body) == length and len(crc) == 4 and zlib.crc32(kind + body) == struct.unpack(">I", crc)[0]:
                return body
        at = data.find(kind, at + 1)
    return b""


def upright(image: np.ndarray, turn: int) -> np.ndarray:
    """A decoded image turned as its orientation tag `turn` says (`orientation`)."""
    return np.ascontiguousarray(_UPRIGHT[turn](image)) if turn in _UPRIGHT else image


def _tiff_header(data: bytes) -> dict[int, int] | None:
    """A TIFF's `_tiff_tags`; None for other formats or a header that cannot be read."""
    if image_format(data) != "TIFF":
        return None
    try:
        return _tiff_tags(data)
    except struct.error:
        return None


# Bytes a decoded pixel may take, at most (16-bit RGBA; a float64 grey frame): a TIFF of a few hundred kilobytes
# declaring four float64 samples per pixel decoded to 512 MB at 4096x4096, and its 8-bit view to gigabytes more.
MAX_PIXEL_BYTES = 8


def _pixel_bytes(data: bytes) -> int | None:
    """Bytes per decoded pixel a TIFF header declares (samples x bits / 8); None for other formats, whose
    decoders give at most 16-bit RGBA (8 bytes), or where the header does not say."""
    found = _tiff_header(data)
    return None if found is None else tiff_pixel_bytes(found)


def tiff_pixel_bytes(tags: dict[int, int]) -> int:
    """Bytes per decoded pixel of a TIFF image's `_tiff_tags` (samples x bits / 8)."""
    return tags.get(277, 1) * max(8, tags.get(258, 8)) // 8


def _setting(max_pixels: int | None) -> str:
    """" (LWIRST_MAX_IMAGE_PIXELS)" where that setting is the limit (a command's), "" where a caller set its own (a
    served page's: its visitors cannot change the server's settings)."""
    return " (LWIRST_MAX_IMAGE_PIXELS)" if max_pixels is None else ""


# Scans a JPEG may hold: a progressive encoder writes about 10 (6 for grey), while each scan costs a full pass over
# the image: 20 000 copies of one 72-byte scan on a 4096x4096 frame (1.4 MB) took 29 s to decode, and a served page
# decoded it again on every rerun.
MAX_JPEG_SCANS = 100


def check_header(data: bytes, name: str, max_pixels: int | None = None) -> tuple[int, int]:
    """Refuse, before decoding, bytes that are not PNG/JPEG/BMP/TIFF, declare more than `max_pixels` (default: the
    LWIRST_MAX_IMAGE_PIXELS setting) pixels, or are a JPEG of more than MAX_JPEG_SCANS scans. Returns (width,
    height)."""
    size = header_size(data)
    if size is None:
        raise LwirstError(f"{name}: {unreadable_reason(data)}")
    if image_format(data) == "JPEG" and _jpeg_scans(data) > MAX_JPEG_SCANS:
        raise LwirstError(f"{name}: a JPEG of more than {MAX_JPEG_SCANS} scans (a progressive JPEG holds about 10), "
                          "each of which costs a full decoding pass; save it again as PNG or as a plain JPEG")
    return check_declared(*size, _pixel_bytes(data), name, max_pixels)


def _jpeg_scans(data: bytes) -> int:
    """Start-of-scan markers of a JPEG's image, counted by walking it from its first scan (found by walking the
    segments before it, so that an EXIF thumbnail's, inside one, is not taken for it) to its end-of-image marker:
    each scan's coded data up to the next marker (a 0xFF byte followed by neither 0, a restart marker nor another
    0xFF), each other segment skipped by its length. Searching the raw bytes for the end marker instead stopped at
    one hidden inside a comment segment, and counted 6 scans of a file holding 20 006. Stops counting once past
    MAX_JPEG_SCANS; bytes after the end (a phone's appended video) are none of the image's."""
    first = _jpeg_segments(data, 0xDA)
    if first is None:
        return 0
    scans, pos = 0, first
    while pos + 4 <= len(data) and scans <= MAX_JPEG_SCANS and data[pos] == 0xFF:
        marker = data[pos + 1]
        if marker == 0xFF:  # fill byte
            pos += 1
            continue
        if marker == 0xD9:
            break
        (length,) = struct.unpack(">H", data[pos + 2:pos + 4]) if marker not in _NO_LENGTH else (0,)
        pos += 2 + length
        if marker == 0xDA:
            scans += 1
            found = _NEXT_MARKER.search(data, pos)  # the end of its coded data
            if found is None:
                break
            pos = found.end() - 2
    return scans


_NO_LENGTH = frozenset({0x01, *range(0xD0, 0xD8)})  # markers without a length field
# a marker after coded data (a stuffed 0xFF00 and the restart markers are the data's own)
_NEXT_MARKER = re.compile(rb"\xff+[^\x00\xd0-\xd7\xff]")


def check_declared(width: int, height: int, depth: int | None, name: str, max_pixels: int | None = None
                   ) -> tuple[int, int]:
    """`check_header`'s refusals of an image whose header declares `width` x `height` pixels of `depth` bytes
    (None: not said): over `max_pixels` (default: the LWIRST_MAX_IMAGE_PIXELS setting), or decoding to more
    memory than that many pixels of MAX_PIXEL_BYTES. Returns (width, height)."""
    budget = limit("LWIRST_MAX_IMAGE_PIXELS") if max_pixels is None else max_pixels
    if width * height > budget:
        raise LwirstError(f"{name}: {width}x{height} is larger than the limit of {side_text(budget)} "
                          f"pixels{_setting(max_pixels)}; downscale it")
    if depth is not None and width * height * depth > budget * MAX_PIXEL_BYTES:
        raise LwirstError(f"{name}: {width}x{height} pixels of {depth} bytes each decode to "
                          f"{width * height * depth / 2**20:.0f} MB, over the {budget * MAX_PIXEL_BYTES / 2**20:.0f} "
                          f"MB an image may take ({MAX_PIXEL_BYTES} bytes a pixel at the limit of {side_text(budget)} "
                          "pixels); save it as 8- or 16-bit grey or colour")
    return width, height


def read_header_size(path: str | Path) -> tuple[int, int]:
    """(width, height) of an image file from its header, undecoded (checked as `check_header` does); the
    whole file is read only when the first HEADER_BYTES do not hold the header (a TIFF directory at the end)."""
    path = Path(path)
    try:
        with path.open("rb") as handle:
            data = handle.read(HEADER_BYTES)
            if header_size(data) is None and len(data) == HEADER_BYTES:
                data += handle.read()
    except OSError as exc:
        raise LwirstError(f"{path}: cannot be read ({exc.strerror})") from exc
    if not data:
        raise LwirstError(f"{path}: the file is empty; choose a PNG, JPG, BMP or TIFF image")
    return check_header(data, str(path))


MIN_SIDE = 8  # a frame narrower than this holds no target to segment (the network's stride is 8)


def too_small(name: str, width: int, height: int, min_side: int = MIN_SIDE) -> LwirstError | None:
    """The error for a frame with a side under `min_side`, None for one large enough: the CLI and the dashboard
    refuse such frames alike (the CLI segmented a 1x1 frame and reported 0 targets)."""
    if min(width, height) >= min_side:
        return None
    return LwirstError(f"{name}: {width}x{height} is too small to segment; use an image at least "
                       f"{min_side}x{min_side} pixels")


def check_frame_file(path: str | Path) -> None:
    """Refuse a frame file from its header alone, before any model loads: unreadable, over the pixel limit,
    or too small (`too_small`)."""
    width, height = read_header_size(path)
    if (error := too_small(str(path), width, height)) is not None:
        raise error


def write_png(path: Path, image: np.ndarray) -> None:
    """An image as a PNG, written atomically: a failed write leaves no partial file and raises
    LwirstError naming the file and the reason (disk full, no permission)."""
    from lwirst.validate import atomic_write_bytes

    ok, encoded = cv2.imencode(".png", image)
    if not ok:
        raise LwirstError(f"{path}: the image could not be encoded as PNG")
    try:
        atomic_write_bytes(path, encoded.tobytes())
    except OSError as exc:
        raise LwirstError(f"cannot write {path}: {exc.strerror}") from exc


def image_files(folder: Path) -> list[Path]:
    """The image files of a folder (IMAGE_SUFFIXES), sorted by name, not recursive."""
    return sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file())


def mask_stem(path: Path) -> str:
    """The stem of the image a mask file belongs to: NAME for NAME_mask.png or NAME_pixels0.png (SIRST's)."""
    stem = path.stem
    for tag in MASK_TAGS:
        stem = stem.removesuffix(tag)
    return stem


def flat_pairs(folder: Path) -> list[tuple[Path, Path]] | None:
    """A flat dataset: frames NAME.ext beside their masks NAME_mask.ext in one folder.

    Returns (frame, mask) for every file not tagged as a mask, in name order; a frame without its
    mask gets the path its mask should have, so validation names it. None when no frame of the
    folder has its mask there: then it is not a dataset (a `segment` output holds NAME_mask.png
    beside NAME_overlay.png but no NAME.png).
    """
    files = image_files(folder)
    masks = {mask_stem(p): p for p in files if p.stem != mask_stem(p)}
    frames = [p for p in files if p.stem == mask_stem(p)]
    if not any(p.stem in masks for p in frames):
        return None
    return [(p, masks.get(p.stem, folder / f"{p.stem}_mask.png")) for p in frames]


def require_image_files(folder: Path) -> list[Path]:
    """`image_files`, refusing a folder that holds none; of a flat dataset (`flat_pairs`) only its
    frames, so a folder of frames and their masks is segmented frame by frame."""
    pairs = flat_pairs(folder)
    files = [frame for frame, _ in pairs] if pairs else image_files(folder)
    skipped = skipped_files(folder)
    if not files:
        raise LwirstError(f"{folder} holds no {'/'.join(s[1:].upper() for s in IMAGE_SUFFIXES)} images"
                          + (f" (only formats it does not read: {skipped[0].name}...)" if skipped else ""))
    return files


def decode_image(data: bytes, name: str = "image", max_pixels: int | None = None) -> np.ndarray:
    """Decode encoded image bytes keeping bit depth and channels (IMREAD_UNCHANGED).

    The header is checked first: a size over `max_pixels` is refused before any pixel
    memory is allocated.
    """
    if not data:
        raise LwirstError(f"{name}: the file is empty; choose a PNG, JPG, BMP or TIFF image")
    check_header(data, name, max_pixels)
    buffer = np.frombuffer(data, dtype=np.uint8)
    with captured_stderr() as chatter:  # libpng and libtiff write warnings to descriptor 2
        try:
            image = cv2.imdecode(buffer, cv2.IMREAD_UNCHANGED)
        except cv2.error as exc:  # over the decoder's own pixel cap (`lwirst.limits.cap_decoder`)
            raise LwirstError(f"{name}: the decoder refused it as larger than its pixel limit, whatever its "
                              "header says") from exc
    if image is None:  # the decoder's own words are a log line (-v): the error may reach a dashboard visitor
        log.info("%s: the decoder refused it%s", name, reason(chatter))
        tags = _tiff_header(data)
        samples = None if tags is None else tags.get(277, 1)
        if samples not in (None, 1, 2, 3, 4):  # a valid file the decoder has no layout for: not "corrupt"
            raise LwirstError(f"{name}: a TIFF of {samples} channels; expected 1 (grey), 3 (colour) or 4 (RGBA)")
        raise LwirstError(f"{name}: {unreadable_reason(data)}")
    if image_format(data) in ("JPEG", "PNG"):  # libtiff turns a TIFF itself
        image = upright(image, orientation(data))
    return check_image(image, name, max_pixels)


def read_image(path: str | Path) -> np.ndarray:
    """Read an image file as stored (8/16-bit, grey/BGR/BGRA)."""
    path = Path(path)
    if path.is_dir():
        raise LwirstError(f"{path}: is a directory, expected an image file")
    if not path.is_file():  # absent, a pipe or a device (read, a pipe hung and /dev/zero filled the memory)
        raise LwirstError(missing_file_text(path))
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise LwirstError(f"{path}: cannot be read ({exc.strerror})") from exc
    image = decode_image(data, str(path))
    # said once per file, not per page; from the bytes read, not the file again (a TIFF dataset reads many)
    if several_pages(data, str(path)):
        log.warning("%s: a TIFF of several pages, of which the first is read as an image; lwirst video reads "
                    "every page as a frame", path)
    return image


def several_pages(data: bytes, name: str = "image") -> bool:
    """Whether image bytes are a TIFF of more than one page (a camera's stack of frames), of which an image
    reader takes the first."""
    return len(_walk_tiff(lambda at, size: data[at:at + size], len(data), name, 1)) > 1


def check_image(image: np.ndarray, name: str = "image", max_pixels: int | None = None) -> np.ndarray:
    """Validate an in-memory image array; return it, in the machine's byte order (FITS readers deliver
    big-endian arrays)."""
    if not isinstance(image, np.ndarray):
        raise LwirstError(f"{name}: expected a numpy array (H x W or H x W x C), got {type(image).__module__}."
                          f"{type(image).__qualname__} (np.asarray converts a PIL image; a torch tensor: "
                          "tensor.numpy())")
    if image.ndim not in (2, 3):
        raise LwirstError(f"{name}: expected an H x W or H x W x C image array, got {image.ndim} dimensions")
    if image.shape[0] == 0 or image.shape[1] == 0:
        raise LwirstError(f"{name}: the image has zero size")
    if image.ndim == 3 and image.shape[2] not in (1, 3, 4):
        stack = f"a stack of {image.shape[0]} frames? pass them to Segmenter.predict_batch, one frame each"
        first = (" (grey and alpha? pass image[..., 0])" if image.shape[2] == 2 else
                 f" (channels first, {image.shape[0]} x H x W? pass image.transpose(1, 2, 0); {stack})"
                 if image.shape[0] in (1, 3, 4) else f" ({stack})")
        raise LwirstError(f"{name}: {image.shape[2]} channels; expected 1 (grey), 3 (colour) or 4 (RGBA){first}")
    if not image.dtype.isnative:
        image = image.astype(image.dtype.newbyteorder("="))
    budget = limit("LWIRST_MAX_IMAGE_PIXELS") if max_pixels is None else max_pixels
    if image.shape[0] * image.shape[1] > budget:
        raise LwirstError(f"{name}: {image.shape[1]}x{image.shape[0]} is larger than the limit of "
                          f"{side_text(budget)} pixels{_setting(max_pixels)}; downscale it")
    if image.dtype not in (np.uint8, np.uint16, np.int16, np.float32, np.float64):  # int16: a camera's signed counts
        raise LwirstError(f"{name}: pixel type {image.dtype} is not supported (use unsigned 8- or 16-bit integers, "
                          "signed 16-bit ones, or 32- or 64-bit floats)")
    if image.dtype.kind == "f" and not np.isfinite(image).all():  # one NaN made the 8-bit stretch all zeros
        raise LwirstError(f"{name}: the image holds NaN or infinite values; save it without them (in Python, "
                          "np.nan_to_num replaces them) before segmenting")
    return image


# A raw frame's dead and hot pixels must not set its 8-bit stretch: one of them alone crushed the scene into a few
# grey levels and lost its targets (a 14-bit frame with one dead pixel: 1 target found of 4), and so did two stuck
# ones (SIRST val as 14-bit frames with two pixels stuck at full scale: 18 targets found of 97 instead of 94). A
# pixel may be a defect when it reads what stuck pixels read (0, or a sensor's full scale 2^n - 1, the frame's
# maximum) more than STUCK_SPANS of the core range beyond it, or any value more than DEFECT_SPANS times that range
# beyond it. The core range is the frame's values less the stuck ones, however many, and less its STRETCH_OUTLIERS
# most extreme at each end (rounded up: at least one). Such a pixel is a defect when it stands alone or in a pair
# (DEFECT_CLUSTER) and its other neighbours rise less than DEFECT_RING of the way from the local background (the
# median around it) to it: a target spans neighbouring pixels because optics blur it (around each of SIRST's 532
# targets the brightest neighbour rises at least 0.30 of the way; 0.49 around its two brightest pixels). A sharp
# raw sensor's point target may not (a blur of 0.3 px puts it on one or two pixels), so a value no stuck pixel
# reads is a defect only far out, where one extreme value alone would set the range: a target's own second pixel
# keeps it in. A defect takes its eight neighbours' median, as a camera's defect-pixel correction does (clipped to
# 255 it was reported as a target). More than DEFECT_LIMIT lone clusters are salt over the scene, not defects.
STRETCH_OUTLIERS = 1e-5
DEFECT_SPANS = 4.0
STUCK_SPANS = 0.5
DEFECT_CLUSTER = 2
DEFECT_RING = 0.2
DEFECT_LIMIT = 4096
STUCK_HIGH = tuple(2**bits - 1 for bits in range(10, 17))  # full scale of 10- to 16-bit sensors


def stretch_range(data: np.ndarray, integer: bool | None = None) -> tuple[float, float, np.ndarray | None]:
    """The (low, high) an H x W (x C) frame is stretched between, its min and max leaving out dead and hot pixels
    (see above), and where those are (None when there are none). `integer`: whether the frame's values are a
    sensor's integer counts (default: its type says; signed 16-bit counts arrive as float32, which holds each
    exactly, and read the stuck values of unsigned ones)."""
    flat = data.ravel()
    lo, hi = float(flat.min()), float(flat.max())
    high = data.max(axis=2) if data.ndim == 3 else data  # hot in any channel, dead in any channel
    low = data.min(axis=2) if data.ndim == 3 else data
    integer = np.issubdtype(data.dtype, np.integer) if integer is None else integer
    stuck_high = high == hi if integer and hi in STUCK_HIGH else None  # full scale is the frame's maximum
    stuck_low = low == 0 if integer and lo == 0 else None
    stuck = stuck_high if stuck_low is None else stuck_low if stuck_high is None else stuck_high | stuck_low
    if stuck is not None:  # stuck pixels, however many, do not set the core range
        flat = data[~stuck].ravel()
    k = math.ceil(flat.size * STRETCH_OUTLIERS)
    if flat.size <= 2 * k + 1:
        return lo, hi, None
    part = np.partition(flat, (k, flat.size - 1 - k))
    core_lo, core_hi = float(part[k]), float(part[flat.size - 1 - k])
    span = core_hi - core_lo
    if span <= 0:  # a flat frame: a bright pixel on it is all there is to see
        return lo, hi, None
    hot = high > core_hi + DEFECT_SPANS * span
    dead = low < core_lo - DEFECT_SPANS * span
    if stuck_high is not None and hi > core_hi + STUCK_SPANS * span:  # beyond the core by a share of it: no noise
        hot |= stuck_high
    if stuck_low is not None and core_lo > STUCK_SPANS * span:
        dead |= stuck_low
    defects = np.zeros(data.shape[:2], bool)
    if hot.any():
        defects |= _lone_spikes(high, hot)
    if dead.any():
        defects |= _lone_spikes(low, dead, dark=True)
    kept = data[~defects]
    if not defects.any() or not kept.size:
        return lo, hi, None
    return float(kept.min()), float(kept.max()), defects


def _lone_spikes(plane: np.ndarray, candidates: np.ndarray, dark: bool = False) -> np.ndarray:
    """The `candidates` of an H x W `plane` that are defects: clusters of at most DEFECT_CLUSTER of them whose
    other neighbours rise less than DEFECT_RING of the way from the median of the 5x5 (5x6 for a pair) around
    them to the cluster's weakest pixel (`dark`: fall, for dead pixels). Each cluster is read in its own small
    window: a whole-frame median cost seconds on a 4096x4096 frame for one hot pixel."""
    _, labels, stats, _ = cv2.connectedComponentsWithStats(candidates.view(np.uint8), connectivity=8)
    clusters = np.flatnonzero(stats[1:, cv2.CC_STAT_AREA] <= DEFECT_CLUSTER) + 1
    lone = np.zeros(plane.shape, bool)
    if clusters.size > DEFECT_LIMIT:
        return lone
    height, width = plane.shape
    sign = -1.0 if dark else 1.0
    for label in clusters:
        x, y, w, h = stats[label, :4]
        rows, cols = slice(max(0, y - 2), min(height, y + h + 2)), slice(max(0, x - 2), min(width, x + w + 2))
        window = sign * plane[rows, cols].astype(np.float64)
        member = labels[rows, cols] == label
        ring = cv2.dilate(member.view(np.uint8), _BLOCK).astype(bool) & ~candidates[rows, cols]
        background = float(np.median(window))
        rise = float(window[ring].max()) - background if ring.any() else -math.inf
        tall = float(window[member].min()) - background
        if tall > 0 and rise < DEFECT_RING * tall:
            lone[rows, cols] |= member
    return lone


_BLOCK = np.ones((3, 3), np.uint8)  # a pixel and its eight neighbours


@dataclass(frozen=True)
class Stretch:
    """A frame's 8-bit view and the range of its values stretched over 0..255 (None for an 8-bit frame, read as
    it is), so that a view can say what it shows."""

    pixels: np.ndarray
    span: tuple[float, float] | None = None  # (low, high)
    repaired: np.ndarray | None = None  # H x W bool: the defect pixels given their neighbours' median, if any

    def repaired_spots(self) -> list[tuple[int, int]]:
        """(x, y) of each cluster of repaired pixels, top to bottom: what a view says was replaced (a saturated
        point target on one or two unblurred pixels reads as a stuck pixel, and was erased without a word)."""
        if self.repaired is None:
            return []
        count, _, _, centres = cv2.connectedComponentsWithStats(self.repaired.view(np.uint8), connectivity=8)
        return sorted(((round(x), round(y)) for x, y in centres[1:count]), key=lambda xy: (xy[1], xy[0]))


def repaired_text(spots: Sequence[tuple[int, int]], most: int = 4) -> str:
    """What a view says of a frame's repaired pixels ("" for none): where, and that a saturated point target on
    one or two pixels reads the same."""
    if not spots:
        return ""
    where = ", ".join(f"({x}, {y})" for x, y in spots[:most]) + (f" and {len(spots) - most} more"
                                                                  if len(spots) > most else "")
    spots_said = "1 spot" if len(spots) == 1 else f"{len(spots)} spots"
    return (f"{spots_said} of one or two pixels far beyond the scene's range (a stuck value, 0 or the sensor's full "
            f"scale, or an extreme one) read as sensor defects and given their neighbours' median before the network "
            f"ran, at {where}: a target sharp enough to sit on one or two saturated pixels reads the same")


def to_uint8(image: np.ndarray, ignored: np.ndarray | None = None) -> np.ndarray:
    """8-bit view of an image (`stretch`)."""
    return stretch(image, ignored).pixels


def stretch(image: np.ndarray, ignored: np.ndarray | None = None) -> Stretch:
    """8-bit view of an image: 16-bit and float images are stretched over their own range (`stretch_range`),
    their defect pixels replaced by their neighbours' median; pixels `ignored` (H x W bool: a camera's burnt-in
    text) set no range.

    IR sensors deliver 14/16-bit counts whose useful range is a small band of the
    full scale, so a fixed /257 would leave targets invisible; stretching the
    frame's own range keeps local contrast, as IR viewers do. A timestamp written in at full scale took the
    whole range, and the scene, crushed into a grey level or two, lost its target, even inside ignore zones.
    """
    if image.dtype == np.uint8:
        return Stretch(image)
    counts = image.dtype.kind in "iu"  # a sensor's integer counts: its stuck values are defects (`stretch_range`)
    if image.dtype == np.int16:  # signed counts: float32 holds each exactly
        image = image.astype(np.float32)
    # An alpha plane is no intensity, so it sets no range (an opaque 16-bit alpha of 65535 flattened the scene).
    # The range is found in the frame's own type, and the offset taken there too (a float64 frame of 1e6 + 0..0.1
    # keeps its levels), into one float32 array worked in place: a 4096x4096 frame's temporaries cost gigabytes.
    colour = image[..., :3] if image.ndim == 3 and image.shape[2] == 4 else image
    if ignored is not None and ignored.any() and not ignored.all():  # read as the scene's median; shown clipped
        colour = colour.copy()
        colour[ignored] = np.median(colour[~ignored], axis=0).astype(colour.dtype)
    lo, hi, defects = stretch_range(colour, counts)
    if hi <= lo:
        return Stretch(np.zeros(image.shape, dtype=np.uint8), (lo, hi))
    data = np.empty(image.shape, np.float64 if hi - lo > float(np.finfo(np.float32).max) else np.float32)
    np.subtract(image, lo, out=data, casting="unsafe")
    data *= 255.0 / (hi - lo)
    data += 0.5
    np.clip(data, 0, 255, out=data)
    out = data.astype(np.uint8)
    if defects is not None:  # an H x W x 1 frame's median comes back H x W
        out[defects] = cv2.medianBlur(out, 3).reshape(out.shape)[defects]
    return Stretch(out, (lo, hi), defects)


def to_bgr(image: np.ndarray, ignored: np.ndarray | None = None) -> np.ndarray:
    """8-bit 3-channel BGR copy of any supported image (grey replicated, alpha dropped; `ignored` pixels set no
    stretch, `to_uint8`)."""
    image = to_uint8(check_image(image), ignored)
    if image.ndim == 2 or image.shape[2] == 1:
        return cv2.cvtColor(image.reshape(image.shape[0], image.shape[1]), cv2.COLOR_GRAY2BGR)
    if image.shape[2] == 4:
        return cv2.cvtColor(image, cv2.COLOR_BGRA2BGR)
    return image


def to_gray(image: np.ndarray) -> np.ndarray:
    """8-bit single-channel copy of any supported image."""
    bgr = to_bgr(image)
    return cv2.cvtColor(bgr, cv2.COLOR_BGR2GRAY)


def read_mask(path: str | Path, threshold: float | None = None) -> np.ndarray:
    """Read a ground-truth mask as bool.

    A mask must be binary (0 and one foreground value) unless `threshold` is given: then a
    pixel is target where its value exceeds `threshold` times the format's full scale (255
    for 8-bit), which is how masks saved with interpolation or lossy compression (some of
    IRSTD-1K's) are binarised on request rather than silently.
    """
    mask = read_image(path)
    if mask.ndim == 3:
        colour = mask[..., :3] if mask.shape[2] >= 3 else mask
        if mask.shape[2] >= 3 and not (np.array_equal(colour[..., 0], colour[..., 1])
                                       and np.array_equal(colour[..., 0], colour[..., 2])):
            raise LwirstError(
                f"{path}: mask is coloured (its colour channels differ, e.g. a red mask); expected a "
                "single-channel binary mask (0 and one foreground value): convert it to grey first"
            )
        mask = mask[..., 0]
    values = np.unique(mask)
    # one dim value everywhere is no frame-filling target but an empty mask a lossy codec lifted off 0 (a JPEG
    # of zeros decodes to 1s): read as binary, it made every pixel of 34 target-free frames a target
    faint = values.size == 1 and 0 < values[0] < full_scale(mask) / 2
    if values.size > 2 or (values.size == 2 and values[0] != 0) or faint:
        if threshold is None:
            raise LwirstError(
                f"{path}: mask is not binary (values {values[:6].tolist()}...); expected 0 and one foreground "
                "value, or pass --mask-threshold T (mask_threshold=T in Python) to binarise it (target where "
                "value > T x full scale, e.g. 0.5)"
            )
        return mask > threshold * full_scale(mask)
    return mask > 0


def full_scale(image: np.ndarray) -> float:
    """The largest value an image's integer format holds (255 for 8-bit); 1 for float images."""
    return float(np.iinfo(image.dtype).max) if np.issubdtype(image.dtype, np.integer) else 1.0
