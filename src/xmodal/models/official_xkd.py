"""Released XKD backbones (pritamqu/XKD, GitHub release "weights") as xmodal ViTs.

The official training code saves each backbone with ``torch.save(<student|teacher>.backbone.state_dict())``
(``codes/train/models/xkd.py``, ``save_state_dicts``), so a released file is a flat state dict of ``VideoViT`` /
``AudioViT`` (``codes/train/models/modules/vit_video.py``, ``vit_audio.py``)::

    cls_token               (1, 1, D)
    enc_pos_embed           (1, 1 + N, D)         learned; entry 0 belongs to the CLS token
    cuboid_embed.proj.*     weight (D, t·h·w·3)   video: a Linear over "(pt ph pw c)"-flattened cuboids
    patch_embed.proj.*      weight (D, f·t)       audio: a Linear over "(ph pw c)"-flattened f×t patches
    encoder.blocks.{i}.*    norm1, attn.qkv (no bias), attn.proj, norm2, mlp.fc1, mlp.fc2
    encoder_norm.*

The evaluation code renames these (``blocks.*``, ``norm.*``, ``pos_embed``, ``patch_embed`` for both modalities);
both spellings are accepted. The conversion is exact, not approximate:

- a Linear over flattened patches equals a strided convolution whose kernel is the weight reshaped to the patch
  and moved channel-first (the official flatten order puts the channel last);
- the official CLS token enters the encoder as ``cls_token + enc_pos_embed[:, 0]``; xmodal's CLS has no positional
  entry, so the sum becomes its ``cls_token``;
- the blocks are pre-norm ViT blocks with the same fused qkv layout, exact GELU and LayerNorm eps 1e-5, and the
  token order (time, height, width / frequency, time) is xmodal's.

The number of heads is not stored in the weights; it defaults to the official ``encoder_dict`` for the width
(192 → 3, 384 → 6, 768 → 12, 1024 → 16).
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Literal

import torch

from xmodal.models.export import export_backbone
from xmodal.models.vit import VisionTransformer, make_embed

Modality = Literal["video", "audio"]
HEADS = {192: 3, 384: 6, 768: 12, 1024: 16}
PAPER_PATCH: dict[str, tuple[int, ...]] = {"video": (4, 16, 16), "audio": (4, 16)}
PAPER_GRID: dict[str, tuple[int, ...]] = {"video": (8, 7, 7), "audio": (20, 28)}  # 32×112², 80×448
OFFICIAL_EVAL_GEOMETRY = {
    "video": {"clip_seconds": 4.0, "fps": 8.0, "frames": 32, "size": 112},
    "audio": {"clip_seconds": 4.0, "sample_rate": 16000, "audio_seconds": 4.0, "n_mels": 80, "hop_length": 143,
              "n_fft": 1024, "logmel_mean": -5.3688107, "logmel_std": 4.410007, "mel_scale": "slaney",
              "mel_norm": "slaney", "log_eps": 1.1920929e-07},
}
"""Inputs the released backbones were trained on (official config ``configs/pretext/kinetics400/xkd.yaml`` and
``SpecAug``), stored with a converted export so ``xmodal eval`` feeds them the same geometry and front-end."""
_EVAL_NAMES = ((r"^blocks\.", "encoder.blocks."), (r"^norm\.", "encoder_norm."), (r"^pos_embed$", "enc_pos_embed"))
_BLOCK_KEYS = {"norm1": "norm1", "attn.qkv": "attn.qkv", "attn.proj": "attn.proj", "norm2": "norm2",
               "mlp.fc1": "mlp.0", "mlp.fc2": "mlp.2"}


def _training_names(state: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Drop a DDP ``module.`` prefix and map the evaluation code's names back to the training code's."""
    out: dict[str, torch.Tensor] = {}
    for key, value in state.items():
        key = key.removeprefix("module.")
        for pattern, repl in _EVAL_NAMES:
            key = re.sub(pattern, repl, key)
        out[key] = value
    return out


def _modality(state: Mapping[str, torch.Tensor], modality: Modality | None, eval_names: bool) -> Modality:
    if "cuboid_embed.proj.weight" in state:
        found: Modality = "video"
    elif "patch_embed.proj.weight" in state and not eval_names:
        found = "audio"
    elif modality is None:
        raise ValueError("official XKD state dict with evaluation-code names (patch_embed for both modalities): "
                         "pass modality='video' or 'audio'")
    else:
        return modality
    if modality is not None and modality != found:
        raise ValueError(f"official XKD state dict holds a {found} backbone, not {modality}")
    return found


