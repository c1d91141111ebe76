import itertools

import lightning.pytorch as L
import pytest
import torch
from torch import nn

from xmodal.methods.base import BaseMethod, EMAPair
from xmodal.training.checkpoint import AtomicCheckpointIO, load_weights
from xmodal.training.optim import OptimConfig, cosine_momentum, no_decay_names, scaled_lr, warmup_cosine


def test_warmup_cosine_shape() -> None:
    lrs = [warmup_cosine(s, 100, 10, 1.0, 0.0) for s in range(101)]
    assert lrs[0] == pytest.approx(0.1) and lrs[9] == pytest.approx(1.0)
    assert lrs[10] == pytest.approx(1.0) and lrs[100] == pytest.approx(0.0, abs=1e-12)
    assert lrs[55] == pytest.approx(0.5, abs=1e-9)
    assert all(a >= b for a, b in itertools.pairwise(lrs[10:]))


def test_cosine_momentum_endpoints() -> None:
    assert cosine_momentum(0, 10, 0.997, 1.0) == pytest.approx(0.997)
    assert cosine_momentum(10, 10, 0.997, 1.0) == pytest.approx(1.0)
    assert cosine_momentum(5, 10, 0.997, 1.0) == pytest.approx(0.9985)


def test_lr_scales_with_global_batch() -> None:
    cfg = OptimConfig(lr=1e-4, lr_scaling="linear", ref_batch=256)
    assert scaled_lr(cfg, 512) == pytest.approx(2e-4)
    assert scaled_lr(OptimConfig(lr=1e-4, lr_scaling="sqrt", ref_batch=256), 1024) == pytest.approx(2e-4)
    assert scaled_lr(OptimConfig(lr=1e-4, lr_scaling="none"), 1024) == pytest.approx(1e-4)


