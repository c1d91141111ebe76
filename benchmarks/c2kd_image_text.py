"""No KD, KD, SHAKE and C²KD on the synthetic image–text benchmark across γ, T→I and I→T, with the MFH diagnostic.

    python benchmarks/c2kd_image_text.py --out runs/imtx --json imtx.json

For each γ the benchmark is generated (``levels_for_gamma``: γ = 0 → (1, 2, 2), 0.5 → (4, 2, 2), 1 → (4, 1, 1)
colour/texture/place levels), decoded once, and ``c2kd/synthetic_image_text_{t2i,i2t}`` run over seeds 1, 2, 3
with selection on val and test scored once. The diagnostic reads the teacher and the no-KD student on val.
Prints one markdown table (test top-1 mean ± std) and writes everything to ``--json``.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import time
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import torch

from xmodal.analysis.mfh.distill import image_text_ladder


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--out", required=True, help="folder for the generated benchmarks")
    p.add_argument("--gammas", type=float, nargs="+", default=[0.0, 0.5, 1.0], help="target γ values")
    p.add_argument("--samples", type=int, default=600, help="image-text pairs per γ (default %(default)s)")
    p.add_argument("--json", default=None, help="write all results here (default: not written)")
    p.add_argument("overrides", nargs="*", help="config overrides for both directions, e.g. seeds=[1]")
    return p.parse_args(argv)


def table(rows: list[dict[str, Any]]) -> str:
    """Test top-1 mean ± std per method, γ̂ and its prediction, and each method's paired gain over the no-KD
    student (mean ± std over seeds of the per-seed differences: every method of a seed starts from the same
    student initialisation, batch order and teacher)."""
    methods = [m for m in rows[0]["summary"] if m != "teacher"]
    gains = [m for m in methods if m != "none"]
    head = ["γ", "dir", "teacher", *methods, "γ̂ (val)", "KD predicted to help", *[f"{m} − none" for m in gains]]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in rows:
        s = r["summary"]
        cell = {m: f"{s[m]['test_mean']:.1f} ± {s[m]['test_std']:.1f}" for m in s}
        paired = []
        for m in gains:
            diffs = np.array([seed[m]["test_acc"] - seed["none"]["test_acc"] for seed in r["seeds"]])
            paired.append(f"{diffs.mean():+.1f} ± {diffs.std():.1f}")
        lines.append("| " + " | ".join([f"{r['gamma']:.2f}", r["direction"].upper().replace("2", "→"),
                                        cell["teacher"], *[cell[m] for m in methods], f"{r['gamma_hat']:.3f}",
                                        "yes" if r["kd_predicted_to_help"] else "no", *paired]) + " |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    torch.set_num_threads(1)
    logging.getLogger("lightning").setLevel(logging.ERROR)
    logging.getLogger("lightning.pytorch").setLevel(logging.ERROR)
    warnings.filterwarnings("ignore")
    start = time.perf_counter()
    rows = image_text_ladder(args.out, tuple(args.gammas), args.samples, tuple(args.overrides))
    seconds = time.perf_counter() - start
    print(table(rows))
    print(f"\nwall clock: {seconds:.0f} s")
    if args.json:
        used = sys.argv[1:] if argv is None else argv  # the command line as run, so the JSON says how it was made
        Path(args.json).write_text(json.dumps({"rows": rows, "seconds": seconds, "argv": used}, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
