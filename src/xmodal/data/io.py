"""Decode an audio-visual clip ``[start, end)`` from a media file into fixed-size tensors.

Containers (mp4/avi/mkv/webm/flv, ...) go through PyAV, plain audio files (wav/flac/ogg) through soundfile. Why
the details matter: every clip of a batch must have exactly ``round((end-start)*fps)`` frames and
``round((end-start)*sr)`` samples or batches do not stack; frames are picked by timestamp (nearest source frame
to each target time), so audio and video stay in sync whatever the source frame rate; frames are resized by
swscale while they are converted (cheaper than resizing afterwards); only the requested streams are decoded;
every container is closed by a context manager, so thousands of files do not leak descriptors.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable
from dataclasses import dataclass
from math import gcd
from typing import Any, Literal

import av
import numpy as np
import soundfile as sf
import torch
from av.video.reformatter import VideoReformatter
from scipy.signal import resample_poly

from xmodal.data.errors import MediaError

Short = Literal["loop", "pad", "error"]
SOUNDFILE_EXTS = frozenset({".wav", ".flac", ".ogg"})
# Stream ends differ by codec framing (AAC 1024-sample frames, edit lists): a shortfall this small is padded,
# not treated as a too-short clip.
SHORT_TOLERANCE_S = 0.05
_AUDIO_PREROLL_S = 0.2  # audio fed to the resampler before ``start``, so its filter transient falls outside


@dataclass
class MediaInfo:
    duration: float
    has_video: bool
    has_audio: bool
    fps: float | None = None
    width: int | None = None
    height: int | None = None
    sample_rate: int | None = None
    channels: int | None = None


@dataclass
class VideoSpec:
    """Target frame rate (None: the source's) and size: int = short side, ``(H, W)`` = exact, None = source."""

    fps: float | None = None
    size: int | tuple[int, int] | None = None


@dataclass
class AudioSpec:
    sample_rate: int = 16000


@dataclass
class Clip:
    """``video`` uint8 (T, H, W, 3) RGB; ``audio`` float32 (samples,) mono in [-1, 1]."""

    video: torch.Tensor | None
    audio: torch.Tensor | None
    fps: float | None
    sample_rate: int | None
    start: float
    end: float
    path: str


def uses_soundfile(path: str) -> bool:
    return os.path.splitext(path)[1].lower() in SOUNDFILE_EXTS


def _video_stream(container: Any) -> Any:
    for stream in container.streams.video:
        if not stream.disposition & av.stream.Disposition.attached_pic:  # cover art is not video
            return stream
    return None


def _audio_stream(container: Any) -> Any:
    return container.streams.audio[0] if container.streams.audio else None


def _stream_fps(stream: Any) -> float | None:
    rate = stream.average_rate or stream.guessed_rate or stream.base_rate
    return float(rate) if rate else None


def _container_duration(container: Any) -> float:
    if container.duration is not None and container.duration > 0:
        return container.duration / av.time_base
    spans = [float(s.duration * s.time_base) for s in container.streams if s.duration and s.time_base]
    return max(spans, default=0.0)


def check_path(path: str) -> None:
    if not os.path.exists(path):
        raise MediaError(path, "missing")
    if not os.path.isfile(path) or not os.access(path, os.R_OK):
        raise MediaError(path, "unreadable", "not a readable regular file")


def _as_media_error(path: str, err: Exception) -> MediaError:
    if isinstance(err, MediaError):
        return err
    if isinstance(err, FileNotFoundError):
        return MediaError(path, "missing")
    if isinstance(err, (av.error.FFmpegError, sf.LibsndfileError, EOFError)):
        return MediaError(path, "corrupt", f"{type(err).__name__}: {err}")
    return MediaError(path, "unreadable", f"{type(err).__name__}: {err}")


def probe(path: str | os.PathLike[str]) -> MediaInfo:
    """Stream layout and duration from the headers only (nothing is decoded)."""
    path = str(path)
    check_path(path)
    try:
        if uses_soundfile(path):
            info = sf.info(path)
            return MediaInfo(info.duration, False, True, sample_rate=info.samplerate, channels=info.channels)
        with av.open(path, metadata_errors="ignore") as container:
            v, a = _video_stream(container), _audio_stream(container)
            return MediaInfo(
                duration=_container_duration(container),
                has_video=v is not None,
                has_audio=a is not None,
                fps=_stream_fps(v) if v is not None else None,
                width=v.codec_context.width if v is not None else None,
                height=v.codec_context.height if v is not None else None,
                sample_rate=a.codec_context.sample_rate if a is not None else None,
                channels=a.codec_context.channels if a is not None else None,
            )
    except (av.error.FFmpegError, sf.LibsndfileError, OSError, RuntimeError, ValueError) as err:
        raise _as_media_error(path, err) from err


def fit_length(x: np.ndarray, valid: int, n: int, short: Short, *, rate: float, path: str, what: str) -> np.ndarray:
    """First ``n`` items of ``x`` (axis 0) of which only ``valid`` hold content, completing the rest.

    ``loop`` repeats the valid part from its beginning, ``pad`` repeats the last video frame or adds silence,
    ``error`` raises ``too_short``. A shortfall under :data:`SHORT_TOLERANCE_S` is always padded.
    """
    valid = min(valid, len(x), n)
    if valid == n:
        return x[:n]
    if valid <= 0:
        raise MediaError(path, "too_short", f"no {what} in the requested window")
    missing_s = (n - valid) / rate
    if short == "error" and missing_s > SHORT_TOLERANCE_S:
        raise MediaError(path, "too_short", f"{what} has {valid / rate:.3f}s of the {n / rate:.3f}s requested")
    out = np.empty((n, *x.shape[1:]), dtype=x.dtype)
    out[:valid] = x[:valid]
    if short == "loop" and missing_s > SHORT_TOLERANCE_S:
        out[valid:] = x[np.arange(valid, n) % valid]
    elif what == "video":
        out[valid:] = x[valid - 1]
    else:
        out[valid:] = 0
    return out


def target_size(size: int | tuple[int, int] | None, width: int, height: int) -> tuple[int, int]:
    """(W, H) of the output; an int is the short side, keeping the aspect ratio."""
    if size is None:
        return width, height
    if isinstance(size, int):
        if height <= width:
            return max(1, round(width * size / height)), size
        return size, max(1, round(height * size / width))
    return int(size[1]), int(size[0])


class _SeekFailed(Exception):
    """The demuxer cannot seek to ``start`` (or landed after it): decode again from the top of a fresh open."""


def _seek(container: Any, stream: Any, t: float) -> None:
    try:
        container.seek(max(0, int(t / float(stream.time_base))), stream=stream, backward=True)
    except av.error.FFmpegError as err:  # e.g. flv/avi without an index, or no keyframe before ``t``
        raise _SeekFailed from err


def _with_container(path: str, decode: Callable[[Any, bool], Any], container: Any = None) -> Any:
    """``decode(container, may_seek)`` on ``container`` (or a fresh one); if seeking fails, again from the top."""
    if container is not None:
        try:
            return decode(container, True)
        except _SeekFailed:
            pass
    else:
        with av.open(path, metadata_errors="ignore") as fresh:
            try:
                return decode(fresh, True)
            except _SeekFailed:
                pass
    with av.open(path, metadata_errors="ignore") as fresh:
        return decode(fresh, False)


def _display_rotation(frame: Any) -> int:
    """Counter-clockwise rotation (0, 90, 180, 270) that the container's display matrix asks for.

    Phone videos are stored sideways (landscape pixels) with a display matrix that turns them upright; players
    honour it, so must we, or the model sees portrait clips lying on their side. Flips in the matrix are ignored."""
    return round(float(frame.rotation) / 90.0) * 90 % 360


def _pick_frames(container: Any, stream: Any, targets: np.ndarray, step: float, offset: float, size: Any) -> tuple:
    """Nearest decoded frame to each target time, converted to RGB at the target size as it is picked and turned
    upright by the display matrix (the target size applies to the upright picture)."""
    out: np.ndarray | None = None
    k, n = 0, len(targets)
    prev: Any = None
    prev_t = first_t = last_t = -math.inf
    picked: Any = None
    picked_arr: np.ndarray | None = None
    wh: tuple[int, int] = (0, 0)  # (W, H) handed to swscale: the coded orientation
    quarter_turns = 0
    reformatter = VideoReformatter()  # one swscale context per clip: ~10x cheaper than frame.to_ndarray(width=...)

    def convert(frame: Any) -> np.ndarray:
        nonlocal picked, picked_arr
        if frame is not picked:
            rgb = reformatter.reformat(frame, wh[0], wh[1], "rgb24", threads=1).to_ndarray()
            picked, picked_arr = frame, np.rot90(rgb, quarter_turns) if quarter_turns else rgb
        return picked_arr  # type: ignore[return-value]

    for frame in container.decode(stream):
        t = frame.time - offset if frame.time is not None else last_t + step if last_t > -math.inf else 0.0
        if out is None:
            first_t = t
            quarter_turns = _display_rotation(frame) // 90
            sideways = quarter_turns % 2 == 1
            width, height = (frame.height, frame.width) if sideways else (frame.width, frame.height)
            out_w, out_h = target_size(size, width, height)
            wh = (out_h, out_w) if sideways else (out_w, out_h)
            out = np.empty((n, out_h, out_w, 3), dtype=np.uint8)
        while k < n and targets[k] <= t:
            use_prev = prev is not None and targets[k] - prev_t <= t - targets[k] + 1e-6  # tie: frame on screen
            out[k] = convert(prev if use_prev else frame)
            k += 1
        last_t = t
        if k >= n:
            break
        prev, prev_t = frame, t
    while out is not None and k < n and targets[k] < last_t + step - 1e-6:  # within the last frame's duration
        out[k] = convert(prev)
        k += 1
    return out, k, first_t


def _decode_video(container: Any, may_seek: bool, path: str, start: float, end: float, spec: VideoSpec,
                  short: Short, offset: float) -> tuple[np.ndarray, float]:
    stream = _video_stream(container)
    stream.thread_type = "AUTO"
    src_fps = _stream_fps(stream)
    fps = float(spec.fps or src_fps or 0.0)
    if fps <= 0:
        raise MediaError(path, "unreadable", "video stream has no frame rate")
    step = 1.0 / (src_fps or fps)
    n = round((end - start) * fps)
    seeked = may_seek and start > step
    if seeked:
        _seek(container, stream, start + offset)
    out, valid, first_t = _pick_frames(container, stream, start + np.arange(n) / fps, step, offset, spec.size)
    if seeked and first_t > start + step:  # landed after the window's start
        raise _SeekFailed
    if out is None:
        raise MediaError(path, "too_short", "video stream has no decodable frames")
    return fit_length(out, valid, n, short, rate=fps, path=path, what="video"), fps


def _resample_stream(container: Any, stream: Any, start: float, end: float, sr: int, offset: float) -> tuple:
    resampler: av.AudioResampler | None = None
    chunks: list[np.ndarray] = []
    t0 = t = 0.0
    for frame in container.decode(stream):
        t = frame.time - offset if frame.time is not None else t
        t_next = t + frame.samples / frame.sample_rate
        if t_next < start - _AUDIO_PREROLL_S:
            t = t_next
            continue
        if t >= end + _AUDIO_PREROLL_S:
            break
        if resampler is None:
            # Resample every channel to the target rate, then average them: a true mean keeps [-1, 1].
            resampler = av.AudioResampler(format="fltp", layout=frame.layout, rate=sr)
            t0 = t
        chunks.extend(o.to_ndarray() for o in resampler.resample(frame))
        t = t_next
    if resampler is not None:
        chunks.extend(o.to_ndarray() for o in resampler.resample(None))
    return chunks, t0


def _decode_audio_av(container: Any, may_seek: bool, path: str, start: float, end: float, sr: int, short: Short,
                     offset: float) -> np.ndarray:
    stream = _audio_stream(container)
    seeked = may_seek and start > _AUDIO_PREROLL_S
    if seeked:
        _seek(container, stream, start - _AUDIO_PREROLL_S + offset)
    chunks, t0 = _resample_stream(container, stream, start, end, sr, offset)
    if seeked and chunks and t0 > start + 0.01:
        raise _SeekFailed
    wave = np.concatenate(chunks, axis=1).mean(axis=0) if chunks else np.zeros(0, np.float32)
    if stream.duration:  # drop the codec's end padding (AAC decodes whole 1024-sample frames past the end)
        stream_end = float((stream.duration + (stream.start_time or 0)) * stream.time_base) - offset
        limit = round((stream_end - t0) * sr)
        if 0 <= len(wave) - limit <= _AUDIO_PREROLL_S * sr:  # more than that: the header is wrong, keep the data
            wave = wave[:limit]
    return _cut_audio(wave, round((start - t0) * sr), round((end - start) * sr), sr, short, path)


def _cut_audio(wave: np.ndarray, i0: int, n: int, sr: int, short: Short, path: str) -> np.ndarray:
    if i0 < 0:  # the stream starts after ``start``: silence until it does, keeping sync
        wave, i0 = np.concatenate([np.zeros(-i0, wave.dtype), wave]), 0
    seg = wave[i0 : i0 + n]
    seg = fit_length(seg, len(seg), n, short, rate=sr, path=path, what="audio")
    return np.clip(seg, -1.0, 1.0).astype(np.float32, copy=False)


def _decode_soundfile(path: str, start: float, end: float | None, sr: int, short: Short) -> tuple:
    with sf.SoundFile(path) as f:
        sr_in, total = f.samplerate, f.frames
        if total <= 0:
            raise MediaError(path, "too_short", "audio file has zero length")
        end = total / sr_in if end is None else end
        g = gcd(sr, sr_in)
        up, down = sr // g, sr_in // g
        # Read a margin of context around the clip (resample_poly's filter half-length), starting on a multiple of
        # ``down`` input samples so that input and output sample grids coincide there.
        margin = 0 if up == down else math.ceil(10 * max(up, down) / up) + 1
        i0 = round(start * sr_in)
        first = max(0, (i0 - margin) // down * down)
        f.seek(min(first, total))
        data = f.read(math.ceil((end - start) * sr_in) + (i0 - first) + margin, dtype="float32", always_2d=True)
    wave = data.mean(axis=1)
    if up != down:
        wave = resample_poly(wave, up, down).astype(np.float32)
    return _cut_audio(wave, round((i0 - first) * up / down), round((end - start) * sr), sr, short, path), end


def decode_clip(
    path: str | os.PathLike[str],
    start: float | None = None,
    end: float | None = None,
    *,
    video: VideoSpec | None,
    audio: AudioSpec | None,
    short: Short = "loop",
) -> Clip:
    """Decode ``[start, end)`` seconds (defaults: the whole file) of the requested modalities."""
    path = str(path)
    if video is None and audio is None:
        raise ValueError("decode_clip needs a VideoSpec, an AudioSpec or both")
    if short not in ("loop", "pad", "error"):
        raise ValueError(f"short must be 'loop', 'pad' or 'error', got {short!r}")
    start = 0.0 if start is None else float(start)
    if start < 0 or (end is not None and end <= start):
        raise ValueError(f"invalid clip window [{start}, {end}) for {path}")
    check_path(path)
    try:
        if uses_soundfile(path):
            if video is not None:
                raise MediaError(path, "no_video", "audio-only file")
            assert audio is not None
            wave, end = _decode_soundfile(path, start, end, audio.sample_rate, short)
            return Clip(None, torch.from_numpy(wave), None, audio.sample_rate, start, end, path)
        with av.open(path, metadata_errors="ignore") as container:
            if video is not None and _video_stream(container) is None:
                raise MediaError(path, "no_video")
            if audio is not None and _audio_stream(container) is None:
                raise MediaError(path, "no_audio")
            offset = max(0.0, (container.start_time or 0) / av.time_base)  # MPEG-TS style non-zero origin
            if end is None:
                end = _container_duration(container)
                if end <= start:
                    raise MediaError(path, "too_short", f"duration {end:.3f}s does not reach start {start:.3f}s")
            stop, vspec = end, video
            frames = fps = wave = None
            if vspec is not None:
                frames, fps = _with_container(
                    path, lambda c, seek: _decode_video(c, seek, path, start, stop, vspec, short, offset), container
                )
            if audio is not None:
                sr = audio.sample_rate
                wave = _with_container(
                    path,
                    lambda c, seek: _decode_audio_av(c, seek, path, start, stop, sr, short, offset),
                    container if vspec is None else None,  # a fresh read position for the second stream
                )
    except (av.error.FFmpegError, sf.LibsndfileError, OSError, EOFError, RuntimeError, ValueError) as err:
        raise _as_media_error(path, err) from err
    return Clip(
        video=torch.from_numpy(frames) if frames is not None else None,
        audio=torch.from_numpy(wave) if wave is not None else None,
        fps=fps,
        sample_rate=audio.sample_rate if audio is not None else None,
        start=start,
        end=end,
        path=path,
    )
