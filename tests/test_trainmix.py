"""Target implantation, hard negatives and the training mix: exact masks, target-free negatives,
determinism by seed; and the cross-domain suite built from them."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from lwirst.errors import LwirstError
from lwirst.implant import add_cutout, add_psf, cut_targets, grey, remove_targets, transform_cutout
from lwirst.synth import measure_scr
from lwirst.train import Recipe
from lwirst.trainmix import KINDS, FrameBank, Geometry, epoch_kinds


def _frame_with_target(value: int = 200) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(3)
    image = np.clip(rng.normal(80, 3, (64, 96)), 0, 255).astype(np.uint8)
    mask = np.zeros((64, 96), bool)
    mask[20:24, 40:43] = True
    image[mask] = value
    return np.repeat(image[..., None], 3, axis=2), mask


def test_cut_out_target_carries_its_contrast_and_shape() -> None:
    image, mask = _frame_with_target()
    (cutout,) = cut_targets(image, mask)
    assert cutout.mask.sum() == mask.sum()
    assert cutout.peak == pytest.approx(200 - 80, abs=6)  # signal above the local background
    assert abs(float(np.median(cutout.signal[~cutout.mask]))) < 10  # background subtracted around it


def test_dark_targets_are_not_cut_out() -> None:
    image, mask = _frame_with_target(value=10)
    assert cut_targets(image, mask) == []


def test_remove_targets_leaves_background_only() -> None:
    image, mask = _frame_with_target()
    clean = grey(remove_targets(image, mask))
    assert clean[mask].max() < 100  # the 200-level target is gone
    assert np.array_equal(clean[:10], grey(image)[:10])  # far pixels untouched


def test_implanted_cutout_mask_is_where_the_signal_went() -> None:
    image, mask = _frame_with_target()
    (cutout,) = cut_targets(image, mask)
    rng = np.random.default_rng(0)
    canvas = np.full((80, 80), 50.0, np.float32)
    taken = np.zeros(canvas.shape, bool)
    placed = add_cutout(canvas, taken, cutout, rng, contrast=(1.0, 1.0))
    assert placed is not None and placed.sum() == cutout.mask.sum()
    assert canvas[placed].min() > 50 + 0.5 * cutout.peak  # the whole mask is bright
    assert taken[placed].all()  # the spot is claimed so nothing lands on it


def test_psf_reaches_its_requested_scr() -> None:
    rng = np.random.default_rng(1)
    canvas = rng.normal(100, 4, (64, 64)).astype(np.float32)
    background = canvas.copy()
    taken = np.zeros(canvas.shape, bool)
    placed = add_psf(canvas, taken, rng, sigma=(1.5, 1.5), scr=(10.0, 10.0))
    assert placed is not None and 3 <= placed.sum() <= 40
    scr = measure_scr(canvas, placed)
    assert 7 < scr < 14, scr  # SCR 10 of the window's std (floored), measured on the ring
    ys, xs = np.nonzero(canvas != background)
    cy, cx = np.argwhere(placed).mean(axis=0)
    assert np.abs(ys - cy).max() <= 7 and np.abs(xs - cx).max() <= 7  # painted within the PSF's 3-sigma patch


def test_transformed_cutout_keeps_a_nonempty_mask() -> None:
    image, mask = _frame_with_target()
    (cutout,) = cut_targets(image, mask)
    rng = np.random.default_rng(5)
    for _ in range(20):
        moved = transform_cutout(cutout, rng, scale=(0.3, 2.0))
        assert moved.mask.any() and moved.mask.shape == moved.signal.shape


@pytest.fixture(scope="module")
def bank() -> FrameBank:
    frames = [_frame_with_target(v) for v in (160, 200, 240)]
    return FrameBank([f[0] for f in frames], [f[1].astype(np.uint8) for f in frames], Geometry(64, 0.8, 1.2, 0.5))


@pytest.mark.parametrize("kind", KINDS)
def test_every_kind_is_a_training_crop_with_a_binary_mask(bank: FrameBank, kind: str) -> None:
    image, mask = bank.make(kind, np.random.default_rng(0), 1)
    assert image.shape == (64, 64, 3) and image.dtype == np.uint8
    assert mask.shape == (64, 64) and set(np.unique(mask)) <= {0, 1}
    if kind == "negative":
        assert not mask.any()
    if kind in ("implant", "synthetic"):
        assert mask.any()


@pytest.mark.parametrize("kind", KINDS)
def test_generated_frames_are_deterministic_by_seed(bank: FrameBank, kind: str) -> None:
    a = bank.make(kind, np.random.default_rng(42), 2)
    b = bank.make(kind, np.random.default_rng(42), 2)
    assert np.array_equal(a[0], b[0]) and np.array_equal(a[1], b[1])


def test_epoch_holds_every_real_frame_and_the_shares() -> None:
    items = epoch_kinds(10, implant=0.4, synthetic=0.2, negatives=0.8)
    kinds = [k for k, _ in items]
    assert [i for k, i in items if k == "real"] == list(range(10))
    assert (kinds.count("implant"), kinds.count("synthetic"), kinds.count("negative")) == (4, 2, 8)


@pytest.mark.parametrize("changes", [{"negatives": -0.1}, {"implant": float("nan")}, {"upscale": 1.5}])
def test_invalid_shares_are_rejected(changes: dict) -> None:
    with pytest.raises(LwirstError):
        Recipe(**changes).validate()


def test_suite_parts_are_deterministic_and_labelled(data_root) -> None:
    from lwirst.suite import build_suite

    parts = {p.name: p for p in build_suite("xdomain", data_root, synthetic_frames=3)}
    assert set(parts) == {"sirst-val", "implant-1x", "implant-3x", "synth-256", "synth-640", "empty-1x",
                          "empty-2x", "empty-4x", "empty-synth-640", "mosaic-640", "empty-mosaic-640",
                          "empty-mosaic-1280"}
    again = {p.name: p for p in build_suite("xdomain", data_root, synthetic_frames=3)}
    for name in ("implant-3x", "synth-640", "empty-4x", "mosaic-640", "empty-mosaic-1280"):
        a, b = parts[name].load(1), again[name].load(1)
        assert np.array_equal(a.image, b.image) and np.array_equal(a.mask, b.mask)
    small, large = parts["implant-1x"].load(0), parts["implant-3x"].load(0)
    assert large.image.shape[0] == pytest.approx(3 * small.image.shape[0], abs=1)
    assert small.mask.any() and large.mask.any()
    for name in ("empty-1x", "empty-4x", "empty-synth-640", "empty-mosaic-640", "empty-mosaic-1280"):
        assert not parts[name].load(0).mask.any()
    assert parts["synth-640"].load(0).image.shape[:2] == (512, 640)
    assert parts["mosaic-640"].load(0).image.shape[:2] == (512, 640) and parts["mosaic-640"].load(0).mask.any()
    assert parts["empty-mosaic-1280"].load(0).image.shape[:2] == (1024, 1280)


def test_large_suite_draws_fresh_1280_mosaics(data_root) -> None:
    """The held-out proxy: 1280x1024 mosaics with targets and twice as many without, deterministic, and other
    frames than xdomain's target-free 1280x1024 mosaics."""
    from lwirst.suite import build_suite

    parts = {p.name: p for p in build_suite("large", data_root, synthetic_frames=2)}
    assert set(parts) == {"large-mosaic-1280", "empty-large-1280"}
    assert len(parts["large-mosaic-1280"]) == 2 and len(parts["empty-large-1280"]) == 4
    with_targets, empty = parts["large-mosaic-1280"].load(1), parts["empty-large-1280"].load(1)
    assert with_targets.image.shape[:2] == empty.image.shape[:2] == (1024, 1280)
    assert with_targets.mask.any() and not empty.mask.any()
    again = {p.name: p for p in build_suite("large", data_root, synthetic_frames=2)}
    assert np.array_equal(again["empty-large-1280"].load(1).image, empty.image)
    xdomain = next(p for p in build_suite("xdomain", data_root, synthetic_frames=2) if p.name == "empty-mosaic-1280")
    assert not np.array_equal(xdomain.load(1).image, empty.image)
    assert xdomain.load(1).name != empty.name


