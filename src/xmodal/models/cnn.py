"""A small 2D/3D CNN classifier for spectrograms, frames or clips (MFH's RAVDESS nets are 3-conv + 3-FC).

Named layers (``block1..3``, ``fc1``, ``fc2``, ``head``) are stable tap points for feature-level KD, C²KD
proxies and Algorithm 1 on a middle layer; ``forward`` returns logits.
"""

from __future__ import annotations

from typing import Literal

import torch
from torch import nn


def _conv(dims: int) -> type[nn.Module]:
    return nn.Conv2d if dims == 2 else nn.Conv3d


class SmallCNN(nn.Module):
    """Three conv–BN–ReLU–pool blocks, global average pooling, two hidden FC layers and a linear head."""

    def __init__(self, in_channels: int, num_classes: int, dims: Literal[2, 3] = 2,
                 widths: tuple[int, int, int] = (32, 64, 128), hidden: tuple[int, int] = (256, 128)) -> None:
        super().__init__()
        if dims not in (2, 3):
            raise ValueError("dims must be 2 or 3")
        conv, bn = _conv(dims), (nn.BatchNorm2d if dims == 2 else nn.BatchNorm3d)
        pool = nn.MaxPool2d(2) if dims == 2 else nn.MaxPool3d((1, 2, 2))
        blocks, c_in = [], in_channels
        for w in widths:
            blocks.append(nn.Sequential(conv(c_in, w, 3, padding=1, bias=False), bn(w), nn.ReLU(inplace=True), pool))
            c_in = w
        self.block1, self.block2, self.block3 = blocks
        self.gap = nn.AdaptiveAvgPool2d(1) if dims == 2 else nn.AdaptiveAvgPool3d(1)
        self.fc1 = nn.Sequential(nn.Linear(widths[-1], hidden[0]), nn.ReLU(inplace=True))
        self.fc2 = nn.Sequential(nn.Linear(hidden[0], hidden[1]), nn.ReLU(inplace=True))
        self.head = nn.Linear(hidden[1], num_classes)
        self.feature_dim = hidden[1]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.block3(self.block2(self.block1(x)))
        x = self.gap(x).flatten(1)
        return self.head(self.fc2(self.fc1(x)))
