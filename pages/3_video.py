"""Video: segment and track a video into an annotated MP4 and a per-frame targets CSV."""

from __future__ import annotations

from pathlib import PurePath

import streamlit as st

from dashboard import common, views
from lwirst import card_view, plots
from lwirst.errors import LwirstError
from lwirst.limits import limit
from lwirst.palette import DETECTION
from lwirst.palettes import VIDEO_PALETTE_CAVEAT, decoded_text
from lwirst.rounding import count_text, rate_text
from lwirst.sequence_truth import truth_path
from lwirst.web_video import SPLIT_FPS, VideoOutput, track_table

# How the embedded scene was picked, said where it plays (data/samples/README.md holds the rule and the scans)
SAMPLE_CHOICE = ("A generated scene, picked for this page by a rule written before any seed was scanned: the first "
                 "seed of the SIRST-calibrated generator on which the shipped model finds each of its two crossing "
                 "targets on at least 85 % of their frames with at most 0.1 false alarms per frame. 6 of the first "
                 "24 seeds meet it: on other scenes the model misses more. Live's synthetic sensor streams seeds "
                 "0, 1, 2, ... unpicked, and Upload runs your own video.")


def main() -> None:
    st.title("Video")
    views.own_stop_only()  # the page's Stop names a stopped run and keeps its frames
    post = common.postprocess_controls(tracking=True)
    source = choose_video()
    if source is None:
        return
    output = process(source, post)
    if output is None:
        return
    summary(source, output, post)
    judged = against_truth(source, output)
    player_and_counts(output, judged)
    closeups(output)
    trajectories(output, post, source.split is not None)
    downloads(output, source.name)


def choose_video() -> common.VideoSource | None:
    """The video: the embedded synthetic sequence, a dataset split played as frames, or an upload
    (size-checked)."""
    kind = st.radio("Video", ["Synthetic sample", "Dataset split", "Upload"], horizontal=True, key="video_source")
    if kind == "Synthetic sample":
        samples = common.sample_videos()
        if not samples:
            st.error("The embedded sample video is missing from data/samples; upload a video instead.")
            return None
        name = st.selectbox("Sample video", list(samples), key="video_sample")
        st.caption(SAMPLE_CHOICE)
        common.white_hot_note("The sample videos are")
        return common.video_from_sample(name, samples[name])
    if kind == "Dataset split":
        return choose_split()
    return common.video_upload("video_upload")


def choose_split() -> common.VideoSource:
    """A dataset split's first images, in order, as the frames of one video."""
    label = st.selectbox("Split", common.video_splits(), key="video_split")
    st.caption(f"Plays up to the first {limit('LWIRST_MAX_SPLIT_FRAMES')} images (LWIRST_MAX_SPLIT_FRAMES) at "
               f"{SPLIT_FPS:g} frames per second. Each image is segmented at its own size, as on Single frame "
               "and Evaluate, then drawn at the top left of a frame as large as the largest image; positions "
               "are each image's own pixels. Each image is its own scene, so tracks form only where targets "
               "stay in place.")
    return common.video_from_split(label)


def process(source: common.VideoSource, post: common.Postprocess) -> VideoOutput | None:
    """The Process button, greyed above a progress bar and a Stop button while it runs; the result stays until
    the inputs change. The embedded sample (a few seconds of work) runs without a click whenever it has no
    result for the settings, so the page opens on the model at work, once for each (not in the run Stop's
    click starts, nor after a run that failed or that the visitor stopped; again when leaving the page cut it
    short). A stopped run (Stop, or the header's) is named, and its frames are shown until the whole video is
    processed."""
    chosen = common.engine()
    output = common.stored_video(source, chosen, post)
    # a run started unasked that failed, or that the visitor stopped, waits for the button: only a completed one
    # lets its settings run unasked again; one cut short by leaving the page runs again on coming back
    tried = st.session_state.setdefault("video_auto_tried", [])
    signature = (source.key, chosen, post)
    unasked = (source.path is not None and not st.session_state.get("video_stop")
               and ((output is None and signature not in tried) or common.cut_short_unasked(source, chosen, post)))
    if unasked and signature not in tried:
        tried[:] = [*tried[-7:], signature]
    note = st.empty()  # filled once this run's outcome is known
    slot = st.empty()  # the button, greyed while its run goes on, then gone if the run completed
    progress = st.empty()  # the progress bar while it runs
    stop = st.empty()  # Stop while it runs: a click reruns the page, which ends the run at its next frame
    # the run a click starts (the button's state is True from its first line) draws the same button greyed: a new
    # element in its place would leave the old, clickable one showing, stale, until the run ends
    started = bool(st.session_state.get("video_process")) or unasked
    if output is None or output.result.interrupted:
        slot.button("Process video", type="primary", key="video_process", disabled=started)
    else:
        started = False
    if started:
        bar = progress.progress(0.0, text="Starting...")
        stop.button("Stop", key="video_stop", icon=":material/stop_circle:", on_click=common.stop_video,
                    help="Stop after the frame in progress; the frames done so far are kept and shown")
        try:
            output = common.run_video(source, chosen, post, bar, unasked=unasked)
            if signature in tried and not output.result.interrupted:  # done: these settings may run again later
                tried.remove(signature)
        except LwirstError as exc:
            common.show_error(exc)
            output = None  # not the frames of an earlier, stopped run
        for placeholder in (slot, progress, stop):
            placeholder.empty()
    with note.container():
        stopped(source, output)
    if output is None:
        st.caption("Segments and tracks every frame with the model and settings in the sidebar; "
                   "changing them asks for a new run.")
    return output


