"""XDC pretraining orchestration: config → datasets, method, trainer; dry-run report; fit with resume; export.

:mod:`xmodal.methods.pretrain` dispatches here on ``method: xdc``. The export holds each encoder as a plain backbone
(``video``: :class:`~xmodal.models.video_resnet.VideoResNet`, ``audio``: 2-D
:class:`~xmodal.models.resnet.ResNet`) with the input geometry it was trained on in the metadata, so the
evaluation suite loads it like XKD's; ``clusters.json`` holds the per-iteration statistics and purity reports.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import lightning.pytorch as L
import torch
from torch import nn

from xmodal.config import code_version, config_hash, to_dict
from xmodal.data.loader import EpochDataLoader
from xmodal.data.views import EvalConfig
from xmodal.methods.engine import run_pretraining
from xmodal.methods.monitor_setup import online_monitors, xdc_features
from xmodal.methods.pretrain_data import training_loader
from xmodal.methods.xdc import XDC
from xmodal.methods.xdc_cluster import UniformClusterSampler
from xmodal.methods.xdc_config import XDCConfig
from xmodal.methods.xdc_data import XDCData, build_data


def build(cfg: XDCConfig) -> tuple[XDC, XDCData, EpochDataLoader]:
    data = build_data(cfg)
    method = XDC(cfg, num_clips=len(data.truth))
    method.attach(data)
    src = cfg.cluster.uniform_over
    if src == "none":
        return method, data, training_loader(data.train, cfg.trainer)
    sampler = UniformClusterSampler(lambda: method.labels(src).cpu().numpy(), data.train_rows, cfg.trainer.seed)
    t = cfg.trainer
    loader = EpochDataLoader(data.train, batch_size=t.batch_size, sampler=sampler,
                             drop_last=len(data.train) >= t.batch_size, num_workers=t.num_workers,
                             persistent_workers=t.num_workers > 0, pin_memory=torch.cuda.is_available(),
                             collate_fn=training_loader(data.train, t).collate_fn)
    return method, data, loader


def _count(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


def describe(cfg: XDCConfig, method: XDC, data: XDCData) -> dict[str, Any]:
    c, clips = cfg.cluster, cfg.data.clips
    params = {f"encoders.{m}": _count(e) for m, e in method.encoders.items()}
    params |= {f"heads.{h}": _count(m) for h, m in method.heads.items()}
    shapes = {"video": {"grid": [3, clips.frames, clips.size, clips.size]},
              "audio": {"grid": [1, clips.logmel.n_mels, int(clips.audio_seconds * clips.logmel.sample_rate)
                                 // clips.logmel.hop_length + 1]}}
    tokens = {m: {**shapes[m], "tokens": 0} for m in method.encoders}
    return {
        "method": cfg.method,
        "title": f"{c.variant} ({cfg.model.video_arch} + resnet18-2d, routes {method.routes})",
        "parameters": params,
        "parameters_total": _count(method),
        "tokens": tokens,
        "routes": method.routes,
        "label_sources": {s: c.k(s) for s in method.sources},
        "clips": {"train": len(data.train_rows), "held_out": len(data.held_rows)},
        "config_hash": config_hash(cfg),
        "code_version": code_version(),
    }


def dry_run(cfg: XDCConfig) -> dict[str, Any]:
    method, data, loader = build(cfg)
    report = describe(cfg, method, data)
    report["dataset"] = {"source": cfg.data.source, "clips": len(data.truth), "batches": len(loader)}
    report["config"] = to_dict(cfg)
    return report


def eval_geometry(cfg: XDCConfig) -> dict[str, Any]:
    """The inputs the encoders were trained on, as :class:`xmodal.eval.geometry.EvalGeometry` fields."""
    c = cfg.data.clips
    mel = c.logmel
    return {"clip_seconds": c.frames / c.fps, "fps": c.fps, "frames": c.frames, "size": c.size,
            "sample_rate": mel.sample_rate, "audio_seconds": c.audio_seconds, "n_mels": mel.n_mels,
            "hop_length": mel.hop_length, "n_fft": mel.n_fft, "logmel_mean": mel.mean, "logmel_std": mel.std}


def export_encoders(method: XDC, out_dir: Path) -> dict[str, str]:
    from xmodal.models.export import export_backbone

    cfg = method.cfg
    meta = {"eval_geometry": eval_geometry(cfg), "config_hash": config_hash(cfg), "code_version": code_version(),
            "method": cfg.cluster.variant}
    return {m: str(export_backbone(enc, out_dir / m, metadata=meta)[0]) for m, enc in method.encoders.items()}


def pretrain(cfg: XDCConfig, callbacks: list[L.Callback] | None = None) -> dict[str, Any]:
    """Train (resuming from ``<out_dir>/checkpoints/last.ckpt`` when present), export, write ``clusters.json``."""

    def export(method: L.LightningModule, folder: Path) -> dict[str, str]:
        assert isinstance(method, XDC)
        (folder.parent / "clusters.json").write_text(json.dumps({"history": method.history, "reports": method.reports},
                                                                indent=2, default=str))
        return export_encoders(method, folder)

    def build_run() -> tuple[L.LightningModule, Any]:
        method, _, loader = build(cfg)
        return method, loader

    c = cfg.data.clips
    eval_cfg = EvalConfig(fps=c.fps, frames=c.frames, size=c.size, audio_seconds=c.audio_seconds, frontend=c.logmel)
    monitors = online_monitors(cfg, tuple(cfg.cluster.modalities), eval_cfg, xdc_features)
    result = run_pretraining(cfg.trainer, cfg.out_dir, cfg, build_run, export, [*(callbacks or []), *monitors])
    method = result["method"]
    result.update(iterations=method.iteration, history=method.history)
    return result
