"""CREMA-D (Cao et al. 2014): 7,442 clips of 91 actors speaking 12 sentences with 6 emotions.

A standard benchmark for audio-visual (im)balance and cross-modal distillation. Layout read here (a ``git lfs
clone`` of CheyneyComputerScience/CREMA-D, or the same folders from a mirror)::

    ROOT/AudioWAV/{actor}_{sentence}_{emotion}_{level}.wav     1001_DFA_ANG_XX.wav
    ROOT/VideoFlash/{actor}_{sentence}_{emotion}_{level}.flv   (video with its audio track)
    ROOT/train.csv, ROOT/test.csv   (or ROOT/data/CREMAD/, or ``split_dir``): OGM-GE's split, "1001_DFA_ANG_XX,ANG"

Two protocols (``protocol``):

- ``"speaker"`` (default, xmodal's own): speaker-independent, 5 actor folds (``_common.actor_fold_split``);
  ``fold`` (1–5) is the test fold and the next fold the validation fold. Classes ANG DIS FEA HAP NEU SAD.
- ``"ogm_ge"``: the clip-level ``train.csv``/``test.csv`` of OGM-GE (Peng et al. 2022), 6,698 / 744 clips, that
  OGM-GE's successors (C²KD among them) report on. Classes in OGM-GE's order NEU HAP SAD FEA DIS ANG, so label
  indices match theirs.

Left out and reported (``meta["skipped"]``): the clips the dataset's README lists as broken (``KNOWN_BROKEN``, per
medium), Git LFS pointer stubs (a zip download of the repository holds 130-byte text files in place of media; a
folder of nothing but stubs is one clear error), and AppleDouble ``._*`` files are never listed.
"""

from __future__ import annotations

import re
from pathlib import Path

from xmodal.data.dataset import DatasetIndex, ManifestRow
from xmodal.data.datasets._common import (
    MEDIA_EXTENSIONS,
    actor_fold_split,
    annotation_error,
    as_root,
    check_fold,
    check_split,
    is_lfs_pointer,
    list_folder,
    require_root,
    text_lines,
)
from xmodal.data.datasets._report import Report, build_index

EMOTIONS: dict[str, str] = {
    "ANG": "anger", "DIS": "disgust", "FEA": "fear", "HAP": "happy", "NEU": "neutral", "SAD": "sad",
}  # fmt: skip
OGM_GE_CODES: tuple[str, ...] = ("NEU", "HAP", "SAD", "FEA", "DIS", "ANG")
# The README of CheyneyComputerScience/CREMA-D: all four videos are broken (1076_MTI_NEU_XX very short without
# audio, 1076_MTI_SAD_XX an error picture without audio, 1064_TIE_SAD_XX without duration, 1064_IEO_DIS_MD one
# minute holding every emotion of its sentence). Of the WAVs it flags 1076_MTI_SAD_XX (no audio) and says the
# 1076_MTI_NEU_XX WAV is fine; the WAVs were converted from the videos, so the other two stay excluded too.
KNOWN_BROKEN: dict[str, frozenset[str]] = {
    "video": frozenset({"1076_MTI_NEU_XX", "1076_MTI_SAD_XX", "1064_TIE_SAD_XX", "1064_IEO_DIS_MD"}),
    "audio": frozenset({"1076_MTI_SAD_XX", "1064_TIE_SAD_XX", "1064_IEO_DIS_MD"}),
}
_FOLDERS = {"video": ("VideoFlash", ".flv"), "audio": ("AudioWAV", ".wav")}
_NAME = re.compile(r"^(?P<actor>\d{4})_(?P<sentence>[A-Z]{3})_(?P<emotion>[A-Z]{3})_(?P<level>LO|MD|HI|XX)$")
_PROTOCOLS = {"speaker": ("train", "val", "test"), "ogm_ge": ("train", "test")}


def _scan(folder: Path, extension: str) -> dict[str, Path]:
    """Clip name -> file; a media file whose name breaks the coding scheme is an error naming it."""
    clips: dict[str, Path] = {}
    for path in list_folder(folder):
        if path.suffix.lower() not in MEDIA_EXTENSIONS:
            continue
        match = _NAME.match(path.stem)
        if path.suffix.lower() != extension or match is None or match["emotion"] not in EMOTIONS:
            raise ValueError(f"{path}: not a CREMA-D clip name '<actor>_<SENTENCE>_<EMOTION>_<LEVEL>{extension}'")
        clips[path.stem] = path
    return clips


