"""AudioSet (Gemmeke et al. 2017): 10-s YouTube segments with weak multi-labels over 527 classes.

XKD pretrains on it (xkd.md §4, "AudioSet (1.8M)"); MAViL/AudioMAE normalize their fbank with its statistics.
Layout read here::

    ROOT/class_labels_indices.csv             index,mid,display_name (header line; display names may be quoted)
    ROOT/balanced_train_segments.csv          3 comment lines ("# Segments csv created …", "# num_ytids=…",
    ROOT/unbalanced_train_segments.csv        "# YTID, start_seconds, end_seconds, positive_labels"), then
    ROOT/eval_segments.csv                    YTID, start_seconds, end_seconds, "mid1,mid2,…"
    ROOT/{balanced_train_segments,unbalanced_train_segments,eval_segments}/**/<media>

AudioSet ships no media; each segment file is found by YouTube id anywhere below the folder named after its CSV,
as ``{ytid}…`` or ``Y{ytid}…`` (the PANNs convention) with any media extension. A segment with no file gets the
canonical name ``{ytid}_{start:06d}_{end:06d}.mp4`` (and is counted missing with ``check_files``). Files are the
trimmed segments, so rows carry no start/end. Class indices: the ``index`` column of ``class_labels_indices.csv``.
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

_TRAIN_SUBSETS: dict[str, tuple[str, ...]] = {
    "balanced": ("balanced_train_segments",),
    "unbalanced": ("unbalanced_train_segments",),
    "full": ("balanced_train_segments", "unbalanced_train_segments"),
}
_YTID_LENGTH = 11


def read_class_index(path: Path) -> tuple[list[str], list[str]]:
    """``(mids, display names)`` in ``index`` order; the indices must run 0, 1, 2, … without gaps."""
    records = csv_records(path)
    header_line, header = next(records, (1, []))
    if [h.lower() for h in header] != ["index", "mid", "display_name"]:
        raise annotation_error(path, header_line, f"expected header 'index,mid,display_name', got {header}")
    mids: list[str] = []
    names: list[str] = []
    for lineno, fields in records:
        if len(fields) != 3 or not fields[0].isdigit() or not fields[1]:
            raise annotation_error(path, lineno, f"expected 'index,mid,display_name', got {fields}")
        if int(fields[0]) != len(mids):
            raise annotation_error(path, lineno, f"class index {fields[0]} out of order (expected {len(mids)})")
        mids.append(fields[1])
        names.append(fields[2])
    return mids, names


def _media_by_ytid(folder: Path) -> dict[str, Path]:
    """YouTube id -> file, for every media file below ``folder``; ``{ytid}…`` wins over the ``Y{ytid}…`` reading."""
    found: dict[str, Path] = {}
    for path in index_media(folder):
        stem = path.stem
        if stem.startswith("Y") and len(stem) > _YTID_LENGTH:
            found.setdefault(stem[1 : 1 + _YTID_LENGTH], path)
        found[stem[:_YTID_LENGTH]] = path
    return found


def _read_segments(path: Path, mid_index: dict[str, int], split: str, media: dict[str, Path]) -> list[ManifestRow]:
    rows: list[ManifestRow] = []
    for lineno, fields in csv_records(path, comment="#", skipinitialspace=True):
        if len(fields) != 4:
            raise annotation_error(path, lineno, f"expected 'YTID, start, end, \"labels\"' (4 fields), got {fields}")
        ytid, start_text, end_text, label_text = fields
        try:
            start, end = float(start_text), float(end_text)
        except ValueError:
            raise annotation_error(path, lineno, f"start/end seconds are not numbers: {fields}") from None
        mids = [mid.strip() for mid in label_text.split(",") if mid.strip()]
        unknown = [mid for mid in mids if mid not in mid_index]
        if not mids or unknown:
            raise annotation_error(path, lineno, f"unknown or empty label MID(s) {unknown or label_text!r}")
        default = path.with_suffix("") / f"{ytid}_{int(start):06d}_{int(end):06d}.mp4"
        media_path = media.get(ytid, default)
        labels = sorted({mid_index[mid] for mid in mids})
        rows.append(ManifestRow(path=str(media_path), labels=labels, split=split, id=f"{ytid}_{int(start):06d}"))
    return rows


def load_audioset(
    root: str | Path,
    split: str | None = None,
    *,
    fold: int = 1,
    check_files: bool = False,
    subset: str = "balanced",
) -> DatasetIndex:
    """AudioSet; ``train`` is the balanced set (AS-20K) by default, ``subset="unbalanced"`` or ``"full"``
    (balanced + unbalanced, AS-2M) changes that; ``test`` is ``eval_segments.csv``. There is no ``val`` split."""
    check_fold("audioset", fold, 1)
    if subset not in _TRAIN_SUBSETS:
        raise ValueError(f"audioset: subset must be one of {sorted(_TRAIN_SUBSETS)}, got {subset!r}")
    base = as_root(root)
    splits = check_split("audioset", split, ("train", "test"))
    mids, names = read_class_index(require_file(base / "class_labels_indices.csv", "AudioSet class index"))
    mid_index = {mid: i for i, mid in enumerate(mids)}
    rows: list[ManifestRow] = []
    files: list[str] = []
    for s in splits:
        for stem in _TRAIN_SUBSETS[subset] if s == "train" else ("eval_segments",):
            csv_path = require_file(base / f"{stem}.csv", f"AudioSet {s} segments")
            files.append(str(csv_path))
            rows.extend(_read_segments(csv_path, mid_index, s, _media_by_ytid(base / stem)))
    meta = {"subset": subset, "mids": mids, "annotation_files": files}
    return build_index("audioset", rows, names, base, check_files=check_files, multilabel=True, meta=meta)
