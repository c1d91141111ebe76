"""Protocol cards: every reported number carries how it was obtained.

Most "cannot reproduce your number" reports come from evaluation details nobody wrote down: which layer and
pooling, CLS or not, how many clips, normalization, the hyperparameter grid and on which split it was searched.
A :class:`ProtocolCard` records them; :func:`result_payload` is the JSON every ``xmodal eval`` verb writes:
``{"protocol": card, "metric": name, "mean": x, "std": s, "per_split": [...], "runtime_s": t}``.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from xmodal.config import code_version, config_hash
from xmodal.eval.selection import mean_std


def file_sha256(path: str | Path, chunk: int = 1 << 20) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            h.update(block)
    return h.hexdigest()


@dataclass
class FeatureSpec:
    """Where the frozen features come from (XKD §A.5: last layer, mean of patch tokens, CLS excluded).
    ``extraction`` is filled when the features were computed from a backbone export: input geometry and the
    source of each of its fields, manifest and weights sha256, per-split videos / clips / skipped clips."""

    source: str = "precomputed"
    layer: str = "last"
    pooling: str = "mean of patch tokens"
    cls_token: bool = False
    modality: str = "video"
    train_clips_per_video: int = 1
    test_clips_per_video: int = 1
    clip_aggregation: str = "mean of clip features per video"
    extraction: dict[str, Any] = field(default_factory=dict)


@dataclass
class ProtocolCard:
    """Everything needed to recompute a number; ``config_hash`` hashes the card itself."""

    protocol: str
    features: FeatureSpec = field(default_factory=FeatureSpec)
    normalization: str = "none"
    hyperparameters: dict[str, Any] = field(default_factory=dict)
    grid: dict[str, list[Any]] = field(default_factory=dict)
    selection_rule: str = "fixed (no search)"
    seeds: list[int] = field(default_factory=lambda: [0])
    dataset: str = ""
    split_files: list[str] = field(default_factory=list)
    checkpoint: str = ""
    checkpoint_sha256: str = ""
    code_version: str = field(default_factory=code_version)

    def config_hash(self) -> str:
        body = asdict(self)
        body.pop("code_version")
        return config_hash(body)

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "config_hash": self.config_hash()}


def result_payload(
    card: ProtocolCard, metric: str, per_split: Sequence[dict[str, Any]], runtime_s: float, key: str = "value"
) -> dict[str, Any]:
    """The JSON of one evaluation: mean ± std of ``per_split[i][key]`` over splits / folds / seeds."""
    mean, std = mean_std([float(r[key]) for r in per_split])
    return {
        "protocol": card.to_dict(), "metric": metric, "mean": mean, "std": std,
        "per_split": [{k: v for k, v in r.items() if k != "predictions"} for r in per_split],
        "runtime_s": runtime_s,
    }
