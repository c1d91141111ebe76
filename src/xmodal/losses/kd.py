"""Supervised knowledge-distillation losses (MFH Eq. 1; Hinton et al. 2015) and feature-level KD.

The MFH objective for a student seeing modality b is ``L = ρ·L_task + (1−ρ)·L_kd`` (MFH Eq. 1), with
``L_task`` the cross entropy to the label and ``L_kd`` the KL divergence between teacher and student soft
predictions. Two details differ between papers and official code, so both are switches here:

* **reduction** — ``"batchmean"`` is the mathematically correct KL per sample (sum over classes, mean over the
  batch); ``"mean"`` is PyTorch's element-wise mean, what the official MFH code uses
  (``torch.nn.KLDivLoss()`` with its default ``reduction="mean"``), i.e. ``batchmean / K`` for K classes.
* **T² scaling** — Hinton et al. multiply the softened KL by T² so its gradient magnitude does not shrink with
  the temperature; the MFH code uses T = 1 where the factor is 1 either way.
"""

from __future__ import annotations

from typing import Literal

import torch
import torch.nn.functional as F

KLReduction = Literal["batchmean", "mean", "sum", "none"]


def kd_kl_loss(
    student_logits: torch.Tensor,
    teacher_logits: torch.Tensor,
    temperature: float = 1.0,
    reduction: KLReduction = "batchmean",
    t2_scaling: bool = True,
) -> torch.Tensor:
    """KL(p_t^T ‖ p_s^T) between temperature-softened teacher and student class distributions.

    ``teacher_logits`` is detached: the teacher gives targets; a trainable teacher is trained by its own loss
    terms (C²KD-style on-the-fly distillation), not by being pulled towards the student through this term.
    ``reduction="none"`` returns the per-sample KL (summed over classes), for per-sample selection.
    """
    if temperature <= 0:
        raise ValueError("temperature must be positive")
    t = temperature
    log_ps = F.log_softmax(student_logits / t, dim=-1)
    log_pt = F.log_softmax(teacher_logits.detach() / t, dim=-1)
    elementwise = log_pt.exp() * (log_pt - log_ps)
    if reduction == "none":
        loss = elementwise.sum(dim=-1)
    elif reduction == "batchmean":
        loss = elementwise.sum() / student_logits.shape[0]
    elif reduction == "mean":
        loss = elementwise.mean()
    elif reduction == "sum":
        loss = elementwise.sum()
    else:
        raise ValueError(f"unknown reduction {reduction!r}")
    return loss * (t * t) if t2_scaling else loss


def supervised_kd_loss(
    student_logits: torch.Tensor,
    teacher_logits: torch.Tensor,
    target: torch.Tensor,
    rho: float = 0.5,
    temperature: float = 1.0,
    reduction: KLReduction = "batchmean",
    t2_scaling: bool = True,
) -> dict[str, torch.Tensor]:
    """MFH Eq. 1: returns ``{"ce", "kd", "total"}`` with ``total = ρ·ce + (1−ρ)·kd``.

    ``rho = 1`` is the no-KD baseline, ``rho = 0`` pure distillation (MFH Tables 4, 8 use ρ = 0).
    The official Gaussian code weights ``[1, 1]`` with element-wise ``"mean"`` KL over 2 classes, which equals
    ``ce + ½·kd_batchmean``; see ``docs/methods/mfh.md``.
    """
    if not 0.0 <= rho <= 1.0:
        raise ValueError("rho must lie in [0, 1]")
    ce = F.cross_entropy(student_logits, target)
    kd = kd_kl_loss(student_logits, teacher_logits, temperature, reduction, t2_scaling)
    return {"ce": ce, "kd": kd, "total": rho * ce + (1.0 - rho) * kd}


def feature_kd_loss(
    student_feat: torch.Tensor,
    teacher_feat: torch.Tensor,
    kind: Literal["mse", "cosine"] = "mse",
) -> torch.Tensor:
    """Feature-level KD on tapped intermediate features (FitNets-style hint loss).

    ``"mse"`` is the mean squared error over all elements; ``"cosine"`` is ``1 − cos`` between per-sample
    flattened features, averaged over the batch (scale-invariant, useful across modalities whose feature
    norms differ). Shapes must match; project the student first when they do not.
    """
    if student_feat.shape != teacher_feat.shape:
        raise ValueError(f"feature shapes differ: {tuple(student_feat.shape)} vs {tuple(teacher_feat.shape)}")
    target = teacher_feat.detach()
    if kind == "mse":
        return F.mse_loss(student_feat, target)
    if kind == "cosine":
        s = student_feat.flatten(1)
        return (1.0 - F.cosine_similarity(s, target.flatten(1), dim=1)).mean()
    raise ValueError(f"unknown feature KD kind {kind!r}")
