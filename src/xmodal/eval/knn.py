"""Weighted k-NN on frozen features (the DINO protocol, Caron et al. 2021, as used for online monitoring).

Cosine similarity to every training feature; the k nearest vote with weight exp(s / T), T = 0.07; the class
score is the sum of its voters' weights. k = 20 and k = 200 are reported. For multi-hot labels the same vote
gives per-class scores that are ranked for mAP. No hyperparameter is fitted, so nothing can leak from test.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch

from xmodal.eval.features import FeatureSet
from xmodal.eval.selection import score_predictions
from xmodal.training.knn import knn_scores

__all__ = ["knn_eval", "knn_scores"]


def knn_eval(
    data: FeatureSet, ks: Sequence[int] = (20, 200), temperature: float = 0.07, device: str = "cpu",
    skip_empty_classes: bool = False,
) -> dict[str, Any]:
    """Votes of the train (+val) videos for every test video; clip rows are averaged per video first."""
    start = time.perf_counter()
    data = data.mean_by_id()
    fit, test = data.by_split("train", "val"), data.by_split("test")
    c = data.num_classes
    y = fit.labels.astype(np.float32) if fit.multilabel else np.eye(c, dtype=np.float32)[fit.labels.astype(np.int64)]
    tx, ty = torch.from_numpy(fit.features).to(device), torch.from_numpy(y).to(device)
    qx = torch.from_numpy(test.features).to(device)
    per_k: dict[str, Any] = {}
    for k in ks:
        scores = knn_scores(tx, ty, qx, k, temperature).cpu().numpy()
        metrics, main = score_predictions(scores, test.labels, skip_empty=skip_empty_classes)
        per_k[str(k)] = {"value": main, "metrics": metrics, "predictions": scores}
    return {"per_k": per_k, "n_train": len(fit), "n_test": len(test), "runtime_s": time.perf_counter() - start}
