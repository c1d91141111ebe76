"""AVE (Tian et al. 2018): 4,143 10-s videos, 28 audio-visual event categories with event boundaries.

Layout read here (ROOT may be the folder that holds ``AVE_Dataset/`` or ``AVE_Dataset`` itself)::

    ROOT/AVE_Dataset/Annotations.txt   Category&VideoID&Quality&StartTime&EndTime   (header line, then
                                       "Church bell&RUhOCu3LNXM&good&0&10"; categories may contain commas)
    ROOT/AVE_Dataset/{trainSet,valSet,testSet}.txt   same format (header line optional)
    ROOT/AVE_Dataset/AVE/{VideoID}.mp4

A video can hold several events, so ids are ``{VideoID}_{start}_{end}`` and rows carry the event's start/end
seconds. Class indices: sorted category names of ``Annotations.txt``. The official annotations hold a row with an
empty event (``Church bell&VWi2ENBuTbw&good&0&0``, listed in ``trainSet.txt`` too): such rows are skipped and
reported as ``degenerate_rows`` rather than failing the whole dataset.
"""

from __future__ import annotations

from pathlib import Path

from xmodal.data.dataset import DatasetIndex, ManifestRow
from xmodal.data.datasets._common import (
    annotation_error,
    as_root,
    check_fold,
    check_split,
    require_file,
    require_root,
    text_lines,
)
from xmodal.data.datasets._report import Report, build_index

_HEADER = ["Category", "VideoID", "Quality", "StartTime", "EndTime"]
_SPLIT_FILES = {"train": "trainSet.txt", "val": "valSet.txt", "test": "testSet.txt"}
OFFICIAL_SIZES = {"total": 4143}  # events in Annotations.txt (Tian et al. 2018; C²KD appendix §A)


def _read(path: Path, report: Report | None) -> list[tuple[int, str, str, int, int]]:
    """``(line number, category, video id, start, end)`` per event; empty events go to ``report`` (if given)."""
    events: list[tuple[int, str, str, int, int]] = []
    for lineno, line in text_lines(path):
        fields = [field.strip() for field in line.split("&")]
        if fields == _HEADER:
            continue
        if len(fields) != len(_HEADER) or not fields[3].isdigit() or not fields[4].isdigit():
            raise annotation_error(path, lineno, f"expected 'Category&VideoID&Quality&StartTime&EndTime', got {line!r}")
        if not fields[0] or not fields[1]:
            raise annotation_error(path, lineno, f"empty category or video id: {line!r}")
        start, end = int(fields[3]), int(fields[4])
        if start >= end:
            if report is not None:
                report.skip("degenerate_rows", f"{fields[1]}_{start}_{end}")
            continue
        events.append((lineno, fields[0], fields[1], start, end))
    return events


def load_ave(root: str | Path, split: str | None = None, *, fold: int = 1, check_files: bool = False) -> DatasetIndex:
    """AVE with the official ``trainSet``/``valSet``/``testSet`` partition of the ECCV 2018 paper."""
    check_fold("ave", fold, 1)
    base = require_root(as_root(root), "AVE", "AVE_Dataset/Annotations.txt, AVE_Dataset/{train,val,test}Set.txt")
    data = base / "AVE_Dataset" if (base / "AVE_Dataset").is_dir() else base
    splits = check_split("ave", split, ("train", "val", "test"))
    report = Report(layout="official AVE_Dataset.zip (Annotations.txt, {train,val,test}Set.txt, AVE/<id>.mp4)")
    annotations = _read(require_file(data / "Annotations.txt", "AVE annotations"), None)
    classes = sorted({category for _, category, *_ in annotations})
    index = {name: i for i, name in enumerate(classes)}
    rows: list[ManifestRow] = []
    for s in splits:
        path = require_file(data / _SPLIT_FILES[s], f"AVE {s} list")
        for lineno, category, video, start, end in _read(path, report):
            if category not in index:
                raise annotation_error(path, lineno, f"category {category!r} is not in Annotations.txt")
            rows.append(
                ManifestRow(
                    path=str(data / "AVE" / f"{video}.mp4"),
                    labels=[index[category]],
                    split=s,
                    start=float(start),
                    end=float(end),
                    id=f"{video}_{start}_{end}",
                )
            )
    official = OFFICIAL_SIZES if split is None else {}
    return build_index("ave", rows, classes, base, check_files=check_files, report=report, official=official)
