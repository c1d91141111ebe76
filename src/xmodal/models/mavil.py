"""MAViL encoders: audio and video ViTs with fixed sin-cos positions, a joint fusion encoder, MAE decoders.

Huang et al., "MAViL: Masked Audio-Video Learners", NeurIPS 2023 (arXiv 2212.08071), §3.1 and App. B:

- separate audio (16×16 spectrogram patches) and video (2×16×16 tubelets) ViT encoders, each with its own CLS
  token and fixed sin-cos positional embeddings (2-D audio, 3-D video; :mod:`xmodal.models.pos_embed`);
- a fusion encoder of L Transformer blocks over ``[a_cls, audio tokens, v_cls, video tokens]`` (vanilla, no
  modality-type embedding) or MBT (§3.1): ``a‖b`` and ``v‖b`` go through the *same* block, then ``b`` becomes
  the mean of the two updated bottleneck copies;
- per-modality MAE decoders with fixed sin-cos positions; the fusion output passes a LayerNorm first (MAE's
  encoder norm, the input every MAE decoder sees).

The encoders have no final LayerNorm by default: the only public MAViL code (av-superb's ``upstream_models/mavil``)
feeds encoder block outputs straight into the fusion blocks and pools fusion block outputs without a norm, and
:meth:`MAViLEncoder.features` reproduces that pooling exactly, so released weights give the released features.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any, Literal

import torch
from torch import nn

from xmodal.models.decoder import MAEDecoder
from xmodal.models.embed import CuboidEmbed, PatchEmbed2d
from xmodal.models.pos_embed import sincos_pos_embed
from xmodal.models.vit import Block, VisionTransformer, init_weights

FusionKind = Literal["vanilla", "mbt", "none"]


class FusionEncoder(nn.Module):
    """Joint audio-video encoder (MAViL §3.1); ``forward(a, v) -> (a_mm, v_mm)`` keeps each input's length.

    ``kind="none"`` is Table 2's uni-modal baseline (no fusion layer): the tokens pass through unchanged.
    """

    def __init__(self, dim: int, depth: int = 2, heads: int = 12, kind: FusionKind = "vanilla",
                 bottleneck: int = 4, mlp_ratio: float = 4.0) -> None:
        super().__init__()
        if kind not in ("vanilla", "mbt", "none"):
            raise ValueError(f"fusion kind must be 'vanilla', 'mbt' or 'none', got {kind!r}")
        self.dim, self.depth, self.heads, self.kind, self.mlp_ratio = dim, depth, heads, kind, mlp_ratio
        self.num_bottleneck = bottleneck
        self.blocks = nn.ModuleList(Block(dim, heads, mlp_ratio) for _ in range(depth if kind != "none" else 0))
        self.bottleneck = nn.Parameter(torch.zeros(1, self.num_bottleneck, dim)) if kind == "mbt" else None
        self.norm = nn.LayerNorm(dim, eps=1e-6)
        self.blocks.apply(init_weights)
        init_weights(self.norm)
        if self.bottleneck is not None:
            nn.init.trunc_normal_(self.bottleneck, std=0.02)

    def no_weight_decay(self) -> set[str]:
        return {"bottleneck"} if self.bottleneck is not None else set()

    def forward(self, a: torch.Tensor, v: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``(B, Na, D)``, ``(B, Nv, D)`` → block outputs of the same shapes (no final norm)."""
        if self.kind == "vanilla":
            h = torch.cat([a, v], dim=1)
            for block in self.blocks:
                h, _ = block(h)
            return h[:, : a.shape[1]], h[:, a.shape[1] :]
        if self.kind == "mbt":
            assert self.bottleneck is not None
            b = self.bottleneck.expand(a.shape[0], -1, -1).to(a.dtype)
            for block in self.blocks:
                ha, _ = block(torch.cat([a, b], dim=1))
                hv, _ = block(torch.cat([v, b], dim=1))
                a, v = ha[:, : a.shape[1]], hv[:, : v.shape[1]]
                b = 0.5 * (ha[:, a.shape[1] :] + hv[:, v.shape[1] :])
            return a, v
        return a, v

    def config(self) -> dict[str, Any]:
        return {"dim": self.dim, "depth": self.depth, "heads": self.heads, "kind": self.kind,
                "bottleneck": self.num_bottleneck, "mlp_ratio": self.mlp_ratio}


