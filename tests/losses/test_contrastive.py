"""MAViL InfoNCE (MAViL Eq. 2–3) against a direct computation, its invariants, and a few steps of descent."""

from __future__ import annotations

import math

import pytest
import torch

from xmodal.losses.contrastive import info_nce
from xmodal.losses.reconstruction import masked_mse


def direct_eq2(x: torch.Tensor, y: torch.Tensor, tau: float) -> torch.Tensor:
    """Eq. 2 written term by term: −(1/B) Σ_i log(exp(S(x_i, y_i)/τ) / Σ_j exp(S(x_i, y_j)/τ))."""
    total = 0.0
    for i in range(x.shape[0]):
        sims = [float(x[i] @ y[j] / (x[i].norm() * y[j].norm())) / tau for j in range(y.shape[0])]
        total -= sims[i] - math.log(sum(math.exp(s) for s in sims))
    return torch.tensor(total / x.shape[0])


@pytest.mark.parametrize("tau", [0.1, 1.0])
def test_info_nce_equals_equation_2(tau: float) -> None:
    gen = torch.Generator().manual_seed(0)
    x, y = torch.randn(6, 5, generator=gen), torch.randn(6, 5, generator=gen)
    torch.testing.assert_close(info_nce(x, y, tau, gather=False), direct_eq2(x, y, tau), rtol=1e-5, atol=1e-5)
    sym = info_nce(x, y, tau, symmetric=True, gather=False)
    torch.testing.assert_close(sym, 0.5 * (direct_eq2(x, y, tau) + direct_eq2(y, x, tau)), rtol=1e-5, atol=1e-5)
    assert not torch.allclose(info_nce(x, y, tau, gather=False), info_nce(y, x, tau, gather=False))


def test_info_nce_invariants() -> None:
    gen = torch.Generator().manual_seed(1)
    x, y = torch.randn(8, 4, generator=gen), torch.randn(8, 4, generator=gen)
    base = info_nce(x, y, 0.1, gather=False)
    scale = torch.rand(8, 1, generator=gen) + 0.5
    torch.testing.assert_close(info_nce(3.0 * x * scale, y / scale, 0.1, gather=False), base)  # cosine: scale-free
    perm = torch.randperm(8, generator=gen)
    torch.testing.assert_close(info_nce(x[perm], y[perm], 0.1, gather=False), base)  # order of pairs
    assert info_nce(x, x, 1.0, gather=False) < info_nce(x, y, 1.0, gather=False)
    # Bounds: identical one-hot pairs reach the minimum −log(e^{1/τ}/(e^{1/τ} + (B−1))) and 0 < loss.
    eye = torch.eye(8)
    floor = -math.log(math.exp(10.0) / (math.exp(10.0) + 7))
    torch.testing.assert_close(info_nce(eye, eye, 0.1, gather=False), torch.tensor(floor))
    with pytest.raises(ValueError, match="paired"):
        info_nce(x, y[:5], 0.1, gather=False)
    with pytest.raises(ValueError, match="temperature"):
        info_nce(x, y, 0.0, gather=False)


def test_info_nce_descends_and_aligns_pairs() -> None:
    gen = torch.Generator().manual_seed(2)
    x = torch.randn(16, 8, generator=gen).requires_grad_()
    y = torch.randn(16, 8, generator=gen).requires_grad_()
    opt = torch.optim.SGD([x, y], lr=0.5)
    losses = []
    for _ in range(30):
        loss = info_nce(x, y, 0.1, gather=False)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(float(loss))
    assert losses[-1] < 0.5 * losses[0]
    logits = torch.nn.functional.normalize(x, dim=1) @ torch.nn.functional.normalize(y, dim=1).T
    assert bool((logits.argmax(1) == torch.arange(16)).all())


def test_masked_mse_on_all_tokens_is_plain_mse() -> None:
    """Stage 2's ``recon_tokens=all`` switch: the masked MSE with an all-ones mask is the MSE over all tokens."""
    gen = torch.Generator().manual_seed(3)
    pred, target = torch.randn(2, 5, 4, generator=gen), torch.randn(2, 5, 4, generator=gen)
    everything = torch.ones(2, 5, dtype=torch.bool)
    torch.testing.assert_close(masked_mse(pred, target, everything), (pred - target).pow(2).mean())
