"""C²KD as a Lightning method (Huo et al., CVPR 2024; docs/methods/c2kd.md).

The teacher (pretrained unimodally on its own modality) and the student train *together*; each gets a proxy on an
intermediate layer (:class:`xmodal.models.proxy.Proxy`, attached by forward hooks). Loss terms, weighted and
summed by :class:`BaseMethod` (weights λ1 = λ2 = λ3 = 1, App. D.1; CE weights 1):

* ``ce`` / ``teacher_ce`` — cross entropy of student / teacher;
* ``s_proxy`` (KL(S ‖ S̃) into S̃) and ``s_from_proxy`` (KL(S̃ ‖ S) into S), weight λ1;
* ``t_proxy`` and ``t_from_proxy`` likewise for the teacher, weight λ2 (``t_from_proxy`` only if it trains);
* ``nt_s_from_t`` (KL(T̃ ‖ S̃) into S̃) and ``nt_t_from_s`` (KL(S̃ ‖ T̃) into T̃) on non-target classes, only for
  samples whose proxies' Kendall τ-b exceeds ω (on-the-fly selection), weight λ3.

Every KL target is detached, as in the official code. ``teacher_update``: ``"full"`` (Ours†, App. E),
``"top"`` (Ours‡: only the parameters under ``teacher_top``, by default the top-2 layers ``layer4`` and ``fc``),
``"frozen"`` (an ablation: the teacher stays fixed, its proxy still learns from it).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

import torch
import torch.nn.functional as F
from torch import nn

from xmodal.config import ConfigError
from xmodal.losses.c2kd import (
    SelectedReduction,
    TargetHandling,
    bidirectional_kl,
    kendall_tau_b,
    non_target_kl,
    selection_mask,
)
from xmodal.methods.base import BaseMethod
from xmodal.models.proxy import Proxy, ProxyActivation, ProxyVariant, tap_channels
from xmodal.models.taps import FeatureTaps
from xmodal.training.optim import OptimConfig

LRSchedule = Literal["cosine", "poly"]


@dataclass
class C2KDConfig:
    """C²KD switches; defaults are the paper's where it speaks, else the official code's (docs/methods/c2kd.md)."""

    student_key: str = "video"
    teacher_key: str = "audio"
    student_layer: str = "layer3"  # official: f4 = the output of layer3 (256 channels)
    teacher_layer: str = "layer3"
    proxy_variant: ProxyVariant = "fa"
    proxy_activation: ProxyActivation = "relu"
    teacher_update: Literal["full", "top", "frozen"] = "full"
    teacher_top: tuple[str, ...] = ("layer4", "fc")
    lambda1: float = 1.0
    lambda2: float = 1.0
    lambda3: float = 1.0
    tau_threshold: float = 0.0
    target_handling: TargetHandling = "zero"
    selected_reduction: SelectedReduction = "batch"
    temperature: float = 1.0
    lr_schedule: LRSchedule = "poly"

    def validate(self) -> None:
        for name in ("lambda1", "lambda2", "lambda3"):
            if getattr(self, name) < 0:
                raise ConfigError(f"method.{name}: must be >= 0")
        if not -1.0 <= self.tau_threshold < 1.0:
            raise ConfigError("method.tau_threshold: Kendall's tau lies in [-1, 1]; pick a threshold in [-1, 1)")
        if self.selected_reduction == "none":
            raise ConfigError("method.selected_reduction: 'batch' or 'selected'")
        if self.temperature <= 0:
            raise ConfigError("method.temperature: must be positive")


def poly_factor(epoch: int, epochs: int, lr: float, floor: float = 1e-4, power: float = 0.9) -> float:
    """The official schedule as a factor of ``lr``: lr_e = floor + (lr − floor)(1 − e/E)^0.9, set per epoch."""
    progress = min(1.0, epoch / max(1, epochs))
    return (floor + (lr - floor) * (1.0 - progress) ** power) / lr


def use_poly_schedule(method: BaseMethod, optim_setup: Any) -> Any:
    """Swap the base's per-step warm-up + cosine for the official per-epoch poly decay (C²KD ``adjust_lr``)."""
    opt = optim_setup["optimizer"]
    peak, epochs = opt.param_groups[0]["lr"], max(1, int(method.trainer.max_epochs or 1))
    floor = min(1e-4, peak)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda e: poly_factor(e, epochs, peak, floor))
    return {"optimizer": opt, "lr_scheduler": {"scheduler": sched, "interval": "epoch"}}


def _num_classes(net: nn.Module, x: torch.Tensor) -> int:
    was = net.training
    net.eval()
    try:
        with torch.no_grad():
            return int(net(x).shape[-1])
    finally:
        net.train(was)


