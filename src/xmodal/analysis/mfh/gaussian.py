"""The MVD synthetic Gaussian benchmark (MFH §4.1, §5.2, App. B.2 Eq. 27) and its three experiments.

Eq. 27 generates one pair ``(x^a, x^b, y)``::

    x* ~ N(0, I_d),  y = 1(<δ, x*> > 0)
    x^a ~ N(0, I_d1),  x^a_J1 ← x*_J1
    x^b ~ N(0, I_d2),  x^b_J2 ← x*_J2

so ``J1 ∩ J2`` indexes the modality-general decisive features and, counting decisive features,
``α = 1 − |J2|/|J1∪J2|``, ``β = 1 − |J1|/|J1∪J2|``, ``γ = |J1∩J2|/|J1∪J2|``. The index sets are placed exactly as
in the official code (``gauss/main.py``, ``gauss/main_modify_gamma.py``):

* γ sweep (Fig. 2): d1 = 25, d2 = 50, d = 20, ``J2 = {0..9}``, ``J1 = {10−k .. 19−k}`` for overlap
  k = |J1∩J2| ∈ {0, 2, …, 10}, hence γ = k/(20−k) ∈ {0, .11, .25, .43, .67, 1} and α = β = (1−γ)/2.
* α sweep (Fig. 3): d1 = d2 = 50, ``J2 = {0..9}``, ``J1 = {0 .. 9+s}`` for s ∈ {0, 10, …, 40} specific
  features, β = 0, γ = 1 − α. The code draws x* in **d = 50** dimensions (label depends on features neither
  modality sees); the paper's text says d = |J1∪J2| — ``alpha_d="text"`` selects that reading.
* Table 2: d1 = d2 = 50, ``J1 = {0..d−1}`` (s specific + c shared), ``J2 = {0..c−1}``, δ = 1 (the code uses
  ``np.ones``; the text says δ ~ N(0, I)), teachers on one draw, students on a fresh draw.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import torch

from xmodal.analysis.mfh.linear import LinearTrainConfig, train_linear


@dataclass(frozen=True)
class MVDSpec:
    """Index sets of Eq. 27. ``j1``/``j2`` index both x* and the modality vectors (as in the official code)."""

    d1: int
    d2: int
    d: int
    j1: tuple[int, ...]
    j2: tuple[int, ...]
    delta: Literal["normal", "ones"] = "normal"

    def __post_init__(self) -> None:
        if self.j1 and (max(self.j1) >= min(self.d, self.d1)):
            raise ValueError("J1 must index both x* (d) and x^a (d1)")
        if self.j2 and (max(self.j2) >= min(self.d, self.d2)):
            raise ValueError("J2 must index both x* (d) and x^b (d2)")

    @property
    def union(self) -> int:
        return len(set(self.j1) | set(self.j2))

    @property
    def shared(self) -> tuple[int, ...]:
        return tuple(sorted(set(self.j1) & set(self.j2)))

    @property
    def alpha(self) -> float:
        return 1.0 - len(self.j2) / self.union

    @property
    def beta(self) -> float:
        return 1.0 - len(self.j1) / self.union

    @property
    def gamma(self) -> float:
        return len(self.shared) / self.union


def gamma_spec(overlap: int) -> MVDSpec:
    """Fig. 2 point with ``overlap = |J1∩J2|`` (0…10)."""
    return MVDSpec(25, 50, 20, tuple(range(10 - overlap, 20 - overlap)), tuple(range(10)))


def alpha_spec(specific: int, alpha_d: Literal["code", "text"] = "code") -> MVDSpec:
    """Fig. 3 point with ``specific = |J1 \\ J2|`` modality-a-specific decisive features (0…40)."""
    d = 50 if alpha_d == "code" else specific + 10
    return MVDSpec(50, 50, d, tuple(range(specific + 10)), tuple(range(10)))


def table2_spec(specific: int, shared: int, delta: Literal["normal", "ones"] = "ones") -> MVDSpec:
    """Table 2 row: x^a holds all ``specific + shared`` decisive features, x^b the ``shared`` ones."""
    return MVDSpec(50, 50, specific + shared, tuple(range(specific + shared)), tuple(range(shared)), delta)


def sample_mvd(spec: MVDSpec, n: int, rng: np.random.Generator, delta: np.ndarray) -> tuple[np.ndarray, ...]:
    """Draw ``n`` pairs by Eq. 27; returns ``(x^a, x^b, y)`` as float32/float32/int64 arrays."""
    x_star = rng.standard_normal((n, spec.d))
    y = (x_star @ delta > 0).astype(np.int64)
    xa = rng.standard_normal((n, spec.d1))
    xa[:, list(spec.j1)] = x_star[:, list(spec.j1)]
    xb = rng.standard_normal((n, spec.d2))
    xb[:, list(spec.j2)] = x_star[:, list(spec.j2)]
    return xa.astype(np.float32), xb.astype(np.float32), y


def draw_delta(spec: MVDSpec, rng: np.random.Generator) -> np.ndarray:
    return np.ones(spec.d) if spec.delta == "ones" else rng.standard_normal(spec.d)


def sample_runs(spec: MVDSpec, sizes: tuple[int, ...], runs: int, seed: int) -> list[tuple[torch.Tensor, ...]]:
    """Independent draws of ``sizes[i]`` samples for each of ``runs`` runs, stacked as R×n×d tensors.

    Run r uses its own generator ``default_rng([seed, r])`` and its own δ, shared by all its draws (train,
    test, fresh student set), so the draws follow one labelling rule.
    """
    per_run = []
    for r in range(runs):
        rng = np.random.default_rng([seed, r])
        delta = draw_delta(spec, rng)
        per_run.append([sample_mvd(spec, n, rng, delta) for n in sizes])
    return [
        tuple(torch.from_numpy(np.stack([per_run[r][s][i] for r in range(runs)])) for i in range(3))
        for s in range(len(sizes))
    ]


def _stats(values: torch.Tensor) -> dict[str, float]:
    v = 100.0 * values.double()
    return {"mean": float(v.mean()), "std": float(v.std(unbiased=False))}


def kd_point(spec: MVDSpec, runs: int, seed: int, cfg: LinearTrainConfig, n_train: int = 200,
             n_test: int = 1000) -> dict[str, Any]:
    """One Fig. 2/3 point: teacher on x^a, no-KD student and KD student on x^b, same training draw."""
    (xa, xb, y), (xa_te, xb_te, y_te) = sample_runs(spec, (n_train, n_test), runs, seed)
    gen = torch.Generator().manual_seed(seed)
    teacher = train_linear(xa, y, cfg, gen)
    with torch.no_grad():
        t_logits = teacher(xa)
    no_kd = train_linear(xb, y, cfg, gen)
    kd = train_linear(xb, y, cfg, gen, teacher_logits=t_logits)
    acc_t, acc_0, acc_kd = teacher.accuracy(xa_te, y_te), no_kd.accuracy(xb_te, y_te), kd.accuracy(xb_te, y_te)
    return {
        "alpha": spec.alpha, "beta": spec.beta, "gamma": spec.gamma,
        "teacher": _stats(acc_t), "no_kd": _stats(acc_0), "kd": _stats(acc_kd), "gain": _stats(acc_kd - acc_0),
    }


def gamma_experiment(runs: int = 10, seed: int = 0, cfg: LinearTrainConfig | None = None) -> list[dict[str, Any]]:
    """Fig. 2: overlap |J1∩J2| = 0, 2, …, 10."""
    cfg = cfg or LinearTrainConfig()
    return [{"overlap": k, **kd_point(gamma_spec(k), runs, seed, cfg)} for k in range(0, 11, 2)]


def alpha_experiment(runs: int = 10, seed: int = 0, cfg: LinearTrainConfig | None = None,
                     alpha_d: Literal["code", "text"] = "code") -> list[dict[str, Any]]:
    """Fig. 3: s = 0, 10, …, 40 modality-a-specific decisive features (α = s/(s+10))."""
    cfg = cfg or LinearTrainConfig()
    return [{"specific": s, **kd_point(alpha_spec(s, alpha_d), runs, seed, cfg)} for s in range(0, 41, 10)]


TABLE2_ROWS: dict[str, tuple[tuple[int, int], ...]] = {
    # (specific, shared) for γ = 0.25, 0.50, 0.75; the paper does not give them (see docs/methods/mfh.md).
    "s10": ((30, 10), (10, 10), (10, 30)),  # matches the paper's teacher and no-KD columns (docs)
    "d20": ((15, 5), (10, 10), (5, 15)),
}


def table2_experiment(runs: int = 10, seed: int = 0, cfg: LinearTrainConfig | None = None, rows: str = "s10",
                      delta: Literal["normal", "ones"] = "ones", fresh_student_set: bool = True,
                      official_swap: bool = False) -> list[dict[str, Any]]:
    """Table 2: regular teacher (all of x^a) vs modality-general teacher (x^a restricted to J1∩J2, γ = 1).

    ``official_swap`` reproduces an argument swap in ``gauss/main_modify_gamma.py``: its regular-KD student is
    trained on x^a with the teacher applied to x^b and then tested on x^b (``train_kd(x2, x1, …)``).
    """
    cfg = cfg or LinearTrainConfig()
    out = []
    for specific, shared in TABLE2_ROWS[rows]:
        spec = table2_spec(specific, shared, delta)
        (xa, xb, y), fresh, (xa_te, xb_te, y_te) = sample_runs(spec, (200, 200, 1000), runs, seed)
        xa_s, xb_s, y_s = fresh if fresh_student_set else (xa, xb, y)
        gen = torch.Generator().manual_seed(seed)
        general = list(spec.shared)
        t_reg = train_linear(xa, y, cfg, gen)
        t_gen = train_linear(xa[..., general], y, cfg, gen)
        no_kd = train_linear(xb_s, y_s, cfg, gen)
        with torch.no_grad():
            logits_gen = t_gen(xa_s[..., general])
            logits_reg = t_reg(xb_s) if official_swap else t_reg(xa_s)
        reg_kd = train_linear(xa_s if official_swap else xb_s, y_s, cfg, gen, teacher_logits=logits_reg)
        gen_kd = train_linear(xb_s, y_s, cfg, gen, teacher_logits=logits_gen)
        acc = {
            "regular_teacher": t_reg.accuracy(xa_te, y_te),
            "general_teacher": t_gen.accuracy(xa_te[..., general], y_te),
            "no_kd": no_kd.accuracy(xb_te, y_te), "regular_kd": reg_kd.accuracy(xb_te, y_te),
            "general_kd": gen_kd.accuracy(xb_te, y_te),
        }
        row = {"specific": specific, "shared": shared, "gamma": spec.gamma}
        row.update({k: _stats(v) for k, v in acc.items()})
        row["general_minus_regular_kd"] = _stats(acc["general_kd"] - acc["regular_kd"])
        out.append(row)
    return out
