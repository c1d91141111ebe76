import numpy as np
import pytest
import torch
from sklearn.metrics import average_precision_score

from xmodal.eval.metrics import mean_average_precision, recall_at_k, topk_accuracy


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_map_equals_sklearn_macro(seed: int) -> None:
    rng = np.random.default_rng(seed)
    targets = (rng.random((200, 12)) < 0.2).astype(np.float32)
    targets[0] = 1.0  # every class has a positive
    scores = rng.normal(size=(200, 12))
    assert mean_average_precision(scores, targets) == pytest.approx(
        average_precision_score(targets, scores, average="macro"), abs=1e-12
    )


def test_map_with_ties_and_an_empty_class_matches_sklearn() -> None:
    rng = np.random.default_rng(3)
    targets = (rng.random((100, 5)) < 0.3).astype(np.float32)
    targets[:, 4] = 0.0
    scores = np.round(rng.random((100, 5)), 1)  # many ties
    with pytest.warns(UserWarning):
        ref = average_precision_score(targets, scores, average="macro")
    assert mean_average_precision(scores, targets) == pytest.approx(ref, abs=1e-12)
    kept = average_precision_score(targets[:, :4], scores[:, :4], average="macro")
    assert mean_average_precision(scores, targets, skip_empty=True) == pytest.approx(kept, abs=1e-12)


def test_topk_accuracy_by_hand() -> None:
    scores = np.array([[0.1, 0.9, 0.0], [0.8, 0.15, 0.05], [0.2, 0.3, 0.5]])
    labels = np.array([1, 1, 0])
    out = topk_accuracy(scores, labels, ks=(1, 2))
    assert out == {"top1": pytest.approx(1 / 3), "top2": pytest.approx(2 / 3)}


def _recall_loop(q: np.ndarray, g: np.ndarray, k: int) -> float:
    q = q / np.linalg.norm(q, axis=1, keepdims=True)
    g = g / np.linalg.norm(g, axis=1, keepdims=True)
    hits = 0
    for i in range(len(q)):
        sims = [float(q[i] @ g[j]) for j in range(len(g))]
        better = sum(1 for j in range(len(g)) if sims[j] > sims[i])
        hits += better < k
    return hits / len(q)


def test_recall_at_k_both_directions_equals_loop() -> None:
    rng = np.random.default_rng(0)
    v = rng.normal(size=(60, 8))
    a = v + rng.normal(size=(60, 8)) * 1.5
    for q, g in ((a, v), (v, a)):
        got = recall_at_k(torch.from_numpy(q), torch.from_numpy(g), ks=(1, 5, 10), chunk=7)
        for k in (1, 5, 10):
            assert got[f"R@{k}"] == pytest.approx(_recall_loop(q, g, k), abs=1e-9)
    assert 0.0 < got["R@1"] < got["R@10"] < 1.0
