"""ESC-50 (Piczak 2015): 2,000 5-s environmental recordings, 50 classes, 5 predefined folds.

XKD reports accuracy averaged over the 5 folds (XKD §4, "ESC50 … 96.5%"). Layout read here::

    ROOT/meta/esc50.csv     filename,fold,target,category,esc10,src_file,take
                            1-100032-A-0.wav,1,0,dog,True,100032,A
    ROOT/audio/{filename}

``fold`` (1–5) is the held-out test fold; the other four folds are ``train`` (cross-validation, no ``val``).
Class indices: the ``target`` column (0–49), whose names come from ``category``. ``meta["esc10"]`` lists the ids
of the ESC-10 subset.
"""

from __future__ import annotations

from pathlib import Path

from xmodal.data.dataset import DatasetIndex, ManifestRow
from xmodal.data.datasets._common import (
    annotation_error,
    as_root,
    check_fold,
    check_split,
    csv_records,
    require_file,
    require_root,
)
from xmodal.data.datasets._report import Report, build_index

_HEADER = ["filename", "fold", "target", "category", "esc10", "src_file", "take"]
_FOLDS = 5
OFFICIAL_SIZES = {"train": 1600, "test": 400}  # 2,000 clips in 5 equal folds (Piczak 2015)


def load_esc50(root: str | Path, split: str | None = None, *, fold: int = 1, check_files: bool = False) -> DatasetIndex:
    """ESC-50 with test fold ``fold``: ``test`` = that fold, ``train`` = the other four."""
    check_fold("esc50", fold, _FOLDS)
    base = require_root(as_root(root), "ESC-50", "meta/esc50.csv and audio/ (the ESC-50 repository)")
    splits = check_split("esc50", split, ("train", "test"))
    csv_path = require_file(base / "meta" / "esc50.csv", "ESC-50 metadata")
    records = csv_records(csv_path)
    header_line, header = next(records, (1, []))
    if header != _HEADER:
        raise annotation_error(csv_path, header_line, f"expected header {','.join(_HEADER)}, got {header}")
    names: dict[int, str] = {}
    clips: list[tuple[str, int, int, bool]] = []
    for lineno, fields in records:
        if len(fields) != len(_HEADER) or not fields[1].isdigit() or not fields[2].isdigit():
            raise annotation_error(
                csv_path, lineno, f"expected {len(_HEADER)} fields with integer fold/target: {fields}"
            )
        filename, clip_fold, target, category = fields[0], int(fields[1]), int(fields[2]), fields[3]
        if not 1 <= clip_fold <= _FOLDS:
            raise annotation_error(csv_path, lineno, f"fold {clip_fold} is not in 1..{_FOLDS}")
        if names.setdefault(target, category) != category:
            raise annotation_error(
                csv_path, lineno, f"target {target} is {category!r} here but {names[target]!r} before"
            )
        clips.append((filename, clip_fold, target, fields[4] == "True"))
    if sorted(names) != list(range(len(names))):
        raise annotation_error(csv_path, header_line, f"targets are not contiguous from 0: {sorted(names)}")
    rows = [
        ManifestRow(
            path=str(base / "audio" / filename),
            labels=[target],
            split="test" if clip_fold == fold else "train",
            id=Path(filename).stem,
        )
        for filename, clip_fold, target, _ in clips
        if ("test" if clip_fold == fold else "train") in splits
    ]
    meta = {"fold": fold, "esc10": [Path(f).stem for f, _, _, is_esc10 in clips if is_esc10]}
    classes = [names[i] for i in range(len(names))]
    report = Report(layout="ESC-50 repository (meta/esc50.csv, audio/)")
    return build_index(
        "esc50", rows, classes, base, check_files=check_files, meta=meta, report=report, official=OFFICIAL_SIZES
    )
