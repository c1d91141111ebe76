"""Pretraining orchestration: config → data, method, trainer; dry-run report; fit with resume; export.

``dry_run`` builds everything a real run builds and reports parameter counts per module and token counts per
view, without training: :func:`describe_run` (the model, no data needed) then :func:`dataset_report` (the data
index, so a bad path fails now). The config's ``method`` key picks the method: ``xkd`` (here), ``mavil``
(:mod:`xmodal.methods.mavil_pretrain`) or ``xdc`` (:mod:`xmodal.methods.xdc_pretrain`: XDC, SDC, MDC, CDC; its
report needs the data, because the clustering heads are sized from the dataset's splits).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import lightning.pytorch as L
import yaml
from torch import nn

from xmodal.config import ConfigError, apply_overrides, code_version, config_hash, load_config, to_dict
from xmodal.data.views import EvalConfig
from xmodal.methods import mavil_pretrain, xdc_pretrain
from xmodal.methods.engine import run_pretraining
from xmodal.methods.mavil_config import MAViLConfig
from xmodal.methods.monitor_setup import online_monitors, xkd_features
from xmodal.methods.pretrain_data import build_train_loader, modalities_for
from xmodal.methods.xdc_config import XDCConfig
from xmodal.methods.xkd import XKD, view_grids
from xmodal.methods.xkd_config import PretrainConfig
from xmodal.models.masking import num_visible

AnyConfig = PretrainConfig | MAViLConfig | XDCConfig
METHODS: dict[str, type[AnyConfig]] = {"xkd": PretrainConfig, "mavil": MAViLConfig, "xdc": XDCConfig}


def load_pretrain_config(path: str | Path, overrides: Sequence[str] = ()) -> AnyConfig:
    """The typed config of the method named by the file's ``method`` key (after overrides; default ``xkd``)."""
    path = Path(path)
    data = yaml.safe_load(path.read_text()) if path.is_file() else {}
    method = apply_overrides(data if isinstance(data, dict) else {}, overrides).get("method", "xkd")
    if method not in METHODS:
        raise ConfigError(f"method: {method!r} is not one of {sorted(METHODS)} ({path})")
    return load_config(METHODS[method], path, overrides)


def count_parameters(module: nn.Module, trainable_only: bool = False) -> int:
    return sum(p.numel() for p in module.parameters() if p.requires_grad or not trainable_only)


def build_method(cfg: PretrainConfig) -> XKD:
    return XKD(cfg)


def describe(cfg: PretrainConfig, method: XKD) -> dict[str, Any]:
    """Parameter counts per module and token counts per view (what ``--dry-run`` reports)."""
    params: dict[str, int] = {}
    for name, child in method.named_children():
        if isinstance(child, nn.ModuleDict):
            for key, sub in child.items():
                params[f"{name}.{key}"] = count_parameters(sub)
        else:
            params[name] = count_parameters(child)
    tokens: dict[str, dict[str, int]] = {}
    for view, grid in view_grids(cfg).items():
        mod = view.split("_")[0]
        if mod not in method.modalities:
            continue
        n = math.prod(grid)
        entry = {"tokens": n, "grid": list(grid)}
        if view.endswith("global"):
            ratio = cfg.model.video_mask_ratio if mod == "video" else cfg.model.audio_mask_ratio
            entry["visible_when_masked"] = num_visible(n, ratio, cfg.model.mask_rounding)
        tokens[view] = entry
    return {
        "method": cfg.method,
        "objective": cfg.loss.objective,
        "variant": cfg.model.variant,
        "parameters": params,
        "parameters_total": count_parameters(method),
        "parameters_trainable": count_parameters(method, trainable_only=True),
        "tokens": tokens,
        "config_hash": config_hash(cfg),
        "code_version": code_version(),
    }


def describe_run(cfg: AnyConfig) -> dict[str, Any]:
    """The model half of the dry run: parameter and token counts and the resolved config. It needs no data for
    XKD and MAViL, so ``--dry-run`` on a machine without the dataset still shows what would be trained."""
    if isinstance(cfg, XDCConfig):
        return xdc_pretrain.dry_run(cfg)
    if isinstance(cfg, MAViLConfig):
        report = mavil_pretrain.describe(cfg, mavil_pretrain.MAViL(cfg))
    else:
        report = describe(cfg, build_method(cfg))
    report["config"] = to_dict(cfg)
    return report


def dataset_report(cfg: AnyConfig) -> dict[str, Any]:
    """The data half: builds the training loader exactly as a run does (a bad root or manifest raises here)."""
    if isinstance(cfg, XDCConfig):
        return xdc_pretrain.dry_run(cfg)["dataset"]
    loader = mavil_pretrain.build_loader(cfg) if isinstance(cfg, MAViLConfig) else build_train_loader(cfg)
    return {"source": cfg.data.source, "clips": len(loader.dataset), "batches": len(loader)}


def dry_run(cfg: AnyConfig) -> dict[str, Any]:
    report = describe_run(cfg)
    report["dataset"] = dataset_report(cfg)
    return report


def export_backbones(method: XKD, out_dir: Path) -> dict[str, str]:
    """Export every student and teacher backbone as safetensors + JSON (loadable with ``load_backbone``)."""
    from xmodal.models.export import export_backbone

    out: dict[str, str] = {}
    views = method.cfg.data.views
    mel = views.logmel
    geometry = {
        "clip_seconds": method.cfg.data.clip_seconds, "fps": views.fps, "frames": views.video_global.frames,
        "size": views.video_global.size, "sample_rate": mel.sample_rate, "audio_seconds": views.audio_global.seconds,
        "n_mels": mel.n_mels, "hop_length": mel.hop_length, "n_fft": mel.n_fft,
        "logmel_mean": mel.mean, "logmel_std": mel.std, "mel_scale": mel.mel_scale, "mel_norm": mel.mel_norm,
        "log_eps": mel.log_eps,
    }
    which = ("student", "teacher") if method.distill else ("student",)
    for kind in which:
        for mod in method.modalities:
            meta = {"eval_geometry": geometry, "config_hash": config_hash(method.cfg), "code_version": code_version()}
            path, _ = export_backbone(method.backbone(mod, kind), out_dir / f"{kind}_{mod}", metadata=meta)
            out[f"{kind}_{mod}"] = str(path)
    return out


def pretrain(cfg: AnyConfig, callbacks: list[L.Callback] | None = None) -> dict[str, Any]:
    """Train (resuming from ``<out_dir>/checkpoints/last.ckpt`` if present), then export backbones."""
    if isinstance(cfg, MAViLConfig):
        return mavil_pretrain.pretrain(cfg, callbacks)
    if isinstance(cfg, XDCConfig):
        return xdc_pretrain.pretrain(cfg, callbacks)
    views = cfg.data.views
    eval_cfg = EvalConfig(fps=views.fps, frames=views.video_global.frames, size=views.video_global.size,
                          audio_seconds=views.audio_global.seconds, frontend=views.logmel)
    monitors = online_monitors(cfg, modalities_for(cfg), eval_cfg, xkd_features)
    return run_pretraining(cfg.trainer, cfg.out_dir, cfg, lambda: (build_method(cfg), build_train_loader(cfg)),
                           export_backbones, [*(callbacks or []), *monitors])
