"""UCF101 adapter on a tiny tree: ucfTrainTestlist with CRLF lines, 3 splits, UCF-101/{Class}/ videos."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from xmodal.data.datasets import load_ucf101


@pytest.fixture
def ucf(tmp_path: Path, write) -> Path:
    lists = tmp_path / "ucfTrainTestlist"
    write(lists / "classInd.txt", "1 ApplyEyeMakeup\r\n2 HandstandPushups\r\n3 YoYo\r\n")
    for k in (1, 2, 3):
        train_group, test_group = (8, 1) if k == 1 else (1, 8)
        write(
            lists / f"trainlist0{k}.txt",
            f"ApplyEyeMakeup/v_ApplyEyeMakeup_g{train_group:02d}_c01.avi 1\r\n"
            f"HandstandPushups/v_HandStandPushups_g{train_group:02d}_c01.avi 2\r\n"
            f"YoYo/v_YoYo_g{train_group:02d}_c02.avi 3\r\n",
        )
        write(
            lists / f"testlist0{k}.txt",
            f"ApplyEyeMakeup/v_ApplyEyeMakeup_g{test_group:02d}_c01.avi\r\nYoYo/v_YoYo_g{test_group:02d}_c01.avi\r\n",
        )
    write(tmp_path / "UCF-101" / "ApplyEyeMakeup" / "v_ApplyEyeMakeup_g08_c01.avi")
    write(tmp_path / "UCF-101" / "HandstandPushups" / "v_HandStandPushups_g08_c01.avi")
    return tmp_path


def test_split1_rows_and_class_order(ucf: Path) -> None:
    index = load_ucf101(ucf, check_files=True)
    assert index.classes == ["ApplyEyeMakeup", "HandstandPushups", "YoYo"]
    assert [(r.id, r.labels, r.split) for r in index.rows] == [
        ("v_ApplyEyeMakeup_g08_c01", [0], "train"),
        ("v_HandStandPushups_g08_c01", [1], "train"),
        ("v_YoYo_g08_c02", [2], "train"),
        ("v_ApplyEyeMakeup_g01_c01", [0], "test"),
        ("v_YoYo_g01_c01", [2], "test"),
    ]
    assert index.rows[1].path == str(ucf / "UCF-101" / "HandstandPushups" / "v_HandStandPushups_g08_c01.avi")
    assert index.meta["fold"] == 1 and index.meta["missing"] == {"train": 1, "test": 2}
    assert index.meta["layout"] == (
        "lists: ucfTrainTestlist/ (official UCF101TrainTestSplits zip); videos: UCF-101/ (official UCF101.rar)"
    )


def test_folds_pick_their_lists(ucf: Path) -> None:
    test2 = load_ucf101(ucf, "test", fold=2)
    assert [r.id for r in test2.rows] == ["v_ApplyEyeMakeup_g08_c01", "v_YoYo_g08_c01"]
    assert {r.split for r in load_ucf101(ucf, "train", fold=3).rows} == {"train"}
    with pytest.raises(ValueError, match=r"fold must be in 1\.\.3"):
        load_ucf101(ucf, fold=4)
    with pytest.raises(ValueError, match="no split 'val'"):
        load_ucf101(ucf, "val")


def test_malformed_lines(ucf: Path, write) -> None:
    bad = write(
        ucf / "ucfTrainTestlist" / "trainlist01.txt", "YoYo/v_YoYo_g08_c02.avi 3\r\nYoYo/v_YoYo_g08_c03.avi 1\r\n"
    )
    with pytest.raises(ValueError, match=rf"{re.escape(str(bad))}:2: label '1' does not match"):
        load_ucf101(ucf, "train")
    write(bad, "Juggling/v_Juggling_g08_c01.avi 3\r\n")
    with pytest.raises(ValueError, match=rf"{re.escape(str(bad))}:1: class folder 'Juggling'"):
        load_ucf101(ucf, "train")
    test = write(ucf / "ucfTrainTestlist" / "testlist01.txt", "YoYo/v_YoYo_g01_c01.avi 3\r\n")
    with pytest.raises(ValueError, match=rf"{re.escape(str(test))}:1: expected"):
        load_ucf101(ucf, "test")


def test_mmaction2_layout(ucf: Path) -> None:
    """tools/data/ucf101: the split zip unpacked flat into annotations/, UCF-101/ renamed to videos/."""
    (ucf / "ucfTrainTestlist").rename(ucf / "annotations")
    (ucf / "UCF-101").rename(ucf / "videos")
    index = load_ucf101(ucf, fold=1, check_files=True)
    assert index.rows[0].path == str(ucf / "videos" / "ApplyEyeMakeup" / "v_ApplyEyeMakeup_g08_c01.avi")
    assert index.meta["layout"] == "lists: annotations/ (mmaction2); videos: videos/ (mmaction2)"
    assert index.meta["missing"] == {"train": 1, "test": 2}
    assert index.meta["official_sizes"] == {"train": 9537, "test": 3783}
    assert load_ucf101(ucf, fold=2).meta["official_sizes"] == {}
    (ucf / "annotations" / "classInd.txt").unlink()
    with pytest.raises(FileNotFoundError, match=r"ucfTrainTestlist/classInd\.txt \(official zip\) or .*annotations/"):
        load_ucf101(ucf)
