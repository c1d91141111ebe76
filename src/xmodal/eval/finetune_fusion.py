"""Fine-tuning classifiers over one or two backbones: the head, fine-tuning masking and multi-view testing.

* :class:`FusionTransformerHead` (``"mavil-fusion"``) — MAViL App. B audio+video fine-tuning: "a 3-layer
  vanilla Transformer on top of the audio and video encoder". The paper gives no more; our choices: the blocks run
  over the concatenated patch tokens ``[audio ‖ video]`` with no modality-type embedding (as MAViL's own fusion
  encoder, §3.1), then a LayerNorm, the mean of each modality's tokens (so 784 video tokens do not outvote 512
  audio tokens), the two means concatenated, dropout and a linear layer.
* :class:`ConcatLinearHead` (``"concat-linear"``) — pooled features of each backbone, concatenated, dropout,
  linear: XKD's uni-modal head (pool → dropout 0.5 → linear, Table S6) and, with two backbones, the named
  alternative to MAViL's fusion head.
* :class:`RecipeClassifier` — backbones + head. In training it applies fine-tuning masking (a dict modality →
  axis groups of :func:`xmodal.eval.finetune_augment.structured_keep_ids`), which needs ViT backbones
  (``forward(x, mask_keep_ids)``). Inputs may carry view axes after the batch (clips, spatial crops):
  ``(B, K, S, C, T, H, W)`` video, ``(B, K, 1, F, T)`` audio; views are flattened, each view is classified (a
  modality with fewer views, e.g. one 10 s audio for 10 video clips, is repeated to pair with each), and the
  per-view scores are combined by :func:`aggregate_views`.
* :func:`aggregate_views` — ``"softmax"``: the mean of the views' softmax (XKD's official ``test_dense``),
  ``"sigmoid"``: the mean of sigmoids (multi-label), ``"logits"``: the mean logit. The result is returned as the log
  (logit) of the mean probability, so top-k and average precision rank exactly as the averaged probabilities do
  and the metric code keeps taking logits.

The video-encoder LR × 0.5 of MAViL's A+V fine-tuning is a parameter-group scale applied by
:func:`xmodal.eval.finetune.layer_decay_groups` (``modality_lr_scale``); the head's parameters are never scaled.
"""

from __future__ import annotations

import math
from typing import Literal

import torch
from torch import Tensor, nn

from xmodal.eval.finetune_augment import AxisGroups, structured_keep_ids
from xmodal.models.vit import Block, init_weights

HeadKind = Literal["concat-linear", "mavil-fusion"]
ViewAggregation = Literal["softmax", "sigmoid", "logits"]
SINGLE_NDIM = {"video": 5, "audio": 4}


def aggregate_views(logits: Tensor, mode: ViewAggregation) -> Tensor:
    """``(B, V, C)`` per-view logits → ``(B, C)`` scores (see the module doc)."""
    if mode == "softmax":
        return logits.float().softmax(-1).mean(1).clamp_min(1e-12).log()
    if mode == "sigmoid":
        return torch.logit(logits.float().sigmoid().mean(1), eps=1e-6)
    if mode == "logits":
        return logits.mean(1)
    raise ValueError(f"view aggregation must be 'softmax', 'sigmoid' or 'logits', got {mode!r}")


class ConcatLinearHead(nn.Module):
    """``cat(features[m] for m in dims) → dropout → linear`` (trunc-normal 0.02 weight, zero bias)."""

    input_kind = "pooled"

    def __init__(self, dims: dict[str, int], num_classes: int, dropout: float = 0.0) -> None:
        super().__init__()
        self.order = list(dims)
        self.dropout, self.linear = nn.Dropout(dropout), nn.Linear(sum(dims.values()), num_classes)
        nn.init.trunc_normal_(self.linear.weight, std=0.02)
        nn.init.zeros_(self.linear.bias)

    def forward(self, features: dict[str, Tensor]) -> Tensor:
        return self.linear(self.dropout(torch.cat([features[m] for m in self.order], dim=1)))


