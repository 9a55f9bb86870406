"""Live: a stream segmented and tracked as it plays, at the pipeline's speed (frames are processed and
shown back to back, not on a fixed refresh); a frame the browser cannot take yet is processed but not
shown (`dashboard.browser_pace`: a browser left behind froze the page); the threshold and filters act on
the running stream."""

from __future__ import annotations

import math
import time
from collections.abc import Callable

import streamlit as st
from streamlit.delta_generator import DeltaGenerator

from dashboard import common, views
from dashboard.browser_pace import browser_ready
from dashboard.live_view import LiveView, live_view
from dashboard.server_load import SERVER_LOAD
from lwirst import plots
from lwirst.errors import LwirstError
from lwirst.live import FPS_WINDOW, LiveStream
from lwirst.pipeline import FrameResult
from lwirst.postprocess import describe_threshold

TABLE_ROWS = 50
DWELL_S, MAX_DWELL_S = 2.0, 10.0  # seconds each image of a dataset split stands: the default and the most
# An image due this long after a burst's end is still stepped in that burst: left to the next, it stood the
# fragment's restart longer (2.2-2.5 s at 2 s per image)
DUE_SLACK_S = 0.5


def main() -> None:
    st.title("Live")
    views.own_stop_only()  # the stream's toggle stops it
    source, upload = choose_source()
    post = common.postprocess_controls(tracking=common.tracked_source(source))
    if source == common.WEBCAM:
        webcam(post)
        return
    if source == common.UPLOADED_LOOP and upload is None:
        return
    if common.own_content(source):
        common.white_hot_note("The synthetic sensor and the sample videos are")
    stream = common.live_stream(source, common.engine(), post, upload)
    running, dwell = stream_controls(stream.tracking)
    if running and not st.session_state.get("live_was_running"):  # the pause is not part of the rates
        stream.restart_rates()
    st.session_state["live_was_running"] = running
    info = common.speed_info(common.engine())
    views.stream_legend(judged=stream.judged, tracked=stream.tracking)
    st.fragment(run_every=common.LIVE_RESTART_S if running else None)(view)(stream, running, info.size,
                                                                         "Switch on 'Run the stream' to start.",
                                                                         dwell, post)
    # under the stream: above it, these notes pushed its picture below the fold at 1024x768
    source_notes(stream.tracking, stream.judged)
    speed_note(info)


def speed_note(info: common.SpeedInfo) -> None:
    """What the two rates measure, and what runs the network."""
    st.caption(f"Runs on {info}. **Pipeline fps**: network, post-processing and "
               "tracking alone. **End-to-end fps**: frames per second, also reading the source, drawing "
               f"and sending frames to the browser, so it is lower (both over the last {FPS_WINDOW} frames); the "
               "overlay stamps end-to-end fps. A frame the browser cannot take yet is tracked but not shown.")


def choose_source() -> tuple[str, common.VideoSource | None]:
    """The stream: a dataset split, the synthetic sensor, a looping sample video, the visitor's own video
    (uploaded here, checked as on the Video page, beside the source: under it, the stream's picture started
    below the fold at 1024x768), a local camera or the browser webcam; with the upload."""
    choice, upload = st.columns(2)
    source = choice.selectbox("Source", common.live_sources(), key="live_source")
    if source != common.UPLOADED_LOOP:
        return source, None
    with upload:
        return source, common.video_upload("live_upload")


def stream_controls(tracked: bool) -> tuple[bool, float]:
    """Run the stream, and how long each image of a dataset split (a source not `tracked`) stands (0: the
    pipeline's pace; other sources are sequences), side by side."""
    row = st.container(horizontal=True, gap="large", vertical_alignment="center")
    running = row.toggle("Run the stream", key="live_running")
    if tracked:
        return running, 0.0
    dwell = row.slider("Seconds per image", 0.0, MAX_DWELL_S, DWELL_S, 0.5, key="live_dwell", width=260,
                       help="Each image of a split is a scene of its own: it stands this long before the next, "
                            "and the end-to-end rate counts images as they stand. 0 plays the split as fast as "
                            "the pipeline goes.")
    return running, dwell


def source_notes(tracked: bool, judged: bool) -> None:
    """What a source shows and does not (`tracked`: False for a dataset split, whose images are scenes apart;
    `judged`: its frames have ground truth, a split's masks)."""
    if not tracked:
        st.caption("Each image of a split is its own scene, segmented at its own size: tracking is off, so no "
                   "track links targets of two images (the Video or synthetic sources show tracking). The caption "
                   "names the image shown.")
    if judged:
        st.caption("Each image has its ground truth (the split's masks): boxes take the outcome colours and a "
                   "target the model missed is boxed, as Single frame, Evaluate and Failures judge them.")
    else:
        st.caption("Live draws the model's detections only, as a sensor feed has no ground truth: a missed target "
                   "is not marked here (Single frame, Video's sample, Evaluate and Failures score against ground "
                   "truth and show misses).")
    if not common.webrtc_available():
        st.caption("Browser webcam: install streamlit-webrtc (`pip install streamlit-webrtc`) and restart "
                   "the dashboard to stream your own camera.")


