"""What the dashboard's AppTests share: open a page as a visitor would, read its metric cards and errors,
and count the network's calls a page makes (not counting Home's demo frame)."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import streamlit as st
from streamlit.testing.v1 import AppTest

from lwirst.inference import Segmenter
from lwirst.modelcard import DEMO_MODEL

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:  # dashboard/ is not an installed package (app.py does the same)
    sys.path.insert(0, str(REPO))

APP = REPO / "dashboard" / "app.py"
PAGES = REPO / "pages"
HOME_CALLS: list[int] = []  # the `network_calls` counter; `open_page` empties it once Home has run


def open_page(page: str | None = None, **state: object) -> AppTest:
    """Run the app (session state preset) and switch to `page`; fails on any exception. Asking for the
    demo network switches on the developer option that offers it, and scale consensus, the mirror check and the
    peak margin off unless asked for: the untrained network's blobs, which those tests count, rarely survive the
    second run, and its logits (about 0.2 at most) clear no margin."""
    at = AppTest.from_file(str(APP), default_timeout=180)
    if state.get("model") == DEMO_MODEL:
        state.setdefault("dev_demo", True)
        state.setdefault("consensus", False)
        state.setdefault("mirror", False)
        state.setdefault("margin", False)
    for key, value in state.items():
        at.session_state[key] = value
    at.run()
    if page is not None:
        HOME_CALLS.clear()  # the Home page's demo frame is not the page's doing
        at.switch_page(str(PAGES / page)).run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def metric(at: AppTest, label: str) -> str:
    return next(m.value for m in at.metric if m.label == label)


def errors(at: AppTest) -> list[str]:
    return [e.value for e in at.error]


@pytest.fixture
def network_calls(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[int]]:
    """Counts `Segmenter.predict` calls (those of the page `open_page` opens, not of Home's demo),
    starting from empty result caches."""
    calls = HOME_CALLS
    calls.clear()
    original = Segmenter.predict

    def counted(self: Segmenter, image: np.ndarray) -> object:
        calls.append(1)
        return original(self, image)

    st.cache_data.clear()
    monkeypatch.setattr(Segmenter, "predict", counted)
    yield calls
    st.cache_data.clear()
