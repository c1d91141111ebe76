"""The smallest backbone the evaluation code accepts: ``embed_dim`` and ``features(x)`` (a linear map of the
flattened input), shared by the fine-tuning and gathered-predictions tests."""

from __future__ import annotations

import torch
from torch import nn


class LinearBackbone(nn.Module):
    def __init__(self, in_features: int = 8, embed_dim: int = 4) -> None:
        super().__init__()
        self.embed_dim = embed_dim
        self.proj = nn.Linear(in_features, embed_dim)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        return self.proj(x.flatten(1))
