"""``xmodal pretrain`` killed with SIGKILL mid-epoch resumes from ``last.ckpt`` and completes; config errors
fail before any work and name the key."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import torch

from xmodal.config import config_hash, load_config
from xmodal.configs import config_path
from xmodal.methods.xkd_config import PretrainConfig

ENV = {**os.environ, "OMP_NUM_THREADS": "1"}
EPOCHS, STEPS_PER_EPOCH, EVERY = 12, 4, 3  # 17 train clips, batch 4, drop_last → 4 steps; saves at 3, 6, 9, …


def _command(args: list[str], summary: Path) -> list[str]:
    return [sys.executable, "-m", "xmodal.cli.main", "pretrain", "--config", "xkd/synthetic_tiny", *args,
            "--json", str(summary)]


def test_sigkill_mid_epoch_then_resume_completes(tmp_path: Path, synth_manifest: Path, overrides: Any) -> None:
    out = tmp_path / "run"
    args = overrides(synth_manifest, out, [f"trainer.max_epochs={EPOCHS}",
                                           f"trainer.checkpoint_every_n_steps={EVERY}"])
    summary = tmp_path / "summary.json"
    ckpts = out / "checkpoints"
    first = subprocess.Popen(_command(args, summary), env=ENV, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 120
    try:
        while not list(ckpts.glob("step*.ckpt")):
            assert first.poll() is None, first.stderr.read().decode()[-3000:] if first.stderr else ""
            assert time.monotonic() < deadline, "no checkpoint within 120 s"
            time.sleep(0.05)
        time.sleep(0.3)  # let training move past the checkpoint (a step takes ~0.1 s) before the kill
        assert first.poll() is None, "the run finished before it could be killed"
        first.send_signal(signal.SIGKILL)
        assert first.wait(timeout=30) == -signal.SIGKILL
    finally:
        if first.poll() is None:
            first.kill()
    assert not summary.exists()
    killed_at = torch.load(ckpts / "last.ckpt", weights_only=True)
    total = EPOCHS * STEPS_PER_EPOCH
    assert killed_at["global_step"] % EVERY == 0 and 0 < killed_at["global_step"] < total
    assert killed_at["global_step"] % STEPS_PER_EPOCH != 0  # saved mid-epoch

    second = subprocess.run(_command(args, summary), env=ENV, capture_output=True, text=True, timeout=150)
    assert second.returncode == 0, second.stderr[-3000:]
    result = json.loads(summary.read_text())
    assert result["resumed_from"] == str(ckpts / "last.ckpt")
    assert not list(ckpts.glob(".*.tmp"))  # a save cut by the kill leaves a partial temp file; resume removes it
    assert result["steps"] == total
    final = torch.load(ckpts / "last.ckpt", weights_only=True)
    assert final["global_step"] == total
    cfg = load_config(PretrainConfig, config_path("xkd/synthetic_tiny"), args)
    assert final["xmodal"]["config_hash"] == config_hash(cfg)
    assert final["xmodal"]["config"]["trainer"]["max_epochs"] == EPOCHS and final["xmodal"]["code_version"]
    assert set(result["exports"]) == {f"{k}_{m}" for k in ("student", "teacher") for m in ("video", "audio")}


def test_config_error_fails_fast_naming_the_key(tmp_path: Path) -> None:
    start = time.monotonic()
    done = subprocess.run(
        [sys.executable, "-m", "xmodal.cli.main", "pretrain", "--config", "xkd/synthetic_tiny", "loss.lamda_ae=1",
         f"out_dir={tmp_path / 'run'}"],
        env=ENV, capture_output=True, text=True, timeout=120,
    )
    assert done.returncode == 2
    assert "loss.lamda_ae" in done.stderr + done.stdout
    assert not (tmp_path / "run").exists()
    assert time.monotonic() - start < 60
