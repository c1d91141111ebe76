"""Maximum Mean Discrepancy with Gaussian kernels (XKD Eq. 7–8), always in fp32, optionally gathered.

Eq. 7 is the RKHS distance ``‖E_a[k(·, x_a)] − E_v[k(·, x_v)]‖``; like the usual estimators (and the official
code) we minimise its square, estimated from samples ``x (n, d)`` and ``y (m, d)`` as

    MMD² = mean k(x_i, x_j) + mean k(y_i, y_j) − 2 mean k(x_i, y_j)

``estimator="biased"`` (V-statistic) keeps the diagonal terms in the within-sample means: always ≥ 0 and exactly
0 when the two samples coincide. ``estimator="unbiased"`` (U-statistic, Gretton et al. 2012) drops them: an
unbiased estimate of MMD² that can be slightly negative. ``squared=False`` returns the norm of Eq. 7 itself.

Kernels are sums over bandwidths. ``kernel="gaussian"`` is Eq. 8, ``exp(−‖x−y‖² / (2σ²))`` for each σ in
``bandwidths``; ``kernel="gaussian_gamma"`` reads the list as γ in ``exp(−γ‖x−y‖²)``, the official code's
parametrisation (γ ∈ {1e-3 … 1e3}). With 8192-d projector outputs the squared distances between unrelated
samples are large, so every cross term underflows (``exp(−1e-3·d²) ≈ 0``) and the loss saturates at
``mean Kxx + mean Kyy`` with almost no gradient pulling the two samples together. ``bandwidths="median"`` sets
one σ from the data: the median pairwise distance of the pooled sample (Gretton's heuristic; no gradient
through σ), which keeps the kernel in its sensitive range at any feature scale.

Under DDP (``gather="auto"`` and world size > 1) both samples are gathered with gradient
(:func:`xmodal.distributed.gather_cat`) so every rank computes the global-batch loss; see the gradient-scale
note in ``_GatherWithGrad``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

import torch

from xmodal.distributed import Gather, gather_cat

Kernel = Literal["gaussian", "gaussian_gamma"]
Estimator = Literal["biased", "unbiased"]
Bandwidths = Sequence[float] | Literal["median"]
DEFAULT_BANDWIDTHS: tuple[float, ...] = (1e-3, 1e-2, 1e-1, 1.0, 1e1, 1e2, 1e3)


def squared_distances(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """``(n, d)``, ``(m, d)`` → ``(n, m)`` squared Euclidean distances from exact differences.

    Not ``‖a‖² + ‖b‖² − 2ab``: in fp32 at d = 8192 its cancellation error (~1e-3) is far above the
    ``2σ² = 2e-6`` of the smallest default bandwidth, so equal samples would not give MMD = 0.
    """
    return torch.cdist(a, b, compute_mode="donot_use_mm_for_euclid_dist").pow(2)


def median_bandwidth(d2: torch.Tensor) -> torch.Tensor:
    """σ = median pairwise distance over the off-diagonal pairs of a square ``(n, n)`` distance matrix."""
    n = d2.shape[0]
    iu = torch.triu_indices(n, n, offset=1, device=d2.device)
    return d2.detach()[iu[0], iu[1]].median().clamp_min(1e-12).sqrt()


def _coefficients(d2: torch.Tensor, kernel: Kernel, bandwidths: Bandwidths) -> torch.Tensor:
    """The ``c`` of ``exp(−c·d²)`` for each kernel in the sum."""
    if isinstance(bandwidths, str):
        if bandwidths != "median":
            raise ValueError(f"bandwidths must be a list of floats or 'median', got {bandwidths!r}")
        sigma = median_bandwidth(d2)
        return (1.0 / (2.0 * sigma**2)).reshape(1)
    values = torch.tensor([float(b) for b in bandwidths], dtype=d2.dtype, device=d2.device)
    if values.numel() == 0 or bool((values <= 0).any()):
        raise ValueError("bandwidths must be positive and non-empty")
    if kernel == "gaussian":
        return 1.0 / (2.0 * values**2)
    if kernel == "gaussian_gamma":
        return values
    raise ValueError(f"kernel must be 'gaussian' or 'gaussian_gamma', got {kernel!r}")


def mmd_loss(
    x: torch.Tensor,
    y: torch.Tensor,
    *,
    kernel: Kernel = "gaussian",
    bandwidths: Bandwidths = DEFAULT_BANDWIDTHS,
    estimator: Estimator = "biased",
    squared: bool = True,
    gather: Gather = "auto",
) -> torch.Tensor:
    """MMD (Eq. 7–8) between samples ``x (n, d)`` and ``y (m, d)``; a scalar fp32 tensor (autocast off)."""
    if x.ndim != 2 or y.ndim != 2 or x.shape[1] != y.shape[1]:
        raise ValueError(f"expected (n, d) and (m, d) samples, got {tuple(x.shape)} and {tuple(y.shape)}")
    if estimator not in ("biased", "unbiased"):
        raise ValueError(f"estimator must be 'biased' or 'unbiased', got {estimator!r}")
    with torch.autocast(device_type=x.device.type, enabled=False):
        x = gather_cat(x.float(), gather)
        y = gather_cat(y.float(), gather)
        n, m = x.shape[0], y.shape[0]
        z = torch.cat([x, y], 0)
        d2 = squared_distances(z, z)
        coef = _coefficients(d2, kernel, bandwidths)
        k = torch.exp(-d2.unsqueeze(0) * coef.view(-1, 1, 1)).sum(0)
        kxx, kyy, kxy = k[:n, :n], k[n:, n:], k[:n, n:]
        if estimator == "biased":
            mmd2 = kxx.mean() + kyy.mean() - 2.0 * kxy.mean()
        else:
            if n < 2 or m < 2:
                raise ValueError("the unbiased estimator needs at least two samples on each side")
            mmd2 = (
                (kxx.sum() - kxx.diagonal().sum()) / (n * (n - 1))
                + (kyy.sum() - kyy.diagonal().sum()) / (m * (m - 1))
                - 2.0 * kxy.mean()
            )
        return mmd2 if squared else mmd2.clamp_min(1e-12).sqrt()
