"""AudioSet (Gemmeke et al. 2017): 10-s YouTube segments with weak multi-labels over 527 classes.

XKD pretrains on it (XKD §4, "AudioSet (1.8M)"); MAViL/AudioMAE normalize their fbank with its statistics.
Layouts read here (CSVs in ROOT, as Google serves them, or in ROOT/metadata/, as the PANNs scripts leave them)::

    class_labels_indices.csv             index,mid,display_name (header line; display names may be quoted)
    balanced_train_segments.csv          3 comment lines ("# Segments csv created …", "# num_ytids=…",
    unbalanced_train_segments.csv        "# YTID, start_seconds, end_seconds, positive_labels"), then
    eval_segments.csv                    YTID, start_seconds, end_seconds, "mid1,mid2,…"
    metadata/unbalanced_partial_csvs/unbalanced_train_segments_partNN.csv   PANNs' 41 parts (3 "empty" lines)
    ROOT/{balanced_train_segments,unbalanced_train_segments,eval_segments}/**/<media>
    ROOT/audios/{…}/**/Y{ytid}.wav       PANNs (unbalanced: audios/unbalanced_train_segments/…_partNN/)

AudioSet ships no media; each segment file is found by YouTube id anywhere below the folder named after its CSV,
as ``{ytid}[_…]`` or ``Y{ytid}[_…]`` (the PANNs convention) with any media extension. When a segment exists as both
an audio and a video file, ``media`` chooses (``_common.pick_media``); the count is reported. A segment with no file
gets the canonical name ``{ytid}_{start:06d}_{end:06d}.mp4`` (and is counted missing with ``check_files``). Files are
the trimmed segments, so rows carry no start/end. Class indices: the ``index`` column of ``class_labels_indices.csv``.
"""

from __future__ import annotations

from pathlib import Path

from xmodal.data.dataset import DatasetIndex, ManifestRow
from xmodal.data.datasets._common import (
    AUDIO_EXTENSIONS,
    annotation_error,
    as_root,
    both_media_note,
    check_fold,
    check_media,
    check_split,
    csv_records,
    index_media,
    pick_media,
    require_root,
)
from xmodal.data.datasets._report import Report, build_index

_TRAIN_SUBSETS: dict[str, tuple[str, ...]] = {
    "balanced": ("balanced_train_segments",),
    "unbalanced": ("unbalanced_train_segments",),
    "full": ("balanced_train_segments", "unbalanced_train_segments"),
}
# ``num_ytids`` in the headers of Google's CSVs; the unbalanced count is the one the PANNs scripts split.
_OFFICIAL = {"balanced_train_segments": 22160, "unbalanced_train_segments": 2041789, "eval_segments": 20371}
_YTID_LENGTH = 11
_PARTS = "unbalanced_partial_csvs"


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


def _media_by_ytid(base: Path, stem: str) -> dict[str, list[Path]]:
    """YouTube id -> files below ``{stem}/``, ``audios/{stem}/`` or ``videos/{stem}/``. A name is read as
    ``{ytid}[_…]`` and as ``Y{ytid}[_…]``; the CSV's ids pick the right reading (ids may start with ``Y``)."""
    found: dict[str, list[Path]] = {}
    for folder in (base / stem, base / "audios" / stem, base / "videos" / stem):
        for path in index_media(folder):
            name = path.stem
            if len(name) >= _YTID_LENGTH and (len(name) == _YTID_LENGTH or name[_YTID_LENGTH] == "_"):
                found.setdefault(name[:_YTID_LENGTH], []).append(path)
            rest = name[1 + _YTID_LENGTH :]
            if name.startswith("Y") and len(name) > _YTID_LENGTH and (not rest or rest.startswith("_")):
                found.setdefault(name[1 : 1 + _YTID_LENGTH], []).append(path)
    return found


