"""Fixed sine-cosine positional embeddings (MAE, Audio-MAE, MAE-ST; used by MAViL, MAViL §3.1, App. B).

One axis of ``d`` channels: ``[sin(p·ω_k), cos(p·ω_k)]`` with ``ω_k = 10000^(−k/(d/2))``, ``k < d/2``. A grid
splits the channels into per-axis blocks, concatenated in a fixed order:

- 2-D (audio, xmodal's ``(frequency, time)`` token grid): the first half encodes the frequency index, the second
  the time index. Audio-MAE/MAViL build the same table on their ``(time, frequency)`` grid with MAE's 2-D helper
  (whose first half encodes the *column*, i.e. frequency), so the two tables hold identical rows, only in
  transposed token order; :mod:`xmodal.models.mavil_checkpoint` relies on this.
- 3-D (video, ``(time, height, width)``): MAE-ST's split, the first quarter temporal and the other three quarters
  spatial, which MAE's 2-D rule splits again into a width half then a height half.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch


def sincos_1d(positions: torch.Tensor, dim: int) -> torch.Tensor:
    """``(M,)`` positions → ``(M, dim)`` rows ``[sin(p·ω), cos(p·ω)]`` (float64 arithmetic, as MAE's numpy)."""
    if dim % 2:
        raise ValueError(f"sin-cos embedding needs an even width, got {dim}")
    omega = 1.0 / 10000.0 ** (torch.arange(dim // 2, dtype=torch.float64) / (dim / 2.0))
    out = positions.to(torch.float64).reshape(-1, 1) * omega.reshape(1, -1)
    return torch.cat([out.sin(), out.cos()], dim=1)


def _axis_blocks(grid: Sequence[int], dim: int) -> list[tuple[int, int]]:
    """(grid axis, channels) blocks in channel order for a 2-D (F, T) or 3-D (T, H, W) grid."""
    if len(grid) == 2:
        if dim % 4:
            raise ValueError(f"2-D sin-cos embedding needs a width divisible by 4, got {dim}")
        return [(0, dim // 2), (1, dim // 2)]
    if len(grid) == 3:
        if dim % 16:
            raise ValueError(f"3-D sin-cos embedding needs a width divisible by 16, got {dim}")
        spatial = dim // 4 * 3
        return [(0, dim // 4), (2, spatial // 2), (1, spatial // 2)]
    raise ValueError(f"sin-cos embeddings are defined for 2-D and 3-D grids, got {tuple(grid)}")


def sincos_pos_embed(grid: Sequence[int], dim: int) -> torch.Tensor:
    """``(∏grid, dim)`` float32 table for tokens in row-major ``grid`` order (see the module docstring)."""
    sizes = [int(g) for g in grid]
    coords = torch.meshgrid(*[torch.arange(g) for g in sizes], indexing="ij")
    blocks = [sincos_1d(coords[axis].reshape(-1), width) for axis, width in _axis_blocks(sizes, dim)]
    return torch.cat(blocks, dim=1).to(torch.float32)
