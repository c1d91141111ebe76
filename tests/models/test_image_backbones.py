"""Image backbones of the image–text path: parameter counts equal to torchvision's, and feature taps on them.

ResNet-18's count (11,689,512) is tested in tests/models/test_cnn_resnet.py."""

from __future__ import annotations

import pytest
import torch

from xmodal.models.proxy import tap_channels
from xmodal.models.resnet import resnet18
from xmodal.models.shufflenet import ShuffleUnit, channel_shuffle, shufflenet_v2
from xmodal.models.taps import FeatureTaps


def _count(net: torch.nn.Module) -> int:
    return sum(p.numel() for p in net.parameters())


@pytest.mark.parametrize(("scale", "expected"), [("x0_5", 1_366_792), ("x1_0", 2_278_604), ("x2_0", 7_393_996)])
def test_shufflenet_v2_parameter_counts_equal_torchvision(scale: str, expected: int) -> None:
    # torchvision.models.ShuffleNet_V2_*_Weights.IMAGENET1K_V1.meta["num_params"]
    assert _count(shufflenet_v2(scale)) == expected


def test_channel_shuffle_interleaves_the_two_halves() -> None:
    x = torch.arange(6.0).view(1, 6, 1, 1)
    assert channel_shuffle(x, 2).flatten().tolist() == [0, 3, 1, 4, 2, 5]


def test_shuffle_unit_shapes_and_refusal() -> None:
    assert ShuffleUnit(24, 116, 2)(torch.randn(2, 24, 8, 8)).shape == (2, 116, 4, 4)
    assert ShuffleUnit(116, 116, 1)(torch.randn(2, 116, 4, 4)).shape == (2, 116, 4, 4)
    with pytest.raises(ValueError, match="stride-1"):
        ShuffleUnit(24, 116, 1)


@pytest.mark.parametrize(("net", "layer", "channels"), [
    (lambda: shufflenet_v2("x1_0", num_classes=8), "stage3", 232),
    (lambda: resnet18(3, 8, dims=2), "layer3", 256),
])
def test_feature_taps_on_image_backbones(net, layer: str, channels: int) -> None:
    model = net()
    x = torch.randn(2, 3, 64, 64)
    assert tap_channels(model, layer, x) == channels
    with FeatureTaps(model, [layer]) as taps:
        out = model(x)
    assert out.shape == (2, 8) and taps.features[layer].shape[:2] == (2, channels)
