"""Fine-tuning recipe pieces on tensors: RandAugment settings, random erasing, AudioMAE mixup, fine-tuning token
masking, spectrogram noise and time warp (XKD §A.6 Tables S6–S7 and its official ``codes/eval``; MAViL App. B
Table 10 and AudioMAE, its authors' public fine-tuning code).

Each piece takes a ``torch.Generator`` so a seed fixes the draw, and each states where the paper and the official
code part ways; the presets in :mod:`xmodal.eval.finetune_config` pick the paper's setting by default and carry the
code's as a switch.

* :class:`RandAugSpec` — XKD Table S6 writes RandAugment "(9, .05)" (magnitude 9, magnitude std 0.05, taken as
  written); the official configs use timm's ``rand-m7-n4-mstd0.5-inc1``. Where the paper is silent (4 ops, the
  severity-increasing op maps) the spec follows the code.
* :func:`random_erase` — the official code's timm/VideoMAE random erasing: probability 0.25, one box of area
  U(0.02, 1/3) of the frame and log-uniform aspect in (0.3, 1/0.3), the *same* box on every frame, filled with
  per-pixel N(0, 1) noise (the clip is already normalized).
* :class:`AudioMixup` — AudioMAE's dataset mixup: each sample, with probability 0.5, is mixed with a random partner
  with λ ~ Beta(10, 10) (``mode="sample"``); ``mode="batch"`` mixes a whole batch with probability 0.5 and one λ.
* :func:`structured_keep_ids` — fine-tuning masking (AudioMAE ``random_masking_2d``; MAViL App. B): whole token
  rows along chosen grid axes are dropped (``int(n·(1 − p))`` positions kept per axis group).
* :func:`spec_noise_snr` (MAViL Table 10 "N", 20 dB SNR) and :func:`audiomae_noise` (AudioMAE's ``noise``: uniform
  noise scaled by U(0, 1)/10, then a roll of −10..9 frames), :func:`time_warp` (ESPnet's SpecAugment time warp
  that XKD's code calls, window 20).
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from xmodal.data import video_transforms as vt


@dataclass(frozen=True)
class RandAugSpec:
    """timm-style RandAugment settings; ``apply`` runs :func:`xmodal.data.video_transforms.rand_augment`."""

    magnitude: float = 9.0
    num_ops: int = 4
    magnitude_std: float = 0.05
    increasing: bool = True

    @classmethod
    def parse(cls, text: str) -> RandAugSpec:
        """``rand-m7-n4-mstd0.5-inc1`` → spec (timm's defaults n=2, mstd=0, inc=0 for missing parts)."""
        parts = text.split("-")
        if parts[0] != "rand":
            raise ValueError(f"RandAugment string must start with 'rand-', got {text!r}")
        values = {"m": 10.0, "n": 2.0, "mstd": 0.0, "inc": 0.0}
        for part in parts[1:]:
            m = re.fullmatch(r"(mstd|inc|m|n)([0-9.]+)", part)
            if m is None:
                raise ValueError(f"unknown RandAugment field {part!r} in {text!r} (known: m, n, mstd, inc)")
            values[m.group(1)] = float(m.group(2))
        return cls(values["m"], int(values["n"]), values["mstd"], bool(values["inc"]))

    def timm(self) -> str:
        return f"rand-m{self.magnitude:g}-n{self.num_ops}-mstd{self.magnitude_std:g}-inc{int(self.increasing)}"

    def apply(self, video: Tensor, gen: torch.Generator) -> Tensor:
        return vt.rand_augment(video, gen, num_ops=self.num_ops, magnitude=self.magnitude,
                               magnitude_std=self.magnitude_std, increasing=self.increasing)


PAPER_RANDAUG = RandAugSpec(magnitude=9.0, num_ops=4, magnitude_std=0.05, increasing=True)
OFFICIAL_RANDAUG = RandAugSpec.parse("rand-m7-n4-mstd0.5-inc1")


def random_erase(video: Tensor, gen: torch.Generator, p: float = 0.25, area: tuple[float, float] = (0.02, 1 / 3),
                 min_aspect: float = 0.3, attempts: int = 10) -> Tensor:
    """Random erasing on a normalized ``(C, T, H, W)`` clip, the same box on all frames (see the module doc)."""
    if not vt.bernoulli(gen, p):
        return video
    c, t, h, w = video.shape
    lo, hi = math.log(min_aspect), math.log(1.0 / min_aspect)
    for _ in range(attempts):
        target = vt.uniform(gen, *area) * h * w
        aspect = math.exp(vt.uniform(gen, lo, hi))
        bh, bw = round(math.sqrt(target * aspect)), round(math.sqrt(target / aspect))
        if bw < w and bh < h:
            top = int(torch.randint(0, h - bh + 1, (), generator=gen))
            left = int(torch.randint(0, w - bw + 1, (), generator=gen))
            out = video.clone()
            out[:, :, top:top + bh, left:left + bw] = torch.randn((c, t, bh, bw), generator=gen).to(video)
            return out
    return video


MixMode = Literal["sample", "batch"]


class AudioMixup:
    """AudioMAE mixup on a batch: ``(inputs, targets) -> (inputs, targets)`` with soft/multi-hot float targets.

    All modalities of a sample get the same partner and λ. AudioMAE mixes waveforms before its filterbank and draws
    the partner from the whole dataset; here the mix is on the model inputs (spectrograms, frames) and the partner is
    a uniformly drawn other sample of the batch — the two differences the docs list for this recipe.
    """

    def __init__(self, prob: float = 0.5, alpha: float = 10.0, mode: MixMode = "sample", seed: int = 0) -> None:
        if mode not in ("sample", "batch"):
            raise ValueError(f"mixup mode must be 'sample' or 'batch', got {mode!r}")
        self.prob, self.alpha, self.mode = prob, alpha, mode
        self.gen = torch.Generator().manual_seed(seed)
        self.rng = np.random.default_rng(seed)

    def state_dict(self) -> dict[str, Any]:
        """The random state (torch and numpy generators), kept in checkpoints so a resumed run draws on."""
        return {"gen": self.gen.get_state(), "rng": self.rng.bit_generator.state}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.gen.set_state(state["gen"])
        self.rng.bit_generator.state = state["rng"]

    def draw(self, batch: int) -> tuple[Tensor, Tensor]:
        """``(λ (B,), partner (B,))``; λ = 1 for a sample left unmixed."""
        if self.mode == "batch":
            mixed = torch.full((batch,), float(torch.rand((), generator=self.gen)) < self.prob)
            lam = torch.full((batch,), float(self.rng.beta(self.alpha, self.alpha)))
        else:
            mixed = torch.rand(batch, generator=self.gen) < self.prob
            lam = torch.as_tensor(self.rng.beta(self.alpha, self.alpha, size=batch), dtype=torch.float32)
        offset = torch.randint(1, max(batch, 2), (batch,), generator=self.gen) if batch > 1 else torch.zeros(1)
        partner = (torch.arange(batch) + offset.long()) % batch
        return torch.where(mixed, lam.float(), torch.ones(batch)), partner

    def __call__(self, inputs: dict[str, Tensor], targets: Tensor) -> tuple[dict[str, Tensor], Tensor]:
        lam, partner = self.draw(targets.shape[0])

        def mix(x: Tensor) -> Tensor:
            w = lam.to(x.device, x.dtype).view(-1, *([1] * (x.ndim - 1)))
            return w * x + (1.0 - w) * x[partner.to(x.device)]

        return {k: mix(v) for k, v in inputs.items()}, mix(targets.float())


AxisGroups = tuple[tuple[tuple[int, ...], float], ...]
AUDIO_FT_MASK: AxisGroups = (((1,), 0.2), ((0,), 0.2))  # (F, T) grid: 20 % of time columns, 20 % of frequency rows
VIDEO_FT_MASK: AxisGroups = (((0,), 0.2), ((1, 2), 0.2))  # (T, H, W) grid: 20 % of time slices, 20 % of positions


def structured_keep_ids(grid: tuple[int, ...], batch: int, groups: AxisGroups, gen: torch.Generator) -> Tensor:
    """Indices ``(B, K)`` (ascending, row-major ``grid`` order) of the tokens kept by fine-tuning masking.

    Each ``(axes, p)`` group drops a random ``n − int(n·(1 − p))`` of its ``n = ∏ grid[axes]`` positions per sample
    (AudioMAE keeps ``int(T·(1 − p))`` time and ``int(F·(1 − p))`` frequency rows); a token is kept when every group
    keeps its position, so every sample keeps the same count ``K``.
    """
    coords = torch.stack(torch.meshgrid(*[torch.arange(g) for g in grid], indexing="ij"), dim=-1).reshape(-1, len(grid))
    keep = torch.ones(batch, coords.shape[0], dtype=torch.bool)
    for axes, p in groups:
        sizes = [grid[a] for a in axes]
        n = math.prod(sizes)
        n_keep = int(n * (1.0 - p))
        position = torch.zeros(coords.shape[0], dtype=torch.long)
        for a, s in zip(axes, sizes, strict=True):
            position = position * s + coords[:, a]
        chosen = torch.rand(batch, n, generator=gen).argsort(dim=1)[:, :n_keep]
        kept = torch.zeros(batch, n, dtype=torch.bool).scatter_(1, chosen, True)
        keep &= kept[:, position]
    k = int(keep[0].sum())
    return keep.nonzero()[:, 1].reshape(batch, k)


def spec_noise_snr(spec: Tensor, gen: torch.Generator, snr_db: float = 20.0) -> Tensor:
    """Add Gaussian noise whose power is the spectrogram's mean square / 10^(snr/10) (MAViL Table 10 "N")."""
    power = spec.pow(2).mean()
    return spec + torch.randn(spec.shape, generator=gen).to(spec) * torch.sqrt(power / 10 ** (snr_db / 10))


def audiomae_noise(spec: Tensor, gen: torch.Generator) -> Tensor:
    """AudioMAE's ``noise`` augmentation on a normalized ``(..., F, T)`` fbank: ``+ U[0,1)·u/10`` (u ~ U[0,1) once per
    clip) then a time roll by an offset in −10..9 frames."""
    scale = float(torch.rand((), generator=gen)) / 10.0
    out = spec + torch.rand(spec.shape, generator=gen).to(spec) * scale
    return torch.roll(out, int(torch.randint(-10, 10, (), generator=gen)), dims=-1)


def time_warp(spec: Tensor, gen: torch.Generator, window: int = 20) -> Tensor:
    """ESPnet time warp on ``(..., F, T)``: a centre c ~ U{w..T−w−1} moves to c' ~ U{c−w+1..c+w}; the two sides are
    resized (bicubic) to c' and T − c' frames. Spectrograms with ``T − w <= w`` are returned unchanged."""
    f, t = spec.shape[-2:]
    if t - window <= window:
        return spec
    center = int(torch.randint(window, t - window, (), generator=gen))
    warped = int(torch.randint(center - window, center + window, (), generator=gen)) + 1
    x = spec.reshape(-1, 1, f, t)
    left = F.interpolate(x[..., :center], size=(f, warped), mode="bicubic", align_corners=False)
    right = F.interpolate(x[..., center:], size=(f, t - warped), mode="bicubic", align_corners=False)
    return torch.cat([left, right], dim=-1).reshape(spec.shape)
