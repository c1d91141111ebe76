"""MAViL architecture (MAViL §3.1, App. B): ViT-B parameter and token counts, sin-cos tables, fusion encoders."""

from __future__ import annotations

import math

import pytest
import torch

from xmodal.methods.mavil_config import MAViLConfig, grids, visible_tokens
from xmodal.models.decoder import MAEDecoder
from xmodal.models.masking import disjoint_maskings
from xmodal.models.mavil import FusionEncoder, build_mavil_encoder, mavil_decoder, patch_dim
from xmodal.models.pos_embed import sincos_pos_embed

D = 768


def _block(d: int) -> int:
    """Pre-norm ViT block: qkv 3d²+3d, proj d²+d, MLP 4d²+4d and 4d²+d, two LayerNorms 4d."""
    return 12 * d * d + 13 * d


def _count(module: torch.nn.Module, trainable: bool = True) -> int:
    return sum(p.numel() for p in module.parameters() if p.requires_grad or not trainable)


def _vit_b() -> tuple[torch.nn.Module, torch.nn.Module, torch.nn.Module]:
    g = grids(MAViLConfig())
    with torch.device("meta"):
        enc = build_mavil_encoder(D, 12, 12, audio_patch=(16, 16), audio_grid=g["audio"], video_patch=(2, 16, 16),
                                  video_grid=g["video"])
        dec_a = mavil_decoder(D, 512, 8, 16, patch_dim("audio", (16, 16)), g["audio"])
        dec_v = mavil_decoder(D, 512, 8, 16, patch_dim("video", (2, 16, 16)), g["video"])
    return enc, dec_a, dec_v


def test_vit_b_parameter_counts() -> None:
    """App. B says 164M (encoder) and 27M (decoder); the architecture it describes has these exact counts."""
    enc, dec_a, dec_v = _vit_b()
    audio_embed, video_embed = D * 16 * 16 + D, D * 3 * 2 * 16 * 16 + D
    trunk = 12 * _block(D) + D  # 12 blocks + CLS token (no final norm: released layout)
    assert _count(enc.audio) == trunk + audio_embed == 85_252_608
    assert _count(enc.video) == trunk + video_embed == 86_235_648
    assert _count(enc.fusion) == 2 * _block(D) + 2 * D == 14_177_280  # 2 blocks + the decoders' input LayerNorm
    assert _count(enc) == 185_665_536
    assert _count(enc, trainable=False) - _count(enc) == (512 + 784) * D  # frozen sin-cos tables
    decoder = 512 * D + 512 + 512 + 8 * _block(512) + 2 * 512  # embed, mask token, blocks, norm
    assert _count(dec_a) == decoder + 512 * 256 + 256 == 25_745_664
    assert _count(dec_v) == decoder + 512 * 1536 + 1536 == 26_402_304


def test_mbt_adds_only_the_bottleneck_tokens() -> None:
    g = grids(MAViLConfig())
    with torch.device("meta"):
        vanilla = FusionEncoder(D, 2, 12, "vanilla")
        mbt = FusionEncoder(D, 2, 12, "mbt", bottleneck=4)
    assert _count(mbt) - _count(vanilla) == 4 * D
    assert g == {"audio": (8, 64), "video": (4, 14, 14)}


def test_visible_tokens_at_80_percent_match_appendix_b() -> None:
    """App. B: a' ∈ R^{103×768}, v' ∈ R^{158×768} (CLS included); MAE's floor gives 157 for video."""
    assert visible_tokens(512, 0.8, "round") + 1 == 103
    assert visible_tokens(784, 0.8, "round") + 1 == 158
    assert visible_tokens(784, 0.8, "floor") + 1 == 157
    views = disjoint_maskings(3, 784, visible_tokens(784, 0.8, "round"), 2, torch.Generator().manual_seed(0))
    for info in views:
        assert info.ids_keep.shape == (3, 157) and int((~info.mask).sum(1).min()) == 157
        visible = torch.gather(info.mask, 1, info.ids_keep)
        assert not visible.any()  # the kept tokens are exactly the unmasked ones
    first, second = (set(v.ids_keep[0].tolist()) for v in views)
    assert not first & second  # disjoint views (MAViL §3.2)


