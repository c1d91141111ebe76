"""Masked reconstruction loss (XKD §3.3, Eq. 1–2)."""

from __future__ import annotations

import torch


def masked_mse(pred: torch.Tensor, target: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Eq. 1: mean squared error over the *masked* tokens only.

    ``pred``, ``target``: ``(B, N, P)`` per-patch predictions and targets; ``mask``: ``(B, N)`` bool/0-1, True
    (1) = masked. Each masked token's error is averaged over its ``P`` values, then over all ``N_m`` masked
    tokens of the batch (MAE's ``(loss · mask).sum() / mask.sum()``). Eq. 2's L_ae is the sum of the video and
    audio terms. Computed in fp32.
    """
    if pred.shape != target.shape:
        raise ValueError(f"pred {tuple(pred.shape)} and target {tuple(target.shape)} differ")
    if mask.shape != pred.shape[:2]:
        raise ValueError(f"mask {tuple(mask.shape)} does not match tokens {tuple(pred.shape[:2])}")
    weight = mask.to(torch.float32)
    per_token = (pred.float() - target.float()).pow(2).mean(-1)
    return (per_token * weight).sum() / weight.sum().clamp_min(1.0)
