"""Every optimised inference path gives PyTorch's logits and targets on real SIRST images,
and backend selection falls back cleanly when a runtime is missing."""

from __future__ import annotations

import io
import sys
import warnings
from pathlib import Path

import cv2
import numpy as np
import onnx
import onnxruntime as ort
import pytest
import torch
from onnx import TensorProto, helper, numpy_helper

from lwirst import backends, inference
from lwirst.backends import openvino_cpu
from lwirst.datasets import open_dataset
from lwirst.errors import LwirstError
from lwirst.export import fold_batchnorm, to_onnx_bytes
from lwirst.inference import FAST, PLAIN, Segmenter, available_backends, default_backend, grey_plane
from lwirst.model import LWIRSTNet
from lwirst.optimize import fold_input, optimize_onnx, prelu_to_leakyrelu, subpixel_deconvolutions
from lwirst.postprocess import detect
from lwirst.preprocess import normalize

LOGIT_TOLERANCE = 1e-3


@pytest.fixture(scope="module")
def model() -> torch.nn.Module:
    """The shipped model when present, else a fixed random network (agreement needs no training)."""
    if inference.DEFAULT_MODEL.exists():
        from lwirst.checkpoint import load_model

        return load_model(inference.DEFAULT_MODEL)[0]
    torch.manual_seed(0)
    return LWIRSTNet().eval()


@pytest.fixture(scope="module")
def images(sirst_root: Path) -> list[np.ndarray]:
    """Three grey and two colour-tinted SIRST test images (both kinds occur in SIRST)."""
    dataset = open_dataset(sirst_root.parent, "sirst", "test")
    grey, colour = [], []
    for index in range(len(dataset)):
        image = dataset[index].image
        (grey if grey_plane(image) is not None else colour).append(image)
        if len(grey) >= 3 and len(colour) >= 2:
            break
    return grey[:3] + colour[:2]


@pytest.fixture(scope="module")
def reference(model: torch.nn.Module, images: list[np.ndarray]) -> list[np.ndarray]:
    segmenter = Segmenter(model, backend="torch", options=PLAIN, threads=1)
    return [segmenter.predict(image).logits for image in images]


def clear_threshold(ref: np.ndarray, near: float, tolerance: float = LOGIT_TOLERANCE) -> float:
    """The threshold nearest `near` with no reference logit within `tolerance` of it: logits
    may differ by that much between backends, so only there must their masks agree exactly."""
    values = np.unique(ref)
    if not np.any(np.abs(values - near) <= tolerance):
        return near
    gaps = np.flatnonzero(np.diff(values) > 2 * tolerance)
    middles = (values[gaps] + values[gaps + 1]) / 2
    return float(middles[np.argmin(np.abs(middles - near))])


def assert_same_targets(out: np.ndarray, ref: np.ndarray, tolerance: float = LOGIT_TOLERANCE) -> None:
    """Same thresholded mask and the same 8-connected targets, near 0 and at a high threshold."""
    for near in (0.0, float(np.percentile(ref, 99.5))):
        threshold = clear_threshold(ref, near, tolerance)
        assert abs(threshold - near) < 0.5
        got, want = detect(out, threshold), detect(ref, threshold)
        assert np.array_equal(got.mask, want.mask)
        assert len(got) == len(want)
        for column in ("size", "box_x", "box_y", "box_w", "box_h"):
            assert np.array_equal(got.column(column), want.column(column))


@pytest.mark.parametrize("backend", backends.backend_names())  # every registered backend, a new one too
def test_fast_path_matches_torch(backend: str, model, images, reference) -> None:
    if backend not in available_backends():
        pytest.skip(f"{backend} is not installed")
    options = FAST.replace(channels_last=True) if backend == "torch" else FAST
    segmenter = Segmenter(model, backend=backend, options=options, threads=1)
    for image, ref in zip(images, reference, strict=True):
        out = segmenter.predict(image).logits
        assert out.shape == ref.shape == image.shape[:2]
        assert float(np.abs(out - ref).max()) <= LOGIT_TOLERANCE
        assert_same_targets(out, ref)
        net, x = segmenter.prepare(image)
        assert net.in_channels == x.shape[0] == (1 if grey_plane(image) is not None else 3)


def test_baseline_export_and_batches_match_torch(model, images, reference) -> None:
    plain = Segmenter(model, backend="onnxruntime", options=PLAIN, threads=1)
    fast = Segmenter(model, backend="onnxruntime", threads=1)
    batched = fast.predict_batch(images + images[:1], batch_size=2)
    for index, ref in enumerate(reference):
        assert float(np.abs(plain.predict(images[index]).logits - ref).max()) <= LOGIT_TOLERANCE
        assert float(np.abs(batched[index].logits - ref).max()) <= LOGIT_TOLERANCE
        assert_same_targets(batched[index].logits, ref)
    assert np.array_equal(batched[-1].logits, batched[0].logits)