def test_noisy_suite_is_the_clean_content_with_noise_added(data_root) -> None:
    """Suite noisy: deterministic frames whose difference from the same content without noise is zero-mean
    noise at a level inside SUITE_NOISE_STD (rounding and clipping aside), on masks left as they were."""
    from lwirst.suite import SUITE_NOISE_STD, build_suite

    parts = {p.name: p for p in build_suite("noisy", data_root, synthetic_frames=2)}
    assert set(parts) == {"noisy-val", "noisy-implant-1x", "noisy-implant-2x", "noisy-mosaic-640",
                          "empty-noisy-1x", "empty-noisy-2x", "empty-noisy-mosaic-640"}
    again = {p.name: p for p in build_suite("noisy", data_root, synthetic_frames=2)}
    for name in ("noisy-val", "noisy-implant-2x", "empty-noisy-mosaic-640"):
        a, b = parts[name].load(1), again[name].load(1)
        assert np.array_equal(a.image, b.image) and np.array_equal(a.mask, b.mask)
    xdomain = {p.name: p for p in build_suite("xdomain", data_root, synthetic_frames=2)}
    noisy, clean = parts["noisy-val"].load(0), xdomain["sirst-val"].load(0)
    assert np.array_equal(noisy.mask, clean.mask)
    diff = noisy.image.astype(np.float32) - clean.image.astype(np.float32)
    inside = (clean.image > 20) & (clean.image < 235)  # away from clipping
    std = float(diff[inside].std())
    assert SUITE_NOISE_STD[0] * 0.9 <= std <= SUITE_NOISE_STD[1] * 1.1
    assert abs(float(diff[inside].mean())) < 0.1 * std
    named = float(noisy.name.rsplit("@noise", 1)[1])  # the frame's name records its noise level
    assert noisy.name.startswith(clean.name) and named == pytest.approx(std, rel=0.15)
    assert parts["noisy-implant-2x"].load(0).image.shape[0] == pytest.approx(
        2 * parts["noisy-implant-1x"].load(0).image.shape[0], abs=1)


