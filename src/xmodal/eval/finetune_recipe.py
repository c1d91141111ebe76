"""A fine-tuning preset turned into inputs, mixing and a classifier (XKD §A.6 + official ``codes/eval``; MAViL App. B
+ AudioMAE): the glue between :class:`~xmodal.eval.finetune_config.FinetuneConfig` and the training loop.

* :func:`recipe_geometry` — the preset's crop size (XKD fine-tunes at 224² from a 112² pre-training grid; the ViT
  resamples its positional embedding to the new grid, :func:`xmodal.models.vit.interpolate_pos_embed`) and its
  dataset statistics for a Kaldi-fbank audio front-end (MAViL Table 10).
* :class:`RecipeTrainTransform` — per sample, seeded by ``raw["seed"]``. Video: random temporal start, multi-scale
  crop (``crop_scale``, aspect 3/4–4/3) → size², flip 0.5, RandAugment (``randaug``, a timm string), ImageNet
  normalization, random erasing (``random_erase``). XKD's code runs RandAugment on the full frames before the crop;
  here it runs on the crop (the same op set, a cheaper image). Audio: random start, or MAViL's "R" (a cyclic roll of
  the waveform, so the clip wraps around), volume jitter, front-end, then XKD's order time warp → frequency/time
  masks (filled with the spectrogram mean as the official code does, or 0) → BYOL-A random resized crop, and MAViL's
  noise (20 dB SNR, or AudioMAE's).
* :class:`SpatialCropsTransform` — test views: the short side resized to ``size``, then ``spatial_crops`` crops
  spread along the long side (start, centre, end for 3; XKD's official ``uniform_crop``) → video
  ``(S, 3, T, size, size)``; with the dataset's uniformly spaced clips this gives XKD's 3 temporal × 3 spatial views.
* :func:`recipe_mix` — timm-style mixup/cutmix (XKD) or AudioMAE mixup (MAViL); :func:`masking_groups` — the
  preset's fine-tuning masking for :class:`xmodal.eval.finetune.AVClassifier`.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import torch
from torch import Tensor

from xmodal.data import video_transforms as vt
from xmodal.data.audio_transforms import cyclic_roll, random_resized_crop_spec, spec_augment, volume_jitter
from xmodal.data.features import build_frontend
from xmodal.data.views import EvalTransform, frame_indices, select_frames, take_samples
from xmodal.eval.finetune_augment import (
    AUDIO_FT_MASK,
    VIDEO_FT_MASK,
    AudioMixup,
    AxisGroups,
    RandAugSpec,
    audiomae_noise,
    random_erase,
    spec_noise_snr,
    time_warp,
)
from xmodal.eval.finetune_config import FinetuneConfig
from xmodal.eval.geometry import EvalGeometry


def uses_audio_stats(geometry: EvalGeometry, cfg: FinetuneConfig) -> bool:
    """MAViL Table 10's statistics describe its Kaldi fbank; an export with another front-end keeps its own."""
    return cfg.audio_stats is not None and "audio" in cfg.modalities and geometry.frontend == "kaldi_fbank"


def recipe_geometry(geometry: EvalGeometry, cfg: FinetuneConfig) -> EvalGeometry:
    """The export's geometry with the preset's crop size and, for a Kaldi-fbank export, the preset's dataset
    statistics (when the preset sets them)."""
    changes: dict[str, Any] = {}
    if cfg.video_size is not None and "video" in cfg.modalities:
        changes["size"] = cfg.video_size
    if uses_audio_stats(geometry, cfg):
        changes["logmel_mean"], changes["logmel_std"] = cfg.audio_stats
    return replace(geometry, **changes)


def _rand_start(span: float, gen: torch.Generator) -> float:
    return span * float(torch.rand((), generator=gen)) if span > 0 else 0.0


class RecipeTrainTransform:
    """Raw sample → augmented ``{"video": (3, T, size, size), "audio": (1, F, T)}``; see the module doc."""

    def __init__(self, geometry: EvalGeometry, cfg: FinetuneConfig) -> None:
        self.geometry, self.recipe = geometry, cfg
        self.cfg = (geometry, cfg)  # cache-key description (xmodal.eval.backbone_features._describe)
        self.frontend = build_frontend(geometry.eval_config().frontend)
        self.randaug = RandAugSpec.parse(cfg.randaug) if cfg.randaug else None

    def _video(self, frames: Tensor, src_fps: float, gen: torch.Generator) -> Tensor:
        g, r = self.geometry, self.recipe
        start = _rand_start(frames.shape[0] / src_fps - g.frames / g.fps, gen)
        chosen = select_frames(frames, frame_indices(frames.shape[0], src_fps, start, g.frames, g.fps, cyclic=False))
        box = vt.sample_crop(chosen.shape[1], chosen.shape[2], r.crop_scale, (3 / 4, 4 / 3), gen)
        video = vt.crop_resize_frames(chosen, box, (g.size, g.size))
        if vt.bernoulli(gen, 0.5):
            video = vt.hflip(video)
        if self.randaug is not None:
            video = self.randaug.apply(video, gen)
        video = vt.normalize(video, vt.IMAGENET_MEAN, vt.IMAGENET_STD)
        return random_erase(video, gen, r.random_erase) if r.random_erase > 0 else video

    def _audio(self, wave: Tensor, sr: int, gen: torch.Generator) -> Tensor:
        g, r = self.geometry, self.recipe
        count = round(g.audio_seconds * sr)
        wave = wave.to(torch.float32)
        if r.audio_roll:
            wave = take_samples(cyclic_roll(wave, gen), 0, count)
        else:
            wave = take_samples(wave, int(_rand_start(max(wave.shape[-1] - count, 0), gen)), count)
        if r.volume_jitter > 0:
            wave = volume_jitter(wave, r.volume_jitter, gen)
        spec = self.frontend(wave)
        if r.timewarp_window > 0:
            spec = time_warp(spec, gen, r.timewarp_window)
        if r.specaug_time_freq is not None:
            t, f = r.specaug_time_freq
            fill = float(spec.mean()) if r.spec_mask_fill == "mean" else 0.0
            spec = spec_augment(spec, gen, freq_width=(0, f), time_width=(0, t), num_masks=max(1, r.specaug_masks),
                                fill=fill)
        if r.audio_random_crop:
            spec = random_resized_crop_spec(spec, gen)
        if r.audio_noise == "snr20":
            spec = spec_noise_snr(spec, gen, 20.0)
        elif r.audio_noise == "audiomae":
            spec = audiomae_noise(spec, gen)
        return spec

    def __call__(self, raw: dict[str, Any]) -> dict[str, Tensor]:
        gen = torch.Generator().manual_seed(int(raw["seed"]))
        out: dict[str, Tensor] = {}
        if raw.get("video") is not None:
            out["video"] = self._video(raw["video"], float(raw["fps"]), gen)
        if raw.get("audio") is not None:
            out["audio"] = self._audio(raw["audio"], int(raw["sample_rate"]), gen)
        return out


