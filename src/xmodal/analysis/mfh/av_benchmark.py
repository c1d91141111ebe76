"""The KD-efficacy diagnostic on the synthetic audio-visual benchmark, across its γ knob (issue 5, item 5).

For each target γ the benchmark (:mod:`xmodal.data.synth`) is generated with symmetric specific factors
(``video_levels == audio_levels``, so α = β = (1 − γ)/2 and only the shared part moves) and decoded once into
memory. Per seed, an audio teacher (:class:`SmallCNN` 2D on log-mel) and a video student (``SmallCNN`` 3D) are
trained with :class:`SupervisedKD`: the teacher and the no-KD student with ρ = 1 (CE only), the KD student with
ρ·CE + (1−ρ)·KL(teacher ‖ student) (MFH Eq. 1) from the same initialisation and batch order as its no-KD twin,
so the measured gain is paired. The diagnostic (:func:`xmodal.analysis.mfh.diagnostic.diagnose`) then sees the
penultimate (``fc2``) features and logits of the two *unimodal* networks (teacher, no-KD student) on the val split
— what a user has before deciding to run KD — and returns γ̂ and its prediction, next to the true γ read from the
generator's manifest meta and the test-split gain.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import lightning.pytorch as L
import numpy as np
import torch
from torch import nn

from xmodal.analysis.mfh.diagnostic import DEFAULT_THRESHOLD, diagnose
from xmodal.data.dataset import AVDataset, read_manifest
from xmodal.data.features import LogMelConfig
from xmodal.data.synth import SynthConfig, generate
from xmodal.data.views import EvalConfig, EvalTransform
from xmodal.methods.supervised_kd import SupervisedKD, SupervisedKDConfig
from xmodal.models.cnn import SmallCNN
from xmodal.models.taps import FeatureTaps
from xmodal.training.optim import OptimConfig

TABLE_COLUMNS = ("gamma_target", "levels", "gamma", "gamma_hat", "r_a", "r_b", "predicted_helps", "teacher_acc",
                 "no_kd_acc", "kd_acc", "kd_gain", "actual")


@dataclass(frozen=True)
class AVBenchConfig:
    """Sizes are chosen for a CPU: 32² frames, 2 s clips, 4 frames for the student (the decisive cues, stripe
    orientation and silhouette, are static), the log-mel averaged over ``mel_pool`` frames (the tones are
    sustained for ≥ 0.35 s, far longer than 4 hops), narrow CNNs.

    ``splits`` gives the val split 20 % (not the generator's 10 %) because the diagnostic's cross-fitted ridge
    needs enough held-out pairs. ``temperature`` 4 with Hinton's T² lets the teacher's non-argmax mass through."""

    gammas: tuple[float, ...] = (0.0, 1.0 / 3.0, 0.5, 1.0)
    clips: int = 480
    seeds: int = 3
    seed: int = 0
    size: int = 32
    duration: float = 2.0
    fps: int = 8
    frames: int = 4
    mel_pool: int = 4
    max_classes: int = 16
    splits: tuple[float, float, float] = (0.6, 0.2, 0.2)
    epochs: int = 25
    batch_size: int = 32
    lr: float = 3e-3
    weight_decay: float = 1e-4
    rho: float = 0.5
    temperature: float = 4.0
    widths: tuple[int, int, int] = (8, 16, 32)
    hidden: tuple[int, int] = (64, 32)
    threshold: float = DEFAULT_THRESHOLD
    workers: int = 1


def levels_for_gamma(gamma: float, max_classes: int = 16) -> tuple[int, int, int]:
    """(general, video, audio) levels with ``video == audio`` whose γ = log K_g / log(K_g K_v K_a) is nearest the
    target; ties go to the class count nearest 4 (e.g. γ = 1 → (4, 1, 1), not (2, 1, 1))."""
    best: tuple[float, int, tuple[int, int, int]] | None = None
    for g in range(1, 7):
        for k in range(1, 5):
            try:
                cfg = SynthConfig(general_levels=g, video_levels=k, audio_levels=k)
            except ValueError:
                continue
            if cfg.num_classes > max_classes:
                continue
            key = (round(abs(cfg.shares()["gamma"] - gamma), 9), abs(cfg.num_classes - 4), (g, k, k))
            best = key if best is None or key[:2] < best[:2] else best
    if best is None:
        raise ValueError(f"no benchmark levels with at most {max_classes} classes")
    return best[2]


def load_setting(cfg: AVBenchConfig, levels: tuple[int, int, int], out_dir: Path) -> dict[str, Any]:
    """Generate one benchmark and decode every clip once: video (N, 3, frames, size, size), log-mel
    (N, 1, 80, T / mel_pool) standardised by the train split's scalar mean/std (the log-mel itself is left
    unnormalised). The log-mel is the HTK one: the synthetic benchmark puts its pitches on HTK band centres."""
    g, v, a = levels
    synth = SynthConfig(clips=cfg.clips, seed=cfg.seed, size=cfg.size, fps=cfg.fps, duration=cfg.duration,
                        general_levels=g, video_levels=v, audio_levels=a, splits=cfg.splits)
    index = read_manifest(generate(synth, out_dir, workers=cfg.workers))
    htk = LogMelConfig(mel_scale="htk", mel_norm="none", log_eps=1e-6)
    view = EvalTransform(EvalConfig(fps=cfg.frames / cfg.duration, frames=cfg.frames, size=cfg.size,
                                    audio_seconds=cfg.duration, frontend=htk))
    data = AVDataset(index, clip_seconds=cfg.duration, sampling="center", transform=view, cache=True,
                     on_error="raise")
    samples = [data[i] for i in range(len(data))]
    audio = torch.nn.functional.avg_pool2d(torch.stack([s["audio"] for s in samples]), (1, cfg.mel_pool))
    split = np.array([r.split for r in index.rows])
    train = torch.from_numpy(split == "train")
    audio = (audio - audio[train].mean()) / audio[train].std()
    return {"video": torch.stack([s["video"] for s in samples]), "audio": audio, "split": split,
            "label": torch.tensor([s["label"] for s in samples]), "meta": index.meta,
            "num_classes": len(index.classes)}


class _Batches(torch.utils.data.Dataset):
    """In-memory paired samples of one split, in the sample contract of xmodal.data."""

    def __init__(self, data: dict[str, Any], split: str) -> None:
        self.rows = np.flatnonzero(data["split"] == split)
        self.data = data

    def __len__(self) -> int:
        return len(self.rows)

    def __getitem__(self, i: int) -> dict[str, Any]:
        j = int(self.rows[i])
        return {"video": self.data["video"][j], "audio": self.data["audio"][j], "label": self.data["label"][j],
                "index": j}


class _NoTeacher(nn.Module):
    """Uniform logits: the teacher slot of a CE-only (ρ = 1) run, where the KD term has weight 0."""

    def __init__(self, num_classes: int) -> None:
        super().__init__()
        self.num_classes = num_classes

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.new_zeros(x.shape[0], self.num_classes)


def _net(cfg: AVBenchConfig, key: str, num_classes: int, seed: int) -> SmallCNN:
    torch.manual_seed(seed)
    dims, channels = (2, 1) if key == "audio" else (3, 3)
    return SmallCNN(channels, num_classes, dims=dims, widths=cfg.widths, hidden=cfg.hidden)


@contextmanager
def _quiet_lightning() -> Iterator[None]:
    """Lightning's per-fit banners (accelerator, tips) would repeat 3 × seeds × settings times; warnings stay."""
    log = logging.getLogger("lightning.pytorch")
    level = log.level
    log.setLevel(logging.WARNING)
    try:
        yield
    finally:
        log.setLevel(level)


