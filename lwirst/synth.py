"""Synthetic infrared scenes and sequences with exact ground truth, deterministic by seed.

Real IR datasets are small and their masks are hand-drawn; synthetic scenes give
unlimited images whose masks, positions and contrast are known exactly, for tests,
demos and stress cases (dim targets, false-alarm bait, black-hot sensors).

Rendering (grey levels in float, quantised to uint8 at the end):

1. Background: fractal clouds (noise with a 1/f^beta power spectrum, thresholded
   to patches) over a sky gradient; for ``terrain`` a sky-ground line (a 1-D fractal
   ridge) with rough, warmer ground below.
2. Fixed-pattern noise (per-column and per-pixel offsets, constant over a sequence).
3. Clutter: blobs shaped like targets, as bright as targets, *not* in the mask.
4. Temporal Gaussian sensor noise (new in every frame).
5. Targets: a point target is a Gaussian PSF of std ``sigma``; an extended target is
   an ellipse (semi-axes, angle) blurred by a Gaussian PSF.

Mask rule: a target's mask is the pixels where its contribution is at least
``mask_fraction`` (default 0.5, i.e. its half-maximum extent) of its peak, the peak
being its largest pixel value before clipping by the frame border. The contribution
is truncated to the mask dilated by ``scr_guard`` pixels (square neighbourhood),
which changes it by under 1 % of the peak for the preset sizes.

SCR rule: SCR = (target peak - local background mean) / local background std.
The peak is the largest pixel of the target's mask; the local background is the
square window of half-size ``max(scr_window, mask half-extent + scr_guard + 3)``
around the mask centroid, minus every target's mask dilated by ``scr_guard``; the
std is floored at 1 grey level (the quantisation step). The target amplitude is
solved exactly so the float image meets the requested SCR; quantisation moves it by
a few hundredths, clipping at 255 lowers it, and a background already brighter than
the requested peak inside the mask (a target on a bright cloud edge, about 1 % of
targets) raises it: ``scr_measured`` records what the uint8 image has. Black-hot
frames are the white-hot frame inverted (255 - v), so SCR is measured with the
darkest mask pixel and the sign flipped.
"""

from __future__ import annotations

import csv
import dataclasses
import logging
import math
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from lwirst.errors import LwirstError
from lwirst.imageio import write_png
from lwirst.videoio import FrameWriter, open_writer

log = logging.getLogger(__name__)

Range = tuple[float, float]
Seed = int | Sequence[int]


