"""Every knob of the synthetic Modality-Venn-Diagram benchmark, in one typed dataclass.

The label is built from three *decisive* factors (MFH §4.1, Eq. 2–3):

* ``g`` — modality-general, seen AND heard: stripe orientation of the bouncing object ↔ pitch of its sound;
* ``v`` — video-specific, only seen: the object's silhouette;
* ``a`` — audio-specific, only heard: the pitch band of an off-screen sound source.

``label = (g · K_v + v) · K_a + a`` with ``K_* = *_levels``; a factor with one level is absent. Counting each
factor by its label information in bits (a factor with K equiprobable values is log2 K binary decisive
features), MFH's ratio γ = d0 / (d0 + d_sa + d_sb) becomes ``γ = log K_g / log(K_g · K_v · K_a)`` (see
:func:`SynthConfig.shares`). Everything else (colours, backgrounds, positions, speeds, distractors, loudness,
noise, hum) is nuisance, drawn independently of the label.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Any

SYNTH_VERSION = "1.0"
SHAPES: tuple[str, ...] = ("square", "disk", "diamond", "ring")
VIDEO_CUES = ("orientation", "relative")
AUDIO_CUES = ("pitch", "interval")
# Knobs added after version 1.0. ``to_dict`` writes them only when they differ from their defaults, so a benchmark
# generated with the 1.0 knobs (the demo preset) keeps a byte-identical manifest.json; ``from_dict`` restores the
# defaults when they are absent.
ADDED_KNOBS = ("video_cue", "bar_aspect", "audio_cue", "interval_min", "transpose_bands")


class SynthConfigError(ValueError):
    """A knob is out of range; the message names the knob."""


@dataclass(frozen=True)
class SynthConfig:
    """Knobs of the generator. Sizes given as ``*_frac`` are fractions of the frame side so that the
    benchmark keeps its look at any resolution (the pilot's 14 px object at 32² is ``object_frac=0.44``)."""

    clips: int = 1000
    seed: int = 0
    # clip geometry
    size: int = 112
    fps: int = 8
    duration: float = 4.0
    sample_rate: int = 16000
    # decisive factors (Modality Venn Diagram)
    general_levels: int = 4
    video_levels: int = 1
    audio_levels: int = 1
    # bouncing object (carries g and v)
    object_frac: float = 0.44
    stripe_period_frac: float = 0.1875
    speed_min: float = 0.4
    speed_max: float = 1.2
    # visual nuisance
    distractors: int = 3
    distractor_frac: float = 0.2
    distractor_alpha: float = 0.9
    distractor_stripe_contrast: float = 1.0
    gradient_strength: float = 0.6
    texture_strength: float = 0.35
    pixel_noise: float = 0.06
    # sounds: pitches are put on centres of an HTK mel filterbank so that they survive XKD's log-mel
    mel_bins: int = 80
    patch_height: int = 4
    pitch_bin0: int = 24
    pitch_bin_step: int = 5
    offscreen_bin0: int = 52
    offscreen_bin_step: int = 5
    sustain: float = 0.35
    onset_decay: float = 0.08
    # audio nuisance
    gain_db_min: float = -12.0
    gain_db_max: float = 0.0
    noise_db_min: float = -40.0
    noise_db_max: float = -20.0
    hum_level: float = 0.05
    # harder cues (presets hard-audio; docs/synthetic.md "Cues"): "relative" draws the object as a bar at a random
    # angle with stripes at (bar angle + general angle); "interval" plays two tones whose distance in mel bands is
    # ``interval_min + general * pitch_bin_step``, the lower one at ``pitch_bin0`` plus a random transposition in
    # [0, transpose_bands] bands. Both keep the class out of any bag of local orientations / pitches.
    video_cue: str = "orientation"
    bar_aspect: float = 0.5
    audio_cue: str = "pitch"
    interval_min: int = 8
    transpose_bands: float = 0.0
    # splits and encoding
    splits: tuple[float, float, float] = (0.7, 0.1, 0.2)
    crf: int = 18
    preset: str = "veryfast"
    audio_bitrate: int = 64000

    def __post_init__(self) -> None:
        checks: list[tuple[bool, str]] = [
            (self.clips >= 1, "clips must be >= 1"),
            (self.size >= 16 and self.size % 2 == 0, "size must be even and >= 16 (H.264 4:2:0)"),
            (self.fps >= 1, "fps must be >= 1"),
            (self.duration > 0, "duration must be > 0"),
            (self.sample_rate in (8000, 16000, 22050, 24000, 32000, 44100, 48000), "sample_rate not AAC-friendly"),
            (1 <= self.general_levels <= 16, "general_levels must be in 1..16"),
            (1 <= self.video_levels <= len(SHAPES), f"video_levels must be in 1..{len(SHAPES)}"),
            (1 <= self.audio_levels <= 6, "audio_levels must be in 1..6"),
            (self.num_classes >= 2, "general_levels * video_levels * audio_levels must be >= 2"),
            (0.1 <= self.object_frac <= 0.8, "object_frac must be in [0.1, 0.8]"),
            (self.stripe_period_frac * self.size >= 3, "stripe period below 3 px aliases"),
            (0 < self.speed_min <= self.speed_max, "need 0 < speed_min <= speed_max"),
            (self.distractors >= 0 and 0 <= self.distractor_alpha <= 1, "distractors/distractor_alpha out of range"),
            (0 <= self.distractor_stripe_contrast <= 1, "distractor_stripe_contrast must be in [0, 1]"),
            (self.video_cue in VIDEO_CUES, f"video_cue must be one of {VIDEO_CUES}"),
            (self.audio_cue in AUDIO_CUES, f"audio_cue must be one of {AUDIO_CUES}"),
            (self.video_cue == "orientation" or self.video_levels == 1,
             "video_cue 'relative' draws a bar: it needs video_levels 1 (no silhouette factor)"),
            (0.2 <= self.bar_aspect <= 1.0, "bar_aspect must be in [0.2, 1]"),
            (self.audio_cue == "interval" or self.transpose_bands == 0,
             "transpose_bands needs audio_cue 'interval' (a transposed pitch would blur the pitch classes)"),
            (self.transpose_bands >= 0 and self.interval_min >= 1, "need transpose_bands >= 0 and interval_min >= 1"),
            (self.audio_cue == "interval" or math.gcd(self.pitch_bin_step, self.patch_height) == 1,
             "pitch_bin_step must be coprime with patch_height (else classes share a mel row inside a patch)"),
            (self.audio_levels == 1 or self.top_general_band < self.offscreen_bin0 - 2,
             "general pitches must stay below the off-screen band"),
            (self.top_general_band < self.mel_bins - 1, "general pitches exceed the mel range"),
            (self.offscreen_bin0 + self.offscreen_bin_step * (self.audio_levels - 1) < self.mel_bins - 1,
             "off-screen pitches exceed the mel range"),
            (len(self.splits) == 3 and min(self.splits) >= 0 and abs(sum(self.splits) - 1) < 1e-6,
             "splits must be three non-negative fractions summing to 1"),
            (0 <= self.crf <= 51, "crf must be in 0..51"),
        ]
        for ok, message in checks:
            if not ok:
                raise SynthConfigError(message)

    @property
    def num_classes(self) -> int:
        return self.general_levels * self.video_levels * self.audio_levels

    @property
    def top_general_band(self) -> float:
        """Highest mel band the object's sound can reach (the upper tone of the widest interval when transposed)."""
        top = self.pitch_bin0 + self.pitch_bin_step * (self.general_levels - 1)
        return top + self.interval_min + self.transpose_bands if self.audio_cue == "interval" else top

    @property
    def num_frames(self) -> int:
        return round(self.duration * self.fps)

    @property
    def num_samples(self) -> int:
        return round(self.duration * self.sample_rate)

    def shares(self) -> dict[str, float]:
        """MFH's (γ, α, β) with each factor counted in bits: γ = log K_g / log(K_g K_v K_a) (MFH §4.1).
        α is the audio-specific share (the teacher modality a), β the video-specific one."""
        bits = {k: math.log2(n) for k, n in
                (("g", self.general_levels), ("v", self.video_levels), ("a", self.audio_levels))}
        total = sum(bits.values())
        return {"gamma": bits["g"] / total, "alpha": bits["a"] / total, "beta": bits["v"] / total}

    def class_names(self) -> list[str]:
        """``g<orientation degrees>`` plus ``-<shape>`` / ``-a<k>`` when those factors are decisive."""
        names = []
        for label in range(self.num_classes):
            g, v, a = self.factors_of(label)
            name = f"g{round(180 * g / self.general_levels):03d}"
            if self.video_levels > 1:
                name += f"-{SHAPES[v]}"
            if self.audio_levels > 1:
                name += f"-a{a}"
            names.append(name)
        return names

    def label_of(self, g: int, v: int, a: int) -> int:
        return (g * self.video_levels + v) * self.audio_levels + a

    def factors_of(self, label: int) -> tuple[int, int, int]:
        rest, a = divmod(label, self.audio_levels)
        g, v = divmod(rest, self.video_levels)
        return g, v, a

    def to_dict(self) -> dict[str, Any]:
        """Every knob, except post-1.0 knobs left at their default (see :data:`ADDED_KNOBS`)."""
        out = dataclasses.asdict(self)
        out["splits"] = list(self.splits)
        defaults = {f.name: f.default for f in dataclasses.fields(self)}
        for name in ADDED_KNOBS:
            if out[name] == defaults[name]:
                del out[name]
        return out

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> SynthConfig:
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise SynthConfigError(f"unknown synth knobs: {unknown}")
        values = dict(values)
        if "splits" in values:
            values["splits"] = tuple(float(x) for x in values["splits"])
        return cls(**values)

    @classmethod
    def demo(cls, **overrides: Any) -> SynthConfig:
        """The CPU-demo size (pilot-xkd-synthetic.md: 32² frames, 4 classes, large striped object)."""
        base: dict[str, Any] = {"size": 32, "clips": 2000}
        base.update(overrides)
        return cls(**base)
