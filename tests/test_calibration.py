"""Calibration measurements on frames whose properties are known by construction, and the CLI."""

from __future__ import annotations

import math
from pathlib import Path

import cv2
import numpy as np
import pytest

from lwirst.calibration import (
    Measurement,
    Summary,
    compare,
    measure,
    measure_frame,
    noise_std,
    radial_spectrum,
    spectrum_slope,
    target_stats,
)
from lwirst.cli import main
from lwirst.synth import SceneConfig, _fractal, write_dataset


def _u8(a: np.ndarray) -> np.ndarray:
    return np.clip(np.rint(a), 0, 255).astype(np.uint8)


def _gaussian(shape: tuple[int, int], cy: int, cx: int, amplitude: float, sigma: float) -> np.ndarray:
    yy, xx = np.mgrid[:shape[0], :shape[1]]
    return amplitude * np.exp(-((yy - cy) ** 2 + (xx - cx) ** 2) / (2 * sigma**2))


@pytest.mark.parametrize("beta", [2.0, 2.5, 3.0, 3.5])
def test_fractal_background_gives_its_beta(beta: float) -> None:
    rng = np.random.default_rng(int(beta * 10))
    field = _fractal((256, 256), beta, rng)
    assert spectrum_slope(radial_spectrum(field)) == pytest.approx(beta, abs=0.25)
    # 8-bit and a non-square crop (resized to the common size) keep it
    frame = _u8(120 + 30 * field)[:200, :300]
    assert spectrum_slope(radial_spectrum(frame)) == pytest.approx(beta, abs=0.3)


def test_steeper_spectrum_measures_steeper() -> None:
    rng = np.random.default_rng(1)
    shallow = spectrum_slope(radial_spectrum(_fractal((256, 256), 1.5, rng)))
    steep = spectrum_slope(radial_spectrum(_fractal((256, 256), 3.5, rng)))
    assert steep - shallow > 1.5


@pytest.mark.parametrize("sigma", [1.0, 3.0, 6.0])
def test_white_noise_estimate(sigma: float) -> None:
    rng = np.random.default_rng(7)
    flat = _u8(128 + sigma * rng.standard_normal((256, 256)))
    expected = math.hypot(sigma, 1 / math.sqrt(12))  # plus the rounding to 8 bits
    assert noise_std(flat) == pytest.approx(expected, rel=0.08)
    # a gradient and smooth clouds barely move it
    yy = np.mgrid[:256, :256][0]
    cloudy = _u8(60 + 0.3 * yy + 15 * cv2.GaussianBlur(_fractal((256, 256), 3.0, rng), (0, 0), 4)
                 + sigma * rng.standard_normal((256, 256)))
    assert noise_std(cloudy) == pytest.approx(expected, rel=0.1)


def test_noise_ignores_excluded_pixels() -> None:
    rng = np.random.default_rng(3)
    frame = 100 + 1.0 * rng.standard_normal((128, 128))
    frame[:, 40:] += 8.0 * rng.standard_normal((128, 88))  # more than the smoother half is loud
    exclude = np.zeros(frame.shape, dtype=bool)
    exclude[:, 36:] = True
    assert noise_std(_u8(frame), exclude) == pytest.approx(math.hypot(1.0, 12**-0.5), rel=0.1)
    assert noise_std(_u8(frame)) > 2.0


def test_gaussian_target_of_known_scr() -> None:
    """Background std 3, a point target 30 above it: SCR about 10, whatever a bright neighbour does."""
    rng = np.random.default_rng(11)
    shape = (96, 96)
    frame = 100 + 3.0 * rng.standard_normal(shape)
    frame += _gaussian(shape, 40, 40, 30.0, 1.2)
    frame += _gaussian(shape, 40, 52, 120.0, 2.0)  # inside the first target's window
    grey = _u8(frame)
    mask = np.zeros(shape, dtype=bool)
    for cy, cx, amp, s in ((40, 40, 30.0, 1.2), (40, 52, 120.0, 2.0)):
        mask |= _gaussian(shape, cy, cx, amp, s) >= amp / 2
    pixels, scrs = target_stats(grey, mask)
    order = np.argsort(pixels)
    assert len(pixels) == 2
    assert scrs[order[0]] == pytest.approx(10.0, abs=1.5)
    assert scrs[order[1]] > 30


def test_target_sizes_are_8_connected_components() -> None:
    grey = np.full((40, 40), 50, np.uint8)
    mask = np.zeros((40, 40), dtype=bool)
    mask[5:8, 5:8] = True  # 9 px
    mask[20, 20] = mask[21, 21] = True  # diagonal neighbours: one 2 px target
    mask[30:32, 30:35] = True  # 10 px
    grey[mask] = 200
    pixels, scrs = target_stats(grey, mask)
    assert sorted(pixels) == [2, 9, 10]
    assert all(s == pytest.approx(150.0) for s in scrs)  # flat ring: std floored at 1


