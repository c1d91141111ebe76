"""Released MAViL checkpoints → :class:`xmodal.models.mavil.MAViLEncoder` (no download; pure key mapping).

The only public code that loads the released weights (av-superb, ``upstream_models/mavil``: a timm
``VisionTransformer`` subclass) fixes the layout:

====================================  ==========================================================================
released key (ViT-B shape)            xmodal key
====================================  ==========================================================================
``patch_embed.proj.weight`` 768×1×16×16   ``audio.embed.proj.weight``, kernel transposed: their spectrogram is
                                      ``(time, freq)``, ours ``(freq, time)``
``pos_embed`` 1×513×768               ``audio.pos_embed`` (row 0 is the CLS slot, added to ``audio.cls_token``;
                                      rows 1: reordered from their 64×8 time-major grid to our 8×64 grid)
``cls_token_v``, ``pos_embed_v`` 1×785×768, ``patch_embed_v.proj.*`` 768×3×2×16×16 → ``video.*`` (same order)
``blocks.i.*`` / ``blocks_v.i.*``     ``audio.blocks.i.*`` / ``video.blocks.i.*``; timm ``mlp.fc1/fc2`` →
                                      ``mlp.0/mlp.2``
``blocks_av.i.*``                     ``fusion.blocks.i.*`` (vanilla fusion; 3 blocks in fine-tuned checkpoints)
====================================  ==========================================================================

The released model has no LayerNorm between the encoders and the fusion blocks and pools the block outputs, which
is what :meth:`MAViLEncoder.features` does with ``encoder_norm=False``; our ``fusion.norm`` (the decoders' input
norm, pretraining only) has no released counterpart and keeps its initial value. Keys outside this table
(classifier heads ``head_*``/``fc_norm_*``, pretraining decoders, whose names no public code shows) are returned
as unused, never silently dropped.
"""

from __future__ import annotations

import re

import torch

from xmodal.models.mavil import MAViLEncoder

_BLOCK = re.compile(r"^(blocks|blocks_v|blocks_av)\.(\d+)\.(.+)$")
_TOWER = {"blocks": "audio.blocks", "blocks_v": "video.blocks", "blocks_av": "fusion.blocks"}
_LEAF = {"mlp.fc1.weight": "mlp.0.weight", "mlp.fc1.bias": "mlp.0.bias", "mlp.fc2.weight": "mlp.2.weight",
         "mlp.fc2.bias": "mlp.2.bias"}
_KEEP = {"norm1.weight", "norm1.bias", "norm2.weight", "norm2.bias", "attn.qkv.weight", "attn.qkv.bias",
         "attn.proj.weight", "attn.proj.bias"}


def unwrap(checkpoint: dict[str, object]) -> dict[str, torch.Tensor]:
    """The state dict of a released file: the ``model`` entry when present (as av-superb reads it), else itself."""
    state = checkpoint.get("model", checkpoint)
    if not isinstance(state, dict):
        raise ValueError("checkpoint: expected a state dict or a dict with a 'model' state dict")
    return state  # type: ignore[return-value]


def _grid_reorder(pos: torch.Tensor, grid_ft: tuple[int, ...]) -> torch.Tensor:
    """``(1, T·F, D)`` rows in (time, freq) order → ``(1, F·T, D)`` in (freq, time) order."""
    gf, gt = grid_ft
    if pos.shape[1] != gf * gt:
        raise ValueError(f"pos_embed has {pos.shape[1]} patch rows; the audio grid {gf}×{gt} needs {gf * gt}")
    return pos.reshape(1, gt, gf, -1).transpose(1, 2).reshape(1, gf * gt, -1)


def map_released(state: dict[str, torch.Tensor], encoder: MAViLEncoder) -> tuple[dict[str, torch.Tensor], list[str]]:
    """``(xmodal state dict, unused released keys)``. Shapes are not checked here; :func:`load_released` does."""
    out: dict[str, torch.Tensor] = {}
    unused: list[str] = []
    for key, value in state.items():
        match = _BLOCK.match(key)
        if match:
            tower, idx, leaf = match.groups()
            if leaf in _KEEP or leaf in _LEAF:
                out[f"{_TOWER[tower]}.{idx}.{_LEAF.get(leaf, leaf)}"] = value
                continue
        elif key == "patch_embed.proj.weight":
            out["audio.embed.proj.weight"] = value.transpose(-1, -2)
            continue
        elif key in ("patch_embed.proj.bias", "patch_embed_v.proj.weight", "patch_embed_v.proj.bias"):
            tower = "audio" if key.startswith("patch_embed.") else "video"
            out[f"{tower}.embed.proj.{key.rsplit('.', 1)[1]}"] = value
            continue
        elif key in ("cls_token", "cls_token_v", "pos_embed", "pos_embed_v"):
            continue  # below: the CLS slot of the positional table is folded into the CLS token
        unused.append(key)
    for mod, suffix in (("audio", ""), ("video", "_v")):
        pos, cls = state.get(f"pos_embed{suffix}"), state.get(f"cls_token{suffix}")
        if pos is None or cls is None:
            continue
        out[f"{mod}.cls_token"] = cls + pos[:, :1]
        patches = pos[:, 1:]
        out[f"{mod}.pos_embed"] = _grid_reorder(patches, encoder.audio.grid) if mod == "audio" else patches
    return out, unused


def load_released(encoder: MAViLEncoder, checkpoint: dict[str, object]) -> list[str]:
    """Load a released MAViL checkpoint (as ``torch.load`` returns it) into ``encoder``; returns the unused keys.

    Every encoder and fusion tensor must come from the checkpoint (only ``fusion.norm`` and, with
    ``encoder_norm=True``, the encoder norms may stay at their initial values); a shape mismatch names the key.
    """
    if encoder.fusion.kind != "vanilla":
        raise ValueError(f"released MAViL checkpoints use vanilla fusion; build the encoder with fusion='vanilla' "
                         f"(got {encoder.fusion.kind!r})")
    mapped, unused = map_released(unwrap(checkpoint), encoder)
    own = encoder.state_dict()
    extra = sorted(set(mapped) - set(own))
    if extra:
        raise ValueError(f"checkpoint holds {extra[:3]} … that this encoder lacks: match model.depth / "
                         f"model.fusion_depth to the checkpoint (fine-tuned MAViL checkpoints have 3 fusion blocks)")
    optional = ("fusion.norm.", "audio.norm.", "video.norm.")
    missing = sorted(k for k in own if k not in mapped and not k.startswith(optional))
    if missing:
        raise ValueError(f"checkpoint lacks {missing[:3]} ({len(missing)} tensors): not a released MAViL encoder")
    for key, value in mapped.items():
        if value.shape != own[key].shape:
            raise ValueError(f"{key}: checkpoint shape {tuple(value.shape)} != model shape {tuple(own[key].shape)}; "
                             "check model.dim/patches and the audio/video input sizes")
    encoder.load_state_dict(mapped, strict=False)
    return unused
