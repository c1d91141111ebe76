"""Splits for supervised cross-modal KD runs (C²KD and its baselines): decoded once, with an honest validation split.

Model selection happens on ``val`` only; ``test`` is scored once, at the selected epoch. A manifest without val
rows gets one carved from train with a recorded seed (grouped by the id prefix, e.g. the CREMA-D actor in
``1001_DFA_ANG_XX``, so no speaker is in both), and a manifest whose val clips are test clips (the official
C²KD CREMA-D script validates on test) is refused.

Inputs follow C²KD App. C.1: the audio through a front-end (the linear STFT, 257 bins, window 512, overlap 353 by
default), ``frames`` video frames stacked into channels (3·frames) for 2-D backbones as the official code does.
Clips are decoded into memory once (centred); that suits CPU-sized sets and the paper's CREMA-D/AVE at reduced
sizes, not VGGSound at full size. Training batches then get App. C.1's "random cropping and flipping" of the
visual input (``augment="crop_flip"``, :class:`CropFlipCollate`: the official code's torchvision
``RandomResizedCrop`` + ``RandomHorizontalFlip``, drawn per frame), cut from the stored centre crop rather than the
full frame; ``augment="none"`` trains on the stored frames.

Image–text indexes (CrisisMMD, the synthetic image–text benchmark: rows with ``text``) give ``"image"`` (the eval
transform of :mod:`xmodal.data.images`: short side to ``size / crop_fraction``, centre crop ``size``, ImageNet
normalisation; bad files skipped and counted, or ``on_error="raise"``) and ``"text"`` (``(N, text_max_length)``
WordPiece ids, :mod:`xmodal.data.text`): a vocabulary of ``vocab_size`` trained on the train split's texts, or the
one of ``text_model`` (a local pretrained BERT directory). The tokenizer rides on :class:`Splits` so the run can
store it. The same trainer then sees ``batch["image"]`` and ``batch["text"]`` as it sees audio and video.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field, replace
from typing import Any, Literal

import numpy as np
import torch

from xmodal.config import ConfigError
from xmodal.data.dataset import AVDataset, DatasetIndex, resolve_index, row_path
from xmodal.data.features import LinearSTFTConfig, LogMelConfig
from xmodal.data.images import (
    ImageTransformConfig,
    decode_images,
    eval_image,
    random_resized_crop_flip,
    summarize_skipped,
)
from xmodal.data.views import EvalConfig, EvalTransform

log = logging.getLogger(__name__)


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
    crop_fraction: float = 0.875  # images: centre crop of size / crop_fraction (1.0: resize only)
    on_error: Literal["skip", "raise"] = "skip"  # images that do not decode: skipped and counted, or an error
    text_max_length: int = 64
    vocab_size: int = 30522  # WordPiece vocabulary trained on the train split (BERT-base's size)
    text_model: str | None = None  # a local pretrained BERT directory: its vocabulary (and, in the run, weights)
    augment: Literal["crop_flip", "none"] = "crop_flip"  # App. C.1 training augmentation of the video input

    def validate(self) -> None:
        if not self.manifest:
            raise ConfigError("data.manifest: give a manifest CSV, a folder with manifest.csv, or an adapter name")
        if not 0.0 < self.val_fraction < 1.0:
            raise ConfigError("data.val_fraction: must lie in (0, 1)")
        if self.frames < 1 or self.size < 8 or self.audio_pool < 1:
            raise ConfigError("data: frames >= 1, size >= 8 and audio_pool >= 1 are needed")
        if not 0.0 < self.crop_fraction <= 1.0 or self.text_max_length < 3 or self.vocab_size < 8:
            raise ConfigError("data: crop_fraction in (0, 1], text_max_length >= 3 and vocab_size >= 8 are needed")


@dataclass
class Splits:
    """In-memory ``{split: {"audio", "video", "label", "id"}}`` and how val was made."""

    data: dict[str, dict[str, Any]]
    num_classes: int
    val_source: str
    meta: dict[str, Any] = field(default_factory=dict)
    tokenizer: Any = None  # image–text splits: the TextTokenizer that encoded "text"

    @property
    def modalities(self) -> tuple[str, ...]:
        return tuple(k for k in ("audio", "video", "image", "text") if k in self.data["train"])

    def dataset(self, split: str) -> torch.utils.data.Dataset:
        return _Rows(self.data[split])


class _Rows(torch.utils.data.Dataset):
    def __init__(self, part: dict[str, Any]) -> None:
        self.part = part

    def __len__(self) -> int:
        return len(self.part["label"])

    def __getitem__(self, i: int) -> dict[str, Any]:
        out = {k: v[i] for k, v in self.part.items() if isinstance(v, torch.Tensor)}
        return {**out, "index": i}


class CropFlipCollate:
    """Training batches with C²KD App. C.1's visual augmentation: each stored frame of ``batch["video"]`` (``(B,
    3·frames, H, W)``) gets its own ``RandomResizedCrop((H, W))`` (scale 0.08–1, ratio 3/4–4/3) and horizontal flip,
    as the official datasets apply the torchvision transform frame by frame. The generator is seeded, so every
    method of one seed trains on the same augmented batches (paired comparison)."""

    def __init__(self, seed: int) -> None:
        self.gen = torch.Generator().manual_seed(seed)

    def __call__(self, rows: list[dict[str, Any]]) -> dict[str, Any]:
        batch = torch.utils.data.default_collate(rows)
        video = batch.get("video")
        if isinstance(video, torch.Tensor):
            b, c, h, w = video.shape
            frames = random_resized_crop_flip(video.reshape(b * c // 3, 3, h, w), self.gen)
            batch["video"] = frames.reshape(b, c, h, w)
        return batch


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


def _decode_pairs(index: DatasetIndex, cfg: DistillDataConfig, tokenizer: Any, skipped: dict[str, list[str]]
                  ) -> dict[str, Any]:
    decoded = decode_images([row_path(index, r) for r in index.rows], cfg.on_error)
    for kind, paths in decoded.skipped.items():
        skipped.setdefault(kind, []).extend(paths)
    if not decoded.kept:
        raise ConfigError(f"data.manifest: no image of split {index.rows[0].split!r} decodes "
                          f"({summarize_skipped(decoded.skipped)})")
    view = ImageTransformConfig(size=cfg.size, crop_fraction=cfg.crop_fraction)
    rows = [index.rows[i] for i in decoded.kept]
    return {"image": torch.stack([eval_image(img, view) for img in decoded.images]),
            "text": tokenizer.encode([r.text for r in rows], cfg.text_max_length),
            "label": torch.tensor([r.labels[0] for r in rows]), "id": [r.id or r.path for r in rows]}


def _tokenizer(index: DatasetIndex, cfg: DistillDataConfig) -> Any:
    from xmodal.data.text import TextTokenizer, train_wordpiece

    if cfg.text_model:
        return TextTokenizer.load(cfg.text_model)
    return train_wordpiece([r.text for r in index.rows if r.split == "train"], cfg.vocab_size)


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
    pairs = any(r.text for r in index.rows)
    tokenizer = _tokenizer(index, cfg) if pairs else None
    skipped: dict[str, list[str]] = {}
    parts = {s: _decode_pairs(index.split(s), cfg, tokenizer, skipped) if pairs else _decode(index.split(s), cfg)
             for s in sorted(present & {"train", "val", "test"})}
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
    meta: dict[str, Any] = {"sizes": sizes, "dataset": index.name, "classes": index.classes}
    if pairs:
        meta.update(skipped_images={k: len(v) for k, v in skipped.items()}, vocab_size=tokenizer.vocab_size,
                    text_model=cfg.text_model, **{k: index.meta[k] for k in ("gamma", "knobs") if k in index.meta})
        if skipped:
            log.warning("%s: images left out: %s", index.name, summarize_skipped(skipped))
    return Splits(parts, len(index.classes), source, meta, tokenizer)


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
