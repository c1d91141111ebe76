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


def gather_sizes(x: torch.Tensor) -> list[int]:
    """Row counts of ``x`` on every process, in rank order (one tiny all_gather).

    Ranks hold different batch sizes when a rank's loader ends with a partial batch or a batch statistic is taken
    over a filtered subset; reading the counts is one host sync, the price of concatenating unequal tensors.
    """
    local = torch.tensor([x.shape[0]], dtype=torch.long, device=x.device)
    out = [torch.zeros_like(local) for _ in range(world_size())]
    dist.all_gather(out, local)
    return [int(v) for v in torch.cat(out).tolist()]


def _all_gather_rows(x: torch.Tensor, sizes: list[int]) -> torch.Tensor:
    """all_gather of ``(B_r, ...)`` tensors of per-rank sizes ``sizes``: pad to the largest, gather, strip."""
    top = max(sizes)
    padded = x.contiguous()
    if x.shape[0] < top:
        padded = torch.cat([padded, padded.new_zeros((top - x.shape[0], *x.shape[1:]))], 0)
    out = [torch.empty_like(padded) for _ in sizes]
    dist.all_gather(out, padded)
    return torch.cat([part[:n] for part, n in zip(out, sizes, strict=True)], 0)


class _GatherWithGrad(torch.autograd.Function):
    """all_gather whose backward returns this rank's rows of the *summed* incoming gradients.

    Summing (not averaging) matches the single-process gradient of a loss computed on the global batch
    when DDP then averages gradients over ranks and every rank's loss is the same global-batch loss.
    Per-rank sizes may differ; each rank's rows start at the sum of the sizes of the ranks before it.
    """

    @staticmethod
    def forward(ctx, x: torch.Tensor, sizes: list[int]) -> torch.Tensor:  # type: ignore[override]
        ctx.sizes = sizes
        return _all_gather_rows(x, sizes)

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> tuple[torch.Tensor, None]:  # type: ignore[override]
        grad = grad.contiguous().clone()
        dist.all_reduce(grad, op=dist.ReduceOp.SUM)
        start = sum(ctx.sizes[: rank()])
        return grad[start : start + ctx.sizes[rank()]], None


def gather_cat(x: torch.Tensor, gather: Gather = "auto", grad: bool = True) -> torch.Tensor:
    """Concatenate ``x`` (B_r, ...) from all processes along dim 0 → (Σ_r B_r, ...), rank order.

    Per-rank batch sizes may differ (a rank may even hold zero rows). With ``grad=True`` gradients flow back to
    the local rows.
    """
    if not should_gather(gather):
        return x
    sizes = gather_sizes(x)
    if grad:
        return _GatherWithGrad.apply(x, sizes)
    return _all_gather_rows(x.detach(), sizes)
