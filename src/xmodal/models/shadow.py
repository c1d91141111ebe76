"""SHAKE's shadow head: a small trainable head on a frozen teacher's feature maps (Li & Jin, "Shadow Knowledge
Distillation: Bridging Offline and Online Knowledge Transfer", NeurIPS 2022).

The head fuses consecutive teacher levels bottom-up: ``x = f_1``; for each next level
``x = down_i(x) + lateral_i(f_i)`` with ``down_i`` a 3×3 conv–BN–ReLU that moves ``x`` to level i's channels and
spatial size (stride = the size ratio) and ``lateral_i`` a 1×1 conv–BN–LeakyReLU(0.1); then a 3×3 conv–BN–ReLU,
global average pooling and a classifier. With three levels this is the official ``Shake`` module
(``models/util.py``: ``fuse1``…``fuse5``) whose channel counts are read from the teacher; any number of levels ≥ 1
works, and a size the stride cannot reach exactly is finished by bilinear resizing (cross-modal maps are not
always powers of two).

Token maps: SHAKE was only published for CNN teachers. A BERT teacher's levels are ``(B, H, L)`` token maps (the
channels-first ``hidden.<i>`` views of :mod:`xmodal.models.text`), so the same head is built from 1-D convs — the
3×3 convs become width-3 convs over token positions, the 1×1 laterals stay position-wise — and the global average
is the masked mean over the real tokens when ``forward`` gets the attention mask (pads are zeroed before every
conv and never averaged in).

The classifier is either the teacher's own final linear layer with its weights detached (official SHAKE:
``F.linear(x, weight.detach(), bias.detach())``), passed in at call time, or the head's own ``nn.Linear`` (the
C²KD authors' ``Shake`` in ``utils/module.py`` has its own ``fc``).
"""

from __future__ import annotations

from itertools import pairwise

import torch
import torch.nn.functional as F
from torch import nn

_CONV: dict[int, tuple[type[nn.Module], type[nn.Module]]] = {1: (nn.Conv1d, nn.BatchNorm1d),
                                                             2: (nn.Conv2d, nn.BatchNorm2d)}


def _conv_bn_relu(dims: int, c_in: int, c_out: int, stride: int) -> nn.Sequential:
    conv, bn = _CONV[dims]
    return nn.Sequential(conv(c_in, c_out, 3, stride, 1, bias=False), bn(c_out), nn.ReLU(inplace=True))


def _lateral(dims: int, c: int) -> nn.Sequential:
    conv, bn = _CONV[dims]
    return nn.Sequential(conv(c, c, 1, bias=False), bn(c), nn.LeakyReLU(0.1, inplace=True))


class ShadowHead(nn.Module):
    """Fuse (B, C_i, H_i, W_i) maps — or (B, C_i, L_i) token maps — of consecutive teacher levels into logits.

    ``shapes`` are the (C, H, W) or (C, L) of each level (read from the teacher on an example batch; one rank for
    all levels); ``num_classes`` > 0 gives the head its own classifier, 0 means the caller passes the teacher's
    classifier weights to ``forward``.
    """

    def __init__(self, shapes: list[tuple[int, ...]], num_classes: int = 0) -> None:
        super().__init__()
        if not shapes:
            raise ValueError("a shadow head needs at least one feature level")
        ranks = {len(s) for s in shapes}
        if len(ranks) != 1 or not ranks <= {2, 3}:
            raise ValueError(f"shadow head levels must all be (C, H, W) maps or all (C, L) token maps, got {shapes}")
        self.dims = len(shapes[0]) - 1
        self.down = nn.ModuleList()
        self.lateral = nn.ModuleList()
        for prev, cur in pairwise(shapes):
            stride = max(1, round(prev[1] / max(cur[1], 1)))
            self.down.append(_conv_bn_relu(self.dims, prev[0], cur[0], stride))
            self.lateral.append(_lateral(self.dims, cur[0]))
        c_last = shapes[-1][0]
        self.out = _conv_bn_relu(self.dims, c_last, c_last, 1)
        self.fc = nn.Linear(c_last, num_classes) if num_classes > 0 else None
        self.out_features = c_last
        for m in self.modules():  # the official init (Kaiming fan-out for convs, BN 1/0; Linear keeps PyTorch's)
            if isinstance(m, (nn.Conv1d, nn.Conv2d)):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            elif isinstance(m, (nn.BatchNorm1d, nn.BatchNorm2d)):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)

    def forward(self, feats: list[torch.Tensor], weight: torch.Tensor | None = None,
                bias: torch.Tensor | None = None, mask: torch.Tensor | None = None) -> torch.Tensor:
        """``mask``: (B, L) true on real tokens, for token maps of one length L (a BERT teacher's layers). Pads are
        zeroed before every conv, so a real token next to them sees what zero padding at a sequence end gives, and
        the logits do not depend on how many pads follow the text."""
        m = None if mask is None or self.dims != 1 else mask.to(feats[0].dtype).unsqueeze(1)

        def keep(t: torch.Tensor) -> torch.Tensor:
            return t if m is None else t * m

        x = keep(feats[0])
        for i, (down, lateral) in enumerate(zip(self.down, self.lateral, strict=True)):
            x = down(x)
            if x.shape[2:] != feats[i + 1].shape[2:]:
                if m is not None:
                    raise ValueError("a token mask needs token maps of one length on every level")
                mode = "linear" if self.dims == 1 else "bilinear"
                x = F.interpolate(x, size=feats[i + 1].shape[2:], mode=mode, align_corners=True)
            x = keep(x + lateral(feats[i + 1]))
        x = self.out(x)
        pooled = x.flatten(2).mean(-1) if m is None else (x * m).sum(-1) / m.sum(-1).clamp_min(1.0)
        if self.fc is not None:
            return self.fc(pooled)
        if weight is None:
            raise ValueError("this shadow head has no classifier of its own: pass the teacher's weight and bias")
        return F.linear(pooled, weight.detach(), None if bias is None else bias.detach())
