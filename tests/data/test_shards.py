"""Streaming shards: writing (bad files reported), the same samples as the source files, rank/worker splitting,
epoch advance and mid-epoch resume. Tiny clips written here: every clip's frames carry a different frame id."""

from __future__ import annotations

import json
import tarfile
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import torch

from xmodal.cli.main import main
from xmodal.data.dataset import AVDataset, read_manifest
from xmodal.data.features import LogMelConfig
from xmodal.data.io import AudioSpec, VideoSpec
from xmodal.data.shard_dataset import ShardDataset, ShardLoader
from xmodal.data.shard_format import ShardGeometry, read_index, rows_hash
from xmodal.data.shard_plan import rank_length
from xmodal.data.shard_write import write_shards
from xmodal.data.views import AudioViewConfig, VideoViewConfig, XKDViews, XKDViewsConfig
from xmodal.methods.pretrain_data import SeededViews

GEOMETRY = dict(fps=8.0, size=32, sample_rate=16000)
VIEWS = XKDViewsConfig(fps=8.0, video_global=VideoViewConfig(8, 24, (0.2, 1.0)),
                       video_local=VideoViewConfig(4, 16, (0.08, 0.4), grayscale_p=0.2, blur_p=0.5),
                       audio_global=AudioViewConfig(1.0, 0.1), audio_local=AudioViewConfig(0.5, 0.2, random_crop=True),
                       logmel=LogMelConfig(n_mels=16, n_fft=256, win_length=256))
TRAIN = 11  # good training rows


