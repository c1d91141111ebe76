"""AudioSet as the PANNs scripts download it and VGGSound as OGM-GE / CAV-MAE preprocessing and the repository's
split files leave it; when one clip exists as an audio and a video file, the requested modality chooses."""

from __future__ import annotations

from pathlib import Path

import pytest

from xmodal.data.datasets import load_audioset, load_vggsound, vggsound

CLASSES = 'index,mid,display_name\n0,/m/09x0r,"Speech"\n1,/m/04rlf,"Music"\n'


def _segments(lines: list[str]) -> str:
    return (
        "# Segments csv created Sun Mar  5 10:54:25 2017\n"
        f"# num_ytids={len(lines)}, num_segs={len(lines)}, num_unique_labels=2, num_positive_labels={len(lines)}\n"
        "# YTID, start_seconds, end_seconds, positive_labels\n" + "".join(line + "\n" for line in lines)
    )


@pytest.fixture
def panns(tmp_path: Path, write) -> Path:
    """scripts/1_download_dataset.sh: CSVs in metadata/, Y{ytid}.wav in audios/<csv stem>/ (the unbalanced set in
    41 part folders, from PANNs' partial CSVs with three "empty" header lines)."""
    meta = tmp_path / "metadata"
    write(meta / "class_labels_indices.csv", CLASSES)
    write(meta / "balanced_train_segments.csv", _segments(['--PJHxphWEs, 30.000, 40.000, "/m/09x0r"',
                                                           'Y-0Bj8uu6Ls, 0.000, 10.000, "/m/04rlf"']))
    write(meta / "eval_segments.csv", _segments(['--4gqARaEJE, 0.000, 10.000, "/m/04rlf,/m/09x0r"']))
    parts = meta / "unbalanced_partial_csvs"
    empty = "empty\nempty\nempty\n"
    write(parts / "unbalanced_train_segments_part00.csv", empty + '---1_cCGK4M, 0.000, 10.000, "/m/04rlf"\n')
    write(parts / "unbalanced_train_segments_part01.csv", empty + '---2_BBVHAA, 10.000, 20.000, "/m/09x0r"\n')
    audios = tmp_path / "audios"
    write(audios / "balanced_train_segments" / "Y--PJHxphWEs.wav")
    write(audios / "balanced_train_segments" / "YY-0Bj8uu6Ls.wav")
    write(audios / "balanced_train_segments" / "_Y--PJHxphWEs.webm")  # full video left by an interrupted download
    write(audios / "eval_segments" / "Y--4gqARaEJE.wav")
    write(audios / "unbalanced_train_segments" / "unbalanced_train_segments_part00" / "Y---1_cCGK4M.wav")
    return tmp_path


def test_panns_layout(panns: Path) -> None:
    index = load_audioset(panns, check_files=True)
    audios = panns / "audios"
    assert [(r.id, r.path) for r in index.rows] == [
        ("--PJHxphWEs_000030", str(audios / "balanced_train_segments" / "Y--PJHxphWEs.wav")),
        ("Y-0Bj8uu6Ls_000000", str(audios / "balanced_train_segments" / "YY-0Bj8uu6Ls.wav")),
        ("--4gqARaEJE_000000", str(audios / "eval_segments" / "Y--4gqARaEJE.wav")),
    ]
    assert index.meta["layout"] == "PANNs audioset_tagging_cnn (metadata/, audios/)"
    assert index.meta["official_sizes"] == {"train": 22160, "test": 20371}
    assert index.meta["missing"] == {"train": 0, "test": 0}
    full = load_audioset(panns, "train", subset="full", check_files=True)
    assert [r.id for r in full.rows][2:] == ["---1_cCGK4M_000000", "---2_BBVHAA_000010"]
    assert full.rows[2].path.endswith("unbalanced_train_segments_part00/Y---1_cCGK4M.wav")
    assert full.rows[3].path == str(audios / "unbalanced_train_segments" / "---2_BBVHAA_000010_000020.mp4")
    assert full.meta["missing"] == {"train": 1} and full.meta["official_sizes"] == {"train": 22160 + 2041789}
    assert "read from 2 PANNs partial CSVs in metadata/unbalanced_partial_csvs/" in full.meta["notes"][0]