def test_openvino_parallel_frames_match_torch(model, images, reference) -> None:
    """A batch on OpenVINO runs as frames in flight on parallel streams, in order."""
    if "openvino" not in available_backends():
        pytest.skip("openvino is not installed")
    segmenter = Segmenter(model, backend="openvino", threads=2)
    frames = [images[0], images[1], images[0], images[2]]  # same-shape frames share one call
    expected = [reference[0], reference[1], reference[0], reference[2]]
    for out, ref in zip(segmenter.predict_batch(frames, batch_size=4), expected, strict=True):
        assert float(np.abs(out.logits - ref).max()) <= LOGIT_TOLERANCE
        assert_same_targets(out.logits, ref)


def test_native_protocol_matches_torch(model, images) -> None:
    torch_native = Segmenter(model, backend="torch", protocol="native", options=PLAIN, threads=1)
    fast_native = Segmenter(model, backend="onnxruntime", protocol="native", threads=1)
    for image in (images[0], images[-1]):
        ref, out = torch_native.predict(image).logits, fast_native.predict(image).logits
        assert float(np.abs(out - ref).max()) <= LOGIT_TOLERANCE
        assert_same_targets(out, ref)


@pytest.mark.parametrize("size", [(64, 64), (40, 56)])
def test_input_folding_is_exact_at_the_border(model, size: tuple[int, int]) -> None:
    """A flat white frame is where dropping the border correction would show most."""
    rng = np.random.default_rng(0)
    folded = fold_batchnorm(model)
    grey_net, bgr_net = fold_input(folded, grey=True), fold_input(folded, grey=False)
    frames = [np.full(size, 255, np.uint8), rng.integers(0, 256, size, dtype=np.uint8)]
    with torch.no_grad():
        for grey in frames:
            bgr = np.repeat(grey[..., None], 3, axis=2)
            want = model(torch.from_numpy(normalize(bgr))[None])
            got = grey_net(torch.from_numpy(grey.astype(np.float32))[None, None])
            assert float((got - want).abs().max()) <= 1e-4
        colour = rng.integers(0, 256, (*size, 3), dtype=np.uint8)
        want = model(torch.from_numpy(normalize(colour))[None])
        got = bgr_net(torch.from_numpy(colour.transpose(2, 0, 1).astype(np.float32))[None])
        assert float((got - want).abs().max()) <= 1e-4


def _run(data: bytes, x: np.ndarray) -> np.ndarray:
    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    session = ort.InferenceSession(data, options, providers=["CPUExecutionProvider"])
    return session.run(None, {session.get_inputs()[0].name: x})[0]


def test_leakyrelu_rewrite_is_exact(model) -> None:
    x = np.random.default_rng(1).normal(size=(2, 8, 5, 7)).astype(np.float32)
    graph = helper.make_graph(
        [helper.make_node("PRelu", ["x", "slope"], ["y"])], "prelu",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [None, 8, None, None])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [None, 8, None, None])],
        [numpy_helper.from_array(np.full((1, 1, 1), 0.173, np.float32), "slope")])
    proto = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    before = _run(proto.SerializeToString(), x)
    assert prelu_to_leakyrelu(proto) == 1
    assert [n.op_type for n in proto.graph.node] == ["LeakyRelu"]
    assert np.array_equal(_run(proto.SerializeToString(), x), before)

    data = to_onnx_bytes(model, size=(64, 64))
    optimized = optimize_onnx(data)
    ops = {n.op_type for n in onnx.load_from_string(optimized).graph.node}
    assert "PRelu" not in ops and "LeakyRelu" in ops and "BatchNormalization" not in ops
    frame = np.random.default_rng(2).normal(size=(1, 3, 64, 64)).astype(np.float32)
    assert float(np.abs(_run(optimized, frame) - _run(data, frame)).max()) <= 1e-5


