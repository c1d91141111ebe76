"""Evaluation input geometry (fps, frames, crop size, log-mel) that matches an exported backbone.

Features from a backbone are only meaningful on inputs shaped like its pre-training views: a ViT interpolates its
positional embedding to any token grid, so a wrong frame count or crop size runs silently and gives worse
features. Each field is resolved, in order, from

1. an explicit CLI flag / override (an override that contradicts the export's stored geometry is an error);
2. the export JSON's ``metadata.eval_geometry`` (a dict of :class:`EvalGeometry` fields), when the exporter
   stored one;
2b. the pre-training run's ``config.yaml`` next to the export folder (``<out>/export/x.safetensors`` →
   ``<out>/config.yaml``, written by ``xmodal pretrain``): clip length, view fps, global-view frames/size/seconds
   and the log-mel (hop, mel bins, n_fft, mel scale/area norm, log epsilon, dataset mean/std) the backbone was
   trained on;
3. the backbone's own token grid: ``grid × patch`` gives video frames and crop size, audio mel bins and
   spectrogram frames (the hop length is then the one that yields those frames over ``audio_seconds``);
4. the paper defaults, XKD §A.5 / Table S1–S2: 4 s clips, 32 frames at 8 fps, 112² crops, 16 kHz audio,
   80 × 448 log-mel (hop 143, n_fft 1024), with the official code's front-end (Slaney mel and area norm,
   log(x + 1.19e-7)) where the paper is silent.

Each field's source is recorded, so the protocol card says where the geometry came from.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any, Literal

from xmodal.data.features import FrontendConfig, KaldiFbankConfig, LogMelConfig
from xmodal.data.io import AudioSpec, VideoSpec
from xmodal.data.views import EvalConfig, EvalTransform


@dataclass(frozen=True)
class EvalGeometry:
    clip_seconds: float = 4.0
    fps: float = 8.0
    frames: int = 32
    size: int = 112
    sample_rate: int = 16000
    audio_seconds: float = 4.0
    n_mels: int = 80
    hop_length: int = 143
    n_fft: int = 1024
    logmel_mean: float = 0.0
    logmel_std: float = 1.0
    mel_scale: Literal["slaney", "htk"] = "slaney"
    mel_norm: Literal["slaney", "none"] = "slaney"
    log_eps: float = 1.1920929e-07
    frontend: Literal["logmel", "kaldi_fbank"] = "logmel"
    audio_frames: int | None = None

    def eval_config(self) -> EvalConfig:
        """``frontend=kaldi_fbank`` (MAViL/Audio-MAE) reads ``n_mels`` as its bins, ``audio_frames`` as its padded
        length and ``logmel_mean/std`` as its dataset statistics; the STFT and mel-scale fields are then unused."""
        front: FrontendConfig
        if self.frontend == "kaldi_fbank":
            front = KaldiFbankConfig(sample_rate=self.sample_rate, num_mel_bins=self.n_mels,
                                     target_length=self.audio_frames, mean=self.logmel_mean, std=self.logmel_std)
        else:
            front = LogMelConfig(sample_rate=self.sample_rate, n_fft=self.n_fft, win_length=self.n_fft,
                                 hop_length=self.hop_length, n_mels=self.n_mels, mean=self.logmel_mean,
                                 std=self.logmel_std, mel_scale=self.mel_scale, mel_norm=self.mel_norm,
                                 log_eps=self.log_eps)
        return EvalConfig(fps=self.fps, frames=self.frames, size=self.size, audio_seconds=self.audio_seconds,
                          frontend=front)

    def transform(self) -> EvalTransform:
        return EvalTransform(self.eval_config())

    def specs(self) -> tuple[VideoSpec, AudioSpec]:
        """Decode at the evaluation fps with the short side at the crop size (the centre crop then keeps all)."""
        return VideoSpec(fps=self.fps, size=self.size), AudioSpec(sample_rate=self.sample_rate)

    def token_grid(self, modality: Literal["video", "audio"], patch: list[int]) -> list[int]:
        if modality == "video":
            return [self.frames // patch[0], self.size // patch[1], self.size // patch[2]]
        if self.frontend == "kaldi_fbank" and self.audio_frames:
            frames = self.audio_frames
        else:
            frames = 1 + round(self.audio_seconds * self.sample_rate) // self.hop_length
        return [self.n_mels // patch[0], frames // patch[1]]


FIELDS = tuple(f.name for f in fields(EvalGeometry))


def export_doc(backbone_path: str | Path) -> dict[str, Any]:
    from xmodal.models.export import read_export_doc

    return read_export_doc(backbone_path)


def hop_for_frames(num_samples: int, frames: int) -> int | None:
    """The hop with ``1 + num_samples // hop == frames`` (centred STFT, :meth:`LogMelConfig.num_frames`)."""
    if frames < 2:
        return None
    hop = math.ceil(num_samples / frames)
    return hop if 1 + num_samples // hop == frames else None


