"""Loader throughput from streaming shards against the original MP4s and against decode-only (issue 18).

Kinetics-like sources are generated here (``--clips`` MP4s of ``--seconds`` s at 30 fps, cycling through ``--sizes``
— by default 454×340 and 640×480, the low end of Kinetics' 340p–1080p; ``--sizes 454x340 640x480 1280x720
1920x1080`` spans the range — H.264 + 44.1 kHz AAC, moving textured content), then sharded once with
:func:`write_shards` at the training geometry (short side 128, 8 fps, H.264 4:4:4 + 16 kHz FLAC). Four sides, each
a ``DataLoader`` pass for every requested worker count, alternating within a worker count so machine load hits all
of them:

- ``files``: the XKD pretraining loader (paper views, XKD Tables S1–S2) over the original MP4s (``data.cache=false``:
  every epoch decodes its 4 s windows from the full-size files);
- ``shards``: the same loader config with ``data.source=<shards>`` (same views, same seed);
- ``decode``: decode-only of the original files (``AVDataset`` without transform), the bound of the issue's earlier
  loader figure;
- ``shards_decode``: shards read and decoded without views (what the shard format itself costs).

Figures: ``shards / files`` (target >= 5), ``shards / decode`` and ``files / decode``. Each side runs ``--epochs``
epochs (new clip windows each, worker start included) and counts delivered clips over the whole pass.

    python benchmarks/loader_shards.py --json benchmarks/results/loader_shards.json
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

from xmodal.cli._common import write_json


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--work", default="/tmp/xmodal-loader-shards", help="folder for sources and shards (reused)")
    p.add_argument("--clips", type=int, default=12, help="source clips (default %(default)s)")
    p.add_argument("--seconds", type=float, default=10.0, help="source clip length (default %(default)s)")
    p.add_argument("--sizes", nargs="+", default=["454x340", "640x480"],
                   help="source frame sizes WxH, cycled over the clips (default %(default)s)")
    p.add_argument("--epochs", type=int, default=4, help="epochs per measurement (default %(default)s)")
    p.add_argument("--batch-size", type=int, default=4)
    p.add_argument("--workers", type=int, nargs="+", default=[0, 1, 2], help="worker counts (default 0 1 2)")
    p.add_argument("--threads", type=int, default=1, help="torch/OpenMP threads of the main process (default 1)")
    p.add_argument("--json", metavar="OUT", help="write the results as JSON")
    return p.parse_args(argv)


def make_sources(folder: Path, clips: int, seconds: float, sizes: list[tuple[int, int]]) -> Path:
    """``clips`` MP4s + manifest.csv (reused when present): smooth moving gradients with texture and noise."""
    from xmodal.data.synth.writer import write_mp4

    manifest = folder / "manifest.csv"
    if manifest.is_file() and len(manifest.read_text().splitlines()) == clips + 1:
        return manifest
    folder.mkdir(parents=True, exist_ok=True)
    fps, sr, lines = 30, 44100, ["path,label,split"]
    rng = np.random.default_rng(0)
    for k in range(clips):
        w, h = sizes[k % len(sizes)]
        y, x = np.mgrid[0:h, 0:w].astype(np.float32)
        n = round(seconds * fps)
        video = np.empty((n, h, w, 3), np.uint8)
        for i in range(n):
            t = i / fps
            for c in range(3):
                plane = 128 + 50 * np.sin(x / (23 + 7 * c) + 2 * t + k) + 40 * np.cos(y / (17 + 5 * c) - 3 * t)
                video[i, :, :, c] = np.clip(plane + rng.normal(0, 6, (h, w)), 0, 255)
        t = np.arange(round(seconds * sr)) / sr
        audio = (0.3 * np.sin(2 * np.pi * (220 + 40 * k) * t) + 0.05 * rng.normal(size=t.shape)).astype(np.float32)
        write_mp4(folder / f"clip{k:03d}.mp4", video, audio, fps=fps, sample_rate=sr, crf=23)
        lines.append(f"clip{k:03d}.mp4,{k % 4},train")
    manifest.write_text("\n".join(lines) + "\n")
    return manifest


def raw_only(raw: dict[str, Any]) -> dict[str, Any]:
    return {k: raw[k] for k in ("video", "audio") if raw.get(k) is not None}


def delivered(items: list[dict[str, Any]]) -> dict[str, Any]:
    """Decode-only batches: the samples as a list (sources of other aspect ratios decode to other widths at the same
    short side, so they cannot be stacked) and their indices, which ``measure`` counts."""
    import torch

    return {"samples": items, "index": torch.tensor([int(item["index"]) for item in items])}


def measure(loader: Any, dataset: Any, epochs: int) -> dict[str, float]:
    load_before = os.getloadavg()[0]
    start, clips = time.perf_counter(), 0
    for epoch in range(epochs):
        dataset.set_epoch(epoch)
        for batch in loader:
            clips += int(batch["index"].shape[0])
    seconds = time.perf_counter() - start
    return {"clips": clips, "seconds": seconds, "clips_per_s": clips / seconds,
            "load1": round((load_before + os.getloadavg()[0]) / 2, 2)}


def run(args: argparse.Namespace) -> dict[str, Any]:
    import torch
    from torch.utils.data import DataLoader

    from xmodal.data.dataset import AVDataset, resolve_index
    from xmodal.data.shard_dataset import ShardDataset, ShardLoader
    from xmodal.data.shard_format import ShardGeometry
    from xmodal.data.shard_write import write_shards
    from xmodal.methods.pretrain_data import build_train_dataset, training_loader
    from xmodal.methods.xkd_config import DataConfig, PretrainConfig
    from xmodal.training.trainer import TrainerConfig

    torch.set_num_threads(args.threads)
    sizes = [tuple(int(v) for v in size.split("x")) for size in args.sizes]
    work = Path(args.work) / f"{'_'.join(args.sizes)}-{args.clips}x{args.seconds:g}s"  # one cache per source set
    t0 = time.perf_counter()
    manifest = make_sources(work / "sources", args.clips, args.seconds, sizes)  # type: ignore[arg-type]
    generate_s = time.perf_counter() - t0
    shards = work / "shards"
    t0 = time.perf_counter()
    report = write_shards(resolve_index(str(manifest)), shards, geometry=ShardGeometry(fps=8.0, size=128),
                          samples_per_shard=4, workers=2)
    shard_s = time.perf_counter() - t0
    shard_bytes = sum(f.stat().st_size for f in shards.glob("*.tar"))
    source_bytes = sum(f.stat().st_size for f in (work / "sources").glob("*.mp4"))

    def config(source: Path) -> PretrainConfig:
        cfg = PretrainConfig(data=DataConfig(source=str(source), decode_size=128, cache=False))
        cfg.trainer = TrainerConfig(batch_size=args.batch_size, seed=0)
        return cfg

    rows = []
    for workers in args.workers:
        files = build_train_dataset(config(manifest))
        from_shards = build_train_dataset(config(shards))
        decode = AVDataset(files.index, modalities=files.modalities, clip_seconds=files.clip_seconds,
                           video=files.video, audio=files.audio, transform=raw_only, seed=0)
        shard_decode = ShardDataset(str(shards), "train", clip_seconds=files.clip_seconds, video=files.video,
                                    audio=files.audio, transform=raw_only, batch_size=args.batch_size)
        t = TrainerConfig(batch_size=args.batch_size, num_workers=workers)
        sides = {
            "files": (training_loader(files, t), files),
            "shards": (training_loader(from_shards, t), from_shards),
            "decode": (DataLoader(decode, batch_size=args.batch_size, num_workers=workers, shuffle=True,
                                  collate_fn=delivered, drop_last=True), decode),
            "shards_decode": (ShardLoader(shard_decode, num_workers=workers, collate=delivered), shard_decode),
        }
        runs = {name: measure(loader, ds, args.epochs) for name, (loader, ds) in sides.items()}
        rate = {name: r["clips_per_s"] for name, r in runs.items()}
        rows.append({"workers": workers, **{f"{k}_clips_per_s": v for k, v in rate.items()},
                     "shards_over_files": rate["shards"] / rate["files"],
                     "shards_over_decode": rate["shards"] / rate["decode"],
                     "files_over_decode": rate["files"] / rate["decode"], "runs": runs})
    return {
        "benchmark": "loader_shards",
        "sources": {"clips": args.clips, "seconds": args.seconds, "sizes": args.sizes, "fps": 30,
                    "audio": "AAC 44.1 kHz", "bytes": source_bytes, "generate_s": round(generate_s, 1)},
        "shards": {"geometry": "short side 128, 8 fps, H.264 4:4:4 crf 18 + FLAC 16 kHz", "bytes": shard_bytes,
                   "samples": report.samples, "write_s": round(shard_s, 1), "write_workers": 2},
        "views": "XKD paper views (32x112^2 + 8x96^2 video, 80x448 + 80x112 log-mel), clip 4 s",
        "epochs": args.epochs, "batch_size": args.batch_size, "threads": args.threads, "cpus": os.cpu_count(),
        "python": platform.python_version(), "torch": torch.__version__,
        "time_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "results": rows,
    }


def print_table(report: dict[str, Any]) -> None:
    print(f"loader from shards, {report['sources']['clips']} sources of {report['sources']['seconds']:g} s "
          f"({'/'.join(report['sources']['sizes'])}), batch {report['batch_size']}, {report['cpus']} CPUs")
    print(f"{'workers':>7} {'files':>8} {'shards':>8} {'decode':>8} {'sh.dec':>8} {'sh/files':>9} {'sh/dec':>7} "
          f"{'load1':>6}")
    for r in report["results"]:
        load = statistics.mean(x["load1"] for x in r["runs"].values())
        print(f"{r['workers']:>7} {r['files_clips_per_s']:>8.2f} {r['shards_clips_per_s']:>8.2f} "
              f"{r['decode_clips_per_s']:>8.2f} {r['shards_decode_clips_per_s']:>8.2f} "
              f"{r['shards_over_files']:>9.2f} {r['shards_over_decode']:>7.2f} {load:>6.2f}")


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    os.environ["OMP_NUM_THREADS"] = str(args.threads)
    report = run(args)
    print_table(report)
    write_json(args.json, report)
    return 0


if __name__ == "__main__":
    sys.exit(main())