@dataclass(frozen=True)
class SceneConfig:
    """Every knob of the generator; grey levels are white-hot 8-bit units.

    Ranges ``(lo, hi)`` are sampled uniformly per scene or per object. The sequence
    knobs (speed in px/frame, turn rate in rad/frame, blink probability per frame,
    crossing: at least two targets, the first two meeting mid-sequence) only affect
    `render_sequence`.
    """

    size: tuple[int, int] = (256, 256)
    background: str = "sky"
    sky_level: float = 80.0
    sky_gradient: float = 25.0
    cloud_cover: float = 0.4
    cloud_contrast: float = 45.0
    cloud_beta: float = 3.0
    horizon: Range = (0.45, 0.7)
    ridge: float = 0.06
    ground_level: float = 120.0
    ground_contrast: float = 20.0
    ground_beta: float = 2.4
    targets: tuple[int, int] = (1, 3)
    point_fraction: float = 0.6
    point_sigma: Range = (0.6, 1.3)
    extended_axes: Range = (2.0, 5.0)
    scr: Range = (3.0, 8.0)
    mask_fraction: float = 0.5
    clutter: tuple[int, int] = (0, 2)
    clutter_scr: Range = (3.0, 8.0)
    noise_std: float = 2.0
    fpn_std: float = 1.0
    black_hot: bool = False
    scr_window: int = 10
    scr_guard: int = 3
    speed: Range = (0.5, 2.0)
    turn_rate: Range = (-0.02, 0.02)
    blink: float = 0.0
    crossing: bool = False

    def __post_init__(self) -> None:
        self.validate()

    def validate(self) -> None:
        """Raise `LwirstError` naming the first knob that cannot render."""
        h, w = self.size
        ranges = {name: getattr(self, name) for name in (
            "horizon", "targets", "point_sigma", "extended_axes", "scr", "clutter", "clutter_scr", "speed",
            "turn_rate")}
        checks = [
            (32 <= h <= 8192 and 32 <= w <= 8192, "size must be between 32 and 8192 pixels per side"),
            (self.background in ("sky", "terrain"), "background must be 'sky' or 'terrain'"),
            (all(len(r) == 2 and r[0] <= r[1] for r in ranges.values()), "every range needs lo <= hi"),
            (self.targets[0] >= 0 and self.clutter[0] >= 0, "target and clutter counts must be >= 0"),
            (0 <= self.cloud_cover <= 1 and 0 <= self.point_fraction <= 1 and 0 <= self.blink < 1,
             "cloud_cover, point_fraction must be in [0, 1] and blink in [0, 1)"),
            (0 < self.mask_fraction < 1, "mask_fraction must be in (0, 1)"),
            (self.horizon[0] > 0 and self.horizon[1] < 1, "horizon must be inside (0, 1)"),
            (self.point_sigma[0] > 0 and self.extended_axes[0] >= 1,
             "point_sigma must be > 0 and extended_axes >= 1"),
            (self.scr[0] > 0 and self.clutter_scr[0] > 0, "SCR ranges must be positive"),
            (self.noise_std >= 0 and self.fpn_std >= 0, "noise levels must be >= 0"),
            (self.scr_window >= 3 and self.scr_guard >= 1, "scr_window >= 3 and scr_guard >= 1"),
        ]
        for ok, message in checks:
            if not ok:
                raise LwirstError(f"invalid scene config: {message}")

    def replace(self, **changes: object) -> SceneConfig:
        return dataclasses.replace(self, **changes)  # type: ignore[arg-type]

    @classmethod
    def preset(cls, name: str, **overrides: object) -> SceneConfig:
        """A named preset (see PRESETS) with optional field overrides."""
        if name not in PRESETS:
            raise LwirstError(f"unknown scene preset {name!r}; choose one of {', '.join(PRESETS)}")
        return PRESETS[name].replace(**overrides)


PRESETS: dict[str, SceneConfig] = {
    "sky": SceneConfig(),
    "terrain": SceneConfig(background="terrain", cloud_cover=0.3, scr=(2.5, 6.0), clutter=(1, 3)),
    "cluttered": SceneConfig(background="terrain", cloud_cover=0.6, cloud_contrast=55.0, targets=(1, 4),
                             scr=(2.5, 6.0), clutter=(5, 10), clutter_scr=(3.0, 8.0)),
    "dim": SceneConfig(cloud_cover=0.5, scr=(1.5, 3.0), noise_std=3.0, point_fraction=0.9,
                       point_sigma=(0.5, 1.0), clutter=(0, 2), clutter_scr=(1.5, 3.5)),
    # Calibrated on SIRST train (`lwirst synth --calibrate`): its targets measure 7-116 px
    # (5th-95th percentile, median 20) at SCR 4-83 (median 23); no target-shaped clutter,
    # since a blob identical to a target cannot be told from one.
    "sirst": SceneConfig(sky_level=90.0, sky_gradient=30.0, cloud_cover=0.5, cloud_contrast=50.0,
                         point_fraction=0.5, point_sigma=(1.0, 1.8), extended_axes=(2.5, 6.0),
                         scr=(5.0, 40.0), clutter=(0, 0)),
    "sirst_terrain": SceneConfig(background="terrain", sky_level=90.0, cloud_cover=0.4, cloud_contrast=40.0,
                                 point_fraction=0.5, point_sigma=(1.0, 1.8), extended_axes=(2.5, 6.0),
                                 scr=(5.0, 40.0), clutter=(0, 0)),
}


