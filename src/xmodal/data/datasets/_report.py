"""What an adapter found besides its rows: the layout it recognised, and every row it left out and why.

Why: researchers hold datasets in the layouts their downloader left (CVDF tarballs, mmaction2, torchvision, PANNs,
Kaggle, a zip of a Git LFS repository), and each copy has its own gaps. Loading must not stop at the first odd row,
but it must not hide one either: skipped rows are counted by reason with their ids, the layout is named, and
``xmodal data check`` prints it all next to the official split sizes (``describe``).
"""

from __future__ import annotations

import logging
import os
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from xmodal.data.dataset import DatasetIndex, ManifestRow

log = logging.getLogger("xmodal.data.datasets")

# Reasons a row is left out of the index (``meta["skipped"]``) and what each means, for reports and docs.
SKIP_REASONS: dict[str, str] = {
    "degenerate_rows": "annotation rows with an empty time interval (start >= end)",
    "duplicates": "the same clip found twice; the first path (sorted) is kept",
    "lfs_pointers": "Git LFS pointer stubs (text files from a zip download of the repository), not media",
    "known_broken": "clips the dataset's own README lists as broken",
    "listed_not_released": "listed in the annotation file but never released by the dataset's authors",
}


@dataclass
class Report:
    """Collects, while an adapter reads a root, the layout it recognised and the rows it skipped (by reason)."""

    layout: str = ""
    skipped: dict[str, list[str]] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    def skip(self, reason: str, clip_id: str) -> None:
        if reason not in SKIP_REASONS:
            raise KeyError(f"unknown skip reason {reason!r}; known: {sorted(SKIP_REASONS)}")
        self.skipped.setdefault(reason, []).append(clip_id)

    def note(self, text: str) -> None:
        self.notes.append(text)


def build_index(
    name: str,
    rows: list[ManifestRow],
    classes: list[str],
    root: Path,
    *,
    check_files: bool,
    multilabel: bool = False,
    meta: dict[str, Any] | None = None,
    report: Report | None = None,
    official: dict[str, int] | None = None,
) -> DatasetIndex:
    """Assemble the index and its report in ``meta``, and log a one-line summary.

    ``meta`` gains ``layout``, ``split_sizes``, ``official_sizes`` (published counts to compare with, ``{}`` when
    none is known), ``skipped`` (``{reason: {"count", "ids"}}``) and ``notes``; with ``check_files`` also
    ``missing`` (absent media per split; the rows are kept) and their total ``missing_files``."""
    report = report or Report()
    info = dict(meta or {})
    info["layout"] = report.layout
    info["split_sizes"] = dict(Counter(row.split for row in rows))
    info["official_sizes"] = dict(official or {})
    info["skipped"] = {reason: {"count": len(ids), "ids": ids} for reason, ids in report.skipped.items()}
    info["notes"] = list(report.notes)
    if check_files:
        missing = Counter(row.split for row in rows if not os.path.isfile(row.path))
        info["missing"] = {split: missing.get(split, 0) for split in info["split_sizes"]}
        info["missing_files"] = sum(missing.values())
    index = DatasetIndex(name=name, rows=rows, classes=classes, multilabel=multilabel, root=str(root), meta=info)
    log.info("%s: %s", name, "; ".join(describe(index)))
    return index


def describe(index: DatasetIndex) -> list[str]:
    """Human-readable lines: layout, split sizes against the official ones, skipped rows by reason, notes."""
    meta = index.meta
    lines = [f"layout: {meta.get('layout') or 'unknown'}"]
    official = meta.get("official_sizes", {})
    missing = meta.get("missing", {})
    for split, count in meta.get("split_sizes", {}).items():
        text = f"{split}: {count} rows"
        if split in missing:
            text += f" ({count - missing[split]} with media, {missing[split]} missing)"
        if split in official:
            text += f"; official {official[split]}"
        lines.append(text)
    if "total" in official:
        lines.append(f"total: {len(index.rows)} rows; official {official['total']}")
    for reason, entry in meta.get("skipped", {}).items():
        shown = ", ".join(entry["ids"][:5]) + (", …" if entry["count"] > 5 else "")
        lines.append(f"skipped {entry['count']} ({SKIP_REASONS[reason]}): {shown}")
    lines.extend(meta.get("notes", []))
    return lines
