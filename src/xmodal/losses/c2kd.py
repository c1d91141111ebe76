"""C²KD losses (Huo et al., "C2KD: Bridging the Modality Gap for Cross-Modal Knowledge Distillation", CVPR 2024).

The objective (paper Eq. 6, weights λ1 = λ2 = λ3 = 1 by App. D.1) has three kinds of terms, all pure functions here:

* **bidirectional proxy distillation** — each network and its proxy distil into each other,
  KL(p ‖ p̃) + KL(p̃ ‖ p), the target side detached in each direction (:func:`bidirectional_kl`);
* **on-the-fly selection** — per-sample Kendall τ-b between the teacher proxy's and the student proxy's logits
  (:func:`kendall_tau_b`, vectorised on the device where the official code loops over samples with
  ``scipy.stats.kendalltau`` on the CPU) and the mask τ > ω (:func:`selection_mask`, ω = 0 in the official code);
* **non-target-class distillation** between the proxies for the selected samples, in both directions
  (:func:`non_target_kl`).

The official code's choices are the defaults; the alternatives it leaves open are switches (docs/methods/c2kd.md).
"""

from __future__ import annotations

from typing import Literal

import torch
import torch.nn.functional as F

from xmodal.losses.kd import kd_kl_loss

TargetHandling = Literal["zero", "exclude"]
SelectedReduction = Literal["batch", "selected", "none"]


def kendall_tau_b(x: torch.Tensor, y: torch.Tensor, chunk: int = 64) -> torch.Tensor:
    """Per-row Kendall τ-b between ``x`` and ``y`` of shape (B, K) → (B,), with the tie correction.

    τ_b = (P − Q) / sqrt((n0 − n1)(n0 − n2)) over the n0 = K(K−1)/2 pairs of classes, P/Q the concordant /
    discordant pairs, n1/n2 the pairs tied in ``x`` / in ``y`` (``scipy.stats.kendalltau``'s default variant).
    A row that is constant in either input has no defined τ and gives NaN, as scipy does; NaN never passes
    :func:`selection_mask`. Computed from the (K, K) sign matrices, ``chunk`` rows at a time to bound memory
    (B·K² elements otherwise; 64 × 309² floats is 24 MB). No gradient: it only selects samples.
    """
    if x.shape != y.shape or x.ndim != 2:
        raise ValueError(f"kendall_tau_b needs two (B, K) tensors of one shape, got {tuple(x.shape)}, {tuple(y.shape)}")
    x, y = x.detach(), y.detach()
    out = []
    for xs, ys in zip(x.split(chunk), y.split(chunk), strict=True):
        dx = torch.sign(xs[:, :, None] - xs[:, None, :])
        dy = torch.sign(ys[:, :, None] - ys[:, None, :])
        s = (dx * dy).sum((1, 2)) / 2.0  # each unordered pair appears twice, the diagonal is 0
        untied_x = (dx != 0).sum((1, 2)).to(x.dtype) / 2.0  # n0 − n1
        untied_y = (dy != 0).sum((1, 2)).to(x.dtype) / 2.0  # n0 − n2
        denom = torch.sqrt(untied_x * untied_y)
        tau = torch.where(denom > 0, s / denom.clamp_min(1e-12), torch.full_like(s, float("nan")))
        out.append(tau)
    return torch.cat(out) if out else x.new_zeros(0)


def selection_mask(tau: torch.Tensor, threshold: float = 0.0) -> torch.Tensor:
    """Samples whose proxies rank the classes alike: τ > ω (strict, as ``torch.where(kendall > args.krc, 1, 0)``
    in the official code, ω = ``--krc`` = 0). NaN τ (a constant logit row) is never selected."""
    return tau > threshold


def _reduce_selected(per_sample: torch.Tensor, selected: torch.Tensor, reduction: SelectedReduction) -> torch.Tensor:
    weighted = per_sample * selected.to(per_sample.dtype)
    if reduction == "none":
        return weighted
    if reduction == "batch":
        return weighted.sum() / max(1, per_sample.shape[0])
    if reduction == "selected":
        return weighted.sum() / selected.sum().clamp_min(1).to(per_sample.dtype)
    raise ValueError(f"unknown reduction {reduction!r}")


def non_target_kl(
    student_logits: torch.Tensor,
    teacher_logits: torch.Tensor,
    target: torch.Tensor,
    selected: torch.Tensor,
    temperature: float = 1.0,
    target_handling: TargetHandling = "zero",
    reduction: SelectedReduction = "batch",
    t2_scaling: bool = True,
) -> torch.Tensor:
    """KL(p_t^nt ‖ p_s^nt) on non-target classes for the selected samples; ``teacher_logits`` is the detached target.

    ``target_handling``:

    * ``"zero"`` (official ``ntkl``): the target logit is multiplied by 0 and *stays in the softmax* at value 0,
      so the distributions still have K entries and the target column contributes to the KL;
    * ``"exclude"``: the target class is removed (logit −∞, DKD's NCKD), i.e. KL between the distributions
      renormalised over the K−1 non-target classes.

    ``reduction``: ``"batch"`` (official) sums the selected samples' KL and divides by the whole batch size B;
    ``"selected"`` divides by the number selected (0 when none is); ``"none"`` returns the masked (B,) vector.
    With T² scaling as in Hinton et al. (the official code uses T = 1, where it is 1).
    """
    if temperature <= 0:
        raise ValueError("temperature must be positive")
    gt = F.one_hot(target.long(), student_logits.shape[-1]).bool()
    t_logits = teacher_logits.detach()
    if target_handling == "zero":
        zs, zt = student_logits.masked_fill(gt, 0.0), t_logits.masked_fill(gt, 0.0)
    elif target_handling == "exclude":
        zs, zt = student_logits.masked_fill(gt, float("-inf")), t_logits.masked_fill(gt, float("-inf"))
    else:
        raise ValueError(f"unknown target_handling {target_handling!r}")
    log_ps = F.log_softmax(zs / temperature, dim=-1)
    log_pt = F.log_softmax(zt / temperature, dim=-1)
    elementwise = log_pt.exp() * (log_pt - log_ps)
    if target_handling == "exclude":
        elementwise = elementwise.masked_fill(gt, 0.0)  # 0·(−∞ − −∞) is NaN; the class is not in the support
    per_sample = elementwise.sum(-1) * (temperature**2 if t2_scaling else 1.0)
    return _reduce_selected(per_sample, selected, reduction)


def bidirectional_kl(net_logits: torch.Tensor, proxy_logits: torch.Tensor,
                     temperature: float = 1.0) -> tuple[torch.Tensor, torch.Tensor]:
    """(KL(p ‖ p̃) into the proxy, KL(p̃ ‖ p) into the network), each with its target detached, batchmean.

    Official: ``KLDivLoss(reduction="batchmean")(log_softmax(proxy), softmax(net.detach()))`` and the same with
    the roles swapped, at T = 1 — the proxy learns the network's prediction and the network its proxy's.
    """
    to_proxy = kd_kl_loss(proxy_logits, net_logits, temperature, "batchmean", t2_scaling=True)
    to_net = kd_kl_loss(net_logits, proxy_logits, temperature, "batchmean", t2_scaling=True)
    return to_proxy, to_net
