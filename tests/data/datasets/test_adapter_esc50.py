"""ESC-50 adapter on a tiny tree: meta/esc50.csv with its real header and audio/ files; fold = test fold."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from xmodal.data.datasets import load_esc50

HEADER = "filename,fold,target,category,esc10,src_file,take\n"
ROWS = [
    "1-100032-A-0.wav,1,0,dog,True,100032,A",
    "1-100038-A-14.wav,1,2,chirping_birds,False,100038,A",
    "2-100648-A-43.wav,2,1,chainsaw,False,100648,A",
    "5-9032-A-0.wav,5,0,dog,True,9032,A",
]


@pytest.fixture
def esc(tmp_path: Path, write) -> Path:
    write(tmp_path / "meta" / "esc50.csv", HEADER + "\n".join(ROWS) + "\n")
    for row in ROWS[:3]:
        write(tmp_path / "audio" / row.split(",")[0])
    return tmp_path


def test_fold_is_the_test_fold(esc: Path) -> None:
    index = load_esc50(esc, check_files=True)
    assert index.classes == ["dog", "chainsaw", "chirping_birds"]  # target order, not alphabetical
    assert [(r.id, r.labels, r.split) for r in index.rows] == [
        ("1-100032-A-0", [0], "test"),
        ("1-100038-A-14", [2], "test"),
        ("2-100648-A-43", [1], "train"),
        ("5-9032-A-0", [0], "train"),
    ]
    assert index.rows[0].path == str(esc / "audio" / "1-100032-A-0.wav")
    assert index.meta["esc10"] == ["1-100032-A-0", "5-9032-A-0"] and index.meta["fold"] == 1
    assert index.meta["missing"] == {"train": 1, "test": 0} and index.meta["missing_files"] == 1
    assert [r.id for r in load_esc50(esc, "test", fold=5).rows] == ["5-9032-A-0"]
    assert len(load_esc50(esc, "train", fold=2).rows) == 3
    with pytest.raises(ValueError, match=r"fold must be in 1\.\.5"):
        load_esc50(esc, fold=0)


def test_malformed_lines(esc: Path, write) -> None:
    csv_path = esc / "meta" / "esc50.csv"
    write(csv_path, HEADER + ROWS[0] + "\n1-1-A-0.wav,1,0,cat,True,1,A\n")
    with pytest.raises(ValueError, match=rf"{re.escape(str(csv_path))}:3: target 0 is 'cat'"):
        load_esc50(esc)
    write(csv_path, HEADER + "1-1-A-0.wav,6,0,dog,True,1,A\n")
    with pytest.raises(ValueError, match=rf"{re.escape(str(csv_path))}:2: fold 6"):
        load_esc50(esc)
    write(csv_path, "filename,fold,target,category\n")
    with pytest.raises(ValueError, match=rf"{re.escape(str(csv_path))}:1: expected header"):
        load_esc50(esc)
