"""Pretraining advances the dataset epoch (also in worker processes and in an epoch resumed from a checkpoint),
and a resume refuses a changed config unless forced, recording accepted changes next to the original config."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import lightning.pytorch as L
import pytest
import yaml

from xmodal.methods.pretrain import pretrain
from xmodal.methods.pretrain_data import build_train_dataset
from xmodal.training.resume import ResumeMismatch


class Record(L.Callback):
    """Per (epoch, row) the sum of the global video view the model was fed."""

    def __init__(self) -> None:
        self.views: dict[tuple[int, int], float] = {}

    def on_train_batch_start(self, trainer: L.Trainer, module: L.LightningModule, batch: Any, idx: int) -> None:
        sums = batch["video"]["global"].flatten(1).sum(1).tolist()
        for i, v in zip(batch["index"].tolist(), sums, strict=True):
            self.views[(trainer.current_epoch, i)] = v


def _expected(cfg: Any, epoch: int, rows: list[int]) -> dict[int, float]:
    dataset = build_train_dataset(cfg)
    dataset.set_epoch(epoch)
    return {i: float(dataset[i]["video"]["global"].sum()) for i in rows}


def test_every_epoch_new_views_in_workers_and_after_resume(tmp_path: Path, synth_manifest: Path,
                                                           make_cfg: Any) -> None:
    out = tmp_path / "run"
    cfg = make_cfg("trainer.max_epochs=2", "trainer.num_workers=2", "data.cache=false", manifest=synth_manifest,
                   out_dir=out)
    rec = Record()
    pretrain(cfg, callbacks=[rec])
    for epoch in (0, 1):
        rows = sorted(i for e, i in rec.views if e == epoch)
        expected = _expected(cfg, epoch, rows)
        for i in rows:  # what the persistent workers decoded is the dataset at this epoch
            assert rec.views[(epoch, i)] == pytest.approx(expected[i], rel=1e-5), f"epoch {epoch} row {i}"
    common = {i for e, i in rec.views if e == 0} & {i for e, i in rec.views if e == 1}
    assert common and all(rec.views[(0, i)] != rec.views[(1, i)] for i in common)

    # Extending the run (a free key) resumes at epoch 2, whose iterator Lightning creates before any epoch hook.
    longer = make_cfg("trainer.max_epochs=3", "trainer.num_workers=2", "data.cache=false", manifest=synth_manifest,
                      out_dir=out)
    rec2 = Record()
    result = pretrain(longer, callbacks=[rec2])
    assert result["resumed_from"] and {e for e, _ in rec2.views} == {2}
    rows = sorted(i for _, i in rec2.views)
    expected = _expected(longer, 2, rows)
    assert all(rec2.views[(2, i)] == pytest.approx(expected[i], rel=1e-5) for i in rows)
    log = yaml.safe_load((out / "resumes.yaml").read_text())
    assert log[-1]["changed"] == {"trainer.max_epochs": {"old": 2, "new": 3}}
    assert yaml.safe_load((out / "config.yaml").read_text())["config"]["trainer"]["max_epochs"] == 2


def test_resume_refuses_a_changed_config_unless_forced(tmp_path: Path, synth_manifest: Path, make_cfg: Any,
                                                       overrides: Any) -> None:
    out = tmp_path / "run"
    steps = pretrain(make_cfg(manifest=synth_manifest, out_dir=out))["steps"]
    first = (out / "config.yaml").read_text()
    changed = make_cfg("optim.lr=0.5", "model.video_mask_ratio=0.5", manifest=synth_manifest, out_dir=out)
    with pytest.raises(ResumeMismatch) as info:
        pretrain(changed)
    text = str(info.value)
    old_ratio = make_cfg().model.video_mask_ratio
    assert f"model.video_mask_ratio: {old_ratio!r} → 0.5" in text and "optim.lr:" in text
    assert "trainer.resume=force" in text and (out / "config.yaml").read_text() == first
    # Through the CLI: one line on stderr, exit code 2.
    cli = subprocess.run([sys.executable, "-m", "xmodal.cli.main", "pretrain", "--config", "xkd/synthetic_tiny",
                          *overrides(synth_manifest, out, ["optim.lr=0.5"])], capture_output=True, text=True,
                         timeout=120)
    assert cli.returncode == 2 and "optim.lr" in cli.stderr and "Traceback" not in cli.stderr
    forced = make_cfg("optim.lr=0.5", "trainer.resume=force", "trainer.max_epochs=2", manifest=synth_manifest,
                      out_dir=out)
    result = pretrain(forced)
    assert result["resumed_from"] and result["steps"] == 2 * steps
    entry = yaml.safe_load((out / "resumes.yaml").read_text())[-1]["changed"]
    assert entry["optim.lr"]["new"] == 0.5 and entry["trainer.resume"] == {"old": "auto", "new": "force"}
    assert (out / "config.yaml").read_text() == first
