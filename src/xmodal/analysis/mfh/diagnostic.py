"""A KD-efficacy diagnostic: estimate how modality-general a teacher is before running crossmodal KD.

Idea (ours, built on MVD, MFH §4.1): the teacher's decision ``z_a = f_a(x^a)`` is modality-general to the
extent it can be predicted from the *other* modality. On held-out paired data we regress the teacher's logits
on student-side features and the reference student's logits on teacher-side features (cross-fitted ridge):

* ``r_a = R²(x^b → z_a)`` — share of the teacher's decisive signal that the student modality can see; under
  Eq. 27 with identity g and equal δ weights this is |J1∩J2| / |J1|,
* ``r_b = R²(x^a → z_b)`` — likewise |J1∩J2| / |J2| for a student trained on labels alone.

Since γ = |J1∩J2| / (|J1| + |J2| − |J1∩J2|), we get ``1/γ = 1/r_a + 1/r_b − 1``, hence
``γ̂ = 1 / (1/r_a + 1/r_b − 1)``. KD is predicted to help when γ̂ exceeds a threshold; the default is the
γ at which the measured gain changes sign on the Gaussian γ sweep (see docs/methods/mfh.md). Inputs are plain
arrays, so features extracted from two trained unimodal networks (penultimate layers) work the same way.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from xmodal.analysis.mfh.gaussian import MVDSpec, alpha_spec, gamma_spec, kd_point, sample_runs, table2_spec
from xmodal.analysis.mfh.linear import LinearTrainConfig, train_linear

DEFAULT_THRESHOLD = 0.075  # gain changes sign between γ̂ = 0.05 and 0.10 on the γ sweep (docs)


def ridge_r2(x: np.ndarray, target: np.ndarray, lam: float = 1.0, folds: int = 5, seed: int = 0) -> float:
    """Cross-fitted R² of a multi-output ridge regression ``x → target`` (variance-weighted over outputs)."""
    x = np.asarray(x, dtype=np.float64).reshape(len(x), -1)
    t = np.asarray(target, dtype=np.float64).reshape(len(target), -1)
    order = np.random.default_rng(seed).permutation(len(x))
    pred = np.zeros_like(t)
    for f in range(folds):
        test = order[f::folds]
        train = np.setdiff1d(order, test)
        mx, mt = x[train].mean(0), t[train].mean(0)
        xc, tc = x[train] - mx, t[train] - mt
        w = np.linalg.solve(xc.T @ xc + lam * np.eye(x.shape[1]), xc.T @ tc)
        pred[test] = (x[test] - mx) @ w + mt
    sst = ((t - t.mean(0)) ** 2).sum()
    return float(1.0 - ((t - pred) ** 2).sum() / sst) if sst > 0 else 0.0


@dataclass(frozen=True)
class Diagnosis:
    r_a: float
    r_b: float
    gamma_hat: float
    threshold: float

    @property
    def kd_predicted_to_help(self) -> bool:
        return self.gamma_hat > self.threshold


def gamma_from_r2(r_a: float, r_b: float) -> float:
    """γ̂ = 1/(1/r_a + 1/r_b − 1), with R² clipped to [0, 1] (no shared signal → γ̂ = 0)."""
    r_a, r_b = min(max(r_a, 0.0), 1.0), min(max(r_b, 0.0), 1.0)
    if r_a <= 1e-6 or r_b <= 1e-6:
        return 0.0
    return 1.0 / (1.0 / r_a + 1.0 / r_b - 1.0)


def diagnose(feat_a: np.ndarray, feat_b: np.ndarray, logits_a: np.ndarray, logits_b: np.ndarray,
             threshold: float = DEFAULT_THRESHOLD, lam: float = 1.0, seed: int = 0) -> Diagnosis:
    """Diagnose from paired held-out arrays: features of each modality and each unimodal network's logits."""
    r_a = ridge_r2(feat_b, logits_a, lam, seed=seed)
    r_b = ridge_r2(feat_a, logits_b, lam, seed=seed)
    return Diagnosis(r_a, r_b, gamma_from_r2(r_a, r_b), threshold)


def diagnose_spec(spec: MVDSpec, runs: int, seed: int, cfg: LinearTrainConfig,
                  n_heldout: int = 1000) -> list[Diagnosis]:
    """Train the two unimodal logistic regressions on 200 samples, diagnose on a held-out paired draw."""
    (xa, xb, y), (xa_h, xb_h, _) = sample_runs(spec, (200, n_heldout), runs, seed + 7)
    gen = torch.Generator().manual_seed(seed)
    f_a, f_b = train_linear(xa, y, cfg, gen), train_linear(xb, y, cfg, gen)
    with torch.no_grad():
        z_a, z_b = f_a(xa_h).numpy(), f_b(xb_h).numpy()
    return [diagnose(xa_h[r].numpy(), xb_h[r].numpy(), z_a[r], z_b[r], seed=seed + r) for r in range(runs)]


def gaussian_diagnostic(runs: int = 10, seed: int = 0, cfg: LinearTrainConfig | None = None,
                        threshold: float = DEFAULT_THRESHOLD) -> list[dict[str, Any]]:
    """Estimated vs true γ and the measured KD gain over the γ sweep, the α sweep and the Table 2 rows."""
    cfg = cfg or LinearTrainConfig()
    settings: list[tuple[str, MVDSpec]] = [(f"gamma k={k}", gamma_spec(k)) for k in range(0, 11, 2)]
    settings += [(f"alpha s={s}", alpha_spec(s)) for s in range(0, 41, 10)]
    settings += [(f"table2 {s}+{c}", table2_spec(s, c)) for s, c in ((30, 10), (10, 10), (10, 30))]
    rows = []
    for name, spec in settings:
        diag = diagnose_spec(spec, runs, seed, cfg)
        point = kd_point(spec, runs, seed, cfg)
        g = np.array([d.gamma_hat for d in diag])
        gain = point["gain"]["mean"]
        rows.append({
            "setting": name, "gamma": spec.gamma, "gamma_hat": {"mean": float(g.mean()), "std": float(g.std())},
            "r_a": float(np.mean([d.r_a for d in diag])), "r_b": float(np.mean([d.r_b for d in diag])),
            "kd_gain": point["gain"], "predicted_helps": bool(g.mean() > threshold), "helps": bool(gain > 0),
        })
    return rows
