"""Training views and test-time clip sampling: XKD global/local views, MAViL clips, evaluation transform.

Input is the raw sample a dataset decodes: ``{"video": uint8 (T, H, W, 3), "audio": float (samples,), "fps",
"sample_rate"}``, either modality may be absent. Every random choice is drawn from the ``torch.Generator`` passed
in, so a (seed, sample) pair always gives the same views. The XKD views draw all their random choices first
(:meth:`XKDViews.draw`, which needs only the shapes) and then apply them (:meth:`XKDViews.apply`), so a loader
worker can draw them and leave the pixel work to the accelerator (:mod:`xmodal.data.device_views`) with the same
result. Frames are picked by time (``t -> floor(t · fps_src)``) so a clip decoded at a different rate still gives
views at the configured rate, and every view is cropped on the uint8 frames before conversion (see
:mod:`xmodal.data.video_transforms`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import torch
from torch import Tensor

from xmodal.data import video_transforms as vt
from xmodal.data.audio_transforms import (
    SpecCrop,
    apply_spec_crop,
    cyclic_roll,
    draw_spec_crop,
    draw_volume_gain,
    roll_magnitude,
)
from xmodal.data.features import (
    XKD_LOGMEL_MEAN,
    XKD_LOGMEL_STD,
    FrontendConfig,
    KaldiFbankConfig,
    LogMel,
    LogMelConfig,
    build_frontend,
)


@dataclass(frozen=True)
class VideoViewConfig:
    """One kind of video view: ``frames`` at the views' fps (so frames / fps seconds), ``size``² pixels and its
    Table S1 column. Colour-jitter strengths (b, c, s, h) are Table S1's; its probability is not in the table, and
    the official code applies the jitter to every clip (``video_transforms.ColorJitter`` has no probability), so
    ``jitter_p`` is 1.0 (0.8 is the SimCLR/DINO value). Blur σ ~ U[0.1, 2] is the official (and DINO's) range."""

    frames: int
    size: int
    crop_scale: tuple[float, float]
    grayscale_p: float = 0.0
    blur_p: float = 0.0
    flip_p: float = 0.5
    crop_ratio: tuple[float, float] = (3.0 / 4.0, 4.0 / 3.0)
    jitter: tuple[float, float, float, float] = (0.4, 0.4, 0.4, 0.2)
    jitter_p: float = 1.0
    blur_sigma: tuple[float, float] = (0.1, 2.0)


@dataclass(frozen=True)
class AudioViewConfig:
    """One kind of audio view (XKD Table S2): ``seconds`` of waveform, volume jitter ±``volume``, and for local
    views the BYOL-A random resized crop (range ``crop_range`` for both axes, virtual canvas ``crop_canvas``)."""

    seconds: float
    volume: float
    random_crop: bool = False
    crop_range: tuple[float, float] = (0.6, 1.5)
    crop_canvas: tuple[float, float] = (1.0, 1.5)


@dataclass(frozen=True)
class XKDViewsConfig:
    """XKD views (XKD §3.2, §4.1, Tables S1–S2). Paper sizes: video global 32×112² and local 8×96² at 8 fps
    (4 s / 1 s), audio global 80×448 (4 s) and local 80×112 (1 s). One local view per modality is the paper's
    default (Table S10 found 1–1 strong; 2–2 helped ESC50). The log-mel is the official front-end with the
    official code's statistics (:data:`~xmodal.data.features.XKD_LOGMEL_MEAN`/``STD``). A tiny CPU config only
    changes the sizes, e.g. ``fps=4, video_global=VideoViewConfig(16, 32, (0.2, 1.0))``."""

    fps: float = 8.0
    video_global: VideoViewConfig = field(default_factory=lambda: VideoViewConfig(32, 112, (0.2, 1.0)))
    video_local: VideoViewConfig = field(
        default_factory=lambda: VideoViewConfig(8, 96, (0.08, 0.4), grayscale_p=0.2, blur_p=0.5)
    )
    num_video_local: int = 1
    audio_global: AudioViewConfig = field(default_factory=lambda: AudioViewConfig(4.0, 0.1))
    audio_local: AudioViewConfig = field(default_factory=lambda: AudioViewConfig(1.0, 0.2, random_crop=True))
    num_audio_local: int = 1
    logmel: LogMelConfig = field(default_factory=lambda: LogMelConfig(mean=XKD_LOGMEL_MEAN, std=XKD_LOGMEL_STD))
    mean: tuple[float, float, float] = vt.IMAGENET_MEAN
    std: tuple[float, float, float] = vt.IMAGENET_STD


def frame_indices(num_frames: int, src_fps: float, start: float, count: int, fps: float, cyclic: bool) -> Tensor:
    """Indices of ``count`` frames at ``fps`` from ``start`` seconds in a clip of ``num_frames`` at ``src_fps``;
    past the end they wrap (``cyclic``) or repeat the last frame."""
    times = start + torch.arange(count, dtype=torch.float64) / fps
    idx = torch.floor(times * src_fps + 1e-6).long()
    return idx % num_frames if cyclic else idx.clamp(0, num_frames - 1)


def select_frames(frames: Tensor, idx: Tensor) -> Tensor:
    """``frames[idx]``; a run of consecutive indices (decoded at the views' fps, the usual case) is a slice, so
    the full-size frames are not copied before the crop keeps a part of them."""
    first = int(idx[0])
    if torch.equal(idx, torch.arange(first, first + idx.numel())):
        return frames[first : first + idx.numel()]
    return frames[idx]


def take_samples(wave: Tensor, start: int, count: int) -> Tensor:
    """``count`` samples from ``start``, wrapping around when the waveform is too short (loop padding)."""
    n = wave.shape[-1]
    if start + count <= n:
        return wave[..., start : start + count]
    return wave[..., (start + torch.arange(count)) % n]


def _rand_start(span: float, gen: torch.Generator) -> float:
    return span * float(torch.rand((), generator=gen)) if span > 0 else 0.0


@dataclass(frozen=True)
class VideoAug:
    """The random choices of one video view: crop box, flip, colour jitter (order, factors) or None, grey, blur σ
    or None."""

    box: vt.Box
    flip: bool
    jitter: tuple[list[int], list[float]] | None
    gray: bool
    sigma: float | None


def draw_video_aug(height: int, width: int, cfg: VideoViewConfig, gen: torch.Generator) -> VideoAug:
    """Table S1 draws for ``height × width`` frames, in the order the pipeline uses them (a disabled op draws
    nothing, see :func:`~xmodal.data.video_transforms.bernoulli`)."""
    box = vt.sample_crop(height, width, cfg.crop_scale, cfg.crop_ratio, gen)
    flip = vt.bernoulli(gen, cfg.flip_p)
    jitter = vt.draw_color_jitter(gen, *cfg.jitter) if vt.bernoulli(gen, cfg.jitter_p) else None
    gray = vt.bernoulli(gen, cfg.grayscale_p)
    sigma = vt.uniform(gen, *cfg.blur_sigma) if vt.bernoulli(gen, cfg.blur_p) else None
    return VideoAug(box, flip, jitter, gray, sigma)


def apply_video_aug(
    frames: Tensor, aug: VideoAug, size: int, mean: tuple[float, ...], std: tuple[float, ...]
) -> Tensor:
    """Table S1 pipeline on selected uint8 frames ``(t, H, W, 3)``: multi-scale crop -> ``size``², flip, colour
    jitter, grey, blur, normalize -> ``(3, t, size, size)``."""
    video = vt.crop_resize_frames(frames, aug.box, (size, size))
    if aug.flip:
        video = vt.hflip(video)
    if aug.jitter is not None:
        video = vt.apply_color_jitter(video, *aug.jitter)
    if aug.gray:
        video = vt.rgb_to_grayscale(video)
    if aug.sigma is not None:
        video = vt.gaussian_blur(video, aug.sigma)
    return vt.normalize(video, mean, std)


def augment_video_view(
    frames: Tensor, cfg: VideoViewConfig, mean: tuple[float, ...], std: tuple[float, ...], gen: torch.Generator
) -> Tensor:
    """:func:`draw_video_aug` then :func:`apply_video_aug`: one draw for the whole clip."""
    aug = draw_video_aug(frames.shape[1], frames.shape[2], cfg, gen)
    return apply_video_aug(frames, aug, cfg.size, mean, std)


@dataclass(frozen=True)
class VideoDraw:
    """One XKD video view's choices: source frame indices and the augmentation."""

    idx: Tensor
    aug: VideoAug


@dataclass(frozen=True)
class AudioDraw:
    """One XKD audio view's choices: first sample, volume gain, spectrogram crop (local views) or None."""

    start: int
    gain: float
    crop: SpecCrop | None


class XKDViews:
    """Raw sample -> ``{"video": {"global", "local": [...]}, "audio": {"global", "local": [...]}}``.

    The global views cover the first ``frames / fps`` (video) / ``seconds`` (audio) of a random start in the
    decoded clip (0 when it is exactly 4 s); each local view is an independent random shorter window inside the
    clip (XKD §4.1: "random temporal segments of 1 second"), cropped and augmented per Tables S1–S2.
    """

    def __init__(self, cfg: XKDViewsConfig) -> None:
        self.cfg = cfg
        self.logmel = LogMel(cfg.logmel)

    def _draw_video(self, shape: tuple[int, ...], src_fps: float, vcfg: VideoViewConfig,
                    gen: torch.Generator) -> VideoDraw:
        start = _rand_start(shape[0] / src_fps - vcfg.frames / self.cfg.fps, gen)
        idx = frame_indices(shape[0], src_fps, start, vcfg.frames, self.cfg.fps, cyclic=False)
        return VideoDraw(idx, draw_video_aug(shape[1], shape[2], vcfg, gen))

    def _draw_audio(self, num_samples: int, sr: int, acfg: AudioViewConfig, gen: torch.Generator) -> AudioDraw:
        count = round(acfg.seconds * sr)
        start = int(_rand_start(max(num_samples - count, 0), gen))
        gain = draw_volume_gain(acfg.volume, gen)
        crop = None
        if acfg.random_crop:
            mel = self.cfg.logmel
            crop = draw_spec_crop(mel.n_mels, mel.num_frames(count), gen, acfg.crop_canvas, acfg.crop_range,
                                  acfg.crop_range)
        return AudioDraw(start, gain, crop)

    def draw(self, raw: dict[str, Any], gen: torch.Generator) -> dict[str, dict[str, Any]]:
        """Every random choice of the views, from the shapes of ``raw`` only (same structure as the views)."""
        out: dict[str, dict[str, Any]] = {}
        cfg = self.cfg
        if raw.get("video") is not None:
            shape, fps = tuple(raw["video"].shape), float(raw["fps"])
            out["video"] = {
                "global": self._draw_video(shape, fps, cfg.video_global, gen),
                "local": [self._draw_video(shape, fps, cfg.video_local, gen) for _ in range(cfg.num_video_local)],
            }
        if raw.get("audio") is not None:
            n, sr = raw["audio"].shape[-1], int(raw["sample_rate"])
            if sr != cfg.logmel.sample_rate:
                raise ValueError(f"audio at {sr} Hz, but the log-mel expects {cfg.logmel.sample_rate} Hz")
            out["audio"] = {
                "global": self._draw_audio(n, sr, cfg.audio_global, gen),
                "local": [self._draw_audio(n, sr, cfg.audio_local, gen) for _ in range(cfg.num_audio_local)],
            }
        return out

    def _video_view(self, frames: Tensor, d: VideoDraw, vcfg: VideoViewConfig) -> Tensor:
        return apply_video_aug(select_frames(frames, d.idx), d.aug, vcfg.size, self.cfg.mean, self.cfg.std)

    def _audio_view(self, wave: Tensor, d: AudioDraw, acfg: AudioViewConfig) -> Tensor:
        count = round(acfg.seconds * self.cfg.logmel.sample_rate)
        spec = self.logmel(take_samples(wave, d.start, count) * d.gain)
        return spec if d.crop is None else apply_spec_crop(spec, d.crop, acfg.crop_canvas)

    def apply(self, raw: dict[str, Any], draws: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
        """The views of ``raw`` for the choices :meth:`draw` made."""
        out: dict[str, dict[str, Any]] = {}
        cfg = self.cfg
        if "video" in draws:
            frames, d = raw["video"], draws["video"]
            out["video"] = {
                "global": self._video_view(frames, d["global"], cfg.video_global),
                "local": [self._video_view(frames, x, cfg.video_local) for x in d["local"]],
            }
        if "audio" in draws:
            wave, d = raw["audio"].to(torch.float32), draws["audio"]
            out["audio"] = {
                "global": self._audio_view(wave, d["global"], cfg.audio_global),
                "local": [self._audio_view(wave, x, cfg.audio_local) for x in d["local"]],
            }
        return out

    def __call__(self, raw: dict[str, Any], gen: torch.Generator) -> dict[str, dict[str, Any]]:
        return self.apply(raw, self.draw(raw, gen))


@dataclass(frozen=True)
class MAViLClipsConfig:
    """MAViL pre-training inputs (MAViL §4.2, App. B): 8 frames at 2 fps (4 s) of 224², flip 0.5, multi-scale
    crop scale (0.2, 1.0); 10 s of audio with a random start and cyclic rolling -> Kaldi fbank 128×1024.
    ``roll_magnitude`` adds AudioMAE's Beta(10, 10) + 0.5 gain (off: Table 10 lists only "R" for pre-training)."""

    fps: float = 2.0
    frames: int = 8
    size: int = 224
    crop_scale: tuple[float, float] = (0.2, 1.0)
    crop_ratio: tuple[float, float] = (3.0 / 4.0, 4.0 / 3.0)
    flip_p: float = 0.5
    mean: tuple[float, float, float] = vt.IMAGENET_MEAN
    std: tuple[float, float, float] = vt.IMAGENET_STD
    audio_seconds: float = 10.0
    roll: bool = True
    roll_magnitude: bool = False
    fbank: KaldiFbankConfig = field(default_factory=KaldiFbankConfig)


class MAViLClips:
    """Raw sample -> ``{"video": (3, 8, 224, 224), "audio": (1, 128, 1024)}``. The 4 s video window starts at a
    random point and loops to the clip's beginning when it runs past the end (MAViL App. B)."""

    def __init__(self, cfg: MAViLClipsConfig) -> None:
        self.cfg = cfg
        self.fbank = build_frontend(cfg.fbank)

    def __call__(self, raw: dict[str, Any], gen: torch.Generator) -> dict[str, Tensor]:
        cfg, out = self.cfg, {}
        if raw.get("video") is not None:
            frames, fps = raw["video"], float(raw["fps"])
            start = _rand_start(frames.shape[0] / fps - cfg.frames / cfg.fps, gen)
            idx = frame_indices(frames.shape[0], fps, start, cfg.frames, cfg.fps, cyclic=True)
            view = VideoViewConfig(
                cfg.frames, cfg.size, cfg.crop_scale, flip_p=cfg.flip_p, crop_ratio=cfg.crop_ratio, jitter_p=0.0
            )
            out["video"] = augment_video_view(frames[idx], view, cfg.mean, cfg.std, gen)
        if raw.get("audio") is not None:
            wave = raw["audio"].to(torch.float32)
            wave = take_samples(wave, 0, round(cfg.audio_seconds * int(raw["sample_rate"])))
            if cfg.roll_magnitude:
                wave = roll_magnitude(wave, gen)
            elif cfg.roll:
                wave = cyclic_roll(wave, gen)
            out["audio"] = self.fbank(wave)
        return out


@dataclass(frozen=True)
class EvalConfig:
    """Deterministic feature-extraction inputs: ``frames`` at ``fps`` from the clip start, short side resized to
    ``resize_short`` (default: ``size``) then a centred ``size``² crop; ``audio_seconds`` (looped if short) through
    ``frontend``. Defaults: XKD linear evaluation (32×112² at 8 fps, 4 s log-mel; XKD App. A.5)."""

    fps: float = 8.0
    frames: int = 32
    size: int = 112
    resize_short: int | None = None
    mean: tuple[float, float, float] = vt.IMAGENET_MEAN
    std: tuple[float, float, float] = vt.IMAGENET_STD
    audio_seconds: float = 4.0
    frontend: FrontendConfig = field(default_factory=LogMelConfig)


class EvalTransform:
    """Raw sample -> ``{"video": (3, frames, size, size), "audio": (1, F, T)}`` without randomness."""

    def __init__(self, cfg: EvalConfig) -> None:
        self.cfg = cfg
        self.frontend = build_frontend(cfg.frontend)

    def __call__(self, raw: dict[str, Any]) -> dict[str, Tensor]:
        cfg, out = self.cfg, {}
        if raw.get("video") is not None:
            frames, fps = raw["video"], float(raw["fps"])
            idx = frame_indices(frames.shape[0], fps, 0.0, cfg.frames, cfg.fps, cyclic=False)
            video = vt.resize_short_side(vt.to_float_video(frames[idx]), cfg.resize_short or cfg.size)
            box = vt.center_box(video.shape[-2], video.shape[-1], (cfg.size, cfg.size))
            out["video"] = vt.normalize(vt.crop_resize_frames(video, box, (cfg.size, cfg.size)), cfg.mean, cfg.std)
        if raw.get("audio") is not None:
            count = round(cfg.audio_seconds * int(raw["sample_rate"]))
            out["audio"] = self.frontend(take_samples(raw["audio"].to(torch.float32), 0, count))
        return out


def uniform_clip_starts(duration: float, clip_seconds: float, n: int) -> list[float]:
    """Start times of ``n`` uniformly spaced test clips (XKD App. A.5/A.6: 3 clips for UCF/HMDB/K400, 8 for
    FSD50K; MAViL: 10): from 0 to ``duration − clip_seconds`` inclusive; one clip is centred; a video shorter
    than a clip gives starts at 0 (the decoder loops or pads)."""
    if n < 1:
        raise ValueError(f"n must be >= 1, got {n}")
    span = max(duration - clip_seconds, 0.0)
    if n == 1:
        return [span / 2.0]
    return [span * k / (n - 1) for k in range(n)]
