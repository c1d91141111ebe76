"""DINO-style projector head θ_h (xkd.md §3.4, Table S3, §B.5–B.6).

Table S3: an MLP of 3 layers, hidden 2048, bottleneck 256, output 8192. §B.6 compares no normalisation (KD
collapses, §B.5), normalisation on the last layer only, and normalisation on *every* layer (best, +2.9–4.5
points). The paper does not name the normalisation; XKD adopts DINO's head (§A.3), whose optional per-layer
normalisation is BatchNorm (``use_bn``), so ``norm="bn"`` is the default. Layout (DINO):

    Linear(in, hidden) → Norm → GELU → Linear(hidden, hidden) → Norm → GELU → Linear(hidden, bottleneck)
    → L2-normalise → weight-normalised Linear(bottleneck, out, no bias)

The weight-normalised last layer has its gain fixed to 1 (DINO's ``norm_last_layer=True``): each output is the
cosine between the bottleneck vector and a unit "prototype" row, so logits lie in [−1, 1] and the temperatures
of Eq. 10 set the sharpness. ``norm="bn"`` couples the samples of a batch: under DDP convert it with
``torch.nn.SyncBatchNorm.convert_sync_batchnorm`` so statistics are those of the global batch; ``norm="ln"``
(LayerNorm) has no batch coupling; ``norm="none"`` is the §B.5 collapse ablation.
"""

from __future__ import annotations

from typing import Literal

import torch
import torch.nn.functional as F
from torch import nn

Norm = Literal["bn", "ln", "none"]


class WeightNormLinear(nn.Module):
    """``y = x · (g · v/‖v‖)ᵀ`` per output row (Salimans & Kingma weight norm), no bias; ``g ≡ 1`` unless
    ``learn_gain``. Implemented directly so the state dict holds one plain tensor (``weight``) per layer."""

    def __init__(self, in_features: int, out_features: int, learn_gain: bool = False) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.empty(out_features, in_features))
        nn.init.trunc_normal_(self.weight, std=0.02)
        self.gain = nn.Parameter(torch.ones(out_features, 1)) if learn_gain else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        w = F.normalize(self.weight, dim=1)
        return F.linear(x, w if self.gain is None else w * self.gain)


def _norm(kind: Norm, dim: int) -> nn.Module:
    if kind == "bn":
        return nn.BatchNorm1d(dim)
    if kind == "ln":
        return nn.LayerNorm(dim)
    if kind == "none":
        return nn.Identity()
    raise ValueError(f"norm must be 'bn', 'ln' or 'none', got {kind!r}")


class DINOHead(nn.Module):
    """``(B, in_dim)`` pooled features → ``(B, out_dim)`` logits (the ``f`` of Eq. 10–11)."""

    def __init__(
        self,
        in_dim: int,
        out_dim: int = 8192,
        *,
        hidden: int = 2048,
        bottleneck: int = 256,
        layers: int = 3,
        norm: Norm = "bn",
        norm_last_layer: bool = True,
    ) -> None:
        super().__init__()
        if layers < 1:
            raise ValueError("layers must be at least 1")
        mods: list[nn.Module] = []
        width = in_dim
        for _ in range(layers - 1):
            mods += [nn.Linear(width, hidden), _norm(norm, hidden), nn.GELU()]
            width = hidden
        mods.append(nn.Linear(width, bottleneck))
        self.mlp = nn.Sequential(*mods)
        self.last_layer = WeightNormLinear(bottleneck, out_dim, learn_gain=not norm_last_layer)
        for m in self.mlp.modules():
            if isinstance(m, nn.Linear):
                nn.init.trunc_normal_(m.weight, std=0.02)
                nn.init.zeros_(m.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.last_layer(F.normalize(self.mlp(x), dim=-1, eps=1e-6))
