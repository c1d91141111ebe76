"""Pure loss functions (shapes and paper equations in each docstring)."""

from xmodal.losses.alignment import cross_modal_attention, domain_alignment_loss, refine, refine_weights
from xmodal.losses.contrastive import info_nce
from xmodal.losses.distillation import (
    ema_momentum,
    kd_cross_entropy,
    kl_teacher_student,
    teacher_entropy,
    teacher_temperature,
    update_center,
)
from xmodal.losses.mmd import mmd_loss
from xmodal.losses.reconstruction import masked_mse

__all__ = [
    "cross_modal_attention",
    "domain_alignment_loss",
    "ema_momentum",
    "info_nce",
    "kd_cross_entropy",
    "kl_teacher_student",
    "masked_mse",
    "mmd_loss",
    "refine",
    "refine_weights",
    "teacher_entropy",
    "teacher_temperature",
    "update_center",
]
