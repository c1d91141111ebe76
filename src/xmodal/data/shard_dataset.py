"""Read streaming shards (``data.source=<shard folder or index.json URL>``) as training or evaluation samples.

Why the samples equal those from the original files: each stored segment is handed to
:meth:`xmodal.data.dataset.AVDataset.sample_from_segment` of an inner ``AVDataset`` built with the caller's clip
length, sampling, transform and seed, and the segment keeps the row index it had in its split, so clip starts and
augmentation seeds come from the same ``(seed, epoch, index, clip)`` as ``AVDataset(cache=True)`` over the source
files (bit-identical with ``raw`` shards; H.264 shards differ only by the codec's error). ``set_epoch`` moves the
inner dataset's shared-memory epoch: new shard order, new shuffle, new clip starts and new views every epoch.
Which samples a rank and worker read, and in which order, is :mod:`xmodal.data.shard_plan`; :class:`ShardLoader`
makes the plan resumable mid-epoch (Lightning saves and restores its ``state_dict``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from typing import Any, Literal

import numpy as np
import torch
from torch.utils.data import IterableDataset, get_worker_info

from xmodal.data.collate import collate_samples
from xmodal.data.dataset import AVDataset, DatasetIndex, ManifestRow
from xmodal.data.errors import MediaError
from xmodal.data.io import AudioSpec, Clip, Short, VideoSpec
from xmodal.data.loader import EpochDataLoader, _EpochCheckedIterator
from xmodal.data.shard_format import ShardIndex, decode_sample, read_index, sample_meta
from xmodal.data.shard_plan import (
    epoch_order,
    from_ranges,
    left_after,
    rank_length,
    to_ranges,
    worker_emissions,
    worker_skip,
)


def _dist(rank: int | None, world: int | None) -> tuple[int, int]:
    if rank is not None and world is not None:
        return rank, world
    if torch.distributed.is_available() and torch.distributed.is_initialized():
        return torch.distributed.get_rank(), torch.distributed.get_world_size()
    return 0, 1


def check_geometry(shards: ShardIndex, modalities: tuple[str, ...], video: VideoSpec | None,
                   audio: AudioSpec | None) -> None:
    """The requested decoding geometry must be the one the shards were written at (one line naming the fix)."""
    g, where = shards.geometry, f"{shards.base}/index.json"
    missing = sorted(set(modalities) - set(g.modalities))
    wrong = [f"{name} {want} (shards: {have})" for name, want, have in (
        ("fps", video.fps if video else None, g.fps), ("short side", video.size if video else None, g.size))
        if "video" in modalities and want != have]
    if "audio" in modalities and audio is not None and audio.sample_rate != g.sample_rate:
        wrong.append(f"sample rate {audio.sample_rate} (shards: {g.sample_rate})")
    if missing or wrong:
        raise ValueError(f"{where}: the shards do not hold what the run decodes: "
                         f"{'; '.join([*(f'no {m}' for m in missing), *wrong])}; write shards at the run's geometry "
                         "(`xmodal data shard --fps/--size/--sample-rate/--modalities`) or change the run's data")


class ShardDataset(IterableDataset):
    """Samples of one split of a shard set; arguments after ``split`` as in :class:`AVDataset`.

    ``shuffle`` permutes shards per epoch and samples within ``buffer``-sized runs; ``batch_size``/``drop_last``
    size the epoch (:func:`~xmodal.data.shard_plan.rank_length`); ``rank``/``world`` default to
    ``torch.distributed``'s. A sample that fails to decode raises a ``MediaError`` naming shard and key: the writer
    only stores rows it decoded, so this means the shard was damaged after writing.
    """

    def __init__(self, source: str | ShardIndex, split: str, *, modalities: tuple[str, ...] = ("video", "audio"),
                 clip_seconds: float, video: VideoSpec | None = None, audio: AudioSpec | None = None,
                 sampling: Literal["random", "center", "uniform"] = "random", num_clips: int = 1,
                 transform: Callable[[dict[str, Any]], dict[str, Any]] | None = None, short: Short = "loop",
                 seed: int = 0, shuffle: bool = True, buffer: int = 256, batch_size: int = 1, drop_last: bool = True,
                 rank: int | None = None, world: int | None = None) -> None:
        self.shards = read_index(source) if isinstance(source, str) else source
        self.split, self.modalities = split, tuple(modalities)
        self.urls, self.counts = self.shards.shard_urls(split), self.shards.counts(split)
        meta = DatasetIndex(self.shards.name, [], self.shards.classes, self.shards.multilabel)
        self.cutter = AVDataset(meta, modalities=self.modalities, clip_seconds=clip_seconds, video=video, audio=audio,
                                sampling=sampling, num_clips=num_clips, transform=transform, on_error="raise",
                                short=short, seed=seed)
        check_geometry(self.shards, self.modalities, self.cutter.video, self.cutter.audio)
        self.seed, self.shuffle, self.buffer = int(seed), shuffle, int(buffer) if shuffle else 0
        self.batch_size, self.drop_last = int(batch_size), drop_last
        self.rank, self.world = rank, world
        # The epoch's plan in shared memory, so persistent workers see each new one (as the epoch): the rank
        # positions still to read (``_partial`` False: all) and the logical batches of them already consumed.
        self._todo = torch.zeros(self.total, dtype=torch.bool).share_memory_()
        self._partial = torch.zeros((), dtype=torch.bool).share_memory_()
        self._skip = torch.zeros((), dtype=torch.long).share_memory_()

    @property
    def total(self) -> int:
        return sum(self.counts)

    @property
    def epoch(self) -> int:
        return self.cutter.epoch

    def set_epoch(self, epoch: int) -> None:
        self.cutter.set_epoch(epoch)

    def __len__(self) -> int:
        return rank_length(self.total, _dist(self.rank, self.world)[1], self.batch_size, self.drop_last)

    def emissions(self, workers: int, worker: int) -> np.ndarray:
        """Rank positions worker ``worker`` of ``workers`` yields this epoch, in order (after any resume skip)."""
        n = len(self)
        remaining = np.flatnonzero(self._todo[:n].numpy()) if bool(self._partial) else np.arange(n)
        run = worker_emissions(remaining, workers, self.batch_size, self.buffer, self.seed, self.epoch)[worker]
        return run[worker_skip(workers, worker, int(self._skip), self.batch_size):]

    def set_plan(self, remaining: np.ndarray, skip: int) -> None:
        """This epoch reads rank positions ``remaining`` of which ``skip`` logical batches are already consumed."""
        self._todo.zero_()
        self._todo[torch.from_numpy(np.asarray(remaining, dtype=np.int64))] = True
        self._partial.fill_(len(remaining) < len(self))
        self._skip.fill_(int(skip))

    def __iter__(self) -> Iterator[dict[str, Any]]:
        info = get_worker_info()
        workers, worker = (info.num_workers, info.id) if info is not None else (1, 0)
        rank, world = _dist(self.rank, self.world)
        order = epoch_order(self.counts, self.seed, self.epoch, self.shuffle)
        emit = self.emissions(workers, worker)
        offset = rank * (self.total // world)
        wanted = np.sort(emit)
        source = self._read(order[offset + wanted])
        reads = zip(wanted.tolist(), source, strict=True)
        held: dict[int, tuple[str, dict[str, Any]]] = {}
        try:
            for p in emit.tolist():
                while p not in held:  # the shuffle buffer: at most one block of samples is held
                    q, raw = next(reads)
                    held[q] = raw
                yield self._sample(*held.pop(p))
        finally:
            source.close()  # closes the shard being read when the loader stops early

    def _read(self, pairs: np.ndarray) -> Iterator[tuple[str, dict[str, Any]]]:
        """Raw samples ``(url, sample)`` of ``[shard, member]`` pairs (grouped by shard, members ascending), each
        shard read front to back once and left as soon as its last wanted member is read."""
        from webdataset.gopen import gopen
        from webdataset.tariterators import group_by_keys, tar_file_expander

        start = 0
        while start < len(pairs):
            shard = int(pairs[start, 0])
            stop = start
            while stop < len(pairs) and pairs[stop, 0] == shard:
                stop += 1
            wanted, last, url = set(pairs[start:stop, 1].tolist()), int(pairs[stop - 1, 1]), self.urls[shard]
            found = 0
            with gopen(url) as stream:
                for member, sample in enumerate(group_by_keys(tar_file_expander([{"url": url, "stream": stream}]))):
                    if member in wanted:
                        found += 1
                        yield url, sample
                    if member >= last:
                        break
            if found != len(wanted):
                raise MediaError(url, "corrupt", f"holds fewer samples than index.json says ({last + 1} needed)")
            start = stop

    def _sample(self, url: str, raw: dict[str, Any]) -> dict[str, Any]:
        where = f"{url}#{raw.get('__key__')}"
        try:
            meta = sample_meta(raw)
            i, start, end = int(meta["index"]), float(meta["start"]), float(meta["end"])
            stop, fps = None, meta["fps"]
            if fps:  # the last frame the clip windows read (AVDataset._cut): later frames are not decoded
                starts = self.cutter.clip_starts(i, start, end)
                stop = max(round((s - start) * fps) for s in starts) + round(self.cutter.clip_seconds * fps)
            video, audio = decode_sample(raw, self.modalities, meta, stop)
        except (KeyError, ValueError, OSError, RuntimeError) as err:
            raise MediaError(where, "corrupt", f"{type(err).__name__}: {err}") from err
        whole = Clip(None if video is None else torch.from_numpy(video),
                     None if audio is None else torch.from_numpy(audio), meta["fps"], meta["sample_rate"],
                     start, end, where)
        row = ManifestRow(meta["path"], list(meta["labels"]), meta["split"], meta["start"], meta["end"], meta["id"])
        return self.cutter.sample_from_segment(i, i, row, whole)


class ShardLoader(EpochDataLoader):
    """The loader of a :class:`ShardDataset`: plans each epoch's iterator and saves/restores mid-epoch progress.

    ``state_dict`` (which Lightning stores in every checkpoint) holds the epoch, the rank positions the current plan
    covers, the worker count and the logical batches consumed — ``progress_source()`` when bound (the engine binds
    Lightning's count of processed batches, which excludes the batch Lightning prefetched) or the batches this
    loader yielded. The state is the same on every rank (only the data behind the positions differs), so rank 0's
    checkpoint restores all ranks. Workers are persistent: the plan, like the epoch, lives in shared memory.
    """

    dataset: ShardDataset

    def __init__(self, dataset: ShardDataset, *, num_workers: int = 0, pin_memory: bool = False,
                 epoch_source: Callable[[], int] | None = None,
                 progress_source: Callable[[], int] | None = None,
                 collate: Callable[[Sequence[Any]], dict[str, Any]] = collate_samples) -> None:
        super().__init__(dataset, batch_size=dataset.batch_size, drop_last=dataset.drop_last,
                         num_workers=num_workers, persistent_workers=num_workers > 0, pin_memory=pin_memory,
                         collate_fn=collate,
                         epoch_source=epoch_source)
        self.progress_source = progress_source
        self._pending: dict[str, Any] | None = None
        self._plan: dict[str, Any] = {}
        self._yielded = 0

    def __iter__(self) -> Iterator[Any]:
        epoch = self.sync_epoch()
        return _EpochCheckedIterator(self, self.new_iterator(), epoch)

    def stale(self, epoch: int | None) -> bool:
        return super().stale(epoch) or self._pending is not None

    def new_iterator(self) -> Iterator[Any]:
        ds, batch, workers = self.dataset, self.dataset.batch_size, max(1, self.num_workers)
        ds.rank, ds.world = _dist(ds.rank, ds.world)
        full = len(ds)
        remaining, skip = np.arange(full), 0
        pending, self._pending = self._pending, None
        if pending and int(pending["epoch"]) == ds.epoch:
            remaining = from_ranges(pending["remaining"])
            if int(pending["workers"]) == workers:
                skip = int(pending["batches"])
            else:  # another worker count: the same positions are left, re-planned over the new workers
                remaining = left_after(remaining, int(pending["workers"]), batch, ds.buffer, ds.seed, ds.epoch,
                                       int(pending["batches"]))
        ds.set_plan(remaining, skip)
        base = (full - len(remaining)) // batch
        self._plan = {"epoch": ds.epoch, "remaining": remaining, "workers": workers, "base": base}
        self._yielded = base + skip
        return self._counting(super().new_iterator())

    def _counting(self, inner: Iterator[Any]) -> Iterator[Any]:
        for batch in inner:
            self._yielded += 1
            yield batch

    def state_dict(self) -> dict[str, Any]:
        if not self._plan:
            return {}
        done = int(self.progress_source()) if self.progress_source is not None else self._yielded
        return {"epoch": self._plan["epoch"], "remaining": to_ranges(self._plan["remaining"]),
                "workers": self._plan["workers"], "batches": done - self._plan["base"]}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self._pending = dict(state) if state else None

