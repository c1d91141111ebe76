"""C²KD proxies: small classifiers on an intermediate layer of the teacher and of the student (paper Eq. 5).

A proxy is global pooling → feature adaptation (1×1 conv → BN → activation) → linear classifier, attached to a
layer through :class:`xmodal.models.taps.FeatureTaps`, so no backbone is edited. Channel counts are read from the
tapped layer on an example input (:func:`tap_channels`); the class count comes from the dataset.

After global pooling the map is 1×1, where a 1×1 convolution *is* a linear map without bias and a 2-d BatchNorm
over (B, C, 1, 1) *is* a 1-d BatchNorm over (B, C); the proxy uses the linear forms so one module serves 2-D
(spectrogram, frame) and 3-D (clip) maps alike. The official code (``Tea``/``Stu`` in ``utils/module.py``) pools
first as well.

Variants (C²KD App. D.2, Table 2): ``"fa"`` Conv-BN-act (the paper's proxy), ``"none"`` without the adaptation
layer (w/o FA: pooled feature → linear), ``"cfa"`` Conv-BN-Conv-BN-act (w/ CFA). Activation: ``"relu"`` as the
paper writes (App. D.2 'Conv-BN-ReLU'), ``"leaky_relu"`` (slope 0.1) as the official code has it.
"""

from __future__ import annotations

from typing import Literal

import torch
from torch import nn

from xmodal.models.taps import FeatureTaps

ProxyVariant = Literal["fa", "none", "cfa"]
ProxyActivation = Literal["relu", "leaky_relu"]


def _activation(kind: ProxyActivation) -> nn.Module:
    if kind == "relu":
        return nn.ReLU(inplace=True)
    if kind == "leaky_relu":
        return nn.LeakyReLU(0.1, inplace=True)
    raise ValueError(f"proxy activation must be 'relu' or 'leaky_relu', got {kind!r}")


class Proxy(nn.Module):
    """Pool a (B, C, ...) feature map to (B, C), adapt it, classify into ``num_classes``."""

    def __init__(self, channels: int, num_classes: int, variant: ProxyVariant = "fa",
                 activation: ProxyActivation = "relu") -> None:
        super().__init__()
        if variant not in ("fa", "none", "cfa"):
            raise ValueError(f"proxy variant must be 'fa', 'none' or 'cfa', got {variant!r}")
        layers: list[nn.Module] = []
        if variant == "cfa":
            layers += [nn.Linear(channels, channels, bias=False), nn.BatchNorm1d(channels)]
        if variant in ("fa", "cfa"):
            layers += [nn.Linear(channels, channels, bias=False), nn.BatchNorm1d(channels), _activation(activation)]
        self.adapt = nn.Sequential(*layers)
        self.fc = nn.Linear(channels, num_classes)
        for m in self.adapt.modules():  # the official proxies' init: Kaiming (fan_out, ReLU) convs, BN (1, 0)
            if isinstance(m, nn.Linear):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            elif isinstance(m, nn.BatchNorm1d):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)

    def forward(self, feat: torch.Tensor) -> torch.Tensor:
        pooled = feat.flatten(2).mean(-1) if feat.ndim > 2 else feat
        return self.fc(self.adapt(pooled))


@torch.no_grad()
def tap_channels(model: nn.Module, layer: str, example: torch.Tensor) -> int:
    """Channels (dim 1) of ``layer``'s output on ``example``; the model is run in eval mode so BatchNorm running
    statistics are not touched, and its mode is restored."""
    was_training = model.training
    model.eval()
    try:
        with FeatureTaps(model, [layer]) as taps:
            model(example)
            return int(taps.features[layer].shape[1])
    finally:
        model.train(was_training)
