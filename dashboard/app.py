"""Entry point of the dashboard: `streamlit run dashboard/app.py` (or `lwirst dashboard`).

Registers every page of `common.PAGE_SPECS` with `st.navigation`, draws the
sidebar every page shares (model, backend, input protocol and scale consensus), and keeps the view in the
URL (`dashboard.urlstate`): a shared or reloaded URL restores it.
"""

from __future__ import annotations

import sys
from pathlib import Path

import streamlit as st

# `streamlit run` puts only dashboard/ on sys.path; the pages import `dashboard.common`.
REPO_ROOT = str(Path(__file__).resolve().parents[1])
if REPO_ROOT not in sys.path:
    sys.path.insert(0, REPO_ROOT)

from lwirst import palette  # noqa: E402
from lwirst.limits import cap_decoder  # noqa: E402  (light: no OpenCV yet)

cap_decoder()  # the server's first run, before anything decodes; later runs keep the cap

FAVICON = Path(__file__).with_name("favicon.png")  # a local file: the page requests nothing from the internet
TITLE = "lwirst: IR small-target segmentation"
# The first visitors of a fresh server waited on a blank white page for 4-12 s while the pages' module loaded
# torch and ONNX: the page is titled and says so first (later runs find the module loaded and show nothing).
st.set_page_config(page_title=TITLE, page_icon=str(FAVICON), layout="wide")
_starting = None if getattr(sys.modules.get("dashboard.common"), "LOADED", False) else st.info(
    "Starting the dashboard: loading the network libraries, once per server (a few seconds)...",
    icon=":material/hourglass_top:")

from dashboard import common, urlstate  # noqa: E402

if _starting is not None:
    _starting.empty()
# Metric cards wrap a long value or label instead of cutting it to "0.…": six cards in a row at a 1024-px
# projector left every headline number unreadable. Captions are drawn at 75 % of the text colour, not Streamlit's
# 60 % (3.8-3.9:1 on the light theme's page and sidebar; now 5.8-6.0:1, and 9:1 on the dark theme's). The control
# that keyboard focus is on gets a 2-px outline in `palette.FOCUS` (Streamlit's own were 1.1-1.5:1 against the
# page): around the control itself, or around what shows an input drawn hidden or borderless (the label of a
# radio, checkbox or toggle, a slider's thumb, the box of a text field or select box), inside a scrolling region
# (the main area, the sidebar: outside it the outline was off the screen); an element's toolbar (a picture's
# Fullscreen) shows while a button of it has focus (it stayed transparent, its focused button unseen).
PAGE_STYLE = """<style>
[data-testid="stMetricValue"], [data-testid="stMetricValue"] *,
[data-testid="stMetricLabel"], [data-testid="stMetricLabel"] * {
  white-space: normal !important; overflow: visible !important; text-overflow: clip !important;
  overflow-wrap: break-word;
}
[data-testid="stMetricValue"] { font-size: clamp(1.05rem, 1.9vw, 2.25rem); line-height: 1.2; }
[data-testid="stCaptionContainer"] { opacity: 0.75 !important; }
.stApp :focus-visible:not(input, textarea),
.stApp label:has(input:focus-visible),
.stApp div:has(> div > input[type="range"]:focus-visible),
.stApp div:has(> input:not([type="range"], [type="radio"], [type="checkbox"]):focus-visible, > textarea:focus-visible) {
  outline: 2px solid FOCUS !important; outline-offset: 2px !important;
}
.stApp :is([data-testid="stMain"], [data-testid="stSidebarContent"]):focus-visible { outline-offset: -4px !important; }
[data-testid="stElementToolbar"]:has(:focus-visible) { opacity: 1 !important; }
</style>""".replace("FOCUS", palette.FOCUS)


def main() -> None:
    st.html(PAGE_STYLE)
    urlstate.restore()
    common.note_new_run()  # before any page: a video run still going is cut short by this run
    common.keep_widget_state()
    specs = common.available_pages()
    pages = [st.Page(spec.path, title=spec.title, icon=spec.icon, url_path=spec.url, default=i == 0)
             for i, spec in enumerate(specs)]
    page = st.navigation(pages)
    common.missing_roots_warning()
    if next((spec.uses_model for spec, shown in zip(specs, pages, strict=True) if shown == page), True):
        common.run_page(common.engine_sidebar)
    else:
        st.sidebar.caption("This page does not run the sidebar's model: its model, backend, input protocol and "
                           "scale consensus apply on the other pages (and are kept for them).")
    common.run_page(page.run)  # every page's errors read as one line, a new page's too (its file need not ask)
    urlstate.publish()


main()