class Places:
    """Where a frame goes, each element in a place the next frame replaces in place: the picture, the numbers beside
    it (cards, chips, tracks) and the tables below. A block emptied and filled again (a placeholder at each
    fragment restart, a container re-created for each frame) collapsed the page for a moment, and the browser
    scrolled a visitor reading the tables back to the top (2 of 3 tries within 5 s of scrolling). The blocks are
    containers, whose earlier elements stay until the same places are drawn again, and every element is drawn
    in the same order into its own place, an empty one when a frame has nothing there."""

    def __init__(self) -> None:
        picture, numbers = st.columns([3, 2])
        self.picture, self.numbers, self.below = picture.container(), numbers.container(), st.container()
        self._places: dict[str, DeltaGenerator] = {}
        self._rows: dict[str, list[DeltaGenerator]] = {}

    def put(self, name: str, block: DeltaGenerator, draw: Callable[[DeltaGenerator], DeltaGenerator]) -> None:
        """Draw element `name` with `draw`: the first time into `block` (in call order), later over itself."""
        self._places[name] = draw(self._places.get(name, block))

    def row(self, name: str, block: DeltaGenerator, count: int) -> list[DeltaGenerator]:
        """A row of `count` columns in `block`, made once (its cells are the blocks of later `put`s)."""
        if name not in self._rows:
            self._rows[name] = block.columns(count)
        return self._rows[name]


def view(stream: LiveStream, running: bool, size: tuple[int, int], idle_hint: str, dwell: float = 0.0,
         post: common.Postprocess | None = None) -> None:
    """One fragment run: when running, frames back to back (each standing `dwell` seconds) for a burst, else the
    last one processed. Each frame shown redraws every place from its own `LiveView`, so no place shows another
    frame."""
    frame = stream.last
    if frame is None and not running:
        st.info(idle_hint)
        return
    if not running and post is not None and frame is not None:
        paused_note(frame.result, post)
    places = Places()
    if running and frame is None:  # a large frame's first run takes seconds: say so until it shows
        places.put("picture", places.picture,
                   lambda where: where.info("Starting: segmenting the first frame...", icon=":material/hourglass_top:"))
    if running:
        try:
            with SERVER_LOAD.running("live", owner=common.session_id()):
                burst(stream, places, size, dwell)
        except LwirstError as exc:  # raised in the fragment, past `common.run_page`: said here, not redacted
            st.error(f"{exc}. Switch the stream off, or choose another source.", icon=":material/error:")
    elif frame is not None:
        show(live_view(stream, frame, TABLE_ROWS, size), places, chart=True)


def paused_note(result: FrameResult, post: common.Postprocess) -> None:
    """A paused frame keeps the threshold and filter it was processed with (its tracks came from them): say so
    when the sidebar's differ, rather than show it as if they applied."""
    if (result.threshold, result.target_filter) != (post.threshold, post.target_filter):
        st.caption(f"Paused: this frame was processed at threshold {describe_threshold(result.threshold)}"
                   f"{'' if result.target_filter == post.target_filter else ' with the previous filter'}; the "
                   "sidebar's threshold and filter apply from the next frame (switch the stream on), or re-score "
                   "a still frame on Single frame.")


def burst(stream: LiveStream, places: Places, size: tuple[int, int], dwell: float) -> None:
    """Process frames as fast as the pipeline goes, or one per `dwell` seconds, for `common.LIVE_BURST_S`
    seconds, showing the last frame first and then each one the browser can take (the others are tracked, not
    shown)."""
    deadline, shown_at = time.monotonic() + common.LIVE_BURST_S, -math.inf
    if stream.last is not None:  # the last frame stands in the new places until the next replaces it: a frame
        # slower than a burst (1280x1024: about 2 s) left them empty most of the time
        show(live_view(stream, stream.last, TABLE_ROWS, size), places, chart=False)
        shown_at = time.monotonic()
    while True:
        if wait := stream.due_in(dwell):
            if time.monotonic() + wait > deadline + DUE_SLACK_S:  # the next burst steps it
                time.sleep(max(0.0, deadline - time.monotonic()))
                return
            time.sleep(wait)  # due in this burst, or just after it: on time, not after a restart
            continue
        frame = stream.step()
        if dwell or browser_ready(shown_at):  # an image that stands is shown: one per dwell fills no queue
            show(live_view(stream, frame, TABLE_ROWS, size), places, chart=False)
            shown_at = time.monotonic()
        if time.monotonic() >= deadline:
            return


