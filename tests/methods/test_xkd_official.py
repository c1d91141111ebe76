"""XKD's official-code regime (pritamqu/XKD, ``codes/train``) where the paper is silent, each behind a switch:
projector normalisation, per-tensor gradient clipping, the teachers' input view, the official loss weighting,
teacher temperatures, and the smaller model/optimizer details (docs/methods/xkd.md, design-point table)."""

from __future__ import annotations

import json
import warnings
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
import torch

from xmodal.config import ConfigError, load_config
from xmodal.configs import config_path
from xmodal.methods import base as base_module
from xmodal.methods import xkd as xkd_module
from xmodal.methods.pretrain import describe, pretrain
from xmodal.methods.xkd import XKD
from xmodal.methods.xkd_config import PretrainConfig
from xmodal.models.masking import num_visible

OFFICIAL_HEAD = ("model.proj_norm=ln", "model.proj_norm_shared=true", "model.proj_out_norm=true")


def _losses(method: XKD, batch: dict[str, Any]) -> dict[str, torch.Tensor]:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # self.log without a Trainer
        return method.compute_losses(batch, "train")


@pytest.mark.parametrize("variant", ["xkd", "mas"])
def test_official_head_shares_its_layernorm_in_student_and_teacher(make_cfg: Any, make_batch: Any,
                                                                    variant: str) -> None:
    """The shared hidden LayerNorm stays one tensor in the student, in the EMA teacher copy, and in the
    optimizer; the EMA moves it exactly once per step."""
    m = XKD(make_cfg(*OFFICIAL_HEAD, f"model.variant={variant}"))
    for heads in (m.head, m.teacher_head):
        mlp = heads["video"].mlp
        assert mlp[1] is mlp[4] and isinstance(mlp[1], torch.nn.LayerNorm)
        assert isinstance(heads["video"].out_norm, torch.nn.LayerNorm)
    assert m.teacher_head["video"].mlp[1] is not m.head["video"].mlp[1]
    loss = m.total_loss(_losses(m, make_batch(m.cfg)))
    loss.backward()
    gamma = m.head["video"].mlp[1].weight
    assert gamma.grad is not None and gamma.grad.abs().sum() > 0
    with torch.no_grad():
        gamma.add_(1.0)
    teacher_gamma = m.teacher_head["video"].mlp[4].weight
    old = teacher_gamma.detach().clone()
    (pair,) = m._ema_pairs
    pair.update(0.9)
    torch.testing.assert_close(teacher_gamma.detach(), 0.9 * old + 0.1 * gamma.detach())


