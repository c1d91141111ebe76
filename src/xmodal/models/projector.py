"""DINO-style projector head θ_h (XKD §3.4, Table S3, §B.5–B.6).

What the paper fixes: Table S3 gives an MLP of 3 layers, hidden 2048, bottleneck 256, output 8192, and §A.3 says
the head is "similar to the one proposed in" DINO. §B.6 compares no normalisation (KD collapses, §B.5),
normalisation on the last layer only, and normalisation on *every* layer (best, +2.9–4.5 points), without naming
the normalisation. Table S3 does not name it either.

Where the paper is silent we follow the official code (``codes/train/models/modules/projector.py``, ``DINOHead``
built from ``projector_dict['2048-gelu-3-256-8192-norm3']`` in ``modules/__init__.py``), which is iBOT's head:

    Linear(in, hidden) → LN → GELU → Linear(hidden, hidden) → LN → GELU → Linear(hidden, bottleneck)
    → L2-normalise → weight-normalised Linear(bottleneck, out, no bias, gain fixed at 1)
    → LayerNorm(out) without affine parameters

The two hidden LayerNorms are **one module** appended twice (``_build_norm`` is called once and the object is
placed after both hidden linears), so they share their γ/β; ``share_norm=True`` reproduces this. The output
LayerNorm (``last_norm='ln'``, built with ``affine=False``) standardises each 8192-d logit vector to zero mean
and unit variance. Without it (``out_norm=False``) each logit is the cosine between the bottleneck vector and a
unit prototype, so logits lie in [−1, 1] with a spread of about 1/√bottleneck = 1/16, and the temperatures of
Eq. 10 and the MMD kernel of Eq. 8 act on a 16× smaller scale.

``norm="bn"`` (DINO's optional ``use_bn``) couples the samples of a batch: under DDP convert it with
``torch.nn.SyncBatchNorm.convert_sync_batchnorm``. ``norm="none"`` is the §B.5 collapse ablation.
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
    """``(B, in_dim)`` pooled features → ``(B, out_dim)`` logits (the ``f`` of Eq. 10–11).

    Defaults are the official head (see the module docstring): ``norm="ln"`` shared by the hidden layers
    (``share_norm``) and a non-affine LayerNorm on the output (``out_norm``).
    """

    def __init__(
        self,
        in_dim: int,
        out_dim: int = 8192,
        *,
        hidden: int = 2048,
        bottleneck: int = 256,
        layers: int = 3,
        norm: Norm = "ln",
        share_norm: bool = True,
        out_norm: bool = True,
        norm_last_layer: bool = True,
    ) -> None:
        super().__init__()
        if layers < 1:
            raise ValueError("layers must be at least 1")
        shared = _norm(norm, hidden)
        mods: list[nn.Module] = []
        width = in_dim
        for _ in range(layers - 1):
            mods += [nn.Linear(width, hidden), shared if share_norm else _norm(norm, hidden), nn.GELU()]
            width = hidden
        mods.append(nn.Linear(width, bottleneck))
        self.mlp = nn.Sequential(*mods)
        self.last_layer = WeightNormLinear(bottleneck, out_dim, learn_gain=not norm_last_layer)
        self.out_norm = nn.LayerNorm(out_dim, elementwise_affine=False) if out_norm else nn.Identity()
        for m in self.mlp.modules():
            if isinstance(m, nn.Linear):
                nn.init.trunc_normal_(m.weight, std=0.02)
                nn.init.zeros_(m.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.out_norm(self.last_layer(F.normalize(self.mlp(x), dim=-1, eps=1e-6)))
