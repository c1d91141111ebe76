"""The SVM protocol switches: per-clip rows with score averaging (XKD's code), grid extension, fusion scaling."""

from collections.abc import Callable
from dataclasses import replace

import numpy as np
import pytest

from xmodal.eval.features import FeatureSet, l2_normalize
from xmodal.eval.fusion import fuse, fusion_eval
from xmodal.eval.selection import fold_indices
from xmodal.eval.svm import SVMConfig, decision, prepare, svm_eval, svm_path

ONE_C = SVMConfig(costs=(0.1,), extend_grid=0)


def clip_rows(base: FeatureSet, train_clips: int, test_clips: int, seed: int = 0) -> FeatureSet:
    """Every video of ``base`` as noisy clip rows: ``train_clips`` per train/val video, ``test_clips`` per test."""
    rng = np.random.default_rng(seed)
    reps = np.where(base.split == "test", test_clips, train_clips)
    idx = np.repeat(np.arange(len(base)), reps)
    x = base.features[idx] + rng.normal(size=(len(idx), base.features.shape[1])).astype(np.float32)
    return FeatureSet(x, base.labels[idx], base.ids[idx], base.split[idx])


def test_per_clip_rows_and_test_score_averaging(make_toy: Callable[..., FeatureSet]) -> None:
    base = make_toy(n=40, d=8, k=4, splits=(0.6, 0.15))  # 24 train, 6 val, 10 test videos
    clips = clip_rows(base, train_clips=25, test_clips=3)
    cfg = replace(ONE_C, per_clip=True, normalize="none")
    out = svm_eval(clips, cfg)
    assert out["n_train"] == 25 * 30 and out["n_train_videos"] == 30 and out["n_test"] == 10
    # decision scores of a test video = mean of its 3 clip rows' scores under the SVM refit on all 750 clip rows
    fit, test = clips.by_split("train", "val"), clips.by_split("test")
    (w,) = svm_path(fit.features, fit.labels, 4, cfg, costs=[0.1])
    per_clip = decision(test.features, w).reshape(10, 3, 4)
    np.testing.assert_allclose(out["predictions"], per_clip.mean(1), rtol=1e-4, atol=1e-5)
    # ours (per_clip=False) averages each video's clip features into one row first
    ours = svm_eval(clips, ONE_C)
    assert ours["n_train"] == 30 and ours["n_test"] == 10
    assert ours["predictions"] == pytest.approx(svm_eval(clips.mean_by_id(), ONE_C)["predictions"])


def test_cv_folds_keep_the_clips_of_a_video_together(make_toy: Callable[..., FeatureSet]) -> None:
    clips = clip_rows(make_toy(n=60, d=4, k=3, splits=(1.0, 0.0)), train_clips=4, test_clips=1)
    for tr, va in fold_indices(clips.labels, 5, 0, videos=clips.ids):
        assert not set(clips.ids[tr]) & set(clips.ids[va])


def test_mean_by_id_rejects_disagreeing_clip_labels() -> None:
    fs = FeatureSet(np.ones((2, 3)), np.array([0, 1]), np.array(["a", "a"]), np.array(["train", "train"]))
    with pytest.raises(ValueError, match="disagree on labels"):
        fs.mean_by_id()


def test_optimum_on_the_grid_edge_extends_the_grid(separable: FeatureSet, monkeypatch: pytest.MonkeyPatch) -> None:
    import xmodal.eval.svm as svm

    # a selection score that peaks at C = 1e-2: the grid {1e-5, 1e-4} has its optimum on the upper edge
    monkeypatch.setattr(svm, "_grid_scores", lambda tr, va, k, cfg, costs: [-abs(np.log10(c) + 2) for c in costs])
    out = svm_eval(separable, SVMConfig(costs=(1e-5, 1e-4)))
    assert out["chosen_C"] == pytest.approx(1e-2) and out["grid_extended"] == 3 and not out["C_at_grid_edge"]
    assert out["grid_searched"] == pytest.approx([1e-5, 1e-4, 1e-3, 1e-2, 1e-1])
    stuck = svm_eval(separable, SVMConfig(costs=(1e-5, 1e-4), extend_grid=2))
    assert stuck["C_at_grid_edge"] and stuck["chosen_C"] == pytest.approx(1e-2) and stuck["grid_extended"] == 2
    low = svm_eval(separable, SVMConfig(costs=(1.0, 10.0)))
    assert low["chosen_C"] == pytest.approx(1e-2) and low["grid_searched"][0] == pytest.approx(1e-3)


