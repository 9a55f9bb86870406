"""`lwirst average`: the soup is the element-wise mean of its ingredients, its BatchNorm
statistics are refitted on training frames, and bad ingredient lists are refused."""

from __future__ import annotations

import dataclasses
import shutil
from pathlib import Path

import pytest
import torch

from lwirst.checkpoint import load_checkpoint, save_checkpoint
from lwirst.cli import main
from lwirst.config import get_preset
from lwirst.errors import LwirstError
from lwirst.models import build_model
from lwirst.soup import average_states, recipe_of
from lwirst.train import RECIPES
from tests.conftest import soften_one_mask

SMALL_RECIPE = dataclasses.replace(RECIPES["finetune"], size=64, batch_size=2, implant=0.0, synthetic=0.0,
                                   negatives=0.0, mosaic=0.0, upscale=0.0)


@pytest.fixture(scope="module")
def fine_tunes(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    """Three networks with different random weights and BN statistics, saved with a small recipe."""
    folder = tmp_path_factory.mktemp("tunes")
    paths = []
    for seed in (1, 2, 3):
        torch.manual_seed(seed)
        net = build_model()
        with torch.no_grad():
            for module in net.modules():
                if isinstance(module, torch.nn.BatchNorm2d):
                    module.running_mean.normal_()
                    module.running_var.uniform_(0.5, 2.0)
        path = folder / f"run{seed}" / "last.safetensors"
        path.parent.mkdir()
        save_checkpoint(path, net.eval(), net.config, {"recipe": SMALL_RECIPE.to_dict()})
        paths.append(path)
    return paths


def _is_bn_stat(key: str) -> bool:
    return key.endswith(("running_mean", "running_var", "num_batches_tracked"))


def test_the_mean_of_the_states_is_taken_element_by_element(fine_tunes: list[Path]) -> None:
    _, mean, ingredients, _ = average_states(fine_tunes)
    states = [load_checkpoint(p)[1] for p in fine_tunes]
    for key, value in mean.items():
        if value.is_floating_point():
            expected = sum(s[key].double() for s in states) / 3
            torch.testing.assert_close(value.double(), expected, rtol=0, atol=1e-6)
            assert value.dtype == states[0][key].dtype
        else:
            assert torch.equal(value, states[0][key])
    assert [i["file"] for i in ingredients] == ["run1/last.safetensors", "run2/last.safetensors",
                                                "run3/last.safetensors"]
    assert len({i["sha256"] for i in ingredients}) == 3


def test_weights_move_the_mean_along_the_line_between_ingredients(fine_tunes: list[Path]) -> None:
    """Weights 3 and 1 give 0.75 a + 0.25 b for every float tensor, whatever their scale; the ingredients
    record the normalised weights."""
    _, mean, ingredients, _ = average_states(fine_tunes[:2], [3.0, 1.0])
    a, b = (load_checkpoint(p)[1] for p in fine_tunes[:2])
    for key, value in mean.items():
        if value.is_floating_point():
            torch.testing.assert_close(value.double(), 0.75 * a[key].double() + 0.25 * b[key].double(),
                                       rtol=0, atol=1e-6)
    assert [i["weight"] for i in ingredients] == [0.75, 0.25]
    _, same, _, _ = average_states(fine_tunes[:2], [30.0, 10.0])
    assert all(torch.equal(same[k], mean[k]) for k in mean)


@pytest.mark.parametrize("weights, message", [
    ([1.0], "one per checkpoint"),
    ([1.0, -1.0], "non-negative"),
    ([0.0, 0.0], "not all zero"),
    ([1.0, float("nan")], "finite"),
    ([float("inf"), float("-inf")], "finite"),
])
def test_bad_weights_are_refused(fine_tunes: list[Path], weights: list[float], message: str) -> None:
    with pytest.raises(LwirstError, match=message):
        average_states(fine_tunes[:2], weights)


def test_a_soup_of_identical_weights_is_those_weights(fine_tunes: list[Path], tmp_path: Path) -> None:
    copy = tmp_path / "copy.safetensors"
    config, state, meta = load_checkpoint(fine_tunes[0])
    net = build_model(config=config)
    net.load_state_dict(state)
    save_checkpoint(copy, net, config, {**meta, "note": "copy"})  # same tensors, another file
    _, mean, _, _ = average_states([fine_tunes[0], copy])
    for key, value in mean.items():
        assert torch.equal(value, state[key]), key


def test_batchnorm_is_never_refit_on_test_images(fine_tunes: list[Path], synth_dir: Path, tmp_path: Path,
                                                 capsys) -> None:
    """--split test was refused, but "all", which holds the test images, refit on them with no word."""
    out = tmp_path / "soup.safetensors"
    args = ["average", *map(str, fine_tunes), "--out", str(out), "--data-dir", str(synth_dir),
            "--dataset", "folder", "--split", "all", "--bn-batches", "1", "--batch-size", "2", "--threads", "1"]
    assert main(args) == 1
    assert "--split all: 4 of its 16 images are in the test split" in capsys.readouterr().err
    assert not out.exists()


def test_the_command_binarises_masks_that_are_not_binary_on_request(fine_tunes: list[Path], synth_dir: Path,
                                                                    tmp_path: Path, capsys) -> None:
    """A dataset with one softened (JPEG-like) mask: refused with the option named, which `average` now has, as
    `train` has; the record keeps the threshold."""
    data = tmp_path / "data"
    shutil.copytree(synth_dir, data)
    soften_one_mask(data)
    out = tmp_path / "soup.safetensors"
    args = ["average", *map(str, fine_tunes), "--out", str(out), "--data-dir", str(data), "--dataset", "folder",
            "--split", "train", "--bn-batches", "1", "--batch-size", "2", "--threads", "1"]
    assert main(args) == 1
    assert "mask is not binary" in capsys.readouterr().err and not out.exists()
    assert main([*args, "--mask-threshold", "0.5"]) == 0
    assert load_checkpoint(out)[2]["data"]["mask_threshold"] == 0.5


def test_the_command_writes_the_mean_with_refitted_batchnorm(fine_tunes: list[Path], synth_dir: Path,
                                                              tmp_path: Path, capsys) -> None:
    out = tmp_path / "soup.safetensors"
    args = ["average", *map(str, fine_tunes), "--out", str(out), "--data-dir", str(synth_dir),
            "--dataset", "folder", "--split", "train", "--bn-batches", "2", "--batch-size", "2", "--threads", "1"]
    assert main(args) == 0
    assert "mean of 3 checkpoints" in capsys.readouterr().out
    assert [i["weight"] for i in load_checkpoint(out)[2]["averaged"]] == pytest.approx([1 / 3] * 3)
    _, soup, meta = load_checkpoint(out)
    _, mean, _, _ = average_states(fine_tunes)
    refitted = 0
    for key, value in soup.items():
        if _is_bn_stat(key):
            if key.endswith("running_var"):
                assert bool((value > 0).all()), key
            refitted += not torch.allclose(value.double(), mean[key].double())
        else:
            torch.testing.assert_close(value, mean[key], rtol=0, atol=0)
    assert refitted > 0  # the averaged statistics were replaced, not kept
    assert [i["sha256"] for i in meta["averaged"]] == [i["sha256"] for i in average_states(fine_tunes)[2]]
    assert meta["bn_refit"] == {"batches": 2, "batch_size": 2, "seed": 0}
    assert meta["data"]["train_split"] == "train"  # the fine-tunes record no data: the refit split's images
    assert recipe_of(meta) == SMALL_RECIPE
    again = tmp_path / "again.safetensors"
    assert main([*args[:args.index("--out")], "--out", str(again), *args[args.index("--out") + 2:]]) == 0
    repeat = load_checkpoint(again)[1]
    assert all(torch.equal(repeat[k], soup[k]) for k in soup)  # seeded: the same soup twice


def test_a_soup_records_the_split_its_members_trained_on() -> None:
    """A soup recorded no training split, so evaluating it on its own training images gave no in-sample note."""
    from lwirst.model import LWIRSTNet
    from lwirst.soup import Soup

    net = LWIRSTNet()

    def soup(*splits: str) -> Soup:
        return Soup(net, net.config, [], SMALL_RECIPE, [{"dataset": "folder", "train_split": s} for s in splits])

    assert soup("trainval", "trainval").trained_on("folder", "train") == "trainval"  # the members', refit or not
    assert soup("trainval", "trainval", "train").trained_on("folder", "train") == "train"  # disagreeing: refit's
    assert soup("trainval", "trainval").trained_on("sirst", "train") == "train"  # another dataset's names nothing


def test_a_single_or_repeated_checkpoint_is_refused(fine_tunes: list[Path]) -> None:
    with pytest.raises(LwirstError, match="at least two"):
        average_states(fine_tunes[:1])
    with pytest.raises(LwirstError, match="same file"):
        average_states([fine_tunes[0], fine_tunes[1], fine_tunes[0]])


def test_checkpoints_of_different_networks_are_refused(fine_tunes: list[Path], tmp_path: Path) -> None:
    config = dataclasses.replace(get_preset("lw_irstnet"), channels=(8, 16, 32))
    other = tmp_path / "other.safetensors"
    save_checkpoint(other, build_model(config=config), config)
    with pytest.raises(LwirstError, match="network differs"):
        average_states([fine_tunes[0], other])


@pytest.mark.parametrize("change, message", [
    (["--split", "test"], "never on test"),
    (["--out", "{first}"], "is an input of this command"),
    (["--out", "{existing}"], "already exists"),
    (["--out", "{tmp}/soup.onnx"], "give a .safetensors file name"),
    (["--weights", "1"], "give one per checkpoint"),
])
def test_bad_options_are_refused_before_any_work(change: list[str], message: str, fine_tunes: list[Path],
                                                 synth_dir: Path, tmp_path: Path, capsys) -> None:
    existing = tmp_path / "existing.safetensors"
    existing.write_bytes(b"keep me")
    values = {"first": fine_tunes[0], "existing": existing, "tmp": tmp_path}
    args = ["average", *map(str, fine_tunes), "--out", str(tmp_path / "soup.safetensors"),
            "--data-dir", str(synth_dir), "--dataset", "folder", "--split", "train"]
    for flag, value in zip(change[::2], change[1::2], strict=True):
        if flag in args:
            args[args.index(flag) + 1] = value.format(**values)
        else:
            args += [flag, value.format(**values)]
    before = fine_tunes[0].read_bytes()
    assert main(args) == 1
    assert message in capsys.readouterr().err
    assert fine_tunes[0].read_bytes() == before and existing.read_bytes() == b"keep me"
