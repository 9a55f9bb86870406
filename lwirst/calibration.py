"""Measure real and synthetic IR frames the same way, so the generator can be checked against SIRST.

A generator is only useful for training if its scenes look like the sensor's: the
same grey levels, clutter texture, target sizes, contrast and noise. Every frame,
real or generated, goes through `measure_frame`:

* grey level: the frame as 8-bit grey (`to_bgr` + cvtColor), per-frame mean and
  std and a pooled 256-level histogram;
* clutter spectrum: targets inpainted away (`implant.remove_targets`), the largest
  centred square resized to ``SPECTRUM_SIZE`` (so frames of any size share one
  frequency axis), Hann-windowed; beta is minus the slope of log power vs log
  frequency over ``FIT_BAND`` (cycles/pixel), where clutter dominates both the
  frame-scale gradient and the noise floor;
* sensor noise: the std implied by the mean absolute Immerkaer residual (a 3x3
  kernel that cancels planes and quadratic surfaces, so smooth clutter barely leaks
  in) over the smoother half of the frame, away from targets;
* targets: each 8-connected component of the mask, its pixel count and its SCR by
  `synth.measure_scr` with the other targets kept out of its background.

`compare` puts a generator's distributions beside the reference's: percentiles and
the two-sample Kolmogorov-Smirnov statistic (largest CDF gap, 0 = same, 1 = disjoint).
"""

from __future__ import annotations

import logging
import math
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np
from scipy.stats import ks_2samp

from lwirst.datasets import SegDataset
from lwirst.imageio import to_bgr
from lwirst.implant import remove_targets
from lwirst.synth import SceneConfig, measure_scr, render_scene

log = logging.getLogger(__name__)

PERCENTILES = (5, 25, 50, 75, 95)
HISTOGRAM_BINS = 64
SPECTRUM_SIZE = 128
FIT_BAND = (1 / 32, 1 / 4)
# Immerkaer (1996): second differences in both axes; its squared weights sum to 36.
_IMMERKAER = np.array([[1, -2, 1], [-2, 4, -2], [1, -2, 1]], np.float64)

STATISTICS: dict[str, str] = {
    "grey_level": "grey level (pooled pixels)",
    "grey_mean": "frame grey mean",
    "grey_std": "frame grey std",
    "spectrum_beta": "clutter spectrum slope beta",
    "noise": "sensor noise std",
    "target_pixels": "target size (pixels)",
    "target_scr": "target SCR",
}


@dataclass(frozen=True)
class Summary:
    """Percentiles (5/25/50/75/95) of one statistic over `n` values; NaN when n is 0."""

    n: int
    p5: float
    p25: float
    p50: float
    p75: float
    p95: float

    @classmethod
    def of(cls, values: np.ndarray) -> Summary:
        values = np.asarray(values, np.float64)
        values = values[np.isfinite(values)]
        if values.size == 0:
            return cls(0, *([math.nan] * len(PERCENTILES)))
        return cls(int(values.size), *(float(v) for v in np.percentile(values, PERCENTILES)))


@dataclass
class FrameStats:
    """Everything measured on one frame; `spectrum` is the radial power at radii 1..SPECTRUM_SIZE/2."""

    name: str
    shape: tuple[int, int]
    grey_mean: float
    grey_std: float
    spectrum_beta: float
    noise: float
    histogram: np.ndarray
    spectrum: np.ndarray
    target_pixels: list[int] = field(default_factory=list)
    target_scr: list[float] = field(default_factory=list)


