"""Pretraining from streaming shards: a run killed mid-epoch resumes at the next batch of that epoch, under
Lightning and the engine (which binds the loader's progress to the trainer's processed batches); under 2-process
gloo DDP the ranks read disjoint, equal parts of every epoch."""

from __future__ import annotations

import textwrap
from pathlib import Path
from typing import Any

import lightning.pytorch as L
import pytest

from xmodal.data.dataset import resolve_index
from xmodal.data.shard_dataset import ShardLoader
from xmodal.data.shard_format import ShardGeometry
from xmodal.data.shard_plan import rank_length
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


DDP_SCRIPT = textwrap.dedent(
    """
    import json, sys
    import lightning.pytorch as L
    import torch
    from xmodal.config import load_config
    from xmodal.configs import config_path
    from xmodal.methods.pretrain import pretrain
    from xmodal.methods.xkd_config import PretrainConfig

    overrides, out = json.loads(open(sys.argv[1]).read()), sys.argv[2]
    cfg = load_config(PretrainConfig, config_path("xkd/synthetic_tiny"), overrides)
    rows = []

    class Record(L.Callback):
        def on_train_batch_start(self, trainer, module, batch, batch_idx):
            rows.append((trainer.current_epoch, batch["index"].tolist()))

    trainer = pretrain(cfg, callbacks=[Record()])["method"].trainer
    torch.save({"rows": rows, "world": trainer.world_size}, f"{out}/rank{trainer.global_rank}.pt")
    """
)


@pytest.mark.slow
def test_two_process_gloo_ranks_read_disjoint_equal_parts(tmp_path: Path, synth_manifest: Path, overrides: Any,
                                                         run_ddp: Any) -> None:
    shards = tmp_path / "shards"
    report = write_shards(resolve_index(str(synth_manifest)), shards, splits=["train"], samples_per_shard=5,
                          geometry=ShardGeometry(fps=8.0, size=32, encoding="raw"))
    extra = ["trainer.strategy=ddp", "trainer.devices=2", "trainer.batch_size=2", "trainer.max_epochs=2",
             "trainer.num_workers=1", "data.cache=false"]
    r0, r1 = run_ddp(DDP_SCRIPT, overrides(shards, tmp_path / "run", extra), tmp_path)
    assert r0["world"] == r1["world"] == 2
    per_rank = rank_length(report.samples["train"], 2, 2, True)
    for epoch in (0, 1):
        a = [i for e, b in r0["rows"] if e == epoch for i in b]
        b = [i for e, bb in r1["rows"] if e == epoch for i in bb]
        assert len(a) == len(b) == per_rank and not set(a) & set(b) and len(set(a)) == per_rank
    epoch0 = [i for e, b in r0["rows"] if e == 0 for i in b]
    epoch1 = [i for e, b in r0["rows"] if e == 1 for i in b]
    assert epoch0 != epoch1  # a new shard order and shuffle every epoch
