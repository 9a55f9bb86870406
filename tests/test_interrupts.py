"""`lwirst.interrupts.held_interrupts`: a signal noted inside the block is acted on after it, by the handler that
was there before. The signals are raised in the test's own thread (`signal.raise_signal`): sent to the process
(`os.kill`), one may reach another thread after a test restored the default action, and end the test worker."""

from __future__ import annotations

import signal
import threading

import pytest

from lwirst.interrupts import held_interrupts


def _with_handlers(handlers: dict[int, object]):
    return {sig: signal.signal(sig, handler) for sig, handler in handlers.items()}


def test_ctrl_c_inside_the_block_is_raised_after_it() -> None:
    before = _with_handlers({signal.SIGINT: signal.default_int_handler})
    reached = []
    try:
        with pytest.raises(KeyboardInterrupt), held_interrupts():
            signal.raise_signal(signal.SIGINT)
            reached.append("end of the block")
        assert reached == ["end of the block"]
        assert signal.getsignal(signal.SIGINT) is signal.default_int_handler
    finally:
        _with_handlers(before)


def test_sigterm_goes_to_the_handler_that_was_there_and_an_ignored_signal_stays_ignored() -> None:
    calls: list[int] = []
    before = _with_handlers({signal.SIGTERM: lambda signum, frame: calls.append(signum),
                             signal.SIGINT: signal.SIG_IGN})
    try:
        with held_interrupts():
            signal.raise_signal(signal.SIGTERM)
            signal.raise_signal(signal.SIGINT)
            assert calls == []
        assert calls == [signal.SIGTERM]
        with held_interrupts():  # nothing arrives: nothing is raised
            pass
        assert calls == [signal.SIGTERM]
    finally:
        _with_handlers(before)


def test_off_the_main_thread_the_block_runs_as_it_is() -> None:
    seen: list[object] = []

    def worker() -> None:
        with held_interrupts():
            seen.append(signal.getsignal(signal.SIGINT))

    thread = threading.Thread(target=worker)
    thread.start()
    thread.join()
    assert seen == [signal.getsignal(signal.SIGINT)]