def _ogm_ge_lists(base: Path, split_dir: str | Path | None) -> tuple[Path, Path]:
    folders = [Path(split_dir)] if split_dir is not None else [base, base / "data" / "CREMAD"]
    for folder in folders:
        if (folder / "train.csv").is_file() and (folder / "test.csv").is_file():
            return folder / "train.csv", folder / "test.csv"
    looked = " or ".join(str(folder) for folder in folders)
    raise FileNotFoundError(f"CREMA-D OGM-GE split files not found: expected train.csv and test.csv in {looked}")


def _read_ogm_ge(path: Path, split: str) -> list[tuple[str, str, str]]:
    """``(clip, emotion code, split)`` per line ``1001_DFA_ANG_XX,ANG`` (CRLF line ends)."""
    rows: list[tuple[str, str, str]] = []
    for lineno, line in text_lines(path):
        clip, _, code = line.partition(",")
        match = _NAME.match(clip.strip())
        if match is None or code.strip() != match["emotion"] or code.strip() not in EMOTIONS:
            raise annotation_error(path, lineno, f"expected '<clip>,<EMOTION>' with the clip's own emotion: {line!r}")
        rows.append((clip.strip(), code.strip(), split))
    return rows


def load_cremad(
    root: str | Path,
    split: str | None = None,
    *,
    fold: int = 1,
    check_files: bool = False,
    media: str = "video",
    protocol: str = "speaker",
    split_dir: str | Path | None = None,
) -> DatasetIndex:
    """CREMA-D clips from ``VideoFlash`` (``media="video"``) or ``AudioWAV`` (``media="audio"``), split by
    ``protocol`` ("speaker": xmodal's actor folds; "ogm_ge": OGM-GE's train.csv/test.csv)."""
    if protocol not in _PROTOCOLS:
        raise ValueError(f"cremad: protocol must be one of {sorted(_PROTOCOLS)}, got {protocol!r}")
    check_fold("cremad", fold, 5 if protocol == "speaker" else 1)
    if media not in _FOLDERS:
        raise ValueError(f"cremad: media must be 'video' or 'audio', got {media!r}")
    base = require_root(as_root(root), "CREMA-D", "AudioWAV/ and VideoFlash/ (a git lfs clone of the repository)")
    splits = check_split("cremad", split, _PROTOCOLS[protocol])
    folder_name, extension = _FOLDERS[media]
    folder = base / folder_name
    if not folder.is_dir():
        raise FileNotFoundError(f"CREMA-D {media} folder not found: expected {folder}")
    files = _scan(folder, extension)
    pointers = {clip for clip, path in files.items() if is_lfs_pointer(path)}
    if files and len(pointers) == len(files):
        raise FileNotFoundError(f"all {len(files)} files in {folder} are Git LFS pointer stubs (a zip download of "
                                "the repository), not media: fetch them with 'git lfs pull' in a clone")
    if protocol == "speaker":
        codes = list(EMOTIONS)
        assignment = actor_fold_split({int(clip[:4]) for clip in files}, fold)
        listed = [(clip, clip.split("_")[2], assignment[int(clip[:4])]) for clip in sorted(files)]
        report = Report(layout=f"{folder_name}/ with xmodal's speaker-independent folds (fold {fold})")
    else:
        codes = list(OGM_GE_CODES)
        train_csv, test_csv = _ogm_ge_lists(base, split_dir)
        listed = _read_ogm_ge(train_csv, "train") + _read_ogm_ge(test_csv, "test")
        report = Report(layout=f"{folder_name}/ with OGM-GE's clip-level split ({train_csv.parent})")
    rows: list[ManifestRow] = []
    for clip, code, clip_split in listed:
        if clip_split not in splits:
            continue
        if clip in KNOWN_BROKEN[media]:
            report.skip("known_broken", clip)
        elif clip in pointers:
            report.skip("lfs_pointers", clip)
        else:
            path = files.get(clip, folder / f"{clip}{extension}")
            rows.append(ManifestRow(path=str(path), labels=[codes.index(code)], split=clip_split, id=clip))
    if pointers:
        report.note(f"{len(pointers)} of {len(files)} files in {folder_name}/ are Git LFS pointer stubs, not media")
    official = {"train": 6698, "test": 744} if protocol == "ogm_ge" else {"total": 7442} if split is None else {}
    meta = {"fold": fold, "media": media, "codes": codes, "protocol": protocol}
    classes = [EMOTIONS[code] for code in codes]
    return build_index("cremad", rows, classes, base, check_files=check_files, meta=meta, report=report,
                       official={s: n for s, n in official.items() if s in splits or s == "total"})
