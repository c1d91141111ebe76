import lightning.pytorch as L
import numpy as np
import pytest
import torch
from linear_backbone import LinearBackbone  # tests/eval is on sys.path (rootdir-relative test imports)
from torch import nn
from torch.utils.data import DataLoader

from xmodal.eval.finetune import AVClassifier, FineTuner, class_balanced_sampler, finetune, layer_decay_groups
from xmodal.eval.finetune_config import PRESETS, finetune_preset


class TinyViT(nn.Module):
    """Just enough of the backbone contract: ``embed``, ``cls_token``, ``blocks``, ``norm``, ``features``."""

    def __init__(self, in_features: int, dim: int = 8, depth: int = 3) -> None:
        super().__init__()
        self.embed_dim = dim
        self.embed = nn.Linear(in_features, dim)
        self.cls_token = nn.Parameter(torch.zeros(1, 1, dim))
        self.blocks = nn.ModuleList(nn.Sequential(nn.Linear(dim, dim), nn.GELU()) for _ in range(depth))
        self.norm = nn.LayerNorm(dim)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        h = self.embed(x.flatten(1))
        for block in self.blocks:
            h = h + block(h)
        return self.norm(h)




def test_layer_decay_groups_have_the_right_lrs() -> None:
    model = AVClassifier({"video": TinyViT(12, depth=3), "audio": LinearBackbone()}, num_classes=5)
    groups = layer_decay_groups(model, lr=1.0, weight_decay=0.05, layer_decay=0.5,
                                modality_lr_scale={"video": 0.5})
    lr_of = {n: g["lr"] for g in groups for n in g["names"]}
    wd_of = {n: g["weight_decay"] for g in groups for n in g["names"]}
    assert lr_of["backbones.video.embed.weight"] == pytest.approx(0.5 * 0.5**4)
    assert lr_of["backbones.video.cls_token"] == pytest.approx(0.5 * 0.5**4)
    for i in range(3):
        assert lr_of[f"backbones.video.blocks.{i}.0.weight"] == pytest.approx(0.5 * 0.5 ** (3 - i))
    assert lr_of["backbones.video.norm.weight"] == pytest.approx(0.5)
    assert lr_of["backbones.audio.proj.weight"] == 1.0  # no ``blocks``: one group, no decay by depth
    assert lr_of["head.1.weight"] == 1.0
    assert wd_of["head.1.bias"] == 0.0 and wd_of["backbones.video.cls_token"] == 0.0
    assert wd_of["backbones.video.blocks.0.0.weight"] == 0.05
    assert sum(len(g["params"]) for g in groups) == len(list(model.parameters()))


def _loader(n: int = 64, clips: int | None = None, flat: bool = False) -> DataLoader:
    g = torch.Generator().manual_seed(0)
    y = torch.arange(n) % 3
    centers = torch.randn(3, 1, 2, 2, 3, generator=g) * 2
    video = centers[y] + 0.3 * torch.randn(n, 1, 2, 2, 3, generator=g)
    if flat:  # 8 values for ``LinearBackbone()``
        video = video.flatten(1)[:, :8]
    if clips:
        video = video[:, None].expand(-1, clips, -1, -1, -1, -1)
    rows = [{"video": video[i], "label": y[i], "id": str(i)} for i in range(n)]
    return DataLoader(rows, batch_size=16, shuffle=False)


