"""Audio augmentations on waveforms ``(samples,)`` and log spectrograms ``(1, F, T)``, each driven by a generator.

- :func:`volume_jitter` — XKD (Table S2): waveform gain ~ U[1 − s, 1 + s], s = 0.1 (global) / 0.2 (local).
- :func:`random_resized_crop_spec` — XKD's local-view "Random Crop" (Table S2: range [0.6, 1.5], crop scale
  [1, 1.5]), the BYOL-A crop that XKD cites (Niizumi et al.): the spectrogram sits centred on a virtual canvas of
  (1.0 × F, 1.5 × T) filled with ``fill``; a crop of (U[0.6, 1.5] × F, U[0.6, 1.5] × T), clipped to the canvas, is
  taken at a random place and resized back to (F, T) bicubically.
- :func:`mask_frequency` / :func:`mask_time` / :func:`spec_augment` — SpecAugment masks (MAViL Table 10:
  192/48 time/frequency; XKD Table S7: 2 masks, time [0, 20], frequency [0, 10]).
- :func:`cyclic_roll` / :func:`roll_magnitude` — MAViL's "R": a random start with cyclic rolling in time (MAViL
  Table 10), with AudioMAE's optional gain ~ Beta(10, 10) + 0.5.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from xmodal.data.mix import sample_beta


def draw_volume_gain(scale: float, gen: torch.Generator) -> float:
    """A gain ~ U[1 − scale, 1 + scale]."""
    return 1.0 + scale * (2.0 * float(torch.rand((), generator=gen)) - 1.0)


def volume_jitter(wave: Tensor, scale: float, gen: torch.Generator) -> Tensor:
    """Multiply the waveform by a gain ~ U[1 − scale, 1 + scale]."""
    return wave * draw_volume_gain(scale, gen)


SpecCrop = tuple[int, int, int, int]


def draw_spec_crop(
    freq: int,
    time: int,
    gen: torch.Generator,
    virtual_scale: tuple[float, float] = (1.0, 1.5),
    freq_scale: tuple[float, float] = (0.6, 1.5),
    time_scale: tuple[float, float] = (0.6, 1.5),
) -> SpecCrop:
    """The draws of :func:`random_resized_crop_spec` for an ``F × T`` spectrogram: crop ``(h, w, i, j)`` on the
    canvas (only the shape is needed, so a worker can draw it before the spectrogram exists)."""
    canvas_f, canvas_t = int(freq * virtual_scale[0]), int(time * virtual_scale[1])
    r = torch.rand(2, generator=gen).tolist()
    h = min(max(int((freq_scale[0] + (freq_scale[1] - freq_scale[0]) * r[0]) * freq), 1), canvas_f)
    w = min(max(int((time_scale[0] + (time_scale[1] - time_scale[0]) * r[1]) * time), 1), canvas_t)
    i = int(torch.randint(0, canvas_f - h + 1, (), generator=gen))
    j = int(torch.randint(0, canvas_t - w + 1, (), generator=gen))
    return h, w, i, j


def apply_spec_crop(
    spec: Tensor, crop: SpecCrop, virtual_scale: tuple[float, float] = (1.0, 1.5), fill: float = 0.0
) -> Tensor:
    """Place ``(..., F, T)`` centred on the canvas, take ``crop`` and resize it back bicubically."""
    f, t = spec.shape[-2:]
    h, w, i, j = crop
    canvas_f, canvas_t = int(f * virtual_scale[0]), int(t * virtual_scale[1])
    lead = spec.shape[:-2]
    canvas = spec.new_full((*lead, canvas_f, canvas_t), fill)
    y, x = (canvas_f - f) // 2, (canvas_t - t) // 2
    canvas[..., y : y + f, x : x + t] = spec
    crop_part = canvas[..., i : i + h, j : j + w].reshape(-1, 1, h, w)
    out = F.interpolate(crop_part, size=(f, t), mode="bicubic", align_corners=True)
    return out.reshape(*lead, f, t)


def random_resized_crop_spec(
    spec: Tensor,
    gen: torch.Generator,
    virtual_scale: tuple[float, float] = (1.0, 1.5),
    freq_scale: tuple[float, float] = (0.6, 1.5),
    time_scale: tuple[float, float] = (0.6, 1.5),
    fill: float = 0.0,
) -> Tensor:
    """BYOL-A random resized crop of ``(..., F, T)`` back to ``(..., F, T)`` (see the module docstring).

    ``fill`` is the canvas value outside the spectrogram: 0 is the dataset mean for a normalized log spectrogram,
    which is what BYOL-A pads with."""
    crop = draw_spec_crop(spec.shape[-2], spec.shape[-1], gen, virtual_scale, freq_scale, time_scale)
    return apply_spec_crop(spec, crop, virtual_scale, fill)


def _mask(spec: Tensor, dim: int, width: tuple[int, int], num_masks: int, gen: torch.Generator, fill: float) -> Tensor:
    size = spec.shape[dim]
    out = spec.clone()
    index = torch.arange(size, device=spec.device)
    keep = torch.ones(size, dtype=torch.bool, device=spec.device)
    for _ in range(num_masks):
        w = int(torch.randint(width[0], min(width[1], size) + 1, (), generator=gen))
        start = int(torch.randint(0, size - w + 1, (), generator=gen))
        keep &= (index < start) | (index >= start + w)
    shape = [1] * spec.dim()
    shape[dim] = size
    return out.masked_fill(~keep.view(shape), fill)


def mask_frequency(
    spec: Tensor, width: tuple[int, int], gen: torch.Generator, num_masks: int = 1, fill: float = 0.0
) -> Tensor:
    """Set ``num_masks`` bands of whole frequency rows of ``(..., F, T)`` to ``fill``; each band's width ~
    U{width[0]..width[1]} (clipped to F) and start ~ U{0..F − width}."""
    return _mask(spec, spec.dim() - 2, width, num_masks, gen, fill)


def mask_time(
    spec: Tensor, width: tuple[int, int], gen: torch.Generator, num_masks: int = 1, fill: float = 0.0
) -> Tensor:
    """Like :func:`mask_frequency` over time columns of ``(..., F, T)``."""
    return _mask(spec, spec.dim() - 1, width, num_masks, gen, fill)


def spec_augment(
    spec: Tensor,
    gen: torch.Generator,
    freq_width: tuple[int, int] = (0, 48),
    time_width: tuple[int, int] = (0, 192),
    num_masks: int = 1,
    fill: float = 0.0,
) -> Tensor:
    """SpecAugment without time warping: ``num_masks`` frequency masks then ``num_masks`` time masks. Defaults are
    MAViL's AudioSet fine-tuning values (Table 10: 48 / 192, one each); XKD uses (0, 10) / (0, 20) with 2 masks."""
    spec = mask_frequency(spec, freq_width, gen, num_masks, fill)
    return mask_time(spec, time_width, gen, num_masks, fill)


def cyclic_roll(x: Tensor, gen: torch.Generator, dim: int = -1) -> Tensor:
    """Roll along ``dim`` by an offset ~ U{0..n − 1}: a random start point that wraps around (MAViL's "R")."""
    shift = int(torch.randint(0, x.shape[dim], (), generator=gen))
    return torch.roll(x, shifts=shift, dims=dim)


def roll_magnitude(wave: Tensor, gen: torch.Generator, alpha: float = 10.0) -> Tensor:
    """AudioMAE's roll-and-magnitude augmentation: :func:`cyclic_roll` then a gain ~ Beta(alpha, alpha) + 0.5."""
    return cyclic_roll(wave, gen) * (sample_beta(alpha, alpha, gen) + 0.5)
