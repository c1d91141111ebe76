"""Which samples each rank and DataLoader worker reads in an epoch of streaming shards, and what is left of an epoch
after ``k`` batches (mid-epoch resume).

Pure index arithmetic over the per-shard sample counts of ``index.json``: no shard is opened, so every rank and
every worker computes the same plan on its own, and a resumed run recomputes exactly the plan it was killed in.

- **Epoch order.** The shards are permuted by ``rng(seed, epoch)`` (``shuffle``), their samples kept in stored
  order: one sequence of the ``N`` samples, new every epoch.
- **Ranks.** Rank ``r`` of ``world`` takes positions ``[r*n, (r+1)*n)`` of that sequence, ``n = N // world``, cut to
  whole batches for training (``drop_last``). Every rank gets the same number of full batches (DDP runs the same
  collectives on each); the at most ``world - 1 + world * (B - 1)`` samples past the cut change with the epoch's
  order, so no sample is left out every epoch. No sample is read by two ranks.
- **Workers.** Logical batch ``k`` of a rank goes to worker ``k % W``: a ``DataLoader`` takes batches from its
  workers round-robin, so it yields the logical batches in order. Worker ``w`` reads one contiguous run of the rank's
  positions (as many as its batches hold), i.e. few shards, front to back, and shuffles that run in blocks of
  ``buffer`` samples (``rng(seed, epoch, w, block)``): webdataset's shuffle buffer, made reproducible.
- **Resume.** After ``k`` logical batches the consumed samples are known from the plan alone; a resumed iterator
  with the same worker count skips them (the continuation equals the uninterrupted run), with another worker count
  it re-plans the positions that are left (each still read exactly once).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


def epoch_order(counts: Sequence[int], seed: int, epoch: int, shuffle: bool) -> np.ndarray:
    """(N, 2) int64 ``[shard, member]`` of the epoch's sample sequence (shards permuted when ``shuffle``)."""
    order = np.arange(len(counts))
    if shuffle:
        order = np.random.default_rng([seed, epoch]).permutation(len(counts))
    parts = [np.stack([np.full(counts[s], s), np.arange(counts[s])], axis=1) for s in order if counts[s] > 0]
    return np.concatenate(parts).astype(np.int64) if parts else np.zeros((0, 2), np.int64)


def rank_length(total: int, world: int, batch_size: int, drop_last: bool) -> int:
    """Samples per rank and epoch: ``N // world``, cut to whole batches when ``drop_last``."""
    n = total // world
    return n // batch_size * batch_size if drop_last else n


def _batch_sizes(m: int, batch_size: int) -> list[int]:
    full, rest = divmod(m, batch_size)
    return [batch_size] * full + ([rest] if rest else [])


def worker_emissions(remaining: np.ndarray, workers: int, batch_size: int, buffer: int, seed: int,
                     epoch: int) -> list[np.ndarray]:
    """For each worker, the rank positions it emits, in emission order (its batches are consecutive ``batch_size``
    runs of it). ``buffer <= 1`` keeps the stored order."""
    sizes = _batch_sizes(len(remaining), batch_size)
    totals = [sum(sizes[w::workers]) for w in range(workers)]
    out, start = [], 0
    for w in range(workers):
        run = remaining[start : start + totals[w]]
        start += totals[w]
        if buffer > 1:
            blocks = [run[b : b + buffer] for b in range(0, len(run), buffer)]
            run = np.concatenate([blk[np.random.default_rng([seed, epoch, w, b]).permutation(len(blk))]
                                  for b, blk in enumerate(blocks)]) if blocks else run
        out.append(run)
    return out


def worker_skip(workers: int, w: int, batches_done: int, batch_size: int) -> int:
    """Emissions of worker ``w`` already consumed after ``batches_done`` logical batches (all full but the last)."""
    return len(range(w, batches_done, workers)) * batch_size


def left_after(remaining: np.ndarray, workers: int, batch_size: int, buffer: int, seed: int, epoch: int,
               batches_done: int) -> np.ndarray:
    """Sorted rank positions not yet consumed after ``batches_done`` logical batches of the plan over ``remaining``."""
    emitted = worker_emissions(remaining, workers, batch_size, buffer, seed, epoch)
    consumed = [e[: worker_skip(workers, w, batches_done, batch_size)] for w, e in enumerate(emitted)]
    return np.setdiff1d(remaining, np.concatenate(consumed) if consumed else remaining[:0])


def to_ranges(positions: np.ndarray) -> list[list[int]]:
    """Sorted positions as ``[[start, stop), ...]`` runs: compact and checkpoint-safe (plain ints)."""
    if len(positions) == 0:
        return []
    breaks = np.flatnonzero(np.diff(positions) != 1) + 1
    return [[int(run[0]), int(run[-1]) + 1] for run in np.split(positions, breaks)]


def from_ranges(ranges: Sequence[Sequence[int]]) -> np.ndarray:
    parts = [np.arange(int(a), int(b)) for a, b in ranges]
    return np.concatenate(parts).astype(np.int64) if parts else np.zeros(0, np.int64)
