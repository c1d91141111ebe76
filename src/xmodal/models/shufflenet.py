"""ShuffleNet V2 (Ma et al., "ShuffleNet V2: Practical Guidelines for Efficient CNN Architecture Design", ECCV 2018,
arXiv:1807.11164, §4 and Table 5) in plain PyTorch, 2-D, for images (C²KD's CrisisMMD student, App. C.1).

The layout and the module names follow torchvision's ``shufflenet_v2_x*`` (``conv1, maxpool, stage2..4, conv5,
fc``), so feature taps (``stage3``: C²KD's proxy layer for this net), checkpoints and parameter counts line up:
×1.0 with 1000 classes has 2,278,604 parameters, as torchvision's (tested). Each unit splits the channels (stride 1)
or duplicates the input into two branches (stride 2: a depthwise-conv shortcut branch), concatenates and shuffles
the two halves. ``in_channels`` lets spectrograms or stacked frames in; ``num_classes=0`` returns pooled features.
"""

from __future__ import annotations

import torch
from torch import nn

WIDTHS: dict[str, tuple[int, int, int, int, int]] = {
    "x0_5": (24, 48, 96, 192, 1024),
    "x1_0": (24, 116, 232, 464, 1024),
    "x1_5": (24, 176, 352, 704, 1024),
    "x2_0": (24, 244, 488, 976, 2048),
}


def channel_shuffle(x: torch.Tensor, groups: int) -> torch.Tensor:
    """Interleave the channels of ``groups`` equal groups (paper Fig. 3c/d): (B, g·c, …) → (B, c·g, …)."""
    b, c = x.shape[:2]
    return x.view(b, groups, c // groups, *x.shape[2:]).transpose(1, 2).reshape(x.shape)


def _conv_bn(c_in: int, c_out: int, k: int, stride: int = 1, groups: int = 1, relu: bool = True) -> list[nn.Module]:
    layers: list[nn.Module] = [nn.Conv2d(c_in, c_out, k, stride, k // 2, groups=groups, bias=False),
                               nn.BatchNorm2d(c_out)]
    return [*layers, nn.ReLU(inplace=True)] if relu else layers


class ShuffleUnit(nn.Module):
    """One ShuffleNet V2 unit: 1×1 conv → 3×3 depthwise → 1×1 conv on half the channels (or on all, twice, when
    downsampling), then concatenation and a channel shuffle."""

    def __init__(self, c_in: int, c_out: int, stride: int) -> None:
        super().__init__()
        if stride not in (1, 2) or (stride == 1 and c_in != c_out):
            raise ValueError(f"a stride-{stride} unit cannot map {c_in} to {c_out} channels")
        self.stride, half = stride, c_out // 2
        self.branch1 = nn.Sequential(
            *_conv_bn(c_in, c_in, 3, stride, groups=c_in, relu=False), *_conv_bn(c_in, half, 1)
        ) if stride == 2 else nn.Sequential()
        self.branch2 = nn.Sequential(*_conv_bn(c_in if stride == 2 else half, half, 1),
                                     *_conv_bn(half, half, 3, stride, groups=half, relu=False),
                                     *_conv_bn(half, half, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.stride == 1:
            keep, work = x.chunk(2, dim=1)
            out = torch.cat((keep, self.branch2(work)), dim=1)
        else:
            out = torch.cat((self.branch1(x), self.branch2(x)), dim=1)
        return channel_shuffle(out, 2)


class ShuffleNetV2(nn.Module):
    """Stem (3×3 stride-2 conv, max-pool), three stages of (4, 8, 4) units, a 1×1 ``conv5``, global pool, ``fc``."""

    def __init__(self, widths: tuple[int, int, int, int, int] = WIDTHS["x1_0"], in_channels: int = 3,
                 num_classes: int = 1000, repeats: tuple[int, int, int] = (4, 8, 4)) -> None:
        super().__init__()
        if len(widths) != 5 or len(repeats) != 3:
            raise ValueError("ShuffleNetV2 needs 5 widths (stem, 3 stages, conv5) and 3 stage repeats")
        self.conv1 = nn.Sequential(*_conv_bn(in_channels, widths[0], 3, 2))
        self.maxpool = nn.MaxPool2d(3, 2, 1)
        c = widths[0]
        for i, (n, width) in enumerate(zip(repeats, widths[1:4], strict=True)):
            units = [ShuffleUnit(c, width, 2)] + [ShuffleUnit(width, width, 1) for _ in range(n - 1)]
            setattr(self, f"stage{i + 2}", nn.Sequential(*units))
            c = width
        self.conv5 = nn.Sequential(*_conv_bn(c, widths[4], 1))
        self.feature_dim = widths[4]
        self.fc = nn.Linear(widths[4], num_classes) if num_classes > 0 else nn.Identity()

    def features(self, x: torch.Tensor) -> torch.Tensor:
        x = self.maxpool(self.conv1(x))
        x = self.conv5(self.stage4(self.stage3(self.stage2(x))))
        return x.mean((2, 3))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(self.features(x))


def shufflenet_v2(scale: str = "x1_0", in_channels: int = 3, num_classes: int = 1000) -> ShuffleNetV2:
    """torchvision's ``shufflenet_v2_<scale>`` architecture (random init: nothing is downloaded)."""
    if scale not in WIDTHS:
        raise ValueError(f"ShuffleNet V2 scale must be one of {sorted(WIDTHS)}, got {scale!r}")
    return ShuffleNetV2(WIDTHS[scale], in_channels, num_classes)