def test_measure_frame_grey_and_histogram() -> None:
    grey = np.zeros((32, 64), np.uint8)
    grey[:, 32:] = 200
    colour = cv2.cvtColor(grey, cv2.COLOR_GRAY2BGR)
    stats = measure_frame(colour, np.zeros(grey.shape, bool), "half")
    assert stats.grey_mean == pytest.approx(100.0) and stats.grey_std == pytest.approx(100.0)
    assert stats.histogram[0] == stats.histogram[200] == 32 * 32 and stats.histogram.sum() == 32 * 64
    assert stats.target_pixels == [] and stats.shape == (32, 64)
    with pytest.raises(ValueError, match="does not match"):
        measure_frame(grey, np.zeros((10, 10), bool))


def test_compare_same_source_is_identical_and_shifted_source_is_not() -> None:
    rng = np.random.default_rng(5)

    def frames(level: float, count: int = 6):
        for i in range(count):
            image = level + 2 * rng.standard_normal((64, 64))
            mask = np.zeros((64, 64), bool)
            image += _gaussian((64, 64), 32, 32, 40.0, 1.5)
            mask |= _gaussian((64, 64), 32, 32, 40.0, 1.5) >= 20
            yield f"f{i}", _u8(image), mask

    a = measure(frames(80), "a")
    same = {c.statistic: c for c in compare(a, a)}
    assert all(c.ks == 0 for c in same.values())
    assert same["grey_mean"].median_ratio == pytest.approx(1.0)
    b = measure(frames(160), "b")
    shifted = {c.statistic: c for c in compare(a, b)}
    assert shifted["grey_mean"].ks == 1.0 and shifted["grey_level"].ks > 0.9
    assert shifted["grey_mean"].median_ratio == pytest.approx(2.0, rel=0.02)
    assert shifted["target_pixels"].ks == 0.0
    assert a.summary("grey_level").p50 == pytest.approx(80, abs=2)
    assert isinstance(a.summary("noise"), Summary) and a.summary("noise").n == 6


def test_summary_skips_nan_and_handles_empty() -> None:
    s = Summary.of(np.array([1.0, 2.0, 3.0, math.nan]))
    assert s.n == 3 and s.p50 == 2.0
    assert Summary.of(np.array([])).n == 0 and math.isnan(Summary.of(np.array([])).p50)
    assert Measurement("empty", []).values("target_scr").size == 0


@pytest.fixture
def real_dir(tmp_path: Path) -> Path:
    """A tiny folder dataset standing in for SIRST; its test split holds an odd-sized frame."""
    root = write_dataset(tmp_path / "real", 6, SceneConfig(size=(96, 128)), seed=2, test_fraction=0.34)
    return root


def test_cli_calibrate_prints_table_and_writes_png(real_dir: Path, tmp_path: Path,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    png = tmp_path / "cal.png"
    assert main(["synth", "--calibrate", "--data-dir", str(real_dir), "--dataset", "folder", "--count", "3",
                 "--size", "64", "64", "--plot", str(png)]) == 0
    out = capsys.readouterr().out
    train = (real_dir / "train.txt").read_text().split()
    assert f"reference: real train, {len(train)} frames" in out
    assert "3 scenes 64x64" in out
    lines = out.splitlines()
    header = next(line for line in lines if line.startswith("statistic"))
    assert header.split() == ["statistic", "generator", "ref", "p5", "ref", "p50", "ref", "p95", "gen", "p5",
                              "gen", "p50", "gen", "p95", "p50", "ratio", "KS"]
    for statistic in ("grey_level", "spectrum_beta", "noise", "target_pixels", "target_scr"):
        for source in ("training draw", "sirst", "sirst_terrain"):
            assert any(line.startswith(statistic) and f" {source} " in line for line in lines), (statistic, source)
    image = cv2.imread(str(png))
    assert image is not None and image.shape[0] > 300 and image.shape[1] > 600
    assert f"wrote {png}" in out


def test_cli_calibrate_refuses_bad_combinations(real_dir: Path, tmp_path: Path,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    base = ["synth", "--calibrate", "--data-dir", str(real_dir), "--dataset", "folder", "--count", "1"]
    assert main([*base, "--out", str(tmp_path / "x")]) == 1
    assert "--calibrate writes no dataset" in capsys.readouterr().err
    assert main([*base, "--plot", str(tmp_path / "x.jpg")]) == 1
    assert "PNG" in capsys.readouterr().err
    existing = tmp_path / "old.png"
    existing.write_bytes(b"x")
    assert main([*base, "--plot", str(existing)]) == 1
    assert existing.read_bytes() == b"x"
    assert main(["synth", "--plot", str(tmp_path / "p.png"), "--out", str(tmp_path / "y")]) == 1
    assert "--plot needs --calibrate" in capsys.readouterr().err
