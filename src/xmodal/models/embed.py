"""Token embeddings: video cuboids and spectrogram patches, flattened and linearly projected (XKD §3.2).

A video ``(B, C, T, H, W)`` is cut into ``t×h×w`` cuboids (default 4×16×16: 32×112² → 8·7·7 = 392 tokens); a
spectrogram ``(B, 1, F, T)`` into ``f×t`` patches with the *frequency* extent first (XKD §3.2: ``N_a =
F/f × T_a/t_a``; default 4×16: 80×448 → 20·28 = 560 tokens). A convolution with stride = kernel is exactly
"flatten each patch and apply one shared linear map". Tokens come out in row-major grid order, the order
:mod:`xmodal.models.decoder`'s ``patchify`` helpers use for reconstruction targets.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import torch
from torch import nn


def _grid(size: Sequence[int], patch: Sequence[int]) -> tuple[int, ...]:
    if len(size) != len(patch):
        raise ValueError(f"input size {tuple(size)} does not match patch {tuple(patch)}")
    bad = [(s, p) for s, p in zip(size, patch, strict=True) if s % p]
    if bad:
        raise ValueError(f"input size {tuple(size)} is not divisible by patch {tuple(patch)}")
    return tuple(s // p for s, p in zip(size, patch, strict=True))


class _Embed(nn.Module):
    """Shared body: a strided convolution whose kernel is the patch, initialised like a linear layer (MAE)."""

    kind: str = ""

    def __init__(self, conv: nn.Module, in_chans: int, patch: Sequence[int], dim: int) -> None:
        super().__init__()
        self.in_chans, self.patch, self.dim = in_chans, tuple(int(p) for p in patch), dim
        self.proj = conv
        weight = self.proj.weight
        nn.init.xavier_uniform_(weight.view(weight.shape[0], -1))
        nn.init.zeros_(self.proj.bias)

    @property
    def patch_dim(self) -> int:
        """Values per patch (``C·∏patch``): the reconstruction target size."""
        return self.in_chans * math.prod(self.patch)

    def grid(self, size: Sequence[int]) -> tuple[int, ...]:
        """Token grid for spatial/temporal input ``size`` (everything after the channel axis)."""
        return _grid(size, self.patch)

    def num_tokens(self, size: Sequence[int]) -> int:
        return math.prod(self.grid(size))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``(B, C, *size)`` → ``(B, N, dim)`` in row-major grid order."""
        if x.shape[1] != self.in_chans:
            raise ValueError(f"{type(self).__name__}: expected {self.in_chans} channels, got {x.shape[1]}")
        self.grid(x.shape[2:])
        return self.proj(x).flatten(2).transpose(1, 2)

    def config(self) -> dict[str, Any]:
        """Constructor arguments (JSON-safe), used to rebuild exported backbones."""
        return {"type": self.kind, "in_chans": self.in_chans, "patch": list(self.patch), "dim": self.dim}


class CuboidEmbed(_Embed):
    """Video ``(B, C, T, H, W)`` → ``(B, T/t·H/h·W/w, dim)`` tokens (XKD §3.2, Table S3: 4×16² cuboids)."""

    kind = "cuboid"

    def __init__(self, in_chans: int = 3, patch: Sequence[int] = (4, 16, 16), dim: int = 768) -> None:
        if len(patch) != 3:
            raise ValueError("CuboidEmbed: patch must be (t, h, w)")
        super().__init__(nn.Conv3d(in_chans, dim, tuple(patch), stride=tuple(patch)), in_chans, patch, dim)


class PatchEmbed2d(_Embed):
    """Spectrogram ``(B, C, F, T)`` → ``(B, F/f·T/t, dim)`` tokens; ``patch = (f, t)`` (Table S3: 4×16)."""

    kind = "patch2d"

    def __init__(self, in_chans: int = 1, patch: Sequence[int] = (4, 16), dim: int = 768) -> None:
        if len(patch) != 2:
            raise ValueError("PatchEmbed2d: patch must be (f, t)")
        super().__init__(nn.Conv2d(in_chans, dim, tuple(patch), stride=tuple(patch)), in_chans, patch, dim)


EMBEDS: dict[str, type[_Embed]] = {CuboidEmbed.kind: CuboidEmbed, PatchEmbed2d.kind: PatchEmbed2d}


def build_embed(config: dict[str, Any]) -> _Embed:
    """Inverse of ``_Embed.config()``."""
    cfg = dict(config)
    kind = cfg.pop("type")
    if kind not in EMBEDS:
        raise ValueError(f"unknown embedding type {kind!r}; known: {sorted(EMBEDS)}")
    return EMBEDS[kind](**cfg)
