"""Splits for supervised cross-modal KD runs (C²KD and its baselines): decoded once, with an honest validation split.

Model selection happens on ``val`` only; ``test`` is scored once, at the selected epoch. A manifest without val
rows gets one carved from train with a recorded seed (grouped by the id prefix, e.g. the CREMA-D actor in
``1001_DFA_ANG_XX``, so no speaker is in both), and a manifest whose val clips are test clips (the official
C²KD CREMA-D script validates on test) is refused.

Inputs follow C²KD App. C.1: the audio through a front-end (the linear STFT, 257 bins, window 512, overlap 353 by
default), ``frames`` video frames stacked into channels (3·frames) for 2-D backbones as the official code does.
Clips are decoded into memory once (centred, no augmentation); that suits CPU-sized sets and the paper's
CREMA-D/AVE at reduced sizes, not VGGSound at full size.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any, Literal

import numpy as np
import torch

from xmodal.config import ConfigError
from xmodal.data.dataset import AVDataset, DatasetIndex, resolve_index
from xmodal.data.features import LinearSTFTConfig, LogMelConfig
from xmodal.data.views import EvalConfig, EvalTransform


@dataclass
class DistillDataConfig:
    """``manifest``: a manifest CSV, a folder with ``manifest.csv``, or an adapter name with ``root``."""

    manifest: str = ""
    root: str | None = None
    frames: int = 1
    fps: float = 1.0
    size: int = 224
    audio_seconds: float = 3.0
    frontend: Literal["stft", "logmel"] = "stft"
    audio_pool: int = 1  # average-pool the spectrogram by this factor on both axes (CPU-sized configs only)
    val_fraction: float = 0.1
    val_seed: int = 0
    val_groups: Literal["none", "id_prefix"] = "id_prefix"
    class_subset: int = 0  # > 0: keep this many classes drawn with class_seed (VGGSound-50, App. A)
    class_seed: int = 0

    def validate(self) -> None:
        if not self.manifest:
            raise ConfigError("data.manifest: give a manifest CSV, a folder with manifest.csv, or an adapter name")
        if not 0.0 < self.val_fraction < 1.0:
            raise ConfigError("data.val_fraction: must lie in (0, 1)")
        if self.frames < 1 or self.size < 8 or self.audio_pool < 1:
            raise ConfigError("data: frames >= 1, size >= 8 and audio_pool >= 1 are needed")


@dataclass
class Splits:
    """In-memory ``{split: {"audio", "video", "label", "id"}}`` and how val was made."""

    data: dict[str, dict[str, Any]]
    num_classes: int
    val_source: str
    meta: dict[str, Any] = field(default_factory=dict)

    def dataset(self, split: str) -> torch.utils.data.Dataset:
        return _Rows(self.data[split])


class _Rows(torch.utils.data.Dataset):
    def __init__(self, part: dict[str, Any]) -> None:
        self.part = part

    def __len__(self) -> int:
        return len(self.part["label"])

    def __getitem__(self, i: int) -> dict[str, Any]:
        return {"audio": self.part["audio"][i], "video": self.part["video"][i], "label": self.part["label"][i],
                "index": i}


def carve_validation(ids: list[str], fraction: float, seed: int, groups: str) -> np.ndarray:
    """Boolean mask of the train rows moved to val: whole groups (id prefix before ``_``) or single rows, drawn
    with ``seed`` until ``fraction`` of the rows is reached."""
    keys = [i.split("_")[0] for i in ids] if groups == "id_prefix" else list(ids)
    unique = sorted(set(keys))
    if len(unique) < 2:
        raise ConfigError("data.val_groups: the train split has a single group; use val_groups=none")
    order = np.random.default_rng(seed).permutation(len(unique))
    counts = {k: 0 for k in unique}
    for k in keys:
        counts[k] += 1
    chosen, total = set(), 0
    for j in order:
        if total >= fraction * len(keys) or len(chosen) == len(unique) - 1:
            break
        chosen.add(unique[j])
        total += counts[unique[j]]
    return np.array([k in chosen for k in keys])


def check_no_leakage(val_ids: list[str], test_ids: list[str]) -> None:
    """Refuse a validation split that shares clips with the test split (selection would see the test set)."""
    shared = sorted(set(val_ids) & set(test_ids))
    if shared:
        raise ConfigError(f"data.manifest: val and test share {len(shared)} clips (e.g. {shared[:3]}); model "
                          "selection on them would be selection on test. Remove the val rows to carve one from train")


def _decode(index: DatasetIndex, cfg: DistillDataConfig) -> dict[str, Any]:
    frontend = LinearSTFTConfig() if cfg.frontend == "stft" else LogMelConfig()
    view = EvalTransform(EvalConfig(fps=cfg.fps, frames=cfg.frames, size=cfg.size, audio_seconds=cfg.audio_seconds,
                                    frontend=frontend))
    ds = AVDataset(index, clip_seconds=max(cfg.audio_seconds, cfg.frames / cfg.fps), sampling="center",
                   transform=view, on_error="raise")
    samples = [ds[i] for i in range(len(ds))]
    audio = torch.stack([s["audio"] for s in samples])
    if cfg.audio_pool > 1:
        audio = torch.nn.functional.avg_pool2d(audio, cfg.audio_pool)
    video = torch.stack([s["video"] for s in samples])  # (N, 3, T, H, W) → frames stacked into channels
    video = video.permute(0, 2, 1, 3, 4).reshape(len(samples), -1, *video.shape[-2:])
    return {"audio": audio, "video": video, "label": torch.tensor([s["label"] for s in samples]),
            "id": [r.id or r.path for r in index.rows]}


def load_splits(cfg: DistillDataConfig) -> Splits:
    """Decode train/val/test once; carve val from train when the manifest has none; refuse val ∩ test."""
    index = resolve_index(cfg.manifest, cfg.root)
    if index.multilabel:
        raise ConfigError(f"data.manifest: {index.name} is multi-label; C²KD and its baselines are single-label")
    if cfg.class_subset:
        index = subset_classes(index, cfg.class_subset, cfg.class_seed)
    present = {r.split for r in index.rows}
    if not {"train", "test"} <= present:
        raise ConfigError(f"data.manifest: needs train and test rows, has {sorted(present)}")
    parts = {s: _decode(index.split(s), cfg) for s in sorted(present & {"train", "val", "test"})}
    if "val" in parts:
        source = "manifest"
    else:
        mask = carve_validation(parts["train"]["id"], cfg.val_fraction, cfg.val_seed, cfg.val_groups)
        train = parts["train"]
        parts["val"] = {k: _take(v, mask) for k, v in train.items()}
        parts["train"] = {k: _take(v, ~mask) for k, v in train.items()}
        source = f"carved from train: fraction {cfg.val_fraction}, seed {cfg.val_seed}, groups {cfg.val_groups}"
    check_no_leakage(parts["val"]["id"], parts["test"]["id"])
    sizes = {s: len(p["label"]) for s, p in parts.items()}
    meta = {"sizes": sizes, "dataset": index.name, "classes": index.classes}
    return Splits(parts, len(index.classes), source, meta)


def subset_classes(index: DatasetIndex, n: int, seed: int) -> DatasetIndex:
    """Keep ``n`` classes drawn with ``seed`` (kept in the dataset's order) and relabel them 0..n−1; the chosen
    names go into the run's results, so the subset is recorded."""
    if not 1 < n <= len(index.classes):
        raise ConfigError(f"data.class_subset: {n} is not in 2..{len(index.classes)}")
    keep = sorted(np.random.default_rng(seed).choice(len(index.classes), n, replace=False).tolist())
    new = {old: i for i, old in enumerate(keep)}
    rows = [replace(r, labels=[new[r.labels[0]]]) for r in index.rows if r.labels and r.labels[0] in new]
    return replace(index, rows=rows, classes=[index.classes[i] for i in keep])


def _take(value: Any, mask: np.ndarray) -> Any:
    if isinstance(value, torch.Tensor):
        return value[torch.from_numpy(mask)]
    return [v for v, keep in zip(value, mask, strict=True) if keep]
