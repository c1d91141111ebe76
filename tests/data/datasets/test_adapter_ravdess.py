"""RAVDESS adapter on a tiny tree: Actor_XX/ folders with the seven-part codes in the file names."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from xmodal.data.datasets import load_ravdess

FILES = [
    "Video_Speech_Actor_01/Actor_01/01-01-01-01-01-01-01.mp4",
    "Video_Speech_Actor_01/Actor_01/02-01-01-01-01-01-01.mp4",
    "Video_Song_Actor_02/Actor_02/01-02-05-02-02-01-02.mp4",
    "Video_Speech_Actor_03/Actor_03/01-01-08-01-01-02-03.mp4",
    "Audio_Speech_Actors_01-24/Actor_12/03-01-05-01-02-01-12.wav",
    "Video_Speech_Actor_12/Actor_12/01-01-05-01-02-01-12.mp4",
]


@pytest.fixture
def ravdess(tmp_path: Path, write) -> Path:
    for name in FILES:
        write(tmp_path / name)
    return tmp_path


def test_audio_visual_clips_and_codes(ravdess: Path) -> None:
    index = load_ravdess(ravdess, check_files=True)
    assert index.classes == ["neutral", "calm", "happy", "sad", "angry", "fearful", "disgust", "surprised"]
    assert [(r.id, r.labels) for r in index.rows] == [
        ("01-01-01-01-01-01-01", [0]),
        ("01-02-05-02-02-01-02", [4]),
        ("01-01-08-01-01-02-03", [7]),
        ("01-01-05-01-02-01-12", [4]),
    ]
    assert index.rows[0].path == str(ravdess / FILES[0])
    # actors 1, 2, 3, 12 -> folds 1, 2, 3, 4: fold 1 tests actor 1 and validates on actor 2
    assert [r.split for r in index.rows] == ["test", "val", "train", "train"]
    assert (index.meta["fold"], index.meta["modality"], index.meta["missing_files"]) == (1, "av", 0)
    assert index.meta["skipped"] == {}
    audio = load_ravdess(ravdess, modality="audio")
    assert [r.path for r in audio.rows] == [str(ravdess / FILES[4])]
    assert [r.id for r in load_ravdess(ravdess, modality="video").rows] == ["02-01-01-01-01-01-01"]
    assert [r.id for r in load_ravdess(ravdess, "test", fold=4).rows] == ["01-01-05-01-02-01-12"]


def test_bad_names(ravdess: Path, write) -> None:
    wrong_actor = write(ravdess / "Actor_05" / "01-01-03-01-01-01-06.mp4")
    with pytest.raises(ValueError, match=re.escape(str(wrong_actor))):
        load_ravdess(ravdess)
    wrong_actor.unlink()
    bad_emotion = write(ravdess / "Actor_05" / "01-01-09-01-01-01-05.mp4")
    with pytest.raises(ValueError, match=re.escape(str(bad_emotion))):
        load_ravdess(ravdess)
    with pytest.raises(ValueError, match="modality"):
        load_ravdess(ravdess, modality="speech")
    with pytest.raises(FileNotFoundError, match="no RAVDESS video clips"):
        load_ravdess(ravdess / "Audio_Speech_Actors_01-24", modality="video")


def test_kaggle_speech_copy_lists_every_actor_twice(tmp_path: Path, write) -> None:
    """uwrfkaggler/ravdess-emotional-speech-audio unzips to Actor_XX/ and audio_speech_actors_01-24/Actor_XX/ with
    the same files: each clip is kept once (before: every clip was listed twice) and the copies are reported."""
    names = [
        "Actor_01/03-01-01-01-01-01-01.wav", "Actor_01/03-01-05-02-01-02-01.wav", "Actor_02/03-01-08-01-02-01-02.wav"
    ]
    for name in names:
        write(tmp_path / name)
        write(tmp_path / "audio_speech_actors_01-24" / name)
    with pytest.raises(FileNotFoundError, match=r"no RAVDESS av clips .*found modality 'audio' instead"):
        load_ravdess(tmp_path)
    index = load_ravdess(tmp_path, modality="audio")
    assert [r.path for r in index.rows] == [str(tmp_path / name) for name in names]
    assert index.meta["skipped"] == {
        "duplicates": {"count": 3, "ids": [f"audio_speech_actors_01-24/{name}" for name in names]}
    }
    assert index.meta["layout"] == (
        "Actor_XX/ folders under ROOT, audio_speech_actors_01-24/ (Kaggle's copy: every actor twice)"
    )
    assert index.meta["official_sizes"] == {"total": 2452}
