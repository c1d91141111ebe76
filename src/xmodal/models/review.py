"""Review-KD's attention-based fusion (ABF) across student levels (Chen, Liu, Zhao, Jia, "Distilling Knowledge via
Knowledge Review", CVPR 2021, arXiv 2104.09044, §3.3 and Fig. 3; official ``CIFAR-100/model/reviewkd.py``).

Knowledge review lets each student level learn from the teacher's level *and* from the student's deeper levels:
starting at the deepest student map, each ABF turns its level to ``mid`` channels (1×1 conv–BN), merges it with the
residual handed down from the level below it (upsampled, nearest, to this level's size) through two sigmoid
attention maps predicted by a 1×1 conv over both, hands the merged map to the next shallower level, and maps it to
the teacher level's channels (3×3 conv–BN). The outputs are compared with the teacher's maps by the hierarchical
context loss (:func:`xmodal.losses.kd_baselines.hcl_loss`).

Across modalities the student and teacher maps differ in size: the merged map is resized to the teacher's size
before the 3×3 conv. Review-KD's code resizes by nearest neighbour; we resize bilinearly, as C²KD App. C.3 does for
every feature-KD baseline (:func:`xmodal.losses.kd_baselines.resize_like`). ``mid`` defaults to
min(512, channels of the deepest student level), as the official code.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class ABF(nn.Module):
    """One attention-based fusion step: ``(student map, residual from the deeper level) → (output, residual)``."""

    def __init__(self, c_in: int, mid: int, c_out: int, fuse: bool) -> None:
        super().__init__()
        self.conv1 = nn.Sequential(nn.Conv2d(c_in, mid, 1, bias=False), nn.BatchNorm2d(mid))
        self.conv2 = nn.Sequential(nn.Conv2d(mid, c_out, 3, padding=1, bias=False), nn.BatchNorm2d(c_out))
        self.att_conv = nn.Sequential(nn.Conv2d(2 * mid, 2, 1), nn.Sigmoid()) if fuse else None
        nn.init.kaiming_uniform_(self.conv1[0].weight, a=1)  # the official init
        nn.init.kaiming_uniform_(self.conv2[0].weight, a=1)

    def forward(self, x: torch.Tensor, residual: torch.Tensor | None, out_size: tuple[int, ...]
                ) -> tuple[torch.Tensor, torch.Tensor]:
        x = self.conv1(x)
        if self.att_conv is not None:
            if residual is None:
                raise ValueError("a fusing ABF needs the residual of the deeper level")
            residual = F.interpolate(residual, size=x.shape[2:], mode="nearest")
            att = self.att_conv(torch.cat([x, residual], dim=1))
            x = x * att[:, :1] + residual * att[:, 1:2]
        merged = x
        if x.shape[2:] != tuple(out_size):
            x = F.interpolate(x, size=out_size, mode="bilinear", align_corners=True)
        return self.conv2(x), merged


class ReviewFusion(nn.Module):
    """ABFs over student levels given shallow → deep; ``forward`` returns one map per level, shallow → deep, each
    with the channels and size of the paired teacher level."""

    def __init__(self, student_channels: list[int], teacher_channels: list[int], mid: int | None = None) -> None:
        super().__init__()
        if len(student_channels) != len(teacher_channels) or not student_channels:
            raise ValueError("ReviewFusion needs one teacher level per student level")
        mid = mid or min(512, student_channels[-1])
        n = len(student_channels)
        # deepest first: it has no deeper residual to fuse
        self.abfs = nn.ModuleList(ABF(student_channels[i], mid, teacher_channels[i], fuse=i < n - 1)
                                  for i in reversed(range(n)))

    def forward(self, student_feats: list[torch.Tensor], teacher_sizes: list[tuple[int, ...]]) -> list[torch.Tensor]:
        outs: list[torch.Tensor] = []
        residual = None
        for abf, x, size in zip(self.abfs, reversed(student_feats), reversed(teacher_sizes), strict=True):
            out, residual = abf(x, residual, size)
            outs.insert(0, out)
        return outs
