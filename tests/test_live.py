"""The Live page's synthetic sensor as a model sees it: `scene_coverage` counts what it should, and the
default scene shows the shipped model tracking its targets (the defaults must succeed)."""

from __future__ import annotations

import time

import numpy as np
from scipy import ndimage

from lwirst.datasets import open_dataset
from lwirst.inference import Segmenter
from lwirst.live import FPS_WINDOW, LIVE_SCENE, LiveStream, SyntheticSensor, scene_coverage
from lwirst.paths import SAMPLES_DIR
from lwirst.pipeline import FramePipeline
from lwirst.streams import DatasetStream
from lwirst.synth import render_sequence
from lwirst.tracking import Tracker
from lwirst.web_video import LoopingUpload

FRAMES = 20


def test_scene_coverage_counts_every_target_and_no_track_when_nothing_is_detected() -> None:
    """A threshold no logit reaches: nothing detected, no false blob, no track on any frame; the targets
    counted are the 8-connected components of the generator's masks, counted here independently."""
    coverage = scene_coverage(Segmenter(threads=1), LIVE_SCENE, seed=3, frames=FRAMES, threshold=50.0)
    components = sum(ndimage.label(frame.mask > 0, structure=np.ones((3, 3)))[1]
                     for frame in render_sequence(LIVE_SCENE, FRAMES, 3))
    assert components >= FRAMES  # every frame of the scene holds a target
    assert (coverage.targets, coverage.detected, coverage.false_blobs) == (components, 0, 0)
    assert coverage.untracked_frames == FRAMES - 1 and coverage.pd == 0.0


def test_the_live_scene_shows_the_shipped_model_tracking_its_targets() -> None:
    """The sensor's first scene, as the Live page streams it first: the shipped model finds its targets,
    raises almost no false alarm and holds a confirmed track on nearly every frame (the sky scene it
    streamed before lost its target on the last 16 frames of this first scene, and for 211 frames of
    seed 6's)."""
    coverage = scene_coverage(Segmenter(threads=1))
    assert coverage.pd >= 0.9, coverage
    assert coverage.false_blobs <= 0.02 * coverage.frames, coverage
    assert coverage.untracked_frames <= 0.02 * coverage.frames, coverage


def test_pipeline_fps_is_never_below_the_end_to_end_rate_that_includes_it() -> None:
    """Both rates span the same recent frames, so the pipeline's, which leaves out reading and drawing, is
    the higher one on every frame (a one-frame pipeline figure beside a 30-frame end-to-end rate read lower
    now and then, against the page's own note), also while the window fills and after the stream stalls."""
    stream = LiveStream(SyntheticSensor(), FramePipeline(Segmenter(threads=1), 0.0, None, Tracker()), "sensor")
    rng = np.random.default_rng(0)
    for k in range(FPS_WINDOW + 15):
        frame = stream.step()
        if k:
            assert frame.pipeline_fps >= frame.fps > 0, (k, frame.pipeline_fps, frame.fps)
        time.sleep(float(rng.uniform(0, 0.004)) if k != FPS_WINDOW else 0.2)


def test_after_a_pause_both_rates_measure_the_frames_since_and_a_frame_stands_its_dwell() -> None:
    """A pause entered the end-to-end rate (0.3 fps read where 0.45 ran), and the pipeline rate then spanned
    frames from before it. `due_in` holds a frame for its dwell from the moment it was ready; 0 never waits."""
    stream = LiveStream(SyntheticSensor(), FramePipeline(Segmenter(threads=1), 0.0, None, Tracker()), "sensor")
    assert stream.due_in(2.0) == 0.0 and stream.tracking  # nothing shown yet; a sequence is tracked
    for _ in range(3):
        stream.step()
    assert 1.9 < stream.due_in(2.0) <= 2.0 and stream.due_in(0.0) == 0.0
    time.sleep(1.0)  # the pause
    slow = stream.step()
    assert slow.fps < 3, slow.fps  # four frames, one second of pause among them
    stream.restart_rates()
    first, second = stream.step(), stream.step()
    assert first.fps == 0.0  # one frame since the restart: no interval to measure yet
    assert second.fps > 1.5 and second.pipeline_fps >= second.fps, (second.fps, second.pipeline_fps)  # no pause in it