def test_channel_padding_concat_becomes_pad() -> None:
    """A naive export concatenates an all-zero constant, pinning batch 1; the rewrite frees it."""

    class Naive(torch.nn.Module):
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return torch.cat((torch.nn.functional.max_pool2d(x, 2), torch.zeros(1, 2, 4, 4)), 1)

    buffer = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(Naive(), (torch.ones(1, 3, 8, 8),), buffer, opset_version=17, dynamo=False,
                          input_names=["input"], output_names=["out"])
    before = onnx.load_from_string(buffer.getvalue())
    assert "Pad" not in {n.op_type for n in before.graph.node}
    proto = onnx.load_from_string(optimize_onnx(buffer.getvalue()))
    assert "Pad" in {n.op_type for n in proto.graph.node}
    x = np.random.default_rng(3).normal(size=(2, 3, 8, 8)).astype(np.float32)
    out = _run(proto.SerializeToString(), x)
    assert out.shape == (2, 5, 4, 4)
    assert np.array_equal(out[:, 3:], np.zeros((2, 2, 4, 4), np.float32))


def test_auto_picks_fastest_installed_and_falls_back(monkeypatch, model) -> None:
    assert default_backend() == next(b for b in backends.preference() if b in available_backends())
    # A runtime blocked in sys.modules cannot be imported: the registry treats it as not installed.
    monkeypatch.setitem(sys.modules, "openvino", None)
    assert default_backend() == "onnxruntime"
    assert Segmenter(model, backend="auto", size=(64, 64)).backend_name == "onnxruntime"
    with pytest.raises(LwirstError, match="not installed"):
        Segmenter(model, backend="openvino", size=(64, 64))
    monkeypatch.setitem(sys.modules, "onnxruntime", None)
    monkeypatch.setitem(sys.modules, "cv2", None)
    assert available_backends() == ["torch"]
    assert Segmenter(model, backend="auto", size=(64, 64)).backend_name == "torch"


def test_failing_import_means_not_installed(monkeypatch) -> None:
    monkeypatch.setitem(sys.modules, "openvino", None)  # `import openvino` now raises ImportError
    assert "openvino" not in available_backends()
    assert default_backend() == "onnxruntime"


def test_int8_needs_calibration_and_stays_close(model, images) -> None:
    with pytest.raises(LwirstError, match="calibration"):
        Segmenter(model, backend="onnxruntime", options=FAST.replace(int8="s8"))
    with pytest.raises(LwirstError, match="int8"):
        Segmenter(model, backend="torch", options=FAST.replace(int8="s8"), calibration=images)
    size = (64, 64)
    float_net = Segmenter(model, backend="onnxruntime", size=size, threads=1)
    int8_net = Segmenter(model, backend="onnxruntime", size=size, threads=1,
                         options=FAST.replace(int8="s8"), calibration=images[:2])
    assert int8_net.describe().options["int8"] == "s8"
    ref, out = float_net.predict(images[0]).logits, int8_net.predict(images[0]).logits
    assert not np.array_equal(ref, out)  # quantised ...
    assert np.corrcoef(ref.ravel(), out.ravel())[0, 1] > 0.9  # ... but still the same network


def test_bf16_is_openvino_only_and_refused_without_native_support(monkeypatch, model) -> None:
    with pytest.raises(LwirstError, match="int8 or bf16"):
        FAST.replace(int8="s8", bf16=True)
    with pytest.raises(LwirstError, match="openvino"):
        Segmenter(model, backend="onnxruntime", options=FAST.replace(bf16=True))
    if "openvino" not in available_backends():
        pytest.skip("openvino is not installed")
    monkeypatch.setattr(openvino_cpu, "cpu_has_bf16", lambda: False)  # a host without native bfloat16
    with pytest.raises(LwirstError, match="no native bfloat16"):
        Segmenter(model, backend="openvino", options=FAST.replace(bf16=True))


def test_bf16_path_finds_the_same_targets(model, images, reference) -> None:
    """bfloat16 keeps 8 mantissa bits: logits move, but masks and targets barely do."""
    if "openvino" not in available_backends() or not inference.cpu_has_bf16():
        pytest.skip("needs OpenVINO on a CPU with native bfloat16")
    fp32 = Segmenter(model, backend="openvino", threads=1)
    bf16 = Segmenter(model, backend="openvino", threads=1, options=FAST.replace(bf16=True))
    shipped_bf16 = Segmenter(None, backend="openvino", options=FAST.replace(bf16=True)).describe().hash
    assert shipped_bf16 != Segmenter(None, backend="openvino").describe().hash  # caches keep them apart
    from lwirst.commands.segment import run_line

    assert " backend openvino bf16 " in run_line(bf16, 0.0, None)  # segment's first line says what ran
    assert " backend openvino " in run_line(fp32, 0.0, None)
    for image, ref in zip(images, reference, strict=True):
        exact, out = fp32.predict(image).logits, bf16.predict(image).logits
        assert not np.array_equal(exact, out)  # really computed in bfloat16 ...
        assert np.mean((out > 0) != (ref > 0)) < 1e-3  # ... with the same mask but for a few pixels
        assert abs(len(detect(out, 0.0)) - len(detect(ref, 0.0))) <= 1


