"""Process-group helpers: batch statistics (centers, negatives, k-means features) must see the global batch.

``gather`` arguments across xmodal take ``"auto"`` (on when the world size is above 1), ``True`` or ``False``.
"""

from __future__ import annotations

from typing import Literal

import torch
import torch.distributed as dist

Gather = Literal["auto"] | bool


def world_size() -> int:
    return dist.get_world_size() if dist.is_available() and dist.is_initialized() else 1


def rank() -> int:
    return dist.get_rank() if dist.is_available() and dist.is_initialized() else 0


def should_gather(gather: Gather) -> bool:
    return world_size() > 1 if gather == "auto" else bool(gather)


def all_reduce_mean(x: torch.Tensor, gather: Gather = "auto") -> torch.Tensor:
    """Mean of ``x`` over processes (no gradient); identity on one process."""
    if not should_gather(gather):
        return x
    x = x.detach().clone()
    dist.all_reduce(x, op=dist.ReduceOp.SUM)
    return x / world_size()


def all_reduce_sum(x: torch.Tensor, gather: Gather = "auto") -> torch.Tensor:
    """Sum of ``x`` over processes (no gradient); identity on one process."""
    if not should_gather(gather):
        return x
    x = x.detach().clone()
    dist.all_reduce(x, op=dist.ReduceOp.SUM)
    return x


class _GatherWithGrad(torch.autograd.Function):
    """all_gather whose backward returns this rank's slice of the *summed* incoming gradients.

    Summing (not averaging) matches the single-process gradient of a loss computed on the global batch
    when DDP then averages gradients over ranks and every rank's loss is the same global-batch loss.
    """

    @staticmethod
    def forward(ctx, x: torch.Tensor) -> torch.Tensor:  # type: ignore[override]
        out = [torch.zeros_like(x) for _ in range(world_size())]
        dist.all_gather(out, x.contiguous())
        return torch.cat(out, 0)

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> torch.Tensor:  # type: ignore[override]
        grad = grad.contiguous().clone()
        dist.all_reduce(grad, op=dist.ReduceOp.SUM)
        n = grad.shape[0] // world_size()
        return grad[rank() * n : (rank() + 1) * n]


def gather_cat(x: torch.Tensor, gather: Gather = "auto", grad: bool = True) -> torch.Tensor:
    """Concatenate ``x`` (B, ...) from all processes along dim 0 → (world·B, ...), rank order.

    With ``grad=True`` gradients flow back to the local slice (equal per-rank batch sizes required).
    """
    if not should_gather(gather):
        return x
    if grad:
        return _GatherWithGrad.apply(x)
    out = [torch.zeros_like(x) for _ in range(world_size())]
    dist.all_gather(out, x.detach().contiguous())
    return torch.cat(out, 0)
