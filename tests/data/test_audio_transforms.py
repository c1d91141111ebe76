"""Audio augmentations: ranges, exact mask widths, determinism."""

from __future__ import annotations

import torch

from xmodal.data.audio_transforms import (
    cyclic_roll,
    mask_frequency,
    mask_time,
    random_resized_crop_spec,
    roll_magnitude,
    spec_augment,
    volume_jitter,
)


def _gen(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def test_volume_jitter_gain_in_range_and_deterministic() -> None:
    wave = torch.ones(100)
    gen = _gen()
    gains = torch.tensor([float(volume_jitter(wave, 0.2, gen)[0]) for _ in range(500)])
    assert gains.min() >= 0.8 and gains.max() <= 1.2
    assert gains.min() < 0.85 and gains.max() > 1.15
    assert torch.equal(volume_jitter(wave, 0.1, _gen(3)), volume_jitter(wave, 0.1, _gen(3)))


def test_masks_have_the_requested_widths() -> None:
    spec = torch.ones(1, 40, 100)
    for seed in range(20):
        out = mask_time(spec, (7, 7), _gen(seed), fill=0.0)
        cols = (out[0] == 0).all(dim=0)
        assert int(cols.sum()) == 7 and int((out == 0).sum()) == 7 * 40
        idx = cols.nonzero().flatten()
        assert int(idx[-1] - idx[0]) == 6  # one contiguous band
        out = mask_frequency(spec, (5, 5), _gen(seed), fill=-1.0)
        rows = (out[0] == -1).all(dim=1)
        assert int(rows.sum()) == 5 and int((out == -1).sum()) == 5 * 100


def test_mask_width_range_and_zero_width() -> None:
    spec = torch.ones(1, 40, 100)
    widths = {int((mask_time(spec, (0, 20), _gen(s))[0, 0] == 0).sum()) for s in range(200)}
    assert min(widths) >= 0 and max(widths) <= 20 and len(widths) > 10
    assert torch.equal(mask_time(spec, (0, 0), _gen()), spec)


def test_spec_augment_deterministic_and_masks_both_axes() -> None:
    spec = torch.randn(1, 128, 1024, generator=_gen())
    a = spec_augment(spec, _gen(4), freq_width=(48, 48), time_width=(192, 192))
    assert torch.equal(a, spec_augment(spec, _gen(4), freq_width=(48, 48), time_width=(192, 192)))
    assert int((a[0] == 0).all(dim=1).sum()) == 48 and int((a[0] == 0).all(dim=0).sum()) == 192
    b = spec_augment(spec, _gen(4), freq_width=(10, 10), time_width=(20, 20), num_masks=2)
    assert 10 < int((b[0] == 0).all(dim=1).sum()) <= 20  # two masks, possibly overlapping


def test_random_resized_crop_spec_shape_determinism_constant() -> None:
    spec = torch.randn(1, 80, 112, generator=_gen())
    a = random_resized_crop_spec(spec, _gen(2))
    assert a.shape == spec.shape
    assert torch.equal(a, random_resized_crop_spec(spec, _gen(2)))
    assert not torch.equal(a, random_resized_crop_spec(spec, _gen(3)))
    const = torch.full((1, 80, 112), 0.7)
    for seed in range(10):
        out = random_resized_crop_spec(const, _gen(seed), virtual_scale=(1.0, 1.0), fill=0.7)
        assert torch.allclose(out, const, atol=1e-5)


def test_cyclic_roll_is_a_rotation() -> None:
    x = torch.arange(50.0)
    out = cyclic_roll(x, _gen(1))
    shift = int((out == 0).nonzero())
    assert torch.equal(out, torch.roll(x, shift))
    gen = _gen()
    gains = [float(roll_magnitude(torch.ones(10), gen)[0]) for _ in range(300)]
    assert min(gains) >= 0.5 and max(gains) <= 1.5 and abs(sum(gains) / 300 - 1.0) < 0.03
