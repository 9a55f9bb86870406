"""Export-time rewrites that make the network faster without changing what it computes.

Graph rewrites on ONNX (`optimize_onnx`), each exact:

* scalar PReLU -> LeakyRelu with the same slope. Every PReLU of LW-IRSTNet has a
  single slope; ONNX Runtime cannot fuse PRelu into its convolutions and wraps it
  in layout reorders, while LeakyRelu fuses.
* constant folding of shape-independent subgraphs (the exporter computes the
  channel Pad's `pads` with a dozen small nodes) and removal of initializer aliases.
* a channel concat with an all-zero constant (how naive exports pad the
  downsampling shortcut; it pins the batch to the constant's) becomes a Pad.
* optionally (`subpixel`), each stride-2 transposed convolution becomes four stride-1
  convolutions (one per output phase, only the taps that land there) and a
  DepthToSpace: the zero taps of the dilated kernel are never multiplied.

Module rewrite (`fold_input`): the ImageNet normalisation, the RGB/BGR channel
swap and, for infrared frames, the three replicated grey channels are folded into
stage 1, so a frame goes in as raw pixel values (see `RawInputBlock`).

Quantisation (`quantize_onnx`): int8 QDQ with ONNX Runtime's static quantiser,
calibrated on training images.
"""

from __future__ import annotations

import contextlib
import copy
import itertools
import logging
import tempfile
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import onnx
import torch
import torch.nn.functional as F
from onnx import helper, numpy_helper
from torch import nn

from lwirst.errors import LwirstError
from lwirst.export import FoldedInitialBlock
from lwirst.model import InitialBlock
from lwirst.preprocess import MEAN, STD

log = logging.getLogger(__name__)

# Input conventions, stored in the ONNX metadata under INPUT_KEY; absent means "rgb".
INPUT_KEY = "lwirst.input"
RGB = "rgb"            # N x 3 x H x W RGB, /255 and ImageNet-normalised (the training input)
RAW_BGR = "raw_bgr"    # N x 3 x H x W BGR pixel values 0..255 as float
RAW_GREY = "raw_grey"  # N x 1 x H x W grey pixel values 0..255 as float
INPUT_KINDS = (RGB, RAW_BGR, RAW_GREY)

# Ops whose output is a pure function of their inputs and attributes (safe to pre-compute).
_FOLDABLE = {"Constant", "ConstantOfShape", "Concat", "Reshape", "Slice", "Transpose", "Cast", "Squeeze",
             "Unsqueeze", "Gather", "Add", "Sub", "Mul", "Div", "Neg", "Range", "Expand", "Identity"}


class RawInputBlock(nn.Module):
    """Stage 1 (BN folded) reading raw pixel values instead of normalised RGB.

    The network sees x_c = a_c * r_p(c) + d_c, with a_c = 1 / (255 std_c) > 0,
    d_c = -mean_c / std_c, and r_p(c) the raw channel holding RGB channel c (BGR
    order, or the single grey channel of an IR frame). Hence:

    * conv(x) = conv'(r) + D: conv' has weights a_c * W_c moved onto the raw
      channels (summed over c for grey), and D(p) = sum over taps of p inside the
      image of V = sum_c d_c * W_c. D is constant inside but smaller along the top
      row and left column, where zero padding drops taps; it is computed as V
      convolved with an all-ones plane, so the border is exact, not approximated.
    * max-pool commutes with a positive per-channel affine map and pads with -inf,
      so the pool branch pools the raw channels and applies a_c, d_c together with
      the folded BN scale and shift, border included.
    """

    def __init__(self, block: FoldedInitialBlock, grey: bool) -> None:
        super().__init__()
        a = torch.from_numpy(1.0 / (255.0 * STD)).double()
        d = torch.from_numpy(-MEAN / STD).double()
        w = block.conv.weight.detach().double()
        if w.shape[1] != 3:
            raise LwirstError("input folding needs a 3-channel network input")
        scaled = w * a.view(1, 3, 1, 1)
        weight = scaled.sum(1, keepdim=True) if grey else scaled.flip(1)
        conv = block.conv
        self.conv = nn.Conv2d(weight.shape[1], conv.out_channels, conv.kernel_size, stride=conv.stride,
                              padding=conv.padding, bias=True)
        self.conv.weight.data = weight.float()
        self.conv.bias.data = conv.bias.detach().clone()
        self.register_buffer("border", (w * d.view(1, 3, 1, 1)).sum(1, keepdim=True).float())
        self.pool, self.act, self.grey = block.pool, block.act, grey
        scale, shift = block.pool_scale.double().view(-1), block.pool_shift.double().view(-1)
        self.register_buffer("pool_scale", (a * scale).float().view(1, 3, 1, 1))
        self.register_buffer("pool_shift", (d * scale + shift).float().view(1, 3, 1, 1))

    def forward(self, raw: torch.Tensor) -> torch.Tensor:
        ones = torch.ones_like(raw[:, :1])  # full batch: OpenCV fuses the add only for equal shapes
        offset = F.conv2d(ones, self.border, stride=self.conv.stride, padding=self.conv.padding)
        pooled = self.pool(raw)
        if not self.grey:
            pooled = pooled.flip(1)  # raw BGR -> the network's RGB channel order
        return self.act(torch.cat((self.conv(raw) + offset, pooled * self.pool_scale + self.pool_shift), 1))


