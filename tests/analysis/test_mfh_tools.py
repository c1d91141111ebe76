import numpy as np
import pytest
import torch
from torch import nn

from xmodal.analysis.mfh.bound import lemma1_max, theorem1_bound
from xmodal.analysis.mfh.diagnostic import gamma_from_r2, ridge_r2
from xmodal.analysis.mfh.gaussian import sample_runs, table2_spec
from xmodal.analysis.mfh.ranking import RankConfig, permutation_salience, rank_linear, recall_at_k
from xmodal.analysis.mfh.teachers import NullifiedTeacher, nullify, select_channels


def test_algorithm1_recovers_planted_shared_channels() -> None:
    spec = table2_spec(10, 10)
    (xa, xb, y), = sample_runs(spec, (200,), runs=1, seed=0)
    sal = rank_linear(xa[0], xb[0], y[0], 2, RankConfig(epochs=300, repeats=10))
    assert sal.max() == pytest.approx(1.0) and sal.min() >= 0
    assert recall_at_k(sal, spec.shared) >= 0.9
    # shared channels outrank pure-noise channels (20..49) by a wide margin
    assert sal[list(spec.shared)].mean() > 2 * sal[20:].mean()


def test_algorithm1_on_named_intermediate_layer() -> None:
    torch.manual_seed(0)
    n = 300
    z = torch.randn(n, 1)
    xa, xb = torch.cat([z, torch.randn(n, 3)], 1), torch.cat([z, torch.randn(n, 3)], 1)
    y = (z[:, 0] > 0).long()
    net_a = nn.Sequential(nn.Linear(4, 4), nn.Linear(4, 2))
    with torch.no_grad():  # hidden channel 2 carries the shared feature, the rest carry noise
        net_a[0].weight.copy_(torch.eye(4)[[1, 2, 0, 3]])
        net_a[0].bias.zero_()
        net_a[1].weight.copy_(torch.tensor([[0.0, 0.0, -3.0, 0.0], [0.0, 0.0, 3.0, 0.0]]))
        net_a[1].bias.zero_()
    net_b = nn.Linear(4, 2)
    with torch.no_grad():
        net_b.weight.copy_(torch.tensor([[-3.0, 0, 0, 0], [3.0, 0, 0, 0]]))
        net_b.bias.zero_()
    sal = permutation_salience(net_a, net_b, xa, xb, RankConfig(repeats=3), torch.Generator().manual_seed(0),
                               layer="0")
    assert sal.shape == (4,) and int(np.argmax(sal)) == 2 and sal[[0, 1, 3]].max() < 0.5
    assert y.float().mean() > 0.3


def test_nullification_semantics() -> None:
    x = torch.arange(12.0).view(3, 4)
    out = nullify(x, [1, 3], "mean")
    assert torch.equal(out[:, [0, 2]], x[:, [0, 2]])
    assert torch.equal(out[:, 1], torch.full((3,), 5.0)) and torch.equal(out[:, 3], torch.full((3,), 7.0))
    assert torch.equal(nullify(x, [1], "zero")[:, 1], torch.zeros(3))
    assert torch.equal(nullify(x, [], "mean"), x)
    sal = np.array([0.1, 0.9, 0.5, 0.3])
    rng = np.random.default_rng(0)
    assert select_channels(sal, 0.5, "general", rng) == [0, 3]  # drop the least modality-general
    assert select_channels(sal, 0.5, "specific", rng) == [1, 2]  # drop the most modality-general
    assert len(select_channels(sal, 0.75, "random", rng)) == 3
    teacher = nn.Sequential(nn.Linear(4, 4), nn.ReLU(), nn.Linear(4, 2))
    wrapped = NullifiedTeacher(teacher, [0, 1, 2, 3], layer="1", mode="zero")
    assert torch.allclose(wrapped(torch.randn(5, 4)), teacher[2].bias.expand(5, 2))
    feats = torch.randn(6, 4, 2, 2)
    conv_out = nullify(feats, [2], "mean")
    assert torch.allclose(conv_out[:, 2], feats[:, 2].mean(0, keepdim=True).expand(6, 2, 2))


def test_bound_monotone_in_gamma_and_lemma1() -> None:
    g = np.linspace(0, 1, 11)
    b = theorem1_bound(g, eps=2.0, lam=1.2, n=10)
    assert np.all(np.diff(b) < 0) and b[-1] == pytest.approx(0.0)
    # Lemma 1: brute-force max of l(b, a) over |a − b| ≤ ε
    eps = 1.5
    a = np.linspace(-8, 8, 4001)
    sa, sb = 1 / (1 + np.exp(-a)), 1 / (1 + np.exp(-(a + eps)))
    brute = (sa * np.log(sa / sb) + (1 - sa) * np.log((1 - sa) / (1 - sb))).max()
    assert lemma1_max(eps) == pytest.approx(brute, rel=1e-4)
    with pytest.raises(ValueError):
        theorem1_bound(1.5, 1.0)


def test_ridge_r2_and_gamma_formula() -> None:
    rng = np.random.default_rng(0)
    x = rng.standard_normal((2000, 4))
    target = x[:, 0] + rng.standard_normal(2000)  # half the variance is predictable
    assert ridge_r2(x, target) == pytest.approx(0.5, abs=0.05)
    assert gamma_from_r2(0.5, 0.5) == pytest.approx(1 / 3)  # |J1| = |J2| = 2s → γ = s/(3s)
    assert gamma_from_r2(1.0, 1.0) == 1.0 and gamma_from_r2(-0.1, 0.5) == 0.0
