"""Online monitors: detached from the self-supervised run, correct accuracies, DDP-gathered (2-process gloo)."""

from __future__ import annotations

import os
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import lightning.pytorch as L
import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from xmodal.config import ConfigError, load_config
from xmodal.configs import config_path
from xmodal.data.dataset import DatasetIndex, ManifestRow
from xmodal.data.views import EvalConfig
from xmodal.methods.monitor_setup import labelled_with_split, online_monitors
from xmodal.methods.xkd_config import PretrainConfig
from xmodal.training.monitor import MonitorConfig, OnlineMonitor


class Toy(L.LightningModule):
    """A self-supervised stand-in whose step draws from the global RNG (masking), with dropout and BatchNorm:
    everything an extra forward could disturb."""

    def __init__(self) -> None:
        super().__init__()
        self.net = nn.Sequential(nn.Linear(8, 16), nn.BatchNorm1d(16), nn.Dropout(0.3), nn.Linear(16, 8))
        self.losses: list[float] = []
        self.grads: list[torch.Tensor] = []

    def training_step(self, batch: dict[str, Any], batch_idx: int) -> torch.Tensor:
        x = batch["video"]
        mask = (torch.rand_like(x) > 0.5).float()
        loss = ((self.net(x * mask) - x) ** 2).mean()
        self.losses.append(float(loss))
        return loss

    def on_before_optimizer_step(self, optimizer: torch.optim.Optimizer) -> None:
        self.grads.append(torch.cat([p.grad.flatten() for p in self.parameters()]).clone())

    def configure_optimizers(self) -> torch.optim.Optimizer:
        return torch.optim.SGD(self.parameters(), lr=0.1)


def features(module: L.LightningModule, batch: dict[str, Any]) -> dict[str, torch.Tensor]:
    return {"video": module.net[:2](batch["video"])}


