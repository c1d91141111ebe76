"""Fixtures for the XKD method tests: a tiny synthetic benchmark (generated once) and a tiny XKD config.

The benchmark is 24 clips of 2 s at 32² and 8 fps (about 17 train clips → 4 batches of 4); the config shrinks
the paper's recipe to 32-d, 2-block ViTs with a 16-way projector so a training step takes a fraction of a second
on one core. The same overrides drive the Python tests and the ``xmodal pretrain`` subprocess tests.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest
import torch

from xmodal.config import load_config
from xmodal.configs import config_path
from xmodal.data.synth.config import SynthConfig
from xmodal.data.synth.generate import generate
from xmodal.methods.xkd_config import PretrainConfig

TINY_MODEL = [
    "model.video.dim=32", "model.video.depth=2", "model.video.heads=2",
    "model.audio.dim=32", "model.audio.depth=2", "model.audio.heads=2",
    "model.decoder_dim=32", "model.decoder_depth=1", "model.decoder_heads=2",
    "model.proj_hidden=32", "model.proj_bottleneck=16", "model.proj_out=16",
]
# Every view fills whole patches (2×8×8 cuboids, 8×16 audio patches at hop 572): video 8×32² and 4×16², audio
# 1.7 s → 48 log-mel frames (2 s would give 56, and trimming to 48 drops 14 %) and the config's 1.12 s → 32.
TINY_DATA = [
    "data.clip_seconds=2.0", "data.views.fps=8.0", "data.views.video_global.frames=8",
    "data.views.video_local.frames=4", "data.views.video_local.size=16", "data.views.audio_global.seconds=1.7",
]
TINY_TRAINER = [
    "trainer.batch_size=4", "trainer.max_epochs=1", "trainer.progress=none", "trainer.accelerator=cpu",
    "trainer.devices=1", "trainer.log_every_n_steps=1",
]


def tiny_overrides(manifest: str | Path | None = None, out_dir: str | Path | None = None,
                   extra: Sequence[str] = ()) -> list[str]:
    """``key=value`` overrides that turn ``xkd/synthetic_tiny`` into the test-sized run."""
    out = [*TINY_MODEL, *TINY_DATA, *TINY_TRAINER]
    out.append(f"data.source={manifest if manifest is not None else 'unused.csv'}")
    if out_dir is not None:
        out.append(f"out_dir={out_dir}")
    return [*out, *extra]


def tiny_config(*extra: str, manifest: str | Path | None = None, out_dir: str | Path | None = None) -> PretrainConfig:
    return load_config(PretrainConfig, config_path("xkd/synthetic_tiny"), tiny_overrides(manifest, out_dir, extra))


def fake_batch(cfg: PretrainConfig, batch: int = 4, seed: int = 0) -> dict[str, Any]:
    """An in-memory batch with the collated view shapes of ``cfg`` (what ``collate_samples`` yields)."""
    gen = torch.Generator().manual_seed(seed)
    v, mel = cfg.data.views, cfg.data.views.logmel

    def video(frames: int, size: int) -> torch.Tensor:
        return torch.randn(batch, 3, frames, size, size, generator=gen)

    def audio(seconds: float) -> torch.Tensor:
        return torch.randn(batch, 1, mel.n_mels, mel.num_frames(round(seconds * mel.sample_rate)), generator=gen)

    return {
        "video": {"global": video(v.video_global.frames, v.video_global.size),
                  "local": [video(v.video_local.frames, v.video_local.size) for _ in range(v.num_video_local)]},
        "audio": {"global": audio(v.audio_global.seconds),
                  "local": [audio(v.audio_local.seconds) for _ in range(v.num_audio_local)]},
        "index": torch.arange(batch),
        "skipped": [],
    }


@pytest.fixture()
def make_cfg() -> Any:
    """Factory fixture: ``make_cfg("loss.objective=vmae", manifest=..., out_dir=...)`` → a tiny config."""
    return tiny_config


@pytest.fixture()
def make_batch() -> Any:
    """Factory fixture: ``make_batch(cfg, batch=4, seed=0)`` → an in-memory batch of the view shapes."""
    return fake_batch


@pytest.fixture()
def overrides() -> Any:
    """Factory fixture: ``overrides(manifest, out_dir, extra)`` → the tiny run's ``key=value`` list."""
    return tiny_overrides


@pytest.fixture(scope="session")
def synth_manifest(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The tiny synthetic benchmark (24 clips, 2 s, 32², 8 fps), generated once per session."""
    out = tmp_path_factory.mktemp("synth")
    return generate(SynthConfig.demo(clips=24, duration=2.0, fps=8), out, workers=1)


def run_ddp_script(script: str, overrides: list[str], tmp_path: Path, timeout: int = 240) -> tuple[dict, dict]:
    """Run ``script`` (argv: overrides JSON, output folder) under Lightning's 2-process DDP launcher on CPU/gloo;
    return what ranks 0 and 1 saved to ``<tmp_path>/rank{r}.pt``."""
    cfg_file = tmp_path / "overrides.json"
    cfg_file.write_text(json.dumps(overrides))
    path = tmp_path / "ddp_script.py"
    path.write_text(script)
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PL_DISABLE_FORK": "1"}
    done = subprocess.run([sys.executable, str(path), str(cfg_file), str(tmp_path)], env=env, cwd=tmp_path,
                          capture_output=True, text=True, timeout=timeout)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    r0, r1 = (torch.load(tmp_path / f"rank{r}.pt", weights_only=True) for r in (0, 1))
    r0["stderr"] = done.stderr
    return r0, r1


@pytest.fixture()
def run_ddp() -> Any:
    """Factory fixture: ``run_ddp(script, overrides, tmp_path)`` → the two ranks' saved results."""
    return run_ddp_script
