"""Named benchmark presets (issue 10): each is a :class:`SynthConfig` built to make one claim measurable on a CPU.

* ``demo`` — :meth:`SynthConfig.demo`, unchanged (the README demo and its documented numbers rely on its bytes).
* ``complementary`` — the class is a pair (silhouette, off-screen pitch): γ = 0, each modality alone is capped at
  1/2, audio+video can reach 100 % (fusion and joint representations matter).
* ``hard-audio`` — γ = 1 with the *relational* audio cue: the class is the interval between two randomly
  transposed tones, so no bag of pitches (a linear model on the pooled spectrum, a random ViT's mean-pooled
  tokens + linear probe) reads it, while a trained network can; the video cue is the demo's stripe orientation.
* ``gamma-0`` … ``gamma-1`` — the MVD ladder: 16 classes (4 bits of label) with 4γ of them shared by both
  modalities; every other knob is fixed. ``gamma-ladder`` on the CLI writes all five.

The values were tuned with ``xmodal data learnability`` on small sizes; docs/synthetic.md gives their tables.
"""

from __future__ import annotations

from typing import Any

from xmodal.data.synth.config import SynthConfig, SynthConfigError

# 32² frames, 4 s at 8 fps, 16 kHz: the demo geometry, so the tiny pretraining config runs on every preset.
_SMALL: dict[str, Any] = {"size": 32}

# γ ladder: (general, video, audio) levels with K_g K_v K_a = 16 and γ = log2 K_g / 4. The non-shared bits are
# split evenly; the odd one (γ = 0.25, 0.75) goes to the video-specific factor, so α ≤ β on every rung.
LADDER_LEVELS: dict[str, tuple[int, int, int]] = {
    "gamma-0": (1, 4, 4), "gamma-0.25": (2, 4, 2), "gamma-0.5": (4, 2, 2), "gamma-0.75": (8, 2, 1),
    "gamma-1": (16, 1, 1),
}
# 16 general pitches fit below the off-screen band with a step of 3 bands (coprime with 4- and 8-row patches).
_LADDER: dict[str, Any] = {**_SMALL, "clips": 1600, "pitch_bin0": 22, "pitch_bin_step": 3, "offscreen_bin0": 70,
                           "offscreen_bin_step": 2}

PRESETS: dict[str, dict[str, Any]] = {
    "demo": {},
    "complementary": {**_SMALL, "clips": 1200, "general_levels": 1, "video_levels": 2, "audio_levels": 2,
                      "object_frac": 0.5, "distractors": 2, "distractor_stripe_contrast": 0.0},
    "hard-audio": {**_SMALL, "clips": 1600, "general_levels": 4, "audio_cue": "interval", "pitch_bin0": 16,
                   "pitch_bin_step": 3, "interval_min": 8, "transpose_bands": 30.0},
    **{name: {**_LADDER, "general_levels": g, "video_levels": v, "audio_levels": a}
       for name, (g, v, a) in LADDER_LEVELS.items()},
}
LADDER = tuple(LADDER_LEVELS)
GROUPS: dict[str, tuple[str, ...]] = {"gamma-ladder": LADDER}


def preset_names() -> list[str]:
    """Every name ``--preset`` accepts: single presets, then groups that write several benchmarks."""
    return [*PRESETS, *GROUPS]


def preset_config(name: str, **overrides: Any) -> SynthConfig:
    """The preset's config with ``overrides`` applied on top (e.g. ``clips``, ``seed``)."""
    if name not in PRESETS:
        raise SynthConfigError(f"unknown preset {name!r}; known: {', '.join(preset_names())}")
    if name == "demo":
        return SynthConfig.demo(**overrides)
    return SynthConfig(**{**PRESETS[name], **overrides})
