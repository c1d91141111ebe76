import lightning.pytorch as L
import pytest
import torch

from xmodal.config import ConfigError
from xmodal.methods.c2kd import C2KD, C2KDConfig, poly_factor
from xmodal.methods.cmkd_baselines import BaselineKD, BaselineKDConfig
from xmodal.models.cnn import SmallCNN
from xmodal.training.optim import OptimConfig


class _Pairs(torch.utils.data.Dataset):
    """Audio (1, 8, 12) spectrogram-like and video frames-in-channels (3, 8, 8); 3 classes."""

    def __init__(self, n: int = 24) -> None:
        g = torch.Generator().manual_seed(0)
        self.audio, self.video = torch.randn(n, 1, 8, 12, generator=g), torch.randn(n, 3, 8, 8, generator=g)
        self.label = torch.randint(0, 3, (n,), generator=g)

    def __len__(self) -> int:
        return len(self.label)

    def __getitem__(self, i: int) -> dict:
        return {"audio": self.audio[i], "video": self.video[i], "label": self.label[i], "index": i}


def _batch() -> dict:
    return next(iter(torch.utils.data.DataLoader(_Pairs(), batch_size=8)))


def _nets() -> tuple[SmallCNN, SmallCNN]:
    torch.manual_seed(0)
    return SmallCNN(3, 3, widths=(4, 6, 8), hidden=(8, 8)), SmallCNN(1, 3, widths=(4, 5, 8), hidden=(8, 8))


def _cfg(**kw: object) -> C2KDConfig:
    return C2KDConfig(student_layer="block2", teacher_layer="block2", **kw)  # type: ignore[arg-type]


def _sgd() -> OptimConfig:
    return OptimConfig(optimizer="sgd", lr=0.1, weight_decay=0.0)


def _fit(model: L.LightningModule, steps: int = 3) -> L.Trainer:
    trainer = L.Trainer(max_steps=steps, max_epochs=2, accelerator="cpu", logger=False, enable_checkpointing=False,
                        enable_progress_bar=False, enable_model_summary=False, limit_val_batches=0)
    trainer.fit(model, torch.utils.data.DataLoader(_Pairs(), batch_size=8))
    return trainer


def test_c2kd_terms_weights_and_inferred_proxy_sizes() -> None:
    student, teacher = _nets()
    batch = _batch()
    model = C2KD(student, teacher, _cfg(lambda3=2.0), _sgd(), example=batch)
    assert model.s_proxy.fc.in_features == 6 and model.t_proxy.fc.in_features == 5  # channels of block2
    assert model.s_proxy.fc.out_features == 3
    terms = model.compute_losses(batch, "val")
    assert set(terms) == {"ce", "teacher_ce", "s_proxy", "s_from_proxy", "t_proxy", "t_from_proxy", "nt_s_from_t",
                          "nt_t_from_s"}
    expected = sum(v for v in terms.values()) + terms["nt_s_from_t"] + terms["nt_t_from_s"]
    assert model.total_loss(terms).item() == pytest.approx(expected.item(), rel=1e-6)


def test_c2kd_full_teacher_trains_and_selected_fraction_is_logged() -> None:
    student, teacher = _nets()
    before = teacher.block1[0].weight.clone()
    model = C2KD(student, teacher, _cfg(), _sgd(), example=_batch())
    trainer = _fit(model)
    assert not torch.equal(teacher.block1[0].weight, before)
    frac = trainer.logged_metrics["train/selected_frac"]
    assert 0.0 <= float(frac) <= 1.0


def test_c2kd_top_layers_only_update_the_named_teacher_parameters() -> None:
    student, teacher = _nets()
    before = {k: v.clone() for k, v in teacher.named_parameters()}
    model = C2KD(student, teacher, _cfg(teacher_update="top", teacher_top=("fc2", "head")), _sgd(), example=_batch())
    _fit(model)
    for name, param in teacher.named_parameters():
        moved = not torch.equal(param, before[name])
        assert moved == name.startswith(("fc2.", "head.")), name
    with pytest.raises(ConfigError, match="teacher_top"):
        C2KD(*_nets(), _cfg(teacher_update="top", teacher_top=("layer4",)), _sgd(), example=_batch())


