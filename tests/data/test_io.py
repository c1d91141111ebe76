"""Decoding: frame selection by timestamp, fps resampling, resize, audio resampling, sync, formats, no leaks."""

from __future__ import annotations

import math
import os

import numpy as np
import pytest
import torch

from xmodal.data import io
from xmodal.data.errors import MediaError
from xmodal.data.io import AudioSpec, VideoSpec, decode_clip, probe


def test_probe_reports_streams_and_duration(media):
    info = probe(media["mp4"])
    assert (info.has_video, info.has_audio, info.fps, info.width, info.height) == (True, True, 25.0, 64, 48)
    assert (info.sample_rate, info.channels) == (44100, 2)
    assert info.duration == pytest.approx(2.0, abs=0.05)
    assert not probe(media["video_only"]).has_audio
    wav = probe(media["wav"])
    assert (wav.has_video, wav.has_audio, wav.sample_rate, wav.channels) == (False, True, 44100, 2)


def test_sync_start_offset_is_honoured(media, mh):
    """Window [0.8, 1.6) at the source rate: frames 20..39, the flash (t=1.0) at frame 5, the burst at 0.2 s."""
    clip = decode_clip(media["mp4"], 0.8, 1.6, video=VideoSpec(), audio=AudioSpec(16000))
    frames = clip.video.numpy()
    assert clip.video.dtype == torch.uint8 and clip.video.shape == (20, 48, 64, 3)
    assert [mh.frame_id(f) for f in frames] == list(range(20, 40))
    assert [i for i, f in enumerate(frames) if mh.is_flash(f)] == [5]
    onset = int(np.argmax(np.abs(clip.audio.numpy()) > 0.6))
    assert abs(onset - 3200) <= 16  # within 1 ms
    assert (clip.fps, clip.sample_rate, clip.start, clip.end) == (25.0, 16000, 0.8, 1.6)


@pytest.mark.parametrize("name", ["mp4", "avi", "mkv", "webm", "flv"])
def test_every_container_format(media, mh, name):
    clip = decode_clip(media[name], 0.8, 1.6, video=VideoSpec(), audio=AudioSpec(16000))
    assert clip.video.shape == (20, 48, 64, 3) and clip.audio.shape == (12800,)
    assert clip.audio.dtype == torch.float32 and float(clip.audio.abs().max()) <= 1.0
    ids = [mh.frame_id(f) for f in clip.video.numpy()]
    assert np.all(np.diff(ids) == 1) and ids[0] in (19, 20)  # muxers differ by up to one frame of start offset
    assert [i for i, f in enumerate(clip.video.numpy()) if mh.is_flash(f)] in ([5], [6])
    onset = int(np.argmax(np.abs(clip.audio.numpy()) > 0.6))
    assert abs(onset - 3200) <= 0.03 * 16000  # mp3 encoder delay in avi/flv is ~26 ms


def _nearest(times: np.ndarray) -> list[int]:
    """Source frame (25 fps, t_i = i/25) nearest to each time; ties go to the frame already on screen."""
    return [math.ceil(t * 25 - 0.5 - 1e-9) for t in times]


WINDOWS = [(0.0, 2.0, 8.0), (0.5, 1.0, 50.0), (0.13, 1.07, 7.5), (0.3, 1.3, 25)]


@pytest.mark.parametrize(("start", "end", "fps"), WINDOWS)
def test_frame_selection_and_counts(media, mh, start, end, fps):
    clip = decode_clip(media["video_only"], start, end, video=VideoSpec(fps=fps), audio=None)
    n = round((end - start) * fps)
    assert clip.video.shape[0] == n and clip.audio is None
    assert [mh.frame_id(f) for f in clip.video.numpy()] == _nearest(start + np.arange(n) / fps)


@pytest.mark.parametrize(("start", "end"), [(0.0, 1.0), (0.13, 1.07), (0.251, 1.999)])
def test_sample_counts_are_exact(media, start, end):
    for name in ("mp4", "wav", "flac", "ogg"):
        clip = decode_clip(media[name], start, end, video=None, audio=AudioSpec(16000))
        assert clip.audio.shape == (round((end - start) * 16000),), name


def test_whole_file_when_no_window(media):
    clip = decode_clip(media["mp4"], video=VideoSpec(fps=8), audio=AudioSpec(8000))
    assert clip.video.shape[0] == 16 and clip.audio.shape == (16000,) and clip.end == pytest.approx(2.0, abs=0.05)


def test_resize_while_decoding(media):
    assert decode_clip(media["mp4"], 0, 0.4, video=VideoSpec(size=24), audio=None).video.shape == (10, 24, 32, 3)
    assert decode_clip(media["mp4"], 0, 0.4, video=VideoSpec(size=(32, 40)), audio=None).video.shape == (10, 32, 40, 3)


def test_grayscale_and_odd_sized_frames_come_out_rgb(media, mh):
    gray = decode_clip(media["gray"], 0.4, 0.8, video=VideoSpec(), audio=None).video.numpy()
    assert gray.shape == (10, 48, 64, 3)
    assert np.array_equal(gray[..., 0], gray[..., 1]) and np.array_equal(gray[..., 1], gray[..., 2])
    assert [mh.frame_id(f) for f in gray] == list(range(10, 20))
    odd = decode_clip(media["odd"], 0.4, 0.8, video=VideoSpec(), audio=None).video.numpy()
    assert odd.shape == (10, 61, 97, 3) and [mh.frame_id(f) for f in odd] == list(range(10, 20))
    short_side = decode_clip(media["odd"], 0, 0.4, video=VideoSpec(size=30), audio=None).video
    assert short_side.shape == (10, 30, 48, 3)  # 97 * 30 / 61 = 47.7
    assert decode_clip(media["odd"], 0, 0.4, video=VideoSpec(size=(33, 17)), audio=None).video.shape == (10, 33, 17, 3)


