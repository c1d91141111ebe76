"""Pictures of an evaluation: a 2-D PCA scatter of the features coloured by label, and a confusion matrix.

Rendered with matplotlib's Agg backend (no display needed on clusters). PCA is computed with an SVD of the
centred features, so the picture is deterministic and needs no fitted state.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def pca_2d(features: np.ndarray) -> np.ndarray:
    """Projection on the two leading principal components, (N, 2)."""
    x = features - features.mean(axis=0, keepdims=True)
    _, _, vt = np.linalg.svd(x, full_matrices=False)
    return x @ vt[:2].T


def confusion_matrix(y_true: np.ndarray, y_pred: np.ndarray, num_classes: int) -> np.ndarray:
    """Counts ``[true, predicted]``."""
    cm = np.zeros((num_classes, num_classes), dtype=np.int64)
    np.add.at(cm, (y_true.astype(np.int64), y_pred.astype(np.int64)), 1)
    return cm


def pca_scatter_png(features: np.ndarray, labels: np.ndarray, path: str | Path, title: str = "") -> Path:
    """Scatter of the 2-D PCA of ``features``; multi-hot labels are coloured by their first positive class."""
    plt = _pyplot()
    lab = labels.argmax(axis=1) if labels.ndim == 2 else labels
    xy = pca_2d(features)
    fig, ax = plt.subplots(figsize=(5, 5), dpi=120)
    sc = ax.scatter(xy[:, 0], xy[:, 1], c=lab, cmap="tab20", s=6, alpha=0.8)
    ax.set(xlabel="PC 1", ylabel="PC 2", title=title or "features (PCA)")
    fig.colorbar(sc, ax=ax, label="class")
    return _save(fig, plt, path)


def confusion_png(y_true: np.ndarray, y_pred: np.ndarray, num_classes: int, path: str | Path, title: str = "") -> Path:
    """Row-normalized confusion matrix (each true class sums to 1)."""
    plt = _pyplot()
    cm = confusion_matrix(y_true, y_pred, num_classes).astype(np.float64)
    cm /= np.maximum(cm.sum(axis=1, keepdims=True), 1)
    fig, ax = plt.subplots(figsize=(5, 5), dpi=120)
    im = ax.imshow(cm, cmap="viridis", vmin=0, vmax=1)
    ax.set(xlabel="predicted", ylabel="true", title=title or "confusion matrix (row-normalized)")
    fig.colorbar(im, ax=ax)
    return _save(fig, plt, path)


def _save(fig, plt, path: str | Path) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return path
