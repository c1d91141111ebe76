"""Frames of one clip, vectorized over (T, H, W) in numpy.

Layers, back to front: drifting colour gradient → moving blocky texture → the bouncing object (silhouette =
video-specific factor, stripe orientation = modality-general factor) → moving distractor disks (alpha 0.9) drawn
OVER the object, themselves striped at random orientations → pixel noise. The design pilot (docs/synthetic.md,
"Why the defaults are what they are") found that the visual class must be a coarse, high-contrast luminance
pattern carried by many patches to be learnable at 32², and that heavy nuisance drawn over it is what makes a
reconstruction-only learner drift to the nuisance. Striped distractors add orientation energy unrelated to the
label, so "which orientations are in the frame" is not enough: a video learner must tie the orientation to the
object (which the audio singles out: its bounces are the heard onsets).
"""

from __future__ import annotations

import numpy as np

from xmodal.data.synth.config import SHAPES, SynthConfig
from xmodal.data.synth.plan import ClipPlan, clip_rng, reflect


def _soft(edge_distance: np.ndarray) -> np.ndarray:
    """Anti-aliased coverage from a signed distance (positive inside), one pixel wide."""
    return np.clip(edge_distance + 0.5, 0.0, 1.0)


def _stripes(dx: np.ndarray, dy: np.ndarray, theta: float, period: float) -> np.ndarray:
    """Soft square wave in [0, 1] across the stripe normal at angle ``theta``; phase fixed to the centre
    (dx, dy) = 0, so the polarity is the same in every clip (the pilot's learnable cue)."""
    kx, ky = float(2 * np.pi * np.cos(theta) / period), float(2 * np.pi * np.sin(theta) / period)
    across = np.cos(kx * dx + ky * dy)
    return 0.5 + 0.5 * np.clip(3.0 * across, -1.0, 1.0)


def _blend(frames: np.ndarray, colour: np.ndarray, alpha: np.ndarray) -> None:
    """In place ``frames ← frames + alpha · (colour − frames)`` with one temporary (this is the hot loop)."""
    tmp = np.subtract(colour, frames, dtype=np.float32)
    tmp *= alpha[..., None]
    frames += tmp


def shape_coverage(shape: str, dx: np.ndarray, dy: np.ndarray, radius: float) -> np.ndarray:
    """Coverage in [0, 1] of a silhouette centred at (0, 0) with half-size ``radius``."""
    if shape == "square":
        return _soft(radius - np.maximum(np.abs(dx), np.abs(dy)))
    dist = np.sqrt(dx * dx + dy * dy)
    if shape == "disk":
        return _soft(radius - dist)
    if shape == "diamond":
        return _soft((1.25 * radius - np.abs(dx) - np.abs(dy)) / np.sqrt(2.0))
    if shape == "ring":
        return _soft(radius - dist) * _soft(dist - 0.45 * radius)
    raise ValueError(f"unknown shape {shape!r}; expected one of {SHAPES}")


def object_track(cfg: SynthConfig, plan: ClipPlan, times: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Centre (x, y) of the object at ``times`` (pixel units, origin at the top-left pixel centre)."""
    box = cfg.size - plan.object_px
    half = plan.object_px / 2 - 0.5
    x = reflect(plan.start_xy[0], plan.velocity_xy[0], box, times) + half
    y = reflect(plan.start_xy[1], plan.velocity_xy[1], box, times) + half
    return x, y


def render_video(cfg: SynthConfig, plan: ClipPlan) -> np.ndarray:
    """Return uint8 frames (T, H, W, 3) at ``cfg.fps``; frame ``i`` shows time ``i / fps``."""
    rng = clip_rng(cfg.seed, plan.index, 1)
    n, s = cfg.num_frames, cfg.size
    times = (np.arange(n) / cfg.fps).astype(np.float32)
    grid = np.arange(s, dtype=np.float32)
    yy, xx = grid[None, :, None], grid[None, None, :]
    t3 = times[:, None, None]

    amp = np.asarray(plan.gradient[:3], np.float32)
    angle, cycles, drift = plan.gradient[3:]
    along = (float(np.cos(angle)) * xx + float(np.sin(angle)) * yy) / s
    wave = np.sin(2 * np.pi * (cycles * along + drift * t3))
    frames = np.asarray(plan.background, np.float32) + (cfg.gradient_strength * wave[..., None]) * amp

    cell = max(2, s // 8)
    coarse = rng.uniform(-1, 1, (s // cell + 1, s // cell + 1)).astype(np.float32)
    texture = np.kron(coarse, np.ones((cell, cell), np.float32))[:s, :s]
    shift_x = np.round(plan.texture_velocity[0] * times).astype(np.int64)
    shift_y = np.round(plan.texture_velocity[1] * times).astype(np.int64)
    rows = (np.arange(s)[None, :] + shift_y[:, None]) % s
    cols = (np.arange(s)[None, :] + shift_x[:, None]) % s
    frames += cfg.texture_strength * 0.5 * texture[rows[:, :, None], cols[:, None, :]][..., None]

    cx, cy = object_track(cfg, plan, times)
    dx, dy = xx - cx[:, None, None].astype(np.float32), yy - cy[:, None, None].astype(np.float32)
    period = cfg.stripe_period_frac * s
    light, dark = np.asarray(plan.light, np.float32), np.asarray(plan.dark, np.float32)
    theta = np.pi * plan.general / cfg.general_levels
    if cfg.video_cue == "relative":  # a bar at a random angle; the class is the stripes' angle relative to it
        phi = plan.bar_angle or 0.0
        theta += phi
        along = float(np.cos(phi)) * dx + float(np.sin(phi)) * dy
        across = float(np.cos(phi)) * dy - float(np.sin(phi)) * dx
        coverage = _soft(np.minimum(plan.object_px / 2 - np.abs(along), cfg.bar_aspect * plan.object_px / 2
                                    - np.abs(across)))
    else:
        coverage = shape_coverage(SHAPES[plan.video_specific], dx, dy, plan.object_px / 2)
    stripes = _stripes(dx, dy, theta, period)
    colour = dark + stripes[..., None] * (light - dark)
    _blend(frames, colour, coverage)

    radius = cfg.distractor_frac * s
    span = s + 2 * radius
    for start, vel, col, theta in zip(plan.distractor_start, plan.distractor_velocity, plan.distractor_colour,
                                      plan.distractor_theta, strict=True):
        bx = reflect(start[0] + radius, vel[0], span, times) - radius
        by = reflect(start[1] + radius, vel[1], span, times) - radius
        ddx, ddy = xx - bx[:, None, None].astype(np.float32), yy - by[:, None, None].astype(np.float32)
        alpha = cfg.distractor_alpha * _soft(radius - np.sqrt(ddx * ddx + ddy * ddy))
        if cfg.distractor_stripe_contrast > 0:
            shade = cfg.distractor_stripe_contrast * (_stripes(ddx, ddy, theta, period) - 0.5)
            _blend(frames, np.asarray(col, np.float32) + shade[..., None], alpha)
        else:
            _blend(frames, np.asarray(col, np.float32), alpha)

    if cfg.pixel_noise > 0:
        # uniform noise with standard deviation ``pixel_noise`` from raw bytes: 10× cheaper than Gaussian draws
        noise = np.frombuffer(rng.bytes(frames.size), np.uint8).reshape(frames.shape).astype(np.float32)
        frames += (noise - 127.5) * np.float32(cfg.pixel_noise / 73.9)
    np.clip(frames, 0.0, 1.0, out=frames)
    frames *= 255.0
    frames += 0.5
    return frames.astype(np.uint8)
