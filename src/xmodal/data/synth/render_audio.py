"""Waveform of one clip: the object's tone (pitch = modality-general factor) with an onset at every bounce,
an off-screen tone (pitch = audio-specific factor), and nuisance (loudness, white noise, mains hum).

Pitches sit on the centres of an HTK mel filterbank (``mel_bins`` bands from 0 Hz to Nyquist, the XKD log-mel
of XKD §4.1 has 80) so that each class lights one mel band. The general pitches are ``pitch_bin0 + k ·
pitch_bin_step``; with a step that is coprime with the spectrogram patch height (5 vs 4 rows in XKD's 4×16
patches) the band's offset *inside* a patch differs between classes. Mean-pooled patch tokens keep that
in-patch offset but largely lose which patch row lit up, which merged classes in the pilot when two pitches
were equal modulo the patch height.
"""

from __future__ import annotations

import numpy as np

from xmodal.data.synth.config import SynthConfig
from xmodal.data.synth.plan import ClipPlan, clip_rng

ATTACK_S = 0.002


def hz_to_mel(hz: np.ndarray | float) -> np.ndarray:
    return 2595.0 * np.log10(1.0 + np.asarray(hz, np.float64) / 700.0)


def mel_to_hz(mel: np.ndarray | float) -> np.ndarray:
    return 700.0 * (10.0 ** (np.asarray(mel, np.float64) / 2595.0) - 1.0)


def mel_centre_hz(band: float, mel_bins: int, sample_rate: int) -> float:
    """Centre frequency of band ``band`` (fractional bands lie between centres, evenly in mel) of an HTK mel
    filterbank with ``mel_bins`` bands over [0, sr/2]."""
    top = hz_to_mel(sample_rate / 2)
    return float(mel_to_hz(top * (band + 1) / (mel_bins + 1)))


def general_pitch_hz(cfg: SynthConfig, general: int) -> float:
    return mel_centre_hz(cfg.pitch_bin0 + cfg.pitch_bin_step * general, cfg.mel_bins, cfg.sample_rate)


def object_pitches_hz(cfg: SynthConfig, plan: ClipPlan) -> tuple[float, ...]:
    """The object's tone(s): one pitch per general level (cue "pitch"), or a dyad (cue "interval") whose lower tone
    is transposed at random and whose distance in mel bands carries the general factor."""
    if cfg.audio_cue == "pitch":
        return (general_pitch_hz(cfg, plan.general),)
    low = cfg.pitch_bin0 + (plan.transpose or 0.0)
    high = low + cfg.interval_min + cfg.pitch_bin_step * plan.general
    return (mel_centre_hz(low, cfg.mel_bins, cfg.sample_rate), mel_centre_hz(high, cfg.mel_bins, cfg.sample_rate))


def offscreen_pitch_hz(cfg: SynthConfig, audio_specific: int) -> float:
    return mel_centre_hz(cfg.offscreen_bin0 + cfg.offscreen_bin_step * audio_specific, cfg.mel_bins, cfg.sample_rate)


def onset_envelope(times: np.ndarray, onsets: tuple[float, ...], sustain: float, decay: float) -> np.ndarray:
    """``sustain`` plus, per onset, a 2 ms linear attack and an exponential decay with time constant ``decay``:
    a struck-object sound that is audible at the very instant the object touches the wall."""
    env = np.full(times.shape, sustain, np.float64)
    for t0 in onsets:
        rel = times - t0
        after = rel >= 0
        env[after] += np.minimum(rel[after] / ATTACK_S, 1.0) * np.exp(-rel[after] / decay)
    return env


def render_audio(cfg: SynthConfig, plan: ClipPlan) -> np.ndarray:
    """Return a mono float32 waveform of ``cfg.num_samples`` samples with peak ``10^(gain_db/20) / 2``."""
    rng = clip_rng(cfg.seed, plan.index, 2)
    times = np.arange(cfg.num_samples) / cfg.sample_rate
    pitches = object_pitches_hz(cfg, plan)
    tone = sum(np.sin(2 * np.pi * hz * times + plan.tone_phase + k) for k, hz in enumerate(pitches)) / len(pitches)
    wave = onset_envelope(times, plan.bounces, cfg.sustain, cfg.onset_decay) * tone
    if cfg.audio_levels > 1:
        swell = 0.35 + 0.15 * np.sin(2 * np.pi * plan.offscreen_rate * times + plan.offscreen_phase)
        wave += swell * np.sin(2 * np.pi * offscreen_pitch_hz(cfg, plan.audio_specific) * times)
    wave += plan.hum_level * np.sin(2 * np.pi * plan.hum_hz * times)
    rms = float(np.sqrt(np.mean(wave**2)))
    wave += rms * 10 ** (plan.noise_db / 20) * rng.standard_normal(wave.shape)
    wave *= 0.5 * 10 ** (plan.gain_db / 20) / max(float(np.max(np.abs(wave))), 1e-9)
    return wave.astype(np.float32)
