"""The learnability table: is the class learnable at this scale, from which modality, by which backbone?

Rows (test accuracy, %, mean ± std over seeds): supervised video / audio / audio+video, random-init encoder +
linear probe per modality, a linear model on hand-crafted features per modality, and chance (the majority class
of the train split, scored on test). Columns: the tiny ViT and the small CNN (:mod:`.probes`). What to read in it
is in docs/synthetic.md ("Learnability").
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import torch

from xmodal.analysis.learnability.probes import (
    BACKBONES,
    LateFusion,
    TrainConfig,
    build_encoder,
    encode,
    handcrafted,
    linear_probe,
    predict,
    train_supervised,
)

ROW_NAMES = {"supervised": "supervised", "random_linear": "random-init + linear probe",
             "handcrafted_linear": "linear on hand-crafted features", "chance": "chance"}


@dataclass(frozen=True)
class TableConfig:
    seeds: int = 3
    seed: int = 0
    backbones: tuple[str, ...] = BACKBONES
    train: TrainConfig = field(default_factory=TrainConfig)


def _stat(values: list[float]) -> dict[str, Any]:
    return {"mean": float(np.mean(values)), "std": float(np.std(values)), "values": [round(v, 3) for v in values]}


def learnability_table(data: dict[str, Any], cfg: TableConfig,
                       report: Callable[[str], None] = lambda _: None) -> dict[str, Any]:
    """Run every probe on decoded ``data`` (:func:`.inputs.load_inputs`); ``report`` receives progress lines."""
    for name in cfg.backbones:
        if name not in BACKBONES:
            raise ValueError(f"unknown backbone {name!r}; known: {BACKBONES}")
    mods = [m for m in ("video", "audio") if m in data]
    tr, te = data["split"] == "train", data["split"] == "test"
    y = data["label"]
    y_tr, y_te = y[torch.from_numpy(tr)], y[torch.from_numpy(te)]
    k = len(data["classes"])
    x_tr = {m: data[m][torch.from_numpy(tr)] for m in mods}
    x_te = {m: data[m][torch.from_numpy(te)] for m in mods}
    rows: list[dict[str, Any]] = []
    seconds: dict[str, float] = {}

    def add(probe: str, modality: str, backbone: str, values: list[float], start: float) -> None:
        rows.append({"probe": probe, "modality": modality, "backbone": backbone, **_stat(values)})
        seconds[f"{probe}/{modality}/{backbone}"] = round(time.perf_counter() - start, 1)
        report(f"{ROW_NAMES[probe]:<32} {modality:<12} {backbone:<6} {np.mean(values):6.1f} ± {np.std(values):.1f}"
               f"  ({seconds[f'{probe}/{modality}/{backbone}']:.0f} s)")

    seeds = [cfg.seed + 1000 * s for s in range(cfg.seeds)]
    combos = [[m] for m in mods] + ([mods] if len(mods) == 2 else [])
    for backbone in cfg.backbones:
        for combo in combos:
            start, accs = time.perf_counter(), []
            for seed in seeds:
                torch.manual_seed(seed)
                encoders = {m: build_encoder(backbone, m, tuple(data[m].shape[1:]), cfg.train) for m in combo}
                model = LateFusion(encoders, k)
                train_supervised(model, {m: x_tr[m] for m in combo}, y_tr, backbone, cfg.train, seed)
                pred = predict(model, {m: x_te[m] for m in combo})
                accs.append(100.0 * float((pred == y_te).float().mean()))
            add("supervised", "+".join(reversed(combo)) if len(combo) == 2 else combo[0], backbone, accs, start)
        for m in mods:
            start, accs = time.perf_counter(), []
            for seed in seeds:
                torch.manual_seed(seed)
                enc = build_encoder(backbone, m, tuple(data[m].shape[1:]), cfg.train)
                accs.append(linear_probe(encode(enc, x_tr[m]), y_tr.numpy(), encode(enc, x_te[m]), y_te.numpy()))
            add("random_linear", m, backbone, accs, start)
    for m in mods:
        start = time.perf_counter()
        acc = linear_probe(handcrafted(m, x_tr[m]), y_tr.numpy(), handcrafted(m, x_te[m]), y_te.numpy())
        add("handcrafted_linear", m, "linear", [acc], start)  # deterministic: one fit, std 0
    majority = int(torch.bincount(y_tr, minlength=k).argmax())
    add("chance", "-", "-", [100.0 * float((y_te == majority).float().mean())], time.perf_counter())
    return {"rows": rows, "classes": k, "clips": {"train": int(tr.sum()), "test": int(te.sum())},
            "skipped": len(data.get("skipped", [])), "seeds": seeds, "seconds": seconds,
            "shapes": {m: list(data[m].shape[1:]) for m in mods}, "config": asdict(cfg),
            "threads": torch.get_num_threads(),
            "meta": {key: data["meta"][key] for key in ("gamma", "alpha", "beta") if key in data.get("meta", {})}}


def _cell(row: dict[str, Any] | None) -> str:
    if row is None:
        return "—"
    return f"{row['mean']:.1f}" if len(row["values"]) == 1 else f"{row['mean']:.1f} ± {row['std']:.1f}"


def format_markdown(result: dict[str, Any]) -> str:
    """One line per (probe, modality); one column per backbone, hand-crafted and chance in the first column."""
    backbones = result["config"]["backbones"]
    names = {"vit": "tiny ViT", "cnn": "small CNN"}
    header = "| probe | modality | " + " | ".join(names[b] for b in backbones) + " |"
    lines = [header, "|---|---|" + "---|" * len(backbones)]
    keys = list(dict.fromkeys((r["probe"], r["modality"]) for r in result["rows"]))
    for probe, modality in keys:
        found = {r["backbone"]: r for r in result["rows"] if (r["probe"], r["modality"]) == (probe, modality)}
        if probe in ("handcrafted_linear", "chance"):
            cells = [_cell(next(iter(found.values())))] + [""] * (len(backbones) - 1)
        else:
            cells = [_cell(found.get(b)) for b in backbones]
        lines.append(f"| {ROW_NAMES[probe]} | {modality} | " + " | ".join(cells) + " |")
    clips = result["clips"]
    lines.append("")
    lines.append(f"{result['classes']} classes, {clips['train']} train / {clips['test']} test clips, "
                 f"{len(result['seeds'])} seeds, {result['config']['train']['epochs']} epochs, "
                 f"{sum(result['seconds'].values()):.0f} s on {result['threads']} thread(s)"
                 + (f", {result['skipped']} clips skipped" if result["skipped"] else "") + ".")
    return "\n".join(lines) + "\n"
