"""End-to-end fine-tuning (XKD §A.6, MAViL App. B) as a LightningModule over any backbone(s).

* :class:`AVClassifier` — audio-only, video-only or audio+video: pooled ``features()`` of each backbone are
  concatenated and fed to dropout → linear (MAViL's fusion head is this concatenation + linear).
* :func:`layer_decay_groups` — layer-wise LR decay (Bao et al. 2021, xkd Table S6/S7): a ViT exposing
  ``blocks`` gets LR·decay^(L+1−i) for layer i (embedding 0, block j → j+1, final norm and head L+1);
  other backbones form one group. Norms, biases, CLS and positional embeddings get no weight decay.
* :class:`FineTuner` — soft-target CE with label smoothing or BCE (multi-label, or mixup per MAViL), an
  optional ``mix(inputs, targets) -> (inputs, targets)`` callable (mixup/cutmix from the data package),
  warm-up + cosine or fixed LR per step, and multi-clip testing: clip features are averaged per sample before
  the linear head, which equals averaging the clip logits.
* :func:`class_balanced_sampler` — MAViL App. B: weight of a sample = Σ_{c ∈ labels} 1000 / (n_c + 0.01).
* Test metrics are computed on the predictions of *all* processes: under DDP each process tests a shard, and
  :class:`~xmodal.eval.gathered.GatheredPredictions` (a torchmetrics metric) all-gathers logits, labels and dataset
  indices before scoring, dropping the repeats ``DistributedSampler`` pads the last shard with.
* Batches from ``collate_samples`` may have lost undecodable samples (or hold only ``skipped``): such steps are
  skipped and every dropped sample is counted in ``FineTuner.skips`` (``{"train": SkipCounter, "test": ...}``).
  The training dataset's ``set_epoch`` is called every epoch, so clip starts and augmentations change.
Drop path belongs to the backbone (built with it); RandAugment/SpecAugment belong to the data pipeline.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import lightning.pytorch as L
import numpy as np
import torch
from torch import nn
from torch.utils.data import WeightedRandomSampler

from xmodal.data.collate import SkipCounter
from xmodal.eval.finetune_config import FinetuneConfig, effective_lr
from xmodal.eval.gathered import GatheredPredictions
from xmodal.training.optim import no_decay_names, warmup_cosine

MixFn = Callable[[dict[str, torch.Tensor], torch.Tensor], tuple[dict[str, torch.Tensor], torch.Tensor]]
_SINGLE_NDIM = {"video": 5, "audio": 4}


class AVClassifier(nn.Module):
    def __init__(self, backbones: dict[str, nn.Module], num_classes: int, dropout: float = 0.0) -> None:
        super().__init__()
        self.backbones = nn.ModuleDict(backbones)
        dim = sum(int(b.embed_dim) for b in backbones.values())
        self.head = nn.Sequential(nn.Dropout(dropout), nn.Linear(dim, num_classes))
        nn.init.trunc_normal_(self.head[1].weight, std=0.02)
        nn.init.zeros_(self.head[1].bias)

    def pooled(self, inputs: dict[str, torch.Tensor]) -> torch.Tensor:
        """Concatenated features; a tensor with an extra clip dim (B, K, ...) is averaged over its K clips."""
        feats = []
        for name, backbone in self.backbones.items():
            x = inputs[name]
            if x.ndim == _SINGLE_NDIM.get(name, x.ndim) + 1:
                b, k = x.shape[:2]
                feats.append(backbone.features(x.flatten(0, 1)).reshape(b, k, -1).mean(1))
            else:
                feats.append(backbone.features(x))
        return torch.cat(feats, dim=1)

    def forward(self, inputs: dict[str, torch.Tensor]) -> torch.Tensor:
        return self.head(self.pooled(inputs))


def _layer_id(rest: str, depth: int) -> int:
    m = re.match(r"blocks\.(\d+)\.", rest)
    if m:
        return int(m.group(1)) + 1
    if rest.startswith(("embed", "patch_embed", "cls_token", "pos_embed", "mask_token")):
        return 0
    return depth + 1


def layer_decay_groups(
    model: AVClassifier, lr: float, weight_decay: float, layer_decay: float,
    modality_lr_scale: dict[str, float] | None = None,
) -> list[dict[str, Any]]:
    """AdamW parameter groups with ``lr`` already scaled per layer (and per modality); ``lr_scale`` kept."""
    exempt = no_decay_names(model)
    scales = modality_lr_scale or {}
    groups: dict[tuple[float, bool], dict[str, Any]] = {}
    for name, param in model.named_parameters():
        if not param.requires_grad:
            continue
        scale = 1.0
        if name.startswith("backbones."):
            _, modality, rest = name.split(".", 2)
            blocks = getattr(model.backbones[modality], "blocks", None)
            if isinstance(blocks, nn.ModuleList):
                scale = layer_decay ** (len(blocks) + 1 - _layer_id(rest, len(blocks)))
            scale *= scales.get(modality, 1.0)
        decay = name not in exempt
        group = groups.setdefault((scale, decay), {
            "params": [], "names": [], "lr": lr * scale, "lr_scale": scale,
            "weight_decay": weight_decay if decay else 0.0,
        })
        group["params"].append(param)
        group["names"].append(name)
    return list(groups.values())


def class_balanced_sampler(labels: np.ndarray, num_samples: int, eps: float = 0.01, seed: int = 0
                           ) -> WeightedRandomSampler:
    """Sampling ∝ Σ_{c∈labels(i)} w_c, w_c = 1000 / (n_c + ε) (MAViL App. B), with replacement."""
    hot = labels if labels.ndim == 2 else np.eye(int(labels.max()) + 1)[labels.astype(np.int64)]
    w_c = 1000.0 / (hot.sum(axis=0) + eps)
    weights = torch.as_tensor(hot @ w_c, dtype=torch.double)
    return WeightedRandomSampler(weights, num_samples, replacement=True, generator=torch.Generator().manual_seed(seed))


class FineTuner(L.LightningModule):
    def __init__(self, model: AVClassifier, cfg: FinetuneConfig, num_classes: int, mix: MixFn | None = None) -> None:
        super().__init__()
        self.model, self.cfg, self.num_classes, self.mix = model, cfg, num_classes, mix
        self.predictions = GatheredPredictions()
        self.last_metrics: dict[str, float] = {}
        self.skips = {"train": SkipCounter(), "test": SkipCounter()}

    def _usable(self, batch: dict[str, Any], stage: str) -> bool:
        self.skips[stage].update(batch)
        return all(m in batch for m in self.cfg.modalities)

    def on_train_epoch_start(self) -> None:
        dataset = getattr(self.trainer.train_dataloader, "dataset", None)
        if hasattr(dataset, "set_epoch"):
            dataset.set_epoch(self.current_epoch)

    def _targets(self, label: torch.Tensor) -> torch.Tensor:
        if label.ndim == 2:
            return label.float()
        hot = nn.functional.one_hot(label.long(), self.num_classes).float()
        eps = self.cfg.label_smoothing
        return hot * (1.0 - eps) + eps / self.num_classes if eps > 0 else hot

    def loss(self, logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        if self.cfg.loss == "bce" or self.cfg.multilabel:
            return nn.functional.binary_cross_entropy_with_logits(logits, targets)
        return -(targets * logits.log_softmax(dim=1)).sum(dim=1).mean()

    def training_step(self, batch: dict[str, Any], batch_idx: int) -> torch.Tensor | None:
        if not self._usable(batch, "train"):
            return None
        inputs = {m: batch[m] for m in self.cfg.modalities}
        targets = self._targets(batch["label"])
        if self.mix is not None:
            inputs, targets = self.mix(inputs, targets)
        loss = self.loss(self.model(inputs), targets)
        self.log("train/loss", loss, prog_bar=True, batch_size=targets.shape[0])
        return loss

    def validation_step(self, batch: dict[str, Any], batch_idx: int) -> None:
        if not self._usable(batch, "test"):
            return
        logits = self.model({m: batch[m] for m in self.cfg.modalities})
        self.predictions.update(logits, batch["label"], batch.get("index"))

    test_step = validation_step

    def _finish(self, stage: str) -> None:
        metrics = self.predictions.compute()  # a collective under DDP: every process calls it, even with no batch
        self.predictions.reset()
        if not metrics:
            return
        self.last_metrics = metrics
        for k, v in metrics.items():
            self.log(f"{stage}/{k}", v, prog_bar=True)

    def on_validation_epoch_end(self) -> None:
        self._finish("val")

    def on_test_epoch_end(self) -> None:
        self._finish("test")

    def configure_optimizers(self) -> Any:
        cfg = self.cfg
        lr = effective_lr(cfg)  # MAViL presets: base × batch / 256
        groups = layer_decay_groups(self.model, lr, cfg.weight_decay, cfg.layer_decay, dict(cfg.modality_lr_scale))
        for g in groups:
            g.pop("names")
        opt = torch.optim.AdamW(groups, lr=lr, betas=cfg.betas)
        total = max(1, int(self.trainer.estimated_stepping_batches))
        warmup = int(cfg.warmup_epochs * total / max(1, self.trainer.max_epochs or 1))
        floor = cfg.min_lr / lr

        def factor(step: int) -> float:
            if cfg.schedule == "fixed":
                return min(1.0, (step + 1) / warmup) if warmup > 0 else 1.0
            return warmup_cosine(step, total, warmup, 1.0, floor)

        sched = torch.optim.lr_scheduler.LambdaLR(opt, factor)
        return {"optimizer": opt, "lr_scheduler": {"scheduler": sched, "interval": "step"}}


def finetune(
    backbones: dict[str, nn.Module], train_loader: Any, test_loader: Any, cfg: FinetuneConfig, num_classes: int,
    *, mix: MixFn | None = None, **trainer_kwargs: Any,
) -> tuple[FineTuner, dict[str, float]]:
    """Fine-tune for ``cfg.epochs`` (override with ``max_epochs=``/``max_steps=``), then test (multi-clip batches
    allowed). A class-balanced run passes a loader built with :func:`class_balanced_sampler`."""
    from xmodal.eval.finetune_recipe import recipe_classifier

    module = FineTuner(recipe_classifier(backbones, cfg, num_classes), cfg, num_classes, mix)
    options = {"max_epochs": cfg.epochs, "logger": False, "enable_checkpointing": False,
               "enable_progress_bar": False, "enable_model_summary": False, **trainer_kwargs}
    trainer = L.Trainer(**options)
    trainer.fit(module, train_loader)
    trainer.test(module, test_loader, verbose=False)
    return module, dict(module.last_metrics)
