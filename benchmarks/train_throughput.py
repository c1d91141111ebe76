"""XKD training throughput, achieved FLOP/s against a measured matmul peak, and masked vs unmasked encoder time.

Issue 3 §5. Data loading is excluded: every step trains on one in-memory random batch whose views have exactly the
shapes :class:`xmodal.data.views.XKDViews` produces for the config (found by running the views once on a random
raw clip), so the numbers are the model's alone. A step is what the Lightning loop does per batch: all XKD losses
(``compute_losses``), backward, AdamW, and the EMA teacher update (Eq. 13).

- ``train``: clips/s = batch / median step time, after ``--warmup`` untimed steps, for each ``--configs`` entry
  (``tiny`` = configs/xkd/synthetic_tiny.yaml, ``vitb`` = configs/xkd/kinetics400.yaml, the paper's ViT-B).
- ``flops``: FLOPs of one step counted by ``torch.utils.flop_counter.FlopCounterMode`` (matmuls, convolutions,
  attention; element-wise work is not counted), divided by the median step time, reported as a fraction of the
  peak: the best of several ``--matmul-size``² fp32 matmuls timed in the same run (bf16 as well on CUDA).
- ``masking``: the ViT-B video encoder on a 32×112² clip (8×7×7 = 392 tokens) with 85% of the tokens dropped
  (XKD §4.1, 58 kept + CLS) against all tokens, forward pass without gradients; the ratio is the figure
  (~5–7× expected: cost is linear in tokens for the MLPs and projections, quadratic for attention).

``--device cuda`` runs under bf16 autocast and reports ``torch.cuda.max_memory_allocated`` per config.

    python benchmarks/train_throughput.py --configs tiny vitb --batch-size 64 2 --json train.json
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import statistics
import sys
import time
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

CONFIGS = {"tiny": "xkd/synthetic_tiny", "vitb": "xkd/kinetics400"}


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--configs", nargs="+", choices=sorted(CONFIGS), default=["tiny", "vitb"])
    p.add_argument("--batch-size", type=int, nargs="+", default=[64, 2],
                   help="per config, in the order of --configs (default 64 for tiny, 2 for vitb)")
    p.add_argument("--steps", type=int, default=3, help="timed steps per config (default %(default)s)")
    p.add_argument("--warmup", type=int, default=1, help="untimed steps first (default %(default)s)")
    p.add_argument("--mask-batch", type=int, default=2, help="batch of the masked/unmasked encoder timing")
    p.add_argument("--mask-repeats", type=int, default=3)
    p.add_argument("--matmul-size", type=int, default=2048, help="n of the n×n peak matmul (default %(default)s)")
    p.add_argument("--skip", nargs="*", default=[], choices=("train", "masking"), help="parts to leave out")
    p.add_argument("--device", default="cpu", help="cpu or cuda (bf16 autocast on cuda)")
    p.add_argument("--threads", type=int, default=2, help="torch/OpenMP threads (default %(default)s)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--json", metavar="OUT", help="write the results as JSON")
    return p.parse_args(argv)


def sync(device: Any) -> None:
    import torch

    if device.type == "cuda":
        torch.cuda.synchronize(device)


def timed(fn: Callable[[], Any], device: Any) -> float:
    sync(device)
    start = time.perf_counter()
    fn()
    sync(device)
    return time.perf_counter() - start


def autocast(device: Any) -> contextlib.AbstractContextManager[Any]:
    import torch

    if device.type == "cuda":
        return torch.autocast("cuda", dtype=torch.bfloat16)
    return contextlib.nullcontext()


def matmul_peak(n: int, device: Any) -> dict[str, float]:
    """Best FLOP/s of an n×n×n matmul (2n³ FLOPs) over a few repetitions, fp32 (and bf16 on CUDA)."""
    import torch

    out = {}
    dtypes = [("fp32", torch.float32)] + ([("bf16", torch.bfloat16)] if device.type == "cuda" else [])
    for name, dtype in dtypes:
        a = torch.randn(n, n, device=device, dtype=dtype)
        b = torch.randn(n, n, device=device, dtype=dtype)
        torch.mm(a, b)  # warm-up: allocations, BLAS initialization
        best = min(timed(lambda a=a, b=b: a @ b, device) for _ in range(5))
        out[f"{name}_flops_per_s"] = 2.0 * n**3 / best
    return out


def random_batch(cfg: Any, batch: int, device: Any, seed: int) -> dict[str, Any]:
    """A batch of random views with the exact shapes the config's XKD views produce (one view run on a random
    raw clip gives them)."""
    import torch

    from xmodal.data.views import XKDViews

    v, d = cfg.data.views, cfg.data
    gen = torch.Generator().manual_seed(seed)
    frames = round(d.clip_seconds * v.fps)
    raw = {"video": torch.randint(0, 256, (frames, d.decode_size, d.decode_size, 3), dtype=torch.uint8,
                                  generator=gen),
           "audio": torch.randn(round(d.clip_seconds * v.logmel.sample_rate), generator=gen) * 0.1,
           "fps": v.fps, "sample_rate": v.logmel.sample_rate}
    one = XKDViews(v)(raw, gen)

    def rand_like(x: torch.Tensor) -> torch.Tensor:
        return torch.randn((batch, *x.shape), generator=gen).to(device)

    out: dict[str, Any] = {mod: {"global": rand_like(views["global"]), "local": [rand_like(x) for x in views["local"]]}
                           for mod, views in one.items()}
    out["index"] = torch.arange(batch, device=device)
    out["skipped"] = []
    return out


def shapes(batch: dict[str, Any]) -> dict[str, Any]:
    return {mod: {"global": list(batch[mod]["global"].shape), "local": [list(x.shape) for x in batch[mod]["local"]]}
            for mod in ("video", "audio") if mod in batch}


@contextlib.contextmanager
def quiet() -> Iterator[None]:
    """``self.log`` outside a Lightning loop warns on every call; the benchmark has no loop to log to."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        yield


