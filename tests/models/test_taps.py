import torch
from torch import nn

from xmodal.models.cnn import SmallCNN
from xmodal.models.taps import FeatureTaps, OutputEdit, resolve


def test_taps_capture_named_layer_output() -> None:
    model = SmallCNN(1, 4)
    x = torch.randn(2, 1, 16, 16)
    expected = model.block2(model.block1(x))
    with FeatureTaps(model, ["block2", "fc1"]) as taps:
        model(x)
        assert torch.allclose(taps.features["block2"], expected)
        assert taps.features["fc1"].shape == (2, 256)
        assert taps.features["block2"].requires_grad
    assert not model.block2._forward_hooks  # removed on exit


def test_output_edit_rewrites_and_unknown_layer_errors() -> None:
    model = nn.Sequential(nn.Linear(3, 3), nn.ReLU(), nn.Linear(3, 2))
    x = torch.randn(4, 3)
    with OutputEdit(model, "0", lambda t: torch.zeros_like(t)):
        out = model(x)
    assert torch.allclose(out, model[2](torch.zeros(4, 3)).expand(4, 2))
    try:
        resolve(model, "nope")
    except KeyError as err:
        assert "nope" in str(err)
    else:
        raise AssertionError("expected KeyError")
