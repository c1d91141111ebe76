"""Pictures of what a pretrained XKD model does: masked-input reconstructions (like XKD Fig. 5), the
refine attention over frames (like Fig. 3) and training curves. All matplotlib with the Agg backend.
:func:`reconstruction_figure` also draws MAViL's reconstructions (:mod:`xmodal.analysis.mavil_reconstruction`)."""

from __future__ import annotations

import csv
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from xmodal.data.video_transforms import IMAGENET_MEAN, IMAGENET_STD
from xmodal.losses.alignment import cross_modal_attention, refine_weights
from xmodal.models.decoder import unpatchify_audio, unpatchify_video
from xmodal.models.masking import random_masking


def _pyplot() -> Any:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _frames_rgb(video: torch.Tensor) -> np.ndarray:
    """(3, T, H, W) normalized → (T, H, W, 3) in [0, 1]."""
    mean = torch.tensor(IMAGENET_MEAN).view(3, 1, 1, 1)
    std = torch.tensor(IMAGENET_STD).view(3, 1, 1, 1)
    return (video.float().cpu() * std + mean).clamp(0, 1).permute(1, 2, 3, 0).numpy()


@torch.no_grad()
def reconstruct(method: Any, modality: str, x: torch.Tensor, seed: int = 0) -> dict[str, torch.Tensor]:
    """Masked input and reconstruction of one ``(1, C, ...)`` global view with ``method``'s student + decoder.

    Visible patches are shown as they are; masked patches are filled with the decoder's prediction (MAE
    convention). Without ``norm_pix`` the prediction is in the input's units.
    """
    method.eval()
    m = method.cfg.model
    patch = m.video_patch if modality == "video" else m.audio_patch
    grid = method.grids[f"{modality}_global"]
    n = int(np.prod(grid))
    gen = torch.Generator().manual_seed(seed)
    ratio = m.video_mask_ratio if modality == "video" else m.audio_mask_ratio
    info = random_masking(1, n, ratio, generator=gen)
    tokens = method.student[modality](x, mask_keep_ids=info.ids_keep)
    pred = method.decoders[modality](tokens, info.ids_restore).float()
    target = method._patchify(modality, x).float()
    mask = info.mask.unsqueeze(-1).float()
    masked = target * (1 - mask)
    filled = target * (1 - mask) + pred * mask
    unpatch = unpatchify_video if modality == "video" else unpatchify_audio
    chans = 3 if modality == "video" else 1
    return {
        "input": x[0].float(),
        "masked": unpatch(masked, patch, grid, chans)[0],
        "reconstruction": unpatch(filled, patch, grid, chans)[0],
        "mask": info.mask[0],
    }


def reconstruction_png(method: Any, video: torch.Tensor | None, audio: torch.Tensor | None, path: Path,
                       frames: int = 6) -> Path:
    """Rows: input / masked / reconstruction; video frames on the left panel, the log-mel on the right."""
    recs = {}
    if video is not None:
        recs["video"] = reconstruct(method, "video", video.unsqueeze(0))
    if audio is not None:
        recs["audio"] = reconstruct(method, "audio", audio.unsqueeze(0))
    return reconstruction_figure(recs, path, "masked reconstruction (XKD student + decoder)", frames=frames)


def reconstruction_figure(recs: dict[str, dict[str, torch.Tensor]], path: Path, title: str, frames: int = 6,
                          audio_label: str = "log-mel") -> Path:
    """Draw ``{"video": rec, "audio": rec}`` (each ``input`` / ``masked`` / ``reconstruction`` images of one clip,
    video ``(3, T, H, W)`` normalized, audio ``(1, F, T)``) as three rows; audio shares the input's colour range."""
    plt = _pyplot()
    video, audio = recs.get("video"), recs.get("audio")
    cols = (frames if video is not None else 0) + (1 if audio is not None else 0)
    fig, axes = plt.subplots(3, cols, figsize=(1.6 * cols + 1, 5), squeeze=False)
    titles = ("input", "masked", "reconstruction")
    if video is not None:
        t = video["input"].shape[1]
        picks = np.linspace(0, t - 1, frames).round().astype(int)
        for r, key in enumerate(titles):
            rgb = _frames_rgb(video[key])
            for c, f in enumerate(picks):
                axes[r, c].imshow(rgb[f], interpolation="nearest")
                axes[r, c].set_xticks([])
                axes[r, c].set_yticks([])
                if c == 0:
                    axes[r, c].set_ylabel(key)
                if r == 0:
                    axes[r, c].set_title(f"frame {f}", fontsize=8)
    if audio is not None:
        lo, hi = float(audio["input"].min()), float(audio["input"].max())
        for r, key in enumerate(titles):
            ax = axes[r, cols - 1]
            ax.imshow(audio[key][0].cpu().numpy(), origin="lower", aspect="auto", vmin=lo, vmax=hi, cmap="magma")
            ax.set_xticks([])
            ax.set_yticks([])
            if r == 0:
                ax.set_title(audio_label, fontsize=8)
    fig.suptitle(title)
    return _save(fig, plt, path)


