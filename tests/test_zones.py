"""Ignore zones (`lwirst.zones`): a camera's burnt-in display neither raises targets nor hides the one it marks."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from lwirst.drawing import IGNORED_BGR, overlay
from lwirst.errors import LwirstError
from lwirst.eval_protocol import EvalProtocol, FramesRan, RunSpec
from lwirst.imageio import read_image, read_mask, write_png
from lwirst.inference import Segmenter
from lwirst.metrics import match_targets
from lwirst.paths import REPO_ROOT
from lwirst.pipeline import FramePipeline
from lwirst.run_settings import RunSettings
from lwirst.zones import IGNORED_LOGIT, MAX_REGIONS, NO_ZONES, Region, Zones, fill, read_zones
from tests.cli_process import run_lwirst

SAMPLES = REPO_ROOT / "data" / "samples"


@pytest.mark.parametrize(("text", "hw", "bounds"), [
    ("0,0,100%,24", (240, 320), (0, 24, 0, 320)),
    ("10,20,5,6", (240, 320), (20, 26, 10, 15)),
    ("50%,50%,50%,50%", (101, 200), (50, 101, 100, 200)),
    ("300,0,100,10", (240, 320), (0, 10, 300, 320)),  # clipped to the frame
    (" 1.5 , 2 , 3 , 4 ", (240, 320), (2, 6, 1, 5)),  # a fractional edge covers the pixel it touches
    ("0,0,10.0000001,5", (240, 320), (0, 5, 0, 11)),  # its text is no rounder: "%g" made it another region
    ("0,0,1000000,24", (240, 320), (0, 24, 0, 320)),  # ... or an exponent the parser refused
])
def test_a_region_reads_pixels_or_percent_and_is_clipped_to_the_frame(text: str, hw: tuple[int, int],
                                                                      bounds: tuple[int, int, int, int]) -> None:
    region = Region.parse(text)
    assert region.bounds(hw) == bounds
    assert Region.parse(str(region)) == region  # what results record reads back


@pytest.mark.parametrize(("text", "said"), [
    ("0,0,10", "expected X,Y,W,H"), ("a,0,1,1", "a number >= 0"), ("-1,0,5,5", "a number >= 0"),
    ("0,0,0,5", "positive"), ("0,0,150%,5", "at most 100%"), ("0,0,nan,5", "a number"),
    ("0,0,2000000,5", "at most 1000000"),
])
def test_a_bad_region_is_a_clear_error(text: str, said: str) -> None:
    with pytest.raises(LwirstError, match=said):
        Region.parse(text)


def test_a_long_bad_region_is_quoted_cut_short() -> None:
    """A served page's field took 10 KB of text, and the sidebar's error repeated all of it."""
    with pytest.raises(LwirstError, match="expected X,Y,W,H") as refused:
        Region.parse("A" * 10_000)
    assert len(str(refused.value)) < 200 and "..." in str(refused.value)


def test_a_mask_is_its_bright_pixels_whatever_its_alpha_or_its_jpeg_halo(tmp_path: Path) -> None:
    """An editor's opaque RGBA canvas (alpha 255 everywhere) was read as covering the whole frame, and a JPEG
    mask's faint halo around its strokes as zone too."""
    stroke = np.zeros((40, 60), np.uint8)
    stroke[10:12, 5:40] = 255
    rgba = np.dstack([stroke, stroke, stroke, np.full_like(stroke, 255)])
    write_png(tmp_path / "opaque.png", rgba)
    assert np.array_equal(read_zones([], str(tmp_path / "opaque.png")).covered((40, 60)), stroke > 0)
    cv2.imwrite(str(tmp_path / "osd.jpg"), stroke, [cv2.IMWRITE_JPEG_QUALITY, 60])
    covered = read_zones([], str(tmp_path / "osd.jpg")).covered((40, 60))
    assert abs(int(covered.sum()) - int((stroke > 0).sum())) <= 4  # the stroke, not its halo


def test_zones_are_named_apart_and_a_segmenter_takes_only_zones() -> None:
    from lwirst.zones import legend

    assert legend("0,0,100%,24") != legend("0,0,100%,48") and legend("") == ""
    long = ";".join(["0,0,100%,24"] * 4)
    assert legend(long).startswith(", ignore zones #") and legend(long) != legend(long + ";1,1,1,1")
    with pytest.raises(LwirstError, match=r"ignore takes lwirst\.zones\.Zones"):
        Segmenter(backend="torch", ignore="0,0,100%,24")  # type: ignore[arg-type]


