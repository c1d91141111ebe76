"""VGGSound adapter on a tiny tree: header-less vggsound.csv (quoted labels with commas) and video/ files."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from xmodal.data.datasets import load_vggsound


@pytest.fixture
def vggsound(tmp_path: Path, write, vggsound_csv: str) -> Path:
    write(tmp_path / "vggsound.csv", vggsound_csv)
    write(tmp_path / "video" / "---g-f_I2yQ_000001.mp4")
    write(tmp_path / "video" / "--0PQM4-hqg_000030_000040.mp4")
    write(tmp_path / "video" / "--56QUhyDQM_000184.mp4")  # different start second: not this clip
    return tmp_path


def test_rows_labels_and_media(vggsound: Path) -> None:
    index = load_vggsound(vggsound, check_files=True)
    assert index.classes == ["people marching", "playing tennis", "vehicle horn, car horn, honking"]
    assert [(r.id, r.labels, r.split) for r in index.rows] == [
        ("---g-f_I2yQ_000001", [0], "test"),
        ("--0PQM4-hqg_000030", [2], "train"),
        ("--56QUhyDQM_000185", [1], "train"),
        ("--5OkAjCI7g_000040", [0], "train"),
    ]
    assert index.rows[1].path == str(vggsound / "video" / "--0PQM4-hqg_000030_000040.mp4")
    assert index.rows[2].path == str(vggsound / "video" / "--56QUhyDQM_000185.mp4")
    assert index.meta["missing_files"] == 2


def test_splits(vggsound: Path) -> None:
    assert [r.id for r in load_vggsound(vggsound, "test").rows] == ["---g-f_I2yQ_000001"]
    assert load_vggsound(vggsound, "train").classes == load_vggsound(vggsound).classes
    with pytest.raises(ValueError, match="no split 'val'"):
        load_vggsound(vggsound, "val")


def test_malformed_line(vggsound: Path, write, vggsound_csv: str) -> None:
    bad = write(vggsound / "vggsound.csv", vggsound_csv + "--5OkAjCI7g,40,people marching,validation\n")
    with pytest.raises(ValueError, match=rf"{re.escape(str(bad))}:5: split must be train or test"):
        load_vggsound(vggsound)
    write(bad, "--5OkAjCI7g,40.5,people marching,train\n")
    with pytest.raises(ValueError, match=rf"{re.escape(str(bad))}:1: start second"):
        load_vggsound(vggsound)
