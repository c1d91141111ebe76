"""Augmented training clips for frozen-feature evaluation (XKD Tables S1–S2, "Linear Eval." column).

XKD §A.5 extracts the training clips of the SVM / FC-probe protocols with augmentation and the test clips without:
video — multi-scale crop scale [0.08, 1] → ``size``², horizontal flip 0.5, colour jitter 0.4/0.4/0.4/0.2, grey
0.2, no blur (Table S1); audio — volume jitter ±0.1 (Table S2). XKD's code applies the colour jitter to every clip
(its ``ColorJitter`` has no probability), as the pre-training views here do (``VideoViewConfig.jitter_p = 1``).
Every clip also gets a random temporal start. Per sample the draws come from ``raw["seed"]`` (AVDataset's
``(seed, epoch, index, clip)`` seed), so an extraction pass is reproducible and the cache key can describe it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor

from xmodal.data import video_transforms as vt
from xmodal.data.audio_transforms import volume_jitter
from xmodal.data.features import build_frontend
from xmodal.data.views import VideoViewConfig, augment_video_view, frame_indices, select_frames, take_samples
from xmodal.eval.geometry import EvalGeometry


@dataclass(frozen=True)
class LinearEvalAugConfig:
    crop_scale: tuple[float, float] = (0.08, 1.0)
    flip_p: float = 0.5
    jitter: tuple[float, float, float, float] = (0.4, 0.4, 0.4, 0.2)
    grayscale_p: float = 0.2
    volume: float = 0.1


def _start(span: float, gen: torch.Generator) -> float:
    return span * float(torch.rand((), generator=gen)) if span > 0 else 0.0


class LinearEvalTransform:
    """Raw sample → augmented ``{"video": (3, frames, size, size), "audio": (1, F, T)}`` in ``geometry``."""

    def __init__(self, geometry: EvalGeometry, aug: LinearEvalAugConfig | None = None) -> None:
        self.geometry, self.aug = geometry, aug or LinearEvalAugConfig()
        self.cfg = (geometry, self.aug)  # cache-key description (xmodal.eval.backbone_features._describe)
        self.view = VideoViewConfig(geometry.frames, geometry.size, self.aug.crop_scale, self.aug.grayscale_p,
                                    flip_p=self.aug.flip_p, jitter=self.aug.jitter)
        self.frontend = build_frontend(geometry.eval_config().frontend)

    def __call__(self, raw: dict[str, Any]) -> dict[str, Tensor]:
        g, gen = self.geometry, torch.Generator().manual_seed(int(raw["seed"]))
        out: dict[str, Tensor] = {}
        if raw.get("video") is not None:
            frames, fps = raw["video"], float(raw["fps"])
            idx = frame_indices(frames.shape[0], fps, _start(frames.shape[0] / fps - g.frames / g.fps, gen),
                                g.frames, g.fps, cyclic=False)
            out["video"] = augment_video_view(select_frames(frames, idx), self.view, vt.IMAGENET_MEAN,
                                              vt.IMAGENET_STD, gen)
        if raw.get("audio") is not None:
            sr = int(raw["sample_rate"])
            count = round(g.audio_seconds * sr)
            wave = take_samples(raw["audio"].to(torch.float32), int(_start(max(raw["audio"].shape[-1] - count, 0),
                                                                             gen)), count)
            out["audio"] = self.frontend(volume_jitter(wave, self.aug.volume, gen) if self.aug.volume > 0 else wave)
        return out