class C2KD(BaseMethod):
    """Bidirectional proxy distillation with on-the-fly selection between a trained teacher and a student.

    ``example`` is one batch (or a few samples) with both modalities; it sizes the proxies (channels of the tapped
    layers, classes of the networks' outputs) without touching BatchNorm statistics.
    """

    def __init__(self, student: nn.Module, teacher: nn.Module, cfg: C2KDConfig, optim: OptimConfig,
                 example: dict[str, torch.Tensor], batch_size: int | None = None) -> None:
        cfg.validate()
        weights = {"s_proxy": cfg.lambda1, "s_from_proxy": cfg.lambda1, "t_proxy": cfg.lambda2,
                   "t_from_proxy": cfg.lambda2, "nt_s_from_t": cfg.lambda3, "nt_t_from_s": cfg.lambda3}
        super().__init__(optim, weights, batch_size=batch_size)
        self.cfg = cfg
        self.student, self.teacher = student, teacher
        xs, xt = example[cfg.student_key], example[cfg.teacher_key]
        k = _num_classes(student, xs)
        if _num_classes(teacher, xt) != k:
            raise ConfigError(f"method: the teacher predicts {_num_classes(teacher, xt)} classes, the student {k}")
        self.s_proxy = Proxy(tap_channels(student, cfg.student_layer, xs), k, cfg.proxy_variant, cfg.proxy_activation)
        self.t_proxy = Proxy(tap_channels(teacher, cfg.teacher_layer, xt), k, cfg.proxy_variant, cfg.proxy_activation)
        self._s_taps = FeatureTaps(student, [cfg.student_layer])
        self._t_taps = FeatureTaps(teacher, [cfg.teacher_layer])
        self._set_teacher_trainable()

    def _set_teacher_trainable(self) -> None:
        mode = self.cfg.teacher_update
        for name, param in self.teacher.named_parameters():
            top = any(name == p or name.startswith(p + ".") for p in self.cfg.teacher_top)
            param.requires_grad_(mode == "full" or (mode == "top" and top))
        if mode == "frozen":
            self.teacher.eval()
        if mode == "top" and not any(p.requires_grad for p in self.teacher.parameters()):
            names = sorted({n.split(".")[0] for n, _ in self.teacher.named_parameters()})
            raise ConfigError(f"method.teacher_top: {list(self.cfg.teacher_top)} matches no teacher parameter; "
                              f"top-level names are {names}")

    def remove_taps(self) -> None:
        """Drop the forward hooks (the runner reuses the teacher for the next method)."""
        self._s_taps.remove()
        self._t_taps.remove()

    def train(self, mode: bool = True) -> C2KD:
        """A frozen teacher stays in eval mode; a (partly) trained one follows ``mode`` as in the official code."""
        super().train(mode)
        if self.cfg.teacher_update == "frozen":
            self.teacher.eval()
        return self

    def configure_optimizers(self) -> Any:
        setup = super().configure_optimizers()
        return use_poly_schedule(self, setup) if self.cfg.lr_schedule == "poly" else setup

    def compute_losses(self, batch: dict[str, Any], stage: str) -> dict[str, torch.Tensor]:
        cfg, y = self.cfg, batch["label"]
        s_logits = self.student(batch[cfg.student_key])
        s_proxy = self.s_proxy(self._s_taps.features[cfg.student_layer])
        if cfg.teacher_update == "frozen":
            with torch.no_grad():
                t_logits = self.teacher(batch[cfg.teacher_key])
        else:
            t_logits = self.teacher(batch[cfg.teacher_key])
        t_proxy = self.t_proxy(self._t_taps.features[cfg.teacher_layer])
        terms = {"ce": F.cross_entropy(s_logits, y)}
        terms["s_proxy"], terms["s_from_proxy"] = bidirectional_kl(s_logits, s_proxy, cfg.temperature)
        to_proxy, to_teacher = bidirectional_kl(t_logits, t_proxy, cfg.temperature)
        terms["t_proxy"] = to_proxy
        if cfg.teacher_update != "frozen":
            terms["teacher_ce"] = F.cross_entropy(t_logits, y)
            terms["t_from_proxy"] = to_teacher
        tau = kendall_tau_b(t_proxy, s_proxy)
        selected = selection_mask(tau, cfg.tau_threshold)
        nt = {"temperature": cfg.temperature, "target_handling": cfg.target_handling,
              "reduction": cfg.selected_reduction}
        terms["nt_s_from_t"] = non_target_kl(s_proxy, t_proxy, y, selected, **nt)
        terms["nt_t_from_s"] = non_target_kl(t_proxy, s_proxy, y, selected, **nt)
        if stage == "train":
            bs = int(y.shape[0])
            self.log("train/selected_frac", selected.float().mean(), on_step=False, on_epoch=True, batch_size=bs)
            self.log("train/tau_mean", tau.nanmean(), on_step=False, on_epoch=True, batch_size=bs)
        return terms

    def validation_step(self, batch: dict[str, Any], batch_idx: int) -> None:
        y, bs = batch["label"], int(batch["label"].shape[0])
        s_logits = self.student(batch[self.cfg.student_key])
        t_logits = self.teacher(batch[self.cfg.teacher_key])
        self.log("val/acc", (s_logits.argmax(-1) == y).float().mean(), batch_size=bs, prog_bar=True)
        self.log("val/teacher_acc", (t_logits.argmax(-1) == y).float().mean(), batch_size=bs)
