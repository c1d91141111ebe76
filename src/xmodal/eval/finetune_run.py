"""Fine-tune exported backbones on a manifest with a preset: the library side of ``xmodal eval finetune``.

Backbones are rebuilt from their export with the preset's drop path (xkd Tables S6–S7, mavil Table 10; stochastic
depth rates are fixed at construction, so the export's config is patched before the weights are loaded). Input
geometry per modality comes from :func:`xmodal.eval.geometry.resolve_geometry`; with two backbones the video
fields come from the video export and the audio fields from the audio export. The model is trained for the
preset's epochs on ``train`` (or, with an epoch size, XDC Table 3, for ``epochs × epoch_size`` clips) and scored
once on ``test`` (no epoch selection; the base-LR selection of XDC Table 4 is :mod:`xmodal.eval.finetune_select`,
which calls this function on a manifest without the test rows). ResNet exports (XDC) have no drop path: a preset
asking for one is an error rather than a silently ignored setting.
"""

from __future__ import annotations

import json
import math
import time
from dataclasses import asdict, replace
from pathlib import Path
from typing import Any

import torch
from torch import nn

from xmodal.eval.finetune import finetune
from xmodal.eval.finetune_config import FinetuneConfig
from xmodal.eval.finetune_data import build_loaders, build_shard_loaders
from xmodal.eval.finetune_recipe import augmentation_record, recipe_geometry, recipe_mix, uses_audio_stats
from xmodal.eval.geometry import EvalGeometry, export_doc, resolve_geometry

VIDEO_FIELDS = ("fps", "frames", "size")
AUDIO_FIELDS = ("sample_rate", "audio_seconds", "n_mels", "hop_length", "n_fft", "logmel_mean", "logmel_std",
                "mel_scale", "mel_norm", "log_eps")


NO_DROP_PATH = ("ResNet", "VideoResNet")  # XDC's CNN encoders: drop path and layer decay are ViT notions


def epoch_size_steps(cfg: FinetuneConfig, batches_per_pass: int) -> tuple[int, int]:
    """XDC Table 3's epoch size "es" (clips per epoch, App. C: larger than the video count because each visit
    draws a new random clip): ``cfg.epochs`` epochs of ``es`` clips are ``ceil(epochs·es / batch)`` optimizer steps,
    run as that many steps over enough passes of the data (each pass draws new clips); returns (steps, passes)."""
    steps = math.ceil(cfg.epochs * int(cfg.epoch_size or 0) / cfg.batch_size)
    return steps, math.ceil(steps / max(1, batches_per_pass))


def load_for_finetune(path: str | Path, drop_path: float, device: str = "cpu") -> nn.Module:
    """Rebuild an export with ``drop_path`` (xmodal.models.export format) and load its weights strictly."""
    from safetensors.torch import load_file

    from xmodal.eval.backbone_features import weights_file
    from xmodal.models.export import BUILDERS

    doc = export_doc(path)
    if drop_path > 0 and doc["class"] in NO_DROP_PATH:
        raise ValueError(f"{path}: a {doc['class']} has no stochastic depth; fine-tune it with drop_path 0 "
                         f"(got {drop_path})")
    config = {**doc["config"], "drop_path": drop_path}
    model = BUILDERS[doc["class"]].from_config(config)
    model.load_state_dict(load_file(str(weights_file(path)), device=str(device)), strict=True)
    return model.to(device)


def merged_geometry(backbones: dict[str, str], overrides: dict[str, Any]) -> tuple[EvalGeometry, dict[str, str]]:
    """One geometry for all modalities: each modality's fields resolved against its own export."""
    resolved = {m: resolve_geometry(p, m, overrides) for m, p in backbones.items()}  # type: ignore[arg-type]
    first = next(iter(resolved.values()))
    values, sources = asdict(first[0]), dict(first[1])
    for modality, names in (("video", VIDEO_FIELDS), ("audio", AUDIO_FIELDS)):
        if modality in resolved:
            geom, src = resolved[modality]
            for k in names:
                values[k], sources[k] = getattr(geom, k), f"{modality}: {src[k]}"
    return EvalGeometry(**values), sources


def data_sha256(manifest: str | Path, shards: Any) -> str:
    """What identifies the fine-tuning data in the run config: the manifest file's hash, or for shards the hash of
    the rows they were written from plus their index (geometry, counts)."""
    import hashlib

    from xmodal.eval.protocol import file_sha256

    if shards is None:
        return file_sha256(manifest)
    return hashlib.sha256((shards.source_hash + shards.to_json()).encode()).hexdigest()


