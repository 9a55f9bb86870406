"""ENet (Paszke et al., "ENet: A Deep Neural Network Architecture for Real-Time Semantic
Segmentation", arXiv 1606.02147, 2016): Table II's lightweight generic baseline, written from
the paper's Table 1 and Sec. 3-4.

* Initial block: a 3x3/2 convolution to (16 - C) maps beside a 2x2/2 max-pool of the
  C-channel input, concatenated to 16 maps, then BN and PReLU.
* Bottlenecks (Fig. 2b): 1x1 projection, main convolution, 1x1 expansion, each followed by
  BN and an activation, then spatial dropout (p = 0.01 in stage 1, 0.1 afterwards), added to
  the shortcut and activated once more. The main convolution is a 3x3 ("regular"), a dilated
  3x3 or an asymmetric 5x1 then 1x5 (BN and activation between the two). Downsampling
  bottlenecks project with a 2x2/2 convolution and take a 2x2/2 max-pool of the input,
  zero-padded to the new width, as the shortcut (its indices are kept); upsampling
  bottlenecks put a 2x2/2 transposed convolution in the branch and a 1x1 convolution + BN
  on the shortcut, max-unpooled with the indices of the matching downsampling block.
* Stages: 1 (to 64 maps at 1/4): downsampling + 4 regular; 2 (to 128 at 1/8):
  downsampling, regular, dilated 2, asymmetric 5, dilated 4, regular, dilated 8,
  asymmetric 5, dilated 16; 3: stage 2 without its downsampling; 4: upsampling to 64 + 2
  regular; 5: upsampling to 16 + 1 regular; then a 3x3/2 transposed convolution to the
  logits at the input resolution.

Details the paper leaves open, chosen so that the count lands on Table II's printed row:
the internal width is the bottleneck's *input* width / 4 (so 64/4 in stage 2's downsampling
and 128/4 in stage 4's upsampling); PReLU with one shared slope (PyTorch's default) in the
encoder (initial block, stages 1-3) after every BN and after each sum, ReLU in the decoder
(stages 4-5); BN and activation also between the 5x1 and 1x5 convolutions; no bias in any
convolution followed by BN, a bias on the final transposed convolution. Measured with
`lwirst.complexity` (THOP 0.1.1 convention) at 1 x 3 x 256 x 256 and one class:
349,069 parameters (0.3491 M, printed 0.3491) and 535,150,592 FLOPs (535.1506 M, printed
535.1505: 92 FLOPs, 2e-7, apart, less than any layer's count). The alternatives measured
(params M / FLOPs M): internal width output/4 0.3578 / 522.11; per-channel PReLU slopes
0.3553 / 535.15; 3x3/2 transposed convolutions in the upsampling blocks 0.3555 / 577.09;
PReLU in the decoder too 0.3491 / 538.66; a 2x2/2 final deconvolution 0.3490 / 529.91.

Sides must be multiples of 8 (three halvings); unpooling is a scatter of each map into
its pre-pool plane, which exports to ONNX (``aten::max_unpool2d`` has no exporter).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import torch
import torch.nn.functional as F
from torch import nn

from lwirst.errors import LwirstError
from lwirst.models.base import Architecture, ConfigFields


@dataclass(frozen=True)
class ENetConfig(ConfigFields):
    """ENet: widths after the initial block, stage 1 and stage 2 (`channels`), the bottleneck
    projection ratio, and spatial dropout in stage 1 and in stages 2-5 (`dropout`)."""

    TUPLES: ClassVar[tuple[str, ...]] = ("channels", "dropout")

    in_channels: int = 3
    num_classes: int = 1
    channels: tuple[int, int, int] = (16, 64, 128)
    projection_ratio: int = 4
    dropout: tuple[float, float] = (0.01, 0.1)

    def __post_init__(self) -> None:
        checks = [
            (len(self.channels) == 3 and min(self.channels) >= 1, "channels needs three positive widths"),
            (min(self.in_channels, self.num_classes, self.projection_ratio) >= 1,
             "in_channels, num_classes and projection_ratio must be >= 1"),
            (len(self.channels) == 3 and self.channels[0] > self.in_channels,
             "the initial width must exceed in_channels (its convolution makes the difference)"),
            (len(self.channels) == 3 and self.channels[0] <= self.channels[1] <= self.channels[2],
             "widths must not shrink (the downsampling shortcut zero-pads channels)"),
            (len(self.channels) == 3 and self.channels[0] // max(self.projection_ratio, 1) >= 1,
             "the initial width divided by projection_ratio must be at least 1"),
            (len(self.dropout) == 2 and all(0.0 <= p < 1.0 for p in self.dropout),
             "dropout needs two rates in [0, 1) (stage 1, then stages 2-5)"),
        ]
        for ok, message in checks:
            if not ok:
                raise LwirstError(f"invalid ENet config: {message}")


def _act(decoder: bool) -> nn.Module:
    return nn.ReLU() if decoder else nn.PReLU()


def _conv_bn_act(cin: int, cout: int, kernel: int | tuple[int, int], decoder: bool, *, stride: int = 1,
                 padding: int | tuple[int, int] = 0, dilation: int = 1) -> list[nn.Module]:
    return [nn.Conv2d(cin, cout, kernel, stride, padding, dilation, bias=False), nn.BatchNorm2d(cout),
            _act(decoder)]


def _unpool(x: torch.Tensor, indices: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    """Max-unpooling: each value of `x` back at its `indices` in a zero map of `like`'s size."""
    n, c, h, w = x.shape[0], x.shape[1], like.shape[2], like.shape[3]
    out = x.new_zeros(n, c, h * w).scatter(2, indices.flatten(2), x.flatten(2))
    return out.view(n, c, h, w)