def test_audioset_audio_and_video_of_one_segment(panns: Path, write) -> None:
    """Audio from PANNs next to videos in the folder named after the CSV: the modality asked for decides, whatever
    order the folders are walked in (before: the last file walked won)."""
    video = write(panns / "balanced_train_segments" / "--PJHxphWEs_000030_000040.mp4")
    wav = panns / "audios" / "balanced_train_segments" / "Y--PJHxphWEs.wav"
    assert load_audioset(panns, "train", media="audio").rows[0].path == str(wav)
    assert load_audioset(panns, "train", media="video").rows[0].path == str(video)
    auto = load_audioset(panns, "train")
    assert auto.rows[0].path == str(video) and auto.meta["both_media"] == 1
    assert auto.meta["notes"] == [
        "1 segments exist as both an audio and a video file; media='auto' used the video file"
    ]
    with pytest.raises(ValueError, match="media must be one of"):
        load_audioset(panns, media="frames")


@pytest.fixture
def vgg(tmp_path: Path, write, vggsound_csv: str) -> Path:
    """Release clips in video/, 16 kHz WAVs extracted next to them in wav/ (OGM-GE, CAV-MAE preprocessing)."""
    write(tmp_path / "vggsound.csv", vggsound_csv)
    for name in ("---g-f_I2yQ_000001", "--0PQM4-hqg_000030"):
        write(tmp_path / "video" / f"{name}.mp4")
        write(tmp_path / "wav" / f"{name}.wav")
    write(tmp_path / "wav" / "--56QUhyDQM_000185.wav")
    return tmp_path


def test_vggsound_video_next_to_wav(vgg: Path) -> None:
    video = load_vggsound(vgg, media="video", check_files=True)
    assert [Path(r.path).parent.name for r in video.rows] == ["video", "video", "video", "video"]
    assert video.meta["missing"] == {"test": 0, "train": 2}  # --56QUhyDQM has a WAV only
    audio = load_vggsound(vgg, media="audio", check_files=True)
    assert [Path(r.path).parent.name for r in audio.rows] == ["wav", "wav", "wav", "video"]
    assert audio.meta["missing"] == {"test": 0, "train": 1} and audio.meta["both_media"] == 2
    assert load_vggsound(vgg).rows[0].path == str(vgg / "video" / "---g-f_I2yQ_000001.mp4")


def test_vggsound_repository_split_files(vgg: Path, write) -> None:
    """data/train.csv and data/test.csv of hche11/VGGSound list the released clips ('<ytid>_<start:06d>.mp4,label',
    CRLF): the clips of vggsound.csv they lack are listed but not released, not missing."""
    write(vgg / "data" / "train.csv", '--0PQM4-hqg_000030.mp4,"vehicle horn, car horn, honking"\r\n'
                                      "--56QUhyDQM_000185.mp4,playing tennis\r\n")
    write(vgg / "data" / "test.csv", "---g-f_I2yQ_000001.mp4,people marching\r\n")
    index = load_vggsound(vgg, media="video", check_files=True)
    assert [r.id for r in index.rows] == ["--0PQM4-hqg_000030", "--56QUhyDQM_000185", "---g-f_I2yQ_000001"]
    assert index.meta["skipped"] == {"listed_not_released": {"count": 1, "ids": ["--5OkAjCI7g_000040"]}}
    assert index.meta["missing"] == {"train": 1, "test": 0}  # --56QUhyDQM: released, but this copy lacks its video
    assert index.meta["layout"] == "repository split files (data/train.csv, data/test.csv) checked against vggsound.csv"
    assert index.meta["official_sizes"] == {"train": 183730, "test": 15446}
    (vgg / "vggsound.csv").unlink()
    assert len(load_vggsound(vgg).rows) == 3 and load_vggsound(vgg).meta["skipped"] == {}
    write(vgg / "data" / "test.csv", "---g-f_I2yQ.mp4,people marching\r\n")
    with pytest.raises(ValueError, match=r"test\.csv:1: expected '<youtube_id>_<start>\.mp4,<label>'"):
        load_vggsound(vgg)


def test_vggsound_csv_alone_counts_unreleased_apart(vgg: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(vggsound, "RELEASED", 3)  # as if these 4 rows were the 199,467 and 3 the 199,176 released
    notes = load_vggsound(vgg, media="video", check_files=True).meta["notes"]
    assert notes[-1].startswith("2 listed clips have no file; vggsound.csv lists 4 clips but 3 were released, "
                                "so up to 1 of them are listed but not released rather than missing")
