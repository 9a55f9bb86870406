"""What the Live page shows of one processed frame, built from that frame alone.

During a burst the page redraws every block for each frame from one `LiveView`, so the picture, its
caption, the cards and the tables name the same frame once drawn (the tables used to keep the previous
burst's last frame while the picture moved on). The picture is a data URI sent with its caption: an
image served as a file is fetched after the caption arrives, so it showed an older frame than the
numbers beside it. Each block is still its own message, and the browser paints between them: on a loaded
machine the picture shows a frame up to about a second before the tables catch up with it.
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from dashboard.views import png_uri
from lwirst.card_view import help_for
from lwirst.chips import target_chips
from lwirst.inference import describe_frame_run
from lwirst.live import LiveFrame, LiveStream
from lwirst.prominence import cleared
from lwirst.rounding import rate_text

CHIPS = 3  # targets magnified beside the frame: a 3-pixel target is a speck in a picture drawn 330 pixels wide
CHIP_SIDE = 80  # pixels of each half (crop | saliency) of a chip


@dataclass(frozen=True)
class Card:
    """A metric card: label, value and hover help."""

    label: str
    value: str
    help: str | None = None


@dataclass(frozen=True)
class LiveView:
    """One frame's blocks: the annotated picture (a PNG data URI) and its caption, the rate and count
    cards, the strongest targets magnified (`chips`: PNG data URIs, with `chip_captions`), the confirmed tracks
    with their trajectories, and the strongest targets' table; `width` and `height` are the frame's, the
    trajectory chart's axes."""

    index: int
    picture: str
    caption: str
    cards: tuple[Card, ...]
    tracks: pd.DataFrame
    trajectories: pd.DataFrame
    tracks_caption: str
    targets: pd.DataFrame
    targets_caption: str
    width: int
    height: int
    chips: tuple[str, ...] = ()
    chip_captions: tuple[str, ...] = ()


def live_view(stream: LiveStream, frame: LiveFrame, rows: int, size: tuple[int, int]) -> LiveView:
    """Every block of the Live page for `frame` of `stream`, listing at most `rows` targets; the caption says
    how the frame ran on a model of input `size` (a split's images differ in size, and "auto" resizes some and
    runs others as a pyramid)."""
    tracks, targets, kept = frame.track_table(), frame.targets(rows), len(frame.result.kept)
    height, width = frame.annotated.shape[:2]
    off = "Tracking is off: each image of a split is its own scene, so no track links two of them."
    cards = (Card("End-to-end fps", rate_text(frame.fps), help_for("end-to-end fps")),
             Card("Pipeline fps", rate_text(frame.pipeline_fps),
                  "Network, post-processing and tracking alone, over the same recent frames as end-to-end fps"),
             Card("Targets", str(kept)),
             Card("Tracks", str(len(tracks))) if stream.tracking else Card("Tracks", "off", off))
    if frame.result.target_filter.active:  # a target the sidebar's filter removed is said, not silently gone
        cards += (Card("Removed by the size / ratio filter", str(len(frame.result.removed)),
                       f"{help_for('Eq. 4')} This frame's detections outside {frame.result.target_filter}: not "
                       "drawn, listed or tracked."),)
    settings = stream.pipeline.tracker.settings.text() if stream.pipeline.tracker is not None else ""
    tracks_caption = (off if not stream.tracking else
                      f"Confirmed tracks at frame {frame.index} (tracking: {settings})" if len(tracks) else
                      f"No confirmed track at frame {frame.index}{untracked_reason(stream, kept)}.")
    ran = describe_frame_run((height, width), frame.result.saliency.protocol, size)
    held = f"; {cleared(frame.result.saliency.clearance)}" if frame.result.saliency.clearance else ""
    caption = f"{stream.name}, frame {frame.index}" + (f": {frame.label}" if frame.label else "") + \
        f" — {width}×{height}, ran {ran}{held}"
    chips, _ = target_chips(frame.image, frame.result.saliency.logits, frame.result.kept, frame.truth,
                            threshold=frame.result.threshold, size=CHIP_SIDE, limit=CHIPS)  # misses first, judged
    return LiveView(frame.index, png_uri(frame.annotated), caption, cards, tracks,
                    frame.trajectories(), tracks_caption, targets,
                    f"Targets of frame {frame.index} ({len(targets)} of {kept} shown, strongest first)",
                    width, height, tuple(png_uri(chip.picture) for chip in chips),
                    tuple(chip.caption for chip in chips))


def untracked_reason(stream: LiveStream, targets: int) -> str:
    """" (a target must be seen on 2 frames in a row, each within 20 px of where its track went)": what the
    stream's tracker asks before it confirms a track, said where the frame has `targets` to track."""
    tracker = stream.pipeline.tracker
    if tracker is None or not targets:
        return ""
    return (f" (a target must be seen {tracker.settings.seen}, each within {tracker.gate:g} px of where its track "
            "went: Tracking in the sidebar)")
