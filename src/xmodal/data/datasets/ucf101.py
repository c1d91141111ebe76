"""UCF101 (Soomro et al. 2012): 13,320 clips, 101 actions, three official train/test splits.

XKD reports linear and fine-tuning accuracy averaged over the three splits (XKD §4). Layouts read here::

    official zips                                   mmaction2 (tools/data/ucf101)
    ROOT/ucfTrainTestlist/classInd.txt              ROOT/annotations/classInd.txt   (the zip unpacked flat)
    ROOT/ucfTrainTestlist/{train,test}list0{1,2,3}.txt   ROOT/annotations/…
    ROOT/UCF-101/{Class}/v_{Class}_g{gg}_c{cc}.avi  ROOT/videos/{Class}/…           (UCF-101 renamed to videos)

    classInd.txt "1 ApplyEyeMakeup" … (CRLF); trainlist "ApplyEyeMakeup/v_ApplyEyeMakeup_g08_c01.avi 1";
    testlist "ApplyEyeMakeup/v_ApplyEyeMakeup_g01_c01.avi"

``fold`` (1–3) picks the split pair. Class indices: classInd order minus one (0-based). The class of a test clip is
its folder, matched case-insensitively (folder ``HandstandPushups`` holds ``v_HandStandPushups_…`` files).
"""

from __future__ import annotations

from pathlib import Path

from xmodal.data.dataset import DatasetIndex, ManifestRow
from xmodal.data.datasets._common import (
    annotation_error,
    as_root,
    check_fold,
    check_split,
    require_root,
    text_lines,
)
from xmodal.data.datasets._report import Report, build_index

_LISTS = (("ucfTrainTestlist", "official UCF101TrainTestSplits zip"), ("annotations", "mmaction2"))
_VIDEOS = (("UCF-101", "official UCF101.rar"), ("videos", "mmaction2"))
# Split 1 of the official lists (the most reported); every split partitions the 13,320 clips.
OFFICIAL_SIZES = {1: {"train": 9537, "test": 3783}}


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


def _pick(base: Path, candidates: tuple[tuple[str, str], ...], test: str) -> tuple[Path, str] | None:
    for name, source in candidates:
        if (base / name / test).exists():
            return base / name, source
    return None


def load_ucf101(
    root: str | Path, split: str | None = None, *, fold: int = 1, check_files: bool = False
) -> DatasetIndex:
    """UCF101 official split ``fold`` (1–3): ``train`` from trainlist0{fold}, ``test`` from testlist0{fold}."""
    check_fold("ucf101", fold, 3)
    base = require_root(as_root(root), "UCF101", "ucfTrainTestlist/ + UCF-101/ or annotations/ + videos/")
    splits = check_split("ucf101", split, ("train", "test"))
    lists = _pick(base, _LISTS, "classInd.txt")
    if lists is None:
        raise FileNotFoundError(f"UCF101 split lists not found: expected {base}/ucfTrainTestlist/classInd.txt "
                                f"(official zip) or {base}/annotations/classInd.txt (mmaction2)")
    videos = _pick(base, _VIDEOS, "") or (base / "UCF-101", "no video folder yet")
    classes = _read_class_index(lists[0] / "classInd.txt")
    lookup = {name.lower(): i for i, name in enumerate(classes)}
    rows: list[ManifestRow] = []
    for s in splits:
        list_path = lists[0] / f"{s}list0{fold}.txt"
        if not list_path.is_file():
            raise FileNotFoundError(f"UCF101 {s} list for split {fold} not found: expected {list_path}")
        rows.extend(_read_list(list_path, s, lookup, videos[0]))
    report = Report(layout=f"lists: {lists[0].name}/ ({lists[1]}); videos: {videos[0].name}/ ({videos[1]})")
    official = OFFICIAL_SIZES.get(fold, {})
    return build_index("ucf101", rows, classes, base, check_files=check_files, meta={"fold": fold}, report=report,
                       official={s: n for s, n in official.items() if s in splits})