@torch.no_grad()
def refine_maps(method: Any, video: torch.Tensor, audio: torch.Tensor) -> dict[str, torch.Tensor]:
    """The video teacher's own CLS attention and the cross-modal refine weights (Eq. 3–5) on its token grid."""
    method.eval()
    grid = method.grids["video_global"]
    _, att_v = method.teacher["video"](video.unsqueeze(0), return_attention=True)
    _, att_a = method.teacher["audio"](audio.unsqueeze(0), return_attention=True)
    ax_v, _ = cross_modal_attention(att_v, att_a, mode=method.cfg.loss.refine_attention)
    return {"self": att_v.float().mean(1)[0].reshape(grid), "refine": refine_weights(ax_v)[0].reshape(grid)}


def refine_attention_png(method: Any, video: torch.Tensor, audio: torch.Tensor, path: Path, frames: int = 6) -> Path:
    """Frames with the teacher's attention without and with cross-modal refine overlaid (like Fig. 3)."""
    plt = _pyplot()
    maps = refine_maps(method, video, audio)
    rgb = _frames_rgb(video)
    t = rgb.shape[0]
    picks = np.linspace(0, t - 1, frames).round().astype(int)
    pt = method.cfg.model.video_patch[0]
    fig, axes = plt.subplots(3, frames, figsize=(1.6 * frames + 1, 5), squeeze=False)
    for c, f in enumerate(picks):
        axes[0, c].imshow(rgb[f])
        axes[0, c].set_title(f"frame {f}", fontsize=8)
        for r, key in ((1, "self"), (2, "refine")):
            heat = maps[key][min(f // pt, maps[key].shape[0] - 1)].cpu().numpy()
            axes[r, c].imshow(rgb[f])
            axes[r, c].imshow(heat, cmap="jet", alpha=0.5, interpolation="bilinear",
                              extent=(-0.5, rgb.shape[2] - 0.5, rgb.shape[1] - 0.5, -0.5))
    for r, label in enumerate(("input", "w/o refine", "w/ refine")):
        axes[r, 0].set_ylabel(label)
    for ax in axes.ravel():
        ax.set_xticks([])
        ax.set_yticks([])
    fig.suptitle("video teacher attention: own CLS attention vs cross-modal refine weights")
    return _save(fig, plt, path)


def read_metrics(csv_path: Path) -> dict[str, list[tuple[int, float]]]:
    """Lightning CSVLogger ``metrics.csv`` → {metric: [(step, value), ...]} (empty cells skipped)."""
    series: dict[str, list[tuple[int, float]]] = {}
    with csv_path.open() as handle:
        for row in csv.DictReader(handle):
            step = int(float(row.get("step") or 0))
            for key, value in row.items():
                if key in ("step", "epoch") or value in ("", None):
                    continue
                series.setdefault(key, []).append((step, float(value)))
    return series


def training_curves_png(runs: dict[str, Path], path: Path,
                        metrics: Sequence[str] = ("train/ae_step", "train/kd_step", "train/da_step",
                                                  "monitor/kld")) -> Path:
    """One panel per loss term, one line per run (from each run's ``csv/metrics.csv``)."""
    plt = _pyplot()
    fig, axes = plt.subplots(1, len(metrics), figsize=(4 * len(metrics), 3.2), squeeze=False)
    for name, run_dir in runs.items():
        csv_path = run_dir / "csv" / "metrics.csv"
        if not csv_path.is_file():
            continue
        series = read_metrics(csv_path)
        for ax, metric in zip(axes[0], metrics, strict=True):
            if metric in series:
                steps, values = zip(*series[metric], strict=True)
                ax.plot(steps, values, label=name)
    for ax, metric in zip(axes[0], metrics, strict=True):
        ax.set_title(metric)
        ax.set_xlabel("step")
        ax.legend(fontsize=7)
    fig.tight_layout()
    return _save(fig, plt, path)


def _save(fig: Any, plt: Any, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110, bbox_inches="tight")
    plt.close(fig)
    return path
