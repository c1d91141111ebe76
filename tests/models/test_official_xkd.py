"""Released XKD backbones → xmodal ViT: a synthetic state dict with the official key names and shapes, run through
an independent re-implementation of the official forward (Linear over channel-last flattened patches, CLS plus its
positional entry, pre-norm blocks with an explicit softmax, LayerNorm eps 1e-5), must give our model's tokens."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

from xmodal.cli.main import main
from xmodal.eval.geometry import resolve_geometry
from xmodal.models import load_backbone
from xmodal.models.official_xkd import convert_official_xkd, load_official_xkd

DIM, DEPTH, HEADS = 32, 2, 2


def _official_state(modality: str, patch: tuple[int, ...], tokens: int, dim: int = DIM, depth: int = DEPTH,
                    seed: int = 0) -> dict[str, torch.Tensor]:
    """A state dict with the official training code's names and shapes (``save_state_dicts``)."""
    g = torch.Generator().manual_seed(seed)
    chans = 3 if modality == "video" else 1

    def r(*shape: int, scale: float = 0.2) -> torch.Tensor:
        return torch.randn(*shape, generator=g) * scale

    embed = "cuboid_embed" if modality == "video" else "patch_embed"
    state = {"cls_token": r(1, 1, dim), "enc_pos_embed": r(1, 1 + tokens, dim),
             f"{embed}.proj.weight": r(dim, chans * math.prod(patch), scale=0.02), f"{embed}.proj.bias": r(dim),
             "encoder_norm.weight": 1 + r(dim), "encoder_norm.bias": r(dim)}
    for i in range(depth):
        b = f"encoder.blocks.{i}."
        state |= {b + "norm1.weight": 1 + r(dim), b + "norm1.bias": r(dim), b + "attn.qkv.weight": r(3 * dim, dim),
                  b + "attn.proj.weight": r(dim, dim), b + "attn.proj.bias": r(dim), b + "norm2.weight": 1 + r(dim),
                  b + "norm2.bias": r(dim), b + "mlp.fc1.weight": r(4 * dim, dim), b + "mlp.fc1.bias": r(4 * dim),
                  b + "mlp.fc2.weight": r(dim, 4 * dim), b + "mlp.fc2.bias": r(dim)}
    return state


