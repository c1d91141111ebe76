"""Features straight from an exported backbone and a dataset manifest, cached by content hash.

This is the glue behind ``xmodal eval ... --backbone FILE --data MANIFEST``: the backbone is rebuilt with
``xmodal.models.load_backbone`` and clips come from ``xmodal.data.dataset.AVDataset`` over
``read_manifest(MANIFEST)`` (imported lazily, so precomputed-feature evaluation needs neither), or from streaming
shards (``--data`` a shard folder or index.json URL: :class:`~xmodal.data.shard_dataset.ShardDataset`, the same
clips and transforms; the cache key then hashes the shard index). Training videos are
passed ``train_passes`` times, each pass with new random clip starts (``set_epoch``) and the train transform's
augmentation; test videos yield ``test_clips`` uniformly spaced clips (XKD §A.5: 25 / 3), averaged per id.
The cache key hashes the weights file, the manifest file, the input geometry and every extraction option.
Inputs are shaped by an :class:`~xmodal.eval.geometry.EvalGeometry` resolved against the backbone (export
metadata, token grid, paper defaults). Undecodable files are skipped (``on_error="skip"``), counted per split and
returned, never silent.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np

from xmodal.eval.features import FeatureSet, Pooling, cache_key, cached, extract_features
from xmodal.eval.geometry import EvalGeometry, resolve_geometry
from xmodal.eval.protocol import file_sha256

Transform = Callable[[dict[str, Any]], dict[str, Any]]


@dataclass(frozen=True)
class ExtractionOptions:
    """``train_passes`` augmented clips per training video and ``test_clips`` uniformly spaced clips per val/test
    video (XKD §A.5: 25 / 3). ``decode_cache`` decodes each file once and cuts every clip from memory
    (``AVDataset(cache=True)``; small sets only). ``average_clips=False`` keeps every clip as its own row (ids
    repeat) for the per-clip SVM / probe protocols of XKD's code."""

    train_passes: int = 25
    test_clips: int = 3
    batch_size: int = 32
    num_workers: int = 0
    pooling: Pooling = "features"
    device: str = "cpu"
    amp_bf16: bool = True
    seed: int = 0
    decode_cache: bool = False
    average_clips: bool = True


@dataclass
class Extracted:
    """Features of every split plus what the protocol card needs: geometry (and where each field came from),
    per-split video/clip/skip counts, and whether a split came from the cache."""

    features: FeatureSet
    geometry: EvalGeometry
    geometry_sources: dict[str, str]
    splits: dict[str, dict[str, Any]] = field(default_factory=dict)

    @property
    def skipped(self) -> int:
        return sum(int(s["skipped_clips"]) for s in self.splits.values())

    def card_info(self) -> dict[str, Any]:
        return {"geometry": asdict(self.geometry), "geometry_sources": self.geometry_sources,
                "splits": self.splits, "skipped_clips": self.skipped}


def _describe(transform: Transform) -> str:
    """A stable description for the cache key: the transform's ``cfg`` dataclass when it has one (a default
    object repr carries a memory address and would only cause cache misses)."""
    return f"{type(transform).__qualname__}({getattr(transform, 'cfg', '')!r})"


def weights_file(backbone_path: str | Path) -> Path:
    """The ``.safetensors`` of an export given as prefix, ``.json`` or ``.safetensors`` path."""
    p = Path(backbone_path)
    return p if p.suffix == ".safetensors" else Path(f"{p.with_suffix('') if p.suffix == '.json' else p}.safetensors")


def unimodal(backbone: Any, modality: str) -> Any:
    """The encoder of ``modality`` when ``backbone`` is a MAViL encoder stack (``export/encoder``: audio + video +
    fusion), else ``backbone``. A one-modality protocol then sees the pre-fusion mean-pooled embedding (MAViL's
    uni-modal feature, the one its inter-modal contrastive term aligns), the same as ``export/audio`` or
    ``export/video``."""
    from xmodal.models.mavil import MAViLEncoder

    return backbone.encoder(modality) if isinstance(backbone, MAViLEncoder) else backbone


def _skip_summary(entries: list[tuple[str, str]]) -> dict[str, Any]:
    from xmodal.data.collate import SkipCounter

    counter = SkipCounter()
    counter.update(entries)
    summary = counter.summary()
    return {"skipped_clips": summary["count"], "skipped_by_kind": summary["by_kind"],
            "skipped_files": [f["path"] for f in summary["files"]]}


