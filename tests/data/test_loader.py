"""EpochDataLoader: per-epoch seeded order, and resuming an epoch at its next batch (also in the copy Lightning makes
under DDP with a DistributedSampler, and with persistent workers, which keep their batch sampler across epochs)."""

from __future__ import annotations

from typing import Any

import pytest
from lightning.pytorch.utilities.data import _update_dataloader
from torch.utils.data import Dataset, DistributedSampler

from xmodal.data.loader import EpochDataLoader, EpochRandomSampler


class Rows(Dataset):
    def __init__(self, n: int) -> None:
        self.n = n

    def __len__(self) -> int:
        return self.n

    def __getitem__(self, i: int) -> int:
        return i


class Clock:
    """Stands in for the trainer: the current epoch and the batches processed in it."""

    def __init__(self) -> None:
        self.epoch, self.done = 0, 0


def _loader(clock: Clock, workers: int = 0, **kwargs: Any) -> EpochDataLoader:
    return EpochDataLoader(Rows(20), batch_size=4, shuffle=True, seed=7, num_workers=workers,
                           persistent_workers=workers > 0, epoch_source=lambda: clock.epoch,
                           progress_source=lambda: clock.done, **kwargs)


def _epoch(loader: EpochDataLoader, clock: Clock, stop: int | None = None) -> list[list[int]]:
    out = []
    for batch in loader:
        if stop is not None and clock.done == stop:
            break
        out.append(batch.tolist())
        clock.done += 1
    return out


def test_order_is_seeded_per_epoch_like_a_one_rank_distributed_sampler() -> None:
    sampler = EpochRandomSampler(Rows(20), seed=7)
    first = list(sampler)
    assert list(sampler) == first and sorted(first) == list(range(20))
    sampler.set_epoch(1)
    assert list(sampler) != first
    reference = DistributedSampler(Rows(20), num_replicas=1, rank=0, shuffle=True, seed=7)
    reference.set_epoch(1)
    assert list(sampler) == list(reference)


@pytest.mark.parametrize("workers", [0, 2])
def test_a_restored_epoch_continues_at_the_next_batch_and_later_epochs_are_whole(workers: int) -> None:
    clock = Clock()
    whole = _loader(clock, workers)
    expected = []
    for epoch in (0, 1, 2):
        clock.epoch, clock.done = epoch, 0
        expected.append(_epoch(whole, clock))
    assert expected[1] != expected[2]

    clock = Clock()
    clock.epoch = 1
    killed = _loader(clock, workers)
    assert _epoch(killed, clock, stop=2) == expected[1][:2]
    state = killed.state_dict()
    assert state == {"epoch": 1, "batches": 2}

    clock = Clock()
    resumed = _loader(clock, workers)
    resumed.load_state_dict(state)
    clock.epoch, clock.done = 1, 2
    assert _epoch(resumed, clock) == expected[1][2:]
    clock.epoch, clock.done = 2, 0
    assert _epoch(resumed, clock) == expected[2]  # the skip was for epoch 1 only (persistent workers too)


def test_a_state_waits_for_its_epoch_when_the_iterator_is_made_early() -> None:
    clock = Clock()
    loader = _loader(clock)
    clock.epoch = 1
    reference = _epoch(_loader(clock), clock)
    clock.epoch, clock.done = 0, 0  # Lightning still reports the previous epoch when it makes the iterator
    loader.load_state_dict({"epoch": 1, "batches": 3})
    it = iter(loader)
    clock.epoch, clock.done = 1, 3
    assert [b.tolist() for b in it] == reference[3:]


def test_the_copy_lightning_makes_for_ddp_shares_the_resume_state() -> None:
    clock = Clock()
    original = _loader(clock)
    rank1 = DistributedSampler(original.dataset, num_replicas=2, rank=1, shuffle=True, seed=7)
    copy = _update_dataloader(original, rank1)
    assert isinstance(copy, EpochDataLoader) and copy.sampler is rank1
    assert copy.resume_state is original.resume_state and copy.progress_source is original.progress_source
    clock.epoch = 3
    rank1.set_epoch(3)
    whole = _epoch(copy, clock)
    assert len(whole) == 3 and sorted(row for batch in whole for row in batch) == sorted(list(rank1))
    original.load_state_dict({"epoch": 3, "batches": 1})  # Lightning restores the callback's (original) loader
    clock.done = 1
    assert _epoch(copy, clock) == whole[1:]