def mavil_vit(modality: Literal["audio", "video"], dim: int, depth: int, heads: int, patch: Sequence[int],
              grid: Sequence[int], final_norm: bool = False, drop_path: float = 0.0) -> VisionTransformer:
    """A MAViL uni-modal encoder: audio ``(B, 1, F, T)`` or video ``(B, 3, T, H, W)``, fixed sin-cos positions."""
    embed = PatchEmbed2d(1, patch, dim) if modality == "audio" else CuboidEmbed(3, patch, dim)
    return VisionTransformer(embed, dim, depth, heads, drop_path=drop_path, grid=grid, fixed_pos_embed=True,
                             final_norm=final_norm)


def mavil_decoder(enc_dim: int, dim: int, depth: int, heads: int, out_dim: int, grid: Sequence[int]) -> MAEDecoder:
    """MAE decoder whose positional embedding is a frozen sin-cos table (MAViL §3.1, as Audio-MAE)."""
    decoder = MAEDecoder(enc_dim, dim, depth, heads, out_dim, grid=grid)
    with torch.no_grad():
        decoder.pos_embed.copy_(sincos_pos_embed(decoder.grid, dim).unsqueeze(0))
    decoder.pos_embed.requires_grad_(False)
    return decoder


class MAViLEncoder(nn.Module):
    """Audio encoder, video encoder and fusion encoder: the part of MAViL kept after pretraining.

    The exportable backbone (:mod:`xmodal.models.export`): :meth:`features` gives the released inference code's
    features (mean of patch tokens per modality, CLS unused; fused = concatenated means of the fusion outputs).
    """

    def __init__(self, audio: VisionTransformer, video: VisionTransformer, fusion: FusionEncoder) -> None:
        super().__init__()
        if not audio.embed_dim == video.embed_dim == fusion.dim:
            raise ValueError(f"audio ({audio.embed_dim}), video ({video.embed_dim}) and fusion ({fusion.dim}) "
                             "widths must match")
        self.audio, self.video, self.fusion = audio, video, fusion

    @property
    def dim(self) -> int:
        return self.fusion.dim

    def encoder(self, modality: str) -> VisionTransformer:
        if modality not in ("audio", "video"):
            raise ValueError(f"modality must be 'audio' or 'video', got {modality!r}")
        return self.audio if modality == "audio" else self.video

    def encode(self, modality: str, x: torch.Tensor, keep_ids: torch.Tensor | None = None) -> torch.Tensor:
        """Uni-modal tokens ``(B, 1+K, D)`` of the visible tokens ``keep_ids`` (all when None)."""
        out = self.encoder(modality)(x, keep_ids)
        assert isinstance(out, torch.Tensor)
        return out

    @torch.no_grad()
    def features(self, audio: torch.Tensor, video: torch.Tensor) -> dict[str, torch.Tensor]:
        """``{"audio": (B, D), "video": (B, D), "fused": (B, 2D)}`` on complete inputs."""
        a, v = self.encode("audio", audio), self.encode("video", video)
        a_mm, v_mm = self.fusion(a, v)
        return {"audio": a[:, 1:].mean(1), "video": v[:, 1:].mean(1),
                "fused": torch.cat([a_mm[:, 1:].mean(1), v_mm[:, 1:].mean(1)], dim=-1)}

    def config(self) -> dict[str, Any]:
        return {"audio": self.audio.config(), "video": self.video.config(), "fusion": self.fusion.config()}

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> MAViLEncoder:
        return cls(VisionTransformer.from_config(config["audio"]), VisionTransformer.from_config(config["video"]),
                   FusionEncoder(**config["fusion"]))


def build_mavil_encoder(dim: int, depth: int, heads: int, *, audio_patch: Sequence[int], audio_grid: Sequence[int],
                        video_patch: Sequence[int], video_grid: Sequence[int], fusion: FusionKind = "vanilla",
                        fusion_depth: int = 2, bottleneck: int = 4, encoder_norm: bool = False,
                        drop_path: float = 0.0) -> MAViLEncoder:
    """The encoder stack of one MAViL model (ViT-B: 768/12/12, audio 16×16 on 128×1024, video 2×16² on 8×224²)."""
    return MAViLEncoder(
        mavil_vit("audio", dim, depth, heads, audio_patch, audio_grid, encoder_norm, drop_path),
        mavil_vit("video", dim, depth, heads, video_patch, video_grid, encoder_norm, drop_path),
        FusionEncoder(dim, fusion_depth, heads, fusion, bottleneck),
    )


def patch_dim(modality: str, patch: Sequence[int]) -> int:
    """Raw values per patch: audio ``f·t``, video ``3·t·h·w``."""
    return math.prod(patch) * (1 if modality == "audio" else 3)
