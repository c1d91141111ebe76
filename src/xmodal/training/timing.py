"""How much of a training run waits for data: a Lightning callback that splits wall time into step and wait.

Why: a GPU fed too slowly shows no error, only a lower clips/s. The callback times, for every batch, the wait
between the end of the previous step and the start of this one (fetching the batch from the loader, the transfer
to the device and ``on_after_batch_transfer``, where ``data.augment_on=device`` builds the views) against the step
itself (forward, backward, optimizer, EMA). Issue 18's target is a wait under 5 % of the time on one GPU. On CUDA
both boundaries synchronize the device, otherwise asynchronous kernels would be counted in the wrong phase.
"""

from __future__ import annotations

import time
from typing import Any

import lightning.pytorch as L
import torch


class DataWaitTimer(L.Callback):
    """Per-batch ``wait_s`` and ``step_s`` after ``skip`` warm-up batches (compilation, worker start-up, cuDNN
    autotuning); :meth:`summary` gives totals, the wait fraction and clips/s."""

    def __init__(self, skip: int = 2) -> None:
        self.skip = skip
        self.wait_s: list[float] = []
        self.step_s: list[float] = []
        self.batch_sizes: list[int] = []
        self._seen = 0
        self._end: float | None = None
        self._start = 0.0

    @staticmethod
    def _now(module: L.LightningModule) -> float:
        if module.device.type == "cuda":
            torch.cuda.synchronize(module.device)
        return time.perf_counter()

    def on_train_epoch_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self._end = self._now(pl_module)  # the first fetch of an epoch includes starting the loader's iterator

    def on_train_batch_start(self, trainer: L.Trainer, pl_module: L.LightningModule, batch: Any,
                             batch_idx: int) -> None:
        self._start = self._now(pl_module)
        if self._end is not None and self._seen >= self.skip:
            self.wait_s.append(self._start - self._end)

    def on_train_batch_end(self, trainer: L.Trainer, pl_module: L.LightningModule, outputs: Any, batch: Any,
                           batch_idx: int) -> None:
        self._end = self._now(pl_module)
        if self._seen >= self.skip:
            self.step_s.append(self._end - self._start)
            index = batch.get("index") if isinstance(batch, dict) else None
            self.batch_sizes.append(int(index.shape[0]) if isinstance(index, torch.Tensor) else 0)
        self._seen += 1

    def summary(self) -> dict[str, Any]:
        """Totals over the timed batches; ``wait_fraction`` = wait / (wait + step)."""
        wait, step = sum(self.wait_s), sum(self.step_s)
        total = wait + step
        return {
            "timed_batches": len(self.step_s),
            "wait_s": wait,
            "step_s": step,
            "wait_fraction": wait / total if total > 0 else float("nan"),
            "clips_per_s": sum(self.batch_sizes) / total if total > 0 else float("nan"),
            "max_wait_s": max(self.wait_s, default=0.0),
        }
