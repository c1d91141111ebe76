"""UCF101 (Soomro et al. 2012): 13,320 clips, 101 actions, three official train/test splits.

XKD reports linear and fine-tuning accuracy averaged over the three splits (xkd.md §4). Layout read here::

    ROOT/ucfTrainTestlist/classInd.txt          "1 ApplyEyeMakeup" … "101 YoYo" (CRLF line endings)
    ROOT/ucfTrainTestlist/trainlist0{1,2,3}.txt "ApplyEyeMakeup/v_ApplyEyeMakeup_g08_c01.avi 1"
    ROOT/ucfTrainTestlist/testlist0{1,2,3}.txt  "ApplyEyeMakeup/v_ApplyEyeMakeup_g01_c01.avi"
    ROOT/UCF-101/{Class}/v_{Class}_g{group}_c{clip}.avi

``fold`` (1–3) picks the split pair. Class indices: classInd order minus one (0-based). The class of a test clip is
its folder, matched case-insensitively (folder ``HandstandPushups`` holds ``v_HandStandPushups_…`` files).
"""

from __future__ import annotations

from pathlib import Path

from xmodal.data.dataset import DatasetIndex, ManifestRow
from xmodal.data.datasets._common import (
    annotation_error,
    as_root,
    build_index,
    check_fold,
    check_split,
    require_file,
    text_lines,
)


def _read_class_index(path: Path) -> list[str]:
    classes: list[str] = []
    for lineno, line in text_lines(path):
        parts = line.split()
        if len(parts) != 2 or not parts[0].isdigit():
            raise annotation_error(path, lineno, f"expected '<index> <ClassName>', got {line!r}")
        if int(parts[0]) != len(classes) + 1:
            raise annotation_error(path, lineno, f"class index {parts[0]} out of order (expected {len(classes) + 1})")
        classes.append(parts[1])
    return classes


def _read_list(path: Path, split: str, lookup: dict[str, int], videos: Path) -> list[ManifestRow]:
    rows: list[ManifestRow] = []
    for lineno, line in text_lines(path):
        parts = line.split()
        expected = 2 if split == "train" else 1
        if len(parts) != expected or "/" not in parts[0]:
            form = "<Class>/<video>.avi <label>" if split == "train" else "<Class>/<video>.avi"
            raise annotation_error(path, lineno, f"expected '{form}', got {line!r}")
        folder = parts[0].split("/", 1)[0]
        if folder.lower() not in lookup:
            raise annotation_error(path, lineno, f"class folder {folder!r} is not in classInd.txt")
        label = lookup[folder.lower()]
        if split == "train" and (not parts[1].isdigit() or int(parts[1]) - 1 != label):
            raise annotation_error(path, lineno, f"label {parts[1]!r} does not match class folder {folder!r}")
        rows.append(ManifestRow(path=str(videos / parts[0]), labels=[label], split=split, id=Path(parts[0]).stem))
    return rows


def load_ucf101(
    root: str | Path, split: str | None = None, *, fold: int = 1, check_files: bool = False
) -> DatasetIndex:
    """UCF101 official split ``fold`` (1–3): ``train`` from trainlist0{fold}, ``test`` from testlist0{fold}."""
    check_fold("ucf101", fold, 3)
    base = as_root(root)
    splits = check_split("ucf101", split, ("train", "test"))
    lists = base / "ucfTrainTestlist"
    classes = _read_class_index(require_file(lists / "classInd.txt", "UCF101 class index"))
    lookup = {name.lower(): i for i, name in enumerate(classes)}
    rows: list[ManifestRow] = []
    for s in splits:
        list_path = require_file(lists / f"{s}list0{fold}.txt", f"UCF101 {s} list for split {fold}")
        rows.extend(_read_list(list_path, s, lookup, base / "UCF-101"))
    return build_index("ucf101", rows, classes, base, check_files=check_files, meta={"fold": fold})
