"""Eq. 4–6, 9–11, 13, S1–S3 and the §B.5 diagnostics against direct computations; invariants; descent."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
import torch

from xmodal.losses.alignment import cross_modal_attention, domain_alignment_loss, refine, refine_weights
from xmodal.losses.distillation import (
    ema_momentum,
    kd_cross_entropy,
    kl_teacher_student,
    teacher_entropy,
    teacher_temperature,
    update_center,
)
from xmodal.losses.mmd import mmd_loss


def attentions(b: int = 2, h: int = 3, nv: int = 6, na: int = 4) -> tuple[torch.Tensor, torch.Tensor]:
    return torch.rand(b, h, nv).softmax(-1) * 0.9, torch.rand(b, h, na).softmax(-1) * 0.7


def test_cross_modal_attention_matches_literal_eq4() -> None:
    av, aa = attentions()
    xv, xa = cross_modal_attention(av, aa)
    outer_v = torch.einsum("bhi,bhj->bhij", av, aa)  # A_v · A_aᵀ ∈ R^{H×N_v×N_a}
    outer_a = torch.einsum("bhj,bhi->bhji", aa, av)
    torch.testing.assert_close(xv, outer_v.mean(-1) / av.mean(-1, keepdim=True))
    torch.testing.assert_close(xa, outer_a.mean(-1) / aa.mean(-1, keepdim=True))
    # Design-doc fact: own attention rescaled by one factor per head (mean A_a / mean A_v).
    ratio = xv / av
    torch.testing.assert_close(ratio, ratio[..., :1].expand_as(ratio))
    torch.testing.assert_close(ratio[..., 0], aa.mean(-1) / av.mean(-1))


def test_cross_modal_attention_softmax_variant_eq_s3() -> None:
    av, aa = attentions()
    xv, xa = cross_modal_attention(av, aa, mode="softmax")
    torch.testing.assert_close(xv, torch.einsum("bhi,bhj->bhij", av, aa).mean(-1).softmax(-1))
    torch.testing.assert_close(xa, torch.einsum("bhj,bhi->bhji", aa, av).mean(-1).softmax(-1))
    big_v, _ = cross_modal_attention(*attentions(1, 2, 392, 560), mode="softmax")  # paper token counts
    assert (big_v.max(-1).values - big_v.min(-1).values).max() < 1e-3 * big_v.mean()  # nearly uniform


def test_refine_matches_loop_and_scale_behaviour() -> None:
    tokens, ax = torch.randn(2, 5, 4), torch.rand(2, 3, 5)
    out = refine(tokens, ax)
    for b in range(2):
        w = [sum(ax[b, h, i].item() for h in range(3)) / 3 for i in range(5)]
        t = tokens[b].numpy().astype(np.float64)
        weighted = t * np.array(w)[:, None]
        omega = (t**2).sum() / (weighted**2).sum()
        np.testing.assert_allclose(out[b].numpy(), weighted * omega, rtol=1e-5)
    torch.testing.assert_close(refine(tokens, 2.0 * ax), out / 2.0)  # Eq. 6 literally: scale c → 1/c
    energy = refine(tokens, ax, omega="sqrt")
    torch.testing.assert_close(energy.pow(2).sum((1, 2)), tokens.pow(2).sum((1, 2)))
    torch.testing.assert_close(refine(tokens, 2.0 * ax, omega="sqrt"), energy)
    cos = torch.nn.functional.cosine_similarity(energy.flatten(1), out.flatten(1))
    torch.testing.assert_close(cos, torch.ones(2))  # same direction, different magnitude
    torch.testing.assert_close(refine_weights(ax), ax.mean(1))
    uniform = refine(tokens, torch.ones(2, 3, 5), omega="sqrt")
    torch.testing.assert_close(uniform, tokens)


def test_refine_official_omega_matches_direct_patch_mean_computation() -> None:
    """Official code: Ω from the energies of the patch-mean vectors, tokens scaled by √Ω (XKD Eq. 6 switch)."""
    torch.manual_seed(0)
    b, h, n, d = 3, 2, 6, 5
    tokens, ax = torch.randn(b, n, d), torch.rand(b, h, n)
    out = refine(tokens, ax, omega="official")
    for s in range(b):
        t = tokens[s].numpy().astype(np.float64)
        w = np.array([sum(float(ax[s, k, i]) for k in range(h)) / h for i in range(n)])
        prior = [sum(t[i, c] for i in range(n)) / n for c in range(d)]
        post = [sum(w[i] * t[i, c] for i in range(n)) / n for c in range(d)]
        scale = math.sqrt(sum(x * x for x in prior) / sum(x * x for x in post))
        np.testing.assert_allclose(out[s].numpy(), scale * w[:, None] * t, rtol=1e-5, atol=1e-6)
    # The pooled output keeps the plain patch mean's norm, and a global scale of the weights cancels.
    torch.testing.assert_close(out.mean(1).norm(dim=-1), tokens.mean(1).norm(dim=-1))
    torch.testing.assert_close(refine(tokens, 3.0 * ax, omega="official"), out)
    # Token-relative weights are the same in every mode: the outputs differ by one factor per sample only.
    for other in ("paper", "sqrt"):
        ratio = out / refine(tokens, ax, omega=other)
        torch.testing.assert_close(ratio, ratio[:, :1, :1].expand_as(ratio))
    # ... and that factor is not 1: the per-sample scale is what the switch changes.
    sqrt_ratio = (out / refine(tokens, ax, omega="sqrt"))[:, 0, 0]
    assert (sqrt_ratio - 1).abs().min() > 1e-3
    with pytest.raises(ValueError, match="omega"):
        refine(tokens, ax, omega="bogus")  # type: ignore[arg-type]


def test_domain_alignment_modes_and_gradients() -> None:
    sv = torch.randn(6, 8, requires_grad=True)
    sa = (torch.randn(6, 8) + 1).requires_grad_()
    tv, ta = torch.randn(3, 8), torch.randn(3, 8) - 1
    kw = {"bandwidths": [1.0, 4.0]}
    mmd = lambda x, y: mmd_loss(x, y, **kw)  # noqa: E731
    eq9 = mmd(sv, sa) + mmd(tv, ta)
    s1 = mmd(ta, sv) + mmd(tv, sa)
    torch.testing.assert_close(domain_alignment_loss(sv, sa, tv, ta, **kw), eq9)
    torch.testing.assert_close(domain_alignment_loss(sv, sa, tv, ta, mode="da1", **kw), s1)
    torch.testing.assert_close(domain_alignment_loss(sv, sa, tv, ta, mode="da2", **kw), eq9 + s1)
    torch.testing.assert_close(domain_alignment_loss(sv, sa, tv, ta, mode="student", **kw), mmd(sv, sa))
    torch.testing.assert_close(domain_alignment_loss(sv, sa, tv, ta, mode="teacher", **kw), mmd(tv, ta))
    with pytest.raises(ValueError):
        domain_alignment_loss(sv, sa, tv, ta, mode="both")  # type: ignore[arg-type]
    # Gradient descent on the students lowers Eq. 9 (the teacher term is constant: no gradient).
    opt = torch.optim.SGD([sv, sa], lr=2.0)
    first = domain_alignment_loss(sv, sa, tv, ta, **kw).item()
    for _ in range(30):
        opt.zero_grad()
        domain_alignment_loss(sv, sa, tv, ta, **kw).backward()
        opt.step()
    assert domain_alignment_loss(sv, sa, tv, ta, **kw).item() < first - 0.4 * (first - mmd(tv, ta).item())


def kd_reference(s: np.ndarray, t: np.ndarray, c: np.ndarray, ts: float, tt: float) -> float:
    total = 0.0
    for b in range(s.shape[0]):
        pt = np.exp((t[b] - c) / tt) / np.exp((t[b] - c) / tt).sum()
        log_ps = s[b] / ts - math.log(np.exp(s[b] / ts).sum())
        total += -(pt * log_ps).sum()
    return total / s.shape[0]


def test_kd_cross_entropy_matches_loop_and_stops_teacher_gradient() -> None:
    s, t, c = torch.randn(4, 7), torch.randn(4, 7, requires_grad=True), torch.randn(1, 7) * 0.1
    loss = kd_cross_entropy(s.requires_grad_(), t, c, student_temp=0.1, teacher_temp=0.04)
    ref = kd_reference(s.detach().double().numpy(), t.detach().double().numpy(), c[0].double().numpy(), 0.1, 0.04)
    assert loss.item() == pytest.approx(ref, rel=1e-5)
    loss.backward()
    assert t.grad is None and s.grad is not None
    kl = kl_teacher_student(s, t, c, student_temp=0.1, teacher_temp=0.04)
    ent = teacher_entropy(t, c, 0.04)[0]
    assert kl.item() == pytest.approx(loss.item() - ent.item(), rel=1e-4, abs=1e-5)  # KL = H(P_t, P_s) − H(P_t)
    # Student equal to the sharpened, centred teacher: KL = 0, cross-entropy = teacher entropy (its minimum).
    matched = (t.detach() - c) * (0.1 / 0.04)
    assert kl_teacher_student(matched, t, c, teacher_temp=0.04).item() == pytest.approx(0.0, abs=1e-5)


def test_kd_descent_moves_student_to_teacher() -> None:
    s = torch.zeros(4, 6, requires_grad=True)
    t, c = torch.randn(4, 6), torch.zeros(1, 6)
    opt = torch.optim.SGD([s], lr=0.05)
    first = kd_cross_entropy(s, t, c, teacher_temp=0.06).item()
    for _ in range(30):
        opt.zero_grad()
        kd_cross_entropy(s, t, c, teacher_temp=0.06).backward()
        opt.step()
    assert kd_cross_entropy(s, t, c, teacher_temp=0.06).item() < first
    assert kl_teacher_student(s, t, c, teacher_temp=0.06).item() < 0.5 * kl_teacher_student(
        torch.zeros(4, 6), t, c, teacher_temp=0.06
    ).item()
    assert torch.equal(s.argmax(-1), t.argmax(-1))


def test_update_center_and_entropies() -> None:
    center, t = torch.randn(1, 5), torch.randn(8, 5)
    torch.testing.assert_close(update_center(center, t, 0.9), 0.9 * center + 0.1 * t.mean(0, keepdim=True))
    per, marg = teacher_entropy(torch.zeros(3, 16), torch.zeros(1, 16), 0.04)
    assert per.item() == pytest.approx(math.log(16)) and marg.item() == pytest.approx(math.log(16))
    onehot = torch.eye(4) * 10.0
    per, marg = teacher_entropy(onehot, torch.zeros(1, 4), 0.04)
    assert per.item() < 1e-6 and marg.item() == pytest.approx(math.log(4), rel=1e-5)


def test_schedules() -> None:
    assert teacher_temperature(0, 100) == pytest.approx(0.04)
    assert teacher_temperature(50, 100) == pytest.approx(0.05)
    assert teacher_temperature(100, 100) == pytest.approx(0.06)
    assert teacher_temperature(25, 100) == pytest.approx(0.06 - 0.02 * (math.cos(math.pi / 4) + 1) / 2)
    assert teacher_temperature(30, 100, warmup=20) == pytest.approx(0.06)
    assert teacher_temperature(7, 100, 0.1, 0.1) == pytest.approx(0.1)
    values = [ema_momentum(s, 50) for s in range(51)]
    assert values[0] == pytest.approx(0.997) and values[-1] == pytest.approx(1.0)
    assert all(b >= a for a, b in itertools.pairwise(values))