def can_fold_input(model: nn.Module) -> bool:
    """Whether `fold_input` applies: the network starts with LW-IRSTNet's stage-1 block on 3 channels.

    Other architectures (`lwirst.models`) run with normalised RGB input instead: callers skip
    the rewrite for them rather than fail.
    """
    stage1 = getattr(model, "stage1", None)
    return isinstance(stage1, (InitialBlock, FoldedInitialBlock)) and stage1.conv.in_channels == 3


@torch.no_grad()
def fold_input(model: nn.Module, grey: bool) -> nn.Module:
    """Copy of `model` that takes raw pixel values: BGR 0..255, or grey 0..255 when `grey`.

    For a grey frame (the three channels equal) the grey model gives the same
    logits as the original on the replicated, normalised frame, up to float
    rounding; a colour frame needs the BGR model.
    """
    stage1 = getattr(model, "stage1", None)
    if not isinstance(stage1, (InitialBlock, FoldedInitialBlock)):
        raise LwirstError("input folding needs an LW-IRSTNet (stage 1 is not an initial block)")
    model = copy.deepcopy(model).eval()
    block = stage1 if isinstance(stage1, FoldedInitialBlock) else FoldedInitialBlock(stage1)
    model.stage1 = RawInputBlock(block, grey)
    return model


def _initializers(proto: onnx.ModelProto) -> dict[str, onnx.TensorProto]:
    return {t.name: t for t in proto.graph.initializer}


def _rebuild_graph(proto: onnx.ModelProto, nodes: list, new_inits: list) -> None:
    """Replace the graph's nodes, add the new initializers and drop the ones nothing reads any more."""
    del proto.graph.node[:]
    proto.graph.node.extend(nodes)
    proto.graph.initializer.extend(new_inits)
    prune_initializers(proto)


def prune_initializers(proto: onnx.ModelProto) -> None:
    """Drop initializers no node reads (and their graph-input entries, in old-style files)."""
    used = {i for n in proto.graph.node for i in n.input} | {o.name for o in proto.graph.output}
    keep = [t for t in proto.graph.initializer if t.name in used]
    dropped = {t.name for t in proto.graph.initializer} - {t.name for t in keep}
    del proto.graph.initializer[:]
    proto.graph.initializer.extend(keep)
    inputs = [i for i in proto.graph.input if i.name not in dropped]
    del proto.graph.input[:]
    proto.graph.input.extend(inputs)


def drop_identities(proto: onnx.ModelProto) -> int:
    """Point consumers of `Identity(initializer)` at the initializer; returns nodes removed."""
    inits = _initializers(proto)
    outputs = {o.name for o in proto.graph.output}
    alias = {n.output[0]: n.input[0] for n in proto.graph.node
             if n.op_type == "Identity" and n.input[0] in inits and n.output[0] not in outputs}
    if not alias:
        return 0
    kept = [n for n in proto.graph.node if not (n.op_type == "Identity" and n.output[0] in alias)]
    for node in kept:
        for i, name in enumerate(node.input):
            node.input[i] = alias.get(name, name)
    del proto.graph.node[:]
    proto.graph.node.extend(kept)
    return len(alias)