def test_too_many_regions_and_a_mask_of_another_size_are_refused(tmp_path: Path) -> None:
    with pytest.raises(LwirstError, match=f"at most {MAX_REGIONS}"):
        Zones(tuple(Region(i, 0, 1, 1) for i in range(MAX_REGIONS + 1)))
    mask = tmp_path / "osd.png"
    write_png(mask, np.pad(np.full((4, 4), 255, np.uint8), 8))
    zones = read_zones(["0,0,2,2"], str(mask))
    assert zones.covered((20, 20)).sum() == 16 + 4
    with pytest.raises(LwirstError, match="20x20, the frame 30x20"):
        zones.covered((20, 30))
    write_png(mask, np.full((4, 4), 255, np.uint8))
    with pytest.raises(LwirstError, match="covers the whole frame"):
        read_zones([], str(mask))


@settings(max_examples=60, deadline=None)
@given(arrays(np.uint8, st.tuples(st.integers(3, 40), st.integers(3, 40))), st.data())
def test_filling_changes_only_the_covered_pixels_and_within_the_rest_s_range(pixels: np.ndarray, data) -> None:
    covered = data.draw(arrays(np.bool_, pixels.shape))
    if covered.all() or not covered.any():
        return
    filled = fill(pixels, covered)
    assert np.array_equal(filled[~covered], pixels[~covered])
    rest = pixels[~covered]
    assert rest.min() <= filled[covered].min() and filled[covered].max() <= rest.max()
    colour = fill(np.dstack([pixels, pixels, 255 - pixels]), covered)
    assert np.array_equal(colour[..., 0], filled) and np.array_equal(colour[..., 1], filled)


def crosshair(shape: tuple[int, int], centre: tuple[int, int], gap: int = 4, arm: int = 10) -> np.ndarray:
    """A camera's reticle: four 1-px arms around a gap, as a mask."""
    mask = np.zeros(shape, np.uint8)
    x, y = centre
    for a, b in (((x - gap - arm, y), (x - gap, y)), ((x + gap, y), (x + gap + arm, y)),
                 ((x, y - gap - arm), (x, y - gap)), ((x, y + gap), (x, y + gap + arm))):
        cv2.line(mask, a, b, 1, 1, cv2.LINE_8)
    return mask.astype(bool)


def test_a_reticle_on_the_target_is_ignored_and_its_target_found(one_torch_thread) -> None:
    """The operator aims the camera's crosshair at a target: drawn in, it raised false targets and hid the one it
    marks (SIRST val, `scripts/osd_probe.py`: 67 of 97 targets found); ignored, the sample's targets are found as
    without it."""
    segmenter = Segmenter(backend="torch")
    pipeline = FramePipeline(segmenter)
    found_drawn = found_zoned = total = alarms_drawn = alarms_zoned = 0
    for path in sorted((SAMPLES / "images").glob("*.png")):
        frame = read_image(path)
        truth = read_mask(SAMPLES / "masks" / path.name)
        count, _, _, centres = cv2.connectedComponentsWithStats(truth.astype(np.uint8), connectivity=8)
        if count < 2:
            continue
        reticle = crosshair(truth.shape, (round(centres[1][0]), round(centres[1][1])))
        drawn = frame.copy()
        drawn[reticle] = 255
        segmenter.ignore = NO_ZONES
        plain = match_targets(pipeline.process(drawn).kept.mask, truth)
        segmenter.ignore = Zones(mask=reticle)
        result = pipeline.process(drawn)
        zoned = match_targets(result.kept.mask, truth)
        assert (result.saliency.logits[reticle] <= IGNORED_LOGIT).all()
        assert not (result.kept.mask & reticle).any()
        outlined = overlay(drawn, result.kept, ignored=result.saliency.ignored)  # the zones drawn grey, nothing else
        changed = np.any(outlined != overlay(drawn, result.kept), axis=2)
        assert changed.any() and not (changed & ~reticle).any() and (outlined[changed] == IGNORED_BGR).all()
        total += len(zoned.gt_areas)
        found_drawn += int((plain.gt_match >= 0).sum())
        found_zoned += int((zoned.gt_match >= 0).sum())
        alarms_drawn += int((~plain.pred_matched).sum())
        alarms_zoned += int((~zoned.pred_matched).sum())
    assert found_zoned == total >= 10 and alarms_zoned == 0
    assert alarms_drawn > alarms_zoned and found_drawn < found_zoned  # drawn in: 8 of 14 found, 19 false alarms


