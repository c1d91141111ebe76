"""MAViL method: stage-1 terms against a direct computation (Eq. 1–4), stage-2 targets from a frozen teacher
(Eq. 5–6, Table 4 switches), the one-stage EMA variant, config errors, and real tiny runs through ``xmodal
pretrain`` (stage 1, then stage 2 from its checkpoint; exports usable by the evaluation suite)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import torch
import torch.nn.functional as F

from xmodal.cli.main import main
from xmodal.config import ConfigError, load_config
from xmodal.configs import config_path
from xmodal.losses.contrastive import info_nce
from xmodal.losses.reconstruction import masked_mse
from xmodal.methods.mavil import MAViL
from xmodal.methods.mavil_config import MAViLConfig
from xmodal.models.decoder import patchify_audio, patchify_video
from xmodal.models.masking import disjoint_maskings

# 2 s clips (the shared tiny benchmark): video 4 frames at 2 fps of 32², 2×8×8 tubelets → 2×4×4 = 32 tokens;
# audio 32 fbank bins × 192 frames, 16×16 patches → 2×12 = 24 tokens.
TINY = [
    "model.dim=32", "model.depth=1", "model.heads=2", "model.fusion_depth=1", "model.decoder_dim=16",
    "model.decoder_depth=1", "model.decoder_heads=2", "data.clip_seconds=2.0", "data.clips.frames=4",
    "data.clips.audio_seconds=2.0", "data.clips.fbank.num_mel_bins=32", "data.clips.fbank.target_length=192",
    "trainer.batch_size=4", "trainer.max_steps=2", "trainer.progress=none", "trainer.accelerator=cpu",
    "trainer.devices=1", "trainer.num_workers=0", "trainer.log_every_n_steps=1",
]


def tiny(*extra: str, name: str = "mavil/synthetic_tiny") -> MAViLConfig:
    return load_config(MAViLConfig, config_path(name), [*TINY, "data.source=unused.csv", *extra])


def batch(size: int = 4, seed: int = 0) -> dict[str, Any]:
    gen = torch.Generator().manual_seed(seed)
    return {"audio": torch.randn(size, 1, 32, 192, generator=gen),
            "video": torch.randn(size, 3, 4, 32, 32, generator=gen), "index": torch.arange(size), "skipped": []}


def fixed_masks(method: MAViL, size: int) -> dict[str, list[Any]]:
    gen = torch.Generator().manual_seed(7)
    masks = {mod: disjoint_maskings(size, 24 if mod == "audio" else 32, method.visible(mod), 2, gen)
             for mod in ("audio", "video")}
    method.maskings = lambda mod, b, device: masks[mod]  # type: ignore[method-assign]
    return masks


def test_stage1_terms_equal_equations_1_to_4() -> None:
    torch.manual_seed(0)
    method = MAViL(tiny())
    x = batch()
    masks = fixed_masks(method, 4)
    terms = method.compute_losses(x, "train")
    assert set(terms) == {"recon_audio", "recon_video", "inter", "intra"}
    enc = method.encoder
    tok = {m: enc.encode(m, x[m], masks[m][0].ids_keep) for m in ("audio", "video")}
    assert tok["audio"].shape[1] == 1 + 5 and tok["video"].shape[1] == 1 + 6  # round(0.2·24), round(0.2·32) + CLS
    a_mm, v_mm = enc.fusion(tok["audio"], tok["video"])
    targets = {"audio": patchify_audio(x["audio"], (16, 16)), "video": patchify_video(x["video"], (2, 8, 8))}
    for mod, fused in (("audio", a_mm), ("video", v_mm)):
        pred = method.decoders[mod](enc.fusion.norm(fused), masks[mod][0].ids_restore)
        torch.testing.assert_close(terms[f"recon_{mod}"], masked_mse(pred, targets[mod], masks[mod][0].mask))
    emb = {m: t[:, 1:].mean(1) for m, t in tok.items()}
    torch.testing.assert_close(terms["inter"], info_nce(emb["audio"], emb["video"], 0.1, gather=False))
    second = {m: enc.encode(m, x[m], masks[m][1].ids_keep)[:, 1:].mean(1) for m in ("audio", "video")}
    intra = 0.5 * sum(info_nce(emb[m], second[m], 1.0, gather=False) for m in ("audio", "video"))
    torch.testing.assert_close(terms["intra"], intra)
    total = method.total_loss(terms)
    torch.testing.assert_close(total, terms["recon_audio"] + terms["recon_video"] + 0.1 * terms["inter"]
                               + 0.01 * terms["intra"])
    total.backward()
    assert enc.audio.blocks[0].attn.qkv.weight.grad is not None and enc.fusion.blocks[0].mlp[0].weight.grad is not None
    assert enc.audio.pos_embed.grad is None  # fixed sin-cos


def test_av_mae_baseline_and_contrastive_ablations() -> None:
    """Table 3's columns are switches: no contrastive term (AV-MAE), inter only, intra only."""
    x = batch()
    assert set(MAViL(tiny("loss.use_inter=false", "loss.use_intra=false")).compute_losses(x, "train")) == {
        "recon_audio", "recon_video"}
    assert "intra" not in MAViL(tiny("loss.use_intra=false")).compute_losses(x, "train")
    assert "inter" not in MAViL(tiny("loss.use_inter=false", "model.fusion=mbt")).compute_losses(x, "train")


