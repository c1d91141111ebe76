"""Training-step throughput of XKD and MAViL: clips/s, achieved FLOP/s against a matmul peak measured in the same
run and dtype, peak memory; and masked vs unmasked encoder time.

Issues 3 §5, 11 and 18. Data loading is excluded (``benchmarks/data_wait.py`` measures it): every step trains on one
in-memory random batch with exactly the shapes the config's views produce, so the numbers are the model's alone. A
step is what the Lightning loop does per batch: all losses (``compute_losses``), backward, AdamW, and the EMA
teacher update where the method has one (XKD Eq. 13).

- ``train``: clips/s = batch / median step time, after ``--warmup`` untimed steps, for each ``--configs`` entry
  (``xkd_tiny`` = configs/xkd/synthetic_tiny.yaml, ``xkd_vitb`` = configs/xkd/kinetics400.yaml, the XKD paper's
  ViT-B; ``xkd_audioset_vitl`` = configs/xkd/audioset.yaml, ViT-L video; ``mavil_vitb`` =
  configs/mavil/audioset.yaml, MAViL stage 1 with ViT-B encoders).
- ``flops``: FLOPs of one step counted by ``torch.utils.flop_counter.FlopCounterMode`` (matmuls, convolutions,
  attention; element-wise work is not counted), divided by the median step time, as a fraction of the peak: the
  best of several ``--matmul-size``² matmuls in the step's dtype (fp32, or bf16 with ``--precision bf16``).
- ``memory``: on CUDA ``torch.cuda.max_memory_allocated`` over the timed steps; on Linux CPUs the peak resident set
  of the process during the timed steps (``VmHWM`` after resetting it through ``/proc/self/clear_refs``), which
  includes the model, optimizer state and the Python runtime, and the part of it the steps added.
- ``masking``: the ViT-B video encoder on a 32×112² clip (8×7×7 = 392 tokens) with 85% of the tokens dropped
  (XKD §4.1, 58 kept + CLS) against all tokens, forward pass without gradients; the ratio is the figure
  (~5–7× expected: cost is linear in tokens for the MLPs and projections, quadratic for attention).

Switches: ``--precision bf16`` (autocast; default on CUDA), ``--fused`` (fused AdamW), ``--compile`` (regional
``torch.compile`` of the Transformer blocks), ``--grad-checkpointing``.

    python benchmarks/train_step.py --configs xkd_tiny xkd_vitb mavil_vitb --batch-size 16 2 1 --json train.json
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

CONFIGS = {"xkd_tiny": "xkd/synthetic_tiny", "xkd_vitb": "xkd/kinetics400", "xkd_audioset_vitl": "xkd/audioset",
           "mavil_vitb": "mavil/audioset"}


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--configs", nargs="+", choices=sorted(CONFIGS), default=["xkd_tiny", "xkd_vitb", "mavil_vitb"])
    p.add_argument("--batch-size", type=int, nargs="+", default=[16, 2, 1],
                   help="per config, in the order of --configs (default 16, 2, 1)")
    p.add_argument("--steps", type=int, default=3, help="timed steps per config (default %(default)s)")
    p.add_argument("--warmup", type=int, default=1, help="untimed steps first (default %(default)s)")
    p.add_argument("--mask-batch", type=int, default=2, help="batch of the masked/unmasked encoder timing")
    p.add_argument("--mask-repeats", type=int, default=3)
    p.add_argument("--matmul-size", type=int, default=2048, help="n of the n×n peak matmul (default %(default)s)")
    p.add_argument("--skip", nargs="*", default=[], choices=("train", "masking"), help="parts to leave out")
    p.add_argument("--device", default="cpu", help="cpu or cuda")
    p.add_argument("--precision", choices=("fp32", "bf16"), help="bf16 = autocast (default: bf16 on cuda, else fp32)")
    p.add_argument("--fused", action="store_true", help="fused AdamW (optim.fused)")
    p.add_argument("--compile", action="store_true", help="torch.compile every Transformer block (trainer.compile)")
    p.add_argument("--grad-checkpointing", action="store_true", help="activation checkpointing in the ViTs")
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


def autocast(device: Any, precision: str) -> contextlib.AbstractContextManager[Any]:
    import torch

    if precision == "bf16":
        return torch.autocast(device.type, dtype=torch.bfloat16)
    return contextlib.nullcontext()


def matmul_peak(n: int, device: Any, precisions: list[str]) -> dict[str, float]:
    """Best FLOP/s of an n×n×n matmul (2n³ FLOPs) over a few repetitions, in each of ``precisions``."""
    import torch

    out = {}
    dtypes = [(name, {"fp32": torch.float32, "bf16": torch.bfloat16}[name]) for name in precisions]
    for name, dtype in dtypes:
        a = torch.randn(n, n, device=device, dtype=dtype)
        b = torch.randn(n, n, device=device, dtype=dtype)
        torch.mm(a, b)  # warm-up: allocations, BLAS initialization
        best = min(timed(lambda a=a, b=b: a @ b, device) for _ in range(5))
        out[f"{name}_flops_per_s"] = 2.0 * n**3 / best
    return out


def random_batch(cfg: Any, batch: int, device: Any, seed: int) -> dict[str, Any]:
    """A batch of random views with the exact shapes the config's XKD views or MAViL clips produce (the views run
    once on a random raw clip give them)."""
    import torch

    from xmodal.data.views import XKDViews
    from xmodal.methods.mavil_config import MAViLConfig

    if isinstance(cfg, MAViLConfig):
        c, gen = cfg.data.clips, torch.Generator().manual_seed(seed)
        frames = {"video": (3, c.frames, c.size, c.size), "audio": (1, c.fbank.num_mel_bins, c.fbank.target_length)}
        out_m: dict[str, Any] = {mod: torch.randn(batch, *shape, generator=gen).to(device)
                                 for mod, shape in frames.items()}
        out_m["index"] = torch.arange(batch, device=device)
        out_m["skipped"] = []
        return out_m

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
    import torch

    def one(x: Any) -> Any:
        if isinstance(x, torch.Tensor):
            return list(x.shape)
        return {"global": list(x["global"].shape), "local": [list(v.shape) for v in x["local"]]}

    return {mod: one(batch[mod]) for mod in ("video", "audio") if mod in batch}


def reset_peak_rss() -> bool:
    """Reset the kernel's peak-RSS counter of this process (Linux ≥ 4.0); False where that is not possible."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
        return True
    except OSError:
        return False


