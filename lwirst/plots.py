"""Charts of the video and live pages, with axes that mean what they show: trajectories on the
frame's own pixel axes (clipped to the frame), integer ticks for counts, one `lwirst.palette`
series colour per track."""

from __future__ import annotations

import math
import tempfile
from pathlib import Path

import cv2
import pandas as pd
import plotly.graph_objects as go

from lwirst.palette import SERIES

LAYOUT = {"height": 380, "margin": {"l": 10, "r": 10, "t": 40, "b": 10}}


def integer_axis(figure: go.Figure, largest: float, axis: str = "y") -> None:
    """Whole-number ticks (0, 1, 2... or a round step) on an axis of counts, from zero."""
    step = max(1, math.ceil(max(largest, 1) / 8))
    update = figure.update_yaxes if axis == "y" else figure.update_xaxes
    update(tick0=0, dtick=step, tickformat="d", rangemode="tozero")


def count_figure(per_frame: pd.DataFrame, column: str = "targets", title: str = "Targets per frame") -> go.Figure:
    """Targets (a count) per frame, with integer ticks."""
    figure = go.Figure(go.Scatter(x=per_frame["frame"], y=per_frame[column], mode="lines",
                                  line={"color": SERIES[0], "shape": "hv"}, name=column))
    figure.update_layout(title=title, xaxis_title="frame", yaxis_title=column, **LAYOUT)
    integer_axis(figure, float(per_frame[column].max()) if len(per_frame) else 1.0)
    integer_axis(figure, float(per_frame["frame"].max()) if len(per_frame) else 1.0, axis="x")
    return figure


def trajectory_figure(trajectories: pd.DataFrame, width: int, height: int, track: str = "track_id",
                      title: str = "Track trajectories (image coordinates)") -> go.Figure:
    """Each confirmed track's path on the frame's axes: x 0..width, y 0..height downwards, equal
    scale; positions a tracker predicted outside the frame are clipped to its edge."""
    figure = go.Figure()
    for i, (track_id, rows) in enumerate(trajectories.groupby(track, sort=True)):
        figure.add_scatter(x=rows["x"].clip(0, width), y=rows["y"].clip(0, height), mode="lines+markers",
                           name=f"T{track_id}", line={"color": SERIES[i % len(SERIES)]},
                           marker={"size": 4})
    figure.update_layout(title=title, xaxis_title="x (px)", yaxis_title="y (px)", **LAYOUT,
                         legend={"orientation": "h", "y": -0.2})
    figure.update_xaxes(range=[0, width], constrain="domain")
    figure.update_yaxes(range=[height, 0], scaleanchor="x", constrain="domain")
    return figure


def video_frame_size(data: bytes, suffix: str = ".mp4") -> tuple[int, int]:
    """Width and height of a video held in memory (0, 0 when unreadable)."""
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / f"video{suffix}"
        path.write_bytes(data)
        capture = cv2.VideoCapture(str(path))
        try:
            return int(capture.get(cv2.CAP_PROP_FRAME_WIDTH)), int(capture.get(cv2.CAP_PROP_FRAME_HEIGHT))
        finally:
            capture.release()