def test_enlarged_suite_is_val_enlarged_with_its_targets(data_root) -> None:
    """Suite enlarged: each val frame at 2x, 3x and 4x, its targets the same targets, each as many times
    larger in area as the frame (a nearest-neighbour mask keeps them whole and apart)."""
    from lwirst.suite import build_suite

    parts = {p.name: p for p in build_suite("enlarged", data_root, synthetic_frames=2)}
    assert set(parts) == {"enlarged-2x", "enlarged-3x", "enlarged-4x", "empty-enlarged-3x"}
    xdomain = {p.name: p for p in build_suite("xdomain", data_root, synthetic_frames=2)}
    original = xdomain["sirst-val"].load(3)
    count, _, stats, _ = cv2.connectedComponentsWithStats(original.mask.astype(np.uint8), connectivity=8)
    h, w = original.mask.shape
    for scale in (2, 3, 4):
        frame = parts[f"enlarged-{scale}x"].load(3)
        assert frame.image.shape[:2] == frame.mask.shape == (h * scale, w * scale)
        assert frame.name == f"{original.name}@{scale}x"
        n, _, grown, _ = cv2.connectedComponentsWithStats(frame.mask.astype(np.uint8), connectivity=8)
        assert n == count
        assert sorted(grown[1:, cv2.CC_STAT_AREA]) == sorted(scale * scale * stats[1:, cv2.CC_STAT_AREA])
        small = cv2.resize(frame.image, (w, h), interpolation=cv2.INTER_AREA).astype(np.int16)
        assert np.abs(small - original.image.astype(np.int16)).mean() < 4  # the same scene, not another
    empty = parts["empty-enlarged-3x"].load(3)
    assert empty.image.shape[:2] == (h * 3, w * 3) and not empty.mask.any()


def test_reduction_probe_first_range_is_suite_large_own_empty_part(data_root) -> None:
    """The README reads the probe's first row as suite large's empty part: the same frames; the other ranges
    quilt other, target-free frames."""
    from lwirst.suite import build_suite, reduction_probe

    suite = next(p for p in build_suite("large", data_root, synthetic_frames=2) if p.name == "empty-large-1280")
    probe = reduction_probe(data_root, frames=2)
    assert [p.name for p in probe] == ["empty-reduced-0.4-1", "empty-reduced-0.85-1", "empty-reduced-0.4-0.6"]
    assert all(p.target_free and len(p) == 2 for p in probe)
    assert np.array_equal(probe[0].load(1).image, suite.load(1).image)
    for other in probe[1:]:
        frame = other.load(1)
        assert frame.image.shape[:2] == (1024, 1280) and not frame.mask.any()
        assert not np.array_equal(frame.image, suite.load(1).image)


