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

Mid-epoch resume. A shuffled loader draws each epoch's order from ``(seed, epoch)`` (:class:`EpochRandomSampler`;
under DDP Lightning's ``DistributedSampler`` does the same per rank), so a resumed epoch can replay the order of the
interrupted one. ``state_dict`` records the epoch and the batches the trainer has processed in it (the engine binds
``progress_source`` to Lightning's count, which excludes a prefetched batch); after ``load_state_dict`` the next
iterator of that epoch skips those batches at the index level — nothing is decoded for them — so a resumed run feeds
the model the same batches as an uninterrupted one. The state lives in a :class:`ResumeState` shared with the
copies Lightning makes of the loader.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator, Sized
from dataclasses import dataclass
from typing import Any

import torch
from torch.utils.data import DataLoader, IterableDataset, RandomSampler


class EpochRandomSampler(RandomSampler):
    """A permutation of the dataset drawn from ``seed + epoch`` (the rule of ``DistributedSampler``, so a single
    process sees the order a one-rank DDP run would): every epoch is reshuffled, and an epoch can be replayed.

    A ``RandomSampler`` subclass so that Lightning recognises the loader as shuffled and gives each DDP rank a
    shuffled ``DistributedSampler``."""

    def __init__(self, data_source: Sized, seed: int = 0) -> None:
        super().__init__(data_source)
        self.seed, self.epoch = seed, 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __iter__(self) -> Iterator[int]:
        gen = torch.Generator().manual_seed(self.seed + self.epoch)
        yield from torch.randperm(len(self.data_source), generator=gen).tolist()


@dataclass
class ResumeState:
    """What a loader and Lightning's copies of it share: the epoch of the live iterator, a restored ``{"epoch",
    "batches"}`` not yet applied, and the batches to skip while the next iterator is being created."""

    epoch: int | None = None
    pending: dict[str, int] | None = None
    skip: int = 0


class _SkipFirst:
    """The loader's batch sampler without its first ``state.skip`` batches (read when an epoch's indices are drawn,
    also by persistent workers' iterators, which keep this object across epochs)."""

    def __init__(self, inner: Any, state: ResumeState) -> None:
        self.inner, self.state, self.applied = inner, state, 0

    def __iter__(self) -> Iterator[Any]:
        self.applied = self.state.skip
        return itertools.islice(iter(self.inner), self.applied, None)

    def __len__(self) -> int:
        return len(self.inner) - self.applied


class EpochDataLoader(DataLoader):
    """``DataLoader(..., epoch_source=fn)``: the dataset's ``set_epoch(fn())`` runs before batches are drawn.

    ``epoch_source`` is usually bound by the training engine to the trainer's current epoch
    (:func:`xmodal.training.trainer.fit`); left ``None`` the loader behaves like a plain ``DataLoader``.
    ``shuffle=True`` draws each epoch's order from ``seed`` (:class:`EpochRandomSampler`); ``state_dict`` /
    ``load_state_dict`` resume an epoch at its next batch (module doc).
    """

    def __init__(self, *args: Any, epoch_source: Callable[[], int] | None = None,
                 progress_source: Callable[[], int] | None = None, seed: int = 0,
                 resume_state: ResumeState | None = None, **kwargs: Any) -> None:
        if kwargs.pop("shuffle", False) and kwargs.get("sampler") is None and kwargs.get("batch_sampler") is None:
            kwargs["sampler"] = EpochRandomSampler(args[0] if args else kwargs["dataset"], seed)
        super().__init__(*args, **kwargs)
        self.epoch_source, self.progress_source, self.seed = epoch_source, progress_source, seed
        self.resume_state = resume_state if resume_state is not None else ResumeState()

    @property
    def _index_sampler(self) -> Any:
        inner = super()._index_sampler
        return inner if isinstance(self.dataset, IterableDataset) else _SkipFirst(inner, self.resume_state)

    def sync_epoch(self) -> int | None:
        """Set the dataset's (and the sampler's) epoch from ``epoch_source``; return it (None when unbound)."""
        if self.epoch_source is None:
            return None
        epoch = int(self.epoch_source())
        for target in (self.dataset, self.sampler):
            if callable(getattr(target, "set_epoch", None)):
                target.set_epoch(epoch)
        return epoch

    def __iter__(self) -> Iterator[Any]:
        epoch = self.sync_epoch()
        inner = self.new_iterator()
        return inner if epoch is None else _EpochCheckedIterator(self, inner, epoch)

    def new_iterator(self) -> Iterator[Any]:
        """A fresh iterator over the dataset, skipping the batches a restored checkpoint of this epoch has trained on
        (subclasses plan the epoch here: :class:`~xmodal.data.shard_dataset.ShardLoader`)."""
        state = self.resume_state
        epoch = self.epoch_source() if self.epoch_source is not None else None
        state.epoch, state.skip, pending = epoch, 0, state.pending
        if pending is not None and epoch is not None and epoch >= pending["epoch"]:
            # Lightning may create a resumed epoch's iterator while it still reports an earlier epoch: the restored
            # state waits for its own epoch (the first-batch check re-creates the iterator then).
            state.pending = None
            state.skip = pending["batches"] if epoch == pending["epoch"] else 0
        try:
            return DataLoader.__iter__(self)
        finally:
            state.skip = 0

    def stale(self, epoch: int | None) -> bool:
        """Whether an iterator created for ``epoch`` must be re-created before its first batch (the epoch changed,
        or a checkpoint was restored after it was created)."""
        return self.sync_epoch() != epoch or self.resume_state.pending is not None

    def state_dict(self) -> dict[str, Any]:
        """The live epoch and the batches the trainer has processed in it (stored in every checkpoint)."""
        state = self.resume_state
        if state.epoch is None or self.progress_source is None:
            return {}
        return {"epoch": int(state.epoch), "batches": int(self.progress_source())}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.resume_state.pending = {k: int(v) for k, v in state.items()} if state else None


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