@dataclass(frozen=True)
class TargetInfo:
    """Ground truth of one target in one frame; x is the column, y the row (pixel centres)."""

    id: int
    kind: str
    x: float
    y: float
    sigma: float
    axes: tuple[float, float]
    angle: float
    scr: float
    scr_measured: float
    pixels: int
    visible: bool = True


@dataclass
class Scene:
    """A uint8 grey frame, its boolean mask and the targets in it."""

    image: np.ndarray
    mask: np.ndarray
    targets: list[TargetInfo]


@dataclass
class Frame(Scene):
    index: int = 0


@dataclass(frozen=True)
class _Blob:
    """A shape: a point PSF (axes 0) or a blurred ellipse."""

    kind: str
    sigma: float
    axes: tuple[float, float]
    angle: float

    @property
    def radius(self) -> float:
        return max(self.axes) + 2 * self.sigma


@dataclass
class _Stamp:
    """A blob at a position: crop slices in the frame, truncated contribution (peak 1), mask, support."""

    sl: tuple[slice, slice]
    c: np.ndarray
    mask: np.ndarray
    support: np.ndarray


# ---------------------------------------------------------------- background


def _fractal(shape: tuple[int, int], beta: float, rng: np.random.Generator) -> np.ndarray:
    """Zero-mean, unit-std noise whose power spectrum falls as 1/f^beta."""
    h, w = shape
    f = np.hypot(np.fft.fftfreq(h)[:, None], np.fft.rfftfreq(w)[None, :])
    f[0, 0] = 1.0
    spectrum = (rng.standard_normal(f.shape) + 1j * rng.standard_normal(f.shape)) * f ** (-beta / 2)
    spectrum[0, 0] = 0
    field = np.fft.irfft2(spectrum, s=shape)
    return (field - field.mean()) / max(float(field.std()), 1e-12)


def _background(cfg: SceneConfig, rng: np.random.Generator) -> np.ndarray:
    h, w = cfg.size
    rows = np.arange(h, dtype=np.float64)[:, None] / h
    noise = _fractal((h, w), cfg.cloud_beta, rng)
    cut = np.quantile(noise, 1 - cfg.cloud_cover) if cfg.cloud_cover > 0 else np.inf
    clouds = np.clip((noise - cut) / max(float(noise.max() - cut), 1e-6), 0, 1) ** 0.7
    sky = cfg.sky_level + cfg.sky_gradient * rows + cfg.cloud_contrast * clouds
    if cfg.background == "sky":
        return sky
    line = h * (rng.uniform(*cfg.horizon) + cfg.ridge * _fractal((1, w), 3.2, rng)[0])
    line = np.clip(line, 0.1 * h, 0.95 * h)
    ground = cfg.ground_level + cfg.ground_contrast * _fractal((h, w), cfg.ground_beta, rng)
    ground += 15.0 * (rows - line[None, :] / h)  # nearer ground is warmer
    alpha = np.clip(np.arange(h)[:, None] - line[None, :] + 0.5, 0, 1)  # one-pixel soft edge
    return sky * (1 - alpha) + ground * alpha


def _fixed_pattern(cfg: SceneConfig, rng: np.random.Generator) -> np.ndarray:
    h, w = cfg.size
    return cfg.fpn_std * (rng.standard_normal((1, w)) + 0.5 * rng.standard_normal((h, w)))


# ---------------------------------------------------------------- blobs


def _random_blob(cfg: SceneConfig, rng: np.random.Generator) -> _Blob:
    if rng.random() < cfg.point_fraction:
        return _Blob("point", float(rng.uniform(*cfg.point_sigma)), (0.0, 0.0), 0.0)
    a = float(rng.uniform(*cfg.extended_axes))
    return _Blob("extended", float(rng.uniform(0.5, 1.0)), (a, a * float(rng.uniform(0.5, 1.0))),
                 float(rng.uniform(0, math.pi)))


