"""Runs going on in this dashboard server, every visitor's: what a page says when the server is shared, and how
many heavy runs it takes on at once.

Why: every visitor's frames take turns through one network lock on the server's cores. In a room where several
people opened the dashboard, two Live streams made a third visitor's slider redraw take 2.6 s instead of 0.5 s and
six pages opened at once took 17-29 s instead of 4-5 s, with nothing on the pages saying the server was shared.
Video runs, Live bursts, evaluations and re-scorings count themselves here while they run; their progress lines
name the others.

Videos and evaluations are also bounded (`LWIRST_MAX_SERVER_RUNS` at once, `LWIRST_MAX_WAITING_RUNS` waiting,
first come first served; one more is refused in one line): they share one network lock and the cores, so more of
them at once gain no speed, while each holds memory as it runs (a frame's maps, a video's encoders and encoded
copies). A Live stream (one frame in memory at a time) and a re-scoring (a few stored maps at a time, seconds of
work; it runs where a page cannot say it waits, nor take a Stop while it does) are only counted.
"""

from __future__ import annotations

import threading
import time
from collections import Counter, deque
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from lwirst.errors import LwirstError
from lwirst.limits import limit

# a kind of run -> its name, one and several
KINDS = {"video": ("a video", "videos"), "live": ("a live stream", "live streams"),
         "evaluation": ("an evaluation", "evaluations"), "scoring": ("a re-scoring", "re-scorings")}
BOUNDED = frozenset({"video", "evaluation"})  # the kinds that wait for a free place
WAIT_POLL_S = 0.5  # a waiting run looks again this often, and says so (a page's Stop acts on its next element call)


class ServerBusy(LwirstError):
    """As many runs are waiting as the server lets wait: the visitor tries again later."""


class ServerLoad:
    """How many runs of each kind go on now, in every session of this server process, and the line of bounded
    runs waiting for a place. `places` and `line` (None: `LWIRST_MAX_SERVER_RUNS`, `LWIRST_MAX_WAITING_RUNS`, read
    at each run so a server's setting applies without a restart) bound them."""

    def __init__(self, places: int | None = None, line: int | None = None) -> None:
        self._places, self._line_length = places, line
        self._changed = threading.Condition()
        self._runs: Counter[str] = Counter()
        self._owned: Counter[tuple[str, str]] = Counter()  # (visitor, kind) of the runs whose visitor is known
        self._line: deque[object] = deque()  # the waiting runs' tickets, first come first

    @contextmanager
    def running(self, kind: str, waiting: Callable[[str], None] | None = None, owner: str = "") -> Iterator[None]:
        """Count a run of `kind` (a key of KINDS) while the block runs, however it ends, as `owner`'s (a visitor's
        session, "" unknown). A bounded kind first waits for a place, calling `waiting` with what to tell the
        visitor every WAIT_POLL_S (an exception it raises leaves the line), or raises `ServerBusy` when the line
        is full."""
        if kind not in KINDS:
            raise ValueError(f"unknown kind of run {kind!r}")
        if kind in BOUNDED:
            self._wait_for_place(kind, waiting)
        else:
            with self._changed:
                self._runs[kind] += 1
        if owner:
            with self._changed:
                self._owned[owner, kind] += 1
        try:
            yield
        finally:
            with self._changed:
                self._runs[kind] -= 1
                if owner:
                    self._owned[owner, kind] -= 1
                    if not self._owned[owner, kind]:  # a visitor gone leaves no key behind
                        del self._owned[owner, kind]
                self._changed.notify_all()

    def _wait_for_place(self, kind: str, waiting: Callable[[str], None] | None) -> None:
        places = self._places or limit("LWIRST_MAX_SERVER_RUNS")
        ticket = object()
        with self._changed:
            if not self._line and self._bounded() < places:
                self._runs[kind] += 1
                return
            if len(self._line) >= (self._line_length or limit("LWIRST_MAX_WAITING_RUNS")):
                raise ServerBusy(f"The server is busy: {_count(self._bounded(), 'run')} going on (the most it runs "
                                 f"at once) and {_count(len(self._line), 'more')} waiting; try again in a few minutes")
            self._line.append(ticket)
        try:
            while True:
                with self._changed:
                    if self._line[0] is ticket and self._bounded() < places:
                        self._line.popleft()
                        self._runs[kind] += 1
                        self._changed.notify_all()  # the next in line looks again
                        return
                    ahead = self._line.index(ticket)
                    self._changed.wait(WAIT_POLL_S)
                if waiting is not None:
                    waiting(self._waiting_text(places, ahead))
        except BaseException:
            with self._changed:
                self._line.remove(ticket)
                self._changed.notify_all()
            raise

    def _bounded(self) -> int:
        return sum(self._runs[kind] for kind in BOUNDED)

    def _waiting_text(self, places: int, ahead: int) -> str:
        held = Counter({kind: count for kind, count in self.others().items() if kind in BOUNDED})
        queue = f"{_count(ahead, 'more')} waiting before yours" if ahead else "yours starts next"
        kinds = "video or evaluation" if places == 1 else "videos or evaluations"
        return (f"Waiting for the server, which runs {places} {kinds} at once"
                f"{f' (now: {_described(held)})' if held else ''}; {queue}")

    def others(self, own: str | None = None, owner: str = "") -> Counter[str]:
        """The runs going on now, less one of kind `own` (the caller's, counted while it runs) and every run of
        `owner` (a visitor's earlier run may still be finishing as the page reruns: Live, paused, read its own
        last burst as "1 other visitor's run")."""
        with self._changed:
            runs = Counter(self._runs)
            if owner:
                runs -= Counter({kind: n for (who, kind), n in self._owned.items() if who == owner})
        if own is not None and not owner:
            runs[own] -= 1
        return +runs

    def shared(self, own: str | None = None, template: str = " · shared with {}", owner: str = "") -> str:
        """`template` holding the other runs ("2 other visitors' runs (a live stream, a video)"); "" when there are
        none."""
        runs = self.others(own, owner)
        return template.format(_described(runs)) if runs else ""


