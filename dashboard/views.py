"""Presentation pieces the pages share: the outcome legend, zoomable picture panels, the target-chip
strip, metric cards whose change is coloured by better/worse, and outcome-coloured tables.

Colours and outcome names come from `lwirst.palette`, so a false alarm is the same vermillion
in every picture, table, chart and legend of every page.
"""

from __future__ import annotations

import base64
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import cv2
import numpy as np
import pandas as pd
import plotly.graph_objects as go
import streamlit as st
from pandas.io.formats.style import Styler
from streamlit.delta_generator import DeltaGenerator

from lwirst import palette
from lwirst.chips import Chip
from lwirst.drawing import HeatScale
from lwirst.errors import LwirstError
from lwirst.scoring import plugin_specs

# A picture panel's width in CSS pixels. Panels come in pairs, each pair a row that wraps: where the content is wide
# enough for two (~820 px beside the sidebar at 1280 px, ~980 at 1440) they sit side by side, on a narrower one (~560
# at 1024) one above the other at this size, not two squeezed to half of it (a 256-pixel frame at 0.7x, most of the
# panel blank); never three and a lone fourth (a 1920 px window holds three).
PANEL_WIDTH = 390
PAIR_WIDTH = 2 * PANEL_WIDTH + 16  # two panels and the "small" gap (1rem) between them
CHART_WIDTH = 460  # a chart with a legend under it (Compare's): wider, its point labels placed for it
PANEL_MARGIN = {"l": 40, "r": 10, "t": 36, "b": 10}
FRAME_EDGE = "rgba(128, 128, 128, 0.9)"  # a picture's outline, seen on the light and the dark theme
PLOT_CONFIG = {"scrollZoom": True, "displaylogo": False, "modeBarButtonsToRemove": ["select2d", "lasso2d"]}


# Streamlit's header Stop, hidden on pages that have their own: it ends a script run, never a Live stream's timed
# fragment (the stream and its CPU went on), and on Video it froze the page with a greyed button, a stale progress
# bar and nothing said until the visitor clicked again, where the page's own Stop names the run and keeps its frames.
OWN_STOP_STYLE = '<style>[data-testid="stStatusWidget"] button { display: none !important; }</style>'


def own_stop_only() -> None:
    """Hide the header's Stop on a page whose runs have their own stop (`OWN_STOP_STYLE`)."""
    st.html(OWN_STOP_STYLE)


def legend(names: Sequence[str] = (palette.CORRECT, palette.MISSED, palette.FALSE_ALARM, palette.HOT),
           marks: Sequence[Chip] = ()) -> None:
    """The outcome colours, once per page (hover a name for its meaning), and those of any of `marks` the names
    leave out (a detection the filter removed, shown only when there is one)."""
    names = [*names, *dict.fromkeys(m.outcome for m in marks if m.outcome not in names)]
    st.markdown(f'<div data-testid="outcome-legend">{palette.legend_html(tuple(names))}</div>',
                unsafe_allow_html=True)


def stream_legend(judged: bool = False, tracked: bool = True) -> None:
    """What the boxes and lines on a video or live frame mean: outcome colours where the frames have truth
    (`judged`: a generated video's, a dataset split's masks), else detections (no ground truth to colour outcomes);
    tracks where the stream keeps them (`tracked`: not a dataset split, whose every image is a scene of its own)."""
    legend((palette.CORRECT, palette.MISSED, palette.FALSE_ALARM) if judged else (palette.DETECTION,))
    if tracked:
        outcome = " and its tag its outcome (a tentative track's box: the tag alone)" if judged else ""
        st.caption(f"T<n> names a box's track{outcome}; a white line is a confirmed track's recent path.")


def theme() -> str:
    """'light' or 'dark': the theme the server runs in (its `theme.base`; the dashboard offers its visitors no theme
    menu). Streamlit's report of the page's theme (`st.context.theme`) is the browser's preference on a first run."""
    return "dark" if st.get_option("theme.base") == "dark" else "light"


