"""Logit- and feature-based KD baselines that C²KD is compared with (C²KD Tables 1–3, App. B/C.3).

Each loss follows its paper and the defaults of its official code; the teacher side is always detached.

* DKD — Zhao et al., "Decoupled Knowledge Distillation", CVPR 2022 (arXiv 2203.08679), Eq. 7: α·TCKD + β·NCKD;
  defaults α = 1, β = 8, T = 4 (the CIFAR-100 setting of the official ``mdistiller``).
* DIST — Huang et al., "Knowledge Distillation from A Stronger Teacher", NeurIPS 2022 (arXiv 2205.10536), Eq. 8:
  β·(1 − mean Pearson over samples) + γ·(1 − mean Pearson over classes), times τ²; defaults β = γ = τ = 1.
* NKD — Yang et al., "From Knowledge Distillation to Self-Knowledge Distillation: A Unified Approach with
  Normalized Loss and Customized Soft Labels", ICCV 2023 (arXiv 2303.13005), Eq. 8: −T_t·log S_t
  − γ·T²·Σ_{i≠t} T̂_i log Ŝ_i (hats: renormalised over non-target classes); defaults T = 1, γ = 1.5.
* FitNets hints (Romero et al., ICLR 2015) across modalities: the student map is resized bilinearly to the
  teacher's spatial size (C²KD App. C.3) before the regressor and the MSE.
* Review-style hierarchical context loss (Chen et al., "Distilling Knowledge via Knowledge Review", CVPR 2021,
  arXiv 2104.09044): MSE at full resolution plus pooled 4×4, 2×2, 1×1 levels, weights halving per level.
* SHAKE — Li & Jin, "Shadow Knowledge Distillation: Bridging Offline and Online Knowledge Transfer", NeurIPS 2022:
  a shadow head on the frozen teacher learns from the labels and the teacher's logits and distils with the
  student in both directions (terms of the official ``helper/loops.py``, ``--distill shake``).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

SHAKE_LOGIT_SCALE = 3.1415  # the official code's layer-normalised logits are scaled by this (π to 4 digits)


def _gt_mask(logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    return F.one_hot(target.long(), logits.shape[-1]).bool()


def dkd_loss(student_logits: torch.Tensor, teacher_logits: torch.Tensor, target: torch.Tensor,
             alpha: float = 1.0, beta: float = 8.0, temperature: float = 4.0) -> torch.Tensor:
    """DKD: α·KL(b_t ‖ b_s)·T² + β·KL(p̂_t ‖ p̂_s)·T², batch mean. b = (p_target, 1 − p_target) binary
    probabilities; p̂ the distribution over non-target classes (target logit masked out)."""
    t = temperature
    gt = _gt_mask(student_logits, target)
    ps, pt = F.softmax(student_logits / t, -1), F.softmax(teacher_logits.detach() / t, -1)
    bs = torch.stack([(ps * gt).sum(-1), (ps * ~gt).sum(-1)], -1)
    bt = torch.stack([(pt * gt).sum(-1), (pt * ~gt).sum(-1)], -1)
    tckd = (bt * (bt.clamp_min(1e-12).log() - bs.clamp_min(1e-12).log())).sum(-1).mean() * t * t
    log_ps_nt = F.log_softmax(student_logits.masked_fill(gt, float("-inf")) / t, -1)
    log_pt_nt = F.log_softmax(teacher_logits.detach().masked_fill(gt, float("-inf")) / t, -1)
    nckd = (log_pt_nt.exp() * (log_pt_nt - log_ps_nt)).masked_fill(gt, 0.0).sum(-1).mean() * t * t
    return alpha * tckd + beta * nckd


def _pearson_rows(a: torch.Tensor, b: torch.Tensor, eps: float = 1e-8) -> torch.Tensor:
    a, b = a - a.mean(1, keepdim=True), b - b.mean(1, keepdim=True)
    return (a * b).sum(1) / (a.norm(dim=1) * b.norm(dim=1) + eps)


def dist_loss(student_logits: torch.Tensor, teacher_logits: torch.Tensor, beta: float = 1.0, gamma: float = 1.0,
              tau: float = 1.0) -> torch.Tensor:
    """DIST: inter-class relation (Pearson between a sample's class probabilities) and intra-class relation
    (Pearson between a class's probabilities across the batch), each as 1 − mean correlation, times τ²."""
    ys, yt = F.softmax(student_logits / tau, -1), F.softmax(teacher_logits.detach() / tau, -1)
    inter = 1.0 - _pearson_rows(ys, yt).mean()
    intra = 1.0 - _pearson_rows(ys.t(), yt.t()).mean()
    return tau * tau * (beta * inter + gamma * intra)


def nkd_loss(student_logits: torch.Tensor, teacher_logits: torch.Tensor, target: torch.Tensor,
             temperature: float = 1.0, gamma: float = 1.5) -> torch.Tensor:
    """NKD: target term −T_t·log S_t (teacher's target probability as the weight) plus the normalised
    non-target cross entropy −γ·T²·Σ T̂ log Ŝ, both batch means. It replaces vanilla KD, not CE."""
    gt = _gt_mask(student_logits, target)
    log_s = F.log_softmax(student_logits, -1)
    t_prob = F.softmax(teacher_logits.detach(), -1)
    loss_t = -(t_prob[gt] * log_s[gt]).mean()
    k = student_logits.shape[-1]
    zs = student_logits[~gt].reshape(-1, k - 1) / temperature
    zt = teacher_logits.detach()[~gt].reshape(-1, k - 1) / temperature
    loss_non = -(F.softmax(zt, -1) * F.log_softmax(zs, -1)).sum(-1).mean()
    return loss_t + gamma * temperature**2 * loss_non


def resize_like(feat: torch.Tensor, reference: torch.Tensor) -> torch.Tensor:
    """Bilinear resize of a (B, C, H, W) map to ``reference``'s spatial size (C²KD App. C.3: audio spectrogram
    and video frame maps differ in size); 1-d maps are resized linearly, (B, C) vectors returned as they are."""
    if feat.ndim == 2 or feat.shape[2:] == reference.shape[2:]:
        return feat
    mode = {3: "linear", 4: "bilinear", 5: "trilinear"}[feat.ndim]
    return F.interpolate(feat, size=reference.shape[2:], mode=mode, align_corners=True)


def hint_loss(student_feat: torch.Tensor, teacher_feat: torch.Tensor) -> torch.Tensor:
    """FitNets hint: MSE between the (regressed, resized) student map and the detached teacher map."""
    if student_feat.shape != teacher_feat.shape:
        raise ValueError(f"hint shapes differ: {tuple(student_feat.shape)} vs {tuple(teacher_feat.shape)}; "
                         "resize with resize_like and match channels with a regressor first")
    return F.mse_loss(student_feat, teacher_feat.detach())


def hcl_loss(student_feats: list[torch.Tensor], teacher_feats: list[torch.Tensor],
             levels: tuple[int, ...] = (4, 2, 1)) -> torch.Tensor:
    """Review-KD's hierarchical context loss summed over layer pairs: for each (B, C, H, W) pair, MSE at full
    size (weight 1) plus MSE of adaptive-average-pooled l×l maps for each level l < H (weights ½, ¼, …), divided
    by the sum of the weights used."""
    total = student_feats[0].new_zeros(())
    for fs, ft in zip(student_feats, teacher_feats, strict=True):
        ft = ft.detach()
        loss, weight, weights = F.mse_loss(fs, ft), 1.0, 1.0
        for level in levels:
            if level >= fs.shape[2]:
                continue
            weight /= 2.0
            loss = loss + weight * F.mse_loss(F.adaptive_avg_pool2d(fs, level), F.adaptive_avg_pool2d(ft, level))
            weights += weight
        total = total + loss / weights
    return total


def layer_norm_logits(logits: torch.Tensor, scale: float = SHAKE_LOGIT_SCALE) -> torch.Tensor:
    """Standardise each sample's logits over the classes (no affine, eps 1e-7) and scale them: SHAKE's official
    loop does this to the student's, the teacher's and the shadow head's logits before every loss. The argmax is
    unchanged, so accuracy is read from the raw logits."""
    return F.layer_norm(logits, logits.shape[-1:], None, None, 1e-7) * scale


def _kl_t2(student_logits: torch.Tensor, target_logits: torch.Tensor, temperature: float) -> torch.Tensor:
    """KL(softmax(target/T) ‖ softmax(student/T))·T², summed over classes, mean over the batch (``DistillKL``)."""
    log_p = F.log_softmax(student_logits / temperature, -1)
    q = F.softmax(target_logits.detach() / temperature, -1)
    return F.kl_div(log_p, q, reduction="batchmean") * temperature**2


def shake_loss(student_logits: torch.Tensor, teacher_logits: torch.Tensor, shadow_logits: torch.Tensor,
               target: torch.Tensor, temperature: float = 4.0) -> torch.Tensor:
    """SHAKE's distillation term: KL(S‖H)·T² into the shadow head H (student detached: reversed distillation),
    KL(H‖S)·T² into the student (head detached), CE(H, y), and MSE(H, teacher) (teacher detached). Logits are
    taken as given; apply :func:`layer_norm_logits` first for the official normalisation."""
    return (_kl_t2(shadow_logits, student_logits, temperature) + _kl_t2(student_logits, shadow_logits, temperature)
            + F.cross_entropy(shadow_logits, target) + F.mse_loss(shadow_logits, teacher_logits.detach()))
