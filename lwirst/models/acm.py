"""ACM-U-Net (Dai et al., "Asymmetric Contextual Modulation for Infrared Small Target
Detection", WACV 2021): a second architecture in the registry, written from the paper.

A ResNet-20-style encoder (stem to 1/4, three stages of basic residual blocks at
1/4, 1/8 and 1/16) and a U-Net decoder whose joints are asymmetric contextual
modulation: the shallow map is re-weighted by a top-down global channel attention
of the deep map, the deep map by a bottom-up point-wise (per pixel and channel)
attention of the shallow map, the two are summed (2 * (low * td + high * bu)) and
refined by a 3x3 convolution (`lwirst.context.BidirectionalModulation`, without the
FPN variant's projection: the deconvolution already matches channels). An FCN head
predicts at 1/4 and the logits are upsampled bilinearly. With the paper's widths
(8, 16, 32, 64) and four blocks per stage it has 0.52 M parameters.

The encoder downsamples 16 times while lwirst feeds multiples of 8, so each decoder
upsampling is cropped to its skip map (a stride-2 map of an odd side is one row
larger once doubled); inputs whose sides are multiples of 16 need no crop.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import torch
import torch.nn.functional as F
from torch import nn

from lwirst.context import BidirectionalModulation
from lwirst.errors import LwirstError
from lwirst.models.base import Architecture, ConfigFields


@dataclass(frozen=True)
class ACMConfig(ConfigFields):
    """ACM-U-Net: stem width and stage widths (`channels`), residual blocks per stage
    (`blocks`), attention squeeze (`reduction`) and head dropout."""

    TUPLES: ClassVar[tuple[str, ...]] = ("channels", "blocks")

    in_channels: int = 3
    num_classes: int = 1
    channels: tuple[int, int, int, int] = (8, 16, 32, 64)
    blocks: tuple[int, int, int] = (4, 4, 4)
    reduction: int = 4
    dropout: float = 0.1

    def __post_init__(self) -> None:
        checks = [
            (len(self.channels) == 4 and min(self.channels) >= 1, "channels needs four positive widths"),
            (len(self.blocks) == 3 and min(self.blocks) >= 1, "blocks needs three counts >= 1"),
            (min(self.in_channels, self.num_classes, self.reduction) >= 1,
             "in_channels, num_classes and reduction must be >= 1"),
            (self.channels[1] // 4 >= 1, "the stage-1 width must be at least 4 (the head squeezes it by 4)"),
            (0.0 <= self.dropout < 1.0, "dropout must be in [0, 1)"),
        ]
        for ok, message in checks:
            if not ok:
                raise LwirstError(f"invalid ACM config: {message}")


def _conv_bn(cin: int, cout: int, kernel: int, stride: int = 1) -> list[nn.Module]:
    return [nn.Conv2d(cin, cout, kernel, stride, kernel // 2, bias=False), nn.BatchNorm2d(cout)]


class BasicBlock(nn.Module):
    """ResNet basic block; a 1x1 projection on the shortcut when width or stride change."""

    def __init__(self, cin: int, cout: int, stride: int) -> None:
        super().__init__()
        self.body = nn.Sequential(*_conv_bn(cin, cout, 3, stride), nn.ReLU(), *_conv_bn(cout, cout, 3))
        self.shortcut = (nn.Sequential(*_conv_bn(cin, cout, 1, stride)) if stride != 1 or cin != cout
                         else nn.Identity())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.relu(self.body(x) + self.shortcut(x))


def _stage(cin: int, cout: int, blocks: int, stride: int) -> nn.Sequential:
    return nn.Sequential(BasicBlock(cin, cout, stride), *[BasicBlock(cout, cout, 1) for _ in range(blocks - 1)])


class ACMUNet(nn.Module):
    """ACM-U-Net; input sides must be multiples of 8 (see the module docstring)."""

    def __init__(self, config: ACMConfig | None = None) -> None:
        super().__init__()
        cfg = config or ACMConfig()
        self.config = cfg
        stem, c1, c2, c3 = cfg.channels
        self.stem = nn.Sequential(
            nn.BatchNorm2d(cfg.in_channels),
            *_conv_bn(cfg.in_channels, stem, 3, 2), nn.ReLU(),
            *_conv_bn(stem, stem, 3), nn.ReLU(),
            *_conv_bn(stem, c1, 3), nn.ReLU(),
            nn.MaxPool2d(3, 2, 1),
        )
        self.layer1 = _stage(c1, c1, cfg.blocks[0], 1)
        self.layer2 = _stage(c1, c2, cfg.blocks[1], 2)
        self.layer3 = _stage(c2, c3, cfg.blocks[2], 2)
        self.up2 = nn.ConvTranspose2d(c3, c2, 4, 2, 1)
        self.fuse2 = self._fusion(c2, cfg.reduction)
        self.decode2 = _stage(c2, c2, cfg.blocks[1], 1)
        self.up1 = nn.ConvTranspose2d(c2, c1, 4, 2, 1)
        self.fuse1 = self._fusion(c1, cfg.reduction)
        self.decode1 = _stage(c1, c1, cfg.blocks[0], 1)
        self.head = nn.Sequential(*_conv_bn(c1, c1 // 4, 3), nn.ReLU(), nn.Dropout(cfg.dropout),
                                  nn.Conv2d(c1 // 4, cfg.num_classes, 1))

    @staticmethod
    def _fusion(channels: int, reduction: int) -> nn.Module:
        return BidirectionalModulation(channels, top_down_global=True, bottom_up_global=False,
                                       reduction=reduction, project_high=False)

    @staticmethod
    def _to(skip: torch.Tensor, up: torch.Tensor) -> torch.Tensor:
        return up[:, :, : skip.shape[2], : skip.shape[3]]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        c1 = self.layer1(self.stem(x))
        c2 = self.layer2(c1)
        c3 = self.layer3(c2)
        d2 = self.decode2(self.fuse2(self._to(c2, self.up2(c3)), c2))
        d1 = self.decode1(self.fuse1(self._to(c1, self.up1(d2)), c1))
        return F.interpolate(self.head(d1), scale_factor=4.0, mode="bilinear", align_corners=False)


ARCHITECTURE = Architecture("acm", "ACM-U-Net", ACMUNet, ACMConfig,
                            "Dai et al., Asymmetric Contextual Modulation for Infrared Small Target Detection, "
                            "WACV 2021")