def spatial_crops(video: Tensor, size: int, crops: int) -> Tensor:
    """``(C, T, H, W)`` with short side ``size`` → ``(crops, C, T, size, size)`` spread along the long side."""
    h, w = video.shape[-2:]
    span = max(w - size, 0) if w >= h else max(h - size, 0)
    offsets = [round(span * k / (crops - 1)) for k in range(crops)] if crops > 1 else [span // 2]
    if w >= h:
        return torch.stack([video[..., :size, o:o + size] for o in offsets])
    return torch.stack([video[..., o:o + size, :size] for o in offsets])


class SpatialCropsTransform:
    """Raw sample → ``{"video": (S, 3, T, size, size), "audio": (1, F, T)}`` without randomness (module doc)."""

    def __init__(self, geometry: EvalGeometry, crops: int) -> None:
        self.geometry, self.crops = geometry, crops
        self.cfg = (geometry, crops)
        self.base = EvalTransform(geometry.eval_config())

    def __call__(self, raw: dict[str, Any]) -> dict[str, Tensor]:
        out = self.base({k: v for k, v in raw.items() if k != "video"})
        if raw.get("video") is not None:
            g = self.geometry
            idx = frame_indices(raw["video"].shape[0], float(raw["fps"]), 0.0, g.frames, g.fps, cyclic=False)
            video = vt.resize_short_side(vt.to_float_video(raw["video"][idx]), g.size)
            crops = spatial_crops(video, g.size, self.crops)
            out["video"] = torch.stack([vt.normalize(c, vt.IMAGENET_MEAN, vt.IMAGENET_STD) for c in crops])
        return out


def test_transform(geometry: EvalGeometry, cfg: FinetuneConfig) -> Any:
    """The preset's test transform: spatial crops for video when ``spatial_crops > 1``, else the centre crop."""
    if cfg.spatial_crops > 1 and "video" in cfg.modalities:
        return SpatialCropsTransform(geometry, cfg.spatial_crops)
    return geometry.transform()


def recipe_mix(cfg: FinetuneConfig, seed: int = 0) -> Any:
    """The preset's batch mixing: AudioMAE mixup for ``mixup_mode`` sample/batch, else XKD's timm-style
    mixup/cutmix (:class:`xmodal.eval.finetune_data.BatchMix`); None when the preset mixes nothing."""
    if cfg.mixup_mode in ("sample", "batch"):
        return AudioMixup(cfg.mixup_prob, cfg.mixup_alpha, cfg.mixup_mode, seed) if cfg.mixup_prob > 0 else None
    from xmodal.eval.finetune_data import batch_mix

    return batch_mix(cfg, seed)


def masking_groups(cfg: FinetuneConfig) -> dict[str, AxisGroups]:
    """Fine-tuning masking per modality: (time, frequency) for audio, (time, space) for video drop fractions."""
    out: dict[str, AxisGroups] = {}
    if cfg.ft_mask_audio is not None and "audio" in cfg.modalities:
        t, f = cfg.ft_mask_audio
        out["audio"] = ((AUDIO_FT_MASK[0][0], t), (AUDIO_FT_MASK[1][0], f))
    if cfg.ft_mask_video is not None and "video" in cfg.modalities:
        t, s = cfg.ft_mask_video
        out["video"] = ((VIDEO_FT_MASK[0][0], t), (VIDEO_FT_MASK[1][0], s))
    return out


AUGMENTATION_FIELDS = ("crop_scale", "randaug", "random_erase", "mixup_mode", "mixup_prob", "mixup_alpha",
                       "cutmix_alpha", "ft_mask_audio", "ft_mask_video", "specaug_time_freq", "specaug_masks",
                       "spec_mask_fill", "volume_jitter", "timewarp_window", "audio_random_crop", "audio_roll",
                       "audio_noise", "spatial_crops", "clip_aggregation")


def augmentation_record(cfg: FinetuneConfig) -> dict[str, Any]:
    """The preset's augmentation fields, for the protocol card."""
    return {k: getattr(cfg, k) for k in AUGMENTATION_FIELDS}
