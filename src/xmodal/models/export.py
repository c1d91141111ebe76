"""Backbone export: weights in safetensors + a JSON that is enough to rebuild the module (never pickle).

The JSON names the class and its constructor config (``VisionTransformer.config()``: embedding type, patch,
width, depth, heads, positional-embedding grid, pooling; ``MAViLEncoder.config()``: its two ViTs and the fusion
encoder), so evaluation code can load a backbone without the training config or the LightningModule.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file
from torch import nn

from xmodal.models.mavil import MAViLEncoder
from xmodal.models.resnet import ResNet
from xmodal.models.video_resnet import VideoResNet
from xmodal.models.vit import VisionTransformer

FORMAT = "xmodal-backbone"
VERSION = 1
BUILDERS: dict[str, type[VisionTransformer] | type[MAViLEncoder] | type[ResNet] | type[VideoResNet]] = {
    "VisionTransformer": VisionTransformer, "MAViLEncoder": MAViLEncoder, "ResNet": ResNet, "VideoResNet": VideoResNet,
}


def _paths(path: str | Path) -> tuple[Path, Path]:
    p = Path(path)
    stem = p.with_suffix("") if p.suffix in (".safetensors", ".json") else p
    return stem.with_name(stem.name + ".safetensors"), stem.with_name(stem.name + ".json")


def export_backbone(
    model: nn.Module, path_prefix: str | Path, metadata: dict[str, Any] | None = None
) -> tuple[Path, Path]:
    """Write ``<prefix>.safetensors`` and ``<prefix>.json``; returns both paths."""
    name = type(model).__name__
    if name not in BUILDERS or not hasattr(model, "config"):
        raise TypeError(f"cannot export {name}: known backbones are {sorted(BUILDERS)}")
    weights, config = _paths(path_prefix)
    weights.parent.mkdir(parents=True, exist_ok=True)
    state = {k: v.detach().to("cpu").contiguous().clone() for k, v in model.state_dict().items()}
    save_file(state, str(weights))
    doc = {
        "format": FORMAT, "version": VERSION, "class": name, "config": model.config(),
        "parameters": sum(p.numel() for p in model.parameters()), "weights": weights.name,
        "metadata": metadata or {},
    }
    config.write_text(json.dumps(doc, indent=2, sort_keys=True))
    return weights, config


def read_export_doc(path: str | Path) -> dict[str, Any]:
    """The JSON half of an export; a file that is not JSON is a ``ValueError`` naming it (not a JSON traceback)."""
    _, config = _paths(path)
    try:
        doc = json.loads(config.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise ValueError(f"{config}: unreadable backbone export ({err}); give the .json/.safetensors pair written "
                         "by xmodal pretrain (<run>/export/)") from err
    if not isinstance(doc, dict):
        raise ValueError(f"{config}: not an xmodal backbone export (expected a JSON object)")
    return doc


def load_backbone(path: str | Path, device: str | torch.device = "cpu") -> nn.Module:
    """Rebuild a backbone from ``<prefix>``, ``<prefix>.json`` or ``<prefix>.safetensors`` (strict load)."""
    weights, config = _paths(path)
    return build_from_doc(read_export_doc(path), config, weights, device)


def build_from_doc(doc: dict[str, Any], config: Path, weights: Path, device: str | torch.device = "cpu") -> nn.Module:
    """The module a checked export document describes, with the weights of ``weights`` (strict load); shared by
    the ``<prefix>.json`` pairs above and the Hugging Face-style folders of :mod:`xmodal.models.hub`."""
    if doc.get("format") != FORMAT:
        raise ValueError(f"{config}: not an xmodal backbone export")
    if doc.get("version") != VERSION:
        raise ValueError(f"{config}: export version {doc.get('version')} is not supported (expected {VERSION})")
    if doc.get("class") not in BUILDERS:
        raise ValueError(f"{config}: class {doc.get('class')!r} is not a known backbone ({sorted(BUILDERS)})")
    model = BUILDERS[doc["class"]].from_config(doc["config"])
    try:
        state = load_file(str(weights), device=str(device))
    except SafetensorError as err:
        raise ValueError(f"{weights}: unreadable safetensors file ({err}); re-export the backbone") from err
    model.load_state_dict(state, strict=True)
    return model.to(device).eval()
