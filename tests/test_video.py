"""FramePipeline (re-scoring without the network) and process_video / `lwirst video` on synthetic inputs."""

from __future__ import annotations

import csv
import io
import os
import stat
from collections.abc import Iterator
from pathlib import Path

import cv2
import numpy as np
import pandas as pd
import pytest
import torch

from lwirst import video, videoio
from lwirst.checkpoint import save_checkpoint
from lwirst.cli import main
from lwirst.datasets import SegDataset, open_dataset
from lwirst.errors import LwirstError
from lwirst.inference import Saliency, Segmenter
from lwirst.live import LiveStream
from lwirst.model import LWIRSTNet
from lwirst.pipeline import FpsMeter, FramePipeline
from lwirst.postprocess import TargetFilter, postprocess
from lwirst.streams import DatasetStream
from lwirst.tracking import Tracker
from lwirst.video import CSV_COLUMNS, FrameSource, VideoStopped, process_video
from lwirst.web_video import detections_of, segment_split, track_table, video_tables

SIZE = (64, 48)  # width, height


@pytest.fixture(scope="module")
def segmenter() -> Iterator[Segmenter]:
    # One thread: the test machine's cores are shared, and oversubscribed threads are 10x slower.
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    torch.manual_seed(0)
    yield Segmenter.from_module(LWIRSTNet().eval(), size=(64, 64))
    torch.set_num_threads(previous)


class Counting:
    """Wraps a segmenter and counts network calls."""

    def __init__(self, inner: Segmenter) -> None:
        self.inner, self.calls = inner, 0

    def predict(self, image: np.ndarray) -> Saliency:
        self.calls += 1
        return self.inner.predict(image)

    def predict_batch(self, images: list[np.ndarray]) -> list[Saliency]:
        self.calls += 1
        return self.inner.predict_batch(images)


def frame(index: int, size: tuple[int, int] = SIZE) -> np.ndarray:
    rng = np.random.default_rng(index)
    w, h = size
    yy, xx = np.mgrid[0:h, 0:w]
    image = rng.normal(40, 6, (h, w)) + 200 * np.exp(-((xx - 8 - 3 * index) ** 2 + (yy - h / 2) ** 2) / 4)
    return cv2.cvtColor(np.clip(image, 0, 255).astype(np.uint8), cv2.COLOR_GRAY2BGR)


def write_video(path: Path, frames: int, codec: str = "mp4v") -> Path:
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*codec), 10, SIZE)
    for i in range(frames):
        writer.write(frame(i))
    writer.release()
    return path


def count_frames(path: Path) -> tuple[int, tuple[int, int]]:
    capture = cv2.VideoCapture(str(path))
    assert capture.isOpened()
    n, size = 0, (0, 0)
    while True:
        ok, image = capture.read()
        if not ok:
            break
        n, size = n + 1, (image.shape[1], image.shape[0])
    capture.release()
    return n, size


