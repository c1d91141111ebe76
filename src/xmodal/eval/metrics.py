"""Classification and retrieval metrics, written once and tested against reference computations.

* top-k accuracy (XKD §A.5/§A.6 report top-1 and top-5),
* macro mean average precision for multi-label sets (FSD50K, AudioSet; XKD §A.5, MAViL §4), equal to
  ``sklearn.metrics.average_precision_score(average="macro")``: AP = Σ_n (R_n − R_{n−1}) P_n over the distinct
  score thresholds (no interpolation),
* Recall@K for cross-modal retrieval in both directions (MAViL §4, audio→video retrieval), ties with the true
  item broken uniformly at random in expectation (a constant embedding scores chance).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

import numpy as np
import torch


def topk_accuracy(scores: np.ndarray, labels: np.ndarray, ks: Sequence[int] = (1, 5)) -> dict[str, float]:
    """Fraction of rows whose true class is among the ``k`` highest scores; ``scores`` (N, C), ``labels`` (N,)."""
    scores = np.asarray(scores)
    labels = np.asarray(labels).astype(np.int64)
    order = np.argsort(-scores, axis=1, kind="stable")
    out: dict[str, float] = {}
    for k in ks:
        kk = min(k, scores.shape[1])
        out[f"top{k}"] = float((order[:, :kk] == labels[:, None]).any(axis=1).mean())
    return out


def average_precision(scores: np.ndarray, targets: np.ndarray) -> float:
    """Non-interpolated AP of one class, ties handled as one threshold (sklearn's definition).

    A class without positives scores 0 (sklearn's convention, with its warning omitted).
    """
    scores = np.asarray(scores, dtype=np.float64)
    targets = np.asarray(targets) > 0
    order = np.argsort(-scores, kind="mergesort")
    s, y = scores[order], targets[order].astype(np.float64)
    last = np.r_[np.flatnonzero(np.diff(s)), s.size - 1]
    tps = np.cumsum(y)[last]
    if tps[-1] == 0:
        return 0.0
    precision = tps / (last + 1)
    recall = tps / tps[-1]
    return float(np.sum(np.diff(np.r_[0.0, recall]) * precision))


def mean_average_precision(scores: np.ndarray, targets: np.ndarray, skip_empty: bool = False) -> float:
    """Macro mAP over classes; ``scores`` and multi-hot ``targets`` are (N, C).

    ``skip_empty=False`` equals sklearn's macro average (a class with no positive scores 0); ``True`` drops such
    classes, the usual convention when a small evaluation subset misses rare AudioSet/FSD50K classes.
    """
    scores, targets = np.asarray(scores), np.asarray(targets)
    aps = [
        average_precision(scores[:, c], targets[:, c])
        for c in range(targets.shape[1])
        if not (skip_empty and targets[:, c].sum() == 0)
    ]
    return float(np.mean(aps)) if aps else float("nan")


Ties = Literal["expected", "against", "favour"]


def recall_at_k(
    queries: torch.Tensor, gallery: torch.Tensor, ks: Sequence[int] = (1, 5, 10), chunk: int = 4096,
    ties: Ties = "expected",
) -> dict[str, float]:
    """Recall@K where query ``i`` matches gallery item ``i`` (paired clips), by cosine similarity.

    With ``h`` gallery items scored strictly higher than the true one and ``t`` others tied with it, ``ties``
    decides: ``"expected"`` (default) is the recall averaged over uniformly random tie-breaking,
    ``P(rank < k) = clip((k − h) / (t + 1), 0, 1)`` — exact, so no seed; ``"against"`` counts every tie ahead of
    the true item; ``"favour"`` behind it (rank = h, the rule before: a constant embedding, where everything
    ties, scored R@1 = 1.0). Under ``"expected"`` a constant embedding scores chance, k / N. Chunking keeps
    memory at ``chunk × N`` for 100k-item galleries.
    """
    q = torch.nn.functional.normalize(queries.float(), dim=1)
    g = torch.nn.functional.normalize(gallery.float(), dim=1)
    higher = torch.empty(q.shape[0], dtype=torch.float64)
    tied = torch.empty(q.shape[0], dtype=torch.float64)
    for start in range(0, q.shape[0], chunk):
        sims = q[start : start + chunk] @ g.T
        idx = torch.arange(start, start + sims.shape[0])
        own = sims[torch.arange(sims.shape[0]), idx].unsqueeze(1)
        higher[start : start + sims.shape[0]] = (sims > own).sum(dim=1).cpu().double()
        tied[start : start + sims.shape[0]] = (sims == own).sum(dim=1).cpu().double() - 1
    out = {}
    for k in ks:
        if ties == "expected":
            hit = ((k - higher) / (tied + 1)).clamp(0.0, 1.0)
        else:
            hit = ((higher + (tied if ties == "against" else 0.0)) < k).double()
        out[f"R@{k}"] = float(hit.mean())
    return out