def legible(figure: go.Figure) -> go.Figure:
    """`figure` with its text at least 4.5:1 on the theme's page: a trace's text keeps its trace's colour, darkened
    or lightened as far as needed (the paper's grey names were 3.4:1 on white, the shipped model's blue 3.5:1 on
    the dark page), and on the light theme the grey of axes, colour bars, subtitles and notes (3.7:1) is darkened
    too."""
    page = palette.PAGE[theme()]
    for trace in figure.data:
        colour = trace.textfont.color if "textfont" in trace else None
        if isinstance(colour, str):
            trace.textfont.color = palette.readable(colour, page)
        elif colour is not None:
            trace.textfont.color = [palette.readable(c, page) for c in colour]
    if theme() == "light":
        grey = palette.readable(palette.AXIS_GREY, page)
        figure.update_xaxes(tickfont_color=grey, title_font_color=grey)
        figure.update_yaxes(tickfont_color=grey, title_font_color=grey)
        figure.update_layout(title_subtitle_font_color=grey)
        for trace in figure.data:
            if "marker" in trace and trace.marker.showscale:
                trace.marker.colorbar.update(tickfont_color=grey, title_font_color=grey)
        for note in figure.layout.annotations:
            note.font.color = note.font.color or grey
    return figure


def png_uri(picture: np.ndarray) -> str:
    """An 8-bit BGR picture as a PNG data URI (lossless: a 2-pixel target keeps its pixels)."""
    ok, data = cv2.imencode(".png", picture)
    if not ok:
        raise LwirstError("could not encode a picture for the page")
    return "data:image/png;base64," + base64.b64encode(data.tobytes()).decode()


PLOT_DOMAIN = 0.86  # the share of a panel's width its picture may take; the colour bar uses the rest
RING_PX = 18  # screen size of the rings that mark targets on a frame shown below its own size
RING_HALO, HALO = 4, "rgba(0, 0, 0, 0.8)"  # a ring's dark halo: 1 px each side of its 2-px stroke
# A ring's tag, in CSS pixels: the tags drawn into a 319-pixel frame shown 245 px wide were 5 px tall, under the ring
TAG_FONT, TAG_GAP = 12, 2


@dataclass(frozen=True)
class Panel:
    """One zoomable picture: its title, a heatmap's colour range, the targets to ring (`zoom_figure`) and whether
    their rings carry tags (the outcome pictures, drawn without tags of their own)."""

    picture: np.ndarray
    title: str
    heat: HeatScale | None = None
    marks: Sequence[Chip] = ()
    tags: bool = False


