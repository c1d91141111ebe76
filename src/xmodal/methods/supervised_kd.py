"""Supervised (cross-modal) knowledge distillation as a Lightning method (MFH §3, Eq. 1).

The student sees ``batch[student_key]``; the teacher sees ``batch[k]`` for each of ``teacher_keys``:

* unimodal KD — ``teacher_keys == (student_key,)``;
* crossmodal KD — one other modality, e.g. audio teacher → video student;
* multimodal teacher → unimodal student — several keys, the teacher is called ``teacher(*inputs)``.

Loss terms (weighted and summed by :class:`BaseMethod`): ``ce`` (weight ρ) and ``kd`` (weight 1−ρ) of Eq. 1,
``feat/<student layer>-><teacher layer>`` for feature-level KD on tapped layers (weight 1 unless set), and,
with ``teacher_mode="trainable"``, ``teacher_ce`` — the teacher learns from labels at the same time
(C²KD's on-the-fly setting) while the KD targets stay detached. The per-sample KD vector is reduced by
:meth:`SupervisedKD.reduce_kd`, the hook for per-sample selection or weighting. C²KD itself, whose selection acts
between proxies rather than on this KL, is :class:`xmodal.methods.c2kd.C2KD`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

import torch
import torch.nn.functional as F
from torch import nn

from xmodal.losses.kd import KLReduction, feature_kd_loss, kd_kl_loss
from xmodal.methods.base import BaseMethod
from xmodal.models.taps import FeatureTaps
from xmodal.training.optim import OptimConfig


@dataclass
class SupervisedKDConfig:
    student_key: str = "video"
    teacher_keys: tuple[str, ...] = ("audio",)
    rho: float = 0.5
    temperature: float = 1.0
    kl_reduction: KLReduction = "batchmean"
    t2_scaling: bool = True
    teacher_mode: Literal["frozen", "trainable"] = "frozen"
    feature_pairs: tuple[tuple[str, str], ...] = ()  # (student layer, teacher layer)
    feature_loss: Literal["mse", "cosine"] = "mse"
    feature_pool: Literal["global", "none"] = "global"


def _pool(feat: torch.Tensor, how: str) -> torch.Tensor:
    """Global average over all non-channel dims, so 2D (spectrogram) and 3D (clip) maps become comparable."""
    return feat.flatten(2).mean(-1) if how == "global" and feat.ndim > 2 else feat


class SupervisedKD(BaseMethod):
    """Train ``student`` with ρ·CE + (1−ρ)·KL(teacher ‖ student), optionally feature KD and a trained teacher.

    ``projectors`` maps ``"<student layer>-><teacher layer>"`` to a module applied to the (pooled) student
    feature before the feature loss, for channel counts that differ (e.g. ``nn.Linear(256, 512)``).
    """

    def __init__(self, student: nn.Module, teacher: nn.Module, cfg: SupervisedKDConfig, optim: OptimConfig,
                 loss_weights: dict[str, float] | None = None,
                 projectors: dict[str, nn.Module] | None = None) -> None:
        if not 0.0 <= cfg.rho <= 1.0:
            raise ValueError("rho must lie in [0, 1]")
        weights = {"ce": cfg.rho, "kd": 1.0 - cfg.rho, **(loss_weights or {})}
        super().__init__(optim, weights)
        self.cfg = cfg
        self.student, self.teacher = student, teacher
        self.projectors = nn.ModuleDict(projectors or {})
        if cfg.teacher_mode == "frozen":
            teacher.requires_grad_(False)
            teacher.eval()
        self._s_taps = FeatureTaps(student, [s for s, _ in cfg.feature_pairs])
        self._t_taps = FeatureTaps(teacher, [t for _, t in cfg.feature_pairs])

    def train(self, mode: bool = True) -> SupervisedKD:
        """Keep a frozen teacher in eval mode (BN statistics, dropout) whatever Lightning toggles."""
        super().train(mode)
        if self.cfg.teacher_mode == "frozen":
            self.teacher.eval()
        return self

    def teacher_logits(self, batch: dict[str, Any]) -> torch.Tensor:
        inputs = [batch[k] for k in self.cfg.teacher_keys]
        if self.cfg.teacher_mode == "frozen":
            with torch.no_grad():
                return self.teacher(*inputs)
        return self.teacher(*inputs)

    def reduce_kd(self, per_sample: torch.Tensor, num_classes: int, batch: dict[str, Any]) -> torch.Tensor:
        """Mean of the per-sample KL (``batchmean``), divided by K for the official code's element-wise ``mean``.

        Subclasses override this for per-sample selection or weighting; ``batch`` carries what they need.
        """
        if self.cfg.kl_reduction == "mean":
            return per_sample.mean() / num_classes
        if self.cfg.kl_reduction == "sum":
            return per_sample.sum()
        return per_sample.mean()

    def compute_losses(self, batch: dict[str, Any], stage: str) -> dict[str, torch.Tensor]:
        y = batch["label"]
        s_logits = self.student(batch[self.cfg.student_key])
        t_logits = self.teacher_logits(batch)
        per_sample = kd_kl_loss(s_logits, t_logits, self.cfg.temperature, "none", self.cfg.t2_scaling)
        terms = {"ce": F.cross_entropy(s_logits, y), "kd": self.reduce_kd(per_sample, s_logits.shape[-1], batch)}
        if self.cfg.teacher_mode == "trainable":
            terms["teacher_ce"] = F.cross_entropy(t_logits, y)
        for s_name, t_name in self.cfg.feature_pairs:
            key = f"{s_name}->{t_name}"
            s_feat = _pool(self._s_taps.features[s_name], self.cfg.feature_pool)
            t_feat = _pool(self._t_taps.features[t_name], self.cfg.feature_pool)
            if key in self.projectors:
                s_feat = self.projectors[key](s_feat)
            terms[f"feat/{key}"] = feature_kd_loss(s_feat, t_feat, self.cfg.feature_loss)
        return terms

    def validation_step(self, batch: dict[str, Any], batch_idx: int) -> None:
        y = batch["label"]
        s_logits = self.student(batch[self.cfg.student_key])
        with torch.no_grad():
            t_logits = self.teacher(*[batch[k] for k in self.cfg.teacher_keys])
        bs = int(y.shape[0])
        self.log("val/acc", (s_logits.argmax(-1) == y).float().mean(), batch_size=bs, prog_bar=True)
        self.log("val/teacher_acc", (t_logits.argmax(-1) == y).float().mean(), batch_size=bs)
        self.log("val/ce", F.cross_entropy(s_logits, y), batch_size=bs)
