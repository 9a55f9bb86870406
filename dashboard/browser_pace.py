"""Send a stream's frames no faster than the browser takes them.

Streamlit's server (1.67, on Starlette) queues every message for a browser, and once 500 of them
wait it drops the session without closing the connection: the page stays on its last frame, shows a
running script for ever and ignores every widget until it is reloaded. A slow browser, a busy
machine or a remote visitor on a slow link fills that queue in seconds when a page sends frames back
to back. So the Live page sends a frame only when the browser can take it and skips the others on
screen (every frame is still processed and tracked): a live view shows the newest frame; it neither
lags behind the source nor slows the stream to the browser's pace. The server says how many messages
wait for this session's browser; where it does not (another server), frames are shown at a fixed
rate instead.
"""

from __future__ import annotations

import time

from streamlit.runtime import Runtime
from streamlit.runtime.scriptrunner import get_script_run_ctx

MAX_BACKLOG = 40  # messages waiting for the browser above which a frame is not shown (a frame is about a dozen)
FALLBACK_FPS = 25.0  # frames shown per second where the server does not say what waits


def backlog() -> int | None:
    """Messages the server holds for this session's browser, not yet sent; None where it does not say
    (no session, or a server without a send queue)."""
    ctx = get_script_run_ctx()
    if ctx is None or not Runtime.exists():
        return None
    queue = getattr(Runtime.instance().get_client(ctx.session_id), "_send_queue", None)
    size = getattr(queue, "qsize", None)
    return int(size()) if callable(size) else None


def browser_ready(last_shown_at: float) -> bool:
    """Whether the browser can take another frame now: at most `MAX_BACKLOG` messages wait for it, or,
    where the server does not say, `1 / FALLBACK_FPS` has passed since the last frame shown
    (`time.monotonic()`). A session whose browser left reads as ready: Streamlit stops its run at the
    next frame sent."""
    waiting = backlog()
    if waiting is not None:
        return waiting <= MAX_BACKLOG
    return time.monotonic() - last_shown_at >= 1 / FALLBACK_FPS