def from_grid(doc: dict[str, Any], modality: Literal["video", "audio"], clip_seconds: float,
              sample_rate: int) -> dict[str, Any]:
    """Geometry implied by the backbone's positional-embedding grid and patch size (step 3 of the module doc)."""
    cfg = doc.get("config", {})
    grid, patch = cfg.get("grid"), cfg.get("embed", {}).get("patch")
    if not grid or not patch:
        return {}
    if modality == "video" and len(grid) == 3 and len(patch) == 3 and grid[1] * patch[1] == grid[2] * patch[2]:
        frames = int(grid[0] * patch[0])
        return {"frames": frames, "size": int(grid[1] * patch[1]), "fps": frames / clip_seconds}
    if modality == "audio" and len(grid) == 2 and len(patch) == 2:
        out: dict[str, Any] = {"n_mels": int(grid[0] * patch[0])}
        hop = hop_for_frames(round(clip_seconds * sample_rate), int(grid[1] * patch[1]))
        if hop is not None:
            out["hop_length"] = hop
        return out
    return {}


def from_run_config(backbone_path: str | Path) -> tuple[dict[str, Any], str]:
    """Geometry of the pre-training views in ``<out>/config.yaml`` (step 2b of the module doc), or ``{}``."""
    path = Path(backbone_path).resolve().parent.parent / "config.yaml"
    if not path.is_file():
        return {}, ""
    import yaml

    doc = yaml.safe_load(path.read_text()) or {}
    data = (doc.get("config", doc) or {}).get("data") or {}
    views = data.get("views") or {}
    if not views:
        return {}, ""
    video, audio, mel = views.get("video_global") or {}, views.get("audio_global") or {}, views.get("logmel") or {}
    found = {"clip_seconds": data.get("clip_seconds"), "fps": views.get("fps"), "frames": video.get("frames"),
             "size": video.get("size"), "audio_seconds": audio.get("seconds"), "sample_rate": mel.get("sample_rate"),
             "n_mels": mel.get("n_mels"), "hop_length": mel.get("hop_length"), "n_fft": mel.get("n_fft"),
             "logmel_mean": mel.get("mean"), "logmel_std": mel.get("std"), "mel_scale": mel.get("mel_scale"),
             "mel_norm": mel.get("mel_norm"), "log_eps": mel.get("log_eps")}
    if mel and "mel_norm" not in mel:  # written before the official front-end became the default: HTK, no area
        found.update(mel_scale=mel.get("mel_scale", "htk"), mel_norm="none", log_eps=mel.get("log_eps", 1e-6))
    return {k: v for k, v in found.items() if v is not None}, f"pretraining config ({path})"


def resolve_geometry(backbone_path: str | Path, modality: Literal["video", "audio"],
                     overrides: dict[str, Any] | None = None) -> tuple[EvalGeometry, dict[str, str]]:
    """(geometry, {field: "flag" | "export metadata" | "pretraining config (…)" | "backbone grid" |
    "paper default (xkd §A.5)"})."""
    doc = export_doc(backbone_path)
    given = {k: v for k, v in (overrides or {}).items() if v is not None}
    unknown = set(given) - set(FIELDS)
    if unknown:
        raise ValueError(f"unknown geometry fields {sorted(unknown)}; known: {FIELDS}")
    stored = dict(doc.get("metadata", {}).get("eval_geometry", {}))
    clash = {k: (v, stored[k]) for k, v in given.items() if k in stored and stored[k] != v}
    if clash:
        raise ValueError(f"{backbone_path}: flags contradict the geometry stored with the export: "
                         + ", ".join(f"{k}={a} (stored {b})" for k, (a, b) in clash.items()))
    default = EvalGeometry()
    clip = float(given.get("clip_seconds", stored.get("clip_seconds", default.clip_seconds)))
    sr = int(given.get("sample_rate", stored.get("sample_rate", default.sample_rate)))
    inferred = from_grid(doc, modality, float(given.get("audio_seconds", stored.get("audio_seconds", clip))), sr)
    run, run_name = from_run_config(backbone_path)
    values, sources = asdict(default), dict.fromkeys(FIELDS, "paper default (xkd §A.5)")
    for layer, name in ((inferred, "backbone grid"), (run, run_name), (stored, "export metadata"), (given, "flag")):
        for k, v in layer.items():
            if k in values:
                values[k], sources[k] = v, name
    return EvalGeometry(**values), sources
