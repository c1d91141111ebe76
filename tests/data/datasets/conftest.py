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