class InitialBlock(nn.Module):
    """3x3/2 convolution beside a 2x2/2 max-pool, concatenated, BN, PReLU."""

    def __init__(self, cin: int, cout: int) -> None:
        super().__init__()
        self.conv = nn.Conv2d(cin, cout - cin, 3, 2, 1, bias=False)
        self.pool = nn.MaxPool2d(2, 2)
        self.bn = nn.BatchNorm2d(cout)
        self.act = nn.PReLU()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.act(self.bn(torch.cat((self.conv(x), self.pool(x)), 1)))


class Bottleneck(nn.Module):
    """Regular, dilated or asymmetric bottleneck with an identity shortcut."""

    def __init__(self, channels: int, ratio: int, dropout: float, *, kind: str = "regular", dilation: int = 1,
                 decoder: bool = False) -> None:
        super().__init__()
        inner = channels // ratio
        if kind == "asymmetric":
            main = [*_conv_bn_act(inner, inner, (5, 1), decoder, padding=(2, 0)),
                    *_conv_bn_act(inner, inner, (1, 5), decoder, padding=(0, 2))]
        else:
            main = _conv_bn_act(inner, inner, 3, decoder, padding=dilation, dilation=dilation)
        self.branch = nn.Sequential(*_conv_bn_act(channels, inner, 1, decoder), *main,
                                    *_conv_bn_act(inner, channels, 1, decoder), nn.Dropout2d(dropout))
        self.act = _act(decoder)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.act(x + self.branch(x))


class Downsampling(nn.Module):
    """Halves the resolution: 2x2/2 projection branch; max-pool shortcut zero-padded to `cout`.
    Returns the output and the pooling indices for the matching upsampling block."""

    def __init__(self, cin: int, cout: int, ratio: int, dropout: float) -> None:
        super().__init__()
        inner = cin // ratio
        self.pad = cout - cin
        self.branch = nn.Sequential(*_conv_bn_act(cin, inner, 2, False, stride=2),
                                    *_conv_bn_act(inner, inner, 3, False, padding=1),
                                    *_conv_bn_act(inner, cout, 1, False), nn.Dropout2d(dropout))
        self.act = nn.PReLU()

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        pooled, indices = F.max_pool2d(x, 2, 2, return_indices=True)
        shortcut = F.pad(pooled, (0, 0, 0, 0, 0, self.pad)) if self.pad else pooled
        return self.act(shortcut + self.branch(x)), indices


class Upsampling(nn.Module):
    """Doubles the resolution: 2x2/2 transposed-convolution branch; 1x1 conv + BN shortcut,
    max-unpooled with the indices (and to the size) of the matching downsampling input."""

    def __init__(self, cin: int, cout: int, ratio: int, dropout: float) -> None:
        super().__init__()
        inner = cin // ratio
        self.shortcut = nn.Sequential(nn.Conv2d(cin, cout, 1, bias=False), nn.BatchNorm2d(cout))
        self.branch = nn.Sequential(*_conv_bn_act(cin, inner, 1, True),
                                    nn.ConvTranspose2d(inner, inner, 2, 2, bias=False), nn.BatchNorm2d(inner),
                                    nn.ReLU(), *_conv_bn_act(inner, cout, 1, True), nn.Dropout2d(dropout))
        self.act = nn.ReLU()

    def forward(self, x: torch.Tensor, indices: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
        return self.act(_unpool(self.shortcut(x), indices, like) + self.branch(x))


def _stage2(channels: int, ratio: int, dropout: float) -> list[nn.Module]:
    """Regular, dilated 2, asymmetric 5, dilated 4, regular, dilated 8, asymmetric 5, dilated 16."""
    plan = [("regular", 1), ("regular", 2), ("asymmetric", 1), ("regular", 4),
            ("regular", 1), ("regular", 8), ("asymmetric", 1), ("regular", 16)]
    return [Bottleneck(channels, ratio, dropout, kind=kind, dilation=d) for kind, d in plan]


class ENet(nn.Module):
    """ENet; input sides must be multiples of 8 (see the module docstring)."""

    def __init__(self, config: ENetConfig | None = None) -> None:
        super().__init__()
        cfg = config or ENetConfig()
        self.config = cfg
        c0, c1, c2 = cfg.channels
        r, (p1, p2) = cfg.projection_ratio, cfg.dropout
        self.initial = InitialBlock(cfg.in_channels, c0)
        self.down1 = Downsampling(c0, c1, r, p1)
        self.stage1 = nn.Sequential(*[Bottleneck(c1, r, p1) for _ in range(4)])
        self.down2 = Downsampling(c1, c2, r, p2)
        self.stage23 = nn.Sequential(*_stage2(c2, r, p2), *_stage2(c2, r, p2))
        self.up4 = Upsampling(c2, c1, r, p2)
        self.stage4 = nn.Sequential(*[Bottleneck(c1, r, p2, decoder=True) for _ in range(2)])
        self.up5 = Upsampling(c1, c0, r, p2)
        self.stage5 = Bottleneck(c0, r, p2, decoder=True)
        self.head = nn.ConvTranspose2d(c0, cfg.num_classes, 3, 2, 1, output_padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x0 = self.initial(x)
        x1, indices1 = self.down1(x0)
        x1 = self.stage1(x1)
        x2, indices2 = self.down2(x1)
        x = self.stage4(self.up4(self.stage23(x2), indices2, x1))
        return self.head(self.stage5(self.up5(x, indices1, x0)))


ARCHITECTURE = Architecture("enet", "ENet", ENet, ENetConfig,
                            "Paszke et al., ENet: A Deep Neural Network Architecture for Real-Time Semantic "
                            "Segmentation, arXiv 1606.02147, 2016")
