"""SDC, MDC, CDC and XDC (and the random-init floor) on the synthetic benchmark, probed with a linear SVM per modality.

Each (variant, seed) run pretrains ``configs/xdc/synthetic_tiny.yaml`` with ``cluster.variant=<variant>`` and
``trainer.seed=<seed>`` through the library's pretraining entry point (:func:`xmodal.methods.xdc_pretrain.pretrain`,
what ``xmodal pretrain`` calls; online monitors off), then probes the exported video and audio encoders with the
demo's linear SVM (:func:`xmodal.demo.probe`: features of one centred clip, C chosen on the **val** split, refit on
train+val, test scored once). The random-init row is the same architecture initialised with each seed
(:func:`xmodal.methods.xdc.build_encoder`). Per run it records the purity and NMI of every clustering w.r.t. the
benchmark's labels (``clusters.json`` history) and the wall time of every iteration (clustering + its epochs).

Runs are appended to ``--json`` one at a time, so the table can be built over several invocations (one per
``--variants/--seeds`` slice, each under its own lock) and a killed invocation keeps what it finished; existing
(variant, seed) entries are skipped. The decoded evaluation clips are cached in ``--work``.

    python benchmarks/xdc_small.py --data DEMO/manifest.csv --work /tmp/xdc_small \\
        --json benchmarks/results/xdc_small.json --variants sdc,xdc --seeds 0,1,2 cluster.epochs=2 trainer.max_epochs=6
"""

from __future__ import annotations

import argparse
import itertools
import json
import logging
import os
import time
from pathlib import Path
from typing import Any

import lightning.pytorch as L
import numpy as np
import torch

from xmodal.config import load_config
from xmodal.configs import config_path
from xmodal.demo import embed, eval_inputs, feature_set, probe
from xmodal.eval.geometry import EvalGeometry
from xmodal.eval.selection import mean_std
from xmodal.methods.xdc import build_encoder
from xmodal.methods.xdc_config import XDCConfig
from xmodal.methods.xdc_pretrain import eval_geometry, pretrain
from xmodal.models.export import load_backbone

log = logging.getLogger("xdc_small")
VARIANTS = ("random", "sdc", "mdc", "cdc", "xdc")


class IterationClock(L.Callback):
    """Wall time of each deep-clustering iteration: from the start of its first epoch (before its clustering) to the
    start of the next iteration's first epoch, or the end of training."""

    def __init__(self) -> None:
        self.starts: dict[int, float] = {}
        self.end = 0.0

    def on_train_epoch_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self.starts.setdefault(int(pl_module.iteration), time.perf_counter())

    def on_train_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self.end = time.perf_counter()

    def seconds(self) -> list[float]:
        marks = [self.starts[i] for i in sorted(self.starts)] + [self.end]
        return [b - a for a, b in itertools.pairwise(marks)]


def config(variant: str, seed: int, manifest: Path, work: Path, overrides: list[str]) -> XDCConfig:
    base = [f"data.source={manifest}", f"out_dir={work / f'{variant}_seed{seed}'}", f"trainer.seed={seed}",
            f"cluster.variant={'xdc' if variant == 'random' else variant}", "monitor.online=off",
            "trainer.progress=none"]
    return load_config(XDCConfig, config_path("xdc/synthetic_tiny"), [*base, *overrides])


def inputs(cfg: XDCConfig, manifest: Path, work: Path) -> dict[str, Any]:
    """Every clip decoded once (centre clip, the encoders' geometry), cached as ``<work>/eval_inputs.pt``."""
    path = work / "eval_inputs.pt"
    if path.exists():
        return torch.load(path, weights_only=False)
    geo = EvalGeometry(**eval_geometry(cfg))
    data = eval_inputs(manifest, geo.eval_config(), geo.clip_seconds, cfg.data.decode_size)
    work.mkdir(parents=True, exist_ok=True)
    torch.save(data, path)
    return data


def run_one(variant: str, seed: int, manifest: Path, work: Path, overrides: list[str]) -> dict[str, Any]:
    cfg = config(variant, seed, manifest, work, overrides)
    data = inputs(cfg, manifest, work)
    start = time.perf_counter()
    if variant == "random":
        torch.manual_seed(seed)
        encoders = {m: build_encoder(cfg, m) for m in ("video", "audio")}
        record: dict[str, Any] = {}
    else:
        clock = IterationClock()
        result = pretrain(cfg, callbacks=[clock])
        encoders = {m: load_backbone(result["exports"][m]) for m in ("video", "audio")}
        history = result["history"]
        record = {"iteration_seconds": clock.seconds(), "epochs_per_iteration": [h.get("epochs") for h in history],
                  "purity": {src: [h.get(f"{src}/purity") for h in history] for src in ("video", "audio", "joint")
                             if f"{src}/purity" in history[0]},
                  "nmi_labels": {src: [h.get(f"{src}/nmi_labels") for h in history] for src in ("video", "audio",
                                                                                                  "joint")
                                 if f"{src}/nmi_labels" in history[0]},
                  "pretrain_seconds": time.perf_counter() - start}
    probes = probe({m: feature_set(embed(encoders[m], data[m]), data) for m in ("video", "audio")})
    return {"variant": variant, "seed": seed, **record, "probe": {m: probes[m] for m in ("video", "audio")},
            "seconds": time.perf_counter() - start}