def convert_official_xkd(
    state: Mapping[str, torch.Tensor],
    modality: Modality | None = None,
    *,
    patch: Sequence[int] | None = None,
    grid: Sequence[int] | None = None,
    heads: int | None = None,
) -> VisionTransformer:
    """A :class:`VisionTransformer` with the released weights; ``patch``/``grid`` default to the paper's (video
    4×16² cuboids on 32×112², audio 4×16 patches on 80×448), ``heads`` to the official width → heads table."""
    eval_names = any(k.removeprefix("module.").startswith(("blocks.", "pos_embed")) for k in state)
    sd = _training_names(state)
    modality = _modality(sd, modality, eval_names)
    embed_key = "cuboid_embed" if "cuboid_embed.proj.weight" in sd else "patch_embed"
    if "cls_token" not in sd:
        raise ValueError("official XKD state dict without cls_token (apply_cls_token=False) is not supported")
    pos, cls = sd["enc_pos_embed"], sd["cls_token"]
    dim = cls.shape[-1]
    depth = 1 + max(int(m.group(1)) for k in sd if (m := re.match(r"encoder\.blocks\.(\d+)\.", k)))
    patch = tuple(patch or PAPER_PATCH[modality])
    grid = tuple(grid or PAPER_GRID[modality])
    chans = 3 if modality == "video" else 1
    w = sd[f"{embed_key}.proj.weight"]
    if w.shape[1] != chans * math.prod(patch):
        raise ValueError(f"{embed_key}.proj.weight has {w.shape[1]} inputs per token, not {chans}×{patch}; pass patch=")
    if pos.shape[1] - 1 != math.prod(grid):
        raise ValueError(f"enc_pos_embed holds {pos.shape[1] - 1} patch positions, not the grid {grid}; pass grid=")
    if heads is None and dim not in HEADS:
        raise ValueError(f"no official head count for width {dim}; pass heads=")
    hidden = sd["encoder.blocks.0.mlp.fc1.weight"].shape[0]
    model = VisionTransformer(
        make_embed(modality, dim, patch, chans), dim, depth, heads or HEADS[dim], hidden / dim, grid=grid,
        qkv_bias="encoder.blocks.0.attn.qkv.bias" in sd, ln_eps=1e-5,
    )
    # channel-last flatten order (pt ph pw c) / (f t c) → a channel-first convolution kernel
    kernel = w.reshape(dim, *patch, chans).movedim(-1, 1)
    ours = {"cls_token": cls + pos[:, :1], "pos_embed": pos[:, 1:], "embed.proj.weight": kernel,
            "embed.proj.bias": sd[f"{embed_key}.proj.bias"], "norm.weight": sd["encoder_norm.weight"],
            "norm.bias": sd["encoder_norm.bias"]}
    used = {"cls_token", "enc_pos_embed", f"{embed_key}.proj.weight", f"{embed_key}.proj.bias",
            "encoder_norm.weight", "encoder_norm.bias"}
    block = re.compile(r"encoder\.blocks\.(\d+)\.(norm1|attn\.qkv|attn\.proj|norm2|mlp\.fc1|mlp\.fc2)\.(weight|bias)$")
    for key in sd:
        m = block.match(key)
        if m:
            ours[f"blocks.{m.group(1)}.{_BLOCK_KEYS[m.group(2)]}.{m.group(3)}"] = sd[key]
            used.add(key)
    unexpected = sorted(set(sd) - used)
    if unexpected:
        raise ValueError(f"official XKD state dict has keys this converter does not know: {unexpected[:5]}")
    model.load_state_dict(ours, strict=True)
    return model.eval()


def load_official_xkd(
    path: str | Path,
    modality: Modality | None = None,
    *,
    patch: Sequence[int] | None = None,
    grid: Sequence[int] | None = None,
    heads: int | None = None,
) -> VisionTransformer:
    """Read a released ``*.pth.tar`` backbone (tensors only: ``torch.load(weights_only=True)``) and convert it."""
    state = torch.load(Path(path), map_location="cpu", weights_only=True)
    if not isinstance(state, Mapping):
        raise ValueError(f"{path}: expected a state dict, got {type(state).__name__}")
    return convert_official_xkd(state, modality, patch=patch, grid=grid, heads=heads)


def export_official_xkd(
    path: str | Path,
    out_prefix: str | Path,
    modality: Modality | None = None,
    *,
    patch: Sequence[int] | None = None,
    grid: Sequence[int] | None = None,
    heads: int | None = None,
) -> tuple[Path, Path]:
    """Convert a released backbone and write it as an xmodal export (``<prefix>.safetensors`` + ``.json``) whose
    metadata holds the official evaluation geometry (:data:`OFFICIAL_EVAL_GEOMETRY`) and the source file."""
    model = load_official_xkd(path, modality, patch=patch, grid=grid, heads=heads)
    kind: Modality = "video" if model.embed.kind == "cuboid" else "audio"
    meta = {"eval_geometry": OFFICIAL_EVAL_GEOMETRY[kind], "converted_from": str(path), "source": "pritamqu/XKD"}
    return export_backbone(model, out_prefix, metadata=meta)