def test_a_flat_grid_is_not_an_edge(separable: FeatureSet) -> None:
    """Separable blobs are classified perfectly at every C: a tie with the neighbour is no edge optimum."""
    out = svm_eval(separable, SVMConfig(costs=(1e-3, 1e-2, 1e-1)))
    assert out["value"] >= 0.99 and out["grid_extended"] == 0 and not out["C_at_grid_edge"]


def test_fusion_normalizes_each_modality_once(make_toy: Callable[..., FeatureSet]) -> None:
    """Bug fix: the concatenation was L2-normalized again (÷√2), which is the SVM at C/2."""
    base = make_toy(n=200, d=6, k=4, splits=(0.6, 0.15))
    rng = np.random.default_rng(1)
    audio = FeatureSet(base.features[:, :3] + rng.normal(size=(200, 3)), base.labels, base.ids, base.split)
    video = FeatureSet(base.features[:, 3:] * 5, base.labels, base.ids, base.split)
    joint = fuse(audio, video)
    np.testing.assert_allclose(np.linalg.norm(joint.features, axis=1), np.sqrt(2), rtol=1e-5)
    out = fusion_eval(audio, video, ONE_C)
    raw = replace(ONE_C, normalize="none")
    assert np.linalg.norm(prepare(joint, raw).features, axis=1) == pytest.approx(np.sqrt(2), rel=1e-5)
    train, test = joint.by_split("train", "val"), joint.by_split("test")
    (w,) = svm_path(train.features, train.labels, 4, raw, costs=[0.1])
    np.testing.assert_allclose(out["predictions"], decision(test.features, w), rtol=1e-4, atol=1e-5)
    # what the double normalization computed: the SVM on joint/√2, a different solution
    (w2,) = svm_path(l2_normalize(train.features), train.labels, 4, raw, costs=[0.1])
    assert not np.allclose(decision(test.features, w), decision(l2_normalize(test.features), w2), atol=1e-3)


def test_linear_probe_per_clip_rows_and_probability_averaging(make_toy: Callable[..., FeatureSet]) -> None:
    from xmodal.eval.linear_probe import ProbeConfig, probe_eval, probe_scores, train_probe

    clips = clip_rows(make_toy(n=40, d=8, k=4, splits=(0.75, 0.0)), train_clips=10, test_clips=8)
    cfg = ProbeConfig(epochs=3, batch_size=64, lr=1e-2, per_clip=True)
    out = probe_eval(clips, cfg, seed=0)
    assert out["n_train"] == 300 and out["n_train_videos"] == 30 and out["n_test"] == 10
    head, norm = train_probe(clips.by_split("train", "val"), cfg, 0, 4)
    logits = probe_scores(head, norm, clips.by_split("test").features, "cpu").reshape(10, 8, 4)
    probs = np.exp(logits) / np.exp(logits).sum(-1, keepdims=True)
    np.testing.assert_allclose(out["predictions"], probs.mean(1), rtol=1e-4, atol=1e-6)
    ours = probe_eval(clips, ProbeConfig(epochs=3, batch_size=64, lr=1e-2))
    assert ours["n_train"] == 30 and ours["n_test"] == 10


def test_the_card_names_the_cross_validation_that_ran() -> None:
    """Clip rows of few videos per class fall back from stratified to plain group k-fold; the card must say so."""
    from xmodal.eval.features import FeatureSet
    from xmodal.eval.selection import fold_scheme
    from xmodal.eval.svm import cv_description

    rng = np.random.default_rng(0)
    ids = np.repeat(np.arange(12), 3)  # 12 videos x 3 clip rows
    labels = np.repeat(np.arange(12) % 4, 3)  # 3 videos per class < 5 folds
    fs = FeatureSet(rng.normal(size=(36, 4)).astype(np.float32), labels, ids.astype(str), np.full(36, "train"))
    assert fold_scheme(labels, 5, videos=fs.ids) == "group k-fold"
    assert cv_description(fs, 5) == "group 5-fold CV on train"
    assert cv_description(fs, 3) == "stratified group 3-fold CV on train"
    single = FeatureSet(fs.features[::3], labels[::3], ids[::3].astype(str), np.full(12, "train"))
    assert cv_description(single, 3) == "stratified 3-fold CV on train"
