"""A ``DataLoader`` that tells its dataset the training epoch, so every epoch draws new clips and augmentations.

Where the epoch is set, and why there: Lightning may create a run's first iterator long before training starts
(``trainer.estimated_stepping_batches`` in ``configure_optimizers`` sets the data up while the trainer still
reports epoch 0, even when it is about to resume epoch 5 from a checkpoint), it creates the iterator of a resumed
epoch before any epoch hook, and it skips ``on_train_epoch_start`` when it resumes mid-epoch; worker processes start
prefetching as soon as an iterator exists. So the loader sets the dataset's epoch when it creates an iterator, and
checks again when the first batch is requested: if the epoch has changed in between (a restore), it sets the new
epoch and re-creates the iterator, which makes (persistent) workers drop what they prefetched. The dataset's epoch
lives in shared memory (:class:`xmodal.data.dataset.AVDataset`), so workers see it; ``epoch_source`` is a
constructor argument, so it survives Lightning re-creating the loader with a ``DistributedSampler`` under DDP.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

from torch.utils.data import DataLoader


class EpochDataLoader(DataLoader):
    """``DataLoader(..., epoch_source=fn)``: the dataset's ``set_epoch(fn())`` runs before batches are drawn.

    ``epoch_source`` is usually bound by the training engine to the trainer's current epoch
    (:func:`xmodal.training.trainer.fit`); left ``None`` the loader behaves like a plain ``DataLoader``.
    """

    def __init__(self, *args: Any, epoch_source: Callable[[], int] | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.epoch_source = epoch_source

    def sync_epoch(self) -> int | None:
        """Set the dataset's epoch from ``epoch_source``; return it (None when there is nothing to set)."""
        set_epoch = getattr(self.dataset, "set_epoch", None)
        if self.epoch_source is None or not callable(set_epoch):
            return None
        epoch = int(self.epoch_source())
        set_epoch(epoch)
        return epoch

    def __iter__(self) -> Iterator[Any]:
        epoch = self.sync_epoch()
        inner = self.new_iterator()
        return inner if epoch is None else _EpochCheckedIterator(self, inner, epoch)

    def new_iterator(self) -> Iterator[Any]:
        """A fresh iterator over the dataset (subclasses plan the epoch here: :class:`~xmodal.data.shard_dataset.
        ShardLoader`)."""
        return DataLoader.__iter__(self)

    def stale(self, epoch: int | None) -> bool:
        """Whether an iterator created for ``epoch`` must be re-created before its first batch (the epoch changed)."""
        return self.sync_epoch() != epoch


class _EpochCheckedIterator:
    """Re-creates the loader's iterator at the first batch if the epoch changed after it was created."""

    def __init__(self, loader: EpochDataLoader, inner: Iterator[Any], epoch: int | None) -> None:
        self.loader, self.inner, self.epoch = loader, inner, epoch
        self.checked = False

    def __iter__(self) -> _EpochCheckedIterator:
        return self

    def __len__(self) -> int:
        return len(self.inner)  # type: ignore[arg-type]

    def __next__(self) -> Any:
        if not self.checked:
            self.checked = True
            if self.loader.stale(self.epoch):
                self.inner = self.loader.new_iterator()
        return next(self.inner)