def show(frame: LiveView, places: Places, chart: bool) -> None:
    """Every place of one frame, in place."""
    places.put("picture", places.picture, lambda where: where.image(frame.picture, caption=frame.caption,
                                                                    width="stretch", alt=frame.caption))
    cards(frame, places)
    # said while the stream runs: paused, no frame comes slower
    shared = "" if chart else SERVER_LOAD.shared(template="Shared server: {} at the same time, so frames come "
                                                 "slower.", owner=common.session_id())
    places.put("shared", places.numbers, lambda where: where.caption(shared) if shared else where.empty())
    chips(frame, places)
    trajectories(frame, places, chart)
    trajectory_chart(frame, places, chart)
    tracks(frame, places)
    targets(frame, places)


def cards(frame: LiveView, places: Places) -> None:
    """End-to-end and pipeline rates, targets and confirmed tracks, two per row (four in the frame's side
    column truncate their labels)."""
    for index, card in enumerate(frame.cards):
        cell = places.row(f"cards{index // 2}", places.numbers, 2)[index % 2]
        places.put(f"card{index}", cell, lambda where, card=card: where.metric(card.label, card.value, help=card.help))


def chips(frame: LiveView, places: Places) -> None:
    """The frame's strongest targets magnified beside it (a target of a few pixels is a speck in the picture),
    each with its saliency; every frame fills the place, empty when it has no target."""
    places.put("chips", places.numbers, lambda where: where.image(
        list(frame.chips), caption=list(frame.chip_captions), width="content", alt=list(frame.chip_captions))
        if frame.chips else where.empty())


def trajectories(frame: LiveView, places: Places, chart: bool) -> None:
    """The confirmed tracks' caption, and while the stream runs where their trajectories are (a chart costs as
    much as a network call: the white trails on the frame show them). Every frame fills the same places, empty
    when it has no track: a place left out of a redraw would keep the previous frame's content until the burst
    ends."""
    places.put("tracks_caption", places.numbers, lambda where: where.caption(frame.tracks_caption))
    note = "Trajectories: the white trails on the frame; pause the stream for a chart of them."
    places.put("trails", places.numbers,
               lambda where: where.caption(note) if not frame.tracks.empty and not chart else where.empty())


def trajectory_chart(frame: LiveView, places: Places, chart: bool) -> None:
    """With the stream paused, the confirmed tracks' trajectories as a chart, full width below the frame (in the
    column beside it, at 1024 px, the chart was a sliver)."""
    figure = (views.legible(plots.trajectory_figure(frame.trajectories, frame.width, frame.height, track="track",
                                                    title="Track trajectories"))
              if chart and not frame.tracks.empty else None)
    places.put("chart", places.below,
               lambda where: where.plotly_chart(figure, key="live_tracks") if figure is not None else where.empty())


def tracks(frame: LiveView, places: Places) -> None:
    """The confirmed tracks' table, full width below the frame (beside it, its last columns were cut off)."""
    places.put("tracks", places.below, lambda where: where.dataframe(
        frame.tracks, hide_index=True, column_config=views.target_columns()) if not frame.tracks.empty
        else where.empty())


def targets(frame: LiveView, places: Places) -> None:
    """The frame's targets, strongest first."""
    places.put("targets_caption", places.below, lambda where: where.caption(frame.targets_caption))
    places.put("targets", places.below, lambda where: where.dataframe(frame.targets, hide_index=True,
                                                                      column_config=views.target_columns()))


def webcam(post: common.Postprocess) -> None:
    """The browser's webcam through streamlit-webrtc, segmented frame by frame."""
    from streamlit_webrtc import webrtc_streamer

    stream = common.live_stream(common.WEBCAM, common.engine(), post)
    context = webrtc_streamer(key="webcam", video_frame_callback=common.webcam_callback(stream),
                              media_stream_constraints={"video": True, "audio": False},
                              rtc_configuration=common.rtc_configuration())
    # Reruns break streamlit-webrtc's signalling, so the numbers below refresh on demand, once it plays.
    st.button("Refresh the numbers", key="webcam_refresh", disabled=not context.state.playing)
    stopped_note(stream, context.state.playing)
    view(stream, False, common.speed_info(common.engine()).size,
         "Press START and allow the camera; the annotated stream plays above. If the player says \"Requested "
         "device not found\" (or NotFoundError), this computer has no camera the browser can use: choose the "
         "Synthetic sensor or a looping video as the source.")


def stopped_note(stream: LiveStream, playing: bool) -> None:
    """Why a stream that played stands still: STOP, or a connection the browser gave up on."""
    if not playing and stream.frames:
        st.info(f"The stream stopped after {stream.frames} frames. If you did not press STOP, the browser lost its "
                "connection to the server (a busy server can cause that): press START to go on. The numbers "
                "below are from its last frame.")


main()