def stopped(source: common.VideoSource, output: VideoOutput | None) -> None:
    """That the last run on this video was stopped (by the visitor, or by an error such as a truncated
    video), and whether what it did is shown below."""
    if output is not None and output.stopped is not None:
        done = count_text(output.result.frames_done, "frame")
        st.warning(f"{output.stopped.rstrip('.')}. The video, counts and targets CSV below hold the {done} processed "
                   "before that.", icon=":material/warning:")
    note = common.stopped_run(source)
    if note is None:
        return
    if output is not None and output.result.interrupted:
        st.warning(f"{note} The video, counts and targets CSV below hold those frames; **Process video** runs "
                   "the whole video.", icon=":material/stop_circle:")
    else:  # it ran with other settings, or was stopped before its frames could be kept
        st.info(f"{note} **Process video** runs the whole video with the settings in the sidebar.",
                icon=":material/stop_circle:")


def summary(source: common.VideoSource, output: VideoOutput, post: common.Postprocess) -> None:
    """Frames, frame rates, targets and codec of the processed video, how its frames ran (a split's
    images each ran at their own size, as its caption says) and how targets were tracked (`post`, which the
    output was made with)."""
    result = output.result
    frames, rate, speed, found, tracks = st.columns(5)
    frames.metric("Frames processed", result.frames_done)
    rate.metric("Video fps", rate_text(result.fps), help="The file's own frame rate (playback speed)")
    speed.metric("End-to-end fps", rate_text(result.processing_fps), help=card_view.help_for("end-to-end fps"))
    found.metric("Detections", output.detections, help="Targets found, summed over frames (a target seen on 10 "
                 "frames counts 10): the targets CSV's rows, besides one empty row per frame without any")
    tracks.metric("Confirmed tracks", output.tracks,
                  help=f"Targets seen {post.tracking.seen} at least, given an id (T<n> on the "
                       "video). A track that breaks (two targets crossing, a target lost for a few frames) goes on "
                       "under a new id, so there can be more tracks than targets")
    if removed := result.filter_text(post.target_filter):  # the sidebar's filter: said, never silent
        broken = "; a target removed on some frames breaks its track there" if result.removed else ""
        st.caption(f"{removed[:1].upper()}{removed[1:]}{broken}.")
    chosen = common.engine()
    info = common.speed_info(chosen)
    if source.split is None:
        width, height = common.video_size(output)
        ran = info.frame_run((height, width), common.applied_protocol(chosen, (height, width)), which="Each")
    else:  # a split's frames may differ in size: how each kind ran, counted
        applied = result.applied(common.segmenter(chosen).segmenter.describe())
        ran = f"Runs on {info}." + (f" Frames as they ran: {applied}." if applied else "")
    timing = (" Its frames are not evenly spaced in time (a variable frame rate): the targets CSV's time_s holds "
              f"each frame's own time, and the annotated video plays them at an even {result.fps:g} fps."
              if result.variable_rate else "")
    colours = f" Pseudo-colour: {decoded_text(result.palettes)} ({VIDEO_PALETTE_CAVEAT})." if result.palettes else ""
    st.caption(f"{ran}{colours}{timing} Tracking: {post.tracking.text()}. Codec {result.codec}. "
               "**End-to-end fps** counts everything: decoding, network, post-processing, tracking, drawing and "
               "encoding the annotated video. The overlay stamps the **pipeline fps** (network, post-processing and "
               "tracking only, over recent frames): it leaves decoding, drawing and encoding out, so it usually "
               "reads higher, but a frame's stamp is that moment's rate (the first frames, a busy machine) and can "
               "read lower.")


