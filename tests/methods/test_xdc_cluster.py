"""XDC's clustering pieces: faiss k-means recovers planted clusters and is seeded, label routing per variant,
the e-stop rule, the uniform sampler, empty-cluster re-seeding, purity report."""

from __future__ import annotations

import numpy as np
import pytest

from xmodal.methods.xdc_cluster import (
    EarlyStopping,
    KMeansConfig,
    UniformClusterSampler,
    cluster_stats,
    heads_for,
    label_sources,
    purity_report,
    reseed_empty,
    run_kmeans,
    source_features,
)


def planted(n_per: int = 40, k: int = 5, dim: int = 32, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    centers = rng.normal(0, 10, (k, dim))
    truth = np.repeat(np.arange(k), n_per)
    return (centers[truth] + rng.normal(0, 0.5, (len(truth), dim))).astype(np.float32), truth


def test_kmeans_recovers_planted_clusters_and_is_deterministic() -> None:
    x, truth = planted()
    cfg = KMeansConfig(pca_dim=16)
    a = run_kmeans(x, 5, cfg, seed=3)
    stats = cluster_stats(a.labels, 5, truth=truth)
    assert stats["purity"] == 1.0 and stats["nmi_labels"] == pytest.approx(1.0)
    assert a.empty == 0 and sorted(a.sizes.tolist()) == [40] * 5
    b = run_kmeans(x, 5, cfg, seed=3)
    np.testing.assert_array_equal(a.labels, b.labels)
    np.testing.assert_array_equal(a.centroids, b.centroids)
    with pytest.raises(ValueError, match="k=500"):
        run_kmeans(x, 500, cfg, seed=0)


def test_label_routing_per_variant() -> None:
    assert heads_for("sdc") == {"video": ["video"], "audio": ["audio"]}
    assert heads_for("xdc") == {"video": ["audio"], "audio": ["video"]}
    assert heads_for("mdc") == {"video": ["video", "audio"], "audio": ["video", "audio"]}
    assert heads_for("cdc") == {"video": ["joint"], "audio": ["joint"]}
    assert label_sources("cdc") == ["joint"] and label_sources("mdc") == ["audio", "video"]
    assert heads_for("sdc", ("video",)) == {"video": ["video"]}
    with pytest.raises(ValueError, match="both modalities"):
        heads_for("xdc", ("video",))
    feats = {"video": np.ones((3, 2)) * 5, "audio": np.ones((3, 4))}
    joint = source_features(feats, "joint")
    assert joint.shape == (3, 6)
    np.testing.assert_allclose(np.linalg.norm(joint[:, :2], axis=1), 1.0)  # each modality normalised first


def test_early_stopping_after_three_consecutive_increases() -> None:
    stop = EarlyStopping(3)
    assert [stop.step(v) for v in (5.0, 4.0, 4.5, 4.2, 4.3, 4.4)] == [False] * 6  # increases broken by a decrease
    assert stop.step(4.6) is True  # third increase in a row: 4.3 → 4.4 → 4.6 after 4.2
    restored = EarlyStopping(3)
    restored.load_state_dict({"last": 1.0, "increases": 2})
    assert restored.step(1.1) is True


def test_uniform_sampler_draws_every_nonempty_cluster_equally() -> None:
    labels = np.array([0] * 90 + [1] * 9 + [2] * 1 + [7] * 20)
    positions = np.arange(100)  # the last 20 rows (cluster 7) are held out
    sampler = UniformClusterSampler(lambda: labels, positions, seed=0)
    sampler.set_epoch(1)
    order = list(sampler)
    assert len(order) == 100 and max(order) < 100
    counts = np.bincount(labels[order], minlength=8)
    assert counts[7] == 0 and set(counts[:3].tolist()) <= {32, 33, 34}  # 3 × ceil(100/3) drawn, 100 kept
    assert sampler.counts == {"sampler_classes": 3, "sampler_per_class": 34}
    assert list(sampler) == order  # the same epoch gives the same order on every rank
    sampler.set_epoch(2)
    assert list(sampler) != order


def test_reseed_empty_splits_the_largest_cluster() -> None:
    x, _ = planted(n_per=10, k=2, dim=4)
    labels = np.array([0] * 10 + [1] * 10)
    labels[:] = 0  # everything in cluster 0, clusters 1 and 2 empty
    centroids = np.stack([x.mean(0)] * 3).astype(np.float32)
    assert reseed_empty(x, labels, centroids, seed=0) == 2
    assert (np.bincount(labels, minlength=3) > 0).all()


def test_purity_report_ranks_top_and_bottom() -> None:
    assignment = np.array([0, 0, 0, 0, 1, 1, 1, 1, 2, 2])
    truth = np.array([3, 3, 3, 1, 1, 2, 3, 0, 2, 2])
    rows = purity_report(assignment, truth, class_names=["a", "b", "c", "d"], top=1, concepts=2)
    assert [r["cluster"] for r in rows] == [2, 1]
    assert rows[0]["concepts"] == [("c", 1.0)] and rows[1]["rank"] == 3
