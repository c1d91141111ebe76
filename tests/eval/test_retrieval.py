"""Retrieval: the tie rule (a constant embedding scores chance) and the fine-tuned (projection) protocol."""

import numpy as np
import pytest
import torch

from xmodal.eval.features import FeatureSet
from xmodal.eval.metrics import recall_at_k
from xmodal.eval.retrieval import ProjectionConfig, finetuned_retrieval_eval, retrieval_eval


def pairs(audio: np.ndarray, video: np.ndarray, n_test: int) -> tuple[FeatureSet, FeatureSet]:
    n = len(audio)
    ids, labels = np.array([f"v{i}" for i in range(n)]), np.zeros(n, np.int64)
    split = np.array(["train"] * (n - n_test) + ["test"] * n_test)
    return FeatureSet(audio, labels, ids, split), FeatureSet(video, labels, ids, split)


def test_constant_embedding_scores_chance_not_perfect() -> None:
    const = torch.ones(40, 8)
    got = recall_at_k(const, const, ks=(1, 5, 10))
    assert got == pytest.approx({"R@1": 1 / 40, "R@5": 5 / 40, "R@10": 10 / 40})
    assert recall_at_k(const, const, ks=(1, 10), ties="against") == {"R@1": 0.0, "R@10": 0.0}
    assert recall_at_k(const, const, ks=(1,), ties="favour") == {"R@1": 1.0}  # the rule before
    a, v = pairs(np.ones((50, 8), np.float32), np.ones((50, 8), np.float32), n_test=40)
    assert retrieval_eval(a, v)["a2v"]["R@1"] == pytest.approx(1 / 40)


def test_partial_ties_are_broken_uniformly_in_expectation() -> None:
    # query 0: item 1 scores higher, item 2 ties with the true item 0 → rank 1 or 2, each with p = ½
    q = torch.tensor([[1.0, 0.0], [0.0, 1.0], [0.0, 1.0]])
    g = torch.tensor([[1.0, 1.0], [1.0, 0.0], [1.0, 1.0]])
    got = recall_at_k(q[:1], g, ks=(1, 2, 3))
    assert got == pytest.approx({"R@1": 0.0, "R@2": 0.5, "R@3": 1.0})


def test_finetuned_protocol_aligns_two_unrelated_spaces() -> None:
    rng = np.random.default_rng(0)
    latent = rng.normal(size=(300, 8))
    audio = (latent @ rng.normal(size=(8, 16)) + 0.05 * rng.normal(size=(300, 16))).astype(np.float32)
    video = (latent @ rng.normal(size=(8, 24)) + 0.05 * rng.normal(size=(300, 24))).astype(np.float32)
    a, v = pairs(audio, video, n_test=50)
    with pytest.raises(ValueError, match="one embedding space"):
        retrieval_eval(a, v)
    out = finetuned_retrieval_eval(a, v, ProjectionConfig(dim=16, epochs=25, batch_size=125, lr=3e-2))
    assert out["n_train_pairs"] == 250 and out["n"] == 50
    assert out["a2v"]["R@1"] > 0.8 and out["v2a"]["R@5"] > 0.9
    shuffled = pairs(audio, video[rng.permutation(300)], n_test=50)
    chance = finetuned_retrieval_eval(*shuffled, ProjectionConfig(dim=16, epochs=25, batch_size=125, lr=3e-2))
    assert chance["a2v"]["R@10"] < 0.5  # no pairing to learn: near 10/50


def test_finetuned_protocol_trains_inside_no_grad() -> None:
    """Called from feature-extraction code under ``torch.no_grad()``, the projections still train (before: the
    loss had no grad_fn and backward() raised)."""
    import torch

    rng = np.random.default_rng(1)
    latent = rng.normal(size=(120, 4))
    a, v = pairs((latent @ rng.normal(size=(4, 6))).astype(np.float32),
                 (latent @ rng.normal(size=(4, 5))).astype(np.float32), n_test=20)
    with torch.no_grad():
        out = finetuned_retrieval_eval(a, v, ProjectionConfig(dim=8, epochs=10, batch_size=50, lr=3e-2))
    assert out["a2v"]["R@5"] > 0.5
