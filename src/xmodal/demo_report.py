"""The demo's report: per-seed probe rows → mean ± std over pretraining seeds, protocol card, markdown.

Two errors are reported side by side because they answer different questions: the binomial standard error of one
run's test accuracy (how much the 240 test clips alone let the number move) and the standard deviation over
pretraining seeds (how much the pretraining itself moves it). One seed says nothing about the second.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import numpy as np

Rows = dict[str, dict[str, dict[str, Any]]]
COLUMNS = (("video", "video"), ("audio", "audio"), ("fusion", "audio+video"))


def aggregate(per_seed: dict[int, Rows]) -> Rows:
    """Mean and sample standard deviation (ddof = 1; 0 for one seed) of each cell over the seeds that have it."""
    names: list[str] = []
    for rows in per_seed.values():
        names += [n for n in rows if n not in names]
    out: Rows = {}
    for name in names:
        out[name] = {}
        mods = {m for rows in per_seed.values() for m in rows.get(name, {})}
        for mod in [m for m, _ in COLUMNS if m in mods]:
            cells = [rows[name][mod] for rows in per_seed.values() if mod in rows.get(name, {})]
            top1 = np.array([c["top1"] for c in cells])
            out[name][mod] = {
                "top1": float(top1.mean()), "std": float(top1.std(ddof=1)) if len(cells) > 1 else 0.0,
                "stderr": float(np.mean([c["stderr"] for c in cells])), "n_test": cells[0]["n_test"],
                "val_top1": float(np.mean([c["val_top1"] for c in cells])), "per_seed": top1.tolist(),
                "C": [c["C"] for c in cells], "seeds": len(cells),
            }
    return out


def cell_text(cell: dict[str, Any] | None) -> str:
    """``mean ± s.e.`` for one seed; ``mean ± std (s.e. x)`` over several."""
    if cell is None:
        return "—"
    if cell["seeds"] == 1:
        return f"{cell['top1']:.1f} ± {cell['stderr']:.1f}"
    return f"{cell['top1']:.1f} ± {cell['std']:.1f} (s.e. {cell['stderr']:.1f})"


def table_rows(rows: Rows) -> list[list[str]]:
    return [[name, *(cell_text(res.get(key)) for key, _ in COLUMNS)] for name, res in rows.items()]


def benchmark_card(manifest: Path, counts: dict[str, int]) -> str:
    """The benchmark that was *used*, read from its ``manifest.json`` (what ``generate`` wrote), not the flags:
    a demo that reuses an existing benchmark must not claim the ``--clips``/``--seed`` it was given."""
    sidecar = manifest.with_suffix(".json")
    meta = json.loads(sidecar.read_text()).get("meta", {}) if sidecar.is_file() else {}
    knobs = meta.get("knobs", {})
    if not knobs:
        return f"{manifest} (no manifest.json: generator settings unknown), splits {counts}"
    return (f"synthetic MVD benchmark ({meta.get('generator', '?')} v{meta.get('version', '?')}), "
            f"{knobs.get('clips')} clips, seed {meta.get('seed')}, {knobs.get('size')}² frames, "
            f"{meta.get('num_classes')} classes, splits {counts}")


def protocol_card(config: str, overrides: list[str], epochs: int, seeds: tuple[int, ...], manifest: Path,
                  counts: dict[str, int], mavil: str | None) -> dict[str, str]:
    seed_text = f"seed {seeds[0]}" if len(seeds) == 1 else f"seeds {', '.join(map(str, seeds))}"
    card = {
        "data": benchmark_card(manifest, counts),
        "pretraining": f"{config} (+ {overrides}); {epochs} epochs, {seed_text}; "
                       "same model sizes, data and schedule for every objective",
        "features": "mean of last-layer patch tokens (CLS excluded), one centred 4 s clip, no augmentation",
        "probe": "linear SVM on L2-normalized features, C ∈ {1e-5…1} (grown by up to 3 decades when the optimum "
                 "sits on an end) chosen on val, refit on train+val, test scored once",
        "error": "± is the binomial standard error over test clips" if len(seeds) == 1 else
                 f"mean ± sample standard deviation over {len(seeds)} pretraining seeds (same benchmark, same "
                 "probe); (s.e.) is the mean binomial standard error over test clips of one run",
        "fusion": "audio and video features L2-normalized each, concatenated, not normalized again (XKD Table 9)",
    }
    if mavil:
        card["mavil"] = (f"{mavil}: its own encoders and inputs (Kaldi fbank, 2 fps), probed the same way; "
                         "the random-init row is the XKD architecture, not MAViL's")
    return card


def markdown(report: dict[str, Any]) -> str:
    lines = ["# xmodal demo results", "", "| backbone | video | audio | audio+video |", "|---|---|---|---|"]
    lines += ["| " + " | ".join(row) + " |" for row in table_rows(report["results"])]
    if len(report["per_seed"]) > 1:
        lines += ["", "## Per seed (video top-1)", ""]
        for name, res in report["results"].items():
            if "video" in res:
                lines.append(f"- {name}: " + ", ".join(f"{v:.1f}" for v in res["video"]["per_seed"]))
    lines += ["", "## Protocol", ""] + [f"- **{k}**: {v}" for k, v in report["protocol"].items()]
    lines += ["", "## Timings (s)", ""] + [f"- {k}: {v:.1f}" for k, v in report["timings"].items()]
    lines += ["", "## Figures", ""] + [f"![{Path(p).stem}]({Path(p).name})" for p in report["figures"]]
    return "\n".join(lines) + "\n"


def binomial_stderr(acc: float, n: int) -> float:
    return math.sqrt(max(acc * (1 - acc), 1e-12) / n)
