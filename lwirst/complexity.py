"""Parameters and FLOPs in the paper's convention (THOP 0.1.1's counting rules).

The paper's Tables II-IX were measured with THOP 0.1.1, which counts one
multiply-accumulate as one "FLOP" and only for modules it knows:

* Conv2d: output elements x Cin/groups x kh x kw
* ConvTranspose2d: the same formula applied to its *output* elements
* BatchNorm2d: 2 per element, doubled when affine (scale and shift): 4
* PReLU: 1 per element
* Linear: in_features per output element
* AdaptiveAvgPool2d: (window size + 1) per output element
* ReLU, Sigmoid, pooling, dropout, and functional ops (interpolate, add, cat): 0

`count_complexity` reproduces those rules with forward hooks, so any variant can
be compared with the printed tables without installing THOP.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import torch
from torch import nn

from lwirst.config import NetConfig
from lwirst.model import LWIRSTNet

CONVENTION = "THOP 0.1.1 convention (1 MAC = 1 FLOP; BN 4/elem, PReLU 1/elem, ReLU/pool/resize 0)"


@dataclass
class Complexity:
    """Parameter count and FLOPs of one network at one input size, split by layer type."""

    params: int
    flops: float
    by_type: dict[str, float] = field(default_factory=dict)
    conv_macs: float = 0.0

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

    def hook(module: nn.Module, inputs: tuple[torch.Tensor, ...], out: torch.Tensor) -> None:
        if isinstance(module, nn.ConvTranspose2d):
            key, flops = "deconv", _conv_flops(module, out)
        elif isinstance(module, nn.Conv2d):
            key, flops = "conv", _conv_flops(module, out)
        elif isinstance(module, nn.BatchNorm2d):
            key, flops = "bn", 4.0 * out.numel() if module.affine else 2.0 * out.numel()
        elif isinstance(module, nn.PReLU):
            key, flops = "prelu", float(out.numel())
        elif isinstance(module, nn.Linear):
            key, flops = "linear", float(module.in_features * out.numel())
        elif isinstance(module, nn.AdaptiveAvgPool2d):
            key, flops = "adaptive_pool", _adaptive_pool_flops(inputs[0], out)
        else:
            return
        by_type[key] = by_type.get(key, 0.0) + flops

    handles = [m.register_forward_hook(hook) for m in model.modules() if not list(m.children())]
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            model(torch.zeros(1, in_channels, *size))
    finally:
        for h in handles:
            h.remove()
        model.train(was_training)
    params = sum(p.numel() for p in model.parameters())
    macs = by_type.get("conv", 0.0) + by_type.get("deconv", 0.0)
    return Complexity(params=params, flops=sum(by_type.values()), by_type=by_type, conv_macs=macs)


def config_complexity(config: NetConfig, size: tuple[int, int] = (256, 256)) -> Complexity:
    """Complexity of the network a config describes."""
    return count_complexity(LWIRSTNet(config), size)
