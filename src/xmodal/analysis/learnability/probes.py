"""The probes of the learnability table: backbones, supervised training, linear probes, hand-crafted features.

Backbones are built per modality: the *tiny ViT* is the backbone of the tiny pretraining config
(``xkd/synthetic_tiny``: dim/depth/heads and patch sizes read from the YAML, mean-pooled patch tokens, the
features XKD's linear evaluation uses), the *small CNN* is the three conv–BN–ReLU–pool blocks of
:class:`xmodal.models.cnn.SmallCNN` (3D for video, 2D for log-mel) with global average pooling. A supervised
model is one encoder per input modality, the pooled features concatenated, and one linear layer: audio+video is
this late fusion, trained end to end.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from torch import nn

from xmodal.config import load_config
from xmodal.configs import config_path
from xmodal.methods.xkd import backbone_dims
from xmodal.methods.xkd_config import PretrainConfig
from xmodal.models.cnn import SmallCNN
from xmodal.models.embed import CuboidEmbed, PatchEmbed2d
from xmodal.models.vit import VisionTransformer

BACKBONES = ("vit", "cnn")


@dataclass(frozen=True)
class TrainConfig:
    """AdamW with a cosine schedule, batch 32; the test accuracy after the last epoch is reported (no selection
    on the test split). The ViT gets the transformer recipe (lr 1e-3, weight decay 0.05), the CNN a higher lr."""

    epochs: int = 8
    batch_size: int = 32
    vit_lr: float = 1e-3
    vit_weight_decay: float = 0.05
    cnn_lr: float = 3e-3
    cnn_weight_decay: float = 1e-4
    cnn_widths: tuple[int, int, int] = (8, 16, 32)
    tiny_config: str = "xkd/synthetic_tiny"


class CNNEncoder(nn.Module):
    """SmallCNN's conv trunk + global average pooling: ``features(x) -> (B, widths[-1])``."""

    def __init__(self, in_channels: int, dims: int, widths: tuple[int, int, int]) -> None:
        super().__init__()
        net = SmallCNN(in_channels, 2, dims=dims, widths=widths)  # type: ignore[arg-type]
        self.trunk = nn.Sequential(net.block1, net.block2, net.block3, net.gap, nn.Flatten())
        self.dim = widths[-1]

    def features(self, x: torch.Tensor) -> torch.Tensor:
        return self.trunk(x)


class ViTEncoder(nn.Module):
    """A ViT that first trims its input to whole patches (a 1 s log-mel of 28 frames keeps 16 for 8×16 patches),
    as XKD trims its views."""

    def __init__(self, vit: VisionTransformer, grid: tuple[int, ...], patch: tuple[int, ...]) -> None:
        super().__init__()
        self.vit = vit
        self.keep = tuple(g * p for g, p in zip(grid, patch, strict=True))
        self.dim = vit.embed_dim

    def features(self, x: torch.Tensor) -> torch.Tensor:
        index = (slice(None), slice(None), *(slice(0, k) for k in self.keep))
        return self.vit.features(x[index])