class FusionTransformerHead(nn.Module):
    """MAViL's A+V head over patch tokens ``{modality: (N, L_m, D)}``; see the module doc."""

    input_kind = "tokens"

    def __init__(self, dims: dict[str, int], num_classes: int, dropout: float = 0.0, depth: int = 3,
                 heads: int | None = None) -> None:
        super().__init__()
        widths = set(dims.values())
        if len(widths) != 1 or len(dims) < 2:
            raise ValueError(f"the fusion head needs two or more backbones of one width, got {dims}")
        dim = widths.pop()
        self.order = list(dims)
        self.blocks = nn.ModuleList(Block(dim, heads or max(1, dim // 64)) for _ in range(depth))
        self.norm = nn.LayerNorm(dim, eps=1e-6)
        self.blocks.apply(init_weights)
        init_weights(self.norm)
        self.out = ConcatLinearHead(dims, num_classes, dropout)

    def forward(self, tokens: dict[str, Tensor]) -> Tensor:
        lengths = [tokens[m].shape[1] for m in self.order]
        h = torch.cat([tokens[m] for m in self.order], dim=1)
        for block in self.blocks:
            h, _ = block(h)
        parts = self.norm(h).split(lengths, dim=1)
        return self.out({m: p.mean(1) for m, p in zip(self.order, parts, strict=True)})


def _flatten_views(x: Tensor, single_ndim: int) -> tuple[Tensor, int]:
    """``(B, *views, *sample)`` → ``(B·V, *sample)`` and V."""
    extra = x.ndim - single_ndim
    if extra <= 0:  # one view (or a backbone with its own input layout, e.g. flat features)
        return x, 1
    views = math.prod(x.shape[1:1 + extra])
    return x.reshape(x.shape[0] * views, *x.shape[1 + extra:]), views


def _repeat_views(t: Tensor, batch: int, views: int, target: int) -> Tensor:
    """``(B·V, ...)`` → ``(B·target, ...)``, each of the V views repeated ``target // V`` times in place."""
    if views == target:
        return t
    if target % views:
        raise ValueError(f"cannot pair {views} views of one modality with {target} of another")
    return t.reshape(batch, views, *t.shape[1:]).repeat_interleave(target // views, dim=1).flatten(0, 1)


class RecipeClassifier(nn.Module):
    """Backbones (``{"audio": ..., "video": ...}``) and a head; see the module doc."""

    def __init__(self, backbones: dict[str, nn.Module], num_classes: int, *, head: HeadKind = "concat-linear",
                 dropout: float = 0.0, fusion_depth: int = 3, masking: dict[str, AxisGroups] | None = None,
                 view_aggregation: ViewAggregation = "softmax", seed: int = 0) -> None:
        super().__init__()
        self.backbones = nn.ModuleDict(backbones)
        dims = {m: int(b.embed_dim) for m, b in backbones.items()}
        self.view_aggregation = view_aggregation
        self.masking = dict(masking or {})
        self.mask_gen = torch.Generator().manual_seed(seed)
        for name in self.masking:
            if not hasattr(self.backbones[name], "embed"):
                raise ValueError(f"fine-tuning masking of {name!r} needs a ViT backbone (tokens), "
                                 f"got {type(self.backbones[name]).__name__}")
        self.head: nn.Module
        if head == "mavil-fusion":
            self.head = FusionTransformerHead(dims, num_classes, dropout, depth=fusion_depth)
        elif head == "concat-linear":
            self.head = ConcatLinearHead(dims, num_classes, dropout)
        else:
            raise ValueError(f"head must be 'concat-linear' or 'mavil-fusion', got {head!r}")

    def _keep_ids(self, name: str, x: Tensor) -> Tensor | None:
        if not (self.training and name in self.masking):
            return None
        grid = tuple(self.backbones[name].embed.grid(x.shape[2:]))
        return structured_keep_ids(grid, x.shape[0], self.masking[name], self.mask_gen).to(x.device)

    def _encode(self, name: str, x: Tensor) -> Tensor:
        """Patch tokens ``(N, L, D)`` for the fusion head, pooled ``(N, D)`` features for the concat head."""
        backbone = self.backbones[name]
        keep = self._keep_ids(name, x)
        if self.head.input_kind == "pooled" and keep is None:
            return backbone.features(x)
        tokens = backbone(x, keep)
        if self.head.input_kind == "tokens":
            return tokens[:, 1:]
        return tokens[:, 0] if getattr(backbone, "pool", "mean") == "cls" else tokens[:, 1:].mean(1)

    def forward(self, inputs: dict[str, Tensor]) -> Tensor:
        flat = {m: _flatten_views(inputs[m], SINGLE_NDIM.get(m, inputs[m].ndim)) for m in self.backbones}
        batch = next(iter(inputs.values())).shape[0]
        views = max(v for _, v in flat.values())
        encoded = {m: _repeat_views(self._encode(m, x), batch, v, views) for m, (x, v) in flat.items()}
        logits = self.head(encoded)
        if views == 1:
            return logits
        return aggregate_views(logits.reshape(batch, views, -1), self.view_aggregation)