def _stamp(blob: _Blob, cy: float, cx: float, cfg: SceneConfig) -> _Stamp | None:
    """Render `blob` centred at (cy, cx); None when none of its mask falls in the frame."""
    h, w = cfg.size
    g = cfg.scr_guard
    reach = math.ceil(max(blob.axes) + max(4 * blob.sigma, g + 2)) + 1
    iy, ix = round(cy), round(cx)
    dy = np.arange(iy - reach, iy + reach + 1, dtype=np.float64)[:, None] - cy
    dx = np.arange(ix - reach, ix + reach + 1, dtype=np.float64)[None, :] - cx
    if blob.kind == "point":
        c = np.exp(-(dy**2 + dx**2) / (2 * blob.sigma**2))
    else:
        sub = (np.arange(4) + 0.5) / 4 - 0.5  # 4x4 supersampling of the ellipse coverage
        yy = dy[:, :, None, None] + sub[None, None, :, None]
        xx = dx[:, :, None, None] + sub[None, None, None, :]
        cos, sin = math.cos(blob.angle), math.sin(blob.angle)
        u, v = xx * cos + yy * sin, yy * cos - xx * sin
        cover = ((u / blob.axes[0]) ** 2 + (v / blob.axes[1]) ** 2 <= 1).mean(axis=(2, 3))
        c = cv2.GaussianBlur(cover.astype(np.float32), (0, 0), blob.sigma).astype(np.float64)
    c /= c.max()
    full_mask = c >= cfg.mask_fraction
    support = cv2.dilate(full_mask.astype(np.uint8), np.ones((2 * g + 1, 2 * g + 1), np.uint8)) > 0
    y0, x0 = iy - reach, ix - reach
    ys = slice(max(0, y0), min(h, iy + reach + 1))
    xs = slice(max(0, x0), min(w, ix + reach + 1))
    if ys.start >= ys.stop or xs.start >= xs.stop:
        return None
    local = (slice(ys.start - y0, ys.stop - y0), slice(xs.start - x0, xs.stop - x0))
    mask = full_mask[local]
    if not mask.any():
        return None
    return _Stamp((ys, xs), (c * support)[local], mask, support[local])


def _ring_stats(image: np.ndarray, ys: np.ndarray, xs: np.ndarray, excluded: np.ndarray, window: int,
                guard: int) -> tuple[float, float]:
    """Mean and std (floored at 1) of the local background of the target with pixels (ys, xs)."""
    h, w = image.shape
    cy, cx = round(float(ys.mean())), round(float(xs.mean()))
    extent = (max(int(ys.max() - ys.min()), int(xs.max() - xs.min())) + 1) // 2
    half = max(window, extent + guard + 3)
    box = (slice(max(0, cy - half), min(h, cy + half + 1)), slice(max(0, cx - half), min(w, cx + half + 1)))
    ring = image[box][~excluded[box]]
    if ring.size < 8:
        ring = image[~excluded] if (~excluded).any() else image.ravel()
    return float(ring.mean()), max(float(ring.std()), 1.0)


def measure_scr(image: np.ndarray, target_mask: np.ndarray, all_targets: np.ndarray | None = None, *,
                window: int = 10, guard: int = 3, black_hot: bool = False) -> float:
    """SCR of one target (boolean `target_mask`) in a grey image, by the module's SCR rule.

    `all_targets` is the union of every target's mask (default: this one), all of
    which are kept out of the background statistics.
    """
    image = np.asarray(image, dtype=np.float64)
    if not target_mask.any():
        raise ValueError("target_mask is empty")
    union = target_mask if all_targets is None else (all_targets | target_mask)
    kernel = np.ones((2 * guard + 1, 2 * guard + 1), np.uint8)
    excluded = cv2.dilate(union.astype(np.uint8), kernel) > 0
    ys, xs = np.nonzero(target_mask)
    mean, std = _ring_stats(image, ys, xs, excluded, window, guard)
    if black_hot:
        return (mean - float(image[target_mask].min())) / std
    return (float(image[target_mask].max()) - mean) / std