def test_c2kd_frozen_teacher_is_untouched_but_its_proxy_learns() -> None:
    student, teacher = _nets()
    state = {k: v.clone() for k, v in teacher.state_dict().items()}
    model = C2KD(student, teacher, _cfg(teacher_update="frozen"), _sgd(), example=_batch())
    proxy_before = model.t_proxy.fc.weight.clone()
    assert "teacher_ce" not in model.compute_losses(_batch(), "val")
    _fit(model)
    for k, v in teacher.state_dict().items():
        assert torch.equal(v, state[k]), k  # weights and BN running statistics
    assert not torch.equal(model.t_proxy.fc.weight, proxy_before)


def test_c2kd_config_validation_and_poly_schedule() -> None:
    with pytest.raises(ConfigError, match="tau_threshold"):
        _cfg(tau_threshold=1.5).validate()
    with pytest.raises(ConfigError, match="lambda2"):
        _cfg(lambda2=-1.0).validate()
    # the official adjust_lr: 1e-4 + (lr − 1e-4)(1 − e/E)^0.9
    assert poly_factor(0, 100, 1e-2) == pytest.approx(1.0)
    assert poly_factor(50, 100, 1e-2) * 1e-2 == pytest.approx(1e-4 + (1e-2 - 1e-4) * 0.5**0.9)
    assert poly_factor(100, 100, 1e-2) * 1e-2 == pytest.approx(1e-4)


@pytest.mark.parametrize("kind", ["none", "kd", "dkd", "dist", "nkd", "fitnets", "review", "shake"])
def test_baselines_share_the_trainer_and_keep_the_teacher_fixed(kind: str) -> None:
    student, teacher = _nets()
    state = {k: v.clone() for k, v in teacher.state_dict().items()}
    cfg = BaselineKDConfig(kind=kind, feature_pairs=(("block2", "block2"), ("block3", "block3")),  # type: ignore
                           shake_layers=("block1", "block2", "block3"))
    model = BaselineKD(student, teacher, cfg, _sgd(), example=_batch())
    terms = model.compute_losses(_batch(), "train")
    assert set(terms) == ({"ce"} if kind == "none" else {"ce", "kd"})
    assert all(torch.isfinite(v) for v in terms.values())
    shadow_before = model.shadow.out[0].weight.clone() if model.shadow is not None else None
    _fit(model, steps=2)
    for k, v in teacher.state_dict().items():
        assert torch.equal(v, state[k]), (kind, k)
    if kind == "fitnets":
        assert len(model.regressors) == 1 and model.regressors["block2->block2"].body[0].out_channels == 5
    if kind == "review":  # attention-based fusion by default: one ABF per level, no per-level regressors
        assert model.review is not None and len(model.review.abfs) == 2 and not model.regressors
    if kind == "shake":  # the shadow head trained (its teacher, checked above, did not)
        assert model.shadow is not None and model.shadow.fc is None  # official: the teacher's classifier
        assert not torch.equal(model.shadow.out[0].weight, shadow_before)


def test_dkd_term_ramps_in_over_its_warmup_epochs() -> None:
    student, teacher = _nets()
    batch = _batch()
    full = BaselineKD(student, teacher, BaselineKDConfig(kind="dkd", dkd_warmup_epochs=0), _sgd())
    ramped = BaselineKD(student, teacher, BaselineKDConfig(kind="dkd", dkd_warmup_epochs=4), _sgd())
    full.eval(), ramped.eval()
    ratio = ramped.compute_losses(batch, "train")["kd"] / full.compute_losses(batch, "train")["kd"]
    assert ratio.item() == pytest.approx(0.25)  # epoch 0 counts as the first of 4


