"""Typed configuration of MAViL pretraining (MAViL §3, §4.2, App. B, Table 10).

Defaults are the paper's AudioSet-2M recipe for stage 1 with ViT-B encoders. Stage 2 sets ``loss.stage=2`` and
``loss.teacher`` (a stage-1 checkpoint or export). Every choice the paper leaves open is a key here, with the
paper's value (or, where it is silent, the released code's) as default; docs/methods/mavil.md lists them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from xmodal.config import ConfigError
from xmodal.data.views import MAViLClipsConfig
from xmodal.methods.source_config import ClipSourceConfig
from xmodal.models.masking import num_visible
from xmodal.training.monitor import MonitorConfig
from xmodal.training.optim import OptimConfig
from xmodal.training.trainer import TrainerConfig

Target = Literal["fusion", "uni", "raw"]


@dataclass
class MAViLModelConfig:
    """Encoders (App. B: ViT-B 768/12/12 per modality), fusion (§3.1, Table 2), decoders (8 × 512-d, 16 heads),
    masking (Table 1: 80 % for both modalities)."""

    dim: int = 768
    depth: int = 12
    heads: int = 12
    drop_path: float = 0.0
    audio_patch: tuple[int, int] = (16, 16)
    video_patch: tuple[int, int, int] = (2, 16, 16)
    fusion: Literal["vanilla", "mbt", "none"] = "vanilla"
    fusion_depth: int = 2
    bottleneck: int = 4
    encoder_norm: bool = False
    decoder_dim: int = 512
    decoder_depth: int = 8
    decoder_heads: int = 16
    audio_mask_ratio: float = 0.8
    video_mask_ratio: float = 0.8
    visible_rounding: Literal["round", "floor"] = "round"
    norm_pix: bool = False
    grad_checkpointing: bool = False

    def validate(self) -> None:
        if self.dim % self.heads or self.decoder_dim % self.decoder_heads:
            raise ConfigError("dim: widths must be divisible by their head counts")
        if self.dim % 16:
            raise ConfigError(f"dim: {self.dim} must be divisible by 16 (3-D sin-cos: ¼ temporal, ¾ spatial)")
        for name in ("audio_mask_ratio", "video_mask_ratio"):
            if not 0.5 <= getattr(self, name) < 1.0:
                raise ConfigError(f"{name}: must be in [0.5, 1) so that two disjoint views fit (intra-modal term)")


@dataclass
class MAViLLossConfig:
    """Eq. 4 (stage 1) / Eq. 6 (stage 2): reconstruction + α·L_inter + β·L_intra.

    ``target`` is Table 4's choice for stage 2 (teacher fusion outputs, teacher uni-modal encoder outputs, or raw
    patches); ``variant="ema"`` is the one-stage EMA-teacher variant of App. B that the paper tried and rejected.
    """

    stage: Literal[1, 2] = 1
    teacher: str = ""
    target: Target = "fusion"
    recon_tokens: Literal["masked", "all"] = "masked"
    target_norm: bool = True
    variant: Literal["two_stage", "ema"] = "two_stage"
    ema_base: float = 0.999
    ema_final: float = 1.0
    alpha: float = 0.1
    beta: float = 0.01
    tau_inter: float = 0.1
    tau_intra: float = 1.0
    use_inter: bool = True
    use_intra: bool = True
    symmetric: bool = False

    def validate(self) -> None:
        if min(self.tau_inter, self.tau_intra) <= 0:
            raise ConfigError("tau_inter: temperatures must be positive")
        if self.stage == 2 and self.target != "raw" and not self.teacher:
            raise ConfigError("teacher: stage 2 with feature targets needs the stage-1 checkpoint "
                              "(<run>/checkpoints/last.ckpt or <run>/export/encoder)")
        if self.variant == "ema" and self.stage != 1:
            raise ConfigError("variant: the one-stage EMA variant replaces stage 2; set loss.stage=1")
        if not 0.0 <= self.ema_base <= self.ema_final <= 1.0:
            raise ConfigError("ema_base: need 0 <= ema_base <= ema_final <= 1")


@dataclass
class MAViLDataConfig(ClipSourceConfig):
    """Where clips come from and the MAViL inputs cut from them (App. B: 10 s audio, 4 s of 8 frames at 2 fps)."""

    clip_seconds: float = 10.0
    decode_size: int = 256
    clips: MAViLClipsConfig = field(default_factory=MAViLClipsConfig)

    def validate(self) -> None:
        super().validate()
        if self.clips.fbank.target_length is None:
            raise ConfigError("clips.fbank.target_length: MAViL needs a fixed spectrogram length (1024 for 10 s)")


@dataclass
class MAViLConfig:
    method: Literal["mavil"] = "mavil"
    out_dir: str = "runs/mavil"
    model: MAViLModelConfig = field(default_factory=MAViLModelConfig)
    loss: MAViLLossConfig = field(default_factory=MAViLLossConfig)
    data: MAViLDataConfig = field(default_factory=MAViLDataConfig)
    optim: OptimConfig = field(
        default_factory=lambda: OptimConfig(lr=2e-4, lr_scaling="linear", ref_batch=256, weight_decay=1e-5,
                                            betas=(0.9, 0.95), warmup_epochs=4, min_lr=1e-6)
    )
    trainer: TrainerConfig = field(default_factory=lambda: TrainerConfig(max_epochs=20, batch_size=8))
    monitor: MonitorConfig = field(default_factory=MonitorConfig)

    def validate(self) -> None:
        for mod, (size, patch) in input_sizes(self).items():
            if any(s < p or s % p for s, p in zip(size, patch, strict=True)):
                key = "model.audio_patch" if mod == "audio" else "model.video_patch"
                raise ConfigError(f"{key}: {list(patch)} does not tile the {mod} input {list(size)} "
                                  "(data.clips frames/size, data.clips.fbank num_mel_bins/target_length)")


def input_sizes(cfg: MAViLConfig) -> dict[str, tuple[tuple[int, ...], tuple[int, ...]]]:
    """``{modality: (input size after the channel axis, patch)}``: audio ``(mel bins, frames)``, video
    ``(frames, size, size)``."""
    c = cfg.data.clips
    audio = (c.fbank.num_mel_bins, int(c.fbank.target_length or 0))
    return {"audio": (audio, cfg.model.audio_patch), "video": ((c.frames, c.size, c.size), cfg.model.video_patch)}


def grids(cfg: MAViLConfig) -> dict[str, tuple[int, ...]]:
    """Token grids: audio ``(F/f, T/t)``, video ``(T/t, H/h, W/w)`` (ViT-B on AudioSet: 8×64 and 4×14×14)."""
    return {mod: tuple(s // p for s, p in zip(size, patch, strict=True))
            for mod, (size, patch) in input_sizes(cfg).items()}


def visible_tokens(num_tokens: int, ratio: float, rounding: Literal["round", "floor"]) -> int:
    """Visible tokens per view. ``round`` reproduces App. B's counts (512 → 102 + CLS = 103, 784 → 157 + CLS =
    158 at 80 %); ``floor`` is MAE's ``int(N·(1 − ratio))`` (156 video tokens, as the released masking code)."""
    if rounding == "floor":
        return num_visible(num_tokens, ratio)
    return max(1, round(num_tokens * (1.0 - ratio)))