@pytest.mark.parametrize("kernel, padding, output_padding", [(3, 1, 1), (2, 0, 0), (4, 1, 0)])
def test_subpixel_rewrite_is_exact_for_strided_deconvolutions(kernel: int, padding: int,
                                                              output_padding: int) -> None:
    torch.manual_seed(kernel)
    deconv = torch.nn.ConvTranspose2d(5, 3, kernel, stride=2, padding=padding, output_padding=output_padding,
                                      bias=True).eval()
    proto = onnx.load_from_string(to_onnx_bytes(deconv, in_channels=5, fold=False))
    assert subpixel_deconvolutions(proto) == 1
    onnx.checker.check_model(proto)
    ops = [n.op_type for n in proto.graph.node]
    assert "ConvTranspose" not in ops and ops.count("Conv") == 4 and "DepthToSpace" in ops
    # No zero taps: the four phase kernels hold the deconvolution's kh x kw taps exactly once.
    weights = {t.name: numpy_helper.to_array(t) for t in proto.graph.initializer}
    taps = sum(weights[n.input[1]].shape[2] * weights[n.input[1]].shape[3] for n in proto.graph.node
               if n.op_type == "Conv")
    assert taps == kernel * kernel
    x = np.random.default_rng(kernel).normal(size=(2, 5, 7, 9)).astype(np.float32)
    with torch.no_grad():
        want = deconv(torch.from_numpy(x)).numpy()
    got = _run(proto.SerializeToString(), x)
    assert got.shape == want.shape == (2, 3, 14, 18)
    assert float(np.abs(got - want).max()) <= 1e-5


def test_subpixel_rewrite_leaves_other_deconvolutions_alone() -> None:
    for deconv in (torch.nn.ConvTranspose2d(4, 2, 3, stride=1, padding=1),           # not strided
                   torch.nn.ConvTranspose2d(4, 2, 3, stride=2, padding=1, groups=2),  # grouped
                   torch.nn.ConvTranspose2d(4, 2, 3, stride=2)):                      # 2H + 1 outputs
        proto = onnx.load_from_string(to_onnx_bytes(deconv.eval(), in_channels=4, fold=False))
        assert subpixel_deconvolutions(proto) == 0
        assert "ConvTranspose" in {n.op_type for n in proto.graph.node}


def _network_run(backend: str, data: bytes, x: np.ndarray) -> np.ndarray:
    if backend == "onnxruntime":
        return inference.OrtBackend(data, 1).run(x)
    return inference.OpenVinoBackend(data, 1).run(x)


@pytest.mark.parametrize("size", [(256, 256), (512, 640)])
@pytest.mark.parametrize("backend", ["onnxruntime", "openvino"])
def test_subpixel_network_matches_torch_on_sirst(backend: str, size: tuple[int, int], model, images) -> None:
    """The rewritten decoder on SIRST frames at 256x256 and at a 640x512 sensor size (upscaled):
    logits within 1e-4 of PyTorch relative to the frame's largest logit (the shipped model's reach
    +-42, where float32 spacing is 4e-6), within 1e-4 absolute of the same graph without the
    rewrite, and the same targets."""
    if backend not in available_backends():
        pytest.skip(f"{backend} is not installed")
    plain = optimize_onnx(to_onnx_bytes(model, fold=False))
    rewritten = optimize_onnx(to_onnx_bytes(model, fold=False), subpixel=True)
    ops = [n.op_type for n in onnx.load_from_string(rewritten).graph.node]
    assert "ConvTranspose" not in ops and ops.count("DepthToSpace") == 3
    for image in images[:3]:
        frame = cv2.resize(image, (size[1], size[0]), interpolation=cv2.INTER_LINEAR)
        x = normalize(frame)[None]
        with torch.no_grad():
            ref = model(torch.from_numpy(x)).numpy()
        got, before = _network_run(backend, rewritten, x), _network_run(backend, plain, x)
        assert got.shape == ref.shape == (1, 1, *size)
        assert float(np.abs(got - ref).max()) <= 1e-4 * max(1.0, float(np.abs(ref).max()))
        assert float(np.abs(got - before).max()) <= 1e-4
        # Masks must agree at thresholds no reference logit lies within the actual difference of.
        assert_same_targets(got[0, 0], ref[0, 0], tolerance=float(np.abs(got - ref).max()))


