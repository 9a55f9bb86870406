"""Ctrl-C and SIGTERM held while a set of files is written, so that a stop lands between saves, never inside one.

A training stopped while it saved an epoch said "epoch 1 is saved" with its weights written and its resume state
not: the run could be neither resumed nor started again without --force. The signal, held, is delivered again once
the files are whole, to whatever handler was there before (the CLI's, Python's KeyboardInterrupt, or none)."""

from __future__ import annotations

import logging
import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager

log = logging.getLogger(__name__)

HELD = (signal.SIGINT, signal.SIGTERM)


@contextmanager
def held_interrupts() -> Iterator[None]:
    """Run the block with SIGINT and SIGTERM noted, not acted on; then raise the first noted signal again. Off the
    main thread (where no signal handler can be set, nor runs) the block runs as it is."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    arrived: list[int] = []

    def note(signum: int, frame: object) -> None:
        arrived.append(signum)

    before = {sig: signal.signal(sig, note) for sig in HELD}
    try:
        yield
    finally:
        for sig, handler in before.items():
            signal.signal(sig, handler)
        if arrived:
            log.info("%s held until the files being written were whole", signal.Signals(arrived[0]).name)
            signal.raise_signal(arrived[0])
