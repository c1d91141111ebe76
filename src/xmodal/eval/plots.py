"""Pictures of an evaluation: a 2-D PCA scatter of the features coloured by label, and a confusion matrix.

Rendered with matplotlib's Agg backend (no display needed on clusters). PCA is computed with an SVD of the
centred features, so the picture is deterministic and needs no fitted state.
"""

from __future__ import annotations

from collections.abc import Sequence
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


def _names(num_classes: int, class_names: Sequence[str] | None) -> list[str]:
    if class_names is not None and len(class_names) >= num_classes:
        return [str(c) for c in class_names[:num_classes]]
    return [str(k) for k in range(num_classes)]


def pca_scatter_png(features: np.ndarray, labels: np.ndarray, path: str | Path, title: str = "",
                    class_names: Sequence[str] | None = None) -> Path:
    """Scatter of the 2-D PCA of ``features``; multi-hot labels are coloured by their first positive class.
    Up to 20 classes get one discrete colour each and a legend (class names when given); more share a colour
    map with a colour bar."""
    plt = _pyplot()
    lab = (labels.argmax(axis=1) if labels.ndim == 2 else labels).astype(np.int64)
    xy = pca_2d(features)
    fig, ax = plt.subplots(figsize=(5.5, 5), dpi=120)
    present = np.unique(lab)
    num_classes = max(int(lab.max()) + 1, len(class_names or []))
    if num_classes <= 20:
        cmap, names = plt.get_cmap("tab10" if num_classes <= 10 else "tab20"), _names(num_classes, class_names)
        for k in present:
            rows = lab == k
            ax.scatter(xy[rows, 0], xy[rows, 1], color=cmap(int(k)), s=8, alpha=0.8, label=names[int(k)])
        ax.legend(title="class", fontsize="small", markerscale=1.5, loc="best")
    else:
        sc = ax.scatter(xy[:, 0], xy[:, 1], c=lab, cmap="turbo", s=4, alpha=0.8)
        fig.colorbar(sc, ax=ax, label="class index")
    ax.set(xlabel="PC 1", ylabel="PC 2", title=title or "features (PCA)")
    return _save(fig, plt, path)


def confusion_png(y_true: np.ndarray, y_pred: np.ndarray, num_classes: int, path: str | Path, title: str = "",
                  class_names: Sequence[str] | None = None) -> Path:
    """Row-normalized confusion matrix (each true class sums to 1); class ticks up to 30 classes, cell values up
    to 12."""
    plt = _pyplot()
    cm = confusion_matrix(y_true, y_pred, num_classes).astype(np.float64)
    cm /= np.maximum(cm.sum(axis=1, keepdims=True), 1)
    fig, ax = plt.subplots(figsize=(5.5, 5), dpi=120)
    im = ax.imshow(cm, cmap="viridis", vmin=0, vmax=1)
    ax.set(xlabel="predicted", ylabel="true", title=title or "confusion matrix (row-normalized)")
    if num_classes <= 30:
        names = _names(num_classes, class_names)
        ax.set_xticks(range(num_classes), names, rotation=90 if num_classes > 8 else 0)
        ax.set_yticks(range(num_classes), names)
    if num_classes <= 12:
        for (i, j), v in np.ndenumerate(cm):
            ax.text(j, i, f"{v:.2f}", ha="center", va="center", fontsize=8, color="white" if v < 0.6 else "black")
    fig.colorbar(im, ax=ax, fraction=0.046, pad=0.04)
    return _save(fig, plt, path)


def _save(fig, plt, path: str | Path) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return path
