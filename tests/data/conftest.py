"""Real media files written once per session with PyAV and soundfile (nothing is downloaded).

Every video frame carries its index as 8 black/white blocks in its top third (``frame_id`` reads it back), and
one frame at ``FLASH_T`` seconds is white in its bottom half while the audio has a loud burst at the same time,
so tests can check frame selection, fps resampling and audio-video sync on decoded output.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from fractions import Fraction
from pathlib import Path
from types import SimpleNamespace

import av
import numpy as np
import pytest
import soundfile as sf

FPS = 25
FLASH_T = 1.0
SINE_HZ = 440.0


def frame_image(i: int, width: int, height: int, flash: bool) -> np.ndarray:
    img = np.full((height, width, 3), 40, np.uint8)
    bw = width // 8
    for b in range(8):
        if (i >> b) & 1:
            img[: height // 3, b * bw : (b + 1) * bw] = 230
    if flash:
        img[height // 2 :] = 230
    return img


def frame_id(img: np.ndarray) -> int:
    """Inverse of :func:`frame_image` on a decoded (H, W, 3) frame at its native size."""
    height, width = img.shape[:2]
    bw = width // 8
    band = img[: height // 3].astype(np.float32).mean(axis=(0, 2))
    return sum(1 << b for b in range(8) if band[b * bw + bw // 4 : (b + 1) * bw - bw // 4].mean() > 135)


def is_flash(img: np.ndarray) -> bool:
    return float(img[img.shape[0] // 2 + 2 :].mean()) > 135


def audio_signal(seconds: float, sr: int, channels: int) -> np.ndarray:
    """(channels, samples): a 0.3-amplitude 440 Hz sine with a 0.9-amplitude 20 ms burst at ``FLASH_T``."""
    t = np.arange(round(seconds * sr)) / sr
    x = 0.3 * np.sin(2 * np.pi * SINE_HZ * t)
    burst = (t >= FLASH_T) & (t < FLASH_T + 0.02)
    x[burst] = 0.9 * np.sign(np.sin(2 * np.pi * 1000.0 * t[burst]) + 1e-9)
    return np.repeat(x[None].astype(np.float32), channels, axis=0)


def write_av(
    path: Path,
    *,
    seconds: float = 2.0,
    size: tuple[int, int] = (64, 48),
    vcodec: str | None = "libx264",
    pix_fmt: str = "yuv420p",
    acodec: str | None = "aac",
    sample_rate: int = 44100,
    channels: int = 2,
    image: Callable[[int, int, int, bool], np.ndarray] = frame_image,
    rotation: int | None = None,
) -> Path:
    """Write a container with an optional video stream (W, H = ``size``) and an optional audio stream;
    ``rotation`` stores a display matrix (degrees counter-clockwise), as phones do for portrait videos."""
    width, height = size
    with av.open(str(path), "w") as out:
        vs = as_ = None
        if vcodec is not None:
            vs = out.add_stream(vcodec, rate=FPS)
            vs.width, vs.height, vs.pix_fmt = width, height, pix_fmt
            if rotation is not None:
                vs.set_display_rotation(rotation)
            if vcodec == "libx264":
                vs.options = {"crf": "12", "g": "10", "preset": "ultrafast"}
            elif vcodec in ("mpeg4", "flv", "libvpx"):
                vs.bit_rate = 2_000_000
                vs.codec_context.gop_size = 10
        if acodec is not None:
            as_ = out.add_stream(acodec, rate=sample_rate)
            as_.layout = "stereo" if channels == 2 else "mono"
        if vs is not None:
            for i in range(round(seconds * FPS)):
                img = image(i, width, height, abs(i / FPS - FLASH_T) < 1e-9)
                fmt = "gray" if img.ndim == 2 else "rgb24"
                frame = av.VideoFrame.from_ndarray(img, format=fmt).reformat(format=pix_fmt)
                frame.pts, frame.time_base = i, Fraction(1, FPS)
                out.mux(vs.encode(frame))
            out.mux(vs.encode(None))
        if as_ is not None:
            wave = audio_signal(seconds, sample_rate, channels)
            block = 1024
            for j in range(0, wave.shape[1], block):
                frame = av.AudioFrame.from_ndarray(
                    np.ascontiguousarray(wave[:, j : j + block]), format="fltp", layout=as_.layout.name
                )
                frame.sample_rate, frame.pts, frame.time_base = sample_rate, j, Fraction(1, sample_rate)
                out.mux(as_.encode(frame))
            out.mux(as_.encode(None))
    return path


def gray_image(i: int, width: int, height: int, flash: bool) -> np.ndarray:
    return frame_image(i, width, height, flash)[..., 0]


@pytest.fixture(scope="session")
def media(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("media")
    files: dict[str, Path] = {
        "mp4": write_av(d / "av.mp4", seconds=2.0),
        "video_only": write_av(d / "video_only.mp4", acodec=None),
        "avi": write_av(d / "clip.avi", vcodec="mpeg4", acodec="mp3"),
        "mkv": write_av(d / "clip.mkv", acodec="flac", channels=1, sample_rate=22050),
        "webm": write_av(d / "clip.webm", vcodec="libvpx", acodec="libopus", sample_rate=48000),
        "flv": write_av(d / "clip.flv", vcodec="flv", acodec="mp3"),
        "audio_only_m4a": write_av(d / "audio.m4a", vcodec=None),
        "short": write_av(d / "short.mp4", seconds=1.0),
        "gray": write_av(d / "gray.mkv", vcodec="ffv1", pix_fmt="gray", acodec=None, image=gray_image),
        "odd": write_av(d / "odd.mkv", size=(97, 61), vcodec="ffv1", pix_fmt="yuv444p", acodec=None),
    }
    wave = audio_signal(2.0, 44100, 2)
    files["wav"] = d / "stereo44k.wav"
    sf.write(files["wav"], wave.T, 44100, subtype="PCM_16")
    files["flac"] = d / "mono22k.flac"
    sf.write(files["flac"], audio_signal(2.0, 22050, 1)[0], 22050)
    files["ogg"] = d / "clip.ogg"
    sf.write(files["ogg"], audio_signal(2.0, 32000, 1)[0], 32000, format="OGG", subtype="VORBIS")
    files["silent"] = d / "silent.wav"
    sf.write(files["silent"], np.zeros(16000 * 2, np.float32), 16000)
    files["empty"] = d / "empty.wav"
    sf.write(files["empty"], np.zeros(0, np.float32), 16000)
    files["corrupt"] = d / "corrupt.mp4"
    files["corrupt"].write_bytes(np.random.default_rng(0).integers(0, 256, 4096, dtype=np.uint8).tobytes())
    files["truncated"] = d / "truncated.mp4"
    files["truncated"].write_bytes(files["mp4"].read_bytes()[: files["mp4"].stat().st_size // 2])
    files["corrupt_wav"] = d / "corrupt.wav"
    files["corrupt_wav"].write_bytes(b"RIFF\x00\x00\x00\x00WAVEjunkjunkjunk")
    files["missing"] = d / "does_not_exist.mp4"
    return files


def write_manifest(folder: Path, text: str, sidecar: dict | None = None, name: str = "manifest.csv") -> Path:
    """A manifest CSV (and optional ``manifest.json`` sidecar) in ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_text(text)
    if sidecar is not None:
        (folder / "manifest.json").write_text(json.dumps(sidecar))
    return path


@pytest.fixture(scope="session")
def mh() -> SimpleNamespace:
    """The helpers above, for test modules (a conftest cannot be imported by name next to other conftests)."""
    return SimpleNamespace(frame_id=frame_id, is_flash=is_flash, write_av=write_av, write_manifest=write_manifest,
                           fps=FPS, flash_t=FLASH_T, sine_hz=SINE_HZ)
