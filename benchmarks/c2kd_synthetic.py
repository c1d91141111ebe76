"""C²KD and the baselines on synthetic benchmarks (hard-audio, the γ ladder), A→V and V→A, with the MFH diagnostic.

For each benchmark folder (``xmodal data synth --preset hard-audio|gamma-ladder``) the script optionally draws a
class-balanced subsample of each split (``--train/--val/--test`` clips; the clips are linked, not copied), decodes
it once, and runs ``xmodal distill``'s runner for both directions from the shipped ``c2kd/synthetic_{a2v,v2a}``
configs (``key=value`` overrides apply to both). Selection is on val only; test is scored once per network.

Per seed, the MFH diagnostic (:func:`xmodal.analysis.mfh.diagnostic.diagnose`) sees what a user has before
distilling: the pretrained teacher and the no-KD student, their penultimate features (the classifier's input) and
logits on the **val** split (:func:`xmodal.analysis.mfh.distill.distill_with_diagnostic`).
Its γ̂ and prediction ("KD helps" when γ̂ > threshold) go next to the measured test
gains of every method over w/o KD (paired: same seed, initialisation and batch order), with the true γ from the
generator's manifest meta. Results are written to ``--json`` after every benchmark, so a timed-out run keeps what
it finished. With ``--merge`` they are added to an existing ``--json`` of the same protocol (one benchmark and
direction per call, e.g. one lock per job on a shared machine); a rerun of a benchmark/direction replaces it.

    python benchmarks/c2kd_synthetic.py /tmp/synthwork/bench/hard-audio /tmp/synthwork/bench/ladder/gamma-0 \\
        --work /tmp/c2kdrest --json runs/c2kd_synthetic_evidence.json "methods=[none,kd,shake,c2kd]"
"""

from __future__ import annotations

import argparse
import csv
import json
import logging
import os
from collections import defaultdict
from pathlib import Path
from typing import Any

import numpy as np
import torch

from xmodal.analysis.mfh.diagnostic import DEFAULT_THRESHOLD
from xmodal.analysis.mfh.distill import distill_with_diagnostic
from xmodal.config import load_config
from xmodal.configs import config_path
from xmodal.eval.selection import mean_std
from xmodal.methods.cmkd_data import load_splits
from xmodal.methods.cmkd_run import DistillRunConfig

log = logging.getLogger("c2kd_synthetic")


