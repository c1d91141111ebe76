"""Per-dataset mean/std of a front-end's log features, as stored next to a dataset and read by its config.

XKD normalizes log-mels with dataset statistics (XKD §4.1) and MAViL/AudioMAE with AudioSet's (MAViL
Table 10: −4.268 / 4.569). :func:`compute_stats` measures them for any dataset; ``xmodal data stats`` wires it to
the CLI. The statistics are over every time-frequency bin of every clip (the AST/AudioMAE convention, so the
zero padding of a fixed-length fbank counts, as it does at training time) and are accumulated in float64 with
Chan's parallel update, so millions of bins lose no precision and memory stays constant.

Stored JSON: ``{"frontend": "logmel", "mean": float, "std": float, "num_clips": int}``.
"""

from __future__ import annotations

import dataclasses
import json
import math
from collections.abc import Iterable
from pathlib import Path
from typing import Any, Protocol

import torch
from torch import Tensor

from xmodal.data.features import FrontendConfig, build_frontend


class RawFrontend(Protocol):
    """What :func:`compute_stats` needs: a name and the unnormalized log features of a waveform."""

    @property
    def name(self) -> str: ...

    def raw(self, wave: Tensor) -> Tensor: ...


def compute_stats(waveforms: Iterable[Tensor], frontend: RawFrontend) -> dict[str, Any]:
    """Mean and (population) std of ``frontend.raw(w)`` over all bins of all waveforms.

    Each item is a mono waveform ``(samples,)`` (or a batch ``(B, samples)``, whose clips are all counted).
    Returns ``{"frontend", "mean", "std", "num_clips"}``; raises ``ValueError`` on an empty iterable.
    """
    count, mean, m2, clips = 0, 0.0, 0.0, 0
    with torch.no_grad():
        for wave in waveforms:
            feats = frontend.raw(wave).to(torch.float64)
            clips += 1 if wave.dim() == 1 else wave.shape[0]
            n_b = feats.numel()
            mean_b = float(feats.mean())
            m2_b = float(((feats - mean_b) ** 2).sum())
            total = count + n_b
            delta = mean_b - mean
            mean += delta * n_b / total
            m2 += m2_b + delta * delta * count * n_b / total
            count = total
    if count == 0:
        raise ValueError("compute_stats: no waveforms were given")
    return {"frontend": frontend.name, "mean": mean, "std": math.sqrt(m2 / count), "num_clips": clips}


def save_stats(path: str | Path, stats: dict[str, Any]) -> None:
    """Write stats as JSON (validated first, so a bad dict never reaches disk)."""
    Path(path).write_text(json.dumps(_validate(stats, str(path)), indent=2) + "\n")


def load_stats(path: str | Path) -> dict[str, Any]:
    """Read and validate a stats JSON written by :func:`save_stats`; errors name the file and the field."""
    try:
        data = json.loads(Path(path).read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise ValueError(f"{path}: cannot read stats: {exc}") from exc
    return _validate(data, str(path))


def apply_stats(cfg: FrontendConfig, stats: dict[str, Any]) -> FrontendConfig:
    """``cfg`` with ``mean``/``std`` taken from ``stats``; refuses stats measured with another front-end.

    For :class:`~xmodal.data.features.LinearSTFTConfig` this also switches ``normalize`` to ``'dataset'``."""
    name = build_frontend(cfg).name
    if stats["frontend"] != name:
        raise ValueError(f"stats were computed for front-end {stats['frontend']!r}, not {name!r}")
    extra = {"normalize": "dataset"} if hasattr(cfg, "normalize") else {}
    return dataclasses.replace(cfg, mean=float(stats["mean"]), std=float(stats["std"]), **extra)


def _validate(stats: Any, where: str) -> dict[str, Any]:
    if not isinstance(stats, dict):
        raise ValueError(f"{where}: stats must be a JSON object")
    for key, kind in (("frontend", str), ("mean", (int, float)), ("std", (int, float)), ("num_clips", int)):
        if key not in stats:
            raise ValueError(f"{where}: missing field {key!r}")
        value = stats[key]
        if isinstance(value, bool) or not isinstance(value, kind):
            raise ValueError(f"{where}: field {key!r} has the wrong type ({type(value).__name__})")
    if not math.isfinite(stats["mean"]) or not (math.isfinite(stats["std"]) and stats["std"] > 0):
        raise ValueError(f"{where}: mean must be finite and std finite and > 0")
    if stats["num_clips"] < 1:
        raise ValueError(f"{where}: num_clips must be >= 1")
    return {
        "frontend": stats["frontend"],
        "mean": float(stats["mean"]),
        "std": float(stats["std"]),
        "num_clips": stats["num_clips"],
    }