def summarise(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """Per variant: probe top-1 mean ± std (population std over seeds), purity per iteration mean ± std, s/iteration."""
    out: dict[str, Any] = {}
    for variant in VARIANTS:
        mine = sorted((r for r in runs if r["variant"] == variant), key=lambda r: r["seed"])
        if not mine:
            continue
        row: dict[str, Any] = {"seeds": [r["seed"] for r in mine]}
        for m in ("video", "audio"):
            row[m] = dict(zip(("mean", "std"), mean_std([r["probe"][m]["top1"] for r in mine]), strict=True))
            row[m]["per_seed"] = [r["probe"][m]["top1"] for r in mine]
        if variant != "random":
            row["purity"] = {src: [dict(zip(("mean", "std"), mean_std(list(v)), strict=True))
                                   for v in zip(*(r["purity"][src] for r in mine), strict=True)]
                             for src in mine[0]["purity"]}
            iters = np.asarray([r["iteration_seconds"] for r in mine])
            row["seconds_per_iteration"] = dict(zip(("mean", "std"), mean_std(iters.mean(axis=1)), strict=True))
            row["pretrain_seconds"] = dict(zip(("mean", "std"), mean_std([r["pretrain_seconds"] for r in mine]),
                                               strict=True))
        out[variant] = row
    return out


def markdown(summary: dict[str, Any]) -> str:
    """The docs table: probe top-1 mean ± std per variant, purity per iteration, seconds per iteration."""

    def ms(d: dict[str, float], scale: float = 1.0, digits: int = 1) -> str:
        return f"{d['mean'] * scale:.{digits}f} ± {d['std'] * scale:.{digits}f}"

    lines = ["| model | video top-1 (%) | audio top-1 (%) | video-cluster purity per iteration | "
             "audio-cluster purity per iteration | s / iteration |", "|---|---|---|---|---|---|"]
    for variant, row in summary.items():
        purity = row.get("purity", {})
        cells = []
        for src in ("video", "audio"):
            key = src if src in purity else "joint"
            its = purity.get(key)
            cells.append(("joint: " if key == "joint" and its else "") +
                         (" → ".join(ms(p, 100, 0) for p in its) if its else "—"))
        secs = ms(row["seconds_per_iteration"], digits=0) if "seconds_per_iteration" in row else "—"
        name = "random init" if variant == "random" else variant.upper()
        lines.append(f"| {name} | {ms(row['video'])} | {ms(row['audio'])} | {cells[0]} | {cells[1]} | {secs} |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, required=True, help="manifest of `xmodal data synth --demo`")
    parser.add_argument("--work", type=Path, required=True, help="run folders and the decoded evaluation clips")
    parser.add_argument("--json", type=Path, required=True, help="results file (runs appended, summary rewritten)")
    parser.add_argument("--variants", default=",".join(VARIANTS), help=f"comma list of {', '.join(VARIANTS)}")
    parser.add_argument("--seeds", default="0,1,2")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("overrides", nargs="*", metavar="KEY=VALUE", help="config overrides for every run")
    parser.add_argument("--table", action="store_true", help="print the markdown table of --json and exit")
    args = parser.parse_args()
    if args.table:
        print(markdown(json.loads(args.json.read_text())["summary"]))
        return
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    torch.set_num_threads(args.threads)
    os.environ.setdefault("OMP_NUM_THREADS", str(args.threads))
    variants = [v for v in args.variants.split(",") if v]
    unknown = sorted(set(variants) - set(VARIANTS))
    if unknown:
        parser.error(f"--variants: unknown {unknown}; choose from {', '.join(VARIANTS)}")
    doc: dict[str, Any] = json.loads(args.json.read_text()) if args.json.exists() else {"runs": []}
    if doc.get("overrides", args.overrides) != args.overrides:
        parser.error(f"{args.json} was built with overrides {doc['overrides']}; use the same or another --json")
    doc.update(protocol=__doc__.split("\n\n")[1].replace("\n", " "), config="xdc/synthetic_tiny",
               overrides=args.overrides, data=str(args.data))
    done = {(r["variant"], r["seed"]) for r in doc["runs"]}
    for variant in variants:
        for seed in (int(s) for s in args.seeds.split(",") if s):
            if (variant, seed) in done:
                continue
            log.info("%s seed %d", variant, seed)
            doc["runs"].append(run_one(variant, seed, args.data, args.work, args.overrides))
            doc["summary"] = summarise(doc["runs"])
            args.json.parent.mkdir(parents=True, exist_ok=True)
            args.json.write_text(json.dumps(doc, indent=1, default=float))
            log.info("%s seed %d: %s", variant, seed, json.dumps(doc["runs"][-1]["probe"], default=float)[:200])


if __name__ == "__main__":
    main()
