"""`lwirst export` writes a checked, dynamic, BN-folded ONNX; wrong files are readable errors."""

from __future__ import annotations

import dataclasses
import json
import shutil
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pytest
import torch
from onnx import TensorProto, helper

from lwirst import hostcpu
from lwirst.checkpoint import file_hash, save_checkpoint
from lwirst.cli import main
from lwirst.config import PRESETS, NetConfig
from lwirst.datasets import files_record, open_dataset
from lwirst.errors import LwirstError
from lwirst.export import check_segmentation_onnx, pin_input_shape, size_dependent, to_onnx_bytes
from lwirst.hostcpu import NO_VNNI
from lwirst.inference import Segmenter
from lwirst.model import LWIRSTNet
from lwirst.modelcard import TrainingRecord, model_card
from lwirst.paths import DEFAULT_MODEL
from lwirst.postprocess import detect
from lwirst.synth import SceneConfig, write_dataset


@pytest.fixture(scope="module")
def network() -> LWIRSTNet:
    torch.manual_seed(0)
    return LWIRSTNet().eval()


@pytest.fixture(scope="module")
def checkpoint(network: LWIRSTNet, tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("ckpt") / "model.safetensors"
    save_checkpoint(path, network, NetConfig())
    return path


def _dims(value: onnx.ValueInfoProto) -> list[int | str]:
    return [d.dim_value if d.HasField("dim_value") else d.dim_param for d in value.type.tensor_type.shape.dim]


def test_export_is_checked_dynamic_and_folded(tmp_path: Path, checkpoint: Path, network: LWIRSTNet) -> None:
    out = tmp_path / "model.onnx"
    assert main(["export", "--checkpoint", str(checkpoint), "--out", str(out)]) == 0
    proto = onnx.load(str(out))
    onnx.checker.check_model(proto)
    assert next(o.version for o in proto.opset_import if o.domain in ("", "ai.onnx")) >= 17
    din, dout = _dims(proto.graph.input[0]), _dims(proto.graph.output[0])
    assert din[1] == 3 and dout[1] == 1
    assert all(isinstance(d, str) and d for d in din[:1] + din[2:] + dout[:1] + dout[2:])
    ops = {n.op_type for n in proto.graph.node}
    assert not ops & {"BatchNormalization", "PRelu"}
    x = np.random.default_rng(0).normal(size=(2, 3, 240, 320)).astype(np.float32)
    session = ort.InferenceSession(str(out), providers=["CPUExecutionProvider"])
    logits = session.run(None, {session.get_inputs()[0].name: x})[0]
    assert logits.shape == (2, 1, 240, 320)
    with torch.no_grad():
        want = network(torch.from_numpy(x)).numpy()
    assert float(np.abs(logits - want).max()) <= 1e-4


def test_export_options(tmp_path: Path, checkpoint: Path) -> None:
    out = tmp_path / "plain.onnx"
    assert main(["export", "--checkpoint", str(checkpoint), "--out", str(out), "--no-optimize",
                 "--opset", "18", "--size", "128", "160"]) == 0
    proto = onnx.load(str(out))
    assert "PRelu" in {n.op_type for n in proto.graph.node}
    assert next(o.version for o in proto.opset_import if o.domain in ("", "ai.onnx")) == 18
    assert {p.key: p.value for p in proto.metadata_props}["lwirst.size"] == "128x160"


def test_an_exported_file_carries_its_training_record_to_its_card(tmp_path: Path, network: LWIRSTNet) -> None:
    """Copied away from its checkpoint, an ONNX file still says what it trained on, so its card shows it and
    evaluating it on its training split is flagged in-sample; a card JSON beside the checkpoint, which a shipped
    model's says more in, is what the file carries."""
    trained = tmp_path / "mine.safetensors"
    save_checkpoint(trained, network, NetConfig(), meta={  # the folders and list fingerprints stay behind
        "data": {"dataset": "sirst", "train_split": "train", "data_dir": "/home/me/data", "train_names": "ab12",
                 "train_files": "0123456789ab"},
        "epochs": 7, "recipe": {"size": 128}, "command": "lwirst train --data-dir /home/me/data"})
    bare = tmp_path / "bare.safetensors"
    save_checkpoint(bare, network, NetConfig())
    carded = tmp_path / "carded.safetensors"
    save_checkpoint(carded, network, NetConfig(), meta={"data": {"dataset": "sirst", "train_split": "train"}})
    carded.with_suffix(".json").write_text('{"data": {"dataset": "sirst", "train_split": "trainval"}, '
                                           '"confirm": 1.5, "margin": 1}', encoding="utf-8")
    cards = {}
    for source in (trained, bare, carded):
        out = tmp_path / "exported" / f"{source.stem}.onnx"  # nothing beside it
        assert main(["export", "--checkpoint", str(source), "--out", str(out)]) == 0
        cards[source.stem] = model_card(out)
    mine = cards["mine"]
    assert (mine.training.dataset, mine.training.train_split, mine.training.epochs) == ("sirst", "train", 7)
    notes = {p.key: p.value for p in onnx.load(str(tmp_path / "exported" / "mine.onnx")).metadata_props}
    assert json.loads(notes["lwirst.training"])["data"] == {  # its files' digest has no path: it travels
        "dataset": "sirst", "train_split": "train", "train_files": "0123456789ab"}
    assert mine.architecture == model_card(trained).architecture == "LW-IRSTNet" and mine.reference
    assert cards["bare"].training == TrainingRecord() and cards["bare"].architecture == "LW-IRSTNet"
    carded_card = cards["carded"].training
    assert (carded_card.train_split, carded_card.confirm, carded_card.margin) == ("trainval", 1.5, 1.0)
    assert model_card(DEFAULT_MODEL.with_suffix(".onnx")).training.train_split == "trainval"  # its card JSON's


def test_an_exported_file_costs_what_its_checkpoint_costs(tmp_path: Path, network: LWIRSTNet) -> None:
    """The graph, batch norm folded in, counts fewer params and FLOPs than the card's count of the network: on
    Compare the same weights stood at two costs. The export notes the network's cost, which its card reads; a
    file without the note (the published weights, an older export) is still counted from its graph."""
    from lwirst.export import COST_NOTE

    checkpoint = tmp_path / "mine.safetensors"
    save_checkpoint(checkpoint, network, NetConfig())
    out = tmp_path / "mine.onnx"
    assert main(["export", "--checkpoint", str(checkpoint), "--out", str(out)]) == 0
    mine, exported = model_card(checkpoint), model_card(out)
    assert (exported.params, exported.flops) == (mine.params, mine.flops)
    ran = Segmenter(out, backend="onnxruntime").complexity  # what an evaluation of the file records
    assert ran is not None and (ran.params, ran.flops) == (mine.params, mine.flops)
    proto = onnx.load(str(out))
    for prop in [p for p in proto.metadata_props if p.key == COST_NOTE]:
        proto.metadata_props.remove(prop)
    older = tmp_path / "older.onnx"
    onnx.save(proto, str(older))
    graph, graph_ran = model_card(older), Segmenter(older, backend="onnxruntime").complexity
    assert graph.params < mine.params and graph.flops < mine.flops  # batch norm folded into the convolutions
    assert graph_ran is not None and (graph_ran.params, graph_ran.flops) == (graph.params, graph.flops)


def _evaluate_train_split(model: Path, root: Path, dataset: str = "mine", split: str = "train") -> list[str]:
    return ["evaluate", "--model", str(model), "--data-dir", str(root), "--dataset", dataset, "--split", split,
            "--size", "64", "64", "--confirm", "off", "--threads", "1"]


def _trained_on(folder: Path, **more: str) -> dict[str, dict[str, str]]:
    """The data record `lwirst train --data-dir FOLDER --dataset folder` writes (its train split)."""
    train = open_dataset(folder, "folder", "train")
    return {"data": {"dataset": "folder", "train_split": "train", "train_files": files_record(train), **more}}


def test_an_exported_folder_model_flags_its_own_frames_and_no_others(
        tmp_path: Path, network: LWIRSTNet, synth_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A model trained on a folder, exported (the file carries no path) and evaluated on that folder by its name
    under a root, said nothing; evaluated on another folder with a train.txt of its own, the checkpoint called 4 of
    6 frames it never saw in-sample. The identities of the training images, which the file carries, decide."""
    root = tmp_path / "root"
    shutil.copytree(synth_dir, root / "mine")
    write_dataset(root / "other", 6, SceneConfig(size=(64, 64)), seed=321)
    checkpoint = tmp_path / "mine.safetensors"
    save_checkpoint(checkpoint, network, NetConfig(), meta=_trained_on(root / "mine", data_dir=str(root / "mine")))
    exported = tmp_path / "away" / "mine.onnx"
    assert main(["export", "--checkpoint", str(checkpoint), "--out", str(exported)]) == 0
    train = len((root / "mine" / "train.txt").read_text().split())
    for model in (checkpoint, exported):
        capsys.readouterr()
        assert main(_evaluate_train_split(model, root, split="all")) == 0
        assert f"note: {train} of the " in capsys.readouterr().out
        for where, dataset in ((root, "other"), (root / "other", "folder")):
            assert main(_evaluate_train_split(model, where, dataset, "all")) == 0
            assert "in-sample" not in capsys.readouterr().out


def test_evaluate_flags_training_frames_reached_by_another_name(
        tmp_path: Path, network: LWIRSTNet, synth_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Trained on a folder opened as "folder", evaluated on that folder by its own name under its parent:
    `lwirst evaluate` says the scores are in-sample (the record's split, opened under the root it names)."""
    root = tmp_path / "root"
    shutil.copytree(synth_dir, root / "mine")
    checkpoint = tmp_path / "mine.safetensors"
    save_checkpoint(checkpoint, network, NetConfig(), meta=_trained_on(root / "mine", data_dir=str(root / "mine")))
    assert main(_evaluate_train_split(checkpoint, root)) == 0
    train = len((root / "mine" / "train.txt").read_text().split())
    assert f"note: {train} of the {train} images of mine train are in folder train" in capsys.readouterr().out


def test_evaluate_flags_a_fine_tunes_scores_on_the_split_its_start_trained_on(
        tmp_path: Path, network: LWIRSTNet, synth_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A fine-tune (its record names the --init file by path and hash) evaluated on the split that file trained on
    is said to be in-sample too: the note named only the model's own training split, never its start's."""
    root = tmp_path / "root"
    shutil.copytree(synth_dir, root / "mine")
    first, tuned = tmp_path / "first.safetensors", tmp_path / "tuned.safetensors"
    save_checkpoint(first, network, NetConfig(), meta=_trained_on(root / "mine", data_dir=str(root / "mine")))
    save_checkpoint(tuned, network, NetConfig(), meta={"data": {
        "dataset": "elsewhere", "train_split": "train", "init_path": str(first),
        "init": {"file": first.name, "sha256": file_hash(first)}}})
    assert main(_evaluate_train_split(tuned, root)) == 0
    train = len((root / "mine" / "train.txt").read_text().split())
    assert (f"note: {train} of the {train} images of mine train are in folder train, the split first.safetensors, "
            "which tuned.safetensors was fine-tuned from, trained on") in capsys.readouterr().out


@pytest.mark.parametrize("data", [{"dataset": "x" * 300, "train_split": "train"},  # a name no file system takes
                                  {"dataset": "folder", "train_split": "train", "data_dir": "/tmp/" + "y" * 300}])
def test_a_record_naming_what_cannot_be_opened_costs_the_note_not_the_run(
        tmp_path: Path, network: LWIRSTNet, synth_dir: Path, capsys: pytest.CaptureFixture[str], data: dict) -> None:
    """Printed after the scores: an OSError (a name too long, a folder no one may read) failed the command."""
    root = tmp_path / "root"
    shutil.copytree(synth_dir, root / "mine")
    checkpoint = tmp_path / "odd.safetensors"
    save_checkpoint(checkpoint, network, NetConfig(), meta={"data": data})
    assert main(_evaluate_train_split(checkpoint, root)) == 0
    out = capsys.readouterr()
    assert "miou" in out.out and "note:" not in out.out and "Traceback" not in out.err


def test_an_unreadable_card_beside_a_checkpoint_does_not_stop_its_export(
        tmp_path: Path, checkpoint: Path, caplog: pytest.LogCaptureFixture) -> None:
    source = tmp_path / "best.safetensors"
    shutil.copyfile(checkpoint, source)
    source.with_suffix(".json").write_text('{"data": {"dataset": "sir', encoding="utf-8")  # cut short mid-write
    assert main(["export", "--checkpoint", str(source), "--out", str(tmp_path / "out" / "best.onnx")]) == 0
    assert "best.json is not readable JSON" in caplog.text


def test_a_hand_edited_training_note_reads_as_no_record(tmp_path: Path, checkpoint: Path) -> None:
    out = tmp_path / "model.onnx"
    assert main(["export", "--checkpoint", str(checkpoint), "--out", str(out)]) == 0
    proto = onnx.load(str(out))
    for prop in proto.metadata_props:
        if prop.key == "lwirst.architecture":
            prop.value = "a-network-no-plugin-registers"
    proto.metadata_props.append(onnx.StringStringEntryProto(key="lwirst.training", value="{not json"))
    onnx.save(proto, str(out))
    card = model_card(out)
    assert card.training == TrainingRecord()
    assert (card.architecture, card.reference) == ("a-network-no-plugin-registers", "")
    proto.metadata_props[-1].value = "[" * 100_000 + "]" * 100_000  # nested past Python's recursion limit
    onnx.save(proto, str(out))
    assert model_card(out).training == TrainingRecord()


@pytest.mark.parametrize("case", ["garbage", "missing", "bad-size", "txt-suffix", "trailing-slash", "folder"])
def test_export_errors_are_one_readable_line(tmp_path: Path, checkpoint: Path, case: str,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    source = checkpoint
    extra: list[str] = []
    if case == "garbage":
        source = tmp_path / "bad.safetensors"
        source.write_bytes(b"not a checkpoint at all")
    elif case == "missing":
        source = tmp_path / "nope.safetensors"
    elif case == "bad-size":
        extra = ["--size", "250", "250"]
    out = str(tmp_path / "model.onnx")
    if case == "txt-suffix":  # once written, and then no runtime could load it
        out = str(tmp_path / "m.txt")
    elif case == "trailing-slash":  # once written as a file named outdir
        out = str(tmp_path / "outdir") + "/"
    elif case == "folder":
        out = str(tmp_path)
    if case == "bad-size":  # an option's value: a usage error, as for every option
        with pytest.raises(SystemExit) as usage:
            main(["export", "--checkpoint", str(source), "--out", out, *extra])
        assert usage.value.code == 2 and "--size: must be a multiple of 8, got 250" in capsys.readouterr().err
        return
    assert main(["export", "--checkpoint", str(source), "--out", out, *extra]) == 1
    err = capsys.readouterr().err.strip()
    assert err.startswith("error:") and "\n" not in err and "Traceback" not in err
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted({source.name} & {"bad.safetensors"})
    if case in ("txt-suffix", "trailing-slash", "folder"):
        assert ("must end in .onnx" if case == "txt-suffix" else "is a directory") in err


@pytest.mark.parametrize("opset", ["5", "13", "21", "99"])
def test_opset_outside_the_range_is_one_usage_error(opset: str, capsys: pytest.CaptureFixture[str]) -> None:
    """--opset 5 and --opset 99 once gave two messages, two ranges and two exit codes."""
    with pytest.raises(SystemExit) as exit_info:
        main(["export", "--checkpoint", "m.safetensors", "--out", "m.onnx", "--opset", opset])
    assert exit_info.value.code == 2
    assert f"--opset: must be in [17, 20], got {opset}" in capsys.readouterr().err


def test_an_operation_onnx_lacks_is_one_readable_error() -> None:
    class Spectral(torch.nn.Module):
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return torch.fft.fft2(x).real[:, :1]

    with pytest.raises(LwirstError, match="runs on the torch backend only"):
        to_onnx_bytes(Spectral(), size=(32, 32))


@pytest.mark.parametrize("preset", ["table9_cpm", "table9_cpm_afm"])
def test_size_dependent_cpm_exports_at_its_size_with_a_free_batch(tmp_path: Path, preset: str) -> None:
    """CPM splits its map into a patch grid computed from the map size: the export holds for
    the exported size, so only the batch stays symbolic, and it matches torch there."""
    torch.manual_seed(1)
    net = LWIRSTNet(PRESETS[preset].config).eval()
    assert size_dependent(net) and not size_dependent(LWIRSTNet())
    source, out = tmp_path / "cpm.safetensors", tmp_path / "cpm.onnx"
    save_checkpoint(source, net, net.config)
    assert main(["export", "--checkpoint", str(source), "--out", str(out), "--size", "256", "256"]) == 0
    proto = onnx.load(str(out))
    din = _dims(proto.graph.input[0])
    assert isinstance(din[0], str) and din[2:] == [256, 256]
    x = np.random.default_rng(0).normal(size=(2, 3, 256, 256)).astype(np.float32)
    session = ort.InferenceSession(str(out), providers=["CPUExecutionProvider"])
    logits = session.run(None, {session.get_inputs()[0].name: x})[0]
    with torch.no_grad():
        want = net(torch.from_numpy(x)).numpy()
    assert float(np.abs(logits - want).max()) <= 1e-4


def test_a_size_dependent_network_refuses_native_resolution_on_onnx_backends() -> None:
    net = LWIRSTNet(PRESETS["table9_cpm"].config).eval()
    image = np.random.default_rng(0).integers(0, 256, (120, 200), dtype=np.uint8)
    assert Segmenter(net, backend="onnxruntime").predict(image).logits.shape == (120, 200)
    with pytest.raises(LwirstError, match="resize protocol, or the torch backend"):
        Segmenter(net, backend="onnxruntime", protocol="native")
    assert Segmenter(net, backend="torch", protocol="native").predict(image).logits.shape == (120, 200)


def test_a_fixed_size_onnx_file_refuses_another_size_where_the_runtime_would(tmp_path: Path,
                                                                            network: LWIRSTNet) -> None:
    path = tmp_path / "fixed.onnx"
    path.write_bytes(pin_input_shape(onnx.load_from_string(to_onnx_bytes(network)), (256, 256)))
    image = np.random.default_rng(0).integers(0, 256, (120, 200), dtype=np.uint8)
    for protocol in ("native", "pyramid"):  # a pyramid runs each frame at its own size too
        with pytest.raises(LwirstError, match=rf"holds for 256x256 inputs only.*own size \({protocol} protocol\)"
                                              r".*opencv backend"):
            Segmenter(path, backend="onnxruntime", protocol=protocol)
    with pytest.raises(LwirstError, match="at 128x128"):
        Segmenter(path, backend="onnxruntime", size=(128, 128))
    assert Segmenter(path, backend="opencv", protocol="native").predict(image).logits.shape == (120, 200)


def _graph(outputs: list[tuple[str, list]], inputs: int = 3) -> bytes:
    nodes = [helper.make_node("Identity", ["input"], [name]) for name, _ in outputs]
    graph = helper.make_graph(
        nodes, "wrong", [helper.make_tensor_value_info("input", TensorProto.FLOAT, ["n", inputs, "h", "w"])],
        [helper.make_tensor_value_info(name, TensorProto.FLOAT, shape) for name, shape in outputs])
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]).SerializeToString()


@pytest.mark.parametrize("data, message", [
    (_graph([("a", ["n", 3, "h", "w"]), ("b", ["n", 3, "h", "w"])]), "one input and one output"),
    (_graph([("a", ["n", 3, "h", "w"])]), "output has 3 channels"),
    (b"\x00\x01 definitely not protobuf", "not a valid ONNX model"),
])
def test_wrong_onnx_is_a_readable_error(tmp_path: Path, data: bytes, message: str) -> None:
    with pytest.raises(LwirstError, match=message):
        check_segmentation_onnx(data)
    path = tmp_path / "wrong.onnx"
    path.write_bytes(data)
    with pytest.raises(LwirstError, match=message):
        Segmenter(path, backend="onnxruntime")


def test_int8_export_is_calibrated_qdq_with_raw_input(tmp_path: Path, checkpoint: Path, sirst_root: Path,
                                                      network: LWIRSTNet) -> None:
    out = tmp_path / "int8.onnx"
    assert main(["export", "--checkpoint", str(checkpoint), "--out", str(out), "--int8", "s8",
                 "--data-dir", str(sirst_root.parent), "--calibration-images", "2", "--size", "64", "64"]) == 0
    proto = onnx.load(str(out))
    assert {"QuantizeLinear", "DequantizeLinear"} <= {n.op_type for n in proto.graph.node}
    assert {p.key: p.value for p in proto.metadata_props}["lwirst.input"] == "raw_bgr"
    frame = np.random.default_rng(4).integers(0, 256, (64, 64), dtype=np.uint8)
    int8 = Segmenter(out, backend="onnxruntime", size=(64, 64))
    got = int8.predict(frame).logits
    want = Segmenter(network, backend="torch", size=(64, 64)).predict(frame).logits
    assert np.corrcoef(got.ravel(), want.ravel())[0, 1] > 0.9
    assert int8.describe().precision == "int8"  # it was recorded as fp32, the options' default
    # OpenCV loads the graph but its int8 pooling layer asserts at the first run: one line, not a traceback
    with pytest.raises(LwirstError, match=r"^opencv cannot run int8\.onnx: .*pool") as refused:
        Segmenter(out, backend="opencv", size=(64, 64)).predict(frame)
    assert "\n" not in str(refused.value)


def test_an_int8_graph_a_runtime_cannot_run_is_refused_once_or_handed_on(tmp_path: Path, checkpoint: Path,
                                                                          sirst_root: Path) -> None:
    """OpenVINO loads a u8 graph (`--int8 u8`, the variant --help recommends) and then refused every frame, one
    error each, and "auto" picked it: a backend is tried on a blank frame when it is built, one the caller named
    fails there, once, and "auto" hands the graph on to a backend that runs it."""
    from lwirst import backends

    out = tmp_path / "u8.onnx"
    assert main(["export", "--checkpoint", str(checkpoint), "--out", str(out), "--int8", "u8",
                 "--data-dir", str(sirst_root.parent), "--calibration-images", "1", "--size", "64", "64"]) == 0
    frame = np.random.default_rng(5).integers(0, 256, (64, 64), dtype=np.uint8)
    refused = []
    for name in [b for b in backends.available_backends() if backends.get_backend(b).int8]:
        try:
            built = Segmenter(out, backend=name, size=(64, 64))
        except LwirstError as exc:
            assert str(exc).startswith(f"{name} cannot run u8.onnx: ") and "\n" not in str(exc)
            refused.append(name)
            continue
        assert built.predict(frame).logits.shape == (64, 64)  # a backend that was built runs frames
    chosen = Segmenter(out, size=(64, 64))
    assert chosen.backend_kind not in refused and chosen.predict(frame).logits.shape == (64, 64)


@pytest.mark.parametrize("hazard", [NO_VNNI, None])
def test_int8_export_warns_on_a_cpu_without_vnni(monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
                                                 checkpoint: Path, sirst_root: Path, hazard: str | None,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setattr(hostcpu, "int8_hazard", lambda flags=None: hazard)
    out = tmp_path / "int8.onnx"
    assert main(["export", "--checkpoint", str(checkpoint), "--out", str(out), "--int8", "s8",
                 "--data-dir", str(sirst_root.parent), "--calibration-images", "1", "--size", "32", "32"]) == 0
    err = capsys.readouterr().err
    assert ("warning: int8 is not usable on this CPU: " + NO_VNNI in err) is (hazard is not None)
    assert out.exists()  # still written: the file is for VNNI hosts


def test_the_exported_file_says_how_to_feed_it_and_a_runtime_that_follows_it_matches_lwirst(tmp_path: Path) -> None:
    """The normalisation constants were written nowhere a deployer reads: guessing "/255" found 7 of 17 targets.
    A plain onnxruntime run that feeds the shipped model as its metadata says gives lwirst's own map."""
    import re

    import cv2

    from lwirst.paths import DEFAULT_MODEL, SAMPLES_DIR

    out = tmp_path / "shipped.onnx"
    assert main(["export", "--checkpoint", str(DEFAULT_MODEL), "--out", str(out)]) == 0
    notes = {p.key: p.value for p in onnx.load(str(out)).metadata_props}
    assert "logit > 0" in notes["lwirst.output"]
    said = notes["lwirst.preprocess"]
    mean, std = (np.array([float(v) for v in re.search(rf"{key} ([0-9., ]+?)(?:, std|;)", said)[1].split(",")])
                 for key in ("mean", "std"))
    grey = cv2.imread(str(next((SAMPLES_DIR / "images").glob("*.png"))), cv2.IMREAD_GRAYSCALE)
    assert grey.shape == (256, 256)
    rgb = np.repeat(grey[None].astype(np.float32) / 255, 3, axis=0)  # "a grey frame as 3 equal channels"
    x = ((rgb - mean[:, None, None]) / std[:, None, None]).astype(np.float32)[None]
    logits = ort.InferenceSession(str(out), providers=["CPUExecutionProvider"]).run(None, {"input": x})[0][0, 0]
    want = Segmenter(DEFAULT_MODEL, backend="onnxruntime", threads=1).predict(grey).logits
    assert np.abs(logits - want).max() < 1e-3 and np.array_equal(logits > 0, want > 0)


def _readme_map(session: ort.InferenceSession, pixels: np.ndarray, notes: dict[str, str]) -> np.ndarray:
    """One network run as the README's steps 1-2 say, from the file's notes alone: grey as three equal RGB
    channels, (value / 255 - mean) / std, padded bottom/right by reflection to a multiple of 8, cropped back."""
    import re

    mean, std = (np.array([float(v) for v in re.search(rf"{key} ([0-9., ]+?)(?:, std|;)",
                                                        notes["lwirst.preprocess"])[1].split(",")])
                 for key in ("mean", "std"))
    h, w = pixels.shape
    padded = np.pad(pixels, ((0, -h % 8), (0, -w % 8)), mode="reflect").astype(np.float32) / 255
    x = ((np.repeat(padded[None], 3, axis=0) - mean[:, None, None]) / std[:, None, None]).astype(np.float32)
    return session.run(None, {"input": x[None]})[0][0, 0, :h, :w]


def _readme_level(session: ort.InferenceSession, pixels: np.ndarray,
                  notes: dict[str, str]) -> tuple[np.ndarray, np.ndarray]:
    """README step 4 for one frame that runs once: resized to 256x256 when at most twice its area and over a quarter
    of it, else natively; the 1.5x run of what was fed, both maps back at the frame's size; (map, agreed)."""
    import cv2

    h, w = pixels.shape
    resized = 256 * 256 / 4 < h * w <= 2 * 256 * 256
    fed = cv2.resize(pixels, (256, 256), interpolation=cv2.INTER_LINEAR) if resized else pixels
    first = cv2.resize(_readme_map(session, fed, notes), (w, h), interpolation=cv2.INTER_LINEAR)
    fh, fw = fed.shape
    big = cv2.resize(fed, (round(fw * 1.5), round(fh * 1.5)), interpolation=cv2.INTER_LINEAR)
    second = cv2.resize(_readme_map(session, big, notes), (w, h), interpolation=cv2.INTER_LINEAR)
    return first, np.minimum(first, cv2.dilate(second, np.ones((5, 5), np.uint8), borderType=cv2.BORDER_REPLICATE))


def _readme_targets(session: ort.InferenceSession, frame: np.ndarray, notes: dict[str, str],
                    rule: str = "both") -> list[np.ndarray]:
    """README steps 4-5 on a frame larger than twice 256x256: its level and its half level (halves rounded to even,
    as Python rounds), maps and agreed maps united, and the blobs whose agreed map clears the peak margin (`rule`:
    "both", or "margin only" / "consensus only" to show what each part decides)."""
    import cv2

    h, w = frame.shape
    primary, agreed = _readme_level(session, frame, notes)
    half = cv2.resize(frame, (round(w / 2), round(h / 2)), interpolation=cv2.INTER_AREA)
    half_primary, half_agreed = (cv2.resize(m, (w, h), interpolation=cv2.INTER_LINEAR)
                                 for m in _readme_level(session, half, notes))
    primary, agreed = np.maximum(primary, half_primary), np.maximum(agreed, half_agreed)
    margin = 1.0 * np.log2(h * w / (2 * 256 * 256))
    count, labels = cv2.connectedComponents((primary > 0).astype(np.uint8), connectivity=8)
    peak = {"both": agreed, "margin only": primary, "consensus only": agreed}[rule]
    clear = 0.0 if rule == "consensus only" else margin
    return [blob for blob in (labels == i for i in range(1, count)) if peak[blob].max() > clear]


def test_a_small_frame_runs_at_its_own_size_as_the_readme_and_the_shipped_file_say() -> None:
    """A 64x64 crop resized to 256x256 is enlarged 4x, its targets beyond the sizes the network learnt (the crop
    below lost its target): "auto" runs a frame of at most a quarter of the model's area natively. The shipped
    file's note says so (it is the note `export_onnx` writes now), and a script that follows the README's steps
    on the shipped file finds lwirst's targets on it."""
    import cv2

    from lwirst.consensus import DEFAULT_SCALE
    from lwirst.export import protocol_note
    from lwirst.paths import MODELS_DIR
    from lwirst.synth import PRESETS, render_scene

    onnx_path = MODELS_DIR / "lwirst-sirst.onnx"
    notes = {p.key: p.value for p in onnx.load(str(onnx_path)).metadata_props}
    assert notes["lwirst.protocol"] == protocol_note() and "0.25x that area runs natively" in notes["lwirst.protocol"]
    scene = render_scene(dataclasses.replace(PRESETS["sirst"], size=(256, 256), targets=(3, 3)), 0)
    *_, centres = cv2.connectedComponentsWithStats(scene.mask.astype(np.uint8), connectivity=8)
    x, y = (int(np.clip(round(c) - 32, 0, 192)) for c in centres[3])
    crop, truth = scene.image[y:y + 64, x:x + 64], scene.mask[y:y + 64, x:x + 64]
    resized = Segmenter(DEFAULT_MODEL, backend="onnxruntime", threads=1, confirm=DEFAULT_SCALE, protocol="resize")
    assert not detect(resized.predict(crop), grow_to=None).mask[truth].any()  # enlarged 4x, the target is lost
    segmenter = Segmenter(DEFAULT_MODEL, backend="onnxruntime", threads=1, confirm=DEFAULT_SCALE)
    saliency = segmenter.predict(crop)
    assert saliency.protocol == "native" and saliency.shape == (64, 64)
    found = detect(saliency, grow_to=None)
    assert any(truth[found.labels == t.id].any() for t in found)  # the crop's target, found at its own size
    session = ort.InferenceSession(str(onnx_path), providers=["CPUExecutionProvider"])
    primary, agreed = _readme_level(session, crop, notes)
    count, labels = cv2.connectedComponents((primary > 0).astype(np.uint8), connectivity=8)
    ours = [labels == i for i in range(1, count) if agreed[labels == i].max() > 0]
    assert len(ours) == len(found) >= 1
    for blob in ours:  # each of the script's targets is one of lwirst's
        assert max(((found.labels == t.id) & blob).sum() / ((found.labels == t.id) | blob).sum() for t in found) > 0.9


def test_a_script_that_follows_the_readme_finds_lwirsts_targets_on_a_large_frame() -> None:
    """The deploy recipe described the pyramid and consensus but not the peak margin, nor that a blob counts by
    its agreed pixels: a deployer's script that followed it found 13 targets on a 1280x1024 frame where `lwirst
    segment` found 12. An independent onnxruntime + OpenCV implementation of the README's steps, on the shipped
    ONNX file and its notes alone, finds exactly lwirst's targets with its defaults on a 512x1024 frame of two
    generated scenes (a pyramid whose half level is resized; a margin of 2 logits), where leaving out the margin
    or the consensus would each find a target more, and on an odd-sized cut of it (halves and 1.5x sizes
    rounded)."""
    from lwirst.consensus import DEFAULT_SCALE
    from lwirst.paths import MODELS_DIR
    from lwirst.synth import PRESETS, render_scene

    onnx_path = MODELS_DIR / "lwirst-sirst.onnx"
    notes = {p.key: p.value for p in onnx.load(str(onnx_path)).metadata_props}
    assert "1.5x larger" in notes["lwirst.protocol"] and "threshold + c" in notes["lwirst.protocol"]
    scenes = [dataclasses.replace(PRESETS[name], size=(512, 512), targets=(6, 10), clutter=clutter)
              for name, clutter in (("sirst", (0, 0)), ("cluttered", (4, 8)))]
    frame = np.hstack([render_scene(scenes[0], 2).image, render_scene(scenes[1], 0).image])
    assert frame.shape == (512, 1024) and frame.dtype == np.uint8
    session = ort.InferenceSession(str(onnx_path), providers=["CPUExecutionProvider"])
    mine = _readme_targets(session, frame, notes)
    assert len(mine) < len(_readme_targets(session, frame, notes, "consensus only"))  # the margin left one out
    assert len(mine) < len(_readme_targets(session, frame, notes, "margin only"))  # so did the consensus
    assert len(mine) >= 8
    segmenter = Segmenter(DEFAULT_MODEL, backend="onnxruntime", threads=1, confirm=DEFAULT_SCALE)
    for shown in (frame, np.ascontiguousarray(frame[1:, 3:])):  # 511x1021: round(510.5) = 510, round(766.5) = 766
        ours = mine if shown is frame else _readme_targets(session, shown, notes)
        saliency = segmenter.predict(shown)
        assert saliency.protocol == "pyramid"
        assert saliency.clearance == pytest.approx(np.log2(shown.size / (2 * 256 * 256)))
        found = detect(saliency, grow_to=None)
        theirs = [found.labels == t.id for t in found]
        assert len(theirs) == len(ours) and ours
        for blob in ours:
            match = max(theirs, key=lambda t: (t & blob).sum())
            assert (match & blob).sum() / (match | blob).sum() > 0.9
