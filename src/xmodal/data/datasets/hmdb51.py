"""HMDB51 (Kuehne et al. 2011): 6,766 clips, 51 actions, three official 70/30 splits.

XKD reports accuracy averaged over the three splits (XKD §4). Layouts read here::

    official rars                                            mmaction2 (tools/data/hmdb51)
    ROOT/testTrainMulti_7030_splits/{class}_test_split{n}.txt   ROOT/annotations/{class}_test_split{n}.txt
    ROOT/{class}/{video}.avi                                 ROOT/videos/{class}/{video}.avi

    "April_09_brush_hair_u_nm_np1_ba_goo_0.avi 1 "   tag 1 = train, 2 = test, 0 = unused in this split

Class names contain underscores (``brush_hair``, ``ride_bike``), so the class is everything before
``_test_split{n}.txt``. ``fold`` (1–3) picks the split. Class indices: sorted class names. Videos tagged 0 are
left out of every split. Each split holds 70 training and 30 test clips per class.
"""

from __future__ import annotations

import re
from pathlib import Path

from xmodal.data.dataset import DatasetIndex, ManifestRow
from xmodal.data.datasets._common import (
    annotation_error,
    as_root,
    check_fold,
    check_split,
    list_folder,
    require_root,
    text_lines,
)
from xmodal.data.datasets._report import Report, build_index

_SPLIT_FILE = re.compile(r"^(?P<cls>.+)_test_split(?P<n>[123])\.txt$")
_TAGS = {"0": None, "1": "train", "2": "test"}
_LIST_DIRS = (("testTrainMulti_7030_splits", "official test_train_splits.rar"), ("annotations", "mmaction2"))
_VIDEO_DIRS = (("videos", "mmaction2"),)
OFFICIAL_SIZES = {"train": 51 * 70, "test": 51 * 30}


def _split_files(base: Path, fold: int) -> tuple[dict[str, Path], Path, str]:
    for name, source in _LIST_DIRS:
        matches = [(_SPLIT_FILE.match(path.name), path) for path in list_folder(base / name)]
        files = {match["cls"]: path for match, path in matches if match and int(match["n"]) == fold}
        if files:
            return files, base / name, source
    raise FileNotFoundError(
        f"HMDB51 split files not found: expected {base}/testTrainMulti_7030_splits/<class>_test_split{fold}.txt "
        f"(official) or {base}/annotations/<class>_test_split{fold}.txt (mmaction2)"
    )


def load_hmdb51(
    root: str | Path, split: str | None = None, *, fold: int = 1, check_files: bool = False
) -> DatasetIndex:
    """HMDB51 official split ``fold`` (1–3): ``train`` = tag 1, ``test`` = tag 2 in ``{class}_test_split{fold}``."""
    check_fold("hmdb51", fold, 3)
    base = require_root(as_root(root), "HMDB51", "testTrainMulti_7030_splits/ + class folders, or annotations/ + "
                        "videos/")
    splits = check_split("hmdb51", split, ("train", "test"))
    split_files, list_dir, list_source = _split_files(base, fold)
    videos, video_source = next(((base / n, s) for n, s in _VIDEO_DIRS if (base / n).is_dir()), (base, "ROOT"))
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
                video = videos / name / parts[0]
                rows.append(ManifestRow(path=str(video), labels=[label], split=tag, id=Path(parts[0]).stem))
    shown = "ROOT" if videos == base else videos.name
    report = Report(layout=f"lists: {list_dir.name}/ ({list_source}); videos: {shown}/<class>/ ({video_source})")
    return build_index("hmdb51", rows, classes, base, check_files=check_files, meta={"fold": fold}, report=report,
                       official={s: OFFICIAL_SIZES[s] for s in splits})
