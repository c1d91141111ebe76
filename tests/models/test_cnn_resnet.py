import pytest
import torch

from xmodal.models.cnn import SmallCNN
from xmodal.models.resnet import resnet18, resnet50


def _count(m: torch.nn.Module) -> int:
    return sum(p.numel() for p in m.parameters())


def test_resnet_param_counts_match_reference() -> None:
    assert _count(resnet18()) == 11_689_512  # torchvision resnet18, 1000 classes
    assert _count(resnet50()) == 25_557_032


def test_resnet_shapes_2d_3d_and_features() -> None:
    m2 = resnet18(in_channels=1, num_classes=7)
    assert m2(torch.randn(2, 1, 64, 48)).shape == (2, 7)
    m3 = resnet18(in_channels=3, num_classes=5, dims=3)
    assert m3(torch.randn(2, 3, 4, 32, 32)).shape == (2, 5)
    feats = resnet18(num_classes=0)
    assert feats(torch.randn(2, 3, 32, 32)).shape == (2, 512)
    with pytest.raises(ValueError):
        resnet18(dims=1)  # type: ignore[arg-type]


def test_small_cnn_2d_3d() -> None:
    assert SmallCNN(1, 3)(torch.randn(2, 1, 20, 24)).shape == (2, 3)
    assert SmallCNN(3, 3, dims=3)(torch.randn(2, 3, 4, 16, 16)).shape == (2, 3)
