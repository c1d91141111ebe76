"""Fine-tuning hyperparameters as typed presets: XKD §A.6 Tables S6 (video) and S7 (audio), MAViL
App. B Table 10. Augmentation fields (RandAugment, SpecAugment, volume jitter, time warp) are read by the data
pipeline that builds the training loader; the optimisation fields are read by :mod:`xmodal.eval.finetune`.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any, Literal


@dataclass(frozen=True)
class FinetuneConfig:
    source: str
    modalities: tuple[str, ...] = ("video",)
    epochs: int = 100
    batch_size: int = 96
    lr: float = 5e-4
    min_lr: float = 1e-6
    warmup_epochs: float = 5
    schedule: Literal["cosine", "fixed"] = "cosine"
    weight_decay: float = 0.05
    betas: tuple[float, float] = (0.9, 0.999)
    layer_decay: float = 0.75
    label_smoothing: float = 0.0
    mixup_alpha: float = 0.0
    cutmix_alpha: float = 0.0
    dropout: float = 0.0
    drop_path: float = 0.0
    loss: Literal["ce", "bce"] = "ce"
    multilabel: bool = False
    weighted_sampling: bool = False
    weighted_sampling_size: int | None = None
    test_clips: int = 3
    clip_aggregation: Literal["softmax_mean", "feature_mean"] = "softmax_mean"
    early_stop: bool = False
    modality_lr_scale: tuple[tuple[str, float], ...] = ()
    randaug: tuple[int, float] | None = None
    specaug_time_freq: tuple[int, int] | None = None
    specaug_masks: int = 0
    volume_jitter: float = 0.0
    timewarp_window: int = 0


_S6 = FinetuneConfig(source="xkd Table S6", epochs=100, batch_size=96, betas=(0.9, 0.999), min_lr=1e-6,
                     weight_decay=0.05, randaug=(9, 0.05), label_smoothing=0.1, drop_path=0.0, dropout=0.5,
                     test_clips=3)
_S7 = FinetuneConfig(source="xkd Table S7", modalities=("audio",), batch_size=64, betas=(0.9, 0.999),
                     volume_jitter=0.2, specaug_time_freq=(20, 10), specaug_masks=2, timewarp_window=20,
                     drop_path=0.0, layer_decay=0.65)
_T10 = FinetuneConfig(source="mavil Table 10", modalities=("audio",), betas=(0.9, 0.95), weight_decay=1e-5,
                      min_lr=1e-6, drop_path=0.1, layer_decay=0.75)

PRESETS: dict[str, FinetuneConfig] = {
    "xkd-kinetics400": replace(_S6, warmup_epochs=30, lr=5e-4, mixup_alpha=0.6, cutmix_alpha=0.5, layer_decay=0.45),
    "xkd-ucf101": replace(_S6, warmup_epochs=5, lr=5e-4, mixup_alpha=0.6, cutmix_alpha=0.5, layer_decay=0.45),
    "xkd-hmdb51": replace(_S6, warmup_epochs=20, lr=1e-4, mixup_alpha=1.0, cutmix_alpha=1.0, layer_decay=0.55),
    "xkd-esc50": replace(_S7, epochs=100, schedule="cosine", warmup_epochs=10, lr=1e-4, min_lr=0.0,
                         weight_decay=0.005, dropout=0.5, loss="ce", test_clips=3),
    "xkd-fsd50k": replace(_S7, epochs=30, schedule="fixed", warmup_epochs=0, lr=1e-4, min_lr=1e-4,
                          weight_decay=1e-5, dropout=0.3, loss="bce", multilabel=True, early_stop=True,
                          test_clips=8),
    "mavil-as2m": replace(_T10, lr=2e-4, warmup_epochs=20, epochs=100, batch_size=512, weighted_sampling=True,
                          weighted_sampling_size=200_000, specaug_time_freq=(192, 48), mixup_alpha=0.5,
                          multilabel=True, loss="bce"),
    "mavil-as20k": replace(_T10, lr=1e-3, warmup_epochs=4, epochs=60, batch_size=64,
                           specaug_time_freq=(192, 48), mixup_alpha=0.5, multilabel=True, loss="bce"),
    "mavil-vggsound": replace(_T10, lr=2e-4, warmup_epochs=4, epochs=60, batch_size=256, weighted_sampling=True,
                              weighted_sampling_size=200_000, specaug_time_freq=(192, 48), mixup_alpha=0.5,
                              loss="bce"),
    "mavil-esc": replace(_T10, lr=1e-3, warmup_epochs=4, epochs=60, batch_size=64, specaug_time_freq=(96, 24),
                         loss="ce"),
    "mavil-spc": replace(_T10, lr=1e-3, warmup_epochs=1, epochs=10, batch_size=256, specaug_time_freq=(48, 48),
                         mixup_alpha=0.5, loss="bce"),
}
# MAViL's audio+video fusion fine-tuning halves the LR of the video encoder (MAViL §4 / App. B).
PRESETS["mavil-as20k-av"] = replace(PRESETS["mavil-as20k"], modalities=("audio", "video"),
                                    modality_lr_scale=(("video", 0.5),))


def finetune_preset(name: str, **overrides: Any) -> FinetuneConfig:
    if name not in PRESETS:
        raise KeyError(f"unknown fine-tuning preset {name!r}; known: {sorted(PRESETS)}")
    return replace(PRESETS[name], **overrides)
