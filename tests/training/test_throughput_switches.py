"""Throughput switches: activation checkpointing (same gradients), regional ``torch.compile`` (same outputs and
gradients, same state-dict keys), fused AdamW (same update), and FSDP no longer accepted as a strategy."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from xmodal.config import ConfigError, load_config, to_dict
from xmodal.configs import config_path
from xmodal.methods.xkd import XKD
from xmodal.methods.xkd_config import PretrainConfig
from xmodal.models.vit import VisionTransformer, compile_blocks, set_grad_checkpointing, vit
from xmodal.training.optim import OptimConfig, build_optimizer
from xmodal.training.resume import ResumeMismatch, check_resume


def _tiny_vit(drop_path: float = 0.0) -> VisionTransformer:
    torch.manual_seed(0)
    return vit("tiny", "audio", (4, 4), dim=32, depth=3, heads=2, drop_path=drop_path)


def _loss_and_grads(model: VisionTransformer, x: torch.Tensor, keep: torch.Tensor) -> tuple[torch.Tensor, list]:
    torch.manual_seed(1)  # drop-path masks
    tokens, att = model(x, keep, return_attention=True)
    loss = tokens.pow(2).mean() + att.mean()
    model.zero_grad()
    loss.backward()
    return loss.detach(), [p.grad.clone() for p in model.parameters() if p.grad is not None]


def test_activation_checkpointing_gives_the_same_loss_and_gradients() -> None:
    x = torch.randn(3, 1, 16, 64)
    keep = torch.stack([torch.randperm(16)[:6] for _ in range(3)])
    plain = _tiny_vit(drop_path=0.2).train()
    ref_loss, ref_grads = _loss_and_grads(plain, x, keep)
    ckpt = _tiny_vit(drop_path=0.2).train()
    set_grad_checkpointing(ckpt, True)
    calls = []
    ckpt.blocks[0].register_forward_pre_hook(lambda *_: calls.append(1))
    loss, grads = _loss_and_grads(ckpt, x, keep)
    assert len(calls) == 2  # the block ran again in the backward pass: its activations were not stored
    torch.testing.assert_close(loss, ref_loss)
    assert len(grads) == len(ref_grads)
    for g, r in zip(grads, ref_grads, strict=True):
        torch.testing.assert_close(g, r)


def test_compiled_blocks_give_the_same_outputs_gradients_and_keys() -> None:
    x = torch.randn(2, 1, 16, 64)
    ref_loss, ref_grads = _loss_and_grads(_tiny_vit().eval(), x, torch.arange(16).expand(2, 16))
    model = _tiny_vit().eval()
    keys = list(model.state_dict())
    assert compile_blocks(model) == 3
    loss, grads = _loss_and_grads(model, x, torch.arange(16).expand(2, 16))
    assert list(model.state_dict()) == keys
    torch.testing.assert_close(loss, ref_loss, rtol=1e-4, atol=1e-5)
    for g, r in zip(grads, ref_grads, strict=True):
        torch.testing.assert_close(g, r, rtol=1e-4, atol=1e-5)


def test_fused_adamw_takes_the_same_step() -> None:
    params = {}
    for fused in (False, True):
        torch.manual_seed(0)
        w = torch.nn.Parameter(torch.randn(8, 8))
        opt = build_optimizer(OptimConfig(fused=fused, weight_decay=0.05), [{"params": [w], "weight_decay": 0.05}],
                              1e-2)
        assert bool(opt.defaults["fused"]) is fused
        for _ in range(3):
            opt.zero_grad()
            (w.sin().sum()).backward()
            opt.step()
        params[fused] = w.detach()
    torch.testing.assert_close(params[True], params[False])


def test_fused_needs_adamw_and_fsdp_is_refused() -> None:
    with pytest.raises(ConfigError, match="fused"):
        OptimConfig(optimizer="sgd", fused=True).validate()
    with pytest.raises(ConfigError, match="strategy"):
        load_config(PretrainConfig, config_path("xkd/synthetic_tiny"), ["trainer.strategy=fsdp",
                                                                          "data.source=unused.csv"])


def test_xkd_switches_reach_every_student_and_teacher_encoder() -> None:
    cfg = load_config(PretrainConfig, config_path("xkd/synthetic_tiny"),
                      ["model.grad_checkpointing=true", "data.source=unused.csv"])
    vits = [m for m in XKD(cfg).modules() if isinstance(m, VisionTransformer)]
    assert len(vits) == 4 and all(v.grad_checkpointing for v in vits)


def test_a_run_may_resume_with_the_switches_changed(tmp_path: Path) -> None:
    cfg = load_config(PretrainConfig, config_path("xkd/synthetic_tiny"), ["data.source=unused.csv"])
    ckpt = tmp_path / "last.ckpt"
    torch.save({"xmodal": {"config": to_dict(cfg)}}, ckpt)
    switched = load_config(PretrainConfig, config_path("xkd/synthetic_tiny"), [
        "data.source=unused.csv", "data.augment_on=device", "trainer.compile=true", "optim.fused=true",
        "model.grad_checkpointing=true"])
    assert len(check_resume(ckpt, to_dict(switched), "auto")) == 4
    with pytest.raises(ResumeMismatch):
        check_resume(ckpt, to_dict(load_config(PretrainConfig, config_path("xkd/synthetic_tiny"),
                                               ["data.source=unused.csv", "optim.lr=0.5"])), "auto")