def read_csv(path: Path) -> list[dict[str, str]]:
    with path.open(newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert path.read_text().splitlines()[0].split(",") == list(CSV_COLUMNS)
    return rows


def one_target_pipeline(segmenter: Segmenter) -> FramePipeline:
    # A threshold far below every logit makes the whole frame one target: one CSV row per frame.
    return FramePipeline(segmenter, threshold=-1e6, tracker=Tracker(min_hits=1))


# FramePipeline


def test_rescore_reuses_the_saliency_without_the_network(segmenter: Segmenter) -> None:
    counting = Counting(segmenter)
    tracker = Tracker(min_hits=1)
    pipeline = FramePipeline(counting, tracker=tracker)
    first = pipeline.process(frame(0))
    assert counting.calls == 1 and first.tracks is not None and tracker.frame == 0
    logits = first.saliency.logits
    for th in (-0.5, 0.0, 0.3, float(np.median(logits))):
        for flt in (TargetFilter(), TargetFilter(min_size=2), TargetFilter(max_ratio=1.5, min_size=1)):
            again = pipeline.rescore(threshold=th, target_filter=flt)
            found, kept = postprocess(logits, th, flt)
            assert [t.id for t in again.kept] == [t.id for t in kept]
            assert len(again.detections) == len(found) and again.tracks is None
            assert again.saliency is first.saliency and again.threshold == th
    assert pipeline.rescore(first).saliency is first.saliency
    assert counting.calls == 1 and tracker.frame == 0  # neither the network nor the tracker ran

    pipeline.threshold, pipeline.target_filter = 0.25, TargetFilter(min_size=3)
    second = pipeline.process(frame(1))
    assert counting.calls == 2 and second.threshold == 0.25
    assert all(t.size > 3 for t in second.kept) and all(t.peak > 0.25 for t in second.detections)
    assert pipeline.rescore().saliency is second.saliency


def test_rescore_before_any_frame_and_bad_threshold(segmenter: Segmenter) -> None:
    pipeline = FramePipeline(segmenter)
    with pytest.raises(LwirstError, match="process a frame first"):
        pipeline.rescore()
    with pytest.raises(LwirstError, match="finite"):
        pipeline.threshold = float("inf")


def test_process_batch_tracks_in_order(segmenter: Segmenter) -> None:
    single = one_target_pipeline(segmenter)
    batched = one_target_pipeline(Counting(segmenter))
    one = [single.process(frame(i)) for i in range(3)]
    many = batched.process_batch([frame(i) for i in range(3)])
    assert batched.segmenter.calls == 1 and batched.tracker.frame == 2
    for a, b in zip(one, many, strict=True):
        np.testing.assert_allclose(a.saliency.logits, b.saliency.logits, atol=1e-4)
        assert [t.track_id for t in a.tracks] == [t.track_id for t in b.tracks] == [1]


# process_video


def test_video_to_annotated_mp4_and_csv(tmp_path: Path, segmenter: Segmenter) -> None:
    src = write_video(tmp_path / "in.mp4", 12)
    calls: list[tuple[int, int | None]] = []
    result = process_video(src, tmp_path / "out" / "annotated.mp4", tmp_path / "t.csv",
                           one_target_pipeline(segmenter), progress=lambda d, t: calls.append((d, t)))
    assert calls == [(i, 12) for i in range(1, 13)]
    assert (result.frames_done, result.frames_total, result.interrupted) == (12, 12, False)
    assert result.codec in ("h264", "avc1", "mp4v", "h264 (ffmpeg)") and result.fps == pytest.approx(10)
    assert count_frames(result.out_path) == (12, SIZE)
    rows = read_csv(tmp_path / "t.csv")
    assert result.rows == len(rows) == 12
    assert [int(r["frame"]) for r in rows] == list(range(12))
    assert [float(r["time_s"]) for r in rows] == pytest.approx([i / 10 for i in range(12)])
    assert {r["track_id"] for r in rows} == {"1"} and rows[0]["box_w"] == str(SIZE[0])


def test_video_warms_the_network_up_once_and_leaves_no_trace(tmp_path: Path, segmenter: Segmenter) -> None:
    src = write_video(tmp_path / "in.mp4", 12)
    counting = Counting(segmenter)
    pipeline = FramePipeline(counting, threshold=-1e6, tracker=Tracker(min_hits=1))
    process_video(src, tmp_path / "w.mp4", tmp_path / "w.csv", pipeline, batch=8)
    assert counting.calls == 1 + 2  # the untimed warm-up chunk, then 8 + 4 frames
    fresh = one_target_pipeline(segmenter)
    fresh.process_batch([frame(i) for i in range(12)])
    assert pipeline.tracker is not None and fresh.tracker is not None
    assert pipeline.tracker.frame == fresh.tracker.frame  # the warm-up frames left no trace


def test_large_frames_go_to_the_network_fewer_per_call(tmp_path: Path, segmenter: Segmenter,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    """Eight 4096x4096 frames per call, each a pyramid with its consensus run, took a served dashboard past
    20 GB: a call holds at most VIDEO_BATCH_PIXELS pixels of frames, and at least one frame."""
    assert video.frames_per_call(8, (640, 512)) == 8 and video.frames_per_call(8, (1280, 1024)) == 2
    assert video.frames_per_call(8, (4096, 4096)) == 1 and video.frames_per_call(3, (64, 64)) == 3
    monkeypatch.setattr(video, "VIDEO_BATCH_PIXELS", 2 * SIZE[0] * SIZE[1])  # these frames: two per call
    counting = Counting(segmenter)
    result = process_video(write_video(tmp_path / "in.mp4", 12), tmp_path / "w.mp4", None,
                           FramePipeline(counting), batch=8)
    assert result.frames_done == 12 and counting.calls == 1 + 6  # the warm-up chunk, then 6 calls of 2


def test_fps_meter_lets_a_slow_first_call_fade_out() -> None:
    times = iter([0.0, 2.0, 2.1, 2.2, 2.3])  # the first batch of 8 takes 2 s, the next ones 0.1 s
    meter = FpsMeter(window=2, clock=lambda: next(times))
    assert meter.tick(0) == 0.0
    assert meter.tick(8) == pytest.approx(4.0)
    assert meter.tick(8) == pytest.approx(16 / 2.1)
    assert meter.tick(8) == pytest.approx(80.0)  # the slow batch has left the window
    assert meter.tick(8) == pytest.approx(80.0)


def test_batched_video_matches_frame_count(tmp_path: Path, segmenter: Segmenter) -> None:
    src = write_video(tmp_path / "in.mp4", 7)
    result = process_video(src, tmp_path / "b.mp4", None, one_target_pipeline(segmenter), batch=3)
    assert result.frames_done == 7 and result.csv_path is None and count_frames(result.out_path)[0] == 7


def test_interrupt_leaves_playable_partial_video_and_csv(tmp_path: Path, segmenter: Segmenter) -> None:
    src = write_video(tmp_path / "in.mp4", 12)

    def stop_at_five(done: int, total: int | None) -> None:
        if done == 5:
            raise KeyboardInterrupt

    result = process_video(src, tmp_path / "part.mp4", tmp_path / "part.csv", one_target_pipeline(segmenter),
                           progress=stop_at_five)
    assert result.interrupted and result.frames_done == 5
    assert count_frames(tmp_path / "part.mp4") == (5, SIZE)
    assert [int(r["frame"]) for r in read_csv(tmp_path / "part.csv")] == [0, 1, 2, 3, 4]


def test_folder_of_frames_in_natural_order(tmp_path: Path, segmenter: Segmenter) -> None:
    folder = tmp_path / "frames"
    folder.mkdir()
    for i in range(11):  # f2 must come before f10; 16-bit frames are accepted
        cv2.imwrite(str(folder / f"f{i}.png"), cv2.cvtColor(frame(i), cv2.COLOR_BGR2GRAY).astype(np.uint16) * 250)
    (folder / ".DS_Store").write_bytes(b"ignored")
    seen: list[float] = []
    pipeline = FramePipeline(segmenter, threshold=0.0, tracker=Tracker())
    original = pipeline.process
    pipeline.process = lambda image: (seen.append(float(image.mean())), original(image))[1]  # type: ignore[method-assign]
    result = process_video(folder, tmp_path / "f.mp4", tmp_path / "f.csv", pipeline, fps=5, batch=1)
    assert result.frames_done == result.frames_total == 11 and result.fps == 5
    expected = [float((cv2.cvtColor(frame(i), cv2.COLOR_BGR2GRAY).astype(np.uint16) * 250).mean()) for i in range(11)]
    assert seen == pytest.approx(expected)
    assert count_frames(tmp_path / "f.mp4") == (11, SIZE)


def test_folder_with_non_images_is_an_error_naming_them(tmp_path: Path, segmenter: Segmenter) -> None:
    folder = tmp_path / "frames"
    folder.mkdir()
    cv2.imwrite(str(folder / "a.png"), frame(0))
    (folder / "notes.txt").write_text("x")
    with pytest.raises(LwirstError, match=r"notes\.txt"):
        process_video(folder, tmp_path / "o.mp4", tmp_path / "o.csv", FramePipeline(segmenter))
    assert not (tmp_path / "o.mp4").exists() and not (tmp_path / "o.csv").exists()
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(LwirstError, match="no image frames"):
        process_video(empty, tmp_path / "o.mp4", None, FramePipeline(segmenter))


def test_frames_of_mixed_sizes_are_refused_before_anything_is_written(tmp_path: Path, segmenter: Segmenter) -> None:
    """Every frame's header is read first: the odd frame once stopped the run after the first frame was out,
    leaving a one-frame MP4 and CSV."""
    folder = tmp_path / "frames"
    folder.mkdir()
    for i in range(4):
        cv2.imwrite(str(folder / f"{i:03d}.png"), frame(i))
    cv2.imwrite(str(folder / "004.jpg"), frame(4, (80, 48)))
    cv2.imwrite(str(folder / "005.png"), frame(5, (96, 48)))
    for batch in (1, 8):
        with pytest.raises(LwirstError, match=r"004\.jpg is 80x48 but the first frame, 000\.png, is 64x48"):
            process_video(folder, tmp_path / "o.mp4", tmp_path / "o.csv", one_target_pipeline(segmenter),
                          batch=batch)
        assert not (tmp_path / "o.mp4").exists() and not (tmp_path / "o.csv").exists()


def test_corrupt_frame_in_folder(tmp_path: Path, segmenter: Segmenter) -> None:
    folder = tmp_path / "frames"
    folder.mkdir()
    cv2.imwrite(str(folder / "0.png"), frame(0))
    (folder / "1.png").write_bytes(b"\x89PNG broken")  # no readable header: refused before any output
    with pytest.raises(LwirstError, match=r"1\.png: not a readable image"):
        process_video(folder, tmp_path / "o.mp4", None, FramePipeline(segmenter))
    assert not (tmp_path / "o.mp4").exists()
    data = bytearray(cv2.imencode(".png", frame(1))[1].tobytes())
    data[60:70] = b"\xff" * 10  # a sound header over corrupt pixel data: found when decoded
    (folder / "1.png").write_bytes(bytes(data))
    with pytest.raises(LwirstError, match=r"1\.png.*after 1 frames"):
        process_video(folder, tmp_path / "o.mp4", None, FramePipeline(segmenter), batch=1)
    assert count_frames(tmp_path / "o.mp4")[0] == 1


class Interrupted(Counting):
    """Ctrl-C while the network warms up, before the first frame is written."""

    def predict_batch(self, images: list[np.ndarray]) -> list[Saliency]:
        raise KeyboardInterrupt


def test_interrupt_before_the_first_frame_leaves_no_empty_outputs(tmp_path: Path, segmenter: Segmenter,
                                                                  caplog: pytest.LogCaptureFixture) -> None:
    """An MP4 without a frame does not play; it was once left behind as a 0-byte file. Nor does the log say
    the removed files 'hold' the frames (it once did, beside the command's 'no video or CSV kept')."""
    src = write_video(tmp_path / "in.mp4", 4)
    pipeline = FramePipeline(Interrupted(segmenter), threshold=0.0, tracker=Tracker())  # type: ignore[arg-type]
    with caplog.at_level("WARNING"):
        result = process_video(src, tmp_path / "o.mp4", tmp_path / "o.csv", pipeline)
    assert result.interrupted and result.frames_done == 0
    assert not (tmp_path / "o.mp4").exists() and not (tmp_path / "o.csv").exists()
    assert "hold them" not in caplog.text


def test_unreadable_zero_frame_and_truncated_videos(tmp_path: Path, segmenter: Segmenter) -> None:
    pipeline = one_target_pipeline(segmenter)
    junk = tmp_path / "junk.mp4"
    junk.write_bytes(b"not a video" * 50)
    with pytest.raises(LwirstError, match="not a readable video"):
        process_video(junk, tmp_path / "o.mp4", None, pipeline)
    with pytest.raises(LwirstError, match="no such file"):
        process_video(tmp_path / "missing.mp4", tmp_path / "o.mp4", None, pipeline)
    zero = write_video(tmp_path / "zero.avi", 0, codec="MJPG")
    with pytest.raises(LwirstError, match="no readable frames"):
        process_video(zero, tmp_path / "o.mp4", tmp_path / "o.csv", pipeline)
    assert not (tmp_path / "o.mp4").exists()

    full = write_video(tmp_path / "full.avi", 20, codec="MJPG").read_bytes()
    cut = tmp_path / "cut.avi"
    cut.write_bytes(full[: len(full) * 6 // 10])
    with pytest.raises(LwirstError, match="truncated"):
        process_video(cut, tmp_path / "cut.mp4", tmp_path / "cut.csv", pipeline)
    done, _ = count_frames(tmp_path / "cut.mp4")
    assert 0 < done < 20 and len(read_csv(tmp_path / "cut.csv")) == done


@pytest.mark.parametrize(("codec", "suffix"), [("MJPG", "avi"), ("mp4v", "avi"), ("mp4v", "mkv")])
def test_a_file_cut_inside_a_frame_yields_only_frames_as_stored(tmp_path: Path, codec: str, suffix: str) -> None:
    """A file cut inside a frame decoded that frame from the part stored and the rest of the frame before (a
    cut MJPG's lower half): its targets were stale, and at 9 of 10 frames read the video passed for whole.
    Every frame yielded must be the uncut file's, and the source must say it was cut short."""
    noise = np.random.default_rng(7)
    full = tmp_path / f"full.{suffix}"
    writer = cv2.VideoWriter(str(full), cv2.VideoWriter_fourcc(*codec), 10, (160, 120))
    for _ in range(10):  # noise: a patched block cannot pass for the frame's own content
        writer.write(noise.integers(0, 256, (120, 160, 3), dtype=np.uint8))
    writer.release()
    cut = tmp_path / f"cut.{suffix}"
    cut.write_bytes(full.read_bytes()[: full.stat().st_size * 85 // 100])
    uncut, source = FrameSource(full), FrameSource(cut)
    whole, read = list(uncut), list(source)
    assert len(whole) == 10 and 5 <= len(read) < 10
    assert all(np.array_equal(a, b) for a, b in zip(read, whole, strict=False))
    assert source.truncated() and not uncut.truncated()


def test_a_variable_rate_video_is_whole_and_keeps_its_frames_times(tmp_path: Path, segmenter: Segmenter) -> None:
    """A phone or network camera's variable-rate MKV declares duration x nominal rate frames (50 for 30): it read as
    "truncated or corrupt" (exit 1), and its CSV timed each frame at index / 30 s."""
    import fractions

    import av

    times = [sum((33, 33, 100)[k % 3] for k in range(i)) for i in range(30)]  # ms: frames 33, 33, 100 ms apart
    path = tmp_path / "vfr.mkv"
    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", rate=30)
        stream.width, stream.height, stream.pix_fmt = *SIZE, "yuv420p"
        stream.codec_context.time_base = fractions.Fraction(1, 1000)
        for i, ms in enumerate(times):
            picture = av.VideoFrame.from_ndarray(frame(i % 10), format="bgr24")
            picture.pts, picture.time_base = ms, fractions.Fraction(1, 1000)
            container.mux(stream.encode(picture))
        container.mux(stream.encode())
    declared = cv2.VideoCapture(str(path)).get(cv2.CAP_PROP_FRAME_COUNT)
    assert declared > 35  # the container's estimate, well over the 30 frames it holds
    result = process_video(path, tmp_path / "o.mp4", tmp_path / "o.csv", one_target_pipeline(segmenter))
    assert result.frames_done == result.frames_total == 30 and result.variable_rate
    rows = read_csv(tmp_path / "o.csv")
    assert [float(r["time_s"]) for r in rows] == pytest.approx([ms / 1000 for ms in times], abs=1e-3)
    # an evenly spaced video is not variable-rate, and its times are index / fps
    even = process_video(write_video(tmp_path / "even.avi", 6, codec="MJPG"), tmp_path / "e.mp4", tmp_path / "e.csv",
                         one_target_pipeline(segmenter))
    assert not even.variable_rate
    assert [float(r["time_s"]) for r in read_csv(tmp_path / "e.csv")] == pytest.approx([i / 10 for i in range(6)])


class Jumping:
    """A segmenter whose one target jumps 20 px a frame (too far for a 10 px gate), the frames read as the jet
    palette: what a run of fast targets and palette frames must say."""

    def __init__(self) -> None:
        self.frames = 0

    def predict(self, image: np.ndarray) -> Saliency:
        logits = np.full(image.shape[:2], -9.0, np.float32)
        logits[20:23, 4 + 20 * (self.frames % 3):7 + 20 * (self.frames % 3)] = 9.0
        self.frames += 1
        return Saliency(logits, "resize", "fake", palette="jet")

    def predict_batch(self, images: list[np.ndarray]) -> list[Saliency]:
        return [self.predict(image) for image in images]


def test_a_run_says_why_no_track_formed_and_which_palette_it_decoded(tmp_path: Path) -> None:
    """The Video page said "no target was seen on two frames in a row" of a target found on all 24 frames, moving
    faster than the gate; and no run said its frames were decoded from a palette (MJPEG palette video loses dim
    targets, so the user wants to know)."""
    source = write_video(tmp_path / "in.avi", 6, codec="MJPG")
    tracker = Tracker(gate=10, min_hits=2)
    result = process_video(source, tmp_path / "o.mp4", None, FramePipeline(Jumping(), tracker=tracker), batch=1)
    assert result.detections == 6 and tracker.tracks_started == 0
    assert result.untracked == tracker.untracked(6)
    assert "no track formed from 6 targets" in result.untracked and "(10 px)" in result.untracked
    assert result.palettes == {"jet": 6}
    assert tracker.untracked(1) == "" and Tracker().untracked(0) == ""  # too few to form one: nothing to explain


def test_a_video_says_what_its_size_filter_removed(tmp_path: Path, segmenter: Segmenter,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    """`lwirst video --min-size` (and the Video page's filter) dropped targets with no word: "0 targets in 4 rows"
    read as nothing found, and the CSV's empty rows as empty frames."""
    from lwirst.postprocess import TargetFilter

    source = write_video(tmp_path / "in.mp4", 4)
    wide = TargetFilter(min_size=10**6)  # wider than the frame: every detection is removed
    pipeline = FramePipeline(segmenter, threshold=-1e6, target_filter=wide, tracker=Tracker(min_hits=1))
    result = process_video(source, tmp_path / "o.mp4", tmp_path / "o.csv", pipeline, batch=1)
    assert (result.detections, result.removed) == (0, 4)
    assert result.filter_text(wide) == (f"the size / ratio filter ({wide}) removed 4 detections (summed over "
                                        "frames): they are in neither the video, the CSV nor the tracks")
    plain = process_video(source, tmp_path / "p.mp4", None, one_target_pipeline(segmenter), batch=1)
    assert (plain.detections, plain.removed) == (4, 0) and plain.filter_text(TargetFilter()) == ""
    assert plain.filter_text(TargetFilter(max_size=10**6)) == (
        f"the size / ratio filter ({TargetFilter(max_size=10**6)}) removed no detection")
    ckpt = tmp_path / "net.safetensors"
    net = LWIRSTNet().eval()
    save_checkpoint(ckpt, net, net.config)
    capsys.readouterr()
    assert main(["video", str(source), "--out", str(tmp_path / "c.mp4"), "--model", str(ckpt), "--backend", "torch",
                 "--threads", "1", "--probability", "0.0001", "--min-size", "100000", "--confirm", "off"]) == 0
    assert "The size / ratio filter (size > 100000 px) removed 4 detections" in capsys.readouterr().out


def test_unwritable_outputs(tmp_path: Path, segmenter: Segmenter) -> None:
    src = write_video(tmp_path / "in.mp4", 3)
    pipeline = FramePipeline(segmenter)
    (tmp_path / "dir.mp4").mkdir()
    with pytest.raises(LwirstError, match="cannot write a video"):
        process_video(src, tmp_path / "dir.mp4", None, pipeline)
    (tmp_path / "file").write_text("x")
    with pytest.raises(LwirstError, match="cannot create the output folder"):
        process_video(src, tmp_path / "file" / "o.mp4", None, pipeline)
    with pytest.raises(LwirstError, match="cannot write the CSV"):
        process_video(src, tmp_path / "o.mp4", tmp_path / "file" / "t.csv", pipeline)
    with pytest.raises(LwirstError, match=r"\.mp4 file"):
        process_video(src, tmp_path / "o.avi", None, pipeline)
    with pytest.raises(LwirstError, match="overwrite the input"):
        process_video(src, src, None, pipeline)
    with pytest.raises(LwirstError, match="batch"):
        process_video(src, tmp_path / "o.mp4", None, pipeline, batch=0)


@pytest.mark.parametrize("works", [True, False])
def test_ffmpeg_transcode_when_available(tmp_path: Path, segmenter: Segmenter,
                                         monkeypatch: pytest.MonkeyPatch, works: bool) -> None:
    monkeypatch.setattr(videoio, "pyav_h264", lambda: False)  # as without PyAV
    if "avc1" in videoio.available_codecs():
        pytest.skip("this OpenCV writes H.264 itself; no transcode happens")
    fake = tmp_path / "bin" / "ffmpeg"
    fake.parent.mkdir()
    # Stands in for ffmpeg: copies the input (after -i) to the output (last argument).
    body = 'cp "$(echo "$@" | sed "s/.* -i \\([^ ]*\\) .*/\\1/")" "${@: -1}"' if works else "exit 1"
    fake.write_text(f"#!/bin/bash\n{body}\n")
    fake.chmod(fake.stat().st_mode | stat.S_IEXEC)
    monkeypatch.setenv("PATH", f"{fake.parent}{os.pathsep}{os.environ['PATH']}")
    result = process_video(write_video(tmp_path / "in.mp4", 3), tmp_path / "o.mp4", None,
                           FramePipeline(segmenter))
    assert result.codec == ("h264 (ffmpeg)" if works else "mp4v")
    assert count_frames(tmp_path / "o.mp4")[0] == 3
    assert not list(tmp_path.glob(".o.h264*"))


def decoded(path: Path) -> tuple[str, int, tuple[int, int]]:
    """Codec, frame count and frame size of an MP4, decoded by PyAV."""
    av = pytest.importorskip("av")
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        frames = [f.to_ndarray(format="bgr24") for f in container.decode(stream)]
        return stream.codec_context.name, len(frames), (frames[0].shape[1], frames[0].shape[0])


@pytest.mark.skipif(not videoio.pyav_h264(), reason="PyAV with an H.264 encoder is not installed")
def test_video_written_as_h264_through_pyav(tmp_path: Path, segmenter: Segmenter) -> None:
    result = process_video(write_video(tmp_path / "in.mp4", 6), tmp_path / "o.mp4", None, FramePipeline(segmenter))
    assert result.codec == "h264"
    assert decoded(tmp_path / "o.mp4") == ("h264", 6, SIZE)
    assert count_frames(tmp_path / "o.mp4") == (6, SIZE)  # OpenCV reads it too
    with (tmp_path / "o.mp4").open("rb") as head:  # +faststart: the index before the media data
        start = head.read(4096)
    assert start.find(b"moov") != -1 and (start.find(b"mdat") == -1 or start.find(b"moov") < start.find(b"mdat"))


@pytest.mark.skipif(not videoio.pyav_h264(), reason="PyAV with an H.264 encoder is not installed")
def test_h264_pads_odd_sides_by_one_pixel(tmp_path: Path) -> None:
    writer, codec = videoio.open_writer(tmp_path / "odd.mp4", (45, 33), 25.0)
    for i in range(5):
        writer.write(frame(i, (45, 33)))
    writer.release()
    writer.release()  # a second release does nothing
    assert codec == "h264" and decoded(tmp_path / "odd.mp4") == ("h264", 5, (46, 34))


def test_without_pyav_opencv_writes_the_video(tmp_path: Path, segmenter: Segmenter,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(videoio, "pyav_h264", lambda: False)
    result = process_video(write_video(tmp_path / "in.mp4", 4), tmp_path / "o.mp4", None, FramePipeline(segmenter),
                           transcode=False)
    assert result.codec in videoio.available_codecs()
    assert count_frames(tmp_path / "o.mp4") == (4, SIZE)


def test_video_command(tmp_path: Path, segmenter: Segmenter, capsys: pytest.CaptureFixture[str]) -> None:
    ckpt = tmp_path / "net.safetensors"
    net = LWIRSTNet().eval()
    save_checkpoint(ckpt, net, net.config)
    src = write_video(tmp_path / "in.mp4", 4)
    rc = main(["video", str(src), "--out", str(tmp_path / "o.mp4"), "--model", str(ckpt), "--backend", "torch",
               "--threads", "1", "--probability", "0.0001", "--min-size", "0", "--batch", "2"])
    out = capsys.readouterr().out
    assert rc == 0, out
    assert "frames: 4 of 4" in out
    assert "protocol: each 64×48 frame ran natively at its own size" in out  # under a quarter of the model's area
    ran = next(line for line in out.splitlines() if line.startswith("ran: "))  # the MP4 and CSV do not say it
    assert "model net.safetensors  backend torch  protocol auto (scale consensus at 1.5x" in ran
    assert "threshold 0.0001 (logit -9.21)" in ran and "tracking: gate 20 px" in ran
    assert any(f"[{codec}]" in out for codec in ("h264", "mp4v", "avc1", "h264 (ffmpeg)"))
    assert count_frames(tmp_path / "o.mp4")[0] == 4 and len(read_csv(tmp_path / "o.csv")) >= 4
    rc = main(["video", str(tmp_path / "nope.mp4"), "--out", str(tmp_path / "x.mp4"), "--model", str(ckpt),
               "--backend", "torch", "--threads", "1"])
    assert rc == 1 and "no such file" in capsys.readouterr().err


def test_a_target_faster_than_the_gate_gets_a_hint_not_a_bare_zero(tmp_path: Path,
                                                                   capsys: pytest.CaptureFixture[str]) -> None:
    """A dot moving 40 px a frame under the default 20 px gate read "6 rows, 0 tracks" and nothing else."""
    path = tmp_path / "fast.avi"
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 10, (256, 256))
    yy, xx = np.mgrid[0:256, 0:256]
    for i in range(6):
        dot = 40 + 180 * np.exp(-((xx - 20 - 40 * i) ** 2 + (yy - 128) ** 2) / 3)
        writer.write(cv2.cvtColor(np.clip(dot, 0, 255).astype(np.uint8), cv2.COLOR_GRAY2BGR))
    writer.release()
    argv = ["video", str(path), "--out", str(tmp_path / "o.mp4"), "--threads", "1"]
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert ", 0 tracks)" in out and "no track formed from " in out and "needs a larger gate (--gate)" in out
    assert main([*argv, "--gate", "60", "--force"]) == 0
    out = capsys.readouterr().out
    assert ", 0 tracks)" not in out and "no track formed" not in out


# A dataset split played as a video (the dashboard's Video page) or a live stream


def two_size_split(root: Path) -> SegDataset:
    """A folder dataset whose first image is 96x64 and whose second, 64x48, is smaller: the video is 96x64."""
    for folder in ("images", "masks"):
        (root / folder).mkdir(parents=True)
    for name, size in (("a", (96, 64)), ("b", SIZE)):
        cv2.imwrite(str(root / "images" / f"{name}.png"), frame(3, size))
        cv2.imwrite(str(root / "masks" / f"{name}.png"), np.zeros(size[::-1], np.uint8))
    return open_dataset(root, "folder", "all")


def test_a_split_of_two_sizes_finds_in_each_frame_what_the_image_alone_gives(tmp_path: Path,
                                                                             segmenter: Segmenter) -> None:
    """Each image runs through the network at its own size, as on Single frame and Evaluate: padded onto the
    video's larger canvas, a 640x512 image once showed a target that the image alone does not have. Only the
    drawn frame is padded, at its right and bottom, so CSV positions are the image's own pixels."""
    split = two_size_split(tmp_path / "split")
    small = split.load(1).image
    threshold = float(np.quantile(segmenter.predict(small).logits, 0.995))  # a few blobs in the small image
    alone = [FramePipeline(segmenter, threshold).process(split.load(i).image).kept for i in range(2)]
    assert len(alone[1]) > 0
    output = segment_split(split, "two sizes", FramePipeline(segmenter, threshold, None, Tracker()))
    rows = pd.read_csv(io.BytesIO(output.csv)).dropna(subset=["x"])
    columns = ["x", "y", "box_x", "box_y", "box_w", "box_h", "size"]
    for index, kept in enumerate(alone):
        found = rows[rows["frame"] == index].sort_values(["y", "x"])[columns].to_numpy().tolist()
        expected = sorted(([round(t.x, 2), round(t.y, 2), t.box_x, t.box_y, t.box_w, t.box_h, t.size]
                           for t in kept), key=lambda r: (r[1], r[0]))
        assert found == expected, index
    (tmp_path / "annotated.mp4").write_bytes(output.video)
    assert count_frames(tmp_path / "annotated.mp4") == (2, (96, 64))
    live = LiveStream(DatasetStream(split, "split"), FramePipeline(segmenter, threshold, None, Tracker()))
    for kept in alone:  # Live's split source runs each image at its own size too
        shown = live.step().result.kept
        assert [(t.x, t.y, t.size) for t in shown] == [(t.x, t.y, t.size) for t in kept]


def test_track_closeups_magnify_each_track_where_it_peaked(tmp_path: Path) -> None:
    """On a 1024-pixel-wide window the player drew a 1280x1024 frame 330 pixels wide: a 3x3 target was a
    sub-pixel speck. The first tracks are shown magnified from the video's frames, each at its best frame, with
    its extent boxed (cropped from the annotated video, the labels and outcome boxes hid the target)."""
    from lwirst.palette import DETECTION, outcome
    from lwirst.web_video import track_closeups

    frames = []
    for i in range(5):
        picture = np.full((120, 200), 30, np.uint8)
        picture[60:63, 20 + 10 * i:23 + 10 * i] = 250  # a 3x3 target moving 10 px a frame
        frames.append(picture)
    trajectories = pd.DataFrame({"track_id": [1, 1, 1, 2, 2], "frame": [1, 2, 3, 3, 4],
                                 "x": [31.0, 41.0, 51.0, 150.0, 150.0], "y": [61.0] * 3 + [20.0, 20.0],
                                 "size": [9, 9, 9, 4, 4], "peak_prob": [0.7, 0.99, 0.8, 0.6, 0.9],
                                 "box_x": [30, 40, 50, 149, 149], "box_y": [60, 60, 60, 19, 19],
                                 "box_w": [3, 3, 3, 2, 2], "box_h": [3, 3, 3, 2, 2]})
    read: list[int] = []

    def source() -> Iterator[np.ndarray]:
        for index, picture in enumerate(frames):
            read.append(index)
            yield picture

    first, second = track_closeups(source(), trajectories, side=160)
    assert read == [0, 1, 2, 3, 4]  # read once, up to the last frame wanted
    assert (first.track_id, first.frame, first.x) == (1, 2, 41.0) and (second.track_id, second.frame) == (2, 4)
    assert first.caption == "T1, frame 2, at (41, 61) ×6" and first.picture.shape == (144, 144, 3)
    bright = np.argwhere(first.picture.min(axis=2) > 200)  # the target, stretched to white, in the middle
    assert len(bright) == (3 * 6) ** 2 and np.allclose(bright.mean(axis=0), 71.5, atol=6)
    boxed = np.argwhere((first.picture == np.array(outcome(DETECTION).bgr, np.uint8)).all(axis=2))
    (top, left), (bottom, right) = bright.min(axis=0), bright.max(axis=0)
    assert (boxed.min(axis=0) == [top - 2, left - 2]).all() and (boxed.max(axis=0) == [bottom + 2, right + 2]).all()
    assert track_closeups(iter(frames), trajectories.iloc[:0]) == ()
    assert [c.track_id for c in track_closeups(iter(frames), trajectories, most=1)] == [1]
    # a 1-px target on a noisy sky: white is the target's own peak, not the crop's 99.5th percentile, which
    # made noise a few levels over the sky as white as the target
    sky = np.random.default_rng(5).normal(60, 3, (120, 200)).round().clip(0, 255).astype(np.uint8)
    sky[60, 40] = 110
    dot = pd.DataFrame({"track_id": [1], "frame": [0], "x": [40.0], "y": [60.0], "size": [1], "peak_prob": [0.9],
                        "box_x": [40], "box_y": [60], "box_w": [1], "box_h": [1]})
    (closeup,) = track_closeups(iter([sky]), dot, side=144)
    white = closeup.picture.min(axis=2) >= 250
    assert white.sum() == int(closeup.zoom) ** 2  # one source pixel, magnified


class Still:
    """A segmenter whose one target stays at one place: a track every run confirms."""

    def predict(self, image: np.ndarray) -> Saliency:
        logits = np.full(image.shape[:2], -9.0, np.float32)
        logits[22:25, 10:13] = 9.0
        return Saliency(logits, "resize", "fake")

    def predict_batch(self, images: list[np.ndarray]) -> list[Saliency]:
        return [self.predict(image) for image in images]


def test_a_videos_closeups_come_from_its_own_frames_not_the_drawn_ones(tmp_path: Path) -> None:
    """Cut from the annotated video, a close-up showed the overlay's box and "T1" plate over a 3x3 target: it is cut
    from the source's frame, so its only colour is its own box, two pixels wide just outside the target."""
    from lwirst.chips import box_in_crop, magnify, stretch
    from lwirst.palette import DETECTION, outcome
    from lwirst.web_video import segment_video

    source = write_video(tmp_path / "in.avi", 6, codec="MJPG")
    output = segment_video(source, "in.avi", FramePipeline(Still(), tracker=Tracker(min_hits=2)))
    (closeup,) = output.closeups
    pink = (closeup.picture == np.array(outcome(DETECTION).bgr, np.uint8)).all(axis=2)
    rows = np.argwhere(pink)[:, 0]
    zoom = int(closeup.zoom)
    assert rows.max() - rows.min() + 1 == 3 * zoom + 4  # the 3-pixel target in a 2-pixel ring
    # everything else is the source frame's 24-pixel window around the target, stretched and magnified
    capture = cv2.VideoCapture(str(source))
    for _ in range(closeup.frame + 1):
        _, frame = capture.read()
    capture.release()
    grey = cv2.cvtColor(frame, cv2.COLOR_BGR2GRAY)[11:35, 0:24]  # centred on (11, 23), kept inside the frame
    expected, _ = magnify(stretch(cv2.cvtColor(grey, cv2.COLOR_GRAY2BGR), box_in_crop((10, 22, 3, 3), (0, 11))), 160)
    assert np.array_equal(closeup.picture[~pink], expected[~pink])


def write_raw_h264(path: Path, frames: int) -> Path:
    """A raw H.264 stream (named .mp4, as a visitor may name it): its container declares no frame count."""
    av = pytest.importorskip("av")
    with av.open(str(path), "w", format="h264") as container:
        stream = container.add_stream("libx264", rate=10)
        stream.width, stream.height, stream.pix_fmt = SIZE[0], SIZE[1], "yuv420p"
        for i in range(frames):
            container.mux(stream.encode(av.VideoFrame.from_ndarray(frame(i), format="bgr24")))
        container.mux(stream.encode(None))
    return path


def test_frame_limit_holds_for_a_video_that_declares_no_frame_count(tmp_path: Path, segmenter: Segmenter,
                                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    """The limit was checked only against the declared count, so a raw stream of any length ran to its end."""
    src = write_raw_h264(tmp_path / "raw.mp4", 9)
    assert FrameSource(src).total is None
    monkeypatch.setenv("LWIRST_MAX_VIDEO_FRAMES", "4")
    with pytest.raises(VideoStopped, match="more than the limit of 4 frames") as stopped:
        process_video(src, tmp_path / "o.mp4", tmp_path / "o.csv", one_target_pipeline(segmenter), batch=2)
    assert stopped.value.result.frames_done == 4 and count_frames(tmp_path / "o.mp4")[0] == 4
    assert len(read_csv(tmp_path / "o.csv")) == 4


def test_track_table_summarises_each_confirmed_track_from_the_csv(tmp_path: Path) -> None:
    """The Video page's table: a moving track and a static one (ids out of order, T10 before T9 in time),
    an unconfirmed detection and an empty frame; each figure recomputed here from the rows by hand."""
    rows = [  # frame, track_id, x, y, size, peak_prob
        (0, "", 50.0, 50.0, 3, 0.7),  # seen once: no track
        (1, 10, 5.0, 5.0, 4, 0.9), (2, 10, 8.0, 9.0, 6, 0.95), (3, 10, 11.0, 13.0, 5, 0.8),
        (2, 9, 30.0, 30.0, 2, 0.6), (3, 9, 30.5, 30.0, 2, 0.65), (4, 9, 30.0, 30.5, 2, 0.62),
    ]
    path = tmp_path / "targets.csv"
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(CSV_COLUMNS)
        for frame, track, x, y, size, prob in rows:
            record = dict.fromkeys(CSV_COLUMNS, "") | {"frame": frame, "time_s": frame / 25, "track_id": track,
                                                       "x": x, "y": y, "size": size, "peak_prob": prob}
            writer.writerow([record[c] for c in CSV_COLUMNS])
        writer.writerow([5, 0.2] + [""] * (len(CSV_COLUMNS) - 2))  # a frame without targets
    per_frame, trajectories = video_tables(detections_of(path), 6)
    assert per_frame["targets"].tolist() == [1, 1, 2, 2, 1, 0]
    table = track_table(trajectories)
    assert table["track"].tolist() == ["T10", "T9"]  # by first frame
    moving, static = table.iloc[0], table.iloc[1]
    assert (moving["first frame"], moving["last frame"], moving["frames seen"]) == (1, 3, 3)
    assert moving["moved (px)"] == pytest.approx(10.0)  # (5, 5) -> (11, 13)
    assert moving["mean size (pixels)"] == pytest.approx(5.0) and moving["peak probability"] == pytest.approx(0.95)
    assert (static["first frame"], static["last frame"], static["frames seen"]) == (2, 4, 3)
    assert static["moved (px)"] == pytest.approx(0.5) and static["peak probability"] == pytest.approx(0.65)
    assert track_table(trajectories.iloc[:0]).columns.tolist() == table.columns.tolist()


def test_a_video_run_s_progress_says_how_long_is_left() -> None:
    """A 1280x1024 frame takes seconds on a CPU: the bar said only "Frame 2 of 12", nothing of the wait. The time
    left is read from the rate since the first frames were done, not since the start: the model's loading and the
    first batch's warm-up read as a per-frame cost said 11 s left where 1.3 s were."""
    from lwirst.web_video import RunClock

    now = [100.0]
    clock = RunClock(lambda: now[0])
    assert clock.text(0, 12) == "Frame 0 of 12"
    now[0] = 106.0  # 6 s of loading before the first 3 frames came back
    assert clock.text(3, 12) == "Frame 3 of 12 · 6 s so far"  # no rate yet
    now[0] = 109.0  # 3 more frames in 3 s: 1 s a frame
    assert clock.text(6, 12) == "Frame 6 of 12 · 9 s so far, about 6 s left"
    now[0] = 115.0
    assert clock.text(12, 12) == "Frame 12 of 12 · 15 s so far"
    stream = RunClock(lambda: now[0])
    now[0] = 117.0
    assert stream.text(5, None) == "Frame 5 · 2 s so far"  # a stream of unknown length: no estimate
    # frames come back 8 at a time, reported within milliseconds after each network call of 2 s: the line that
    # stands while the next batch runs read "about 0 s left" (the rate from the first report of the first batch)
    batches = RunClock(lambda: now[0])
    now[0] = 120.0
    for done in range(1, 9):
        now[0] += 0.001
        line = batches.text(done, 24)
    assert line == "Frame 8 of 24 · 3 s so far"  # one batch: no rate yet
    now[0] += 2.0
    for done in range(9, 17):
        now[0] += 0.001
        line = batches.text(done, 24)
    assert line == "Frame 16 of 24 · 5 s so far, about 2 s left"  # 8 frames in 2 s, 8 to go


def raw_frames(count: int, size: tuple[int, int] = SIZE) -> list[np.ndarray]:
    """A thermal camera's raw 14-bit frames: a dim target (40 counts over a 3000-count sky, whose noise spans
    some 60) that keeps only a grey level or two if a 16-bit frame is cut to its high byte."""
    grey = [cv2.cvtColor(frame(i, size), cv2.COLOR_BGR2GRAY).astype(np.float64) for i in range(count)]
    return [np.clip(3000 + (g - 40) / 5 * 8, 0, 2**14 - 1).astype(np.uint16) for g in grey]


def test_a_16_bit_grey_video_is_read_as_its_counts(tmp_path: Path, segmenter: Segmenter) -> None:
    """A raw 14-bit recording (FFV1 gray16) was converted to BGR by OpenCV, keeping the high byte of each count
    (some 26 grey levels): a dim target went on 10 of 24 frames. Its frames now read as the counts they hold, and
    are stretched to 8 bits as 16-bit images are; an 8-bit colour video still reads as BGR."""
    written = raw_frames(6)
    path = tmp_path / "raw16.mkv"
    writer = cv2.VideoWriter(str(path), cv2.CAP_FFMPEG, cv2.VideoWriter_fourcc(*"FFV1"), 10, SIZE,
                             [cv2.VIDEOWRITER_PROP_DEPTH, cv2.CV_16U, cv2.VIDEOWRITER_PROP_IS_COLOR, 0])
    if not writer.isOpened():
        pytest.skip("this OpenCV build writes no 16-bit FFV1")
    for image in written:
        writer.write(image)
    writer.release()
    source = FrameSource(path)
    read = list(source)
    source.close()
    assert len(read) == len(written)
    for got, want in zip(read, written, strict=True):
        np.testing.assert_array_equal(got, want)  # FFV1 is lossless: every count, not its high byte
    colour = FrameSource(write_video(tmp_path / "colour.avi", 3, codec="MJPG"))
    assert all(f.dtype == np.uint8 and f.shape == (SIZE[1], SIZE[0], 3) for f in colour)
    colour.close()
    result = process_video(path, tmp_path / "raw16.mp4", tmp_path / "raw16.csv", one_target_pipeline(segmenter))
    assert result.frames_done == len(written)


def test_a_multi_page_tiff_is_a_stack_of_frames(tmp_path: Path, segmenter: Segmenter,
                                                 caplog: pytest.LogCaptureFixture,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    """A camera's raw frames saved as one multi-page TIFF were refused ("a TIFF image, not a video; segment it as
    an image"), and segmenting it as the message said read page 1 of 24 without a word. Its pages are now the
    frames, each checked from its directory before any is decoded, and read one after the other (OpenCV's reader
    walked every directory before a page: minutes for 3000 pages); an image reader says it read the first page."""
    from lwirst.imageio import read_image

    written = raw_frames(5)
    stack = tmp_path / "stack.tif"
    assert cv2.imwritemulti(str(stack), written)
    source = FrameSource(stack)
    assert source.total == 5 and source.frame_name(2) == "page 3"
    for got, want in zip(source, written, strict=True):
        np.testing.assert_array_equal(got, want)
    source.close()
    result = process_video(stack, tmp_path / "stack.mp4", tmp_path / "stack.csv", one_target_pipeline(segmenter))
    assert result.frames_done == 5 and len(read_csv(tmp_path / "stack.csv")) == 5
    with caplog.at_level("WARNING"):
        np.testing.assert_array_equal(read_image(stack), written[0])
    assert "a TIFF of several pages, of which the first is read" in caplog.text
    kinds = tmp_path / "kinds.tif"  # pages of 16-bit grey, BGR, 8-bit grey and float: each as OpenCV reads it
    pages = [written[0], frame(1), frame(2)[..., 0].copy(), written[3].astype(np.float32) / 2**14]
    assert cv2.imwritemulti(str(kinds), pages)
    _, expected = cv2.imreadmulti(str(kinds), flags=cv2.IMREAD_UNCHANGED)
    mixed_source = FrameSource(kinds)
    for got, want in zip(mixed_source, expected, strict=True):
        assert got.dtype == want.dtype and np.array_equal(got, want)
    mixed_source.close()
    mixed = tmp_path / "mixed.tif"
    assert cv2.imwritemulti(str(mixed), [*written[:2], np.zeros((SIZE[1] * 2, SIZE[0]), np.uint16)])
    decoded: list[int] = []
    monkeypatch.setattr(video, "_open_stack", lambda path: decoded.append(1))
    with pytest.raises(LwirstError, match=r"page 3 is 64x96 but page 1 is 64x48"):
        FrameSource(mixed)
    assert not decoded  # refused from the pages' directories
    monkeypatch.setenv("LWIRST_MAX_VIDEO_PIXELS", str(SIZE[0] * SIZE[1] - 1))  # pages as large as a video's frames
    with pytest.raises(LwirstError, match=r"64x48 frames are larger than the limit .*LWIRST_MAX_VIDEO_PIXELS"):
        FrameSource(stack)
    assert not decoded
    monkeypatch.delenv("LWIRST_MAX_VIDEO_PIXELS")
    monkeypatch.setenv("LWIRST_MAX_VIDEO_FRAMES", "4")
    with pytest.raises(LwirstError, match="more than the limit of 4"):
        FrameSource(stack)
    single = tmp_path / "single.tif"
    assert cv2.imwrite(str(single), written[0])
    with pytest.raises(LwirstError, match="a TIFF image, not a video"):
        FrameSource(single)


def test_the_video_command_refuses_a_source_before_loading_the_model(tmp_path: Path,
                                                                     monkeypatch: pytest.MonkeyPatch,
                                                                     capsys: pytest.CaptureFixture[str]) -> None:
    """Every refusal of `lwirst video` waited 5-9 s for the model to load first."""
    from lwirst.commands import video as video_command

    loaded: list[int] = []
    monkeypatch.setattr(video_command, "make_segmenter", lambda args: loaded.append(1))
    assert main(["video", str(tmp_path / "missing.mp4"), "--out", str(tmp_path / "o.mp4")]) == 1
    assert "no such file or folder" in capsys.readouterr().err and not loaded


def _tiff_chain(pages: int, loop_to: int | None = None, beyond: bool = False) -> bytes:
    """A little-endian TIFF of `pages` bare 64x48 directories (width and height tags only), chained; the last
    points back to directory `loop_to`, or past the end of the file (`beyond`), or nowhere."""
    import struct

    entry = 2 + 2 * 12 + 4
    data = bytearray(b"II*\x00" + struct.pack("<I", 8))
    for page in range(pages):
        following = 8 + (page + 1) * entry if page + 1 < pages else (
            8 + loop_to * entry if loop_to is not None else (1 << 30 if beyond else 0))
        data += struct.pack("<H", 2) + struct.pack("<HHII", 256, 3, 1, 64) + struct.pack("<HHII", 257, 3, 1, 48)
        data += struct.pack("<I", following)
    return bytes(data)


def test_a_hostile_tiff_stack_is_read_from_its_directories_and_bounded(tmp_path: Path,
                                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    """A stack's pages are found by walking its directory chain, which a file can make loop, point outside it or
    run to any length: the walk ends at a loop or a pointer out of the file, and stops one page past the frame
    limit, so a million-page chain costs no more than the limit."""
    from lwirst.imageio import tiff_pages

    looped = tmp_path / "looped.tif"
    looped.write_bytes(_tiff_chain(3, loop_to=0))
    assert len(tiff_pages(looped, 100)) == 3
    outside = tmp_path / "outside.tif"
    outside.write_bytes(_tiff_chain(2, beyond=True))
    assert [page[256] for page in tiff_pages(outside, 100)] == [64, 64]
    long = tmp_path / "long.tif"
    long.write_bytes(_tiff_chain(5000))
    assert len(tiff_pages(long, 10)) == 11
    monkeypatch.setenv("LWIRST_MAX_VIDEO_FRAMES", "10")
    with pytest.raises(LwirstError, match="more than the limit of 10"):
        FrameSource(long)


def test_a_12_bit_grey_video_keeps_its_counts(tmp_path: Path, segmenter: Segmenter, monkeypatch: pytest.MonkeyPatch,
                                               caplog: pytest.LogCaptureFixture) -> None:
    """OpenCV delivers a 10- to 14-bit grey stream cut to 8 bits even raw (a 60-count target over the sky kept 4
    grey levels and was found on no frame): such a stream is read through PyAV as 16-bit counts."""
    av = pytest.importorskip("av")
    written = raw_frames(6)
    path = tmp_path / "raw12.mkv"
    with av.open(str(path), "w") as box:
        stream = box.add_stream("ffv1", rate=10)
        stream.width, stream.height, stream.pix_fmt = SIZE[0], SIZE[1], "gray12le"
        for counts in written:
            picture = av.VideoFrame.from_ndarray((counts >> 2) << 4, format="gray16le").reformat(format="gray12le")
            for packet in stream.encode(picture):
                box.mux(packet)
        for packet in stream.encode():
            box.mux(packet)
    cut = cv2.VideoCapture(str(path))
    cut.set(cv2.CAP_PROP_CONVERT_RGB, 0)
    assert cut.read()[1].dtype == np.uint8  # what OpenCV gives, whatever it is asked
    cut.release()
    source = FrameSource(path)
    read = list(source)
    source.close()
    assert len(read) == len(written) and all(f.dtype == np.uint16 for f in read)
    for got, want in zip(read, written, strict=True):
        # the 12-bit levels kept apart (some 37 here; cut to 8 bits, 2 or 3 were left), in the written order
        assert len(np.unique(got)) > 20
        assert np.corrcoef(got.ravel(), want.ravel())[0, 1] > 0.99
    result = process_video(path, tmp_path / "raw12.mp4", tmp_path / "raw12.csv", one_target_pipeline(segmenter))
    assert result.frames_done == len(written) and not result.interrupted
    # without PyAV (an optional extra) the loss is said, not silent
    real = videoio.importlib.util.find_spec
    monkeypatch.setattr(videoio.importlib.util, "find_spec", lambda name: None if name == "av" else real(name))
    with caplog.at_level("WARNING"):
        without = FrameSource(path)
    assert next(iter(without)).dtype == np.uint8
    assert "a 12-bit grey video, which OpenCV reads cut to 8 bits" in caplog.text
    without.close()


def test_live_and_uploads_read_stacks_and_deep_video_as_lwirst_video_does(tmp_path: Path) -> None:
    """Live's looping source opened files with OpenCV itself (a 16-bit stream cut to its high byte, a TIFF stack
    as its first page), and the Video and Live uploaders took no TIFF: both now read as `lwirst video` reads."""
    from lwirst.live import LoopingVideo
    from lwirst.web_video import check_video_upload

    written = raw_frames(3)
    stack = tmp_path / "stack.tif"
    assert cv2.imwritemulti(str(stack), written)
    loop = LoopingVideo(stack, "mine.tif")
    shown = [loop.read() for _ in range(5)]  # one loop and a bit: pages 1 2 3 1 2
    for got, want in zip(shown, [*written, *written[:2]], strict=True):
        np.testing.assert_array_equal(got, want)
    assert loop.frame_label == "video frame 1, loop 2"
    loop.close()
    check_video_upload(stack.read_bytes(), "stack.tif")  # taken
    single = tmp_path / "single.tif"
    assert cv2.imwrite(str(single), written[0])
    with pytest.raises(LwirstError, match=r"^one\.tif: a TIFF image, not a video"):
        check_video_upload(single.read_bytes(), "one.tif")
    with pytest.raises(LwirstError, match=r"^gone\.mp4: "):
        LoopingVideo(tmp_path / "missing.mp4", "gone.mp4")
