"""XDC's three views of one training set: augmented training clips, deterministic clips of every clip for
clustering, and the held-out clips whose pseudo-label loss decides early stopping.

Rows keep one global numbering (the order of the training split): pseudo-labels are arrays over it, the clustering
dataset yields it directly as ``index``, and the training / held-out datasets map their own ``index`` through
:attr:`XDCData.train_rows` / :attr:`XDCData.held_rows`. The held-out rows are a seeded draw, so a resumed run holds
out the same clips.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import torch

from xmodal.config import ConfigError
from xmodal.data import video_transforms as vt
from xmodal.data.dataset import AVDataset, DatasetIndex, resolve_index
from xmodal.data.features import build_frontend
from xmodal.data.io import AudioSpec, VideoSpec
from xmodal.data.shard_format import is_shard_source
from xmodal.data.views import (
    EvalConfig,
    EvalTransform,
    VideoViewConfig,
    augment_video_view,
    frame_indices,
    take_samples,
)
from xmodal.methods.xdc_config import XDCClipsConfig, XDCConfig


class XDCClips:
    """Raw sample → ``{"video": (3, frames, size, size), "audio": (1, n_mels, T)}`` with a random start, a
    multi-scale crop and a flip for the video (no colour jitter: the appendix lists none) and the clip's audio."""

    def __init__(self, cfg: XDCClipsConfig) -> None:
        self.cfg = cfg
        self.logmel = build_frontend(cfg.logmel)
        self.view = VideoViewConfig(cfg.frames, cfg.size, cfg.crop_scale, flip_p=cfg.flip_p, jitter_p=0.0)

    def __call__(self, raw: dict[str, Any]) -> dict[str, torch.Tensor]:
        cfg, gen, out = self.cfg, torch.Generator().manual_seed(int(raw["seed"])), {}
        if raw.get("video") is not None:
            frames, fps = raw["video"], float(raw["fps"])
            span = frames.shape[0] / fps - cfg.frames / cfg.fps
            start = span * float(torch.rand((), generator=gen)) if span > 0 else 0.0
            idx = frame_indices(frames.shape[0], fps, start, cfg.frames, cfg.fps, cyclic=True)
            out["video"] = augment_video_view(frames[idx], self.view, vt.IMAGENET_MEAN, vt.IMAGENET_STD, gen)
        if raw.get("audio") is not None:
            count = round(cfg.audio_seconds * int(raw["sample_rate"]))
            out["audio"] = self.logmel(take_samples(raw["audio"].to(torch.float32), 0, count))
        return out


def eval_config(cfg: XDCClipsConfig) -> EvalConfig:
    """The deterministic inputs of feature extraction (and of the evaluation suite, via the export metadata)."""
    return EvalConfig(fps=cfg.fps, frames=cfg.frames, size=cfg.size, audio_seconds=cfg.audio_seconds,
                      frontend=cfg.logmel)


@dataclass
class XDCData:
    train: AVDataset
    cluster: AVDataset
    held: AVDataset
    train_rows: np.ndarray
    held_rows: np.ndarray
    truth: np.ndarray
    classes: list[str]


def split_holdout(n: int, fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """(train rows, held-out rows), both sorted; at least one clip on each side."""
    if n < 2:
        raise ValueError(f"XDC needs at least 2 clips (one to train, one held out), got {n}")
    held = np.sort(np.random.default_rng([seed, 12]).permutation(n)[: min(n - 1, max(1, round(fraction * n)))])
    return np.setdiff1d(np.arange(n), held), held


def build_data(cfg: XDCConfig) -> XDCData:
    d = cfg.data
    if is_shard_source(d.source):
        raise ConfigError(f"data.source: {d.source!r} is a shard set; XDC reads a manifest or dataset (its clustering "
                          "passes and held-out split need random access to rows; docs/scaling.md)")
    index = resolve_index(d.source, d.root)
    if d.split:
        index = index.split(d.split)
    train_rows, held_rows = split_holdout(len(index.rows), cfg.cluster.holdout, cfg.trainer.seed)
    mods = tuple(cfg.cluster.modalities)
    video, audio = VideoSpec(fps=d.clips.fps, size=d.decode_size), AudioSpec(sample_rate=d.clips.logmel.sample_rate)
    evaluate = EvalTransform(eval_config(d.clips))

    def dataset(idx: DatasetIndex, sampling: str, transform: Any) -> AVDataset:
        ds = AVDataset(idx, modalities=mods, clip_seconds=d.clip_seconds, video=video, audio=audio,
                       sampling=sampling, transform=transform,  # type: ignore[arg-type]
                       on_error="replace" if d.on_error == "skip" else "raise", short=d.short,
                       missing_audio=d.missing_audio, seed=cfg.trainer.seed, cache=d.cache)
        if d.cache:
            ds.preload()
        return ds

    subset = lambda rows: replace(index, rows=[index.rows[i] for i in rows])  # noqa: E731
    truth = np.array([r.labels[0] if r.labels and not index.multilabel else -1 for r in index.rows], dtype=np.int64)
    return XDCData(dataset(subset(train_rows), "random", XDCClips(d.clips)), dataset(index, "center", evaluate),
                   dataset(subset(held_rows), "center", evaluate), train_rows, held_rows, truth, list(index.classes))


def handcrafted_features(batch: dict[str, torch.Tensor], modality: str) -> torch.Tensor:
    """Cheap hand-crafted descriptors for the optional first clustering (appendix §A): per-channel mean / std of
    the frames plus the mean absolute frame difference (motion energy) for video; per-band mean / std of the
    log-mel for audio."""
    x = batch[modality].float()
    if modality == "video":  # (B, 3, T, H, W)
        motion = (x[:, :, 1:] - x[:, :, :-1]).abs().mean(dim=(2, 3, 4)) if x.shape[2] > 1 else x.new_zeros(x.shape[:2])
        return torch.cat([x.mean(dim=(2, 3, 4)), x.std(dim=(2, 3, 4)), motion], 1)
    return torch.cat([x.mean(dim=-1).flatten(1), x.std(dim=-1).flatten(1)], 1)  # (B, 1, F, T) → 2F
