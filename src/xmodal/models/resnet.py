"""ResNet-18/50 (He et al. 2016) in plain PyTorch, 2D for images/spectrograms and 3D for clips.

MFH's VGGSound nets (MFH App. B.4) are a ResNet-18/50 for audio spectrograms and "the same architecture with
2D convolution replaced by 3D convolution" for video. Our 3D variant inflates every k×k kernel to 3×k×k
(stem 3×7×7, stride 1×2×2: time is not downsampled by the stem), keeping torchvision's layer names
(``conv1, bn1, layer1..4, avgpool, fc``) so taps and checkpoints address the same places.
``num_classes=0`` drops the classifier and returns pooled features.
"""

from __future__ import annotations

from typing import Any, Literal

import torch
from torch import nn


class _Ops:
    def __init__(self, dims: int) -> None:
        self.dims = dims
        self.bn = nn.BatchNorm2d if dims == 2 else nn.BatchNorm3d

    def conv(self, c_in: int, c_out: int, k: int, stride: int = 1) -> nn.Module:
        if self.dims == 2:
            return nn.Conv2d(c_in, c_out, k, stride, padding=k // 2, bias=False)
        kt = 1 if k == 1 else 3
        return nn.Conv3d(c_in, c_out, (kt, k, k), (1 if k == 7 else stride, stride, stride),
                         padding=(kt // 2, k // 2, k // 2), bias=False)


class BasicBlock(nn.Module):
    expansion = 1

    def __init__(self, ops: _Ops, c_in: int, width: int, stride: int) -> None:
        super().__init__()
        self.conv1, self.bn1 = ops.conv(c_in, width, 3, stride), ops.bn(width)
        self.conv2, self.bn2 = ops.conv(width, width, 3), ops.bn(width)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = _shortcut(ops, c_in, width, stride)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return self.relu(out + (x if self.downsample is None else self.downsample(x)))


class Bottleneck(nn.Module):
    expansion = 4

    def __init__(self, ops: _Ops, c_in: int, width: int, stride: int) -> None:
        super().__init__()
        self.conv1, self.bn1 = ops.conv(c_in, width, 1), ops.bn(width)
        self.conv2, self.bn2 = ops.conv(width, width, 3, stride), ops.bn(width)
        self.conv3, self.bn3 = ops.conv(width, width * 4, 1), ops.bn(width * 4)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = _shortcut(ops, c_in, width * 4, stride)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        return self.relu(out + (x if self.downsample is None else self.downsample(x)))


def _shortcut(ops: _Ops, c_in: int, c_out: int, stride: int) -> nn.Module | None:
    if stride == 1 and c_in == c_out:
        return None
    return nn.Sequential(ops.conv(c_in, c_out, 1, stride), ops.bn(c_out))


class ResNet(nn.Module):
    def __init__(self, block: type[BasicBlock | Bottleneck], layers: tuple[int, int, int, int], in_channels: int,
                 num_classes: int, dims: Literal[2, 3],
                 widths: tuple[int, int, int, int] = (64, 128, 256, 512)) -> None:
        super().__init__()
        if dims not in (2, 3):
            raise ValueError("dims must be 2 or 3")
        ops = _Ops(dims)
        self.block, self.layers, self.in_channels = block, layers, in_channels
        self.num_classes, self.dims, self.widths = num_classes, dims, tuple(widths)
        self.conv1, self.bn1 = ops.conv(in_channels, widths[0], 7, 2), ops.bn(widths[0])
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = (nn.MaxPool2d(3, 2, 1) if dims == 2 else nn.MaxPool3d((1, 3, 3), (1, 2, 2), (0, 1, 1)))
        c = widths[0]
        for i, (n, width) in enumerate(zip(layers, widths, strict=True)):
            blocks = []
            for j in range(n):
                blocks.append(block(ops, c, width, 2 if (j == 0 and i > 0) else 1))
                c = width * block.expansion
            setattr(self, f"layer{i + 1}", nn.Sequential(*blocks))
        self.avgpool = nn.AdaptiveAvgPool2d(1) if dims == 2 else nn.AdaptiveAvgPool3d(1)
        self.feature_dim = c
        self.fc = nn.Linear(c, num_classes) if num_classes > 0 else nn.Identity()
        for m in self.modules():
            if isinstance(m, (nn.Conv2d, nn.Conv3d)):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """The pooled feature before ``fc`` (what evaluation and clustering read)."""
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        return self.avgpool(x).flatten(1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(self.features(x))

    def config(self) -> dict[str, Any]:
        """Constructor arguments, for :func:`xmodal.models.export.export_backbone`."""
        return {"block": self.block.__name__, "layers": list(self.layers), "in_channels": self.in_channels,
                "num_classes": self.num_classes, "dims": self.dims, "widths": list(self.widths)}

    @classmethod
    def from_config(cls, cfg: dict[str, Any]) -> ResNet:
        block = {"BasicBlock": BasicBlock, "Bottleneck": Bottleneck}[cfg["block"]]
        return cls(block, tuple(cfg["layers"]), cfg["in_channels"], cfg["num_classes"], cfg["dims"],
                   tuple(cfg.get("widths", (64, 128, 256, 512))))


def resnet18(in_channels: int = 3, num_classes: int = 1000, dims: Literal[2, 3] = 2) -> ResNet:
    return ResNet(BasicBlock, (2, 2, 2, 2), in_channels, num_classes, dims)


def resnet50(in_channels: int = 3, num_classes: int = 1000, dims: Literal[2, 3] = 2) -> ResNet:
    return ResNet(Bottleneck, (3, 4, 6, 3), in_channels, num_classes, dims)
