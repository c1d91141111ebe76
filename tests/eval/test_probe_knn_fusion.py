from collections.abc import Callable

import numpy as np
import pytest

from xmodal.eval.features import FeatureSet
from xmodal.eval.fusion import align, fuse
from xmodal.eval.knn import knn_eval
from xmodal.eval.linear_probe import PRESETS, ProbeConfig, preset, probe_eval
from xmodal.eval.retrieval import retrieval_eval
from xmodal.eval.svm import SVMConfig, svm_eval

FAST = ProbeConfig(epochs=30, batch_size=64, lr=1e-2)


def test_probe_separable_and_random(separable: FeatureSet, random_labels: FeatureSet) -> None:
    assert probe_eval(separable, FAST)["value"] >= 0.99
    assert abs(probe_eval(random_labels, FAST)["value"] - 0.25) < 0.13


def test_probe_multilabel_uses_bce_and_map(separable: FeatureSet) -> None:
    hot = np.eye(4, dtype=np.float32)[separable.labels]
    hot[:, 3] = np.maximum(hot[:, 3], hot[:, 0])  # class 3 also fires with class 0
    multi = FeatureSet(separable.features, hot, separable.ids, separable.split)
    out = probe_eval(multi, FAST)
    assert set(out["metrics"]) == {"mAP"} and out["value"] >= 0.99


def test_presets_follow_xkd_a5() -> None:
    assert PRESETS["fsd50k"] == ProbeConfig(epochs=50, batch_size=256, lr=1e-3, weight_decay=1e-5, dropout=0.3,
                                            schedule="fixed")
    k400 = preset("kinetics400", device="cpu")
    assert (k400.lr, k400.batch_size, k400.epochs, k400.schedule) == (1e-2, 512, 20, "cosine")
    with pytest.raises(KeyError):
        preset("imagenet")


def test_knn_separable_and_random(separable: FeatureSet, random_labels: FeatureSet) -> None:
    out = knn_eval(separable, ks=(20, 200))
    assert set(out["per_k"]) == {"20", "200"}
    assert out["per_k"]["20"]["value"] >= 0.99
    assert abs(knn_eval(random_labels, ks=(20,))["per_k"]["20"]["value"] - 0.25) < 0.13


def test_knn_vote_by_hand() -> None:
    feats = np.array([[1, 0], [1, 0.1], [0, 1], [1, 0.05]], np.float32)
    fs = FeatureSet(feats, np.array([0, 0, 1, 0]), np.array(list("abcd")), np.array(["train"] * 3 + ["test"]))
    scores = knn_eval(fs, ks=(3,), temperature=0.07)["per_k"]["3"]["predictions"]
    q = feats[3] / np.linalg.norm(feats[3])
    sims = feats[:3] @ q / np.linalg.norm(feats[:3], axis=1)
    expected = [np.exp(sims[0] / 0.07) + np.exp(sims[1] / 0.07), np.exp(sims[2] / 0.07)]
    np.testing.assert_allclose(scores[0], expected, rtol=1e-4)


def test_fusion_beats_each_modality_when_each_carries_half(make_toy: Callable[..., FeatureSet]) -> None:
    base = make_toy(n=400, d=8, k=4)
    rng = np.random.default_rng(0)
    # audio tells {0,1} vs {2,3}; video tells {0,2} vs {1,3}; only together are the 4 classes separable
    a = np.eye(2)[base.labels // 2] * 3 + rng.normal(size=(400, 2)) * 0.3
    v = np.eye(2)[base.labels % 2] * 3 + rng.normal(size=(400, 2)) * 0.3
    audio = FeatureSet(a, base.labels, base.ids, base.split)
    video = FeatureSet(v[::-1], base.labels[::-1], base.ids[::-1], base.split[::-1])  # other row order
    cfg = SVMConfig(costs=(1e-2, 1e-1, 1.0))
    joint = fuse(audio, video)
    np.testing.assert_allclose(np.linalg.norm(joint.features[:, :2], axis=1), 1.0, rtol=1e-5)
    assert svm_eval(joint, cfg)["value"] >= 0.97
    assert svm_eval(audio, cfg)["value"] < 0.6 and svm_eval(video, cfg)["value"] < 0.6


def test_align_rejects_disagreeing_labels(separable: FeatureSet) -> None:
    other = FeatureSet(separable.features, (separable.labels + 1) % 4, separable.ids, separable.split)
    with pytest.raises(ValueError, match="disagree"):
        align(separable, other)


def test_retrieval_identical_embeddings_are_perfect(separable: FeatureSet) -> None:
    noisy = FeatureSet(separable.features + 0.01, separable.labels, separable.ids, separable.split)
    out = retrieval_eval(separable, noisy)
    assert out["a2v"]["R@1"] == 1.0 and out["v2a"]["R@10"] == 1.0 and out["n"] == 60
