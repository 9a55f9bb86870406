"""Live: a stream segmented and tracked as it plays, at the pipeline's speed (frames are processed and
shown back to back, not on a fixed refresh); the threshold and filters act on the running stream."""

from __future__ import annotations

import time

import streamlit as st
from streamlit.delta_generator import DeltaGenerator

from dashboard import common
from lwirst import card_view, plots
from lwirst.live import LiveFrame, LiveStream

TABLE_ROWS = 50


def main() -> None:
    st.title("Live")
    post = common.postprocess_controls()
    source = choose_source()
    if source == common.WEBCAM:
        webcam(post)
        return
    stream = common.live_stream(source, common.engine(), post)
    running = st.toggle("Run the stream", key="live_running")
    speed_note()
    st.fragment(run_every=common.LIVE_RESTART_S if running else None)(view)(stream, running,
                                                                         "Switch on 'Run the stream' to start.")


def speed_note() -> None:
    """What the two rates measure, and what runs the network."""
    st.caption(f"Runs on {common.speed_info(common.engine())}. **Pipeline fps**: network, post-processing and "
               "tracking of one frame. **End-to-end fps**: frames shown per second, also reading the source, "
               "drawing and sending each frame to the browser, so it is lower; the overlay stamps end-to-end fps.")


def choose_source() -> str:
    """The stream: synthetic sensor, a looping sample video, a local camera or the browser webcam."""
    source = st.selectbox("Source", common.live_sources(), key="live_source")
    if not common.webrtc_available():
        st.caption("Browser webcam: install streamlit-webrtc (`pip install streamlit-webrtc`) and restart "
                   "the dashboard to stream your own camera.")
    return source


def view(stream: LiveStream, running: bool, idle_hint: str) -> None:
    """One fragment run: when running, frames back to back for a burst, else the last one processed;
    then its tracks and targets."""
    frame = stream.last
    if frame is None and not running:
        st.info(idle_hint)
        return
    picture, numbers = st.columns([3, 2])
    shown, counts = picture.empty(), numbers.empty()
    if running:
        frame = burst(stream, shown, counts)
    elif frame is not None:
        show(stream, frame, shown, counts)
    if frame is None:
        return
    with numbers:
        tracks(frame)
    targets(frame)


def burst(stream: LiveStream, shown: DeltaGenerator, counts: DeltaGenerator) -> LiveFrame:
    """Process and show frames as fast as the pipeline goes, for `common.LIVE_BURST_S` seconds."""
    deadline = time.monotonic() + common.LIVE_BURST_S
    while True:
        frame = stream.step()
        show(stream, frame, shown, counts)
        if time.monotonic() >= deadline:
            return frame


def show(stream: LiveStream, frame: LiveFrame, shown: DeltaGenerator, counts: DeltaGenerator) -> None:
    """The annotated frame and its numbers, in place."""
    shown.image(frame.annotated, channels="BGR", caption=f"{stream.name}, frame {frame.index}", width="stretch")
    with counts.container():
        status(frame)


def status(frame: LiveFrame) -> None:
    """End-to-end and pipeline rates, targets and confirmed tracks of the current frame."""
    rate, pipeline = st.columns(2)  # two per row: four cards in the frame's side column truncate their labels
    kept, confirmed = st.columns(2)
    rate.metric("End-to-end fps", f"{frame.fps:.1f}", help=card_view.help_for("end-to-end fps"))
    pipeline.metric("Pipeline fps", f"{1 / frame.pipeline_s:.1f}" if frame.pipeline_s > 0 else "n/a",
                    help="Network, post-processing and tracking of this frame")
    kept.metric("Targets", len(frame.result.kept))
    confirmed.metric("Tracks", len(frame.track_table()))


def tracks(frame: LiveFrame) -> None:
    """The confirmed tracks and their recent trajectories."""
    trajectories = frame.trajectories()
    if trajectories.empty:
        st.caption("No confirmed track yet (a target must be seen on two frames in a row).")
        return
    height, width = frame.annotated.shape[:2]
    st.plotly_chart(plots.trajectory_figure(trajectories, width, height, track="track", title="Track trajectories"),
                    key="live_tracks")
    st.dataframe(frame.track_table(), hide_index=True)


def targets(frame: LiveFrame) -> None:
    """The current frame's targets, strongest first."""
    table = frame.targets(TABLE_ROWS)
    st.caption(f"Targets of this frame ({len(table)} of {len(frame.result.kept)} shown, strongest first)")
    st.dataframe(table, hide_index=True)


def webcam(post: common.Postprocess) -> None:
    """The browser's webcam through streamlit-webrtc, segmented frame by frame."""
    from streamlit_webrtc import webrtc_streamer

    stream = common.live_stream(common.WEBCAM, common.engine(), post)
    context = webrtc_streamer(key="webcam", video_frame_callback=common.webcam_callback(stream),
                              media_stream_constraints={"video": True, "audio": False},
                              rtc_configuration=common.rtc_configuration())
    # Reruns break streamlit-webrtc's signalling, so the numbers below refresh on demand, once it plays.
    st.button("Refresh the numbers", key="webcam_refresh", disabled=not context.state.playing)
    view(stream, False, "Press START and allow the camera; the annotated stream plays above.")


common.run_page(main)