def train_config(name: str, batch: int, args: argparse.Namespace, device: Any, peak: float) -> dict[str, Any]:
    import torch
    from torch.utils.flop_counter import FlopCounterMode

    from xmodal.config import load_config
    from xmodal.configs import config_path
    from xmodal.methods.pretrain import build_method, count_parameters
    from xmodal.methods.xkd_config import PretrainConfig

    torch.manual_seed(args.seed)
    cfg = load_config(PretrainConfig, config_path(CONFIGS[name]))
    method = build_method(cfg).to(device)
    method.train()
    params = [p for p in method.parameters() if p.requires_grad]
    opt = torch.optim.AdamW(params, lr=cfg.optim.lr, betas=cfg.optim.betas, weight_decay=cfg.optim.weight_decay)
    data = random_batch(cfg, batch, device, args.seed)
    pairs = method._ema_pairs  # what BaseMethod.optimizer_step updates after every optimizer step

    def step() -> None:
        with quiet(), autocast(device):
            loss = method.total_loss(method.compute_losses(data, "train"))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        for pair in pairs:
            pair.update(cfg.loss.ema_base)

    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    for _ in range(args.warmup):
        step()
    times = [timed(step, device) for _ in range(args.steps)]
    counter = FlopCounterMode(display=False)
    with counter:
        step()
    flops = counter.get_total_flops()
    median = statistics.median(times)
    out = {
        "config": CONFIGS[name],
        "batch_size": batch,
        "parameters": count_parameters(method),
        "trainable_parameters": count_parameters(method, trainable_only=True),
        "views": shapes(data),
        "step_seconds": times,
        "clips_per_s": batch / median,
        "flops_per_step": flops,
        "achieved_flops_per_s": flops / median,
        "fraction_of_matmul_peak": flops / median / peak,
        "load1": os.getloadavg()[0],
    }
    if device.type == "cuda":
        out["peak_memory_gib"] = torch.cuda.max_memory_allocated(device) / 2**30
    return out


