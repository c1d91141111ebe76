"""Features straight from an exported backbone and a dataset manifest, cached by content hash.

This is the glue behind ``xmodal eval ... --backbone FILE --data MANIFEST``: the backbone is rebuilt with
``xmodal.models.load_backbone`` and clips come from ``xmodal.data.dataset.AVDataset`` over
``read_manifest(MANIFEST)`` (imported lazily, so precomputed-feature evaluation needs neither). Training videos are
passed ``train_passes`` times, each pass with new random clip starts (``set_epoch``) and the train transform's
augmentation; test videos yield ``test_clips`` uniformly spaced clips (xkd.md §A.5: 25 / 3), averaged per id.
The cache key hashes the weights file, the manifest file and every extraction option.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np

from xmodal.eval.features import FeatureSet, Pooling, cache_key, cached, extract_features
from xmodal.eval.protocol import file_sha256

Transform = Callable[[dict[str, Any]], dict[str, Any]]


@dataclass(frozen=True)
class ExtractionOptions:
    clip_seconds: float = 4.0
    train_passes: int = 25
    test_clips: int = 3
    batch_size: int = 32
    num_workers: int = 2
    pooling: Pooling = "features"
    device: str = "cpu"
    amp_bf16: bool = True
    seed: int = 0


def _describe(transform: Transform) -> str:
    """A stable description for the cache key: the transform's ``cfg`` dataclass when it has one (a default
    object repr carries a memory address and would only cause cache misses)."""
    return f"{type(transform).__qualname__}({getattr(transform, 'cfg', '')!r})"


def weights_file(backbone_path: str | Path) -> Path:
    """The ``.safetensors`` of an export given as prefix, ``.json`` or ``.safetensors`` path."""
    p = Path(backbone_path)
    return p if p.suffix == ".safetensors" else Path(f"{p.with_suffix('') if p.suffix == '.json' else p}.safetensors")


def features_from_backbone(
    backbone_path: str | Path,
    manifest: str | Path,
    modality: Literal["video", "audio"],
    *,
    splits: Sequence[str] = ("train", "test"),
    options: ExtractionOptions | None = None,
    train_transform: Transform | None = None,
    eval_transform: Transform | None = None,
    cache_dir: str | Path | None = None,
) -> FeatureSet:
    """One FeatureSet holding every requested split (its ``split`` column says which row is which).

    Transforms default to ``EvalTransform(EvalConfig())`` (XKD linear-eval inputs, no augmentation); pass the
    linear-eval augmentation of xkd Table S1 as ``train_transform``; the cache key names a transform by its class
    and its ``cfg`` attribute.
    """
    from torch.utils.data import DataLoader

    from xmodal.data.collate import collate_samples
    from xmodal.data.dataset import AVDataset, read_manifest
    from xmodal.data.views import EvalConfig, EvalTransform
    from xmodal.models import load_backbone

    opts = options or ExtractionOptions()
    plain = EvalTransform(EvalConfig())
    index = read_manifest(manifest)
    ckpt_hash, data_hash = file_sha256(weights_file(backbone_path)), file_sha256(manifest)
    parts = []
    for split in splits:
        train = split == "train"
        transform = (train_transform if train else eval_transform) or plain
        protocol = {**asdict(opts), "modality": modality, "split": split, "transform": _describe(transform)}
        if not train:
            protocol["train_passes"] = 1
        dataset = AVDataset(index.split(split), modalities=(modality,), clip_seconds=opts.clip_seconds,
                            sampling="random" if train else "uniform", num_clips=1 if train else opts.test_clips,
                            transform=transform, seed=opts.seed)

        def compute(dataset: AVDataset = dataset, train: bool = train, split: str = split) -> FeatureSet:
            loader = DataLoader(dataset, batch_size=opts.batch_size, num_workers=opts.num_workers,
                                collate_fn=collate_samples)
            return extract_features(
                lambda: load_backbone(backbone_path, device=opts.device), loader, modality=modality,
                device=opts.device, clips_per_video=None if train else opts.test_clips, amp_bf16=opts.amp_bf16,
                train_passes=opts.train_passes if train else 1, split=split, pooling=opts.pooling,
                on_pass=dataset.set_epoch,
            )

        parts.append(cached(cache_dir, cache_key(ckpt_hash, data_hash, protocol), compute))
    return FeatureSet(
        np.concatenate([p.features for p in parts]), np.concatenate([p.labels for p in parts]),
        np.concatenate([p.ids for p in parts]), np.concatenate([p.split for p in parts]),
    )
