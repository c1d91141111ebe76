"""Helpers shared by the dataset adapters: reading annotation files, checking arguments, listing media.

Adapters only parse annotations and file names; they never decode media. A malformed annotation line is an error
that names the file and the 1-based line number, so a user can fix the file instead of guessing.
"""

from __future__ import annotations

import csv
import os
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path

SPLITS: tuple[str, ...] = ("train", "val", "test")
VIDEO_EXTENSIONS: frozenset[str] = frozenset({".mp4", ".mkv", ".webm", ".avi", ".flv", ".mov"})
AUDIO_EXTENSIONS: frozenset[str] = frozenset({".wav", ".flac", ".ogg", ".mp3", ".m4a"})
MEDIA_EXTENSIONS: frozenset[str] = VIDEO_EXTENSIONS | AUDIO_EXTENSIONS
MEDIA_CHOICES: tuple[str, ...] = ("auto", "video", "audio")
# macOS leaves AppleDouble ``._name`` files next to every file it copies and zips carry them in ``__MACOSX/``:
# they share the media's name and extension but hold no media, so every listing skips them.
_JUNK_NAMES = frozenset({"__MACOSX", ".DS_Store", "Thumbs.db"})
# A Git LFS pointer: a ~130-byte text file, which is what a zip download of an LFS repository (CREMA-D) contains.
_LFS_MAGIC = b"version https://git-lfs.github.com/spec/"
_LFS_MAX_BYTES = 1024


def as_root(root: str | Path) -> Path:
    """The dataset root as an absolute path (manifest rows carry absolute media paths)."""
    return Path(root).expanduser().absolute()


def annotation_error(path: str | Path, lineno: int, message: str) -> ValueError:
    """The error every adapter raises for a bad annotation line: ``<file>:<line>: <what is wrong>``."""
    return ValueError(f"{path}:{lineno}: {message}")


def require_file(path: Path, what: str) -> Path:
    """Fail early, naming the expected location, when an annotation file is absent."""
    if not path.is_file():
        raise FileNotFoundError(f"{what} not found: expected {path}")
    return path


def text_lines(path: Path) -> Iterator[tuple[int, str]]:
    """``(line number, stripped line)`` for every non-blank line; tolerant of a UTF-8 BOM and CRLF endings
    (UCF101's list files use CRLF, HMDB51's have trailing spaces)."""
    with path.open(encoding="utf-8-sig", newline="") as handle:
        for lineno, line in enumerate(handle, start=1):
            stripped = line.strip()
            if stripped:
                yield lineno, stripped


def csv_records(
    path: Path, *, comment: str | None = None, skipinitialspace: bool = False
) -> Iterator[tuple[int, list[str]]]:
    """``(line number, fields)`` for every non-blank CSV record, skipping lines that start with ``comment``.

    Quoted fields may contain commas (AudioSet MID lists, FSD50K label lists, VGGSound labels)."""
    for lineno, line in text_lines(path):
        if comment is not None and line.startswith(comment):
            continue
        try:
            fields = next(csv.reader([line], skipinitialspace=skipinitialspace, strict=True))
        except csv.Error as err:
            raise annotation_error(path, lineno, f"unparseable CSV line ({err}): {line!r}") from err
        yield lineno, [field.strip() for field in fields]


def check_split(dataset: str, split: str | None, available: Sequence[str]) -> tuple[str, ...]:
    """The splits to load: ``available`` for ``None``, else the one asked for, which must exist for the dataset."""
    if split is None:
        return tuple(available)
    if split not in available:
        raise ValueError(f"{dataset} has no split {split!r}; available: {', '.join(available)} (or None for all)")
    return (split,)


def check_fold(dataset: str, fold: int, n_folds: int) -> int:
    """Validate ``fold`` (1-based). Datasets without folds accept only the default ``fold=1``."""
    if not 1 <= fold <= n_folds:
        if n_folds == 1:
            raise ValueError(f"{dataset} has no folds/official splits to choose from; got fold={fold}")
        raise ValueError(f"{dataset}: fold must be in 1..{n_folds}, got {fold}")
    return fold