def test_shake_shadow_head_follows_the_official_module_and_checks_widths() -> None:
    """Three levels give the official fuse1…fuse5 layout (3×3 stride-2 down, 1×1 lateral, 3×3 out); the SHAKE
    term equals shake_loss on layer-normalised logits (the official loop's switch) of the head fed with the
    teacher's detached classifier, and on the raw logits by default."""
    from xmodal.losses.kd_baselines import layer_norm_logits, shake_loss

    student, teacher = _nets()
    model = BaselineKD(student, teacher, BaselineKDConfig(kind="shake", shake_layers=("block1", "block2", "block3"),
                                                          shake_logit_norm=True), _sgd(), example=_batch())
    head = model.shadow
    assert head is not None
    assert [d[0].stride for d in head.down] == [(2, 2), (2, 2)]
    assert [(d[0].in_channels, d[0].out_channels) for d in head.down] == [(4, 5), (5, 8)]
    assert [lat[0].kernel_size for lat in head.lateral] == [(1, 1), (1, 1)] and head.out[0].out_channels == 8
    assert not any(p is teacher.head.weight for p in model.shadow.parameters())
    batch = _batch()
    model.eval()
    terms = model.compute_losses(batch, "train")
    with torch.no_grad():
        s, t = student(batch["video"]), teacher(batch["audio"])
        feats = [model._t_taps.features[n] for n in ("block1", "block2", "block3")]
        h = head(feats, teacher.head.weight, teacher.head.bias)
        ln = [layer_norm_logits(v) for v in (s, t, h)]
    assert torch.allclose(terms["kd"], shake_loss(ln[0], ln[1], ln[2], batch["label"], 4.0), atol=1e-5)
    assert torch.allclose(terms["ce"], torch.nn.functional.cross_entropy(ln[0], batch["label"]), atol=1e-6)
    raw = BaselineKD(student, teacher, BaselineKDConfig(kind="shake", shake_layers=("block1", "block2", "block3")),
                     _sgd(), example=_batch())
    raw.shadow.load_state_dict(head.state_dict())
    raw.eval()
    assert torch.allclose(raw.compute_losses(batch, "train")["kd"], shake_loss(s, t, h, batch["label"], 4.0),
                          atol=1e-5)
    own = BaselineKD(*_nets(), BaselineKDConfig(kind="shake", shake_layers=("block1", "block2"),
                                                shake_classifier="own"), _sgd(), example=_batch())
    assert own.shadow is not None and own.shadow.fc is not None and own.shadow.fc.in_features == 5
    with pytest.raises(ConfigError, match="shake_classifier=own"):  # block2 (5 ch) does not feed head (8 in)
        BaselineKD(*_nets(), BaselineKDConfig(kind="shake", shake_layers=("block1", "block2")), _sgd(),
                   example=_batch())


def test_review_kd_term_is_hcl_of_the_fused_levels_with_the_official_warmup() -> None:
    """ABF (default): kd = min(1, epoch / warm-up) · HCL(fused student levels, teacher levels); epoch 0 weighs 0,
    as Review-KD's CIFAR code. ``review_fusion=none``: per-level regressors, no review across levels."""
    from xmodal.losses.kd_baselines import hcl_loss

    pairs = (("block2", "block2"), ("block3", "block3"))
    student, teacher = _nets()
    model = BaselineKD(student, teacher, BaselineKDConfig(kind="review", feature_pairs=pairs, review_warmup_epochs=0),
                       _sgd(), example=_batch())
    batch = _batch()
    model.eval()
    kd = model.compute_losses(batch, "train")["kd"]
    fs = [model._s_taps.features[n] for n in ("block2", "block3")]
    ft = [model._t_taps.features[n] for n in ("block2", "block3")]
    assert model.review is not None
    assert torch.allclose(kd, hcl_loss(model.review(fs, [f.shape[2:] for f in ft]), ft), atol=1e-6)
    ramped = BaselineKD(*_nets(), BaselineKDConfig(kind="review", feature_pairs=pairs, review_warmup_epochs=4),
                        _sgd(), example=_batch())
    assert ramped.compute_losses(batch, "train")["kd"].item() == 0.0  # epoch 0 of 4
    plain = BaselineKD(*_nets(), BaselineKDConfig(kind="review", feature_pairs=pairs, review_fusion="none",
                                                  review_warmup_epochs=0), _sgd(), example=_batch())
    assert plain.review is None and set(plain.regressors) == {"block2->block2", "block3->block3"}
