"""Benchmark presets (issue 10): the demo stays the demo, the γ ladder's γ, the factor structure of each preset,
the relational cues, and ``--preset`` on the CLI. Small sizes only (a few clips of 1 s)."""

from __future__ import annotations

import argparse
import csv
import dataclasses
import json
from pathlib import Path

import numpy as np
import pytest
import torch

from xmodal.cli._synth import add_synth_arguments, run_synth
from xmodal.data.features import LogMel, LogMelConfig
from xmodal.data.synth.config import ADDED_KNOBS, SynthConfig, SynthConfigError
from xmodal.data.synth.generate import generate
from xmodal.data.synth.plan import plan_clip
from xmodal.data.synth.presets import LADDER, LADDER_LEVELS, PRESETS, preset_config
from xmodal.data.synth.render_audio import render_audio
from xmodal.data.synth.render_video import render_video

TINY = {"clips": 16, "duration": 1.0}


def test_demo_preset_is_the_demo_and_writes_the_1_0_knobs_only() -> None:
    assert preset_config("demo") == SynthConfig.demo()
    knobs = preset_config("demo").to_dict()
    assert not set(ADDED_KNOBS) & set(knobs)  # manifest.json of the demo keeps its bytes
    assert SynthConfig.from_dict(knobs) == SynthConfig.demo()
    hard = preset_config("hard-audio")
    assert hard.to_dict()["audio_cue"] == "interval" and SynthConfig.from_dict(hard.to_dict()) == hard


def test_gamma_ladder_moves_only_the_levels() -> None:
    configs = {name: preset_config(name) for name in LADDER}
    for target, (name, cfg) in zip((0.0, 0.25, 0.5, 0.75, 1.0), configs.items(), strict=True):
        assert cfg.shares()["gamma"] == pytest.approx(target)
        assert cfg.num_classes == 16
        assert (cfg.general_levels, cfg.video_levels, cfg.audio_levels) == LADDER_LEVELS[name]
        assert cfg.shares()["alpha"] <= cfg.shares()["beta"]
    fixed = {f.name for f in dataclasses.fields(SynthConfig)} - {"general_levels", "video_levels", "audio_levels"}
    first = configs[LADDER[0]]
    for cfg in configs.values():
        assert all(getattr(cfg, name) == getattr(first, name) for name in fixed)


@pytest.mark.parametrize("name", ["complementary", "hard-audio", "gamma-0.25"])
def test_preset_labels_are_their_factors_and_meta_has_gamma(name: str, tmp_path: Path) -> None:
    cfg = preset_config(name, **TINY)
    manifest = generate(cfg, tmp_path, workers=1)
    meta = json.loads(manifest.with_suffix(".json").read_text())["meta"]
    assert meta["gamma"] == pytest.approx(cfg.shares()["gamma"]) and meta["num_classes"] == cfg.num_classes
    rows = list(csv.DictReader((tmp_path / "factors.csv").open()))
    factors = np.array([[int(r["general"]), int(r["video_specific"]), int(r["audio_specific"])] for r in rows])
    labels = np.array([int(r["label"]) for r in rows])
    assert labels.tolist() == [cfg.label_of(*f) for f in factors]
    counts = np.bincount(labels, minlength=cfg.num_classes)
    assert counts.max() - counts.min() <= 1  # balanced
    if name == "complementary":  # the class is the pair (video factor, audio factor): γ = 0, caps of 1/2
        assert cfg.general_levels == 1 and cfg.video_levels == cfg.audio_levels == 2 and meta["gamma"] == 0.0
        assert set(factors[:, 1]) == set(factors[:, 2]) == {0, 1}
    if name == "hard-audio":
        shifts = np.array([float(r["transpose_bands"]) for r in rows])
        assert shifts.min() >= 0 and shifts.max() <= cfg.transpose_bands and len(set(shifts)) == len(shifts)
        assert meta["factors"]["general"]["interval_bands"] == [8, 11, 14, 17]


def _two_loudest_bands(cfg: SynthConfig, wave: np.ndarray) -> tuple[int, int]:
    htk = LogMelConfig(hop_length=572, mel_scale="htk", mel_norm="none", log_eps=1e-6)  # the tiny configs' front-end
    spec = LogMel(htk)(torch.from_numpy(wave)[None]).reshape(80, -1).mean(-1)
    low, high = sorted(int(b) for b in torch.topk(spec, 2).indices)
    return low, high


def test_interval_cue_is_relative_and_transposition_is_label_free() -> None:
    cfg = preset_config("hard-audio", duration=1.0, hum_level=0.0, noise_db_min=-90, noise_db_max=-90)
    for index in range(8):
        plan = plan_clip(cfg, index, index % 4)
        low, high = _two_loudest_bands(cfg, render_audio(cfg, plan))
        assert high - low == pytest.approx(cfg.interval_min + cfg.pitch_bin_step * plan.general, abs=1)
        assert low == pytest.approx(cfg.pitch_bin0 + (plan.transpose or 0.0), abs=1)
    many = preset_config("hard-audio", clips=400)
    shifts = np.array([[plan_clip(many, i, g).transpose for i in range(100)] for g in range(4)], dtype=float)
    assert np.all(np.abs(shifts.mean(1) - many.transpose_bands / 2) < 4)  # same transposition for every class


def test_cue_nuisances_come_from_their_own_stream() -> None:
    base = SynthConfig(size=32, duration=1.0)
    plan = plan_clip(base, 5, 1)
    for change in ({"audio_cue": "interval", "transpose_bands": 10.0}, {"video_cue": "relative"}):
        other = plan_clip(dataclasses.replace(base, **change), 5, 1)
        assert dataclasses.replace(other, bar_angle=None, transpose=None) == plan
    rel = dataclasses.replace(base, video_cue="relative")
    a = plan_clip(rel, 0, 0)
    assert a.bar_angle is not None
    assert not np.array_equal(render_video(rel, a), render_video(rel, dataclasses.replace(a, general=1)))
    with pytest.raises(SynthConfigError, match="video_levels"):
        SynthConfig(video_cue="relative", video_levels=2)
    with pytest.raises(SynthConfigError, match="transpose_bands"):
        SynthConfig(transpose_bands=3.0)


def test_cli_preset_group_writes_every_rung(tmp_path: Path) -> None:
    parser = argparse.ArgumentParser()
    add_synth_arguments(parser)
    args = parser.parse_args(["--out", str(tmp_path / "ladder"), "--preset", "gamma-ladder", "--clips", "2",
                              "--duration", "0.5", "--workers", "1", "--x264-preset", "ultrafast",
                              "--json", str(tmp_path / "s.json")])
    assert run_synth(args) == 0
    summary = json.loads((tmp_path / "s.json").read_text())
    assert list(summary) == list(LADDER)
    for name in LADDER:
        meta = json.loads((tmp_path / "ladder" / name / "manifest.json").read_text())["meta"]
        assert meta["gamma"] == pytest.approx(summary[name]["gamma"]) and meta["knobs"]["preset"] == "ultrafast"
    bad = parser.parse_args(["--out", str(tmp_path / "x"), "--demo", "--preset", "complementary"])
    with pytest.raises(SynthConfigError, match="disagree"):  # xmodal prints it as one line, exit 2 (test_errors)
        run_synth(bad)
    assert set(PRESETS) >= {"demo", "complementary", "hard-audio", *LADDER}