def require_root(base: Path, dataset: str, expected: str) -> Path:
    """The one error for a root that cannot be a copy of ``dataset``: it names the path and the layouts expected."""
    if not base.is_dir():
        raise FileNotFoundError(f"{dataset} root {base} is not a folder; expected {expected}")
    return base


def is_junk(name: str) -> bool:
    """macOS and Windows debris (``._*`` AppleDouble files, ``__MACOSX/``, ``.DS_Store``) that is never media."""
    return name in _JUNK_NAMES or name.startswith("._")


def is_media(name: str) -> bool:
    return not is_junk(name) and os.path.splitext(name)[1].lower() in MEDIA_EXTENSIONS


def is_lfs_pointer(path: Path) -> bool:
    """A Git LFS pointer stub in place of the media file (small, starts with the LFS spec line)."""
    try:
        if path.stat().st_size > _LFS_MAX_BYTES:
            return False
        with path.open("rb") as handle:
            return handle.read(len(_LFS_MAGIC)) == _LFS_MAGIC
    except OSError:
        return False


def list_folder(directory: Path) -> list[Path]:
    """The entries of ``directory`` without junk, sorted; empty when it does not exist."""
    if not directory.is_dir():
        return []
    return sorted(path for path in directory.iterdir() if not is_junk(path.name))


def index_media(directory: Path) -> list[Path]:
    """Every media file below ``directory`` (recursively, sorted, junk skipped); empty when it does not exist."""
    if not directory.is_dir():
        return []
    found: list[Path] = []
    for dirpath, dirnames, filenames in os.walk(directory):
        dirnames[:] = sorted(name for name in dirnames if not is_junk(name))
        found.extend(Path(dirpath, name) for name in sorted(filenames) if is_media(name))
    return found


def check_media(dataset: str, media: str) -> str:
    if media not in MEDIA_CHOICES:
        raise ValueError(f"{dataset}: media must be one of {MEDIA_CHOICES}, got {media!r}")
    return media


def pick_media(candidates: Sequence[Path], media: str) -> Path | None:
    """The file to use when one clip exists as several files (``video/x.mp4`` next to ``wav/x.wav``).

    ``"video"``: a video container only. ``"audio"``: an audio file, else a container (its audio track).
    ``"auto"``: a container (both modalities), else an audio file. Ties go to ``.mp4``, then the sorted path, so
    the choice never depends on the order the folders were walked in."""
    order = sorted(candidates, key=lambda path: (path.suffix.lower() != ".mp4", str(path)))
    videos = [path for path in order if path.suffix.lower() in VIDEO_EXTENSIONS]
    audios = [path for path in order if path.suffix.lower() in AUDIO_EXTENSIONS]
    ranked = {"video": videos, "audio": audios + videos, "auto": videos + audios}[media]
    return ranked[0] if ranked else None


def both_media_note(count: int, what: str, media: str) -> str:
    """The report line for clips that exist as both an audio and a video file."""
    kind = "audio" if media == "audio" else "video"
    return f"{count} {what} exist as both an audio and a video file; media={media!r} used the {kind} file"


def actor_fold_split(actors: Iterable[int], fold: int, n_folds: int = 5) -> dict[int, str]:
    """Speaker-independent split for corpora without an official one (CREMA-D, RAVDESS).

    Actors sorted by id are dealt round-robin into ``n_folds`` folds; fold ``fold`` is the test set, the next
    fold (cyclically) the validation set and the rest the training set, so no speaker appears in two splits."""
    assignment: dict[int, str] = {}
    test_fold = fold - 1
    val_fold = fold % n_folds
    for position, actor in enumerate(sorted(set(actors))):
        which = position % n_folds
        assignment[actor] = "test" if which == test_fold else "val" if which == val_fold else "train"
    return assignment
