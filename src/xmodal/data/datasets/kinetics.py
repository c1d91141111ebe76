"""Kinetics-400 (Kay et al. 2017) and its audible subset Kinetics-Sound (Arandjelović & Zisserman 2017).

XKD pretrains on both and evaluates on both (XKD §4, Suppl. A.1). Layouts read here::

    ROOT/annotations/{train,validate,test}.csv       DeepMind release (val.csv: CVDF, torchvision;
    ROOT/annotations/kinetics_{train,val,test}.csv   mmaction2         kinetics-400_*.csv; or the CSVs in ROOT/)
    ROOT/{train,val,test}/…  ROOT/videos_{train,val}/…  ROOT/train_256/…   clips named
                                 {youtube_id}_{start:06d}_{end:06d}.{mp4,mkv,webm}, flat or in class folders
    ROOT/replacement/replacement_for_corrupted_k400/…   CVDF's re-encoded clips, used instead of the originals

``_kinetics_videos`` finds the clips whatever the folder naming; the layout found is named in ``meta["layout"]``
and per split in ``meta["videos"]``. CSV columns are ``label,youtube_id,time_start,time_end,split[,is_cc]``.
Clips are pre-trimmed to [time_start, time_end], so rows carry no start/end. Class indices: the sorted label names
of all annotation files found, so the index of a class does not depend on the split that was loaded.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from xmodal.data.dataset import DatasetIndex, ManifestRow
from xmodal.data.datasets._common import (
    SPLITS,
    annotation_error,
    as_root,
    check_fold,
    check_split,
    csv_records,
    require_root,
)
from xmodal.data.datasets._kinetics_videos import (
    canonical_path,
    folder_style,
    locate_replacements,
    locate_split,
    majority_naming,
)
from xmodal.data.datasets._report import Report, build_index

_CSV_NAMES: dict[str, tuple[str, ...]] = {
    "train": ("train.csv", "kinetics_train.csv", "kinetics-400_train.csv", "kinetics_400_train.csv"),
    "val": ("validate.csv", "val.csv", "kinetics_val.csv", "kinetics-400_val.csv", "kinetics_400_val.csv"),
    "test": ("test.csv", "kinetics_test.csv", "kinetics-400_test.csv", "kinetics_400_test.csv"),
}
# Rows of the annotation CSVs CVDF hosts (cvdfoundation/kinetics-dataset, arrange_by_classes.py); CVDF's tarballs
# hold 240,258 / 19,881 / 38,685 of those clips, plus 1,392 replacements for corrupted training clips.
OFFICIAL_SIZES = {"train": 246534, "val": 19906, "test": 39805}
_REQUIRED = ("label", "youtube_id", "time_start", "time_end")

# Kinetics-Sound, 32 classes. L3 (Arandjelović & Zisserman 2017, §4) lists 34 classes named after a pre-release
# Kinetics; mapped to the released Kinetics-400 names ("blowing out" -> "blowing out candles", "dribbling ball" ->
# "dribbling basketball", "mowing the lawn by pushing lawnmower" -> "mowing lawn", "stomping" -> "stomping grapes",
# "fingerpicking" -> "strumming guitar"), and dropping "typing" and "patting", which have no Kinetics-400
# counterpart, gives the 32 classes XKD (Suppl. A.1) and CrissCross report. The widely used 31-class variant omits
# "strumming guitar"; pass ``classes=`` to ``load_kinetics_sound`` to reproduce it.
KINETICS_SOUND_CLASSES: tuple[str, ...] = (
    "blowing nose", "blowing out candles", "bowling", "chopping wood", "dribbling basketball", "laughing",
    "mowing lawn", "playing accordion", "playing bagpipes", "playing bass guitar", "playing clarinet",
    "playing drums", "playing guitar", "playing harmonica", "playing keyboard", "playing organ", "playing piano",
    "playing saxophone", "playing trombone", "playing trumpet", "playing violin", "playing xylophone",
    "ripping paper", "shoveling snow", "shuffling cards", "singing", "stomping grapes", "strumming guitar",
    "tap dancing", "tapping guitar", "tapping pen", "tickling",
)  # fmt: skip




def _annotation_file(root: Path, split: str) -> Path | None:
    for folder in (root / "annotations", root):
        for name in _CSV_NAMES[split]:
            if (folder / name).is_file():
                return folder / name
    return None


def _read_csv(path: Path) -> list[tuple[int, str, str, int, int]] | None:
    """``(line, label, youtube_id, start, end)`` per clip; the header names the columns (their order varies).

    ``None`` for a held-out test CSV (all columns but ``label``), which has nothing to train or evaluate on."""
    records = csv_records(path)
    try:
        header_line, header = next(records)
    except StopIteration:
        raise annotation_error(path, 1, "empty annotation file (expected a header line)") from None
    missing = [column for column in _REQUIRED if column not in header]
    if missing == ["label"]:
        return None
    if missing:
        raise annotation_error(path, header_line, f"header lacks column(s) {missing}; got {header}")
    col = {name: header.index(name) for name in _REQUIRED}
    clips: list[tuple[int, str, str, int, int]] = []
    for lineno, fields in records:
        if len(fields) != len(header):
            raise annotation_error(path, lineno, f"expected {len(header)} fields, got {len(fields)}: {fields}")
        label, ytid = fields[col["label"]], fields[col["youtube_id"]]
        if not label or not ytid:
            raise annotation_error(path, lineno, "empty label or youtube_id")
        try:
            start, end = int(float(fields[col["time_start"]])), int(float(fields[col["time_end"]]))
        except ValueError:
            raise annotation_error(path, lineno, f"time_start/time_end are not numbers: {fields}") from None
        clips.append((lineno, label, ytid, start, end))
    return clips


def _not_found(base: Path) -> FileNotFoundError:
    names = "; ".join(f"{s}: " + ", ".join(_CSV_NAMES[s]) for s in SPLITS)
    return FileNotFoundError(
        f"Kinetics-400 annotations not found in {base}/annotations/ or {base}/: expected the DeepMind/CVDF/"
        f"torchvision CSVs or mmaction2's kinetics_*.csv ({names})"
    )


def _layout(found: dict[str, Path | None]) -> str:
    names = [path.name for path in found.values() if path is not None]
    if any(name.startswith("kinetics_") and not name.startswith("kinetics_400") for name in names):
        return "mmaction2 (annotations/kinetics_*.csv)"
    if "validate.csv" in names:
        return "DeepMind release (train/validate/test.csv)"
    if "val.csv" in names:
        return "CVDF / torchvision (annotations/{train,val,test}.csv)"
    return "Kinetics CSVs (" + ", ".join(names) + ")"


def _rows_of_split(
    base: Path,
    split: str,
    clips: list[tuple[int, str, str, int, int]],
    index: dict[str, int],
    replacements: dict[str, Path],
    report: Report,
) -> tuple[list[ManifestRow], str]:
    """The rows of one split and a description of where its videos were found."""
    videos, unread = locate_split(base, split)
    labels = sorted({clip[1] for clip in clips})
    naming = majority_naming(videos, labels)
    rows: list[ManifestRow] = []
    replaced = 0
    for _, label, ytid, start, end in clips:
        if label not in index:
            continue
        clip_id = f"{ytid}_{start:06d}_{end:06d}"
        path, copies = videos.find(clip_id) if videos is not None else (None, 0)
        if copies > 1:
            report.skip("duplicates", clip_id)
        substitute = replacements.get(clip_id) or replacements.get(ytid)
        if substitute is not None:
            path, replaced = substitute, replaced + 1
        path = path or canonical_path(videos, base, split, label, clip_id, naming)
        rows.append(ManifestRow(path=str(path), labels=[index[label]], split=split, id=clip_id))
    if videos is None:
        return rows, "no video folder"
    parts = [f"{videos.folder.name}/", folder_style(videos.class_dirs, labels)]
    if videos.nested:
        first = videos.nested[0].parent.relative_to(base)
        parts.append(f"{len(videos.nested)} files in nested folders such as {first}/ (CVDF part_120.tar.gz)")
    if replaced:
        parts.append(f"{replaced} CVDF replacement clips used")
    if unread:
        parts.append("not read: " + ", ".join(f"{path.name}/" for path in unread))
    return rows, "; ".join(parts)


def _load(
    name: str, root: str | Path, split: str | None, fold: int, check_files: bool, keep: Sequence[str] | None
) -> DatasetIndex:
    check_fold(name, fold, 1)
    base = require_root(as_root(root), "Kinetics-400", "annotations/*.csv and split folders of clips")
    splits = check_split(name, split, SPLITS)
    found = {s: _annotation_file(base, s) for s in SPLITS}
    if split is not None and found[split] is None:
        raise FileNotFoundError(f"Kinetics-400 {split} annotations not found: looked for "
                                f"{', '.join(_CSV_NAMES[split])} in {base}/annotations/ and {base}/")
    if all(path is None for path in found.values()):
        raise _not_found(base)
    read = {s: _read_csv(path) for s, path in found.items() if path is not None}
    if split is not None and read[split] is None:
        raise ValueError(f"{found[split]} has no 'label' column (held-out annotations); use the labelled release")
    parsed = {s: clips for s, clips in read.items() if clips is not None}
    if not parsed:
        raise ValueError(f"the Kinetics-400 annotations in {base} hold no labels (held-out test CSVs only)")
    labels = {label for clips in parsed.values() for _, label, *_ in clips}
    if keep is not None:
        unknown = sorted(set(keep) - labels)
        if unknown:
            raise ValueError(f"{name}: class(es) {unknown} do not occur in the annotation files {sorted(parsed)}")
    classes = sorted(labels if keep is None else keep)
    index = {label: i for i, label in enumerate(classes)}
    report = Report(layout=_layout(found))
    replacement_dir, replacements = locate_replacements(base)
    videos: dict[str, str] = {}
    rows: list[ManifestRow] = []
    for s in splits:
        if s in parsed:
            split_rows, videos[s] = _rows_of_split(base, s, parsed[s], index, replacements, report)
            rows.extend(split_rows)
    report.layout += "; " + "; ".join(f"{s} videos: {text}" for s, text in videos.items())
    if replacement_dir is not None:
        report.note(f"replacement clips: {replacement_dir.relative_to(base)}/ ({len(replacements)} files)")
    meta = {
        "annotation_files": {s: str(found[s]) for s in parsed},
        "unlabelled": sorted(set(read) - set(parsed)),
        "videos": videos,
    }
    official = OFFICIAL_SIZES if keep is None else {}
    return build_index(
        name, rows, classes, base, check_files=check_files, meta=meta, report=report, official=official
    )


def load_kinetics400(
    root: str | Path, split: str | None = None, *, fold: int = 1, check_files: bool = False
) -> DatasetIndex:
    """Kinetics-400; ``split`` is train / val (``validate.csv``) / test, ``None`` loads every CSV present."""
    return _load("kinetics400", root, split, fold, check_files, None)


def load_kinetics_sound(
    root: str | Path,
    split: str | None = None,
    *,
    fold: int = 1,
    check_files: bool = False,
    classes: Sequence[str] | None = None,
) -> DatasetIndex:
    """Kinetics-Sound read from a Kinetics-400 tree: the clips of the 32 ``KINETICS_SOUND_CLASSES`` (or of
    ``classes``), re-indexed by sorted class name. A class absent from the annotations is an error, not an
    empty class."""
    wanted = tuple(KINETICS_SOUND_CLASSES if classes is None else classes)
    return _load("kinetics_sound", root, split, fold, check_files, wanted)