def test_finetune_lowers_the_loss_with_mixing_and_multiclip_test() -> None:
    cfg = finetune_preset("xkd-ucf101", lr=3e-2, warmup_epochs=1, weight_decay=0.0, layer_decay=0.9, dropout=0.0)
    model = AVClassifier({"video": TinyViT(12)}, num_classes=3)
    calls: list[int] = []

    def mix(inputs: dict[str, torch.Tensor], targets: torch.Tensor) -> tuple[dict[str, torch.Tensor], torch.Tensor]:
        calls.append(1)
        lam = 0.8
        mixed = {k: lam * v + (1 - lam) * v.flip(0) for k, v in inputs.items()}
        return mixed, lam * targets + (1 - lam) * targets.flip(0)

    module = FineTuner(model, cfg, num_classes=3, mix=mix)
    batch = next(iter(_loader()))
    with torch.no_grad():
        before = module.loss(model({"video": batch["video"]}), module._targets(batch["label"])).item()
    trainer = L.Trainer(max_epochs=6, accelerator="cpu", logger=False, enable_checkpointing=False,
                        enable_progress_bar=False, enable_model_summary=False)
    trainer.fit(module, _loader())
    model.eval()
    with torch.no_grad():
        after = module.loss(model({"video": batch["video"]}), module._targets(batch["label"])).item()
    assert after < 0.7 * before and len(calls) == 24
    trainer.test(module, _loader(clips=3), verbose=False)
    assert module.last_metrics["top1"] >= 0.9
    lrs = [g["lr"] for g in trainer.optimizers[0].param_groups]
    assert max(lrs) == pytest.approx(cfg.min_lr, rel=0.05)  # cosine ends at the floor


def test_multiclip_logits_are_the_clip_average() -> None:
    model = AVClassifier({"video": TinyViT(12)}, num_classes=4).eval()
    x = torch.randn(2, 3, 1, 2, 2, 3)
    with torch.no_grad():
        per_clip = torch.stack([model({"video": x[:, k]}) for k in range(3)], 1).mean(1)
        torch.testing.assert_close(model({"video": x}), per_clip)


def test_label_smoothing_and_bce() -> None:
    module = FineTuner(AVClassifier({"video": LinearBackbone()}, 4), finetune_preset("xkd-ucf101"), num_classes=4)
    t = module._targets(torch.tensor([2]))
    torch.testing.assert_close(t, torch.tensor([[0.025, 0.025, 0.925, 0.025]]))
    bce = FineTuner(AVClassifier({"video": LinearBackbone()}, 4), finetune_preset("mavil-as20k"), num_classes=4)
    logits, target = torch.zeros(1, 4), torch.tensor([[1.0, 0, 0, 1]])
    assert bce.loss(logits, target).item() == pytest.approx(np.log(2))


def test_class_balanced_sampler_weights() -> None:
    sampler = class_balanced_sampler(np.array([0, 0, 0, 1]), num_samples=10)
    w0, w1 = 1000 / 3.01, 1000 / 1.01
    np.testing.assert_allclose(sampler.weights.numpy(), [w0, w0, w0, w1])
    multi = class_balanced_sampler(np.array([[1, 1], [1, 0]]), num_samples=4)
    np.testing.assert_allclose(multi.weights.numpy(), [1000 / 2.01 + 1000 / 1.01, 1000 / 2.01])


def test_presets_match_paper_tables() -> None:
    k400, hmdb = PRESETS["xkd-kinetics400"], PRESETS["xkd-hmdb51"]
    assert (k400.warmup_epochs, k400.lr, k400.mixup_alpha, k400.cutmix_alpha, k400.layer_decay) == (30, 5e-4, 0.6,
                                                                                                    0.5, 0.45)
    assert (hmdb.lr, hmdb.layer_decay, hmdb.label_smoothing, hmdb.dropout) == (1e-4, 0.55, 0.1, 0.5)
    fsd = PRESETS["xkd-fsd50k"]
    assert fsd.multilabel and fsd.loss == "bce" and fsd.test_clips == 8 and fsd.schedule == "fixed"
    as2m = PRESETS["mavil-as2m"]
    assert as2m.weighted_sampling_size == 200_000 and as2m.betas == (0.9, 0.95) and as2m.drop_path == 0.1
    assert dict(PRESETS["mavil-as20k-av"].modality_lr_scale) == {"video": 0.5}


def test_finetune_helper_trains_and_tests() -> None:
    cfg = finetune_preset("xkd-esc50", modalities=("video",), warmup_epochs=0)
    module, metrics = finetune({"video": LinearBackbone()}, _loader(32, flat=True), _loader(32, flat=True), cfg, 3,
                               max_steps=2, accelerator="cpu")
    assert set(metrics) == {"top1", "top5"} and module.global_step == 2
