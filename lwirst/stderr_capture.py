"""Native libraries' stderr chatter captured instead of reaching the user's terminal.

libpng ("libpng warning: ..."), FFmpeg ("[mov,mp4,...] moov atom not found") and OpenCV's
demuxers write to file descriptor 2 directly, below Python and OpenCV's log level. Around a
decode, `captured_stderr` points descriptor 2 at a temporary file and hands back what was
written, so the caller can log it and name the problem in its own one-line error. Descriptor 2
is the process's: the command line logs through `TerminalHandler`, so that a warning another
thread logs during a capture (a dataset's mask check beside an image read) is not swallowed.
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
from typing import TextIO

log = logging.getLogger(__name__)

_FFMPEG_PREFIX = re.compile(r"^\[[^\]]* @ 0x[0-9a-f]+\]\s*")  # "[mov,mp4,... @ 0x55d1...] "
_lock = threading.RLock()  # descriptor 2 is process-wide: one capture at a time, nested ones inside it
_depth = 0
_sink = None  # one temporary file, reused under the lock: a video captures around every frame it reads
# Held only around descriptor 2's swaps and TerminalHandler's writes (never while logging): a record logged by
# any thread while a capture holds descriptor 2 waits in _held and is written once the capture ends.
_swap = threading.Lock()
_held: list[tuple[TextIO, str]] = []


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
        with _swap:
            sys.stderr.flush()
            saved = os.dup(2)
            os.dup2(_sink.fileno(), 2)
            _depth += 1
        try:
            yield captured
        finally:
            with _swap:
                _depth -= 1
                sys.stderr.flush()
                os.dup2(saved, 2)
                os.close(saved)
                for stream, text in _held:
                    stream.write(text)
                    stream.flush()
                _held.clear()
            _sink.seek(0)
            captured.text = _sink.read(64 * 1024).decode(errors="replace")
        if captured.text:
            log.debug("native stderr: %s", captured.text.strip())


class TerminalHandler(logging.StreamHandler):
    """A stderr log handler whose records are never swallowed by a capture: one logged (by any thread) while
    `captured_stderr` holds descriptor 2 is written when the capture ends, a decode later."""

    def emit(self, record: logging.LogRecord) -> None:
        try:
            text = self.format(record) + self.terminator
        except Exception:  # logging's own contract: a bad record is reported, never raised
            self.handleError(record)
            return
        with _swap:
            if _depth:
                _held.append((self.stream, text))
                return
            self.stream.write(text)
            self.flush()


def reason(captured: Captured) -> str:
    """': <the library's words>' to append to an error message, or '' when it said nothing."""
    line = captured.summary()
    return f": {line[:160]}" if line else ""
