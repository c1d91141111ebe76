"""The deep-clustering iteration's pieces as library functions (Alwassel et al., XDC, NeurIPS 2020, arXiv 1911.12667).

One XDC iteration (XDC appendix §A; the author in HumamAlwassel/XDC issue #8): extract the features of every
training clip, cluster them offline with k-means, use the assignments as pseudo-labels, reset the classification
heads, train with cross-entropy until the loss on held-out pseudo-labelled clips stops improving, repeat.

- :func:`run_kmeans` wraps faiss with DeepCluster's recipe (Caron et al., ECCV 2018, §3.3 and its code): PCA-whitening
  to 256-d, L2 normalisation, 20 Lloyd iterations, no subsampling; seeded, so equal features give equal labels.
- :data:`ROUTES` is the one place where the four variants differ: which cluster set supervises which head.
- :class:`EarlyStopping` is Table 1's e-stop: stop when the held-out loss increased in 3 consecutive epochs.
- :class:`UniformClusterSampler` is DeepCluster's guard against trivial solutions: every non-empty pseudo-class is
  drawn equally often.
- :func:`cluster_stats` / :func:`purity_report` give sizes, empty clusters, NMI between successive assignments and
  purity w.r.t. labels (the appendix's Tables 6–7).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import torch
from sklearn.metrics import normalized_mutual_info_score
from torch.utils.data import Sampler

Variant = Literal["xdc", "sdc", "mdc", "cdc"]
MODALITIES = ("video", "audio")

#: variant → {encoder: [cluster sources its heads predict]}; ``joint`` is the k-means of concatenated features.
ROUTES: dict[str, dict[str, list[str]]] = {
    "sdc": {"video": ["video"], "audio": ["audio"]},
    "xdc": {"video": ["audio"], "audio": ["video"]},
    "mdc": {"video": ["video", "audio"], "audio": ["video", "audio"]},
    "cdc": {"video": ["joint"], "audio": ["joint"]},
}


def heads_for(variant: str, modalities: Sequence[str] = MODALITIES) -> dict[str, list[str]]:
    """The heads of ``variant`` for the trained ``modalities``: ``{encoder: [label sources]}``.

    SDC trains one modality alone as well (the paper's single-modality baseline); the cross-modal variants need both.
    """
    if variant not in ROUTES:
        raise ValueError(f"variant: {variant!r} is not one of {sorted(ROUTES)}")
    if variant != "sdc" and set(modalities) != set(MODALITIES):
        raise ValueError(f"variant {variant}: needs both modalities, got {list(modalities)}")
    return {enc: list(ROUTES[variant][enc]) for enc in modalities}


def label_sources(variant: str, modalities: Sequence[str] = MODALITIES) -> list[str]:
    """The clusterings one iteration must compute (each once, whatever the number of heads reading it)."""
    return sorted({s for srcs in heads_for(variant, modalities).values() for s in srcs})


def source_features(features: dict[str, np.ndarray], source: str) -> np.ndarray:
    """Features clustered for ``source``: one modality's, or (CDC) both concatenated after L2-normalising each, so
    neither modality dominates the joint space by its scale."""
    if source != "joint":
        return features[source]
    parts = [f / np.maximum(np.linalg.norm(f, axis=1, keepdims=True), 1e-12) for f in (features[m] for m in MODALITIES)]
    return np.concatenate(parts, axis=1)


@dataclass
class KMeansConfig:
    """DeepCluster's defaults; ``k`` per label source is set by the method config.

    ``max_points_per_centroid = 0`` means no subsampling (faiss otherwise samples 256 points per centroid).
    ``reseed_empty`` splits the largest cluster for every cluster left empty by the final assignment (DeepCluster
    §3.3); faiss itself already does so between its iterations.
    """

    pca_dim: int = 256
    whiten: bool = True
    l2norm: bool = True
    niter: int = 20
    nredo: int = 1
    max_points_per_centroid: int = 0
    reseed_empty: bool = True
    use_gpu: Literal["auto", "off"] = "auto"

    def validate(self) -> None:
        from xmodal.config import ConfigError

        if self.niter < 1 or self.nredo < 1:
            raise ConfigError("kmeans.niter / kmeans.nredo: must be >= 1")
        if self.pca_dim < 0:
            raise ConfigError("kmeans.pca_dim: must be >= 0 (0 keeps the features' own dimension)")


@dataclass
class KMeansResult:
    labels: np.ndarray
    centroids: np.ndarray
    sizes: np.ndarray
    empty: int
    reseeded: int
    objective: float


def preprocess(x: np.ndarray, cfg: KMeansConfig) -> np.ndarray:
    """PCA (whitened: eigen power −0.5) to ``pca_dim`` then L2 normalisation (DeepCluster ``preprocess_features``)."""
    import faiss

    x = np.ascontiguousarray(x, dtype=np.float32)
    # N centred points span at most N − 1 directions: whitening more would divide by zero eigenvalues
    dim = min(cfg.pca_dim, x.shape[1], max(x.shape[0] - 1, 1)) if cfg.pca_dim else 0
    if dim:
        pca = faiss.PCAMatrix(x.shape[1], dim, -0.5 if cfg.whiten else 0.0)
        pca.epsilon = 1e-6  # added to the eigenvalues before whitening (constant directions stay finite)
        pca.train(x)
        x = pca.apply_py(x)
    if cfg.l2norm:
        x = x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)
    return np.ascontiguousarray(x, dtype=np.float32)


def run_kmeans(x: np.ndarray, k: int, cfg: KMeansConfig, seed: int) -> KMeansResult:
    """faiss k-means of ``x`` (N, D) into ``k`` clusters; deterministic for a given seed and input."""
    import faiss

    n = x.shape[0]
    if not 1 <= k <= n:
        raise ValueError(f"k-means: k={k} needs 1 <= k <= number of clips ({n})")
    data = preprocess(x, cfg)
    km = faiss.Kmeans(data.shape[1], k, niter=cfg.niter, nredo=cfg.nredo, seed=seed, verbose=False,
                      max_points_per_centroid=cfg.max_points_per_centroid or max(n, 1) + 1,
                      gpu=cfg.use_gpu == "auto" and faiss.get_num_gpus() > 0)
    km.train(data)
    _, assign = km.index.search(data, 1)
    labels, centroids = assign[:, 0].astype(np.int64), np.array(km.centroids, dtype=np.float32)
    reseeded = reseed_empty(data, labels, centroids, seed) if cfg.reseed_empty else 0
    sizes = np.bincount(labels, minlength=k)
    objective = float(((data - centroids[labels]) ** 2).sum())
    return KMeansResult(labels, centroids, sizes, int((sizes == 0).sum()), reseeded, objective)


def reseed_empty(data: np.ndarray, labels: np.ndarray, centroids: np.ndarray, seed: int) -> int:
    """For each empty cluster: copy the largest cluster's centroid with a small ± perturbation into both, and split
    that cluster's points between them (in place). Returns how many clusters were re-seeded."""
    rng = np.random.default_rng(seed)
    k, count = centroids.shape[0], 0
    for _ in range(k):
        sizes = np.bincount(labels, minlength=k)
        empty = np.flatnonzero(sizes == 0)
        if not len(empty) or sizes.max() < 2:
            break
        big, new = int(sizes.argmax()), int(empty[0])
        eps = 1e-4 * rng.standard_normal(centroids.shape[1]).astype(np.float32)
        centroids[new], centroids[big] = centroids[big] + eps, centroids[big] - eps
        members = np.flatnonzero(labels == big)
        closer = ((data[members] - centroids[new]) ** 2).sum(1) < ((data[members] - centroids[big]) ** 2).sum(1)
        if not closer.any() or closer.all():  # degenerate (identical points): split by halves
            closer = np.arange(len(members)) % 2 == 1
        labels[members[closer]] = new
        count += 1
    return count


def cluster_stats(labels: np.ndarray, k: int, previous: np.ndarray | None = None,
                  truth: np.ndarray | None = None) -> dict[str, float]:
    """Sizes summary, empty clusters, NMI with the previous iteration's assignment, purity w.r.t. ``truth``."""
    sizes = np.bincount(labels, minlength=k)
    out = {"clusters_nonempty": float((sizes > 0).sum()), "clusters_empty": float((sizes == 0).sum()),
           "cluster_size_min": float(sizes.min()), "cluster_size_max": float(sizes.max())}
    if previous is not None:
        out["nmi_previous"] = float(normalized_mutual_info_score(previous, labels))
    if truth is not None and (truth >= 0).any():
        known = truth >= 0
        out["purity"] = purity(labels[known], truth[known])
        out["nmi_labels"] = float(normalized_mutual_info_score(truth[known], labels[known]))
    return out


def purity(labels: np.ndarray, truth: np.ndarray) -> float:
    """Fraction of clips whose label is their cluster's most frequent label."""
    hits = sum(Counter(truth[labels == c].tolist()).most_common(1)[0][1] for c in np.unique(labels))
    return hits / max(len(labels), 1)


def purity_report(labels: np.ndarray, truth: np.ndarray, class_names: Sequence[str] | None = None,
                  top: int = 10, concepts: int = 5) -> list[dict[str, Any]]:
    """Tables 6–7 of the appendix: the ``top`` purest and ``top`` least pure clusters, each with its ``concepts``
    most frequent labels and their share of the cluster (ranked by the share of the most frequent one)."""
    rows = []
    for c in np.unique(labels):
        members = truth[labels == c]
        members = members[members >= 0]
        if not len(members):
            continue
        common = Counter(members.tolist()).most_common(concepts)
        names = [(class_names[t] if class_names is not None else str(t), n / len(members)) for t, n in common]
        rows.append({"cluster": int(c), "size": len(members), "purity": names[0][1], "concepts": names})
    rows.sort(key=lambda r: -r["purity"])
    for rank, row in enumerate(rows, 1):
        row["rank"] = rank
    return rows[:top] + [r for r in rows[top:] if r["rank"] > len(rows) - top]


class EarlyStopping:
    """Table 1's e-stop: stop once the held-out loss increased in ``patience`` consecutive epochs."""

    def __init__(self, patience: int = 3) -> None:
        self.patience = patience
        self.last: float | None = None
        self.increases = 0

    def step(self, loss: float) -> bool:
        """Record one epoch's held-out loss; True when the iteration should end."""
        self.increases = self.increases + 1 if self.last is not None and loss > self.last else 0
        self.last = loss
        return self.increases >= self.patience

    def reset(self) -> None:
        self.last, self.increases = None, 0

    def state_dict(self) -> dict[str, Any]:
        return {"last": self.last, "increases": self.increases}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.last, self.increases = state["last"], state["increases"]


class UniformClusterSampler(Sampler[int]):
    """Indices drawn equally from every non-empty pseudo-class (DeepCluster's ``UnifLabelSampler``).

    ``labels()`` is read at every epoch, so the sampler follows re-clustering; ``positions`` restricts sampling to
    the training clips (the held-out ones are never drawn) and maps dataset rows to loader positions. The order is a
    function of ``(seed, epoch)`` only, so every DDP rank builds the same list before the distributed split.
    """

    def __init__(self, labels: Any, positions: np.ndarray, seed: int = 0) -> None:
        self.labels, self.positions, self.seed, self.epoch = labels, np.asarray(positions), seed, 0
        self.counts: dict[str, int] = {}

    def __len__(self) -> int:
        return len(self.positions)

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __iter__(self) -> Iterator[int]:
        rows = np.asarray(self.labels())[self.positions]
        rng = np.random.default_rng([self.seed, self.epoch])
        if (rows < 0).all():  # before the first clustering (the engine builds the first iterator that early)
            self.counts = {"sampler_classes": 0, "sampler_per_class": 0}
            return iter(rng.permutation(len(rows)).tolist())
        rows = np.where(rows < 0, rows.max() + 1, rows)  # undecodable clips: one group of their own
        groups = [np.flatnonzero(rows == c) for c in np.unique(rows)]
        per = int(np.ceil(len(rows) / len(groups)))
        picks = [rng.choice(g, per, replace=len(g) < per) for g in groups]
        order = np.concatenate(picks)[rng.permutation(per * len(groups))][: len(rows)]
        self.counts = {"sampler_classes": len(groups), "sampler_per_class": per}
        return iter(order.tolist())


def gather_rows(x: torch.Tensor) -> torch.Tensor:
    """Rows of every process in rank order (no gradient); identity without a process group."""
    from xmodal.distributed import gather_cat

    return gather_cat(x, grad=False)


def broadcast_labels(labels: torch.Tensor, src: int = 0) -> torch.Tensor:
    """Rank ``src``'s labels on every process, so all ranks train on one assignment."""
    import torch.distributed as dist

    from xmodal.distributed import world_size

    if world_size() > 1:
        dist.broadcast(labels, src)
    return labels
