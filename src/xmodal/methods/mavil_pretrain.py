"""MAViL pretraining orchestration: config → MAViL clips loader, method, trainer; dry-run report; fit; export.

Same engine and resume rules as XKD (:mod:`xmodal.methods.pretrain` dispatches here on ``method: mavil``). The
export holds the student's whole encoder stack (``encoder``: audio + video + fusion, for fused features) and each
uni-modal encoder as a plain ViT backbone (``audio``, ``video``) that the evaluation suite loads like XKD's, with
the Kaldi-fbank / 2 fps geometry it was trained on stored in the export metadata.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import lightning.pytorch as L
from torch import nn

from xmodal.config import code_version, config_hash
from xmodal.data.io import AudioSpec, VideoSpec
from xmodal.data.loader import EpochDataLoader
from xmodal.data.views import EvalConfig, MAViLClips
from xmodal.methods.engine import run_pretraining
from xmodal.methods.mavil import MAViL
from xmodal.methods.mavil_config import MAViLConfig, grids
from xmodal.methods.monitor_setup import mavil_features, online_monitors
from xmodal.methods.pretrain_data import SeededViews, training_dataset, training_loader


def build_loader(cfg: MAViLConfig) -> EpochDataLoader:
    d, c = cfg.data, cfg.data.clips
    dataset = training_dataset(d, ("video", "audio"), VideoSpec(fps=c.fps, size=d.decode_size),
                               AudioSpec(sample_rate=c.fbank.sample_rate), SeededViews(MAViLClips(c)), cfg.trainer.seed,
                               cfg.trainer.batch_size)
    return training_loader(dataset, cfg.trainer)


def _count(module: nn.Module, trainable_only: bool = False) -> int:
    return sum(p.numel() for p in module.parameters() if p.requires_grad or not trainable_only)


def describe(cfg: MAViLConfig, method: MAViL) -> dict[str, Any]:
    """Parameter counts per module (all / trainable) and token counts per modality (``--dry-run``)."""
    params: dict[str, int] = {}
    for name, child in method.named_children():
        parts = child.named_children() if name in ("encoder", "decoders", "feature_decoders") else [("", child)]
        for key, sub in parts:
            params[f"{name}.{key}" if key else name] = _count(sub)
    tokens = {}
    for mod, grid in grids(cfg).items():
        visible = method.visible(mod)
        tokens[mod] = {"grid": list(grid), "tokens": math.prod(grid), "visible_when_masked": visible,
                       "encoder_sequence": visible + 1}
    lc = cfg.loss
    return {
        "method": cfg.method,
        "title": f"mavil stage {lc.stage} ({method.target} targets, {cfg.model.fusion} fusion, {lc.variant})",
        "parameters": params,
        "parameters_total": _count(method),
        "parameters_trainable": _count(method, trainable_only=True),
        "encoder_trainable": _count(method.encoder, trainable_only=True),
        "decoders_trainable": _count(method.decoders, trainable_only=True),
        "tokens": tokens,
        "config_hash": config_hash(cfg),
        "code_version": code_version(),
    }


def eval_geometry(cfg: MAViLConfig) -> dict[str, Any]:
    """The inputs the encoders were trained on, as :class:`xmodal.eval.geometry.EvalGeometry` fields."""
    c = cfg.data.clips
    fb = c.fbank
    return {"clip_seconds": c.frames / c.fps, "fps": c.fps, "frames": c.frames, "size": c.size,
            "sample_rate": fb.sample_rate, "audio_seconds": c.audio_seconds, "n_mels": fb.num_mel_bins,
            "frontend": "kaldi_fbank", "audio_frames": fb.target_length, "logmel_mean": fb.mean,
            "logmel_std": fb.std}


def export_encoders(method: MAViL, out_dir: Path) -> dict[str, str]:
    """``encoder`` (audio + video + fusion) and the ``audio`` / ``video`` ViTs of the student."""
    from xmodal.models.export import export_backbone

    cfg = method.cfg
    meta = {"eval_geometry": eval_geometry(cfg), "config_hash": config_hash(cfg), "code_version": code_version(),
            "method": f"mavil-stage{cfg.loss.stage}"}
    out: dict[str, str] = {}
    for name, module in (("encoder", method.encoder), ("audio", method.encoder.audio),
                         ("video", method.encoder.video)):
        path, _ = export_backbone(module, out_dir / name, metadata=meta)
        out[name] = str(path)
    return out


def pretrain(cfg: MAViLConfig, callbacks: list[L.Callback] | None = None) -> dict[str, Any]:
    """Train (resuming from ``<out_dir>/checkpoints/last.ckpt`` when present), then export the encoders."""
    c = cfg.data.clips
    eval_cfg = EvalConfig(fps=c.fps, frames=c.frames, size=c.size, audio_seconds=c.audio_seconds, frontend=c.fbank)
    monitors = online_monitors(cfg, ("video", "audio"), eval_cfg, mavil_features)
    return run_pretraining(cfg.trainer, cfg.out_dir, cfg, lambda: (MAViL(cfg), build_loader(cfg)), export_encoders,
                           [*(callbacks or []), *monitors])
