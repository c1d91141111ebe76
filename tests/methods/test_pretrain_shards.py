"""Pretraining from streaming shards: a run killed mid-epoch resumes at the next batch of that epoch, under
Lightning and the engine (which binds the loader's progress to the trainer's processed batches)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import lightning.pytorch as L
import pytest

from xmodal.data.dataset import resolve_index
from xmodal.data.shard_dataset import ShardLoader
from xmodal.data.shard_format import ShardGeometry
from xmodal.data.shard_write import write_shards
from xmodal.methods.pretrain import pretrain
from xmodal.methods.pretrain_data import build_train_dataset, build_train_loader


class Killed(RuntimeError):
    pass


class Record(L.Callback):
    """Rows of every batch fed to the model; raises :class:`Killed` before batch ``kill_at`` (a killed process)."""

    def __init__(self, kill_at: int | None = None) -> None:
        self.rows: list[list[int]] = []
        self.kill_at = kill_at

    def on_train_batch_start(self, trainer: L.Trainer, module: L.LightningModule, batch: Any, idx: int) -> None:
        if idx == self.kill_at:
            raise Killed
        self.rows.append(batch["index"].tolist())


@pytest.mark.slow
def test_killed_run_resumes_the_epoch_at_the_next_batch(tmp_path: Path, synth_manifest: Path, make_cfg: Any) -> None:
    shards = tmp_path / "shards"
    write_shards(resolve_index(str(synth_manifest)), shards, splits=["train"], samples_per_shard=5,
                 geometry=ShardGeometry(fps=8.0, size=32, encoding="raw"))
    args = ("trainer.num_workers=2", "trainer.checkpoint_every_n_steps=1", "data.cache=false",
            "data.shuffle_buffer=8")
    cfg = make_cfg(*args, manifest=shards, out_dir=tmp_path / "run")
    loader = build_train_loader(cfg)
    assert isinstance(loader, ShardLoader) and len(loader) >= 4
    dataset = build_train_dataset(cfg)
    dataset.set_epoch(0)
    uninterrupted = [b["index"].tolist() for b in ShardLoader(dataset, num_workers=2)]

    killed = Record(kill_at=2)
    with pytest.raises(Killed):
        pretrain(cfg, callbacks=[killed])
    assert killed.rows == uninterrupted[:2]
    resumed = Record()
    result = pretrain(make_cfg(*args, manifest=shards, out_dir=tmp_path / "run"), callbacks=[resumed])
    assert result["resumed_from"] is not None
    assert resumed.rows == uninterrupted[2:]  # the rest of epoch 0, in order: nothing repeated, nothing lost
