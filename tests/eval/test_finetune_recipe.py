"""Fine-tuning recipe pieces (xmodal.eval.finetune_augment / _heads / _recipe / _config)."""

import math

import numpy as np
import pytest
import torch

from xmodal.data import video_transforms as vt
from xmodal.eval.finetune import AVClassifier, class_balanced_sampler, layer_decay_groups
from xmodal.eval.finetune_augment import (
    OFFICIAL_RANDAUG,
    PAPER_RANDAUG,
    AudioMixup,
    RandAugSpec,
    random_erase,
    spec_noise_snr,
    structured_keep_ids,
    time_warp,
)
from xmodal.eval.finetune_config import PRESETS, effective_lr, finetune_preset
from xmodal.eval.finetune_recipe import masking_groups, recipe_geometry, spatial_crops
from xmodal.eval.geometry import EvalGeometry
from xmodal.models.vit import vit_tiny


def _video_vit(**kw: object) -> torch.nn.Module:
    return vit_tiny("video", grid=(8, 7, 7), dim=32, depth=2, heads=2, **kw)  # 32×112² pre-training grid


def _audio_vit() -> torch.nn.Module:
    return vit_tiny("audio", grid=(8, 8), patch=(4, 4), dim=32, depth=2, heads=2)  # 32 mel × 32 frames


def test_xkd_video_presets_fine_tune_at_224_from_the_112_grid() -> None:
    geom = recipe_geometry(EvalGeometry(), PRESETS["xkd-ucf101"])
    assert geom.size == 224 and geom.token_grid("video", [4, 16, 16]) == [8, 14, 14]
    model = _video_vit()
    assert model.pos_embed_for((8, 14, 14)).shape == (1, 8 * 14 * 14, 32)
    tokens = model(torch.randn(1, 3, 32, 224, 224))
    assert tokens.shape == (1, 1 + 8 * 14 * 14, 32)
    with torch.no_grad():  # a constant table stays constant; the 112² grid's own table is unchanged
        model.pos_embed.fill_(0.25)
    assert torch.allclose(model.pos_embed_for((8, 14, 14)), torch.full((1, 1568, 32), 0.25))
    assert torch.equal(model.pos_embed_for((8, 7, 7)), model.pos_embed)


def test_mavil_dataset_statistics_apply_to_a_kaldi_fbank_export_only() -> None:
    cfg = PRESETS["mavil-vggsound"]
    kaldi = recipe_geometry(EvalGeometry(frontend="kaldi_fbank", n_mels=128, audio_frames=1024), cfg)
    assert (kaldi.logmel_mean, kaldi.logmel_std) == (-5.189, 3.260)
    logmel = recipe_geometry(EvalGeometry(logmel_mean=-5.0, logmel_std=4.0), cfg)
    assert (logmel.logmel_mean, logmel.logmel_std) == (-5.0, 4.0)


def test_mavil_lr_is_base_times_batch_over_256_and_xkd_lr_is_unscaled() -> None:
    assert effective_lr(PRESETS["mavil-as20k"]) == pytest.approx(1e-3 * 64 / 256)
    assert effective_lr(PRESETS["mavil-esc"]) == pytest.approx(1e-3 * 64 / 256)
    assert effective_lr(PRESETS["mavil-as2m"]) == pytest.approx(2e-4 * 512 / 256)
    assert effective_lr(PRESETS["mavil-vggsound-av"]) == pytest.approx(2e-4)
    assert effective_lr(finetune_preset("mavil-as20k", batch_size=512)) == pytest.approx(2e-3)
    assert effective_lr(PRESETS["xkd-ucf101"]) == 5e-4


