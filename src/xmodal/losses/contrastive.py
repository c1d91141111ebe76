"""InfoNCE over instance embeddings (MAViL, MAViL §3.2, Eq. 2–3), optionally gathered across processes.

Eq. 2: ``L_c(x, y) = −(1/B) Σ_i log( exp(S(x_i, y_i)/τ) / Σ_j exp(S(x_i, y_j)/τ) )`` with ``S`` the cosine
similarity: each ``x_i`` picks its own ``y_i`` among all ``y`` of the batch. The paper writes this direction only
(audio → video for the inter-modal term); ``symmetric=True`` averages it with the ``y → x`` direction (CLIP,
CAV-MAE), a documented switch (docs/methods/mavil.md).

Under DDP (``gather="auto"`` and world size > 1) ``x`` and ``y`` are gathered with gradient
(:func:`xmodal.distributed.gather_cat`): every rank computes the global-batch loss with all ranks' negatives, and
the gradient scaling of ``_GatherWithGrad`` makes DDP's average the single-process gradient. Rows must be paired
across ranks (both tensors hold the same per-rank row counts).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from xmodal.distributed import Gather, gather_cat


def cosine_logits(x: torch.Tensor, y: torch.Tensor, tau: float) -> torch.Tensor:
    """``(B, H)``, ``(B', H)`` → ``(B, B')`` cosine similarities divided by ``τ``, in fp32."""
    return F.normalize(x.float(), dim=-1) @ F.normalize(y.float(), dim=-1).T / tau


def info_nce(x: torch.Tensor, y: torch.Tensor, tau: float, symmetric: bool = False,
             gather: Gather = "auto") -> torch.Tensor:
    """Eq. 2: ``L_c(x, y)`` for paired rows ``x (B, H)``, ``y (B, H)``; ``symmetric`` adds ``L_c(y, x)`` and halves.

    Eq. 3 builds both MAViL terms from it: ``L_inter = L_c(a_emb, v_emb)`` (τ = 0.1) and
    ``L_intra = ½[L_c(a_emb, ä_emb) + L_c(v_emb, v̈_emb)]`` (τ = 1.0).
    """
    if x.shape != y.shape or x.dim() != 2:
        raise ValueError(f"info_nce expects paired (B, H) embeddings, got {tuple(x.shape)} and {tuple(y.shape)}")
    if tau <= 0:
        raise ValueError(f"temperature must be positive, got {tau}")
    x, y = gather_cat(x, gather), gather_cat(y, gather)
    logits = cosine_logits(x, y, tau)
    target = torch.arange(logits.shape[0], device=logits.device)
    loss = F.cross_entropy(logits, target)
    if symmetric:
        loss = 0.5 * (loss + F.cross_entropy(logits.T, target))
    return loss
