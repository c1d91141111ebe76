"""Fine-tuning inputs: augmented training clips, batch mixing, loaders (XKD §A.6 Tables S6–S7, MAViL App. B).

* :class:`TrainTransform` — per sample, seeded by ``raw["seed"]`` (so a (seed, epoch, video) triple always gives
  the same clip): video = random temporal start, random resized crop (scale 0.08–1, VideoMAE's fine-tuning crop
  that XKD follows) → ``size``², flip 0.5, RandAugment (``randaug``, the preset's timm string; Table S6's
  "RandAug (9, .05)" is ``rand-m9-n4-mstd0.05-inc1``, see :class:`xmodal.eval.finetune_augment.RandAugSpec`),
  normalization; audio = random start, volume jitter (Table S7), log-mel, SpecAugment (``specaug_time_freq`` =
  (max time width, max frequency width), ``specaug_masks`` masks of each, 1 when the preset gives none).
  The full recipe (time warp, random erasing, noise, …) is :class:`xmodal.eval.finetune_recipe.RecipeTrainTransform`.
* :class:`BatchMix` — the preset's mixup/cutmix on the batch (``xmodal.data.mix``). With two modalities both get
  the *same* partner and λ (one generator state replayed), mixup only, since a CutMix box cannot keep λ equal
  across a frame and a spectrogram.
* :func:`build_loaders` — AVDataset train loader (random clips, optional class-balanced sampler, mavil App. B) and
  test loader (``test_clips`` uniformly spaced clips per video, averaged by the classifier); ``on_error="skip"``.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import torch
from torch import Tensor
from torch.utils.data import DataLoader

from xmodal.data import video_transforms as vt
from xmodal.data.audio_transforms import spec_augment, volume_jitter
from xmodal.data.features import build_frontend
from xmodal.data.mix import MixConfig, mix_batch
from xmodal.data.views import frame_indices, select_frames, take_samples
from xmodal.eval.finetune import class_balanced_sampler
from xmodal.eval.finetune_augment import RandAugSpec
from xmodal.eval.finetune_config import FinetuneConfig
from xmodal.eval.geometry import EvalGeometry


def _rand_start(span: float, gen: torch.Generator) -> float:
    """A start ~ U[0, span) (0 when the clip has no room), drawn from ``gen`` only."""
    return span * float(torch.rand((), generator=gen)) if span > 0 else 0.0


@dataclass(frozen=True)
class TrainAugConfig:
    crop_scale: tuple[float, float] = (0.08, 1.0)
    flip_p: float = 0.5
    randaug: str | None = None
    volume: float = 0.0
    specaug_time_freq: tuple[int, int] | None = None
    specaug_masks: int = 1

    @classmethod
    def from_preset(cls, cfg: FinetuneConfig) -> TrainAugConfig:
        return cls(randaug=cfg.randaug, volume=cfg.volume_jitter, specaug_time_freq=cfg.specaug_time_freq,
                   specaug_masks=max(1, cfg.specaug_masks))


class TrainTransform:
    """Raw sample → augmented ``{"video": (3, frames, size, size), "audio": (1, F, T)}``; see the module doc."""

    def __init__(self, geometry: EvalGeometry, aug: TrainAugConfig) -> None:
        self.geometry, self.aug = geometry, aug
        self.cfg = (geometry, aug)  # cache-key description (xmodal.eval.backbone_features._describe)
        self.frontend = build_frontend(geometry.eval_config().frontend)
        self.mean, self.std = vt.IMAGENET_MEAN, vt.IMAGENET_STD

    def _video(self, frames: Tensor, src_fps: float, gen: torch.Generator) -> Tensor:
        g, a = self.geometry, self.aug
        start = _rand_start(frames.shape[0] / src_fps - g.frames / g.fps, gen)
        idx = frame_indices(frames.shape[0], src_fps, start, g.frames, g.fps, cyclic=False)
        chosen = select_frames(frames, idx)
        box = vt.sample_crop(chosen.shape[1], chosen.shape[2], a.crop_scale, (3 / 4, 4 / 3), gen)
        video = vt.crop_resize_frames(chosen, box, (g.size, g.size))
        if vt.bernoulli(gen, a.flip_p):
            video = vt.hflip(video)
        if a.randaug is not None:
            video = RandAugSpec.parse(a.randaug).apply(video, gen)
        return vt.normalize(video, self.mean, self.std)

    def _audio(self, wave: Tensor, sr: int, gen: torch.Generator) -> Tensor:
        g, a = self.geometry, self.aug
        count = round(g.audio_seconds * sr)
        start = int(_rand_start(max(wave.shape[-1] - count, 0), gen))
        wave = take_samples(wave.to(torch.float32), start, count)
        if a.volume > 0:
            wave = volume_jitter(wave, a.volume, gen)
        spec = self.frontend(wave)
        if a.specaug_time_freq is not None:
            t, f = a.specaug_time_freq
            spec = spec_augment(spec, gen, freq_width=(0, f), time_width=(0, t), num_masks=a.specaug_masks)
        return spec

    def __call__(self, raw: dict[str, Any]) -> dict[str, Tensor]:
        gen = torch.Generator().manual_seed(int(raw["seed"]))
        out: dict[str, Tensor] = {}
        if raw.get("video") is not None:
            out["video"] = self._video(raw["video"], float(raw["fps"]), gen)
        if raw.get("audio") is not None:
            out["audio"] = self._audio(raw["audio"], int(raw["sample_rate"]), gen)
        return out


class BatchMix:
    """``(inputs, targets) -> (inputs, targets)`` for :class:`xmodal.eval.finetune.FineTuner`; see the module doc."""

    def __init__(self, cfg: MixConfig, seed: int = 0) -> None:
        self.cfg, self.gen = cfg, torch.Generator().manual_seed(seed)

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

    video, audio = geometry.specs()
    common = {"modalities": cfg.modalities, "clip_seconds": geometry.clip_seconds, "video": video, "audio": audio,
              "on_error": "skip", "seed": seed, "cache": decode_cache}
    train_index, test_index = index.split("train"), index.split(test_split)
    augment = TrainTransform(geometry, TrainAugConfig.from_preset(cfg))
    train = AVDataset(train_index, sampling="random", transform=augment, **common)
    test = AVDataset(test_index, sampling="uniform", num_clips=cfg.test_clips, transform=geometry.transform(),
                     **common)
    if decode_cache:
        train.preload()
        test.preload()
    sampler = None
    if cfg.weighted_sampling:
        sampler = class_balanced_sampler(_labels(train_index), cfg.weighted_sampling_size or len(train), seed=seed)
    train_loader = DataLoader(train, batch_size=cfg.batch_size, shuffle=sampler is None, sampler=sampler,
                              num_workers=num_workers, collate_fn=collate_samples,
                              generator=torch.Generator().manual_seed(seed) if sampler is None else None)
    test_loader = DataLoader(test, batch_size=cfg.batch_size, num_workers=num_workers, collate_fn=collate_samples)
    return train_loader, test_loader
