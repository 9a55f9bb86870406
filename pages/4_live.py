"""Live: a stream segmented and tracked as it plays; the threshold and filters act on the running stream."""

from __future__ import annotations

import streamlit as st

from dashboard import common
from lwirst import plots
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
    st.fragment(run_every=common.LIVE_PERIOD_S if running else None)(view)(stream, running,
                                                                        "Switch on 'Run the stream' to start.")


def choose_source() -> str:
    """The stream: synthetic sensor, a looping sample video, a local camera or the browser webcam."""
    source = st.selectbox("Source", common.live_sources(), key="live_source")
    if not common.webrtc_available():
        st.caption("Browser webcam: install streamlit-webrtc (`pip install streamlit-webrtc`) and restart "
                   "the dashboard to stream your own camera.")
    return source


def view(stream: LiveStream, running: bool, idle_hint: str) -> None:
    """One update: the next frame when running, else the last one processed."""
    frame = stream.step() if running else stream.last
    if frame is None:
        st.info(idle_hint)
        return
    picture, numbers = st.columns([3, 2])
    picture.image(frame.annotated, channels="BGR", caption=f"{stream.name}, frame {frame.index}", width="stretch")
    with numbers:
        status(frame)
        tracks(frame)
    targets(frame)


def status(frame: LiveFrame) -> None:
    """Frame rate, targets and confirmed tracks of the current frame."""
    rate, kept, confirmed = st.columns(3)
    rate.metric("fps", f"{frame.fps:.1f}")
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
    # Timed reruns break streamlit-webrtc's signalling, so the numbers below refresh on demand.
    st.button("Refresh the numbers", key="webcam_refresh", disabled=not context.state.playing)
    view(stream, False, "Press START and allow the camera; the annotated stream plays above.")


common.run_page(main)
