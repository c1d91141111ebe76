"""Issue §6: every bad input is handled or raises an error naming the file; datasets skip-and-count or raise."""

from __future__ import annotations

import pytest
import torch
from torch.utils.data import DataLoader

from xmodal.data.collate import SkipCounter, collate_samples
from xmodal.data.dataset import AVDataset, DatasetIndex, ManifestRow, read_manifest
from xmodal.data.errors import MediaError, SkippedSample
from xmodal.data.io import AudioSpec, VideoSpec, decode_clip

AV = {"video": VideoSpec(fps=10, size=(16, 16)), "audio": AudioSpec(16000)}


@pytest.mark.parametrize(
    ("name", "kind", "video", "audio"),
    [
        ("corrupt", "corrupt", True, True),
        ("truncated", "corrupt", True, True),
        ("corrupt_wav", "corrupt", False, True),
        ("missing", "missing", True, True),
        ("video_only", "no_audio", True, True),
        ("wav", "no_video", True, False),
        ("audio_only_m4a", "no_video", True, False),
        ("empty", "too_short", False, True),
    ],
)
def test_bad_files_raise_named_errors(media, name, kind, video, audio):
    with pytest.raises(MediaError) as info:
        decode_clip(media[name], 0.0, 1.0, video=AV["video"] if video else None, audio=AV["audio"] if audio else None)
    assert info.value.kind == kind and info.value.path == str(media[name])
    assert str(media[name]) in str(info.value)


def test_all_silent_audio_is_decoded_as_silence(media):
    clip = decode_clip(media["silent"], 0.5, 1.5, video=None, audio=AudioSpec(16000))
    assert clip.audio.shape == (16000,) and float(clip.audio.abs().max()) == 0.0


@pytest.mark.parametrize("name", ["short", "wav"])
def test_short_clip_loop_pad_error(media, mh, name):
    """short.mp4 lasts 1 s and stereo44k.wav 2 s; ask for 1.5 s starting 0.5 s before the end."""
    start = 0.5 if name == "short" else 1.5
    video = VideoSpec(fps=10) if name == "short" else None
    loop = decode_clip(media[name], start, start + 1.5, video=video, audio=AudioSpec(16000), short="loop")
    pad = decode_clip(media[name], start, start + 1.5, video=video, audio=AudioSpec(16000), short="pad")
    for clip in (loop, pad):
        assert clip.audio.shape == (24000,)
    valid = int(torch.nonzero(pad.audio).max()) + 1  # AAC may decode a few ms past the video's end
    assert abs(valid - 8000) < 0.05 * 16000 and float(pad.audio[valid:].abs().max()) == 0.0
    assert torch.equal(loop.audio[valid : 2 * valid], loop.audio[:valid])  # the ~0.5 s of content repeats
    if video is not None:
        ids = [mh.frame_id(f) for f in loop.video.numpy()]
        assert len(ids) == 15 and ids[5:10] == ids[:5] and ids[10:] == ids[:5]
        pad_ids = [mh.frame_id(f) for f in pad.video.numpy()]
        assert pad_ids[:5] == ids[:5] and set(pad_ids[5:]) == {ids[4]}
    with pytest.raises(MediaError, match="shorter than requested") as info:
        decode_clip(media[name], start, start + 1.5, video=video, audio=AudioSpec(16000), short="error")
    assert info.value.kind == "too_short" and str(media[name]) in str(info.value)


def _index(media, names: list[str]) -> DatasetIndex:
    rows = [ManifestRow(str(media[n]), [i % 2], "train", id=n) for i, n in enumerate(names)]
    return DatasetIndex("bad", rows, ["a", "b"])


BAD = ["mp4", "corrupt", "missing", "truncated", "video_only", "short", "empty"]


def test_dataset_skips_and_counts(media):
    ds = AVDataset(_index(media, BAD), clip_seconds=1.0, short="error", sampling="center", **AV)
    items = [ds[i] for i in range(len(ds))]
    skipped = {s.index: s.kind for s in items if isinstance(s, SkippedSample)}
    assert skipped == {1: "corrupt", 2: "missing", 3: "corrupt", 4: "no_audio", 6: "too_short"}
    assert all(str(media[BAD[i]]) in items[i].message for i in skipped)
    batch = collate_samples(items)
    assert batch["video"].shape == (2, 3, 10, 16, 16) and batch["id"] == ["mp4", "short"]
    counter = SkipCounter()
    counter.update(batch)
    summary = counter.summary()
    assert summary["count"] == 5 and summary["by_kind"] == {"corrupt": 2, "missing": 1, "no_audio": 1, "too_short": 1}
    assert {f["path"] for f in summary["files"]} == {str(media[BAD[i]]) for i in skipped}
    report = counter.report()
    assert report.startswith("skipped 5 samples") and str(media["corrupt"]) in report