def tiny_vit(modality: str, shape: tuple[int, ...], cfg: TrainConfig) -> ViTEncoder:
    """The tiny pretraining config's backbone for an input of ``shape`` (C, ...); the token grid follows the input."""
    model = load_config(PretrainConfig, config_path(cfg.tiny_config)).model
    dim, depth, heads = backbone_dims(model.video if modality == "video" else model.audio)
    patch = tuple(model.video_patch if modality == "video" else model.audio_patch)
    grid = tuple(s // p for s, p in zip(shape[1:], patch, strict=True))
    if min(grid) < 1:
        raise ValueError(f"{modality} input {tuple(shape[1:])} is smaller than the tiny ViT's patch {patch}")
    embed = CuboidEmbed(shape[0], patch, dim) if modality == "video" else PatchEmbed2d(shape[0], patch, dim)
    return ViTEncoder(VisionTransformer(embed, dim, depth, heads, grid=grid), grid, patch)


def build_encoder(backbone: str, modality: str, shape: tuple[int, ...], cfg: TrainConfig) -> nn.Module:
    if backbone == "vit":
        return tiny_vit(modality, shape, cfg)
    if backbone == "cnn":
        return CNNEncoder(shape[0], 3 if modality == "video" else 2, cfg.cnn_widths)
    raise ValueError(f"backbone must be one of {BACKBONES}, got {backbone!r}")


def feature_dim(encoder: nn.Module) -> int:
    return int(encoder.dim)  # type: ignore[arg-type]


class LateFusion(nn.Module):
    """One encoder per modality, pooled features concatenated, a linear classifier."""

    def __init__(self, encoders: dict[str, nn.Module], num_classes: int) -> None:
        super().__init__()
        self.encoders = nn.ModuleDict(encoders)
        self.head = nn.Linear(sum(feature_dim(e) for e in encoders.values()), num_classes)

    def forward(self, inputs: dict[str, torch.Tensor]) -> torch.Tensor:
        return self.head(torch.cat([enc.features(inputs[m]) for m, enc in self.encoders.items()], 1))


def train_supervised(model: LateFusion, x: dict[str, torch.Tensor], y: torch.Tensor, backbone: str,
                     cfg: TrainConfig, seed: int) -> None:
    """Train ``model`` in place on ``(x, y)``; batch order and initialisation depend only on ``seed``."""
    lr, wd = (cfg.vit_lr, cfg.vit_weight_decay) if backbone == "vit" else (cfg.cnn_lr, cfg.cnn_weight_decay)
    opt = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=wd)
    steps = cfg.epochs * math.ceil(len(y) / cfg.batch_size)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=lr, total_steps=steps, pct_start=0.1)
    gen = torch.Generator().manual_seed(seed)
    model.train()
    for _ in range(cfg.epochs):
        for idx in torch.randperm(len(y), generator=gen).split(cfg.batch_size):
            loss = nn.functional.cross_entropy(model({m: v[idx] for m, v in x.items()}), y[idx])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()


@torch.no_grad()
def predict(model: LateFusion, x: dict[str, torch.Tensor]) -> torch.Tensor:
    model.eval()
    n = len(next(iter(x.values())))
    chunks = [model({m: v[i:i + 256] for m, v in x.items()}).argmax(1) for i in range(0, n, 256)]
    return torch.cat(chunks)


@torch.no_grad()
def encode(encoder: nn.Module, x: torch.Tensor) -> np.ndarray:
    """Pooled features of an eval-mode encoder, in chunks of 256 clips."""
    encoder.eval()
    return torch.cat([encoder.features(x[i:i + 256]) for i in range(0, len(x), 256)]).numpy()


def linear_probe(train: np.ndarray, y_train: np.ndarray, test: np.ndarray, y_test: np.ndarray) -> float:
    """Test accuracy (%) of standardised multinomial logistic regression (L2, C = 1, lbfgs: deterministic)."""
    clf = make_pipeline(StandardScaler(), LogisticRegression(C=1.0, max_iter=2000))
    clf.fit(train, y_train)
    return 100.0 * float(clf.score(test, y_test))


def handcrafted(modality: str, x: torch.Tensor) -> np.ndarray:
    """Simple features a linear model reads: video = every frame average-pooled to 8×8 (RGB); audio = per mel band
    mean and standard deviation over time (a time-pooled log-mel spectrum and its variability)."""
    if modality == "video":
        n, c, t, h, w = x.shape
        pooled = nn.functional.adaptive_avg_pool2d(x.transpose(1, 2).reshape(n * t, c, h, w), 8)
        return pooled.reshape(n, -1).numpy()
    spec = x[:, 0]
    return torch.cat([spec.mean(-1), spec.std(-1)], 1).numpy()