def _fit(cfg: AVBenchConfig, data: dict[str, Any], key: str, net: nn.Module, teacher: nn.Module, rho: float,
         seed: int) -> None:
    """Train ``net`` on the train split with SupervisedKD (frozen ``teacher`` on audio); fixed batch order."""
    method = SupervisedKD(net, teacher,
                          SupervisedKDConfig(student_key=key, teacher_keys=("audio",), rho=rho,
                                             temperature=cfg.temperature, t2_scaling=True),
                          OptimConfig(optimizer="adamw", lr=cfg.lr, weight_decay=cfg.weight_decay))
    loader = torch.utils.data.DataLoader(_Batches(data, "train"), batch_size=cfg.batch_size, shuffle=True,
                                         generator=torch.Generator().manual_seed(seed))
    with _quiet_lightning():
        trainer = L.Trainer(max_epochs=cfg.epochs, accelerator="cpu", devices=1, logger=False,
                            enable_checkpointing=False, enable_progress_bar=False, enable_model_summary=False,
                            limit_val_batches=0, num_sanity_val_steps=0)
    with _quiet_lightning():
        trainer.fit(method, loader)
    net.eval()


@torch.no_grad()
def _outputs(net: SmallCNN, x: torch.Tensor) -> tuple[np.ndarray, np.ndarray]:
    """Penultimate (``fc2``) features and logits of an eval-mode network."""
    with FeatureTaps(net, ["fc2"]) as taps:
        logits = net(x)
        return taps.features["fc2"].numpy(), logits.numpy()