def test_dataset_skip_through_dataloader_workers(media):
    ds = AVDataset(_index(media, BAD * 2), clip_seconds=1.0, short="error", **AV)
    loader = DataLoader(ds, batch_size=3, num_workers=2, collate_fn=collate_samples)
    counter, seen = SkipCounter(), 0
    for batch in loader:
        counter.update(batch)
        seen += len(batch.get("index", []))
    assert seen == 4 and counter.summary()["by_kind"] == {"corrupt": 4, "missing": 2, "no_audio": 2, "too_short": 2}


def test_dataset_raise_mode_names_the_file(media):
    ds = AVDataset(_index(media, ["mp4", "truncated"]), clip_seconds=1.0, on_error="raise", **AV)
    assert ds[0]["video"].shape == (3, 10, 16, 16)
    with pytest.raises(MediaError, match=r"truncated\.mp4") as info:
        ds[1]
    assert info.value.kind == "corrupt"


def test_missing_audio_silence_option(media):
    ds = AVDataset(_index(media, ["video_only"]), clip_seconds=1.0, missing_audio="silence", **AV)
    sample = ds[0]
    assert sample["video"].shape == (3, 10, 16, 16) and torch.equal(sample["audio"], torch.zeros(16000))
    audio_only = AVDataset(_index(media, ["video_only"]), modalities=("audio",), clip_seconds=1.0,
                           missing_audio="silence", audio=AudioSpec(8000))
    assert torch.equal(audio_only[0]["audio"], torch.zeros(8000))


def test_all_skipped_batch_holds_only_skipped(media):
    ds = AVDataset(_index(media, ["corrupt", "missing"]), clip_seconds=1.0, **AV)
    assert collate_samples([ds[0], ds[1]]) == {"skipped": [(str(media["corrupt"]), "corrupt"),
                                                           (str(media["missing"]), "missing")]}


def test_manifest_unknown_label_names_csv_and_line(tmp_path, mh):
    csv = mh.write_manifest(tmp_path, "path,label,split\na.mp4,dog,train\nb.mp4,unicorn,train\n",
                            sidecar={"classes": ["cat", "dog"]})
    with pytest.raises(MediaError, match="line 3: unknown label 'unicorn'") as info:
        read_manifest(csv)
    assert info.value.kind == "bad_label" and str(csv) in str(info.value)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("path,label,split\na.mp4,cat,train\nb.mp4,cat,train,extra\n", "line 3: expected 3 fields"),
        ("path,label,split,start,end\na.mp4,cat,train,zero,1\n", "line 2: start 'zero' is not a number"),
        ("path,label,split,start,end\na.mp4,cat,train,2,1\n", "line 2: end 1.0 <= start 2.0"),
        ("path,label,split\n,cat,train\n", "line 2: empty path"),
        ("file,label\na.mp4,cat\n", "line 1: header needs path"),
    ],
)
def test_manifest_bad_rows(tmp_path, mh, text, message):
    with pytest.raises(MediaError, match=message) as info:
        read_manifest(mh.write_manifest(tmp_path, text))
    assert info.value.kind == "bad_row" and str(tmp_path / "manifest.csv") in str(info.value)


def test_manifest_bad_path_checked_or_skipped(tmp_path, mh, media):
    csv = mh.write_manifest(tmp_path, f"path,label,split\n{media['mp4']},cat,train\nclips/gone.mp4,cat,train\n")
    with pytest.raises(MediaError, match=r"line 3: file .*gone\.mp4 does not exist"):
        read_manifest(csv, check_paths=True)
    ds = AVDataset(read_manifest(csv), clip_seconds=1.0, **AV)
    skipped = ds[1]
    assert isinstance(skipped, SkippedSample) and skipped.kind == "missing"
    assert skipped.path == str(tmp_path.resolve() / "clips" / "gone.mp4")


def test_replace_mode_tops_batches_up_and_counts_each_bad_row_once(media):
    """Training loaders replace a bad row by the next decodable one: full batches, every bad file still counted."""
    names = ["mp4", "corrupt", "truncated", "short", "missing"]
    ds = AVDataset(_index(media, names), clip_seconds=1.0, on_error="replace", sampling="center", **AV)
    items = [ds[i] for i in range(len(ds))]
    assert all(isinstance(s, dict) for s in items)
    # slot 1 (corrupt) and 2 (truncated) walk on to row 3; slot 4 (missing) wraps around to row 0
    assert [s["index"] for s in items] == [0, 3, 3, 3, 0]
    batch = collate_samples(items)
    assert batch["video"].shape == (5, 3, 10, 16, 16) and batch["id"] == ["mp4", "short", "short", "short", "mp4"]
    assert batch["skipped"] == [(str(media["corrupt"]), "corrupt"), (str(media["truncated"]), "corrupt"),
                                (str(media["missing"]), "missing")]
    assert "skipped" not in items[0]


def test_replace_mode_gives_up_with_one_clear_error(media):
    ds = AVDataset(_index(media, ["corrupt", "missing", "truncated"]), clip_seconds=1.0, on_error="replace",
                   max_replacements=2, **AV)
    with pytest.raises(MediaError, match=r"corrupt\.mp4.*2 rows after it could not be decoded") as info:
        ds[0]
    assert "xmodal data check" in str(info.value)
