"""Where the Kinetics clips are on disk, whichever tool put them there.

Why a separate module: Kinetics copies differ in everything but the clip names. The CVDF tarballs extract flat
(``train/<id>.mp4``; one archive, ``part_120.tar.gz``, extracts into ``train/home/<user>/…/train/``) with a
``replacement/replacement_for_corrupted_k400/`` folder of re-encoded clips for ~1,400 corrupted ones; mmaction2's
downloader writes ``videos_{train,val}/<label>/`` (underscored by its ``rename_classnames.sh``); torchvision's writes
``{split}/<label>/`` with spaces as ``_`` and ``'``, ``(``, ``)`` removed; resized copies live in folders such as
``train_256/``; youtube-dl leaves ``.mkv``/``.webm`` files. All of them name a clip
``{youtube_id}_{start:06d}_{end:06d}``, so every split folder is walked once and files are matched by that name
(or by the YouTube id alone, when that is unambiguous), never by their folder.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

from xmodal.data.datasets._common import is_junk, is_media, list_folder, pick_media

_ALIASES: dict[str, tuple[str, ...]] = {
    "train": ("train",),
    "val": ("val", "validate", "valid", "validation"),
    "test": ("test",),
}
_REPLACEMENT_DIRS = ("replacement/replacement_for_corrupted_k400", "replacement_for_corrupted_k400", "replacement")
_YTID = 11


def torchvision_folder(label: str) -> str:
    """The class folder name torchvision's Kinetics downloader creates for ``label``."""
    return label.replace(" ", "_").replace("'", "").replace("(", "").replace(")", "")


def _split_dirs(root: Path, split: str) -> list[Path]:
    """Folders that can hold ``split``'s videos, most canonical first: ``train``, ``videos_train``, ``train_256``…"""
    names = [f"{prefix}{alias}" for alias in _ALIASES[split] for prefix in ("", "videos_")]
    folders = [path for path in list_folder(root) if path.is_dir()]
    exact = [root / name for name in names if (root / name).is_dir()]
    variants = [path for path in folders if path not in exact and path.name.startswith(tuple(f"{n}_" for n in names))]
    return exact + variants


def _walk(folder: Path) -> Iterable[tuple[str, Path]]:
    for dirpath, dirnames, filenames in os.walk(folder):
        dirnames[:] = sorted(name for name in dirnames if not is_junk(name))
        for name in sorted(filenames):
            if is_media(name):
                yield dirpath, Path(dirpath, name)


@dataclass
class SplitVideos:
    """The media files below one split folder, by clip name and by YouTube id, and how they are arranged."""

    folder: Path
    by_clip: dict[str, list[Path]] = field(default_factory=dict)
    by_ytid: dict[str, list[Path]] = field(default_factory=dict)  # files named ``{youtube_id}.<ext>`` only
    class_dirs: set[str] = field(default_factory=set)
    nested: list[Path] = field(default_factory=list)

    @classmethod
    def scan(cls, folder: Path) -> SplitVideos:
        found = cls(folder)
        for dirpath, path in _walk(folder):
            depth = len(Path(dirpath).relative_to(folder).parts)
            if depth == 1:
                found.class_dirs.add(Path(dirpath).name)
            elif depth > 1:
                found.nested.append(path)
            index = found.by_ytid if len(path.stem) == _YTID else found.by_clip
            index.setdefault(path.stem, []).append(path)
        return found

    def find(self, clip_id: str) -> tuple[Path | None, int]:
        """The file of ``clip_id`` (``.mp4`` preferred; else a file named by the YouTube id alone) and how many
        files claim it (more than one: a duplicate, e.g. an ``.mp4`` next to an ``.mkv``)."""
        files = self.by_clip.get(clip_id) or self.by_ytid.get(clip_id[:_YTID], [])
        return pick_media(files, "video"), len(files)


def _underscored(label: str) -> str:
    return label.replace(" ", "_")


def _as_is(label: str) -> str:
    return label


# Class-folder namings, in the order a tie is broken, with the text that names them in reports.
_NAMINGS: tuple[tuple[Callable[[str], str], str], ...] = (
    (_as_is, "labels as in the CSV"),
    (_underscored, "spaces as '_' (mmaction2 rename_classnames.sh)"),
    (torchvision_folder, "torchvision names (spaces as '_', no ' ( ))"),
)


def _naming_counts(class_dirs: set[str], labels: Iterable[str]) -> list[int]:
    """Per naming, how many labels have a class folder named that way that no earlier naming explains."""
    counts = [0] * len(_NAMINGS)
    for label in labels:
        seen: set[str] = set()
        for i, (rename, _) in enumerate(_NAMINGS):
            name = rename(label)
            if name in class_dirs and name not in seen:
                counts[i] += 1
            seen.add(name)
    return counts


def folder_style(class_dirs: set[str], labels: Iterable[str]) -> str:
    """How the class folders are named, relative to the CSV labels."""
    if not class_dirs:
        return "flat"
    counts = _naming_counts(class_dirs, labels)
    styles = [text for count, (_, text) in zip(counts, _NAMINGS, strict=True) if count]
    return "class folders: " + (", ".join(styles) if styles else "names not matching any label")


def locate_split(root: Path, split: str) -> tuple[SplitVideos | None, list[Path]]:
    """The scanned video folder of ``split`` (None when there is none) and the other candidate folders, unread."""
    candidates = _split_dirs(root, split)
    if not candidates:
        return None, []
    return SplitVideos.scan(candidates[0]), candidates[1:]


def locate_replacements(root: Path) -> tuple[Path | None, dict[str, Path]]:
    """CVDF's re-encoded clips for corrupted Kinetics-400 videos, by file stem (clip name or YouTube id)."""
    for relative in _REPLACEMENT_DIRS:
        folder = root / relative
        if folder.is_dir():
            found: dict[str, Path] = {}
            for _, path in _walk(folder):
                found.setdefault(path.stem, path)
            return folder, found
    return None, {}


def majority_naming(videos: SplitVideos | None, labels: Iterable[str]) -> Callable[[str], str]:
    """The class-folder naming most folders of a split follow (as-is when there are none)."""
    if videos is None or not videos.class_dirs:
        return _as_is
    counts = _naming_counts(videos.class_dirs, labels)
    return _NAMINGS[counts.index(max(counts))][0]


def canonical_path(
    videos: SplitVideos | None, root: Path, split: str, label: str, clip_id: str, naming: Callable[[str], str]
) -> Path:
    """Where an absent clip would be: in its class folder, or one named by ``naming`` (``majority_naming``; the
    label itself when there is no video folder yet), or, in a flat copy, directly in the split folder."""
    if videos is None:
        return root / split / label / f"{clip_id}.mp4"
    if not videos.class_dirs:
        return videos.folder / f"{clip_id}.mp4"
    existing = next((rename(label) for rename, _ in _NAMINGS if rename(label) in videos.class_dirs), None)
    return videos.folder / (existing or naming(label)) / f"{clip_id}.mp4"