@dataclass
class Measurement:
    """The frames of one source (a dataset split or a generator) and their pooled statistics."""

    label: str
    frames: list[FrameStats]

    @property
    def targets(self) -> int:
        return sum(len(f.target_pixels) for f in self.frames)

    def values(self, statistic: str) -> np.ndarray:
        """One value per frame (frame statistics) or per target (target statistics)."""
        if statistic == "grey_level":
            raise ValueError("grey_level is pooled: use histogram()")
        if statistic.startswith("target_"):
            return np.array([v for f in self.frames for v in getattr(f, statistic)], np.float64)
        return np.array([getattr(f, statistic) for f in self.frames], np.float64)

    def histogram(self, bins: int = 256) -> np.ndarray:
        """Pooled grey-level histogram of every pixel, normalised to sum 1, in `bins` equal bins."""
        counts = np.sum([f.histogram for f in self.frames], axis=0, dtype=np.float64)
        if 256 % bins:
            raise ValueError("bins must divide 256")
        counts = counts.reshape(bins, 256 // bins).sum(axis=1)
        return counts / max(counts.sum(), 1.0)

    def mean_spectrum(self) -> np.ndarray:
        """Median over frames of the radial power spectrum, each frame normalised to unit total power."""
        rows = [f.spectrum / f.spectrum.sum() for f in self.frames if f.spectrum.sum() > 0]
        return np.median(rows, axis=0) if rows else np.full(SPECTRUM_SIZE // 2, math.nan)

    def summary(self, statistic: str) -> Summary:
        if statistic == "grey_level":
            cdf = np.cumsum(self.histogram())
            levels = [float(np.searchsorted(cdf, q / 100)) for q in PERCENTILES]
            total = int(sum(int(f.histogram.sum()) for f in self.frames))
            return Summary(total, *levels)
        return Summary.of(self.values(statistic))


@dataclass(frozen=True)
class Comparison:
    """One statistic of a candidate beside the reference; `median_ratio` is candidate p50 / reference p50."""

    statistic: str
    reference: Summary
    candidate: Summary
    ks: float
    median_ratio: float


# ---------------------------------------------------------------- measurements


def noise_std(grey: np.ndarray, exclude: np.ndarray | None = None) -> float:
    """White sensor-noise std: Immerkaer's sqrt(pi/2) * mean|residual| / 6 over the smoother half of the frame.

    Pixels are kept where the Sobel gradient is at or below its median (and not in
    `exclude`), so cloud and horizon edges stay out. For Gaussian noise the Sobel
    and Immerkaer outputs are independent (odd and even kernels), so the selection
    does not bias the estimate. A mean of absolute values, not a MAD: residuals of
    8-bit frames are multiples of 1, which would make a MAD jump in steps of 0.25
    grey levels, too coarse for real frames whose noise is below one grey level.
    """
    g = np.asarray(grey, np.float64)
    residual = cv2.filter2D(g, cv2.CV_64F, _IMMERKAER, borderType=cv2.BORDER_REFLECT)
    gradient = np.hypot(cv2.Sobel(g, cv2.CV_64F, 1, 0), cv2.Sobel(g, cv2.CV_64F, 0, 1))
    keep = np.ones(g.shape, dtype=bool)
    keep[[0, -1], :] = False
    keep[:, [0, -1]] = False
    if exclude is not None:
        keep &= ~exclude
    if keep.sum() < 16:
        return math.nan
    keep &= gradient <= np.median(gradient[keep])
    return float(math.sqrt(math.pi / 2) * np.abs(residual[keep]).mean() / 6.0)


def radial_spectrum(grey: np.ndarray, size: int = SPECTRUM_SIZE) -> np.ndarray:
    """Radially averaged power at integer radii 1..size/2 of the centred square, resized to size x size.

    Resizing puts every frame on one frequency axis (cycles/pixel of the resized
    square); a power law keeps its slope under resizing, so beta stays comparable.
    """
    image = np.asarray(grey, np.float64)
    h, w = image.shape
    side = min(h, w)
    top, left = (h - side) // 2, (w - side) // 2
    square = image[top:top + side, left:left + side]
    if side != size:
        interp = cv2.INTER_AREA if side > size else cv2.INTER_LINEAR
        square = cv2.resize(square, (size, size), interpolation=interp)
    window = np.hanning(size)
    spectrum = np.abs(np.fft.fft2((square - square.mean()) * np.outer(window, window))) ** 2
    k = np.fft.fftfreq(size) * size
    radius = np.rint(np.hypot(k[:, None], k[None, :])).astype(int)
    half = size // 2
    inside = (radius >= 1) & (radius <= half)
    sums = np.bincount(radius[inside], weights=spectrum[inside], minlength=half + 1)
    counts = np.bincount(radius[inside], minlength=half + 1)
    return sums[1:] / np.maximum(counts[1:], 1)


def spectrum_slope(spectrum: np.ndarray, size: int = SPECTRUM_SIZE, band: tuple[float, float] = FIT_BAND) -> float:
    """beta of P(f) ~ 1/f^beta: minus the least-squares slope of log P vs log f over `band`."""
    freqs = np.arange(1, len(spectrum) + 1) / size
    use = (freqs >= band[0]) & (freqs <= band[1]) & (spectrum > 0)
    if use.sum() < 3:
        return math.nan
    slope = np.polyfit(np.log(freqs[use]), np.log(spectrum[use]), 1)[0]
    return float(-slope)


def target_stats(grey: np.ndarray, mask: np.ndarray) -> tuple[list[int], list[float]]:
    """Pixel count and SCR of every 8-connected target of `mask` (others kept out of its background)."""
    count, labels, stats, _ = cv2.connectedComponentsWithStats(mask.astype(np.uint8), connectivity=8)
    pixels, scrs = [], []
    for k in range(1, count):
        own = labels == k
        pixels.append(int(stats[k, cv2.CC_STAT_AREA]))
        scrs.append(measure_scr(grey, own, mask))
    return pixels, scrs


def measure_frame(image: np.ndarray, mask: np.ndarray, name: str = "") -> FrameStats:
    """Every statistic of one frame (any supported image) and its boolean target mask."""
    bgr = to_bgr(image)
    grey = cv2.cvtColor(bgr, cv2.COLOR_BGR2GRAY)
    mask = np.asarray(mask, dtype=bool)
    if mask.shape != grey.shape:
        raise ValueError(f"{name or 'frame'}: mask {mask.shape} does not match image {grey.shape}")
    background = cv2.cvtColor(remove_targets(bgr, mask), cv2.COLOR_BGR2GRAY)
    spectrum = radial_spectrum(background)
    near_targets = cv2.dilate(mask.astype(np.uint8), np.ones((7, 7), np.uint8)) > 0
    pixels, scrs = target_stats(grey, mask)
    return FrameStats(
        name=name, shape=(int(grey.shape[0]), int(grey.shape[1])),
        grey_mean=float(grey.mean()), grey_std=float(grey.std()),
        spectrum_beta=spectrum_slope(spectrum), noise=noise_std(grey, near_targets),
        histogram=np.bincount(grey.ravel(), minlength=256).astype(np.int64), spectrum=spectrum,
        target_pixels=pixels, target_scr=scrs)


def measure(frames: Iterable[tuple[str, np.ndarray, np.ndarray]], label: str) -> Measurement:
    """Measure (name, image, mask) triples into one `Measurement`."""
    stats = [measure_frame(image, mask, name) for name, image, mask in frames]
    log.info("measured %s: %d frames, %d targets", label, len(stats), sum(len(s.target_pixels) for s in stats))
    return Measurement(label, stats)


def dataset_frames(dataset: SegDataset) -> Iterator[tuple[str, np.ndarray, np.ndarray]]:
    for i in range(len(dataset)):
        sample = dataset.load(i)
        yield sample.name, sample.image, sample.mask


def config_frames(configs: Iterable[SceneConfig], seeds: Iterable[object]) -> Iterator[tuple[str, np.ndarray,
                                                                                                np.ndarray]]:
    """Render each config with its seed (white-hot, as measured)."""
    for i, (cfg, seed) in enumerate(zip(configs, seeds, strict=True)):
        scene = render_scene(cfg, seed)  # type: ignore[arg-type]
        yield f"scene_{i:05d}", scene.image, scene.mask


# ---------------------------------------------------------------- comparison


def compare(reference: Measurement, candidate: Measurement) -> list[Comparison]:
    """Per statistic (STATISTICS order): both summaries, KS statistic and the ratio of medians."""
    out = []
    for statistic in STATISTICS:
        ref, cand = reference.summary(statistic), candidate.summary(statistic)
        if statistic == "grey_level":
            ks = float(np.max(np.abs(np.cumsum(reference.histogram()) - np.cumsum(candidate.histogram()))))
        else:
            a, b = reference.values(statistic), candidate.values(statistic)
            a, b = a[np.isfinite(a)], b[np.isfinite(b)]
            ks = float(ks_2samp(a, b).statistic) if a.size and b.size else math.nan
        ratio = cand.p50 / ref.p50 if ref.p50 not in (0.0,) and math.isfinite(ref.p50) else math.nan
        out.append(Comparison(statistic, ref, cand, ks, ratio))
    return out


# ---------------------------------------------------------------- figure


def _ecdf(ax: object, values: np.ndarray, label: str, **style: object) -> None:
    values = np.sort(values[np.isfinite(values)])
    if values.size:
        ax.step(values, np.arange(1, values.size + 1) / values.size, where="post", label=label,  # type: ignore[attr-defined]
                **style)


def plot(reference: Measurement, candidates: Sequence[Measurement], path: str | Path) -> Path:
    """A PNG of the reference (black) against each candidate: histogram, spectra and four ECDFs."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    sources = [reference, *candidates]
    styles = [{"color": "black", "linewidth": 2.2}] + [{"color": c, "linewidth": 1.4}
                                                       for c in ("tab:orange", "tab:blue", "tab:green", "tab:red")]
    fig, axes = plt.subplots(2, 3, figsize=(15, 8.5))
    ax = axes[0, 0]
    edges = np.arange(HISTOGRAM_BINS + 1) * (256 / HISTOGRAM_BINS)
    for m, st in zip(sources, styles, strict=False):
        ax.stairs(m.histogram(HISTOGRAM_BINS), edges, label=m.label, **st)
    ax.set(title="grey-level histogram (pooled, 64 bins)", xlabel="grey level", ylabel="fraction of pixels")
    ax = axes[0, 1]
    freqs = np.arange(1, SPECTRUM_SIZE // 2 + 1) / SPECTRUM_SIZE
    for m, st in zip(sources, styles, strict=False):
        ax.loglog(freqs, m.mean_spectrum(), label=m.label, **st)
    for f in FIT_BAND:
        ax.axvline(f, color="grey", linestyle=":", linewidth=1)
    ax.set(title="clutter power spectrum (median; fit band dotted)", xlabel="cycles / pixel",
           ylabel="normalised power")
    panels = [("spectrum_beta", axes[0, 2], False), ("target_pixels", axes[1, 0], True),
              ("target_scr", axes[1, 1], True), ("noise", axes[1, 2], False)]
    for statistic, ax, log_x in panels:
        for m, st in zip(sources, styles, strict=False):
            _ecdf(ax, m.values(statistic), m.label, **st)
        if log_x:
            ax.set_xscale("log")
        ax.set(title=STATISTICS[statistic] + " (ECDF)", xlabel=STATISTICS[statistic], ylabel="fraction <= x")
    for ax in axes.flat:
        ax.grid(alpha=0.3)
    axes[0, 0].legend(fontsize=8)
    fig.suptitle(f"Generator calibration: {reference.label} vs " + ", ".join(m.label for m in candidates))
    fig.tight_layout()
    path = Path(path)
    fig.savefig(path, dpi=90)
    plt.close(fig)
    log.info("wrote %s", path)
    return path
