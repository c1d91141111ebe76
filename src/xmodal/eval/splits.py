"""Standard splits and folds: UCF101 and HMDB51 report the mean over their 3 official train/test splits, ESC-50 over
its 5 folds (XKD §4; Soomro et al. 2012, Kuehne et al. 2011, Piczak 2015).

Why manifests: every evaluation verb reads a manifest CSV, so the official split ``k`` of a dataset on disk is
written once as ``<dir>/<dataset>_split<k>.csv`` (+ its ``.json`` sidecar with the class list, so class ids are the
adapter's, e.g. ESC-50's target order) by the dataset adapter of :mod:`xmodal.data.datasets`, and each verb runs
unchanged once per manifest. The results are reported per split and as mean ± std (population std, as
:func:`xmodal.eval.selection.mean_std`).
"""

from __future__ import annotations

import csv
import json
import os
import tempfile
from collections.abc import Sequence
from pathlib import Path

from xmodal.data.dataset import DatasetIndex, row_path

OFFICIAL_SPLITS: dict[str, int] = {"ucf101": 3, "hmdb51": 3, "esc50": 5}


def parse_splits(dataset: str, spec: str) -> list[int]:
    """``"all"`` → every official split of ``dataset``; ``"1,3"`` → those (each checked against the count)."""
    if dataset not in OFFICIAL_SPLITS:
        raise ValueError(f"dataset {dataset!r} has no official splits to run; known: {sorted(OFFICIAL_SPLITS)}")
    count = OFFICIAL_SPLITS[dataset]
    if spec == "all":
        return list(range(1, count + 1))
    try:
        chosen = [int(s) for s in spec.split(",") if s.strip()]
    except ValueError:
        raise ValueError(f"splits {spec!r}: expected 'all' or comma-separated numbers such as 1,3") from None
    bad = [k for k in chosen if not 1 <= k <= count]
    if not chosen or bad:
        raise ValueError(f"splits {spec!r}: {dataset} has splits 1..{count}")
    return chosen


def write_manifest(index: DatasetIndex, path: Path) -> Path:
    """``index`` as a manifest CSV (absolute paths; class names as labels) + ``<stem>.json`` sidecar, each written
    to a temporary name and renamed: under DDP every rank writes the same files while another may read them."""
    path.parent.mkdir(parents=True, exist_ok=True)
    column = "labels" if index.multilabel else "label"
    sidecar = {"name": index.name, "classes": index.classes, "multilabel": index.multilabel, "meta": index.meta}
    _atomic_text(path.with_suffix(".json"), json.dumps(sidecar, default=str, indent=1))
    with tempfile.NamedTemporaryFile("w", newline="", encoding="utf-8", dir=path.parent, suffix=".tmp",
                                     delete=False) as fh:
        writer = csv.writer(fh)
        writer.writerow(["path", column, "split", "start", "end", "id"])
        for row in index.rows:
            labels = ";".join(index.classes[i] for i in row.labels)
            writer.writerow([row_path(index, row), labels, row.split, "" if row.start is None else row.start,
                             "" if row.end is None else row.end, row.id])
    os.replace(fh.name, path)
    return path


def _atomic_text(path: Path, text: str) -> None:
    with tempfile.NamedTemporaryFile("w", encoding="utf-8", dir=path.parent, suffix=".tmp", delete=False) as fh:
        fh.write(text)
    os.replace(fh.name, path)


def split_manifests(dataset: str, root: str | Path, out_dir: str | Path, splits: Sequence[int]
                    ) -> list[tuple[int, Path]]:
    """``[(k, manifest of official split k)]`` for ``dataset`` at ``root`` (its adapter's ``fold=k``)."""
    from xmodal.data.datasets import REGISTRY

    out = Path(out_dir)
    return [(k, write_manifest(REGISTRY[dataset](root, fold=k), out / f"{dataset}_split{k}.csv")) for k in splits]
