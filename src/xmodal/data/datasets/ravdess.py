"""RAVDESS (Livingstone & Russo 2018): 24 actors, speech and song, 8 emotions, codes in the file names.

Layout read here (any folder depth above ``Actor_XX``)::

    ROOT/**/Actor_12/03-01-05-01-02-01-12.mp4
        modality (01 audio-video, 02 video-only, 03 audio-only) - vocal channel (01 speech, 02 song) -
        emotion (01 neutral … 08 surprised) - intensity (01 normal, 02 strong) - statement (01, 02) -
        repetition (01, 02) - actor (01–24)

``modality`` selects the files: "av" (code 01, .mp4, the default), "video" (02, .mp4) or "audio" (03, .wav).
Rows are ordered by actor, then file name. Class indices: emotion code minus one. RAVDESS has no official
split: xmodal uses the same speaker-independent 5-fold scheme as CREMA-D (``fold`` = test fold, next fold = validation).

The Kaggle copy of the speech audio (uwrfkaggler/ravdess-emotional-speech-audio) holds every ``Actor_XX/`` twice,
at its top level and again under ``audio_speech_actors_01-24/``. A coded name is unique across the corpus, so a
second file with the same name is a duplicate: the first (sorted path) is kept and the others are reported.
"""

from __future__ import annotations

import re
from pathlib import Path

from xmodal.data.dataset import DatasetIndex, ManifestRow
from xmodal.data.datasets._common import (
    actor_fold_split,
    as_root,
    check_fold,
    check_split,
    index_media,
    require_root,
)
from xmodal.data.datasets._report import Report, build_index

EMOTIONS: tuple[str, ...] = ("neutral", "calm", "happy", "sad", "angry", "fearful", "disgust", "surprised")
_MODALITIES = {"av": ("01", ".mp4"), "video": ("02", ".mp4"), "audio": ("03", ".wav")}
# Clips per modality: 1,440 speech (60 per actor) + 1,012 song (44 per actor, none for actor 18); 7,356 files in all.
OFFICIAL_SIZES = {"total": 1440 + 1012}
_NAME = re.compile(
    r"^(?P<modality>0[1-3])-(?P<channel>0[12])-(?P<emotion>0[1-8])-(?P<intensity>0[12])"
    r"-(?P<statement>0[12])-(?P<repetition>0[12])-(?P<actor>\d\d)$"
)


def load_ravdess(
    root: str | Path,
    split: str | None = None,
    *,
    fold: int = 1,
    check_files: bool = False,
    modality: str = "av",
) -> DatasetIndex:
    """RAVDESS speech and song clips of one ``modality``; names that break the coding scheme are an error."""
    check_fold("ravdess", fold, 5)
    if modality not in _MODALITIES:
        raise ValueError(f"ravdess: modality must be one of {sorted(_MODALITIES)}, got {modality!r}")
    base = require_root(as_root(root), "RAVDESS", "Actor_XX/ folders of coded clips (any depth)")
    splits = check_split("ravdess", split, ("train", "val", "test"))
    code, extension = _MODALITIES[modality]
    report = Report()
    clips: dict[str, tuple[Path, int, int]] = {}
    present: set[str] = set()
    roots: set[str] = set()
    for path in index_media(base):
        if not path.parent.name.startswith("Actor_"):
            continue
        match = _NAME.match(path.stem)
        if match is None or not 1 <= int(match["actor"]) <= 24 or path.parent.name != f"Actor_{match['actor']}":
            raise ValueError(f"{path}: not a RAVDESS name 'MM-VV-EE-II-SS-RR-AA' matching its Actor_AA folder")
        present.add(match["modality"])
        roots.add(str(path.parent.parent.relative_to(base)))
        if match["modality"] != code or path.suffix.lower() != extension:
            continue
        if path.stem in clips:
            report.skip("duplicates", str(path.relative_to(base)))
            continue
        clips[path.stem] = (path, int(match["actor"]), int(match["emotion"]) - 1)
    if not clips:
        names = {value[0]: key for key, value in _MODALITIES.items()}
        other = ", ".join(f"{names[m]!r}" for m in sorted(present))
        hint = f"; found modality {other} instead (pass modality=...)" if other else ""
        raise FileNotFoundError(
            f"no RAVDESS {modality} clips (*{extension}, modality {code}) below {base}/**/Actor_XX/{hint}"
        )
    ordered = sorted(clips.values(), key=lambda clip: (clip[1], clip[0].name))
    assignment = actor_fold_split((actor for _, actor, _ in ordered), fold)
    rows = [
        ManifestRow(path=str(path), labels=[label], split=assignment[actor], id=path.stem)
        for path, actor, label in ordered
        if assignment[actor] in splits
    ]
    report.layout = "Actor_XX/ folders under " + ", ".join("ROOT" if r == "." else f"{r}/" for r in sorted(roots))
    if "duplicates" in report.skipped:
        report.layout += " (Kaggle's copy: every actor twice)"
    meta = {"fold": fold, "modality": modality}
    return build_index("ravdess", rows, list(EMOTIONS), base, check_files=check_files, meta=meta, report=report,
                       official=OFFICIAL_SIZES if split is None else {})
