"""Manifest reading, index resolution, AVDataset sampling/determinism/cache, and the collate."""

from __future__ import annotations

import math

import pytest
import torch
from torch.utils.data import DataLoader

from xmodal.data.collate import SkipCounter, collate_samples, stack_tree
from xmodal.data.dataset import AVDataset, DatasetIndex, ManifestRow, read_manifest, resolve_index
from xmodal.data.errors import SkippedSample
from xmodal.data.io import AudioSpec, VideoSpec

SPECS = {"video": VideoSpec(fps=25, size=(48, 64)), "audio": AudioSpec(8000)}


def _index(media, names: list[str], **row) -> DatasetIndex:
    return DatasetIndex("t", [ManifestRow(str(media[n]), [i], "train", id=n, **row) for i, n in enumerate(names)],
                        ["a", "b", "c"])


def test_read_manifest_with_sidecar_and_relative_paths(tmp_path, mh):
    text = "path,label,split,start,end,id\nclips/a.mp4,dog,train,1.5,3,x1\nclips/b.mp4,cat,val,,,\n"
    meta = {"gamma": 0.5}
    index = read_manifest(mh.write_manifest(tmp_path, text, sidecar={"classes": ["cat", "dog"], "meta": meta}))
    assert index.classes == ["cat", "dog"] and index.meta == meta and not index.multilabel
    assert index.root == str(tmp_path.resolve())
    assert index.rows == [ManifestRow("clips/a.mp4", [1], "train", 1.5, 3.0, "x1"),
                          ManifestRow("clips/b.mp4", [0], "val", None, None, "")]
    assert [r.path for r in index.split("val").rows] == ["clips/b.mp4"] and index.split("val").classes == index.classes
    with pytest.raises(ValueError, match="splits: \\['train', 'val'\\]"):
        index.split("test")


def test_read_manifest_classes_from_labels_and_multilabel(tmp_path, mh):
    ints = read_manifest(mh.write_manifest(tmp_path / "i", "path,label,split\na.wav,2,train\nb.wav,0,train\n"))
    assert ints.classes == ["0", "1", "2"] and [r.labels for r in ints.rows] == [[2], [0]]
    names = read_manifest(mh.write_manifest(tmp_path / "n", "path,label,split\na.wav,zebra,train\nb.wav,ant,test\n"))
    assert names.classes == ["ant", "zebra"] and [r.labels for r in names.rows] == [[1], [0]]
    multi = read_manifest(mh.write_manifest(tmp_path / "m", "path,labels,split\na.wav,b;a;b,train\nb.wav,,train\n"))
    assert multi.multilabel and multi.classes == ["a", "b"] and [r.labels for r in multi.rows] == [[1, 0], []]


def test_resolve_index(tmp_path, mh, monkeypatch):
    csv = mh.write_manifest(tmp_path, "path,label,split\na.wav,x,train\n")
    assert resolve_index(str(csv)).rows == resolve_index(str(tmp_path)).rows
    calls = []

    def adapter(root, split=None):
        calls.append((root, split))
        return DatasetIndex("fake", [], [])

    import xmodal.data.datasets as registry_module

    monkeypatch.setitem(registry_module.REGISTRY, "fake", adapter)
    assert resolve_index("fake", "/data/fake").name == "fake" and calls == [("/data/fake", None)]
    with pytest.raises(ValueError, match="needs its root"):
        resolve_index("fake")
    with pytest.raises(ValueError, match="not a manifest CSV"):
        resolve_index("no_such_dataset")


def test_default_sample_contract(media, mh):
    ds = AVDataset(_index(media, ["mp4"]), clip_seconds=0.8, sampling="center", **SPECS)
    s = ds[0]
    assert set(s) == {"video", "audio", "label", "index", "id"}
    assert s["video"].dtype == torch.float32 and s["video"].shape == (3, 20, 48, 64)
    assert float(s["video"].min()) >= 0.0 and float(s["video"].max()) <= 1.0
    assert s["audio"].shape == (6400,) and (s["label"], s["index"], s["id"]) == (0, 0, "mp4")
    first = (s["video"].permute(1, 2, 3, 0)[0] * 255).round().to(torch.uint8).numpy()
    assert mh.frame_id(first) == 15  # center of a 2 s file: clip [0.6, 1.4)


def test_random_start_is_deterministic_per_seed_epoch_index(media, mh):
    def first_frames(ds: AVDataset) -> list[int]:
        return [mh.frame_id((ds[i]["video"][:, 0].permute(1, 2, 0) * 255).round().byte().numpy()) for i in range(3)]

    index = _index(media, ["video_only"] * 3)
    make = lambda seed: AVDataset(index, modalities=("video",), clip_seconds=0.4, seed=seed, **SPECS)  # noqa: E731
    a, b = make(0), make(0)
    assert first_frames(a) == first_frames(b)
    starts0 = [a.clip_starts(i, 0.0, 2.0)[0] for i in range(3)]
    assert len(set(starts0)) == 3 and all(0.0 <= s <= 1.6 for s in starts0)
    a.set_epoch(1)
    assert a.epoch == 1 and [a.clip_starts(i, 0.0, 2.0)[0] for i in range(3)] != starts0
    assert [make(1).clip_starts(i, 0.0, 2.0)[0] for i in range(3)] != starts0
    assert first_frames(a) == [math.ceil(a.clip_starts(i, 0.0, 2.0)[0] * 25 - 0.5 - 1e-9) for i in range(3)]


