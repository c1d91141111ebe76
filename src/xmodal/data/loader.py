"""A ``DataLoader`` that tells its dataset the training epoch at the moment an epoch's iterator is created.

Why not a callback on ``on_train_epoch_start``: Lightning creates the first iterator of a run (and the iterator of
an epoch resumed from a checkpoint) *before* that hook runs, and it skips the hook entirely when it resumes
mid-epoch; with ``num_workers > 0`` the workers start prefetching as soon as the iterator exists. Setting the
epoch inside ``__iter__``, before the parent creates the iterator, is the one place that is right in every case:
fresh epochs, resumed epochs, one or several workers, persistent workers (the dataset's epoch lives in shared
memory, see :class:`xmodal.data.dataset.AVDataset`) and re-created loaders (Lightning rebuilds the loader with a
``DistributedSampler`` under DDP; ``epoch_source`` is a constructor argument, so it survives the rebuild).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

from torch.utils.data import DataLoader


class EpochDataLoader(DataLoader):
    """``DataLoader(..., epoch_source=fn)``: before each iterator, ``dataset.set_epoch(fn())`` when both exist.

    ``epoch_source`` is usually bound by the training engine to the trainer's current epoch
    (:func:`xmodal.methods.engine.fit`); left ``None`` the loader behaves like a plain ``DataLoader``.
    """

    def __init__(self, *args: Any, epoch_source: Callable[[], int] | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.epoch_source = epoch_source

    def __iter__(self) -> Iterator[Any]:
        set_epoch = getattr(self.dataset, "set_epoch", None)
        if self.epoch_source is not None and callable(set_epoch):
            set_epoch(int(self.epoch_source()))
        return super().__iter__()
