"""Context and fusion modules of Table IX, rebuilt from the papers that proposed them.

LW-IRSTNet deliberately omits them (Sec. III-A); Table IX adds each one back to show
what it costs. Two places take a module:

* multiscale feature fusion (MFFM, ``ContextSpec.multiscale``): appended to stage 3 on the
  64-channel 1/8-resolution map, channels in = channels out (ASPP, CPM);
* context fusion (``ContextSpec.fusion``): at the two decoder joints, replacing the
  sum of the upsampled decoder map (``high``) and the same-scale encoder map
  (``low``), channels in = channels out (AFM, ACM, BiLocal, BiGlobal).

Every convolution is bias-free (the network's rule, Sec. III-B 5-4); BatchNorm
follows a convolution wherever the original module has one. Hyperparameters are
named constants or constructor arguments that cite where they come from.

With these modules every Table IX parameter count is reproduced, but none of the
FLOPs: at the paper's 1 x 3 x 256 x 256 input they come out at about half the print. For
ASPP, AFM, ACM, BiLocal and BiGlobal the print equals the count for a batch of two
images to the printed precision (THOP counts FLOPs over the batch, params once;
with one image, BatchNorm after global pooling cannot run in training mode, a
plausible reason to profile with two). CPM and CPM+AFM miss even at batch two.
Those FLOPs stay unmatched; ``data/paper/table9.csv`` records why per row.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import partial

import torch
import torch.nn.functional as F
from torch import nn

# DeepLabV3+ (Chen et al., ECCV 2018, Sec. 3.1) keeps DeepLabV3's ASPP: rates (6, 12, 18) at
# output stride 16, doubled at output stride 8, which is LW-IRSTNet's stage-3 stride.
ASPP_RATES_OS8 = (12, 24, 36)
# DeepLab gives each branch 256 filters on a 2048-channel map (ratio 8); on a 64-channel map we
# use the network's own bottleneck ratio 4 (ENet/Table IV). Ratio 8 gives 0.18 M params and ratio
# 1 gives 0.30 M; ratio 4 gives the printed 0.20 M.
ASPP_REDUCTION = 4

# AGPCNet (Zhang et al., TAES 2023): CPM(scales, reduce_ratios) where reduce_ratios[0] shrinks
# the input for the pyramid and reduce_ratios[1] is the non-local query/key reduction. The
# released network uses scales (10, 6) and ratios (8, 8), used here; the CPM class default
# scales (3, 5, 6, 10) come closer to Table IX's figures but match neither (see table9.csv).
CPM_SCALES = (10, 6)
CPM_REDUCE_RATIOS = (8, 8)

# AGPCNet's AFM and ACM (Dai et al., WACV 2021) both squeeze their attention MLPs by 4.
ATTENTION_REDUCTION = 4


def _conv_bn(cin: int, cout: int, kernel: int = 1, *, padding: int = 0, dilation: int = 1,
             act: type[nn.Module] | None = nn.ReLU) -> nn.Sequential:
    layers: list[nn.Module] = [
        nn.Conv2d(cin, cout, kernel, padding=padding, dilation=dilation, bias=False),
        nn.BatchNorm2d(cout),
    ]
    if act is not None:
        layers.append(act())
    return nn.Sequential(*layers)


class ASPP(nn.Module):
    """Atrous spatial pyramid pooling (DeepLabV3/V3+): a 1x1 conv, three 3x3 atrous convs
    and image-level pooling in parallel, concatenated and projected by a 1x1 conv, each
    conv with BN and ReLU. Regular (not separable) atrous convs, as in DeepLabV3's ASPP
    that V3+ reuses with a ResNet backbone."""

    def __init__(self, channels: int, *, rates: tuple[int, ...] = ASPP_RATES_OS8,
                 reduction: int = ASPP_REDUCTION) -> None:
        super().__init__()
        width = max(1, channels // reduction)
        self.branches = nn.ModuleList(
            [_conv_bn(channels, width, 1)]
            + [_conv_bn(channels, width, 3, padding=r, dilation=r) for r in rates]
        )
        self.image_pool = nn.Sequential(nn.AdaptiveAvgPool2d(1), _conv_bn(channels, width, 1))
        self.project = _conv_bn(width * (len(rates) + 2), channels, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        feats = [branch(x) for branch in self.branches]
        pooled = self.image_pool(x)
        feats.append(F.interpolate(pooled, size=x.shape[2:], mode="bilinear", align_corners=False))
        return self.project(torch.cat(feats, 1))


class NonLocal(nn.Module):
    """Embedded-Gaussian self-attention with a zero-initialised residual scale, as AGPCNet's
    NonLocalBlock: 1x1 query/key reduced by `reduction`, full-width 1x1 value."""

    def __init__(self, channels: int, reduction: int) -> None:
        super().__init__()
        inner = max(1, channels // reduction)
        self.query = nn.Conv2d(channels, inner, 1, bias=False)
        self.key = nn.Conv2d(channels, inner, 1, bias=False)
        self.value = nn.Conv2d(channels, channels, 1, bias=False)
        self.softmax = nn.Softmax(dim=-1)
        self.gamma = nn.Parameter(torch.zeros(1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, c, h, w = x.shape
        q = self.query(x).flatten(2).transpose(1, 2)
        k = self.key(x).flatten(2)
        attention = self.softmax(torch.bmm(q, k))
        v = self.value(x).flatten(2)
        out = torch.bmm(v, attention.transpose(1, 2)).view(b, c, h, w)
        return self.gamma * out + x


def _adaptive_bounds(size: int, bins: int) -> list[tuple[int, int]]:
    """PyTorch's adaptive-pooling bins: [floor(i size / bins), ceil((i + 1) size / bins))."""
    return [(i * size // bins, -(-(i + 1) * size // bins)) for i in range(bins)]


def adaptive_max_pool(x: torch.Tensor, rows: int, cols: int) -> torch.Tensor:
    """`F.adaptive_max_pool2d(x, (rows, cols))` as slices and max-reductions.

    ONNX has no adaptive max-pooling for bins that do not divide the map; a max over a
    rectangle is a max over its rows then its columns, so the same bins taken one axis
    at a time export, and give identical values.
    """
    h, w = x.shape[2:]
    x = torch.cat([x[:, :, r0:r1].amax(2, keepdim=True) for r0, r1 in _adaptive_bounds(h, rows)], 2)
    return torch.cat([x[:, :, :, c0:c1].amax(3, keepdim=True) for c0, c1 in _adaptive_bounds(w, cols)], 3)


def _patch_bounds(size: int, parts: int) -> list[tuple[int, int]]:
    """AGPCNet's split: `parts` strips of size // parts, the last one taking the rest."""
    step = size // parts
    return [(i * step, size if i == parts - 1 else (i + 1) * step) for i in range(parts)]


class AttentionGuidedContextBlock(nn.Module):
    """AGPCNet's AGCB (patch variant): non-local attention inside each of scale x scale
    patches, each patch reweighted by a global context attention (max-pool to scale x
    scale, non-local, sigmoid), then a 3x3 conv + BN added back with a learned scale.

    A map smaller than `scale` is split into one-pixel patches (AGPCNet would produce
    empty ones); on the paper's 32x32 map every scale <= 32 is split as in AGPCNet.
    The patch grid is computed from the map size, so an ONNX export of it holds for
    the exported input size only (`size_dependent`).
    """

    size_dependent = True

    def __init__(self, channels: int, scale: int, nl_reduction: int) -> None:
        super().__init__()
        self.scale = scale
        self.local = NonLocal(channels, nl_reduction)
        self.global_attention = NonLocal(channels, nl_reduction)
        self.sigmoid = nn.Sigmoid()
        self.conv = _conv_bn(channels, channels, 3, padding=1, act=None)
        self.gamma = nn.Parameter(torch.zeros(1))
        self.relu = nn.ReLU()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h, w = x.shape[2:]
        rows, cols = min(self.scale, h), min(self.scale, w)
        gca = self.sigmoid(self.global_attention(adaptive_max_pool(x, rows, cols)))
        context = torch.cat([
            torch.cat([
                self.local(x[:, :, r0:r1, c0:c1]) * gca[:, :, i, j, None, None]
                for j, (c0, c1) in enumerate(_patch_bounds(w, cols))
            ], 3)
            for i, (r0, r1) in enumerate(_patch_bounds(h, rows))
        ], 2)
        return self.relu(self.gamma * self.conv(context) + x)


class CPM(nn.Module):
    """AGPCNet's context pyramid module: 1x1 reduce, one AGCB per scale, concatenate with
    the reduced map and project back with a 1x1 conv (BN + ReLU on both 1x1 convs)."""

    def __init__(self, channels: int, *, scales: tuple[int, ...] = CPM_SCALES,
                 reduce_ratios: tuple[int, int] = CPM_REDUCE_RATIOS) -> None:
        super().__init__()
        inner = max(1, channels // reduce_ratios[0])
        self.reduce = _conv_bn(channels, inner, 1)
        self.blocks = nn.ModuleList(
            [AttentionGuidedContextBlock(inner, s, reduce_ratios[1]) for s in scales]
        )
        self.project = _conv_bn(inner * (len(scales) + 1), channels, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        reduced = self.reduce(x)
        return self.project(torch.cat([reduced, *(block(reduced) for block in self.blocks)], 1))


def _channel_attention(channels: int, reduction: int, *, pooled: bool) -> nn.Sequential:
    """Squeeze-excite style 1x1 MLP with sigmoid: global (after average pooling, one
    weight per channel) or local (point-wise, one weight per channel and pixel)."""
    inner = max(1, channels // reduction)
    layers: list[nn.Module] = [nn.AdaptiveAvgPool2d(1)] if pooled else []
    layers += [_conv_bn(channels, inner, 1), _conv_bn(inner, channels, 1, act=nn.Sigmoid)]
    return nn.Sequential(*layers)


class AsymmetricFusion(nn.Module):
    """AGPCNet's AFM: project the high-level map (1x1 conv, BN, ReLU), add the low-level
    map, 3x3 conv (BN, ReLU), then gate by channel attention of the high-level map and
    point-wise attention of the low-level map."""

    def __init__(self, channels: int, *, reduction: int = ATTENTION_REDUCTION) -> None:
        super().__init__()
        self.project_high = _conv_bn(channels, channels, 1)
        self.channel_att = _channel_attention(channels, reduction, pooled=True)
        self.point_att = _channel_attention(channels, reduction, pooled=False)
        self.post = _conv_bn(channels, channels, 3, padding=1)

    def forward(self, high: torch.Tensor, low: torch.Tensor) -> torch.Tensor:
        high = self.project_high(high)
        return self.post(low + high) * self.channel_att(high) * self.point_att(low)


class BidirectionalModulation(nn.Module):
    """ACM and its ablations (Dai et al., WACV 2021): the low-level map is modulated by an
    attention of the high-level map (top-down) and the high-level map by an attention of
    the low-level map (bottom-up); 2 * (low * td + high * bu) then a 3x3 conv (BN, ReLU).

    ACM is top-down global + bottom-up local; BiLocal uses local attention on both sides,
    BiGlobal global on both. `project_high` adds the 1x1 conv + BN + ReLU that the
    authors' "Reduce" variants put on the high-level map (their FPN decoder); their
    U-Net decoder omits it because its deconvolution already matches channels. It is
    on by default because Table IX prints identical costs for ACM and AFM, which differ
    by exactly this projection; without it ACM has 0.17 M params, not the printed 0.18 M.
    """

    def __init__(self, channels: int, *, top_down_global: bool, bottom_up_global: bool,
                 reduction: int = ATTENTION_REDUCTION, project_high: bool = True) -> None:
        super().__init__()
        self.project_high = _conv_bn(channels, channels, 1) if project_high else nn.Identity()
        self.top_down = _channel_attention(channels, reduction, pooled=top_down_global)
        self.bottom_up = _channel_attention(channels, reduction, pooled=bottom_up_global)
        self.post = _conv_bn(channels, channels, 3, padding=1)

    def forward(self, high: torch.Tensor, low: torch.Tensor) -> torch.Tensor:
        high = self.project_high(high)
        return self.post(2 * low * self.top_down(high) + 2 * high * self.bottom_up(low))


@dataclass(frozen=True)
class ContextSpec:
    """One Table IX context option: the multiscale module it appends to stage 3 and the fusion module it puts
    at each decoder joint, each built from the map's channels (None: that place stays LW-IRSTNet's own)."""

    multiscale: Callable[[int], nn.Module] | None = None
    fusion: Callable[[int], nn.Module] | None = None


# Every `NetConfig.context` name (`lwirst.config.CONTEXTS`, which stays torch-free) and what it builds.
CONTEXT_MODULES: dict[str, ContextSpec] = {
    "none": ContextSpec(),
    "aspp": ContextSpec(multiscale=ASPP),
    "cpm": ContextSpec(multiscale=CPM),
    "afm": ContextSpec(fusion=AsymmetricFusion),
    "acm": ContextSpec(fusion=partial(BidirectionalModulation, top_down_global=True, bottom_up_global=False)),
    "bilocal": ContextSpec(fusion=partial(BidirectionalModulation, top_down_global=False, bottom_up_global=False)),
    "biglobal": ContextSpec(fusion=partial(BidirectionalModulation, top_down_global=True, bottom_up_global=True)),
    "cpm_afm": ContextSpec(multiscale=CPM, fusion=AsymmetricFusion),
}