def test_audiomae_mixup_statistics() -> None:
    mix = AudioMixup(prob=0.5, alpha=10.0, mode="sample", seed=0)
    lams, partners = zip(*(mix.draw(64) for _ in range(200)), strict=True)
    lam = torch.cat(lams).double()
    mixed = lam < 1.0
    assert abs(float(mixed.double().mean()) - 0.5) < 0.02  # 12 800 samples: std of the fraction ≈ 0.0044
    moments = lam[mixed]
    assert abs(float(moments.mean()) - 0.5) < 0.005
    assert float(moments.var()) == pytest.approx(100 / (400 * 21), rel=0.1)  # Beta(10, 10): αβ/((α+β)²(α+β+1))
    assert all(bool((p != torch.arange(64)).all()) for p in partners)
    batch = AudioMixup(prob=0.5, alpha=10.0, mode="batch", seed=1)
    per_batch = [batch.draw(16)[0] for _ in range(400)]
    assert all(bool((b == b[0]).all()) for b in per_batch)  # one λ (or none) per batch
    assert abs(np.mean([float(b[0]) < 1.0 for b in per_batch]) - 0.5) < 0.07


def test_mixup_mixes_every_modality_and_the_targets_alike() -> None:
    mix = AudioMixup(prob=1.0, alpha=10.0, seed=3)
    a, v = torch.randn(8, 1, 4, 6), torch.randn(8, 3, 2, 4, 4)
    y = torch.nn.functional.one_hot(torch.arange(8) % 4, 4).float()
    out, t = mix({"audio": a, "video": v}, y)
    replay = AudioMixup(prob=1.0, alpha=10.0, seed=3)
    lam, partner = replay.draw(8)
    assert torch.allclose(out["audio"], lam.view(-1, 1, 1, 1) * a + (1 - lam.view(-1, 1, 1, 1)) * a[partner])
    assert torch.allclose(out["video"][:, 0, 0, 0, 0], lam * v[:, 0, 0, 0, 0] + (1 - lam) * v[partner, 0, 0, 0, 0])
    assert torch.allclose(t.sum(1), torch.ones(8))


