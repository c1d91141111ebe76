"""Pretraining data: index → :class:`AVDataset` with XKD views → :class:`EpochDataLoader` (top-up collate).

The loader advances the dataset epoch every epoch (new clip starts and augmentations; bound to the trainer by
:func:`xmodal.methods.engine.fit`), and ``data.on_error=skip`` tops a batch up from the next decodable clips
(``AVDataset(on_error="replace")``) so every rank trains on full batches while each bad file is counted.
"""

from __future__ import annotations

from typing import Any

import torch

from xmodal.data.collate import collate_samples
from xmodal.data.dataset import AVDataset, resolve_index
from xmodal.data.io import AudioSpec, VideoSpec
from xmodal.data.loader import EpochDataLoader
from xmodal.data.views import XKDViews
from xmodal.methods.xkd_config import PretrainConfig


class SeededViews:
    """Adapts :class:`XKDViews` to the dataset's transform contract (a per-sample seed in ``raw["seed"]``)."""

    def __init__(self, views: XKDViews) -> None:
        self.views = views

    def __call__(self, raw: dict[str, Any]) -> dict[str, Any]:
        return self.views(raw, torch.Generator().manual_seed(int(raw["seed"])))


def modalities_for(cfg: PretrainConfig) -> tuple[str, ...]:
    return {"vmae": ("video",), "amae": ("audio",)}.get(cfg.loss.objective, ("video", "audio"))


def build_train_dataset(cfg: PretrainConfig) -> AVDataset:
    d = cfg.data
    index = resolve_index(d.source, d.root)
    if d.split:
        index = index.split(d.split)
    if not index.rows:
        raise ValueError(f"data.source {d.source!r}: no clips in split {d.split!r}")
    dataset = AVDataset(
        index,
        modalities=modalities_for(cfg),
        clip_seconds=d.clip_seconds,
        video=VideoSpec(fps=d.views.fps, size=d.decode_size),
        audio=AudioSpec(sample_rate=d.views.logmel.sample_rate),
        sampling="random",
        transform=SeededViews(XKDViews(d.views)),
        on_error="replace" if d.on_error == "skip" else "raise",
        short=d.short,
        missing_audio=d.missing_audio,
        seed=cfg.trainer.seed,
        cache=d.cache,
    )
    if d.cache:
        dataset.preload()
    return dataset


def build_train_loader(cfg: PretrainConfig) -> EpochDataLoader:
    dataset = build_train_dataset(cfg)
    workers = cfg.trainer.num_workers
    return EpochDataLoader(
        dataset,
        batch_size=cfg.trainer.batch_size,
        shuffle=True,
        drop_last=len(dataset) >= cfg.trainer.batch_size,
        num_workers=workers,
        persistent_workers=workers > 0,
        pin_memory=torch.cuda.is_available(),
        collate_fn=collate_samples,
    )
