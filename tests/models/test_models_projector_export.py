"""DINO projector head (Table S3, §B.6) and safetensors + JSON export of backbones."""

from __future__ import annotations

import json

import pytest
import torch

from xmodal.models import load_backbone
from xmodal.models.export import export_backbone
from xmodal.models.projector import DINOHead
from xmodal.models.vit import vit_tiny


def test_dino_head_paper_layout() -> None:
    with torch.device("meta"):
        head = DINOHead(768)
    linears = [m for m in head.mlp if isinstance(m, torch.nn.Linear)]
    assert [(m.in_features, m.out_features) for m in linears] == [(768, 2048), (2048, 2048), (2048, 256)]
    assert sum(isinstance(m, torch.nn.BatchNorm1d) for m in head.mlp) == 2  # normalisation on every hidden layer
    assert tuple(head.last_layer.weight.shape) == (8192, 256)
    assert head.last_layer.gain is None  # g fixed to 1 (norm_last_layer)


def test_dino_head_weight_norm_and_variants() -> None:
    head = DINOHead(16, 64, hidden=32, bottleneck=8)
    x = torch.randn(6, 16)
    out = head(x)
    assert out.shape == (6, 64)
    z = torch.nn.functional.normalize(head.mlp(x), dim=-1)
    w = head.last_layer.weight
    torch.testing.assert_close(out, z @ (w / w.norm(dim=1, keepdim=True)).T)
    assert out.abs().max() <= 1.0 + 1e-5  # cosines
    with torch.no_grad():
        w.mul_(7.0)  # weight norm: the scale of v does not matter
    torch.testing.assert_close(head(x), out)
    assert any(isinstance(m, torch.nn.LayerNorm) for m in DINOHead(16, 64, hidden=32, bottleneck=8, norm="ln").mlp)
    plain = DINOHead(16, 64, hidden=32, bottleneck=8, norm="none", norm_last_layer=False)
    assert not any(isinstance(m, torch.nn.BatchNorm1d | torch.nn.LayerNorm) for m in plain.mlp)
    assert plain.last_layer.gain is not None and plain.last_layer.gain.requires_grad
    with pytest.raises(ValueError):
        DINOHead(16, norm="group")  # type: ignore[arg-type]


@pytest.mark.parametrize(("modality", "grid", "size"), [("video", (2, 2, 2), (4, 16, 16)), ("audio", (2, 4), (8, 32))])
def test_export_roundtrip(tmp_path, modality: str, grid: tuple[int, ...], size: tuple[int, ...]) -> None:
    patch = (2, 8, 8) if modality == "video" else (4, 8)
    model = vit_tiny(modality, grid, patch=patch, dim=32, depth=2, heads=4).eval()  # type: ignore[arg-type]
    weights, config = export_backbone(model, tmp_path / "sub" / f"teacher_{modality}")
    assert weights.name.endswith(".safetensors") and config.name.endswith(".json")
    doc = json.loads(config.read_text())
    assert doc["class"] == "VisionTransformer" and doc["config"]["embed"]["patch"] == list(patch)
    x = torch.randn(2, 3 if modality == "video" else 1, *size)
    for path in (tmp_path / "sub" / f"teacher_{modality}", weights, config):
        loaded = load_backbone(path)
        torch.testing.assert_close(loaded(x), model(x))
        torch.testing.assert_close(loaded.features(x), model.features(x))
    assert weights.read_bytes()[:8] != b"\x80\x04\x95"[:8]  # not a pickle


def test_export_rejects_unknown_modules(tmp_path) -> None:
    with pytest.raises(TypeError):
        export_backbone(torch.nn.Linear(2, 2), tmp_path / "x")