def _paint(canvas: np.ndarray, stamps: Sequence[_Stamp], scrs: Sequence[float], cfg: SceneConfig,
           noise: np.ndarray | None = None, rng: np.random.Generator | None = None) -> None:
    """Add each stamp to `canvas` (in place) with the amplitude that gives its requested SCR.

    The amplitude is the smallest one whose maximum over the mask reaches the target
    peak. When sensor noise inside the mask already nearly reaches it (amplitude
    under a quarter of SCR x std: the "target" would be a noise spike), the noise on
    the target's own pixels (`noise`, part of `canvas`) is redrawn, up to 20 times;
    past that the quarter is kept and ``scr_measured`` reports the higher SCR.
    """
    excluded = np.zeros(canvas.shape, dtype=bool)
    for st in stamps:
        excluded[st.sl] |= st.support
    for st, scr in zip(stamps, scrs, strict=True):
        ys, xs = np.nonzero(st.mask)
        mean, std = _ring_stats(canvas, ys + st.sl[0].start, xs + st.sl[1].start, excluded,
                                cfg.scr_window, cfg.scr_guard)
        region = canvas[st.sl]
        floor = 0.25 * scr * std
        for _ in range(20):
            amplitude = float(np.min((mean + scr * std - region[st.mask]) / st.c[st.mask]))
            if amplitude >= floor or noise is None or rng is None or cfg.noise_std == 0:
                break
            old = noise[st.sl][st.support]
            fresh = cfg.noise_std * rng.standard_normal(old.shape)
            region[st.support] += fresh - old
            noise[st.sl][st.support] = fresh
        region += max(amplitude, floor) * st.c


def _finish(canvas: np.ndarray, cfg: SceneConfig) -> np.ndarray:
    image = np.clip(np.rint(canvas), 0, 255).astype(np.uint8)
    return 255 - image if cfg.black_hot else image


def _target_info(tid: int, blob: _Blob, cy: float, cx: float, scr: float, stamp: _Stamp | None,
                 image: np.ndarray, union: np.ndarray, cfg: SceneConfig) -> TargetInfo:
    measured, pixels = float("nan"), 0
    if stamp is not None:
        own = np.zeros(union.shape, dtype=bool)
        own[stamp.sl] = stamp.mask
        pixels = int(own.sum())
        measured = measure_scr(image, own, union, window=cfg.scr_window, guard=cfg.scr_guard,
                               black_hot=cfg.black_hot)
    return TargetInfo(tid, blob.kind, round(cx, 3), round(cy, 3), round(blob.sigma, 3),
                      (round(blob.axes[0], 3), round(blob.axes[1], 3)), round(blob.angle, 3), round(scr, 3),
                      round(measured, 3), pixels, stamp is not None)


# ---------------------------------------------------------------- scenes


def _place(rng: np.random.Generator, cfg: SceneConfig, blob: _Blob,
           taken: list[tuple[float, float, float]], spacing: float) -> tuple[float, float] | None:
    """A centre at least `spacing` plus both radii away from every taken (y, x, radius); None if crowded."""
    h, w = cfg.size
    margin = blob.radius + 2
    for _ in range(200):
        y, x = rng.uniform(margin, h - 1 - margin), rng.uniform(margin, w - 1 - margin)
        if all(math.hypot(y - ty, x - tx) >= spacing + blob.radius + tr for ty, tx, tr in taken):
            return float(y), float(x)
    return None