def zoom_figure(picture: np.ndarray, title: str, heat: HeatScale | None = None,
                marks: Sequence[Chip] = (), axes: bool = True, width: int = 0, tags: bool = False) -> go.Figure:
    """A picture as a Plotly figure: drag a box to zoom, scroll to zoom, double-click to reset; the
    axes are the frame's pixel coordinates. A heatmap's colour bar (`heat`) is Plotly's, beside the
    plot, so it never adds to the picture's coordinates. `marks` are ringed in their outcome's colour and shape
    (`palette.Outcome.symbol`: by colour alone every outcome was the same circle) at a fixed screen size whatever
    the frame's size: how large a panel is drawn depends on the visitor's window (a 256-pixel frame is shown below
    its size in a half-width panel at 1024 px), and a target of a few pixels must stay visible at any zoom (hover
    a ring for its chip's caption); a ring by the frame's edge is drawn whole. With `tags`, each ring's tag
    ("#1 ok", "FA", "miss") is written beside it at a legible size, clear of every ring (`ring_tags`); the pixels
    themselves are untouched. Without `axes` (Home's demo, in a column) the picture takes the whole figure, as
    tall as a picture `width` CSS pixels wide (the column's width changes with the window). A ringed picture with
    axes has a button (`rings_button`) that hides its rings and tags in the browser, the zoom kept: zoomed in far
    on a target of a few pixels, its ring and tag covered the pixels they pointed at."""
    h, w = picture.shape[:2]
    figure = go.Figure(go.Image(source=png_uri(picture), hoverinfo="x+y"))
    if marks:
        symbols = [palette.OUTCOMES[m.outcome].symbol for m in marks]
        # a dark halo under each ring: an outcome's colour alone faded into frames of its own hue (a pink ring on
        # an inferno-palette sky)
        figure.add_trace(go.Scatter(
            x=[m.x for m in marks], y=[m.y for m in marks], mode="markers", showlegend=False, hoverinfo="skip",
            cliponaxis=False, marker={"symbol": symbols, "size": RING_PX, "line": {"width": RING_HALO},
                                      "color": HALO}))
        figure.add_trace(go.Scatter(
            x=[m.x for m in marks], y=[m.y for m in marks], mode="markers", showlegend=False,
            hovertext=[m.caption for m in marks], hoverinfo="text", cliponaxis=False,
            marker={"symbol": symbols, "size": RING_PX, "line": {"width": 2},
                    "color": [palette.OUTCOMES[m.outcome].hex for m in marks]}))
    if heat is not None:
        figure.add_trace(go.Scatter(x=[None], y=[None], mode="markers", hoverinfo="skip", showlegend=False,
                                    marker={"colorscale": heat.colorscale(), "cmin": heat.lo, "cmax": heat.hi,
                                            "color": [heat.lo], "showscale": True,
                                            "colorbar": {"title": {"text": heat.title}, "thickness": 12, "len": 0.6,
                                                         "x": PLOT_DOMAIN + 0.02, "xanchor": "left"}}))
    figure.update_layout(title={"text": title, "font": {"size": 14}}, height=panel_height(h, w),
                         margin=PANEL_MARGIN, dragmode="zoom")
    # a mid-grey edge: a black heatmap on the dark theme's near-black page had none, its dim blobs afloat
    figure.add_shape(type="rect", x0=-0.5, y0=-0.5, x1=w - 0.5, y1=h - 0.5, line={"color": FRAME_EDGE, "width": 1},
                     layer="above")
    # every panel keeps the same plot area, colour bar or not (it sits in the strip right of the domain),
    # so a heatmap and the overlay beside it share their size and ticks
    figure.update_xaxes(showgrid=False, range=[-0.5, w - 0.5], constrain="domain", domain=[0.0, PLOT_DOMAIN])
    figure.update_yaxes(showgrid=False, range=[h - 0.5, -0.5], scaleanchor="x", constrain="domain")
    scale = plot_scale(h, w)
    if not axes:
        height = round(min(720, max(120, (width or PANEL_WIDTH) * h / max(w, 1))))
        scale = height / max(h, 1)
        figure.update_layout(margin={"l": 0, "r": 0, "t": 0, "b": 0}, height=height)
        figure.update_xaxes(visible=False, domain=[0.0, 1.0])
        figure.update_yaxes(visible=False)
    if tags:
        for mark, (dx, dy) in zip(marks, ring_tags(marks, scale, (w * scale, h * scale)), strict=True):
            plate = palette.OUTCOMES[mark.outcome].hex
            figure.add_annotation(x=mark.x, y=mark.y, text=tag_text(mark), showarrow=False, xshift=dx, yshift=-dy,
                                  font={"size": TAG_FONT, "color": palette.ink(plate)}, bgcolor=plate,
                                  bordercolor=HALO, borderwidth=1, borderpad=1)
    if marks and axes:  # the tool bar stands down the right edge: across the top it covered the button on hover
        figure.update_layout(updatemenus=[rings_button(figure)], modebar={"orientation": "v"})
    return figure


RINGS_BUTTON = "Rings"


def rings_button(figure: go.Figure) -> dict[str, Any]:
    """A button in the strip right of a picture, at its foot (below a heatmap's colour bar; above the picture it
    covered a long title), that hides the picture's rings (the ring traces) and tags (its annotations), and shows
    them again: Plotly restyles the figure in the browser, so the visitor's zoom stays (a Streamlit toggle drew
    the figure again, back at the whole frame)."""
    rings = [isinstance(trace, go.Scatter) and trace.marker.symbol is not None for trace in figure.data]
    tags = [annotation.to_plotly_json() for annotation in figure.layout.annotations]
    # active -1: the first click applies `args` (hide); with the button active from the start it applied `args2`
    return {"type": "buttons", "showactive": False, "active": -1, "x": 1.0, "xanchor": "right", "y": 0.0,
            "yanchor": "bottom", "pad": {"r": 0, "t": 0, "b": 0}, "font": {"size": 11},
            "buttons": [{"label": RINGS_BUTTON, "method": "update",
                         "args": [{"visible": [not ring for ring in rings]}, {"annotations": []}],
                         "args2": [{"visible": [True] * len(rings)}, {"annotations": tags}]}]}


