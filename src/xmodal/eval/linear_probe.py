"""Linear (fully-connected) probe on frozen features, trained in torch (XKD §A.5).

Presets follow the paper: FSD50K — AdamW, fixed LR 1e-3, weight decay 1e-5, dropout 0.3, batch 256,
50 epochs, BCE (multi-label, scored by mAP); Kinetics-400 — AdamW, cosine schedule from base LR 0.01,
batch 512, 20 epochs. Features are standardized (z-scored) with training-set statistics (the probe has no norm
layer; XKD's code feeds raw features: ``normalize="none"``), and results are averaged over seeds. Hyperparameters
are fixed by the preset: there is no search on test.

Clips: by default every video is one row, its clip features averaged. ``per_clip=True`` on a set with several rows
per id (``average_clips=False`` at extraction) trains on every clip row (an epoch = all clip rows, as XKD's
FSD50K code draws 10 clips per video per epoch) and averages the test clips' probabilities per video (sigmoid for
multi-label, as XKD's code; softmax otherwise). XKD's code draws *new* clips every epoch through the frozen
backbone; a probe on extracted features reuses the same clips each epoch — documented in the card.
"""

from __future__ import annotations

import math
import time
from dataclasses import asdict, dataclass, replace
from typing import Any, Literal

import numpy as np
import torch
from torch import nn

from xmodal.eval.features import FeatureSet, l2_normalize, mean_by_id
from xmodal.eval.selection import score_predictions


@dataclass(frozen=True)
class ProbeConfig:
    epochs: int = 20
    batch_size: int = 256
    lr: float = 1e-3
    weight_decay: float = 1e-5
    dropout: float = 0.0
    schedule: Literal["cosine", "fixed"] = "cosine"
    normalize: Literal["standardize", "l2", "none"] = "standardize"
    per_clip: bool = False
    device: str = "cpu"


PRESETS: dict[str, ProbeConfig] = {
    "fsd50k": ProbeConfig(epochs=50, batch_size=256, lr=1e-3, weight_decay=1e-5, dropout=0.3, schedule="fixed"),
    "kinetics400": ProbeConfig(epochs=20, batch_size=512, lr=1e-2, weight_decay=0.0, dropout=0.0, schedule="cosine"),
}


def preset(name: str, **overrides: Any) -> ProbeConfig:
    if name not in PRESETS:
        raise KeyError(f"unknown probe preset {name!r}; known: {sorted(PRESETS)}")
    return replace(PRESETS[name], **overrides)


def _normalizer(train: np.ndarray, mode: str) -> Any:
    if mode == "l2":
        return l2_normalize
    if mode == "none":
        return lambda x: x
    mu, sd = train.mean(0, keepdims=True), train.std(0, keepdims=True) + 1e-6
    return lambda x: (x - mu) / sd


def train_probe(train: FeatureSet, cfg: ProbeConfig, seed: int, num_classes: int) -> tuple[nn.Module, Any]:
    """Fit dropout → linear on ``train``; returns the head and the feature normalizer it expects."""
    gen = torch.Generator().manual_seed(seed)
    torch.manual_seed(seed)
    norm = _normalizer(train.features, cfg.normalize)
    dev = torch.device(cfg.device)
    x = torch.from_numpy(norm(train.features).astype(np.float32)).to(dev)
    multilabel = train.multilabel
    y = torch.from_numpy(train.labels.astype(np.float32 if multilabel else np.int64)).to(dev)
    head = nn.Sequential(nn.Dropout(cfg.dropout), nn.Linear(x.shape[1], num_classes)).to(dev)
    opt = torch.optim.AdamW(head.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    steps_per_epoch = math.ceil(len(x) / cfg.batch_size)
    total = cfg.epochs * steps_per_epoch
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt, (lambda s: 0.5 * (1 + math.cos(math.pi * s / total))) if cfg.schedule == "cosine" else (lambda s: 1.0)
    )
    loss_fn: nn.Module = nn.BCEWithLogitsLoss() if multilabel else nn.CrossEntropyLoss()
    head.train()
    for _ in range(cfg.epochs):
        perm = torch.randperm(len(x), generator=gen).to(dev)
        for i in range(steps_per_epoch):
            idx = perm[i * cfg.batch_size : (i + 1) * cfg.batch_size]
            loss = loss_fn(head(x[idx]), y[idx])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
    return head.eval(), norm


@torch.no_grad()
def probe_scores(head: nn.Module, norm: Any, features: np.ndarray, device: str) -> np.ndarray:
    x = torch.from_numpy(norm(features).astype(np.float32)).to(device)
    return head(x).float().cpu().numpy()


def video_probabilities(scores: np.ndarray, test: FeatureSet) -> tuple[np.ndarray, np.ndarray]:
    """Per-video (probabilities, labels): sigmoid (multi-label) or softmax of the logits, averaged over an id's
    clip rows."""
    t = torch.from_numpy(scores)
    probs = (t.sigmoid() if test.multilabel else t.softmax(dim=1)).numpy()
    _, first, mean = mean_by_id(probs, test.ids)
    return mean, test.labels[first]


def probe_eval(data: FeatureSet, cfg: ProbeConfig, seed: int = 0, skip_empty_classes: bool = False) -> dict[str, Any]:
    """Train on train (+val: the preset has nothing to select) and score test once."""
    start = time.perf_counter()
    data = data if cfg.per_clip else data.mean_by_id()
    fit, test = data.by_split("train", "val"), data.by_split("test")
    head, norm = train_probe(fit, cfg, seed, data.num_classes)
    scores = probe_scores(head, norm, test.features, cfg.device)
    labels = test.labels
    if test.clip_rows:
        scores, labels = video_probabilities(scores, test)
    metrics, main = score_predictions(scores, labels, skip_empty=skip_empty_classes)
    return {
        "value": main, "metrics": metrics, "seed": seed, "config": asdict(cfg), "n_train": len(fit),
        "n_train_videos": len(np.unique(fit.ids)), "n_test": len(scores), "runtime_s": time.perf_counter() - start,
        "predictions": scores,
    }
