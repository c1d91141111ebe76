"""Eq. 1 masked MSE and Eq. 7–8 MMD against direct loop computations; invariants; descent."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from xmodal.losses.mmd import mmd_loss
from xmodal.losses.reconstruction import masked_mse


def test_masked_mse_matches_loop() -> None:
    pred, target = torch.randn(3, 7, 5), torch.randn(3, 7, 5)
    mask = torch.rand(3, 7) > 0.4
    errs = [((pred[b, i] - target[b, i]) ** 2).mean().item() for b in range(3) for i in range(7) if mask[b, i]]
    assert masked_mse(pred, target, mask).item() == pytest.approx(sum(errs) / len(errs), rel=1e-5)
    assert masked_mse(target, target, mask).item() == 0.0
    edited = pred.clone()
    edited[~mask] = 100.0  # visible tokens do not count
    assert masked_mse(edited, target, mask).item() == pytest.approx(masked_mse(pred, target, mask).item())


def test_masked_mse_descent() -> None:
    pred = torch.randn(2, 6, 4, requires_grad=True)
    target, mask = torch.randn(2, 6, 4), torch.rand(2, 6) > 0.5
    opt = torch.optim.SGD([pred], lr=1.0)
    first = masked_mse(pred, target, mask)
    for _ in range(5):
        opt.zero_grad()
        masked_mse(pred, target, mask).backward()
        opt.step()
    assert masked_mse(pred, target, mask).item() < 0.5 * first.item()


def mmd_reference(x: np.ndarray, y: np.ndarray, coefs: list[float], unbiased: bool) -> float:
    def k(a: np.ndarray, b: np.ndarray) -> float:
        d2 = float(((a - b) ** 2).sum())
        return sum(math.exp(-c * d2) for c in coefs)

    n, m = len(x), len(y)
    kxx = sum(k(x[i], x[j]) for i in range(n) for j in range(n) if not (unbiased and i == j))
    kyy = sum(k(y[i], y[j]) for i in range(m) for j in range(m) if not (unbiased and i == j))
    kxy = sum(k(x[i], y[j]) for i in range(n) for j in range(m))
    nx, ny = (n * (n - 1), m * (m - 1)) if unbiased else (n * n, m * m)
    return kxx / nx + kyy / ny - 2 * kxy / (n * m)


@pytest.mark.parametrize("estimator", ["biased", "unbiased"])
def test_mmd_matches_loop(estimator: str) -> None:
    x, y = torch.randn(5, 3, dtype=torch.float64), torch.randn(4, 3, dtype=torch.float64) + 0.7
    sigmas = [0.5, 1.0, 2.0]
    got = mmd_loss(x, y, bandwidths=sigmas, estimator=estimator)  # type: ignore[arg-type]
    ref = mmd_reference(x.numpy(), y.numpy(), [1 / (2 * s * s) for s in sigmas], estimator == "unbiased")
    assert got.dtype == torch.float32 and got.item() == pytest.approx(ref, rel=1e-4, abs=1e-6)
    gammas = [1e-3, 1e-1, 1.0, 10.0]
    got = mmd_loss(x, y, kernel="gaussian_gamma", bandwidths=gammas, estimator=estimator)  # type: ignore[arg-type]
    assert got.item() == pytest.approx(mmd_reference(x.numpy(), y.numpy(), gammas, estimator == "unbiased"), rel=1e-4)
    assert mmd_loss(x, y, bandwidths=sigmas, squared=False).item() == pytest.approx(
        math.sqrt(mmd_reference(x.numpy(), y.numpy(), [1 / (2 * s * s) for s in sigmas], False)), rel=1e-4
    )


def test_mmd_median_bandwidth_matches_numpy() -> None:
    x, y = torch.randn(6, 4), torch.randn(5, 4) * 2
    z = np.concatenate([x.numpy(), y.numpy()]).astype(np.float64)
    d = [np.sqrt(((z[i] - z[j]) ** 2).sum()) for i in range(11) for j in range(i + 1, 11)]
    sigma = float(np.sort(d)[(len(d) - 1) // 2])  # torch.median: the lower median
    ref = mmd_reference(x.numpy(), y.numpy(), [1 / (2 * sigma**2)], False)
    assert mmd_loss(x, y, bandwidths="median").item() == pytest.approx(ref, rel=1e-4)


def test_mmd_invariants_and_fp32_under_autocast() -> None:
    x, y = torch.randn(8, 6), torch.randn(7, 6) + 1.0
    assert mmd_loss(x, x).item() == pytest.approx(0.0, abs=1e-6)
    assert mmd_loss(x, y).item() == pytest.approx(mmd_loss(y, x).item(), rel=1e-6)  # symmetric
    assert mmd_loss(x, y).item() > 0.01
    with torch.autocast("cpu", dtype=torch.bfloat16):
        low = mmd_loss(x.bfloat16(), y.bfloat16(), bandwidths="median")
    assert low.dtype == torch.float32
    assert low.item() == pytest.approx(mmd_loss(x.bfloat16().float(), y.bfloat16().float(), bandwidths="median").item())


def test_mmd_gradient_sign_and_descent() -> None:
    x = torch.zeros(4, 1)
    y = torch.full((4, 1), 0.3, requires_grad=True)
    mmd_loss(x, y, bandwidths=[1.0]).backward()
    assert torch.all(y.grad > 0)  # moving y further from x (to the right) would increase the loss
    y = (torch.randn(16, 4) + 2.0).requires_grad_()
    x = torch.randn(16, 4)
    opt = torch.optim.SGD([y], lr=5.0)
    first = mmd_loss(x, y, bandwidths=[1.0, 2.0, 4.0]).item()
    gap = (y.mean(0) - x.mean(0)).norm().item()
    for _ in range(30):
        opt.zero_grad()
        mmd_loss(x, y, bandwidths=[1.0, 2.0, 4.0]).backward()
        opt.step()
    assert mmd_loss(x, y, bandwidths=[1.0, 2.0, 4.0]).item() < 0.5 * first
    assert (y.mean(0) - x.mean(0)).norm().item() < 0.5 * gap


def test_official_gamma_list_saturates_on_distant_features() -> None:
    """The official γ list on 8192-d, far-apart features: cross terms underflow and the gradient vanishes."""
    x = torch.randn(8, 8192)
    y = (torch.randn(8, 8192) + 0.5).requires_grad_()
    gammas = [1e-3, 1e-2, 1e-1, 1.0, 1e1, 1e2, 1e3]
    loss = mmd_loss(x, y, kernel="gaussian_gamma", bandwidths=gammas)
    loss.backward()
    assert loss.item() == pytest.approx(2 * 7 / 8, abs=1e-3)  # only the diagonals survive: 7 kernels, 2 blocks
    y2 = y.detach().clone().requires_grad_()
    mmd_loss(x, y2, bandwidths="median").backward()
    assert y.grad.norm().item() < 1e-4 * y2.grad.norm().item()  # ~5e-6 × the median-bandwidth gradient
    assert y2.grad.norm().item() > 1e-3  # the median heuristic keeps a live gradient
