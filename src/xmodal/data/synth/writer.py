"""Mux frames and a waveform into an MP4 (H.264 + AAC) with PyAV, byte-for-byte reproducibly.

Reproducibility needs: ``+bitexact`` on the muxer and on both encoders (no library-version strings, no
creation time), a single libx264 thread (frame/slice threading changes rate-control decisions), fixed
``preset``/``crf``, and macroblock-tree rate control off: with ``mbtree=1`` libx264 (core 165, through PyAV)
wrote different bytes for the same frames from run to run even single-threaded; ``mbtree=0`` and
``preset=ultrafast`` were both stable over repeated runs. The same PyAV/FFmpeg build then writes identical
bytes for identical arrays (a different FFmpeg/x264 build may encode differently).
"""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import av
import numpy as np


def write_mp4(path: str | Path, video: np.ndarray, audio: np.ndarray, *, fps: int, sample_rate: int,
              crf: int = 18, preset: str = "veryfast", audio_bitrate: int = 64000) -> None:
    """Write ``video`` uint8 (T, H, W, 3) RGB at ``fps`` and ``audio`` float32 (samples,) mono to ``path``."""
    if video.dtype != np.uint8 or video.ndim != 4 or video.shape[-1] != 3:
        raise ValueError(f"{path}: video must be uint8 (T, H, W, 3), got {video.dtype} {video.shape}")
    if audio.ndim != 1:
        raise ValueError(f"{path}: audio must be mono (samples,), got shape {audio.shape}")
    with av.open(str(path), mode="w", format="mp4", container_options={"fflags": "+bitexact"}) as container:
        vstream = container.add_stream("libx264", rate=fps, options={
            "crf": str(crf), "preset": preset, "x264-params": "threads=1:mbtree=0", "flags": "+bitexact"})
        vstream.width, vstream.height = video.shape[2], video.shape[1]
        vstream.pix_fmt = "yuv420p"
        vstream.codec_context.thread_count = 1
        vstream.codec_context.time_base = Fraction(1, fps)
        astream = container.add_stream("aac", rate=sample_rate, options={"flags": "+bitexact"})
        astream.layout = "mono"
        astream.bit_rate = audio_bitrate
        for i, rgb in enumerate(video):
            frame = av.VideoFrame.from_ndarray(rgb, format="rgb24")
            frame.pts = i
            frame.time_base = Fraction(1, fps)
            container.mux(vstream.encode(frame))
        container.mux(vstream.encode(None))
        aframe = av.AudioFrame.from_ndarray(np.ascontiguousarray(audio[None, :], np.float32), format="fltp",
                                            layout="mono")
        aframe.sample_rate = sample_rate
        aframe.pts = 0
        aframe.time_base = Fraction(1, sample_rate)
        container.mux(astream.encode(aframe))
        container.mux(astream.encode(None))
