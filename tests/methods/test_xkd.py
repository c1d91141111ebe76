"""XKD method: objectives, variants, ablations, sharing (Table S5), EMA (Eq. 13), masking, centering, collapse
monitor (§B.5), loss normalization (official code) and the paper configs' sizes (Table S3, §4.1)."""

from __future__ import annotations

import warnings
from typing import Any

import pytest
import torch

from xmodal.config import load_config
from xmodal.configs import config_path
from xmodal.losses.distillation import update_center
from xmodal.methods.pretrain import describe
from xmodal.methods.xkd import XKD
from xmodal.methods.xkd_config import PretrainConfig
from xmodal.models.masking import num_visible

CASES = [("xkd", "xkd"), ("vmae", "xkd"), ("amae", "xkd"), ("avmae", "xkd"), ("xkd", "mas"), ("xkd", "mats")]
EXPECTED_TERMS = {"xkd": {"ae", "da", "kd"}, "vmae": {"ae"}, "amae": {"ae"}, "avmae": {"ae"}}


def _quiet_losses(method: XKD, batch: dict[str, Any]) -> dict[str, torch.Tensor]:
    """compute_losses outside a Trainer (``self.log`` warns that no trainer is attached; that is expected)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return method.compute_losses(batch, "train")


@pytest.mark.parametrize(("objective", "variant"), CASES)
def test_objective_and_variant_build_and_backprop(make_cfg: Any, make_batch: Any, objective: str, variant: str) -> None:
    cfg = make_cfg(f"loss.objective={objective}", f"model.variant={variant}")
    method = XKD(cfg)
    terms = _quiet_losses(method, make_batch(cfg))
    assert set(terms) == EXPECTED_TERMS[objective]
    total = method.total_loss(terms)
    assert torch.isfinite(total)
    total.backward()
    for mod in method.modalities:
        grads = [p.grad for p in method.student[mod].parameters() if p.requires_grad]
        assert all(g is not None and torch.isfinite(g).all() for g in grads)
        assert any(g.abs().sum() > 0 for g in grads)
    assert set(method.student) == set(method.modalities)
    if method.distill:
        assert all(not p.requires_grad for p in method.teacher.parameters())
        assert all(p.grad is None for p in method.teacher.parameters())


@pytest.mark.parametrize(
    ("switches", "expected"),
    [
        (("loss.use_da=false",), {"ae", "kd"}),
        (("loss.use_kd=false",), {"ae", "da"}),
        (("loss.use_refine=false",), {"ae", "da", "kd"}),
        (("loss.use_da=false", "loss.use_kd=false"), {"ae"}),
    ],
)
def test_ablation_switches_select_terms(make_cfg: Any, make_batch: Any, switches: tuple[str, ...],
                                        expected: set[str]) -> None:
    cfg = make_cfg(*switches)
    method = XKD(cfg)
    terms = _quiet_losses(method, make_batch(cfg))
    assert set(terms) == expected
    assert hasattr(method, "teacher") == (expected != {"ae"})


def test_refine_switch_changes_teacher_targets(make_cfg: Any, make_batch: Any) -> None:
    torch.manual_seed(1)
    with_refine = XKD(make_cfg())
    without = XKD(make_cfg("loss.use_refine=false"))
    without.load_state_dict(with_refine.state_dict())
    batch = make_batch(with_refine.cfg)
    xv, xa = with_refine._trim("video", batch["video"]["global"]), with_refine._trim("audio", batch["audio"]["global"])
    a, b = with_refine._teacher_targets(xv, xa), without._teacher_targets(xv, xa)
    assert not torch.allclose(a["video"], b["video"])


def _ids(params: Any) -> list[int]:
    return [id(p) for p in params]


@pytest.mark.parametrize("variant", ["xkd", "mas", "mats"])
def test_sharing_follows_table_s5(make_cfg: Any, variant: str) -> None:
    m = XKD(make_cfg(f"model.variant={variant}"))
    sv, sa, tv, ta = m.student["video"], m.student["audio"], m.teacher["video"], m.teacher["audio"]
    student_shared = _ids(sv.blocks.parameters()) == _ids(sa.blocks.parameters())
    teacher_shared = _ids(tv.blocks.parameters()) == _ids(ta.blocks.parameters())
    assert student_shared == (variant in ("mas", "mats"))
    assert teacher_shared == (variant == "mats")
    assert (sv.norm is sa.norm) == student_shared and (tv.norm is ta.norm) == teacher_shared
    # Teachers are never the students' objects, and input projections / decoders are always per modality.
    assert not set(_ids(m.student.parameters())) & set(_ids(m.teacher.parameters()))
    for a, b in ((sv, sa), (tv, ta)):
        assert a.embed is not b.embed and a.pos_embed is not b.pos_embed
    assert not set(_ids(m.decoders["video"].parameters())) & set(_ids(m.decoders["audio"].parameters()))


@pytest.mark.parametrize("variant", ["xkd", "mas", "mats"])
def test_ema_moves_teacher_towards_student_once(make_cfg: Any, make_batch: Any, variant: str) -> None:
    m = XKD(make_cfg(f"model.variant={variant}"))
    opt = torch.optim.SGD([p for p in m.parameters() if p.requires_grad], lr=0.5)
    m.total_loss(_quiet_losses(m, make_batch(m.cfg))).backward()
    opt.step()
    names = dict(m.named_parameters(remove_duplicate=False))
    before = {n: p.detach().clone() for n, p in names.items() if n.startswith(("teacher.", "teacher_head."))}
    momentum = 0.9
    (pair,) = m._ema_pairs
    pair.update(momentum)
    moved = 0
    for name, old in before.items():
        student_name = name.replace("teacher_head.", "head.", 1).replace("teacher.", "student.", 1)
        expected = momentum * old + (1 - momentum) * names[student_name].detach()
        torch.testing.assert_close(names[name].detach(), expected, rtol=1e-6, atol=1e-7)
        moved += int(not torch.equal(names[name].detach(), old))
    assert moved > 0


def test_masked_encoder_sees_only_visible_tokens(make_cfg: Any, make_batch: Any) -> None:
    cfg = make_cfg()
    m = XKD(cfg)
    batch = make_batch(cfg)
    report = describe(cfg, m)
    for mod in ("video", "audio"):
        x = m._trim(mod, batch[mod]["global"])
        seen: list[int] = []
        hook = m.student[mod].blocks[0].register_forward_hook(
            lambda _m, inp, _o, seen=seen: seen.append(inp[0].shape[1])
        )
        out = m.masked_reconstruction(mod, x)
        hook.remove()
        total = report["tokens"][f"{mod}_global"]["tokens"]
        visible = num_visible(total, m._mask_ratio(mod), cfg.model.mask_rounding)
        assert visible < total
        assert seen == [1 + visible] and out["tokens"].shape[1] == 1 + visible
        assert report["tokens"][f"{mod}_global"]["visible_when_masked"] == visible
        assert int(out["mask"].sum(1).unique().item()) == total - visible


def test_centers_follow_teacher_batch_mean(make_cfg: Any, make_batch: Any) -> None:
    cfg = make_cfg()
    m = XKD(cfg)
    batch = make_batch(cfg)
    assert m.center_video.abs().sum() == 0 and m.center_audio.abs().sum() == 0
    teacher = m._teacher_targets(m._trim("video", batch["video"]["global"]), m._trim("audio", batch["audio"]["global"]))
    _quiet_losses(m, batch)
    zero = torch.zeros(1, cfg.model.proj_out)
    torch.testing.assert_close(m.center_video, update_center(zero, teacher["video"], 0.9, gather=False))
    torch.testing.assert_close(m.center_audio, update_center(zero, teacher["audio"], 0.9, gather=False))
    torch.testing.assert_close(m.center_video, 0.1 * teacher["video"].mean(0, keepdim=True))


def test_collapse_monitor_warns_after_20_flat_steps(make_cfg: Any) -> None:
    m = XKD(make_cfg())
    k = m.cfg.model.proj_out
    flat = {"video": torch.zeros(8, k), "audio": torch.zeros(8, k)}  # uniform student and teacher: KL = 0
    live = {"video": torch.randn(8, k) * 5, "audio": torch.randn(8, k) * 5}

    def step(kd: float, student: dict[str, torch.Tensor]) -> list[warnings.WarningMessage]:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            m._monitor_collapse(torch.tensor(kd), student, flat, 0.04, 0.04, 8)
        return [w for w in caught if "collapse suspected" in str(w.message)]

    for _ in range(19):
        assert not step(1e-5, flat)
    assert not step(2.0, live)  # a healthy step resets the count
    for _ in range(19):
        assert not step(1e-5, flat)
    fired = step(1e-5, flat)
    assert len(fired) == 1 and "§B.5" in str(fired[0].message)
    assert not step(1e-5, flat)  # warns once per collapse episode, not every step


@pytest.mark.parametrize("normalize", [True, False])
def test_normalize_weights_divides_the_weighted_sum_by_seven(make_cfg: Any, normalize: bool) -> None:
    m = XKD(make_cfg(f"loss.normalize_weights={str(normalize).lower()}", "loss.lambda_ae=5.0",
                     "loss.lambda_da=1.0", "loss.lambda_kd=1.0"))
    ae, da, kd = torch.tensor(0.3), torch.tensor(1.7), torch.tensor(2.9)
    expected = 5 * ae + da + kd
    got = m.total_loss({"ae": ae, "da": da, "kd": kd})
    torch.testing.assert_close(got, expected / 7 if normalize else expected)


@pytest.mark.parametrize(
    ("name", "video_params"),
    [("kinetics400", (86e6, 89e6)), ("kinetics_sound", (86e6, 89e6)), ("audioset", (300e6, 310e6))],
)
def test_paper_configs_sizes(name: str, video_params: tuple[float, float]) -> None:
    cfg = load_config(PretrainConfig, config_path(f"xkd/{name}"))
    with torch.device("meta"):
        method = XKD(cfg)
    report = describe(cfg, method)
    lo, hi = video_params
    assert lo < report["parameters"]["student.video"] < hi
    assert 85e6 < report["parameters"]["student.audio"] < 88e6  # ViT-B audio student (Table S3)
    assert report["parameters"]["teacher.video"] == report["parameters"]["student.video"]
    assert report["tokens"]["video_global"]["tokens"] == 392  # 32×112² with 4×16² cuboids
    assert report["tokens"]["audio_global"]["tokens"] == 560  # 80×448 with 4×16 patches
    assert report["tokens"]["video_local"]["grid"] == [2, 6, 6]  # 8×96² local view
    assert report["tokens"]["audio_local"]["grid"] == [20, 7]  # 80×112 local view
    assert (cfg.loss.lambda_ae, cfg.loss.lambda_da, cfg.loss.lambda_kd) == (5.0, 1.0, 1.0)
    assert (cfg.model.video_mask_ratio, cfg.model.audio_mask_ratio) == (0.85, 0.80)


def test_mmd_kernel_switch_reaches_domain_alignment(make_cfg: Any, make_batch: Any) -> None:
    """``loss.mmd_kernel=gaussian_gamma`` reads the bandwidth list as the official code's γ (Eq. 8 uses σ)."""
    torch.manual_seed(2)
    sigma = XKD(make_cfg())
    gamma = XKD(make_cfg("loss.mmd_kernel=gaussian_gamma"))
    gamma.load_state_dict(sigma.state_dict())
    batch = make_batch(sigma.cfg)
    torch.manual_seed(3)
    da_sigma = _quiet_losses(sigma, batch)["da"]
    torch.manual_seed(3)
    da_gamma = _quiet_losses(gamma, batch)["da"]
    assert torch.isfinite(da_sigma) and torch.isfinite(da_gamma)
    assert not torch.allclose(da_sigma, da_gamma)
