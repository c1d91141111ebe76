"""Which online monitors a pretraining run gets (:mod:`xmodal.training.monitor`): the decision (``monitor.online``),
the validation clips (the run's source, split ``monitor.split``, one centred clip per video on the training
geometry, no augmentation) and each method's pooled features (mean of the student's last-layer patch tokens on
the full, unmasked view — the features the evaluation protocols probe).
"""

from __future__ import annotations

import logging
from typing import Any

import lightning.pytorch as L
import torch
from torch.utils.data import DataLoader

from xmodal.config import ConfigError
from xmodal.data.collate import collate_samples
from xmodal.data.dataset import AVDataset, DatasetIndex, resolve_index
from xmodal.data.io import AudioSpec, VideoSpec
from xmodal.data.shard_format import is_shard_source
from xmodal.data.views import EvalConfig, EvalTransform
from xmodal.training.monitor import MonitorConfig, OnlineMonitor

log = logging.getLogger(__name__)


def labelled_with_split(index: DatasetIndex, split: str) -> str:
    """Why the monitors cannot run on ``index`` ("" when they can)."""
    if index.multilabel:
        return "the labels are multi-label"
    if len(index.classes) < 2 or any(not r.labels for r in index.rows):
        return "not every clip has a label"
    if not any(r.split == split for r in index.rows):
        return f"there is no {split!r} split"
    return ""


def _view(batch: dict[str, Any], mod: str) -> torch.Tensor:
    """The full view of a modality: a training batch's global view, or a validation batch's clip."""
    x = batch[mod]
    return x["global"] if isinstance(x, dict) else x


def xkd_features(method: L.LightningModule, batch: dict[str, Any]) -> dict[str, torch.Tensor]:
    return {mod: method.backbone(mod).features(method._trim(mod, _view(batch, mod))) for mod in method.modalities}


def mavil_features(method: L.LightningModule, batch: dict[str, Any]) -> dict[str, torch.Tensor]:
    return {mod: getattr(method.encoder, mod).features(_view(batch, mod)) for mod in ("audio", "video")}


def xdc_features(method: L.LightningModule, batch: dict[str, Any]) -> dict[str, torch.Tensor]:
    return {mod: encoder.features(_view(batch, mod)) for mod, encoder in method.encoders.items()}


def online_monitors(cfg: Any, modalities: tuple[str, ...], eval_cfg: EvalConfig, features: Any) -> list[L.Callback]:
    """``[OnlineMonitor]`` when ``cfg.monitor`` and the data allow it, else ``[]`` (logged either way)."""
    mc: MonitorConfig = cfg.monitor
    if mc.online is False:
        return []
    if is_shard_source(cfg.data.source):  # shards carry the training split only; there is no val index to read
        reason = "the data source is a shard folder (the monitors read a manifest or dataset with a val split)"
    else:
        index = resolve_index(cfg.data.source, cfg.data.root)
        reason = labelled_with_split(index, mc.split)
    if reason:
        if mc.online is True:
            raise ConfigError(f"monitor.online=on: {cfg.data.source}: {reason}; the online monitors need single "
                              f"labels and a {mc.split!r} split (set monitor.online=auto or off)")
        log.info("online monitors off: %s", reason)
        return []
    val = index.split(mc.split)
    dataset = AVDataset(val, modalities=modalities, clip_seconds=cfg.data.clip_seconds, sampling="center",
                        transform=EvalTransform(eval_cfg), video=VideoSpec(fps=eval_cfg.fps, size=cfg.data.decode_size),
                        audio=AudioSpec(sample_rate=eval_cfg.frontend.sample_rate), on_error="skip")
    loader = DataLoader(dataset, batch_size=mc.batch_size, num_workers=0, collate_fn=collate_samples)
    batches = _Labelled(loader, mc.cache)
    log.info("online monitors on: linear + %d-NN on %d %s clips, %s", mc.k, len(val.rows), mc.split,
             ", ".join(modalities))
    return [OnlineMonitor(features, batches, len(index.classes), mc)]


class _Labelled:
    """The validation loader without batches whose clips were all skipped (bad files); with ``cache`` the decoded
    batches are kept after the first epoch (decoding the split every epoch would cost more than the monitor)."""

    def __init__(self, loader: DataLoader, cache: bool) -> None:
        self.loader, self.cache = loader, cache
        self.kept: list[dict[str, Any]] | None = None

    def __iter__(self) -> Any:
        if self.kept is not None:
            return iter(self.kept)
        batches = [b for b in self.loader if "label" in b]
        if self.cache:
            self.kept = batches
        return iter(batches)