def features_from_backbone(
    backbone_path: str | Path,
    manifest: str | Path,
    modality: Literal["video", "audio"],
    *,
    splits: Sequence[str] | None = None,
    options: ExtractionOptions | None = None,
    geometry: EvalGeometry | None = None,
    train_transform: Transform | None = None,
    eval_transform: Transform | None = None,
    cache_dir: str | Path | None = None,
) -> Extracted:
    """Features of ``splits`` (default: those of train/val/test present in the manifest) in one FeatureSet.

    ``geometry`` defaults to :func:`resolve_geometry` on the export; both transforms default to its deterministic
    ``EvalTransform`` (then training passes differ only by clip start). Pass an augmenting ``train_transform``
    (e.g. :class:`xmodal.eval.finetune_recipe.RecipeTrainTransform`) for augmented training clips.
    """
    from torch.utils.data import DataLoader

    from xmodal.data.collate import collate_samples
    from xmodal.data.dataset import AVDataset, read_manifest
    from xmodal.data.shard_dataset import ShardDataset, ShardLoader
    from xmodal.data.shard_format import is_shard_source, read_index
    from xmodal.models import load_backbone

    opts = options or ExtractionOptions()
    sources = {"all": "given"}
    if geometry is None:
        geometry, sources = resolve_geometry(backbone_path, modality)
    plain = geometry.transform()
    video_spec, audio_spec = geometry.specs()
    shards = read_index(str(manifest)) if is_shard_source(str(manifest)) else None
    index = read_manifest(manifest) if shards is None else None
    present = set(shards.splits) if shards is not None else {row.split for row in index.rows}  # type: ignore[union-attr]
    wanted = [s for s in (splits or ("train", "val", "test")) if s in present]
    data_hash = shards.source_hash + shards.to_json() if shards is not None else file_sha256(manifest)
    ckpt_hash = file_sha256(weights_file(backbone_path))
    parts, info = [], {}
    for split in wanted:
        train = split == "train"
        transform = (train_transform if train else eval_transform) or plain
        protocol = {**asdict(opts), "modality": modality, "split": split, "transform": _describe(transform),
                    "geometry": asdict(geometry)}
        protocol.pop("num_workers")
        if opts.average_clips:  # keys of caches written before the option existed stay valid
            protocol.pop("average_clips")
        if not train:
            protocol["train_passes"] = 1
        sampling = "random" if train else "uniform"
        dataset: AVDataset | ShardDataset
        if shards is not None:  # every sample once, in stored order, on this process (no rank split, no drop)
            dataset = ShardDataset(shards, split, modalities=(modality,), clip_seconds=geometry.clip_seconds,
                                   video=video_spec, audio=audio_spec, sampling=sampling,
                                   num_clips=1 if train else opts.test_clips, transform=transform, seed=opts.seed,
                                   shuffle=False, batch_size=opts.batch_size, drop_last=False, rank=0, world=1)
        else:
            dataset = AVDataset(index.split(split), modalities=(modality,),  # type: ignore[union-attr]
                                clip_seconds=geometry.clip_seconds, video=video_spec, audio=audio_spec,
                                sampling=sampling, num_clips=1 if train else opts.test_clips, transform=transform,
                                on_error="skip", seed=opts.seed, cache=opts.decode_cache)
        skipped: list[tuple[str, str]] = []

        def compute(dataset: AVDataset | ShardDataset = dataset, train: bool = train, split: str = split,
                    skipped: list[tuple[str, str]] = skipped) -> FeatureSet:
            if isinstance(dataset, ShardDataset):
                loader: Any = ShardLoader(dataset, num_workers=opts.num_workers)
            else:
                if opts.decode_cache:
                    dataset.preload()
                loader = DataLoader(dataset, batch_size=opts.batch_size, num_workers=opts.num_workers,
                                    collate_fn=collate_samples)
            return extract_features(
                lambda: unimodal(load_backbone(backbone_path, device=opts.device), modality), loader, modality=modality,
                device=opts.device, clips_per_video=None if train else opts.test_clips, amp_bf16=opts.amp_bf16,
                train_passes=opts.train_passes if train else 1, split=split, pooling=opts.pooling,
                on_pass=dataset.set_epoch, skipped=skipped, average_clips=opts.average_clips,
            )

        key = cache_key(ckpt_hash, data_hash, protocol)
        side = Path(cache_dir) / f"{key}.skipped.json" if cache_dir is not None else None
        hit = side is not None and side.exists() and side.with_name(f"{key}.npz").exists()
        fs = cached(cache_dir, key, compute)
        if hit:
            assert side is not None
            skipped.extend(tuple(e) for e in json.loads(side.read_text()))
        elif side is not None:
            side.write_text(json.dumps(skipped))
        parts.append(fs)
        info[split] = {"videos": len(np.unique(fs.ids)), "rows": len(fs),
                       "clips_per_video": opts.train_passes if train else opts.test_clips,
                       "from_cache": hit, **_skip_summary(skipped)}
    if not parts:
        raise ValueError(f"{manifest}: none of the splits {list(splits or ('train', 'val', 'test'))} has rows")
    fs = FeatureSet(
        np.concatenate([p.features for p in parts]), np.concatenate([p.labels for p in parts]),
        np.concatenate([p.ids for p in parts]), np.concatenate([p.split for p in parts]),
    )
    return Extracted(fs, geometry, sources, info)
