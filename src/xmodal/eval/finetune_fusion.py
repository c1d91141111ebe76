"""MAViL's audio+video fusion head, fine-tuning masking and multi-view inputs for
:class:`xmodal.eval.finetune.AVClassifier`.

* :class:`FusionTransformerHead` (``"mavil-fusion"`` in :mod:`xmodal.eval.finetune_heads`) — MAViL App. B:
  "a 3-layer vanilla Transformer on top of the audio and video encoder". The paper gives no more; our choices
  follow MAViL's own fusion encoder (§3.1) and its released inference code: the blocks run over
  ``[a_cls, audio tokens, v_cls, video tokens]`` with no modality-type embedding (the layout of the released
  fine-tuned checkpoints, which hold 3 fusion blocks), then a LayerNorm, the mean of each modality's patch tokens
  (so 784 video tokens do not outvote 512 audio tokens), the means concatenated, dropout and a linear layer. It
  consumes tokens (``input_kind = "tokens"``), so the classifier calls ``backbone(x)`` instead of
  ``backbone.features(x)``.
* :func:`keep_ids` — fine-tuning masking (AudioMAE's ``random_masking_2d``, MAViL App. B) for a ViT backbone:
  the token indices kept by :func:`xmodal.eval.finetune_augment.structured_keep_ids` on the backbone's token grid
  for this input; the classifier passes them as ``mask_keep_ids`` in training only.
* :func:`flatten_views` / :func:`repeat_views` — inputs may carry view axes after the batch (clips, spatial crops:
  ``(B, K, S, C, T, H, W)`` video, ``(B, K, 1, F, T)`` audio). Views are flattened into the batch; a modality with
  fewer views (one 10 s audio for 10 video clips, MAViL App. B "Inference") is repeated to pair with each view.

The video-encoder LR × 0.5 of MAViL's A+V fine-tuning is a parameter-group scale applied by
:func:`xmodal.eval.finetune.layer_decay_groups` (``modality_lr_scale``); the head's parameters are never scaled.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

from xmodal.eval.finetune_augment import AxisGroups, structured_keep_ids
from xmodal.models.vit import Block, init_weights


class FusionTransformerHead(nn.Module):
    """MAViL's A+V head over tokens ``{modality: (N, 1 + L_m, D)}`` (CLS first); see the module doc."""

    input_kind = "tokens"

    def __init__(self, dims: dict[str, int], num_classes: int, dropout: float = 0.0, depth: int = 3,
                 heads: int | None = None) -> None:
        super().__init__()
        widths = set(dims.values())
        if len(widths) != 1 or len(dims) < 2:
            raise ValueError(f"the mavil-fusion head needs two or more backbones of one width, got {dims}")
        dim = widths.pop()
        self.order = list(dims)
        self.blocks = nn.ModuleList(Block(dim, heads or max(1, dim // 64)) for _ in range(depth))
        self.norm = nn.LayerNorm(dim, eps=1e-6)
        self.dropout, self.linear = nn.Dropout(dropout), nn.Linear(dim * len(dims), num_classes)
        self.blocks.apply(init_weights)
        init_weights(self.norm)
        nn.init.trunc_normal_(self.linear.weight, std=0.02)
        nn.init.zeros_(self.linear.bias)

    def forward(self, tokens: dict[str, Tensor]) -> Tensor:
        lengths = [tokens[m].shape[1] for m in self.order]
        h = torch.cat([tokens[m] for m in self.order], dim=1)
        for block in self.blocks:
            h, _ = block(h)
        parts = self.norm(h).split(lengths, dim=1)
        return self.linear(self.dropout(torch.cat([p[:, 1:].mean(1) for p in parts], dim=1)))


def keep_ids(backbone: nn.Module, x: Tensor, groups: AxisGroups, gen: torch.Generator) -> Tensor:
    """``(B, K)`` kept token indices for input ``x`` of a ViT backbone (needs ``embed.grid``)."""
    embed = getattr(backbone, "embed", None)
    if embed is None or not hasattr(embed, "grid"):
        raise ValueError(f"fine-tuning masking needs a ViT backbone with a token grid, got {type(backbone).__name__}")
    return structured_keep_ids(tuple(embed.grid(x.shape[2:])), x.shape[0], groups, gen).to(x.device)


def flatten_views(x: Tensor, single_ndim: int) -> tuple[Tensor, int]:
    """``(B, *views, *sample)`` → ``(B·V, *sample)`` and V; an input without view axes (or with a layout of its own,
    e.g. flat features) is one view."""
    extra = x.ndim - single_ndim
    if extra <= 0:
        return x, 1
    views = math.prod(x.shape[1:1 + extra])
    return x.reshape(x.shape[0] * views, *x.shape[1 + extra:]), views


def repeat_views(t: Tensor, batch: int, views: int, target: int) -> Tensor:
    """``(B·V, ...)`` → ``(B·target, ...)``, each of the V views repeated ``target // V`` times in place."""
    if views == target:
        return t
    if target % views:
        raise ValueError(f"multi-view input: {views} views of one modality cannot pair with {target} of another")
    return t.reshape(batch, views, *t.shape[1:]).repeat_interleave(target // views, dim=1).flatten(0, 1)