def _mae_1d(d: int, pos: torch.Tensor) -> torch.Tensor:
    omega = 1.0 / 10000 ** (torch.arange(d // 2, dtype=torch.float64) / (d / 2))
    out = pos.double().reshape(-1, 1) * omega
    return torch.cat([out.sin(), out.cos()], 1)


def test_audio_sincos_is_audio_mae_table_in_frequency_major_order() -> None:
    """Audio-MAE: MAE's 2-D table on the (time=64, freq=8) grid, first half from the column (freq) coordinate."""
    t, f, d = 6, 3, 16
    rows = []
    for ti in range(t):
        for fi in range(f):  # Audio-MAE order: time-major
            rows.append(torch.cat([_mae_1d(d // 2, torch.tensor([fi])), _mae_1d(d // 2, torch.tensor([ti]))], 1))
    theirs = torch.cat(rows).float().reshape(t, f, d)
    ours = sincos_pos_embed((f, t), d).reshape(f, t, d)
    torch.testing.assert_close(ours, theirs.transpose(0, 1))


def test_video_sincos_is_mae_st_table() -> None:
    """MAE-ST: [temporal (d/4) | spatial (3d/4: width half, height half)], tokens in (t, h, w) order."""
    t, s, d = 2, 3, 32
    spatial = 3 * d // 4
    rows = []
    for ti in range(t):
        for hi in range(s):
            for wi in range(s):
                rows.append(torch.cat([_mae_1d(d // 4, torch.tensor([ti])), _mae_1d(spatial // 2, torch.tensor([wi])),
                                       _mae_1d(spatial // 2, torch.tensor([hi]))], 1))
    torch.testing.assert_close(sincos_pos_embed((t, s, s), d), torch.cat(rows).float())
    with pytest.raises(ValueError, match="divisible by 16"):
        sincos_pos_embed((2, 2, 2), 24)


def test_encoders_use_frozen_sincos_and_features_pool_patch_tokens() -> None:
    torch.manual_seed(0)
    enc = build_mavil_encoder(32, 1, 2, audio_patch=(16, 16), audio_grid=(2, 4), video_patch=(2, 8, 8),
                              video_grid=(2, 2, 2))
    assert not enc.audio.pos_embed.requires_grad and not enc.video.pos_embed.requires_grad
    torch.testing.assert_close(enc.audio.pos_embed[0], sincos_pos_embed((2, 4), 32))
    dec = mavil_decoder(32, 16, 1, 2, 256, (2, 4))
    assert isinstance(dec, MAEDecoder) and not dec.pos_embed.requires_grad
    torch.testing.assert_close(dec.pos_embed[0], sincos_pos_embed((2, 4), 16))
    audio, video = torch.randn(3, 1, 32, 64), torch.randn(3, 3, 4, 16, 16)
    feats = enc.features(audio, video)
    a, v = enc.encode("audio", audio), enc.encode("video", video)
    torch.testing.assert_close(feats["audio"], a[:, 1:].mean(1))
    a_mm, v_mm = enc.fusion(a, v)
    torch.testing.assert_close(feats["fused"], torch.cat([a_mm[:, 1:].mean(1), v_mm[:, 1:].mean(1)], -1))
    assert feats["fused"].shape == (3, 64) and feats["video"].shape == (3, 32)


def test_fusion_vanilla_and_mbt_follow_section_3_1() -> None:
    torch.manual_seed(0)
    a, v = torch.randn(2, 5, 16), torch.randn(2, 7, 16)
    vanilla = FusionEncoder(16, 2, 2, "vanilla").eval()
    h = torch.cat([a, v], 1)
    for block in vanilla.blocks:
        h, _ = block(h)
    out_a, out_v = vanilla(a, v)
    torch.testing.assert_close(torch.cat([out_a, out_v], 1), h)
    mbt = FusionEncoder(16, 2, 2, "mbt", bottleneck=3).eval()
    xa, xv, b = a, v, mbt.bottleneck.expand(2, -1, -1)
    for block in mbt.blocks:  # a‖b and v‖b through the same block; b ← mean of the two updated copies
        ya, _ = block(torch.cat([xa, b], 1))
        yv, _ = block(torch.cat([xv, b], 1))
        xa, xv, b = ya[:, :5], yv[:, :7], (ya[:, 5:] + yv[:, 7:]) / 2
    got_a, got_v = mbt(a, v)
    torch.testing.assert_close(got_a, xa)
    torch.testing.assert_close(got_v, xv)
    # Information crosses modalities only through the bottleneck: audio outputs depend on the video input.
    assert not torch.allclose(mbt(a, torch.randn_like(v))[0], got_a)
    none = FusionEncoder(16, 2, 2, "none")
    assert none(a, v)[0] is a and math.prod(none(a, v)[1].shape) == v.numel()
