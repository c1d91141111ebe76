"""AudioSet adapter on a tiny tree: segment CSVs with their 3 comment lines, class index CSV, found media."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from xmodal.data.datasets import load_audioset

CLASSES = 'index,mid,display_name\n0,/m/09x0r,"Speech"\n1,/m/0ytgt,"Child speech, kid speaking"\n2,/m/04rlf,"Music"\n'


def _segments(created: str, lines: list[str]) -> str:
    head = (
        f"# Segments csv created {created}\n"
        f"# num_ytids={len(lines)}, num_segs={len(lines)}, num_unique_labels=3, num_positive_labels=4\n"
        "# YTID, start_seconds, end_seconds, positive_labels\n"
    )
    return head + "".join(line + "\n" for line in lines)


@pytest.fixture
def audioset(tmp_path: Path, write) -> Path:
    write(tmp_path / "class_labels_indices.csv", CLASSES)
    balanced = ['--PJHxphWEs, 30.000, 40.000, "/m/09x0r,/m/0ytgt"', 'Y-0Bj8uu6Ls, 0.000, 10.000, "/m/04rlf"']
    write(tmp_path / "balanced_train_segments.csv", _segments("Sun Mar  5 10:54:25 2017", balanced))
    write(
        tmp_path / "unbalanced_train_segments.csv",
        _segments("Sun Mar  5 10:54:25 2017", ['---1_cCGK4M, 0.000, 10.000, "/m/04rlf"']),
    )
    write(
        tmp_path / "eval_segments.csv",
        _segments("Sun Mar  5 10:54:26 2017", ['--4gqARaEJE, 0.000, 10.000, "/m/04rlf,/m/09x0r"']),
    )
    write(tmp_path / "balanced_train_segments" / "--PJHxphWEs.wav")
    write(tmp_path / "balanced_train_segments" / "part2" / "YY-0Bj8uu6Ls_0.000_10.000.flac")  # PANNs naming
    write(tmp_path / "eval_segments" / "--4gqARaEJE_000000_000010.mp4")
    return tmp_path


def test_multilabel_rows_media_lookup_and_class_order(audioset: Path) -> None:
    index = load_audioset(audioset, check_files=True)
    assert index.multilabel and index.classes == ["Speech", "Child speech, kid speaking", "Music"]
    assert [(r.id, r.labels, r.split) for r in index.rows] == [
        ("--PJHxphWEs_000030", [0, 1], "train"),
        ("Y-0Bj8uu6Ls_000000", [2], "train"),
        ("--4gqARaEJE_000000", [0, 2], "test"),
    ]
    assert index.rows[0].path == str(audioset / "balanced_train_segments" / "--PJHxphWEs.wav")
    assert index.rows[1].path.endswith("part2/YY-0Bj8uu6Ls_0.000_10.000.flac")
    assert index.meta["missing_files"] == 0 and index.meta["mids"][1] == "/m/0ytgt"


def test_subsets_and_missing_media(audioset: Path) -> None:
    full = load_audioset(audioset, "train", subset="full", check_files=True)
    assert [r.id for r in full.rows] == ["--PJHxphWEs_000030", "Y-0Bj8uu6Ls_000000", "---1_cCGK4M_000000"]
    assert full.rows[2].path == str(audioset / "unbalanced_train_segments" / "---1_cCGK4M_000000_000010.mp4")
    assert full.meta["missing_files"] == 1
    assert len(load_audioset(audioset, "train", subset="unbalanced").rows) == 1
    with pytest.raises(ValueError, match="no split 'val'"):
        load_audioset(audioset, "val")
    with pytest.raises(ValueError, match="subset"):
        load_audioset(audioset, subset="2M")


def test_malformed_lines(audioset: Path, write) -> None:
    bad = write(audioset / "eval_segments.csv", _segments("x", ['--4gqARaEJE, 0.000, 10.000, "/m/nope"']))
    with pytest.raises(ValueError, match=rf"{re.escape(str(bad))}:4: unknown or empty label MID"):
        load_audioset(audioset, "test")
    write(bad, _segments("x", ["--4gqARaEJE, 0.000, 10.000"]))
    with pytest.raises(ValueError, match=rf"{re.escape(str(bad))}:4: expected"):
        load_audioset(audioset, "test")
    classes = write(
        audioset / "class_labels_indices.csv", "index,mid,display_name\n0,/m/09x0r,Speech\n2,/m/04rlf,Music\n"
    )
    with pytest.raises(ValueError, match=rf"{re.escape(str(classes))}:3: class index 2 out of order"):
        load_audioset(audioset)
