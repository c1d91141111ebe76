"""The shared LightningModule under every method.

A method implements :meth:`BaseMethod.compute_losses` and returns named loss terms; the base weights and sums
them, logs each term, owns the optimizer (no decay on norms/biases/tokens/positional embeddings), the per-step
warm-up + cosine learning rate, EMA (student, teacher) pairs with a cosine momentum schedule, and the report of
skipped samples (a corrupt file is counted and reported each epoch, never silently dropped).

Contracts every method inherits (docs/architecture.md, "Training-core contracts"):

- EMA teachers move once per *optimizer* step (in :meth:`BaseMethod.optimizer_step`, so gradient accumulation
  does not compound the momentum and a checkpoint saved at step ``s`` already holds the step-``s`` teacher);
- teachers are deterministic: always in eval mode (no dropout, no stochastic depth), except BatchNorm layers,
  which normalise with the batch's statistics while training, as DINO's teacher does;
- ``training_step`` never returns early: a batch whose samples were all skipped replays this rank's previous
  batch with loss weight 0, so every rank runs the same collectives (DDP gradient all-reduce, gathered batch
  statistics) and no rank hangs;
- the learning rate is scaled with the per-device batch size given to the method or read from the training
  loader; when neither is known and scaling is on, the run fails before its first step.
"""

from __future__ import annotations

import logging
from typing import Any

import lightning.pytorch as L
import torch
from torch import nn

from xmodal.config import ConfigError
from xmodal.data.collate import slice_batch
from xmodal.training.optim import (
    OptimConfig,
    build_optimizer,
    clip_per_tensor_,
    cosine_momentum,
    no_decay_names,
    scaled_lr,
    warmup_cosine,
)

log = logging.getLogger(__name__)


class EMAPair:
    """A (student, teacher) pair; the teacher follows the student: θ_t ← m·θ_t + (1−m)·θ_s (XKD Eq. 13).

    Parameters are matched by name, so a student whose modules are shared (XKD-MAS: one trunk for audio and
    video) can feed a teacher whose copies are not; each teacher tensor is updated exactly once per step.
    """

    def __init__(self, student: nn.Module, teacher: nn.Module, base: float, final: float) -> None:
        self.base, self.final = base, final
        self.student, self.teacher = student, teacher
        with torch.no_grad():
            for tp, sp in zip(*self._resolve()[:2], strict=True):
                tp.copy_(sp)
                tp.requires_grad_(False)

    def _resolve(self) -> tuple[list[torch.Tensor], list[torch.Tensor], list[tuple[torch.Tensor, torch.Tensor]]]:
        """Match tensors by name (re-done after device moves, which may replace parameter objects)."""
        src = dict(self.student.named_parameters(remove_duplicate=False))
        src_buf = dict(self.student.named_buffers(remove_duplicate=False))
        seen: set[int] = set()
        t_list: list[torch.Tensor] = []
        s_list: list[torch.Tensor] = []
        for name, tp in self.teacher.named_parameters(remove_duplicate=False):
            if id(tp) in seen:
                continue
            seen.add(id(tp))
            if name not in src:
                raise KeyError(f"teacher parameter {name!r} has no student counterpart")
            t_list.append(tp)
            s_list.append(src[name])
        bufs = [(tb, src_buf[n]) for n, tb in self.teacher.named_buffers(remove_duplicate=False) if n in src_buf]
        return t_list, s_list, bufs

    @torch.no_grad()
    def update(self, momentum: float) -> None:
        t_list, s_list, bufs = self._resolve()
        torch._foreach_mul_(t_list, momentum)
        torch._foreach_add_(t_list, [p.detach() for p in s_list], alpha=1.0 - momentum)
        for bt, bs in bufs:
            bt.copy_(bs)


def set_teacher_mode(teacher: nn.Module, training: bool) -> None:
    """Deterministic teacher: eval mode everywhere (dropout and drop-path off), BatchNorm in ``training`` mode.

    DINO's teacher is built without stochastic depth and normalises its BatchNorm layers with the batch's
    statistics; running statistics copied from the student would describe the student's (masked, cropped)
    inputs, not the teacher's.
    """
    teacher.eval()
    if training:
        for module in teacher.modules():
            if isinstance(module, nn.modules.batchnorm._BatchNorm):
                module.train()