def test_a_dataset_split_streams_without_linking_targets_of_two_images(tmp_path) -> None:
    """A split's images are separate scenes: a track across them would invent a velocity. A split of one
    image stored twice, streamed as a split, never confirms a track; the same frames from a camera do."""
    import shutil

    class Camera:  # the same image, frame after frame
        name = "camera"

        def __init__(self, image: np.ndarray) -> None:
            self.image = image

        def read(self) -> np.ndarray:
            return self.image

        def close(self) -> None:
            pass

    for folder in ("images", "masks"):
        (tmp_path / folder).mkdir()
        for copy in ("a", "b"):
            shutil.copy(SAMPLES_DIR / folder / "synth_00005.png", tmp_path / folder / f"{copy}.png")
    twice = open_dataset(tmp_path, "folder", "all")
    segmenter = Segmenter(None, backend="torch", threads=1)
    split = LiveStream(DatasetStream(twice, "split"), FramePipeline(segmenter, 0.0, None, Tracker()))
    camera = LiveStream(Camera(twice.load(0).image), FramePipeline(segmenter, 0.0, None, Tracker()))
    for _ in range(6):
        from_split, from_camera = split.step(), camera.step()
    assert len(from_split.result.kept) > 0 and not split.tracking and camera.tracking
    assert not any(t.confirmed for t in from_split.result.tracks)
    assert split.pipeline.tracker.tracks_started <= len(from_split.result.kept)  # ids restart every frame
    assert any(t.confirmed for t in from_camera.result.tracks)


def test_an_uploaded_video_loops_from_a_scratch_copy_removed_on_close() -> None:
    data = (SAMPLES_DIR / "sequence.mp4").read_bytes()
    source = LoopingUpload(data, "my clip.mp4")
    scratch = source.path.parent
    assert source.name == "my clip.mp4" and source.path.read_bytes() == data
    frames, labels = [], []
    for _ in range(66):
        frames.append(source.read())
        labels.append(source.frame_label)
    assert np.array_equal(frames[64], frames[0]) and np.array_equal(frames[65], frames[1])  # 64 frames, looped
    # from its second loop each frame is named by its place in the video, as `lwirst video` numbers it (the stream
    # counts on: 65); in the first, the stream's number is that place
    assert labels[:64] == [None] * 64 and labels[64:] == ["video frame 0, loop 2", "video frame 1, loop 2"]
    source.close()
    assert not scratch.exists()


def test_a_dataset_splits_frames_show_their_outcomes_misses_included() -> None:
    """Live opened on SIRST test drew detections only under "a sensor feed has no ground truth", while the split's
    masks said which targets the model missed: each frame of a split is judged against its mask as Single frame
    judges it, misses boxed; a source without masks (a camera) draws detections."""
    from lwirst.drawing import mask_outcomes
    from lwirst.palette import CORRECT, MISSED, outcome
    from lwirst.postprocess import mask_targets

    samples = open_dataset(SAMPLES_DIR, "folder", "all")
    segmenter = Segmenter(None, backend="torch", threads=1)
    for threshold, found in ((0.0, True), (40.0, False)):  # the shipped model's targets; then none at all
        split = LiveStream(DatasetStream(samples, "samples"), FramePipeline(segmenter, threshold, None, Tracker()))
        assert split.judged
        for index in range(len(samples.names)):
            frame = split.step()
            truth = samples.load(index).mask
            assert frame.outcomes == mask_outcomes(frame.result.kept, truth)
            targets = len(mask_targets(truth))
            assert len(frame.outcomes.correct) + len(frame.outcomes.missed) == targets
            colour = np.array(outcome(CORRECT if found else MISSED).bgr, np.uint8)
            drawn = (frame.annotated == colour).all(axis=2).sum()
            assert (drawn > 0) == bool(targets and (frame.outcomes.correct if found else frame.outcomes.missed))
        assert found or not frame.outcomes.correct
    camera = LiveStream(SyntheticSensor(), FramePipeline(segmenter, 0.0, None, Tracker()))
    assert not camera.judged and camera.step().outcomes is None


def test_a_raw_h264_stream_loops(tmp_path) -> None:
    """FFmpeg cannot seek a camera's raw .h264 stream back to its start: Live stopped at its end with "cannot
    restart the video" (a redacted error box on the page); it is opened again from its start."""
    import pytest

    av = pytest.importorskip("av")
    from lwirst.live import LoopingVideo

    path = tmp_path / "raw.h264"
    with av.open(str(path), "w", format="h264") as container:
        stream = container.add_stream("libx264", rate=10)
        stream.width, stream.height, stream.pix_fmt = 96, 64, "yuv420p"
        for i in range(3):
            container.mux(stream.encode(av.VideoFrame.from_ndarray(np.full((64, 96, 3), 40 * (i + 1), np.uint8),
                                                                   format="bgr24")))
        container.mux(stream.encode(None))
    video = LoopingVideo(path)
    try:
        frames = [video.read() for _ in range(7)]  # two loops and the first frame of a third
    finally:
        video.close()
    assert [round(f.mean() / 40) for f in frames] == [1, 2, 3, 1, 2, 3, 1]
    assert video.frame_label == "video frame 0, loop 3"
