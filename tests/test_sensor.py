"""Sensor noise (`lwirst.sensor`) and the recipe option that adds it to training frames."""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lwirst.errors import LwirstError
from lwirst.sensor import NOISE_STD, add_sensor_noise, draw_noise_std
from lwirst.train import RECIPES, Recipe


@given(std=st.floats(0.5, 20.0), level=st.integers(40, 215), seed=st.integers(0, 2**31))
@settings(max_examples=25, deadline=None)
def test_noise_has_the_asked_level_and_no_bias(std: float, level: int, seed: int) -> None:
    image = np.full((128, 128, 3), level, np.uint8)
    out = add_sensor_noise(image, std, np.random.default_rng(seed))
    assert out.dtype == np.uint8 and out.shape == image.shape
    assert np.array_equal(out[..., 0], out[..., 1]) and np.array_equal(out[..., 1], out[..., 2])  # one sensor
    diff = out[..., 0].astype(np.float64) - level
    expected = math.sqrt(std**2 + 1 / 12)  # rounding to grey levels adds a uniform error
    if level - 4 * std > 0 and level + 4 * std < 255:  # clipping would shrink the spread
        assert diff.std() == pytest.approx(expected, rel=0.08)
        assert abs(diff.mean()) < 0.05 * expected + 0.02


def test_noise_is_clipped_to_eight_bits_and_seeded() -> None:
    image = np.zeros((64, 64), np.uint8)
    image[:, 32:] = 255
    a = add_sensor_noise(image, 10.0, np.random.default_rng(3))
    b = add_sensor_noise(image, 10.0, np.random.default_rng(3))
    assert a.ndim == 2 and np.array_equal(a, b)
    assert a[:, :32].min() == 0 and a[:, 32:].max() == 255 and a[:, :32].max() > 0


def test_noise_levels_are_drawn_log_uniformly_within_bounds() -> None:
    rng = np.random.default_rng(0)
    levels = np.array([draw_noise_std(rng) for _ in range(4000)])
    assert levels.min() >= NOISE_STD[0] and levels.max() <= NOISE_STD[1]
    assert np.median(levels) == pytest.approx(math.sqrt(NOISE_STD[0] * NOISE_STD[1]), rel=0.08)


def test_recipe_noise_is_a_probability() -> None:
    with pytest.raises(LwirstError, match="noise must be a probability"):
        Recipe(noise=1.5).validate()
    Recipe(noise=0.5).validate()


def test_training_frames_get_noise_only_with_the_option(data_root) -> None:
    """The same draws with and without `noise` give the same frame up to added noise within NOISE_STD (in
    grey levels, through the normalisation): the noise comes after every other draw of the frame."""
    from lwirst.datasets import open_dataset
    from lwirst.preprocess import STD
    from lwirst.train import TrainSet

    dataset = open_dataset(data_root, "sirst", "train")
    clean_recipe = dataclasses.replace(RECIPES["finetune"], implant=0, synthetic=0, negatives=0, mosaic=0)
    noisy_recipe = dataclasses.replace(clean_recipe, noise=1.0)
    clean_set, noisy_set = TrainSet(dataset, clean_recipe), TrainSet(dataset, noisy_recipe)
    for index in range(3):
        clean, mask = clean_set.sample(index, np.random.default_rng(index))
        noisy, same_mask = noisy_set.sample(index, np.random.default_rng(index))
        assert np.array_equal(mask, same_mask)
        grey_levels = (noisy[0] - clean[0]) * STD[0] * 255  # channel 0 is R; every channel got the same noise
        inside = np.abs(clean[0]) < 1.5  # away from clipping
        assert NOISE_STD[0] * 0.8 <= float(grey_levels[inside].std()) <= NOISE_STD[1] * 1.2
