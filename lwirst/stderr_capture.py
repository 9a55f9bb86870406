"""Native libraries' stderr chatter captured instead of reaching the user's terminal.

libpng ("libpng warning: ..."), FFmpeg ("[mov,mp4,...] moov atom not found") and OpenCV's
demuxers write to file descriptor 2 directly, below Python and OpenCV's log level. Around a
decode, `captured_stderr` points descriptor 2 at a temporary file and hands back what was
written, so the caller can log it and name the problem in its own one-line error.
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import sys
import tempfile
import threading
from collections.abc import Iterator
from dataclasses import dataclass

log = logging.getLogger(__name__)

_FFMPEG_PREFIX = re.compile(r"^\[[^\]]* @ 0x[0-9a-f]+\]\s*")  # "[mov,mp4,... @ 0x55d1...] "
_lock = threading.RLock()  # descriptor 2 is process-wide: one capture at a time, nested ones inside it
_depth = 0
_sink = None  # one temporary file, reused under the lock: a video captures around every frame it reads


@dataclass
class Captured:
    """What native code wrote to stderr during a `captured_stderr` block (filled in at its end)."""

    text: str = ""

    def summary(self) -> str:
        """The library's own words for the problem: its first line saying 'error', else its first line."""
        lines = [_FFMPEG_PREFIX.sub("", line).strip() for line in self.text.splitlines() if line.strip()]
        return next((line for line in lines if "error" in line.lower()), lines[0] if lines else "")


@contextlib.contextmanager
def captured_stderr() -> Iterator[Captured]:
    """Redirect descriptor 2 to a temporary file for the block; the text is logged at debug level."""
    global _depth, _sink
    captured = Captured()
    with _lock:
        if _depth:  # an outer capture already holds descriptor 2
            yield captured
            return
        if _sink is None:
            _sink = tempfile.TemporaryFile()  # noqa: SIM115 (kept open for the process, reused by every capture)
        _sink.seek(0)
        _sink.truncate()
        sys.stderr.flush()
        saved = os.dup(2)
        os.dup2(_sink.fileno(), 2)
        _depth += 1
        try:
            yield captured
        finally:
            _depth -= 1
            sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)
            _sink.seek(0)
            captured.text = _sink.read(64 * 1024).decode(errors="replace")
        if captured.text:
            log.debug("native stderr: %s", captured.text.strip())


def reason(captured: Captured) -> str:
    """': <the library's words>' to append to an error message, or '' when it said nothing."""
    line = captured.summary()
    return f": {line[:160]}" if line else ""