def fold_constants(proto: onnx.ModelProto) -> int:
    """Pre-compute nodes whose inputs are all constant; returns nodes folded."""
    from onnx.reference import ReferenceEvaluator

    values = {name: numpy_helper.to_array(t) for name, t in _initializers(proto).items()}
    constant = set(values)
    kept: list[onnx.NodeProto] = []
    new_inits: list[onnx.TensorProto] = []
    folded = 0
    graph_outputs = {o.name for o in proto.graph.output}
    for node in proto.graph.node:
        inputs = [i for i in node.input if i]
        foldable = (node.op_type in _FOLDABLE and node.domain in ("", "ai.onnx")
                    and all(i in constant for i in inputs) and not set(node.output) & graph_outputs)
        if not foldable:
            kept.append(node)
            continue
        graph = helper.make_graph(
            [node], "fold",
            [helper.make_tensor_value_info(i, helper.np_dtype_to_tensor_dtype(values[i].dtype), values[i].shape)
             for i in inputs],
            [helper.make_tensor_value_info(o, onnx.TensorProto.UNDEFINED, None) for o in node.output])
        single = helper.make_model(graph, opset_imports=proto.opset_import)
        results = ReferenceEvaluator(single).run(None, {i: values[i] for i in inputs})
        for name, value in zip(node.output, results, strict=True):
            values[name] = np.asarray(value)
            constant.add(name)
            new_inits.append(numpy_helper.from_array(values[name], name))
        folded += 1
    if folded:
        _rebuild_graph(proto, kept, new_inits)
    return folded


def prelu_to_leakyrelu(proto: onnx.ModelProto) -> int:
    """Replace every PRelu whose slope is one value with LeakyRelu(alpha=slope); returns count.

    Exact: both compute x if x >= 0 else alpha * x. Per-channel slopes are kept.
    """
    inits = _initializers(proto)
    count = 0
    for index, node in enumerate(proto.graph.node):
        if node.op_type != "PRelu" or node.input[1] not in inits:
            continue
        slope = numpy_helper.to_array(inits[node.input[1]])
        if slope.size == 0 or not np.all(slope == slope.flat[0]):
            continue
        leaky = helper.make_node("LeakyRelu", [node.input[0]], list(node.output), name=node.name or None,
                                 alpha=float(slope.flat[0]))
        proto.graph.node[index].CopyFrom(leaky)
        count += 1
    return count


def zero_concat_to_pad(proto: onnx.ModelProto) -> int:
    """Turn `Concat(x, zeros)` on the channel axis into `Pad(x)`; returns count.

    A naive export pads the downsampling shortcut's channels by concatenating an
    all-zero constant of batch 1, which pins the whole graph to batch 1.
    """
    inits = _initializers(proto)
    count = 0
    for index, node in enumerate(proto.graph.node):
        if node.op_type != "Concat" or len(node.input) != 2:
            continue
        axis = next((a.i for a in node.attribute if a.name == "axis"), None)
        zero_at = [i for i, name in enumerate(node.input) if name in inits
                   and len(inits[name].dims) == 4 and not np.any(numpy_helper.to_array(inits[name]))]
        if axis not in (1, -3) or len(zero_at) != 1:
            continue
        extra = int(inits[node.input[zero_at[0]]].dims[1])
        pads = [0, extra, 0, 0, 0, 0, 0, 0] if zero_at[0] == 0 else [0, 0, 0, 0, 0, extra, 0, 0]
        pads_name = f"{node.output[0]}_pads"
        proto.graph.initializer.append(numpy_helper.from_array(np.array(pads, dtype=np.int64), pads_name))
        pad = helper.make_node("Pad", [node.input[1 - zero_at[0]], pads_name], list(node.output),
                               name=node.name or None, mode="constant")
        proto.graph.node[index].CopyFrom(pad)
        count += 1
    if count:
        prune_initializers(proto)
        _relax_batch(proto)
    return count


def _relax_batch(proto: onnx.ModelProto) -> None:
    """Make the batch axis of the graph input and output symbolic again."""
    inits = _initializers(proto)
    for value in [*(i for i in proto.graph.input if i.name not in inits), *proto.graph.output]:
        dims = value.type.tensor_type.shape.dim
        if dims and dims[0].HasField("dim_value"):
            dims[0].dim_param = "batch"
    del proto.graph.value_info[:]


def _attribute(node: onnx.NodeProto, name: str, default: Any) -> Any:
    attr = next((a for a in node.attribute if a.name == name), None)
    return default if attr is None else helper.get_attribute_value(attr)


