"""CREMA-D adapter on a tiny tree: AudioWAV/ and VideoFlash/ with the emotion coded in the file names."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from xmodal.data.datasets import load_cremad

CLIPS = [f"{actor}_{sentence}_{emotion}_{level}" for actor, sentence, emotion, level in [
    ("1001", "DFA", "ANG", "XX"), ("1001", "IEO", "HAP", "LO"), ("1002", "TIE", "SAD", "XX"),
    ("1003", "IWW", "NEU", "XX"), ("1004", "MTI", "DIS", "HI"), ("1005", "ITS", "FEA", "MD"),
    ("1006", "WSI", "ANG", "XX"),
]]  # fmt: skip


@pytest.fixture
def cremad(tmp_path: Path, write) -> Path:
    for clip in CLIPS:
        write(tmp_path / "AudioWAV" / f"{clip}.wav")
        write(tmp_path / "VideoFlash" / f"{clip}.flv")
    write(tmp_path / "VideoFlash" / "readme.txt", "not media")
    return tmp_path


def test_labels_from_names_and_actor_disjoint_folds(cremad: Path) -> None:
    index = load_cremad(cremad, check_files=True)
    assert index.classes == ["anger", "disgust", "fear", "happy", "neutral", "sad"]
    assert [r.labels[0] for r in index.rows] == [0, 3, 5, 4, 1, 2, 0]
    assert index.rows[0].path == str(cremad / "VideoFlash" / "1001_DFA_ANG_XX.flv") and index.rows[0].id == CLIPS[0]
    # actors 1001..1006 dealt into folds 1,2,3,4,5,1: fold 1 tests 1001+1006, validates on 1002
    assert [r.split for r in index.rows] == ["test", "test", "val", "train", "train", "train", "test"]
    assert index.meta["missing_files"] == 0
    fold3 = load_cremad(cremad, "test", fold=3, media="audio")
    assert [r.path for r in fold3.rows] == [str(cremad / "AudioWAV" / "1003_IWW_NEU_XX.wav")]
    for fold in range(1, 6):
        split_of = {r.id[:4]: r.split for r in load_cremad(cremad, fold=fold).rows}
        assert {r.id[:4] for r in load_cremad(cremad, "test", fold=fold).rows} <= set(split_of)
        assert all(split_of[r.id[:4]] == r.split for r in load_cremad(cremad, fold=fold).rows)


def test_bad_names_and_arguments(cremad: Path, write) -> None:
    bad = write(cremad / "AudioWAV" / "1001_DFA_XYZ_XX.wav")
    with pytest.raises(ValueError, match=re.escape(str(bad))):
        load_cremad(cremad, media="audio")
    with pytest.raises(ValueError, match="media"):
        load_cremad(cremad, media="frames")
    with pytest.raises(ValueError, match=r"fold must be in 1\.\.5"):
        load_cremad(cremad, fold=6)
    with pytest.raises(FileNotFoundError, match="VideoFlash"):
        load_cremad(cremad / "AudioWAV")


LFS_POINTER = (  # what a zip download of CheyneyComputerScience/CREMA-D holds in place of each media file
    "version https://git-lfs.github.com/spec/v1\n"
    "oid sha256:c6f94b2592487c7556bd86df7df6e8f4420d1b9c11414aeec9d8e5e640b51495\nsize 72862\n"
)
BROKEN = ["1076_MTI_NEU_XX", "1076_MTI_SAD_XX", "1064_TIE_SAD_XX", "1064_IEO_DIS_MD"]


@pytest.fixture
def ogm_ge(cremad: Path, write) -> Path:
    """OGM-GE's data/CREMAD/{train,test}.csv ('<clip>,<EMOTION>', CRLF) next to the media, plus the README's broken
    clips (here as 4-byte placeholders)."""
    for clip in BROKEN:
        write(cremad / "AudioWAV" / f"{clip}.wav", "RIFF")
        write(cremad / "VideoFlash" / f"{clip}.flv", "FLV1")
    train = [CLIPS[0], CLIPS[2], CLIPS[3], CLIPS[5], "1064_IEO_DIS_MD", "1076_MTI_NEU_XX"]
    write(cremad / "data" / "CREMAD" / "train.csv", "".join(f"{c},{c.split('_')[2]}\r\n" for c in train))
    write(cremad / "data" / "CREMAD" / "test.csv", "".join(f"{c},{c.split('_')[2]}\r\n" for c in CLIPS[4:7:2]))
    return cremad


def test_ogm_ge_split_and_class_order(ogm_ge: Path) -> None:
    index = load_cremad(ogm_ge, protocol="ogm_ge", media="audio", check_files=True)
    assert index.classes == ["neutral", "happy", "sad", "fear", "disgust", "anger"]  # OGM-GE's NEU HAP SAD FEA DIS ANG
    assert [(r.id, r.labels[0], r.split) for r in index.rows] == [
        ("1001_DFA_ANG_XX", 5, "train"), ("1002_TIE_SAD_XX", 2, "train"), ("1003_IWW_NEU_XX", 0, "train"),
        ("1005_ITS_FEA_MD", 3, "train"), ("1076_MTI_NEU_XX", 0, "train"),  # its WAV is fine (README)
        ("1004_MTI_DIS_HI", 4, "test"), ("1006_WSI_ANG_XX", 5, "test"),
    ]  # fmt: skip
    assert index.meta["skipped"] == {"known_broken": {"count": 1, "ids": ["1064_IEO_DIS_MD"]}}
    assert index.meta["official_sizes"] == {"train": 6698, "test": 744}
    assert index.meta["layout"] == f"AudioWAV/ with OGM-GE's clip-level split ({ogm_ge / 'data' / 'CREMAD'})"
    video = load_cremad(ogm_ge, "train", protocol="ogm_ge")
    assert video.meta["skipped"]["known_broken"]["ids"] == ["1064_IEO_DIS_MD", "1076_MTI_NEU_XX"]
    with pytest.raises(ValueError, match="no split 'val'"):
        load_cremad(ogm_ge, "val", protocol="ogm_ge")
    with pytest.raises(FileNotFoundError, match="OGM-GE split files not found"):
        load_cremad(ogm_ge, protocol="ogm_ge", split_dir=ogm_ge / "elsewhere")


def test_speaker_split_leaves_out_the_readme_broken_clips(ogm_ge: Path) -> None:
    index = load_cremad(ogm_ge)
    assert index.meta["skipped"] == {"known_broken": {"count": 4, "ids": sorted(BROKEN)}}
    assert len(index.rows) == len(CLIPS) and index.meta["official_sizes"] == {"total": 7442}
    assert load_cremad(ogm_ge, media="audio").meta["skipped"]["known_broken"]["count"] == 3


def test_lfs_pointers_and_macos_debris(cremad: Path, write) -> None:
    write(cremad / "AudioWAV" / "._1001_DFA_ANG_XX.wav", "\x00\x05\x16\x07")  # before: 'not a CREMA-D clip name'
    write(cremad / "AudioWAV" / "1003_IWW_NEU_XX.wav", LFS_POINTER)
    index = load_cremad(cremad, media="audio")
    assert index.meta["skipped"] == {"lfs_pointers": {"count": 1, "ids": ["1003_IWW_NEU_XX"]}}
    assert len(index.rows) == len(CLIPS) - 1
    assert index.meta["notes"] == ["1 of 7 files in AudioWAV/ are Git LFS pointer stubs, not media"]
    for clip in CLIPS:
        write(cremad / "AudioWAV" / f"{clip}.wav", LFS_POINTER)
    with pytest.raises(FileNotFoundError, match=r"all 7 files in .*AudioWAV are Git LFS pointer stubs .*git lfs pull"):
        load_cremad(cremad, media="audio")
