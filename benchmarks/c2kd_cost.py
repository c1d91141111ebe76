"""Training cost per method for supervised cross-modal KD: seconds per epoch and peak memory (C²KD App. E, Table 3).

Table 3 of the C²KD appendix compares KD, Review, SHAKE, NKD, Ours† (teacher fully updated) and Ours‡ (top-2
teacher layers) by training time per epoch and peak GPU memory, for V→A and A→V. This script measures the same
rows with the runner's own modules (``xmodal.methods.cmkd_run``), on a synthetic in-memory set whose tensors have
the runner's input layout (1-channel spectrogram, frames stacked into channels); the content is random, which does
not change the cost. Each (direction, method) runs in **its own subprocess**, so one method's allocations cannot
raise another's peak:

* CUDA: ``torch.cuda.max_memory_allocated`` over the fit (the runner resets it first);
* CPU: the rise of ``resource.getrusage(RUSAGE_SELF).ru_maxrss`` (the process's resident high-water mark) from
  just before training, after data, networks and modules exist, to after the warm-up and timed epochs — the
  memory training adds (activations, gradients, optimiser state), without the data and the weights.

Seconds per epoch are wall clock of ``Trainer.fit`` (training plus the small val pass the runner always does)
divided by the epochs, after one untimed warm-up epoch in the same process. On a shared CPU the wall clock
follows the other jobs' load, so the process's CPU time over the same span is recorded too (with one thread it
is what the method costs, whatever else runs), and ``--repeats R`` measures every (direction, method) R times in
interleaved rounds — a load swing then hits every method alike — and reports the medians, each run's figures and
the 1-minute load average before it. The JSON records the device, shapes, loads and both tables.

    python benchmarks/c2kd_cost.py --json c2kd_cost.json            # add --accelerator gpu on a CUDA machine
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import time
from typing import Any

METHODS = ("kd", "review", "shake", "nkd", "c2kd_full", "c2kd_top", "none")
LABELS = {"none": "w/o KD", "kd": "KD", "review": "Review", "shake": "SHAKE", "nkd": "NKD", "c2kd_full": "Ours†",
          "c2kd_top": "Ours‡"}


def measure(method: str, direction: str, args: argparse.Namespace) -> dict[str, Any]:
    """One method in this process: build, warm up one epoch, then time ``args.epochs`` epochs."""
    import torch

    from xmodal.methods.cmkd_data import Splits
    from xmodal.methods.cmkd_run import DistillRunConfig, _student_module, build_net, train_and_select

    torch.set_num_threads(args.threads)
    g = torch.Generator().manual_seed(0)
    n = args.clips + args.val_clips
    data = {"audio": torch.randn(n, 1, args.audio[0], args.audio[1], generator=g),
            "video": torch.randn(n, 3 * args.frames, args.size, args.size, generator=g),
            "label": torch.randint(0, args.classes, (n,), generator=g), "id": [str(i) for i in range(n)]}
    parts = {"train": {k: v[:args.clips] for k, v in data.items()}, "val": {k: v[args.clips:] for k, v in data.items()}}
    splits = Splits(parts, args.classes, "synthetic")
    layers = ("layer2", "layer3", "layer4") if args.arch != "small" else ("block1", "block2", "block3")
    cfg = DistillRunConfig(student_modality="video" if direction == "a2v" else "audio", student_arch=args.arch,
                           teacher_arch=args.arch, small_widths=(8, 16, 32), batch_size=args.batch_size,
                           accelerator=args.accelerator)
    cfg.baseline.feature_pairs = tuple((x, x) for x in layers)
    cfg.baseline.shake_layers = layers
    kind = "c2kd" if method.startswith("c2kd") else method
    cfg.c2kd.teacher_update = "top" if method == "c2kd_top" else "full"
    if args.arch == "small":
        cfg.c2kd.teacher_top = ("fc2", "head")
    k = args.classes
    teacher = build_net(cfg.teacher_arch, parts["train"][cfg.teacher_modality].shape[1], k, cfg.small_widths)
    student = build_net(cfg.student_arch, parts["train"][cfg.student_modality].shape[1], k, cfg.small_widths)
    example = {key: parts["train"][key][:8] for key in ("audio", "video")}
    module = _student_module(cfg, kind, student, teacher, example)
    device_args = (splits.dataset("train"), splits.dataset("val"))
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    train_and_select(module, student, *device_args, 1, 0, args.batch_size, 0, args.accelerator)  # warm-up
    cpu = time.process_time()
    run = train_and_select(module, student, *device_args, args.epochs, 0, args.batch_size, 0, args.accelerator)
    cpu = (time.process_time() - cpu) / args.epochs
    after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    cuda = run["peak_memory_mb"] is not None
    return {"seconds_per_epoch": run["seconds_per_epoch"], "cpu_seconds_per_epoch": cpu,
            "peak_memory_mb": run["peak_memory_mb"] if cuda else (after - before) / 1024.0,
            "memory_kind": "cuda max_memory_allocated" if cuda else "CPU ru_maxrss rise over the fit",
            "trainable_parameters": sum(p.numel() for p in module.parameters() if p.requires_grad)}


def median_row(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """One (direction, method): the median of each figure over the repeats, the load range, and every run."""
    keys = ("seconds_per_epoch", "cpu_seconds_per_epoch", "peak_memory_mb")
    loads = [r["load_1min_before"] for r in runs]
    return {**{k: statistics.median(r[k] for r in runs) for k in keys}, "memory_kind": runs[0]["memory_kind"],
            "trainable_parameters": runs[0]["trainable_parameters"], "load_1min_range": [min(loads), max(loads)],
            "runs": runs}


def table(rows: dict[str, dict[str, Any]]) -> list[str]:
    """App. E Table 3 layout: one block per direction, methods across, Mem. (MB) and Time (s/epoch) down."""
    lines = []
    for direction, per in rows.items():
        head = "V→A" if direction == "v2a" else "A→V"
        lines.append("| " + " | ".join([head, *(LABELS[m] for m in per)]) + " |")
        lines.append("|" + "---|" * (len(per) + 1))
        lines.append("| " + " | ".join(["Mem. (MB)", *(f"{r['peak_memory_mb']:.1f}" for r in per.values())]) + " |")
        lines.append("| " + " | ".join(["Time (s)", *(f"{r['seconds_per_epoch']:.2f}" for r in per.values())]) + " |")
        lines.append("| " + " | ".join(["CPU time (s)", *(f"{r['cpu_seconds_per_epoch']:.2f}"
                                                          for r in per.values())]) + " |")
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--methods", default=",".join(METHODS[:-1]),
                        help=f"comma-separated, of {','.join(METHODS)} (default: Table 3's, %(default)s)")
    parser.add_argument("--directions", default="v2a,a2v", help="comma-separated (default: %(default)s)")
    parser.add_argument("--arch", default="resnet18", choices=("resnet18", "resnet50", "small"))
    parser.add_argument("--clips", type=int, default=64, help="train clips (default: %(default)s)")
    parser.add_argument("--val-clips", type=int, default=16, help="val clips (default: %(default)s)")
    parser.add_argument("--audio", type=int, nargs=2, default=(128, 96), metavar=("F", "T"),
                        help="spectrogram size (default: 128 96; the paper's VGGSound is 257 1004)")
    parser.add_argument("--size", type=int, default=64, help="frame size (default: %(default)s; paper 224)")
    parser.add_argument("--frames", type=int, default=3, help="frames stacked into channels (VGGSound: 3)")
    parser.add_argument("--classes", type=int, default=50, help="classes (default: %(default)s, VGGSound-50)")
    parser.add_argument("--batch-size", type=int, default=16, help="batch size (default: %(default)s; paper 64)")
    parser.add_argument("--epochs", type=int, default=1, help="timed epochs after the warm-up (default: 1)")
    parser.add_argument("--repeats", type=int, default=1,
                        help="interleaved rounds over all (direction, method); medians reported (default: 1)")
    parser.add_argument("--threads", type=int, default=1, help="torch threads (default: %(default)s)")
    parser.add_argument("--accelerator", default="cpu", choices=("cpu", "gpu"))
    parser.add_argument("--json", required=True, help="output JSON")
    parser.add_argument("--one", nargs=2, metavar=("METHOD", "DIRECTION"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:  # the child: one measurement, JSON on the last stdout line
        print(json.dumps(measure(args.one[0], args.one[1], args)))
        return
    child = sys.argv[1:]
    methods = args.methods.split(",")
    for method in methods:
        if method not in METHODS:
            raise SystemExit(f"--methods: {method} is not one of {','.join(METHODS)}")
    if args.repeats < 1:
        raise SystemExit(f"--repeats: {args.repeats} must be at least 1")
    runs: dict[str, dict[str, list[dict[str, Any]]]] = {d: {m: [] for m in methods} for d in args.directions.split(",")}
    for _ in range(args.repeats):
        for direction, per in runs.items():
            for method in methods:
                load = os.getloadavg()[0]
                out = subprocess.run([sys.executable, __file__, *child, "--one", method, direction], check=True,
                                     capture_output=True, text=True).stdout.strip().splitlines()[-1]
                per[method].append({**json.loads(out), "load_1min_before": load})
                print(direction, method, per[method][-1], file=sys.stderr, flush=True)
    rows = {d: {m: median_row(r) for m, r in per.items()} for d, per in runs.items()}
    import torch

    device = torch.cuda.get_device_name() if args.accelerator == "gpu" else f"CPU, {args.threads} thread(s)"
    result = {"device": device, "arch": args.arch, "shapes": {"audio": [1, *args.audio],
              "video": [3 * args.frames, args.size, args.size]}, "clips": args.clips, "batch_size": args.batch_size,
              "classes": args.classes, "epochs_timed": args.epochs, "repeats": args.repeats,
              "rows": rows, "table": table(rows)}
    with open(args.json, "w") as f:
        json.dump(result, f, indent=1)
    print("\n".join(result["table"]))


if __name__ == "__main__":
    main()
