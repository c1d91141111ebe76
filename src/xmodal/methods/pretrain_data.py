"""Pretraining data: index → :class:`AVDataset` with XKD views → :class:`EpochDataLoader` (top-up collate), or
streaming shards → :class:`ShardDataset` with the same views → :class:`ShardLoader` (resumable mid-epoch).

The loader advances the dataset epoch every epoch (new clip starts and augmentations; bound to the trainer by
:func:`xmodal.training.trainer.fit`), and ``data.on_error=skip`` tops a batch up from the next decodable clips
(``AVDataset(on_error="replace")``) so every rank trains on full batches while each bad file is counted.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import torch

from xmodal.data.collate import collate_samples
from xmodal.data.dataset import AVDataset, resolve_index
from xmodal.data.device_views import DecodedWithDraws, collate_decoded
from xmodal.data.io import AudioSpec, VideoSpec
from xmodal.data.loader import EpochDataLoader
from xmodal.data.shard_dataset import ShardDataset, ShardLoader
from xmodal.data.shard_format import is_shard_source
from xmodal.data.views import XKDViews
from xmodal.methods.xkd_config import PretrainConfig
from xmodal.training.trainer import TrainerConfig

Views = Callable[[dict[str, Any], torch.Generator], dict[str, Any]]


class SeededViews:
    """Adapts seeded views (:class:`XKDViews`, :class:`~xmodal.data.views.MAViLClips`) to the dataset's transform
    contract (a per-sample seed in ``raw["seed"]``)."""

    def __init__(self, views: Views) -> None:
        self.views = views

    def __call__(self, raw: dict[str, Any]) -> dict[str, Any]:
        return self.views(raw, torch.Generator().manual_seed(int(raw["seed"])))


def modalities_for(cfg: PretrainConfig) -> tuple[str, ...]:
    return {"vmae": ("video",), "amae": ("audio",)}.get(cfg.loss.objective, ("video", "audio"))


def build_train_dataset(cfg: PretrainConfig) -> AVDataset | ShardDataset:
    """XKD training clips; with ``data.augment_on=device`` the workers return decoded clips plus the views' drawn
    choices, and :class:`~xmodal.methods.xkd.XKD` builds the views after the batch reaches the device."""
    d = cfg.data
    views = XKDViews(d.views)
    transform = DecodedWithDraws(views) if d.augment_on == "device" else SeededViews(views)
    return training_dataset(d, modalities_for(cfg), VideoSpec(fps=d.views.fps, size=d.decode_size),
                            AudioSpec(sample_rate=d.views.logmel.sample_rate), transform, cfg.trainer.seed,
                            cfg.trainer.batch_size)


def training_dataset(d: Any, modalities: Sequence[str], video: VideoSpec, audio: AudioSpec,
                     transform: Callable[[dict[str, Any]], dict[str, Any]], seed: int,
                     batch_size: int = 1) -> AVDataset | ShardDataset:
    """Random-start training clips of ``d`` (a method's data config: source, root, split, clip_seconds, on_error,
    short, missing_audio, cache) passed through ``transform`` (e.g. :class:`SeededViews`); ``on_error=skip`` tops
    batches up (``replace``). A shard ``source`` gives a :class:`ShardDataset` whose epochs are ``batch_size``
    batches (the writer already dropped the bad files, so ``on_error``, ``missing_audio`` and ``cache`` have nothing
    left to do there)."""
    if is_shard_source(d.source):
        return ShardDataset(d.source, d.split, modalities=tuple(modalities), clip_seconds=d.clip_seconds,
                            video=video, audio=audio, sampling="random", transform=transform,
                            short=d.short, seed=seed, shuffle=True, buffer=d.shuffle_buffer,
                            batch_size=batch_size, drop_last=True)
    index = resolve_index(d.source, d.root)
    if d.split:
        index = index.split(d.split)
    if not index.rows:
        raise ValueError(f"data.source {d.source!r}: no clips in split {d.split!r}")
    dataset = AVDataset(
        index,
        modalities=tuple(modalities),
        clip_seconds=d.clip_seconds,
        video=video,
        audio=audio,
        sampling="random",
        transform=transform,
        on_error="replace" if d.on_error == "skip" else "raise",
        short=d.short,
        missing_audio=d.missing_audio,
        seed=seed,
        cache=d.cache,
        decoder=d.decoder,
    )
    if d.cache:
        dataset.preload()
    return dataset


def build_train_loader(cfg: PretrainConfig) -> EpochDataLoader:
    collate = collate_decoded if cfg.data.augment_on == "device" else collate_samples
    return training_loader(build_train_dataset(cfg), cfg.trainer, collate)


def training_loader(dataset: AVDataset | ShardDataset, trainer: TrainerConfig,
                    collate: Callable[[Sequence[Any]], dict[str, Any]] = collate_samples) -> EpochDataLoader:
    """Shuffled, epoch-bound loader; drops the last partial batch when there is at least one full batch."""
    workers = trainer.num_workers
    if isinstance(dataset, ShardDataset):
        if dataset.batch_size != trainer.batch_size:
            raise ValueError(f"shard dataset planned for batch size {dataset.batch_size}, trainer has "
                             f"{trainer.batch_size}")
        return ShardLoader(dataset, num_workers=workers, pin_memory=torch.cuda.is_available(), collate=collate)
    if getattr(dataset, "decoder", "pyav") == "torchcodec-cuda" and workers > 0:
        raise ValueError("data.decoder=torchcodec-cuda decodes on the GPU in the training process, and CUDA cannot "
                         "start in forked workers: set trainer.num_workers=0")
    return EpochDataLoader(
        dataset,
        batch_size=trainer.batch_size,
        shuffle=True,
        seed=trainer.seed,
        drop_last=len(dataset) >= trainer.batch_size,
        num_workers=workers,
        persistent_workers=workers > 0,
        pin_memory=torch.cuda.is_available(),
        collate_fn=collate,
    )
