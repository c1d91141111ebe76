"""Fine-tuning on the training engine: logs and checkpoints in ``out_dir``, auto-resume that continues exactly, a
refused resume under another config, and multi-clip testing as the mean of the clips' softmax."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest
import torch
from linear_backbone import LinearBackbone  # tests/eval is on sys.path (rootdir-relative test imports)
from torch import nn
from torch.utils.data import DataLoader, Dataset

from xmodal.data.loader import EpochDataLoader
from xmodal.eval.finetune import AVClassifier, FineTuner, finetune
from xmodal.eval.finetune_config import PRESETS, FinetuneConfig, finetune_preset
from xmodal.eval.finetune_engine import FinetuneRun, trainer_config
from xmodal.eval.finetune_recipe import recipe_mix
from xmodal.training.resume import ResumeMismatch


class Killed(Exception):
    """Stands for the process being killed mid-epoch (preemption, out-of-memory)."""


class DiesAfter(Dataset):
    """Rows that raise :class:`Killed` on fetch number ``limit`` (None: never)."""

    def __init__(self, rows: list[dict], limit: int | None) -> None:
        self.rows, self.limit, self.fetched = rows, limit, 0

    def __len__(self) -> int:
        return len(self.rows)

    def __getitem__(self, i: int) -> dict:
        self.fetched += 1
        if self.limit is not None and self.fetched > self.limit:
            raise Killed
        return self.rows[i]


def _loader(n: int = 32, clips: int | None = None, dies_after: int | None = None, shuffle: bool = False) -> DataLoader:
    g = torch.Generator().manual_seed(0)
    y = torch.arange(n) % 3
    x = torch.randn(3, 8, generator=g)[y] * 2 + 0.3 * torch.randn(n, 8, generator=g)
    if clips:  # per-clip noise, so the clips of one video differ
        x = x[:, None] + 0.5 * torch.randn(n, clips, 8, generator=g)
    x = x.reshape(*x.shape[:-1], 2, 1, 2, 2)  # video-shaped (C, T, H, W): the clip dim is told by ndim
    rows = [{"video": x[i], "label": y[i], "index": i} for i in range(n)]
    if shuffle:  # the loader build_loaders makes: each epoch's order from (seed, epoch)
        return EpochDataLoader(DiesAfter(rows, dies_after), batch_size=8, shuffle=True, seed=0)
    return DataLoader(DiesAfter(rows, dies_after), batch_size=8, shuffle=False)


CFG = finetune_preset("xkd-esc50", modalities=("video",), epochs=3, warmup_epochs=1, dropout=0.0, lr=1e-2,
                      test_clips=1)


def _run(out: Path | None, dies_after: int | None = None, shuffle: bool = False, cfg: FinetuneConfig = CFG,
         **fields: object) -> tuple[FineTuner, dict[str, float]]:
    torch.manual_seed(0)
    run = FinetuneRun(cfg, trainer_config(cfg, accelerator="cpu", **fields), {"seed": 0})
    return finetune({"video": LinearBackbone()}, _loader(dies_after=dies_after, shuffle=shuffle), _loader(), cfg, 3,
                    out_dir=out, run_config=run, accelerator="cpu", mix=recipe_mix(cfg, 0), **fields)


def test_a_killed_finetune_resumes_and_ends_where_an_uninterrupted_one_does(tmp_path: Path) -> None:
    whole, whole_metrics = _run(tmp_path / "whole")
    with pytest.raises(Killed):  # 32 rows an epoch: dies in epoch 1's second batch, after epoch 0's checkpoint
        _run(tmp_path / "resumed", dies_after=32 + 12)
    assert (tmp_path / "resumed" / "checkpoints" / "last.ckpt").is_file()
    second, metrics = _run(tmp_path / "resumed")
    assert (tmp_path / "resumed" / "config.yaml").is_file() and (tmp_path / "resumed" / "csv" / "metrics.csv").is_file()
    assert any((tmp_path / "resumed" / "tb").iterdir())
    assert second.resumed_from is not None and second.global_step == whole.global_step == 12
    for (name, a), b in zip(whole.model.state_dict().items(), second.model.state_dict().values(), strict=True):
        torch.testing.assert_close(a, b, msg=name)
    assert metrics == whole_metrics and whole.resumed_from is None


@pytest.mark.parametrize("cfg", [CFG, replace(CFG, mixup_alpha=0.8, cutmix_alpha=1.0),
                                 replace(CFG, mixup_alpha=10.0, mixup_mode="sample", mixup_prob=0.5)],
                         ids=["plain", "timm-mix", "audiomae-mix"])
def test_a_finetune_killed_mid_epoch_resumes_at_the_next_batch(tmp_path: Path, cfg: FinetuneConfig) -> None:
    """Shuffled, checkpointed every step, killed in epoch 1's second batch: the resumed run replays epoch 1's order
    without its first batch and the mixer's draws (before the fix it restarted the epoch from a new order, and the
    mixer from its seed, and the weights differed)."""
    whole, whole_metrics = _run(tmp_path / "whole", shuffle=True, cfg=cfg, checkpoint_every_n_steps=1)
    with pytest.raises(Killed):
        _run(tmp_path / "resumed", dies_after=32 + 12, shuffle=True, cfg=cfg, checkpoint_every_n_steps=1)
    second, metrics = _run(tmp_path / "resumed", shuffle=True, cfg=cfg, checkpoint_every_n_steps=1)
    assert second.resumed_from is not None and second.global_step == whole.global_step == 12
    for (name, a), b in zip(whole.model.state_dict().items(), second.model.state_dict().values(), strict=True):
        torch.testing.assert_close(a, b, msg=name)
    assert metrics == whole_metrics


def test_resume_under_another_learning_rate_is_refused(tmp_path: Path) -> None:
    _run(tmp_path, max_steps=2)
    other = finetune_preset("xkd-esc50", modalities=("video",), epochs=3, warmup_epochs=1, dropout=0.0, lr=5e-2,
                            test_clips=1)
    run = FinetuneRun(other, trainer_config(other, accelerator="cpu"), {"seed": 0})
    with pytest.raises(ResumeMismatch, match=r"finetune\.lr"):
        finetune({"video": LinearBackbone()}, _loader(), _loader(), other, 3, out_dir=tmp_path, run_config=run,
                 accelerator="cpu")


def test_multiclip_test_scores_are_the_mean_of_the_clips_softmax() -> None:
    model = AVClassifier({"video": LinearBackbone()}, num_classes=3).eval()
    x = torch.randn(4, 5, 2, 1, 2, 2)
    with torch.no_grad():
        expected = torch.stack([model({"video": x[:, k]}).softmax(1) for k in range(5)], 1).mean(1)
        torch.testing.assert_close(model.clip_scores({"video": x}, multilabel=False), expected)
        sig = torch.stack([model({"video": x[:, k]}).sigmoid() for k in range(5)], 1).mean(1)
        torch.testing.assert_close(model.clip_scores({"video": x}, multilabel=True), sig)
        # not the softmax of the mean logits (the feature-mean alternative)
        assert not torch.allclose(expected, model({"video": x}).softmax(1))


def test_finetuner_tests_on_the_softmax_mean_unless_asked_for_features() -> None:
    seen: dict[str, torch.Tensor] = {}
    for mode in ("softmax_mean", "feature_mean"):
        torch.manual_seed(0)
        cfg = finetune_preset("xkd-esc50", modalities=("video",), clip_aggregation=mode)
        module = FineTuner(AVClassifier({"video": LinearBackbone()}, 3), cfg, num_classes=3).eval()
        batch = next(iter(_loader(8, clips=3)))
        with torch.no_grad():
            module.validation_step(batch, 0)
        seen[mode] = module.predictions.scores[-1].reshape(8, 3)
        module.predictions.reset()
    torch.testing.assert_close(seen["softmax_mean"].sum(1), torch.ones(8))  # probabilities
    assert not torch.allclose(seen["feature_mean"].softmax(1), seen["softmax_mean"])


@pytest.mark.parametrize("name", sorted(PRESETS))
def test_every_preset_builds_on_the_engine_at_full_scale(name: str, tmp_path: Path) -> None:
    """No data needed: the preset's full-scale epochs/batch become a valid engine config that a checkpoint can store
    (plain data), a Trainer is built from it, and its model, optimizer groups, mixing and augmentation build."""
    from xmodal.config import to_dict
    from xmodal.eval.finetune import layer_decay_groups
    from xmodal.eval.finetune_recipe import RecipeTrainTransform, masking_groups, recipe_mix
    from xmodal.eval.geometry import EvalGeometry
    from xmodal.training.trainer import build_trainer

    cfg = PRESETS[name]
    tcfg = trainer_config(cfg, accelerator="cpu")
    tcfg.validate()
    assert (tcfg.max_epochs, tcfg.batch_size) == (cfg.epochs, cfg.batch_size)
    run = FinetuneRun(cfg, tcfg, {"seed": 0})
    assert to_dict(run)["finetune"]["source"] == cfg.source
    trainer = build_trainer(tcfg, tmp_path, run)
    assert trainer.max_epochs == cfg.epochs
    model = AVClassifier({m: LinearBackbone() for m in cfg.modalities}, 527, cfg.dropout, head=cfg.head,
                         masking=masking_groups(cfg))
    FineTuner(model, cfg, 527, recipe_mix(cfg))
    groups = layer_decay_groups(model, cfg.lr, cfg.weight_decay, cfg.layer_decay, dict(cfg.modality_lr_scale))
    assert sum(len(g["params"]) for g in groups) == len(list(model.parameters()))
    RecipeTrainTransform(EvalGeometry(), cfg)


def test_a_registered_token_head_gets_each_backbones_tokens(monkeypatch: pytest.MonkeyPatch) -> None:
    """The hook another head (e.g. MAViL's fusion Transformer) plugs into: registered by name, fed token
    sequences when it asks for them, and trained by the same engine."""
    from xmodal.eval import finetune_heads
    from xmodal.models.vit import vit_tiny

    seen: dict[str, tuple[int, ...]] = {}

    class TokenMean(nn.Module):
        input_kind = "tokens"

        def __init__(self, dims: dict[str, int], num_classes: int, dropout: float) -> None:
            super().__init__()
            self.linear = nn.Linear(sum(dims.values()), num_classes)

        def forward(self, features: dict[str, torch.Tensor]) -> torch.Tensor:
            seen.update({m: tuple(t.shape) for m, t in features.items()})
            return self.linear(torch.cat([t.mean(1) for t in features.values()], 1))

    monkeypatch.setitem(finetune_heads.HEADS, "token-mean", TokenMean)
    with pytest.raises(ValueError, match="already registered"):
        finetune_heads.register_head("token-mean", TokenMean)
    video = vit_tiny("video", grid=(2, 2, 2), patch=(2, 8, 8), dim=16, depth=1, heads=2)
    model = AVClassifier({"video": video}, 3, head="token-mean")
    logits = model({"video": torch.randn(2, 3, 4, 16, 16)})
    assert logits.shape == (2, 3) and seen["video"] == (2, 1 + 8, 16)
    assert model.clip_scores({"video": torch.randn(2, 3, 3, 4, 16, 16)}, multilabel=False).shape == (2, 3)
    with pytest.raises(ValueError, match="unknown fine-tuning head"):
        AVClassifier({"video": LinearBackbone()}, 3, head="nope")