@pytest.fixture(scope="module")
def sharded(tmp_path_factory: pytest.TempPathFactory, mh: SimpleNamespace) -> SimpleNamespace:
    root = tmp_path_factory.mktemp("shards")
    media = root / "media"
    media.mkdir()
    lines = ["path,label,split"]
    for k in range(TRAIN + 2):
        def image(i: int, w: int, h: int, flash: bool, k: int = k) -> np.ndarray:
            img = np.full((h, w, 3), 40, np.uint8)
            for b in range(8):  # frame id i + 20k as 8 bright/dark blocks over the whole frame
                if ((i + 20 * k) >> b) & 1:
                    img[:, b * w // 8 : (b + 1) * w // 8] = 230
            return img

        mh.write_av(media / f"c{k}.mp4", seconds=2.0 + 0.1 * k, size=(64, 48), image=image)
        lines.append(f"c{k}.mp4,{k % 3},{'train' if k < TRAIN else 'val'}")
    (media / "bad.mp4").write_bytes(b"not a video" * 50)
    lines.insert(4, "bad.mp4,1,train")  # row 3 of the training split
    (media / "manifest.csv").write_text("\n".join(lines) + "\n")
    index = read_manifest(media / "manifest.csv")
    raw = write_shards(index, root / "raw", geometry=ShardGeometry(**GEOMETRY, encoding="raw"), samples_per_shard=3)
    h264 = write_shards(index, root / "h264", geometry=ShardGeometry(**GEOMETRY), samples_per_shard=4, workers=2)
    return SimpleNamespace(root=root, index=index, raw=raw, h264=h264)


def _dataset(source: Path | str, *, seed: int = 5, **kw: object) -> ShardDataset:
    args: dict = dict(clip_seconds=1.5, video=VideoSpec(fps=8, size=32), audio=AudioSpec(16000),
                      transform=SeededViews(XKDViews(VIEWS)), seed=seed, batch_size=2, buffer=4)
    args.update(kw)
    return ShardDataset(str(source), "train", **args)


def _leaves(tree: object) -> list[torch.Tensor]:
    if isinstance(tree, dict):
        return [t for k in sorted(tree) for t in _leaves(tree[k])]
    if isinstance(tree, (list, tuple)):
        return [t for x in tree for t in _leaves(x)]
    return [tree] if isinstance(tree, torch.Tensor) else []


def _ids(loader: ShardLoader) -> list[int]:
    return [int(i) for batch in loader for i in batch["index"]]


def test_shards_hold_every_good_row_once_and_report_the_bad_file(sharded: SimpleNamespace) -> None:
    report = sharded.raw
    assert report.samples == {"train": TRAIN, "val": 2} and report.shards == {"train": 4, "val": 1}
    assert [(s, p.index, Path(p.path).name, p.kind) for s, p in report.problems] == [("train", 3, "bad.mp4",
                                                                                        "corrupt")]
    shards = read_index(str(sharded.root / "raw"))
    assert shards.counts("train") == [3, 3, 3, 2]
    assert shards.source_hash == rows_hash(sharded.index.rows, sharded.index.classes)
    assert [s["path"].endswith("bad.mp4") for s in shards.skipped] == [True]
    keys = []
    for url in shards.shard_urls("train"):
        with tarfile.open(url) as tar:
            keys += sorted({m.name.split(".")[0] for m in tar.getmembers()})
    assert keys == [f"{i:09d}" for i in range(TRAIN + 1) if i != 3]  # row ids of the split, the bad one left out
    with tarfile.open(read_index(str(sharded.root / "h264")).shard_urls("train")[0]) as tar:
        assert {m.name.split(".", 1)[1] for m in tar.getmembers()} == {"flac", "json", "mp4"}


def test_cli_shard_lists_the_bad_file(sharded: SimpleNamespace, tmp_path: Path,
                                      capsys: pytest.CaptureFixture[str]) -> None:
    out, report = tmp_path / "s", tmp_path / "r.json"
    code = main(["data", "shard", str(sharded.root / "media" / "manifest.csv"), "--out", str(out), "--size", "32",
                 "--split", "val", "--split", "train", "--workers", "0", "--raw", "--json", str(report)])
    printed = capsys.readouterr().out
    assert code == 0 and "bad.mp4" in printed and "1 bad" in printed and "13/14 items written" in printed
    data = json.loads(report.read_text())
    assert data["bad"] == 1 and data["counts"] == {"corrupt": 1} and data["samples"] == {"val": 2, "train": TRAIN}
    assert main(["data", "shard", "x.csv", "--out", str(out), "--modalities", "video,smell"]) == 2


def test_raw_shards_give_the_batches_of_the_source_files(sharded: SimpleNamespace) -> None:
    shards = _dataset(sharded.root / "raw")
    source = AVDataset(sharded.index.split("train"), clip_seconds=1.5, video=VideoSpec(fps=8, size=32),
                       audio=AudioSpec(16000), transform=SeededViews(XKDViews(VIEWS)), seed=5, cache=True)
    for epoch in (0, 3):
        shards.set_epoch(epoch)
        source.set_epoch(epoch)
        batches = list(ShardLoader(shards))
        assert sum(len(b["index"]) for b in batches) == rank_length(TRAIN, 1, 2, True)
        for batch in batches:
            for j, i in enumerate(batch["index"].tolist()):
                ref = source[i]
                assert batch["id"][j] == ref["id"] and int(batch["label"][j]) == ref["label"]
                got, want = _leaves({m: batch[m] for m in ("video", "audio")}), _leaves({m: ref[m] for m in
                                                                                         ("video", "audio")})
                assert len(got) == len(want) == 4  # a global and a local view of each modality
                for g, w in zip(got, want, strict=True):
                    assert torch.equal(g[j], w)


def test_h264_shards_differ_from_the_source_only_by_the_codec(sharded: SimpleNamespace) -> None:
    plain = dict(transform=None, clip_seconds=2.0, sampling="center", drop_last=False)
    coded = {s["index"]: s for s in _dataset(sharded.root / "h264", **plain)}
    exact = {s["index"]: s for s in _dataset(sharded.root / "raw", **plain)}
    assert coded.keys() == exact.keys()
    for i in coded:
        assert (coded[i]["video"] - exact[i]["video"]).abs().mean() < 0.01
        assert (coded[i]["audio"] - exact[i]["audio"]).abs().max() < 1e-3
    assert (coded[0]["video"] - exact[1]["video"]).abs().mean() > 0.05  # another clip is far away


def test_ranks_and_workers_split_an_epoch_without_duplicates(sharded: SimpleNamespace) -> None:
    world, seen = 3, []
    for rank in range(world):
        ids = _ids(ShardLoader(_dataset(sharded.root / "raw", rank=rank, world=world), num_workers=2 if rank else 0))
        assert len(ids) == rank_length(TRAIN, world, 2, True) == 2 and len(set(ids)) == len(ids)
        seen += ids
    assert len(set(seen)) == len(seen)
    one = _dataset(sharded.root / "raw", rank=0, world=1, batch_size=3)
    for workers in (1, 2, 3):  # each worker count reads the rank's samples once (the order depends on it)
        assert sorted(_ids(ShardLoader(one, num_workers=workers))) == sorted(_ids(ShardLoader(one)))
    assert sorted(_ids(ShardLoader(_dataset(sharded.root / "raw", drop_last=False, batch_size=4)))) == [
        i for i in range(TRAIN + 1) if i != 3]


def test_epochs_reshuffle_and_redraw_views(sharded: SimpleNamespace) -> None:
    ds = _dataset(sharded.root / "raw", batch_size=1)
    first = {int(s["index"]): s["video"]["global"] for s in ds}
    order0 = list(first)
    ds.set_epoch(1)
    second = {int(s["index"]): s["video"]["global"] for s in ds}
    assert list(second) != order0 and sorted(second) == sorted(first)
    assert all(not torch.equal(first[i], second[i]) for i in first)
    loader = ShardLoader(ds, num_workers=1)  # one persistent worker sees each epoch's plan
    ds.set_epoch(0)
    assert _ids(loader) == order0
    ds.set_epoch(1)
    assert _ids(loader) == list(second)


@pytest.mark.parametrize(("before", "after"), [(0, 0), (2, 2), (2, 3), (0, 2)])
def test_resume_mid_epoch_continues_at_the_next_sample(sharded: SimpleNamespace, before: int, after: int) -> None:
    full = _ids(ShardLoader(_dataset(sharded.root / "raw", batch_size=2), num_workers=before))
    killed = ShardLoader(_dataset(sharded.root / "raw", batch_size=2), num_workers=before)
    done: list[int] = []
    for k, batch in enumerate(killed):
        done += batch["index"].tolist()
        if k == 1:
            break
    state = json.loads(json.dumps(killed.state_dict()))  # checkpoint-safe: plain JSON types
    resumed = ShardLoader(_dataset(sharded.root / "raw", batch_size=2), num_workers=after)
    resumed.load_state_dict(state)
    rest = _ids(resumed)
    assert len(done) == 4 and len(rest) == len(full) - 4 and done == full[:4]
    if before == after:
        assert rest == full[4:]  # the uninterrupted continuation
    assert sorted(done + rest) == sorted(full)  # every sample once, whatever the worker count
    again = _ids(resumed)  # the state is used once: the next iterator is a whole epoch again
    assert len(again) == len(full) and sorted(again) == sorted(full)


def test_geometry_mismatch_names_the_index_and_the_fix(sharded: SimpleNamespace) -> None:
    with pytest.raises(ValueError, match=r"index\.json.*short side 64 \(shards: 32\).*xmodal data shard"):
        _dataset(sharded.root / "raw", video=VideoSpec(fps=8, size=64))
    with pytest.raises(ValueError, match="no split 'test'"):
        ShardDataset(str(sharded.root / "raw"), "test", clip_seconds=1.0, video=VideoSpec(fps=8, size=32))


def test_shards_stream_through_a_webdataset_url(sharded: SimpleNamespace) -> None:
    local = _ids(ShardLoader(_dataset(sharded.root / "raw")))
    piped = _dataset(f"pipe:cat {sharded.root / 'raw' / 'index.json'}")
    assert piped.urls[0] == f"pipe:cat {sharded.root / 'raw' / 'train-000000.tar'}"
    assert _ids(ShardLoader(piped)) == local
