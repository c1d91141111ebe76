"""Domain alignment (XKD §3.4): cross-modal attention (Eq. 4, S3), ``refine`` (Eq. 5–6) and L_da (Eq. 9, S1, S2).

Inputs are the teachers' last-block attentions ``A_v (B, H, N_v)`` and ``A_a (B, H, N_a)`` of Eq. 3, from
``VisionTransformer(..., return_attention=True)`` (``attention_query="mean"`` gives Table S14's "w/o CLS"
variant: the mean patch query instead of the CLS query).

What Eq. 4 computes in 'mean' mode. ``MeanPool_j(A_v[h, i] · A_a[h, j]) = A_v[h, i] · mean_j A_a[h, j]``, and
``scale_v = mean_i A_v[h, i]``, so ``A_v^×[h] = A_v[h] · (mean A_a[h] / mean A_v[h])``: each teacher's *own*
attention, rescaled by one factor per head; the other modality enters only through its per-head attention
mass. If the rows of A summed to one (softmax over the patches only) that factor would be ``N_v/N_a`` for every
head, and refine would re-weight tokens by the plain head-mean of the teacher's own attention (a global scale
of the weights changes only the magnitude of refine's output, never the relative token weights). With the
CLS-column-dropped rows of :func:`xmodal.models.vit.last_query_attention` (the DINO convention) the rows sum
to ``1 − a_cls`` and the factor differs per head. We compute the reduced form
(no ``N_v × N_a`` tensor); the tests check it against the literal outer product.
Eq. S3 replaces the rescaling by a softmax over the tokens. Its inputs are of order ``1/(N_v·N_a)``, so the
softmax is almost uniform and refine hardly re-weights the tokens — consistent with S3 losing on video (Table S14).
"""

from __future__ import annotations

from typing import Literal

import torch

from xmodal.distributed import Gather
from xmodal.losses.mmd import DEFAULT_BANDWIDTHS, Bandwidths, Estimator, Kernel, mmd_loss

CrossMode = Literal["mean", "softmax"]
OmegaMode = Literal["paper", "sqrt", "official"]
DAMode = Literal["da", "da1", "da2", "student", "teacher"]


def cross_modal_attention(
    att_v: torch.Tensor, att_a: torch.Tensor, *, mode: CrossMode = "mean"
) -> tuple[torch.Tensor, torch.Tensor]:
    """Eq. 4 (``mode="mean"``) or Eq. S3 (``mode="softmax"``): ``(B, H, N_v)``, ``(B, H, N_a)`` → ``A_v^×, A_a^×``
    of the same shapes (fp32)."""
    if att_v.ndim != 3 or att_a.ndim != 3 or att_v.shape[:2] != att_a.shape[:2]:
        shapes = f"{tuple(att_v.shape)}, {tuple(att_a.shape)}"
        raise ValueError(f"expected (B, H, N) attentions with equal B, H; got {shapes}")
    av, aa = att_v.float(), att_a.float()
    mean_v, mean_a = av.mean(-1, keepdim=True), aa.mean(-1, keepdim=True)
    pooled_v, pooled_a = av * mean_a, aa * mean_v  # MeanPool over the last dim of A_v·A_aᵀ and A_a·A_vᵀ
    if mode == "mean":
        return pooled_v / mean_v.clamp_min(1e-12), pooled_a / mean_a.clamp_min(1e-12)
    if mode == "softmax":
        return pooled_v.softmax(-1), pooled_a.softmax(-1)
    raise ValueError(f"mode must be 'mean' or 'softmax', got {mode!r}")


def refine_weights(cross_attention: torch.Tensor) -> torch.Tensor:
    """Per-token weights of Eq. 5, ``(1/H) Σ_h A_h^×``: ``(B, H, N)`` → ``(B, N)`` (what Fig. 3 visualises)."""
    return cross_attention.float().mean(1)


