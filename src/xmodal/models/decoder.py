"""Shallow MAE decoder and reconstruction targets (XKD §3.3, Eq. 1–2; Table S3: 384-d, 4 layers, 12 heads).

The decoder maps the encoder's visible tokens to its own width, puts a shared learnable mask token at every
masked position (unshuffled with ``ids_restore``), adds its own positional embedding (interpolatable like the
encoder's) and predicts the raw values of each patch. The ``patchify`` helpers give targets in the same token
order as :mod:`xmodal.models.embed` and the same per-patch value order as the prediction; ``norm_pix`` switches
to per-patch normalised targets (MAE's ``norm_pix_loss``).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import nn

from xmodal.models.vit import Block, init_weights, interpolate_pos_embed


def normalize_patches(patches: torch.Tensor, eps: float = 1e-6) -> torch.Tensor:
    """Per-patch standardisation of ``(..., P)`` targets: ``(x − mean) / sqrt(var + eps)`` (unbiased var, MAE)."""
    mean, var = patches.mean(-1, keepdim=True), patches.var(-1, keepdim=True)
    return (patches - mean) / (var + eps).sqrt()


def patchify_video(x: torch.Tensor, patch: Sequence[int], norm_pix: bool = False) -> torch.Tensor:
    """``(B, C, T, H, W)`` → ``(B, N, t·h·w·C)``; tokens in (T, H, W) grid order, values as (t, h, w, C)."""
    b, c, t, h, w = x.shape
    pt, ph, pw = patch
    y = x.reshape(b, c, t // pt, pt, h // ph, ph, w // pw, pw).permute(0, 2, 4, 6, 3, 5, 7, 1)
    y = y.reshape(b, (t // pt) * (h // ph) * (w // pw), pt * ph * pw * c)
    return normalize_patches(y) if norm_pix else y


def unpatchify_video(patches: torch.Tensor, patch: Sequence[int], grid: Sequence[int], chans: int = 3) -> torch.Tensor:
    """Inverse of :func:`patchify_video` (without ``norm_pix``): ``(B, N, P)`` → ``(B, C, T, H, W)``."""
    b = patches.shape[0]
    (pt, ph, pw), (gt, gh, gw) = patch, grid
    y = patches.reshape(b, gt, gh, gw, pt, ph, pw, chans).permute(0, 7, 1, 4, 2, 5, 3, 6)
    return y.reshape(b, chans, gt * pt, gh * ph, gw * pw)


def patchify_audio(x: torch.Tensor, patch: Sequence[int], norm_pix: bool = False) -> torch.Tensor:
    """``(B, C, F, T)`` → ``(B, N, f·t·C)``; tokens in (F, T) grid order, values as (f, t, C)."""
    b, c, f, t = x.shape
    pf, pt = patch
    y = x.reshape(b, c, f // pf, pf, t // pt, pt).permute(0, 2, 4, 3, 5, 1)
    y = y.reshape(b, (f // pf) * (t // pt), pf * pt * c)
    return normalize_patches(y) if norm_pix else y


def unpatchify_audio(patches: torch.Tensor, patch: Sequence[int], grid: Sequence[int], chans: int = 1) -> torch.Tensor:
    """Inverse of :func:`patchify_audio` (without ``norm_pix``): ``(B, N, P)`` → ``(B, C, F, T)``."""
    b = patches.shape[0]
    (pf, pt), (gf, gt) = patch, grid
    y = patches.reshape(b, gf, gt, pf, pt, chans).permute(0, 5, 1, 3, 2, 4)
    return y.reshape(b, chans, gf * pf, gt * pt)


class MAEDecoder(nn.Module):
    """``(B, 1+K, enc_dim)`` encoder tokens (CLS first) + ``ids_restore (B, N)`` → ``(B, N, patch_dim)``.

    ``final_norm`` puts MAE's LayerNorm before the prediction layer; the official XKD decoder has none (its
    ``ViT_Backbone`` is blocks only, then ``out_proj``)."""

    def __init__(
        self,
        enc_dim: int,
        dim: int = 384,
        depth: int = 4,
        heads: int = 12,
        patch_dim: int = 3 * 4 * 16 * 16,
        *,
        grid: Sequence[int],
        mlp_ratio: float = 4.0,
        qkv_bias: bool = True,
        ln_eps: float = 1e-6,
        final_norm: bool = True,
    ) -> None:
        super().__init__()
        self.grid = tuple(int(g) for g in grid)
        self.embed = nn.Linear(enc_dim, dim)
        self.mask_token = nn.Parameter(torch.zeros(1, 1, dim))
        self.pos_embed = nn.Parameter(torch.zeros(1, math.prod(self.grid), dim))
        self.blocks = nn.ModuleList(
            Block(dim, heads, mlp_ratio, qkv_bias=qkv_bias, ln_eps=ln_eps) for _ in range(depth)
        )
        self.norm = nn.LayerNorm(dim, eps=ln_eps) if final_norm else nn.Identity()
        self.pred = nn.Linear(dim, patch_dim)
        nn.init.trunc_normal_(self.pos_embed, std=0.02)
        nn.init.normal_(self.mask_token, std=0.02)
        self.apply(init_weights)

    def no_weight_decay(self) -> set[str]:
        return {"mask_token", "pos_embed"}

    def forward(
        self, tokens: torch.Tensor, ids_restore: torch.Tensor, grid: Sequence[int] | None = None
    ) -> torch.Tensor:
        """Predict every patch; ``grid`` (default: the construction grid) sizes the positional embedding."""
        grid = self.grid if grid is None else tuple(grid)
        n = ids_restore.shape[1]
        if math.prod(grid) != n:
            raise ValueError(f"ids_restore has {n} tokens but the grid {grid} has {math.prod(grid)}")
        x = self.embed(tokens)
        visible = x[:, 1:]
        fill = self.mask_token.to(x.dtype).expand(x.shape[0], n - visible.shape[1], -1)
        full = torch.cat([visible, fill], 1)
        full = torch.gather(full, 1, ids_restore.unsqueeze(-1).expand(-1, -1, x.shape[-1]))
        full = full + interpolate_pos_embed(self.pos_embed, self.grid, grid).to(x.dtype)
        h = torch.cat([x[:, :1], full], 1)
        for block in self.blocks:
            h, _ = block(h)
        return self.pred(self.norm(h))[:, 1:]
