"""MAE masking, patchify targets (token order = embedding order) and the decoder's unshuffling."""

from __future__ import annotations

import torch

from xmodal.models.decoder import (
    MAEDecoder,
    normalize_patches,
    patchify_audio,
    patchify_video,
    unpatchify_audio,
    unpatchify_video,
)
from xmodal.models.embed import CuboidEmbed, PatchEmbed2d
from xmodal.models.masking import random_masking


def test_random_masking_per_sample() -> None:
    info = random_masking(16, 392, 0.85)
    assert info.ids_keep.shape == (16, 58) and info.ids_restore.shape == (16, 392)
    assert torch.all(info.mask.sum(1) == 392 - 58)
    assert not info.mask.gather(1, info.ids_keep).any()  # kept ids are exactly the unmasked ones
    shuffle = info.ids_restore.argsort(1)
    torch.testing.assert_close(shuffle[:, :58], info.ids_keep)  # ids_restore inverts the shuffle
    assert len({tuple(row.tolist()) for row in info.ids_keep.sort(1).values}) == 16  # differs per sample
    audio = random_masking(4, 560, 0.80)
    assert audio.ids_keep.shape == (4, 112)
    g1, g2 = torch.Generator().manual_seed(3), torch.Generator().manual_seed(3)
    torch.testing.assert_close(random_masking(2, 10, 0.5, g1).ids_keep, random_masking(2, 10, 0.5, g2).ids_keep)


def test_patchify_matches_embedding_token_order() -> None:
    video = torch.randn(2, 3, 4, 16, 32)
    embed = CuboidEmbed(3, (2, 8, 8), dim=6)
    patches = patchify_video(video, (2, 8, 8))
    assert patches.shape == (2, 2 * 2 * 4, 2 * 8 * 8 * 3)
    weight = embed.proj.weight.permute(0, 2, 3, 4, 1).reshape(6, -1)  # (t, h, w, C) value order
    torch.testing.assert_close(embed(video), patches @ weight.T + embed.proj.bias, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(unpatchify_video(patches, (2, 8, 8), (2, 2, 4)), video)

    spec = torch.randn(2, 1, 8, 32)
    aembed = PatchEmbed2d(1, (4, 16), dim=5)
    apatches = patchify_audio(spec, (4, 16))
    assert apatches.shape == (2, 2 * 2, 64)
    aweight = aembed.proj.weight.permute(0, 2, 3, 1).reshape(5, -1)
    torch.testing.assert_close(aembed(spec), apatches @ aweight.T + aembed.proj.bias, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(unpatchify_audio(apatches, (4, 16), (2, 2)), spec)
    # Direct check of one patch: frequency rows 4:8, time columns 16:32 is token (1, 1) = index 3.
    torch.testing.assert_close(apatches[:, 3], spec[:, 0, 4:8, 16:32].reshape(2, -1))


def test_norm_pix_targets() -> None:
    patches = patchify_video(torch.randn(2, 3, 2, 8, 8) * 3 + 1, (2, 8, 8), norm_pix=True)
    torch.testing.assert_close(patches.mean(-1), torch.zeros(2, 1), atol=1e-5, rtol=0)
    torch.testing.assert_close(patches.var(-1), torch.ones(2, 1), atol=1e-3, rtol=0)
    x = torch.tensor([[1.0, 2.0, 3.0]])
    torch.testing.assert_close(normalize_patches(x, eps=0.0), torch.tensor([[-1.0, 0.0, 1.0]]))


def test_decoder_places_visible_and_mask_tokens() -> None:
    dec = MAEDecoder(8, dim=16, depth=0, heads=2, patch_dim=5, grid=(2, 3)).eval()
    info = random_masking(2, 6, 0.5)
    enc = torch.randn(2, 1 + 3, 8)
    out = dec(enc, info.ids_restore)
    assert out.shape == (2, 6, 5)
    pos = dec.pos_embed[0]
    for b in range(2):
        for j, i in enumerate(info.ids_keep[b].tolist()):
            ref = dec.pred(dec.norm(dec.embed(enc[b, 1 + j]) + pos[i]))
            torch.testing.assert_close(out[b, i], ref)
        for i in torch.nonzero(info.mask[b]).flatten().tolist():
            torch.testing.assert_close(out[b, i], dec.pred(dec.norm(dec.mask_token[0, 0] + pos[i])))


def test_decoder_paper_shape_and_interpolation() -> None:
    dec = MAEDecoder(32, dim=24, depth=1, heads=12, patch_dim=3 * 2 * 8 * 8, grid=(2, 2, 2))
    info = random_masking(3, 8, 0.75)
    assert dec(torch.randn(3, 1 + 2, 32), info.ids_restore).shape == (3, 8, 384)
    big = random_masking(3, 27, 0.75)
    assert dec(torch.randn(3, 1 + 6, 32), big.ids_restore, grid=(3, 3, 3)).shape == (3, 27, 384)
    assert dec.no_weight_decay() == {"mask_token", "pos_embed"}