class RunBudget:
    """How long a run of a visitor's upload (a model evaluated, a video processed) may hold one of the server's run
    places: LWIRST_MAX_UPLOAD_RUN_SECONDS from its start. A model that passes its trial may still take up to
    LWIRST_ONNX_WORKER_SECONDS on every frame, and a small video of progressive-JPEG frames seconds to decode each:
    either held a place for hours. `check` after each frame stops the run with the frame that crosses it."""

    def __init__(self) -> None:
        self.seconds = limit("LWIRST_MAX_UPLOAD_RUN_SECONDS")
        self._start = time.monotonic()

    def check(self, label: str, unit: str, done: int, total: int | None, elsewhere: str) -> None:
        """Raise (a `LwirstError` beginning "`label`: ", as pages name a model's errors, where the run stopped and
        `elsewhere` to run it) once the run has taken longer than its budget with `unit`s left."""
        if (total is None or done < total) and time.monotonic() - self._start > self.seconds:
            of = f" of {total}" if total else ""
            raise LwirstError(f"{label}: stopped after {unit} {done}{of}: an upload may run for {self.seconds} s "
                              f"on this server (LWIRST_MAX_UPLOAD_RUN_SECONDS), and this one takes longer. "
                              f"{elsewhere}")


class FairLock:
    """A lock taken in the order it was asked for. Every visitor's frames take turns through one network lock, and
    Python's own lock is not fair: a video's thread, releasing it after a frame and asking again at once, took it
    back before a Live stream waiting beside it, whose frames then came every 3 s instead of several a second."""

    def __init__(self) -> None:
        self._changed = threading.Condition()
        self._line: deque[object] = deque()
        self._held = False

    def __enter__(self) -> None:
        ticket = object()
        with self._changed:
            self._line.append(ticket)
            try:
                while self._held or self._line[0] is not ticket:
                    self._changed.wait()
            except BaseException:  # a waiter stopped while in line: the next goes on
                self._line.remove(ticket)
                self._changed.notify_all()
                raise
            self._line.popleft()
            self._held = True

    def __exit__(self, *exc: object) -> None:
        with self._changed:
            self._held = False
            self._changed.notify_all()


def _described(runs: Counter[str]) -> str:
    """Runs by kind, as a visitor reads them: "2 other visitors' runs (a live stream, a video)"."""
    total = sum(runs.values())
    kinds = ", ".join(KINDS[kind][0] if count == 1 else f"{count} {KINDS[kind][1]}"
                      for kind, count in sorted(runs.items()))
    whose = "1 other visitor's run" if total == 1 else f"{total} other visitors' runs"
    return f"{whose} ({kinds})"



def _count(number: int, noun: str) -> str:
    """"1 run is", "2 runs are", "1 more is": a count and its verb."""
    plural = noun if noun == "more" or number == 1 else f"{noun}s"
    return f"{number} {plural} {'is' if number == 1 else 'are'}"


SERVER_LOAD = ServerLoad()  # the one of this server process
