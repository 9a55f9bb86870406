"""The model registry, and ACM-U-Net taken end to end through it: built, trained, saved, exported,
evaluated, with checkpoints that name their architecture and old checkpoints read as LW-IRSTNet;
ENet checked against Table II's printed complexity, saved and exported."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import onnxruntime as ort
import pytest
import torch
from safetensors.torch import save_file

from lwirst.checkpoint import ARCH_KEY, CONFIG_KEY, META_KEY, load_checkpoint, load_model, save_checkpoint
from lwirst.cli import main
from lwirst.complexity import config_complexity
from lwirst.config import NetConfig
from lwirst.errors import LwirstError
from lwirst.inference import Segmenter
from lwirst.model import LWIRSTNet
from lwirst.models import (
    DEFAULT_ARCHITECTURE,
    architecture_names,
    architecture_of,
    build_model,
    config_from_dict,
    get_architecture,
)
from lwirst.models.acm import ACMConfig, ACMUNet
from lwirst.models.enet import ENet, ENetConfig
from lwirst.paper import load_table

ACM_PAPER_PARAMS = 0.52e6  # Dai et al., WACV 2021, ACM-U-Net


def test_registry_names_lwirstnet_first_and_builds_it_by_default() -> None:
    assert architecture_names()[0] == DEFAULT_ARCHITECTURE == "lwirstnet"
    assert {"acm", "enet"} <= set(architecture_names())
    assert isinstance(build_model(), LWIRSTNet)
    assert isinstance(build_model(config=ACMConfig()), ACMUNet)
    assert isinstance(build_model("enet"), ENet)
    assert architecture_of(NetConfig()) == "lwirstnet" and architecture_of(ACMConfig()) == "acm"
    assert architecture_of(ENetConfig()) == "enet"


def test_registry_refuses_unknown_names_fields_and_mismatched_configs() -> None:
    with pytest.raises(LwirstError, match="did you mean acm"):
        get_architecture("acmm")
    with pytest.raises(LwirstError, match="needs a ACMConfig"):
        build_model("acm", NetConfig())
    with pytest.raises(LwirstError, match="unknown network config field"):
        config_from_dict({"architecture": "acm", "daaa_conv": "daaa"})
    config = config_from_dict({"architecture": "acm", "channels": [8, 16, 32, 64], "blocks": [2, 2, 2]})
    assert config == ACMConfig(blocks=(2, 2, 2))
    assert config_from_dict({"channels": [8, 16, 32]}) == NetConfig(channels=(8, 16, 32))


def test_two_architectures_sharing_a_config_class_are_refused_not_merged(monkeypatch: pytest.MonkeyPatch) -> None:
    """A variant registered with LW-IRSTNet's config class was trained, saved and counted as LW-IRSTNet."""
    import sys
    import types

    from lwirst import models
    from lwirst.models.base import Architecture

    twin = types.ModuleType("lwirst_test_twin")
    twin.ARCHITECTURE = Architecture("twin", "Twin", LWIRSTNet, NetConfig, "a variant reusing NetConfig")
    monkeypatch.setitem(sys.modules, "lwirst_test_twin", twin)
    monkeypatch.setitem(models._MODULES, "twin", "lwirst_test_twin")
    monkeypatch.setattr(models, "_LOADED", {})
    with pytest.raises(LwirstError, match="'lwirstnet', 'twin' share the config class NetConfig"):
        architecture_of(NetConfig())
    with pytest.raises(LwirstError, match="share the config class"):
        build_model(config=NetConfig())
    assert architecture_of(ACMConfig()) == "acm"  # the others are unaffected


def test_acm_has_the_papers_parameter_count() -> None:
    params = sum(p.numel() for p in build_model("acm").parameters())
    assert abs(params - ACM_PAPER_PARAMS) / ACM_PAPER_PARAMS < 0.10, params


@pytest.mark.parametrize("size", [(32, 32), (40, 56), (72, 64), (256, 256)])
def test_acm_maps_any_multiple_of_8_to_logits_of_the_same_size(size: tuple[int, int], one_torch_thread) -> None:
    out = build_model("acm").eval()(torch.randn(2, 3, *size))
    assert out.shape == (2, 1, *size) and torch.isfinite(out).all()


SMALL = {"acm": ACMConfig(blocks=(1, 1, 1))}  # a registered network's config for a quick round trip (else its default)