def _static_layer(cfg: SceneConfig,
                  rng: np.random.Generator) -> tuple[np.ndarray, list[tuple[float, float, float]]]:
    """Background + fixed pattern + clutter, and the clutter positions (y, x, radius)."""
    canvas = _background(cfg, rng) + _fixed_pattern(cfg, rng)
    stamps, scrs, taken = [], [], []
    for _ in range(int(rng.integers(cfg.clutter[0], cfg.clutter[1] + 1))):
        blob = _random_blob(cfg, rng)
        spot = _place(rng, cfg, blob, taken, 2.0)
        if spot is None:
            continue
        stamp = _stamp(blob, *spot, cfg)
        if stamp is not None:
            stamps.append(stamp)
            scrs.append(float(rng.uniform(*cfg.clutter_scr)))
            taken.append((*spot, blob.radius))
    _paint(canvas, stamps, scrs, cfg)
    return canvas, taken


def render_scene(config: SceneConfig, seed: Seed = 0) -> Scene:
    """One frame with its exact mask; the same (config, seed) always gives the same bytes."""
    cfg = config
    rng = np.random.default_rng(seed)
    canvas, taken = _static_layer(cfg, rng)
    noise = cfg.noise_std * rng.standard_normal(canvas.shape)
    canvas += noise
    placed: list[tuple[_Blob, float, float, float, _Stamp]] = []
    for _ in range(int(rng.integers(cfg.targets[0], cfg.targets[1] + 1))):
        blob = _random_blob(cfg, rng)
        spot = _place(rng, cfg, blob, taken, float(cfg.scr_window))
        scr = float(rng.uniform(*cfg.scr))
        stamp = None if spot is None else _stamp(blob, *spot, cfg)
        if stamp is None:
            log.debug("scene too crowded: a target was dropped")
            continue
        placed.append((blob, *spot, scr, stamp))
        taken.append((*spot, blob.radius))
    _paint(canvas, [p[4] for p in placed], [p[3] for p in placed], cfg, noise, rng)
    return _assemble(canvas, placed, cfg)


def _assemble(canvas: np.ndarray, placed: Sequence[tuple[_Blob, float, float, float, _Stamp | None]],
              cfg: SceneConfig) -> Scene:
    image = _finish(canvas, cfg)
    mask = np.zeros(cfg.size, dtype=bool)
    for *_, stamp in placed:
        if stamp is not None:
            mask[stamp.sl] |= stamp.mask
    targets = [_target_info(i, blob, cy, cx, scr, stamp, image, mask, cfg)
               for i, (blob, cy, cx, scr, stamp) in enumerate(placed)]
    return Scene(image, mask, targets)


# ---------------------------------------------------------------- sequences


@dataclass(frozen=True)
class _Track:
    """Constant speed along a circular arc: heading(t) = heading + turn * t (closed form)."""

    blob: _Blob
    scr: float
    y0: float
    x0: float
    heading: float
    speed: float
    turn: float

    def position(self, t: float) -> tuple[float, float]:
        if abs(self.turn) < 1e-9:
            return (self.y0 + self.speed * t * math.sin(self.heading),
                    self.x0 + self.speed * t * math.cos(self.heading))
        r = self.speed / self.turn
        a0, a1 = self.heading, self.heading + self.turn * t
        return self.y0 - r * (math.cos(a1) - math.cos(a0)), self.x0 + r * (math.sin(a1) - math.sin(a0))


