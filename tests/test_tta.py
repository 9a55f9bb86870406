"""Test-time flips: the logits averaged over mirrored copies of a frame, on every path a frame takes."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from lwirst.errors import LwirstError
from lwirst.inference import Segmenter
from lwirst.paths import REPO_ROOT

SAMPLE = sorted((REPO_ROOT / "data" / "samples" / "images").glob("*.png"))[0]


@pytest.fixture(scope="module")
def frame() -> np.ndarray:
    return cv2.imread(str(SAMPLE), cv2.IMREAD_GRAYSCALE)


@pytest.mark.parametrize("backend", ["torch", "onnxruntime"])
def test_hflip_is_the_mean_of_the_frame_and_its_mirror(frame: np.ndarray, backend: str) -> None:
    plain = Segmenter(backend=backend)
    expected = (plain.predict(frame).logits + plain.predict(frame[:, ::-1]).logits[:, ::-1]) / 2
    got = Segmenter(backend=backend, tta="hflip").predict(frame).logits
    np.testing.assert_allclose(got, expected, atol=1e-4)


def test_flip4_results_mirror_with_the_frame(frame: np.ndarray) -> None:
    """Averaged over all four mirrorings, the output of a mirrored frame is the mirrored output (frames
    whose sides are multiples of 8, so that native-size padding does not break the symmetry)."""
    segmenter = Segmenter(backend="onnxruntime", tta="flip4", protocol="native")
    large = cv2.resize(frame, (640, 512))
    for image in (frame, large):
        straight = segmenter.predict(image).logits
        np.testing.assert_allclose(segmenter.predict(image[::-1, ::-1]).logits, straight[::-1, ::-1], atol=1e-3)


def test_batches_average_like_single_frames(frame: np.ndarray) -> None:
    segmenter = Segmenter(backend="onnxruntime", tta="hflip")
    frames = [frame, frame[::-1], cv2.resize(frame, (640, 512))]
    for one, many in zip([segmenter.predict(f) for f in frames], segmenter.predict_batch(frames, batch_size=2),
                         strict=True):
        np.testing.assert_allclose(many.logits, one.logits, atol=1e-4)


def test_unknown_flip_setting_is_refused() -> None:
    with pytest.raises(LwirstError, match="test-time flips"):
        Segmenter(backend="onnxruntime", tta="rot90")