def subsample(src: Path, dst: Path, sizes: dict[str, int]) -> Path:
    """A manifest with at most ``sizes[split]`` rows per split, balanced over classes (first rows of each class in
    manifest order), its sidecar copied and the clips folder linked; returns the new manifest path."""
    with (src / "manifest.csv").open() as f:
        rows = list(csv.DictReader(f))
    classes = sorted({r["label"] for r in rows})
    kept = []
    for split, n in sizes.items():
        per_class, taken = max(1, n // len(classes)), defaultdict(int)
        for r in rows:
            if r["split"] == split and taken[r["label"]] < per_class:
                taken[r["label"]] += 1
                kept.append(r)
    dst.mkdir(parents=True, exist_ok=True)
    with (dst / "manifest.csv").open("w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(kept)
    (dst / "manifest.json").write_text((src / "manifest.json").read_text())
    link = dst / "clips"
    if not link.exists():
        link.symlink_to((src / "clips").resolve())
    return dst / "manifest.csv"


def summarise(result: dict[str, Any], methods: list[str]) -> dict[str, Any]:
    """Per method: test mean ± std and the paired gain over w/o KD (mean ± std over seeds); γ̂ mean ± std."""
    seeds = result["seeds"]
    out: dict[str, Any] = {}
    for m in ("teacher", *methods):
        mean, std = mean_std([r[m]["test_acc"] for r in seeds])
        out[m] = {"test_mean": mean, "test_std": std, "seconds_per_epoch": result["summary"][m]["seconds_per_epoch"]}
        if m not in ("teacher", "none"):
            gains = [r[m]["test_acc"] - r["none"]["test_acc"] for r in seeds]
            out[m]["gain_mean"], out[m]["gain_std"] = mean_std(gains)
    g = [p["gamma_hat"] for p in result["diagnostic"]["per_seed"]]
    out["mfh"] = {"gamma_hat_mean": float(np.mean(g)), "gamma_hat_std": float(np.std(g)),
                  "predicted_helps": bool(result["diagnostic"]["kd_predicted_to_help"])}
    return out


def protocol(results: dict[str, Any]) -> tuple[list[str], dict[str, int]]:
    """What must match for two runs to share one table: the overrides (bar ``methods=``) and the split sizes."""
    return sorted(o for o in results["overrides"] if not o.startswith("methods=")), results["sizes"]


def merge(old: dict[str, Any], new: dict[str, Any], where: str) -> dict[str, Any]:
    """``new``'s benchmark/direction entries added to ``old`` (a rerun replaces the entry); refuses another protocol,
    because the gains of one table must come from one training recipe and one subsample."""
    if protocol(old) != protocol(new):
        raise SystemExit(f"{where}: --merge needs the same overrides (bar methods=) and --train/--val/--test; "
                         f"file has {protocol(old)}, this run {protocol(new)} — use another --json")
    out = {**old, "benchmarks": {k: {**v, "directions": dict(v["directions"])} for k, v in old["benchmarks"].items()}}
    for name, entry in new["benchmarks"].items():
        out["benchmarks"].setdefault(name, {**entry, "directions": {}})["directions"].update(entry["directions"])
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("items", nargs="+", metavar="BENCH_DIR|KEY=VALUE",
                        help="benchmark folders (manifest.csv, manifest.json, clips/) and config overrides for both "
                             "directions (e.g. methods=[none,kd,c2kd])")
    parser.add_argument("--work", default="/tmp/c2kdrest", help="where subsampled manifests go (default: %(default)s)")
    parser.add_argument("--train", type=int, default=0, help="train clips kept per benchmark (0 = all)")
    parser.add_argument("--val", type=int, default=0, help="val clips kept (0 = all)")
    parser.add_argument("--test", type=int, default=0, help="test clips kept (0 = all)")
    parser.add_argument("--directions", default="a2v,v2a", help="comma-separated (default: %(default)s)")
    parser.add_argument("--threshold", type=float, default=DEFAULT_THRESHOLD, help="MFH γ̂ threshold")
    parser.add_argument("--threads", type=int, default=1, help="torch threads (default: %(default)s)")
    parser.add_argument("--json", required=True, help="results file, rewritten after every benchmark")
    parser.add_argument("--merge", action="store_true",
                        help="add to an existing --json of the same protocol instead of overwriting it")
    args = parser.parse_intermixed_args()
    overrides = [i for i in args.items if "=" in i]
    benchmarks = [Path(i) for i in args.items if "=" not in i]
    os.environ.setdefault("OMP_NUM_THREADS", str(args.threads))
    torch.set_num_threads(args.threads)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    sizes = {s: n for s, n in (("train", args.train), ("val", args.val), ("test", args.test)) if n > 0}
    results: dict[str, Any] = {"overrides": overrides, "sizes": sizes, "benchmarks": {}}
    out = Path(args.json)
    old = json.loads(out.read_text()) if args.merge and out.exists() else None
    if old is not None:
        merge(old, results, args.json)  # refuse a protocol mismatch before hours of training, not after
    for bench in benchmarks:
        manifest = subsample(bench, Path(args.work) / bench.name, sizes) if sizes else bench / "manifest.csv"
        meta = json.loads((bench / "manifest.json").read_text())["meta"]
        entry: dict[str, Any] = {"manifest": str(manifest), "gamma": meta.get("gamma"), "alpha": meta.get("alpha"),
                                 "beta": meta.get("beta"), "classes": meta.get("num_classes"), "directions": {}}
        splits = None
        for direction in args.directions.split(","):
            cfg = load_config(DistillRunConfig, config_path(f"c2kd/synthetic_{direction}"),
                              [*overrides, f"data.manifest={manifest}"])
            if "none" not in cfg.methods:
                raise SystemExit("methods: include none (the MFH diagnostic and the gains need the no-KD student)")
            splits = splits or load_splits(cfg.data)  # the same decoded clips serve both directions
            result = distill_with_diagnostic(cfg, splits, args.threshold)
            entry["directions"][direction] = {"methods": list(cfg.methods),
                                              "summary": summarise(result, list(cfg.methods)),
                                              "seeds": result["seeds"], "splits": result["splits"]["sizes"],
                                              "diagnostic": result["diagnostic"]}
            log.info("%s %s: %s", bench.name, direction, json.dumps(entry["directions"][direction]["summary"]))
        results["benchmarks"][bench.name] = entry
        written = merge(old, results, args.json) if old is not None else results
        out.write_text(json.dumps(written, indent=1, default=str))


if __name__ == "__main__":
    main()
