"""Docs and docstrings cite papers, not files a reader does not have (docs/references.md): no machine paths, and
every method page names its paper's venue and arXiv id (or says there is none) and links the official code."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
LOCAL = re.compile(r"/work/|shared/(papers|notes)/|shared/design\.md")


def _texts() -> list[Path]:
    return [p for folder in ("src", "docs", "tests", "benchmarks") for p in (ROOT / folder).rglob("*")
            if p.suffix in (".py", ".md", ".yaml") and p != Path(__file__)] + [ROOT / "README.md"]


def test_no_local_paths_in_docs_or_code() -> None:
    hits = [f"{p.relative_to(ROOT)}:{i}" for p in _texts() for i, line in enumerate(p.read_text().splitlines(), 1)
            if LOCAL.search(line)]
    assert hits == []


def test_method_pages_cite_the_paper_and_link_the_official_code() -> None:
    for page in sorted((ROOT / "docs" / "methods").glob("*.md")):
        head = page.read_text()[:1500]
        assert re.search(r"arXiv:\d{4}\.\d{4,5}|no arXiv version", head), page.name
        assert "https://github.com/" in head, page.name
