"""FSD50K (Fonseca et al. 2022): 51,197 Freesound clips, 200 AudioSet-ontology classes, weak multi-labels.

XKD evaluates sound classification on it (XKD §4). Layout read here::

    ROOT/FSD50K.ground_truth/vocabulary.csv   no header: idx,label,mid  (0,Accelerating_and_revving_and_vroom,…)
    ROOT/FSD50K.ground_truth/dev.csv          fname,labels,mids,split   (split = train | val)
    ROOT/FSD50K.ground_truth/eval.csv         fname,labels,mids
    ROOT/FSD50K.dev_audio/{fname}.wav   ROOT/FSD50K.eval_audio/{fname}.wav

``labels`` and ``mids`` are quoted comma-separated lists; labels are mapped through ``mids`` and both lists must
agree. ``train``/``val`` are the dev split's official partition, ``test`` is eval. Class indices: vocabulary order.
"""

from __future__ import annotations

from pathlib import Path

from xmodal.data.dataset import DatasetIndex, ManifestRow
from xmodal.data.datasets._common import (
    annotation_error,
    as_root,
    check_fold,
    check_split,
    csv_records,
    require_file,
    require_root,
)
from xmodal.data.datasets._report import Report, build_index


def _read_vocabulary(path: Path) -> tuple[list[str], list[str]]:
    names: list[str] = []
    mids: list[str] = []
    for lineno, fields in csv_records(path):
        if len(fields) != 3 or not fields[0].isdigit():
            raise annotation_error(path, lineno, f"expected 'idx,label,mid' (no header), got {fields}")
        if int(fields[0]) != len(names):
            raise annotation_error(path, lineno, f"class index {fields[0]} out of order (expected {len(names)})")
        names.append(fields[1])
        mids.append(fields[2])
    return names, mids


def _read_ground_truth(
    path: Path, has_split: bool, names: list[str], mid_index: dict[str, int]
) -> list[tuple[str, list[int], str]]:
    """``(fname, labels, split)`` per clip; eval clips get split ``test``."""
    header = ["fname", "labels", "mids", "split"] if has_split else ["fname", "labels", "mids"]
    records = csv_records(path)
    header_line, got = next(records, (1, []))
    if got != header:
        raise annotation_error(path, header_line, f"expected header {','.join(header)}, got {got}")
    clips: list[tuple[str, list[int], str]] = []
    for lineno, fields in records:
        if len(fields) != len(header) or not fields[0].isdigit():
            raise annotation_error(path, lineno, f"expected {','.join(header)} with a numeric fname: {fields}")
        mids = fields[2].split(",")
        unknown = [mid for mid in mids if mid not in mid_index]
        if unknown:
            raise annotation_error(path, lineno, f"MID(s) {unknown} are not in vocabulary.csv")
        labels = [mid_index[mid] for mid in mids]
        if [names[i] for i in labels] != fields[1].split(","):
            raise annotation_error(path, lineno, f"labels {fields[1]!r} do not match mids {fields[2]!r}")
        split = fields[3] if has_split else "test"
        if has_split and split not in ("train", "val"):
            raise annotation_error(path, lineno, f"split must be train or val, got {split!r}")
        clips.append((fields[0], sorted(set(labels)), split))
    return clips


def load_fsd50k(
    root: str | Path, split: str | None = None, *, fold: int = 1, check_files: bool = False
) -> DatasetIndex:
    """FSD50K ``train`` / ``val`` (from dev.csv) and ``test`` (eval.csv), multi-label."""
    check_fold("fsd50k", fold, 1)
    base = require_root(as_root(root), "FSD50K", "FSD50K.ground_truth/ and FSD50K.{dev,eval}_audio/")
    splits = check_split("fsd50k", split, ("train", "val", "test"))
    truth = base / "FSD50K.ground_truth"
    names, mids = _read_vocabulary(require_file(truth / "vocabulary.csv", "FSD50K vocabulary"))
    mid_index = {mid: i for i, mid in enumerate(mids)}
    rows: list[ManifestRow] = []
    sources = [("dev", True)] if set(splits) & {"train", "val"} else []
    sources += [("eval", False)] if "test" in splits else []
    for source, has_split in sources:
        csv_path = require_file(truth / f"{source}.csv", f"FSD50K {source} ground truth")
        clips = _read_ground_truth(csv_path, has_split, names, mid_index)
        audio = base / f"FSD50K.{source}_audio"
        rows.extend(
            ManifestRow(path=str(audio / f"{fname}.wav"), labels=labels, split=s, id=fname)
            for fname, labels, s in clips
            if s in splits
        )
    meta = {"mids": mids}
    report = Report(layout="Zenodo release (FSD50K.ground_truth/, FSD50K.{dev,eval}_audio/)")
    official = {"total": 51197} if split is None else {}  # Fonseca et al. 2022
    return build_index(
        "fsd50k", rows, names, base, check_files=check_files, multilabel=True, meta=meta, report=report,
        official=official,
    )