def test_norm_pix_targets_reach_the_reconstruction_loss(make_cfg: Any, make_batch: Any) -> None:
    """``model.norm_pix=true`` (official ``norm_pix_loss``): the loss is the masked MSE against per-patch
    standardised targets, (x − mean) / √(unbiased var + 1e-6), computed here by hand."""
    m = XKD(make_cfg("model.norm_pix=true"))
    x = make_batch(m.cfg)["video"]["global"]
    out = m.masked_reconstruction("video", x)
    pt, ph, pw = m.cfg.model.video_patch
    b, c, t, h, w = x.shape
    patches = x.reshape(b, c, t // pt, pt, h // ph, ph, w // pw, pw).permute(0, 2, 4, 6, 3, 5, 7, 1)
    patches = patches.reshape(b, -1, pt * ph * pw * c)
    target = (patches - patches.mean(-1, keepdim=True)) / (patches.var(-1, keepdim=True) + 1e-6).sqrt()
    per_patch = (out["pred"] - target).pow(2).mean(-1)
    torch.testing.assert_close(out["loss"], per_patch[out["mask"]].mean())


def test_per_tensor_clipping_matches_direct_computation(make_cfg: Any, make_batch: Any) -> None:
    """``optim.grad_clip_mode=per_tensor`` (official ``clip_gradients``): every student/head tensor's gradient is
    scaled by min(1, 0.3 / (‖g‖ + 1e-6)) on its own; decoder gradients are left alone."""
    m = XKD(make_cfg("optim.grad_clip=0.3", "optim.grad_clip_mode=per_tensor"))
    m.total_loss(_losses(m, make_batch(m.cfg))).backward()
    before = {n: p.grad.clone() for n, p in m.named_parameters() if p.grad is not None}
    m.configure_gradient_clipping(None)
    after = {n: p.grad for n, p in m.named_parameters() if p.grad is not None}
    clipped = {n for n in before if n.startswith(("student.", "head."))}
    assert clipped and any(n.startswith("decoders.") for n in before)
    large = 0
    for name, g in before.items():
        norm = g.double().norm()
        scale = min(1.0, 0.3 / (float(norm) + 1e-6)) if name in clipped else 1.0
        torch.testing.assert_close(after[name], g * scale, rtol=1e-6, atol=1e-9)
        large += int(name in clipped and norm > 0.3)
        if name in clipped:
            assert float(after[name].norm()) <= 0.3 + 1e-5
    assert large > 0  # the batch produces gradients above the threshold, so clipping is exercised


@pytest.mark.parametrize("name", ["kinetics400", "kinetics_sound", "audioset"])
def test_paper_recipes_are_the_official_regime(name: str) -> None:
    """Where the paper is silent the recipes take the official code's values, and equal the dataclass defaults."""
    cfg = load_config(PretrainConfig, config_path(f"xkd/{name}"))
    m, lc, oc = cfg.model, cfg.loss, cfg.optim
    assert (m.proj_norm, m.proj_norm_shared, m.proj_out_norm) == ("ln", True, True)
    assert m.norm_pix
    assert (oc.grad_clip, oc.grad_clip_mode) == (0.3, "per_tensor")
    assert lc.refine_omega == "official"
    assert (lc.video_teacher_temp, lc.audio_teacher_temp, lc.student_temp) == ((0.1, 0.1), (0.07, 0.07), 0.1)
    assert (m.qkv_bias, m.init, m.ln_eps, m.decoder_norm, m.mask_rounding) == (False, "xavier", 1e-5, False, "round")
    assert not lc.mmd_gather and not lc.normalize_weights and lc.teacher_view == "global"  # paper: Eq. 12, Alg. 1
    assert oc.decay_tokens and cfg.trainer.precision == "16-mixed" and cfg.data.decode_size == 112
    assert cfg.data.views.video_global.jitter_p == cfg.data.views.video_local.jitter_p == 1.0
    default = PretrainConfig()
    for section in ("model", "loss"):
        ours, base = getattr(cfg, section), getattr(default, section)
        differ = {k for k in vars(base) if k not in ("video", "audio") and getattr(ours, k) != getattr(base, k)}
        assert not differ, (section, differ)


@pytest.mark.parametrize("view", ["global", "local"])
def test_teacher_view_switch_feeds_the_teachers(make_cfg: Any, make_batch: Any, view: str) -> None:
    """``loss.teacher_view``: the paper's teachers see the global views; the official code's see the first local
    view (``frames[1]``, ``specs[1]``). The teacher outputs that move the centres are those of that view."""
    m = XKD(make_cfg(f"loss.teacher_view={view}"))
    batch = make_batch(m.cfg)
    inputs = [batch[mod][view] if view == "global" else batch[mod]["local"][0] for mod in ("video", "audio")]
    expected = m._teacher_targets(m._trim("video", inputs[0], view), m._trim("audio", inputs[1], view))
    _losses(m, batch)
    torch.testing.assert_close(m.center_video, 0.1 * expected["video"].mean(0, keepdim=True))
    torch.testing.assert_close(m.center_audio, 0.1 * expected["audio"].mean(0, keepdim=True))
    assert expected["att_video"].shape[-1] == (64 if view == "global" else 8)  # 4×4×4 vs 2×2×2 video tokens


def test_local_teacher_view_needs_local_views(make_cfg: Any) -> None:
    with pytest.raises(ConfigError, match=r"^loss\.teacher_view: local .*num_video_local"):
        make_cfg("loss.teacher_view=local", "data.views.num_audio_local=0")


def test_official_weighting_is_sum_over_fourteen(make_cfg: Any, make_batch: Any) -> None:
    """``loss.normalize_weights=true`` is the official ``(align·1 + cmkd·1 + recon·5) / 7`` where each of
    recon/align/cmkd is the mean of its two parts: (5·ΣL_rec + ΣL_da + ΣL_kd) / 14 of the paper's sums."""
    weights = ("loss.lambda_ae=5.0", "loss.lambda_da=1.0", "loss.lambda_kd=1.0")
    paper = XKD(make_cfg(*weights, "loss.normalize_weights=false"))
    official = XKD(make_cfg(*weights, "loss.normalize_weights=true"))
    official.load_state_dict(paper.state_dict())
    batch = make_batch(paper.cfg)
    torch.manual_seed(5)
    sums = _losses(paper, batch)  # Eq. 2, 9, 11: sums over modalities, MMD terms and KD directions
    torch.manual_seed(5)
    means = _losses(official, batch)
    for name, value in sums.items():
        torch.testing.assert_close(means[name], value / 2)
    expected = (5 * sums["ae"] + sums["da"] + sums["kd"]) / 14
    torch.testing.assert_close(official.total_loss(means), expected)
    torch.testing.assert_close(paper.total_loss(sums), 5 * sums["ae"] + sums["da"] + sums["kd"])


def _groups(m: XKD) -> tuple[set[str], set[str]]:
    """(decayed, not decayed) parameter names of ``configure_optimizers`` (a stub trainer gives the step count)."""
    m._trainer = SimpleNamespace(estimated_stepping_batches=10, world_size=1, accumulate_grad_batches=1,  # type: ignore[assignment]
                                 max_epochs=1, train_dataloader=None)
    opt = m.configure_optimizers()["optimizer"]
    names = {id(p): n for n, p in m.named_parameters()}
    decay, plain = ({names[id(p)] for p in g["params"]} for g in opt.param_groups)
    assert [g["weight_decay"] for g in opt.param_groups] == [m.cfg.optim.weight_decay, 0.0]
    return decay, plain


@pytest.mark.parametrize("official", [True, False])
def test_decay_tokens_switch(make_cfg: Any, official: bool) -> None:
    """Official param groups decay every tensor with more than one dimension (``.bias`` and 1-d are exempt), so
    the CLS/mask tokens and positional embeddings are decayed; ``optim.decay_tokens=false`` exempts them."""
    decay, plain = _groups(XKD(make_cfg(f"optim.decay_tokens={str(official).lower()}")))
    tokens = {"student.video.cls_token", "student.audio.pos_embed", "decoders.video.mask_token",
              "decoders.audio.pos_embed"}
    assert tokens <= (decay if official else plain)
    assert "student.video.blocks.0.norm1.weight" in plain and "student.video.blocks.0.attn.qkv.weight" in decay


def test_official_model_details(make_cfg: Any) -> None:
    """qkv without bias, LayerNorm eps 1e-5, no final decoder norm, Xavier-uniform linears, round() keep count."""
    official = ("model.qkv_bias=false", "model.ln_eps=1.0e-5", "model.decoder_norm=false", "model.init=xavier",
                "model.mask_rounding=round")
    m = XKD(make_cfg(*official))
    block = m.student["video"].blocks[0]
    assert block.attn.qkv.bias is None and block.norm1.eps == 1e-5 and m.student["video"].norm.eps == 1e-5
    decoder = m.decoders["video"]
    assert isinstance(decoder.norm, torch.nn.Identity) and decoder.blocks[0].attn.qkv.bias is None
    for linear in (block.attn.qkv, block.mlp[0], m.decoders["audio"].pred):
        fan_out, fan_in = linear.weight.shape
        bound = (6 / (fan_in + fan_out)) ** 0.5  # U(−b, b): max |w| close to b, far above trunc-normal's 0.04
        assert 0.9 * bound < float(linear.weight.detach().abs().max()) <= bound
    legacy = XKD(make_cfg())  # the tiny config keeps normal(0.02) weights, biases, eps 1e-6 and the decoder norm
    assert abs(float(legacy.student["video"].blocks[0].mlp[0].weight.detach().std()) - 0.02) < 0.002
    assert legacy.student["video"].blocks[0].attn.qkv.bias is not None


def test_keep_count_rounding() -> None:
    assert (num_visible(392, 0.85, "round"), num_visible(392, 0.85, "floor")) == (59, 58)  # 392·0.15 = 58.8
    assert num_visible(560, 0.80, "round") == num_visible(560, 0.80, "floor") == 112
    cfg = load_config(PretrainConfig, config_path("xkd/kinetics400"))
    with torch.device("meta"):
        report = describe(cfg, XKD(cfg))
    assert report["tokens"]["video_global"]["visible_when_masked"] == 59


@pytest.mark.parametrize("gather", [True, False])
def test_mmd_gather_switch_reaches_domain_alignment(make_cfg: Any, make_batch: Any, monkeypatch: pytest.MonkeyPatch,
                                                    gather: bool) -> None:
    """``loss.mmd_gather``: false = the official per-process MMD, true = on the gathered global batch."""
    seen: list[Any] = []
    real = xkd_module.domain_alignment_loss

    def spy(*args: Any, **kwargs: Any) -> torch.Tensor:
        seen.append(kwargs["gather"])
        return real(*args, **kwargs)

    monkeypatch.setattr(xkd_module, "domain_alignment_loss", spy)
    m = XKD(make_cfg(f"loss.mmd_gather={str(gather).lower()}"))
    _losses(m, make_batch(m.cfg))
    assert seen == ["auto" if gather else False]


def test_kinetics400_recipe_regime_trains_end_to_end(synth_manifest: Any, tmp_path: Any,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    """The K400 recipe, shrunk to CPU size but with every official-regime switch it sets (LayerNorm head with
    output norm, Slaney log-mel with the official statistics, norm_pix, per-tensor clipping, decay on tokens,
    Xavier init, ...) plus the released checkpoints' extras (local teacher view, /14 weighting), trains two
    steps through Lightning and exports the official front-end with its backbones."""
    shrink = [
        "model.video.size=custom", "model.audio.size=custom", *[f"model.{m}.{k}={v}" for m in ("video", "audio")
                                                                for k, v in (("dim", 32), ("depth", 1), ("heads", 2))],
        "model.video_patch=[2,8,8]", "model.audio_patch=[8,16]", "model.decoder_dim=32", "model.decoder_depth=1",
        "model.decoder_heads=2", "model.proj_hidden=32", "model.proj_bottleneck=16", "model.proj_out=16",
        f"data.source={synth_manifest}", "data.root=null", "data.clip_seconds=2.0", "data.decode_size=32",
        "data.views.video_global.frames=8", "data.views.video_global.size=32", "data.views.video_local.frames=4",
        "data.views.video_local.size=16", "data.views.audio_global.seconds=1.7", "data.views.audio_local.seconds=1.12",
        "data.views.logmel.hop_length=572", "trainer.batch_size=4", "trainer.max_steps=2", "trainer.max_epochs=1",
        "trainer.precision=32-true", "trainer.accelerator=cpu", "trainer.devices=1", "trainer.strategy=auto",
        "trainer.num_workers=0", "trainer.progress=none", "optim.lr_scaling=none", f"out_dir={tmp_path / 'run'}",
        "loss.teacher_view=local", "loss.normalize_weights=true",
    ]
    cfg = load_config(PretrainConfig, config_path("xkd/kinetics400"), shrink)
    assert cfg.optim.grad_clip_mode == "per_tensor" and cfg.model.proj_out_norm and cfg.data.views.logmel.std > 4
    clipped: list[int] = []
    real_clip = base_module.clip_per_tensor_
    monkeypatch.setattr(base_module, "clip_per_tensor_",
                        lambda params, max_norm: clipped.append(len(params)) or real_clip(params, max_norm))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        result = pretrain(cfg)
    assert result["steps"] == 2
    assert len(clipped) == 2 and clipped[0] == len(result["method"].clip_parameters())  # Lightning's clip hook
    method = result["method"]
    assert all(torch.isfinite(p).all() for p in method.parameters())
    doc = json.loads(Path(result["exports"]["teacher_audio"]).with_suffix(".json").read_text())
    assert doc["metadata"]["eval_geometry"]["mel_scale"] == "slaney"
    assert doc["config"]["ln_eps"] == 1e-5 and doc["config"]["qkv_bias"] is False
