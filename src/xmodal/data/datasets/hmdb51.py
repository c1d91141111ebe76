"""HMDB51 (Kuehne et al. 2011): 6,766 clips, 51 actions, three official 70/30 splits.

XKD reports accuracy averaged over the three splits (xkd.md §4). Layout read here::

    ROOT/testTrainMulti_7030_splits/{class}_test_split{1,2,3}.txt
        "April_09_brush_hair_u_nm_np1_ba_goo_0.avi 1 "   tag 1 = train, 2 = test, 0 = unused in this split
    ROOT/{class}/{video}.avi

Class names contain underscores (``brush_hair``, ``ride_bike``), so the class is everything before
``_test_split{n}.txt``. ``fold`` (1–3) picks the split. Class indices: sorted class names. Videos tagged 0 are
left out of every split.
"""

from __future__ import annotations

import re
from pathlib import Path

from xmodal.data.dataset import DatasetIndex, ManifestRow
from xmodal.data.datasets._common import (
    annotation_error,
    as_root,
    build_index,
    check_fold,
    check_split,
    text_lines,
)

_SPLIT_FILE = re.compile(r"^(?P<cls>.+)_test_split(?P<n>[123])\.txt$")
_TAGS = {"0": None, "1": "train", "2": "test"}


def load_hmdb51(
    root: str | Path, split: str | None = None, *, fold: int = 1, check_files: bool = False
) -> DatasetIndex:
    """HMDB51 official split ``fold`` (1–3): ``train`` = tag 1, ``test`` = tag 2 in ``{class}_test_split{fold}``."""
    check_fold("hmdb51", fold, 3)
    base = as_root(root)
    splits = check_split("hmdb51", split, ("train", "test"))
    folder = base / "testTrainMulti_7030_splits"
    split_files: dict[str, Path] = {}
    if folder.is_dir():
        for path in folder.iterdir():
            match = _SPLIT_FILE.match(path.name)
            if match and int(match["n"]) == fold:
                split_files[match["cls"]] = path
    if not split_files:
        raise FileNotFoundError(f"HMDB51 split files not found: expected {folder}/<class>_test_split{fold}.txt")
    classes = sorted(split_files)
    rows: list[ManifestRow] = []
    for label, name in enumerate(classes):
        path = split_files[name]
        for lineno, line in text_lines(path):
            parts = line.split()
            if len(parts) != 2 or parts[1] not in _TAGS or not parts[0].endswith(".avi"):
                raise annotation_error(path, lineno, f"expected '<video>.avi <0|1|2>', got {line!r}")
            tag = _TAGS[parts[1]]
            if tag is not None and tag in splits:
                video = base / name / parts[0]
                rows.append(ManifestRow(path=str(video), labels=[label], split=tag, id=Path(parts[0]).stem))
    return build_index("hmdb51", rows, classes, base, check_files=check_files, meta={"fold": fold})