def against_truth(source: common.VideoSource, output: VideoOutput) -> bool:
    """For a generated video (the embedded sample), what the boxes found and missed against its truth; whether
    there is one (its video then shows the outcomes)."""
    score = common.video_truth(source, output)
    if score is None or source.path is None:  # only a file beside its truth has a score
        return False
    found, detection, false = st.columns(3)
    found.metric("Target-frames found", f"{score.found} of {score.visible}")
    detection.metric("Pd", views.number_text(score.pd, 2), help=card_view.help_for("Pd"))
    false.metric("False alarms", score.false_alarms)
    each = "; ".join(f"target {t.id} on {t.found} of the {t.visible} frames it is visible in{followed(t.tracks)}"
                     for t in score.targets)
    over = f", over the {score.frames} frames processed" if output.result.interrupted else ""
    st.caption(f"Against the generator's truth ({truth_path(source.path).name}{over}): {each}. A target is "
               "found on a frame when a box's centre lies within 3 px of it; one box finds one target, so "
               "targets that cross count once where their blobs merge. The video shows the same outcomes.")
    return True


def followed(tracks: tuple[tuple[int, int], ...]) -> str:
    """Which confirmed tracks carried a true target's boxes, and on how many frames each."""
    if not tracks:
        return ""
    if len(tracks) == 1:
        return f" (track T{tracks[0][0]} on {tracks[0][1]} frames)"
    return (f" (tracks {', '.join(f'T{t} on {n}' for t, n in tracks)} frames: its id changed on the way, where a "
            "track broke or two swapped as targets crossed)")


def player_and_counts(output: VideoOutput, judged: bool) -> None:
    """The annotated video, played in the page on a loop (the sample lasts under three seconds), beside the
    number of targets per frame; its boxes in the outcome colours where the video has truth (`judged`). The
    video takes three fifths of the row: at half, a 256-pixel sample's targets were specks on a projector."""
    video, count = st.columns([3, 2])
    video.video(output.web_video, format=output.web_format, loop=True)
    with video:
        views.stream_legend(judged)
    count.plotly_chart(views.legible(plots.count_figure(output.per_frame)), key="video_counts")


def closeups(output: VideoOutput) -> None:
    """The first confirmed tracks magnified, each at its most confident frame: a target of a few pixels is a
    speck in the player."""
    if output.closeups:
        judged = any(c.outcome != DETECTION for c in output.closeups)
        count = len(output.closeups)
        tracks = "the confirmed track" if count == 1 else f"the first {count} confirmed tracks"
        st.markdown(f"**Close-ups**: {tracks}, {'at its' if count == 1 else 'each at its'} most confident "
                    "frame, magnified from the video (contrast stretched, nearest neighbour: every pixel a square; "
                    "the box is the target's extent" + (", in its outcome's colour against the truth" if judged else "")
                    + ")")
        row = st.container(horizontal=True, gap="medium")  # apart: side by side, their captions ran together
        for closeup in output.closeups:
            row.image(closeup.picture[:, :, ::-1], caption=closeup.caption, width="content", output_format="PNG",
                      alt=closeup.caption)


def trajectories(output: VideoOutput, post: common.Postprocess, split: bool) -> None:
    """The trajectories of the confirmed tracks, in image coordinates, and a row per track. A `split`'s images are
    scenes apart: none tracked is no sign that a target moved faster than the gate."""
    if output.trajectories.empty and split and output.detections:
        st.info("No confirmed tracks: each image of a split is its own scene, so a track forms only where two "
                "images in a row hold a target at about the same place. The Synthetic sample, an uploaded video "
                "and Live's synthetic sensor show tracking.")
        return
    if output.trajectories.empty:
        why = output.result.untracked or f"no target was seen {post.tracking.seen}"
        st.info(f"No confirmed tracks: {why} (**Tracking** in the sidebar)." if output.detections else
                "No confirmed tracks: no target was found.")
        return
    width, height = common.video_size(output)
    st.plotly_chart(views.legible(plots.trajectory_figure(output.trajectories, width, height)), key="video_tracks")
    st.dataframe(track_table(output.trajectories), hide_index=True, key="video_track_table",
                 column_config={"peak probability": st.column_config.NumberColumn(format="%.3f")})
    st.caption("One row per confirmed track (T<n> on the video). **Moved** is the distance between its first "
               "and last positions. A track that stays put over many frames sits on a fixed feature of the "
               "scene, where the network's confirmed false alarms come from, or is a target flying towards or "
               "away from the camera, or far off: look at it before dismissing it.")


def downloads(output: VideoOutput, name: str) -> None:
    """The annotated MP4 and the targets CSV, named after the video `name` (every video's were "annotated.mp4",
    saved as "annotated (1).mp4" and on)."""
    video, table = st.columns(2)
    stem = PurePath(name).stem
    video.download_button("Download annotated video", output.video, file_name=f"{stem}_annotated.mp4",
                          mime="video/mp4", key="video_download")
    table.download_button("Download targets CSV", output.csv, file_name=f"{stem}_targets.csv", mime="text/csv",
                          key="video_csv")


main()
