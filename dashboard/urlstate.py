"""Share and resume: the view's settings in the URL (`st.query_params`).

The page is the URL's path (`st.navigation`); the model, backend, input protocol, scale consensus, data
(root, dataset, split, image), threshold, Eq. 4 ranges, heatmap scale, Home's demo frame,
Evaluate's models and threshold and the Failures page's ranking and inspected image are
query parameters. `restore` seeds
a new session from the URL (a reload or a shared link); `publish` writes the current
settings back after every run, so the address bar always holds the view. Values the server
does not offer fall back to the defaults where the widgets are drawn, and the sidebar says
so for a link's data and model (`unavailable`).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import streamlit as st

from dashboard.config import RATIO_CAP, SIZE_CAP, THRESHOLD_RANGE
from lwirst.polarity import DEFAULT as DEFAULT_POLARITY

RESTORED = "_url_restored"
ASKED = "_url_asked"  # session-state key -> the value the URL asked for (checked where its widget is drawn)
FALLBACK = "_url_fallback"  # session-state key -> what was shown instead of an unavailable asked value


def _number(text: str) -> float:
    value = float(text)
    if value != value or value in (float("inf"), float("-inf")):
        raise ValueError(text)
    return value


def _pair(kind: Callable[[str], Any]) -> Callable[[str], tuple[Any, Any]]:
    def parse(text: str) -> tuple[Any, Any]:
        low, high = (kind(part) for part in text.split("~", 1))
        return (low, high) if low <= high else (high, low)

    return parse


def _show_pair(value: tuple[Any, Any]) -> str:
    return f"{value[0]:g}~{value[1]:g}"


@dataclass(frozen=True)
class Param:
    """A query parameter: its name in the URL, the session-state key it sets, parse and show, and a
    value left out of the URL (a default that need not be spelled out)."""

    name: str
    key: str
    parse: Callable[[str], Any]
    show: Callable[[Any], str] = str
    omit: Any = None


def _within(value: float, low: float, high: float) -> float:
    """A link's value clamped to its widget's range."""
    return max(low, min(high, value))


PARAMS = (
    Param("model", "model", str),
    Param("backend", "backend", str),
    Param("protocol", "protocol", str),
    Param("consensus", "consensus", lambda t: t == "1", lambda v: "1" if v else "0"),
    Param("mirror", "mirror", lambda t: t == "1", lambda v: "1" if v else "0"),
    Param("margin", "margin", lambda t: t == "1", lambda v: "1" if v else "0"),
    Param("polarity", "polarity", str, omit=DEFAULT_POLARITY),  # links made before polarity existed stay as they were
    Param("ignore", "ignore_regions", str, omit=""),
    Param("data", "data_root", str),
    Param("dataset", "data_dataset", str),
    Param("split", "data_split", str),
    Param("image", "dataset_image", int),
    Param("threshold", "threshold", lambda t: _within(_number(t), *THRESHOLD_RANGE), lambda v: f"{v:g}"),
    Param("size", "size_range", _pair(lambda t: _within(int(t), 0, SIZE_CAP)), _show_pair),
    Param("ratio", "ratio_range", _pair(lambda t: round(_within(_number(t), 0.0, RATIO_CAP), 1)), _show_pair),
    Param("heat", "heat_scale", str),
    Param("rank", "failure_rank", str),
    Param("models", "eval_models", lambda t: [m for m in t.split("|") if m], "|".join, omit=[]),
    Param("evalth", "eval_threshold", lambda t: _within(_number(t), *THRESHOLD_RANGE), lambda v: f"{v:g}"),
    Param("inspect", "failure_image", str),
    Param("dev", "dev_demo", lambda t: t == "1", lambda v: "1" if v else "0", omit=False),
    Param("demo", "home_demo_index", lambda t: max(0, int(t)), omit=0),
)


def restore() -> None:
    """Once per session: the settings in the URL become the widgets' starting values (bad values
    are ignored)."""
    if st.session_state.get(RESTORED):
        return
    st.session_state[RESTORED] = True
    asked = {}
    for param in PARAMS:
        text = st.query_params.get(param.name)
        if text is None:
            continue
        try:
            st.session_state[param.key] = asked[param.key] = param.parse(text)
        except (TypeError, ValueError):
            continue
    st.session_state[ASKED] = asked


def unavailable(key: str, options: Sequence[Any], name: Callable[[Any], str] = repr,
                where: str = "this server") -> str:
    """A notice when the URL asked `key` for a value `where` does not offer (a shared link opened on
    another server, a renamed dataset, an image position past a dataset's end), naming the fallback the
    widget shows (`name` words a value the widget holds); "" otherwise. It lasts until the visitor picks
    another value."""
    asked = st.session_state.get(ASKED, {})
    if key not in asked or asked[key] in options:
        return ""
    value, shown = asked[key], st.session_state.get(key)
    fallback = st.session_state.setdefault(FALLBACK, {}).setdefault(key, shown)
    if shown != fallback:
        del asked[key]
        return ""
    return f"The link asked for {value!r}, which {where} does not offer; showing {name(shown)}."


def forget(key: str) -> None:
    """The URL's ask for `key` no longer stands (e.g. an image position, once the visitor chose other data)."""
    st.session_state.get(ASKED, {}).pop(key, None)


def current() -> dict[str, str]:
    """The query parameters of the current view (settings this session holds)."""
    shown = {}
    for param in PARAMS:
        value = st.session_state.get(param.key)
        if value is None or value == param.omit:
            continue
        shown[param.name] = param.show(value)
    return shown


def publish() -> None:
    """Write the current view into the URL (only when it changed: no needless browser history)."""
    wanted = current()
    if {k: st.query_params.get(k) for k in st.query_params} != wanted:
        st.query_params.from_dict(wanted)
