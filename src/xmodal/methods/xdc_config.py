"""Typed configuration of XDC and its deep-clustering family (Alwassel et al., NeurIPS 2020, arXiv 1911.12667).

Defaults are the appendix's Kinetics recipe (Table 2, "All DCs / Kinetics": batch 32, base lr 0.01, warm-up /
step / total epochs 10 / 10 / 30 per iteration, γ = 0.01, weight decay 1e-4, early stop) with R(2+1)D-18 and a 2-D
ResNet-18 on log-mel. What the appendix leaves open is a key here; docs/methods/xdc.md lists each with our choice.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from xmodal.config import ConfigError
from xmodal.data.features import LogMelConfig
from xmodal.methods.source_config import ClipSourceConfig
from xmodal.methods.xdc_cluster import ROUTES, KMeansConfig
from xmodal.training.monitor import MonitorConfig
from xmodal.training.optim import OptimConfig
from xmodal.training.trainer import TrainerConfig


@dataclass
class XDCModelConfig:
    """Encoders: video R(2+1)D-18 (``r3d``: ResNet3D-18, appendix §D), audio 2-D ResNet-18 on log-mel.
    ``layers`` / ``widths`` other than 2-2-2-2 / 64–512 are only for CPU-sized runs."""

    video_arch: Literal["r2plus1d", "r3d"] = "r2plus1d"
    video_layers: tuple[int, int, int, int] = (2, 2, 2, 2)
    audio_layers: tuple[int, int, int, int] = (2, 2, 2, 2)
    widths: tuple[int, int, int, int] = (64, 128, 256, 512)


@dataclass
class XDCClusterConfig:
    """The iteration: variant, k per label source, k-means recipe, early stopping, schedule per iteration.

    ``epochs`` / ``warmup_epochs`` / ``step_epochs`` are Table 2's te / we / se, restarted at every iteration
    (the heads are reset and the task changes); ``patience`` is Table 1's e-stop (3 increases in a row) on the
    ``holdout`` fraction of clips, which are pseudo-labelled but never trained on. ``init=handcrafted`` clusters
    frame / spectrogram statistics in the first iteration instead of random-encoder features (appendix §A).
    ``uniform_over`` draws every pseudo-class of that source equally often (DeepCluster; ``none``: plain shuffle).
    """

    variant: Literal["xdc", "sdc", "mdc", "cdc"] = "xdc"
    modalities: tuple[str, ...] = ("video", "audio")
    k_video: int = 64
    k_audio: int = 128
    k_joint: int = 128
    iterations: int = 3
    epochs: int = 30
    warmup_epochs: int = 10
    step_epochs: int = 10
    gamma: float = 0.01
    early_stop: bool = True
    patience: int = 3
    holdout: float = 0.05
    init: Literal["random", "handcrafted"] = "random"
    uniform_over: Literal["none", "video", "audio", "joint"] = "none"
    extract_batch_size: int = 64
    kmeans: KMeansConfig = field(default_factory=KMeansConfig)

    def k(self, source: str) -> int:
        return {"video": self.k_video, "audio": self.k_audio, "joint": self.k_joint}[source]

    def validate(self) -> None:
        if self.variant not in ROUTES:
            raise ConfigError(f"variant: {self.variant!r} is not one of {sorted(ROUTES)}")
        if not self.modalities or set(self.modalities) - {"video", "audio"}:
            raise ConfigError(f"modalities: {list(self.modalities)} must be a subset of [video, audio]")
        if self.variant != "sdc" and len(set(self.modalities)) != 2:
            raise ConfigError(f"modalities: variant {self.variant} needs both video and audio")
        if min(self.k_video, self.k_audio, self.k_joint) < 2:
            raise ConfigError("k_video/k_audio/k_joint: need at least 2 clusters")
        if self.iterations < 1 or self.epochs < 1:
            raise ConfigError("iterations / epochs: must be >= 1")
        if not 0.0 < self.holdout < 1.0:
            raise ConfigError("holdout: the held-out fraction for early stopping must be in (0, 1)")
        if self.step_epochs < 1 or not 0.0 < self.gamma <= 1.0:
            raise ConfigError("step_epochs must be >= 1 and gamma in (0, 1]")


@dataclass
class XDCClipsConfig:
    """Training and clustering inputs: ``frames`` at ``fps`` of ``size``² (random multi-scale crop and flip for
    training, centre crop for feature extraction) and ``audio_seconds`` of log-mel."""

    fps: float = 8.0
    frames: int = 8
    size: int = 112
    crop_scale: tuple[float, float] = (0.2, 1.0)
    flip_p: float = 0.5
    audio_seconds: float = 2.0
    logmel: LogMelConfig = field(default_factory=lambda: LogMelConfig(n_mels=40, hop_length=320))


@dataclass
class XDCDataConfig(ClipSourceConfig):
    """Where clips come from and the XDC clips cut from them."""

    clip_seconds: float = 2.0
    clips: XDCClipsConfig = field(default_factory=XDCClipsConfig)


@dataclass
class XDCConfig:
    method: Literal["xdc"] = "xdc"
    out_dir: str = "runs/xdc"
    model: XDCModelConfig = field(default_factory=XDCModelConfig)
    cluster: XDCClusterConfig = field(default_factory=XDCClusterConfig)
    data: XDCDataConfig = field(default_factory=XDCDataConfig)
    optim: OptimConfig = field(
        default_factory=lambda: OptimConfig(optimizer="sgd", lr=0.01, lr_scaling="none", weight_decay=1e-4,
                                            momentum=0.9)
    )
    trainer: TrainerConfig = field(default_factory=lambda: TrainerConfig(max_epochs=90, batch_size=32))
    monitor: MonitorConfig = field(default_factory=MonitorConfig)

    def validate(self) -> None:
        c = self.cluster
        if self.trainer.max_epochs < c.iterations:
            raise ConfigError(f"trainer.max_epochs: {self.trainer.max_epochs} cannot hold cluster.iterations="
                              f"{c.iterations} (at least one epoch each; up to iterations × cluster.epochs)")
        if c.uniform_over != "none" and c.uniform_over not in {s for e in c.modalities
                                                               for s in ROUTES[c.variant][e]}:
            raise ConfigError(f"cluster.uniform_over: {c.uniform_over!r} is not a label source of {c.variant}")
