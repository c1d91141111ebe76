import math

import pytest
import torch
import torch.nn.functional as F

from xmodal.losses.kd import feature_kd_loss, kd_kl_loss, supervised_kd_loss


def _direct_kl(s: torch.Tensor, t: torch.Tensor, temp: float) -> torch.Tensor:
    ps, pt = torch.softmax(s / temp, -1), torch.softmax(t / temp, -1)
    return (pt * (pt.log() - ps.log())).sum(-1)


def test_kl_matches_direct_computation_and_reductions() -> None:
    g = torch.Generator().manual_seed(0)
    s, t = torch.randn(6, 5, generator=g), torch.randn(6, 5, generator=g)
    per = _direct_kl(s, t, 2.0)
    assert torch.allclose(kd_kl_loss(s, t, 2.0, "none", False), per, atol=1e-6)
    assert torch.allclose(kd_kl_loss(s, t, 2.0, "batchmean", False), per.mean(), atol=1e-6)
    assert torch.allclose(kd_kl_loss(s, t, 2.0, "batchmean", True), 4.0 * per.mean(), atol=1e-6)
    # the official code's KLDivLoss() element-wise mean is batchmean / K
    official = torch.nn.KLDivLoss()(F.log_softmax(s, -1), F.softmax(t, -1))
    assert torch.allclose(kd_kl_loss(s, t, 1.0, "mean", False), official, atol=1e-6)
    assert torch.allclose(kd_kl_loss(s, t, 1.0, "mean", False) * 5, kd_kl_loss(s, t, 1.0, "batchmean"), atol=1e-6)


def test_kl_invariants() -> None:
    s = torch.randn(4, 3)
    assert kd_kl_loss(s, s.clone()).abs() < 1e-6
    assert kd_kl_loss(s, s + 7.0).abs() < 1e-6  # softmax is shift-invariant
    assert kd_kl_loss(s, torch.randn(4, 3)) > 0
    with pytest.raises(ValueError):
        kd_kl_loss(s, s, temperature=0.0)


def test_eq1_weighting_and_teacher_detached() -> None:
    s = torch.randn(8, 4, requires_grad=True)
    t = torch.randn(8, 4, requires_grad=True)
    y = torch.randint(0, 4, (8,))
    out = supervised_kd_loss(s, t, y, rho=0.3)
    assert torch.allclose(out["total"], 0.3 * F.cross_entropy(s, y) + 0.7 * _direct_kl(s, t, 1.0).mean())
    out["total"].backward()
    assert t.grad is None and s.grad is not None
    assert torch.allclose(supervised_kd_loss(s, t, y, rho=1.0)["total"], F.cross_entropy(s, y))


def test_gradient_descent_lowers_kd_and_feature_losses() -> None:
    t = torch.randn(16, 5)
    s = torch.zeros(16, 5, requires_grad=True)
    f_t = torch.randn(16, 8, 3, 3)
    f_s = torch.zeros(16, 8, 3, 3, requires_grad=True)
    opt = torch.optim.Adam([s, f_s], lr=0.1)
    first = None
    for _ in range(100):
        loss = kd_kl_loss(s, t, 2.0) + feature_kd_loss(f_s, f_t, "mse")
        first = first if first is not None else loss.item()
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert loss.item() < 0.1 * first


def test_feature_losses_direct() -> None:
    a, b = torch.randn(3, 6), torch.randn(3, 6)
    assert torch.allclose(feature_kd_loss(a, b, "mse"), ((a - b) ** 2).mean())
    cos = (a * b).sum(1) / (a.norm(dim=1) * b.norm(dim=1))
    assert torch.allclose(feature_kd_loss(a, b, "cosine"), (1 - cos).mean(), atol=1e-6)
    assert math.isclose(feature_kd_loss(a, 3 * a, "cosine").item(), 0.0, abs_tol=1e-6)
    with pytest.raises(ValueError):
        feature_kd_loss(a, torch.randn(3, 5))