def masking(args: argparse.Namespace, device: Any) -> dict[str, Any]:
    """ViT-B video encoder, 32×112² input, 85% of the tokens dropped vs none (forward, no gradients)."""
    import torch

    from xmodal.config import load_config
    from xmodal.configs import config_path
    from xmodal.methods.xkd import XKD, view_grids
    from xmodal.methods.xkd_config import PretrainConfig
    from xmodal.models.masking import random_masking

    torch.manual_seed(args.seed)
    cfg = load_config(PretrainConfig, config_path(CONFIGS["vitb"]))
    encoder = XKD(cfg).student["video"].to(device).eval()
    v = cfg.data.views.video_global
    grid = view_grids(cfg)["video_global"]
    n = grid[0] * grid[1] * grid[2]
    x = torch.randn(args.mask_batch, 3, v.frames, v.size, v.size, device=device)
    ratio = cfg.model.video_mask_ratio
    keep = random_masking(args.mask_batch, n, ratio, device=device).ids_keep

    def run(ids: Any) -> Callable[[], Any]:
        def go() -> Any:
            with torch.no_grad(), autocast(device):
                return encoder(x, mask_keep_ids=ids)
        return go

    run(None)()
    run(keep)()
    full = [timed(run(None), device) for _ in range(args.mask_repeats)]
    masked = [timed(run(keep), device) for _ in range(args.mask_repeats)]
    return {"input": [args.mask_batch, 3, v.frames, v.size, v.size], "tokens": n, "kept_tokens": int(keep.shape[1]),
            "mask_ratio": ratio, "token_ratio": (n + 1) / (keep.shape[1] + 1),
            "unmasked_seconds": full, "masked_seconds": masked,
            "speedup": statistics.median(full) / statistics.median(masked), "load1": os.getloadavg()[0]}


def run(args: argparse.Namespace) -> dict[str, Any]:
    import torch

    torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    if len(args.batch_size) != len(args.configs):
        raise SystemExit("--batch-size needs one value per --configs entry")
    peak = matmul_peak(args.matmul_size, device)
    peak_key = "bf16_flops_per_s" if device.type == "cuda" else "fp32_flops_per_s"
    report: dict[str, Any] = {
        "benchmark": "train_throughput", "device": str(device),
        "device_name": torch.cuda.get_device_name(device) if device.type == "cuda" else platform.processor(),
        "precision": "bf16 autocast" if device.type == "cuda" else "fp32", "threads": args.threads,
        "cpus": os.cpu_count(), "torch": torch.__version__,
        "time_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "matmul_peak": {"n": args.matmul_size, **peak, "reference": peak_key, "load1": os.getloadavg()[0]},
        "train": {},
    }
    if "train" not in args.skip:
        for name, batch in zip(args.configs, args.batch_size, strict=True):
            report["train"][name] = train_config(name, batch, args, device, peak[peak_key])
            print_train(name, report["train"][name])
    if "masking" not in args.skip:
        report["masking"] = masking(args, device)
    return report


def print_train(name: str, r: dict[str, Any]) -> None:
    mem = f", peak memory {r['peak_memory_gib']:.2f} GiB" if "peak_memory_gib" in r else ""
    print(f"{name:>5}: batch {r['batch_size']}, {statistics.median(r['step_seconds']):.3f} s/step, "
          f"{r['clips_per_s']:.2f} clips/s, {r['flops_per_step'] / 1e9:.1f} GFLOP/step, "
          f"{r['achieved_flops_per_s'] / 1e9:.1f} GFLOP/s = {100 * r['fraction_of_matmul_peak']:.1f}% of the "
          f"matmul peak{mem}  (load {r['load1']:.2f})")


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    os.environ["OMP_NUM_THREADS"] = str(args.threads)  # read by OpenMP when torch initializes its pool
    report = run(args)
    mp = report["matmul_peak"]
    print(f"matmul peak ({mp['n']}², {report['device']}): " + ", ".join(
        f"{k.split('_')[0]} {v / 1e9:.1f} GFLOP/s" for k, v in mp.items() if k.endswith("flops_per_s"))
        + f"  (load {mp['load1']:.2f})")
    if "masking" in report:
        m = report["masking"]
        full, masked = statistics.median(m["unmasked_seconds"]), statistics.median(m["masked_seconds"])
        print(f"ViT-B video encoder {m['input']}: {m['tokens']} tokens {full:.3f} s,"
              f" {m['kept_tokens']} kept (mask {m['mask_ratio']:.2f}) {masked:.3f} s"
              f" -> {m['speedup']:.2f}x faster (token ratio {m['token_ratio']:.2f})  (load {m['load1']:.2f})")
    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps(report, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