SAMPLE_KEYS = ("video", "audio", "image", "text", "x")  # the inputs a batch of samples carries


def _has_samples(batch: dict[str, Any]) -> bool:
    return any(k in batch for k in SAMPLE_KEYS)


class BaseMethod(L.LightningModule):
    """Base of every xmodal method; subclasses implement :meth:`compute_losses`.

    ``batch_size`` is the per-device batch size used for learning-rate scaling; ``None`` reads it from the
    training loader.
    """

    def __init__(
        self,
        optim: OptimConfig,
        loss_weights: dict[str, float] | None = None,
        normalize_weights: bool = False,
        batch_size: int | None = None,
    ) -> None:
        super().__init__()
        self.optim_cfg = optim
        self.loss_weights = dict(loss_weights or {})
        self.normalize_weights = normalize_weights
        self.batch_size = batch_size
        self._ema_pairs: list[EMAPair] = []
        self._ema_momentum: float | None = None
        self._replay: dict[str, Any] | None = None
        self._skipped: list[tuple[str, str]] = []
        self.skip_reports: list[str] = []

    def compute_losses(self, batch: dict[str, Any], stage: str) -> dict[str, torch.Tensor]:
        raise NotImplementedError(f"{type(self).__name__} must implement compute_losses")

    def add_ema_pair(self, student: nn.Module, teacher: nn.Module, base: float = 0.996, final: float = 1.0) -> None:
        self._ema_pairs.append(EMAPair(student, teacher, base, final))
        set_teacher_mode(teacher, self.training)

    def train(self, mode: bool = True) -> BaseMethod:
        """Lightning calls ``train()`` at every fit/validation boundary; teachers stay deterministic."""
        super().train(mode)
        for pair in getattr(self, "_ema_pairs", []):
            set_teacher_mode(pair.teacher, mode)
        return self

    def total_loss(self, terms: dict[str, torch.Tensor]) -> torch.Tensor:
        """Σ w_k·L_k, divided by Σ w_k when ``normalize_weights`` (the XKD official code divides by 5 + 1 + 1 = 7,
        after averaging each term over its parts; see ``XKD._official_means``)."""
        weights = {k: self.loss_weights.get(k, 1.0) for k in terms}
        total = sum(weights[k] * v for k, v in terms.items())
        if self.normalize_weights:
            total = total / sum(weights.values())
        return total  # type: ignore[return-value]

    def training_step(self, batch: dict[str, Any], batch_idx: int) -> torch.Tensor:
        self._skipped.extend(batch.get("skipped", []))
        weight = 1.0
        if _has_samples(batch):
            self._replay = slice_batch(batch, 2)
        elif self._replay is not None:
            batch, weight = self._replay, 0.0  # same collectives as the other ranks, no gradient from this rank
        else:
            files = ", ".join(p for p, _ in batch.get("skipped", [])[:3])
            raise RuntimeError(f"every sample of this rank's first training batch was skipped ({files}); use a "
                               "loader that tops batches up (data.on_error=skip) or fix the files (xmodal data check)")
        terms = self.compute_losses(batch, "train")
        total = self.total_loss(terms) * weight
        if weight:
            bs = self._batch_size(batch)
            for name, value in terms.items():
                self.log(f"train/{name}", value.detach(), batch_size=bs, on_step=True, on_epoch=True)
            self.log("train/loss", total.detach(), prog_bar=True, batch_size=bs, on_step=True, on_epoch=True)
            self.log("lr", self.trainer.optimizers[0].param_groups[0]["lr"], on_step=True, on_epoch=False)
        return total

    @staticmethod
    def _batch_size(batch: dict[str, Any]) -> int:
        for key in ("index", "label", "y"):
            value = batch.get(key)
            if isinstance(value, torch.Tensor):
                return int(value.shape[0])
        return 1

    def optimizer_step(self, *args: Any, **kwargs: Any) -> None:
        """Step the optimizer, then move every EMA teacher once (Lightning calls this once per optimizer step,
        after ``accumulate_grad_batches`` micro-batches, and before the checkpoint callbacks of that step)."""
        super().optimizer_step(*args, **kwargs)
        if not self._ema_pairs:
            return
        total = max(1, int(self.trainer.estimated_stepping_batches))
        for pair in self._ema_pairs:
            self._ema_momentum = cosine_momentum(self.global_step, total, pair.base, pair.final)
            pair.update(self._ema_momentum)
        self.log("ema_momentum", self._ema_momentum, on_step=True, on_epoch=False)

    def on_train_epoch_end(self) -> None:
        local = torch.tensor(float(len(self._skipped)), device=self.device)
        self.log("data/skipped", local, reduce_fx="sum", sync_dist=True, on_epoch=True)
        if self._skipped:
            kinds: dict[str, int] = {}
            for _, kind in self._skipped:
                kinds[kind] = kinds.get(kind, 0) + 1
            files = sorted({p for p, _ in self._skipped})
            shown = ", ".join(files[:5]) + (" …" if len(files) > 5 else "")
            msg = f"epoch {self.current_epoch}: skipped {len(self._skipped)} samples {kinds}: {shown}"
            self.skip_reports.append(msg)
            if self.global_rank == 0:  # per-rank reports; one rank speaks, as LightningModule.print did
                log.warning(msg)
        self._skipped = []

    def clip_parameters(self) -> list[nn.Parameter]:
        """The tensors ``grad_clip_mode="per_tensor"`` clips (default: every trainable one); methods narrow it."""
        return [p for p in self.parameters() if p.requires_grad]

    def configure_gradient_clipping(
        self, optimizer: Any, gradient_clip_val: Any = None, gradient_clip_algorithm: Any = None
    ) -> None:
        """Lightning calls this after the backward pass (and after fp16 unscaling), before the optimizer step."""
        clip = self.optim_cfg.grad_clip
        if not clip:
            return
        if self.optim_cfg.grad_clip_mode == "per_tensor":
            clip_per_tensor_(self.clip_parameters(), clip)
        else:
            self.clip_gradients(optimizer, gradient_clip_val=clip, gradient_clip_algorithm="norm")

    def per_device_batch_size(self) -> int:
        """The batch size of one device: the method's ``batch_size``, else the training loader's.

        Raises when it is unknown and the learning rate is scaled with it (a custom ``batch_sampler`` without
        ``batch_size``), and when the method's value contradicts the loader's.
        """
        loader = self.trainer.train_dataloader
        from_loader = getattr(loader, "batch_size", None) or getattr(
            getattr(loader, "batch_sampler", None), "batch_size", None)
        if self.batch_size is not None:
            if from_loader is not None and int(from_loader) != self.batch_size:
                raise ConfigError(f"trainer.batch_size: the method scales the LR for {self.batch_size} clips a device "
                                  f"but the training loader yields batches of {from_loader}")
            return self.batch_size
        if from_loader is None:
            if self.optim_cfg.lr_scaling == "none":
                return 1
            raise ConfigError("optim.lr_scaling: the per-device batch size is unknown (the training loader has no "
                              f"batch_size); pass batch_size= to {type(self).__name__} or set lr_scaling=none")
        return int(from_loader)

    def configure_optimizers(self) -> Any:
        cfg = self.optim_cfg
        exempt = no_decay_names(self, tokens=not cfg.decay_tokens)
        decay = [p for n, p in self.named_parameters() if p.requires_grad and n not in exempt]
        plain = [p for n, p in self.named_parameters() if p.requires_grad and n in exempt]
        groups = [
            {"params": decay, "weight_decay": cfg.weight_decay},
            {"params": plain, "weight_decay": 0.0},
        ]
        trainer = self.trainer
        total = max(1, int(trainer.estimated_stepping_batches))  # also sets up the training loader
        self.global_batch = self.per_device_batch_size() * trainer.world_size * trainer.accumulate_grad_batches
        peak = scaled_lr(cfg, self.global_batch)
        opt = build_optimizer(cfg, groups, peak)
        steps_per_epoch = max(1, total // max(1, trainer.max_epochs or 1))
        warmup = int(cfg.warmup_epochs * steps_per_epoch)
        floor = cfg.min_lr

        def factor(step: int) -> float:
            return warmup_cosine(step, total, warmup, peak, floor) / peak

        sched = torch.optim.lr_scheduler.LambdaLR(opt, factor)
        self.peak_lr = peak
        return {"optimizer": opt, "lr_scheduler": {"scheduler": sched, "interval": "step"}}
