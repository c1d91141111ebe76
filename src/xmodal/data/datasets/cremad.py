"""CREMA-D (Cao et al. 2014): 7,442 clips of 91 actors speaking 12 sentences with 6 emotions.

A standard benchmark for audio-visual (im)balance and cross-modal distillation. Layout read here::

    ROOT/AudioWAV/{actor}_{sentence}_{emotion}_{level}.wav     1001_DFA_ANG_XX.wav
    ROOT/VideoFlash/{actor}_{sentence}_{emotion}_{level}.flv   (video with its audio track)

Emotion codes ANG DIS FEA HAP NEU SAD give the class (indices 0–5 in that order); level is LO/MD/HI/XX.
CREMA-D has no official split: xmodal uses a speaker-independent one (5 actor folds, see
``_common.actor_fold_split``) where ``fold`` (1–5) is the test fold and the next fold the validation fold.
Clips are listed from the ``media`` folder ("video": VideoFlash, "audio": AudioWAV), so none are missing.
"""

from __future__ import annotations

import re
from pathlib import Path

from xmodal.data.dataset import DatasetIndex, ManifestRow
from xmodal.data.datasets._common import (
    MEDIA_EXTENSIONS,
    actor_fold_split,
    as_root,
    build_index,
    check_fold,
    check_split,
)

EMOTIONS: dict[str, str] = {
    "ANG": "anger", "DIS": "disgust", "FEA": "fear", "HAP": "happy", "NEU": "neutral", "SAD": "sad",
}  # fmt: skip
_FOLDERS = {"video": ("VideoFlash", ".flv"), "audio": ("AudioWAV", ".wav")}
_NAME = re.compile(r"^(?P<actor>\d{4})_(?P<sentence>[A-Z]{3})_(?P<emotion>[A-Z]{3})_(?P<level>LO|MD|HI|XX)$")


def load_cremad(
    root: str | Path,
    split: str | None = None,
    *,
    fold: int = 1,
    check_files: bool = False,
    media: str = "video",
) -> DatasetIndex:
    """CREMA-D clips from ``VideoFlash`` (``media="video"``) or ``AudioWAV`` (``media="audio"``)."""
    check_fold("cremad", fold, 5)
    if media not in _FOLDERS:
        raise ValueError(f"cremad: media must be 'video' or 'audio', got {media!r}")
    base = as_root(root)
    splits = check_split("cremad", split, ("train", "val", "test"))
    folder_name, extension = _FOLDERS[media]
    folder = base / folder_name
    if not folder.is_dir():
        raise FileNotFoundError(f"CREMA-D {media} folder not found: expected {folder}")
    clips: list[tuple[Path, int, int]] = []
    codes = list(EMOTIONS)
    for path in sorted(folder.iterdir()):
        if path.suffix.lower() not in MEDIA_EXTENSIONS:
            continue
        match = _NAME.match(path.stem)
        if path.suffix.lower() != extension or match is None or match["emotion"] not in EMOTIONS:
            raise ValueError(f"{path}: not a CREMA-D clip name '<actor>_<SENTENCE>_<EMOTION>_<LEVEL>{extension}'")
        clips.append((path, int(match["actor"]), codes.index(match["emotion"])))
    assignment = actor_fold_split((actor for _, actor, _ in clips), fold)
    rows = [
        ManifestRow(path=str(path), labels=[label], split=assignment[actor], id=path.stem)
        for path, actor, label in clips
        if assignment[actor] in splits
    ]
    meta = {"fold": fold, "media": media, "codes": codes}
    return build_index("cremad", rows, list(EMOTIONS.values()), base, check_files=check_files, meta=meta)