def _segment_files(base: Path, stem: str) -> list[Path]:
    """The CSV(s) of one segment list: ``{stem}.csv`` in ROOT or ROOT/metadata/, else PANNs' partial CSVs."""
    for folder in (base, base / "metadata"):
        if (folder / f"{stem}.csv").is_file():
            return [folder / f"{stem}.csv"]
    return sorted((base / "metadata" / _PARTS).glob(f"{stem}_part*.csv"))


def _read_segments(
    path: Path,
    mid_index: dict[str, int],
    split: str,
    media: dict[str, list[Path]],
    choice: str,
    both: list[str],
    folder: Path,
) -> list[ManifestRow]:
    """The segments of one CSV; a segment without a file gets ``folder/{ytid}_{start}_{end}.mp4``."""
    rows: list[ManifestRow] = []
    for lineno, fields in csv_records(path, comment="#", skipinitialspace=True):
        if fields == ["empty"]:  # PANNs writes three "empty" lines in place of the header of its partial CSVs
            continue
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
        files = media.get(ytid, [])
        if len({f.suffix.lower() in AUDIO_EXTENSIONS for f in files}) == 2:
            both.append(ytid)
        default = folder / f"{ytid}_{int(start):06d}_{int(end):06d}.mp4"
        media_path = pick_media(files, choice) or default
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
    media: str = "auto",
) -> DatasetIndex:
    """AudioSet; ``train`` is the balanced set (AS-20K) by default, ``subset="unbalanced"`` or ``"full"``
    (balanced + unbalanced, AS-2M) changes that; ``test`` is ``eval_segments.csv``. There is no ``val`` split.
    ``media`` ("auto", "video", "audio") picks the file when a segment has both an audio and a video file."""
    check_fold("audioset", fold, 1)
    check_media("audioset", media)
    if subset not in _TRAIN_SUBSETS:
        raise ValueError(f"audioset: subset must be one of {sorted(_TRAIN_SUBSETS)}, got {subset!r}")
    base = require_root(as_root(root), "AudioSet", "the segment CSVs in it or in metadata/ (PANNs)")
    splits = check_split("audioset", split, ("train", "test"))
    class_csv = next((f for f in (base / "class_labels_indices.csv", base / "metadata" / "class_labels_indices.csv")
                      if f.is_file()), None)
    if class_csv is None:
        raise FileNotFoundError(f"AudioSet class index not found: expected {base}/class_labels_indices.csv or "
                                f"{base}/metadata/class_labels_indices.csv (PANNs layout)")
    mids, names = read_class_index(class_csv)
    mid_index = {mid: i for i, mid in enumerate(mids)}
    panns = class_csv.parent.name == "metadata" or (base / "audios").is_dir()
    report = Report(layout="PANNs audioset_tagging_cnn (metadata/, audios/)" if panns else "Google's CSVs in ROOT")
    rows: list[ManifestRow] = []
    files: list[str] = []
    official: dict[str, int] = {}
    both: list[str] = []
    for s in splits:
        stems = _TRAIN_SUBSETS[subset] if s == "train" else ("eval_segments",)
        official[s] = sum(_OFFICIAL[stem] for stem in stems)
        for stem in stems:
            csv_paths = _segment_files(base, stem)
            if not csv_paths:
                raise FileNotFoundError(f"AudioSet {s} segments not found: expected {stem}.csv in {base}/ or "
                                        f"{base}/metadata/ (or PANNs' metadata/{_PARTS}/{stem}_partNN.csv)")
            if csv_paths[0].parent.name == _PARTS:
                report.note(f"{stem}: read from {len(csv_paths)} PANNs partial CSVs in metadata/{_PARTS}/")
            files.extend(str(p) for p in csv_paths)
            found = _media_by_ytid(base, stem)
            folder = (base / "audios" if panns else base) / stem
            for csv_path in csv_paths:
                rows.extend(_read_segments(csv_path, mid_index, s, found, media, both, folder))
    if both:
        report.note(both_media_note(len(both), "segments", media))
    meta = {"subset": subset, "mids": mids, "annotation_files": files, "media": media, "both_media": len(both)}
    return build_index("audioset", rows, names, base, check_files=check_files, multilabel=True, meta=meta,
                       report=report, official=official)
