"""Classification heads of :class:`xmodal.eval.finetune.AVClassifier`, chosen by name.

Why a registry: a fine-tuned audio+video model differs between papers mostly in how the two encoders meet. The
default ``"concat-linear"`` concatenates each backbone's pooled features (fixed modality order: the order of the
backbones dict) and applies dropout → linear, which is XKD's single-modality head and the simple A+V fusion.
``"mavil-fusion"`` is MAViL's 3-block fusion Transformer (MAViL App. B; :mod:`xmodal.eval.finetune_fusion`).
Another head is added with :func:`register_head` and picked by name (``FinetuneHead`` contract:
``forward(features: dict[str, Tensor]) -> logits``); nothing else in the engine changes. ``input_kind`` says what
the head consumes: ``"pooled"`` (default) = ``backbone.features(x)`` (B, D) per modality, ``"tokens"`` = the
backbone's token sequence ``backbone(x)`` (B, 1+N, D; CLS first) per modality, what a fusion Transformer over both
modalities' tokens needs. ``dims`` gives each backbone's ``embed_dim``.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn

from xmodal.eval.finetune_fusion import FusionTransformerHead

HeadBuilder = Callable[[dict[str, int], int, float], nn.Module]


class ConcatLinearHead(nn.Sequential):
    """``cat(features[m] for m in dims) → dropout → linear`` with a truncated-normal (std 0.02) weight, zero bias
    (the MAE/VideoMAE head initialisation). Parameters are named ``1.weight``/``1.bias`` like the plain
    ``nn.Sequential(Dropout, Linear)`` head it replaces, so existing checkpoints keep loading."""

    input_kind = "pooled"

    def __init__(self, dims: dict[str, int], num_classes: int, dropout: float = 0.0) -> None:
        super().__init__(nn.Dropout(dropout), nn.Linear(sum(dims.values()), num_classes))
        self.order = list(dims)
        nn.init.trunc_normal_(self[1].weight, std=0.02)
        nn.init.zeros_(self[1].bias)

    def forward(self, features: dict[str, torch.Tensor]) -> torch.Tensor:  # type: ignore[override]
        return super().forward(torch.cat([features[m] for m in self.order], dim=1))


HEADS: dict[str, HeadBuilder] = {"concat-linear": ConcatLinearHead, "mavil-fusion": FusionTransformerHead}


def register_head(name: str, builder: HeadBuilder) -> None:
    """Make ``builder(dims, num_classes, dropout)`` available as ``--head name``; a name is registered once."""
    if name in HEADS:
        raise ValueError(f"fine-tuning head {name!r} is already registered")
    HEADS[name] = builder


def build_head(name: str, dims: dict[str, int], num_classes: int, dropout: float = 0.0) -> nn.Module:
    """The head ``name`` for backbones of feature widths ``dims`` (modality → D)."""
    if name not in HEADS:
        raise ValueError(f"unknown fine-tuning head {name!r}; known: {sorted(HEADS)}")
    return HEADS[name](dims, num_classes, dropout)
