"""Is the benchmark's class learnable from video, and trivially from audio? (pilot-xkd-synthetic.md: check first)

On a generated benchmark this reports test accuracy of
* ``video_pixels_linear`` — logistic regression on raw downsampled pixels (a weak floor: the cue moves);
* ``video_random_conv_linear`` — logistic regression on mean-pooled features of an untrained 3D conv net;
* ``video_random_tokens_linear`` — logistic regression on the mean of randomly embedded 2×8×8 cuboids
  (ReLU(p·W), the pilot's cuboid size): a proxy for the floor of a randomly initialised ViT with mean pooling;
* ``video_supervised_conv`` — the same small 3D conv net trained with labels for ≤ ``budget_s`` seconds;
* ``audio_meanpatch_linear`` — logistic regression on the mean of the 4×16 patches of an 80-bin log-mel
  (what a linear patch embedding + mean pooling of XKD's audio ViT keeps, xkd.md §4.1);
* ``audio_random_tokens_linear`` — the same with a random non-linear patch embedding before the mean.
The video cue should need learning (supervised ≫ linear), the audio cue should not.
"""

from __future__ import annotations

import argparse
import csv
import json
import time
from pathlib import Path
from typing import Any

import av
import numpy as np
import torch
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from torch import nn

from xmodal.data.synth.render_audio import hz_to_mel, mel_to_hz

PATCH = (4, 16)


def decode_mp4(path: str | Path) -> tuple[np.ndarray, np.ndarray]:
    """All frames (T, H, W, 3) uint8 and the mono waveform of one benchmark clip (already at target fps/rate)."""
    with av.open(str(path)) as container:
        frames = np.stack([f.to_ndarray(format="rgb24") for f in container.decode(video=0)])
    with av.open(str(path)) as container:
        audio = np.concatenate([f.to_ndarray().reshape(-1) for f in container.decode(audio=0)])
    return frames, audio.astype(np.float32)


def load_benchmark(manifest: str | Path, max_clips: int | None = None) -> dict[str, Any]:
    """Decode every clip listed in ``manifest.csv`` (video, audio trimmed to the clip length, labels, splits)."""
    manifest = Path(manifest)
    rows = list(csv.DictReader(manifest.open()))[:max_clips]
    classes = json.loads(manifest.with_suffix(".json").read_text())["classes"]
    meta = json.loads(manifest.with_suffix(".json").read_text())["meta"]["knobs"]
    n_samples = round(meta["duration"] * meta["sample_rate"])
    videos, audios = zip(*(decode_mp4(manifest.parent / r["path"]) for r in rows), strict=True)
    return {"video": np.stack(videos), "audio": np.stack([a[:n_samples] for a in audios]),
            "label": np.array([classes.index(r["label"]) for r in rows]),
            "split": np.array([r["split"] for r in rows]), "sample_rate": meta["sample_rate"],
            "num_classes": len(classes)}