@pytest.mark.parametrize("name", architecture_names())  # every registered network, a new one too
def test_checkpoints_name_their_architecture_and_round_trip(name: str, tmp_path: Path, one_torch_thread) -> None:
    torch.manual_seed(0)
    module = get_architecture(name).module
    net = build_model(name, SMALL.get(name)).eval()
    path = tmp_path / f"{name}.safetensors"
    save_checkpoint(path, net, net.config, {"note": "round trip"})
    from safetensors import safe_open

    with safe_open(str(path), framework="pt") as handle:
        assert handle.metadata()[ARCH_KEY] == name
    loaded, meta = load_model(path)
    assert isinstance(loaded, module) and loaded.config == net.config and meta == {"note": "round trip"}
    x = torch.randn(1, 3, 48, 64)
    assert torch.equal(loaded(x), net(x))


def test_a_checkpoint_without_an_architecture_loads_as_lwirstnet(tmp_path: Path) -> None:
    path = tmp_path / "old.safetensors"
    state = {k: v.contiguous() for k, v in LWIRSTNet().state_dict().items()}
    save_file(state, str(path), metadata={CONFIG_KEY: NetConfig().to_json(), META_KEY: "{}"})
    config, _, _ = load_checkpoint(path)
    assert isinstance(config, NetConfig)
    assert isinstance(load_model(path)[0], LWIRSTNet)


def test_a_checkpoint_naming_an_unknown_architecture_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "alien.safetensors"
    save_file({"w": torch.zeros(1)}, str(path),
              metadata={ARCH_KEY: "alien", CONFIG_KEY: "{}", META_KEY: "{}"})
    with pytest.raises(LwirstError, match="unknown architecture 'alien'"):
        load_checkpoint(path)


def test_acm_runs_on_every_backend_without_input_folding(one_torch_thread) -> None:
    net = build_model("acm").eval()
    image = (np.random.default_rng(0).random((72, 88)) * 255).astype(np.uint8)
    reference = Segmenter(net, backend="torch", protocol="native", size=(64, 64)).predict(image).logits
    for backend in ("onnxruntime", "openvino"):
        segmenter = Segmenter(net, backend=backend, protocol="native", size=(64, 64))  # FAST options: folding on
        assert segmenter.primary == "rgb"
        assert segmenter.describe().options["fold_input"] is False  # recorded as it runs, not as asked
        np.testing.assert_allclose(segmenter.predict(image).logits, reference, atol=1e-4)


def test_acm_trains_exports_and_evaluates_from_the_cli(synth_dir: Path, tmp_path: Path, capsys) -> None:
    run_dir = tmp_path / "run"
    assert main(["train", "--arch", "acm", "--run-dir", str(run_dir), "--data-dir", str(synth_dir),
                 "--dataset", "folder", "--train-split", "train", "--val-split", "train", "--epochs", "1",
                 "--size", "64", "--batch-size", "4", "--threads", "1"]) == 0
    assert json.loads((run_dir / "run.json").read_text())["architecture"] == "acm"
    checkpoint = run_dir / "last.safetensors"
    net, _ = load_model(checkpoint)
    assert isinstance(net, ACMUNet)
    # Resuming with another architecture is refused.
    assert main(["train", "--arch", "lwirstnet", "--run-dir", str(run_dir), "--data-dir", str(synth_dir),
                 "--dataset", "folder", "--train-split", "train", "--val-split", "train", "--epochs", "1",
                 "--size", "64", "--batch-size", "4", "--threads", "1", "--resume"]) == 1
    assert "it trains acm" in capsys.readouterr().err

    onnx_path = tmp_path / "acm.onnx"
    _assert_export_matches_torch(net, checkpoint, onnx_path, torch.randn(2, 3, 40, 56))

    capsys.readouterr()
    for model in (checkpoint, onnx_path):
        assert main(["evaluate", "--model", str(model), "--data-dir", str(synth_dir), "--dataset", "folder",
                     "--split", "all", "--size", "64", "64", "--no-cache", "--backend", "onnxruntime"]) == 0
    printed = [json.loads(line) for line in capsys.readouterr().out.splitlines() if line.startswith("{")]
    assert len(printed) == 2 and printed[0]["miou"] == pytest.approx(printed[1]["miou"], abs=1e-3)


def test_enet_has_table2s_complexity() -> None:
    printed = load_table("II").set_index("algorithm").loc["ENet"]
    measured = config_complexity(ENetConfig(), (256, 256))
    assert abs(measured.params_m - printed["params_m"]) / printed["params_m"] < 0.10, measured.params
    assert abs(measured.flops_m - printed["flops_m"]) / printed["flops_m"] < 0.10, measured.flops
    # The chosen details (module docstring) land on the print: params to its 4 decimals, FLOPs within 1e-3 M.
    assert f"{measured.params_m:.4f}" == f"{printed['params_m']:.4f}"
    assert measured.flops_m == pytest.approx(printed["flops_m"], abs=1e-3)


