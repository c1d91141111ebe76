import numpy as np
import pytest
import torch
from torch import nn

from xmodal.analysis.mfh.gaussian import alpha_spec, gamma_spec, sample_mvd, sample_runs, table2_spec
from xmodal.analysis.mfh.linear import BatchedLinear, LinearTrainConfig, train_linear


@pytest.mark.parametrize(("k", "gamma"), [(0, 0.0), (2, 0.11), (4, 0.25), (6, 0.43), (8, 0.67), (10, 1.0)])
def test_gamma_sweep_ratios_match_app_b2(k: int, gamma: float) -> None:
    spec = gamma_spec(k)
    assert round(spec.gamma, 2) == gamma
    assert spec.alpha == pytest.approx((1 - spec.gamma) / 2) and spec.beta == pytest.approx(spec.alpha)
    assert spec.alpha + spec.beta + spec.gamma == pytest.approx(1.0)


def test_alpha_sweep_and_table2_ratios() -> None:
    alphas = [round(alpha_spec(s).alpha, 2) for s in range(0, 41, 10)]
    assert alphas == [0.0, 0.5, 0.67, 0.75, 0.8]
    assert all(alpha_spec(s).beta == 0 for s in range(0, 41, 10))
    assert [table2_spec(s, c).gamma for s, c in ((30, 10), (10, 10), (10, 30))] == [0.25, 0.5, 0.75]


def test_eq27_samples_copy_decisive_features_and_label_rule() -> None:
    spec = gamma_spec(4)
    rng = np.random.default_rng(0)
    delta = rng.standard_normal(spec.d)
    xa, xb, y = sample_mvd(spec, 4000, rng, delta)
    shared = list(spec.shared)
    assert np.array_equal(xa[:, shared], xb[:, shared])  # J1∩J2 is the same x* in both modalities
    only_a = sorted(set(spec.j1) - set(spec.j2))
    assert abs(np.corrcoef(xa[:, only_a[0]], xb[:, only_a[0]])[0, 1]) < 0.06  # independent noise in x^b there
    assert abs(xa.mean()) < 0.02 and abs(xa.std() - 1) < 0.02 and abs(xb.std() - 1) < 0.02
    assert abs(y.mean() - 0.5) < 0.05
    # the label is a linear threshold of x*; at overlap 0, J1 ∪ J2 covers all d = 20 dims of x*
    spec = gamma_spec(0)
    xa, xb, y = sample_mvd(spec, 500, rng, delta)
    x_star = np.zeros((500, spec.d))
    x_star[:, list(spec.j1)] = xa[:, list(spec.j1)]
    x_star[:, list(spec.j2)] = xb[:, list(spec.j2)]
    assert np.array_equal((x_star @ delta > 0).astype(np.int64), y)


def test_runs_share_delta_across_train_and_test_draws() -> None:
    (xa, _, y), (xa_te, _, y_te) = sample_runs(table2_spec(0, 10), (50, 60), runs=2, seed=3)
    # δ = 1 and x^a holds all of x*: the label is sign(sum of the 10 decisive features) in both draws
    assert torch.equal((xa[..., :10].sum(-1) > 0).long(), y)
    assert torch.equal((xa_te[..., :10].sum(-1) > 0).long(), y_te)


def test_batched_training_equals_independent_nn_linear() -> None:
    g = torch.Generator().manual_seed(0)
    x, y = torch.randn(3, 40, 6, generator=g), torch.randint(0, 2, (3, 40), generator=g)
    cfg = LinearTrainConfig(epochs=30)
    batched = train_linear(x, y, cfg, torch.Generator().manual_seed(1))
    init = BatchedLinear(3, 6, 2, torch.Generator().manual_seed(1))
    for r in range(3):
        lin = nn.Linear(6, 2)
        with torch.no_grad():
            lin.weight.copy_(init.weight[r].T)
            lin.bias.copy_(init.bias[r, 0])
        opt = torch.optim.SGD(lin.parameters(), lr=cfg.lr)
        for _ in range(cfg.epochs):
            loss = nn.functional.cross_entropy(lin(x[r]), y[r])
            opt.zero_grad()
            loss.backward()
            opt.step()
        assert torch.allclose(lin.weight.T, batched.weight[r].detach(), atol=1e-5)
