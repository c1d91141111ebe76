"""Video encoders of XDC: R(2+1)D-18 / ResNet3D-18 parameter counts equal torchvision's (read from the
``num_params`` of torchvision's ``R2Plus1D_18_Weights`` / ``R3D_18_Weights``), shapes, and the 2-D audio ResNet-18."""

from __future__ import annotations

import pytest
import torch

from xmodal.models.resnet import resnet18
from xmodal.models.video_resnet import VideoResNet, r2plus1d_18, r3d_18


def count(module: torch.nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


def test_parameter_counts_equal_torchvision() -> None:
    with torch.device("meta"):
        assert count(r2plus1d_18(num_classes=400)) == 31_505_325  # torchvision r2plus1d_18 (400-class fc)
        assert count(r3d_18(num_classes=400)) == 33_371_472  # torchvision r3d_18
        assert count(r2plus1d_18()) == 31_505_325 - (512 * 400 + 400)  # encoder alone: 31,300,125
        assert count(resnet18(in_channels=1, num_classes=0, dims=2)) == 11_170_240  # audio encoder


@pytest.mark.parametrize("arch", ["r2plus1d", "r3d"])
def test_video_shapes_and_export_round_trip(arch: str, tmp_path) -> None:
    from xmodal.models.export import export_backbone, load_backbone

    torch.manual_seed(0)
    model = VideoResNet(arch, layers=(1, 1, 1, 1)).eval()
    x = torch.randn(2, 3, 8, 32, 32)
    assert model(x).shape == (2, 512) and model.features(x).shape == (2, 512)
    export_backbone(model, tmp_path / "v")
    torch.testing.assert_close(load_backbone(tmp_path / "v").features(x), model.features(x))  # type: ignore[operator]


def test_audio_resnet_features_and_export(tmp_path) -> None:
    from xmodal.models.export import export_backbone, load_backbone

    model = resnet18(in_channels=1, num_classes=0, dims=2).eval()
    x = torch.randn(2, 1, 40, 64)
    assert model.features(x).shape == (2, 512)
    export_backbone(model, tmp_path / "a")
    torch.testing.assert_close(load_backbone(tmp_path / "a").features(x), model.features(x))  # type: ignore[operator]
