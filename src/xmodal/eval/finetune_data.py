"""Fine-tuning inputs: augmented training clips, batch mixing, loaders (XKD §A.6 Tables S6–S7, MAViL App. B).

* training inputs: :class:`xmodal.eval.finetune_recipe.RecipeTrainTransform` (the preset's full augmentation;
  per sample, seeded by ``raw["seed"]``, so a (seed, epoch, video) triple always gives the same clip); test inputs:
  :func:`xmodal.eval.finetune_recipe.test_transform` (centre crop, or the preset's spatial crops).
* :class:`BatchMix` — the preset's mixup/cutmix on the batch (``xmodal.data.mix``). With two modalities both get
  the *same* partner and λ (one generator state replayed), mixup only, since a CutMix box cannot keep λ equal
  across a frame and a spectrogram.
* :func:`build_loaders` — AVDataset train loader (random clips, optional class-balanced sampler, mavil App. B) and
  test loader (``test_clips`` uniformly spaced clips per video, averaged by the classifier); ``on_error="skip"``.
* :func:`build_shard_loaders` — the same clips and transforms from streaming shards (``xmodal data shard``): the
  train loader shuffles across shards, splits ranks and workers and resumes mid-epoch
  (:class:`~xmodal.data.shard_dataset.ShardLoader`); every process reads the whole test split, whose repeats
  :class:`~xmodal.eval.gathered.GatheredPredictions` drops by index, so each test video is scored once.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import numpy as np
import torch
from torch import Tensor
from torch.utils.data import DataLoader

from xmodal.data.mix import MixConfig, mix_batch
from xmodal.eval.finetune import class_balanced_sampler
from xmodal.eval.finetune_config import FinetuneConfig
from xmodal.eval.geometry import EvalGeometry


class BatchMix:
    """``(inputs, targets) -> (inputs, targets)`` for :class:`xmodal.eval.finetune.FineTuner`; see the module doc."""

    def __init__(self, cfg: MixConfig, seed: int = 0) -> None:
        self.cfg, self.gen = cfg, torch.Generator().manual_seed(seed)

    def state_dict(self) -> dict[str, Any]:
        """The generator's state, kept in checkpoints so a resumed run draws on."""
        return {"gen": self.gen.get_state()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.gen.set_state(state["gen"])

    def __call__(self, inputs: dict[str, Tensor], targets: Tensor) -> tuple[dict[str, Tensor], Tensor]:
        cfg = self.cfg if len(inputs) == 1 else replace(self.cfg, cutmix_alpha=0.0)
        state = self.gen.get_state()
        out, mixed = {}, targets
        for name, x in inputs.items():
            self.gen.set_state(state)
            out[name], mixed, _ = mix_batch(x, targets, cfg, self.gen)
        return out, mixed


def batch_mix(cfg: FinetuneConfig, seed: int = 0) -> BatchMix | None:
    if cfg.mixup_alpha <= 0 and cfg.cutmix_alpha <= 0:
        return None
    return BatchMix(MixConfig(mixup_alpha=cfg.mixup_alpha, cutmix_alpha=cfg.cutmix_alpha), seed)


def _labels(index: Any) -> np.ndarray:
    if index.multilabel:
        hot = np.zeros((len(index.rows), len(index.classes)), dtype=np.float32)
        for i, row in enumerate(index.rows):
            hot[i, row.labels] = 1.0
        return hot
    return np.asarray([row.labels[0] for row in index.rows])


def build_loaders(index: Any, cfg: FinetuneConfig, geometry: EvalGeometry, *, test_split: str = "test",
                  num_workers: int = 0, seed: int = 0, decode_cache: bool = False) -> tuple[DataLoader, DataLoader]:
    """(train loader, test loader) over a :class:`~xmodal.data.dataset.DatasetIndex`; see the module doc."""
    from xmodal.data.collate import collate_samples
    from xmodal.data.dataset import AVDataset
    from xmodal.data.loader import EpochDataLoader

    video, audio = geometry.specs()
    common = {"modalities": cfg.modalities, "clip_seconds": geometry.clip_seconds, "video": video, "audio": audio,
              "on_error": "skip", "seed": seed, "cache": decode_cache}
    train_index, test_index = index.split("train"), index.split(test_split)
    from xmodal.eval.finetune_recipe import RecipeTrainTransform, test_transform

    train = AVDataset(train_index, sampling="random", transform=RecipeTrainTransform(geometry, cfg), **common)
    test = AVDataset(test_index, sampling="uniform", num_clips=cfg.test_clips, transform=test_transform(geometry, cfg),
                     **common)
    if decode_cache:
        train.preload()
        test.preload()
    sampler = None
    if cfg.weighted_sampling:
        sampler = class_balanced_sampler(_labels(train_index), cfg.weighted_sampling_size or len(train), seed=seed)
    train_loader = EpochDataLoader(train, batch_size=cfg.batch_size, shuffle=sampler is None, sampler=sampler,
                                   seed=seed, num_workers=num_workers, collate_fn=collate_samples)
    test_loader = DataLoader(test, batch_size=cfg.batch_size, num_workers=num_workers, collate_fn=collate_samples)
    return train_loader, test_loader


def build_shard_loaders(shards: Any, cfg: FinetuneConfig, geometry: EvalGeometry, *, test_split: str = "test",
                        num_workers: int = 0, seed: int = 0) -> tuple[DataLoader, DataLoader]:
    """(train loader, test loader) over a :class:`~xmodal.data.shard_format.ShardIndex`; see the module doc.

    Class-balanced sampling draws rows by weight, which a stream cannot do: it needs the original files."""
    from xmodal.data.shard_dataset import ShardDataset, ShardLoader
    from xmodal.eval.finetune_recipe import RecipeTrainTransform, test_transform

    if cfg.weighted_sampling:
        raise ValueError("weighted_sampling: class-balanced sampling needs random access to the rows; fine-tune from "
                         "the manifest of the original files, or pass --no-weighted-sampling to stream shards")
    video, audio = geometry.specs()
    common = {"modalities": cfg.modalities, "clip_seconds": geometry.clip_seconds, "video": video, "audio": audio,
              "seed": seed, "batch_size": cfg.batch_size}
    train = ShardDataset(shards, "train", sampling="random", transform=RecipeTrainTransform(geometry, cfg),
                         shuffle=True, drop_last=True, **common)
    test = ShardDataset(shards, test_split, sampling="uniform", num_clips=cfg.test_clips,
                        transform=test_transform(geometry, cfg), shuffle=False, drop_last=False, rank=0, world=1,
                        **common)
    return ShardLoader(train, num_workers=num_workers), ShardLoader(test, num_workers=num_workers)
