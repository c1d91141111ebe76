"""Optimizer settings and the schedules every trainer shares (pretraining methods and fine-tuning alike).

Why a module of its own: evaluation (fine-tuning) and the pretraining methods build the same AdamW/SGD parameter
groups and warm-up + cosine schedules; keeping them below both means ``eval/`` never imports ``methods/``.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal

import torch
from torch import nn

from xmodal.config import ConfigError


@dataclass
class OptimConfig:
    """Optimizer and schedule. ``lr`` is the base LR for a global batch of ``ref_batch`` clips.

    The applied peak LR is ``lr · scale(global_batch / ref_batch)`` with ``scale`` linear (MAE/XKD practice),
    sqrt, or none; the global batch counts every process on every node and gradient accumulation.
    ``grad_clip`` clips gradients (after fp16 unscaling): ``grad_clip_mode="norm"`` scales all of them together to a
    global L2 norm, ``"per_tensor"`` scales each tensor of :meth:`BaseMethod.clip_parameters` on its own (DINO's
    and the official XKD code's ``clip_gradients``). Norms and biases (1-d tensors) are never decayed; CLS/mask
    tokens and positional embeddings are exempt too unless ``decay_tokens`` (the official XKD optimizer groups
    decay every tensor with more than one dimension). ``fused`` runs AdamW as PyTorch's fused kernel (one launch
    for all tensors; on CUDA that is the fast path, on CPU it is supported too), same update to float rounding.
    """

    optimizer: Literal["adamw", "sgd"] = "adamw"
    lr: float = 1e-3
    lr_scaling: Literal["linear", "sqrt", "none"] = "none"
    ref_batch: int = 256
    weight_decay: float = 0.05
    betas: tuple[float, float] = (0.9, 0.999)
    momentum: float = 0.9
    warmup_epochs: float = 0.0
    min_lr: float = 0.0
    grad_clip: float | None = None
    grad_clip_mode: Literal["norm", "per_tensor"] = "norm"
    decay_tokens: bool = False
    fused: bool = False

    def validate(self) -> None:
        if self.lr <= 0:
            raise ConfigError("lr: must be positive")
        if self.ref_batch <= 0:
            raise ConfigError("ref_batch: must be positive")
        if self.warmup_epochs < 0:
            raise ConfigError("warmup_epochs: must be >= 0")
        if self.fused and self.optimizer != "adamw":
            raise ConfigError("fused: only optimizer=adamw has the fused kernel here; set fused=false")


def build_optimizer(cfg: OptimConfig, groups: list[dict], lr: float) -> torch.optim.Optimizer:
    """AdamW (fused with ``cfg.fused``) or SGD with momentum over parameter ``groups`` at ``lr``."""
    if cfg.optimizer == "adamw":
        return torch.optim.AdamW(groups, lr=lr, betas=cfg.betas, fused=True if cfg.fused else None)
    return torch.optim.SGD(groups, lr=lr, momentum=cfg.momentum)


def scaled_lr(cfg: OptimConfig, global_batch: int) -> float:
    ratio = global_batch / cfg.ref_batch
    factor = {"linear": ratio, "sqrt": math.sqrt(ratio), "none": 1.0}[cfg.lr_scaling]
    return cfg.lr * factor


def warmup_cosine(step: int, total: int, warmup: int, peak: float, floor: float) -> float:
    """Linear warm-up from 0 to ``peak`` over ``warmup`` steps, then cosine decay to ``floor`` at ``total``."""
    if warmup > 0 and step < warmup:
        return peak * (step + 1) / warmup
    progress = min(1.0, (step - warmup) / max(1, total - warmup))
    return floor + 0.5 * (peak - floor) * (1.0 + math.cos(math.pi * progress))


def cosine_momentum(step: int, total: int, base: float, final: float) -> float:
    """EMA momentum rising from ``base`` to ``final`` along a half cosine (XKD Eq. 13, DINO)."""
    progress = min(1.0, step / max(1, total))
    return final - (final - base) * (math.cos(math.pi * progress) + 1.0) / 2.0


def clip_per_tensor_(params: Iterable[torch.Tensor], max_norm: float) -> None:
    """Clip each gradient on its own: ``g ← g · min(1, max_norm / (‖g‖₂ + 1e-6))`` (DINO's ``clip_gradients``,
    which the official XKD code applies to every student tensor). Unlike a global norm, a tensor with a large
    gradient cannot shrink the update of the others."""
    grads = [p.grad for p in params if p.grad is not None]
    if not grads:
        return
    for grad, norm in zip(grads, torch._foreach_norm(grads), strict=True):
        grad.mul_((max_norm / (norm + 1e-6)).clamp(max=1.0))


def no_decay_names(model: nn.Module, tokens: bool = True) -> set[str]:
    """Names of parameters exempt from weight decay: 1-d tensors (norms, biases) and, with ``tokens``, the
    tokens/pos-embeds (a module's ``no_weight_decay()`` names and ``*cls_token``/``*pos_embed``/``*mask_token``)."""
    if not tokens:
        return {name for name, param in model.named_parameters() if param.ndim <= 1}
    explicit: set[str] = set()
    for prefix, module in model.named_modules():
        hook = getattr(module, "no_weight_decay", None)
        if callable(hook):
            explicit |= {f"{prefix}.{n}" if prefix else n for n in hook()}
    names = set()
    for name, param in model.named_parameters():
        if param.ndim <= 1 or name in explicit or name.endswith(("cls_token", "pos_embed", "mask_token")):
            names.add(name)
    return names
