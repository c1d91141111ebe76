"""Pretraining from the original files: a run killed mid-epoch resumes at the next batch of that epoch.

Before the loader planned each epoch from ``(seed, epoch)`` and skipped what a checkpoint had trained on, a resumed
epoch restarted its data at batch 0 (from a new random order) while Lightning counted the batches already done, so
some clips of that epoch were trained twice and others never."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import lightning.pytorch as L
import pytest

from xmodal.data.loader import EpochDataLoader
from xmodal.methods.pretrain import pretrain
from xmodal.methods.pretrain_data import build_train_loader


class Killed(RuntimeError):
    pass


class Record(L.Callback):
    """(epoch, rows) of every batch fed to the model; raises :class:`Killed` before global step ``kill_at``."""

    def __init__(self, kill_at: int | None = None) -> None:
        self.rows: list[tuple[int, list[int]]] = []
        self.kill_at = kill_at

    def on_train_batch_start(self, trainer: L.Trainer, module: L.LightningModule, batch: Any, idx: int) -> None:
        if trainer.global_step == self.kill_at:
            raise Killed
        self.rows.append((trainer.current_epoch, batch["index"].tolist()))


@pytest.mark.parametrize("kill_at", [2, 5])  # inside epoch 0; inside epoch 1 (after an epoch-end checkpoint)
def test_killed_run_from_files_resumes_the_epoch_at_the_next_batch(tmp_path: Path, synth_manifest: Path,
                                                                   make_cfg: Any, kill_at: int) -> None:
    args = ("trainer.max_epochs=2", "trainer.batch_size=4", "trainer.checkpoint_every_n_steps=1",
            "trainer.num_workers=0", "data.cache=false")
    cfg = make_cfg(*args, manifest=synth_manifest, out_dir=tmp_path / "whole")
    loader = build_train_loader(cfg)
    assert isinstance(loader, EpochDataLoader) and len(loader) == 4
    whole = Record()
    pretrain(cfg, callbacks=[whole])

    killed = Record(kill_at=kill_at)
    with pytest.raises(Killed):
        pretrain(make_cfg(*args, manifest=synth_manifest, out_dir=tmp_path / "run"), callbacks=[killed])
    assert killed.rows == whole.rows[:kill_at]
    resumed = Record()
    result = pretrain(make_cfg(*args, manifest=synth_manifest, out_dir=tmp_path / "run"), callbacks=[resumed])
    assert result["resumed_from"] is not None
    assert resumed.rows == whole.rows[kill_at:]  # nothing repeated, nothing lost, the same order
