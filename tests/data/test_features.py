"""Audio front-ends against independent references: kaldi-native-fbank, scipy and direct numpy computations."""

from __future__ import annotations

import json
import math

import kaldi_native_fbank as knf
import numpy as np
import pytest
import scipy.signal
import torch

from xmodal.data.features import (
    KaldiFbank,
    KaldiFbankConfig,
    LinearSTFT,
    LinearSTFTConfig,
    LogMel,
    LogMelConfig,
    kaldi_mel_banks,
    mel_filterbank,
    tukey_window,
)
from xmodal.data.stats import apply_stats, compute_stats, load_stats, save_stats

SR = 16000


def _noise(seconds: float, seed: int = 0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return (torch.rand(int(seconds * SR), generator=g) * 2 - 1) * 0.3


def _chirp(seconds: float) -> torch.Tensor:
    t = torch.arange(int(seconds * SR), dtype=torch.float64) / SR
    return (0.5 * torch.sin(2 * math.pi * (50 * t + (7900 - 50) / (2 * seconds) * t**2))).float()


def _knf_fbank(wave: torch.Tensor, num_bins: int) -> np.ndarray:
    opts = knf.FbankOptions()
    opts.frame_opts.samp_freq = SR
    opts.frame_opts.dither = 0.0
    opts.frame_opts.window_type = "hanning"
    opts.frame_opts.frame_length_ms = 25.0
    opts.frame_opts.frame_shift_ms = 10.0
    opts.frame_opts.snip_edges = True
    opts.frame_opts.preemph_coeff = 0.97
    opts.frame_opts.remove_dc_offset = True
    opts.mel_opts.num_bins = num_bins
    opts.use_energy = False
    opts.htk_compat = True
    fb = knf.OnlineFbank(opts)
    fb.accept_waveform(SR, wave.numpy().tolist())
    fb.input_finished()
    return np.stack([fb.get_frame(i) for i in range(fb.num_frames_ready)])


@pytest.mark.parametrize("num_bins", [80, 120])
def test_kaldi_fbank_matches_kaldi_native_fbank(num_bins: int) -> None:
    """Tolerance: float32 FFT/filter rounding, largest where energies approach the log floor (chirp far from its
    instantaneous frequency); |Δlog| < 2e-3 on noise, < 5e-3 on the chirp where log energy > -10, < 0.05 anywhere."""
    front = KaldiFbank(KaldiFbankConfig(num_mel_bins=num_bins, target_length=None, subtract_waveform_mean=False))
    noise, chirp = _noise(3.0), _chirp(3.0)
    ours, ref = front.log_fbank(noise)[0].numpy(), _knf_fbank(noise, num_bins)
    assert ours.shape == ref.shape == (1 + (3 * SR - 400) // 160, num_bins)
    assert np.abs(ours - ref).max() < 2e-3
    ours, ref = front.log_fbank(chirp)[0].numpy(), _knf_fbank(chirp, num_bins)
    assert np.abs(ours - ref)[ref > -10].max() < 5e-3
    assert np.abs(ours - ref).max() < 0.05


def test_kaldi_128_bins_has_one_empty_filter_like_torchaudio() -> None:
    """At 128 bins and a 512-point FFT one Kaldi filter covers no FFT bin: Kaldi refuses, torchaudio (which AudioMAE
    used) keeps an all-zero row whose log is the float32-eps floor. We reproduce torchaudio."""
    banks = kaldi_mel_banks(128, 512, SR, 20.0, 0.0)
    assert banks.shape == (128, 257)
    empty = (banks.sum(dim=1) == 0).nonzero().flatten().tolist()
    assert empty == [3]
    with pytest.raises(Exception, match="num_mel_bins"):
        _knf_fbank(_noise(0.1), 128)
    log = KaldiFbank(KaldiFbankConfig(target_length=None)).log_fbank(_noise(1.0))
    assert torch.allclose(log[0, :, 3], torch.tensor(math.log(torch.finfo(torch.float32).eps)))


def test_kaldi_fbank_audiomae_layout_and_normalization() -> None:
    cfg = KaldiFbankConfig()
    front = KaldiFbank(cfg)
    wave = _noise(10.0)
    raw, out = front.raw(wave), front(wave)
    assert raw.shape == out.shape == (1, 128, 1024)
    assert torch.allclose(out, (raw + 4.2677393) / (2 * 4.5689974))
    assert torch.all(raw[..., 998:] == 0)  # 998 real frames, zero padded (before normalization) as AudioMAE
    long = KaldiFbank(KaldiFbankConfig(target_length=500)).raw(wave)
    assert torch.equal(long, raw[..., :500])
    shifted = front.raw(wave + 0.25)  # the waveform mean is removed first
    assert torch.allclose(shifted, raw, atol=1e-3)


def _np_mel(n_freqs: int, n_mels: int, sr: int, htk: bool, slaney_norm: bool) -> np.ndarray:
    def to_mel(f: np.ndarray) -> np.ndarray:
        if htk:
            return 2595 * np.log10(1 + f / 700)
        return np.where(f < 1000, 3 * f / 200, 15 + 27 * np.log(np.maximum(f, 1e-10) / 1000) / np.log(6.4))

    def to_hz(m: np.ndarray) -> np.ndarray:
        if htk:
            return 700 * (10 ** (m / 2595) - 1)
        return np.where(m < 15, 200 * m / 3, 1000 * np.exp((m - 15) * np.log(6.4) / 27))

    hz = to_hz(np.linspace(to_mel(np.array(0.0)), to_mel(np.array(sr / 2)), n_mels + 2))
    freqs = np.linspace(0, sr / 2, n_freqs)
    out = np.zeros((n_freqs, n_mels))
    for m in range(n_mels):
        for i, f in enumerate(freqs):
            lo, c, hi = hz[m], hz[m + 1], hz[m + 2]
            if lo < f <= c:
                out[i, m] = (f - lo) / (c - lo)
            elif c < f < hi:
                out[i, m] = (hi - f) / (hi - c)
        if slaney_norm:
            out[:, m] *= 2 / (hz[m + 2] - hz[m])
    return out


@pytest.mark.parametrize(("scale", "norm"), [("htk", None), ("slaney", "slaney")])
def test_mel_filterbank_matches_numpy(scale: str, norm: str | None) -> None:
    ours = mel_filterbank(257, 40, SR, scale=scale, norm=norm).numpy()  # type: ignore[arg-type]
    ref = _np_mel(257, 40, SR, htk=scale == "htk", slaney_norm=norm == "slaney")
    assert np.abs(ours - ref).max() < 1e-5 * max(1.0, np.abs(ref).max())


@pytest.mark.parametrize(("official", "eps"), [(True, 1.1920929e-07), (False, 1e-6)])
def test_logmel_matches_numpy_and_has_paper_sizes(official: bool, eps: float) -> None:
    """Official front-end (Slaney scale + area norm, log(x + float32 eps)) and the legacy HTK one (tiny demo)."""
    legacy = {} if official else {"mel_scale": "htk", "mel_norm": "none", "log_eps": 1e-6}
    cfg = LogMelConfig(mean=-3.0, std=2.0, **legacy)  # type: ignore[arg-type]
    front = LogMel(cfg)
    wave = _chirp(4.0)
    assert front(wave).shape == (1, 80, 448)
    assert front(wave[:SR]).shape == (1, 80, 112)
    assert cfg.num_frames(4 * SR) == 448 and cfg.num_frames(SR) == 112
    x = np.pad(wave.numpy().astype(np.float64), 512, mode="reflect")
    win = 0.5 - 0.5 * np.cos(2 * np.pi * np.arange(1024) / 1024)
    frames = np.stack([x[i * 143 : i * 143 + 1024] * win for i in range(448)])
    power = np.abs(np.fft.rfft(frames, axis=1)) ** 2
    ref = np.log(power @ _np_mel(513, 80, SR, htk=not official, slaney_norm=official) + eps).T
    raw = front.raw(wave)[0].numpy()
    # float32 vs float64: exact to 1e-4 within 12 nats of the peak, rounding-limited (1e-2) near the floor
    assert np.abs(raw - ref)[ref > ref.max() - 12].max() < 1e-4
    assert np.abs(raw - ref).max() < 1e-2
    assert torch.allclose(front(wave), (front.raw(wave) + 3.0) / 2.0)


# librosa 0.11.0, the official code's calls (codes/train/datasets/audiotransforms/to_spec.py):
#   mfb = librosa.filters.mel(sr=16000, n_fft=1024, n_mels=80, fmin=0, fmax=None)
#   X = librosa.stft(wave, n_fft=1024, hop_length=143, pad_mode="reflect"); log(mfb @ (|X|² + eps64) + 1.1920929e-07)
# (reflect padding is the default of librosa 0.8.1, the official requirements' version; 0.10+ pads with zeros)
# on the 1 s chirp of _chirp(1.0): (mel, argmax bin, max weight, sum) of filters and log-mel values at (mel, frame).
LIBROSA_FILTERS = [
    (0, 2, 0.022534560412168503, 0.062344543635845184), (1, 5, 0.024223845452070236, 0.06403382867574692),
    (5, 14, 0.02347484603524208, 0.06328482180833817), (20, 50, 0.026295702904462814, 0.0661056861281395),
    (40, 110, 0.014444176107645035, 0.06395813822746277), (60, 238, 0.0066514392383396626, 0.06396028399467468),
    (79, 493, 0.0033306332770735025, 0.06397459656000137),
]
LIBROSA_LOGMEL = [(0, 0, 4.716051239257611), (10, 5, 4.847545981511487), (40, 56, -15.942283684254368),
                  (79, 111, 3.848136906015236), (30, 100, -15.942385042315717)]


def test_official_logmel_matches_librosa_values() -> None:
    fb = mel_filterbank(513, 80, SR, scale="slaney", norm="slaney").numpy().T
    for mel, peak, value, total in LIBROSA_FILTERS:
        assert int(fb[mel].argmax()) == peak
        assert fb[mel].max() == pytest.approx(value, rel=1e-5) and fb[mel].sum() == pytest.approx(total, rel=1e-5)
    raw = LogMel(LogMelConfig()).raw(_chirp(1.0))[0]
    assert raw.shape == (80, 112)
    for mel, frame, value in LIBROSA_LOGMEL:
        assert float(raw[mel, frame]) == pytest.approx(value, abs=1e-3)


def test_official_logmel_matches_librosa_when_installed() -> None:
    librosa = pytest.importorskip("librosa")
    wave = _noise(1.0, 3).numpy()
    mfb = librosa.filters.mel(sr=SR, n_fft=1024, n_mels=80, fmin=0, fmax=None)
    spec = librosa.stft(wave, n_fft=1024, hop_length=143, pad_mode="reflect")
    ref = np.log(mfb @ (np.abs(spec) ** 2 + np.finfo(float).eps) + np.finfo(np.float32).eps)
    raw = LogMel(LogMelConfig()).raw(torch.from_numpy(wave))[0].numpy()
    assert np.abs(mfb.T - mel_filterbank(513, 80, SR, scale="slaney", norm="slaney").numpy()).max() < 1e-7
    assert np.abs(raw - ref)[ref > ref.max() - 12].max() < 1e-4


def test_frontends_batch_equals_single() -> None:
    batch = torch.stack([_noise(1.0, 1), _noise(1.0, 2)])
    for front in (
        LogMel(LogMelConfig()),
        KaldiFbank(KaldiFbankConfig(target_length=None)),
        LinearSTFT(LinearSTFTConfig()),
    ):
        out = front(batch)
        assert out.shape[:2] == (2, 1)
        for i in range(2):
            assert torch.allclose(out[i], front(batch[i]), atol=1e-5)


def test_tukey_window_matches_scipy() -> None:
    for n, alpha in ((512, 0.25), (100, 0.5), (33, 1.0)):
        ref = scipy.signal.get_window(("tukey", alpha), n)
        assert np.abs(tukey_window(n, alpha).numpy() - ref).max() < 1e-6


def test_linear_stft_matches_scipy_and_numpy() -> None:
    cfg = LinearSTFTConfig()
    front = LinearSTFT(cfg)
    wave = _noise(3.0)
    raw = front.raw(wave)[0].numpy()
    assert raw.shape == (257, 299)  # CREMA-D size in c2kd-appendix §C.1
    assert front.raw(_noise(10.0)).shape == (1, 257, 1004)  # AVE / VGGSound size
    _, _, psd = scipy.signal.spectrogram(wave.numpy().astype(np.float64), SR, nperseg=512, noverlap=353)
    assert np.abs(raw - np.log(psd + 1e-7)).max() < 1e-4
    mag_front = LinearSTFT(LinearSTFTConfig(mode="magnitude", detrend=False, tukey_alpha=0.0))
    x = wave.numpy().astype(np.float64)
    frames = np.stack([x[i * 159 : i * 159 + 512] for i in range(299)])
    ref = np.log(np.abs(np.fft.rfft(frames, axis=1)) + 1e-7).T
    assert np.abs(mag_front.raw(wave)[0].numpy() - ref).max() < 1e-3
    out = front(wave)
    assert abs(float(out.mean())) < 1e-5 and abs(float(out.std(unbiased=False)) - 1) < 1e-4


def test_compute_stats_streams_exactly_and_roundtrips(tmp_path) -> None:
    front = LogMel(LogMelConfig(n_mels=32))
    waves = [_noise(1.0, s) * (s + 1) for s in range(3)] + [torch.stack([_noise(0.5, 7), _chirp(0.5)])]
    stats = compute_stats(iter(waves), front)
    allf = torch.cat([front.raw(w).double().flatten() for w in waves])
    assert stats["frontend"] == "logmel" and stats["num_clips"] == 5
    assert math.isclose(stats["mean"], float(allf.mean()), rel_tol=1e-9)
    assert math.isclose(stats["std"], float(allf.std(unbiased=False)), rel_tol=1e-9)
    path = tmp_path / "stats.json"
    save_stats(path, stats)
    assert load_stats(path) == stats
    assert set(json.loads(path.read_text())) == {"frontend", "mean", "std", "num_clips"}
    path.write_text(json.dumps({**stats, "std": 0.0}))
    with pytest.raises(ValueError, match="std"):
        load_stats(path)
    path.write_text("{not json")
    with pytest.raises(ValueError, match=r"stats\.json"):
        load_stats(path)
    with pytest.raises(ValueError, match="no waveforms"):
        compute_stats([], front)


def test_apply_stats_sets_normalization_and_checks_frontend() -> None:
    stats = {"frontend": "logmel", "mean": -5.0, "std": 3.0, "num_clips": 2}
    cfg = apply_stats(LogMelConfig(), stats)
    assert (cfg.mean, cfg.std) == (-5.0, 3.0)
    wave = _noise(1.0)
    assert torch.allclose(LogMel(cfg)(wave), (LogMel(cfg).raw(wave) + 5.0) / 3.0)
    stft = apply_stats(LinearSTFTConfig(), {**stats, "frontend": "linear_stft"})
    assert stft.normalize == "dataset" and stft.mean == -5.0
    with pytest.raises(ValueError, match="kaldi_fbank"):
        apply_stats(LogMelConfig(), {**stats, "frontend": "kaldi_fbank"})
