import pytest
import torch
from torch import nn

from xmodal.models.cnn import SmallCNN
from xmodal.models.proxy import Proxy, tap_channels
from xmodal.models.resnet import resnet18


def test_tap_channels_reads_the_layer_and_leaves_bn_stats_alone() -> None:
    net = resnet18(in_channels=1, num_classes=4)
    net.train()
    before = net.layer3[0].bn1.running_mean.clone()
    assert tap_channels(net, "layer3", torch.randn(2, 1, 64, 48)) == 256  # the official proxies' 256 channels
    assert torch.equal(net.layer3[0].bn1.running_mean, before) and net.training
    assert tap_channels(SmallCNN(3, 4, dims=3, widths=(4, 6, 8)), "block2", torch.randn(2, 3, 2, 8, 8)) == 6


def test_proxy_variants_structure_and_shapes() -> None:
    x2d, x3d = torch.randn(4, 8, 5, 3), torch.randn(4, 8, 2, 5, 3)
    kinds = {"fa": [nn.Linear, nn.BatchNorm1d, nn.ReLU], "none": [], "cfa": [nn.Linear, nn.BatchNorm1d, nn.Linear,
                                                                          nn.BatchNorm1d, nn.ReLU]}
    for variant, layers in kinds.items():
        proxy = Proxy(8, 3, variant=variant)
        assert [type(m) for m in proxy.adapt] == layers
        assert proxy(x2d).shape == (4, 3) and proxy(x3d).shape == (4, 3)
    leaky = Proxy(8, 3, activation="leaky_relu").adapt[2]
    assert isinstance(leaky, nn.LeakyReLU) and leaky.negative_slope == 0.1
    with pytest.raises(ValueError):
        Proxy(8, 3, variant="deep")  # type: ignore[arg-type]


def test_proxy_adaptation_equals_pool_then_1x1_conv_bn() -> None:
    proxy = Proxy(6, 2).eval()
    conv = nn.Conv2d(6, 6, 1, bias=False)
    conv.weight.data = proxy.adapt[0].weight.data.view(6, 6, 1, 1)
    bn = nn.BatchNorm2d(6).eval()
    bn.load_state_dict(proxy.adapt[1].state_dict())
    feat = torch.randn(3, 6, 4, 4)
    ref = proxy.fc(torch.relu(bn(conv(nn.functional.adaptive_avg_pool2d(feat, 1)))).flatten(1))
    assert torch.allclose(proxy(feat), ref, atol=1e-6)
