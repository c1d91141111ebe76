"""Vision Transformer encoder for video cuboids and spectrogram patches (XKD §3.2–3.4, Table S3).

Pre-norm blocks with ``F.scaled_dot_product_attention``, a CLS token and a learnable positional embedding over
the token grid of the global view, interpolated (trilinear for video, bilinear for audio) for other input
sizes (local views, 224² fine-tuning). MAE-style masking drops tokens *before* the encoder, so only visible
tokens are encoded (XKD §3.3). The last block can also return the CLS→patch attention ``A`` of Eq. 3,
computed from the same q/k as the block's own attention (one extra ``1×L`` product per head, not a second pass).
``grad_checkpointing`` (see :func:`set_grad_checkpointing`) recomputes each block's activations in the backward
pass instead of storing them: ViT-L memory at a third of the compute again, same gradients.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any, Literal

import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.checkpoint import checkpoint

from xmodal.models.embed import CuboidEmbed, PatchEmbed2d, _Embed, build_embed
from xmodal.models.pos_embed import sincos_pos_embed

AttentionQuery = Literal["cls", "mean"]
Pool = Literal["mean", "cls"]

SIZES: dict[str, tuple[int, int, int]] = {
    "tiny": (192, 12, 3),
    "small": (384, 12, 6),
    "base": (768, 12, 12),
    "large": (1024, 24, 16),
}


def last_query_attention(q: torch.Tensor, k: torch.Tensor, query: AttentionQuery = "cls") -> torch.Tensor:
    """Attention of one query over the patch tokens, per head: ``(B, H, L, d)`` q/k → ``(B, H, N=L−1)``.

    ``query="cls"`` (Eq. 3): the CLS query against all ``L`` keys, the row the block itself applies, with the CLS
    column dropped (as DINO's ``get_last_selfattention()[:, :, 0, 1:]``); rows sum to ``1 − a_cls,cls`` per head.
    ``query="mean"`` (Table S14, "w/o CLS"): the mean of the patch queries against the patch keys only.
    """
    scale = q.shape[-1] ** -0.5
    if query == "cls":
        logits = (q[:, :, :1] @ k.transpose(-2, -1)) * scale
        return logits.float().softmax(-1)[:, :, 0, 1:]
    if query == "mean":
        logits = (q[:, :, 1:].mean(2, keepdim=True) @ k[:, :, 1:].transpose(-2, -1)) * scale
        return logits.float().softmax(-1)[:, :, 0]
    raise ValueError(f"query must be 'cls' or 'mean', got {query!r}")


class Attention(nn.Module):
    def __init__(self, dim: int, heads: int, qkv_bias: bool = True) -> None:
        super().__init__()
        if dim % heads:
            raise ValueError(f"dim {dim} is not divisible by heads {heads}")
        self.heads = heads
        self.qkv = nn.Linear(dim, 3 * dim, bias=qkv_bias)
        self.proj = nn.Linear(dim, dim)

    def forward(
        self, x: torch.Tensor, attention_query: AttentionQuery | None = None
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        b, n, d = x.shape
        q, k, v = self.qkv(x).view(b, n, 3, self.heads, d // self.heads).permute(2, 0, 3, 1, 4).unbind(0)
        out = F.scaled_dot_product_attention(q, k, v).transpose(1, 2).reshape(b, n, d)
        att = None if attention_query is None else last_query_attention(q, k, attention_query)
        return self.proj(out), att


class DropPath(nn.Module):
    """Stochastic depth: drops the residual branch per sample with probability ``p`` (train mode only)."""

    def __init__(self, p: float = 0.0) -> None:
        super().__init__()
        self.p = p

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.p == 0.0 or not self.training:
            return x
        keep = x.new_empty((x.shape[0],) + (1,) * (x.ndim - 1)).bernoulli_(1.0 - self.p)
        return x * keep / (1.0 - self.p)


class Block(nn.Module):
    """Pre-norm Transformer block: ``x + attn(norm(x))``, then ``x + mlp(norm(x))``."""

    def __init__(self, dim: int, heads: int, mlp_ratio: float = 4.0, drop_path: float = 0.0,
                 qkv_bias: bool = True, ln_eps: float = 1e-6) -> None:
        super().__init__()
        hidden = int(dim * mlp_ratio)
        self.norm1 = nn.LayerNorm(dim, eps=ln_eps)
        self.attn = Attention(dim, heads, qkv_bias)
        self.norm2 = nn.LayerNorm(dim, eps=ln_eps)
        self.mlp = nn.Sequential(nn.Linear(dim, hidden), nn.GELU(), nn.Linear(hidden, dim))
        self.drop_path = DropPath(drop_path)

    def forward(
        self, x: torch.Tensor, attention_query: AttentionQuery | None = None
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        y, att = self.attn(self.norm1(x), attention_query)
        x = x + self.drop_path(y)
        return x + self.drop_path(self.mlp(self.norm2(x))), att


def interpolate_pos_embed(pos: torch.Tensor, src: Sequence[int], dst: Sequence[int]) -> torch.Tensor:
    """``(1, ∏src, D)`` grid embedding resampled to ``dst`` (trilinear for 3-d grids, bilinear for 2-d)."""
    if tuple(src) == tuple(dst):
        return pos
    mode = {2: "bilinear", 3: "trilinear"}[len(src)]
    grid = pos.reshape(1, *src, -1).movedim(-1, 1)
    out = F.interpolate(grid.float(), size=tuple(dst), mode=mode, align_corners=False).to(pos.dtype)
    return out.movedim(1, -1).reshape(1, math.prod(dst), -1)


def init_weights(module: nn.Module) -> None:
    """ViT/MAE init: truncated-normal(0.02) linear weights, zero biases, unit LayerNorm."""
    if isinstance(module, nn.Linear):
        nn.init.trunc_normal_(module.weight, std=0.02)
        if module.bias is not None:
            nn.init.zeros_(module.bias)
    elif isinstance(module, nn.LayerNorm) and module.elementwise_affine:
        nn.init.ones_(module.weight)
        nn.init.zeros_(module.bias)


def xavier_init(module: nn.Module) -> None:
    """MAE's / the official XKD code's init: Xavier-uniform linear weights (the fused qkv as one matrix), zero
    biases, unit LayerNorm."""
    if isinstance(module, nn.Linear):
        nn.init.xavier_uniform_(module.weight)
        if module.bias is not None:
            nn.init.zeros_(module.bias)
    elif isinstance(module, nn.LayerNorm) and module.elementwise_affine:
        nn.init.ones_(module.weight)
        nn.init.zeros_(module.bias)


class VisionTransformer(nn.Module):
    """ViT encoder over an embedding's tokens.

    ``forward(x, mask_keep_ids)`` → ``(B, 1+K, D)`` normed tokens (CLS first), encoding only the kept tokens
    when ``mask_keep_ids (B, K)`` is given (else all ``N``). ``grid`` is the token grid the positional embedding
    is learned on (the global view's). ``pool`` picks what :meth:`features` returns: the mean of last-layer
    patch tokens, CLS excluded (XKD's linear-evaluation features, XKD §A.5) or the CLS token.
    ``fixed_pos_embed`` replaces the learned embedding by a frozen sine-cosine table (MAE, MAViL; recomputed, not
    interpolated, for other grids); ``final_norm=False`` drops the last LayerNorm (MAViL's encoders feed their
    block outputs straight into the fusion blocks, as in the released inference code).
    """

    def __init__(
        self,
        embed: _Embed,
        dim: int,
        depth: int,
        heads: int,
        mlp_ratio: float = 4.0,
        drop_path: float = 0.0,
        *,
        grid: Sequence[int],
        pool: Pool = "mean",
        qkv_bias: bool = True,
        ln_eps: float = 1e-6,
        fixed_pos_embed: bool = False,
        final_norm: bool = True,
    ) -> None:
        super().__init__()
        if embed.dim != dim:
            raise ValueError(f"embedding dim {embed.dim} != transformer dim {dim}")
        if pool not in ("mean", "cls"):
            raise ValueError(f"pool must be 'mean' or 'cls', got {pool!r}")
        self.embed = embed
        self.embed_dim, self.depth, self.heads, self.mlp_ratio = dim, depth, heads, mlp_ratio
        self.drop_path, self.pool, self.qkv_bias, self.ln_eps = drop_path, pool, qkv_bias, ln_eps
        self.fixed_pos_embed, self.final_norm = fixed_pos_embed, final_norm
        self.grad_checkpointing = False
        self.grid = tuple(int(g) for g in grid)
        self.cls_token = nn.Parameter(torch.zeros(1, 1, dim))
        self.pos_embed = nn.Parameter(torch.zeros(1, math.prod(self.grid), dim))
        rates = [drop_path * i / (depth - 1) for i in range(depth)] if depth > 1 else [drop_path]
        self.blocks = nn.ModuleList(Block(dim, heads, mlp_ratio, r, qkv_bias, ln_eps) for r in rates)
        self.norm: nn.Module = nn.LayerNorm(dim, eps=ln_eps) if final_norm else nn.Identity()
        if fixed_pos_embed:
            with torch.no_grad():
                self.pos_embed.copy_(sincos_pos_embed(self.grid, dim).unsqueeze(0))
            self.pos_embed.requires_grad_(False)
        else:
            nn.init.trunc_normal_(self.pos_embed, std=0.02)
        nn.init.trunc_normal_(self.cls_token, std=0.02)
        self.blocks.apply(init_weights)
        self.norm.apply(init_weights)

    def no_weight_decay(self) -> set[str]:
        return {"cls_token", "pos_embed"}

    def pos_embed_for(self, grid: Sequence[int]) -> torch.Tensor:
        if self.fixed_pos_embed and tuple(grid) != self.grid:
            return sincos_pos_embed(grid, self.embed_dim).unsqueeze(0).to(self.pos_embed)
        return interpolate_pos_embed(self.pos_embed, self.grid, grid)

    def num_tokens(self, size: Sequence[int]) -> int:
        """Patch tokens (CLS excluded) for an input of spatial/temporal ``size``."""
        return self.embed.num_tokens(size)

    def forward(
        self,
        x: torch.Tensor,
        mask_keep_ids: torch.Tensor | None = None,
        *,
        return_attention: bool = False,
        attention_query: AttentionQuery = "cls",
    ) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor]:
        """Tokens ``(B, 1+K, D)``; with ``return_attention`` also the last block's ``(B, heads, K)`` attention."""
        tokens = self.embed(x) + self.pos_embed_for(self.embed.grid(x.shape[2:]))
        if mask_keep_ids is not None:
            index = mask_keep_ids.unsqueeze(-1).expand(-1, -1, tokens.shape[-1])
            tokens = torch.gather(tokens, 1, index)
        h = torch.cat([self.cls_token.expand(tokens.shape[0], -1, -1).to(tokens.dtype), tokens], 1)
        for block in self.blocks[:-1]:
            h, _ = self._block(block, h, None)
        h, att = self._block(self.blocks[-1], h, attention_query if return_attention else None)
        h = self.norm(h)
        if return_attention:
            assert att is not None
            return h, att
        return h

    def _block(self, block: nn.Module, h: torch.Tensor,
               query: AttentionQuery | None) -> tuple[torch.Tensor, torch.Tensor | None]:
        """One block, through non-reentrant activation checkpointing when enabled and gradients are being
        recorded (the RNG state is restored for the recomputation, so drop-path masks match)."""
        if self.grad_checkpointing and torch.is_grad_enabled():
            return checkpoint(block, h, query, use_reentrant=False)
        return block(h, query)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """Pooled ``(B, D)`` features of the full input (``pool``: patch-token mean or CLS)."""
        tokens = self(x)
        assert isinstance(tokens, torch.Tensor)
        return tokens[:, 1:].mean(1) if self.pool == "mean" else tokens[:, 0]

    def config(self) -> dict[str, Any]:
        """Everything needed to rebuild this module (JSON-safe); see :mod:`xmodal.models.export`."""
        return {
            "embed": self.embed.config(), "dim": self.embed_dim, "depth": self.depth, "heads": self.heads,
            "mlp_ratio": self.mlp_ratio, "drop_path": self.drop_path, "grid": list(self.grid), "pool": self.pool,
            "qkv_bias": self.qkv_bias, "ln_eps": self.ln_eps, "fixed_pos_embed": self.fixed_pos_embed,
            "final_norm": self.final_norm,
        }

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> VisionTransformer:
        cfg = dict(config)
        return cls(build_embed(cfg.pop("embed")), **cfg)


def set_grad_checkpointing(module: nn.Module, enabled: bool) -> None:
    """Turn activation checkpointing on or off in every :class:`VisionTransformer` inside ``module``."""
    for sub in module.modules():
        if isinstance(sub, VisionTransformer):
            sub.grad_checkpointing = enabled


def compile_blocks(module: nn.Module) -> int:
    """Compile every Transformer :class:`Block` inside ``module`` in place (``nn.Module.compile``: state-dict keys
    unchanged). Regional compilation: the blocks of a ViT share one graph, so compiling takes seconds, not the
    minutes a whole training step would. Returns how many blocks were compiled."""
    blocks = [sub for sub in module.modules() if isinstance(sub, Block)]
    for block in blocks:
        block.compile()
    return len(blocks)


def make_embed(modality: Literal["video", "audio"], dim: int, patch: Sequence[int] | None = None,
               in_chans: int | None = None) -> _Embed:
    """Paper embeddings: video 4×16² cuboids over RGB, audio 4×16 (f×t) patches over one channel."""
    if modality == "video":
        return CuboidEmbed(3 if in_chans is None else in_chans, patch or (4, 16, 16), dim)
    if modality == "audio":
        return PatchEmbed2d(1 if in_chans is None else in_chans, patch or (4, 16), dim)
    raise ValueError(f"modality must be 'video' or 'audio', got {modality!r}")


def vit(size: str, modality: Literal["video", "audio"], grid: Sequence[int], *,
        patch: Sequence[int] | None = None, in_chans: int | None = None, dim: int | None = None,
        depth: int | None = None, heads: int | None = None, **kwargs: Any) -> VisionTransformer:
    """A ViT of a named size (``tiny|small|base|large``); ``dim/depth/heads`` override it (tiny CPU models)."""
    if size not in SIZES:
        raise ValueError(f"unknown ViT size {size!r}; known: {sorted(SIZES)}")
    d0, l0, h0 = SIZES[size]
    d, n, h = dim or d0, depth or l0, heads or h0
    return VisionTransformer(make_embed(modality, d, patch, in_chans), d, n, h, grid=grid, **kwargs)


def vit_tiny(modality: Literal["video", "audio"], grid: Sequence[int], **kwargs: Any) -> VisionTransformer:
    """ViT-Ti (192/12/3); pass ``dim``, ``depth``, ``heads``, ``patch`` for smaller CPU models."""
    return vit("tiny", modality, grid, **kwargs)


def vit_small(modality: Literal["video", "audio"], grid: Sequence[int], **kwargs: Any) -> VisionTransformer:
    """ViT-S (384/12/6)."""
    return vit("small", modality, grid, **kwargs)


def vit_base(modality: Literal["video", "audio"], grid: Sequence[int], **kwargs: Any) -> VisionTransformer:
    """ViT-B (768/12/12), XKD's default backbone for both modalities (Table S3, ≈87M parameters)."""
    return vit("base", modality, grid, **kwargs)


def vit_large(modality: Literal["video", "audio"], grid: Sequence[int], **kwargs: Any) -> VisionTransformer:
    """ViT-L (1024/24/16), XKD's video backbone for AudioSet pretraining (≈305M parameters)."""
    return vit("large", modality, grid, **kwargs)
