"""Cross-modal knowledge distillation (XKD Eq. 10–11, 13; Table S4, S8; §B.5), DINO-style.

The teacher's logits are centred by an EMA of batch means and sharpened with a low temperature, the student's
softened with ``τ_s = 0.1``; the loss is the cross-entropy ``H(P_t, P_s) = −Σ P_t log P_s`` (Eq. 11; the video
student learns from the audio teacher and vice versa — the caller pairs them). All in fp32.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from xmodal.distributed import Gather, all_reduce_sum


def _check(student_logits: torch.Tensor, teacher_logits: torch.Tensor) -> None:
    if student_logits.shape != teacher_logits.shape or student_logits.ndim != 2:
        raise ValueError(
            f"expected equal (B, K) logits, got {tuple(student_logits.shape)} and {tuple(teacher_logits.shape)}"
        )


def teacher_probs(teacher_logits: torch.Tensor, center: torch.Tensor, teacher_temp: float) -> torch.Tensor:
    """Eq. 10 on centred teacher logits: ``softmax((t − c)/τ_t)``, ``(B, K)``, no gradient."""
    return F.softmax((teacher_logits.detach().float() - center.detach().float()) / teacher_temp, dim=-1)


def kd_cross_entropy(
    student_logits: torch.Tensor,
    teacher_logits: torch.Tensor,
    center: torch.Tensor,
    *,
    student_temp: float = 0.1,
    teacher_temp: float,
) -> torch.Tensor:
    """One term of Eq. 11: ``mean_b −Σ_k P_t[b,k] log P_s[b,k]``; logits ``(B, K)``, center ``(1, K)`` or ``(K,)``.

    The teacher side is stop-gradient (the teacher is an EMA, Eq. 13); the student side is
    ``log_softmax(s/τ_s)``.
    """
    _check(student_logits, teacher_logits)
    p_t = teacher_probs(teacher_logits, center, teacher_temp)
    log_p_s = F.log_softmax(student_logits.float() / student_temp, dim=-1)
    return -(p_t * log_p_s).sum(-1).mean()


@torch.no_grad()
def update_center(
    center: torch.Tensor, teacher_logits: torch.Tensor, momentum: float = 0.9, gather: Gather = "auto"
) -> torch.Tensor:
    """New center ``m·c + (1 − m)·mean_b t_b`` (DINO centering; Table S4 momentum 0.9), ``(1, K)``.

    The batch mean is over the *global* batch: per-process sums and counts are all-reduced, so it equals the
    single-process mean of the concatenated batches even when processes hold different batch sizes.
    """
    logits = teacher_logits.detach().float()
    total = all_reduce_sum(logits.sum(0, keepdim=True), gather)
    count = all_reduce_sum(torch.tensor(float(logits.shape[0]), device=logits.device), gather)
    batch_mean = total / count
    return (center.float() * momentum + batch_mean * (1.0 - momentum)).to(center.dtype)


def _cosine(step: int, total: int, start: float, end: float) -> float:
    progress = min(1.0, max(0.0, step / max(1, total)))
    return end - (end - start) * (math.cos(math.pi * progress) + 1.0) / 2.0


def teacher_temperature(
    step: int, total: int, start: float = 0.04, end: float = 0.06, warmup: int | None = None
) -> float:
    """Teacher τ_t rising from ``start`` to ``end`` along a half cosine (Table S8: "[0.04, 0.06] … Cosine").

    The rise spans ``warmup`` steps (default: all ``total`` steps) and stays at ``end`` afterwards. A fixed
    temperature (e.g. the released config's 0.1 video / 0.07 audio, Table S4) is ``start == end``.
    """
    return _cosine(step, total if warmup is None else warmup, start, end)


def ema_momentum(step: int, total: int, base: float = 0.997, final: float = 1.0) -> float:
    """EMA coefficient λ of Eq. 13 along a half cosine from ``base`` to ``final`` (Table S4, §B.2)."""
    return _cosine(step, total, base, final)


@torch.no_grad()
def teacher_entropy(
    teacher_logits: torch.Tensor, center: torch.Tensor, teacher_temp: float
) -> tuple[torch.Tensor, torch.Tensor]:
    """Collapse diagnostics (§B.5): mean per-sample entropy of P_t and entropy of the batch-marginal P_t (nats).

    Per-sample entropy → 0 with marginal → 0: one prototype wins for every input (collapse to a constant);
    per-sample entropy → ``ln K``: uniform targets (collapse to uniform, the failure centering alone invites).
    """
    p = teacher_probs(teacher_logits, center, teacher_temp)
    per_sample = -(p * p.clamp_min(1e-30).log()).sum(-1).mean()
    marginal = p.mean(0)
    return per_sample, -(marginal * marginal.clamp_min(1e-30).log()).sum()


@torch.no_grad()
def kl_teacher_student(
    student_logits: torch.Tensor,
    teacher_logits: torch.Tensor,
    center: torch.Tensor,
    *,
    student_temp: float = 0.1,
    teacher_temp: float,
) -> torch.Tensor:
    """``mean_b KL(P_t ‖ P_s)`` (§B.5's L_kld, tracked not optimised): cross-entropy minus teacher entropy."""
    _check(student_logits, teacher_logits)
    p_t = teacher_probs(teacher_logits, center, teacher_temp)
    log_p_s = F.log_softmax(student_logits.float() / student_temp, dim=-1)
    return (p_t * (p_t.clamp_min(1e-30).log() - log_p_s)).sum(-1).mean()