def test_epoch_reaches_persistent_workers(media):
    ds = AVDataset(_index(media, ["video_only"] * 2), modalities=("video",), clip_seconds=0.2, **SPECS)
    loader = DataLoader(ds, batch_size=2, num_workers=1, persistent_workers=True, collate_fn=collate_samples)
    epochs = []
    for epoch in range(2):
        ds.set_epoch(epoch)
        epochs.append(next(iter(loader))["video"])
    ds.set_epoch(1)
    expected = torch.stack([ds[0]["video"], ds[1]["video"]])
    assert torch.equal(epochs[1], expected) and not torch.equal(epochs[0], epochs[1])


def test_uniform_multi_clip_sampling(media, mh):
    ds = AVDataset(_index(media, ["mp4"]), clip_seconds=0.4, sampling="uniform", num_clips=3, **SPECS)
    s = ds[0]
    assert s["video"].shape == (3, 3, 10, 48, 64) and s["audio"].shape == (3, 3200)
    firsts = [mh.frame_id((s["video"][c, :, 0].permute(1, 2, 0) * 255).round().byte().numpy()) for c in range(3)]
    assert firsts == [0, 20, 40]  # starts 0, 0.8, 1.6 s
    assert isinstance(s["label"], int)


def test_transform_gets_raw_uint8_and_a_seed(media):
    seen = []

    def transform(raw):
        seen.append(raw)
        return {"video": raw["video"][::2], "mean": raw["audio"].mean()}

    ds = AVDataset(_index(media, ["mp4"]), clip_seconds=0.4, transform=transform, **SPECS)
    s = ds[0]
    raw = seen[0]
    assert raw["video"].dtype == torch.uint8 and raw["video"].shape == (10, 48, 64, 3)
    assert raw["audio"].shape == (3200,) and (raw["fps"], raw["sample_rate"]) == (25.0, 8000)
    assert isinstance(raw["seed"], int) and ds[0] and seen[1]["seed"] == raw["seed"]
    assert set(s) == {"video", "mean", "label", "index", "id"} and s["video"].shape == (5, 48, 64, 3)


def test_audio_only_multilabel(media):
    index = DatasetIndex("m", [ManifestRow(str(media["wav"]), [0, 2], "train")], ["a", "b", "c"], multilabel=True)
    s = AVDataset(index, modalities=("audio",), clip_seconds=1.0, audio=AudioSpec(16000))[0]
    assert "video" not in s and s["audio"].shape == (16000,)
    assert torch.equal(s["label"], torch.tensor([1.0, 0.0, 1.0]))


def test_row_segment_bounds_the_clip(media, mh):
    ds = AVDataset(_index(media, ["video_only"], start=1.2, end=1.6), modalities=("video",), clip_seconds=0.4, **SPECS)
    first = (ds[0]["video"][:, 0].permute(1, 2, 0) * 255).round().byte().numpy()
    assert mh.frame_id(first) == 30


def test_cache_decodes_each_row_once(media):
    calls = []
    index = _index(media, ["mp4", "corrupt"])
    cached = AVDataset(index, clip_seconds=0.4, cache=True, **SPECS)
    real = cached.decode_clip

    def counting(*args, **kwargs):
        calls.append(args[0])
        return real(*args, **kwargs)

    cached.decode_clip = counting
    cached.preload()
    samples = []
    for epoch in range(3):
        cached.set_epoch(epoch)
        samples.append(cached[0])
        assert isinstance(cached[1], SkippedSample)
    assert len(calls) == 2  # one decode per row, failures remembered
    plain = AVDataset(index, clip_seconds=0.4, **SPECS)
    plain.set_epoch(2)
    direct = plain[0]
    assert torch.allclose(samples[2]["video"], direct["video"])
    assert not torch.equal(samples[0]["video"], direct["video"])
    assert torch.allclose(samples[2]["audio"], direct["audio"], atol=0.02)


def test_collate_nested_and_counter():
    samples = [{"v": {"g": torch.ones(2), "l": [torch.zeros(1), torch.ones(1)]}, "label": i, "id": str(i)}
               for i in range(3)]
    batch = collate_samples([*samples, SkippedSample(9, "/x.mp4", "corrupt", "bad")])
    assert batch["v"]["g"].shape == (3, 2) and batch["v"]["l"][1].shape == (3, 1)
    assert torch.equal(batch["label"], torch.tensor([0, 1, 2])) and batch["id"] == ["0", "1", "2"]
    assert batch["skipped"] == [("/x.mp4", "corrupt")]
    with pytest.raises(ValueError, match="'x'"):
        stack_tree([{"x": torch.zeros(2)}, {"x": torch.zeros(3)}])
    counter = SkipCounter()
    assert counter.report() == "no samples skipped"
    counter.update(batch)
    counter.update([SkippedSample(1, "/y.wav", "missing", "gone"), ("/x.mp4", "corrupt")])
    assert counter.summary() == {"count": 3, "by_kind": {"corrupt": 2, "missing": 1},
                                 "files": [{"path": "/x.mp4", "kind": "corrupt", "times": 2},
                                           {"path": "/y.wav", "kind": "missing", "times": 1}]}
    counter.reset()
    assert len(counter) == 0 and counter.summary()["count"] == 0