def tag_text(mark: Chip) -> str:
    """A ring's tag: the detection's number and its outcome's tag ("#1 ok", "#2 FA"), a missed target's tag alone,
    a detection without ground truth its number alone."""
    number = f"#{mark.number}" if mark.number is not None else ""
    tag = "" if mark.outcome == palette.DETECTION else palette.OUTCOMES[mark.outcome].tag
    return " ".join(part for part in (number, tag) if part)


def tag_size(text: str) -> tuple[float, float]:
    """A tag's width and height in CSS pixels as Plotly draws it (an upper bound: 0.6 em a character, a 1-px
    border and padding on each side)."""
    return 0.6 * TAG_FONT * len(text) + 6, 1.25 * TAG_FONT + 4


def ring_tags(marks: Sequence[Chip], scale: float, plot: tuple[float, float]) -> list[tuple[float, float]]:
    """Where each mark's tag goes, as its centre's offset (dx, dy; CSS pixels, y down) from its ring's: the first
    of above, below, right, left and the four corners whose box covers no ring, no tag placed before and nothing
    outside the `plot` area (width, height), else the one covering least. `scale`: CSS pixels per frame pixel."""
    radius = RING_PX / 2 + RING_HALO / 2
    centres = np.array([((m.x + 0.5) * scale, (m.y + 0.5) * scale) for m in marks]).reshape(-1, 2)
    taken = [(x - radius, y - radius, x + radius, y + radius) for x, y in centres]
    offsets = []
    for (x, y), mark in zip(centres, marks, strict=True):
        width, height = tag_size(tag_text(mark))
        across, down = radius + TAG_GAP + width / 2, radius + TAG_GAP + height / 2
        candidates = [(0, -down), (0, down), (across, 0), (-across, 0),
                      (across, -down), (-across, -down), (across, down), (-across, down)]
        boxes = [(x + dx - width / 2, y + dy - height / 2, x + dx + width / 2, y + dy + height / 2)
                 for dx, dy in candidates]
        cover = [_overlap(box, taken) + _outside(box, plot) for box in boxes]
        best = int(np.argmin(cover))  # the first of the least covering
        offsets.append(candidates[best])
        taken.append(boxes[best])
    return offsets


def _overlap(box: tuple[float, float, float, float], others: Sequence[tuple[float, float, float, float]]) -> float:
    """The area `box` (x0, y0, x1, y1) shares with `others`."""
    x0, y0, x1, y1 = box
    return sum(max(0.0, min(x1, a1) - max(x0, a0)) * max(0.0, min(y1, b1) - max(y0, b0)) for a0, b0, a1, b1 in others)


def _outside(box: tuple[float, float, float, float], plot: tuple[float, float]) -> float:
    """The area of `box` outside a plot area `plot` (width, height) from (0, 0)."""
    x0, y0, x1, y1 = box
    return (x1 - x0) * (y1 - y0) - _overlap(box, [(0.0, 0.0, *plot)])


def plot_scale(h: int, w: int) -> float:
    """CSS pixels per frame pixel of an h x w picture in a `PANEL_WIDTH` panel (`panel_height`)."""
    plot_width = (PANEL_WIDTH - PANEL_MARGIN["l"] - PANEL_MARGIN["r"]) * PLOT_DOMAIN
    plot_height = panel_height(h, w) - PANEL_MARGIN["t"] - PANEL_MARGIN["b"]
    return min(plot_width / max(w, 1), plot_height / max(h, 1))


def panel_height(h: int, w: int) -> int:
    """A `PANEL_WIDTH` panel's height for an h x w picture: the picture fills the plot area's width (no blank band
    above and below it), within 120 to 720 CSS pixels of height (a strip, a tall frame)."""
    plot_width = (PANEL_WIDTH - PANEL_MARGIN["l"] - PANEL_MARGIN["r"]) * PLOT_DOMAIN
    return round(min(720, max(120, plot_width * h / max(w, 1)))) + PANEL_MARGIN["t"] + PANEL_MARGIN["b"]


def pair_row() -> DeltaGenerator:
    """A row for two `PANEL_WIDTH` elements: side by side where they fit, else one above the other."""
    return st.container(horizontal=True, gap="small", width=PAIR_WIDTH)


