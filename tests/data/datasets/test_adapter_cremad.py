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
