"""Synthetic MVD benchmark: real MP4s, reproducibility, manifest, audio-visual sync, the γ knob, the CLI."""

from __future__ import annotations

import argparse
import csv
import dataclasses
import hashlib
import json
from pathlib import Path

import av
import numpy as np
import pytest
import torch

from xmodal.cli._synth import add_synth_arguments, run_synth
from xmodal.data.synth.config import SynthConfig, SynthConfigError
from xmodal.data.synth.generate import generate
from xmodal.data.synth.plan import plan_clip, wall_hits
from xmodal.data.synth.render_audio import render_audio
from xmodal.data.synth.render_video import render_video

SMALL = SynthConfig(clips=8, size=32, duration=2.0, seed=3)


def _hashes(root: Path) -> dict[str, str]:
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file()}


@pytest.fixture(scope="module")
def small(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("synth")
    return generate(SMALL, out, workers=1)


def test_clips_are_decodable_h264_aac_with_the_requested_geometry(small: Path) -> None:
    rows = list(csv.DictReader(small.open()))
    assert len(rows) == SMALL.clips
    for row in rows[:3]:
        with av.open(str(small.parent / row["path"])) as container:
            video, audio = container.streams.video[0], container.streams.audio[0]
            assert video.codec_context.name == "h264" and audio.codec_context.name == "aac"
            assert (video.width, video.height, video.average_rate) == (32, 32, 8)
            assert audio.sample_rate == 16000 and audio.channels == 1
            assert container.duration / 1e6 == pytest.approx(SMALL.duration, abs=0.05)
            frames = [f.to_ndarray(format="rgb24") for f in container.decode(video=0)]
        assert len(frames) == SMALL.num_frames and frames[0].shape == (32, 32, 3)
        with av.open(str(small.parent / row["path"])) as container:
            samples = sum(f.samples for f in container.decode(audio=0))
        assert SMALL.num_samples <= samples <= SMALL.num_samples + 1024


def test_decoded_audio_is_not_delayed_by_aac_priming(small: Path) -> None:
    cfg = SMALL
    with av.open(str(small.parent / "clips/synth_000000.mp4")) as container:
        decoded = np.concatenate([f.to_ndarray()[0] for f in container.decode(audio=0)])
    rows = list(csv.DictReader((small.parent / "factors.csv").open()))
    plan = plan_clip(cfg, 0, int(rows[0]["label"]))
    rendered = render_audio(cfg, plan)
    lags = np.arange(-400, 401)
    scores = [float(np.dot(decoded[400 + k: 400 + k + 8000], rendered[400: 8400])) for k in lags]
    assert abs(int(lags[int(np.argmax(scores))])) <= 16  # 1 ms at 16 kHz


def test_generation_is_byte_identical_across_runs_and_worker_counts(small: Path, tmp_path: Path) -> None:
    again = generate(SMALL, tmp_path / "two_workers", workers=2)
    assert _hashes(small.parent) == _hashes(again.parent)


def test_manifest_and_meta(small: Path) -> None:
    rows = list(csv.DictReader(small.open()))
    assert list(rows[0]) == ["path", "label", "split", "start", "end", "id"]
    sidecar = json.loads((small.parent / "manifest.json").read_text())
    assert sidecar["classes"] == ["g000", "g045", "g090", "g135"]
    meta = sidecar["meta"]
    assert meta["seed"] == 3 and meta["gamma"] == 1.0 and meta["alpha"] == meta["beta"] == 0.0
    assert meta["knobs"]["size"] == 32 and meta["factors_file"] == "factors.csv"
    assert sum(meta["split_counts"].values()) == SMALL.clips
    assert {r["label"] for r in rows} == set(sidecar["classes"])
    assert {r["split"] for r in rows} <= {"train", "val", "test"}
    assert all(r["start"] == "0.0" and r["end"] == "2.0" for r in rows)
    factors = {r["id"]: r for r in csv.DictReader((small.parent / "factors.csv").open())}
    for row in rows:
        rec = factors[row["id"]]
        assert sidecar["classes"][int(rec["label"])] == row["label"]
        assert int(rec["label"]) == SMALL.label_of(int(rec["general"]), int(rec["video_specific"]),
                                                   int(rec["audio_specific"]))


def test_splits_are_stratified_and_balanced() -> None:
    from xmodal.data.synth.generate import assign_labels, assign_splits

    cfg = SynthConfig(clips=400)
    labels = assign_labels(cfg)
    splits = np.array(assign_splits(cfg, labels))
    assert np.bincount(labels).tolist() == [100] * 4
    for c in range(4):
        counts = [int(np.sum((labels == c) & (splits == s))) for s in ("train", "val", "test")]
        assert counts == [70, 10, 20]


def _object_centres(frames: np.ndarray, background: np.ndarray) -> np.ndarray:
    """Twice the bounding-box centre (x, y) of the object per frame, in whole pixels."""
    mask = np.abs(frames.astype(np.float32) - background * 255).max(axis=-1) > 5
    centres = []
    for hit in (mask.any(axis=1), mask.any(axis=2)):  # columns (x), rows (y) touched by the object
        first, last = hit.argmax(axis=1), hit.shape[1] - 1 - hit[:, ::-1].argmax(axis=1)
        centres.append(first + last)
    return np.stack(centres, axis=1)


def _audio_onsets(wave: np.ndarray, sample_rate: int) -> np.ndarray:
    block = sample_rate // 250
    env = np.abs(wave[: len(wave) // block * block]).reshape(-1, block).max(axis=1)
    floor = np.percentile(env, 5)
    rises = np.flatnonzero(np.diff(env) > 0.5 * floor) + 1
    keep = rises[np.concatenate([[True], np.diff(rises) > 5])]
    return keep * block / sample_rate


def _turning_frames(coord: np.ndarray) -> list[np.ndarray]:
    """Frames of each local extremum of a pixel-quantized track: runs of equal values whose neighbouring runs are
    both lower or both higher (a bounce near a frame boundary can leave the object at the wall for two frames)."""
    change = np.flatnonzero(np.diff(coord)) + 1
    runs = np.split(np.arange(len(coord)), change)
    values = [coord[r[0]] for r in runs]
    return [runs[k] for k in range(1, len(runs) - 1)
            if (values[k - 1] - values[k]) * (values[k + 1] - values[k]) > 0]


@pytest.mark.parametrize("index", range(6))
def test_audio_onsets_coincide_with_visual_bounces(index: int) -> None:
    cfg = SynthConfig(size=64, seed=11, distractors=0, gradient_strength=0, texture_strength=0, pixel_noise=0,
                      hum_level=0, noise_db_min=-120, noise_db_max=-120)
    plan = plan_clip(cfg, index, index % cfg.num_classes)
    centres = _object_centres(render_video(cfg, plan), np.asarray(plan.background))
    turns = _turning_frames(centres[:, 0]) + _turning_frames(centres[:, 1])
    audio = _audio_onsets(render_audio(cfg, plan), cfg.sample_rate)
    frame = 1 / cfg.fps
    inner = audio[(audio > frame) & (audio < cfg.duration - 2 * frame)]
    assert len(inner) >= 1 and len(turns) >= 1
    for t in inner:
        assert any(np.min(np.abs(run / cfg.fps - t)) <= frame + 1e-6 for run in turns), (t, turns)
    for run in turns:
        assert np.min(np.abs(run[:, None] / cfg.fps - audio[None, :])) <= frame + 1e-6, (run, audio)


def test_wall_hits_are_where_the_reflected_path_turns() -> None:
    hits = wall_hits(2.0, -3.0, 10.0, 10.0)
    assert hits.tolist() == pytest.approx([2 / 3, 4.0, 22 / 3])


def test_gamma_knob_sets_the_shares_and_factors_reach_only_their_modality() -> None:
    assert SynthConfig().shares() == {"gamma": 1.0, "alpha": 0.0, "beta": 0.0}
    shares = SynthConfig(general_levels=4, video_levels=2, audio_levels=2).shares()
    assert shares == pytest.approx({"gamma": 0.5, "alpha": 0.25, "beta": 0.25})
    assert SynthConfig(general_levels=2, video_levels=2, audio_levels=2).shares()["gamma"] == pytest.approx(1 / 3)
    assert SynthConfig(general_levels=1, video_levels=2, audio_levels=2).shares()["gamma"] == 0.0
    cfg = SynthConfig(size=32, duration=1.0, general_levels=2, video_levels=2, audio_levels=2)
    assert cfg.num_classes == 8 and cfg.class_names()[cfg.label_of(1, 1, 1)] == "g090-disk-a1"
    base = plan_clip(cfg, 0, 0)

    def differs(**change: int) -> tuple[bool, bool]:
        other = dataclasses.replace(base, **change)
        return (not np.array_equal(render_video(cfg, base), render_video(cfg, other)),
                not np.array_equal(render_audio(cfg, base), render_audio(cfg, other)))

    assert differs(general=1) == (True, True)
    assert differs(video_specific=1) == (True, False)
    assert differs(audio_specific=1) == (False, True)


def test_bad_knobs_are_named() -> None:
    with pytest.raises(SynthConfigError, match="coprime"):
        SynthConfig(pitch_bin_step=4)
    with pytest.raises(SynthConfigError, match="size"):
        SynthConfig(size=33)
    with pytest.raises(SynthConfigError, match="unknown"):
        SynthConfig.from_dict({"sizes": 3})


def test_cli_generates_and_rejects_bad_knobs(tmp_path: Path) -> None:
    parser = argparse.ArgumentParser()
    add_synth_arguments(parser)
    args = parser.parse_args(["--out", str(tmp_path / "b"), "--demo", "--clips", "4", "--duration", "1",
                              "--workers", "1", "--json", str(tmp_path / "s.json")])
    assert run_synth(args) == 0
    summary = json.loads((tmp_path / "s.json").read_text())
    assert summary["clips"] == 4 and summary["size"] == 32 and summary["gamma"] == 1.0
    assert (tmp_path / "b" / "manifest.csv").exists()
    with pytest.raises(SynthConfigError, match="size"):  # xmodal prints it as one line, exit 2 (test_errors)
        run_synth(parser.parse_args(["--out", str(tmp_path / "c"), "--size", "31"]))


def test_each_general_level_lights_its_own_mel_row() -> None:
    from xmodal.data.features import LogMel, LogMelConfig

    cfg = SynthConfig(duration=1.0)
    waves = np.stack([render_audio(cfg, plan_clip(cfg, g, cfg.label_of(g, 0, 0))) for g in range(4)])
    # The benchmark places its tones on HTK mel rows: the front-end of the tiny configs that train on it.
    spec = LogMel(LogMelConfig(hop_length=572, mel_scale="htk", mel_norm="none", log_eps=1e-6))(torch.from_numpy(waves))
    rows = spec.reshape(4, 80, -1).mean(-1).argmax(-1).numpy()
    expected = [cfg.pitch_bin0 + cfg.pitch_bin_step * g for g in range(4)]
    assert rows.tolist() == expected
    assert len({r % cfg.patch_height for r in expected}) == 4
