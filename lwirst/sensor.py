"""Sensor noise: what other cameras add that SIRST's frames lack.

SIRST's frames are nearly noise-free (median 0.17 grey levels, 95th percentile 0.62, by
`lwirst.calibration.noise_std`, as `lwirst synth --calibrate` prints it); an uncooled sensor's
frame after its gain control carries a few grey levels of temporal noise. A network that has only
seen clean frames reads noise texture as "no target here": with 2 grey levels of added noise the
round-41 model lost 0.05 of the cross-domain suite's Pd, with 5, 0.17, while raising no more
alarms. Training draws (`Recipe.noise`) and the ``noisy`` validation suite (`lwirst.suite`) both
add it with this one function. (Round 42: fine-tuning with it did not win those targets back;
noise lowers a dim target's SCR for any network.)
"""

from __future__ import annotations

import math

import numpy as np

NOISE_STD = (0.5, 4.0)  # grey levels, log-uniform: the synthetic generator's own range (`trainmix`)


def draw_noise_std(rng: np.random.Generator, bounds: tuple[float, float] = NOISE_STD) -> float:
    """A noise level drawn log-uniformly from `bounds` (as many dim levels as strong ones)."""
    return math.exp(rng.uniform(math.log(bounds[0]), math.log(bounds[1])))


def add_sensor_noise(image: np.ndarray, std: float, rng: np.random.Generator) -> np.ndarray:
    """`image` (8-bit grey or BGR) with zero-mean Gaussian noise of `std` grey levels added, the same
    on every channel (one sensor, one grey level per pixel), rounded and clipped back to 8 bits."""
    noise = rng.standard_normal(image.shape[:2]).astype(np.float32) * np.float32(std)
    if image.ndim == 3:
        noise = noise[..., None]
    return np.clip(np.rint(image.astype(np.float32) + noise), 0, 255).astype(np.uint8)
