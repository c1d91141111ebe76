"""HMDB51 adapter on a tiny tree: testTrainMulti_7030_splits/{class}_test_split{n}.txt with 0/1/2 tags."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from xmodal.data.datasets import load_hmdb51

VIDEOS = {
    "brush_hair": [
        "April_09_brush_hair_u_nm_np1_ba_goo_0.avi",
        "Blonde_being_brushed_brush_hair_f_nm_np2_ri_med_0.avi",
    ],
    "ride_bike": ["Bike_riding_ride_bike_f_cm_np1_ba_med_0.avi", "Finding_Forrester_1_ride_bike_f_cm_np1_ri_bad_0.avi"],
    "smile": ["A_Beautiful_Mind_smile_h_nm_np1_fr_goo_0.avi", "Amelie_smile_h_nm_np1_fr_med_1.avi"],
}
TAGS = {1: ("1", "2"), 2: ("2", "1"), 3: ("1", "0")}


@pytest.fixture
def hmdb(tmp_path: Path, write) -> Path:
    for name, videos in VIDEOS.items():
        for n, tags in TAGS.items():
            text = "".join(f"{video} {tag} \n" for video, tag in zip(videos, tags, strict=True))
            write(tmp_path / "testTrainMulti_7030_splits" / f"{name}_test_split{n}.txt", text)
        write(tmp_path / name / videos[0])
    return tmp_path


def test_split1_rows_and_class_order(hmdb: Path) -> None:
    index = load_hmdb51(hmdb, check_files=True)
    assert index.classes == ["brush_hair", "ride_bike", "smile"]
    assert [(r.labels[0], r.split) for r in index.rows] == [
        (0, "train"),
        (0, "test"),
        (1, "train"),
        (1, "test"),
        (2, "train"),
        (2, "test"),
    ]
    assert index.rows[2].path == str(hmdb / "ride_bike" / "Bike_riding_ride_bike_f_cm_np1_ba_med_0.avi")
    assert index.rows[2].id == "Bike_riding_ride_bike_f_cm_np1_ba_med_0"
    assert index.meta["fold"] == 1 and index.meta["missing"] == {"train": 0, "test": 3}
    assert index.meta["layout"].startswith("lists: testTrainMulti_7030_splits/ (official")


def test_folds_and_unused_videos(hmdb: Path) -> None:
    train2 = load_hmdb51(hmdb, "train", fold=2)
    assert [r.id for r in train2.rows] == [Path(v[1]).stem for v in VIDEOS.values()]
    split3 = load_hmdb51(hmdb, fold=3)
    assert [r.split for r in split3.rows] == ["train"] * 3  # tag 0 = not used in this split
    with pytest.raises(ValueError, match="no split 'val'"):
        load_hmdb51(hmdb, "val")


def test_malformed_line_and_missing_splits(hmdb: Path, tmp_path_factory: pytest.TempPathFactory, write) -> None:
    bad = write(hmdb / "testTrainMulti_7030_splits" / "smile_test_split1.txt", "a.avi 1 \nb.avi 3 \n")
    with pytest.raises(ValueError, match=rf"{re.escape(str(bad))}:2: expected"):
        load_hmdb51(hmdb)
    with pytest.raises(FileNotFoundError, match="testTrainMulti_7030_splits"):
        load_hmdb51(tmp_path_factory.mktemp("empty"))


def test_mmaction2_layout_with_macos_debris(hmdb: Path, write) -> None:
    """tools/data/hmdb51: the split files moved into annotations/, the class folders unpacked into videos/; a copy
    made on macOS adds ``._`` AppleDouble files, which are not split files (before: read as a class '._brush_hair')."""
    (hmdb / "testTrainMulti_7030_splits").rename(hmdb / "annotations")
    (hmdb / "videos").mkdir()
    for name in VIDEOS:
        (hmdb / name).rename(hmdb / "videos" / name)
    write(hmdb / "annotations" / "._brush_hair_test_split1.txt", "\x00\x05\x16\x07 Mac OS X")
    index = load_hmdb51(hmdb, check_files=True)
    assert index.classes == ["brush_hair", "ride_bike", "smile"]
    assert index.rows[0].path == str(hmdb / "videos" / "brush_hair" / VIDEOS["brush_hair"][0])
    assert index.meta["layout"] == "lists: annotations/ (mmaction2); videos: videos/<class>/ (mmaction2)"
    assert index.meta["missing"] == {"train": 0, "test": 3}
    assert index.meta["official_sizes"] == {"train": 3570, "test": 1530}
