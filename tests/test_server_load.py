"""The dashboard server's runs in progress (`dashboard.server_load`): what pages say when the server is shared."""

from __future__ import annotations

import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:  # dashboard/ is not an installed package
    sys.path.insert(0, str(REPO))

from dashboard.server_load import FairLock, ServerBusy, ServerLoad  # noqa: E402
from lwirst.errors import LwirstError  # noqa: E402


def test_runs_are_counted_while_they_run_however_they_end() -> None:
    load = ServerLoad()
    assert load.shared() == ""
    with load.running("video"), load.running("live"), load.running("live"):
        assert load.shared() == " · shared with 3 other visitors' runs (2 live streams, a video)"
        assert load.shared("live") == " · shared with 2 other visitors' runs (a live stream, a video)"
        assert load.shared("video", "{}.") == "2 other visitors' runs (2 live streams)."
    with pytest.raises(RuntimeError), load.running("evaluation"):
        assert load.shared("video") == " · shared with 1 other visitor's run (an evaluation)"
        raise RuntimeError("a run that fails still leaves")
    assert load.shared() == "" and not load.others()
    with pytest.raises(ValueError, match="unknown kind"), load.running("train"):
        pass


def test_a_visitors_own_runs_are_never_another_visitors() -> None:
    """Live, paused, counted the visitor's own last burst (still finishing as the page reran) and said "Shared
    server: 1 other visitor's run (a live stream)" to a visitor alone on the server."""
    load = ServerLoad()
    with load.running("live", owner="me"), load.running("live", owner="me"):  # a burst ending beside the next
        assert load.shared(owner="me") == "" and load.shared(owner="you") != ""
        with load.running("live", owner="you"), load.running("video"):
            assert load.shared(owner="me") == " · shared with 2 other visitors' runs (a live stream, a video)"
            assert load.others(owner="you") == {"live": 2, "video": 1}
    assert not load.others() and load.shared(owner="me") == ""


def test_runs_of_many_threads_add_up_and_leave() -> None:
    load = ServerLoad()
    inside, release = threading.Barrier(9), threading.Event()

    def run() -> None:
        with load.running("live"):  # live streams are counted, never bounded
            inside.wait()
            release.wait()

    threads = [threading.Thread(target=run) for _ in range(8)]
    for thread in threads:
        thread.start()
    inside.wait()
    assert load.others() == {"live": 8}
    release.set()
    for thread in threads:
        thread.join()
    assert not load.others()


def hold(load: ServerLoad, kind: str, release: threading.Event, inside: threading.Event | None = None,
         said: list[str] | None = None, order: list[str] | None = None, name: str = "") -> threading.Thread:
    """A thread running one `kind` run until `release`: `inside` set once it has its place, each waiting line
    it was told appended to `said`, and `name` to `order` when it gets in."""

    def run() -> None:
        try:
            with load.running(kind, said.append if said is not None else None):
                if order is not None:
                    order.append(name)
                if inside is not None:
                    inside.set()
                release.wait()
        except ServerBusy:
            pass

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread


def wait_until(condition: Callable[[], bool], seconds: float = 10.0) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "the condition never held"
        time.sleep(0.01)


def test_bounded_runs_wait_in_line_and_one_more_is_refused() -> None:
    load, release = ServerLoad(places=2, line=1), threading.Event()
    holders = [hold(load, "evaluation", release), hold(load, "video", release)]
    wait_until(lambda: load.others() == {"evaluation": 1, "video": 1})
    said: list[str] = []
    waiter = hold(load, "evaluation", release, inside := threading.Event(), said)
    wait_until(lambda: len(said) >= 1)
    assert not inside.is_set() and load.others()["evaluation"] == 1
    assert said[-1] == ("Waiting for the server, which runs 2 videos or evaluations at once (now: 2 other "
                        "visitors' runs (an evaluation, a video)); yours starts next")
    busy = r"The server is busy: 2 runs are going on \(the most it runs at once\) and 1 more is waiting; try again"
    with pytest.raises(ServerBusy, match=busy), load.running("evaluation"):
        pass
    with load.running("live"), load.running("scoring"):  # a live stream, a re-scoring: only counted, never waiting
        assert load.others()["live"] == load.others()["scoring"] == 1
    release.set()
    wait_until(inside.is_set)
    for thread in (*holders, waiter):
        thread.join(5)
    assert not load.others()


def test_the_line_is_first_come_first_served_and_a_stopped_waiter_leaves_it() -> None:
    load, gate = ServerLoad(places=1, line=4), threading.Event()
    first = hold(load, "video", gate, entered := threading.Event())
    entered.wait(5)
    order: list[str] = []
    told: dict[str, list[str]] = {"a": [], "b": [], "c": []}
    threads = []
    for name in "abc":  # each in line before the next arrives
        threads.append(hold(load, "evaluation", gate, said=told[name], order=order, name=name))
        wait_until(lambda name=name: len(told[name]) >= 1)
    assert told["c"][-1].endswith("; 2 more are waiting before yours")
    assert told["b"][-1].endswith("; 1 more is waiting before yours")

    def stopped(text: str) -> None:  # a page's Stop: Streamlit raises from the waiting line's element call
        raise KeyboardInterrupt(text)

    with pytest.raises(KeyboardInterrupt, match="3 more are waiting before yours"), load.running("video", stopped):
        pass
    gate.set()
    for thread in (first, *threads):
        thread.join(5)
    assert order == ["a", "b", "c"] and not load.others()


def test_the_bounds_are_the_servers_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LWIRST_MAX_SERVER_RUNS", "1")
    monkeypatch.setenv("LWIRST_MAX_WAITING_RUNS", "1")
    load, release = ServerLoad(), threading.Event()
    holder = hold(load, "evaluation", release, entered := threading.Event())
    entered.wait(5)
    said: list[str] = []
    waiter = hold(load, "video", release, said=said)
    wait_until(lambda: bool(said))
    assert said[-1].startswith("Waiting for the server, which runs 1 video or evaluation at once (now: "
                              "1 other visitor's run (an evaluation)); yours starts next")
    with pytest.raises(ServerBusy), load.running("evaluation"):
        pass
    release.set()
    holder.join(5)
    waiter.join(5)
    monkeypatch.setenv("LWIRST_MAX_SERVER_RUNS", "0")
    with pytest.raises(LwirstError, match="LWIRST_MAX_SERVER_RUNS='0' must be a positive integer"), \
            load.running("video"):
        pass


def test_the_network_lock_takes_turns_with_a_thread_that_asks_again_at_once() -> None:
    """A video's thread released the network lock after each frame and took it straight back (Python's own lock is
    not fair), so a Live stream waiting beside it got a frame every few seconds: with `FairLock` two threads that
    both ask again at once take strict turns, and the waiter's first turn comes at the holder's first release."""
    lock, turns = FairLock(), []

    def frames(name: str, count: int) -> None:
        for _ in range(count):
            with lock:
                turns.append(name)
                time.sleep(0.003)

    video = threading.Thread(target=frames, args=("v", 30))
    live = threading.Thread(target=frames, args=("l", 10))
    video.start()
    time.sleep(0.001)  # the video's first frame holds the lock
    live.start()
    for thread in (video, live):
        thread.join(30)
    order = "".join(turns)
    first, last = order.index("l"), order.rindex("l")
    assert first <= 2 and order[first:last + 1] == "lv" * 9 + "l", order
