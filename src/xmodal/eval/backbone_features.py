"""Features straight from an exported backbone and a dataset manifest, cached by content hash.

This is the glue behind ``xmodal eval ... --backbone FILE --data MANIFEST``: the backbone is rebuilt with
``xmodal.models.load_backbone`` and the clips come from ``xmodal.data.dataset.AVDataset`` (both imported
lazily, so precomputed-feature evaluation needs neither). Training videos are passed ``train_passes`` times with
augmentation and test videos yield ``test_clips`` uniformly spaced clips (xkd.md §A.5: 25 / 3), averaged per id.
The cache key hashes the weights file, the manifest file and every extraction option.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np

from xmodal.eval.features import FeatureSet, Pooling, cache_key, cached, extract_features
from xmodal.eval.protocol import file_sha256


@dataclass(frozen=True)
class ExtractionOptions:
    train_passes: int = 25
    test_clips: int = 3
    batch_size: int = 32
    num_workers: int = 4
    pooling: Pooling = "features"
    device: str = "cpu"
    amp_bf16: bool = True


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
    options: ExtractionOptions = ExtractionOptions(),
    cache_dir: str | Path | None = None,
) -> FeatureSet:
    """One FeatureSet holding every requested split (its ``split`` column says which row is which)."""
    from torch.utils.data import DataLoader

    from xmodal.data.dataset import AVDataset
    from xmodal.models import load_backbone

    ckpt_hash = file_sha256(weights_file(backbone_path))
    data_hash = file_sha256(manifest)
    parts = []
    for split in splits:
        train = split == "train"
        protocol = {"modality": modality, "split": split, "passes": options.train_passes if train else 1,
                    "clips": 1 if train else options.test_clips, "pooling": options.pooling}

        def compute(split: str = split, train: bool = train) -> FeatureSet:
            ds = AVDataset(manifest, split=split, modalities=(modality,), train=train,
                           clips=1 if train else options.test_clips)
            loader = DataLoader(ds, batch_size=options.batch_size, num_workers=options.num_workers, shuffle=False)
            return extract_features(
                lambda: load_backbone(backbone_path, device=options.device), loader, modality=modality,
                device=options.device, clips_per_video=None if train else options.test_clips,
                amp_bf16=options.amp_bf16, train_passes=options.train_passes if train else 1, split=split,
                pooling=options.pooling,
            )

        parts.append(cached(cache_dir, cache_key(ckpt_hash, data_hash, protocol), compute))
    return FeatureSet(
        np.concatenate([p.features for p in parts]), np.concatenate([p.labels for p in parts]),
        np.concatenate([p.ids for p in parts]), np.concatenate([p.split for p in parts]),
    )
