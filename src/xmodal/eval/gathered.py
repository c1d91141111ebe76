"""Test-set predictions gathered across processes with torchmetrics, then scored by the project's own metrics.

Under DDP each process tests only its shard of the test set, so a top-1 or mAP computed from one process's
predictions is not the test-set number. :class:`GatheredPredictions` is a ``torchmetrics.Metric`` whose states
(logits, labels, dataset indices) torchmetrics concatenates over all processes in ``compute()``; the gathered
set is then scored by :func:`xmodal.eval.selection.score_predictions`, the same top-1/top-5/mAP definitions the
frozen-feature protocols use (tested against sklearn), not a second implementation of them.

Three details make the gathered set equal the one a single process would see:

* ``DistributedSampler`` pads the last shard with repeated samples; rows are de-duplicated by dataset index
  (first occurrence kept). Rows without an index (``-1``) are all kept.
* torchmetrics 1.3 all-gathers only non-empty list states: a process whose whole shard was skipped leaves the
  collective while the others are in it, and they fail (verified under 2-process gloo; newer releases pad the
  empty state themselves). Every state is therefore seeded with a zero-length tensor.
* States are flat 1-D tensors with fixed dtypes (float32 logits, int64 labels and indices), so a process that saw
  no sample needs to know neither the number of classes nor whether labels are multi-hot; shapes are restored
  from the number of rows at ``compute()``. A label width of 1 means one class id per row.
"""

from __future__ import annotations

import numpy as np
import torch
from torchmetrics import Metric
from torchmetrics.utilities import dim_zero_cat

from xmodal.eval.selection import score_predictions


class GatheredPredictions(Metric):
    """Collects ``(logits, labels, index)`` per batch; ``compute()`` returns ``score_predictions``' metrics dict
    (``{}`` when no process saw a sample). Call it on every process: it is a collective under DDP."""

    full_state_update = False

    def __init__(self) -> None:
        super().__init__()
        self.add_state("scores", default=[], dist_reduce_fx="cat")
        self.add_state("labels", default=[], dist_reduce_fx="cat")
        self.add_state("index", default=[], dist_reduce_fx="cat")
        self._seed()

    def _seed(self) -> None:
        self.scores.append(torch.zeros(0, dtype=torch.float32, device=self.device))
        self.labels.append(torch.zeros(0, dtype=torch.int64, device=self.device))
        self.index.append(torch.zeros(0, dtype=torch.int64, device=self.device))

    def reset(self) -> None:
        super().reset()
        self._seed()

    def update(self, scores: torch.Tensor, labels: torch.Tensor, index: torch.Tensor | None = None) -> None:
        """``scores`` (B, C) logits; ``labels`` (B,) class ids or (B, C) multi-hot; ``index`` (B,) dataset rows."""
        n = scores.shape[0]
        labels = torch.as_tensor(labels, device=scores.device)
        if labels.shape[0] != n:
            raise ValueError(f"GatheredPredictions: {n} score rows but {labels.shape[0]} labels")
        index = torch.full((n,), -1, dtype=torch.int64) if index is None else torch.as_tensor(index)
        self.scores.append(scores.detach().float().flatten())
        self.labels.append(labels.detach().long().flatten())
        self.index.append(index.to(scores.device, torch.int64).flatten())

    def compute(self) -> dict[str, float]:
        index = dim_zero_cat(self.index).cpu().numpy()
        n = index.shape[0]
        if n == 0:
            return {}
        scores = dim_zero_cat(self.scores).cpu().numpy().reshape(n, -1)
        labels = dim_zero_cat(self.labels).cpu().numpy().reshape(n, -1)
        if labels.shape[1] == 1:
            labels = labels[:, 0]
        keep = _first_occurrences(index)
        metrics, _ = score_predictions(scores[keep], labels[keep])
        return metrics


def _first_occurrences(index: np.ndarray) -> np.ndarray:
    """Row positions to keep: the first row of each non-negative index, and every row with index -1."""
    _, first = np.unique(index, return_index=True)
    known = first[index[first] >= 0]
    return np.sort(np.concatenate([known, np.flatnonzero(index < 0)]))