def _data(n: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    y = torch.arange(n) % 3
    x = torch.randn(n, 8, generator=g) * 0.3
    x[torch.arange(n), y] += 3.0  # separable: class c is feature c
    return x, y


def _collate(items: list[tuple[torch.Tensor, torch.Tensor]]) -> dict[str, torch.Tensor]:
    return {"video": torch.stack([i[0] for i in items]), "label": torch.stack([i[1] for i in items])}


def _fit(monitor: bool) -> tuple[Toy, L.Trainer]:
    L.seed_everything(0)
    model = Toy()
    x, y = _data(48, 1)
    loader = DataLoader(TensorDataset(x, y), batch_size=8, shuffle=True, collate_fn=_collate)
    vx, vy = _data(30, 2)
    callbacks = [OnlineMonitor(features, [{"video": vx, "label": vy}], 3, MonitorConfig(k=5, lr=0.05))] \
        if monitor else []
    trainer = L.Trainer(max_epochs=3, accelerator="cpu", devices=1, logger=False, enable_checkpointing=False,
                        enable_progress_bar=False, enable_model_summary=False, callbacks=callbacks)
    trainer.fit(model, loader)
    return model, trainer


def test_monitor_leaves_ssl_gradients_losses_and_parameters_unchanged() -> None:
    plain, _ = _fit(monitor=False)
    watched, trainer = _fit(monitor=True)
    assert len(plain.grads) == len(watched.grads) == 18
    for a, b in zip(plain.grads, watched.grads, strict=True):
        assert torch.equal(a, b)
    assert plain.losses == watched.losses
    for (name, a), b in zip(plain.state_dict().items(), watched.state_dict().values(), strict=True):
        assert torch.equal(a, b), name  # BatchNorm running statistics included
    metrics = trainer.callback_metrics
    assert 0.0 <= float(metrics["monitor/video_linear_acc"]) <= 1.0
    assert float(metrics["monitor/video_knn_acc"]) > 0.9  # separable classes: the k-NN on the bank finds them
    assert trainer.progress_bar_metrics.keys() >= {"monitor/video_linear_acc", "monitor/video_knn_acc"}


def test_evaluate_counts_match_a_direct_computation() -> None:
    x, y = _data(30, 3)
    monitor = OnlineMonitor(lambda m, b: {"video": b["video"]}, [{"video": x, "label": y}], 3, MonitorConfig(k=1))
    monitor.bank = {"video": torch.nn.functional.normalize(x, dim=1)}
    monitor.bank_labels = y
    head = monitor._head("video", 8, torch.device("cpu"))
    counts = monitor.evaluate(Toy())
    assert int(counts[-1]) == 30
    assert int(counts[1]) == 30  # 1-NN of a bank that holds the queries is the query itself
    assert int(counts[0]) == int((head(x).argmax(1) == y).sum())


def test_auto_is_off_without_labels_or_val_split() -> None:
    def index(labels: list[list[int]], splits: list[str], multilabel: bool = False) -> DatasetIndex:
        rows = [ManifestRow(f"{i}.mp4", lab, s) for i, (lab, s) in enumerate(zip(labels, splits, strict=True))]
        return DatasetIndex("d", rows, ["a", "b"], multilabel=multilabel)

    assert labelled_with_split(index([[0], [1]], ["train", "val"]), "val") == ""
    assert "label" in labelled_with_split(index([[0], []], ["train", "val"]), "val")
    assert "no 'val' split" in labelled_with_split(index([[0], [1]], ["train", "train"]), "val")
    assert "multi-label" in labelled_with_split(index([[0], [1]], ["train", "val"], True), "val")
    with pytest.raises(ConfigError, match=r"monitor\.online"):
        MonitorConfig(online="always").validate()  # type: ignore[arg-type]
    for text, value in (("on", True), ("off", False), ("auto", "auto")):  # YAML reads on/off as booleans
        cfg = load_config(PretrainConfig, config_path("xkd/synthetic_tiny"), [f"monitor.online={text}"])
        assert cfg.monitor.online == value


class _Strategy:
    def all_gather(self, x: torch.Tensor) -> torch.Tensor:
        out = [torch.empty_like(x) for _ in range(dist.get_world_size())]
        dist.all_gather(out, x.contiguous())
        return torch.stack(out)

    def reduce(self, x: torch.Tensor, reduce_op: str) -> torch.Tensor:
        dist.all_reduce(x)
        return x


class _Trainer:
    def __init__(self, rank: int, world: int) -> None:
        self.global_rank, self.world_size, self.strategy = rank, world, _Strategy()


class _Module(nn.Module):
    device = torch.device("cpu")


def _steps(rank: int, world: int, x: torch.Tensor, y: torch.Tensor, vx: torch.Tensor,
           vy: torch.Tensor) -> dict[str, torch.Tensor]:
    """Two training steps of a global batch of 8 split over ``world`` ranks, then the validation counts."""
    monitor = OnlineMonitor(lambda m, b: {"video": b["video"]}, [{"video": vx[i:i + 4], "label": vy[i:i + 4]}
                                                                 for i in range(0, len(vx), 4)], 3, MonitorConfig(k=3))
    trainer, module = _Trainer(rank, world), _Module()
    per = 8 // world
    for step in range(2):
        lo = step * 8 + rank * per
        monitor.on_train_batch_end(trainer, module, None, {"video": x[lo:lo + per], "label": y[lo:lo + per]}, step)
    counts = monitor.evaluate(module, rank, world)
    if world > 1:
        counts = trainer.strategy.reduce(counts, "sum")
    return {"bank": monitor.bank["video"], "labels": monitor.bank_labels, "weight": monitor.heads["video"].weight,
            "counts": counts}


def _worker(rank: int, world: int, port: int, out: str) -> None:
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    dist.init_process_group("gloo", rank=rank, world_size=world)
    torch.set_num_threads(1)
    x, y = _data(16, 4)
    vx, vy = _data(12, 5)
    torch.save({k: v.detach() for k, v in _steps(rank, world, x, y, vx, vy).items()}, f"{out}/rank{rank}.pt")
    dist.destroy_process_group()


def test_shard_sources_turn_auto_off_and_refuse_on(tmp_path: Path) -> None:
    """Regression: with ``data.source=<shard folder>`` every pretraining failed at start, because the monitor read the
    shard folder as a manifest; shards carry no val index, so ``auto`` is off and ``on`` is one clear error."""
    (tmp_path / "index.json").write_text("{}")
    for online, expect_error in (("auto", False), (True, True)):
        data = SimpleNamespace(source=str(tmp_path), root=None)
        cfg = SimpleNamespace(monitor=MonitorConfig(online=online), data=data)
        if expect_error:
            with pytest.raises(ConfigError, match=r"monitor\.online=on: .*shard folder"):
                online_monitors(cfg, ("video",), EvalConfig(), None)
        else:
            assert online_monitors(cfg, ("video",), EvalConfig(), None) == []


def test_ddp_gathers_features_and_matches_one_process(tmp_path: Path) -> None:
    """Under 2-process gloo each rank's bank holds the global batch in the single-process order, the heads stay
    identical to a one-process run on the global batch, and the validation counts cover the whole split once."""
    mp.spawn(_worker, args=(2, 29400 + os.getpid() % 500, str(tmp_path)), nprocs=2, join=True)
    x, y = _data(16, 4)
    vx, vy = _data(12, 5)
    single = _steps(0, 1, x, y, vx, vy)
    for rank in (0, 1):
        got = torch.load(tmp_path / f"rank{rank}.pt")
        assert torch.allclose(got["bank"], single["bank"]) and torch.equal(got["labels"], single["labels"])
        assert torch.allclose(got["weight"], single["weight"], atol=1e-6)
        assert torch.equal(got["counts"], single["counts"]) and int(got["counts"][-1]) == 12


def test_monitor_keys_are_free_on_resume(tmp_path: Path) -> None:
    """Turning the monitors on or off for a resumed run cannot change what it learns, so it is not refused."""
    from xmodal.training.resume import ResumeMismatch, check_resume

    ckpt = tmp_path / "last.ckpt"
    torch.save({"xmodal": {"config": {"optim": {"lr": 1.0}, "trainer": {"max_epochs": 1}}}}, ckpt)
    diff = check_resume(ckpt, {"optim": {"lr": 1.0}, "trainer": {"max_epochs": 1},
                               "monitor": {"online": False, "k": 5}}, "auto")
    assert set(diff) == {"monitor.online", "monitor.k"}
    with pytest.raises(ResumeMismatch, match=r"optim\.lr"):
        check_resume(ckpt, {"optim": {"lr": 2.0}, "trainer": {"max_epochs": 1}}, "auto")
