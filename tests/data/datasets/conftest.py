"""Fixture helpers for the dataset-adapter tests: each test writes a tiny tree in the dataset's real layout."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest


@pytest.fixture
def write() -> Callable[[Path, str], Path]:
    """``write(path, text)`` creates parent folders and writes ``text`` verbatim (no newline translation)."""

    def _write(path: Path, text: str = "") -> Path:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(text.encode("utf-8"))
        return path

    return _write


# Four rows of the real ``vggsound.csv`` (YouTube id, start second, label, split; labels may hold commas).
VGGSOUND_CSV = (
    "---g-f_I2yQ,1,people marching,test\n"
    '--0PQM4-hqg,30,"vehicle horn, car horn, honking",train\n'
    "--56QUhyDQM,185,playing tennis,train\n"
    "--5OkAjCI7g,40,people marching,train\n"
)


@pytest.fixture
def vggsound_csv() -> str:
    """The text of a four-row ``vggsound.csv`` in the release's format."""
    return VGGSOUND_CSV
