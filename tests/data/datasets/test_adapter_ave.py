"""AVE adapter on a tiny tree: AVE_Dataset/ with '&'-separated Annotations.txt, split lists and AVE/ videos."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from xmodal.data.datasets import load_ave

HEADER = "Category&VideoID&Quality&StartTime&EndTime\n"
TRAIN = "Church bell&RUhOCu3LNXM&good&0&10\nMale speech, man speaking&-0Ev5ej2aYc&good&2&7\n"
VAL = "Church bell&1f8R0Xu2Yvk&good&3&9\n"
TEST = "Race car, auto racing&0qu9aXiKg3A&good&0&6\nChurch bell&RUhOCu3LNXM&good&0&10\n"


@pytest.fixture
def ave(tmp_path: Path, write) -> Path:
    data = tmp_path / "AVE_Dataset"
    write(data / "Annotations.txt", HEADER + TRAIN + VAL + TEST)
    write(data / "trainSet.txt", HEADER + TRAIN)
    write(data / "valSet.txt", VAL)
    write(data / "testSet.txt", TEST)
    write(data / "AVE" / "RUhOCu3LNXM.mp4")
    return tmp_path


def test_rows_events_and_class_order(ave: Path) -> None:
    index = load_ave(ave, check_files=True)
    assert index.classes == ["Church bell", "Male speech, man speaking", "Race car, auto racing"]
    assert [(r.id, r.labels, r.split, r.start, r.end) for r in index.rows] == [
        ("RUhOCu3LNXM_0_10", [0], "train", 0.0, 10.0),
        ("-0Ev5ej2aYc_2_7", [1], "train", 2.0, 7.0),
        ("1f8R0Xu2Yvk_3_9", [0], "val", 3.0, 9.0),
        ("0qu9aXiKg3A_0_6", [2], "test", 0.0, 6.0),
        ("RUhOCu3LNXM_0_10", [0], "test", 0.0, 10.0),
    ]
    assert index.rows[0].path == str(ave / "AVE_Dataset" / "AVE" / "RUhOCu3LNXM.mp4")
    assert index.meta["missing_files"] == 3
    inside = load_ave(ave / "AVE_Dataset", "val")
    assert [r.id for r in inside.rows] == ["1f8R0Xu2Yvk_3_9"] and inside.classes == index.classes


def test_malformed_lines(ave: Path, write) -> None:
    bad = write(ave / "AVE_Dataset" / "testSet.txt", TEST + "Church bell&x&good&5\n")
    with pytest.raises(ValueError, match=rf"{re.escape(str(bad))}:3: expected"):
        load_ave(ave, "test")
    write(bad, "Dog barking&x&good&0&10\n")
    with pytest.raises(ValueError, match=rf"{re.escape(str(bad))}:1: category 'Dog barking'"):
        load_ave(ave, "test")
    write(bad, "Church bell&&good&0&2\n")
    with pytest.raises(ValueError, match=rf"{re.escape(str(bad))}:1: empty category or video id"):
        load_ave(ave, "test")


def test_official_empty_event_is_skipped_and_reported(ave: Path, write) -> None:
    """The official Annotations.txt holds ``Church bell&VWi2ENBuTbw&good&0&0`` and trainSet.txt lists it too: before
    the fix the whole dataset failed to load (``start >= end`` raised while reading the annotations)."""
    degenerate = "Church bell&VWi2ENBuTbw&good&0&0\n"
    write(ave / "AVE_Dataset" / "Annotations.txt", HEADER + TRAIN + degenerate + VAL + TEST)
    write(ave / "AVE_Dataset" / "trainSet.txt", HEADER + TRAIN + degenerate)
    write(ave / "AVE_Dataset" / "testSet.txt", TEST + "Church bell&x&good&6&2\n")
    index = load_ave(ave)
    assert [r.id for r in index.rows if r.split == "train"] == ["RUhOCu3LNXM_0_10", "-0Ev5ej2aYc_2_7"]
    assert index.meta["skipped"] == {"degenerate_rows": {"count": 2, "ids": ["VWi2ENBuTbw_0_0", "x_6_2"]}}
    assert index.meta["split_sizes"] == {"train": 2, "val": 1, "test": 2}
    assert index.meta["official_sizes"] == {"total": 4143}
    assert load_ave(ave, "val").meta["skipped"] == {}
