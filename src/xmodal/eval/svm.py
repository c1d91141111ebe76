"""Linear SVM on frozen features (XKD §A.5) with the cost chosen without looking at the test split.

Features are L2-normalized and classified one-vs-rest with sklearn's ``LinearSVC`` objective (squared hinge,
L2 penalty, intercept as a regularized constant feature): per class ``½‖w‖² + C Σ_i max(0, 1 − y_i wᵀx_i)²``.
The cost sweeps {1e-5, …, 1}. XKD's code reports the best test accuracy over the sweep, i.e. it picks C on the
test split; here C is picked on the validation split when one exists, else by stratified k-fold cross-validation
on the training split, and the test split is scored once with the chosen C.

Two solvers give the same optimum: ``sklearn`` (liblinear, the reference) and ``torch`` (full-batch L-BFGS on
the primal, preconditioned by ``(I + 2C·XᵀX)^{-1/2}`` and warm-started along the C path), which is what makes
100k × 768 finish in minutes and runs on GPU.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import torch

from xmodal.eval.features import FeatureSet, l2_normalize
from xmodal.eval.selection import fold_indices, score_predictions

COSTS: tuple[float, ...] = (1e-5, 1e-4, 1e-3, 1e-2, 1e-1, 1.0)


@dataclass
class SVMConfig:
    costs: tuple[float, ...] = COSTS
    selection: Literal["auto", "val", "cv"] = "auto"
    cv_folds: int = 5
    refit_on: Literal["train", "train+val"] = "train+val"
    backend: Literal["torch", "sklearn"] = "torch"
    max_iter: int = 300
    device: str = "cpu"
    seed: int = 0
    extra: dict[str, Any] = field(default_factory=dict)


def _targets(labels: np.ndarray, num_classes: int) -> np.ndarray:
    """±1 one-vs-rest targets (N, K) from class indices or multi-hot rows."""
    hot = labels if labels.ndim == 2 else np.eye(num_classes, dtype=np.float32)[labels.astype(np.int64)]
    return np.where(hot > 0, 1.0, -1.0).astype(np.float32)


def _lbfgs(xt: torch.Tensor, yt: torch.Tensor, p: torch.Tensor, v: torch.Tensor, c: float, max_iter: int) -> None:
    """Minimize the (rescaled) primal in the preconditioned variable ``v`` (w = p·v) in place."""
    opt = torch.optim.LBFGS([v], lr=1, max_iter=max_iter, history_size=20, tolerance_grad=1e-7,
                            tolerance_change=1e-10, line_search_fn="strong_wolfe")
    scale = 1.0 / (1.0 + c * len(xt))

    def closure() -> torch.Tensor:
        opt.zero_grad()
        w = p @ v
        margin = torch.relu(1.0 - yt * (xt @ w))
        loss = scale * (0.5 * w.pow(2).sum() + c * margin.pow(2).sum())
        loss.backward()
        return loss

    opt.step(closure)


def _torch_path(x: np.ndarray, y: np.ndarray, costs: Sequence[float], max_iter: int, device: str) -> list[np.ndarray]:
    """Weights (D+1, K) for each cost, bias as a constant feature like liblinear, warm-started along the path.

    With H = I + 2C·XᵀX the Hessian of the primal when every margin is active, w = H^{-1/2}·v makes the
    problem nearly isotropic, so L-BFGS needs tens of iterations even at C = 1 with 100k rows.
    """
    dev = torch.device(device)
    xt = torch.from_numpy(np.hstack([x, np.ones((len(x), 1), np.float32)])).to(dev)
    yt = torch.from_numpy(y).to(dev)
    evals, evecs = torch.linalg.eigh((xt.T @ xt).double())
    evals = evals.clamp_min(0)
    w = torch.zeros(xt.shape[1], yt.shape[1], dtype=torch.float64, device=dev)
    out = []
    for c in costs:
        s = (1.0 + 2.0 * c * evals).rsqrt()
        p = (evecs * s) @ evecs.T
        v = ((evecs / s) @ (evecs.T @ w)).float().requires_grad_(True)
        _lbfgs(xt, yt, p.float(), v, c, max_iter)
        w = p @ v.detach().double()
        out.append(w.float().cpu().numpy())
    return out


def _sklearn_path(x: np.ndarray, y: np.ndarray, costs: Sequence[float], max_iter: int, seed: int) -> list[np.ndarray]:
    from sklearn.svm import LinearSVC

    out = []
    for c in costs:
        w = np.zeros((x.shape[1] + 1, y.shape[1]), np.float32)
        for k in range(y.shape[1]):
            # dual="auto" explicitly: the default changed in scikit-learn 1.5, and our floor (1.3) must pick the same
            # liblinear solver as the newest release does.
            clf = LinearSVC(C=c, dual="auto", max_iter=max(1000, 10 * max_iter), random_state=seed).fit(x, y[:, k])
            w[:-1, k], w[-1, k] = clf.coef_[0], clf.intercept_[0]
        out.append(w)
    return out


def svm_path(x: np.ndarray, labels: np.ndarray, num_classes: int, cfg: SVMConfig,
             costs: Sequence[float] | None = None) -> list[np.ndarray]:
    """Fit one-vs-rest SVMs for every cost in ``costs`` (default ``cfg.costs``) on L2-normalized ``x``."""
    y = _targets(labels, num_classes)
    costs = list(costs if costs is not None else cfg.costs)
    if cfg.backend == "sklearn":
        return _sklearn_path(x, y, costs, cfg.max_iter, cfg.seed)
    return _torch_path(x, y, costs, cfg.max_iter, cfg.device)


def decision(x: np.ndarray, w: np.ndarray) -> np.ndarray:
    return x @ w[:-1] + w[-1]


def select_cost(train: FeatureSet, val: FeatureSet | None, cfg: SVMConfig) -> tuple[float, dict[str, float]]:
    """Pick C on ``val`` (when given) or by k-fold CV on ``train``. The test split is not an argument."""
    k = train.num_classes if val is None else max(train.num_classes, val.num_classes)
    xtr = l2_normalize(train.features)
    if val is not None:
        weights = svm_path(xtr, train.labels, k, cfg)
        xv = l2_normalize(val.features)
        scores = [score_predictions(decision(xv, w), val.labels)[1] for w in weights]
    else:
        scores_f = np.zeros(len(cfg.costs))
        folds = fold_indices(train.labels, cfg.cv_folds, cfg.seed, groups=train.fold)
        for tr_idx, va_idx in folds:
            weights = svm_path(xtr[tr_idx], train.labels[tr_idx], k, cfg)
            scores_f += [score_predictions(decision(xtr[va_idx], w), train.labels[va_idx])[1] for w in weights]
        scores = list(scores_f / len(folds))
    best = int(np.argmax(scores))
    return float(cfg.costs[best]), {f"{c:g}": float(s) for c, s in zip(cfg.costs, scores, strict=True)}


def svm_eval(data: FeatureSet, cfg: SVMConfig) -> dict[str, Any]:
    """Select C without the test rows, refit, score the test split once. ``data`` carries the split column."""
    start = time.perf_counter()
    train, test = data.by_split("train"), data.by_split("test")
    has_val = data.has_split("val") and cfg.selection != "cv"
    if cfg.selection == "val" and not has_val:
        raise ValueError("selection='val' but the features have no 'val' rows")
    val = data.by_split("val") if has_val else None
    cost, sel_scores = select_cost(train, val, cfg)
    fit = data.by_split("train", "val") if (val is not None and cfg.refit_on == "train+val") else train
    (w,) = svm_path(l2_normalize(fit.features), fit.labels, data.num_classes, cfg, costs=[cost])
    scores = decision(l2_normalize(test.features), w)
    metrics, main = score_predictions(scores, test.labels)
    return {
        "value": main, "metrics": metrics, "chosen_C": cost, "selection_scores": sel_scores,
        "selection": "val" if val is not None else ("leave-one-fold-out CV on train folds" if train.fold is not None
                                                    else f"{cfg.cv_folds}-fold stratified CV on train"),
        "n_train": len(fit), "n_test": len(test), "runtime_s": time.perf_counter() - start,
        "predictions": scores,
    }


def svm_eval_folds(data: FeatureSet, cfg: SVMConfig) -> list[dict[str, Any]]:
    """ESC-50 style: each fold is the test split once; C is chosen by CV over the remaining folds only."""
    if data.fold is None:
        raise ValueError("features have no 'fold' array")
    results = []
    for f in np.unique(data.fold):
        split = np.where(data.fold == f, "test", "train")
        results.append(svm_eval(FeatureSet(data.features, data.labels, data.ids, split, data.fold), cfg))
    return results