def _phase_taps(kernel: int, stride: int, pad_begin: int, phase: int) -> list[tuple[int, int]]:
    """(input offset d, kernel tap k) pairs that feed output positions o = stride * m + phase.

    A transposed convolution computes y[o] = sum over o = stride * i - pad_begin + k of x[i] w[k],
    so output phase r reads x[m + d] through tap k exactly when k = r + pad_begin - stride * d.
    """
    return [((phase + pad_begin - k) // stride, k) for k in range(kernel)
            if (phase + pad_begin - k) % stride == 0]


def subpixel_deconvolutions(proto: onnx.ModelProto) -> int:
    """Rewrite every strided ConvTranspose as stride-1 Convs and DepthToSpace; returns count.

    A stride-s transposed convolution spreads each input pixel over an s x s output
    block through a kernel dilated with zero taps. Output phase (ry, rx) (the pixels
    with o_y = s m_y + ry, o_x = s m_x + rx) is an ordinary stride-1 convolution of the
    input with the taps that land on that phase, so the layer is s^2 small convolutions,
    each producing the layer's channels, concatenated phase-major and interleaved by
    DepthToSpace (DCR). Every kernel tap is used by exactly one phase: no zero taps are
    multiplied. Exact up to float summation order.

    Rewritten: 2-D, group 1, dilation 1, equal strides > 1, explicit pads, no
    output_shape, and output size exactly stride x input size (the kernel 3 / pad 1 /
    output_padding 1 deconvolution of LW-IRSTNet, kernel 2 / pad 0, kernel 4 / pad 1 ...).
    Anything else is left as it is.
    """
    inits = _initializers(proto)
    count = 0
    nodes: list[onnx.NodeProto] = []
    new_inits: list[onnx.TensorProto] = []
    for node in proto.graph.node:
        replacement = _subpixel_nodes(node, inits)
        if replacement is None:
            nodes.append(node)
            continue
        convs, tensors = replacement
        nodes.extend(convs)
        new_inits.extend(tensors)
        count += 1
    if count:
        _rebuild_graph(proto, nodes, new_inits)
        del proto.graph.value_info[:]
    return count


def _subpixel_nodes(node: onnx.NodeProto, inits: dict[str, onnx.TensorProto]
                    ) -> tuple[list[onnx.NodeProto], list[onnx.TensorProto]] | None:
    """The sub-pixel form of one ConvTranspose node, or None when it does not apply."""
    if node.op_type != "ConvTranspose" or node.domain not in ("", "ai.onnx") or node.input[1] not in inits:
        return None
    weight = numpy_helper.to_array(inits[node.input[1]])  # Cin x Cout x kh x kw
    if weight.ndim != 4:
        return None
    bias = None
    if len(node.input) > 2 and node.input[2]:
        if node.input[2] not in inits:
            return None
        bias = numpy_helper.to_array(inits[node.input[2]])
    kernel = list(weight.shape[2:])
    strides = list(_attribute(node, "strides", [1, 1]))
    pads = list(_attribute(node, "pads", [0, 0, 0, 0]))
    extra = list(_attribute(node, "output_padding", [0, 0]))
    auto_pad = _attribute(node, "auto_pad", b"NOTSET")
    auto_pad = auto_pad.decode() if isinstance(auto_pad, bytes) else auto_pad
    if (_attribute(node, "group", 1) != 1 or list(_attribute(node, "dilations", [1, 1])) != [1, 1]
            or auto_pad != "NOTSET" or _attribute(node, "output_shape", None) is not None
            or list(_attribute(node, "kernel_shape", kernel)) != kernel
            or len(strides) != 2 or strides[0] != strides[1] or strides[0] < 2):
        return None
    stride = strides[0]
    # Output size = stride * (input - 1) + kernel - pads + output_padding must be stride * input.
    if any(kernel[a] - pads[a] - pads[a + 2] + extra[a] != stride for a in (0, 1)):
        return None
    phases = [[_phase_taps(kernel[a], stride, pads[a], r) for r in range(stride)] for a in (0, 1)]
    if any(not taps or min(d for d, _ in taps) > 0 or max(d for d, _ in taps) < 0
           for axis in phases for taps in axis):
        return None  # a phase without taps, or one that would need negative padding (cropping)
    name = node.name or node.output[0]
    convs: list[onnx.NodeProto] = []
    tensors: list[onnx.TensorProto] = []
    outputs = []
    for ry, rx in itertools.product(range(stride), repeat=2):
        rows, cols = phases[0][ry], phases[1][rx]
        y0, x0 = min(d for d, _ in rows), min(d for d, _ in cols)
        kh, kw = max(d for d, _ in rows) - y0 + 1, max(d for d, _ in cols) - x0 + 1
        phase_weight = np.zeros((weight.shape[1], weight.shape[0], kh, kw), weight.dtype)
        for (dy, ky), (dx, kx) in itertools.product(rows, cols):
            phase_weight[:, :, dy - y0, dx - x0] = weight[:, :, ky, kx].T
        # kh * kw == len(rows) * len(cols): the offsets of one phase are consecutive, so no zero taps
        w_name, out = f"{name}_subpixel{ry}{rx}_w", f"{name}_subpixel{ry}{rx}"
        tensors.append(numpy_helper.from_array(phase_weight, w_name))
        inputs = [node.input[0], w_name]
        if bias is not None:
            inputs.append(node.input[2])
        convs.append(helper.make_node(
            "Conv", inputs, [out], name=out, kernel_shape=[kh, kw],
            pads=[-y0, -x0, kh - 1 + y0, kw - 1 + x0]))
        outputs.append(out)
    concat = f"{name}_subpixel_phases"
    convs.append(helper.make_node("Concat", outputs, [concat], name=concat, axis=1))
    convs.append(helper.make_node("DepthToSpace", [concat], list(node.output), name=f"{name}_subpixel",
                                  blocksize=stride, mode="DCR"))
    return convs, tensors


def input_kind(proto: onnx.ModelProto) -> str:
    """The input convention recorded in an ONNX file (see INPUT_KINDS)."""
    value = next((p.value for p in proto.metadata_props if p.key == INPUT_KEY), RGB)
    if value not in INPUT_KINDS:
        raise LwirstError(f"unknown input convention {value!r} in the ONNX metadata; "
                          f"expected one of {', '.join(INPUT_KINDS)}")
    return value


def set_input_kind(proto: onnx.ModelProto, kind: str) -> None:
    for prop in list(proto.metadata_props):
        if prop.key == INPUT_KEY:
            proto.metadata_props.remove(prop)
    if kind != RGB:
        proto.metadata_props.append(onnx.StringStringEntryProto(key=INPUT_KEY, value=kind))


def optimize_onnx(data: bytes, *, subpixel: bool = False) -> bytes:
    """All exact graph rewrites; the result is checked with onnx.checker.

    `subpixel` also turns strided transposed convolutions into sub-pixel convolutions
    (`subpixel_deconvolutions`); whether that is faster depends on the runtime and CPU.
    """
    proto = onnx.load_from_string(data)
    counts = {"identities": drop_identities(proto), "constants": fold_constants(proto),
              "zero concats": zero_concat_to_pad(proto), "PReLU -> LeakyRelu": prelu_to_leakyrelu(proto)}
    if subpixel:
        counts["deconv -> sub-pixel conv"] = subpixel_deconvolutions(proto)
    prune_initializers(proto)
    log.info("graph rewrites: %s", ", ".join(f"{k} {v}" for k, v in counts.items()))
    onnx.checker.check_model(proto)
    return proto.SerializeToString()


def quantize_onnx(data: bytes, calibration: Iterable[np.ndarray], *, symmetric: bool = True) -> bytes:
    """int8 QDQ copy of a float model, calibrated (min-max) on network inputs.

    `calibration` yields N x C x H x W float32 inputs in the model's own input
    convention. Weights are per-channel symmetric int8; activations are signed
    symmetric int8 when `symmetric`, else unsigned asymmetric (u8, which loses
    accuracy on this network's sharp logit range).
    """
    from onnxruntime.quantization import CalibrationDataReader, QuantFormat, QuantType, quantize_static

    proto = onnx.load_from_string(data)
    name = next(i.name for i in proto.graph.input if i.name not in _initializers(proto))
    batches: Sequence[np.ndarray] = list(calibration)
    if not batches:
        raise LwirstError("int8 calibration needs at least one image")

    class Reader(CalibrationDataReader):
        def __init__(self) -> None:
            self.items = iter(batches)

        def get_next(self) -> dict[str, np.ndarray] | None:
            batch = next(self.items, None)
            return None if batch is None else {name: batch}

    with tempfile.TemporaryDirectory() as tmp, _quiet_root_logger():
        source, target = Path(tmp) / "float.onnx", Path(tmp) / "int8.onnx"
        source.write_bytes(data)
        quantize_static(
            source, target, Reader(), quant_format=QuantFormat.QDQ, per_channel=True,
            activation_type=QuantType.QInt8 if symmetric else QuantType.QUInt8, weight_type=QuantType.QInt8,
            extra_options={"ActivationSymmetric": symmetric, "WeightSymmetric": True},
        )
        result = onnx.load(str(target))
    present = {p.key for p in result.metadata_props}
    result.metadata_props.extend(p for p in proto.metadata_props if p.key not in present)
    return result.SerializeToString()


@contextlib.contextmanager
def _quiet_root_logger() -> Iterator[None]:
    """The ORT quantiser logs advice to the root logger; libraries must not print it."""
    root = logging.getLogger()
    quiet = logging.Filter("lwirst")  # passes lwirst records only
    root.addFilter(quiet)
    try:
        yield
    finally:
        root.removeFilter(quiet)
