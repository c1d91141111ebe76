"""MAE random masking (XKD §3.3): per-sample random subsets of tokens are dropped before the encoder.

Defaults (Table S4, §B.4): 0.85 of video tokens, 0.80 of audio tokens are masked. The kept count is, at least one
token, ``⌊N · (1 − ratio)⌋`` with ``rounding="floor"`` (MAE's ``int()``, made robust to float error; 58 of 392
video tokens, 112 of 560 audio tokens) or ``round(N · (1 − ratio))`` with ``rounding="round"`` (Python's round, as
the official XKD code's ``random_masking``; 59 of 392, 112 of 560). XKD picks one with ``model.mask_rounding``.
"""

from __future__ import annotations

from typing import Literal, NamedTuple

import torch

Rounding = Literal["round", "floor"]

VIDEO_MASK_RATIO = 0.85
AUDIO_MASK_RATIO = 0.80


class MaskInfo(NamedTuple):
    """``ids_keep (B, K)`` visible token indices (ascending noise order), ``ids_restore (B, N)`` the inverse
    permutation used by the decoder to unshuffle ``[visible; mask tokens]``, ``mask (B, N)`` True = masked."""

    ids_keep: torch.Tensor
    ids_restore: torch.Tensor
    mask: torch.Tensor


def num_visible(num_tokens: int, ratio: float, rounding: Rounding = "floor") -> int:
    if not 0.0 <= ratio < 1.0:
        raise ValueError(f"mask ratio must be in [0, 1), got {ratio}")
    if rounding == "round":
        return max(1, round(num_tokens * (1.0 - ratio)))
    if rounding == "floor":
        return max(1, int(num_tokens * (1.0 - ratio) + 1e-6))  # 560·(1−0.8) is 111.99… in floating point
    raise ValueError(f"rounding must be 'round' or 'floor', got {rounding!r}")


def random_masking(
    batch: int,
    num_tokens: int,
    ratio: float,
    generator: torch.Generator | None = None,
    device: torch.device | str | None = None,
    rounding: Rounding = "floor",
) -> MaskInfo:
    """Vectorised per-sample masking: argsort of uniform noise gives a random permutation per row."""
    return disjoint_maskings(batch, num_tokens, num_visible(num_tokens, ratio, rounding), 1, generator, device)[0]


def disjoint_maskings(
    batch: int,
    num_tokens: int,
    keep: int,
    views: int,
    generator: torch.Generator | None = None,
    device: torch.device | str | None = None,
) -> list[MaskInfo]:
    """``views`` maskings of ``keep`` visible tokens each whose visible sets are mutually exclusive per sample.

    One random permutation per row; view ``i`` keeps its ``i``-th block of ``keep`` indices (MAViL's second
    intra-modal view, MAViL §3.2: "a second random view containing 20 % of tokens that are mutually exclusive
    from the first"). Each view's ``ids_restore`` puts its own visible tokens first, so the MAE decoder works with
    any of them.
    """
    if not 1 <= keep * views <= num_tokens:
        raise ValueError(f"{views} disjoint views of {keep} visible tokens do not fit in {num_tokens} tokens")
    noise = torch.rand(batch, num_tokens, generator=generator, device=generator.device if generator else device)
    noise = noise.to(device) if device is not None else noise
    order = noise.argsort(dim=1)
    out = []
    for i in range(views):
        ids_shuffle = torch.cat([order[:, i * keep :], order[:, : i * keep]], dim=1)
        ids_restore = ids_shuffle.argsort(dim=1)
        mask = torch.ones(batch, num_tokens, dtype=torch.bool, device=noise.device)
        mask[:, :keep] = False
        out.append(MaskInfo(ids_shuffle[:, :keep], ids_restore, torch.gather(mask, 1, ids_restore)))
    return out