def _features(net: SmallCNN, x: torch.Tensor) -> tuple[np.ndarray, np.ndarray]:
    feats, logits = zip(*(_outputs(net, chunk) for chunk in x.split(64)), strict=True)
    return np.concatenate(feats), np.concatenate(logits)


def _accuracy(logits: np.ndarray, labels: torch.Tensor) -> float:
    return 100.0 * float((logits.argmax(-1) == labels.numpy()).mean())


def run_seed(cfg: AVBenchConfig, data: dict[str, Any], seed: int) -> dict[str, float]:
    """Teacher, no-KD and KD student for one seed; the diagnosis on val; accuracies on test."""
    k = data["num_classes"]
    teacher = _net(cfg, "audio", k, seed)
    _fit(cfg, data, "audio", teacher, _NoTeacher(k), 1.0, seed)
    students = {}
    for name, rho in (("no_kd", 1.0), ("kd", cfg.rho)):
        students[name] = _net(cfg, "video", k, seed + 1)  # same init and batch order: a paired comparison
        _fit(cfg, data, "video", students[name], teacher if name == "kd" else _NoTeacher(k), rho, seed + 1)
    val, test = (torch.from_numpy(data["split"] == s) for s in ("val", "test"))
    fa, za = _features(teacher, data["audio"][val])
    fb, zb = _features(students["no_kd"], data["video"][val])
    d = diagnose(fa, fb, za, zb, cfg.threshold, seed=seed)
    y = data["label"][test]
    acc = {name: _accuracy(_features(net, data["video"][test])[1], y) for name, net in students.items()}
    return {"gamma_hat": d.gamma_hat, "r_a": d.r_a, "r_b": d.r_b,
            "teacher_acc": _accuracy(_features(teacher, data["audio"][test])[1], y),
            "no_kd_acc": acc["no_kd"], "kd_acc": acc["kd"], "kd_gain": acc["kd"] - acc["no_kd"]}


def _stat(values: list[float]) -> dict[str, float]:
    return {"mean": float(np.mean(values)), "std": float(np.std(values))}


def measured_effect(gains: list[float]) -> str:
    """``helps``/``hurts`` when the mean paired gain is more than two standard errors from 0, else ``unclear``
    (with 96 test clips one clip is 1 point, so a sign alone is not a measurement)."""
    mean, half_width = float(np.mean(gains)), 2.0 * float(np.std(gains)) / np.sqrt(len(gains))
    if mean == 0.0 or abs(mean) <= half_width:
        return "unclear"
    return "helps" if mean > 0 else "hurts"


def av_diagnostic(cfg: AVBenchConfig, work_dir: str | Path) -> list[dict[str, Any]]:
    """One table row per γ setting (columns :data:`TABLE_COLUMNS`; statistics are mean/std over seeds)."""
    rows = []
    for target in cfg.gammas:
        levels = levels_for_gamma(target, cfg.max_classes)
        data = load_setting(cfg, levels, Path(work_dir) / f"gamma_{target:.3f}")
        runs = [run_seed(cfg, data, cfg.seed + 100 * s) for s in range(cfg.seeds)]
        stats = {key: _stat([r[key] for r in runs]) for key in runs[0]}
        rows.append({"gamma_target": float(target), "levels": list(levels), "gamma": float(data["meta"]["gamma"]),
                     **stats, "predicted_helps": bool(stats["gamma_hat"]["mean"] > cfg.threshold),
                     "actual": measured_effect([r["kd_gain"] for r in runs]), "seeds": runs})
    return rows


def config_dict(cfg: AVBenchConfig) -> dict[str, Any]:
    out = asdict(cfg)
    out["gammas"] = [round(g, 6) for g in cfg.gammas]
    out["levels"] = {f"{g:.3f}": list(levels_for_gamma(g, cfg.max_classes)) for g in cfg.gammas}
    return out
