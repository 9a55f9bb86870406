"""Pseudo-colour frames decoded back to intensity (`lwirst.palettes`) and run as grey by the segmenter."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lwirst.frame_report import frame_report
from lwirst.inference import Segmenter
from lwirst.palettes import as_intensity, colourful, detect_palette, palettes
from lwirst.paths import REPO_ROOT
from lwirst.pipeline import FramePipeline

SAMPLES = REPO_ROOT / "data" / "samples"


def scene(seed: int, shape: tuple[int, int] = (120, 160)) -> np.ndarray:
    """A smooth grey frame using most of the 0-255 range, with a few bright points."""
    rng = np.random.default_rng(seed)
    field = cv2.GaussianBlur(rng.normal(size=shape), (0, 0), 6)
    field = (field - field.min()) / (np.ptp(field) + 1e-9) * 230
    for _ in range(3):
        y, x = rng.integers(5, shape[0] - 5), rng.integers(5, shape[1] - 5)
        field[y - 1:y + 2, x - 1:x + 2] = 255
    return np.rint(field).astype(np.uint8)


def brute_force_decode(image: np.ndarray, table: np.ndarray) -> np.ndarray:
    """Nearest palette entry for every pixel by an exhaustive distance table (the reference)."""
    pixels = image.reshape(-1, 1, 3).astype(np.int64)
    distance = ((pixels - table[None].astype(np.int64)) ** 2).sum(axis=2)
    return distance.argmin(axis=1).astype(np.uint8).reshape(image.shape[:2])


@pytest.mark.parametrize("name", sorted(palettes()))
def test_every_palette_is_recognised_and_decoded_exactly(name: str) -> None:
    grey = scene(1)
    drawn = palettes()[name][grey]
    decoded, found = as_intensity(drawn)
    assert found == name
    assert np.abs(decoded.astype(int) - grey).max() <= 1  # a few palettes repeat a colour on adjacent levels
    # the nearest entry, as an exhaustive search finds it (ties between equal entries aside)
    table = palettes()[name]
    assert np.array_equal(table[decoded], table[brute_force_decode(drawn, table)])


@pytest.mark.parametrize("name", ["ironbow", "hot", "inferno", "jet", "turbo"])
def test_jpeg_coded_palette_frames_with_text_are_still_recognised(name: str) -> None:
    grey = scene(2, (240, 320))
    ok, encoded = cv2.imencode(".jpg", palettes()[name][grey], [cv2.IMWRITE_JPEG_QUALITY, 80])
    assert ok
    frame = cv2.imdecode(encoded, cv2.IMREAD_COLOR)
    cv2.putText(frame, "23.5 C", (10, 30), cv2.FONT_HERSHEY_SIMPLEX, 1.0, (255, 255, 255), 2)
    match = detect_palette(frame)
    assert match is not None and match.name == name


@settings(max_examples=25, deadline=None)
@given(st.integers(0, 2**31 - 1), st.floats(0.6, 1.4), st.floats(0.6, 1.4), st.floats(-30, 30))
def test_grey_and_tinted_grey_frames_are_left_alone(seed: int, gain_b: float, gain_r: float, offset: float) -> None:
    grey = scene(seed % 1000)
    assert detect_palette(cv2.cvtColor(grey, cv2.COLOR_GRAY2BGR)) is None
    tinted = cv2.cvtColor(grey, cv2.COLOR_GRAY2BGR).astype(np.float32)
    tinted[..., 0] = tinted[..., 0] * gain_b * 0.1 + grey * 0.9  # a mild cast, as SIRST's colour frames have
    tinted[..., 2] = tinted[..., 2] * gain_r * 0.1 + grey * 0.9 + offset * 0.2
    assert detect_palette(np.clip(tinted, 0, 255).astype(np.uint8)) is None


def test_natural_colour_frames_are_left_alone() -> None:
    rng = np.random.default_rng(3)
    assert detect_palette(rng.integers(0, 256, (100, 120, 3), dtype=np.uint8)) is None
    # a colourful frame of two flat regions lies on a palette's curve but uses a sliver of it
    two_tone = np.zeros((100, 120, 3), dtype=np.uint8)
    two_tone[:, :60] = palettes()["jet"][40]
    two_tone[:, 60:] = palettes()["jet"][44]
    assert detect_palette(two_tone) is None
    # smooth random colour fields (sky, haze, a visible-band frame) stay as they are, but for a rare one
    fields = [cv2.GaussianBlur(rng.normal(size=(120, 160, 3)), (0, 0), rng.uniform(2, 20)) for _ in range(100)]
    frames = [np.clip((f - f.min()) / (np.ptp(f) + 1e-9) * rng.uniform(40, 255) + rng.uniform(0, 100), 0, 255)
              for f in fields]
    assert sum(detect_palette(f.astype(np.uint8)) is not None for f in frames) <= 2


def test_a_palette_sample_gives_the_grey_samples_targets() -> None:
    """The shipped model on an embedded sample drawn with `hot` finds what it finds on the grey
    frame; with decoding off, the same frame as BGR does not give the same result."""
    image = cv2.imread(str(sorted((SAMPLES / "images").glob("*.png"))[3]), cv2.IMREAD_GRAYSCALE)
    grey_targets = FramePipeline(Segmenter(backend="onnxruntime")).process(image).kept
    hot = palettes()["hot"][image]
    result = FramePipeline(Segmenter(backend="onnxruntime")).process(hot)
    decoded = result.kept
    assert result.saliency.palette == "hot"  # the result says what was decoded (the Single frame page shows it)
    assert frame_report(hot, result).palette == "hot"
    raw = Segmenter(backend="onnxruntime", palettes=False).predict(hot).logits
    assert grey_targets and len(decoded) == len(grey_targets)
    for got, want in zip(sorted(decoded, key=lambda t: (t.x, t.y)), sorted(grey_targets, key=lambda t: (t.x, t.y)),
                         strict=True):
        assert np.hypot(got.x - want.x, got.y - want.y) < 0.5
    grey_logits = Segmenter(backend="onnxruntime").predict(image).logits
    assert np.abs(raw - grey_logits).max() > 1.0  # the decoding is what made them agree


def test_a_colour_frame_no_palette_decodes_is_flagged_and_logged_once(caplog: pytest.LogCaptureFixture) -> None:
    """A palette the decoder does not know (a diverging blue-white-red one here) runs as colour and loses
    targets; the report and the log say so, where a known palette, a grey or a tinted frame says nothing."""
    grey = scene(5)
    ramp = np.linspace(0, 1, 256)[:, None]
    diverging = np.rint(np.hstack([1 - np.abs(ramp - 1) ** 2, 1 - np.abs(2 * ramp - 1), 1 - ramp ** 2]) * 255)
    coloured = diverging.astype(np.uint8)[grey]  # BGR: blue at the bottom, white in the middle, red at the top
    assert detect_palette(coloured) is None and colourful(coloured)
    segmenter = Segmenter(backend="onnxruntime", confirm=None)
    pipeline = FramePipeline(segmenter)
    with caplog.at_level("WARNING", logger="lwirst.inference"):
        unknown = frame_report(coloured, pipeline.process(coloured))
        pipeline.process(coloured)
    assert unknown.as_colour and not unknown.palette
    warned = [r.message for r in caplog.records]
    assert len(warned) == 1 and warned[0].startswith("a colour frame drawn with no pseudo-colour palette")
    jet = palettes()["jet"][grey]
    tinted = cv2.cvtColor(grey, cv2.COLOR_GRAY2BGR)
    tinted[..., 0] = (tinted[..., 0] * 0.96).astype(np.uint8)  # a mild cast, as SIRST's colour frames have
    for quiet in (jet, grey, tinted):
        assert not frame_report(quiet, pipeline.process(quiet)).as_colour
    assert not colourful(grey) and not colourful(tinted) and colourful(jet)


def test_colour_suite_draws_val_in_thermal_palettes(data_root) -> None:
    """The colour suite's parts are deterministic, keep the masks of the frames they are made from,
    and nearly every palette frame is recognised as the palette it was drawn with."""
    from lwirst.suite import THERMAL_PALETTES, build_suite

    parts = {p.name: p for p in build_suite("colour", data_root, synthetic_frames=2)}
    assert set(parts) == {"palette-val", "tint-val", "palette-mosaic-640", "empty-palette-1x",
                          "empty-palette-mosaic-640"}
    xdomain = {p.name: p for p in build_suite("xdomain", data_root, synthetic_frames=2)}
    recognised = 0
    for index in range(2 * len(THERMAL_PALETTES)):
        frame = parts["palette-val"].load(index)
        assert frame.image.ndim == 3 and np.array_equal(frame.mask, xdomain["sirst-val"].load(index).mask)
        match = detect_palette(frame.image)
        recognised += match is not None and match.name == THERMAL_PALETTES[index % len(THERMAL_PALETTES)]
    assert recognised >= 14  # a rare JPEG-coded frame with strong colour edges is missed
    again = {p.name: p for p in build_suite("colour", data_root, synthetic_frames=2)}
    for name in parts:
        a, b = parts[name].load(1), again[name].load(1)
        assert np.array_equal(a.image, b.image) and np.array_equal(a.mask, b.mask)
    tinted = parts["tint-val"].load(0)
    assert detect_palette(tinted.image) is None and tinted.mask.any()
    assert parts["palette-mosaic-640"].load(0).mask.any()
    assert not parts["empty-palette-mosaic-640"].load(0).mask.any()
    assert parts["palette-mosaic-640"].split == "colour"


def test_training_palettes_are_known_ones_or_curves_of_rising_luminance() -> None:
    from lwirst.palettes import random_palette

    known = {table.tobytes() for table in palettes().values()}
    drawn = [random_palette(np.random.default_rng(seed)) for seed in range(40)]
    assert any(t.tobytes() in known for t in drawn) and any(t.tobytes() not in known for t in drawn)
    for table in drawn:
        assert table.shape == (256, 3) and table.dtype == np.uint8
        if table.tobytes() not in known:
            luminance = table.astype(float) @ np.array([0.114, 0.587, 0.299])
            assert (np.diff(luminance) >= -1.0).all()  # brighter colour, higher intensity (up to rounding)
    assert np.array_equal(random_palette(np.random.default_rng(5)), random_palette(np.random.default_rng(5)))
