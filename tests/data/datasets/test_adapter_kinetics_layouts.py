"""Kinetics-400 as the common downloaders leave it: each fixture is a tiny tree in that tool's exact layout."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from xmodal.data.datasets import load_kinetics400
from xmodal.data.datasets._kinetics_videos import torchvision_folder

HEADER = "label,youtube_id,time_start,time_end,split,is_cc\n"
TRAIN = [
    ("playing guitar", "--07WQ2iBlw", 1, 11),
    ('"petting animal (not cat)"', "-0_q5Pib6lM", 30, 40),
    ("massaging person's head", "0347ZoDXyP0", 14, 24),
]
VAL = [("playing guitar", "Cq_Z8kLlfOk", 105, 115), ("abseiling", "3E7Jib8Yq5M", 0, 10)]
# The ten Kinetics-400 labels (of mmaction2's label_map_k400.txt) with ' ( or ): torchvision drops those characters.
SPECIAL = [
    "hurling (sport)", "massaging person's head", "passing American football (in game)",
    "passing American football (not in game)", "petting animal (not cat)", "punching person (boxing)",
    "shooting goal (soccer)", "skiing (not slalom or crosscountry)", "tying knot (not on a tie)",
    "using remote controller (not gaming)",
]  # fmt: skip


def _csv(rows: list[tuple[str, str, int, int]], split: str) -> str:
    return HEADER + "".join(f"{label},{ytid},{s},{e},{split},0\n" for label, ytid, s, e in rows)


def _name(ytid: str, start: int, end: int, ext: str = "mp4") -> str:
    return f"{ytid}_{start:06d}_{end:06d}.{ext}"


def test_mmaction2_layout(tmp_path: Path, write, caplog: pytest.LogCaptureFixture) -> None:
    """tools/data/kinetics: annotations/kinetics_{train,val}.csv, videos_{train,val}/<label>/; rename_classnames.sh
    turned the train class folders' spaces into underscores, the val folders were not renamed yet."""
    write(tmp_path / "annotations" / "kinetics_train.csv", _csv(TRAIN, "train"))
    write(tmp_path / "annotations" / "kinetics_val.csv", _csv(VAL, "val"))
    for label, ytid, s, e in TRAIN[:2]:
        write(tmp_path / "videos_train" / label.strip('"').replace(" ", "_") / _name(ytid, s, e))
    write(tmp_path / "videos_val" / "playing guitar" / _name("Cq_Z8kLlfOk", 105, 115))
    with caplog.at_level(logging.INFO, logger="xmodal.data.datasets"):
        index = load_kinetics400(tmp_path, check_files=True)
    assert index.rows[1].path == str(tmp_path / "videos_train" / "petting_animal_(not_cat)" / _name(*TRAIN[1][1:]))
    assert index.rows[3].path == str(tmp_path / "videos_val" / "playing guitar" / _name("Cq_Z8kLlfOk", 105, 115))
    # the absent clips get the folder naming of their split
    assert index.rows[2].path == str(tmp_path / "videos_train" / "massaging_person's_head" / _name(*TRAIN[2][1:]))
    assert index.rows[4].path == str(tmp_path / "videos_val" / "abseiling" / _name("3E7Jib8Yq5M", 0, 10))
    assert index.meta["layout"].startswith("mmaction2 (annotations/kinetics_*.csv)")
    assert "spaces as '_' (mmaction2" in index.meta["videos"]["train"]
    assert index.meta["videos"]["val"] == "videos_val/; class folders: labels as in the CSV"
    assert index.meta["missing"] == {"train": 1, "val": 1}
    assert index.meta["official_sizes"] == {"train": 246534, "val": 19906, "test": 39805}
    assert "kinetics400: layout: mmaction2" in caplog.text and "train: 3 rows (2 with media, 1 missing)" in caplog.text


def test_torchvision_class_folders(tmp_path: Path, write) -> None:
    """torchvision's Kinetics(download=True): annotations/{split}.csv and {split}/<label> with spaces as '_' and
    ' ( ) removed."""
    assert len({torchvision_folder(label) for label in SPECIAL}) == 10
    assert all(torchvision_folder(label) != label.replace(" ", "_") for label in SPECIAL)
    assert torchvision_folder("petting animal (not cat)") == "petting_animal_not_cat"
    write(tmp_path / "annotations" / "train.csv", _csv(TRAIN, "train"))
    write(tmp_path / "annotations" / "val.csv", _csv(VAL, "val"))
    for label, ytid, s, e in TRAIN:
        write(tmp_path / "train" / torchvision_folder(label.strip('"')) / _name(ytid, s, e))
    index = load_kinetics400(tmp_path, "train", check_files=True)
    assert index.rows[2].path == str(tmp_path / "train" / "massaging_persons_head" / _name(*TRAIN[2][1:]))
    assert index.meta["missing"] == {"train": 0}
    assert index.meta["layout"].startswith("CVDF / torchvision")
    assert "torchvision names" in index.meta["videos"]["train"]
    val = load_kinetics400(tmp_path, "val", check_files=True)  # no val/ folder: canonical paths, all missing
    assert val.rows[0].path == str(tmp_path / "val" / "playing guitar" / _name("Cq_Z8kLlfOk", 105, 115))
    assert val.meta["videos"] == {"val": "no video folder"} and val.meta["missing"] == {"val": 2}