def test_structured_masking_drops_the_stated_fractions() -> None:
    gen = torch.Generator().manual_seed(0)
    keep = structured_keep_ids((8, 64), 4, (((1,), 0.2), ((0,), 0.2)), gen)  # (F, T) audio grid
    assert keep.shape == (4, int(64 * 0.8) * int(8 * 0.8))
    for row in keep:
        f, t = row // 64, row % 64
        assert len(set(t.tolist())) == 51 and len(set(f.tolist())) == 6
    vkeep = structured_keep_ids((8, 14, 14), 2, (((0,), 0.2), ((1, 2), 0.2)), gen)
    assert vkeep.shape == (2, 6 * int(196 * 0.8))
    assert len(set((vkeep[0] // 196).tolist())) == 6 and len(set((vkeep[0] % 196).tolist())) == 156


def test_classifier_masks_tokens_only_in_training() -> None:
    seen: list[int] = []
    model = AVClassifier({"audio": _audio_vit()}, 5, masking=masking_groups(PRESETS["mavil-as20k"]))
    model.backbones["audio"].blocks[0].register_forward_hook(lambda m, i, o: seen.append(o[0].shape[1]))
    x = {"audio": torch.randn(2, 1, 32, 32)}
    model.train()(x)
    model.eval()(x)
    assert seen == [1 + int(8 * 0.8) * int(8 * 0.8), 1 + 64]


def test_class_balanced_sampler_equalises_classes() -> None:
    labels = np.array([0] * 90 + [1] * 9 + [2] * 1)
    drawn = np.bincount(labels[list(class_balanced_sampler(labels, 30_000, seed=0))], minlength=3) / 30_000
    np.testing.assert_allclose(drawn, [1 / 3] * 3, atol=0.02)


def test_three_by_three_views_average_softmax() -> None:
    video = torch.arange(2 * 3 * 4 * 8 * 12, dtype=torch.float32).reshape(2, 3, 4, 8, 12)[0]  # (C, T, 8, 12)
    crops = spatial_crops(video, 8, 3)
    assert crops.shape == (3, 3, 4, 8, 8)
    assert torch.equal(crops[0], video[..., :8]) and torch.equal(crops[1], video[..., 2:10])
    assert torch.equal(crops[2], video[..., 4:])
    model = AVClassifier({"video": _video_vit()}, 6).eval()
    views = torch.randn(2, 3, 3, 3, 8, 32, 32)  # (B, clips, crops, C, T, H, W)
    with torch.no_grad():
        per_view = model.head({"video": model.backbones["video"].features(views.flatten(0, 2))}).reshape(2, 9, 6)
        scores = model.clip_scores({"video": views}, multilabel=False)
    assert torch.allclose(scores, per_view.softmax(-1).mean(1), atol=1e-5)


def test_fusion_head_groups_give_the_video_encoder_half_the_lr() -> None:
    cfg = PRESETS["mavil-as20k-av"]
    model = AVClassifier({"audio": _audio_vit(), "video": _video_vit()}, 7, head=cfg.head, masking=masking_groups(cfg))
    groups = layer_decay_groups(model, lr=1.0, weight_decay=0.0, layer_decay=0.75,
                                modality_lr_scale=dict(cfg.modality_lr_scale))
    lr_of = {n: g["lr"] for g in groups for n in g["names"]}
    for name, lr in lr_of.items():
        if name.startswith("backbones.video."):
            assert lr == pytest.approx(0.5 * lr_of[name.replace("video", "audio", 1)])
    assert {lr_of[n] for n in lr_of if n.startswith("head.")} == {1.0}
    assert any(n.startswith("head.blocks.2.") for n in lr_of)  # three fusion blocks
    with torch.no_grad():  # 10 video clips pair with one audio: logits (B, classes)
        out = model.eval().clip_scores({"audio": torch.randn(2, 1, 32, 32), "video": torch.randn(2, 10, 3, 8, 32, 32)},
                                       multilabel=True)
    assert out.shape == (2, 7) and ((out > 0) & (out < 1)).all()


def test_randaug_specs_and_increasing_maps() -> None:
    assert RandAugSpec.parse("rand-m7-n4-mstd0.5-inc1") == OFFICIAL_RANDAUG == RandAugSpec(7.0, 4, 0.5, True)
    assert PAPER_RANDAUG.timm() == "rand-m9-n4-mstd0.05-inc1" == PRESETS["xkd-ucf101"].randaug
    assert finetune_preset("xkd-ucf101", "official").randaug == OFFICIAL_RANDAUG.timm()
    with pytest.raises(ValueError, match="unknown RandAugment field"):
        RandAugSpec.parse("rand-m9-x3")
    v = torch.linspace(0, 1, 256).reshape(1, 1, 16, 16).expand(3, 2, 16, 16)
    inc = vt.randaug_op(v, "Solarize", 0.8, False, increasing=True)
    dec = vt.randaug_op(v, "Solarize", 0.8, False, increasing=False)
    assert torch.equal(inc != v, v >= 0.2) and torch.equal(dec != v, v >= 0.8)
    assert vt.randaug_op(v, "Posterize", 0.8, False, increasing=True).unique().numel() == 2  # 4 − 3 = 1 bit
    assert vt.randaug_op(v, "Posterize", 0.8, False, increasing=False).unique().numel() == 8  # 3 bits


def test_random_erase_same_box_on_every_frame() -> None:
    video = torch.zeros(3, 4, 32, 32)
    erased = [random_erase(video, torch.Generator().manual_seed(s), p=0.25) for s in range(400)]
    hit = [e for e in erased if not torch.equal(e, video)]
    assert abs(len(hit) / 400 - 0.25) < 0.07
    box = hit[0] != 0
    assert torch.equal(box, box[:, :1].expand_as(box))


def test_time_warp_and_noise() -> None:
    ramp = torch.linspace(0, 1, 100).expand(1, 8, 100).clone()
    warped = time_warp(ramp, torch.Generator().manual_seed(0), window=20)
    assert warped.shape == ramp.shape and not torch.allclose(warped, ramp)
    assert torch.equal(time_warp(ramp[..., :40], torch.Generator(), window=20), ramp[..., :40])
    spec = torch.randn(1, 128, 1024)
    noise = spec_noise_snr(spec, torch.Generator().manual_seed(0), 20.0) - spec
    assert 10 * math.log10(float(spec.pow(2).mean() / noise.pow(2).mean())) == pytest.approx(20.0, abs=0.1)


def test_presets_flag_paper_code_conflicts() -> None:
    for name, field, paper, code in [("xkd-hmdb51", "layer_decay", 0.55, 0.75),
                                     ("xkd-kinetics400", "warmup_epochs", 30, 5),
                                     ("xkd-fsd50k", "batch_size", 64, 128)]:
        official = finetune_preset(name, "official")
        assert getattr(PRESETS[name], field) == paper and getattr(official, field) == code
        assert any(k == field for k, *_ in official.departures)
    av = PRESETS["mavil-as20k-av"]
    assert av.head == "mavil-fusion" and av.test_clips == 10 and dict(av.modality_lr_scale) == {"video": 0.5}
    assert PRESETS["mavil-vggsound"].audio_noise == "snr20" and PRESETS["mavil-as20k"].mixup_prob == 0.5


def _raw(seed: int = 0) -> dict[str, object]:
    g = torch.Generator().manual_seed(seed)
    frames = torch.randint(0, 256, (40, 36, 48, 3), generator=g, dtype=torch.uint8)  # 5 s at 8 fps, 36×48
    return {"video": frames, "fps": 8.0, "audio": torch.randn(16000 * 5, generator=g) * 0.1,
            "sample_rate": 16000, "seed": seed}


def test_recipe_transforms_give_the_preset_shapes() -> None:
    from xmodal.eval.finetune_augment import AudioMixup as Mix
    from xmodal.eval.finetune_data import BatchMix
    from xmodal.eval.finetune_recipe import RecipeTrainTransform, recipe_mix, test_transform

    geom = EvalGeometry(frames=8, size=32, n_mels=32, hop_length=500)
    video_cfg = finetune_preset("xkd-ucf101", video_size=24)
    train = RecipeTrainTransform(recipe_geometry(geom, video_cfg), video_cfg)
    out = train(_raw(1))
    assert out["video"].shape == (3, 8, 24, 24) and torch.equal(out["video"], train(_raw(1))["video"])
    test = test_transform(recipe_geometry(geom, video_cfg), video_cfg)(_raw(1))
    assert test["video"].shape == (3, 3, 8, 24, 24)  # (spatial crops, C, T, H, W)
    for name in ("xkd-esc50", "mavil-vggsound"):
        cfg = PRESETS[name]
        spec = RecipeTrainTransform(recipe_geometry(geom, cfg), cfg)(_raw(2))["audio"]
        assert spec.shape == (1, 32, 1 + 64000 // 500) and torch.isfinite(spec).all()
    assert isinstance(recipe_mix(PRESETS["mavil-as20k"]), Mix)
    assert isinstance(recipe_mix(PRESETS["xkd-ucf101"]), BatchMix) and recipe_mix(PRESETS["mavil-esc"]) is None


def test_finetuner_optimizer_runs_at_the_effective_lr() -> None:
    from types import SimpleNamespace

    from xmodal.eval.finetune import FineTuner

    cfg = finetune_preset("mavil-as20k", warmup_epochs=0)
    module = FineTuner(AVClassifier({"audio": _audio_vit()}, 5), cfg, num_classes=5)
    module._trainer = SimpleNamespace(estimated_stepping_batches=10, max_epochs=1)  # only what the schedule reads
    opt = module.configure_optimizers()["optimizer"]
    top = max(g["lr"] for g in opt.param_groups)
    assert top == pytest.approx(1e-3 * 64 / 256)  # not the base 1e-3
