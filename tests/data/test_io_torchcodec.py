"""The torchcodec decoder keeps ``decode_clip``'s contract: PyAV's frame choice, exact lengths, audio in sync, one
clear error when torchcodec cannot be imported, and selection by ``data.decoder`` (with a stand-in torchcodec:
tests/data/fake_torchcodec.py says why)."""

from __future__ import annotations

import sys
import types
from pathlib import Path

import fake_torchcodec  # tests/data is on sys.path (pytest rootdir-relative imports)
import numpy as np
import pytest
import torch

from xmodal.data import io_torchcodec
from xmodal.data.dataset import AVDataset, DatasetIndex, ManifestRow
from xmodal.data.errors import MediaError
from xmodal.data.io import AudioSpec, VideoSpec, decode_clip
from xmodal.data.io_torchcodec import clip_decoder, decode_clip_torchcodec, nearest_frames


@pytest.fixture()
def fake(monkeypatch: pytest.MonkeyPatch) -> types.ModuleType:
    package = types.ModuleType("torchcodec")
    package.decoders = fake_torchcodec  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "torchcodec", package)
    monkeypatch.setitem(sys.modules, "torchcodec.decoders", fake_torchcodec)
    io_torchcodec._torchcodec.cache_clear()
    fake_torchcodec.calls.clear()
    yield package
    io_torchcodec._torchcodec.cache_clear()


def test_nearest_frame_ties_go_to_the_frame_on_screen() -> None:
    idx, valid = nearest_frames(np.array([0.0, 0.02, 0.04, 0.05, 0.06, 0.39, 0.41]), 25.0, 10)
    assert idx.tolist() == [0, 0, 1, 1, 1, 9, 9] and valid == 6  # 0.02 s is half way: frame 0 is on screen


@pytest.mark.parametrize("fps,size", [(8.0, None), (25.0, None), (10.0, 32)])
def test_frames_and_audio_match_pyav(media: dict[str, Path], fake: types.ModuleType, fps: float,
                                     size: int | None) -> None:
    spec, audio = VideoSpec(fps=fps, size=size), AudioSpec(16000)
    ref = decode_clip(media["mp4"], 0.3, 1.5, video=spec, audio=audio)
    got = decode_clip_torchcodec(media["mp4"], 0.3, 1.5, video=spec, audio=audio)
    assert got.video.shape == ref.video.shape and got.audio.shape == ref.audio.shape and got.fps == ref.fps
    diff = (got.video.float() - ref.video.float()).abs().mean()
    assert diff == 0 if size is None else diff < 4.0  # resize: torch antialiased bilinear vs swscale
    corr = np.corrcoef(got.audio.numpy(), ref.audio.numpy())[0, 1]
    assert corr > 0.99  # same window (in sync); resamplers differ
    assert ("video", "cpu") in fake_torchcodec.calls


def test_past_the_end_follows_the_short_policy(media: dict[str, Path], fake: types.ModuleType) -> None:
    spec = VideoSpec(fps=10.0)
    ref = decode_clip(media["short"], 0.5, 1.5, video=spec, audio=None, short="pad")
    got = decode_clip_torchcodec(media["short"], 0.5, 1.5, video=spec, audio=None, short="pad")
    assert torch.equal(got.video, ref.video)
    with pytest.raises(MediaError, match=r"short"):
        decode_clip_torchcodec(media["short"], 0.5, 1.5, video=spec, audio=None, short="error")
    with pytest.raises(MediaError):
        decode_clip_torchcodec(media["corrupt"], 0.0, 1.0, video=spec, audio=None)


def test_selection_by_name_and_a_clear_error_without_torchcodec(media: dict[str, Path], fake: types.ModuleType,
                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    assert clip_decoder("pyav") is decode_clip
    index = DatasetIndex("t", [ManifestRow(str(media["mp4"]), [0], "train", None, None, "a")], ["x"])
    args = {"modalities": ("video",), "clip_seconds": 1.0, "video": VideoSpec(fps=8.0, size=32), "sampling": "center"}
    reference = AVDataset(index, **args)[0]["video"]
    fake_torchcodec.calls.clear()
    streamed = AVDataset(index, decoder="torchcodec-cuda", **args)[0]["video"]
    assert streamed.shape == reference.shape and fake_torchcodec.calls == [("video", "cuda")]
    monkeypatch.setitem(sys.modules, "torchcodec", None)  # "import torchcodec" now raises ImportError
    io_torchcodec._torchcodec.cache_clear()
    with pytest.raises(RuntimeError, match=r"data.decoder=torchcodec: torchcodec cannot be imported.*pyav"):
        clip_decoder("torchcodec")


def test_config_refuses_what_cannot_work(media: dict[str, Path], fake: types.ModuleType) -> None:
    from xmodal.config import ConfigError
    from xmodal.methods.pretrain_data import training_loader
    from xmodal.methods.source_config import ClipSourceConfig
    from xmodal.training.trainer import TrainerConfig

    with pytest.raises(ConfigError, match="shard"):
        ClipSourceConfig(source="https://host/k400/index.json", decoder="torchcodec").validate()
    index = DatasetIndex("t", [ManifestRow(str(media["mp4"]), [0], "train", None, None, "a")], ["x"])
    dataset = AVDataset(index, modalities=("video",), clip_seconds=1.0, decoder="torchcodec-cuda")
    with pytest.raises(ValueError, match="num_workers=0"):
        training_loader(dataset, TrainerConfig(num_workers=2))
    assert len(training_loader(dataset, TrainerConfig(num_workers=0, batch_size=1))) == 1
