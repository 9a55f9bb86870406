"""One colour language for every picture, table, chart and delta of lwirst.

Outcomes of a target against ground truth use the Okabe-Ito palette, which stays
distinguishable under the common colour-vision deficiencies, and every picture also
writes a short tag ("ok", "miss", "FA", "hot") so colour is never the only cue:

- correct detection: bluish green
- missed target: sky blue
- false alarm: vermillion
- hot but below threshold (a missed target whose peak is just under the threshold,
  the paper's Fig. 6 case): yellow
- detection without ground truth: reddish purple

The zoomable panels also ring each outcome in a shape of its own (`Outcome.symbol`). Text on a colour is held
to its WCAG 2.1 contrast ratio (`contrast_ratio`): a tag's ink on its plate (`ink`), a chart's text on the page
(`readable`: the colour darkened or lightened as far as needed).

A change of a metric is "better" or "worse" by the metric's direction (`better_when`),
never by its sign; `delta_color` names the Streamlit colour of a change (the
dashboard's theme sets Streamlit's green and red to the Okabe-Ito ones), and the dashboard
writes `judge`'s word beside it.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass

CORRECT, MISSED, FALSE_ALARM, HOT, DETECTION = "correct", "missed", "false alarm", "hot but below threshold", \
    "detection"
FILTERED = "removed by the filter"


@dataclass(frozen=True)
class Outcome:
    """A target outcome: its name, hex colour, short tag drawn on pictures, a one-line meaning, the marker
    shape that rings it on a panel (a second cue beside the colour) and that shape as text for captions."""

    name: str
    hex: str
    tag: str
    meaning: str
    symbol: str  # the Plotly marker that rings it on a zoomable panel
    glyph: str  # the same shape as a caption writes it

    @property
    def bgr(self) -> tuple[int, int, int]:
        """The colour as OpenCV draws it."""
        return hex_to_bgr(self.hex)


OUTCOMES: dict[str, Outcome] = {
    CORRECT: Outcome(CORRECT, "#009E73", "ok", "a detection that matches a ground-truth target", "circle-open", "○"),
    MISSED: Outcome(MISSED, "#56B4E9", "miss", "a ground-truth target no detection matches", "diamond-open", "◇"),
    FALSE_ALARM: Outcome(FALSE_ALARM, "#D55E00", "FA", "a detection that matches no ground-truth target",
                         "square-open", "□"),
    HOT: Outcome(HOT, "#F0E442", "hot", "a missed target whose peak is just under the threshold (Fig. 6)",
                 "triangle-up-open", "△"),
    DETECTION: Outcome(DETECTION, "#CC79A7", "det", "a detection, with no ground truth to judge it", "circle-open",
                       "○"),
    # a detection above the threshold that the size / ratio filter (Eq. 4) left out: counted, it had no place
    FILTERED: Outcome(FILTERED, "#BBBBBB", "filtered", "a detection the size / ratio filter (Eq. 4) removed",
                      "hexagon-open", "⬡"),
}
# Series of charts (models, tracks): the Okabe-Ito colours in their order, black and grey last.
SERIES = ("#0072B2", "#E69F00", "#009E73", "#CC79A7", "#56B4E9", "#D55E00", "#F0E442", "#000000")
# The shipped model's markers, labels and fronts on Compare's charts: one colour on every panel, kept
# out of the other series there (a colour by source moved with whichever of its points got the label).
SHIPPED = SERIES[0]
PAPER_GREY = "#8C8C8C"  # the paper's printed figures on charts
TEXT_RATIO = 4.5  # WCAG 2.1 AA: the least contrast ratio of body text against its background
# The page behind a chart's text in Streamlit's light and dark themes (1.67: white and near-black).
PAGE = {"light": "#FFFFFF", "dark": "#171614"}
AXIS_GREY = "#808495"  # Streamlit's chart axis text: 3.72:1 on the light theme's white, 4.9:1 on the dark page
GRAPHIC_RATIO = 3.0  # WCAG 2.1 AA: the least contrast ratio of a graphic (a focus outline, a box) against its ground
FOCUS = SERIES[0]  # the keyboard focus outline: 5.2:1 on the light theme's page, 3.5:1 on the dark theme's
BETTER, WORSE, SAME = "green", "red", "gray"  # Streamlit delta colours (themed to #009E73 / #D55E00)
# Metrics whose smaller values are better; every other metric is better when larger.
LOWER_IS_BETTER = frozenset({"fa", "fa_pixels", "false_alarms", "missed", "hot_misses", "false_blobs",
                             "alarmed_empty", "fa_blobs_per_frame", "Fa (×1e-6)", "false alarms",
                             "false-alarm pixels", "missed targets"})


def hex_to_bgr(value: str) -> tuple[int, int, int]:
    """'#RRGGBB' -> (B, G, R)."""
    value = value.lstrip("#")
    r, g, b = (int(value[i:i + 2], 16) for i in (0, 2, 4))
    return b, g, r


def relative_luminance(value: str) -> float:
    """WCAG 2.1 relative luminance of '#RRGGBB' (0 black .. 1 white)."""
    b, g, r = hex_to_bgr(value)
    linear = [c / 255 / 12.92 if c <= 10 else ((c / 255 + 0.055) / 1.055) ** 2.4 for c in (r, g, b)]
    return 0.2126 * linear[0] + 0.7152 * linear[1] + 0.0722 * linear[2]


def contrast_ratio(a: str, b: str) -> float:
    """WCAG 2.1 contrast ratio of two '#RRGGBB' colours, 1 to 21 (4.5 for text, 3 for graphics)."""
    high, low = sorted((relative_luminance(a), relative_luminance(b)), reverse=True)
    return (high + 0.05) / (low + 0.05)


@functools.lru_cache(maxsize=256)
def ink(plate: str) -> str:
    """Black or white text on a `plate` colour, whichever has the higher contrast ratio (white on the bluish
    green and vermillion plates was 3.4:1 and 3.9:1 by a luma rule; black is 6.1:1 and 5.4:1)."""
    return "#000000" if contrast_ratio("#000000", plate) >= contrast_ratio("#FFFFFF", plate) else "#FFFFFF"


@functools.lru_cache(maxsize=1024)  # every chart of every rerun asks, for a handful of colours
def readable(colour: str, background: str, ratio: float = TEXT_RATIO) -> str:
    """`colour` ('#RRGGBB') as text on `background`: itself where it reaches `ratio`, else mixed towards black or
    white (whichever the background is further from) in 2 % steps until it does, so it keeps its hue."""
    target = 0 if relative_luminance(background) > 0.18 else 255
    b, g, r = hex_to_bgr(colour)
    shade = colour
    for step in range(51):
        shade = "#" + "".join(f"{round(c + (target - c) * step / 50):02X}" for c in (r, g, b))
        if contrast_ratio(shade, background) >= ratio:
            break
    return shade


def outcome(name: str) -> Outcome:
    """The outcome called `name` (one of `OUTCOMES`)."""
    return OUTCOMES[name]


def better_when(metric: str) -> str:
    """'lower' or 'higher': which direction of `metric` is an improvement."""
    return "lower" if metric in LOWER_IS_BETTER else "higher"


def judge(metric: str, delta: float, tolerance: float = 0.0) -> str:
    """'better', 'worse' or 'same' for a change of `metric` (|delta| <= tolerance is the same)."""
    if delta is None or math.isnan(delta) or abs(delta) <= tolerance:
        return "same"
    improved = delta < 0 if better_when(metric) == "lower" else delta > 0
    return "better" if improved else "worse"


def delta_color(metric: str, delta: float, tolerance: float = 0.0) -> str:
    """The Streamlit `delta_color` of a change: green when better, red when worse, grey when none."""
    return {"better": BETTER, "worse": WORSE, "same": SAME}[judge(metric, delta, tolerance)]


def series_colors(names: list[str] | tuple[str, ...], reserved: tuple[str, ...] = ()) -> dict[str, str]:
    """A colour per series name, assigned in sorted name order so a chart looks the same on every load;
    the colours in `reserved` (e.g. `SHIPPED`) are left to the series that own them."""
    cycle = [colour for colour in SERIES if colour not in reserved]
    return {name: cycle[i % len(cycle)] for i, name in enumerate(sorted(dict.fromkeys(names)))}


def legend_html(names: tuple[str, ...] = (CORRECT, MISSED, FALSE_ALARM, HOT)) -> str:
    """The legend of the outcomes as inline HTML (coloured swatches, tag and name)."""
    items = []
    for name in names:
        o = OUTCOMES[name]
        items.append(f'<span title="{o.meaning}" style="white-space:nowrap;margin-right:1.2em">'
                     f'<span style="display:inline-block;width:0.9em;height:0.9em;border:3px solid {o.hex};'
                     f'vertical-align:middle;margin-right:0.3em"></span>{o.name}'
                     + ("" if o.name.startswith(o.tag) else f' <b>({o.tag})</b>') + "</span>")
    return "".join(items)


def cell_style(name: str) -> str:
    """A CSS style for a table cell that shows an outcome (pandas Styler)."""
    return f"background-color: {OUTCOMES[name].hex}33; border-left: 4px solid {OUTCOMES[name].hex}"