def test_cvdf_tarballs_deep_folder_and_replacements(tmp_path: Path, write) -> None:
    """k400_extractor.sh: flat train/, part_120.tar.gz extracted into train/home/soldanm/…/train/, and the
    replacement_for_corrupted_k400.tgz clips in replacement/replacement_for_corrupted_k400/."""
    write(tmp_path / "annotations" / "train.csv", _csv(TRAIN, "train"))
    write(tmp_path / "annotations" / "val.csv", _csv(VAL, "val"))
    write(tmp_path / "annotations" / "test.csv", "youtube_id,time_start,time_end,split\n--33Lscn6sk,4,14,test\n")
    write(tmp_path / "train" / _name(*TRAIN[0][1:]))
    write(tmp_path / "train" / f"._{_name(*TRAIN[0][1:])}")  # AppleDouble debris from a copy on macOS
    deep = tmp_path / "train" / "home" / "soldanm" / "Documents" / "projects" / "kinetics" / "v1-0" / "train"
    write(deep / _name(*TRAIN[1][1:]))
    write(tmp_path / "train" / _name(*TRAIN[2][1:]))  # corrupted original …
    replacement = write(tmp_path / "replacement" / "replacement_for_corrupted_k400" / _name(*TRAIN[2][1:]))
    write(tmp_path / "val" / _name("Cq_Z8kLlfOk", 105, 115))
    index = load_kinetics400(tmp_path, check_files=True)
    assert [r.path for r in index.rows[:3]] == [
        str(tmp_path / "train" / _name(*TRAIN[0][1:])), str(deep / _name(*TRAIN[1][1:])), str(replacement)
    ]
    assert index.rows[4].path == str(tmp_path / "val" / _name("3E7Jib8Yq5M", 0, 10))  # flat: absent stays flat
    assert index.meta["missing"] == {"train": 0, "val": 1} and index.meta["unlabelled"] == ["test"]
    train = index.meta["videos"]["train"]
    assert "train/; flat" in train and "1 CVDF replacement clips used" in train
    assert "1 files in nested folders such as train/home/soldanm/Documents/projects/kinetics/v1-0/train/" in train
    assert index.meta["notes"] == ["replacement clips: replacement/replacement_for_corrupted_k400/ (1 files)"]


def test_mkv_webm_and_resized_folders(tmp_path: Path, write) -> None:
    """youtube-dl leaves .mkv/.webm when mp4 is not offered; resized copies live in train_256/ and val_256/."""
    write(tmp_path / "kinetics-400_train.csv", _csv(TRAIN, "train"))
    write(tmp_path / "kinetics-400_val.csv", _csv(VAL, "val"))
    write(tmp_path / "train_256" / "playing guitar" / _name(*TRAIN[0][1:], "mkv"))
    write(tmp_path / "train_256" / "playing guitar" / _name(*TRAIN[0][1:], "mp4"))  # the same clip twice
    write(tmp_path / "train_256" / "petting animal (not cat)" / _name(*TRAIN[1][1:], "webm"))
    write(tmp_path / "val_256" / "abseiling" / _name("3E7Jib8Yq5M", 0, 10, "webm"))
    index = load_kinetics400(tmp_path, check_files=True)
    assert index.rows[0].path.endswith("train_256/playing guitar/--07WQ2iBlw_000001_000011.mp4")
    assert index.rows[1].path.endswith(".webm") and index.rows[4].path.endswith("val_256/abseiling/"
                                                                                "3E7Jib8Yq5M_000000_000010.webm")
    assert index.meta["missing"] == {"train": 1, "val": 1}
    assert index.meta["skipped"] == {"duplicates": {"count": 1, "ids": ["--07WQ2iBlw_000001_000011"]}}
    assert index.meta["videos"]["val"] == "val_256/; class folders: labels as in the CSV"
    write(tmp_path / "train" / "playing guitar" / _name(*TRAIN[0][1:]))
    assert "not read: train_256/" in load_kinetics400(tmp_path, "train").meta["videos"]["train"]


def test_unusable_roots_are_one_clear_error(tmp_path: Path, write) -> None:
    with pytest.raises(FileNotFoundError, match=rf"Kinetics-400 root {tmp_path / 'nope'} is not a folder"):
        load_kinetics400(tmp_path / "nope")
    write(tmp_path / "train" / _name(*TRAIN[0][1:]))
    with pytest.raises(FileNotFoundError, match=r"annotations not found in .*mmaction2's kinetics_\*\.csv"):
        load_kinetics400(tmp_path)