def log_mel(audio: np.ndarray, sample_rate: int, mel_bins: int = 80, frames: int = 448) -> np.ndarray:
    """(N, samples) → (N, mel_bins, frames) log-mel: 25 ms Hann window, hop = samples/frames (4 s → 80×448 as in
    xkd.md §4.1), HTK mel filterbank over [0, sr/2]. Computed in chunks of 64 clips to bound memory."""
    n_fft, win = 512, int(0.025 * sample_rate)
    hop = audio.shape[1] // frames
    window = np.zeros(n_fft, np.float32)
    window[(n_fft - win) // 2:(n_fft - win) // 2 + win] = np.hanning(win)
    edges = mel_to_hz(np.linspace(0, hz_to_mel(sample_rate / 2), mel_bins + 2))
    freqs = np.fft.rfftfreq(n_fft, 1 / sample_rate)
    lo, mid, hi = edges[:-2, None], edges[1:-1, None], edges[2:, None]
    bank = np.clip(np.minimum((freqs - lo) / (mid - lo), (hi - freqs) / (hi - mid)), 0, None).astype(np.float32)
    index = np.arange(frames)[:, None] * hop + np.arange(n_fft)
    out = []
    for chunk in np.array_split(audio, max(1, len(audio) // 64)):
        padded = np.pad(chunk, ((0, 0), (n_fft // 2, n_fft // 2)), mode="reflect")
        spec = np.abs(np.fft.rfft(padded[:, index] * window, axis=-1)).astype(np.float32) ** 2
        out.append(np.log(spec @ bank.T + 1e-6).transpose(0, 2, 1))
    return np.concatenate(out).astype(np.float32)


def mean_patch(spec: np.ndarray, embed: np.ndarray | None = None) -> np.ndarray:
    """Mean over all 4×16 patches of (N, F, T), optionally after a fixed non-linear embedding ReLU(p·W)."""
    n, f, t = spec.shape
    ph, pw = PATCH
    patches = spec[:, : f // ph * ph, : t // pw * pw].reshape(n, f // ph, ph, t // pw, pw)
    patches = patches.transpose(0, 1, 3, 2, 4).reshape(n, -1, ph * pw)
    if embed is not None:
        patches = np.maximum(patches @ embed, 0)
    return patches.mean(axis=1)


def mean_cuboid(video: torch.Tensor, embed: torch.Tensor, cuboid: tuple[int, int, int] = (2, 8, 8)) -> np.ndarray:
    """(N, C, T, H, W) → mean over cuboids of ReLU(cuboid · embed), in chunks of 256 clips."""
    ct, ch, cw = cuboid
    out = []
    for chunk in video.split(256):
        n, c, t, h, w = chunk.shape
        cubes = chunk[:, :, : t // ct * ct, : h // ch * ch, : w // cw * cw]
        cubes = cubes.reshape(n, c, t // ct, ct, h // ch, ch, w // cw, cw).permute(0, 2, 4, 6, 1, 3, 5, 7)
        cubes = cubes.reshape(n, -1, c * ct * ch * cw)
        out.append(torch.relu(cubes @ embed).mean(dim=1))
    return torch.cat(out).numpy()


class TinyConv3d(nn.Module):
    """Three strided 3D convolutions and global average pooling: small enough to train on a CPU in minutes."""

    def __init__(self, num_classes: int, width: int = 32) -> None:
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv3d(3, width, (1, 5, 5), stride=(1, 2, 2), padding=(0, 2, 2)), nn.BatchNorm3d(width), nn.ReLU(),
            nn.Conv3d(width, 2 * width, 3, stride=(1, 2, 2), padding=1), nn.BatchNorm3d(2 * width), nn.ReLU(),
            nn.Conv3d(2 * width, 4 * width, 3, stride=2, padding=1), nn.BatchNorm3d(4 * width), nn.ReLU(),
            nn.AdaptiveAvgPool3d(1), nn.Flatten())
        self.head = nn.Linear(4 * width, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x))


def _to_tensor(video: np.ndarray, frame_step: int) -> torch.Tensor:
    """(N, T, H, W, 3) uint8 → (N, 3, T/step, H, W) float in [-1, 1]."""
    return torch.from_numpy(video[:, ::frame_step]).permute(0, 4, 1, 2, 3).float().div(127.5).sub(1)


def _linear_probe(train: np.ndarray, y_train: np.ndarray, test: np.ndarray, y_test: np.ndarray) -> float:
    clf = make_pipeline(StandardScaler(), LogisticRegression(C=1.0, max_iter=2000))
    clf.fit(train, y_train)
    return float(clf.score(test, y_test))


@torch.no_grad()
def _conv_features(model: TinyConv3d, x: torch.Tensor) -> np.ndarray:
    model.eval()
    return torch.cat([model.features(chunk) for chunk in x.split(128)]).numpy()


def train_supervised(x: torch.Tensor, y: torch.Tensor, num_classes: int, budget_s: float, seed: int = 0,
                     epochs: int = 30) -> tuple[TinyConv3d, dict[str, float]]:
    """Adam, batch 32, until ``epochs`` or the wall-clock budget runs out (checked after every step)."""
    torch.manual_seed(seed)
    model = TinyConv3d(num_classes)
    opt = torch.optim.Adam(model.parameters(), lr=2e-3)
    start, done, steps = time.perf_counter(), 0, 0
    for _ in range(epochs):
        model.train()
        for idx in torch.randperm(len(x)).split(32):
            loss = nn.functional.cross_entropy(model(x[idx]), y[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
            steps += 1
            if time.perf_counter() - start > budget_s:
                return model, {"epochs": done + 1, "steps": steps, "seconds": time.perf_counter() - start}
        done += 1
    return model, {"epochs": done, "steps": steps, "seconds": time.perf_counter() - start}


@torch.no_grad()
def _accuracy(model: TinyConv3d, x: torch.Tensor, y: torch.Tensor) -> float:
    model.eval()
    pred = torch.cat([model(chunk).argmax(1) for chunk in x.split(128)])
    return float((pred == y).float().mean())


def learnability(manifest: str | Path, *, budget_s: float = 120.0, frame_step: int = 4, threads: int = 2,
                 seed: int = 0, max_clips: int | None = None) -> dict[str, Any]:
    """Run all six probes on the train/test splits of ``manifest``; returns accuracies, chance and timings."""
    torch.set_num_threads(threads)
    t0 = time.perf_counter()
    data = load_benchmark(manifest, max_clips)
    decode_s = time.perf_counter() - t0
    tr, te = data["split"] == "train", data["split"] == "test"
    y = data["label"]
    x = _to_tensor(data["video"], frame_step)
    pixels = torch.nn.functional.avg_pool3d(x, (1, 2, 2)).flatten(1).numpy()
    torch.manual_seed(seed)
    random_net = TinyConv3d(data["num_classes"])
    rand_feats = _conv_features(random_net, x)
    cube_embed = torch.randn(3 * 2 * 8 * 8, 256, generator=torch.Generator().manual_seed(seed)) / (3 * 2 * 8 * 8) ** 0.5
    tokens = mean_cuboid(x, cube_embed)
    model, info = train_supervised(x[tr], torch.from_numpy(y[tr]), data["num_classes"], budget_s, seed)
    spec = log_mel(data["audio"], data["sample_rate"])
    spec = (spec - spec[tr].mean()) / spec[tr].std()
    embed = np.random.default_rng(seed).standard_normal((PATCH[0] * PATCH[1], 256)).astype(np.float32) / 8
    return {
        "clips": {"train": int(tr.sum()), "test": int(te.sum())}, "chance": 1 / data["num_classes"],
        "video_pixels_linear": _linear_probe(pixels[tr], y[tr], pixels[te], y[te]),
        "video_random_conv_linear": _linear_probe(rand_feats[tr], y[tr], rand_feats[te], y[te]),
        "video_random_tokens_linear": _linear_probe(tokens[tr], y[tr], tokens[te], y[te]),
        "video_supervised_conv": _accuracy(model, x[te], torch.from_numpy(y[te])),
        "audio_meanpatch_linear": _linear_probe(mean_patch(spec[tr]), y[tr], mean_patch(spec[te]), y[te]),
        "audio_random_tokens_linear": _linear_probe(mean_patch(spec[tr], embed), y[tr], mean_patch(spec[te], embed),
                                                    y[te]),
        "supervised_training": info, "decode_seconds": decode_s, "threads": threads, "frame_step": frame_step,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="learnability probes on a generated synthetic benchmark")
    parser.add_argument("manifest", type=Path)
    parser.add_argument("--budget-s", type=float, default=120.0)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--max-clips", type=int, default=None)
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args(argv)
    result = learnability(args.manifest, budget_s=args.budget_s, threads=args.threads, max_clips=args.max_clips)
    text = json.dumps(result, indent=2)
    print(text)
    if args.json is not None:
        args.json.write_text(text + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
