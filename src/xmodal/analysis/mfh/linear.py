"""Batched logistic regression with optional cross-modal KD, for the MVD Gaussian benchmark (MFH App. B.2).

The paper follows Lopez-Paz et al. (2015): teacher and student are logistic regressions. The official code
(zihuixue/MFH, ``gauss/main.py``) trains a 2-way ``nn.Linear`` with full-batch SGD, lr 0.1, 1000 epochs, and
reports the test accuracy after the last epoch; the KD student minimises ``w_ce·CE + w_kd·KL`` with
``KLDivLoss()`` (element-wise ``"mean"``) at temperature 1 and weights ``[1, 1]``. We train the R independent
runs of one sweep point *at once* as a batch of R linear models (one ``bmm`` per step): because the total loss
is the sum of the per-run losses and the parameters are disjoint, every run receives exactly the gradient it
would get alone, so this is the same optimisation, only ~R× faster on a shared CPU.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from xmodal.losses.kd import KLReduction, kd_kl_loss


@dataclass(frozen=True)
class LinearTrainConfig:
    """Optimisation of the Gaussian-benchmark logistic regressions (defaults: the official MFH code)."""

    epochs: int = 1000
    lr: float = 0.1
    momentum: float = 0.0
    kd_weights: tuple[float, float] = (1.0, 1.0)  # (w_ce, w_kd); the paper's "ρ = 0.5" is written [1, 1] in code
    temperature: float = 1.0
    kl_reduction: KLReduction = "mean"
    t2_scaling: bool = False


class BatchedLinear:
    """R independent linear classifiers ``x_r ↦ x_r W_r + b_r`` (``W``: R×d×K), initialised like ``nn.Linear``."""

    def __init__(self, runs: int, in_dim: int, num_classes: int, generator: torch.Generator) -> None:
        bound = 1.0 / math.sqrt(in_dim)
        self.weight = (torch.rand(runs, in_dim, num_classes, generator=generator) * 2 - 1) * bound
        self.bias = (torch.rand(runs, 1, num_classes, generator=generator) * 2 - 1) * bound
        self.weight.requires_grad_(True)
        self.bias.requires_grad_(True)

    def parameters(self) -> list[torch.Tensor]:
        return [self.weight, self.bias]

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        return torch.baddbmm(self.bias, x, self.weight)

    @torch.no_grad()
    def accuracy(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """Per-run accuracy (R,)."""
        return (self(x).argmax(-1) == y).float().mean(-1)


def _ce_per_run(logits: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    r, n, k = logits.shape
    return F.cross_entropy(logits.reshape(r * n, k), y.reshape(-1), reduction="none").view(r, n).mean(-1)


def kd_per_run(student: torch.Tensor, teacher: torch.Tensor, cfg: LinearTrainConfig) -> torch.Tensor:
    """Per-run KD term with the configured reduction, built from :func:`kd_kl_loss` per-sample values."""
    r, n, k = student.shape
    per_sample = kd_kl_loss(student.reshape(r * n, k), teacher.reshape(r * n, k), cfg.temperature, "none", False)
    per_run = per_sample.view(r, n)
    if cfg.kl_reduction == "batchmean":
        out = per_run.mean(-1)
    elif cfg.kl_reduction == "mean":
        out = per_run.mean(-1) / k
    elif cfg.kl_reduction == "sum":
        out = per_run.sum(-1)
    else:
        raise ValueError(f"reduction {cfg.kl_reduction!r} is not a scalar per run")
    t = cfg.temperature
    return out * (t * t) if cfg.t2_scaling else out


def train_linear(
    x: torch.Tensor,
    y: torch.Tensor,
    cfg: LinearTrainConfig,
    generator: torch.Generator,
    teacher_logits: torch.Tensor | None = None,
    num_classes: int = 2,
) -> BatchedLinear:
    """Full-batch SGD on R runs at once. With ``teacher_logits`` (R×n×K) the loss is ``w_ce·CE + w_kd·KD``."""
    model = BatchedLinear(x.shape[0], x.shape[-1], num_classes, generator)
    opt = torch.optim.SGD(model.parameters(), lr=cfg.lr, momentum=cfg.momentum)
    w_ce, w_kd = cfg.kd_weights
    for _ in range(cfg.epochs):
        logits = model(x)
        loss_runs = _ce_per_run(logits, y)
        if teacher_logits is not None:
            loss_runs = w_ce * loss_runs + w_kd * kd_per_run(logits, teacher_logits, cfg)
        opt.zero_grad(set_to_none=True)
        loss_runs.sum().backward()
        opt.step()
    return model
