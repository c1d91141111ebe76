"""The supervised cross-modal KD baselines of C²KD's tables, from the same trainer as C²KD.

One Lightning method, one ``kind`` switch; the teacher (pretrained unimodally) is frozen and in eval mode, as
offline KD has it. Loss terms: ``ce`` (weight ``ce_weight``) and ``kd`` (weight ``kd_weight``):

* ``none`` — the student alone (w/o KD); * ``kd`` — Hinton et al. KL with temperature and T²;
* ``dkd`` / ``dist`` / ``nkd`` — :mod:`xmodal.losses.kd_baselines`;
* ``fitnets`` — for each (student layer, teacher layer) pair, the student map resized bilinearly to the
  teacher's spatial size (C²KD App. C.3), a 1×1 conv + BN regressor to the teacher's channels, MSE;
* ``review`` — the same regressors on several pairs with Review-KD's hierarchical context loss.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

import torch
import torch.nn.functional as F
from torch import nn

from xmodal.config import ConfigError
from xmodal.losses.kd import kd_kl_loss
from xmodal.losses.kd_baselines import dist_loss, dkd_loss, hcl_loss, hint_loss, nkd_loss, resize_like
from xmodal.methods.base import BaseMethod
from xmodal.methods.c2kd import LRSchedule, use_poly_schedule
from xmodal.models.taps import FeatureTaps
from xmodal.training.optim import OptimConfig

BaselineKind = Literal["none", "kd", "dkd", "dist", "nkd", "fitnets", "review"]
DEFAULT_TEMPERATURE = {"kd": 4.0, "dkd": 4.0, "dist": 1.0, "nkd": 1.0}  # mdistiller (KD, DKD), DIST, NKD code


@dataclass
class BaselineKDConfig:
    """Each loss's own hyper-parameters default to its official code's; ``temperature=None`` takes the kind's
    default (:data:`DEFAULT_TEMPERATURE`). ``feature_pairs`` (student layer, teacher layer) serve fitnets (first
    pair) and review."""

    kind: BaselineKind = "kd"
    student_key: str = "video"
    teacher_key: str = "audio"
    ce_weight: float = 1.0
    kd_weight: float = 1.0
    temperature: float | None = None
    dkd_alpha: float = 1.0
    dkd_beta: float = 8.0
    dkd_warmup_epochs: float = 20.0  # mdistiller: the DKD term ramps in as min(epoch / 20, 1), epochs from 1
    dist_beta: float = 1.0
    dist_gamma: float = 1.0
    nkd_gamma: float = 1.5
    feature_pairs: tuple[tuple[str, str], ...] = (("layer3", "layer3"),)
    lr_schedule: LRSchedule = "poly"

    def validate(self) -> None:
        if self.temperature is not None and self.temperature <= 0:
            raise ConfigError("method.temperature: must be positive")
        if self.kind in ("fitnets", "review") and not self.feature_pairs:
            raise ConfigError(f"method.feature_pairs: {self.kind} needs at least one (student, teacher) layer pair")


class _Regressor(nn.Module):
    """1×1 conv + BN from the student's channels to the teacher's (FitNets' regressor, any spatial rank)."""

    def __init__(self, c_in: int, c_out: int, dims: int) -> None:
        super().__init__()
        conv, bn = (nn.Conv2d, nn.BatchNorm2d) if dims == 2 else (nn.Conv3d, nn.BatchNorm3d)
        self.body = nn.Sequential(conv(c_in, c_out, 1, bias=False), bn(c_out))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x)


