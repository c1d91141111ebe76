"""End-to-end fine-tuning (XKD §A.6, MAViL App. B) as a LightningModule over any backbone(s).

* :class:`AVClassifier` — audio-only, video-only or audio+video backbones and a named head
  (:mod:`xmodal.eval.finetune_heads`: ``concat-linear``, or MAViL's ``mavil-fusion`` Transformer over patch
  tokens), with fine-tuning masking in training and multi-view (clips × spatial crops) inputs.
* :func:`layer_decay_groups` — layer-wise LR decay (Bao et al. 2021, xkd Table S6/S7): a ViT exposing
  ``blocks`` gets LR·decay^(L+1−i) for layer i (embedding 0, block j → j+1, final norm and head L+1);
  other backbones form one group. Norms, biases, CLS and positional embeddings get no weight decay.
* FC-only (XDC Table 4, ``freeze_backbones``): backbones frozen and kept in eval mode, only the head trains.
* :class:`FineTuner` — soft-target CE with label smoothing or BCE (multi-label, or mixup per MAViL), an
  optional ``mix(inputs, targets) -> (inputs, targets)`` callable (mixup/cutmix from the data package),
  AdamW, or SGD with momentum (XDC), warm-up + cosine, fixed, or step (×γ every ``step_epochs``, XDC) LR per step
  from the preset's effective LR (MAViL: base × batch / 256), and
  multi-view testing: a video's score is the mean of its views' softmax (sigmoid for multi-label), as XKD's official
  test averages its 3 temporal × 3 spatial views (``clip_aggregation="feature_mean"``: view features averaged
  before the head instead).
* :func:`class_balanced_sampler` — MAViL App. B: weight of a sample = Σ_{c ∈ labels} 1000 / (n_c + 0.01).
* Test metrics are computed on the predictions of *all* processes: under DDP each process tests a shard, and
  :class:`~xmodal.eval.gathered.GatheredPredictions` (a torchmetrics metric) all-gathers logits, labels and dataset
  indices before scoring, dropping the repeats ``DistributedSampler`` pads the last shard with.
* Batches from ``collate_samples`` may have lost undecodable samples (or hold only ``skipped``): a skip-only
  training batch replays the rank's previous batch with loss weight 0 (DDP ranks stay in step), a skip-only test
  batch is passed over, and every dropped sample is counted in ``FineTuner.skips``
  (``{"train": SkipCounter, "test": ...}``). The training dataset's ``set_epoch`` is called every epoch, so clip
  starts and augmentations change.
Drop path belongs to the backbone (built with it); augmentation belongs to the data pipeline
(:mod:`xmodal.eval.finetune_recipe`).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import lightning.pytorch as L
import numpy as np
import torch
from torch import nn
from torch.utils.data import WeightedRandomSampler

from xmodal.data.collate import SkipCounter, slice_batch
from xmodal.eval.finetune_augment import AxisGroups
from xmodal.eval.finetune_config import FinetuneConfig, effective_lr
from xmodal.eval.finetune_fusion import flatten_views, keep_ids, repeat_views
from xmodal.eval.finetune_heads import build_head
from xmodal.eval.gathered import GatheredPredictions
from xmodal.training.optim import no_decay_names, warmup_cosine

MixFn = Callable[[dict[str, torch.Tensor], torch.Tensor], tuple[dict[str, torch.Tensor], torch.Tensor]]
_SINGLE_NDIM = {"video": 5, "audio": 4}


class AVClassifier(nn.Module):
    """Backbones (modality → module with ``features()`` and ``embed_dim``) + a head from
    :mod:`xmodal.eval.finetune_heads` (default ``concat-linear``; ``mavil-fusion`` reads patch tokens).

    ``masking`` (modality → axis groups, :func:`xmodal.eval.finetune_fusion.keep_ids`) is MAViL's fine-tuning
    masking: in training the backbone encodes only the kept tokens. Inputs may carry view axes after the batch
    (clips × spatial crops); :meth:`forward` averages a pooled head's features over the views (the feature-mean
    test) and a token head's logits, :meth:`clip_scores` averages per-view probabilities (XKD's official test).
    """

    def __init__(self, backbones: dict[str, nn.Module], num_classes: int, dropout: float = 0.0,
                 head: str = "concat-linear", masking: dict[str, AxisGroups] | None = None, seed: int = 0,
                 freeze_backbones: bool = False) -> None:
        super().__init__()
        self.backbones = nn.ModuleDict(backbones)
        self.head = build_head(head, {m: feature_width(b) for m, b in backbones.items()}, num_classes, dropout)
        self.masking = dict(masking or {})
        self.mask_gen = torch.Generator().manual_seed(seed)
        self.freeze_backbones = freeze_backbones
        if freeze_backbones:
            self.backbones.requires_grad_(False)
            self.backbones.eval()

    def train(self, mode: bool = True) -> AVClassifier:
        """FC-only keeps frozen backbones in eval mode, so BatchNorm statistics (XDC's ResNets) and dropout stay as
        pretrained: freezing the weights alone would still let BN running means drift with the new data."""
        super().train(mode)
        if self.freeze_backbones:
            self.backbones.eval()
        return self

    def _encode(self, name: str, x: torch.Tensor) -> torch.Tensor:
        """Pooled ``(N, D)`` features for a pooled head, tokens ``(N, 1 + L, D)`` (CLS first) for a token head."""
        backbone = self.backbones[name]
        keep = None
        if self.training and name in self.masking:
            keep = keep_ids(backbone, x, self.masking[name], self.mask_gen)
        tokens_head = getattr(self.head, "input_kind", "pooled") == "tokens"
        if not tokens_head and keep is None:
            return backbone.features(x)
        tokens = backbone(x, keep)
        if tokens_head:
            return tokens
        return tokens[:, 0] if getattr(backbone, "pool", "mean") == "cls" else tokens[:, 1:].mean(1)

    def view_logits(self, inputs: dict[str, torch.Tensor]) -> torch.Tensor:
        """``(B, V, C)`` logits of every view (modalities with fewer views paired with each)."""
        flat = {m: flatten_views(inputs[m], _SINGLE_NDIM.get(m, inputs[m].ndim)) for m in self.backbones}
        batch = next(iter(inputs.values())).shape[0]
        views = max(v for _, v in flat.values())
        encoded = {m: repeat_views(self._encode(m, x), batch, v, views) for m, (x, v) in flat.items()}
        return self.head(encoded).reshape(batch, views, -1)

    def pooled(self, inputs: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """Features per modality, averaged over the input's views."""
        feats = {}
        for name in self.backbones:
            x, views = flatten_views(inputs[name], _SINGLE_NDIM.get(name, inputs[name].ndim))
            f = self._encode(name, x)
            feats[name] = f.reshape(-1, views, *f.shape[1:]).mean(1)
        return feats

    def forward(self, inputs: dict[str, torch.Tensor]) -> torch.Tensor:
        if getattr(self.head, "input_kind", "pooled") == "tokens":
            return self.view_logits(inputs).mean(1)
        return self.head(self.pooled(inputs))

    def clip_scores(self, inputs: dict[str, torch.Tensor], multilabel: bool) -> torch.Tensor:
        """Mean over a video's views of the per-view softmax (sigmoid when ``multilabel``), as XKD's official
        test does (3 temporal × 3 spatial views); (B, C). Inputs without view axes count as one view."""
        logits = self.view_logits(inputs)
        probs = logits.sigmoid() if multilabel else logits.softmax(dim=-1)
        return probs.mean(1)


def feature_width(backbone: nn.Module) -> int:
    """Width of ``backbone.features(x)``: a ViT's ``embed_dim`` or a ResNet's ``feature_dim`` (XDC's encoders)."""
    width = getattr(backbone, "embed_dim", None) or getattr(backbone, "feature_dim", None)
    if width is None:
        raise TypeError(f"{type(backbone).__name__} has neither embed_dim nor feature_dim: the head needs its width")
    return int(width)


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


def step_factor(step: int, warmup: int, step_size: float, gamma: float) -> float:
    """XDC's schedule (App. C, Tables 1 and 3) as a multiple of the base LR: linear warm-up over ``warmup`` steps,
    then × ``gamma`` every ``step_size`` steps counted after the warm-up."""
    if step < warmup:
        return (step + 1) / warmup
    return gamma ** int((step - warmup) // max(step_size, 1.0))


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
        self._replay: dict[str, Any] | None = None

    def _usable(self, batch: dict[str, Any], stage: str) -> bool:
        self.skips[stage].update(batch)
        return all(m in batch for m in self.cfg.modalities)

    def on_save_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        # The mixer's random state continues across a resume, so a resumed run draws the partners and λ the
        # uninterrupted run would have (BatchMix and AudioMixup have state_dict / load_state_dict).
        if callable(getattr(self.mix, "state_dict", None)):
            checkpoint["xmodal_mix"] = self.mix.state_dict()  # type: ignore[union-attr]

    def on_load_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        if callable(getattr(self.mix, "load_state_dict", None)) and "xmodal_mix" in checkpoint:
            self.mix.load_state_dict(checkpoint["xmodal_mix"])  # type: ignore[union-attr]

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

    def training_step(self, batch: dict[str, Any], batch_idx: int) -> torch.Tensor:
        """A batch whose samples were all skipped replays this rank's previous batch with weight 0 (as
        ``BaseMethod`` does in pretraining): every DDP rank then runs the same gradient all-reduce."""
        weight = 1.0
        if self._usable(batch, "train"):
            self._replay = slice_batch(batch, 2)
        elif self._replay is not None:
            batch, weight = self._replay, 0.0
        else:
            files = ", ".join(p for p, _ in batch.get("skipped", [])[:3])
            raise RuntimeError(f"every sample of this rank's first fine-tuning batch was skipped ({files}); fix the "
                               "files (xmodal data check) or drop them from the manifest")
        inputs = {m: batch[m] for m in self.cfg.modalities}
        targets = self._targets(batch["label"])
        if self.mix is not None and weight:
            inputs, targets = self.mix(inputs, targets)
        loss = self.loss(self.model(inputs), targets) * weight
        if weight:
            self.log("train/loss", loss, prog_bar=True, batch_size=targets.shape[0])
        return loss

    def validation_step(self, batch: dict[str, Any], batch_idx: int) -> None:
        if not self._usable(batch, "test"):
            return
        inputs = {m: batch[m] for m in self.cfg.modalities}
        if self.cfg.clip_aggregation == "softmax_mean":
            scores = self.model.clip_scores(inputs, multilabel=self.cfg.loss == "bce" or self.cfg.multilabel)
        else:
            scores = self.model(inputs)
        self.predictions.update(scores, batch["label"], batch.get("index"))

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
        if cfg.optimizer == "sgd":  # XDC (caffe2 SGD)
            opt: torch.optim.Optimizer = torch.optim.SGD(groups, lr=lr, momentum=cfg.momentum)
        else:
            opt = torch.optim.AdamW(groups, lr=lr, betas=cfg.betas)
        total = max(1, int(self.trainer.estimated_stepping_batches))
        # With an epoch size (XDC Table 3 "es") the engine's epochs are passes over the data, not the preset's.
        per_epoch = total / (cfg.epochs if cfg.epoch_size else max(1, self.trainer.max_epochs or 1))
        warmup = int(cfg.warmup_epochs * per_epoch)
        floor = cfg.min_lr / lr

        def factor(step: int) -> float:
            if cfg.schedule == "fixed":
                return min(1.0, (step + 1) / warmup) if warmup > 0 else 1.0
            if cfg.schedule == "step":
                return step_factor(step, warmup, cfg.step_epochs * per_epoch, cfg.gamma)
            return warmup_cosine(step, total, warmup, 1.0, floor)

        sched = torch.optim.lr_scheduler.LambdaLR(opt, factor)
        return {"optimizer": opt, "lr_scheduler": {"scheduler": sched, "interval": "step"}}


def finetune(
    backbones: dict[str, nn.Module], train_loader: Any, test_loader: Any, cfg: FinetuneConfig, num_classes: int,
    *, mix: MixFn | None = None, head: str | None = None, out_dir: str | Path | None = None,
    run_config: Any = None, **trainer_fields: Any,
) -> tuple[FineTuner, dict[str, float]]:
    """Fine-tune for ``cfg.epochs`` on the training engine (:func:`xmodal.eval.finetune_engine.fit_and_test`), then
    test (multi-clip batches allowed). ``trainer_fields`` are :class:`~xmodal.training.trainer.TrainerConfig`
    fields (``max_steps=``, ``devices=``, ``strategy=`` …); without ``out_dir`` logs and checkpoints go to a
    temporary folder (no resume). The model is the preset's (``cfg.head``, fine-tuning masking); ``head`` overrides
    the preset's head. A class-balanced run passes a loader built with :func:`class_balanced_sampler`."""
    from xmodal.eval.finetune_engine import fit_and_test, trainer_config
    from xmodal.eval.finetune_recipe import masking_groups

    model = AVClassifier(backbones, num_classes, cfg.dropout, head=head or cfg.head, masking=masking_groups(cfg),
                         freeze_backbones=cfg.freeze_backbones)
    module = FineTuner(model, cfg, num_classes, mix)
    metrics = fit_and_test(module, train_loader, test_loader, trainer_config(cfg, **trainer_fields), out_dir,
                           run_config)
    return module, metrics