class _Tok(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.cls_token = nn.Parameter(torch.zeros(1, 1, 4))
        self.pos = nn.Parameter(torch.zeros(1, 3, 4))
        self.lin = nn.Linear(4, 4)
        self.norm = nn.LayerNorm(4)

    def no_weight_decay(self) -> set[str]:
        return {"pos"}


def test_no_decay_names() -> None:
    names = no_decay_names(nn.Sequential(_Tok()))
    assert names == {"0.cls_token", "0.pos", "0.lin.bias", "0.norm.weight", "0.norm.bias"}


def test_ema_pair_update_matches_formula() -> None:
    s, t = nn.Linear(3, 3), nn.Linear(3, 3)
    pair = EMAPair(s, t, 0.9, 1.0)
    assert torch.equal(s.weight, t.weight) and not t.weight.requires_grad
    before = t.weight.clone()
    with torch.no_grad():
        s.weight.add_(1.0)
    pair.update(0.9)
    assert torch.allclose(t.weight, 0.9 * before + 0.1 * s.weight)


class _Toy(BaseMethod):
    def __init__(self, **kw) -> None:
        super().__init__(OptimConfig(lr=0.1, optimizer="sgd", warmup_epochs=1, weight_decay=0.0), **kw)
        self.net = nn.Linear(2, 1)
        self.teacher = nn.Linear(2, 1)
        self.add_ema_pair(self.net, self.teacher, base=0.5, final=1.0)

    def compute_losses(self, batch, stage):
        err = self.net(batch["x"]).squeeze(-1) - batch["y"]
        return {"mse": err.pow(2).mean(), "l1": err.abs().mean()}


def _loader(n: int = 64):
    x = torch.randn(n, 2)
    y = x @ torch.tensor([1.0, -2.0])
    data = [{"x": x[i], "y": y[i], "index": torch.tensor(i)} for i in range(n)]
    return torch.utils.data.DataLoader(data, batch_size=16)


def test_total_loss_weights_and_normalization() -> None:
    terms = {"a": torch.tensor(1.0), "b": torch.tensor(3.0)}
    m = _Toy(loss_weights={"a": 5.0, "b": 1.0})
    assert m.total_loss(terms).item() == pytest.approx(8.0)
    m = _Toy(loss_weights={"a": 5.0, "b": 1.0}, normalize_weights=True)
    assert m.total_loss(terms).item() == pytest.approx(8.0 / 6.0)


def test_training_lowers_loss_and_moves_teacher(tmp_path) -> None:
    model = _Toy()
    before = model.compute_losses(next(iter(_loader())), "train")["mse"].item()
    t0 = model.teacher.weight.clone()
    trainer = L.Trainer(max_epochs=8, logger=False, enable_checkpointing=False, enable_progress_bar=False,
                        default_root_dir=tmp_path)
    trainer.fit(model, _loader())
    after = model.compute_losses(next(iter(_loader())), "train")["mse"].item()
    assert after < 0.5 * before
    assert not torch.equal(model.teacher.weight, t0)
    assert model.peak_lr == pytest.approx(0.1)


def test_skipped_samples_are_reported(tmp_path, caplog: pytest.LogCaptureFixture) -> None:
    model = _Toy()
    data = [{"x": torch.randn(4, 2), "y": torch.randn(4), "index": torch.arange(4),
             "skipped": [("bad.mp4", "corrupt")]}, {"skipped": [("gone.mp4", "missing")]}]
    trainer = L.Trainer(max_epochs=1, logger=False, enable_checkpointing=False, enable_progress_bar=False,
                        default_root_dir=tmp_path)
    trainer.fit(model, torch.utils.data.DataLoader(data, batch_size=None))
    assert len(model.skip_reports) == 1
    assert "skipped 2 samples" in model.skip_reports[0] and "bad.mp4" in model.skip_reports[0]
    assert [r.getMessage() for r in caplog.records if r.name == "xmodal.methods.base"] == model.skip_reports


def test_atomic_checkpoint_roundtrip_and_no_partial_file(tmp_path) -> None:
    io = AtomicCheckpointIO()
    path = tmp_path / "c" / "last.ckpt"
    io.save_checkpoint({"w": torch.ones(2), "step": 3}, path)
    assert load_weights(path)["step"] == 3
    assert [p.name for p in path.parent.iterdir()] == ["last.ckpt"]

    class Boom:
        def __reduce__(self):
            raise RuntimeError("boom")

    with pytest.raises(RuntimeError):
        io.save_checkpoint({"bad": Boom()}, path)
    assert load_weights(path)["step"] == 3 and len(list(path.parent.iterdir())) == 1


def test_checkpoint_refuses_pickled_objects(tmp_path) -> None:
    path = tmp_path / "evil.ckpt"
    torch.save({"obj": OptimConfig()}, path)
    with pytest.raises(Exception, match=r"(?i)weights_only|unsupported|global"):
        load_weights(path)


def test_per_tensor_clipping_covers_every_trainable_tensor_by_default() -> None:
    class Tiny(BaseMethod):
        def __init__(self) -> None:
            super().__init__(OptimConfig(grad_clip=1.0, grad_clip_mode="per_tensor"))
            self.a, self.b = nn.Linear(4, 4), nn.Linear(4, 1)
            self.frozen = nn.Parameter(torch.ones(3), requires_grad=False)

    m = Tiny()
    assert {id(p) for p in m.clip_parameters()} == {id(p) for p in (*m.a.parameters(), *m.b.parameters())}
    for p, scale in zip(m.clip_parameters(), (10.0, 0.01, 3.0, 0.5), strict=True):
        p.grad = torch.full_like(p, scale)
    expected = [p.grad * min(1.0, 1.0 / (float(p.grad.norm()) + 1e-6)) for p in m.clip_parameters()]
    m.configure_gradient_clipping(None)
    for p, e in zip(m.clip_parameters(), expected, strict=True):
        torch.testing.assert_close(p.grad, e)
    assert float(m.a.bias.grad.norm()) == pytest.approx(0.02)  # a small gradient is not scaled up