def _official_forward(state: dict[str, torch.Tensor], x: torch.Tensor, patch: tuple[int, ...]) -> torch.Tensor:
    """The official VideoViT/AudioViT forward at the pretraining size (no positional interpolation)."""
    if x.dim() == 5:  # "b c (t pt) (h ph) (w pw) -> b (t h w) (pt ph pw c)"
        b, c, t, h, w = x.shape
        pt, ph, pw = patch
        p = x.reshape(b, c, t // pt, pt, h // ph, ph, w // pw, pw).permute(0, 2, 4, 6, 3, 5, 7, 1)
        embed = "cuboid_embed"
    else:  # "b c (h ph) (w pw) -> b (h w) (ph pw c)"
        b, c, f, t = x.shape
        pf, pt = patch
        p = x.reshape(b, c, f // pf, pf, t // pt, pt).permute(0, 2, 4, 3, 5, 1)
        embed = "patch_embed"
    tokens = p.reshape(b, -1, p.shape[-4:].numel() if x.dim() == 5 else p.shape[-3:].numel())
    tokens = tokens @ state[f"{embed}.proj.weight"].T + state[f"{embed}.proj.bias"]
    pos = state["enc_pos_embed"]
    h = torch.cat([(state["cls_token"] + pos[:, :1]).expand(b, -1, -1), tokens + pos[:, 1:]], 1)

    def ln(v: torch.Tensor, key: str) -> torch.Tensor:
        return F.layer_norm(v, (DIM,), state[key + ".weight"], state[key + ".bias"], eps=1e-5)

    for i in range(DEPTH):
        k = f"encoder.blocks.{i}."
        y = ln(h, k + "norm1")
        n = y.shape[1]
        qkv = (y @ state[k + "attn.qkv.weight"].T).reshape(b, n, 3, HEADS, DIM // HEADS).permute(2, 0, 3, 1, 4)
        att = ((qkv[0] @ qkv[1].transpose(-2, -1)) * (DIM // HEADS) ** -0.5).softmax(-1)
        y = (att @ qkv[2]).transpose(1, 2).reshape(b, n, DIM)
        h = h + y @ state[k + "attn.proj.weight"].T + state[k + "attn.proj.bias"]
        y = F.gelu(ln(h, k + "norm2") @ state[k + "mlp.fc1.weight"].T + state[k + "mlp.fc1.bias"])
        h = h + y @ state[k + "mlp.fc2.weight"].T + state[k + "mlp.fc2.bias"]
    return ln(h, "encoder_norm")


@pytest.mark.parametrize(
    ("modality", "patch", "size", "grid"),
    [("video", (4, 16, 16), (8, 32, 48), (2, 2, 3)), ("audio", (4, 16), (8, 48), (2, 3))],
)
def test_converted_official_backbone_matches_the_official_forward(modality: str, patch: tuple[int, ...],
                                                                  size: tuple[int, ...], grid: tuple[int, ...]) -> None:
    state = _official_state(modality, patch, math.prod(grid))
    model = convert_official_xkd(state, modality, grid=grid, heads=HEADS)  # type: ignore[arg-type]
    assert model.blocks[0].attn.qkv.bias is None and model.norm.eps == 1e-5 and model.grid == grid
    x = torch.randn(2, 3 if modality == "video" else 1, *size, generator=torch.Generator().manual_seed(1))
    torch.testing.assert_close(model(x), _official_forward(state, x, patch), rtol=1e-4, atol=1e-5)
    # the evaluation code's names (blocks.*, norm.*, pos_embed, patch_embed) and a DDP prefix load the same
    renamed = {("module." + k.replace("encoder.blocks.", "blocks.").replace("encoder_norm.", "norm.")
                .replace("enc_pos_embed", "pos_embed").replace("cuboid_embed", "patch_embed")): v
               for k, v in state.items()}
    same = convert_official_xkd(renamed, modality, grid=grid, heads=HEADS)  # type: ignore[arg-type]
    torch.testing.assert_close(same(x), model(x))


def test_paper_shaped_release_loads_from_a_file(tmp_path: Path) -> None:
    """A ViT-B-wide video backbone with the paper's shapes (392 + 1 positions, 3072-wide cuboids; one block to stay
    fast), saved as the official code does, loads with the default patch/grid/heads; inputs that do not fit fail
    with a message naming the fix."""
    state = _official_state("video", (4, 16, 16), 392, dim=768, depth=1)
    path = tmp_path / "vid_teacher.pth.tar"
    torch.save(state, path)
    model = load_official_xkd(path)
    assert (model.embed_dim, model.depth, model.heads, model.grid) == (768, 1, 12, (8, 7, 7))
    assert model.embed.patch == (4, 16, 16)
    with pytest.raises(ValueError, match="pass grid="):
        convert_official_xkd(state, grid=(4, 7, 7))
    with pytest.raises(ValueError, match="holds a video backbone, not audio"):
        convert_official_xkd(state, "audio")
    with pytest.raises(ValueError, match="pass patch="):
        convert_official_xkd(state, patch=(2, 16, 16))
    with pytest.raises(ValueError, match="does not know"):
        convert_official_xkd({**state, "head.weight": torch.zeros(1)})


def test_convert_command_writes_an_export_with_the_official_geometry(tmp_path: Path) -> None:
    state = _official_state("audio", (4, 16), 6)
    torch.save(state, tmp_path / "aud_teacher.pth.tar")
    out = tmp_path / "export" / "aud_teacher"
    assert main(["convert", "xkd-official", str(tmp_path / "aud_teacher.pth.tar"), str(out), "--grid", "2", "3",
                 "--heads", str(HEADS)]) == 0
    loaded = load_backbone(out)
    x = torch.randn(1, 1, 8, 48)
    torch.testing.assert_close(loaded(x), _official_forward(state, x, (4, 16)), rtol=1e-4, atol=1e-5)
    geometry, sources = resolve_geometry(str(out) + ".safetensors", "audio")
    assert (geometry.mel_scale, geometry.mel_norm, geometry.logmel_mean, geometry.hop_length) == (
        "slaney", "slaney", -5.3688107, 143)
    assert sources["mel_scale"] == "export metadata"
    with pytest.raises(SystemExit, match=r"xmodal convert: .*pass grid="):
        main(["convert", "xkd-official", str(tmp_path / "aud_teacher.pth.tar"), str(out)])
