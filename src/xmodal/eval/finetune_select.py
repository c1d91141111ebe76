"""Base-learning-rate selection for fine-tuning (XDC App. C, Table 4) on a validation split carved from train.

XDC fine-tunes every pretrained model with each base LR of a fixed grid (Table 4: six for full fine-tuning, eight
for FC-only) and reports the best result; the appendix does not say on which split "best" is judged. Judging it
on the test split would report a test-tuned number, so here the grid is scored on a validation split carved from
the training rows with a recorded seed, and the test split is scored once:

* :func:`carve_validation` — a manifest of the training rows only: a seeded ``fraction`` of each class becomes its
  ``test`` split (what :func:`xmodal.eval.finetune_run.finetune_from_exports` scores) and the rest its ``train``
  split. The original test rows are never written to it. Rows that share a source are kept on one side: UCF101's
  groups (``v_<class>_g08_c01``: the same actors and scene) and ESC-50's source recordings (``1-100032-A-0``), so
  the validation score is not inflated by near-duplicates of training clips.
* :func:`select_and_finetune` — one fine-tuning run per grid LR on the carved manifest, the best validation score
  chosen (ties: the smaller LR), then the final model **retrained on all training rows** at that LR and scored once
  on test. Retraining rather than reusing the selection run uses every training clip for the reported model, as a
  fixed-LR run would.
"""

from __future__ import annotations

import re
import tempfile
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

from xmodal.data.dataset import DatasetIndex, ManifestRow, read_manifest
from xmodal.data.shard_format import is_shard_source
from xmodal.eval.finetune_config import FinetuneConfig
from xmodal.eval.finetune_run import finetune_from_exports
from xmodal.eval.splits import write_manifest

_GROUPS = (re.compile(r"_(g\d+)_c\d+$"),  # UCF101: v_ApplyEyeMakeup_g08_c01 → g08
           re.compile(r"^\d+-(\d+)-[A-Z]-\d+$"))  # ESC-50: 1-100032-A-0 → source recording 100032


def source_group(row: ManifestRow) -> str:
    """The unit that must not straddle train and validation: a UCF101 group, an ESC-50 source recording, else the
    row itself (its id, or its path)."""
    key = row.id or row.path
    for pattern in _GROUPS:
        m = pattern.search(key)
        if m:
            return m.group(1)
    return key


def carve_validation(index: DatasetIndex, fraction: float, seed: int) -> tuple[DatasetIndex, dict[str, Any]]:
    """The training rows as a (train, ``test`` = validation) index; see the module doc. Per class, whole groups are
    drawn in a seeded order until ``fraction`` of the class's rows is reached, leaving at least one group in train;
    a class with one group stays in train. Returns the index and a record (seed, fraction, counts, ids)."""
    if not 0.0 < fraction < 1.0:
        raise ValueError(f"validation fraction must be in (0, 1), got {fraction}")
    train = index.split("train")
    rng = np.random.default_rng(seed)
    by_class: dict[int, dict[str, list[int]]] = defaultdict(lambda: defaultdict(list))
    for i, row in enumerate(train.rows):
        by_class[row.labels[0] if row.labels else -1][source_group(row)].append(i)
    held: set[int] = set()
    for label in sorted(by_class):
        groups = by_class[label]
        names = sorted(groups)
        target = fraction * sum(len(v) for v in groups.values())
        taken = 0
        for j in rng.permutation(len(names))[: len(names) - 1]:
            if taken >= target:
                break
            held.update(groups[names[j]])
            taken += len(groups[names[j]])
    if not held:
        raise ValueError(f"{index.name}: no validation rows could be carved from {len(train.rows)} training rows "
                         "(every class has a single group); add training rows or pass a fixed --lr")
    rows = [replace(r, split="test" if i in held else "train") for i, r in enumerate(train.rows)]
    record = {"seed": seed, "fraction": fraction, "n_train": len(rows) - len(held), "n_val": len(held),
              "val_ids": sorted(r.id or r.path for r in rows if r.split == "test")}
    return replace(train, rows=rows), record


def _val_score(out: dict[str, Any]) -> float:
    return float(out["metrics"]["mAP" if out["multilabel"] else "top1"])


def select_and_finetune(
    backbones: dict[str, str], manifest: str | Path, cfg: FinetuneConfig, grid: Sequence[float], *,
    val_fraction: float = 0.1, val_seed: int = 0, out_dir: str | Path | None = None, **kwargs: Any,
) -> dict[str, Any]:
    """Choose the base LR from ``grid`` on a carved validation split, retrain on all of train at it, test once.

    ``kwargs`` go to :func:`~xmodal.eval.finetune_run.finetune_from_exports` (seed, workers, trainer fields). With
    ``out_dir`` the runs are ``<out_dir>/select/lr<lr>`` and ``<out_dir>/final`` (each resumable) and the carved
    manifest is ``<out_dir>/select/val_seed<seed>.csv``. Returns the final run's result with ``lr_selection``
    (grid, validation score per LR, chosen LR, the carve record)."""
    if not grid:
        raise ValueError("the learning-rate grid is empty")
    if is_shard_source(str(manifest)):
        raise ValueError(f"{manifest}: the learning-rate selection carves a validation split out of the train rows of "
                         "a manifest; give the original files' manifest, or fix the rate with --lr to stream shards")
    index = read_manifest(manifest)
    carved, record = carve_validation(index, val_fraction, val_seed)
    with tempfile.TemporaryDirectory(prefix="xmodal-lr-select-") as tmp:
        select_dir = Path(out_dir) / "select" if out_dir else Path(tmp)
        carved_csv = write_manifest(carved, select_dir / f"val_seed{val_seed}.csv")
        scores: dict[float, float] = {}
        for lr in grid:
            run_dir = select_dir / f"lr{lr:g}" if out_dir else None
            out = finetune_from_exports(backbones, carved_csv, replace(cfg, lr=float(lr)), out_dir=run_dir, **kwargs)
            scores[float(lr)] = _val_score(out)
    best = max(scores.values())
    chosen = min(lr for lr, s in scores.items() if s == best)
    final = finetune_from_exports(backbones, manifest, replace(cfg, lr=chosen),
                                  out_dir=Path(out_dir) / "final" if out_dir else None, **kwargs)
    final["lr_selection"] = {"grid": [float(g) for g in grid], "val_scores": {f"{k:g}": v for k, v in scores.items()},
                             "chosen_lr": chosen, "carve": {**record, "manifest": str(carved_csv) if out_dir else None},
                             "refit": "all training rows at the chosen LR; test scored once"}
    return final
