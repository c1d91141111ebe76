"""MFH Algorithm 1 (MFH App. B.4): modality-general decisive feature ranking.

Step 1 trains two unimodal networks jointly with ``Dist(f_a(X^a), f_b(X^b)) + CE(Y, f_a) + CE(Y, f_b)``
(Eq. 28) so both are driven to "feature alignment" at the output. Steps 2–8 permute one channel i of X^a
(or of a named intermediate layer of f_a) across samples, M times, and record the mean distance
``Dist(f_a(X̃^a), f_b(X^b))``: a channel whose shuffling breaks the alignment carries modality-general decisive
information. Step 9 normalises ``p ← p / max p``; the official code instead min-max normalises
(``normalize="minmax"``), which changes values but not the ranking.

Defaults follow the official Gaussian code (``gauss/main_modify_gamma.py``): SGD lr 0.01, momentum 0.9, 1000
full-batch epochs, MSE distance between logits, M = 100.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from xmodal.models.taps import OutputEdit


@dataclass(frozen=True)
class RankConfig:
    epochs: int = 1000
    lr: float = 0.01
    momentum: float = 0.9
    batch_size: int | None = None  # None: full batch (official Gaussian code)
    repeats: int = 100  # M
    normalize: Literal["max", "minmax"] = "max"


def joint_train(net_a: nn.Module, net_b: nn.Module, xa: torch.Tensor, xb: torch.Tensor, y: torch.Tensor,
                cfg: RankConfig, generator: torch.Generator) -> None:
    """Step 1, Eq. 28, in place: one SGD optimizer over both networks, MSE distance between their outputs."""
    params = list(net_a.parameters()) + list(net_b.parameters())
    opt = torch.optim.SGD(params, lr=cfg.lr, momentum=cfg.momentum)
    net_a.train()
    net_b.train()
    n = xa.shape[0]
    bs = cfg.batch_size or n
    for _ in range(cfg.epochs):
        order = torch.randperm(n, generator=generator) if bs < n else torch.arange(n)
        for start in range(0, n, bs):
            idx = order[start:start + bs]
            out_a, out_b = net_a(xa[idx]), net_b(xb[idx])
            loss = F.mse_loss(out_a, out_b) + F.cross_entropy(out_a, y[idx]) + F.cross_entropy(out_b, y[idx])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()


def _permute_channel(x: torch.Tensor, channel: int, perm: torch.Tensor) -> torch.Tensor:
    out = x.clone()
    out[:, channel] = x[perm, channel]
    return out


@torch.no_grad()
def permutation_salience(net_a: nn.Module, net_b: nn.Module, xa: torch.Tensor, xb: torch.Tensor, cfg: RankConfig,
                         generator: torch.Generator, layer: str | None = None) -> np.ndarray:
    """Steps 2–9: salience ``p ∈ [0, 1]^C`` of the channels (dim 1) of X^a, or of ``layer``'s output in f_a.

    A channel of a conv feature map is permuted across samples as a whole (all positions move together),
    which is what "the i-th feature channel" means for Algorithm 1 on a middle layer.
    """
    net_a.eval()
    net_b.eval()
    h_b = net_b(xb)
    n = xa.shape[0]
    if layer is None:
        channels = xa.shape[1]
        edit = None
    else:
        probe: dict[str, torch.Tensor] = {}
        with OutputEdit(net_a, layer, lambda t: probe.setdefault("x", t)):
            net_a(xa[:1])
        channels = probe["x"].shape[1]
        edit = OutputEdit(net_a, layer)
    p = np.zeros(channels)
    try:
        for _ in range(cfg.repeats):
            for i in range(channels):
                perm = torch.randperm(n, generator=generator)
                if edit is None:
                    h_a = net_a(_permute_channel(xa, i, perm))
                else:
                    edit.fn = lambda t, i=i, perm=perm: _permute_channel(t, i, perm)
                    h_a = net_a(xa)
                p[i] += F.mse_loss(h_a, h_b).item() / cfg.repeats
    finally:
        if edit is not None:
            edit.remove()
    if cfg.normalize == "minmax":
        span = p.max() - p.min()
        return (p - p.min()) / span if span > 0 else np.zeros_like(p)
    return p / p.max() if p.max() > 0 else p


def rank_linear(xa: torch.Tensor, xb: torch.Tensor, y: torch.Tensor, num_classes: int, cfg: RankConfig,
                seed: int = 0) -> np.ndarray:
    """Algorithm 1 at the input level with logistic-regression heads (the Gaussian setting)."""
    gen = torch.Generator().manual_seed(seed)
    torch.manual_seed(seed)
    net_a, net_b = nn.Linear(xa.shape[1], num_classes), nn.Linear(xb.shape[1], num_classes)
    joint_train(net_a, net_b, xa, xb, y, cfg, gen)
    return permutation_salience(net_a, net_b, xa, xb, cfg, gen)


def recall_at_k(salience: np.ndarray, true_idx: list[int] | tuple[int, ...]) -> float:
    """Fraction of the planted channels among the ``k = len(true_idx)`` most salient ones."""
    k = len(true_idx)
    if k == 0:
        return float("nan")
    top = np.argsort(-salience, kind="stable")[:k]
    return len(set(top.tolist()) & set(true_idx)) / k