def panels(shown: Sequence[Panel], key: str) -> None:
    """Zoomable panels (`zoom_figure`) of `PANEL_WIDTH`, two to a `pair_row`; a caption says why their targets
    are ringed, and how the rings are hidden."""
    for start in range(0, len(shown), 2):
        row = pair_row()
        for index in range(start, min(start + 2, len(shown))):
            panel = shown[index]
            row.plotly_chart(legible(zoom_figure(panel.picture, panel.title, panel.heat, panel.marks, tags=panel.tags)),
                             key=f"{key}_{index}", config=PLOT_CONFIG, width=PANEL_WIDTH,
                             alt=picture_alt(panel.title, panel.marks))
    marks = [mark for panel in shown for mark in panel.marks]
    if marks:
        st.caption("Each target of the chips is ringed in its outcome's colour and shape (" + ring_shapes(marks)
                   + "), at a fixed screen size as you zoom: a frame drawn smaller than its pixels (a narrow window) "
                   "can lose a target of a few pixels between screen pixels. The pixels themselves are untouched; "
                   f"the **{RINGS_BUTTON}** button at a picture's lower right hides its rings and tags, keeping the "
                   "zoom, to show a target's own pixels.")


def picture_alt(title: str, marks: Sequence[Chip]) -> str:
    """A zoomable picture's text alternative: its title and what its rings mark ("2 rings: #1 ok, #2 FA"), which a
    screen reader otherwise read as the axes' tick numbers, the outcomes being pixels only."""
    rings = f"{len(marks)} ring{'s' * (len(marks) != 1)}: " + ", ".join(tag_text(m) or m.outcome for m in marks)
    return f"{title or 'picture'}; " + (rings if marks else "no target ringed")


def ring_shapes(marks: Sequence[Chip]) -> str:
    """The ring shapes of the outcomes among `marks`, for a caption: "○ correct, □ false alarm"."""
    shown = [name for name in palette.OUTCOMES if any(m.outcome == name for m in marks)]
    return ", ".join(f"{palette.OUTCOMES[name].glyph} {name}" for name in shown)


def chip_strip(chips: Sequence[Chip], total: int, truth: bool = True) -> None:
    """The target chips in a strip: each target magnified, its heatmap crop beside it, drawn at its own pixel
    size (scaled by a fraction, its magnified pixels blurred into uneven squares; a narrow column still shrinks
    it). `truth`: whether the frame has a ground-truth mask (without one, "no ground-truth target" read as a
    mask with none)."""
    if not chips:
        st.caption("No target to show: none kept at this threshold and filter, "
                   + ("and no ground-truth target." if truth else "and no ground truth given for this frame."))
        return
    shown = "" if len(chips) == total else f" ({len(chips)} of {total}, worst first)"
    filtered = any(c.outcome == palette.FILTERED for c in chips)
    st.markdown(f"**Target chips**{shown}: each target magnified (nearest neighbour, contrast stretched) "
                "with its saliency beside it; the border is its outcome"
                + ("." if truth else " (detection: no ground truth to judge it).")
                + (" Grey: a detection the size / ratio filter removed (not kept, nor scored)." if filtered else ""))
    st.image([c.picture[:, :, ::-1] for c in chips], caption=[c.caption for c in chips], width="content",
             output_format="PNG", alt=[c.caption for c in chips])


def metric_change(where: DeltaGenerator, label: str, value: str, metric: str, change: float,
                  shown: str, help_: str | None = None) -> None:
    """A metric card whose change is coloured by whether it is better for `metric` (never by sign) and says so in
    words ("+161 worse": by colour alone "R ↑ +0.1213" and "Fa ↑ +161" read alike); a change of zero (as printed)
    is grey and says so."""
    same = float(shown.replace("+", "").replace("−", "-")) == 0 if shown else True
    where.metric(label, value, "no change" if same else f"{shown} {palette.judge(metric, change)}",
                 delta_color=palette.SAME if same else palette.delta_color(metric, change),
                 delta_arrow="off" if same else "auto", help=help_)