def test_alarm_suite_is_suite_large_empty_part_from_other_seeds(data_root) -> None:
    """Suite alarms: more of suite large's target-free mosaics (same size, reduction and backgrounds), none of
    them a frame suite large or another alarm part already holds."""
    from lwirst.suite import build_suite

    large = next(p for p in build_suite("large", data_root, synthetic_frames=2) if p.target_free)
    parts = build_suite("alarms", data_root, synthetic_frames=2)
    assert [p.name for p in parts] == ["empty-large-1280-a", "empty-large-1280-b", "empty-large-1280-c"]
    assert all(p.target_free and len(p) == len(large) == 4 for p in parts)
    frames = [part.load(i).image for part in [large, *parts] for i in range(2)]
    assert all(f.shape[:2] == (1024, 1280) for f in frames)
    assert len({f.tobytes() for f in frames}) == len(frames)
    assert len({p.fingerprint() for p in [large, *parts]}) == 4


@pytest.mark.parametrize("suite", ["xdomain", "colour", "large", "noisy", "enlarged", "alarms"])
def test_target_free_flag_says_what_the_frames_hold(data_root, suite: str) -> None:
    """Pooling reads `target_free`: a flag that lies would pool targets as alarms (or hide alarms), so
    it must match the frames (first and last), and the "empty..." names tables are read by."""
    from lwirst.suite import build_suite

    for part in build_suite(suite, data_root, synthetic_frames=2):
        for index in (0, len(part) - 1):
            assert part.target_free == (not part.load(index).mask.any()), (part.name, index)
        assert part.name.startswith("empty") == part.target_free, part.name


def test_suite_pools_targets_and_empty_frames(data_root) -> None:
    """Pooled Pd and empty-frame figures are the sums over the parts, on a real (untrained) network run."""
    import dataclasses

    import torch

    from lwirst.inference import Segmenter
    from lwirst.model import LWIRSTNet
    from lwirst.suite import build_suite, evaluate_suite

    torch.manual_seed(0)
    parts = [dataclasses.replace(p, count=2) for p in build_suite("xdomain", data_root, synthetic_frames=2)
             if p.name in ("implant-1x", "synth-256", "empty-1x", "empty-synth-640")]
    result = evaluate_suite(Segmenter.from_module(LWIRSTNet()), parts, threshold=2.0)
    targets = sum(r.metrics["targets"] for p, r in result.parts if not p.target_free)
    detected = sum(r.metrics["detected"] for p, r in result.parts if not p.target_free)
    assert result.pd == pytest.approx(detected / targets)
    false = sum(r.metrics["false_alarms"] for p, r in result.parts if p.target_free)
    assert result.blobs_per_empty_frame == pytest.approx(false / 4)
    rows = {row["part"]: row for row in result.rows()}
    assert rows["empty-1x"]["pd"] is None and rows["implant-1x"]["empty_alarm_rate"] is None
    assert rows["empty-1x"]["niou"] is None and rows["empty-1x"]["recall"] is None
    metrics = {p.name: r.metrics for p, r in result.parts}
    for name in ("implant-1x", "synth-256"):
        assert (rows[name]["niou"], rows[name]["recall"]) == (metrics[name]["niou"], metrics[name]["recall"])
        assert rows[name]["hiou"] == metrics[name]["hiou"]  # a registered metric reaches the suite's table
    assert rows["empty-1x"]["hiou"] is None
    assert 0.0 <= result.empty_alarm_rate <= 1.0


def test_mosaic_quilts_reduced_backgrounds_without_steps() -> None:
    """A mosaic covers its canvas, stays within the backgrounds' grey range, and blends seams: two flat
    backgrounds of 50 and 150 meet through intermediate grey levels, not a one-pixel step."""
    from lwirst.implant import mosaic

    flats = [np.full((200, 300), 50, np.uint8), np.full((200, 300), 150, np.uint8)]
    for seed in range(5):
        canvas = mosaic(flats, (300, 420), np.random.default_rng(seed), tile=64, overlap=16)
        assert canvas.shape == (300, 420) and canvas.dtype == np.float32
        assert canvas.min() >= 50 - 1e-3 and canvas.max() <= 150 + 1e-3
        steps = max(np.abs(np.diff(canvas, axis=0)).max(), np.abs(np.diff(canvas, axis=1)).max())
        assert steps < 100 / 4  # a 100-level jump spread over the 16-px ramp
    with pytest.raises(ValueError):
        mosaic([], (64, 64), np.random.default_rng(0))


