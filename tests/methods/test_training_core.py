"""Training-core contracts of ``BaseMethod`` (docs/architecture.md): EMA once per optimizer step (also across a
resume), deterministic teachers, an explicit per-device batch size for LR scaling, zero-weight replay of an
all-skipped batch, and a collapse monitor that does not sync the host every step."""

from __future__ import annotations

import warnings
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import lightning.pytorch as L
import pytest
import torch
from lightning.pytorch.callbacks import ModelCheckpoint
from torch import nn

from xmodal.config import ConfigError
from xmodal.data.collate import slice_batch
from xmodal.methods.base import BaseMethod
from xmodal.methods.xkd import XKD
from xmodal.training.optim import OptimConfig


class _Toy(BaseMethod):
    """Linear regression student; its EMA teacher has the same layers plus dropout (which must stay off)."""

    def __init__(self, optim: OptimConfig | None = None, **kw: Any) -> None:
        super().__init__(optim or OptimConfig(lr=0.05, optimizer="sgd", weight_decay=0.0), **kw)
        self.net = nn.Sequential(nn.Linear(2, 4), nn.BatchNorm1d(4), nn.Identity(), nn.Linear(4, 1))
        self.teacher = nn.Sequential(nn.Linear(2, 4), nn.BatchNorm1d(4), nn.Dropout(0.5), nn.Linear(4, 1))
        self.add_ema_pair(self.net, self.teacher, base=0.5, final=0.9)

    def compute_losses(self, batch: dict[str, Any], stage: str) -> dict[str, torch.Tensor]:
        return {"mse": (self.net(batch["x"]).squeeze(-1) - batch["y"]).pow(2).mean()}


def _data(n: int = 32) -> list[dict[str, torch.Tensor]]:
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(n, 2, generator=gen)
    y = x @ torch.tensor([1.0, -2.0])
    return [{"x": x[i], "y": y[i], "index": torch.tensor(i)} for i in range(n)]


def _trainer(tmp_path: Path, **kw: Any) -> L.Trainer:
    base: dict[str, Any] = {"logger": False, "enable_checkpointing": False, "enable_progress_bar": False,
                            "enable_model_summary": False, "accelerator": "cpu", "devices": 1,
                            "default_root_dir": tmp_path}
    return L.Trainer(**{**base, **kw})


def _counting(model: BaseMethod) -> list[float]:
    calls: list[float] = []
    pair = model._ema_pairs[0]
    original = pair.update

    def update(momentum: float) -> None:
        calls.append(momentum)
        original(momentum)

    pair.update = update  # type: ignore[method-assign]
    return calls


def test_ema_moves_once_per_optimizer_step_under_accumulation(tmp_path: Path) -> None:
    torch.manual_seed(0)
    model = _Toy()
    calls = _counting(model)
    trainer = _trainer(tmp_path, max_epochs=1, accumulate_grad_batches=4)
    trainer.fit(model, torch.utils.data.DataLoader(_data(32), batch_size=4))  # 8 micro-batches → 2 steps
    assert trainer.global_step == 2
    assert len(calls) == 2, "the teacher moved on every micro-batch (momentum compounded to m^k per step)"


def test_ema_teacher_after_resume_equals_uninterrupted_run(tmp_path: Path) -> None:
    """The step-s checkpoint already holds the step-s teacher, so resuming loses no EMA update (3 steps an epoch:
    the stop falls on an epoch boundary, where a plain DataLoader resumes exactly)."""

    class StopAt(L.Callback):
        def __init__(self, step: int) -> None:
            self.step = step

        def on_train_batch_end(self, trainer: L.Trainer, *args: Any) -> None:
            trainer.should_stop = trainer.should_stop or trainer.global_step >= self.step

    def run(root: Path, stop: int, ckpt: str | None = None) -> _Toy:
        torch.manual_seed(0)
        model = _Toy()
        save = ModelCheckpoint(dirpath=root, every_n_train_steps=1, save_last=True, save_top_k=-1)
        trainer = _trainer(root, max_steps=6, enable_checkpointing=True, callbacks=[save, StopAt(stop)])
        trainer.fit(model, torch.utils.data.DataLoader(_data(12), batch_size=4), ckpt_path=ckpt,
                    weights_only=True)
        assert trainer.global_step == stop
        return model

    whole = run(tmp_path / "a", 6)
    run(tmp_path / "b", 3)
    resumed = run(tmp_path / "b", 6, ckpt=str(tmp_path / "b" / "last.ckpt"))
    for (name, a), b in zip(whole.teacher.state_dict().items(), resumed.teacher.state_dict().values(), strict=True):
        torch.testing.assert_close(a, b, msg=f"teacher {name} differs after resume")


def test_teachers_are_deterministic_in_training(make_cfg: Any) -> None:
    cfg = make_cfg("model.video.drop_path=0.5", "model.audio.drop_path=0.5")
    method = XKD(cfg).train()
    assert method.student["video"].training and method.head["video"].training
    teacher = method.teacher["video"]
    assert not any(m.training for m in teacher.modules()), "teacher left in train mode (drop-path on)"
    bns = [m for m in method.teacher_head.modules() if isinstance(m, nn.BatchNorm1d)]
    assert bns and all(m.training for m in bns)  # batch statistics, as DINO's teacher
    x = torch.randn(2, 3, 8, 32, 32)
    with torch.no_grad():
        torch.testing.assert_close(teacher(x), teacher(x), rtol=0, atol=0)
    method.eval()
    assert not any(m.training for m in method.teacher_head.modules())


