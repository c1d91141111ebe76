"""Decode a dataset once into small in-memory tensors that every probe, seed and backbone reuses.

Any manifest, folder with ``manifest.csv`` or registered dataset adapter works (:func:`resolve_index`). Each row
gives one centred clip of ``clip_seconds``: ``frames`` frames spread evenly over it, resized (short side) and
centre-cropped to ``size``² and normalised as in evaluation (:class:`EvalTransform`); the audio becomes the
log-mel of the tiny pretraining config, standardised with the train split's scalar mean/std. Rows that fail to
decode are skipped and counted, never silently dropped.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
import torch
from torch.utils.data import DataLoader

from xmodal.data.collate import collate_samples
from xmodal.data.dataset import AVDataset, DatasetIndex, resolve_index
from xmodal.data.features import LogMelConfig
from xmodal.data.io import AudioSpec, VideoSpec
from xmodal.data.views import EvalConfig, EvalTransform

log = logging.getLogger(__name__)

MODALITIES = ("video", "audio")


@dataclass(frozen=True)
class InputConfig:
    """Clip geometry of the check: small on purpose (a few CPU minutes per table); raise ``frames``/``size`` to
    ask whether a cue survives at a larger scale. ``logmel`` defaults to the tiny pretraining config's front-end
    (80 mels, hop 572: 112 frames for 4 s)."""

    modalities: tuple[str, ...] = MODALITIES
    clip_seconds: float = 4.0
    frames: int = 4
    size: int = 32
    logmel: LogMelConfig = field(default_factory=lambda: LogMelConfig(hop_length=572))
    max_clips: int | None = None
    test_fraction: float = 0.2
    seed: int = 0
    workers: int = 0


def assign_splits(index: DatasetIndex, cfg: InputConfig) -> np.ndarray:
    """Train/test per row: the manifest's ``train`` and ``test`` (``val`` stands in when there is no ``test``);
    without both, a seeded class-stratified ``test_fraction`` of all rows is held out."""
    given = np.array([r.split for r in index.rows])
    held_out = "test" if "test" in given else "val" if "val" in given else None
    if "train" in given and held_out is not None:
        return np.where(given == "train", "train", np.where(given == held_out, "test", "unused"))
    rng = np.random.default_rng([cfg.seed, 0x7E57])
    labels = np.array([r.labels[0] for r in index.rows])
    out = np.full(len(labels), "train", dtype=object)
    for c in np.unique(labels):
        members = rng.permutation(np.flatnonzero(labels == c))
        out[members[: round(cfg.test_fraction * len(members))]] = "test"
    return out.astype(str)


def load_inputs(spec: str, cfg: InputConfig, root: str | None = None) -> dict[str, Any]:
    """``{"video": (N, 3, T, S, S), "audio": (N, 1, F, Ta), "label": (N,), "split": (N,) str, "classes",
    "skipped": [(path, kind)], "meta"}`` (only the requested modalities)."""
    index = resolve_index(spec, root)
    if index.multilabel:
        raise ValueError(f"{spec}: the learnability check needs single-label data (this manifest is multi-label)")
    if cfg.max_clips is not None:
        index = replace(index, rows=index.rows[: cfg.max_clips])
    splits = assign_splits(index, cfg)
    keep = np.flatnonzero(splits != "unused")
    index = replace(index, rows=[index.rows[i] for i in keep])
    transform = EvalTransform(EvalConfig(fps=cfg.frames / cfg.clip_seconds, frames=cfg.frames, size=cfg.size,
                                         audio_seconds=cfg.clip_seconds, frontend=cfg.logmel))
    dataset = AVDataset(index, modalities=cfg.modalities, clip_seconds=cfg.clip_seconds, sampling="center",
                        transform=transform, video=VideoSpec(size=cfg.size),
                        audio=AudioSpec(sample_rate=cfg.logmel.sample_rate), on_error="skip")
    parts: dict[str, list[torch.Tensor]] = {key: [] for key in (*cfg.modalities, "label", "index")}
    skipped: list[Any] = []
    for batch in DataLoader(dataset, batch_size=64, num_workers=cfg.workers, collate_fn=collate_samples):
        skipped += batch["skipped"]
        if "index" in batch:
            for key in parts:
                parts[key].append(batch[key])
    if not parts["index"]:
        raise ValueError(f"{spec}: no clip could be decoded ({len(skipped)} skipped)")
    data: dict[str, Any] = {key: torch.cat(value) for key, value in parts.items()}
    data["split"] = splits[keep][data["index"].numpy()]
    train = torch.from_numpy(data["split"] == "train")
    if not train.any() or train.all():
        raise ValueError(f"{spec}: need clips in both the train and the held-out split")
    if "audio" in data:
        mean, std = data["audio"][train].mean(), data["audio"][train].std()
        data["audio"] = (data["audio"] - mean) / std.clamp_min(1e-6)
    data.update(classes=index.classes, skipped=skipped, meta=index.meta)
    if skipped:
        log.warning("%d clips could not be decoded and were skipped", len(skipped))
    return data
