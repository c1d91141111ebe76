"""Released MAViL checkpoint layout (av-superb ``upstream_models/mavil``) → MAViLEncoder, on synthetic state dicts.

The reference forward below follows the released inference code: audio ``(B, 1, T, F)`` through ``patch_embed``,
``+ pos_embed[:, 1:]``, CLS ``+ pos_embed[:, :1]``, timm blocks; the same for video with ``*_v``; concatenation
through ``blocks_av``; means of the patch tokens (no LayerNorm anywhere on that path).
"""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from xmodal.models.mavil import build_mavil_encoder
from xmodal.models.mavil_checkpoint import load_released, map_released

BLOCK_LEAVES = {"norm1.weight": (1,), "norm1.bias": (1,), "attn.qkv.weight": (3, 1), "attn.qkv.bias": (3,),
                "attn.proj.weight": (1, 1), "attn.proj.bias": (1,), "norm2.weight": (1,), "norm2.bias": (1,),
                "mlp.fc1.weight": (4, 1), "mlp.fc1.bias": (4,), "mlp.fc2.weight": (1, 4), "mlp.fc2.bias": (1,)}


def released_state(d: int, depth: int, fusion_depth: int, audio_tf: tuple[int, int], video_thw: tuple[int, ...],
                   apatch: int, vpatch: tuple[int, int, int], gen: torch.Generator | None,
                   device: str = "cpu") -> dict[str, torch.Tensor]:
    """Tensors with the released names and shapes (random values; ``gen=None`` on the meta device)."""
    def t(*shape: int) -> torch.Tensor:
        if device == "meta":
            return torch.empty(shape, device="meta")
        return torch.randn(shape, generator=gen) * 0.2

    na = (audio_tf[0] // apatch) * (audio_tf[1] // apatch)
    nv = (video_thw[0] // vpatch[0]) * (video_thw[1] // vpatch[1]) * (video_thw[2] // vpatch[2])
    state = {"cls_token": t(1, 1, d), "pos_embed": t(1, na + 1, d), "patch_embed.proj.weight": t(d, 1, apatch, apatch),
             "patch_embed.proj.bias": t(d), "cls_token_v": t(1, 1, d), "pos_embed_v": t(1, nv + 1, d),
             "patch_embed_v.proj.weight": t(d, 3, *vpatch), "patch_embed_v.proj.bias": t(d),
             "fc_norm_av.weight": t(2 * d), "head_av.weight": t(527, 2 * d)}
    for tower, n in (("blocks", depth), ("blocks_v", depth), ("blocks_av", fusion_depth)):
        for i in range(n):
            for leaf, mult in BLOCK_LEAVES.items():
                state[f"{tower}.{i}.{leaf}"] = t(*[m * d for m in mult])
    return state


def _timm_block(x: torch.Tensor, s: dict[str, torch.Tensor], p: str, heads: int) -> torch.Tensor:
    b, n, d = x.shape
    h = F.layer_norm(x, (d,), s[f"{p}.norm1.weight"], s[f"{p}.norm1.bias"], eps=1e-6)
    qkv = F.linear(h, s[f"{p}.attn.qkv.weight"], s[f"{p}.attn.qkv.bias"]).reshape(b, n, 3, heads, d // heads)
    q, k, v = qkv.permute(2, 0, 3, 1, 4)
    att = (q @ k.transpose(-2, -1) * (d // heads) ** -0.5).softmax(-1)
    x = x + F.linear((att @ v).transpose(1, 2).reshape(b, n, d), s[f"{p}.attn.proj.weight"], s[f"{p}.attn.proj.bias"])
    h = F.layer_norm(x, (d,), s[f"{p}.norm2.weight"], s[f"{p}.norm2.bias"], eps=1e-6)
    h = F.linear(F.gelu(F.linear(h, s[f"{p}.mlp.fc1.weight"], s[f"{p}.mlp.fc1.bias"])), s[f"{p}.mlp.fc2.weight"],
                 s[f"{p}.mlp.fc2.bias"])
    return x + h


def released_forward(s: dict[str, torch.Tensor], audio_tf: torch.Tensor, video: torch.Tensor, depth: int,
                     fusion_depth: int, heads: int) -> dict[str, torch.Tensor]:
    def tower(x: torch.Tensor, sfx: str, blocks: str, conv: object) -> torch.Tensor:
        tok = conv(x, s[f"patch_embed{sfx}.proj.weight"], s[f"patch_embed{sfx}.proj.bias"],  # type: ignore[operator]
                   stride=s[f"patch_embed{sfx}.proj.weight"].shape[2:]).flatten(2).transpose(1, 2)
        tok = tok + s[f"pos_embed{sfx}"][:, 1:]
        cls = (s[f"cls_token{sfx}"] + s[f"pos_embed{sfx}"][:, :1]).expand(x.shape[0], -1, -1)
        h = torch.cat([cls, tok], 1)
        for i in range(depth):
            h = _timm_block(h, s, f"{blocks}.{i}", heads)
        return h

    a, v = tower(audio_tf, "", "blocks", F.conv2d), tower(video, "_v", "blocks_v", F.conv3d)
    xv = torch.cat([a, v], 1)
    for i in range(fusion_depth):
        xv = _timm_block(xv, s, f"blocks_av.{i}", heads)
    n = a.shape[1]
    return {"audio": a[:, 1:].mean(1), "video": v[:, 1:].mean(1),
            "fused": torch.cat([xv[:, 1:n].mean(1), xv[:, n + 1 :].mean(1)], -1)}


def test_released_layout_loads_and_reproduces_the_released_features() -> None:
    d, depth, fdepth, heads = 32, 2, 2, 2
    gen = torch.Generator().manual_seed(0)
    state = released_state(d, depth, fdepth, (64, 32), (4, 32, 32), 16, (2, 16, 16), gen)
    enc = build_mavil_encoder(d, depth, heads, audio_patch=(16, 16), audio_grid=(2, 4), video_patch=(2, 16, 16),
                              video_grid=(2, 2, 2), fusion_depth=fdepth)
    unused = load_released(enc, {"model": state})
    assert sorted(unused) == ["fc_norm_av.weight", "head_av.weight"]
    audio_tf, video = torch.randn(3, 1, 64, 32, generator=gen), torch.randn(3, 3, 4, 32, 32, generator=gen)
    expected = released_forward(state, audio_tf, video, depth, fdepth, heads)
    got = enc.eval().features(audio_tf.transpose(-1, -2), video)  # xmodal spectrograms are (freq, time)
    for key in ("audio", "video", "fused"):
        torch.testing.assert_close(got[key], expected[key], rtol=1e-4, atol=1e-5)


def test_released_sincos_table_equals_ours_after_reordering() -> None:
    """A released ``pos_embed`` built with Audio-MAE's table maps onto the table our encoder already holds."""
    enc = build_mavil_encoder(32, 1, 2, audio_patch=(16, 16), audio_grid=(2, 4), video_patch=(2, 16, 16),
                              video_grid=(2, 2, 2), fusion_depth=1)
    t, f, d = 4, 2, 32
    omega = 1.0 / 10000 ** (torch.arange(d // 4, dtype=torch.float64) / (d / 4))
    coords = [(ti, fi) for ti in range(t) for fi in range(f)]  # Audio-MAE: (time, freq) grid, time-major
    rows = [torch.cat([(fi * omega).sin(), (fi * omega).cos(), (ti * omega).sin(), (ti * omega).cos()])
            for ti, fi in coords]
    pos = torch.cat([torch.zeros(1, d), torch.stack(rows).float()]).unsqueeze(0)
    state = {"pos_embed": pos, "cls_token": torch.zeros(1, 1, d)}
    mapped, _ = map_released(state, enc)
    torch.testing.assert_close(mapped["audio.pos_embed"], enc.audio.pos_embed.detach())


def test_vit_b_released_shapes_map_onto_every_encoder_tensor() -> None:
    """Full-size key and shape check on the meta device: every encoder tensor but the decoders' input norm comes
    from the checkpoint, and a 3-block (fine-tuned) fusion names the fix."""
    state = released_state(768, 12, 2, (1024, 128), (8, 224, 224), 16, (2, 16, 16), None, device="meta")
    with torch.device("meta"):
        enc = build_mavil_encoder(768, 12, 12, audio_patch=(16, 16), audio_grid=(8, 64), video_patch=(2, 16, 16),
                                  video_grid=(4, 14, 14))
    mapped, unused = map_released(state, enc)
    own = enc.state_dict()
    assert set(own) - set(mapped) == {"fusion.norm.weight", "fusion.norm.bias"}
    assert all(mapped[k].shape == own[k].shape for k in mapped)
    assert mapped["audio.embed.proj.weight"].shape == (768, 1, 16, 16) and len(unused) == 2
    state3 = released_state(32, 1, 3, (64, 32), (4, 32, 32), 16, (2, 16, 16), torch.Generator().manual_seed(0))
    small = build_mavil_encoder(32, 1, 2, audio_patch=(16, 16), audio_grid=(2, 4), video_patch=(2, 16, 16),
                                video_grid=(2, 2, 2))
    with pytest.raises(ValueError, match="fusion_depth"):
        load_released(small, state3)
    del state3["blocks.0.norm1.weight"]
    with pytest.raises(ValueError, match="lacks"):
        load_released(build_mavil_encoder(32, 1, 2, audio_patch=(16, 16), audio_grid=(2, 4), video_patch=(2, 16, 16),
                                          video_grid=(2, 2, 2), fusion_depth=3), state3)
