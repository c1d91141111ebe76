"""Audio front-ends: waveform -> normalized log spectrogram, on torch only (no torchaudio).

Three front-ends, one per paper, each a frozen dataclass config plus an ``nn.Module`` (and a functional form):

- :class:`LogMelConfig` / :class:`LogMel` — XKD (XKD §4.1): 16 kHz, 80 mel bins, 4 s -> 80×448, 1 s -> 80×112.
  The paper gives only the sizes. 448 frames per 4 s is 112 frames/s, a hop of 16000/112 = 142.86 samples; with a
  centred STFT (reflect padding of n_fft/2) the frame count is ``1 + N // hop``, and hop = 143 gives
  1 + 64000 // 143 = 448 and 1 + 16000 // 143 = 112, so both view sizes come out exactly (the official config uses
  the same hop 143 and n_fft 1024). Where the paper is silent the defaults follow the official code
  (``codes/train/datasets/audiotransforms/to_spec.py`` and ``augmentations/audio_augmentations.py``): librosa's
  mel filters (Slaney mel scale, Slaney area normalisation, 0 Hz to Nyquist) on the power spectrum of a periodic
  Hann window, ``log(mel + 1.1920929e-07)`` (float32 machine epsilon), then ``(x - mean) / std`` with the
  Kinetics-400 statistics of :data:`XKD_LOGMEL_MEAN` / :data:`XKD_LOGMEL_STD`. ``mel_scale='htk'``,
  ``mel_norm='none'`` and ``log_eps=1e-6`` give the front-end xmodal used before (kept by the tiny demo config).
- :class:`KaldiFbankConfig` / :class:`KaldiFbank` — MAViL/AudioMAE (MAViL §4.2, App. B): a re-implementation of
  ``torchaudio.compliance.kaldi.fbank(htk_compat=True, use_energy=False, window_type='hanning', dither=0,
  num_mel_bins=128, frame_shift=10)`` on a waveform with its mean removed, padded/cropped to 1024 frames and
  normalized as (x - (-4.2677)) / (2 · 4.5690) with AudioSet statistics.
- :class:`LinearSTFTConfig` / :class:`LinearSTFT` — C²KD (C²KD appendix §C.1): 257 bins, window 512, overlap 353
  (hop 159) with no edge padding, which is what yields the paper's 257×299 for 3 s and 257×1004 for 10 s at 16 kHz.
  The sizes match ``scipy.signal.spectrogram(nperseg=512, noverlap=353)`` as in the VGGSound/OGM-GE pipeline that
  C²KD follows: periodic Tukey(0.25) window, per-frame mean removal, one-sided PSD, ``log(x + 1e-7)``, then
  per-clip standardization (``mode='magnitude'`` gives log |X| instead).

Every front-end accepts ``(samples,)`` -> ``(1, F, T)`` or ``(B, samples)`` -> ``(B, 1, F, T)``, computes in
float32 vectorized over frames, and exposes ``raw(wave)`` (log features before dataset normalization) so that
:func:`xmodal.data.stats.compute_stats` can measure a dataset's mean/std.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

import torch
import torch.nn.functional as F
from torch import Tensor, nn

MelScale = Literal["htk", "slaney"]


def hz_to_mel(freq: Tensor, scale: MelScale = "htk") -> Tensor:
    """Hz -> mel. HTK: 2595·log10(1 + f/700). Slaney: linear below 1 kHz (3 mels per 200 Hz), log above."""
    if scale == "htk":
        return 2595.0 * torch.log10(1.0 + freq / 700.0)
    f_sp, min_log_hz, logstep = 200.0 / 3.0, 1000.0, math.log(6.4) / 27.0
    min_log_mel = min_log_hz / f_sp
    return torch.where(
        freq >= min_log_hz, min_log_mel + torch.log(freq.clamp_min(1e-10) / min_log_hz) / logstep, freq / f_sp
    )


def mel_to_hz(mel: Tensor, scale: MelScale = "htk") -> Tensor:
    """Inverse of :func:`hz_to_mel`."""
    if scale == "htk":
        return 700.0 * (10.0 ** (mel / 2595.0) - 1.0)
    f_sp, min_log_hz, logstep = 200.0 / 3.0, 1000.0, math.log(6.4) / 27.0
    min_log_mel = min_log_hz / f_sp
    return torch.where(mel >= min_log_mel, min_log_hz * torch.exp(logstep * (mel - min_log_mel)), mel * f_sp)


def mel_filterbank(
    n_freqs: int,
    n_mels: int,
    sample_rate: int,
    f_min: float = 0.0,
    f_max: float | None = None,
    scale: MelScale = "htk",
    norm: Literal["slaney"] | None = None,
) -> Tensor:
    """Triangular mel filters ``(n_freqs, n_mels)`` over the linear bins 0..sr/2 of a one-sided spectrum.

    Filter edges are equally spaced on the mel scale; each triangle is linear in Hz between its edges (the HTK /
    librosa / torchaudio ``melscale_fbanks`` convention). ``norm='slaney'`` scales each filter to unit area
    (2 / bandwidth in Hz). Computed in float64 and returned as float32.
    """
    f_max = sample_rate / 2.0 if f_max is None else f_max
    freqs = torch.linspace(0.0, sample_rate / 2.0, n_freqs, dtype=torch.float64)
    edges_mel = torch.linspace(
        float(hz_to_mel(torch.tensor(f_min, dtype=torch.float64), scale)),
        float(hz_to_mel(torch.tensor(f_max, dtype=torch.float64), scale)),
        n_mels + 2,
        dtype=torch.float64,
    )
    edges = mel_to_hz(edges_mel, scale)
    lower, center, upper = edges[:-2], edges[1:-1], edges[2:]
    up = (freqs[:, None] - lower[None]) / (center - lower)[None]
    down = (upper[None] - freqs[:, None]) / (upper - center)[None]
    fb = torch.clamp(torch.minimum(up, down), min=0.0)
    if norm == "slaney":
        fb = fb * (2.0 / (upper - lower))[None]
    return fb.to(torch.float32)


def _as_batch(wave: Tensor) -> tuple[Tensor, bool]:
    if wave.dim() not in (1, 2):
        raise ValueError(f"expected a mono waveform (samples,) or (B, samples), got shape {tuple(wave.shape)}")
    return (wave[None] if wave.dim() == 1 else wave).to(torch.float32), wave.dim() == 1


def _unbatch(spec: Tensor, single: bool) -> Tensor:
    spec = spec.unsqueeze(1)
    return spec[0] if single else spec


def frame_signal(wave: Tensor, frame_length: int, hop: int) -> Tensor:
    """``(B, N)`` -> ``(B, 1 + (N - frame_length) // hop, frame_length)`` without copying (a strided view)."""
    if wave.shape[-1] < frame_length:
        raise ValueError(f"waveform of {wave.shape[-1]} samples is shorter than one frame ({frame_length})")
    return wave.unfold(-1, frame_length, hop)


XKD_LOGMEL_MEAN = -5.3688107
XKD_LOGMEL_STD = 4.410007
"""Log-mel statistics hard-coded in the official code (``SpecAug``: ``self.mean, self.std = -5.3688107, 4.410007``),
used there for every pretraining dataset; they describe the official front-end (Slaney mel, ``log(x + 1.19e-7)``)."""


@dataclass(frozen=True)
class LogMelConfig:
    """XKD log-mel (XKD §4.1); see the module docstring for the STFT sizes and the official front-end.

    ``mean``/``std`` are the dataset statistics of the log-mel (``xmodal data stats``, or the official
    :data:`XKD_LOGMEL_MEAN`/:data:`XKD_LOGMEL_STD`); the defaults 0/1 leave the features unnormalized, which XKD
    pretraining refuses unless ``data.allow_unnormalized_audio`` is set.
    """

    sample_rate: int = 16000
    n_fft: int = 1024
    win_length: int = 1024
    hop_length: int = 143
    n_mels: int = 80
    f_min: float = 0.0
    f_max: float | None = None
    mel_scale: MelScale = "slaney"
    mel_norm: Literal["slaney", "none"] = "slaney"
    log_eps: float = 1.1920929e-07
    mean: float = 0.0
    std: float = 1.0

    def num_frames(self, num_samples: int) -> int:
        """Frames of a centred STFT: ``1 + N // hop`` (448 for 4 s, 112 for 1 s at the defaults)."""
        return 1 + num_samples // self.hop_length


class LogMel(nn.Module):
    """Waveform -> normalized log-mel ``(1, n_mels, T)``; window and filters are cached as buffers."""

    window: Tensor
    fb: Tensor

    def __init__(self, cfg: LogMelConfig) -> None:
        super().__init__()
        self.cfg = cfg
        win = torch.hann_window(cfg.win_length, periodic=True)
        left = (cfg.n_fft - cfg.win_length) // 2
        self.register_buffer("window", F.pad(win, (left, cfg.n_fft - cfg.win_length - left)), persistent=False)
        norm = "slaney" if cfg.mel_norm == "slaney" else None
        fb = mel_filterbank(cfg.n_fft // 2 + 1, cfg.n_mels, cfg.sample_rate, cfg.f_min, cfg.f_max, cfg.mel_scale, norm)
        self.register_buffer("fb", fb, persistent=False)

    @property
    def name(self) -> str:
        return "logmel"

    def raw(self, wave: Tensor) -> Tensor:
        x, single = _as_batch(wave)
        pad = self.cfg.n_fft // 2
        mode = "reflect" if x.shape[-1] > pad else "constant"
        x = F.pad(x[:, None], (pad, pad), mode=mode)[:, 0]
        frames = frame_signal(x, self.cfg.n_fft, self.cfg.hop_length) * self.window
        power = torch.view_as_real(torch.fft.rfft(frames, dim=-1)).pow(2).sum(-1)  # |X|², without a sqrt
        mel = power @ self.fb
        return _unbatch(torch.log(mel + self.cfg.log_eps).transpose(1, 2), single)

    def forward(self, wave: Tensor) -> Tensor:
        return (self.raw(wave) - self.cfg.mean) / self.cfg.std


def log_mel(wave: Tensor, cfg: LogMelConfig) -> Tensor:
    """Functional form of :class:`LogMel`."""
    return LogMel(cfg).to(wave.device)(wave)


@dataclass(frozen=True)
class KaldiFbankConfig:
    """Kaldi-compatible fbank as in AudioMAE/MAViL (MAViL App. B; Table 10 gives the AudioSet mean/std).

    Dither is fixed at 0 (as AudioMAE) so features are deterministic; ``snip_edges`` is always on (frames fully
    inside the signal); the Hanning window is the symmetric one Kaldi uses. ``target_length`` frames are reached by
    zero padding at the end or cropping (998 -> 1024 for 10 s); ``None`` keeps the natural length.
    At 128 bins over a 512-point FFT, filter 3 covers no FFT bin: Kaldi refuses such a config, torchaudio (which
    AudioMAE used) keeps an all-zero filter whose log is the floor ln(eps_float32); we reproduce torchaudio.
    """

    sample_rate: int = 16000
    num_mel_bins: int = 128
    frame_length_ms: float = 25.0
    frame_shift_ms: float = 10.0
    preemphasis: float = 0.97
    remove_dc_offset: bool = True
    low_freq: float = 20.0
    high_freq: float = 0.0
    round_to_power_of_two: bool = True
    subtract_waveform_mean: bool = True
    target_length: int | None = 1024
    mean: float = -4.2677393
    std: float = 4.5689974


def kaldi_mel_banks(
    num_bins: int, padded_window_size: int, sample_rate: int, low_freq: float, high_freq: float
) -> Tensor:
    """Kaldi's mel banks ``(num_bins, padded_window_size // 2 + 1)``: triangles linear in *mel* (mel = 1127 ln(1 +
    f/700)) between equally spaced mel edges; the Nyquist column is zero, as in Kaldi's ``MelBanks``."""
    nyquist = 0.5 * sample_rate
    high = high_freq + nyquist if high_freq <= 0.0 else high_freq
    num_fft_bins = padded_window_size // 2
    mel_low, mel_high = 1127.0 * math.log1p(low_freq / 700.0), 1127.0 * math.log1p(high / 700.0)
    delta = (mel_high - mel_low) / (num_bins + 1)
    b = torch.arange(num_bins, dtype=torch.float64)[:, None]
    left, center, right = mel_low + b * delta, mel_low + (b + 1) * delta, mel_low + (b + 2) * delta
    mel = 1127.0 * torch.log1p(
        sample_rate / padded_window_size * torch.arange(num_fft_bins, dtype=torch.float64) / 700.0
    )
    up = (mel[None] - left) / (center - left)
    down = (right - mel[None]) / (right - center)
    banks = torch.clamp(torch.minimum(up, down), min=0.0)
    return F.pad(banks, (0, 1)).to(torch.float32)


class KaldiFbank(nn.Module):
    """Waveform -> normalized Kaldi fbank ``(1, num_mel_bins, target_length)`` (frequency first, like every
    xmodal spectrogram; AudioMAE stores the transpose ``(1, 1024, 128)``)."""

    window: Tensor
    banks: Tensor

    def __init__(self, cfg: KaldiFbankConfig) -> None:
        super().__init__()
        self.cfg = cfg
        self.win_size = int(cfg.sample_rate * cfg.frame_length_ms * 0.001)
        self.shift = int(cfg.sample_rate * cfg.frame_shift_ms * 0.001)
        self.padded = 1 << (self.win_size - 1).bit_length() if cfg.round_to_power_of_two else self.win_size
        self.register_buffer("window", torch.hann_window(self.win_size, periodic=False), persistent=False)
        banks = kaldi_mel_banks(cfg.num_mel_bins, self.padded, cfg.sample_rate, cfg.low_freq, cfg.high_freq)
        self.register_buffer("banks", banks, persistent=False)

    @property
    def name(self) -> str:
        return "kaldi_fbank"

    def log_fbank(self, wave: Tensor) -> Tensor:
        """Unpadded log mel energies ``(B, frames, bins)``, Kaldi's layout."""
        x, _ = _as_batch(wave)
        if self.cfg.subtract_waveform_mean:
            x = x - x.mean(dim=-1, keepdim=True)
        frames = frame_signal(x, self.win_size, self.shift)
        if self.cfg.remove_dc_offset:
            frames = frames - frames.mean(dim=-1, keepdim=True)
        if self.cfg.preemphasis != 0.0:
            prev = torch.cat([frames[..., :1], frames[..., :-1]], dim=-1)
            frames = frames - self.cfg.preemphasis * prev
        frames = F.pad(frames * self.window, (0, self.padded - self.win_size))
        power = torch.fft.rfft(frames, dim=-1).abs().pow(2)
        energies = power @ self.banks.T
        return energies.clamp_min(torch.finfo(torch.float32).eps).log()

    def raw(self, wave: Tensor) -> Tensor:
        _, single = _as_batch(wave)
        fb = self.log_fbank(wave)
        if self.cfg.target_length is not None:
            n = fb.shape[1]
            fb = (
                F.pad(fb, (0, 0, 0, self.cfg.target_length - n))
                if n < self.cfg.target_length
                else fb[:, : self.cfg.target_length]
            )
        return _unbatch(fb.transpose(1, 2), single)

    def forward(self, wave: Tensor) -> Tensor:
        return (self.raw(wave) - self.cfg.mean) / (2.0 * self.cfg.std)


def kaldi_fbank(wave: Tensor, cfg: KaldiFbankConfig) -> Tensor:
    """Functional form of :class:`KaldiFbank`."""
    return KaldiFbank(cfg).to(wave.device)(wave)


def tukey_window(length: int, alpha: float = 0.25, periodic: bool = True) -> Tensor:
    """Tukey (tapered cosine) window, equal to ``scipy.signal.get_window(('tukey', alpha), length)``."""
    m = length + 1 if periodic else length
    n = torch.arange(m, dtype=torch.float64)
    if alpha <= 0:
        w = torch.ones(m, dtype=torch.float64)
    else:
        width = math.floor(alpha * (m - 1) / 2.0)
        w = torch.ones(m, dtype=torch.float64)
        head, tail = n[: width + 1], n[m - width - 1 :]
        w[: width + 1] = 0.5 * (1 + torch.cos(math.pi * (-1 + 2.0 * head / alpha / (m - 1))))
        w[m - width - 1 :] = 0.5 * (1 + torch.cos(math.pi * (-2.0 / alpha + 1 + 2.0 * tail / alpha / (m - 1))))
    return (w[:length] if periodic else w).to(torch.float32)


@dataclass(frozen=True)
class LinearSTFTConfig:
    """C²KD linear-frequency log spectrogram (C²KD appendix §C.1): window 512, overlap 353, 257 bins.

    ``normalize='clip'`` standardizes each clip by its own mean/std (the VGGSound pipeline C²KD inherits);
    ``'dataset'`` uses ``mean``/``std`` instead.
    """

    sample_rate: int = 16000
    n_fft: int = 512
    hop_length: int = 159
    tukey_alpha: float = 0.25
    detrend: bool = True
    mode: Literal["psd", "magnitude"] = "psd"
    log_eps: float = 1e-7
    normalize: Literal["clip", "dataset"] = "clip"
    mean: float = 0.0
    std: float = 1.0

    def num_frames(self, num_samples: int) -> int:
        """Frames without edge padding: ``1 + (N - n_fft) // hop`` (299 for 3 s, 1004 for 10 s at 16 kHz)."""
        return 1 + (num_samples - self.n_fft) // self.hop_length


class LinearSTFT(nn.Module):
    """Waveform -> log linear spectrogram ``(1, n_fft // 2 + 1, T)``."""

    window: Tensor

    def __init__(self, cfg: LinearSTFTConfig) -> None:
        super().__init__()
        self.cfg = cfg
        self.register_buffer("window", tukey_window(cfg.n_fft, cfg.tukey_alpha), persistent=False)

    @property
    def name(self) -> str:
        return "linear_stft"

    def raw(self, wave: Tensor) -> Tensor:
        x, single = _as_batch(wave)
        frames = frame_signal(x, self.cfg.n_fft, self.cfg.hop_length)
        if self.cfg.detrend:
            frames = frames - frames.mean(dim=-1, keepdim=True)
        mag = torch.fft.rfft(frames * self.window, dim=-1).abs()
        if self.cfg.mode == "psd":
            spec = mag.pow(2) / (self.cfg.sample_rate * self.window.pow(2).sum())
            last = -1 if self.cfg.n_fft % 2 == 0 else None
            spec[..., 1:last] *= 2.0
        else:
            spec = mag
        return _unbatch(torch.log(spec + self.cfg.log_eps).transpose(1, 2), single)

    def forward(self, wave: Tensor) -> Tensor:
        x = self.raw(wave)
        if self.cfg.normalize == "dataset":
            return (x - self.cfg.mean) / self.cfg.std
        dims = tuple(range(x.dim() - 3, x.dim()))
        return (x - x.mean(dim=dims, keepdim=True)) / (x.std(dim=dims, keepdim=True, unbiased=False) + 1e-9)


def linear_stft(wave: Tensor, cfg: LinearSTFTConfig) -> Tensor:
    """Functional form of :class:`LinearSTFT`."""
    return LinearSTFT(cfg).to(wave.device)(wave)


FrontendConfig = LogMelConfig | KaldiFbankConfig | LinearSTFTConfig
Frontend = LogMel | KaldiFbank | LinearSTFT


def build_frontend(cfg: FrontendConfig) -> Frontend:
    """The module for a front-end config."""
    if isinstance(cfg, LogMelConfig):
        return LogMel(cfg)
    if isinstance(cfg, KaldiFbankConfig):
        return KaldiFbank(cfg)
    if isinstance(cfg, LinearSTFTConfig):
        return LinearSTFT(cfg)
    raise TypeError(f"unknown front-end config {type(cfg).__name__}")
