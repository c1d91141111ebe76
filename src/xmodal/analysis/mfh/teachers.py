"""Teachers of different γ by channel nullification (MFH §5.4, App. B.4, Tables 4/8/9, Fig. 5).

Given Algorithm 1's salience vector over a teacher layer's channels, a *modality-general* teacher nullifies the
r% channels with the smallest salience, a *modality-specific* teacher the r% with the largest, a *random*
teacher r% random ones. The trained teacher is not retrained: nullification happens in its forward pass during
distillation. "Nullify" is the official code's ``my_freeze_new`` — replace the channel by its batch mean
(``mode="mean"``) — or its older ``my_freeze`` — set it to zero (``mode="zero"``).
"""

from __future__ import annotations

from typing import Any, Literal

import numpy as np
import torch
from torch import nn

from xmodal.analysis.mfh.gaussian import sample_runs, table2_spec
from xmodal.analysis.mfh.linear import LinearTrainConfig, train_linear
from xmodal.analysis.mfh.ranking import RankConfig, rank_linear
from xmodal.models.taps import OutputEdit

TeacherKind = Literal["general", "specific", "random"]
NullMode = Literal["mean", "zero"]


def select_channels(salience: np.ndarray, ratio: float, kind: TeacherKind, rng: np.random.Generator) -> list[int]:
    """Indices of the ``round(ratio·C)`` channels to nullify for a teacher of the given kind."""
    count = round(ratio * float(salience.shape[0]))
    if kind == "random":
        return sorted(rng.choice(salience.shape[0], size=count, replace=False).tolist())
    order = np.argsort(salience if kind == "general" else -salience, kind="stable")
    return sorted(order[:count].tolist())


def nullify(x: torch.Tensor, channels: list[int], mode: NullMode = "mean") -> torch.Tensor:
    """Copy of ``x`` with channels (dim 1) replaced by their mean over the batch (dim 0), or by zero."""
    out = x.clone()
    if not channels:
        return out
    idx = torch.as_tensor(channels, device=x.device)
    out[:, idx] = x[:, idx].mean(dim=0, keepdim=True) if mode == "mean" else 0.0
    return out


class NullifiedTeacher(nn.Module):
    """A trained teacher whose ``layer`` output (or input, ``layer=None``) has channels nullified."""

    def __init__(self, teacher: nn.Module, channels: list[int], layer: str | None = None,
                 mode: NullMode = "mean") -> None:
        super().__init__()
        self.teacher, self.channels, self.layer, self.mode = teacher, list(channels), layer, mode
        self._edit = None if layer is None else OutputEdit(teacher, layer, lambda t: nullify(t, self.channels, mode))

    def forward(self, *inputs: Any) -> torch.Tensor:
        if self.layer is None:
            return self.teacher(nullify(inputs[0], self.channels, self.mode), *inputs[1:])
        return self.teacher(*inputs)


def _mask(channel_sets: list[list[int]], dim: int) -> torch.Tensor:
    m = torch.zeros(len(channel_sets), 1, dim)
    for r, ch in enumerate(channel_sets):
        m[r, 0, ch] = 1.0
    return m


def _nullify_runs(x: torch.Tensor, mask: torch.Tensor, mode: NullMode) -> torch.Tensor:
    fill = x.mean(dim=1, keepdim=True) if mode == "mean" else torch.zeros_like(x[:, :1])
    return x * (1 - mask) + fill * mask


def r_sweep_gaussian(runs: int = 10, seed: int = 0, ratios: tuple[float, ...] = (0.0, 0.25, 0.5, 0.75, 0.9),
                     specific: int = 10, shared: int = 10, mode: NullMode = "mean",
                     cfg: LinearTrainConfig | None = None, rank_cfg: RankConfig | None = None) -> list[dict[str, Any]]:
    """Fig. 5 / Table 8 on the Gaussian benchmark: student accuracy vs nullified ratio r for the three kinds.

    Default KD weights are ``(0, 1)`` — ρ = 0 as in the paper's RAVDESS/VGGSound runs, "to fully observe the
    teacher's influence". Salience comes from Algorithm 1 on the teacher's training draw; returns one row per
    (r, kind) with teacher and student accuracy and the recall of planted shared channels among the kept ones.
    """
    cfg = cfg or LinearTrainConfig(kd_weights=(0.0, 1.0))
    rank_cfg = rank_cfg or RankConfig()
    spec = table2_spec(specific, shared)
    (xa, xb, y), (xa_s, xb_s, y_s), (xa_te, xb_te, y_te) = sample_runs(spec, (200, 200, 1000), runs, seed)
    gen = torch.Generator().manual_seed(seed)
    teacher = train_linear(xa, y, cfg, gen)
    saliences = [rank_linear(xa[r], xb[r], y[r], 2, rank_cfg, seed + r) for r in range(runs)]
    rng = np.random.default_rng(seed)
    rows = []
    for ratio in ratios:
        for kind in ("general", "random", "specific"):
            sets = [select_channels(s, ratio, kind, rng) for s in saliences]  # type: ignore[arg-type]
            mask = _mask(sets, spec.d1)
            with torch.no_grad():
                t_logits = teacher(_nullify_runs(xa_s, mask, mode))
                t_acc = (teacher(_nullify_runs(xa_te, mask, mode)).argmax(-1) == y_te).float().mean(-1)
            student = train_linear(xb_s, y_s, cfg, gen, teacher_logits=t_logits)
            s_acc = student.accuracy(xb_te, y_te)
            kept_shared = [1 - len(set(ch) & set(spec.shared)) / len(spec.shared) for ch in sets]
            rows.append({
                "ratio": ratio, "kind": kind,
                "teacher": {"mean": 100 * float(t_acc.mean()), "std": 100 * float(t_acc.std(unbiased=False))},
                "student": {"mean": 100 * float(s_acc.mean()), "std": 100 * float(s_acc.std(unbiased=False))},
                "shared_kept": float(np.mean(kept_shared)),
            })
    return rows
