"""Mixup (Zhang et al. 2018) and CutMix (Yun et al. 2019) on batches, with soft targets.

Used for fine-tuning: XKD video (XKD Table S6: mixup α 0.6 / cutmix α 0.5 on Kinetics and UCF101, label
smoothing 0.1) and MAViL audio (MAViL Table 10: mixup 0.5). Inputs are video ``(B, C, T, H, W)`` or spectrograms
``(B, 1, F, T)``; CutMix cuts one box in the last two axes (the same box on every frame of a clip, as VideoMAE).
Targets are one-hot/soft or multi-hot ``(B, K)`` floats (see :func:`one_hot`); they are mixed with the same λ as
the inputs, so single-label targets still sum to 1 and multi-hot targets to λ·|y_a| + (1 − λ)·|y_b|. Partners are a
cyclic shift of the batch by a random offset in 1..B−1: every sample gets a different sample as partner (a random
permutation would leave fixed points mixed with themselves) and is used once as a partner, so batch totals are kept.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor


def sample_beta(a: float, b: float, gen: torch.Generator) -> float:
    """One Beta(a, b) draw that depends only on ``gen`` (torch's Beta takes no generator)."""
    seed = int(torch.randint(0, 2**62, (), generator=gen))
    return float(np.random.default_rng(seed).beta(a, b))


def one_hot(labels: Tensor, num_classes: int, smoothing: float = 0.0) -> Tensor:
    """Int labels ``(B,)`` -> ``(B, K)`` with label smoothing: ``1 − s + s/K`` on the class, ``s/K`` elsewhere."""
    off = smoothing / num_classes
    out = torch.full((labels.shape[0], num_classes), off, dtype=torch.float32, device=labels.device)
    return out.scatter_(1, labels.long()[:, None], 1.0 - smoothing + off)


def partners(batch: int, gen: torch.Generator) -> Tensor:
    """Partner index of each sample: ``(i + shift) mod B`` with shift ~ U{1..B−1} (identity when B == 1)."""
    shift = int(torch.randint(1, batch, (), generator=gen)) if batch > 1 else 0
    return torch.roll(torch.arange(batch), shift)


def mixup(x: Tensor, targets: Tensor, alpha: float, gen: torch.Generator) -> tuple[Tensor, Tensor, float]:
    """``λ·x + (1 − λ)·x[perm]`` and the same for targets, λ ~ Beta(α, α). Returns (inputs, targets, λ)."""
    lam = sample_beta(alpha, alpha, gen)
    perm = partners(x.shape[0], gen).to(x.device)
    return lam * x + (1.0 - lam) * x[perm], lam * targets + (1.0 - lam) * targets[perm], lam


def cutmix_box(height: int, width: int, lam: float, gen: torch.Generator) -> tuple[int, int, int, int]:
    """Box ``(y0, y1, x0, x1)`` of side ratio sqrt(1 − λ) around a uniform centre, clipped to the image."""
    cut = math.sqrt(1.0 - lam)
    ch, cw = int(height * cut), int(width * cut)
    cy = int(torch.randint(0, height, (), generator=gen))
    cx = int(torch.randint(0, width, (), generator=gen))
    y0, y1 = max(cy - ch // 2, 0), min(cy + ch // 2, height)
    x0, x1 = max(cx - cw // 2, 0), min(cx + cw // 2, width)
    return y0, y1, x0, x1


def cutmix(x: Tensor, targets: Tensor, alpha: float, gen: torch.Generator) -> tuple[Tensor, Tensor, float]:
    """Paste the partner's box into each sample; λ is corrected to the kept area ``1 − box / (H·W)`` (after
    clipping) and used for the targets. Returns (inputs, targets, λ)."""
    lam = sample_beta(alpha, alpha, gen)
    perm = partners(x.shape[0], gen).to(x.device)
    h, w = x.shape[-2:]
    y0, y1, x0, x1 = cutmix_box(h, w, lam, gen)
    out = x.clone()
    out[..., y0:y1, x0:x1] = x[perm][..., y0:y1, x0:x1]
    lam = 1.0 - (y1 - y0) * (x1 - x0) / (h * w)
    return out, lam * targets + (1.0 - lam) * targets[perm], lam


@dataclass(frozen=True)
class MixConfig:
    """timm-style switch between the two: with probability ``prob`` mix the batch, using CutMix with probability
    ``switch_prob`` when both alphas are > 0. Defaults: XKD Kinetics/UCF101 fine-tuning (Table S6)."""

    mixup_alpha: float = 0.6
    cutmix_alpha: float = 0.5
    prob: float = 1.0
    switch_prob: float = 0.5


def mix_batch(x: Tensor, targets: Tensor, cfg: MixConfig, gen: torch.Generator) -> tuple[Tensor, Tensor, float]:
    """Apply mixup or cutmix per :class:`MixConfig`; returns (inputs, targets, λ), λ = 1 when nothing was mixed."""
    if cfg.prob <= 0 or float(torch.rand((), generator=gen)) >= cfg.prob:
        return x, targets, 1.0
    use_cutmix = cfg.cutmix_alpha > 0 and (
        cfg.mixup_alpha <= 0 or float(torch.rand((), generator=gen)) < cfg.switch_prob
    )
    if use_cutmix:
        return cutmix(x, targets, cfg.cutmix_alpha, gen)
    if cfg.mixup_alpha > 0:
        return mixup(x, targets, cfg.mixup_alpha, gen)
    return x, targets, 1.0