@pytest.mark.parametrize("backend", ["onnxruntime", "openvino"])
def test_subpixel_fast_path_finds_torch_targets_at_256_and_640x512(backend: str, model, images,
                                                                   reference) -> None:
    """The full fast path with the rewrite: resize protocol at 256x256, native at 640x512."""
    if backend not in available_backends():
        pytest.skip(f"{backend} is not installed")
    options = FAST.replace(subpixel=True)
    resized = Segmenter(model, backend=backend, options=options, threads=1)
    for image, ref in zip(images, reference, strict=True):
        out = resized.predict(image).logits
        assert float(np.abs(out - ref).max()) <= LOGIT_TOLERANCE
        assert_same_targets(out, ref)
    torch_native = Segmenter(model, backend="torch", protocol="native", options=PLAIN, threads=1)
    native = Segmenter(model, backend=backend, protocol="native", options=options, threads=1)
    for image in (images[0], images[-1]):  # a grey and a colour frame
        frame = cv2.resize(image, (640, 512), interpolation=cv2.INTER_LINEAR)
        ref, out = torch_native.predict(frame).logits, native.predict(frame).logits
        assert out.shape == ref.shape == (512, 640)
        assert float(np.abs(out - ref).max()) <= LOGIT_TOLERANCE
        assert_same_targets(out, ref)


def test_openvino_compiles_each_frame_size_once_statically(monkeypatch, model, images) -> None:
    """Native frames: one static compilation per frame size, reused for every later frame of
    that size; past the cap, further sizes share one dynamic compilation."""
    if "openvino" not in available_backends():
        pytest.skip("openvino is not installed")
    monkeypatch.setattr(openvino_cpu, "MAX_STATIC_SHAPES", 2)
    segmenter = Segmenter(model, backend="openvino", protocol="native", threads=1)
    reference = Segmenter(model, backend="torch", protocol="native", options=PLAIN, threads=1)
    backend = segmenter.backend
    compiled: list[tuple | None] = []
    real = backend._compiled
    monkeypatch.setattr(backend, "_compiled", lambda shape, streams: compiled.append(shape) or real(shape, streams))
    grey = images[0] if images[0].ndim == 2 else images[0][..., 0]
    for h, w in [(64, 80), (64, 80), (72, 96), (64, 80), (40, 48), (48, 40), (72, 96)]:
        frame = cv2.resize(grey, (w, h), interpolation=cv2.INTER_LINEAR)
        out, ref = segmenter.predict(frame).logits, reference.predict(frame).logits
        assert out.shape == (h, w)
        assert float(np.abs(out - ref).max()) <= LOGIT_TOLERANCE
    assert compiled == [(1, 1, 64, 80), (1, 1, 72, 96), None]


def test_a_runtime_error_is_told_by_its_first_line_that_says_something() -> None:
    """OpenVINO opens with lines naming its own sources; keeping the first line printed only those."""
    from lwirst.inference import runtime_reason

    said = RuntimeError("Exception from src/inference/src/cpp/core.cpp:105:\n"
                        "Exception from src/frontends/onnx/frontend/src/frontend.cpp:1:\n"
                        "Input channels C is not equal to kernel channels * group. C: 1 kernel channels: 3\n")
    assert runtime_reason(said) == "Input channels C is not equal to kernel channels * group. C: 1 kernel channels: 3"
    assert runtime_reason(RuntimeError("Exception from x.cpp:1:")) == "Exception from x.cpp:1:"
    assert runtime_reason(ValueError()) == "ValueError"
    # OpenVINO's int8 refusal: a node dump first (cut), the cause last (it was cut away with the rest)
    dump = "[ConvolutionTransformation] END: node: opset1::Convolution " + "x" * 400
    said = RuntimeError(f"Exception from src/a.cpp:1:\n{dump}\nWhile validating node 'Subtract'\n"
                        "Argument shapes are inconsistent.\n")
    reason = runtime_reason(said)
    assert reason.startswith(dump[:160] + "…") and reason.endswith("(Argument shapes are inconsistent)")


def test_a_refusal_names_the_backends_that_may_run_the_model() -> None:
    """A u8 int8 export that OpenVINO cannot compile failed every image without a word of onnxruntime."""
    from lwirst.backends import available_backends, get_backend
    from lwirst.inference import other_backends

    onnx_ones = [b for b in available_backends() if get_backend(b).runs_onnx and b != "openvino"]
    assert other_backends("openvino", True) == (f"; another backend may run it: {', '.join(onnx_ones)}"
                                                if onnx_ones else "")
    assert "torch" not in other_backends("openvino", True)  # torch runs checkpoints, not ONNX files
    assert "torch" in other_backends("openvino", False) or "torch" not in available_backends()
