import lightning.pytorch as L
import pytest
import torch
from torch import nn

from xmodal.methods.supervised_kd import SupervisedKD, SupervisedKDConfig
from xmodal.models.cnn import SmallCNN
from xmodal.training.optim import OptimConfig


class _Pairs(torch.utils.data.Dataset):
    def __init__(self, n: int = 24) -> None:
        g = torch.Generator().manual_seed(0)
        self.audio = torch.randn(n, 1, 8, 8, generator=g)
        self.video = torch.randn(n, 3, 2, 8, 8, generator=g)
        self.label = torch.randint(0, 3, (n,), generator=g)

    def __len__(self) -> int:
        return len(self.label)

    def __getitem__(self, i: int) -> dict:
        return {"audio": self.audio[i], "video": self.video[i], "label": self.label[i], "index": i}


class _Fusion(nn.Module):
    """A multimodal teacher: audio and video nets averaged at the logits."""

    def __init__(self) -> None:
        super().__init__()
        self.a, self.v = SmallCNN(1, 3, widths=(4, 4, 8), hidden=(8, 8)), SmallCNN(3, 3, 3, (4, 4, 8), (8, 8))

    def forward(self, audio: torch.Tensor, video: torch.Tensor) -> torch.Tensor:
        return 0.5 * (self.a(audio) + self.v(video))


def _fit(model: SupervisedKD) -> None:
    trainer = L.Trainer(max_steps=3, accelerator="cpu", logger=False, enable_checkpointing=False,
                        enable_progress_bar=False, enable_model_summary=False, limit_val_batches=1)
    loader = torch.utils.data.DataLoader(_Pairs(), batch_size=8)
    trainer.fit(model, loader, loader)


def _student() -> SmallCNN:
    return SmallCNN(3, 3, dims=3, widths=(4, 4, 8), hidden=(8, 8))


def test_frozen_teacher_stays_fixed_and_student_learns() -> None:
    teacher = SmallCNN(1, 3, widths=(4, 4, 8), hidden=(8, 8))
    t_before = {k: v.clone() for k, v in teacher.state_dict().items()}
    student = _student()
    s_before = student.head.weight.clone()
    cfg = SupervisedKDConfig(teacher_mode="frozen", feature_pairs=(("fc1", "fc1"),), feature_loss="cosine")
    model = SupervisedKD(student, teacher, cfg, OptimConfig(optimizer="sgd", lr=0.1, weight_decay=0.0))
    _fit(model)
    for k, v in teacher.state_dict().items():
        assert torch.equal(v, t_before[k]), k  # weights and BN running stats untouched
    assert not teacher.training
    assert not torch.equal(student.head.weight, s_before)
    assert "train/feat/fc1->fc1" in model.trainer.logged_metrics or "train/feat/fc1->fc1_epoch" in \
        model.trainer.logged_metrics


def test_trainable_teacher_updates_with_its_own_ce() -> None:
    teacher = _Fusion()
    before = teacher.a.head.weight.clone()
    cfg = SupervisedKDConfig(teacher_keys=("audio", "video"), teacher_mode="trainable", rho=0.0)
    model = SupervisedKD(_student(), teacher, cfg, OptimConfig(optimizer="sgd", lr=0.1, weight_decay=0.0))
    batch = next(iter(torch.utils.data.DataLoader(_Pairs(), batch_size=8)))
    terms = model.compute_losses(batch, "train")
    assert set(terms) == {"ce", "kd", "teacher_ce"}
    assert model.total_loss(terms).item() == pytest.approx((terms["kd"] + terms["teacher_ce"]).item(), rel=1e-6)
    _fit(model)
    assert not torch.equal(teacher.a.head.weight, before)


def test_mean_reduction_switch_is_batchmean_over_k() -> None:
    teacher = SmallCNN(1, 3, widths=(4, 4, 8), hidden=(8, 8))
    student = _student()
    batch = next(iter(torch.utils.data.DataLoader(_Pairs(), batch_size=8)))
    bm = SupervisedKD(student, teacher, SupervisedKDConfig(), OptimConfig()).compute_losses(batch, "train")["kd"]
    mean = SupervisedKD(student, teacher, SupervisedKDConfig(kl_reduction="mean"), OptimConfig()).compute_losses(
        batch, "train")["kd"]
    assert torch.allclose(bm / 3, mean, atol=1e-6)
