import numpy as np
import pytest
import torch

from xmodal.losses.kd_baselines import (
    dist_loss,
    dkd_loss,
    hcl_loss,
    hint_loss,
    layer_norm_logits,
    nkd_loss,
    resize_like,
    shake_loss,
)


def _logits(seed: int, b: int = 6, k: int = 5) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    return torch.randn(b, k, generator=g), torch.randn(b, k, generator=g), torch.randint(0, k, (b,), generator=g)


def _kl(p: np.ndarray, q: np.ndarray) -> float:
    return float((p * (np.log(p) - np.log(q))).sum())


def _softmax(z: np.ndarray) -> np.ndarray:
    e = np.exp(z - z.max())
    return e / e.sum()


def test_dkd_matches_a_direct_computation() -> None:
    s, t, y = _logits(0)
    temp, tckd, nckd = 4.0, [], []
    for zs, zt, c in zip(s.double().numpy(), t.double().numpy(), y.numpy(), strict=True):
        ps, pt = _softmax(zs / temp), _softmax(zt / temp)
        tckd.append(_kl(np.array([pt[c], 1 - pt[c]]), np.array([ps[c], 1 - ps[c]])))
        keep = np.arange(len(zs)) != c
        nckd.append(_kl(_softmax(zt[keep] / temp), _softmax(zs[keep] / temp)))
    expected = temp**2 * (1.0 * np.mean(tckd) + 8.0 * np.mean(nckd))
    assert dkd_loss(s, t, y).item() == pytest.approx(expected, rel=1e-5)
    assert dkd_loss(t, t, y).item() == pytest.approx(0.0, abs=1e-6)


def test_dist_matches_numpy_pearson() -> None:
    s, t, _ = _logits(1)
    ys, yt = torch.softmax(s, -1).double().numpy(), torch.softmax(t, -1).double().numpy()
    inter = 1 - np.mean([np.corrcoef(a, b)[0, 1] for a, b in zip(ys, yt, strict=True)])
    intra = 1 - np.mean([np.corrcoef(a, b)[0, 1] for a, b in zip(ys.T, yt.T, strict=True)])
    assert dist_loss(s, t).item() == pytest.approx(inter + intra, rel=1e-4)
    # exactly 0 for identical predictions
    assert dist_loss(t, t).item() == pytest.approx(0.0, abs=1e-5)


def test_nkd_matches_a_direct_computation() -> None:
    s, t, y = _logits(2)
    temp, gamma, total = 2.0, 1.5, []
    for zs, zt, c in zip(s.double().numpy(), t.double().numpy(), y.numpy(), strict=True):
        keep = np.arange(len(zs)) != c
        target = -_softmax(zt)[c] * np.log(_softmax(zs)[c])
        non = -(_softmax(zt[keep] / temp) * np.log(_softmax(zs[keep] / temp))).sum()
        total.append((target, non))
    arr = np.array(total)
    expected = arr[:, 0].mean() + gamma * temp**2 * arr[:, 1].mean()
    assert nkd_loss(s, t, y, temp, gamma).item() == pytest.approx(expected, rel=1e-5)


def test_logit_baselines_detach_the_teacher_and_descend() -> None:
    s0, t, y = _logits(3, b=16, k=6)
    for fn in (lambda a, b: dkd_loss(a, b, y), lambda a, b: dist_loss(a, b), lambda a, b: nkd_loss(a, b, y)):
        tt = t.clone().requires_grad_(True)
        s = s0.clone().requires_grad_(True)
        fn(s, tt).backward()
        assert tt.grad is None and s.grad is not None
        opt = torch.optim.SGD([s], lr=0.5)
        first = last = None
        for _ in range(30):
            opt.zero_grad()
            loss = fn(s, t)
            loss.backward()
            opt.step()
            first = loss.item() if first is None else first
            last = loss.item()
        assert last < first


def test_resize_and_hint_and_hcl() -> None:
    audio_map = torch.randn(2, 4, 16, 9)  # spectrogram-shaped
    video_map = torch.randn(2, 4, 7, 7)
    resized = resize_like(audio_map, video_map)
    assert resized.shape == video_map.shape
    assert resize_like(video_map, video_map) is video_map
    assert torch.allclose(resize_like(torch.ones(1, 2, 5, 3), video_map), torch.ones(1, 2, 7, 7))
    assert hint_loss(video_map, video_map).item() == 0.0
    with pytest.raises(ValueError):
        hint_loss(audio_map, video_map)
    fs, ft = torch.randn(2, 3, 8, 8), torch.randn(2, 3, 8, 8)
    mse = torch.nn.functional.mse_loss
    pool = torch.nn.functional.adaptive_avg_pool2d
    expected = (mse(fs, ft) + 0.5 * mse(pool(fs, 4), pool(ft, 4)) + 0.25 * mse(pool(fs, 2), pool(ft, 2))
                + 0.125 * mse(pool(fs, 1), pool(ft, 1))) / 1.875
    assert torch.allclose(hcl_loss([fs], [ft]), expected, atol=1e-6)
    # levels at or above the map size are skipped: 2×2 maps use only the 1×1 level
    small_s, small_t = fs[:, :, :2, :2], ft[:, :, :2, :2]
    exp_small = (mse(small_s, small_t) + 0.5 * mse(pool(small_s, 1), pool(small_t, 1))) / 1.5
    assert torch.allclose(hcl_loss([small_s], [small_t]), exp_small, atol=1e-6)


def test_shake_matches_a_direct_computation() -> None:
    """The official SHAKE terms: DistillKL(H ← S) + DistillKL(S ← H) at T, CE(H, y), MSE(H, T), each batch mean."""
    s, t, y = _logits(4)
    h = torch.randn(s.shape, generator=torch.Generator().manual_seed(9))
    temp, rows = 4.0, []
    for zs, zh, c in zip(s.double().numpy(), h.double().numpy(), y.numpy(), strict=True):
        rows.append(temp**2 * _kl(_softmax(zs / temp), _softmax(zh / temp))  # into the head, from the student
                    + temp**2 * _kl(_softmax(zh / temp), _softmax(zs / temp))  # into the student, from the head
                    - np.log(_softmax(zh)[c]))
    expected = np.mean(rows) + np.mean((h.double().numpy() - t.double().numpy()) ** 2)
    assert shake_loss(s, t, h, y, temp).item() == pytest.approx(expected, rel=1e-5)
    # gradients: the teacher never, the student only through its own KL, the head through the other three terms
    ss, tt, hh = (v.clone().requires_grad_(True) for v in (s, t, h))
    shake_loss(ss, tt, hh, y, temp).backward()
    assert tt.grad is None and ss.grad is not None and hh.grad is not None
    ss_only = s.clone().requires_grad_(True)
    direct = torch.autograd.grad(temp**2 * torch.nn.functional.kl_div(
        torch.log_softmax(ss_only / temp, -1), torch.softmax(h / temp, -1), reduction="batchmean"), ss_only)[0]
    assert torch.allclose(ss.grad, direct, atol=1e-6)


def test_layer_norm_logits_is_the_official_standardisation() -> None:
    z = torch.randn(5, 7, generator=torch.Generator().manual_seed(1))
    arr = z.double().numpy()
    expected = (arr - arr.mean(1, keepdims=True)) / np.sqrt(arr.var(1, keepdims=True) + 1e-7) * 3.1415
    assert np.allclose(layer_norm_logits(z).double().numpy(), expected, atol=1e-5)
    assert torch.equal(layer_norm_logits(z).argmax(-1), z.argmax(-1))  # accuracy is unaffected
