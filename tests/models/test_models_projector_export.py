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
    """Table S3 sizes with the official normalisation: one LayerNorm shared by both hidden layers and a
    non-affine LayerNorm over the 8192 outputs (Table S3 and §B.6 name no normalisation)."""
    with torch.device("meta"):
        head = DINOHead(768)
    linears = [m for m in head.mlp if isinstance(m, torch.nn.Linear)]
    assert [(m.in_features, m.out_features) for m in linears] == [(768, 2048), (2048, 2048), (2048, 256)]
    norms = [m for m in head.mlp if isinstance(m, torch.nn.LayerNorm)]
    assert len(norms) == 2 and norms[0] is norms[1]  # normalisation on every hidden layer, one shared module
    assert isinstance(head.out_norm, torch.nn.LayerNorm) and head.out_norm.weight is None  # no affine
    assert tuple(head.last_layer.weight.shape) == (8192, 256)
    assert head.last_layer.gain is None  # g fixed to 1 (norm_last_layer)


def test_official_head_matches_direct_computation() -> None:
    """Linear → LN(γ,β) → GELU → Linear → the same LN → GELU → Linear → L2 → V/‖V‖ → standardise, by hand."""
    torch.manual_seed(0)
    head = DINOHead(12, 40, hidden=24, bottleneck=8)
    with torch.no_grad():  # non-trivial shared γ/β, so sharing is visible in the output
        head.mlp[1].weight.uniform_(0.5, 1.5)
        head.mlp[1].bias.uniform_(-0.5, 0.5)
    x = torch.randn(5, 12, dtype=torch.float64)
    l1, l2, l3 = (m for m in head.mlp if isinstance(m, torch.nn.Linear))
    g, b = head.mlp[1].weight.double(), head.mlp[1].bias.double()

    def lin(m: torch.nn.Linear, h: torch.Tensor) -> torch.Tensor:
        return h @ m.weight.double().T + m.bias.double()

    def ln(h: torch.Tensor) -> torch.Tensor:
        mu, var = h.mean(-1, keepdim=True), h.var(-1, unbiased=False, keepdim=True)
        return (h - mu) / torch.sqrt(var + 1e-5)

    def gelu(h: torch.Tensor) -> torch.Tensor:
        return 0.5 * h * (1 + torch.erf(h / 2**0.5))

    h = gelu(ln(lin(l1, x)) * g + b)
    h = gelu(ln(lin(l2, h)) * g + b)
    z = lin(l3, h)
    z = z / z.norm(dim=-1, keepdim=True)
    v = head.last_layer.weight.double()
    expected = ln(z @ (v / v.norm(dim=1, keepdim=True)).T)
    out = head.double()(x)
    torch.testing.assert_close(out, expected)
    torch.testing.assert_close(out.mean(-1), torch.zeros(5, dtype=torch.float64))  # unit-variance logits,
    torch.testing.assert_close(out.var(-1, unbiased=False), torch.ones(5, dtype=torch.float64), rtol=1e-4, atol=1e-4)
    own = DINOHead(12, 40, hidden=24, bottleneck=8, share_norm=False)
    assert own.mlp[1] is not own.mlp[4] and sum(p.numel() for p in own.parameters()) == sum(
        p.numel() for p in head.parameters()) + 2 * 24  # a second γ/β pair when not shared


def test_dino_head_weight_norm_and_variants() -> None:
    head = DINOHead(16, 64, hidden=32, bottleneck=8, norm="bn", share_norm=False, out_norm=False)
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
