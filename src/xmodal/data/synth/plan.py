"""Per-clip random draws: the decisive factors, every nuisance value and the bounce schedule.

Video and audio are rendered from one :class:`ClipPlan`, so an impact is seen and heard at the same instant:
the object moves on a straight line reflected at the walls (an analytic triangle wave), and the times at which
it reaches a wall are the audio onsets. The random stream of clip ``i`` is seeded by ``(seed, i)`` only, so the
benchmark does not depend on the number of workers.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from xmodal.data.synth.config import SynthConfig


def clip_rng(seed: int, index: int, stream: int = 0) -> np.random.Generator:
    """Independent random stream ``stream`` of clip ``index`` (SeedSequence over the entropy list): 0 draws the
    plan, 1 the video noise/texture, 2 the audio noise, 3 the nuisances of the harder cues (bar angle,
    transposition), so changing one renderer never shifts the others and the 1.0 cues keep their exact draws."""
    return np.random.default_rng([seed, index, stream, 0x5E17])


def reflect(start: float, velocity: float, length: float, times: np.ndarray) -> np.ndarray:
    """Position at ``times`` of a point moving at ``velocity`` in [0, length], reflected at both ends."""
    unfolded = np.mod(start + velocity * times, 2.0 * length)
    return np.where(unfolded <= length, unfolded, 2.0 * length - unfolded)


def wall_hits(start: float, velocity: float, length: float, duration: float) -> np.ndarray:
    """Times in (0, duration) at which :func:`reflect` reaches 0 or ``length`` (the unfolded path crosses k·L)."""
    end = start + velocity * duration
    lo, hi = min(start, end), max(start, end)
    ks = np.arange(np.floor(lo / length) + 1, np.ceil(hi / length))
    times = (ks * length - start) / velocity
    return np.sort(times[(times > 0) & (times < duration)])


@dataclass(frozen=True)
class ClipPlan:
    """Everything random about one clip. Pixel values are in [0, 1]; positions in pixels; times in seconds."""

    index: int
    label: int
    general: int
    video_specific: int
    audio_specific: int
    object_px: float
    start_xy: tuple[float, float]
    velocity_xy: tuple[float, float]
    bounces: tuple[float, ...]
    light: tuple[float, float, float]
    dark: tuple[float, float, float]
    background: tuple[float, float, float]
    gradient: tuple[float, float, float, float, float, float]
    texture_velocity: tuple[float, float]
    distractor_start: tuple[tuple[float, float], ...]
    distractor_velocity: tuple[tuple[float, float], ...]
    distractor_colour: tuple[tuple[float, float, float], ...]
    distractor_theta: tuple[float, ...]
    tone_phase: float
    offscreen_rate: float
    offscreen_phase: float
    gain_db: float
    noise_db: float
    hum_hz: float
    hum_level: float
    bar_angle: float | None = None
    transpose: float | None = None

    def factor_record(self) -> dict[str, float | int | str]:
        """The row written to ``factors.csv`` (decisive factors first, then the main nuisance values)."""
        return {
            "index": self.index, "label": self.label, "general": self.general,
            "video_specific": self.video_specific, "audio_specific": self.audio_specific,
            "start_x": round(self.start_xy[0], 4), "start_y": round(self.start_xy[1], 4),
            "velocity_x": round(self.velocity_xy[0], 4), "velocity_y": round(self.velocity_xy[1], 4),
            "bounces": " ".join(f"{t:.4f}" for t in self.bounces),
            "gain_db": round(self.gain_db, 3), "noise_db": round(self.noise_db, 3),
            **({} if self.bar_angle is None else {"bar_angle_deg": round(float(np.degrees(self.bar_angle)), 3)}),
            **({} if self.transpose is None else {"transpose_bands": round(self.transpose, 4)}),
        }


def _unit_speed(rng: np.random.Generator, cfg: SynthConfig) -> float:
    return float(rng.uniform(cfg.speed_min, cfg.speed_max) * rng.choice([-1.0, 1.0]))


def plan_clip(cfg: SynthConfig, index: int, label: int) -> ClipPlan:
    """Draw clip ``index`` of class ``label``. Speeds are in box-widths per second, so the number of bounces
    per clip (about 2·duration·speed per axis) does not depend on the resolution."""
    rng = clip_rng(cfg.seed, index)
    cue_rng = clip_rng(cfg.seed, index, 3)
    g, v, a = cfg.factors_of(label)
    obj = cfg.object_frac * cfg.size
    box = cfg.size - obj
    start = (float(rng.uniform(0, box)), float(rng.uniform(0, box)))
    vel = (_unit_speed(rng, cfg) * box, _unit_speed(rng, cfg) * box)
    hits = np.concatenate([wall_hits(start[k], vel[k], box, cfg.duration) for k in range(2)])
    light = rng.uniform(0.75, 1.0, 3)
    dark = rng.uniform(0.0, 0.2, 3)
    radius = cfg.distractor_frac * cfg.size
    d_start = tuple((float(rng.uniform(-radius, cfg.size + radius)), float(rng.uniform(-radius, cfg.size + radius)))
                    for _ in range(cfg.distractors))
    d_vel = tuple((_unit_speed(rng, cfg) * cfg.size, _unit_speed(rng, cfg) * cfg.size) for _ in range(cfg.distractors))
    d_col = tuple(tuple(float(c) for c in rng.uniform(0, 1, 3)) for _ in range(cfg.distractors))
    d_theta = tuple(float(t) for t in rng.uniform(0, np.pi, cfg.distractors))
    return ClipPlan(
        index=index, label=label, general=g, video_specific=v, audio_specific=a,
        object_px=obj, start_xy=start, velocity_xy=vel, bounces=tuple(float(t) for t in np.sort(hits)),
        light=(float(light[0]), float(light[1]), float(light[2])),
        dark=(float(dark[0]), float(dark[1]), float(dark[2])),
        background=tuple(float(c) for c in rng.uniform(0.25, 0.75, 3)),  # type: ignore[arg-type]
        gradient=(*(float(c) for c in rng.uniform(-0.5, 0.5, 3)), float(rng.uniform(0, 2 * np.pi)),
                  float(rng.uniform(0.5, 2.0)), float(rng.uniform(-1.0, 1.0))),  # type: ignore[arg-type]
        texture_velocity=(float(rng.uniform(-1, 1) * cfg.size / 2), float(rng.uniform(-1, 1) * cfg.size / 2)),
        distractor_start=d_start, distractor_velocity=d_vel, distractor_colour=d_col,  # type: ignore[arg-type]
        distractor_theta=d_theta,
        tone_phase=float(rng.uniform(0, 2 * np.pi)),
        offscreen_rate=float(rng.uniform(0.5, 2.0)), offscreen_phase=float(rng.uniform(0, 2 * np.pi)),
        gain_db=float(rng.uniform(cfg.gain_db_min, cfg.gain_db_max)),
        noise_db=float(rng.uniform(cfg.noise_db_min, cfg.noise_db_max)),
        hum_hz=float(rng.choice([50.0, 60.0])), hum_level=float(rng.uniform(0, cfg.hum_level)),
        bar_angle=float(cue_rng.uniform(0, np.pi)) if cfg.video_cue == "relative" else None,
        transpose=float(cue_rng.uniform(0, cfg.transpose_bands)) if cfg.audio_cue == "interval" else None,
    )
