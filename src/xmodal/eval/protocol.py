"""Protocol cards: every reported number carries how it was obtained.

Most "cannot reproduce your number" reports come from evaluation details nobody wrote down: which layer and
pooling, CLS or not, how many clips, normalization, the hyperparameter grid and on which split it was searched.
A :class:`ProtocolCard` records them; :func:`result_payload` is the JSON every ``xmodal eval`` verb writes:
``{"protocol": card, "metric": name, "mean": x, "std": s, "per_split": [...], "runtime_s": t}``.

A preset named after a paper table (``reference``, e.g. "XKD §A.5, UCF101/HMDB51 SVM") promises that its number
can be set next to the paper's; every way it is *not* that protocol is a :class:`Departure` in
``card.departures`` (machine-readable: key / paper / official code / ours) and one line of
:meth:`ProtocolCard.lines` (human-readable), so a number is never read as the paper's protocol when it is not.
``warnings`` holds what the run itself found suspicious (e.g. the chosen SVM cost at the edge of its grid).
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


@dataclass(frozen=True)
class Departure:
    """One hyperparameter where this run differs from the paper table its preset is named after.

    ``paper`` is what the paper writes (or "silent"), ``official_code`` what the authors' code does (or "n/a"),
    ``ours`` what this run did, naming the switch that changes it when there is one.
    """

    key: str
    paper: str
    official_code: str
    ours: str

    def line(self) -> str:
        return f"departure {self.key}: ours = {self.ours}; paper = {self.paper}; official code = {self.official_code}"


@dataclass
class ProtocolCard:
    """Everything needed to recompute a number; ``config_hash`` hashes the card itself.

    ``reference`` names the paper table the preset follows; ``departures`` lists every difference from it;
    ``warnings`` what the run found suspicious. Add them with :meth:`depart` / :meth:`warn`.
    """

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
    reference: str = ""
    departures: list[Departure] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    code_version: str = field(default_factory=code_version)

    def depart(self, key: str, paper: str, official_code: str, ours: str) -> ProtocolCard:
        """Record one departure (a key appears once: a later call replaces the earlier entry); returns ``self``."""
        self.departures = [d for d in self.departures if d.key != key] + [Departure(key, paper, official_code, ours)]
        return self

    def warn(self, message: str) -> ProtocolCard:
        if message not in self.warnings:
            self.warnings.append(message)
        return self

    def lines(self) -> list[str]:
        """The human-readable card: the reference, one line per departure, one per warning."""
        head = f"{self.protocol} protocol" + (f" after {self.reference}" if self.reference else "")
        if not self.departures:
            head += (": no departure recorded" if self.reference else "")
        return [head] + [d.line() for d in self.departures] + [f"warning: {w}" for w in self.warnings]

    def config_hash(self) -> str:
        body = asdict(self)
        body.pop("code_version")
        body.pop("warnings")  # what the run found, not how it was configured
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
