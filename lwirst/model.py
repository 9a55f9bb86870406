"""LW-IRSTNet (Kou et al., TGRS 2023, Sec. III) and its ablation variants.

Every layer is convolution -> BatchNorm -> activation without bias; the encoder
(stages 1-3) uses PReLU, the decoder (stages 4-6) ReLU. The depthwise convolution
inside a depthwise bottleneck is followed by ReLU in every stage, as in the
authors' reference implementation. The network returns one-channel logits at the
input resolution; threshold 0 is probability 0.5.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from lwirst.config import NetConfig
from lwirst.context import CONTEXT_MODULES

Act = type[nn.Module]


def conv_bn_act(cin: int, cout: int, kernel: int | tuple[int, int], act: Act, *,
                stride: int = 1, padding: int | tuple[int, int] = 0,
                dilation: int = 1, groups: int = 1) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(cin, cout, kernel, stride=stride, padding=padding, dilation=dilation,
                  groups=groups, bias=False),
        nn.BatchNorm2d(cout),
        act(),
    )


class InitialBlock(nn.Module):
    """Stage 1 (Eq. 1): 3x3/2 conv to (out - in) channels beside a 3x3/2 max-pool."""

    def __init__(self, cin: int, cout: int, act: Act) -> None:
        super().__init__()
        self.conv = nn.Conv2d(cin, cout - cin, 3, stride=2, padding=1, bias=False)
        self.pool = nn.MaxPool2d(3, stride=2, padding=1)
        self.bn = nn.BatchNorm2d(cout)
        self.act = act()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.act(self.bn(torch.cat((self.conv(x), self.pool(x)), 1)))


class Bottleneck(nn.Module):
    """Residual bottleneck: 1x1 reduce/expand -> main convolution -> 1x1 restore.

    kind selects the main convolution: "regular" (3x3), "atrous" (3x3 dilated),
    "asymmetric" (k x 1 then 1 x k) or "depthwise" (3x3 per channel, expanded).
    """

    def __init__(self, channels: int, kind: str, act: Act, *, internal: int,
                 kernel: int = 3, dilation: int = 1, dropout: float = 0.0) -> None:
        super().__init__()
        self.reduce = conv_bn_act(channels, internal, 1, act)
        if kind == "regular":
            main: nn.Module = conv_bn_act(internal, internal, 3, act, padding=1)
        elif kind == "atrous":
            main = conv_bn_act(internal, internal, 3, act, padding=dilation, dilation=dilation)
        elif kind == "asymmetric":
            half = kernel // 2
            main = nn.Sequential(
                conv_bn_act(internal, internal, (kernel, 1), act, padding=(half, 0)),
                conv_bn_act(internal, internal, (1, kernel), act, padding=(0, half)),
            )
        elif kind == "depthwise":
            main = conv_bn_act(internal, internal, 3, nn.ReLU, padding=1, groups=internal)
        else:
            raise ValueError(f"unknown bottleneck kind {kind!r}")
        self.main = main
        self.restore = conv_bn_act(internal, channels, 1, act)
        self.dropout = nn.Dropout2d(dropout)
        self.act = act()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        branch = self.dropout(self.restore(self.main(self.reduce(x))))
        return self.act(x + branch)


class DownsamplingBottleneck(nn.Module):
    """2x2/2 projection branch beside a 2x2 max-pool shortcut padded with zero channels."""

    def __init__(self, cin: int, cout: int, act: Act, *, internal: int, dropout: float) -> None:
        super().__init__()
        self.extra_channels = cout - cin
        self.pool = nn.MaxPool2d(2, stride=2)
        self.project = conv_bn_act(cin, internal, 2, act, stride=2)
        self.main = conv_bn_act(internal, internal, 3, act, padding=1)
        self.restore = conv_bn_act(internal, cout, 1, act)
        self.dropout = nn.Dropout2d(dropout)
        self.act = act()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        branch = self.dropout(self.restore(self.main(self.project(x))))
        # F.pad on the channel axis keeps batch and spatial sizes symbolic in ONNX.
        shortcut = F.pad(self.pool(x), (0, 0, 0, 0, 0, self.extra_channels))
        return self.act(shortcut + branch)


class Upsample(nn.Module):
    """x2 upsampling: 3x3/2 deconvolution, or bilinear resize and a 1x1 channel conv.

    The bilinear variant resizes before the 1x1 conv, except on the logit layer where
    the conv comes first (one output channel), as in the authors' ablation code.
    """

    def __init__(self, cin: int, cout: int, mode: str, *, conv_first: bool = False) -> None:
        super().__init__()
        self.mode = mode
        self.conv_first = conv_first
        if mode == "deconv":
            self.conv: nn.Module = nn.ConvTranspose2d(cin, cout, 3, stride=2, padding=1,
                                                      output_padding=1, bias=False)
        else:
            self.conv = nn.Conv2d(cin, cout, 1, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.mode == "deconv":
            return self.conv(x)
        if self.conv_first:
            return F.interpolate(self.conv(x), scale_factor=2.0, mode="bilinear", align_corners=False)
        return self.conv(F.interpolate(x, scale_factor=2.0, mode="bilinear", align_corners=False))


class Fusion(nn.Module):
    """Joins an upsampled decoder map with the same-scale encoder map (Table IX)."""

    def __init__(self, channels: int, mode: str, context: str) -> None:
        super().__init__()
        self.mode = mode
        self.module: nn.Module | None = None
        fusion = CONTEXT_MODULES[context].fusion
        if fusion is not None:
            self.mode = "module"
            self.module = fusion(channels)
        elif mode == "concat":
            self.module = conv_bn_act(2 * channels, channels, 1, nn.ReLU)

    def forward(self, up: torch.Tensor, skip: torch.Tensor) -> torch.Tensor:
        if self.mode == "sum":
            return up + skip
        if self.mode == "none":
            return up
        if self.mode == "concat":
            return self.module(torch.cat((up, skip), 1))
        return self.module(up, skip)


class LWIRSTNet(nn.Module):
    """The six-stage encoder-decoder; input sides must be multiples of 8."""

    def __init__(self, config: NetConfig | None = None) -> None:
        super().__init__()
        cfg = config or NetConfig()
        self.config = cfg
        c1, c2, c3 = cfg.channels
        enc, dec = nn.PReLU, nn.ReLU
        ratio, down = cfg.compression, cfg.down_compression

        self.stage1 = InitialBlock(cfg.in_channels, c1, enc)
        self.stage2 = nn.Sequential(
            DownsamplingBottleneck(c1, c2, enc, internal=max(1, c1 // down), dropout=cfg.dropout_stage2),
            *[Bottleneck(c2, "regular", enc, internal=c2 // ratio, dropout=cfg.dropout_stage2)
              for _ in range(cfg.stage2_blocks)],
        )
        stage3: list[nn.Module] = [
            DownsamplingBottleneck(c2, c3, enc, internal=max(1, c2 // down), dropout=cfg.dropout_rest)
        ]
        for module in range(cfg.num_daaa):
            stage3 += self._daaa_module(cfg, module, enc)
        if (multiscale := CONTEXT_MODULES[cfg.context].multiscale) is not None:
            stage3.append(multiscale(c3))
        self.stage3 = nn.Sequential(*stage3)

        split = cfg.upsampling == "bilinear_deconv"
        up_mode = "bilinear" if cfg.upsampling in ("bilinear", "bilinear_deconv") else "deconv"
        self.up4 = Upsample(c3, c2, up_mode)
        self.fuse4 = Fusion(c2, cfg.fusion, cfg.context)
        self.stage4 = nn.Sequential(*[
            Bottleneck(c2, "regular", dec, internal=c2 // ratio, dropout=cfg.dropout_rest)
            for _ in range(cfg.stage4_blocks)
        ])
        self.up5 = Upsample(c2, c1, up_mode)
        self.fuse5 = Fusion(c1, cfg.fusion, cfg.context)
        self.stage5 = nn.Sequential(*[
            Bottleneck(c1, "regular", dec, internal=max(1, c1 // ratio), dropout=cfg.dropout_rest)
            for _ in range(cfg.stage5_blocks)
        ])
        self.up6 = Upsample(c1, cfg.num_classes, "deconv" if split else up_mode, conv_first=True)

    @staticmethod
    def _daaa_module(cfg: NetConfig, index: int, act: Act) -> list[nn.Module]:
        """One DAAA module (Table I): Dw -> At -> As -> At, or four of one kind (Table III)."""
        c3 = cfg.channels[2]
        kinds = (["depthwise", "atrous", "asymmetric", "atrous"] if cfg.daaa_conv == "daaa"
                 else [cfg.daaa_conv] * 4)
        pair = index % 2  # DAAA 3-4 repeat DAAA 1-2
        first, second = cfg.dilations[2 * pair], cfg.dilations[2 * pair + 1]
        rates = [first, first, second, second]  # the two At-Conv layers sit at positions 1 and 3
        blocks: list[nn.Module] = []
        for position, kind in enumerate(kinds):
            internal = c3 * cfg.dw_expansion if kind == "depthwise" else c3 // cfg.compression
            blocks.append(Bottleneck(c3, kind, act, internal=internal,
                                     kernel=cfg.asym_kernels[index],
                                     dilation=rates[position] if kind == "atrous" else 1,
                                     dropout=cfg.dropout_rest))
        return blocks

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x1 = self.stage1(x)
        x2 = self.stage2(x1)
        x3 = self.stage3(x2)
        x4 = self.stage4(self.fuse4(self.up4(x3), x2))
        x5 = self.stage5(self.fuse5(self.up5(x4), x1))
        return self.up6(x5)