def rss_kib(field: str) -> int:
    """``VmRSS`` / ``VmHWM`` of this process in KiB, from ``/proc/self/status``."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise KeyError(field)


@contextlib.contextmanager
def quiet() -> Iterator[None]:
    """``self.log`` outside a Lightning loop warns on every call; the benchmark has no loop to log to."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        yield


def build(name: str, args: argparse.Namespace) -> tuple[Any, Any]:
    """The config (with the switches as overrides) and its method."""
    from xmodal.configs import config_path
    from xmodal.methods.mavil import MAViL
    from xmodal.methods.mavil_config import MAViLConfig
    from xmodal.methods.pretrain import build_method, load_pretrain_config
    from xmodal.models.vit import compile_blocks

    overrides = [f"optim.fused={str(args.fused).lower()}",
                 f"model.grad_checkpointing={str(args.grad_checkpointing).lower()}"]
    cfg = load_pretrain_config(config_path(CONFIGS[name]), overrides)
    method = MAViL(cfg) if isinstance(cfg, MAViLConfig) else build_method(cfg)
    if args.compile:
        compile_blocks(method)
    return cfg, method


def train_config(name: str, batch: int, args: argparse.Namespace, device: Any, peak: float) -> dict[str, Any]:
    import torch
    from torch.utils.flop_counter import FlopCounterMode

    from xmodal.methods.pretrain import count_parameters
    from xmodal.training.optim import build_optimizer

    torch.manual_seed(args.seed)
    before_model = rss_kib("VmRSS") if device.type == "cpu" else 0
    cfg, method = build(name, args)
    method = method.to(device)
    method.train()
    params = [p for p in method.parameters() if p.requires_grad]
    opt = build_optimizer(cfg.optim, [{"params": params, "weight_decay": cfg.optim.weight_decay}], cfg.optim.lr)
    data = random_batch(cfg, batch, device, args.seed)
    pairs = method._ema_pairs  # what BaseMethod.optimizer_step updates after every optimizer step
    momentum = getattr(cfg.loss, "ema_base", 1.0)

    def step() -> None:
        with quiet(), autocast(device, args.precision):
            loss = method.total_loss(method.compute_losses(data, "train"))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        for pair in pairs:
            pair.update(momentum)

    for _ in range(args.warmup):
        step()
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    rss_reset = device.type == "cpu" and reset_peak_rss()
    before_steps = rss_kib("VmRSS") if rss_reset else 0
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
    elif rss_reset:
        out["peak_rss_gib"] = rss_kib("VmHWM") / 2**20
        out["rss_before_model_gib"] = before_model / 2**20
        out["rss_added_by_steps_gib"] = (rss_kib("VmHWM") - before_steps) / 2**20
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
    cfg = load_config(PretrainConfig, config_path(CONFIGS["xkd_vitb"]))
    encoder = XKD(cfg).student["video"].to(device).eval()
    v = cfg.data.views.video_global
    grid = view_grids(cfg)["video_global"]
    n = grid[0] * grid[1] * grid[2]
    x = torch.randn(args.mask_batch, 3, v.frames, v.size, v.size, device=device)
    ratio = cfg.model.video_mask_ratio
    keep = random_masking(args.mask_batch, n, ratio, device=device).ids_keep

    def run(ids: Any) -> Callable[[], Any]:
        def go() -> Any:
            with torch.no_grad(), autocast(device, args.precision):
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
    args.precision = args.precision or ("bf16" if device.type == "cuda" else "fp32")
    if device.type == "cuda" and args.precision == "fp32":
        torch.backends.cuda.matmul.allow_tf32 = False  # the fp32 peak and the step then use the same arithmetic
    peak = matmul_peak(args.matmul_size, device, sorted({"fp32", args.precision}))
    peak_key = f"{args.precision}_flops_per_s"
    report: dict[str, Any] = {
        "benchmark": "train_step", "device": str(device),
        "device_name": torch.cuda.get_device_name(device) if device.type == "cuda" else cpu_name(),
        "precision": "bf16 autocast" if args.precision == "bf16" else "fp32", "threads": args.threads,
        "switches": {"fused_adamw": args.fused, "compile": args.compile,
                     "grad_checkpointing": args.grad_checkpointing},
        "cpus": os.cpu_count(), "torch": torch.__version__,
        "time_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "matmul_peak": {"n": args.matmul_size, **peak, "reference": peak_key, "load1": os.getloadavg()[0]},
        "train": {},
    }
    if "train" not in args.skip:
        for name, batch in zip(args.configs, args.batch_size, strict=True):
            report["train"][name] = train_config(name, batch, args, device, peak[peak_key])
            print_train(name, report["train"][name])
            write_json(args.json, report)  # after every config: a run cut short by a time limit keeps its figures
    if "masking" not in args.skip:
        report["masking"] = masking(args, device)
    return report


def write_json(path: str | None, report: dict[str, Any]) -> None:
    if path:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        Path(path).write_text(json.dumps(report, indent=2) + "\n")


def cpu_name() -> str:
    """The CPU model from ``/proc/cpuinfo`` (``platform.processor()`` is often empty on Linux)."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def print_train(name: str, r: dict[str, Any]) -> None:
    mem = f", peak memory {r['peak_memory_gib']:.2f} GiB" if "peak_memory_gib" in r else ""
    if "peak_rss_gib" in r:
        mem = f", peak RSS {r['peak_rss_gib']:.2f} GiB (+{r['rss_added_by_steps_gib']:.2f} GiB in the steps)"
    print(f"{name:>10}: batch {r['batch_size']}, {statistics.median(r['step_seconds']):.3f} s/step, "
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
    write_json(args.json, report)
    return 0


if __name__ == "__main__":
    sys.exit(main())
