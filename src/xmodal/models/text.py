"""BERT text encoders (Devlin et al., "BERT: Pre-training of Deep Bidirectional Transformers for Language
Understanding", NAACL 2019, arXiv:1810.04805, §3) built with ``transformers``: C²KD's text network (App. C.1).

:func:`build_bert` makes a randomly initialised ``BertModel`` from a ``BertConfig`` (BERT-base by default), or
loads a local pretrained directory (``local_files_only``: nothing is fetched at run time; a missing directory is
one error naming it). :class:`BertClassifier` puts BERT's pooler (tanh dense on ``[CLS]``) and a linear classifier
on top, as ``BertForSequenceClassification`` does, and takes one ``(B, L)`` id tensor (mask = ids ≠ pad id), so
it plugs into the same trainers as the image and audio networks.

Feature taps: every encoder layer's output passes through ``hidden.<i>`` (a :class:`TokenChannels` view) in
channels-first ``(B, H, L)`` layout, the layout CNN maps have, so C²KD proxies (pool over the non-channel dims),
``tap_channels``, MFH Algorithm 1's channel permutation and nullified teachers (dim 1 = hidden units) address a
BERT layer exactly as a CNN stage. The view fills padded positions with the sequence's masked mean: pads are masked
out of attention and the classifier reads ``[CLS]``, so the logits are unchanged, while any mean over positions is
the masked mean. An edit made on ``hidden.<i>`` (``OutputEdit``) flows on into layer i + 1.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from xmodal.data.text import require


@dataclass
class BertSpec:
    """The ``BertConfig`` fields we set (BERT-base defaults); ``pretrained``: a local directory instead."""

    vocab_size: int = 30522
    hidden_size: int = 768
    num_hidden_layers: int = 12
    num_attention_heads: int = 12
    intermediate_size: int = 3072
    max_position_embeddings: int = 512
    dropout: float = 0.1
    pretrained: str | None = None


def build_bert(spec: BertSpec) -> nn.Module:
    """A ``transformers.BertModel``: random init from ``spec``, or ``from_pretrained(spec.pretrained)`` offline."""
    transformers = require("transformers")
    if spec.pretrained:
        path = Path(spec.pretrained)
        if not (path / "config.json").is_file():
            raise FileNotFoundError(f"--text-model {path}: no config.json there; give a local BERT directory "
                                    "(config.json + weights + vocab), nothing is downloaded")
        return transformers.BertModel.from_pretrained(str(path), local_files_only=True)
    cfg = transformers.BertConfig(vocab_size=spec.vocab_size, hidden_size=spec.hidden_size,
                                  num_hidden_layers=spec.num_hidden_layers,
                                  num_attention_heads=spec.num_attention_heads,
                                  intermediate_size=spec.intermediate_size,
                                  max_position_embeddings=spec.max_position_embeddings,
                                  hidden_dropout_prob=spec.dropout, attention_probs_dropout_prob=spec.dropout)
    return transformers.BertModel(cfg)


class TokenChannels(nn.Module):
    """``(B, L, H)`` → ``(B, H, L)`` with padded positions set to the masked mean over the real tokens."""

    def forward(self, hidden: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        m = mask.unsqueeze(-1).to(hidden.dtype)
        mean = (hidden * m).sum(1, keepdim=True) / m.sum(1, keepdim=True).clamp_min(1.0)
        return torch.where(m.bool(), hidden, mean).transpose(1, 2)


class BertClassifier(nn.Module):
    """BERT → pooler → dropout → linear; input ``(B, L)`` ids padded with ``pad_id``."""

    def __init__(self, bert: nn.Module, num_classes: int, pad_id: int = 0) -> None:
        super().__init__()
        self.bert, self.pad_id = bert, int(pad_id)
        cfg = bert.config
        layers = bert.encoder.layer
        self.hidden = nn.ModuleList(TokenChannels() for _ in range(len(layers)))
        self.dropout = nn.Dropout(cfg.hidden_dropout_prob)
        self.feature_dim = int(cfg.hidden_size)
        self.classifier = nn.Linear(cfg.hidden_size, num_classes) if num_classes > 0 else nn.Identity()
        self._mask: torch.Tensor | None = None
        for i, layer in enumerate(layers):
            layer.register_forward_hook(self._route(i))

    def _route(self, i: int) -> Any:
        def hook(_module: nn.Module, _inputs: Any, output: Any) -> Any:
            if self._mask is None:
                return None
            first = output if isinstance(output, torch.Tensor) else output[0]
            routed = self.hidden[i](first, self._mask).transpose(1, 2)
            return routed if isinstance(output, torch.Tensor) else (routed, *output[1:])

        return hook

    def features(self, ids: torch.Tensor) -> torch.Tensor:
        """The pooled ``[CLS]`` feature (BERT's pooler output) before the classifier."""
        mask = ids != self.pad_id
        self._mask = mask
        try:
            out = self.bert(input_ids=ids, attention_mask=mask.long())
        finally:
            self._mask = None
        return out.pooler_output

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.dropout(self.features(ids)))


def proxy_layer_index(bert: nn.Module) -> int:
    """The encoder layer C²KD's proxy taps: three quarters deep (ResNet's ``layer3`` of 4, the official choice for
    CNNs; the paper does not name a BERT layer), i.e. layer 9 of 12 → index 8."""
    return max(0, (3 * len(bert.encoder.layer)) // 4 - 1)