def _stage1_checkpoint(tmp_path: Path) -> tuple[MAViL, Path]:
    torch.manual_seed(1)
    stage1 = MAViL(tiny())
    path = tmp_path / "stage1.ckpt"
    torch.save({"state_dict": stage1.state_dict()}, path)
    return stage1, path


@pytest.mark.parametrize("target", ["fusion", "uni"])
def test_stage2_regresses_the_frozen_teachers_features(tmp_path: Path, target: str) -> None:
    stage1, path = _stage1_checkpoint(tmp_path)
    torch.manual_seed(2)
    method = MAViL(tiny("loss.stage=2", f"loss.teacher={path}", f"loss.target={target}"))
    teacher = method.teacher
    assert teacher is not None and not any(p.requires_grad for p in teacher.parameters())
    for (name, p), q in zip(teacher.state_dict().items(), stage1.encoder.state_dict().values(), strict=True):
        torch.testing.assert_close(p, q, msg=name)
    assert not torch.equal(method.encoder.audio.blocks[0].attn.qkv.weight, teacher.audio.blocks[0].attn.qkv.weight)
    method.train()
    assert not teacher.training  # the frozen teacher stays deterministic
    x = batch()
    masks = fixed_masks(method, 4)
    terms = method.compute_losses(x, "train")
    full_a, full_v = teacher.encode("audio", x["audio"]), teacher.encode("video", x["video"])
    if target == "fusion":
        full_a, full_v = teacher.fusion(full_a, full_v)
    tok = {m: method.encoder.encode(m, x[m], masks[m][0].ids_keep) for m in ("audio", "video")}
    a_mm, _ = method.encoder.fusion(tok["audio"], tok["video"])
    pred = method.decoders["audio"](method.encoder.fusion.norm(a_mm), masks["audio"][0].ids_restore)
    assert pred.shape == (4, 24, 32)  # features of the teacher's width, one per audio patch
    expected = masked_mse(pred, F.layer_norm(full_a[:, 1:], (32,)), masks["audio"][0].mask)
    torch.testing.assert_close(terms["recon_audio"], expected)
    method.total_loss(terms).backward()
    assert all(p.grad is None for p in teacher.parameters())
    every = MAViL(tiny("loss.stage=2", f"loss.teacher={path}", "loss.recon_tokens=all"))
    fixed_masks(every, 4)
    assert set(every.compute_losses(x, "train")) == {"recon_audio", "recon_video", "inter", "intra"}