def test_enet_config_is_validated_and_round_trips() -> None:
    config = config_from_dict({"architecture": "enet", "channels": [8, 32, 64], "dropout": [0.0, 0.05]})
    assert config == ENetConfig(channels=(8, 32, 64), dropout=(0.0, 0.05))
    assert ENetConfig.from_json(config.to_json()) == config
    for bad in ({"channels": [16, 8, 128]}, {"channels": [3, 64, 128]}, {"dropout": [0.01, 1.0]},
                {"projection_ratio": 32}, {"num_classes": 0}, {"channels": [16, 64]}):
        with pytest.raises(LwirstError, match="invalid ENet config"):
            config_from_dict({"architecture": "enet", **bad})


@pytest.mark.parametrize("size", [(32, 32), (40, 56), (72, 64), (256, 256)])
def test_enet_maps_any_multiple_of_8_to_logits_of_the_same_size(size: tuple[int, int], one_torch_thread) -> None:
    out = build_model("enet").eval()(torch.randn(2, 3, *size))
    assert out.shape == (2, 1, *size) and torch.isfinite(out).all()


def test_enet_exports_from_the_cli_and_onnxruntime_agrees(tmp_path: Path, one_torch_thread) -> None:
    torch.manual_seed(0)
    net = build_model("enet").eval()
    for bn in (m for m in net.modules() if isinstance(m, torch.nn.BatchNorm2d)):  # statistics worth folding
        bn.running_mean.uniform_(-0.1, 0.1)
        bn.running_var.uniform_(0.5, 1.5)
    checkpoint, onnx_path = tmp_path / "enet.safetensors", tmp_path / "enet.onnx"
    save_checkpoint(checkpoint, net, net.config)
    _assert_export_matches_torch(net, checkpoint, onnx_path, torch.randn(1, 3, 64, 64))


def _assert_export_matches_torch(net: torch.nn.Module, checkpoint: Path, onnx_path: Path, x: torch.Tensor) -> None:
    """`lwirst export` of `checkpoint` run by ONNX Runtime gives `net`'s logits on `x`."""
    assert main(["export", "--checkpoint", str(checkpoint), "--out", str(onnx_path), "--size", "64", "64"]) == 0
    session = ort.InferenceSession(str(onnx_path), providers=["CPUExecutionProvider"])
    with torch.no_grad():
        expected = net(x).numpy()
    np.testing.assert_allclose(session.run(None, {"input": x.numpy()})[0], expected, atol=1e-4, rtol=1e-4)


def test_a_one_channel_network_trains_and_runs_as_it_trained(synth_dir: Path, tmp_path: Path) -> None:
    """`in_channels: 1` is a valid config: training feeds it the mean of the normalised planes, as every command
    does (a 3-channel batch used to stop the first step with a torch shape error)."""
    config = tmp_path / "grey.json"
    config.write_text(json.dumps({"in_channels": 1}))
    run_dir = tmp_path / "run"
    assert main(["train", "--config", str(config), "--run-dir", str(run_dir), "--data-dir", str(synth_dir),
                 "--dataset", "folder", "--train-split", "train", "--val-split", "train", "--epochs", "1",
                 "--recipe", "plain", "--size", "64", "--batch-size", "4", "--threads", "1"]) == 0
    net, _ = load_model(run_dir / "last.safetensors")
    assert net.config.in_channels == 1 and net.stage1.conv.in_channels == 1
    image = (np.random.default_rng(0).random((72, 88)) * 255).astype(np.uint8)
    logits = Segmenter(net, backend="torch", protocol="native", size=(64, 64)).predict(image).logits
    assert logits.shape == (72, 88) and np.isfinite(logits).all()
    exported = tmp_path / "grey.onnx"  # its file says how to feed it: one plane, not three
    assert main(["export", "--checkpoint", str(run_dir / "last.safetensors"), "--out", str(exported)]) == 0
    import onnx

    notes = {p.key: p.value for p in onnx.load(str(exported)).metadata_props}
    assert notes["lwirst.preprocess"].startswith("input: float32 N x 1 x H x W, the mean over R, G, B of")
    assert ort.InferenceSession(str(exported), providers=["CPUExecutionProvider"]).get_inputs()[0].shape[1] == 1
