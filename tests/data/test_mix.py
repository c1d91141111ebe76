"""Mixup and CutMix: mass preservation, λ distribution, target sums, determinism."""

from __future__ import annotations

import pytest
import torch

from xmodal.data.mix import MixConfig, cutmix, mix_batch, mixup, one_hot, sample_beta


def _gen(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def test_one_hot_with_label_smoothing_sums_to_one() -> None:
    t = one_hot(torch.tensor([0, 3]), 5, smoothing=0.1)
    assert torch.allclose(t.sum(1), torch.ones(2))
    assert torch.isclose(t[0, 0], torch.tensor(0.92)) and torch.isclose(t[0, 1], torch.tensor(0.02))


def test_sample_beta_distribution() -> None:
    gen = _gen()
    draws = torch.tensor([sample_beta(0.6, 0.6, gen) for _ in range(4000)])
    assert abs(float(draws.mean()) - 0.5) < 0.02
    assert abs(float(draws.var()) - 1 / (4 * (2 * 0.6 + 1))) < 0.01  # Var Beta(a, a) = 1 / (4(2a + 1))


@pytest.mark.parametrize("shape", [(6, 3, 4, 8, 8), (6, 1, 16, 32)])
def test_mixup_preserves_mass_and_targets_sum(shape: tuple[int, ...]) -> None:
    x = torch.rand(shape, generator=_gen())
    y = one_hot(torch.randint(0, 5, (6,), generator=_gen(1)), 5)
    xm, ym, lam = mixup(x, y, 0.6, _gen(2))
    assert xm.shape == x.shape and 0 <= lam <= 1
    assert torch.allclose(xm.sum(0), x.sum(0), atol=1e-5)
    assert torch.allclose(ym.sum(1), torch.ones(6))
    assert torch.allclose(ym.sum(0), y.sum(0), atol=1e-6)


@pytest.mark.parametrize("shape", [(6, 3, 4, 20, 20), (6, 1, 16, 64)])
def test_cutmix_lambda_is_the_kept_area(shape: tuple[int, ...]) -> None:
    x = torch.arange(6, dtype=torch.float32).view(6, *[1] * (len(shape) - 1)).expand(shape).clone()
    y = one_hot(torch.arange(6), 6)
    for seed in range(10):
        xm, ym, lam = cutmix(x, y, 1.0, _gen(seed))
        kept = (xm == x).float().mean(dim=tuple(range(1, len(shape))))
        assert torch.allclose(kept, torch.full((6,), lam), atol=1e-6)
        assert torch.allclose(xm.sum(0), x.sum(0))
        assert torch.allclose(ym.sum(1), torch.ones(6))
        assert torch.allclose(ym.diagonal(), torch.full((6,), lam)) or lam == 1.0
        frames = xm[0, 0] if len(shape) == 5 else None
        if frames is not None:
            assert torch.equal(frames, frames[:1].expand_as(frames))  # same box on every frame


def test_multi_hot_targets_mix_linearly() -> None:
    y = torch.tensor([[1.0, 1.0, 0.0], [0.0, 0.0, 1.0], [1.0, 1.0, 1.0]])
    x = torch.rand(3, 1, 4, 4, generator=_gen())
    _, ym, _lam = mixup(x, y, 0.5, _gen(7))
    assert ym.min() >= 0 and ym.max() <= 1
    assert torch.allclose(ym.sum(), y.sum())


def test_mix_batch_switch_prob_and_determinism() -> None:
    x = torch.rand(4, 3, 2, 8, 8, generator=_gen())
    y = one_hot(torch.arange(4), 4)
    a = mix_batch(x, y, MixConfig(), _gen(9))
    b = mix_batch(x, y, MixConfig(), _gen(9))
    assert torch.equal(a[0], b[0]) and torch.equal(a[1], b[1]) and a[2] == b[2]
    xo, yo, lam = mix_batch(x, y, MixConfig(prob=0.0), _gen())
    assert xo is x and yo is y and lam == 1.0
    only_cut = [mix_batch(x, y, MixConfig(mixup_alpha=0.0, cutmix_alpha=1.0), _gen(s))[0] for s in range(5)]
    for out in only_cut:  # cutmix only copies pixels, never blends them
        assert set(out.flatten().tolist()) <= set(x.flatten().tolist())
