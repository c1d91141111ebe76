"""A stand-in for ``torchcodec.decoders`` built on PyAV, with the parts of torchcodec's API that
:mod:`xmodal.data.io_torchcodec` uses (``VideoDecoder(...).metadata`` / ``get_frames_at``, ``AudioDecoder(...)
.get_samples_played_in_range``; NHWC uint8 frames, ``(channels, samples)`` float audio).

Why a stand-in: the torchcodec wheel on PyPI is built against CUDA torch and cannot load next to the CPU torch of
CI. The stand-in pins down xmodal's side (frame choice, resizing, lengths, sync, errors); ``benchmarks/gpu.sh``
compares real torchcodec with PyAV where a GPU is lent."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import av
import numpy as np
import torch
from scipy.signal import resample_poly

calls: list[tuple[str, str]] = []


class VideoDecoder:
    def __init__(self, source: str, *, dimension_order: str = "NCHW", device: str | None = None,
                 seek_mode: str = "exact", **_: Any) -> None:
        calls.append(("video", str(device)))
        with av.open(str(source)) as container:
            stream = container.streams.video[0]
            self.frames = [f.to_ndarray(format="rgb24") for f in container.decode(stream)]
            fps = float(stream.average_rate)
        if not self.frames:
            raise RuntimeError("no frames")
        self.order = dimension_order
        h, w = self.frames[0].shape[:2]
        seconds = len(self.frames) / fps
        self.metadata = SimpleNamespace(average_fps=fps, num_frames=len(self.frames), begin_stream_seconds=0.0,
                                        end_stream_seconds=seconds, duration_seconds=seconds, width=w, height=h)

    def get_frames_at(self, indices: list[int]) -> SimpleNamespace:
        data = torch.from_numpy(np.stack([self.frames[i] for i in indices]))
        return SimpleNamespace(data=data if self.order == "NHWC" else data.permute(0, 3, 1, 2))


class AudioDecoder:
    def __init__(self, source: str, *, sample_rate: int | None = None, num_channels: int | None = None) -> None:
        calls.append(("audio", ""))
        with av.open(str(source)) as container:
            stream = container.streams.audio[0]
            chunks = [f.to_ndarray().reshape(stream.channels, -1) if f.format.is_planar else
                      f.to_ndarray().reshape(-1, stream.channels).T for f in container.decode(stream)]
            rate = stream.rate
        wave = np.concatenate(chunks, axis=1).astype(np.float32)
        if wave.dtype.kind != "f" or np.abs(wave).max() > 1.5:
            wave = wave / 32768.0
        self.rate = sample_rate or rate
        self.wave = resample_poly(wave, self.rate, rate, axis=1).astype(np.float32) if self.rate != rate else wave
        if num_channels == 1:
            self.wave = self.wave.mean(0, keepdims=True)
        self.metadata = SimpleNamespace(end_stream_seconds=self.wave.shape[1] / self.rate,
                                        duration_seconds=self.wave.shape[1] / self.rate)

    def get_samples_played_in_range(self, start_seconds: float = 0.0, stop_seconds: float | None = None) -> Any:
        i0 = round(start_seconds * self.rate)
        i1 = self.wave.shape[1] if stop_seconds is None else round(stop_seconds * self.rate)
        return SimpleNamespace(data=torch.from_numpy(self.wave[:, i0:i1]), pts_seconds=i0 / self.rate,
                               sample_rate=self.rate)
