"""Parameters and FLOPs in the paper's convention (THOP 0.1.1's counting rules).

The paper's Tables II-IX were measured with THOP 0.1.1, which counts one
multiply-accumulate as one "FLOP" and only for modules it knows:

* Conv2d: output elements x Cin/groups x kh x kw
* ConvTranspose2d: the same formula applied to its *output* elements
* BatchNorm2d: 2 per element, doubled when affine (scale and shift): 4
* PReLU: 1 per element
* Linear: in_features per output element
* AdaptiveAvgPool2d: (window size + 1) per output element
* Softmax: (3n - 1) per softmax over n values (n exps, n - 1 adds, n divides)
* ReLU, Sigmoid, pooling, dropout, and functional ops (interpolate, add, cat, bmm,
  adaptive max-pool): 0, so the attention products of a non-local block are free

Params: every parameter of the model. THOP 0.1.1 sums only the parameters of the
layers it has rules for, so it would skip the few held directly by a container
module (the CPM's scalar gammas, six values, far below the printed 0.01 M).

`count_complexity` reproduces those rules with forward hooks, so any variant can
be compared with the printed tables without installing THOP.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import torch
from torch import nn

from lwirst.errors import LwirstError
from lwirst.models import NetworkConfig, build_model
from lwirst.paper import CONVENTION as CONVENTION


@dataclass
class Complexity:
    """Parameter count and FLOPs of one network at one input size, split by layer type."""

    params: int
    flops: float
    by_type: dict[str, float] = field(default_factory=dict)
    conv_macs: float = 0.0
    # conv MACs with each transposed conv counted per *input* element: the arithmetic left once
    # the zero taps of a strided deconvolution are skipped, as CPU runtimes do
    dense_macs: float = 0.0

    @property
    def params_m(self) -> float:
        return self.params / 1e6

    @property
    def flops_m(self) -> float:
        return self.flops / 1e6


def _conv_flops(module: nn.Conv2d | nn.ConvTranspose2d, out: torch.Tensor) -> float:
    kh, kw = module.kernel_size
    cin = module.in_channels // module.groups
    return float(out.numel() * cin * kh * kw)


def _adaptive_pool_flops(inp: torch.Tensor, out: torch.Tensor) -> float:
    window = math.prod(math.ceil(i / o) for i, o in zip(inp.shape[2:], out.shape[2:], strict=True))
    return float((window + 1) * out.numel())


def count_complexity(model: nn.Module, size: tuple[int, int] = (256, 256),
                     in_channels: int | None = None) -> Complexity:
    """Count params and FLOPs of `model` on one 1 x C x H x W input (eval mode)."""
    if in_channels is None:
        in_channels = getattr(getattr(model, "config", None), "in_channels", 3)
    by_type: dict[str, float] = {}
    dense = 0.0

    def hook(module: nn.Module, inputs: tuple[torch.Tensor, ...], out: torch.Tensor) -> None:
        nonlocal dense
        if isinstance(module, nn.ConvTranspose2d):
            key, flops = "deconv", _conv_flops(module, out)
            kh, kw = module.kernel_size
            dense += float(inputs[0].numel() * (module.out_channels // module.groups) * kh * kw)
        elif isinstance(module, nn.Conv2d):
            key, flops = "conv", _conv_flops(module, out)
            dense += flops
        elif isinstance(module, nn.BatchNorm2d):
            key, flops = "bn", 4.0 * out.numel() if module.affine else 2.0 * out.numel()
        elif isinstance(module, nn.PReLU):
            key, flops = "prelu", float(out.numel())
        elif isinstance(module, nn.Linear):
            key, flops = "linear", float(module.in_features * out.numel())
        elif isinstance(module, nn.AdaptiveAvgPool2d):
            key, flops = "adaptive_pool", _adaptive_pool_flops(inputs[0], out)
        elif isinstance(module, nn.Softmax):
            n = inputs[0].shape[module.dim]
            key, flops = "softmax", float(inputs[0].numel() // n * (3 * n - 1))
        else:
            return
        by_type[key] = by_type.get(key, 0.0) + flops

    handles = [m.register_forward_hook(hook) for m in model.modules() if not list(m.children())]
    was_training = model.training
    threads = torch.get_num_threads()
    # One thread: a batch-1 pass spends longer syncing threads than computing (10x on a busy machine).
    torch.set_num_threads(1)
    model.eval()
    try:
        with torch.no_grad():
            model(torch.zeros(1, in_channels, *size))
    finally:
        for h in handles:
            h.remove()
        model.train(was_training)
        torch.set_num_threads(threads)
    params = sum(p.numel() for p in model.parameters())
    macs = by_type.get("conv", 0.0) + by_type.get("deconv", 0.0)
    return Complexity(params=params, flops=sum(by_type.values()), by_type=by_type, conv_macs=macs,
                      dense_macs=dense)


def check_input_size(size: tuple[int, int]) -> tuple[int, int]:
    """(H, W) as ints, or `LwirstError`: three stride-2 stages need positive multiples of 8."""
    if len(size) != 2:
        raise LwirstError(f"input size needs two values (H W), got {len(size)}")
    height, width = (int(s) for s in size)
    if height <= 0 or width <= 0 or height % 8 or width % 8:
        raise LwirstError(f"input size {height}x{width} is invalid: H and W must be positive multiples "
                          "of 8 (the network halves the resolution three times)")
    return height, width


def config_complexity(config: NetworkConfig, size: tuple[int, int] = (256, 256)) -> Complexity:
    """Complexity of the network a config describes (any registered architecture)."""
    return count_complexity(build_model(config=config), check_input_size(size))


def onnx_complexity(data: bytes, size: tuple[int, int] = (256, 256)) -> Complexity:
    """THOP's rules applied to an ONNX graph at 1 x C x H x W, for models known only as ONNX.

    Params: every float initializer. FLOPs: Conv, ConvTranspose, BatchNormalization,
    PRelu, LeakyRelu, Gemm (Linear) and Softmax nodes counted as the module rules above (MatMul is
    free, as THOP counts torch.matmul and bmm), on tensor
    shapes taken from one ONNX Runtime pass over a zero image (static shape inference
    loses dimensions through computed paddings). An export with BatchNorm folded into
    its convolutions (as `lwirst export` writes) has no BN nodes, so it counts the BN
    share (17 M of LW-IRSTNet's 304 M) as free. A LeakyRelu counts as the PReLU it is in an
    optimised `lwirst export` (one slope, 1 per element); THOP counts a network's own
    nn.LeakyReLU as free, so such a network reads that much higher here than as a module.
    """
    import onnx
    import onnxruntime as ort
    from onnx import numpy_helper

    from lwirst.export import onnx_input_channels, pin_input_shape

    proto = onnx.load_from_string(data)
    channels = onnx_input_channels(proto)
    proto = onnx.load_from_string(pin_input_shape(proto, check_input_size(size)))
    weights = {init.name: numpy_helper.to_array(init) for init in proto.graph.initializer}
    counted = [n for n in proto.graph.node if n.op_type in _ONNX_COUNTED]
    wanted = {name for n in counted for name in (*n.input[:2], n.output[0]) if name and name not in weights}
    known = {v.name for v in (*proto.graph.input, *proto.graph.output)}
    proto.graph.output.extend(onnx.ValueInfoProto(name=name) for name in sorted(wanted - known))
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL  # keep every node's output
    try:
        session = ort.InferenceSession(proto.SerializeToString(), options, providers=["CPUExecutionProvider"])
        names = [o.name for o in session.get_outputs()]
        feed = {session.get_inputs()[0].name: np.zeros((1, channels, *size), np.float32)}
        shapes = {name: tuple(out.shape) for name, out in zip(names, session.run(names, feed), strict=True)}
    except Exception as exc:  # ORT raises its own exception types on graphs it cannot run
        raise LwirstError(f"cannot run the ONNX graph to count its FLOPs ({type(exc).__name__})") from exc
    shapes.update({name: w.shape for name, w in weights.items()})

    def attribute(node: onnx.NodeProto, name: str, default: int) -> int:
        return next((a.i for a in node.attribute if a.name == name), default)

    by_type: dict[str, float] = {}
    dense = 0.0
    for node in counted:
        op, out = node.op_type, math.prod(shapes[node.output[0]])
        if op in ("Conv", "ConvTranspose"):
            kernel = shapes[node.input[1]]  # Conv: Cout x Cin/g x kh x kw; ConvTranspose: Cin x Cout/g x kh x kw
            cin = kernel[1] if op == "Conv" else kernel[0] // attribute(node, "group", 1)
            key, flops = ("conv" if op == "Conv" else "deconv"), out * cin * math.prod(kernel[2:])
            dense += flops if op == "Conv" else math.prod(shapes[node.input[0]]) * math.prod(kernel[1:])
        elif op == "BatchNormalization":
            key, flops = "bn", 4 * out
        elif op in ("PRelu", "LeakyRelu"):
            key, flops = "prelu", out
        elif op == "Gemm":
            key, flops = "linear", out * shapes[node.input[0]][-1]
        else:  # Softmax
            values = shapes[node.input[0]]
            n = values[attribute(node, "axis", -1)]
            key, flops = "softmax", math.prod(values) // n * (3 * n - 1)
        by_type[key] = by_type.get(key, 0.0) + float(flops)
    params = sum(int(w.size) for w in weights.values() if w.dtype.kind == "f")
    macs = by_type.get("conv", 0.0) + by_type.get("deconv", 0.0)
    return Complexity(params=params, flops=sum(by_type.values()), by_type=by_type, conv_macs=macs,
                      dense_macs=float(dense))


_ONNX_COUNTED = ("Conv", "ConvTranspose", "BatchNormalization", "PRelu", "LeakyRelu", "Gemm", "Softmax")
