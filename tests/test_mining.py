"""Hard-negative mining (`lwirst.mining`): crops that hold the network's own false alarms, deterministic by
seed, and the trainer's refusal to mine without weights to start from."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from lwirst.config import NetConfig
from lwirst.datasets import open_dataset
from lwirst.errors import LwirstError
from lwirst.inference import PLAIN, Segmenter
from lwirst.mining import MARGIN, MiningPlan, crop_around, mine_hard_negatives
from lwirst.postprocess import detect
from lwirst.train import Recipe, Trainer
from lwirst.trainmix import FrameBank, Geometry

SIZE = 64
PLAN = MiningPlan(mosaics=2, enlarged=2, per_frame=3, shape=(256, 320))


def spot_detector(margin: float) -> torch.nn.Module:
    """A network with fixed weights: a positive logit where a pixel outshines its 5x5 neighbourhood by more
    than `margin` (in normalised units). It fires on any bright spot, so every spot of a target-free frame
    is a false alarm of it."""
    conv = torch.nn.Conv2d(3, 1, 5, padding=2)
    with torch.no_grad():
        conv.weight.fill_(-1.0 / 75)
        conv.weight[0, :, 2, 2] += 1.0 / 3
        conv.bias.fill_(-margin)
    return conv


def _backgrounds() -> list[np.ndarray]:
    """Flat target-free frames with a few bright 5x5 spots."""
    rng = np.random.default_rng(5)
    frames = []
    for _ in range(3):
        frame = np.full((240, 320), 100, np.uint8)
        for _ in range(4):
            y, x = int(rng.integers(10, 225)), int(rng.integers(10, 305))
            frame[y:y + 5, x:x + 5] = 255
        frames.append(np.repeat(frame[..., None], 3, axis=2))
    return frames


def test_every_crop_holds_a_false_alarm_of_the_network() -> None:
    model = spot_detector(margin=1.0)
    crops = mine_hard_negatives(model, _backgrounds(), SIZE, np.random.default_rng(0), PLAN)
    assert 0 < len(crops) <= PLAN.per_frame * (PLAN.mosaics + PLAN.enlarged)
    segmenter = Segmenter.from_module(spot_detector(margin=1.0), protocol="native", options=PLAIN)
    for crop in crops:
        assert crop.shape == (SIZE, SIZE, 3) and crop.dtype == np.uint8
        assert len(detect(segmenter.predict(crop).logits)) >= 1


def test_mining_is_deterministic_and_leaves_the_model_alone() -> None:
    model = spot_detector(margin=1.0).train()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    a = mine_hard_negatives(model, _backgrounds(), SIZE, np.random.default_rng(7), PLAN)
    b = mine_hard_negatives(model, _backgrounds(), SIZE, np.random.default_rng(7), PLAN)
    assert len(a) == len(b) > 0 and all(np.array_equal(x, y) for x, y in zip(a, b, strict=True))
    assert model.training and all(torch.equal(v, before[k]) for k, v in model.state_dict().items())


def test_a_quiet_network_gives_no_crops() -> None:
    assert mine_hard_negatives(spot_detector(margin=1e3), _backgrounds(), SIZE, np.random.default_rng(0), PLAN) == []


@settings(max_examples=60, deadline=None)
@given(h=st.integers(20, 200), w=st.integers(20, 200), fy=st.floats(0, 1), fx=st.floats(0, 1),
       seed=st.integers(0, 2**16))
def test_a_crop_keeps_its_target_inside(h: int, w: int, fy: float, fx: float, seed: int) -> None:
    """The crop is size x size whatever the frame; the target's centre lies in it, MARGIN pixels from the
    edges whenever the frame leaves room for that."""
    cy, cx = min(h - 1, int(fy * h)), min(w - 1, int(fx * w))
    logits = np.full((h, w), -5.0, np.float32)
    logits[cy, cx] = 5.0
    (target,) = detect(logits).targets
    frame = np.zeros((h, w, 3), np.uint8)
    frame[cy, cx] = 255
    crop = crop_around(frame, target, SIZE, np.random.default_rng(seed))
    assert crop.shape == (SIZE, SIZE, 3)
    ys, xs = np.nonzero(crop[..., 0] == 255)
    assert len(ys) >= 1  # the target's pixel is in the crop (mirrored copies may add more)
    if MARGIN <= cy < h - MARGIN and h >= SIZE:
        assert ((ys >= MARGIN) & (ys < SIZE - MARGIN)).any()
    if MARGIN <= cx < w - MARGIN and w >= SIZE:
        assert ((xs >= MARGIN) & (xs < SIZE - MARGIN)).any()


def test_the_bank_draws_mined_crops_with_empty_masks() -> None:
    frames = _backgrounds()
    bank = FrameBank(frames, [np.zeros(f.shape[:2], np.uint8) for f in frames], Geometry(SIZE, 0.8, 1.2))
    _, mask = bank.make("hard", np.random.default_rng(0))
    assert mask.shape == (SIZE, SIZE) and not mask.any()  # no crops mined yet: an ordinary negative
    bank.hard = mine_hard_negatives(spot_detector(margin=1.0), frames, SIZE, np.random.default_rng(0), PLAN)
    image, mask = bank.make("hard", np.random.default_rng(1))
    assert not mask.any() and any(np.array_equal(image, crop) for crop in bank.hard)


def test_hard_implant_puts_targets_on_the_mined_texture() -> None:
    """With hard_implant 1 a drawn crop carries implanted targets over the crop's own background (most pixels
    untouched); with 0 it stays an empty-mask crop."""
    frames = _backgrounds()
    crops = mine_hard_negatives(spot_detector(margin=1.0), frames, SIZE, np.random.default_rng(0), PLAN)
    masks = [np.zeros(f.shape[:2], np.uint8) for f in frames]
    plain, implanted = (FrameBank(frames, masks, Geometry(SIZE, 0.8, 1.2), hard_implant=p) for p in (0.0, 1.0))
    plain.hard = implanted.hard = crops
    found = 0
    for seed in range(8):
        image, mask = plain.make("hard", np.random.default_rng(seed))
        assert not mask.any() and any(np.array_equal(image, crop) for crop in crops)
        image, mask = implanted.make("hard", np.random.default_rng(seed))
        assert image.shape == (SIZE, SIZE, 3) and set(np.unique(mask)) <= {0, 1}
        closest = min(crops, key=lambda crop: int(np.abs(crop.astype(int) - image.astype(int)).sum()))
        assert np.mean(np.abs(closest.astype(int) - image.astype(int)).max(axis=2) <= 2) > 0.8
        found += bool(mask.any())
    assert found >= 6  # a target can fail to find room; most draws carry one


def test_hard_negatives_need_weights_to_start_from(synth_dir: Path, tmp_path: Path) -> None:
    train = open_dataset(synth_dir, "folder", "train")
    with pytest.raises(LwirstError, match="--init"):
        Trainer(tmp_path / "run", NetConfig(), Recipe(epochs=1, batch_size=4, size=SIZE, hard=0.5), train, None,
                threads=1)
    with pytest.raises(LwirstError, match="hard must be shares"):
        Recipe(hard=-1.0).validate()
    with pytest.raises(LwirstError, match="hard_implant must be a probability"):
        Recipe(hard=0.25, hard_implant=1.5).validate()
    with pytest.raises(LwirstError, match="give hard > 0"):
        Recipe(hard_implant=0.5).validate()
