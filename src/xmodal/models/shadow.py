"""SHAKE's shadow head: a small trainable head on a frozen teacher's feature maps (Li & Jin, "Shadow Knowledge
Distillation: Bridging Offline and Online Knowledge Transfer", NeurIPS 2022).

The head fuses consecutive teacher levels bottom-up: ``x = f_1``; for each next level
``x = down_i(x) + lateral_i(f_i)`` with ``down_i`` a 3×3 conv–BN–ReLU that moves ``x`` to level i's channels and
spatial size (stride = the size ratio) and ``lateral_i`` a 1×1 conv–BN–LeakyReLU(0.1); then a 3×3 conv–BN–ReLU,
global average pooling and a classifier. With three levels this is the official ``Shake`` module
(``models/util.py``: ``fuse1``…``fuse5``) whose channel counts are read from the teacher; any number of levels ≥ 1
works, and a size the stride cannot reach exactly is finished by bilinear resizing (cross-modal maps are not
always powers of two).

The classifier is either the teacher's own final linear layer with its weights detached (official SHAKE:
``F.linear(x, weight.detach(), bias.detach())``), passed in at call time, or the head's own ``nn.Linear`` (the
C²KD authors' ``Shake`` in ``utils/module.py`` has its own ``fc``).
"""

from __future__ import annotations

from itertools import pairwise

import torch
import torch.nn.functional as F
from torch import nn


def _conv_bn_relu(c_in: int, c_out: int, stride: int) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(c_in, c_out, 3, stride, 1, bias=False), nn.BatchNorm2d(c_out), nn.ReLU(inplace=True))


def _lateral(c: int) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(c, c, 1, bias=False), nn.BatchNorm2d(c), nn.LeakyReLU(0.1, inplace=True))


class ShadowHead(nn.Module):
    """Fuse (B, C_i, H_i, W_i) maps of consecutive teacher levels into logits.

    ``shapes`` are the (C, H, W) of each level (read from the teacher on an example batch); ``num_classes`` > 0
    gives the head its own classifier, 0 means the caller passes the teacher's classifier weights to ``forward``.
    """

    def __init__(self, shapes: list[tuple[int, int, int]], num_classes: int = 0) -> None:
        super().__init__()
        if not shapes:
            raise ValueError("a shadow head needs at least one feature level")
        self.down = nn.ModuleList()
        self.lateral = nn.ModuleList()
        for (c_prev, h_prev, _), (c, h, _) in pairwise(shapes):
            self.down.append(_conv_bn_relu(c_prev, c, max(1, round(h_prev / max(h, 1)))))
            self.lateral.append(_lateral(c))
        c_last = shapes[-1][0]
        self.out = _conv_bn_relu(c_last, c_last, 1)
        self.fc = nn.Linear(c_last, num_classes) if num_classes > 0 else None
        self.out_features = c_last
        for m in self.modules():  # the official init (Kaiming fan-out for convs, BN 1/0; Linear keeps PyTorch's)
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)

    def forward(self, feats: list[torch.Tensor], weight: torch.Tensor | None = None,
                bias: torch.Tensor | None = None) -> torch.Tensor:
        x = feats[0]
        for i, (down, lateral) in enumerate(zip(self.down, self.lateral, strict=True)):
            x = down(x)
            if x.shape[2:] != feats[i + 1].shape[2:]:
                x = F.interpolate(x, size=feats[i + 1].shape[2:], mode="bilinear", align_corners=True)
            x = x + lateral(feats[i + 1])
        x = F.adaptive_avg_pool2d(self.out(x), 1).flatten(1)
        if self.fc is not None:
            return self.fc(x)
        if weight is None:
            raise ValueError("this shadow head has no classifier of its own: pass the teacher's weight and bias")
        return F.linear(x, weight.detach(), None if bias is None else bias.detach())
