"""Shared pieces of every frozen-feature protocol: the score of a prediction, CV folds, mean ± std.

The main score is top-1 accuracy for single-label sets and macro mAP for multi-label sets (XKD §A.5:
top-1 for UCF101/HMDB51/ESC-50/Kinetics, mAP for FSD50K); it is what hyperparameter selection maximizes.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from xmodal.eval.metrics import mean_average_precision, topk_accuracy


def score_predictions(
    scores: np.ndarray, labels: np.ndarray, skip_empty: bool = False
) -> tuple[dict[str, float], float]:
    """All metrics for (N, C) ``scores`` and the main one (top-1 or mAP).

    ``skip_empty`` (multi-label only) drops classes without a positive from the mAP, as XKD's code does; the
    default scores them 0, as sklearn and AudioMAE do (see :func:`~xmodal.eval.metrics.mean_average_precision`).
    """
    if labels.ndim == 2:
        m = mean_average_precision(scores, labels, skip_empty=skip_empty)
        return {"mAP": m}, m
    metrics = topk_accuracy(scores, labels, ks=(1, 5))
    return metrics, metrics["top1"]


def fold_scheme(labels: np.ndarray, k: int, groups: np.ndarray | None = None, videos: np.ndarray | None = None) -> str:
    """The cross-validation :func:`fold_indices` uses for these rows, named for protocol cards: leave-one-fold-out
    (predefined ``groups``), (stratified) group k-fold (``videos`` repeat: clip rows), or (stratified) k-fold.
    Stratification needs single labels and at least ``k`` rows (videos) per class."""
    if groups is not None and len(np.unique(groups)) > 1:
        return "leave-one-fold-out"
    if videos is not None and len(np.unique(videos)) < len(videos):
        per_video = labels[np.unique(videos, return_index=True)[1]]
        stratified = labels.ndim == 1 and np.unique(per_video, return_counts=True)[1].min() >= k
        return "stratified group k-fold" if stratified else "group k-fold"
    stratified = labels.ndim == 1 and np.unique(labels, return_counts=True)[1].min() >= k
    return "stratified k-fold" if stratified else "k-fold"


def fold_indices(
    labels: np.ndarray, k: int, seed: int, groups: np.ndarray | None = None, videos: np.ndarray | None = None
) -> list[tuple[np.ndarray, np.ndarray]]:
    """(train, val) index pairs of the :func:`fold_scheme` for these rows.

    ``videos`` (row ids) keeps every clip row of a video in one fold when ids repeat (the per-clip SVM protocol):
    otherwise clips of one video would sit on both sides of a fold and the CV score would reward memorization.
    """
    from sklearn.model_selection import GroupKFold, KFold, LeaveOneGroupOut, StratifiedGroupKFold, StratifiedKFold

    idx = np.arange(len(labels))
    scheme = fold_scheme(labels, k, groups, videos)
    if scheme == "leave-one-fold-out":
        return list(LeaveOneGroupOut().split(idx, groups=groups))
    if scheme == "stratified group k-fold":
        return list(StratifiedGroupKFold(k, shuffle=True, random_state=seed).split(idx, labels, groups=videos))
    if scheme == "group k-fold":
        return list(GroupKFold(k).split(idx, groups=videos))
    if scheme == "stratified k-fold":
        return list(StratifiedKFold(k, shuffle=True, random_state=seed).split(idx, labels))
    return list(KFold(k, shuffle=True, random_state=seed).split(idx))


def mean_std(values: Sequence[float]) -> tuple[float, float]:
    """Mean and population std (ddof=0) over splits / folds / seeds; std is 0 for a single value."""
    arr = np.asarray(values, dtype=np.float64)
    return float(arr.mean()), float(arr.std())
