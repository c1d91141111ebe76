"""2-process gloo: gathered batch statistics (centering, MMD, InfoNCE negatives) equal the single-process
global-batch result.

Each rank holds one slice of a global batch. Values must match the single-process computation on the whole
batch; MMD input gradients on rank r must equal ``world_size ×`` the single-process gradient of its slice,
so that DDP's *average* over ranks recovers the full-batch parameter gradient (``_GatherWithGrad``).
"""

from __future__ import annotations

import os

import torch
import torch.distributed as dist
import torch.multiprocessing as mp

from xmodal.distributed import gather_cat
from xmodal.losses.contrastive import info_nce
from xmodal.losses.distillation import update_center
from xmodal.losses.mmd import mmd_loss

WORLD = 2


def _worker(rank: int, init_file: str) -> None:
    os.environ["OMP_NUM_THREADS"] = "1"
    torch.set_num_threads(1)
    dist.init_process_group("gloo", init_method=f"file://{init_file}", rank=rank, world_size=WORLD)
    try:
        gen = torch.Generator().manual_seed(0)
        # Centering: unequal per-rank batch sizes (3 and 5 rows) still give the global mean.
        logits = torch.randn(8, 6, generator=gen)
        center = torch.randn(1, 6, generator=gen)
        local = logits[:3] if rank == 0 else logits[3:]
        torch.testing.assert_close(update_center(center, local, 0.9), update_center(center, logits, 0.9, gather=False))
        # MMD: x has 2 rows and y 3 rows per rank (equal across ranks, as gather_cat requires).
        x = torch.randn(4, 5, generator=gen)
        y = torch.randn(6, 5, generator=gen) + 0.5
        for bandwidths in ([0.5, 1.0, 2.0], "median"):
            for estimator in ("biased", "unbiased"):
                kw = {"bandwidths": bandwidths, "estimator": estimator}
                fx, fy = x.clone().requires_grad_(), y.clone().requires_grad_()
                full = mmd_loss(fx, fy, gather=False, **kw)
                full.backward()
                lx = x[2 * rank : 2 * rank + 2].clone().requires_grad_()
                ly = y[3 * rank : 3 * rank + 3].clone().requires_grad_()
                part = mmd_loss(lx, ly, **kw)  # gather="auto": on, world size 2
                part.backward()
                torch.testing.assert_close(part, full)
                torch.testing.assert_close(lx.grad, WORLD * fx.grad[2 * rank : 2 * rank + 2])
                torch.testing.assert_close(ly.grad, WORLD * fy.grad[3 * rank : 3 * rank + 3])
                # DDP averages the per-rank gradients: the mean over ranks is the full-batch gradient.
                gx = torch.zeros(4, 5)
                gx[2 * rank : 2 * rank + 2] = lx.grad
                dist.all_reduce(gx)
                torch.testing.assert_close(gx / WORLD, fx.grad)
        _unequal_sizes(rank, gen)
        _info_nce(rank, gen)
    finally:
        dist.destroy_process_group()


def _unequal_sizes(rank: int, gen: torch.Generator) -> None:
    """Ranks holding different row counts (a skipped file, a partial batch; even zero rows) still gather exactly."""
    rows = {"x": (1, 4), "y": (3, 2), "empty": (0, 3)}
    data = {k: torch.randn(sum(n), 5, generator=gen) for k, n in rows.items()}
    for key, counts in rows.items():
        start = sum(counts[:rank])
        local = data[key][start : start + counts[rank]].clone().requires_grad_()
        gathered = gather_cat(local)
        torch.testing.assert_close(gathered, data[key])
        weights = torch.arange(1.0, 1.0 + gathered.numel()).view_as(gathered)
        (gathered * weights).sum().backward()
        # Every rank computes the same global loss, so the local rows receive the sum over ranks of its gradient.
        torch.testing.assert_close(local.grad, WORLD * weights[start : start + counts[rank]])
        torch.testing.assert_close(gather_cat(local, grad=False), data[key])
    x, y = data["x"], data["y"]
    for estimator in ("biased", "unbiased"):
        fx, fy = x.clone().requires_grad_(), y.clone().requires_grad_()
        full = mmd_loss(fx, fy, bandwidths=[0.5, 2.0], estimator=estimator, gather=False)
        full.backward()
        sx, sy = sum(rows["x"][:rank]), sum(rows["y"][:rank])
        lx = x[sx : sx + rows["x"][rank]].clone().requires_grad_()
        ly = y[sy : sy + rows["y"][rank]].clone().requires_grad_()
        part = mmd_loss(lx, ly, bandwidths=[0.5, 2.0], estimator=estimator)
        part.backward()
        torch.testing.assert_close(part, full)
        torch.testing.assert_close(lx.grad, WORLD * fx.grad[sx : sx + rows["x"][rank]])
        torch.testing.assert_close(ly.grad, WORLD * fy.grad[sy : sy + rows["y"][rank]])


def _info_nce(rank: int, gen: torch.Generator) -> None:
    """MAViL's InfoNCE (Eq. 2) with all ranks' negatives: the global-batch loss, for equal and unequal rank sizes."""
    x, y = torch.randn(7, 6, generator=gen), torch.randn(7, 6, generator=gen)
    for counts in ((3, 4), (5, 2)):
        start = sum(counts[:rank])
        rows = slice(start, start + counts[rank])
        for tau, symmetric in ((0.1, False), (1.0, True)):
            fx, fy = x.clone().requires_grad_(), y.clone().requires_grad_()
            full = info_nce(fx, fy, tau, symmetric, gather=False)
            full.backward()
            lx, ly = x[rows].clone().requires_grad_(), y[rows].clone().requires_grad_()
            part = info_nce(lx, ly, tau, symmetric)  # gather="auto": on at world size 2
            part.backward()
            torch.testing.assert_close(part, full)
            torch.testing.assert_close(lx.grad, WORLD * fx.grad[rows])
            torch.testing.assert_close(ly.grad, WORLD * fy.grad[rows])
            gx = torch.zeros(7, 6)  # DDP averages per-rank gradients: the average is the global-batch gradient
            gx[rows] = lx.grad
            dist.all_reduce(gx)
            torch.testing.assert_close(gx / WORLD, fx.grad)


def test_gathered_statistics_equal_single_process(tmp_path) -> None:
    mp.spawn(_worker, args=(str(tmp_path / "init"),), nprocs=WORLD, join=True)
