"""Send a stream's frames no faster than the browser takes them.

Streamlit's server (1.67, on Starlette) queues every message for a browser, and once 500 of them
wait it drops the session without closing the connection: the page stays on its last frame, shows a
running script for ever and ignores every widget until it is reloaded. A slow browser, a busy
machine or a remote visitor on a slow link fills that queue in seconds when a page sends frames back
to back, so the Live page waits for the browser before each frame. The server says how many
messages wait for this session's browser; where it does not (another server), frames are paced to a
fixed rate instead.
"""

from __future__ import annotations

import time

from streamlit.runtime import Runtime
from streamlit.runtime.scriptrunner import get_script_run_ctx

MAX_BACKLOG = 40  # messages waiting for the browser before the next frame waits (a frame is about a dozen)
FALLBACK_FPS = 25.0  # frames per second where the server does not say what waits
POLL_S = 0.02


def backlog() -> int | None:
    """Messages the server holds for this session's browser, not yet sent; None where it does not say
    (no session, or a server without a send queue)."""
    ctx = get_script_run_ctx()
    if ctx is None or not Runtime.exists():
        return None
    queue = getattr(Runtime.instance().get_client(ctx.session_id), "_send_queue", None)
    size = getattr(queue, "qsize", None)
    return int(size()) if callable(size) else None


def wait_for_browser(previous_frame_at: float, deadline: float) -> None:
    """Return once the browser can take another frame, or at `deadline` (`time.monotonic()`) at the
    latest: its backlog is at most `MAX_BACKLOG` messages, or, where the server does not say,
    `1 / FALLBACK_FPS` after the previous frame. A session whose browser left returns at once (Streamlit
    stops its run at the next frame sent)."""
    while (waiting := backlog()) is not None and waiting > MAX_BACKLOG and time.monotonic() < deadline:
        time.sleep(POLL_S)
    if waiting is None:
        time.sleep(max(0.0, min(previous_frame_at + 1 / FALLBACK_FPS, deadline) - time.monotonic()))
