"""Weighted k-NN vote (DINO, Caron et al. 2021; Wu et al. 2018): the math shared by the offline protocol
(:mod:`xmodal.eval.knn`) and the online monitor of pretraining (:mod:`xmodal.training.monitor`).

It lives here, below ``methods/`` and ``eval/``, so both can use one implementation without ``methods`` importing
the evaluation layer.
"""

from __future__ import annotations

import torch


@torch.no_grad()
def knn_scores(
    train_x: torch.Tensor, train_y: torch.Tensor, query_x: torch.Tensor, k: int, temperature: float = 0.07,
    chunk: int = 1024,
) -> torch.Tensor:
    """(Q, C) vote scores: cosine similarity to every training feature, the ``k`` nearest vote with weight
    exp(s / T); ``train_y`` is (N, C) one-hot or multi-hot float."""
    tx = torch.nn.functional.normalize(train_x.float(), dim=1)
    qx = torch.nn.functional.normalize(query_x.float(), dim=1)
    k = min(k, tx.shape[0])
    out = torch.empty(qx.shape[0], train_y.shape[1], device=qx.device)
    for s in range(0, qx.shape[0], chunk):
        sims, idx = (qx[s : s + chunk] @ tx.T).topk(k, dim=1)
        w = (sims / temperature).exp()
        out[s : s + chunk] = torch.einsum("qk,qkc->qc", w, train_y[idx])
    return out
