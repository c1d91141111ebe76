"""Typed configuration of XKD pretraining (XKD §3–§4.1, Tables S3–S5, S8).

Defaults are the paper's Kinetics-400 recipe (``configs/xkd/kinetics400.yaml`` spells every one out). Where the
paper is silent they follow the official code (pritamqu/XKD); where the two differ, both are reachable through a
switch and the default follows the paper's text. docs/methods/xkd.md lists every design point in one table.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Literal

from xmodal.config import ConfigError
from xmodal.data.features import LogMelConfig
from xmodal.data.views import XKDViewsConfig
from xmodal.methods.source_config import ClipSourceConfig
from xmodal.models.vit import SIZES
from xmodal.training.monitor import MonitorConfig
from xmodal.training.optim import OptimConfig
from xmodal.training.trainer import TrainerConfig

Objective = Literal["xkd", "vmae", "amae", "avmae"]
MODALITIES: dict[str, tuple[str, ...]] = {
    "xkd": ("video", "audio"), "avmae": ("video", "audio"), "vmae": ("video",), "amae": ("audio",)
}
TRIM_TOLERANCE = 0.10
"""Largest share of a view that may fall outside whole patches (trailing frames/rows are dropped before the
patch embedding); more than this is a geometry mistake, not a rounding detail."""


@dataclass
class BackboneConfig:
    """A ViT: a named size (S/B/L, Table S3) or ``custom`` with explicit dim/depth/heads (tiny CPU configs)."""

    size: Literal["small", "base", "large", "custom"] = "base"
    dim: int = 768
    depth: int = 12
    heads: int = 12
    drop_path: float = 0.0

    def validate(self) -> None:
        if self.size == "custom" and self.dim % self.heads:
            raise ConfigError(f"dim: {self.dim} is not divisible by heads={self.heads}")


def backbone_dims(cfg: BackboneConfig) -> tuple[int, int, int]:
    """``(dim, depth, heads)`` the ViT is built with: a named size's Table S3 numbers (its ``dim/depth/heads``
    keys are then ignored), else the explicit keys. Validation compares these, never the raw keys."""
    return SIZES.get(cfg.size, (cfg.dim, cfg.depth, cfg.heads))


@dataclass
class XKDModelConfig:
    video: BackboneConfig = field(default_factory=BackboneConfig)
    audio: BackboneConfig = field(default_factory=BackboneConfig)
    video_patch: tuple[int, int, int] = (4, 16, 16)
    audio_patch: tuple[int, int] = (4, 16)
    video_mask_ratio: float = 0.85
    audio_mask_ratio: float = 0.80
    decoder_dim: int = 384
    decoder_depth: int = 4
    decoder_heads: int = 12
    norm_pix: bool = True
    proj_hidden: int = 2048
    proj_bottleneck: int = 256
    proj_out: int = 8192
    proj_norm: Literal["bn", "ln", "none"] = "ln"
    proj_norm_shared: bool = True
    proj_out_norm: bool = True
    variant: Literal["xkd", "mas", "mats"] = "xkd"
    qkv_bias: bool = False
    init: Literal["xavier", "trunc_normal"] = "xavier"
    ln_eps: float = 1e-5
    decoder_norm: bool = False
    mask_rounding: Literal["round", "floor"] = "round"
    grad_checkpointing: bool = False

    def validate(self) -> None:
        for name in ("video_mask_ratio", "audio_mask_ratio"):
            if not 0.0 <= getattr(self, name) < 1.0:
                raise ConfigError(f"{name}: must be in [0, 1)")
        for name in ("video_patch", "audio_patch"):
            if min(getattr(self, name)) < 1:
                raise ConfigError(f"{name}: patch sizes must be positive, got {list(getattr(self, name))}")
        video, audio = backbone_dims(self.video), backbone_dims(self.audio)
        if self.variant != "xkd" and video != audio:
            raise ConfigError(
                f"variant: {self.variant} shares one trunk between the modalities, but model.video "
                f"(size={self.video.size}) resolves to dim/depth/heads {video} and model.audio "
                f"(size={self.audio.size}) to {audio}; set model.audio.size (and dim/depth/heads if custom) to match"
            )


@dataclass
class XKDLossConfig:
    """Loss switches: the objective (XKD or the MAE baselines of Table 1) and the Tables 3–4/S14 ablations."""

    objective: Objective = "xkd"
    use_da: bool = True
    use_kd: bool = True
    use_refine: bool = True
    refine_attention: Literal["mean", "softmax"] = "mean"
    refine_cls: bool = True
    refine_omega: Literal["paper", "sqrt", "official"] = "official"
    teacher_view: Literal["global", "local"] = "global"
    da_mode: Literal["da", "da1", "da2", "student", "teacher"] = "da"
    mmd_estimator: Literal["biased", "unbiased"] = "biased"
    mmd_kernel: Literal["gaussian", "gaussian_gamma"] = "gaussian"
    mmd_bandwidths: list[float] | Literal["median"] = field(
        default_factory=lambda: [1e-3, 1e-2, 1e-1, 1.0, 1e1, 1e2, 1e3]
    )
    mmd_gather: bool = False
    lambda_ae: float = 5.0
    lambda_da: float = 1.0
    lambda_kd: float = 1.0
    kd_a2v_weight: float = 1.0
    kd_v2a_weight: float = 1.0
    normalize_weights: bool = False
    student_temp: float = 0.1
    video_teacher_temp: tuple[float, float] = (0.1, 0.1)
    audio_teacher_temp: tuple[float, float] = (0.07, 0.07)
    teacher_temp_epochs: float = -1.0
    center_momentum: float = 0.9
    ema_base: float = 0.997
    ema_final: float = 1.0
    monitor_every: int = 50

    def validate(self) -> None:
        if self.student_temp <= 0:
            raise ConfigError("student_temp: must be positive")
        for name in ("video_teacher_temp", "audio_teacher_temp"):
            if min(getattr(self, name)) <= 0:
                raise ConfigError(f"{name}: temperatures must be positive")
        if not 0.0 <= self.center_momentum < 1.0:
            raise ConfigError("center_momentum: must be in [0, 1)")
        if self.monitor_every < 0:
            raise ConfigError("monitor_every: must be >= 0 (0 turns the collapse check off)")


@dataclass
class DataConfig(ClipSourceConfig):
    """Where clips come from (:class:`ClipSourceConfig`) and the XKD views cut from them. ``augment_on=device``
    has the loader workers only decode (and draw the views' random choices) and builds the views batched on the
    accelerator after the batch is transferred (:mod:`xmodal.data.device_views`; same views for the same seeds)."""

    decode_size: int = 112
    views: XKDViewsConfig = field(default_factory=XKDViewsConfig)
    allow_unnormalized_audio: bool = False
    augment_on: Literal["cpu", "device"] = "cpu"

    def validate(self) -> None:
        if self.augment_on not in ("cpu", "device"):
            raise ConfigError(f"augment_on: {self.augment_on!r} is not one of cpu, device")
        global_seconds = self.views.video_global.frames / self.views.fps
        if global_seconds > self.clip_seconds + 1e-6:
            raise ConfigError(f"views: global video view of {global_seconds}s > clip_seconds={self.clip_seconds}")
        super().validate()


@dataclass
class PretrainConfig:
    method: Literal["xkd"] = "xkd"
    out_dir: str = "runs/xkd"
    model: XKDModelConfig = field(default_factory=XKDModelConfig)
    loss: XKDLossConfig = field(default_factory=XKDLossConfig)
    data: DataConfig = field(default_factory=DataConfig)
    optim: OptimConfig = field(
        default_factory=lambda: OptimConfig(
            lr=1e-4, lr_scaling="linear", ref_batch=256, weight_decay=0.3, betas=(0.9, 0.95), warmup_epochs=30,
            grad_clip=0.3, grad_clip_mode="per_tensor", decay_tokens=True,
        )
    )
    trainer: TrainerConfig = field(default_factory=lambda: TrainerConfig(max_epochs=800, batch_size=32))
    monitor: MonitorConfig = field(default_factory=MonitorConfig)

    def validate(self) -> None:
        """Reject a view geometry that would lose more than :data:`TRIM_TOLERANCE` of a used view to patch
        trimming (or that is smaller than one patch): such a run starts, then trains on a fraction of its input.
        Reject unnormalized log-mels (mean 0 / std 1, the front-end's neutral default) unless the user opts in:
        the official code always standardises, and the local view's crop pads with 0 as "the mean"."""
        for view, shape in view_shapes(self).items():
            used = view.split("_")[0] in MODALITIES[self.loss.objective]
            if used and dropped_fraction(shape, view_patch(self, view)) > TRIM_TOLERANCE:
                raise ConfigError(trim_message(self, view, shape))
        views = self.data.views
        if self.loss.teacher_view == "local" and min(views.num_video_local, views.num_audio_local) < 1:
            raise ConfigError("loss.teacher_view: local feeds the teachers the first local view of each modality; "
                              "set data.views.num_video_local and num_audio_local to at least 1")
        mel = self.data.views.logmel
        raw_audio = "audio" in MODALITIES[self.loss.objective] and (mel.mean, mel.std) == (0.0, 1.0)
        if raw_audio and not self.data.allow_unnormalized_audio:
            raise ConfigError(
                "data.views.logmel: mean 0 / std 1 would feed unnormalized log-mels to the audio encoder (and "
                "fill the local crop's canvas with log-mel 0, not the dataset mean); set mean/std to the "
                "dataset's (xmodal data stats) or the official Kinetics-400 values (mean: -5.3688107, "
                "std: 4.410007), or set data.allow_unnormalized_audio=true"
            )


def view_patch(cfg: PretrainConfig, view: str) -> tuple[int, ...]:
    return cfg.model.video_patch if view.startswith("video") else cfg.model.audio_patch


def view_shapes(cfg: PretrainConfig) -> dict[str, tuple[int, ...]]:
    """Input size of every view as the loader delivers it: video ``(frames, height, width)``, audio
    ``(mel bins, log-mel frames)``."""
    v, mel = cfg.data.views, cfg.data.views.logmel
    return {
        "video_global": (v.video_global.frames, v.video_global.size, v.video_global.size),
        "video_local": (v.video_local.frames, v.video_local.size, v.video_local.size),
        "audio_global": (mel.n_mels, _spec_frames(mel, v.audio_global.seconds)),
        "audio_local": (mel.n_mels, _spec_frames(mel, v.audio_local.seconds)),
    }


def view_grids(cfg: PretrainConfig) -> dict[str, tuple[int, ...]]:
    """Token grids of every view (whole patches only); the global ones size the positional embeddings."""
    return {
        view: tuple(d // p for d, p in zip(shape, view_patch(cfg, view), strict=True))
        for view, shape in view_shapes(cfg).items()
    }


def dropped_fraction(shape: tuple[int, ...], patch: tuple[int, ...]) -> float:
    """Share of a view's elements outside whole patches (what trimming the trailing frames/rows removes); 1 for a
    view smaller than one patch."""
    total = math.prod(shape)
    kept = math.prod(d - d % p for d, p in zip(shape, patch, strict=True))
    return 1.0 - kept / total if total else 1.0


def trim_message(cfg: PretrainConfig, view: str, shape: tuple[int, ...]) -> str:
    """One line naming the view, its size, what whole patches keep, and the keys (with values) that would fit."""
    patch = view_patch(cfg, view)
    kept = tuple(d - d % p for d, p in zip(shape, patch, strict=True))
    lost = f"{100 * dropped_fraction(shape, patch):.0f} %" if min(kept) > 0 else "all"
    fixes: list[str] = []
    if view.startswith("video"):
        frames, size = shape[0], shape[1]
        if frames % patch[0]:
            fixes.append(f"data.views.{view}.frames to {_alternatives(frames, patch[0])}")
        if size % math.lcm(*patch[1:]):
            fixes.append(f"data.views.{view}.size to {_alternatives(size, math.lcm(*patch[1:]))}")
        fixes.append("model.video_patch")
    else:
        mel = cfg.data.views.logmel
        if shape[0] % patch[0]:
            fixes.append(f"data.views.logmel.n_mels to {_alternatives(shape[0], patch[0])}")
        if shape[1] % patch[1]:
            options = [f"{_seconds_for(mel, f):g} ({f} frames)" for f in _whole(shape[1], patch[1])]
            fixes.append(f"data.views.{view}.seconds to {' or '.join(options)}")
        fixes.append("data.views.logmel.hop_length or model.audio_patch")
    return (
        f"data.views.{view}: the {_fmt(shape)} view fills whole {_fmt(patch)} patches only up to {_fmt(kept)}, so "
        f"{lost} of it would be dropped every step; change {', or '.join(fixes)}"
    )


def _fmt(shape: tuple[int, ...]) -> str:
    return "×".join(map(str, shape))


def _whole(d: int, p: int) -> list[int]:
    """The whole-patch sizes next to ``d``: the one below (when it is not empty) and the one above."""
    below = d - d % p
    return [below, below + p] if below else [below + p]


def _alternatives(d: int, p: int) -> str:
    return " or ".join(map(str, _whole(d, p)))


def _spec_frames(mel: LogMelConfig, seconds: float) -> int:
    return mel.num_frames(round(seconds * mel.sample_rate))


def _seconds_for(mel: LogMelConfig, frames: int) -> float:
    """Shortest duration, in ms steps, whose log-mel has exactly ``frames`` frames (``1 + N // hop``)."""
    return math.ceil((frames - 1) * mel.hop_length / mel.sample_rate * 1000) / 1000