def target_columns() -> dict[str, Any]:
    """Headers with units (and number formats) of the tables of targets and tracks, for `st.dataframe`'s
    column_config on every page that shows one (Single frame, Live, Failures): one wording everywhere,
    while the CSV downloads keep the raw column names."""
    number = st.column_config.NumberColumn
    return {
        "id": number("id", format="#%d"), "track": number("track", format="T%d"),
        "truth_id": number("ground truth", format="GT%d", help="The ground-truth target's number (the overlay numbers "
                                                                "detections #1, #2...)"),
        "x": number("x (px)", format="%.1f"), "y": number("y (px)", format="%.1f"),
        "box_x": number("box left (px)"), "box_y": number("box top (px)"),
        "box_w": number("box width (px)"), "box_h": number("box height (px)"),
        "size": number("size (pixels)", help="Pixel count of the target: its area, as Eq. 4 filters it"),
        "ratio": number("aspect w/h", format="%.2f"),
        "peak": number("peak logit", format="%.2f"), "peak_logit": number("peak logit", format="%.2f"),
        "mean": number("mean logit", format="%.2f"),
        "peak_prob": number("peak probability", format="%.3f"), "mean_prob": number("mean probability", format="%.3f"),
        "under_by": number("under the threshold by (logit)", format="%.2f"),
        "vx": number("vx (px/frame)", format="%.2f"), "vy": number("vy (px/frame)", format="%.2f"),
        "hits": number("hits (frames)"), "missed": number("missed (frames in a row)"),
        "outcome": "outcome", "status": "status"}


def number_text(value: Any, decimals: int) -> str:
    """A metric card's value: a float to `decimals`, "n/a" for an undefined one (NaN), anything else as it is."""
    if isinstance(value, float):
        return "n/a" if math.isnan(value) else f"{value:.{decimals}f}"
    return str(value)


def as_text(values: Sequence[Any], decimals: int, missing: str = "—") -> list[str]:
    """Numbers as the grid should show them, an unknown one as `missing`: `st.dataframe` shows a null cell as
    "None" whatever a Styler or column format says, so such columns are sent as text (fixed decimals keep a
    click on the header sorting them in order)."""
    return [f"{v:.{decimals}f}" if pd.notna(v) else missing for v in values]


def image_table(frame: pd.DataFrame) -> pd.DataFrame:
    """A per-image table as the grid shows it: IoU and the plugins' scores as text, "n/a" where undefined (a clean
    target-free image's IoU, `lwirst.evaluate.shown_iou`, read "None" there), as Single frame's cards read it."""
    scores = {"iou": 4, **{spec.key: spec.decimals for spec in plugin_specs()}}
    return frame.assign(**{key: as_text(frame[key], decimals, "n/a") for key, decimals in scores.items()
                           if key in frame.columns})


def image_columns() -> dict[str, Any]:
    """Headers of the per-image tables (Evaluate, Failures), one wording on both pages, in the order they are
    shown (`image_order`); the CSV downloads keep the raw column names."""
    number = st.column_config.NumberColumn
    text = st.column_config.TextColumn
    return {"name": "image", "iou": text("IoU", help="n/a: a target-free image where nothing was found"),
            "targets": "targets", "detected": "detected",
            "missed": "missed", "false_alarms": "false alarms",
            "smallest_missed": st.column_config.TextColumn("smallest missed (pixels)",
                                                           help="Pixel count (area) of the smallest missed target"),
            "hot_misses": number("hot but below"), "fa_pixels": "false-alarm pixels",
            "peak": number("peak logit", format="%.2f"),
            "missed_peaks": st.column_config.TextColumn("missed targets' peak logits"),
            "height": number("height (px)"), "width": number("width (px)"), "protocol": "input protocol",
            **{spec.key: text(spec.label, help=spec.help) for spec in plugin_specs()}}  # `image_table`'s text


def image_order(frame: pd.DataFrame) -> list[str]:
    """A per-image table's columns with the verdicts first (image, IoU, targets, found, missed, false alarms):
    a narrow window cuts the last ones, and false alarms came after four others."""
    known = [column for column in image_columns() if column in frame.columns]
    return known + [column for column in frame.columns if column not in known]


def outcome_table(frame: pd.DataFrame, column: str = "outcome") -> Styler | pd.DataFrame:
    """A table whose outcome cells carry their outcome's colour."""
    if column not in frame.columns or frame.empty:
        return frame

    def colour(value: object) -> str:
        return palette.cell_style(str(value)) if value in palette.OUTCOMES else ""

    return frame.style.map(colour, subset=[column])
