"""XKD views, MAViL clips, evaluation transform and test-clip sampling: shapes, windows, determinism."""

from __future__ import annotations

import pytest
import torch

from xmodal.data.features import KaldiFbankConfig, LinearSTFTConfig, LogMelConfig
from xmodal.data.views import (
    AudioViewConfig,
    EvalConfig,
    EvalTransform,
    MAViLClips,
    MAViLClipsConfig,
    VideoViewConfig,
    XKDViews,
    XKDViewsConfig,
    frame_indices,
    take_samples,
    uniform_clip_starts,
)

SR = 16000


def _gen(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def _raw(frames: int, h: int, w: int, fps: float, seconds: float, seed: int = 0) -> dict:
    g = _gen(seed)
    return {
        "video": torch.randint(0, 256, (frames, h, w, 3), dtype=torch.uint8, generator=g),
        "audio": torch.randn(int(seconds * SR), generator=g) * 0.1,
        "fps": fps,
        "sample_rate": SR,
    }


TINY = XKDViewsConfig(
    fps=4.0,
    video_global=VideoViewConfig(16, 32, (0.2, 1.0)),
    video_local=VideoViewConfig(4, 24, (0.08, 0.4), grayscale_p=0.2, blur_p=0.5),
    num_video_local=2,
    audio_global=AudioViewConfig(4.0, 0.1),
    audio_local=AudioViewConfig(1.0, 0.2, random_crop=True),
    num_audio_local=2,
    logmel=LogMelConfig(n_mels=32, n_fft=512, win_length=512),
)


def test_paper_config_values() -> None:
    cfg = XKDViewsConfig()
    assert (cfg.fps, cfg.video_global.frames, cfg.video_global.size) == (8.0, 32, 112)
    assert (cfg.video_local.frames, cfg.video_local.size) == (8, 96)
    assert cfg.video_global.crop_scale == (0.2, 1.0) and cfg.video_local.crop_scale == (0.08, 0.4)
    assert (cfg.video_global.grayscale_p, cfg.video_global.blur_p) == (0.0, 0.0)
    assert (cfg.video_local.grayscale_p, cfg.video_local.blur_p) == (0.2, 0.5)
    assert cfg.video_local.jitter == (0.4, 0.4, 0.4, 0.2)
    assert (cfg.audio_global.volume, cfg.audio_local.volume, cfg.audio_local.random_crop) == (0.1, 0.2, True)
    assert cfg.audio_local.crop_range == (0.6, 1.5) and cfg.audio_local.crop_canvas == (1.0, 1.5)
    assert cfg.logmel.n_mels == 80 and (cfg.num_video_local, cfg.num_audio_local) == (1, 1)


def test_paper_shapes() -> None:
    views = XKDViews(XKDViewsConfig(num_video_local=2, num_audio_local=2))
    out = views(_raw(32, 128, 171, 8.0, 4.0), _gen())
    assert out["video"]["global"].shape == (3, 32, 112, 112)
    assert [v.shape for v in out["video"]["local"]] == [(3, 8, 96, 96)] * 2
    assert out["audio"]["global"].shape == (1, 80, 448)
    assert [a.shape for a in out["audio"]["local"]] == [(1, 80, 112)] * 2


def test_tiny_shapes_and_determinism() -> None:
    views = XKDViews(TINY)
    raw = _raw(16, 36, 40, 4.0, 4.0)
    a, b = views(raw, _gen(1)), views(raw, _gen(1))
    assert a["video"]["global"].shape == (3, 16, 32, 32)
    assert [v.shape for v in a["video"]["local"]] == [(3, 4, 24, 24)] * 2
    assert a["audio"]["global"].shape == (1, 32, 448) and a["audio"]["local"][0].shape == (1, 32, 112)
    for m in ("video", "audio"):
        assert torch.equal(a[m]["global"], b[m]["global"])
        assert all(torch.equal(x, y) for x, y in zip(a[m]["local"], b[m]["local"], strict=True))
    c = views(raw, _gen(2))
    assert not torch.equal(a["video"]["global"], c["video"]["global"])


def test_one_modality_may_be_absent() -> None:
    raw = _raw(16, 36, 40, 4.0, 4.0)
    views = XKDViews(TINY)
    assert set(views({k: v for k, v in raw.items() if k != "audio"}, _gen())) == {"video"}
    assert set(views({**raw, "video": None}, _gen())) == {"audio"}


def test_local_video_views_come_from_short_windows_at_the_view_fps() -> None:
    frames = torch.arange(40, dtype=torch.uint8).view(40, 1, 1, 1).expand(40, 8, 8, 3).contiguous()
    cfg = XKDViewsConfig(
        fps=4.0,
        video_global=VideoViewConfig(16, 8, (1.0, 1.0), flip_p=0.0, jitter_p=0.0, crop_ratio=(1.0, 1.0)),
        video_local=VideoViewConfig(4, 8, (1.0, 1.0), flip_p=0.0, jitter_p=0.0, crop_ratio=(1.0, 1.0)),
        num_video_local=5,
        mean=(0.0, 0.0, 0.0),
        std=(1 / 255, 1 / 255, 1 / 255),
    )
    out = XKDViews(cfg)({"video": frames, "fps": 10.0}, _gen())  # decoded at 10 fps, 4 s
    glob = out["video"]["global"][0, :, 0, 0].round()
    assert torch.equal(glob, torch.tensor([0, 2, 5, 7, 10, 12, 15, 17, 20, 22, 25, 27, 30, 32, 35, 37.0]))
    firsts = set()
    for local in out["video"]["local"]:
        idx = local[0, :, 0, 0].round()
        assert set(idx.diff().tolist()) <= {2.0, 3.0}  # 1 s window: 4 frames 0.25 s apart at 10 fps
        assert idx[0] >= 0 and idx[-1] <= 39
        firsts.add(int(idx[0]))
    assert len(firsts) > 1  # independent random windows


def test_mavil_clips_shapes_cyclic_video_and_rolled_audio() -> None:
    clips = MAViLClips(MAViLClipsConfig())
    raw = _raw(20, 240, 320, 2.0, 10.0)
    out = clips(raw, _gen())
    assert out["video"].shape == (3, 8, 224, 224) and out["audio"].shape == (1, 128, 1024)
    again = clips(raw, _gen())
    assert torch.equal(out["video"], again["video"]) and torch.equal(out["audio"], again["audio"])
    short = clips(_raw(6, 240, 320, 2.0, 3.0), _gen())  # 3 s: video loops, audio loops to 10 s
    assert short["video"].shape == (3, 8, 224, 224) and short["audio"].shape == (1, 128, 1024)
    idx = frame_indices(6, 2.0, 1.5, 8, 2.0, cyclic=True)
    assert idx.tolist() == [3, 4, 5, 0, 1, 2, 3, 4]


@pytest.mark.parametrize(
    ("frontend", "shape"),
    [
        (LogMelConfig(), (1, 80, 448)),
        (KaldiFbankConfig(target_length=None), (1, 128, 398)),
        (LinearSTFTConfig(), (1, 257, 400)),
    ],
)
def test_eval_transform_is_deterministic(frontend, shape) -> None:
    tf = EvalTransform(EvalConfig(frontend=frontend, resize_short=128))
    raw = _raw(40, 120, 160, 10.0, 4.0)
    a, b = tf(raw), tf(raw)
    assert a["video"].shape == (3, 32, 112, 112) and a["audio"].shape == shape
    assert torch.equal(a["video"], b["video"]) and torch.equal(a["audio"], b["audio"])


def test_take_samples_loops_short_audio() -> None:
    wave = torch.arange(5.0)
    assert take_samples(wave, 3, 6).tolist() == [3, 4, 0, 1, 2, 3]
    assert take_samples(wave, 1, 3).tolist() == [1, 2, 3]


def test_uniform_clip_starts() -> None:
    assert uniform_clip_starts(10.0, 4.0, 3) == [0.0, 3.0, 6.0]
    assert uniform_clip_starts(10.0, 4.0, 1) == [3.0]
    assert uniform_clip_starts(3.0, 4.0, 3) == [0.0, 0.0, 0.0]
    starts = uniform_clip_starts(10.0, 1.0, 10)
    assert starts[0] == 0.0 and starts[-1] == 9.0 and len(starts) == 10
    with pytest.raises(ValueError):
        uniform_clip_starts(10.0, 4.0, 0)
