"""Optional decoding through torchcodec (FFmpeg on the CPU, or NVDEC on an NVIDIA GPU) behind ``decode_clip``'s
contract: the same ``Clip`` with exactly ``round((end-start)·fps)`` frames and ``round((end-start)·sr)`` samples,
the same frame choice and the same short-clip policy, so a run can switch decoders without changing its data.

Why optional: PyAV (:mod:`xmodal.data.io`) is the default and the reference — it installs everywhere and is what
the tests pin down. torchcodec pays where CPU cores are what a GPU run waits on: ``torchcodec-cuda`` decodes on the
GPU's video engine. It is imported only when selected (``data.decoder``), and a missing or unloadable torchcodec is
one clear error, never a silent fall-back.

What matches PyAV and what does not:

- frames: for each target time the nearest source frame (a tie goes to the earlier, on-screen frame), read by
  index, so the choice equals PyAV's for constant-frame-rate sources; torchcodec applies the display rotation;
- resizing: torch's bilinear, antialiased resize of the decoded frames (PyAV: swscale while converting), so
  pixels differ by rounding (a few grey levels), not in content;
- audio: FFmpeg's resampler inside torchcodec (PyAV path: scipy's polyphase filter), mono by channel mean;
- plain audio files (wav/flac/ogg) stay on soundfile, as in the PyAV path.
"""

from __future__ import annotations

import functools
import math
import os
from typing import Any, Literal

import numpy as np
import torch
import torch.nn.functional as F

from xmodal.data.errors import MediaError
from xmodal.data.io import (
    AudioSpec,
    Clip,
    Short,
    VideoSpec,
    check_path,
    decode_clip,
    fit_length,
    target_size,
    uses_soundfile,
)

Decoder = Literal["pyav", "torchcodec", "torchcodec-cuda"]
DECODERS: tuple[str, ...] = ("pyav", "torchcodec", "torchcodec-cuda")


@functools.cache
def _torchcodec() -> Any:
    try:
        from torchcodec import decoders
    except Exception as err:  # ImportError, or OSError when its FFmpeg / torch libraries cannot be loaded
        raise RuntimeError(
            f"data.decoder=torchcodec: torchcodec cannot be imported here ({type(err).__name__}: "
            f"{str(err).splitlines()[0] if str(err) else ''}); install the torchcodec build that matches your torch "
            "(and FFmpeg 4–8 shared libraries), or use data.decoder=pyav"
        ) from err
    return decoders


def clip_decoder(name: Decoder) -> Any:
    """The ``decode_clip``-compatible function for ``name``; torchcodec is imported (and checked) here, once."""
    if name == "pyav":
        return decode_clip
    if name not in DECODERS:
        raise ValueError(f"decoder must be one of {', '.join(DECODERS)}, got {name!r}")
    _torchcodec()
    return functools.partial(decode_clip_torchcodec, device="cuda" if name == "torchcodec-cuda" else "cpu")


def nearest_frames(targets: np.ndarray, src_fps: float, num_frames: int) -> tuple[np.ndarray, int]:
    """Source frame index nearest to each target time (seconds from the stream's start; a tie takes the earlier
    frame) and how many targets fall within the stream (before the end of its last frame)."""
    x = targets * src_fps
    idx = np.ceil(x - 0.5 - 1e-6).astype(np.int64).clip(0, max(num_frames - 1, 0))
    valid = int(np.count_nonzero(x < num_frames - 1e-6))
    return idx, valid


def _resize(frames: torch.Tensor, size: int | tuple[int, int] | None) -> torch.Tensor:
    """(T, H, W, 3) uint8 → the spec's size (short side or exact), bilinear with antialiasing, on their device."""
    height, width = frames.shape[1:3]
    out_w, out_h = target_size(size, width, height)
    if (out_h, out_w) == (height, width):
        return frames
    x = frames.permute(0, 3, 1, 2).float()
    x = F.interpolate(x, size=(out_h, out_w), mode="bilinear", antialias=True, align_corners=False)
    return x.round_().clamp_(0, 255).to(torch.uint8).permute(0, 2, 3, 1)


def _video(decoders: Any, path: str, start: float, end: float, spec: VideoSpec, short: Short,
           device: str) -> tuple[np.ndarray, float]:
    dec = decoders.VideoDecoder(path, dimension_order="NHWC", device=device, seek_mode="exact")
    meta = dec.metadata
    src_fps, num_frames = meta.average_fps, meta.num_frames
    if not src_fps or not num_frames:
        raise MediaError(path, "unreadable", "video stream has no frame rate or no frames")
    fps = float(spec.fps or src_fps)
    n = round((end - start) * fps)
    idx, valid = nearest_frames(start + np.arange(n) / fps, float(src_fps), int(num_frames))
    if valid <= 0:
        raise MediaError(path, "too_short", "no video in the requested window")
    picked = np.unique(idx[:valid])
    frames = _resize(dec.get_frames_at(picked.tolist()).data, spec.size).cpu().numpy()
    out = frames[np.searchsorted(picked, idx[:valid])]
    return fit_length(out, valid, n, short, rate=fps, path=path, what="video"), fps


def _audio(decoders: Any, path: str, start: float, end: float, sr: int, short: Short) -> np.ndarray:
    dec = decoders.AudioDecoder(path, sample_rate=sr, num_channels=1)
    samples = dec.get_samples_played_in_range(start, end)
    wave = samples.data.float().mean(0).numpy()
    lead = round((float(samples.pts_seconds) - start) * sr)  # the stream starts after ``start``: keep sync
    if lead > 0:
        wave = np.concatenate([np.zeros(lead, np.float32), wave])
    n = round((end - start) * sr)
    seg = fit_length(wave[:n], min(len(wave), n), n, short, rate=sr, path=path, what="audio")
    return np.clip(seg, -1.0, 1.0).astype(np.float32, copy=False)


def decode_clip_torchcodec(
    path: str | os.PathLike[str], start: float | None = None, end: float | None = None, *,
    video: VideoSpec | None, audio: AudioSpec | None, short: Short = "loop", device: str = "cpu",
) -> Clip:
    """:func:`xmodal.data.io.decode_clip` through torchcodec (module doc); ``device="cuda"`` decodes on NVDEC."""
    path = str(path)
    if video is None and audio is None:
        raise ValueError("decode_clip needs a VideoSpec, an AudioSpec or both")
    if uses_soundfile(path):
        return decode_clip(path, start, end, video=video, audio=audio, short=short)
    decoders = _torchcodec()
    start = 0.0 if start is None else float(start)
    check_path(path)
    try:
        if end is None:
            dec = decoders.VideoDecoder(path) if video is not None else decoders.AudioDecoder(path)
            stop = dec.metadata.end_stream_seconds or dec.metadata.duration_seconds
            end = float(stop) if stop is not None and math.isfinite(stop) else 0.0
            if end <= start:
                raise MediaError(path, "too_short", f"duration {end:.3f}s does not reach start {start:.3f}s")
        frames, fps = _video(decoders, path, start, end, video, short, device) if video is not None else (None, None)
        wave = _audio(decoders, path, start, end, audio.sample_rate, short) if audio is not None else None
    except MediaError:
        raise
    except (RuntimeError, ValueError, OSError, IndexError) as err:
        raise MediaError(path, "corrupt", f"torchcodec: {type(err).__name__}: {err}") from err
    return Clip(
        video=torch.from_numpy(frames) if frames is not None else None,
        audio=torch.from_numpy(wave) if wave is not None else None,
        fps=fps, sample_rate=audio.sample_rate if audio is not None else None, start=start, end=end, path=path,
    )
