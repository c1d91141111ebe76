"""Cross-modal retrieval between paired audio and video features (MAViL §4 "Audio-to-Video Retrieval", Table 9).

Audio track i is the query and video i the only correct item (and the reverse for video→audio); items are
ranked by cosine similarity and Recall@1/5/10 is reported for both directions on the test split. Ties with the
true item count as broken uniformly at random (in expectation, :func:`~xmodal.eval.metrics.recall_at_k`), so a
collapsed, constant embedding scores chance and not R@1 = 1.0.

Two protocols. **Zero-shot** (:func:`retrieval_eval`): the frozen features are compared as they are; they must
live in one embedding space (contrastive projections, MAViL-style), not two unrelated trunks. **Fine-tuned**
(:func:`finetuned_retrieval_eval`): MAViL Table 9 fine-tunes the model on the target's training pairs before
retrieving; here a linear projection per modality is trained on the frozen train (+val) pairs with MAViL's
inter-modal contrastive loss (Eq. 2, τ = 0.1, :func:`xmodal.losses.contrastive.info_nce`) and the test pairs are
retrieved in the projected space. That adapts a small head, not the encoders: a documented departure.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import torch
from torch import nn

from xmodal.eval.features import FeatureSet
from xmodal.eval.fusion import align
from xmodal.eval.metrics import Ties, recall_at_k
from xmodal.losses.contrastive import info_nce


def retrieval_eval(
    audio: FeatureSet, video: FeatureSet, ks: Sequence[int] = (1, 5, 10), split: str = "test", device: str = "cpu",
    ties: Ties = "expected",
) -> dict[str, Any]:
    """Zero-shot Recall@K for a→v and v→a on the rows of ``split`` present in both sets."""
    start = time.perf_counter()
    a, v = align(audio.mean_by_id().by_split(split), video.mean_by_id().by_split(split))
    if a.features.shape[1] != v.features.shape[1]:
        raise ValueError(f"retrieval needs one embedding space; audio dim {a.features.shape[1]} != video dim "
                         f"{v.features.shape[1]} (use projected / contrastive embeddings, or the fine-tuned "
                         "protocol: xmodal eval retrieval --finetune)")
    return _recalls(torch.from_numpy(a.features), torch.from_numpy(v.features), ks, device, ties, start)


def _recalls(a: torch.Tensor, v: torch.Tensor, ks: Sequence[int], device: str, ties: Ties,
             start: float) -> dict[str, Any]:
    a, v = a.to(device), v.to(device)
    return {"a2v": recall_at_k(a, v, ks, ties=ties), "v2a": recall_at_k(v, a, ks, ties=ties), "n": len(a),
            "runtime_s": time.perf_counter() - start}


@dataclass(frozen=True)
class ProjectionConfig:
    """The fine-tuned protocol's heads: ``dim``-d linear projections trained with InfoNCE (MAViL Eq. 2) at ``tau``
    (Eq. 3 inter-modal: 0.1; ``symmetric`` adds the v→a direction), AdamW, full passes over shuffled pairs."""

    dim: int = 256
    epochs: int = 100
    batch_size: int = 256
    lr: float = 1e-3
    weight_decay: float = 1e-4
    tau: float = 0.1
    symmetric: bool = False
    seed: int = 0


def train_projections(audio: np.ndarray, video: np.ndarray, cfg: ProjectionConfig,
                      device: str = "cpu") -> tuple[nn.Linear, nn.Linear]:
    """Two linear heads mapping paired rows ``audio[i]``, ``video[i]`` into one space (train pairs only). Gradients
    are enabled here, so a caller's ``torch.no_grad()`` (feature extraction code) does not break the training."""
    if len(audio) < 2:
        raise ValueError("the fine-tuned retrieval protocol needs at least 2 training pairs")
    torch.manual_seed(cfg.seed)
    gen = torch.Generator().manual_seed(cfg.seed)
    dev = torch.device(device)
    xa, xv = torch.from_numpy(audio).float().to(dev), torch.from_numpy(video).float().to(dev)
    pa, pv = nn.Linear(xa.shape[1], cfg.dim).to(dev), nn.Linear(xv.shape[1], cfg.dim).to(dev)
    opt = torch.optim.AdamW([*pa.parameters(), *pv.parameters()], lr=cfg.lr, weight_decay=cfg.weight_decay)
    with torch.enable_grad():
        _fit_projections(xa, xv, pa, pv, opt, cfg, gen)
    return pa.eval(), pv.eval()


def _fit_projections(xa: torch.Tensor, xv: torch.Tensor, pa: nn.Linear, pv: nn.Linear, opt: torch.optim.Optimizer,
                     cfg: ProjectionConfig, gen: torch.Generator) -> None:
    dev = xa.device
    for _ in range(cfg.epochs):
        perm = torch.randperm(len(xa), generator=gen).to(dev)
        for i in range(0, len(perm), cfg.batch_size):
            idx = perm[i : i + cfg.batch_size]
            if len(idx) < 2:  # one pair has no negative
                continue
            loss = info_nce(pa(xa[idx]), pv(xv[idx]), cfg.tau, symmetric=cfg.symmetric, gather=False)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()


def finetuned_retrieval_eval(
    audio: FeatureSet, video: FeatureSet, cfg: ProjectionConfig | None = None, ks: Sequence[int] = (1, 5, 10),
    split: str = "test", device: str = "cpu", ties: Ties = "expected",
) -> dict[str, Any]:
    """Train the projections on the train (+val) pairs, retrieve the ``split`` pairs in the projected space."""
    start = time.perf_counter()
    cfg = cfg or ProjectionConfig()
    a, v = align(audio.mean_by_id(), video.mean_by_id())
    fit = np.isin(a.split, ("train", "val")) & (a.split != split)
    test = a.split == split
    if not test.any():
        raise ValueError(f"no {split!r} pairs to retrieve")
    pa, pv = train_projections(a.features[fit], v.features[fit], cfg, device)
    with torch.no_grad():
        ta = pa(torch.from_numpy(a.features[test]).to(device)).cpu()
        tv = pv(torch.from_numpy(v.features[test]).to(device)).cpu()
    out = _recalls(ta, tv, ks, device, ties, start)
    return {**out, "n_train_pairs": int(fit.sum()), "projection": asdict(cfg)}
