"""Typed errors of the data layer, and the record a dataset returns instead of raising.

Why a closed set of kinds: a week-long run must not die on one bad file, but it must not hide it either. Every
failure the decoder or the manifest reader can meet is mapped to one of :data:`KINDS`, so the loader can count
skipped samples per kind at the end of each epoch and ``xmodal data check`` can report them before a run.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Kind = Literal[
    "missing", "corrupt", "no_audio", "no_video", "too_short", "unreadable", "bad_label", "bad_row", "silent"
]

KINDS: dict[str, str] = {
    "missing": "file does not exist",
    "corrupt": "corrupt or truncated media",
    "no_audio": "no audio stream",
    "no_video": "no video stream",
    "too_short": "shorter than requested",
    "unreadable": "cannot be read",
    "bad_label": "unknown label",
    "bad_row": "malformed manifest row",
    "silent": "audio is all silent",
}


class MediaError(Exception):
    """A file (or a manifest line) that cannot give a sample; ``str(err)`` names the file and the problem."""

    def __init__(self, path: str, kind: str, detail: str = "") -> None:
        if kind not in KINDS:
            raise ValueError(f"unknown MediaError kind {kind!r}; expected one of {sorted(KINDS)}")
        self.path = str(path)
        self.kind = kind
        self.detail = detail
        text = f"{self.path}: {KINDS[kind]}"
        super().__init__(f"{text} ({detail})" if detail else text)

    def __reduce__(self) -> tuple[type[MediaError], tuple[str, str, str]]:
        # Pickled across DataLoader / multiprocessing workers with its attributes intact.
        return (MediaError, (self.path, self.kind, self.detail))


@dataclass(frozen=True)
class SkippedSample:
    """What ``AVDataset[i]`` returns with ``on_error="skip"``; ``collate_samples`` drops it and records it."""

    index: int
    path: str
    kind: str
    message: str
