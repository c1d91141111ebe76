"""Online monitors during pretraining (as solo-learn offers): a detached linear head on pooled features and a
weighted k-NN on a feature bank report validation accuracy per modality every epoch.

Why: a self-supervised loss going down says little about the features; a week-long run should show, per epoch,
whether its features separate classes. The monitor never touches the self-supervised run:

- features come from an extra forward under ``torch.no_grad`` with every module in eval mode (no dropout or
  drop-path draws, no BatchNorm statistic updates; each module's mode is restored) inside ``fork_rng`` (the global
  RNG streams that masking and augmentation draw from are left where they were), so the method's gradients,
  parameters and losses are identical with and without it (tests/training/test_monitor.py);
- the linear heads live on the callback, not on the LightningModule: their own optimizer (Adam), outside DDP and
  outside the checkpointed method;
- under DDP each step's features and labels are all-gathered, so every rank appends the same global batch to its
  bank and makes the same head update from the same (seeded) initial head; validation batches are split across
  ranks and the correct counts summed, so the accuracy is that of the whole validation split.

Logged as ``monitor/<modality>_linear_acc`` and ``monitor/<modality>_knn_acc`` (progress bar and CSV/TensorBoard)
at each training epoch's end. Which features, which labels and which validation data are the method's business
(:mod:`xmodal.methods.monitor_setup`); this module only needs a ``features(module, batch)`` function.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, Literal

import lightning.pytorch as L
import torch
import torch.nn.functional as F
from lightning.pytorch.callbacks import Callback
from torch import nn

from xmodal.config import ConfigError
from xmodal.training.knn import knn_scores

log = logging.getLogger(__name__)
FeatureFn = Callable[[L.LightningModule, dict[str, Any]], dict[str, torch.Tensor]]


@dataclass
class MonitorConfig:
    """``online``: ``auto`` turns the monitors on when the data has single labels and a ``split`` to validate on;
    ``on`` (YAML reads ``on``/``true`` as a boolean) requires both, with a clear error otherwise; ``off`` never.
    The k-NN follows DINO (k = 20, T = 0.07)."""

    online: Literal["auto"] | bool = "auto"
    split: str = "val"
    k: int = 20
    temperature: float = 0.07
    bank_size: int = 8192
    lr: float = 1e-3
    batch_size: int = 32
    cache: bool = True  # keep the decoded validation clips in memory (off for a large validation split)

    def validate(self) -> None:
        if self.online not in ("auto", True, False):
            raise ConfigError(f"monitor.online: {self.online!r} is not one of auto, on, off")
        if self.k < 1 or self.bank_size < 1 or self.batch_size < 1 or self.temperature <= 0 or self.lr <= 0:
            raise ConfigError("monitor: k, bank_size, batch_size must be ≥ 1 and temperature, lr > 0")


class _Quiet:
    """Every module in eval mode, global RNG forked, no autograd; modes restored on exit."""

    def __init__(self, module: nn.Module) -> None:
        self.module = module
        self.modes: list[tuple[nn.Module, bool]] = []
        self.rng = torch.random.fork_rng(devices=[module.device] if getattr(module, "device", None) is not None
                                         and module.device.type == "cuda" else [])
        self.no_grad = torch.no_grad()

    def __enter__(self) -> None:
        self.modes = [(m, m.training) for m in self.module.modules()]
        self.module.eval()
        self.rng.__enter__()
        self.no_grad.__enter__()

    def __exit__(self, *exc: Any) -> None:
        self.no_grad.__exit__(*exc)
        self.rng.__exit__(*exc)
        for m, mode in self.modes:
            m.training = mode


class OnlineMonitor(Callback):
    def __init__(self, features: FeatureFn, val_batches: Iterable[dict[str, Any]], num_classes: int,
                 cfg: MonitorConfig) -> None:
        self.features, self.val_batches, self.num_classes, self.cfg = features, val_batches, num_classes, cfg
        self.heads: dict[str, nn.Linear] = {}
        self.optims: dict[str, torch.optim.Optimizer] = {}
        self.bank: dict[str, torch.Tensor] = {}
        self.bank_labels = torch.empty(0, dtype=torch.long)

    def _head(self, mod: str, dim: int, device: torch.device) -> nn.Linear:
        if mod not in self.heads:
            gen = torch.Generator().manual_seed(len(self.heads))  # identical on every rank
            with torch.random.fork_rng(devices=[]), torch.no_grad():  # nn.Linear's own init draws globally
                head = nn.Linear(dim, self.num_classes)
                bound = 1 / dim**0.5
                head.weight.uniform_(-bound, bound, generator=gen)
                head.bias.zero_()
            self.heads[mod] = head.to(device)
            self.optims[mod] = torch.optim.Adam(self.heads[mod].parameters(), lr=self.cfg.lr)
        return self.heads[mod]

    @staticmethod
    def _gather(trainer: L.Trainer, x: torch.Tensor) -> torch.Tensor:
        if trainer.world_size == 1:
            return x
        return trainer.strategy.all_gather(x).reshape(-1, *x.shape[1:])

    def on_train_batch_end(self, trainer: L.Trainer, pl_module: L.LightningModule, outputs: Any,
                           batch: dict[str, Any], batch_idx: int) -> None:
        with _Quiet(pl_module):
            feats = self.features(pl_module, batch)
        labels = self._gather(trainer, batch["label"].to(pl_module.device).long())
        self.bank_labels = torch.cat([self.bank_labels.to(labels.device), labels])[-self.cfg.bank_size:]
        for mod, f in feats.items():
            f = self._gather(trainer, f.detach().float())
            self.bank[mod] = torch.cat([self.bank.get(mod, f[:0]), F.normalize(f, dim=1)])[-self.cfg.bank_size:]
            head = self._head(mod, f.shape[1], f.device)
            with torch.enable_grad():
                loss = F.cross_entropy(head(f), labels)
                self.optims[mod].zero_grad()
                loss.backward()
                self.optims[mod].step()

    def on_train_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if not self.bank:
            return
        counts = self.evaluate(pl_module, trainer.global_rank, trainer.world_size)
        if trainer.world_size > 1:
            counts = trainer.strategy.reduce(counts, reduce_op="sum")
        total = counts[-1].clamp_min(1)
        for i, mod in enumerate(sorted(self.bank)):
            for j, kind in enumerate(("linear", "knn")):
                pl_module.log(f"monitor/{mod}_{kind}_acc", float(counts[2 * i + j] / total), prog_bar=True,
                              on_epoch=True, on_step=False, sync_dist=False)

    def evaluate(self, pl_module: L.LightningModule, rank: int = 0, world: int = 1) -> torch.Tensor:
        """Correct counts ``[mod0 linear, mod0 knn, mod1 linear, …, total]`` on this rank's share of the split."""
        mods = sorted(self.bank)
        counts = torch.zeros(2 * len(mods) + 1, device=pl_module.device)
        onehot = F.one_hot(self.bank_labels, self.num_classes).float()
        for i, batch in enumerate(self.val_batches):
            if i % world != rank:
                continue
            with _Quiet(pl_module):
                feats = self.features(pl_module, batch)
                y = batch["label"].to(pl_module.device).long()
                for m, mod in enumerate(mods):
                    f = feats[mod].float()
                    counts[2 * m] += (self.heads[mod](f).argmax(1) == y).sum()
                    votes = knn_scores(self.bank[mod], onehot, f, self.cfg.k, self.cfg.temperature)
                    counts[2 * m + 1] += (votes.argmax(1) == y).sum()
            counts[-1] += len(y)
        return counts