def test_stage2_teacher_checks(tmp_path: Path) -> None:
    _, path = _stage1_checkpoint(tmp_path)
    with pytest.raises(ConfigError, match="teacher"):
        tiny("loss.stage=2")
    with pytest.raises(ValueError, match="architecture"):
        MAViL(tiny("loss.stage=2", f"loss.teacher={path}", "model.dim=64", "model.heads=4"))
    raw = MAViL(tiny("loss.stage=2", "loss.target=raw"))  # Table 4's "raw inputs" column needs no teacher
    assert raw.teacher is None and raw.decoders["video"].pred.out_features == 3 * 2 * 8 * 8
    with pytest.raises(ConfigError, match=r"model\.video_patch"):
        tiny("model.video_patch=[2,16,16]", "data.clips.size=24")
    with pytest.raises(ConfigError, match="audio_mask_ratio"):
        tiny("model.audio_mask_ratio=0.3")


def test_one_stage_ema_variant() -> None:
    method = MAViL(tiny("loss.variant=ema"))
    assert method.teacher is not None and method.feature_decoders is not None and len(method._ema_pairs) == 1
    terms = method.compute_losses(batch(), "train")
    assert {"recon_audio", "feature_audio", "feature_video", "inter", "intra"} <= set(terms)
    assert method.decoders["audio"].pred.out_features == 256  # raw 16×16 patches next to the feature decoder
    with pytest.raises(ConfigError, match="variant"):
        tiny("loss.variant=ema", "loss.stage=2", "loss.target=raw")


def test_pretrain_stage1_then_stage2_end_to_end(tmp_path: Path, synth_manifest: Path) -> None:
    from xmodal.eval.geometry import resolve_geometry
    from xmodal.models import load_backbone
    from xmodal.models.mavil import MAViLEncoder

    common = [*TINY, f"data.source={synth_manifest}", "data.cache=true"]
    dry = tmp_path / "dry.json"
    assert main(["pretrain", "--config", "mavil/synthetic_tiny", *common, f"out_dir={tmp_path / 's1'}", "--dry-run",
                 "--json", str(dry)]) == 0
    report = json.loads(dry.read_text())
    assert report["tokens"]["audio"] == {"grid": [2, 12], "tokens": 24, "visible_when_masked": 5,
                                         "encoder_sequence": 6}
    assert set(report["parameters"]) == {"encoder.audio", "encoder.video", "encoder.fusion", "decoders.audio",
                                         "decoders.video"}
    summary = tmp_path / "s1.json"
    assert main(["pretrain", "--config", "mavil/synthetic_tiny", *common, f"out_dir={tmp_path / 's1'}", "--json",
                 str(summary)]) == 0
    result = json.loads(summary.read_text())
    assert result["steps"] == 2
    encoder = load_backbone(result["exports"]["encoder"])
    assert isinstance(encoder, MAViLEncoder)
    feats = encoder.features(torch.randn(2, 1, 32, 192), torch.randn(2, 3, 4, 32, 32))
    assert feats["fused"].shape == (2, 64) and feats["audio"].shape == (2, 32)
    geometry, sources = resolve_geometry(result["exports"]["audio"], "audio")
    assert geometry.frontend == "kaldi_fbank" and sources["frontend"] == "export metadata"
    spec = geometry.transform()({"audio": torch.randn(32000), "sample_rate": 16000})["audio"]
    assert spec.shape == (1, 32, 192)
    audio = load_backbone(result["exports"]["audio"])
    assert audio.features(spec[None]).shape == (1, 32)  # type: ignore[operator]
    stage1 = tmp_path / "s1" / "checkpoints" / "last.ckpt"
    assert main(["pretrain", "--config", "mavil/synthetic_tiny_stage2", *common, f"loss.teacher={stage1}",
                 f"out_dir={tmp_path / 's2'}"]) == 0
    s1 = torch.load(stage1, weights_only=True)["state_dict"]
    s2 = torch.load(tmp_path / "s2" / "checkpoints" / "last.ckpt", weights_only=True)["state_dict"]
    for key, value in s1.items():
        if key.startswith("encoder."):
            torch.testing.assert_close(s2["teacher." + key[len("encoder."):]], value)  # frozen through training
    assert not torch.equal(s2["encoder.audio.blocks.0.attn.qkv.weight"], s1["encoder.audio.blocks.0.attn.qkv.weight"])
