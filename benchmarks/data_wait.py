"""End-to-end data-wait fraction of XKD pretraining: how much of the wall time the step waits for its batch.

Issue 18 (target on one GPU: under 5 % with the workers one node offers). Runs real pretraining (``xmodal
pretrain``'s code path: loader workers decoding the dataset, views on the CPU workers or on the device with
``data.augment_on=device``, the full step) for ``--steps`` steps per setting under
:class:`xmodal.training.timing.DataWaitTimer`, which splits the time of every batch after ``--skip`` warm-up batches
into the wait before the step (loader, transfer, device views) and the step. The bound is the step itself: the
figure is wait / (wait + step), 0 when data never holds the step up.

    xmodal data synth --out /tmp/wait_demo --clips 64 --demo
    python benchmarks/data_wait.py --data /tmp/wait_demo --config xkd/synthetic_tiny --workers 0 1 \\
        --augment-on cpu device --steps 12 --json wait.json
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
import warnings
from pathlib import Path
from typing import Any

from xmodal.cli._common import write_json


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", required=True, help="dataset folder (with manifest.csv) or manifest CSV")
    p.add_argument("--config", default="xkd/synthetic_tiny", help="bundled XKD config (default %(default)s)")
    p.add_argument("--set", nargs="*", default=[], metavar="KEY=VALUE", help="extra config overrides")
    p.add_argument("--batch-size", type=int, default=8)
    p.add_argument("--workers", type=int, nargs="+", default=[0, 1])
    p.add_argument("--augment-on", nargs="+", choices=("cpu", "device"), default=["cpu", "device"])
    p.add_argument("--steps", type=int, default=12, help="training steps per setting (default %(default)s)")
    p.add_argument("--skip", type=int, default=2, help="untimed warm-up batches (default %(default)s)")
    p.add_argument("--device", default="cpu", help="cpu or cuda")
    p.add_argument("--precision", default=None, help="trainer.precision (default: bf16-mixed on cuda, else 32-true)")
    p.add_argument("--threads", type=int, default=1, help="torch threads of the main process (default %(default)s)")
    p.add_argument("--json", metavar="OUT", help="write the results as JSON")
    return p.parse_args(argv)


def measure(args: argparse.Namespace, workers: int, augment_on: str, out_dir: Path) -> dict[str, Any]:
    from xmodal.configs import config_path
    from xmodal.methods.pretrain import load_pretrain_config, pretrain
    from xmodal.training.timing import DataWaitTimer

    precision = args.precision or ("bf16-mixed" if args.device == "cuda" else "32-true")
    overrides = [
        f"data.source={args.data}", "data.cache=false", f"data.augment_on={augment_on}",
        f"trainer.batch_size={args.batch_size}", f"trainer.num_workers={workers}", f"trainer.max_steps={args.steps}",
        "trainer.max_epochs=1000", f"trainer.accelerator={'gpu' if args.device == 'cuda' else 'cpu'}",
        "trainer.devices=1", f"trainer.precision={precision}", "trainer.progress=none",
        f"trainer.checkpoint_every_n_steps={args.steps + 1}", f"out_dir={out_dir}", *args.set,
    ]
    cfg = load_pretrain_config(config_path(args.config), overrides)
    timer = DataWaitTimer(skip=args.skip)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        pretrain(cfg, callbacks=[timer])
    return {"workers": workers, "augment_on": augment_on, "batch_size": args.batch_size, **timer.summary(),
            "load1": os.getloadavg()[0]}


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    import torch

    torch.set_num_threads(args.threads)
    report: dict[str, Any] = {
        "benchmark": "data_wait", "device": args.device, "config": args.config, "data": args.data,
        "cpus": os.cpu_count(), "torch": torch.__version__,
        "device_name": torch.cuda.get_device_name() if args.device == "cuda" else "cpu",
        "time_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "runs": [],
    }
    with tempfile.TemporaryDirectory() as tmp:
        for workers in args.workers:
            for aug in args.augment_on:
                r = measure(args, workers, aug, Path(tmp) / f"w{workers}_{aug}")
                report["runs"].append(r)
                print(f"workers {workers}, views on {aug:>6}: wait {100 * r['wait_fraction']:.1f} % of the time, "
                      f"{r['clips_per_s']:.2f} clips/s over {r['timed_batches']} batches "
                      f"(step {r['step_s']:.2f} s, wait {r['wait_s']:.2f} s, load {r['load1']:.2f})")
    write_json(args.json, report)
    return 0


if __name__ == "__main__":
    sys.exit(main())