def refine(
    tokens: torch.Tensor, cross_attention: torch.Tensor, *, omega: OmegaMode = "paper", eps: float = 1e-12
) -> torch.Tensor:
    """Eq. 5–6: ``θ_t(x) · (1/H) Σ_h A_h^× · Ω`` with ``Ω = ‖θ_t(x)‖² / ‖θ_t(x) · A^×‖²`` per sample.

    ``tokens``: ``(B, N, D)`` teacher patch tokens (CLS excluded); ``cross_attention``: ``(B, H, N)``. Returns the
    re-weighted tokens ``(B, N, D)`` in the input dtype (computed in fp32). The modes differ only in one scale per
    sample (the token-relative weights are always ``(1/H) Σ_h A_h^×``):

    - ``"paper"`` takes Eq. 6 literally: squared norms over all of a sample's tokens, no root. Weights scaled by
      ``c`` give an output scaled by ``1/c``, and the output's norm is ``‖θ‖²/‖θ·A‖``.
    - ``"sqrt"`` uses ``√Ω`` of the same norms, which preserves the energy exactly (``‖refine‖ = ‖θ‖``), as the
      text's "ratio of prior and posterior energy" suggests.
    - ``"official"`` is the released code's convention: the energies are those of the patch-mean vectors,
      ``Ω = ‖mean_n θ_n‖² / ‖mean_n w_n θ_n‖²``, and the tokens are scaled by ``√Ω``. The mean-pooled output (what
      the projector receives, since XKD mean-pools after refine as the official code does) then has exactly the
      norm of the plain patch mean, whatever the attention.
    """
    if tokens.shape[:2] != (cross_attention.shape[0], cross_attention.shape[2]):
        raise ValueError(f"tokens {tuple(tokens.shape)} do not match attention {tuple(cross_attention.shape)}")
    if omega not in ("paper", "sqrt", "official"):
        raise ValueError(f"omega must be 'paper', 'sqrt' or 'official', got {omega!r}")
    t = tokens.float()
    weighted = t * refine_weights(cross_attention).unsqueeze(-1)
    prior, posterior = (t.mean(1), weighted.mean(1)) if omega == "official" else (t, weighted)
    ratio = prior.pow(2).flatten(1).sum(1) / posterior.pow(2).flatten(1).sum(1).clamp_min(eps)
    factor = ratio if omega == "paper" else ratio.sqrt()
    return (weighted * factor.view(-1, 1, 1)).to(tokens.dtype)


def domain_alignment_loss(
    student_v: torch.Tensor,
    student_a: torch.Tensor,
    teacher_v: torch.Tensor,
    teacher_a: torch.Tensor,
    *,
    mode: DAMode = "da",
    kernel: Kernel = "gaussian",
    bandwidths: Bandwidths = DEFAULT_BANDWIDTHS,
    estimator: Estimator = "biased",
    gather: Gather = "auto",
) -> torch.Tensor:
    """L_da between projected features (Alg. 1 l. 13–16): students ``f_s (n, K)``, teachers ``f_t (m, K)``.

    ``f_s^v = Concat(θ_h^v(masked global), θ_s^v(local views))`` and likewise for audio; ``f_t = θ_h(refine(...))``
    of the teachers' full global views. Modes:

    - ``"da"`` (Eq. 9, default): ``MMD(f_s^v, f_s^a) + MMD(f_t^v, f_t^a)`` — video vs audio, students with
      students and teachers with teachers. Teachers run without gradient (Alg. 1 l. 8), so the teacher term
      has *no gradient*: only the student term trains; the teacher term is a diagnostic.
    - ``"da1"`` (Eq. S1): ``MMD(f_t^a, f_s^v) + MMD(f_t^v, f_s^a)`` — each student against the other
      modality's teacher.
    - ``"da2"`` (Eq. S2): ``"da" + "da1"``.
    - ``"student"`` / ``"teacher"``: one term of Eq. 9 alone (ablations).

    Every MMD is :func:`xmodal.losses.mmd.mmd_loss` (squared, fp32); ``gather="auto"`` gathers both samples
    across processes, ``False`` keeps each process's own batch (the official code's per-process MMD).
    """

    def mmd(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return mmd_loss(x, y, kernel=kernel, bandwidths=bandwidths, estimator=estimator, gather=gather)

    def eq9() -> torch.Tensor:
        return mmd(student_v, student_a) + mmd(teacher_v, teacher_a)

    def s1() -> torch.Tensor:
        return mmd(teacher_a, student_v) + mmd(teacher_v, student_a)

    if mode == "da":
        return eq9()
    if mode == "da1":
        return s1()
    if mode == "da2":
        return eq9() + s1()
    if mode == "student":
        return mmd(student_v, student_a)
    if mode == "teacher":
        return mmd(teacher_v, teacher_a)
    raise ValueError(f"mode must be one of da, da1, da2, student, teacher; got {mode!r}")