def test_a_timestamp_burnt_into_a_raw_frame_sets_no_stretch_inside_an_ignore_zone(one_torch_thread) -> None:
    """A 14-bit camera's scene spans a narrow band (here 7000 to 7255) and its timestamp is written at full scale:
    stretched over the whole frame, the scene fell into one or two grey levels and its targets were lost even with
    the text ignored. Ignored, the text sets no range: the targets are found as on the frame without it, and the
    picture shows the scene's contrast, not a black frame."""
    from lwirst.frame_report import frame_report

    segmenter = Segmenter(backend="torch")
    pipeline = FramePipeline(segmenter)
    path = next(p for p in sorted((SAMPLES / "images").glob("*.png")) if read_mask(SAMPLES / "masks" / p.name).any())
    frame = read_image(path)
    frame = frame if frame.ndim == 2 else cv2.cvtColor(frame, cv2.COLOR_BGR2GRAY)
    raw = 7000 + frame.astype(np.uint16)  # a narrow band of 14-bit counts
    stamped = raw.copy()
    stamped[2:14, 4:120] = np.where(np.indices((12, 116)).sum(axis=0) % 3 == 0, 16383, 7000)  # text-like strokes
    zone = read_zones(["0,0,100%,16"])
    truth = read_mask(SAMPLES / "masks" / path.name)
    clean = match_targets(pipeline.process(raw).kept.mask, truth)
    segmenter.ignore = zone
    result = pipeline.process(stamped)
    zoned = match_targets(result.kept.mask, truth)
    assert int((zoned.gt_match >= 0).sum()) == int((clean.gt_match >= 0).sum()) >= 1
    picture = frame_report(stamped, result).input[16:]
    assert int(picture.max()) - int(picture.min()) > 200  # the scene's contrast, stretched over its own band
    segmenter.ignore = NO_ZONES
    assert int((match_targets(pipeline.process(stamped).kept.mask, truth).gt_match >= 0).sum()) == 0


def test_the_count_label_keeps_clear_of_a_zone_in_the_corner() -> None:
    """A camera's logo sits in a corner, where the overlay's count label went: it darkened the zone's outline out of
    sight (grey 150 to 60). The label takes another corner, and the whole outline shows."""
    from lwirst.postprocess import detect

    frame = np.full((64, 80), 40, np.uint8)
    zone = np.zeros(frame.shape, bool)
    zone[2:14, 2:22] = True
    drawn = overlay(frame, detect(np.full(frame.shape, -5.0, np.float32)), ignored=zone)
    edge = zone & ~cv2.erode(zone.view(np.uint8), np.ones((3, 3), np.uint8)).astype(bool)
    assert (drawn[edge] == IGNORED_BGR).all()
    assert (drawn[~zone] != frame[~zone, None]).any()  # the label went elsewhere, not away


def test_a_run_with_zones_is_recorded_said_and_cached_apart(synth_dir: Path) -> None:
    from lwirst.datasets import open_dataset
    from lwirst.evaluate import cache_keys

    zones = read_zones(["0,0,100%,8"])
    run = RunSpec("m.safetensors", "h", "torch", settings=RunSettings(ignore=zones.key))
    assert run.to_json()["ignore"] == "0,0,100%,8" and RunSpec.from_json(run.to_json()) == run
    assert "ignore" not in RunSpec("m.safetensors", "h", "torch").to_json()
    protocol = EvalProtocol(run, 0.0, None, "", "d", "s", frames=FramesRan({"resize": 1}, 1))
    assert "; ignore zones 0,0,100%,8" in protocol.text()
    assert protocol.applied is not None and protocol.applied.short.endswith(", ignore 0,0,100%,8, Eq. 2 masks")
    data = open_dataset(synth_dir, "folder", "all")
    plain = cache_keys(Segmenter(backend="torch"), data, 0.0)
    zoned = cache_keys(Segmenter(backend="torch", ignore=zones), data, 0.0)
    assert plain and zoned and not set(plain) & set(zoned)


def test_segment_takes_zones_and_refuses_bad_ones_in_one_line(tmp_path: Path) -> None:
    sample = sorted((SAMPLES / "images").glob("*.png"))[0]
    out = tmp_path / "out"
    command = ["segment", str(sample), "--backend", "torch"]
    done = run_lwirst(*command, "--out", out, "--ignore", "0,0,100%,8", "--ignore", "0,0,4,4")
    assert done.returncode == 0, done.stderr
    assert "ignoring 2 regions (0,0,100%,8; 0,0,4,4)" in done.stdout
    assert json.loads((out / f"{sample.stem}_targets.json").read_text())["model"]["ignore"] == "0,0,100%,8;0,0,4,4"
    resumed = run_lwirst(*command, "--out", out, "--resume")
    assert resumed.returncode == 1 and "the ignore zones (--ignore, --ignore-mask)" in resumed.stderr
    scored = run_lwirst("evaluate", "--predictions", out, "--data-dir", SAMPLES, "--dataset", "folder", "--split",
                        "all", "--ignore", "0,0,4,4")
    assert scored.returncode == 1 and "apply when a model runs" in scored.stderr
    for extra, said in ((["--ignore", "0,0,5"], "expected X,Y,W,H"),
                        (["--ignore-mask", str(tmp_path / "none.png")], "none.png")):
        refused = run_lwirst(*command, "--out", tmp_path / "x", *extra)
        assert refused.returncode != 0 and said in refused.stderr and "Traceback" not in refused.stderr