class BaselineKD(BaseMethod):
    """Frozen-teacher cross-modal KD with one of :data:`BaselineKind` losses; ``example`` sizes the regressors.

    ``teacher=None`` is allowed for ``kind="none"``: plain supervised training (the unimodal teacher pretraining
    and the w/o-KD student use the same loop).
    """

    def __init__(self, student: nn.Module, teacher: nn.Module | None, cfg: BaselineKDConfig, optim: OptimConfig,
                 example: dict[str, torch.Tensor] | None = None, batch_size: int | None = None) -> None:
        cfg.validate()
        super().__init__(optim, {"ce": cfg.ce_weight, "kd": cfg.kd_weight}, batch_size=batch_size)
        self.cfg = cfg
        self.student, self.teacher = student, teacher
        if teacher is None:
            if cfg.kind != "none":
                raise ConfigError(f"method.kind: {cfg.kind} needs a teacher")
        else:
            teacher.requires_grad_(False)
            teacher.eval()
        pairs = self._pairs()
        self.regressors = nn.ModuleDict()
        if pairs:
            if example is None:
                raise ConfigError(f"method.kind: {cfg.kind} needs an example batch to size its regressors")
            self._s_taps = FeatureTaps(student, [s for s, _ in pairs])
            self._t_taps = FeatureTaps(teacher, [t for _, t in pairs])
            self._size_regressors(pairs, example)

    def _pairs(self) -> tuple[tuple[str, str], ...]:
        if self.cfg.kind == "fitnets":
            return self.cfg.feature_pairs[:1]
        return self.cfg.feature_pairs if self.cfg.kind == "review" else ()

    @torch.no_grad()
    def _size_regressors(self, pairs: tuple[tuple[str, str], ...], example: dict[str, torch.Tensor]) -> None:
        assert self.teacher is not None  # __init__ refuses feature kinds without a teacher
        was = self.student.training
        self.student.eval()
        self.student(example[self.cfg.student_key])
        self.teacher(example[self.cfg.teacher_key])
        self.student.train(was)
        for s_name, t_name in pairs:
            fs, ft = self._s_taps.features[s_name], self._t_taps.features[t_name]
            if fs.ndim != ft.ndim or fs.ndim not in (4, 5):
                raise ConfigError(f"method.feature_pairs: {s_name} gives a {fs.ndim}-d map and {t_name} a "
                                  f"{ft.ndim}-d one; hints need two conv maps of one rank")
            self.regressors[f"{s_name}->{t_name}"] = _Regressor(fs.shape[1], ft.shape[1], fs.ndim - 2)

    def remove_taps(self) -> None:
        """Drop the forward hooks of feature kinds (the runner reuses the teacher for the next method)."""
        for taps in (getattr(self, "_s_taps", None), getattr(self, "_t_taps", None)):
            if taps is not None:
                taps.remove()

    def train(self, mode: bool = True) -> BaselineKD:
        super().train(mode)
        if self.teacher is not None:
            self.teacher.eval()
        return self

    def configure_optimizers(self) -> Any:
        setup = super().configure_optimizers()
        return use_poly_schedule(self, setup) if self.cfg.lr_schedule == "poly" else setup

    def _kd(self, s: torch.Tensor, t: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        cfg = self.cfg
        temp = cfg.temperature or DEFAULT_TEMPERATURE.get(cfg.kind, 1.0)
        if cfg.kind == "kd":
            return kd_kl_loss(s, t, temp, "batchmean", t2_scaling=True)
        if cfg.kind == "dkd":
            ramp = min(1.0, (self.current_epoch + 1) / cfg.dkd_warmup_epochs) if cfg.dkd_warmup_epochs > 0 else 1.0
            return ramp * dkd_loss(s, t, y, cfg.dkd_alpha, cfg.dkd_beta, temp)
        if cfg.kind == "dist":
            return dist_loss(s, t, cfg.dist_beta, cfg.dist_gamma, temp)
        if cfg.kind == "nkd":
            return nkd_loss(s, t, y, temp, cfg.nkd_gamma)
        hints = []
        for key, reg in self.regressors.items():
            s_name, t_name = key.split("->")
            ft = self._t_taps.features[t_name]
            hints.append((reg(resize_like(self._s_taps.features[s_name], ft)), ft))
        if cfg.kind == "fitnets":
            return hint_loss(*hints[0])
        return hcl_loss([h[0] for h in hints], [h[1] for h in hints])

    def compute_losses(self, batch: dict[str, Any], stage: str) -> dict[str, torch.Tensor]:
        y = batch["label"]
        s_logits = self.student(batch[self.cfg.student_key])
        terms = {"ce": F.cross_entropy(s_logits, y)}
        if self.cfg.kind != "none" and self.teacher is not None:
            with torch.no_grad():
                t_logits = self.teacher(batch[self.cfg.teacher_key])
            terms["kd"] = self._kd(s_logits, t_logits, y)
        return terms

    def validation_step(self, batch: dict[str, Any], batch_idx: int) -> None:
        y, bs = batch["label"], int(batch["label"].shape[0])
        s_logits = self.student(batch[self.cfg.student_key])
        self.log("val/acc", (s_logits.argmax(-1) == y).float().mean(), batch_size=bs, prog_bar=True)
