"""Loader throughput: the full XKD pretraining loader against PyAV decode-only of the same clips (issue 2 §7).

Both sides are ``AVDataset`` over the same manifest rows with the same seed, so they decode exactly the same
``[start, start + clip_seconds)`` windows at the same fps and size through :func:`xmodal.data.io.decode_clip`:

- ``decode``: no transform (the uint8 frames and the waveform are returned as decoded) — the bound;
- ``full``: the pretraining dataset of :func:`xmodal.methods.pretrain_data.build_train_dataset` — decode, XKD
  global/local video views (crop, flip, colour jitter, grey, blur, normalize; Table S1) and audio views (volume
  jitter, log-mel, time-frequency crop; Table S2).

Each goes through a ``DataLoader`` with :func:`collate_samples` for every requested worker count; the figure is
``full / decode`` clips/s measured in the same run (target >= 0.5). The two sides alternate per worker count so
a change in machine load hits both. The 1-minute load average is recorded next to every number.

    python benchmarks/loader_throughput.py --data /tmp/bench112 --preset paper --json loader112.json
    python benchmarks/loader_throughput.py --data /tmp/benchdemo --preset demo --json loader_demo.json
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import time
from typing import Any

from xmodal.cli._common import write_json


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", required=True, help="manifest CSV or folder with manifest.csv (e.g. xmodal data synth)")
    p.add_argument("--preset", choices=("paper", "demo"), default="paper",
                   help="paper: XKD views of XKD Tables S1–S2 (32×112², 80×448) decoded at short side 128; "
                   "demo: the views of configs/xkd/synthetic_tiny.yaml (default %(default)s)")
    p.add_argument("--split", default="train")
    p.add_argument("--clips", type=int, default=64, help="clips per measurement (default %(default)s)")
    p.add_argument("--batch-size", type=int, default=8)
    p.add_argument("--workers", type=int, nargs="+", default=[0, 1, 2], help="worker counts (default 0 1 2)")
    p.add_argument("--repeats", type=int, default=1, help="measurements per (side, workers); the median is kept")
    p.add_argument("--threads", type=int, default=2, help="torch/OpenMP threads of the main process (default 2)")
    p.add_argument("--json", metavar="OUT", help="write the results as JSON")
    return p.parse_args(argv)


def raw_only(raw: dict[str, Any]) -> dict[str, Any]:
    """The decode-only side's transform: hand the decoded tensors through untouched."""
    return {k: raw[k] for k in ("video", "audio") if raw.get(k) is not None}


def build_datasets(args: argparse.Namespace) -> tuple[Any, Any, dict[str, Any]]:
    """(full, decode-only) datasets over the same rows, and a description of the preset."""
    from xmodal.config import load_config
    from xmodal.configs import config_path
    from xmodal.data.dataset import AVDataset
    from xmodal.methods.pretrain_data import build_train_dataset
    from xmodal.methods.xkd_config import DataConfig, PretrainConfig

    if args.preset == "demo":
        cfg = load_config(PretrainConfig, config_path("xkd/synthetic_tiny"))
    else:
        cfg = PretrainConfig(data=DataConfig(source="-", decode_size=128))
    cfg.data.source, cfg.data.root, cfg.data.split = args.data, None, args.split
    cfg.data.cache = False  # a cache would skip decoding after the first epoch; we measure decoding
    full = build_train_dataset(cfg)
    full.index.rows = full.index.rows[: args.clips]
    decode = AVDataset(full.index, modalities=full.modalities, clip_seconds=full.clip_seconds, video=full.video,
                       audio=full.audio, sampling=full.sampling, transform=raw_only, on_error=full.on_error,
                       short=full.short, seed=full.seed)
    v = cfg.data.views
    preset = {
        "preset": args.preset,
        "clip_seconds": full.clip_seconds,
        "decode": {"fps": full.video.fps if full.video else None, "short_side": cfg.data.decode_size,
                   "sample_rate": full.audio.sample_rate if full.audio else None},
        "views": {"video_global": [v.video_global.frames, v.video_global.size],
                  "video_local": [v.video_local.frames, v.video_local.size], "num_video_local": v.num_video_local,
                  "audio_global_s": v.audio_global.seconds, "audio_local_s": v.audio_local.seconds,
                  "num_audio_local": v.num_audio_local, "logmel_hop": v.logmel.hop_length},
    }
    return full, decode, preset


def measure(dataset: Any, workers: int, batch_size: int) -> dict[str, float]:
    """One pass over ``dataset``; clips/s counts delivered clips over the whole pass (worker start included)."""
    from torch.utils.data import DataLoader

    from xmodal.data.collate import collate_samples

    loader = DataLoader(dataset, batch_size=batch_size, num_workers=workers, collate_fn=collate_samples,
                        shuffle=False, prefetch_factor=2 if workers else None)
    load_before = os.getloadavg()[0]
    start = time.perf_counter()
    clips = skipped = 0
    for batch in loader:
        skipped += len(batch["skipped"])
        clips += int(batch["index"].shape[0]) if "index" in batch else 0
    seconds = time.perf_counter() - start
    return {"clips": clips, "skipped": skipped, "seconds": seconds, "clips_per_s": clips / seconds,
            "load1": round((load_before + os.getloadavg()[0]) / 2, 2)}


def run(args: argparse.Namespace) -> dict[str, Any]:
    import torch

    torch.set_num_threads(args.threads)
    full, decode, preset = build_datasets(args)
    rows = []
    for workers in args.workers:
        runs: dict[str, list[dict[str, float]]] = {"decode": [], "full": []}
        for _ in range(args.repeats):
            for side, dataset in (("decode", decode), ("full", full)):
                runs[side].append(measure(dataset, workers, args.batch_size))
        med = {side: statistics.median(r["clips_per_s"] for r in rs) for side, rs in runs.items()}
        rows.append({"workers": workers, "decode_clips_per_s": med["decode"], "full_clips_per_s": med["full"],
                     "ratio": med["full"] / med["decode"], "runs": runs})
    return {
        "benchmark": "loader_throughput",
        **preset,
        "data": str(args.data),
        "clips": len(full),
        "batch_size": args.batch_size,
        "threads": args.threads,
        "cpus": os.cpu_count(),
        "python": platform.python_version(),
        "torch": torch.__version__,
        "time_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "results": rows,
    }


def print_table(report: dict[str, Any]) -> None:
    print(f"loader throughput, preset {report['preset']}, {report['clips']} clips of {report['clip_seconds']:g} s, "
          f"batch {report['batch_size']}, {report['threads']} threads, {report['cpus']} CPUs")
    print(f"{'workers':>7} {'decode clips/s':>15} {'full clips/s':>13} {'full/decode':>12} {'load1':>6}")
    for r in report["results"]:
        load = statistics.mean(x["load1"] for rs in r["runs"].values() for x in rs)
        print(f"{r['workers']:>7} {r['decode_clips_per_s']:>15.2f} {r['full_clips_per_s']:>13.2f} "
              f"{r['ratio']:>12.2f} {load:>6.2f}")


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    os.environ["OMP_NUM_THREADS"] = str(args.threads)  # read by OpenMP when torch initializes its pool
    report = run(args)
    print_table(report)
    write_json(args.json, report)
    return 0


if __name__ == "__main__":
    sys.exit(main())
