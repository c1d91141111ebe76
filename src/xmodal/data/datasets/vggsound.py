"""VGGSound (Chen et al. 2020): ~200k 10-s YouTube clips, 309 single-label audio-visual classes.

Layouts read here::

    ROOT/vggsound.csv          no header; ``youtube_id,start_seconds,label,split`` with split train|test;
                               labels that contain commas are quoted ("vehicle horn, car horn, honking")
    ROOT/data/{train,test}.csv the repository's split files: ``{youtube_id}_{start:06d}.mp4,label`` (CRLF)
    ROOT/**/{youtube_id}_{start:06d}.mp4        (the official release, under video/)
    ROOT/**/{youtube_id}_{start[:06d]}[_{end}].{wav,…}   (also accepted, e.g. wav/ next to video/ as the
                                                         OGM-GE and CAV-MAE preprocessing leave it)

``vggsound.csv`` lists 199,467 clips but the authors released 199,176 (the per-class counts of the repository's
``data/stat.csv`` add up to that). With the split files present, the clips they lack are reported by id as
``listed_not_released`` (not as missing media); with ``vggsound.csv`` alone, a note says how many of the absent
files are expected to be unreleased. Media are matched by (YouTube id, start second) anywhere below ROOT; when a
clip has both an audio and a video file, ``media`` chooses. A clip without a file gets
``ROOT/video/{youtube_id}_{start:06d}.mp4``. Rows carry no start/end. Class indices: sorted label names.
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

_YTID_LENGTH = 11
RELEASED = 199_176  # sum of the per-class counts in the repository's data/stat.csv (vggsound.csv: 199,467 rows)
# Released clips per split: data/test.csv has 15,446 rows; train is the rest of the released clips.
OFFICIAL_SIZES = {"train": RELEASED - 15_446, "test": 15_446}

Clip = tuple[str, int, str, str]  # youtube id, start second, label, split


def _media_by_clip(root: Path) -> dict[tuple[str, int], list[Path]]:
    """``(ytid, start)`` -> files named ``{ytid}_{start}[_{end}]``; other files are ignored."""
    found: dict[tuple[str, int], list[Path]] = {}
    for path in index_media(root):
        stem = path.stem
        parts = stem[_YTID_LENGTH + 1 :].split("_")
        if len(stem) > _YTID_LENGTH + 1 and stem[_YTID_LENGTH] == "_" and parts[0].isdigit():
            found.setdefault((stem[:_YTID_LENGTH], int(parts[0])), []).append(path)
    return found


def _read_csv(path: Path) -> list[Clip]:
    clips: list[Clip] = []
    for lineno, fields in csv_records(path):
        if len(fields) != 4:
            raise annotation_error(path, lineno, f"expected 'youtube_id,start,label,split', got {fields}")
        ytid, start_text, label, clip_split = fields
        if not start_text.isdigit():
            raise annotation_error(path, lineno, f"start second {start_text!r} is not a non-negative integer")
        if clip_split not in ("train", "test"):
            raise annotation_error(path, lineno, f"split must be train or test, got {clip_split!r}")
        if not ytid or not label:
            raise annotation_error(path, lineno, "empty youtube_id or label")
        clips.append((ytid, int(start_text), label, clip_split))
    return clips


def _read_split_file(path: Path, split: str) -> list[Clip]:
    """The repository's ``data/{train,test}.csv``: ``{ytid}_{start:06d}.mp4,label`` per released clip."""
    clips: list[Clip] = []
    for lineno, fields in csv_records(path):
        stem = Path(fields[0]).stem if fields else ""
        start = stem[_YTID_LENGTH + 1 :]
        if len(fields) != 2 or stem[_YTID_LENGTH : _YTID_LENGTH + 1] != "_" or not start.isdigit() or not fields[1]:
            raise annotation_error(path, lineno, f"expected '<youtube_id>_<start>.mp4,<label>', got {fields}")
        clips.append((stem[:_YTID_LENGTH], int(start), fields[1], split))
    return clips


def _sources(base: Path) -> tuple[Path | None, dict[str, Path]]:
    listing = next((p for p in (base / "vggsound.csv", base / "data" / "vggsound.csv") if p.is_file()), None)
    for folder in (base / "data", base):
        split_files = {s: folder / f"{s}.csv" for s in ("train", "test")}
        if all(p.is_file() for p in split_files.values()):
            return listing, split_files
    return listing, {}


def load_vggsound(
    root: str | Path, split: str | None = None, *, fold: int = 1, check_files: bool = False, media: str = "auto"
) -> DatasetIndex:
    """VGGSound ``train`` / ``test`` from the split files (if present) or the fourth column of ``vggsound.csv``.
    ``media`` ("auto", "video", "audio") picks the file when a clip has both an audio and a video file."""
    check_fold("vggsound", fold, 1)
    check_media("vggsound", media)
    base = require_root(as_root(root), "VGGSound", "vggsound.csv and/or data/{train,test}.csv, and the clips")
    splits = check_split("vggsound", split, ("train", "test"))
    listing, split_files = _sources(base)
    if listing is None and not split_files:
        raise FileNotFoundError(f"VGGSound annotations not found: expected {base}/vggsound.csv or the repository's "
                                f"split files {base}/data/train.csv and {base}/data/test.csv")
    listed = _read_csv(listing) if listing is not None else []
    report = Report()
    if split_files:
        clips = [c for s, path in split_files.items() for c in _read_split_file(path, s)]
        released = {(ytid, start) for ytid, start, *_ in clips}
        for ytid, start, _, clip_split in listed:
            if (ytid, start) not in released and clip_split in splits:
                report.skip("listed_not_released", f"{ytid}_{start:06d}")
        folder = split_files["train"].parent.relative_to(base)
        report.layout = f"repository split files ({folder / 'train.csv'}, {folder / 'test.csv'})"
        report.layout += " checked against vggsound.csv" if listing is not None else ""
    else:
        clips = listed
        report.layout = "vggsound.csv"
    classes = sorted({label for _, _, label, _ in clips})
    index = {label: i for i, label in enumerate(classes)}
    found = _media_by_clip(base)
    rows: list[ManifestRow] = []
    both = 0
    for ytid, start, label, clip_split in clips:
        if clip_split not in splits:
            continue
        files = found.get((ytid, start), [])
        both += len({f.suffix.lower() in AUDIO_EXTENSIONS for f in files}) == 2
        path = pick_media(files, media) or base / "video" / f"{ytid}_{start:06d}.mp4"
        rows.append(ManifestRow(path=str(path), labels=[index[label]], split=clip_split, id=f"{ytid}_{start:06d}"))
    if both:
        report.note(both_media_note(both, "clips", media))
    if not split_files and check_files and len(listed) >= RELEASED:
        absent = sum(1 for row in rows if not Path(row.path).is_file())
        report.note(f"{absent} listed clips have no file; vggsound.csv lists {len(listed):,} clips but {RELEASED:,} "
                    f"were released, so up to {len(listed) - RELEASED} of them are listed but not released rather than "
                    "missing (add the repository's data/train.csv and data/test.csv to tell them apart)")
    meta = {"media": media, "both_media": both}
    return build_index("vggsound", rows, classes, base, check_files=check_files, meta=meta, report=report,
                       official={s: OFFICIAL_SIZES[s] for s in splits})