@pytest.mark.parametrize("name", ["wav", "mp4", "flac", "ogg", "audio_only_m4a"])
def test_audio_resampled_to_16k_mono(media, mh, name):
    """A 440 Hz sine (44.1 kHz stereo wav, AAC, 22.05 kHz flac, ...) comes back at 16 kHz mono, peak at 440 Hz."""
    clip = decode_clip(media[name], 0.1, 0.9, video=None, audio=AudioSpec(16000))
    wave = clip.audio.numpy()
    spectrum = np.abs(np.fft.rfft(wave * np.hanning(len(wave))))
    assert np.fft.rfftfreq(len(wave), 1 / 16000)[spectrum.argmax()] == pytest.approx(mh.sine_hz, abs=1.5)
    reference = 0.3 * np.sin(2 * np.pi * mh.sine_hz * (0.1 + np.arange(len(wave)) / 16000))
    tolerance = {"wav": 1e-3, "flac": 1e-3}.get(name, 0.04)  # lossless vs lossy codecs
    assert np.abs(wave - reference)[50:-50].max() < tolerance


def test_video_request_never_decodes_audio_and_vice_versa(media, monkeypatch):
    def boom(*args, **kwargs):
        raise AssertionError("decoded a stream that was not requested")

    monkeypatch.setattr(io, "_resample_stream", boom)
    assert decode_clip(media["mp4"], 0.2, 0.6, video=VideoSpec(), audio=None).video.shape[0] == 10
    monkeypatch.undo()
    monkeypatch.setattr(io, "_pick_frames", boom)
    assert decode_clip(media["mp4"], 0.2, 0.6, video=None, audio=AudioSpec()).audio.shape == (6400,)


def test_unseekable_start_falls_back_to_decoding_from_the_top(media, mh):
    """flv cannot seek before its first keyframe (video starts at 25 ms): the decoder reopens and reads on."""
    clip = decode_clip(media["flv"], 0.05, 0.45, video=VideoSpec(), audio=AudioSpec())
    ids = [mh.frame_id(f) for f in clip.video.numpy()]
    assert len(ids) == 10 and np.all(np.diff(ids) >= 0) and ids[-1] - ids[0] == 9


def test_invalid_arguments(media):
    with pytest.raises(ValueError, match="VideoSpec"):
        decode_clip(media["mp4"], video=None, audio=None)
    with pytest.raises(ValueError, match="invalid clip window"):
        decode_clip(media["mp4"], 1.0, 0.5, video=VideoSpec(), audio=None)
    with pytest.raises(ValueError, match="short"):
        decode_clip(media["mp4"], video=VideoSpec(), audio=None, short="wrap")  # type: ignore[arg-type]


def _open_fds() -> int:
    return len(os.listdir("/proc/self/fd"))


def test_no_descriptor_leak_over_hundreds_of_files(media):
    vspec, aspec = VideoSpec(fps=8, size=16), AudioSpec(8000)
    decode_clip(media["mp4"], 0.5, 1.0, video=vspec, audio=aspec)
    before = _open_fds()
    for i in range(500):
        start = (i % 10) / 10
        if i % 5 == 0:
            decode_clip(media["wav"], start, start + 0.5, video=None, audio=aspec)
        elif i % 5 == 1:
            with pytest.raises(MediaError):
                decode_clip(media["corrupt" if i % 2 else "truncated"], video=vspec, audio=None)
        elif i % 5 == 2:
            with pytest.raises(MediaError):
                decode_clip(media["video_only"], start, start + 0.5, video=vspec, audio=aspec)
        else:
            decode_clip(media["mp4"], start, start + 0.5, video=vspec, audio=aspec)
        probe(media["mp4"])
    assert _open_fds() <= before


def _corner_marker(i: int, width: int, height: int, flash: bool) -> np.ndarray:
    """Dark frame with a bright block in the top-left corner of the stored (coded) picture."""
    img = np.full((height, width, 3), 20, np.uint8)
    img[: height // 4, : width // 4] = 235
    return img


@pytest.mark.parametrize(("rotation", "corner"), [(-90, "top_right"), (90, "bottom_left"), (180, "bottom_right")])
def test_display_matrix_turns_phone_videos_upright(tmp_path, mh, rotation, corner):
    """A phone stores a portrait video as landscape pixels plus a display matrix; players turn it upright and so
    must the decoder (before: frames came out sideways, 48x64 instead of 64x48)."""
    path = mh.write_av(tmp_path / f"phone{rotation}.mp4", size=(64, 48), acodec=None, image=_corner_marker,
                       rotation=rotation)
    clip = decode_clip(path, 0.0, 0.4, video=VideoSpec(), audio=None)
    frames = clip.video.numpy()
    assert frames.shape[1:3] == ((48, 64) if rotation == 180 else (64, 48))  # (H, W) of the upright picture
    h, w = frames.shape[1:3]
    quads = {"top_left": frames[:, : h // 2, : w // 2], "top_right": frames[:, : h // 2, w // 2 :],
             "bottom_left": frames[:, h // 2 :, : w // 2], "bottom_right": frames[:, h // 2 :, w // 2 :]}
    assert max(quads, key=lambda name: quads[name].mean()) == corner
    small = decode_clip(path, 0.0, 0.4, video=VideoSpec(size=32), audio=None).video
    assert small.shape[1:3] == ((32, 43) if rotation == 180 else (43, 32))  # short side 32 of the upright picture
