"""Kinetics-400 (Kay et al. 2017) and its audible subset Kinetics-Sound (Arandjelović & Zisserman 2017).

XKD pretrains on both and evaluates on both (xkd.md §4, Suppl. A.1). Layout read here::

    ROOT/annotations/{train,validate,test}.csv      (also accepted: ROOT/*.csv, val.csv, kinetics-400_*.csv)
    ROOT/{train,val,test}/{class name}/{youtube_id}_{start:06d}_{end:06d}.mp4

Class folders may spell spaces as underscores, and a split folder without class folders (the flat CVDF mirror)
is accepted. CSV columns are ``label,youtube_id,time_start,time_end,split[,is_cc]``. Clips are pre-trimmed to
[time_start, time_end], so rows carry no start/end. Class indices: the sorted label names of all annotation files
found, so the index of a class does not depend on the split that was loaded.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

from xmodal.data.dataset import DatasetIndex, ManifestRow
from xmodal.data.datasets._common import (
    annotation_error,
    as_root,
    build_index,
    check_fold,
    check_split,
    csv_records,
)

_CSV_NAMES: dict[str, tuple[str, ...]] = {
    "train": ("train.csv", "kinetics-400_train.csv", "kinetics_400_train.csv"),
    "val": ("validate.csv", "val.csv", "kinetics-400_val.csv", "kinetics_400_val.csv"),
    "test": ("test.csv", "kinetics-400_test.csv", "kinetics_400_test.csv"),
}
_SPLIT_DIRS: dict[str, tuple[str, ...]] = {"train": ("train",), "val": ("val", "validate", "valid"), "test": ("test",)}
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


class _VideoLocator:
    """Where a clip's file lives: ``{split}/{class}/…``, ``{split}/{class_with_underscores}/…`` or ``{split}/…``.

    The choice is made once per class folder (a directory check), not per clip."""

    def __init__(self, root: Path, split: str) -> None:
        self.split_dir = next((root / d for d in _SPLIT_DIRS[split] if (root / d).is_dir()), root / split)
        self.flat = False
        if self.split_dir.is_dir():
            with os.scandir(self.split_dir) as entries:  # d_type from the directory listing: no stat per clip
                self.flat = not any(entry.is_dir() for entry in entries)
        self._class_dirs: dict[str, Path] = {}

    def path(self, label: str, ytid: str, start: int, end: int) -> Path:
        name = f"{ytid}_{start:06d}_{end:06d}.mp4"
        if self.flat:
            return self.split_dir / name
        if label not in self._class_dirs:
            spaced, underscored = self.split_dir / label, self.split_dir / label.replace(" ", "_")
            self._class_dirs[label] = underscored if not spaced.is_dir() and underscored.is_dir() else spaced
        return self._class_dirs[label] / name


def _not_found(base: Path, split: str) -> FileNotFoundError:
    names = ", ".join(_CSV_NAMES[split])
    return FileNotFoundError(
        f"Kinetics-400 {split} annotations not found: looked for {names} in {base}/annotations/ and {base}/"
    )


def _load(
    name: str, root: str | Path, split: str | None, fold: int, check_files: bool, keep: Sequence[str] | None
) -> DatasetIndex:
    check_fold(name, fold, 1)
    base = as_root(root)
    splits = check_split(name, split, ("train", "val", "test"))
    found = {s: _annotation_file(base, s) for s in ("train", "val", "test")}
    if split is not None and found[split] is None:
        raise _not_found(base, split)
    read = {s: _read_csv(path) for s, path in found.items() if path is not None}
    if split is not None and read[split] is None:
        raise ValueError(f"{found[split]} has no 'label' column (held-out annotations); use the labelled release")
    parsed = {s: clips for s, clips in read.items() if clips is not None}
    if not parsed:
        raise _not_found(base, "train")
    labels = {label for clips in parsed.values() for _, label, *_ in clips}
    if keep is not None:
        unknown = sorted(set(keep) - labels)
        if unknown:
            raise ValueError(f"{name}: class(es) {unknown} do not occur in the annotation files {sorted(parsed)}")
    classes = sorted(labels if keep is None else keep)
    index = {label: i for i, label in enumerate(classes)}
    rows: list[ManifestRow] = []
    for s in splits:
        if s not in parsed:
            continue
        locator = _VideoLocator(base, s)
        for _, label, ytid, start, end in parsed[s]:
            if label not in index:
                continue
            path = locator.path(label, ytid, start, end)
            rows.append(ManifestRow(path=str(path), labels=[index[label]], split=s, id=f"{ytid}_{start:06d}_{end:06d}"))
    meta = {"annotation_files": {s: str(found[s]) for s in parsed}, "unlabelled": sorted(set(read) - set(parsed))}
    return build_index(name, rows, classes, base, check_files=check_files, meta=meta)


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
