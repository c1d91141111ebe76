"""Linear SVM on frozen features (XKD §A.5) with the cost chosen without looking at the test split.

Features are L2-normalized (``normalize="none"``: raw, as XKD's code) and classified one-vs-rest with sklearn's
``LinearSVC`` objective (squared hinge, L2 penalty, intercept as a regularized constant feature): per class
``½‖w‖² + C Σ_i max(0, 1 − y_i wᵀx_i)²``. The cost sweeps {1e-5, …, 1}. XKD's code reports the best test accuracy
over the sweep, i.e. it picks C on the test split; here C is picked on the validation split when one exists, else
by stratified k-fold cross-validation on the training split, and the test split is scored once with the chosen C.
When the chosen C sits at an end of the grid the grid grows by a decade on that side (``extend_grid`` times at
most) and the result says so (``grid_extended``, ``C_at_grid_edge``): an optimum on the edge means the grid, not
the data, decided.

Clip handling: with one row per video (ids unique) the features were averaged over clips (ours). With several
rows per id (``average_clips=False`` at extraction) and ``per_clip=True`` every clip is its own training row and
a video's decision scores are averaged over its clip rows (XKD's code: 25 augmented training clips per
UCF101/HMDB51 video, scores averaged over 3 test clips); ``per_clip=False`` averages such rows into one first.
CV folds keep all clips of a video on one side.

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

from xmodal.eval.features import FeatureSet, l2_normalize, mean_by_id
from xmodal.eval.selection import fold_indices, fold_scheme, score_predictions

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
    normalize: Literal["l2", "none"] = "l2"
    per_clip: bool = False
    extend_grid: int = 3
    skip_empty_classes: bool = False
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
    """Fit one-vs-rest SVMs for every cost in ``costs`` (default ``cfg.costs``) on prepared (:func:`prepare`) ``x``."""
    y = _targets(labels, num_classes)
    costs = list(costs if costs is not None else cfg.costs)
    if cfg.backend == "sklearn":
        return _sklearn_path(x, y, costs, cfg.max_iter, cfg.seed)
    return _torch_path(x, y, costs, cfg.max_iter, cfg.device)


def decision(x: np.ndarray, w: np.ndarray) -> np.ndarray:
    return x @ w[:-1] + w[-1]


def prepare(fs: FeatureSet, cfg: SVMConfig) -> FeatureSet:
    """The rows the SVM sees: clip rows averaged per video unless ``per_clip``, then L2-normalized per row."""
    fs = fs if cfg.per_clip else fs.mean_by_id()
    x = l2_normalize(fs.features) if cfg.normalize == "l2" else fs.features
    return FeatureSet(x, fs.labels, fs.ids, fs.split, fs.fold)


def video_scores(fs: FeatureSet, w: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(per-video decision scores, per-video labels): clip rows of one id are averaged (identity when unique)."""
    scores = decision(fs.features, w)
    if not fs.clip_rows:
        return scores, fs.labels
    _, first, mean = mean_by_id(scores, fs.ids)
    return mean, fs.labels[first]


def _score(fs: FeatureSet, w: np.ndarray, cfg: SVMConfig) -> float:
    return score_predictions(*video_scores(fs, w), skip_empty=cfg.skip_empty_classes)[1]


def _grid_scores(train: FeatureSet, val: FeatureSet | None, k: int, cfg: SVMConfig, costs: list[float]) -> list[float]:
    if val is not None:
        return [_score(val, w, cfg) for w in svm_path(train.features, train.labels, k, cfg, costs)]
    totals = np.zeros(len(costs))
    folds = fold_indices(train.labels, cfg.cv_folds, cfg.seed, groups=train.fold, videos=train.ids)
    for tr_idx, va_idx in folds:
        weights = svm_path(train.features[tr_idx], train.labels[tr_idx], k, cfg, costs)
        totals += [_score(train.subset(va_idx), w, cfg) for w in weights]
    return list(totals / len(folds))


def _edge(scores: list[float], best: int) -> int:
    """−1 / +1 when the best score sits on the lower / upper end of the grid and beats its neighbour (a tie with
    the neighbour means the optimum reaches inside the grid), else 0."""
    if len(scores) < 2:
        return 0
    if best == 0 and scores[0] > scores[1]:
        return -1
    if best == len(scores) - 1 and scores[-1] > scores[-2]:
        return 1
    return 0


def cv_description(train: FeatureSet, k: int) -> str:
    """What the cross-validation on ``train`` was, e.g. "stratified group 5-fold CV on train" (card text)."""
    scheme = fold_scheme(train.labels, k, groups=train.fold, videos=train.ids)
    return ("leave-one-fold-out CV on train folds" if scheme == "leave-one-fold-out"
            else f"{scheme.replace('k-fold', f'{k}-fold')} CV on train")


def select_cost(train: FeatureSet, val: FeatureSet | None, cfg: SVMConfig) -> tuple[float, dict[str, Any]]:
    """Pick C on ``val`` (when given) or by k-fold CV on ``train`` (both prepared); the test split is not an
    argument. An optimum at an end of the grid extends it by a decade there, up to ``cfg.extend_grid`` times."""
    k = train.num_classes if val is None else max(train.num_classes, val.num_classes)
    costs = sorted(cfg.costs)
    scores = _grid_scores(train, val, k, cfg, costs)
    extended = 0
    while True:
        best = int(np.argmax(scores))
        edge = _edge(scores, best)
        if edge == 0 or extended == cfg.extend_grid:
            break
        new = costs[0] / 10 if edge < 0 else costs[-1] * 10
        score = _grid_scores(train, val, k, cfg, [new])[0]
        costs, scores = ([new, *costs], [score, *scores]) if edge < 0 else ([*costs, new], [*scores, score])
        extended += 1
    return float(costs[best]), {
        "selection_scores": {f"{c:g}": float(s) for c, s in zip(costs, scores, strict=True)},
        "grid_searched": [float(c) for c in costs], "grid_extended": extended, "C_at_grid_edge": edge != 0,
    }


def svm_eval(data: FeatureSet, cfg: SVMConfig) -> dict[str, Any]:
    """Select C without the test rows, refit, score the test split once. ``data`` carries the split column."""
    start = time.perf_counter()
    data = prepare(data, cfg)
    train, test = data.by_split("train"), data.by_split("test")
    has_val = data.has_split("val") and cfg.selection != "cv"
    if cfg.selection == "val" and not has_val:
        raise ValueError("selection='val' but the features have no 'val' rows")
    val = data.by_split("val") if has_val else None
    cost, selection = select_cost(train, val, cfg)
    fit = data.by_split("train", "val") if (val is not None and cfg.refit_on == "train+val") else train
    (w,) = svm_path(fit.features, fit.labels, data.num_classes, cfg, costs=[cost])
    scores, labels = video_scores(test, w)
    metrics, main = score_predictions(scores, labels, skip_empty=cfg.skip_empty_classes)
    return {
        "value": main, "metrics": metrics, "chosen_C": cost, **selection,
        "selection": "val" if val is not None else cv_description(train, cfg.cv_folds),
        "n_train": len(fit), "n_test": len(scores), "n_train_videos": len(np.unique(fit.ids)),
        "runtime_s": time.perf_counter() - start, "predictions": scores,
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
