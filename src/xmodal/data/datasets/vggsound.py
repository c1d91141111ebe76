"""VGGSound (Chen et al. 2020): ~200k 10-s YouTube clips, 309 single-label audio-visual classes.

Layout read here::

    ROOT/vggsound.csv          no header; ``youtube_id,start_seconds,label,split`` with split train|test;
                               labels that contain commas are quoted ("vehicle horn, car horn, honking")
    ROOT/**/{youtube_id}_{start:06d}.mp4        (the official release, under video/)
    ROOT/**/{youtube_id}_{start:06d}_{end:06d}.mp4  (also accepted; any media extension)

Media are matched by (YouTube id, start second) anywhere below ROOT; a clip without a file gets the path
``ROOT/video/{youtube_id}_{start:06d}.mp4``. Files are the trimmed 10-s clips, so rows carry no start/end.
Class indices: sorted label names. There is no official validation split.
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
    csv_records,
    index_media,
    require_file,
)

_YTID_LENGTH = 11


def _media_by_clip(root: Path) -> dict[tuple[str, int], Path]:
    """``(ytid, start)`` -> file for every media file named ``{ytid}_{start}[_{end}]``; other files are ignored."""
    found: dict[tuple[str, int], Path] = {}
    for path in index_media(root):
        stem = path.stem
        parts = stem[_YTID_LENGTH + 1 :].split("_")
        if len(stem) > _YTID_LENGTH + 1 and stem[_YTID_LENGTH] == "_" and parts[0].isdigit():
            found[(stem[:_YTID_LENGTH], int(parts[0]))] = path
    return found


def load_vggsound(
    root: str | Path, split: str | None = None, *, fold: int = 1, check_files: bool = False
) -> DatasetIndex:
    """VGGSound ``train`` / ``test`` as given by the fourth column of ``vggsound.csv``."""
    check_fold("vggsound", fold, 1)
    base = as_root(root)
    splits = check_split("vggsound", split, ("train", "test"))
    csv_path = require_file(base / "vggsound.csv", "VGGSound annotations")
    clips: list[tuple[str, int, str, str]] = []
    for lineno, fields in csv_records(csv_path):
        if len(fields) != 4:
            raise annotation_error(csv_path, lineno, f"expected 'youtube_id,start,label,split', got {fields}")
        ytid, start_text, label, clip_split = fields
        if not start_text.isdigit():
            raise annotation_error(csv_path, lineno, f"start second {start_text!r} is not a non-negative integer")
        if clip_split not in ("train", "test"):
            raise annotation_error(csv_path, lineno, f"split must be train or test, got {clip_split!r}")
        if not ytid or not label:
            raise annotation_error(csv_path, lineno, "empty youtube_id or label")
        clips.append((ytid, int(start_text), label, clip_split))
    classes = sorted({label for _, _, label, _ in clips})
    index = {label: i for i, label in enumerate(classes)}
    media = _media_by_clip(base)
    rows = [
        ManifestRow(
            path=str(media.get((ytid, start), base / "video" / f"{ytid}_{start:06d}.mp4")),
            labels=[index[label]],
            split=clip_split,
            id=f"{ytid}_{start:06d}",
        )
        for ytid, start, label, clip_split in clips
        if clip_split in splits
    ]
    return build_index("vggsound", rows, classes, base, check_files=check_files)