def test_teacher_mode_survives_lightning_fit(tmp_path: Path) -> None:
    model = _Toy()
    seen: list[bool] = []

    class Probe(L.Callback):
        def on_train_batch_start(self, trainer: L.Trainer, module: L.LightningModule, *args: Any) -> None:
            seen.append(module.teacher[2].training or not module.teacher[1].training)

    loader = torch.utils.data.DataLoader(_data(8), batch_size=4)
    _trainer(tmp_path, max_epochs=1, callbacks=[Probe()]).fit(model, loader)
    assert seen == [False, False]


def test_lr_scaling_reads_the_batch_size_of_a_plain_trainer(tmp_path: Path) -> None:
    optim = OptimConfig(lr=0.1, optimizer="sgd", lr_scaling="linear", ref_batch=32, weight_decay=0.0)
    model = _Toy(optim)
    _trainer(tmp_path, max_epochs=1, accumulate_grad_batches=2).fit(
        model, torch.utils.data.DataLoader(_data(32), batch_size=8))
    assert model.global_batch == 16 and model.peak_lr == pytest.approx(0.05)


def test_lr_scaling_fails_loudly_when_the_batch_size_is_unknown_or_contradicts(tmp_path: Path) -> None:
    optim = OptimConfig(lr=0.1, optimizer="sgd", lr_scaling="linear", ref_batch=32, weight_decay=0.0)
    batches = [{"x": torch.randn(4, 2), "y": torch.randn(4), "index": torch.arange(4)}] * 2
    with pytest.raises(ConfigError, match="per-device batch size is unknown"):
        _trainer(tmp_path, max_epochs=1).fit(_Toy(optim), torch.utils.data.DataLoader(batches, batch_size=None))
    with pytest.raises(ConfigError, match=r"trainer\.batch_size: the method scales the LR for 16"):
        _trainer(tmp_path, max_epochs=1).fit(_Toy(optim, batch_size=16),
                                             torch.utils.data.DataLoader(_data(8), batch_size=4))


def test_all_skipped_batch_replays_the_previous_one_with_zero_weight() -> None:
    model = _Toy()
    model._trainer = SimpleNamespace(optimizers=[SimpleNamespace(param_groups=[{"lr": 0.1}])])  # type: ignore[assignment]
    good = {"x": torch.randn(4, 2), "y": torch.randn(4), "index": torch.arange(4), "id": list("abcd"), "skipped": []}
    model.log = lambda *a, **k: None  # type: ignore[method-assign]
    first = model.training_step(good, 0)
    assert first.item() > 0
    empty = model.training_step({"skipped": [("bad.mp4", "corrupt")]}, 1)
    assert empty.requires_grad and empty.item() == 0.0
    empty.backward()
    assert all(torch.count_nonzero(p.grad) == 0 for p in model.net.parameters() if p.grad is not None)
    assert model._skipped == [("bad.mp4", "corrupt")]
    fresh = _Toy()
    with pytest.raises(RuntimeError, match=r"first training batch was skipped \(gone.mp4\)"):
        fresh.training_step({"skipped": [("gone.mp4", "missing")]}, 0)


def test_slice_batch_copies_the_first_samples() -> None:
    batch = {"video": {"global": torch.arange(12.0).view(4, 3), "local": [torch.ones(4, 2), torch.zeros(4, 1)]},
             "id": ["a", "b", "c", "d"], "index": torch.arange(4), "skipped": [("x", "corrupt")]}
    part = slice_batch(batch, 2)
    assert part["video"]["global"].shape == (2, 3) and [t.shape[0] for t in part["video"]["local"]] == [2, 2]
    assert part["id"] == ["a", "b"] and part["skipped"] == []
    assert part["video"]["global"].untyped_storage().nbytes() == 6 * 4  # a copy, not a view of the whole batch


def test_collapse_monitor_syncs_the_host_only_every_n_steps(make_cfg: Any, make_batch: Any,
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    cfg = make_cfg("loss.monitor_every=5")
    method = XKD(cfg)
    step = {"value": 3}
    monkeypatch.setattr(XKD, "global_step", property(lambda self: step["value"]))
    monkeypatch.setattr(XKD, "log", lambda *a, **k: None)
    original_item = torch.Tensor.item

    def no_sync(self: torch.Tensor) -> Any:
        raise AssertionError("host sync (.item()) on a step that is not a monitor step")

    monkeypatch.setattr(torch.Tensor, "item", no_sync)
    method.compute_losses(make_batch(cfg), "train")  # step 3: no .item()
    monkeypatch.setattr(torch.Tensor, "item", original_item)
    # Collapsed outputs (student == teacher, KD ≈ 0) for 20 steps: the warning comes at the first check after 20.
    logits = torch.randn(4, 16)
    student, teacher = {"video": logits, "audio": logits}, {"video": logits, "audio": logits}
    method.center_video.zero_()
    method.center_audio.zero_()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        for s in range(1, 21):
            step["value"] = s
            method._monitor_collapse(torch.tensor(0.0), student, teacher, 0.1, 0.1, 4)
            if s < 20:
                assert not [w for w in caught if "collapse suspected" in str(w.message)], f"early warning at {s}"
    assert [w for w in caught if "collapse suspected at step 20" in str(w.message)]