def _track_inside(track: _Track, frames: int, cfg: SceneConfig) -> bool:
    h, w = cfg.size
    m = track.blob.radius
    return all(m <= y <= h - 1 - m and m <= x <= w - 1 - m
               for y, x in (track.position(t) for t in range(0, frames, max(1, frames // 16))))


def _make_tracks(cfg: SceneConfig, frames: int, rng: np.random.Generator) -> list[_Track]:
    h, w = cfg.size
    tracks: list[_Track] = []
    count = int(rng.integers(cfg.targets[0], cfg.targets[1] + 1))
    for k in range(max(count, 2) if cfg.crossing else count):
        blob, scr = _random_blob(cfg, rng), float(rng.uniform(*cfg.scr))
        for attempt in range(200):
            heading = float(rng.uniform(0, 2 * math.pi))
            speed, turn = float(rng.uniform(*cfg.speed)), float(rng.uniform(*cfg.turn_rate))
            y0, x0 = float(rng.uniform(0, h)), float(rng.uniform(0, w))
            track = _Track(blob, scr, y0, x0, heading, speed, turn)
            if cfg.crossing and k == 1:
                # meet target 0 at mid-sequence, coming from at least 45 degrees away
                swerve = rng.choice([-1, 1]) * rng.uniform(math.pi / 4, 3 * math.pi / 4)
                heading = tracks[0].heading + float(swerve)
                track = dataclasses.replace(track, heading=heading, y0=0.0, x0=0.0)
                meet_y, meet_x = tracks[0].position(frames // 2)
                dy, dx = track.position(frames // 2)
                track = dataclasses.replace(track, y0=meet_y - dy, x0=meet_x - dx)
            if _track_inside(track, frames, cfg) or attempt == 199:
                break
        tracks.append(track)
    return tracks


def render_sequence(config: SceneConfig, frames: int, seed: Seed = 0) -> Iterator[Frame]:
    """Frames of targets moving over a fixed scene, yielded one at a time (no video in RAM).

    The background, fixed pattern and clutter stay put; sensor noise is redrawn each
    frame; each target keeps its SCR against its current local background. A target
    blinks off with probability `config.blink` per frame and is then absent from the
    mask (``visible`` False), as is one that left the frame.
    """
    if frames < 1:
        raise LwirstError("a sequence needs at least one frame")
    cfg = config
    rng = np.random.default_rng(seed)
    static, _ = _static_layer(cfg, rng)
    tracks = _make_tracks(cfg, frames, rng)
    for t in range(frames):
        noise = cfg.noise_std * rng.standard_normal(static.shape)
        canvas = static + noise
        placed = []
        for track in tracks:
            cy, cx = track.position(t)
            on = rng.random() >= cfg.blink
            placed.append((track.blob, cy, cx, track.scr, _stamp(track.blob, cy, cx, cfg) if on else None))
        visible = [p for p in placed if p[4] is not None]
        _paint(canvas, [p[4] for p in visible], [p[3] for p in visible], cfg, noise, rng)
        scene = _assemble(canvas, placed, cfg)
        yield Frame(scene.image, scene.mask, scene.targets, index=t)


# ---------------------------------------------------------------- writers

TARGET_FIELDS = ("id", "kind", "x", "y", "sigma", "axis_a", "axis_b", "angle", "scr", "scr_measured",
                  "pixels", "visible")


def _target_row(t: TargetInfo) -> list[object]:
    return [t.id, t.kind, t.x, t.y, t.sigma, t.axes[0], t.axes[1], t.angle, t.scr, t.scr_measured, t.pixels,
            int(t.visible)]


def _make_dir(path: Path) -> Path:
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise LwirstError(f"cannot create {path}: {exc.strerror}") from exc
    return path


def write_dataset(out: str | Path, count: int, config: SceneConfig | Sequence[SceneConfig], seed: int = 0, *,
                  test_fraction: float = 0.25, prefix: str = "synth") -> Path:
    """Write `count` scenes in the plain-folder layout the folder reader opens.

    images/<prefix>_NNNNN.png, masks/<prefix>_NNNNN.png (0/255), train.txt and test.txt
    (a seeded random `test_fraction` of the scenes) and targets.csv (one row per
    target). Scene i is rendered from seed (seed, i), so it does not depend on
    `count`; a list of configs is cycled over the scenes.
    """
    if count < 1:
        raise LwirstError("--count must be at least 1")
    if not 0 <= test_fraction < 1:
        raise LwirstError("test fraction must be in [0, 1)")
    configs = [config] if isinstance(config, SceneConfig) else list(config)
    root = Path(out)
    images, masks = _make_dir(root / "images"), _make_dir(root / "masks")
    names = [f"{prefix}_{i:05d}" for i in range(count)]
    with (root / "targets.csv").open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["name", *TARGET_FIELDS])
        for i, name in enumerate(names):
            scene = render_scene(configs[i % len(configs)], (seed, i))
            write_png(images / f"{name}.png", scene.image)
            write_png(masks / f"{name}.png", scene.mask.astype(np.uint8) * 255)
            writer.writerows([name, *_target_row(t)] for t in scene.targets)
    n_test = round(count * test_fraction)
    test = set(np.random.default_rng((seed, count)).permutation(count)[:n_test].tolist())
    (root / "train.txt").write_text("".join(f"{n}\n" for i, n in enumerate(names) if i not in test))
    (root / "test.txt").write_text("".join(f"{n}\n" for i, n in enumerate(names) if i in test))
    log.info("wrote %d scenes to %s (%d test)", count, root, n_test)
    return root


def write_video(path: str | Path, frames: Iterable[np.ndarray], fps: float = 25.0) -> str:
    """Stream grey or BGR uint8 frames into an MP4; returns the codec used (`lwirst.videoio.open_writer`'s)."""
    path = Path(path)
    _make_dir(path.parent)
    writer: FrameWriter | None = None
    codec, size = "", (0, 0)
    try:
        for frame in frames:
            bgr = cv2.cvtColor(frame, cv2.COLOR_GRAY2BGR) if frame.ndim == 2 else frame
            if writer is None:
                size = (bgr.shape[1], bgr.shape[0])
                writer, codec = open_writer(path, size, fps)
            if (bgr.shape[1], bgr.shape[0]) != size:
                raise LwirstError(f"{path}: frame size changed from {size[0]}x{size[1]} mid-video")
            writer.write(bgr)
    finally:
        if writer is not None:
            writer.release()
    if writer is None:
        raise LwirstError(f"{path}: no frames to write")
    return codec


def write_sequence(config: SceneConfig, frames: int, seed: int = 0, *, video: str | Path | None = None,
                   frames_dir: str | Path | None = None, fps: float = 25.0) -> list[Path]:
    """Render a sequence once into an MP4 and/or a folder, each with a ground-truth track CSV.

    The video gets ``<stem>_tracks.csv`` beside it; the folder gets images/NNNNNN.png,
    masks/NNNNNN.png (a plain-folder dataset) and tracks.csv. Rows: frame, then the
    TargetInfo fields. Returns the written paths.
    """
    if video is None and frames_dir is None:
        raise LwirstError("choose a video path, a frames folder or both")
    csv_paths = []
    if video is not None:
        csv_paths.append(Path(video).with_name(Path(video).stem + "_tracks.csv"))
    if frames_dir is not None:
        folder = Path(frames_dir)
        _make_dir(folder / "images")
        _make_dir(folder / "masks")
        csv_paths.append(folder / "tracks.csv")
    for p in csv_paths:
        _make_dir(p.parent)
    handles = [p.open("w", newline="") for p in csv_paths]
    try:
        writers = [csv.writer(h) for h in handles]
        for w in writers:
            w.writerow(["frame", *TARGET_FIELDS])

        def images() -> Iterator[np.ndarray]:
            for frame in render_sequence(config, frames, seed):
                for w in writers:
                    w.writerows([frame.index, *_target_row(t)] for t in frame.targets)
                if frames_dir is not None:
                    write_png(Path(frames_dir) / "images" / f"{frame.index:06d}.png", frame.image)
                    write_png(Path(frames_dir) / "masks" / f"{frame.index:06d}.png",
                               frame.mask.astype(np.uint8) * 255)
                yield frame.image

        if video is not None:
            codec = write_video(video, images(), fps)
            log.info("wrote %d frames to %s (%s)", frames, video, codec)
        else:
            for _ in images():
                pass
    finally:
        for h in handles:
            h.close()
    written = [Path(video)] if video is not None else []
    return written + ([Path(frames_dir)] if frames_dir is not None else []) + csv_paths
