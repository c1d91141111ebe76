"""Kinetics-400 / Kinetics-Sound adapters on a tiny tree in the real layout (annotations/*.csv + split/class/)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from xmodal.data.datasets import KINETICS_SOUND_CLASSES, REGISTRY, load_kinetics400, load_kinetics_sound

HEADER = "label,youtube_id,time_start,time_end,split\n"
TRAIN = [
    ("playing guitar", "--07WQ2iBlw", 1, 11),
    ('"petting animal (not cat)"', "-0_q5Pib6lM", 30, 40),
    ("abseiling", "0347ZoDXyP0", 14, 24),
    ("tapping pen", "-4Kz7qmDvUE", 0, 10),
]
VAL = [("playing guitar", "Cq_Z8kLlfOk", 105, 115), ("abseiling", "3E7Jib8Yq5M", 0, 10)]


def _csv(rows: list[tuple[str, str, int, int]], split: str) -> str:
    return HEADER + "".join(f"{label},{ytid},{s},{e},{split}\n" for label, ytid, s, e in rows)


@pytest.fixture
def k400(tmp_path: Path, write) -> Path:
    write(tmp_path / "annotations" / "train.csv", _csv(TRAIN, "train"))
    write(tmp_path / "annotations" / "validate.csv", _csv(VAL, "val"))
    for label, ytid, s, e in TRAIN[:3]:
        write(tmp_path / "train" / label.strip('"') / f"{ytid}_{s:06d}_{e:06d}.mp4")
    write(tmp_path / "val" / "playing_guitar" / "Cq_Z8kLlfOk_000105_000115.mp4")
    write(tmp_path / "val" / "abseiling" / "3E7Jib8Yq5M_000000_000010.mp4")
    return tmp_path


def test_k400_rows_classes_and_paths(k400: Path) -> None:
    index = load_kinetics400(k400, check_files=True)
    assert index.name == "kinetics400" and not index.multilabel
    assert index.classes == ["abseiling", "petting animal (not cat)", "playing guitar", "tapping pen"]
    assert [r.split for r in index.rows] == ["train"] * 4 + ["val"] * 2
    first = index.rows[0]
    assert first.path == str(k400 / "train" / "playing guitar" / "--07WQ2iBlw_000001_000011.mp4")
    assert first.labels == [2] and first.id == "--07WQ2iBlw_000001_000011" and first.start is None
    assert index.rows[1].path.endswith("petting animal (not cat)/-0_q5Pib6lM_000030_000040.mp4")
    assert index.rows[4].path == str(k400 / "val" / "playing_guitar" / "Cq_Z8kLlfOk_000105_000115.mp4")
    assert index.meta["missing_files"] == 1  # tapping pen clip was never downloaded
    assert Path(index.root).is_absolute()


def test_k400_single_split_keeps_global_class_order(k400: Path) -> None:
    val = load_kinetics400(k400, "val")
    assert [r.labels for r in val.rows] == [[2], [0]]
    assert len(val.classes) == 4 and "missing_files" not in val.meta
    with pytest.raises(FileNotFoundError, match="test annotations"):
        load_kinetics400(k400, "test")
    with pytest.raises(ValueError, match="no split 'dev'"):
        load_kinetics400(k400, "dev")
    with pytest.raises(ValueError, match="fold"):
        load_kinetics400(k400, fold=2)


def test_k400_flat_split_folder(tmp_path: Path, write) -> None:
    write(
        tmp_path / "kinetics-400_test.csv",
        "youtube_id,time_start,time_end,split,label\n-3B32lodo2M,59,69,test,abseiling\n",
    )
    write(tmp_path / "test" / "-3B32lodo2M_000059_000069.mp4")
    index = load_kinetics400(tmp_path, "test", check_files=True)
    assert index.rows[0].path == str(tmp_path / "test" / "-3B32lodo2M_000059_000069.mp4")
    assert index.meta["missing_files"] == 0


def test_k400_malformed_line_names_file_and_line(tmp_path: Path, write) -> None:
    bad = write(
        tmp_path / "annotations" / "train.csv",
        HEADER + "abseiling,0347ZoDXyP0,14,24,train\nabseiling,x,soon,24,train\n",
    )
    with pytest.raises(ValueError, match=rf"{re.escape(str(bad))}:3: .*not numbers"):
        load_kinetics400(tmp_path)
    write(bad, "label,youtube_id,time_start,split\n")
    with pytest.raises(ValueError, match=rf"{re.escape(str(bad))}:1: header lacks .*'time_end'"):
        load_kinetics400(tmp_path)


def test_k400_held_out_test_csv_is_skipped_unless_asked_for(k400: Path, write) -> None:
    held_out = write(k400 / "annotations" / "test.csv", "youtube_id,time_start,time_end,split\n--33Lscn6sk,4,14,test\n")
    index = load_kinetics400(k400)
    assert {r.split for r in index.rows} == {"train", "val"} and index.meta["unlabelled"] == ["test"]
    with pytest.raises(ValueError, match=rf"{re.escape(str(held_out))} has no 'label' column"):
        load_kinetics400(k400, "test")


def test_kinetics_sound_subset(tmp_path: Path, write) -> None:
    rows = [(c, f"{i:011d}", 0, 10) for i, c in enumerate(KINETICS_SOUND_CLASSES)] + [("abseiling", "a" * 11, 0, 10)]
    write(tmp_path / "annotations" / "train.csv", _csv(rows, "train"))
    index = REGISTRY["kinetics_sound"](tmp_path, "train")
    assert len(KINETICS_SOUND_CLASSES) == len(set(KINETICS_SOUND_CLASSES)) == 32
    assert index.classes == sorted(KINETICS_SOUND_CLASSES)
    assert len(index.rows) == 32 and "abseiling" not in index.classes
    guitar = next(r for r in index.rows if "strumming guitar" in r.path)
    assert index.classes[guitar.labels[0]] == "strumming guitar"
    thirty_one = [c for c in KINETICS_SOUND_CLASSES if c != "strumming guitar"]
    assert len(load_kinetics_sound(tmp_path, classes=thirty_one).classes) == 31
    with pytest.raises(ValueError, match="do not occur"):
        load_kinetics_sound(tmp_path, classes=["playing guitar", "playing the kazoo"])