def finetune_from_exports(
    backbones: dict[str, str], manifest: str | Path, cfg: FinetuneConfig, *,
    geometry_overrides: dict[str, Any] | None = None, num_workers: int = 0, seed: int = 0,
    decode_cache: bool = False, device: str = "cpu", head: str | None = None, out_dir: str | Path | None = None,
    **trainer_fields: Any,
) -> dict[str, Any]:
    """Train + test on the engine (:mod:`xmodal.eval.finetune_engine`; ``trainer_fields`` are
    :class:`~xmodal.training.trainer.TrainerConfig` fields such as ``max_steps``, ``devices``, ``strategy``);
    returns metrics, geometry (+ sources), skip counts, sizes and timings for the card. The metric follows the data
    (mAP for a multi-label manifest, else top-1); the loss follows the preset (BCE presets such as mavil-vggsound
    stay BCE on single-label data). With ``out_dir`` a killed run resumes when the same command is run again."""
    import lightning.pytorch as L

    from xmodal.data.dataset import read_manifest
    from xmodal.data.shard_format import is_shard_source, read_index
    from xmodal.eval.backbone_features import weights_file
    from xmodal.eval.finetune_engine import FinetuneRun, trainer_config
    from xmodal.eval.protocol import file_sha256

    if set(backbones) != set(cfg.modalities):
        raise ValueError(f"preset wants modalities {cfg.modalities}, got backbones for {sorted(backbones)}")
    L.seed_everything(seed, workers=True)
    geometry, sources = merged_geometry(backbones, geometry_overrides or {})
    if cfg.video_size is not None and "video" in cfg.modalities:
        sources["size"] = f"preset: fine-tuning crop {cfg.video_size}² (pos-embed resampled from the export's grid)"
    if uses_audio_stats(geometry, cfg):
        sources["logmel_mean"] = sources["logmel_std"] = "preset: dataset statistics (mavil Table 10)"
    geometry = recipe_geometry(geometry, cfg)
    shards = read_index(str(manifest)) if is_shard_source(str(manifest)) else None
    index: Any = shards if shards is not None else read_manifest(manifest)
    sizes = ({s: sum(shards.counts(s)) for s in ("train", "test") if s in shards.splits} if shards is not None
             else {s: len(index.split(s).rows) for s in ("train", "test")})
    if not sizes.get("train") or not sizes.get("test"):
        raise ValueError(f"{manifest}: fine-tuning needs 'train' and 'test' rows")
    if shards is not None and decode_cache:
        raise ValueError("--decode-cache: caches decoded original files; shards are streamed (drop the flag)")
    cfg = replace(cfg, multilabel=cfg.multilabel or index.multilabel)
    start = time.perf_counter()
    if shards is not None:
        train_loader, test_loader = build_shard_loaders(shards, cfg, geometry, num_workers=num_workers, seed=seed)
    else:
        train_loader, test_loader = build_loaders(index, cfg, geometry, num_workers=num_workers, seed=seed,
                                                  decode_cache=decode_cache)
    models = {m: load_for_finetune(p, cfg.drop_path) for m, p in backbones.items()}
    trainer_fields = dict(trainer_fields)
    if cfg.epoch_size:
        steps, passes = epoch_size_steps(cfg, len(train_loader))
        asked = trainer_fields.get("max_steps")
        trainer_fields["max_epochs"] = passes
        trainer_fields["max_steps"] = steps if asked is None or asked < 0 else min(asked, steps)
    gpu = device.startswith("cuda") and torch.cuda.is_available()
    tcfg = trainer_config(cfg, **{"accelerator": "gpu" if gpu else "cpu",
                                  "precision": "bf16-mixed" if gpu else "32-true", "num_workers": num_workers,
                                  "seed": seed, **trainer_fields})
    head = head or cfg.head
    inputs = {"backbones_sha256": {m: file_sha256(weights_file(p)) for m, p in backbones.items()},
              "manifest_sha256": data_sha256(manifest, shards), "seed": seed, "geometry": asdict(geometry),
              "head": head}
    module, metrics = finetune(models, train_loader, test_loader, cfg, len(index.classes), mix=recipe_mix(cfg, seed),
                               head=head, out_dir=out_dir, run_config=FinetuneRun(cfg, tcfg, inputs),
                               **asdict(tcfg))
    return {
        "metrics": metrics, "geometry": asdict(geometry), "geometry_sources": sources,
        "augmentation": augmentation_record(cfg),
        "skipped": {k: v.summary() for k, v in module.skips.items()},
        "n_train": sizes["train"], "n_test": sizes["test"], "data_sha256": inputs["manifest_sha256"],
        "num_classes": len(index.classes), "multilabel": index.multilabel, "seconds": time.perf_counter() - start,
        "steps": int(module.global_step), "config": json.loads(json.dumps(asdict(cfg))),
        "trainer": json.loads(json.dumps(asdict(tcfg))), "out_dir": str(out_dir) if out_dir else None,
        "resumed_from": str(module.resumed_from) if module.resumed_from else None,
    }
