"""Theorem 1 of MFH (§4.2, App. A): the crossmodal distillation-risk bound as a function of γ.

With ε* = λ^1.5 (λ² + 1)(1 − γ) ε, the training distillation risk after gradient flow satisfies (Eq. 5)
``R_n^dis ≤ n · (ε*/(1 − e^{−ε*}) − 1 − ln(ε*/(1 − e^{−ε*})))``. The bracket is Lemma 1's maximum of the
binary KL between sigmoids whose logits differ by at most ε*; it is 0 at ε* = 0 (γ = 1) and grows with ε*, so
the bound falls monotonically as γ rises — the theoretical face of MFH.
"""

from __future__ import annotations

import numpy as np


def lemma1_max(eps: np.ndarray | float) -> np.ndarray:
    """Eq. 8: max of l(b, a) over |a − b| ≤ ε, computed stably (``expm1``) and equal to 0 at ε = 0."""
    e = np.asarray(eps, dtype=np.float64)
    safe = np.where(e > 0, e, 1.0)
    q = np.where(e > 0, safe / -np.expm1(-safe), 1.0)
    return q - 1.0 - np.log(q)


def theorem1_bound(gamma: np.ndarray | float, eps: float, lam: float = 1.0, n: int = 1) -> np.ndarray:
    """Eq. 5: upper bound on R_n^dis(θ_s(∞)) for γ ∈ [0, 1], ‖Z^aᵀZ^a − Z^bᵀZ^b‖ ≤ (1−γ)ε, spectral bound λ."""
    g = np.asarray(gamma, dtype=np.float64)
    if np.any((g < 0) | (g > 1)):
        raise ValueError("gamma must lie in [0, 1]")
    eps_star = lam**1.5 * (lam**2 + 1.0) * (1.0 - g) * eps
    return n * lemma1_max(eps_star)


def plot_bound(path: str, eps_values: tuple[float, ...] = (0.5, 1.0, 2.0, 4.0), lam: float = 1.0, n: int = 1) -> None:
    """Save the bound versus γ for several ε (matplotlib Agg)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    gammas = np.linspace(0.0, 1.0, 101)
    fig, ax = plt.subplots(figsize=(5, 3.5))
    for eps in eps_values:
        ax.plot(gammas, theorem1_bound(gammas, eps, lam, n), label=f"ε = {eps:g}")
    ax.set_xlabel("γ (modality-general decisive share)")
    ax.set_ylabel(f"bound on R_n^dis (n = {n}, λ = {lam:g})")
    ax.set_title("MFH Theorem 1")
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
