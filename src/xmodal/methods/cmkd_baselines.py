"""The supervised cross-modal KD baselines of C²KD's tables, from the same trainer as C²KD.

One Lightning method, one ``kind`` switch; the teacher (pretrained unimodally) is frozen and in eval mode, as
offline KD has it. Loss terms: ``ce`` (weight ``ce_weight``) and ``kd`` (weight ``kd_weight``):

* ``none`` — the student alone (w/o KD); * ``kd`` — Hinton et al. KL with temperature and T²;
* ``dkd`` / ``dist`` / ``nkd`` — :mod:`xmodal.losses.kd_baselines`;
* ``fitnets`` — for each (student layer, teacher layer) pair, the student map resized bilinearly to the
  teacher's spatial size (C²KD App. C.3), a 1×1 conv + BN regressor to the teacher's channels, MSE;
* ``review`` — Review-KD on several pairs: the student levels fused deep → shallow by attention-based fusion
  (:class:`xmodal.models.review.ReviewFusion`, ``review_fusion="abf"``, the paper's) or each level through its own
  regressor (``"none"``, no review across levels), then the hierarchical context loss;
* ``shake`` — SHAKE's online KD: a trainable shadow head (:class:`xmodal.models.shadow.ShadowHead`) on the frozen
  teacher's ``shake_layers`` mimics the teacher and distils with the student in both directions
  (:func:`xmodal.losses.kd_baselines.shake_loss`; the teacher itself stays frozen, as in SHAKE).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

import torch
import torch.nn.functional as F
from torch import nn

from xmodal.config import ConfigError
from xmodal.losses.kd import kd_kl_loss
from xmodal.losses.kd_baselines import (
    dist_loss,
    dkd_loss,
    hcl_loss,
    hint_loss,
    layer_norm_logits,
    nkd_loss,
    resize_like,
    shake_loss,
)
from xmodal.methods.base import BaseMethod
from xmodal.methods.c2kd import LRSchedule, use_poly_schedule
from xmodal.models.review import ReviewFusion
from xmodal.models.shadow import ShadowHead
from xmodal.models.taps import FeatureTaps
from xmodal.training.optim import OptimConfig

BaselineKind = Literal["none", "kd", "dkd", "dist", "nkd", "fitnets", "review", "shake"]
# mdistiller (KD, DKD), DIST, NKD and SHAKE (--kd_T 4) official code
DEFAULT_TEMPERATURE = {"kd": 4.0, "dkd": 4.0, "dist": 1.0, "nkd": 1.0, "shake": 4.0}


@dataclass
class BaselineKDConfig:
    """Each loss's own hyper-parameters default to its official code's; ``temperature=None`` takes the kind's
    default (:data:`DEFAULT_TEMPERATURE`). ``feature_pairs`` (student layer, teacher layer) serve fitnets (first
    pair) and review. ``shake_layers`` are the teacher levels the shadow head fuses (official SHAKE: every stage
    output; for a BERT teacher its ``hidden.<i>`` token maps); the last one's width must be the teacher
    classifier's input when ``shake_classifier="teacher"``."""

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
    review_fusion: Literal["abf", "none"] = "abf"
    review_mid: int = 0  # ABF width; 0 = min(512, the deepest student level's channels), as the official code
    review_warmup_epochs: float = 20.0  # Review-KD CIFAR code: the term is weighted min(1, epoch / 20), epochs from 0
    shake_layers: tuple[str, ...] = ("layer2", "layer3", "layer4")
    shake_classifier: Literal["teacher", "own"] = "teacher"
    shake_logit_norm: bool = False  # the official loop normalises every method's logits; see docs/methods/c2kd.md
    lr_schedule: LRSchedule = "poly"

    def validate(self) -> None:
        if self.temperature is not None and self.temperature <= 0:
            raise ConfigError("method.temperature: must be positive")
        if self.kind in ("fitnets", "review") and not self.feature_pairs:
            raise ConfigError(f"method.feature_pairs: {self.kind} needs at least one (student, teacher) layer pair")
        if self.kind == "shake" and not self.shake_layers:
            raise ConfigError("method.shake_layers: shake needs at least one teacher layer for its shadow head")


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
        self.review: ReviewFusion | None = None
        self.shadow: ShadowHead | None = None
        if pairs or cfg.kind == "shake":
            if example is None:
                raise ConfigError(f"method.kind: {cfg.kind} needs an example batch to size its extra modules")
            self._s_taps = FeatureTaps(student, [s for s, _ in pairs])
            self._t_taps = FeatureTaps(teacher, [t for _, t in pairs] + list(self._shake_layers()))
            num_classes = self._probe(example)
            if cfg.kind == "review" and cfg.review_fusion == "abf":
                self.review = self._build_review(pairs)
            else:
                self._size_regressors(pairs)
            if cfg.kind == "shake":
                self.shadow = self._build_shadow(num_classes)

    def _pairs(self) -> tuple[tuple[str, str], ...]:
        if self.cfg.kind == "fitnets":
            return self.cfg.feature_pairs[:1]
        return self.cfg.feature_pairs if self.cfg.kind == "review" else ()

    def _shake_layers(self) -> tuple[str, ...]:
        return self.cfg.shake_layers if self.cfg.kind == "shake" else ()

    @torch.no_grad()
    def _probe(self, example: dict[str, torch.Tensor]) -> int:
        """One eval-mode forward of both networks so the taps hold each layer's shape; returns the class count."""
        assert self.teacher is not None  # __init__ refuses feature kinds without a teacher
        was = self.student.training
        self.student.eval()
        logits = self.student(example[self.cfg.student_key])
        self.teacher(example[self.cfg.teacher_key])
        self.student.train(was)
        return int(logits.shape[-1])

    def _size_regressors(self, pairs: tuple[tuple[str, str], ...]) -> None:
        for s_name, t_name in pairs:
            fs, ft = self._s_taps.features[s_name], self._t_taps.features[t_name]
            if fs.ndim != ft.ndim or fs.ndim not in (4, 5):
                raise ConfigError(f"method.feature_pairs: {s_name} gives a {fs.ndim}-d map and {t_name} a "
                                  f"{ft.ndim}-d one; hints need two conv maps of one rank")
            self.regressors[f"{s_name}->{t_name}"] = _Regressor(fs.shape[1], ft.shape[1], fs.ndim - 2)

    def _build_review(self, pairs: tuple[tuple[str, str], ...]) -> ReviewFusion:
        """ABFs sized from the tapped maps; ``feature_pairs`` must run shallow → deep (the review order)."""
        fs = [self._s_taps.features[s] for s, _ in pairs]
        ft = [self._t_taps.features[t] for _, t in pairs]
        if any(f.ndim != 4 for f in fs + ft):
            raise ConfigError("method.feature_pairs: review's attention-based fusion needs 2-D conv maps; use "
                              "method.review_fusion=none for other ranks")
        return ReviewFusion([f.shape[1] for f in fs], [f.shape[1] for f in ft], self.cfg.review_mid or None)

    def _build_shadow(self, num_classes: int) -> ShadowHead:
        feats = [self._t_taps.features[name] for name in self.cfg.shake_layers]
        if len({f.ndim for f in feats}) != 1 or feats[0].ndim not in (3, 4):
            raise ConfigError(f"method.shake_layers: {list(self.cfg.shake_layers)} must all be 2-D conv maps or all "
                              f"(B, C, L) token maps such as BERT's hidden.<i> (got ranks {[f.ndim for f in feats]})")
        shapes = [tuple(f.shape[1:]) for f in feats]
        if self.cfg.shake_classifier == "own":
            return ShadowHead(shapes, num_classes)
        fc = self._teacher_classifier()
        if fc.in_features != shapes[-1][0] or fc.out_features != num_classes:
            raise ConfigError(f"method.shake_layers: {self.cfg.shake_layers[-1]} has {shapes[-1][0]} channels but the "
                              f"teacher's classifier takes {fc.in_features}; end shake_layers at the layer "
                              "that feeds it or set method.shake_classifier=own")
        return ShadowHead(shapes)

    def _teacher_classifier(self) -> nn.Linear:
        """The teacher's last ``nn.Linear`` (its classifier), used by the shadow head with detached weights; looked
        up on each call rather than stored, so it is not registered twice as a sub-module."""
        assert self.teacher is not None
        linears = [m for m in self.teacher.modules() if isinstance(m, nn.Linear)]
        if not linears:
            raise ConfigError("method.shake_classifier: the teacher has no nn.Linear classifier; use own")
        return linears[-1]

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
        if self.review is not None:
            ft = [self._t_taps.features[t] for _, t in cfg.feature_pairs]
            fused = self.review([self._s_taps.features[s] for s, _ in cfg.feature_pairs], [f.shape[2:] for f in ft])
            return self._review_ramp() * hcl_loss(fused, ft)
        hints = []
        for key, reg in self.regressors.items():
            s_name, t_name = key.split("->")
            ft = self._t_taps.features[t_name]
            hints.append((reg(resize_like(self._s_taps.features[s_name], ft)), ft))
        if cfg.kind == "fitnets":
            return hint_loss(*hints[0])
        return self._review_ramp() * hcl_loss([h[0] for h in hints], [h[1] for h in hints])

    def _review_ramp(self) -> float:
        w = self.cfg.review_warmup_epochs
        return min(1.0, self.current_epoch / w) if w > 0 else 1.0

    def _token_mask(self, t_input: torch.Tensor) -> torch.Tensor | None:
        """The real-token mask of a text teacher's input (ids ≠ its ``pad_id``), so the shadow head averages over
        real tokens only; ``None`` for image, audio and video teachers."""
        pad_id = getattr(self.teacher, "pad_id", None)
        if pad_id is None or t_input.ndim != 2 or t_input.is_floating_point():
            return None
        return t_input != pad_id

    def _shake(self, s: torch.Tensor, t: torch.Tensor, y: torch.Tensor, t_input: torch.Tensor
               ) -> dict[str, torch.Tensor]:
        """SHAKE's terms; with ``shake_logit_norm`` every logit (the student's CE included) is layer-normalised,
        as the official loop does for all its methods (off by default: it is part of that loop, not of SHAKE, our
        other baselines do not have it, and on small nets it wrecks the first steps — docs/methods/c2kd.md)."""
        assert self.shadow is not None
        feats = [self._t_taps.features[name] for name in self.cfg.shake_layers]
        mask = self._token_mask(t_input)
        if self.shadow.fc is None:
            fc = self._teacher_classifier()
            h = self.shadow(feats, fc.weight, fc.bias, mask=mask)
        else:
            h = self.shadow(feats, mask=mask)
        if self.cfg.shake_logit_norm:
            s, t, h = layer_norm_logits(s), layer_norm_logits(t), layer_norm_logits(h)
        temp = self.cfg.temperature or DEFAULT_TEMPERATURE["shake"]
        return {"ce": F.cross_entropy(s, y), "kd": shake_loss(s, t, h, y, temp)}

    def compute_losses(self, batch: dict[str, Any], stage: str) -> dict[str, torch.Tensor]:
        y = batch["label"]
        s_logits = self.student(batch[self.cfg.student_key])
        if self.cfg.kind == "none" or self.teacher is None:
            return {"ce": F.cross_entropy(s_logits, y)}
        with torch.no_grad():
            t_logits = self.teacher(batch[self.cfg.teacher_key])
        if self.cfg.kind == "shake":
            return self._shake(s_logits, t_logits, y, batch[self.cfg.teacher_key])
        return {"ce": F.cross_entropy(s_logits, y), "kd": self._kd(s_logits, t_logits, y)}

    def validation_step(self, batch: dict[str, Any], batch_idx: int) -> None:
        y, bs = batch["label"], int(batch["label"].shape[0])
        s_logits = self.student(batch[self.cfg.student_key])
        self.log("val/acc", (s_logits.argmax(-1) == y).float().mean(), batch_size=bs, prog_bar=True)
