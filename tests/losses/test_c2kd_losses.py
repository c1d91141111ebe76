import math

import numpy as np
import pytest
import torch
from scipy.stats import kendalltau

from xmodal.losses.c2kd import bidirectional_kl, kendall_tau_b, non_target_kl, selection_mask


def _scipy_tau(x: torch.Tensor, y: torch.Tensor) -> np.ndarray:
    return np.array([kendalltau(a, b)[0] for a, b in zip(x.numpy(), y.numpy(), strict=True)])


def test_kendall_tau_b_matches_scipy_with_and_without_ties() -> None:
    g = torch.Generator().manual_seed(0)
    x, y = torch.randn(40, 9, generator=g), torch.randn(40, 9, generator=g)
    assert np.allclose(kendall_tau_b(x, y).numpy(), _scipy_tau(x, y), atol=1e-6)
    # ties in one, the other and both inputs: small integer logits repeat within a row
    xi = torch.randint(0, 3, (60, 7), generator=g).float()
    yi = torch.randint(0, 4, (60, 7), generator=g).float()
    ours, ref = kendall_tau_b(xi, yi, chunk=7).numpy(), _scipy_tau(xi, yi)
    assert np.array_equal(np.isnan(ours), np.isnan(ref))
    assert np.allclose(ours[~np.isnan(ref)], ref[~np.isnan(ref)], atol=1e-6)
    assert (xi[:, :, None] == xi[:, None, :]).sum() > 60 * 7  # the case really has ties off the diagonal


def test_kendall_tau_b_edge_cases() -> None:
    x = torch.arange(6.0).repeat(3, 1)
    assert torch.allclose(kendall_tau_b(x, x), torch.ones(3))
    assert torch.allclose(kendall_tau_b(x, -x), -torch.ones(3))
    const = torch.ones(1, 6)
    assert torch.isnan(kendall_tau_b(const, x[:1])).all()  # scipy gives nan too
    assert math.isnan(kendalltau(const[0].numpy(), x[0].numpy())[0])
    with pytest.raises(ValueError):
        kendall_tau_b(torch.randn(2, 3), torch.randn(2, 4))


def test_selection_mask_is_strict_and_rejects_nan() -> None:
    tau = torch.tensor([0.0, 0.1, -0.2, float("nan"), 0.5])
    assert selection_mask(tau).tolist() == [False, True, False, False, True]
    assert selection_mask(tau, 0.3).tolist() == [False, False, False, False, True]


def _direct_kl(p: torch.Tensor, q: torch.Tensor) -> torch.Tensor:
    return (p * (p.log() - q.log())).sum(-1)


def test_non_target_kl_zero_variant_is_the_official_ntkl() -> None:
    g = torch.Generator().manual_seed(1)
    s, t = torch.randn(8, 5, generator=g), torch.randn(8, 5, generator=g)
    y = torch.randint(0, 5, (8,), generator=g)
    sel = torch.tensor([1, 0, 1, 1, 0, 0, 1, 1]).bool()
    per = []
    for i in range(8):  # the target logit set to 0, kept in the softmax
        si, ti = s[i].clone(), t[i].clone()
        si[y[i]], ti[y[i]] = 0.0, 0.0
        per.append(_direct_kl(torch.softmax(ti, 0), torch.softmax(si, 0)))
    per_t = torch.stack(per) * sel
    assert torch.allclose(non_target_kl(s, t, y, sel), per_t.sum() / 8, atol=1e-6)
    assert torch.allclose(non_target_kl(s, t, y, sel, reduction="selected"), per_t.sum() / 5, atol=1e-6)
    assert torch.allclose(non_target_kl(s, t, y, sel, reduction="none"), per_t, atol=1e-6)
    # the official criterion: (mask * KLDivLoss(reduction="none")(log_softmax, softmax).sum(1)).mean()
    gt = torch.nn.functional.one_hot(y, 5).bool()
    official = (sel * torch.nn.KLDivLoss(reduction="none")(torch.log_softmax(s * ~gt, 1),
                                                           torch.softmax(t * ~gt, 1)).sum(1)).mean()
    assert torch.allclose(non_target_kl(s, t, y, sel), official, atol=1e-6)


def test_non_target_kl_exclude_variant_drops_the_target_class() -> None:
    g = torch.Generator().manual_seed(2)
    s, t = torch.randn(6, 4, generator=g), torch.randn(6, 4, generator=g)
    y = torch.randint(0, 4, (6,), generator=g)
    sel = torch.ones(6, dtype=torch.bool)
    per = []
    for i in range(6):
        keep = [c for c in range(4) if c != int(y[i])]
        per.append(_direct_kl(torch.softmax(t[i, keep] / 2, 0), torch.softmax(s[i, keep] / 2, 0)) * 4)
    out = non_target_kl(s, t, y, sel, temperature=2.0, target_handling="exclude")
    assert torch.isfinite(out)
    assert torch.allclose(out, torch.stack(per).mean(), atol=1e-6)
    # the target logit does not matter at all when it is excluded
    s2 = s.clone()
    s2[torch.arange(6), y] += 5.0
    assert torch.allclose(non_target_kl(s2, t, y, sel, 2.0, "exclude"), out, atol=1e-6)


def test_non_target_kl_invariants_nothing_selected_and_detached_target() -> None:
    s = torch.randn(4, 5, requires_grad=True)
    t = torch.randn(4, 5, requires_grad=True)
    y = torch.tensor([0, 1, 2, 3])
    none = torch.zeros(4, dtype=torch.bool)
    assert non_target_kl(s, t, y, none).item() == 0.0
    assert non_target_kl(s, t, y, none, reduction="selected").item() == 0.0
    same = non_target_kl(t.detach(), t, y, torch.ones(4, dtype=torch.bool))
    assert same.abs() < 1e-6
    non_target_kl(s, t, y, torch.ones(4, dtype=torch.bool)).backward()
    assert t.grad is None and s.grad is not None and s.grad.abs().sum() > 0


def test_non_target_kl_descends() -> None:
    g = torch.Generator().manual_seed(3)
    t, y = torch.randn(16, 6, generator=g), torch.randint(0, 6, (16,), generator=g)
    s = torch.randn(16, 6, generator=g, requires_grad=True)
    sel = torch.ones(16, dtype=torch.bool)
    opt = torch.optim.SGD([s], lr=10.0)
    losses = []
    for _ in range(20):
        opt.zero_grad()
        loss = non_target_kl(s, t, y, sel, target_handling="exclude")
        loss.backward()
        assert s.grad is not None and torch.isfinite(s.grad).all()  # no NaN from the −∞ target column
        opt.step()
        losses.append(loss.item())
    assert losses[-1] < 0.5 * losses[0]


def test_bidirectional_kl_values_and_gradient_routes() -> None:
    net = torch.randn(5, 3, requires_grad=True)
    proxy = torch.randn(5, 3, requires_grad=True)
    to_proxy, to_net = bidirectional_kl(net, proxy)
    pn, pp = torch.softmax(net.detach(), -1), torch.softmax(proxy.detach(), -1)
    assert torch.allclose(to_proxy, _direct_kl(pn, pp).mean(), atol=1e-6)
    assert torch.allclose(to_net, _direct_kl(pp, pn).mean(), atol=1e-6)
    to_proxy.backward(retain_graph=True)
    assert net.grad is None and proxy.grad is not None
    proxy.grad = None
    to_net.backward()
    assert proxy.grad is None and net.grad is not None