def test_evaluate_suite_command_prints_and_saves_every_part(data_root, tmp_path, capsys) -> None:
    """`lwirst evaluate --suite` on two frames per part: every part printed and saved, the pooled
    figures equal to the ones recomputed from the saved rows, the quick look labelled as such."""
    import json

    from lwirst.cli import main
    from lwirst.suite import build_suite

    out = tmp_path / "suite"
    argv = ["evaluate", "--suite", "xdomain", "--suite-frames", "2", "--data-dir", str(data_root),
            "--out", str(out), "--threads", "1"]
    assert main(argv) == 0
    printed = capsys.readouterr().out
    assert "a quick look, not the suite's figures" in printed
    saved = json.loads((out / "suite.json").read_text())
    names = [p.name for p in build_suite("xdomain", data_root, synthetic_frames=2)]
    assert [row["part"] for row in saved["parts"]] == names and saved["frames_per_part"] == 2
    for row in saved["parts"]:
        assert row["frames"] == 2 and row["part"] in printed
    bearing = [r for r in saved["parts"] if not r["part"].startswith("empty")]
    empty = [r for r in saved["parts"] if r["part"].startswith("empty")]
    pd_ = sum(r["pd"] * r["targets"] for r in bearing) / sum(r["targets"] for r in bearing)
    blobs = sum(r["blobs_per_frame"] * r["frames"] for r in empty) / sum(r["frames"] for r in empty)
    assert saved["pooled"]["pd"] == pytest.approx(pd_, abs=1e-4)
    assert saved["pooled"]["blobs_per_empty_frame"] == pytest.approx(blobs, abs=1e-4)
    assert all(r["niou"] is not None and 0 <= r["recall"] <= 1 for r in bearing)
    header = next(line for line in printed.splitlines() if line.split()[:1] == ["part"]).split()
    assert header == list(saved["parts"][0]) and "hiou" in header  # every column saved is printed, hIoU too
    assert main(["evaluate", "--suite-frames", "2", "--data-dir", str(data_root)]) == 1
    assert "name the suite too" in capsys.readouterr().err


def test_a_suite_without_targets_says_its_pd_is_not_available(data_root, capsys) -> None:
    """Suite alarms holds target-free frames only: its pooled Pd printed "nan", where every other view says
    n/a (and its JSON null)."""
    from lwirst.cli import main

    assert main(["evaluate", "--suite", "alarms", "--suite-frames", "1", "--data-dir", str(data_root),
                 "--threads", "1"]) == 0
    pooled = next(line for line in capsys.readouterr().out.splitlines() if line.startswith("pooled:"))
    assert pooled.startswith("pooled: Pd n/a (target parts)") and "nan" not in pooled
    assert "empty frames alarmed n/a" not in pooled  # the figures it has are printed


def test_fresh_alarm_frames_are_target_free_large_mosaics_no_suite_holds(data_root) -> None:
    """The fresh alarm check reads the alarm proxy out of sample only if its frames are none of suites large's
    and alarms' (where round 51 chose its margin): the same recipe, other frames."""
    from lwirst.suite import PROBES, build_suite, fresh_alarms

    fresh = fresh_alarms(data_root, frames=2)
    assert PROBES["fresh-alarms"] is fresh_alarms
    assert [p.name for p in fresh] == ["empty-fresh-1280-a", "empty-fresh-1280-b", "empty-fresh-1280-c"]
    seen = [p for name in ("large", "alarms") for p in build_suite(name, data_root, synthetic_frames=1)
            if p.target_free]
    old = [part.load(i).image for part in seen for i in range(2)]
    for part in fresh:
        assert part.target_free and len(part) == 2
        for i in range(2):
            frame = part.load(i)
            assert frame.image.shape[:2] == (1024, 1280) and not frame.mask.any()
            assert not any(np.array_equal(frame.image, other) for other in old)

