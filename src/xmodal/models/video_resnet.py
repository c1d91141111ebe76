"""Video ResNets for clips: R(2+1)D-18 (Tran et al., CVPR 2018) and ResNet3D-18 in plain PyTorch.

XDC's video encoder is R(2+1)D-18 (Alwassel et al., NeurIPS 2020, arXiv 1911.12667, §4) and its appendix §D
swaps in ResNet3D-18. The layout follows torchvision's ``video.resnet`` (``stem, layer1..4, avgpool, fc`` and the
same sub-module order), so the parameter count equals torchvision's ``r2plus1d_18`` (31,505,325 with a
400-class ``fc``) and ``r3d_18`` (33,371,472) and their state dicts line up key for key:

- R(2+1)D factorises every 3×3×3 convolution into a 1×3×3 spatial one into ``mid`` channels, BN, ReLU and a 3×1×1
  temporal one, with ``mid = ⌊27·c_in·c_out / (9·c_in + 3·c_out)⌋`` so the factorised block has the parameters of
  the full 3-D one (Tran et al. §3.5), computed once per block from its input width and used by both of its
  convolutions (torchvision does so; a per-convolution width gives 33,370,839 parameters instead); the stem is
  a 1×7×7 (45 channels) then 3×1×1 pair;
- blocks 2–4 downsample time and space by 2 (stride 2 on both the spatial and temporal convolutions);
- no max-pool after the stem, unlike the 2-D ResNet.

``num_classes=0`` drops the classifier: ``forward`` then returns the pooled 512-d feature, as ``features`` always does.
"""

from __future__ import annotations

from typing import Any, Literal

import torch
from torch import nn

Arch = Literal["r2plus1d", "r3d"]


def _mid(c_in: int, c_out: int) -> int:
    return (c_in * c_out * 27) // (c_in * 9 + 3 * c_out)


def _conv(arch: Arch, c_in: int, c_out: int, stride: int, mid: int) -> nn.Module:
    if arch == "r3d":
        return nn.Conv3d(c_in, c_out, 3, stride, 1, bias=False)
    return nn.Sequential(
        nn.Conv3d(c_in, mid, (1, 3, 3), (1, stride, stride), (0, 1, 1), bias=False),
        nn.BatchNorm3d(mid),
        nn.ReLU(inplace=True),
        nn.Conv3d(mid, c_out, (3, 1, 1), (stride, 1, 1), (1, 0, 0), bias=False),
    )


class VideoBlock(nn.Module):
    """Basic residual block whose 3-D convolutions are factorised (R(2+1)D) or full (R3D)."""

    def __init__(self, arch: Arch, c_in: int, c_out: int, stride: int) -> None:
        super().__init__()
        mid = _mid(c_in, c_out)  # one width for both convolutions of the block, from the block's input (torchvision)
        self.conv1 = nn.Sequential(_conv(arch, c_in, c_out, stride, mid), nn.BatchNorm3d(c_out), nn.ReLU(inplace=True))
        self.conv2 = nn.Sequential(_conv(arch, c_out, c_out, 1, mid), nn.BatchNorm3d(c_out))
        self.relu = nn.ReLU(inplace=True)
        self.downsample = None
        if stride != 1 or c_in != c_out:
            self.downsample = nn.Sequential(nn.Conv3d(c_in, c_out, 1, stride, bias=False), nn.BatchNorm3d(c_out))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.conv2(self.conv1(x))
        return self.relu(out + (x if self.downsample is None else self.downsample(x)))


def _stem(arch: Arch, in_channels: int, width: int) -> nn.Sequential:
    if arch == "r3d":
        return nn.Sequential(nn.Conv3d(in_channels, width, (3, 7, 7), (1, 2, 2), (1, 3, 3), bias=False),
                             nn.BatchNorm3d(width), nn.ReLU(inplace=True))
    mid = max(1, round(45 * width / 64))  # torchvision's 45 for width 64
    return nn.Sequential(
        nn.Conv3d(in_channels, mid, (1, 7, 7), (1, 2, 2), (0, 3, 3), bias=False), nn.BatchNorm3d(mid),
        nn.ReLU(inplace=True),
        nn.Conv3d(mid, width, (3, 1, 1), 1, (1, 0, 0), bias=False), nn.BatchNorm3d(width), nn.ReLU(inplace=True),
    )


class VideoResNet(nn.Module):
    """(B, C, T, H, W) clip → logits (``num_classes > 0``) or the pooled feature (``num_classes = 0``).

    ``widths`` are the stage widths (the paper's 64–512; smaller ones only for CPU-sized runs)."""

    def __init__(self, arch: Arch = "r2plus1d", layers: tuple[int, int, int, int] = (2, 2, 2, 2),
                 in_channels: int = 3, num_classes: int = 0,
                 widths: tuple[int, int, int, int] = (64, 128, 256, 512)) -> None:
        super().__init__()
        if arch not in ("r2plus1d", "r3d"):
            raise ValueError(f"arch must be 'r2plus1d' or 'r3d', got {arch!r}")
        self.arch, self.layers, self.in_channels, self.num_classes = arch, tuple(layers), in_channels, num_classes
        self.widths = tuple(widths)
        self.stem = _stem(arch, in_channels, widths[0])
        c = widths[0]
        for i, (n, width) in enumerate(zip(layers, widths, strict=True)):
            blocks = [VideoBlock(arch, c if j == 0 else width, width, 2 if (j == 0 and i > 0) else 1)
                      for j in range(n)]
            c = width
            setattr(self, f"layer{i + 1}", nn.Sequential(*blocks))
        self.avgpool = nn.AdaptiveAvgPool3d(1)
        self.feature_dim = c
        self.fc = nn.Linear(c, num_classes) if num_classes > 0 else nn.Identity()
        for m in self.modules():  # torchvision's initialisation
            if isinstance(m, nn.Conv3d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            elif isinstance(m, nn.BatchNorm3d):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)
            elif isinstance(m, nn.Linear):
                nn.init.normal_(m.weight, 0, 0.01)
                nn.init.zeros_(m.bias)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        x = self.layer4(self.layer3(self.layer2(self.layer1(self.stem(x)))))
        return self.avgpool(x).flatten(1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(self.features(x))

    def config(self) -> dict[str, Any]:
        return {"arch": self.arch, "layers": list(self.layers), "in_channels": self.in_channels,
                "num_classes": self.num_classes, "widths": list(self.widths)}

    @classmethod
    def from_config(cls, cfg: dict[str, Any]) -> VideoResNet:
        return cls(cfg["arch"], tuple(cfg["layers"]), cfg["in_channels"], cfg["num_classes"],
                   tuple(cfg.get("widths", (64, 128, 256, 512))))


def r2plus1d_18(num_classes: int = 0, in_channels: int = 3) -> VideoResNet:
    return VideoResNet("r2plus1d", (2, 2, 2, 2), in_channels, num_classes)


def r3d_18(num_classes: int = 0, in_channels: int = 3) -> VideoResNet:
    return VideoResNet("r3d", (2, 2, 2, 2), in_channels, num_classes)
