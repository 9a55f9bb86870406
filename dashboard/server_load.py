"""Runs going on in this dashboard server, every visitor's, so that a page can say why its own goes slower.

Why: every visitor's frames take turns through one network lock on the server's cores. In a room where several
people opened the dashboard, two Live streams made a third visitor's slider redraw take 2.6 s instead of 0.5 s and
six pages opened at once took 17-29 s instead of 4-5 s, with nothing on the pages saying the server was shared.
Video runs, Live bursts and evaluations count themselves here while they run; their progress lines name the others.
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager

# a kind of run -> its name, one and several
KINDS = {"video": ("a video", "videos"), "live": ("a live stream", "live streams"),
         "evaluation": ("an evaluation", "evaluations")}


class ServerLoad:
    """How many runs of each kind go on now, in every session of this server process."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._runs: Counter[str] = Counter()

    @contextmanager
    def running(self, kind: str) -> Iterator[None]:
        """Count a run of `kind` (a key of KINDS) while the block runs, however it ends."""
        if kind not in KINDS:
            raise ValueError(f"unknown kind of run {kind!r}")
        with self._lock:
            self._runs[kind] += 1
        try:
            yield
        finally:
            with self._lock:
                self._runs[kind] -= 1

    def others(self, own: str | None = None) -> Counter[str]:
        """The runs going on now, less one of kind `own` (the caller's, counted while it runs)."""
        with self._lock:
            runs = Counter(self._runs)
        if own is not None:
            runs[own] -= 1
        return +runs

    def shared(self, own: str | None = None, template: str = " · shared with {}") -> str:
        """`template` holding the other runs ("2 other visitors' runs (a live stream, a video)"); "" when there are
        none."""
        runs = self.others(own)
        total = sum(runs.values())
        if not total:
            return ""
        kinds = ", ".join(KINDS[kind][0] if count == 1 else f"{count} {KINDS[kind][1]}"
                          for kind, count in sorted(runs.items()))
        whose = "1 other visitor's run" if total == 1 else f"{total} other visitors' runs"
        return template.format(f"{whose} ({kinds})")


SERVER_LOAD = ServerLoad()  # the one of this server process
