"""The dashboard server's runs in progress (`dashboard.server_load`): what pages say when the server is shared."""

from __future__ import annotations

import sys
import threading
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:  # dashboard/ is not an installed package
    sys.path.insert(0, str(REPO))

from dashboard.server_load import ServerLoad  # noqa: E402


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


def test_runs_of_many_threads_add_up_and_leave() -> None:
    load = ServerLoad()
    inside, release = threading.Barrier(9), threading.Event()

    def run() -> None:
        with load.running("evaluation"):
            inside.wait()
            release.wait()

    threads = [threading.Thread(target=run) for _ in range(8)]
    for thread in threads:
        thread.start()
    inside.wait()
    assert load.others() == {"evaluation": 8}
    release.set()
    for thread in threads:
        thread.join()
    assert not load.others()
