"""ViT encoder: paper sizes and token counts, masked encoding, Eq. 3 attention, positional interpolation."""

from __future__ import annotations

import math

import pytest
import torch

from xmodal.models.vit import VisionTransformer, interpolate_pos_embed, vit, vit_base, vit_large, vit_tiny


def tiny(modality: str = "video", grid: tuple[int, ...] = (2, 2, 2), **kw: object) -> VisionTransformer:
    patch = (2, 8, 8) if modality == "video" else (4, 8)
    return vit_tiny(modality, grid, patch=patch, dim=32, depth=2, heads=4, **kw).eval()  # type: ignore[arg-type]


def n_params(m: torch.nn.Module) -> int:
    return sum(p.numel() for p in m.parameters())


def test_paper_sizes_parameter_counts() -> None:
    with torch.device("meta"):
        video_b = vit_base("video", (8, 7, 7))
        video_l = vit_large("video", (8, 7, 7))
    assert 86e6 < n_params(video_b) < 89e6  # "ViT-B (87M)", Table S3
    assert 300e6 < n_params(video_l) < 310e6  # "ViT-L (305M)", §4.7
    assert (video_b.embed_dim, len(video_b.blocks), video_b.heads) == (768, 12, 12)


def test_paper_token_counts() -> None:
    video = vit("base", "video", (8, 7, 7), dim=16, depth=1, heads=2)
    audio = vit("base", "audio", (20, 28), dim=16, depth=1, heads=2)
    assert video.num_tokens((32, 112, 112)) == 392
    assert audio.num_tokens((80, 448)) == 560
    assert audio.embed.grid((80, 448)) == (20, 28)  # frequency extent 4, time extent 16
    assert video(torch.zeros(1, 3, 32, 112, 112)).shape == (1, 393, 16)
    assert audio(torch.zeros(1, 1, 80, 448)).shape == (1, 561, 16)
    assert video.num_tokens((8, 96, 96)) == 72 and audio.num_tokens((80, 112)) == 140  # local views


def test_masked_forward_ignores_dropped_tokens() -> None:
    model = tiny()
    x = torch.randn(2, 3, 4, 16, 16)
    keep = torch.tensor([[0, 3, 5], [7, 1, 2]])
    out = model(x, mask_keep_ids=keep)
    assert out.shape == (2, 4, 32)
    # Token 4 is dropped for both samples: changing its cuboid (t 2:4, h 0:8, w 0:8) must change nothing.
    y = x.clone()
    y[:, :, 2:4, 0:8, 0:8] += 5.0
    torch.testing.assert_close(model(y, mask_keep_ids=keep), out)
    # Keeping every token in order is the unmasked forward.
    torch.testing.assert_close(model(x, mask_keep_ids=torch.arange(8).expand(2, 8)), model(x))


def _explicit_last_attention(
    model: VisionTransformer, x: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Full attention matrix of the last block, recomputed from its input without SDPA."""
    captured: list[torch.Tensor] = []
    handle = model.blocks[-1].register_forward_pre_hook(lambda _m, args: captured.append(args[0]))
    model(x)
    handle.remove()
    blk = model.blocks[-1]
    h = blk.norm1(captured[0])
    b, n, d = h.shape
    qkv = blk.attn.qkv(h).view(b, n, 3, model.heads, d // model.heads).permute(2, 0, 3, 1, 4)
    q, k = qkv[0], qkv[1]
    return (q @ k.transpose(-2, -1) / math.sqrt(d // model.heads)).softmax(-1), q, k


def test_cls_attention_matches_explicit_softmax() -> None:
    model = tiny()
    x = torch.randn(2, 3, 4, 16, 16)
    tokens, att = model(x, return_attention=True)
    full, q, k = _explicit_last_attention(model, x)
    torch.testing.assert_close(att, full[:, :, 0, 1:])  # Eq. 3, CLS row, CLS column dropped
    torch.testing.assert_close(tokens, model(x))  # same pass, same tokens
    _, att_mean = model(x, return_attention=True, attention_query="mean")
    ref = (q[:, :, 1:].mean(2, keepdim=True) @ k[:, :, 1:].transpose(-2, -1) / math.sqrt(8)).softmax(-1)[:, :, 0]
    torch.testing.assert_close(att_mean, ref)  # Table S14 "w/o CLS"
    torch.testing.assert_close(att_mean.sum(-1), torch.ones(2, 4))


def test_attention_block_matches_explicit_computation() -> None:
    model = tiny()
    blk = model.blocks[0]
    h = torch.randn(2, 5, 32)
    b, n, d = h.shape
    qkv = blk.attn.qkv(h).view(b, n, 3, 4, 8).permute(2, 0, 3, 1, 4)
    ref = ((qkv[0] @ qkv[1].transpose(-2, -1) / math.sqrt(8)).softmax(-1) @ qkv[2]).transpose(1, 2).reshape(b, n, d)
    out, _ = blk.attn(h)
    torch.testing.assert_close(out, blk.attn.proj(ref))


def test_positional_embedding_interpolation() -> None:
    model = tiny("audio", (2, 4))
    assert model(torch.randn(2, 1, 8, 32)).shape == (2, 9, 32)  # the construction grid (2, 4)
    assert model(torch.randn(2, 1, 8, 16)).shape == (2, 5, 32)  # local view: (2, 2)
    assert model(torch.randn(2, 1, 8, 64)).shape == (2, 17, 32)  # longer input: (2, 8)
    ramp = torch.arange(4.0).repeat(2).view(1, 8, 1)  # value = time index on a (2, 4) grid
    out = interpolate_pos_embed(ramp, (2, 4), (2, 8))
    assert out.shape == (1, 16, 1)
    row = out.view(2, 8)[0]
    assert torch.all(row[1:] >= row[:-1]) and row[0] == 0 and row[-1] == 3
    assert interpolate_pos_embed(ramp, (2, 4), (2, 4)) is ramp
    video = tiny()
    assert video(torch.randn(1, 3, 8, 32, 32)).shape == (1, 1 + 4 * 4 * 4, 32)  # trilinear (4, 4, 4)


def test_features_pooling_and_no_weight_decay() -> None:
    model = tiny()
    x = torch.randn(2, 3, 4, 16, 16)
    tokens = model(x)
    torch.testing.assert_close(model.features(x), tokens[:, 1:].mean(1))
    cls_model = tiny(pool="cls")
    torch.testing.assert_close(cls_model.features(x), cls_model(x)[:, 0])
    assert model.no_weight_decay() == {"cls_token", "pos_embed"}
    assert isinstance(model.blocks, torch.nn.ModuleList) and len(model.blocks) == 2


def test_drop_path_is_stochastic_in_training_only() -> None:
    model = tiny(drop_path=0.5)
    x = torch.randn(4, 3, 4, 16, 16)
    torch.testing.assert_close(model(x), model(x))
    model.train()
    assert not torch.allclose(model(x), model(x))


def test_rejects_mismatched_inputs() -> None:
    model = tiny()
    with pytest.raises(ValueError, match="divisible"):
        model(torch.randn(1, 3, 4, 15, 16))
    with pytest.raises(ValueError, match="channels"):
        model(torch.randn(1, 1, 4, 16, 16))
