import pytest
import torch
import torch.nn.functional as F

from xmodal.models.review import ReviewFusion


def _conv_bn(seq: torch.nn.Sequential, x: torch.Tensor, padding: int = 0) -> torch.Tensor:
    conv, bn = seq[0], seq[1]
    y = F.conv2d(x, conv.weight, conv.bias, padding=padding)
    return F.batch_norm(y, bn.running_mean, bn.running_var, bn.weight, bn.bias, training=False, eps=bn.eps)


def test_review_fusion_matches_a_direct_computation_of_review_kd_abf() -> None:
    """Two levels (Review-KD Fig. 3): the deep level alone (1×1 conv-BN, 3×3 conv-BN); the shallow level merged
    with the deep residual, upsampled by nearest neighbour, through two sigmoid attention maps; outputs resized to
    the teacher's (non-square, cross-modal) sizes, bilinearly."""
    torch.manual_seed(0)
    shallow, deep = torch.randn(2, 4, 8, 8), torch.randn(2, 6, 4, 4)
    fusion = ReviewFusion([4, 6], [3, 5]).eval()
    sizes = [(10, 6), (5, 3)]
    out = fusion([shallow, deep], sizes)
    abf_deep, abf_shallow = fusion.abfs[0], fusion.abfs[1]  # stored deepest first
    assert abf_deep.att_conv is None and abf_shallow.att_conv is not None
    assert abf_deep.conv1[0].out_channels == 6  # mid = min(512, deepest student channels)
    r = _conv_bn(abf_deep.conv1, deep)
    expected_deep = _conv_bn(abf_deep.conv2, F.interpolate(r, size=(5, 3), mode="bilinear", align_corners=True), 1)
    x = _conv_bn(abf_shallow.conv1, shallow)
    up = r.repeat_interleave(2, 2).repeat_interleave(2, 3)  # nearest ×2
    att_conv = abf_shallow.att_conv[0]
    att = torch.sigmoid(F.conv2d(torch.cat([x, up], 1), att_conv.weight, att_conv.bias))
    merged = x * att[:, 0:1] + up * att[:, 1:2]
    expected_shallow = _conv_bn(abf_shallow.conv2,
                                F.interpolate(merged, size=(10, 6), mode="bilinear", align_corners=True), 1)
    assert torch.allclose(out[0], expected_shallow, atol=1e-5)
    assert torch.allclose(out[1], expected_deep, atol=1e-5)
    assert [tuple(o.shape) for o in out] == [(2, 3, 10, 6), (2, 5, 5, 3)]


def test_review_fusion_passes_gradients_to_every_level_and_checks_its_input() -> None:
    fusion = ReviewFusion([4, 6, 8], [4, 6, 8], mid=5)
    feats = [torch.randn(2, c, s, s, requires_grad=True) for c, s in ((4, 8), (6, 4), (8, 2))]
    outs = fusion(feats, [(8, 8), (4, 4), (2, 2)])
    outs[0].sum().backward()  # the shallowest output reviews every deeper level
    assert all(f.grad is not None and f.grad.abs().sum() > 0 for f in feats)
    with pytest.raises(ValueError, match="one teacher level"):
        ReviewFusion([4, 6], [4])
