"""Video transforms: invariants, references for the colour maths, determinism under a generator."""

from __future__ import annotations

import colorsys

import pytest
import torch
import torch.nn.functional as F

from xmodal.data import video_transforms as vt


def _gen(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def _clip(c: int = 3, t: int = 4, h: int = 20, w: int = 24, seed: int = 0) -> torch.Tensor:
    return torch.rand(c, t, h, w, generator=_gen(seed))


def test_to_float_video_layout_and_grey_input() -> None:
    frames = torch.randint(0, 256, (5, 6, 7, 3), dtype=torch.uint8, generator=_gen())
    video = vt.to_float_video(frames)
    assert video.shape == (3, 5, 6, 7)
    assert torch.equal(video[1, 2], frames[2, :, :, 1].float() / 255)
    grey = vt.to_float_video(frames[..., 0])
    assert grey.shape == (3, 5, 6, 7) and torch.equal(grey[0], grey[2])


def test_flip_twice_is_identity_and_flip_mirrors() -> None:
    v = _clip()
    assert torch.equal(vt.hflip(vt.hflip(v)), v)
    assert torch.equal(vt.hflip(v)[..., 0], v[..., -1])


def test_crop_of_constant_is_constant_and_boxes_are_valid() -> None:
    frames = torch.full((4, 30, 40, 3), 77, dtype=torch.uint8)
    gen = _gen()
    for _ in range(50):
        top, left, h, w = box = vt.sample_crop(30, 40, (0.08, 0.4), (3 / 4, 4 / 3), gen)
        assert top >= 0 and top + h <= 30 and left >= 0 and left + w <= 40
        assert 0.08 * 1200 * 0.8 <= h * w <= 0.4 * 1200 * 1.2
        out = vt.crop_resize_frames(frames, box, (16, 16))
        assert out.shape == (3, 4, 16, 16)
        assert torch.allclose(out, torch.full_like(out, 77 / 255), atol=1e-6)
    assert vt.sample_crop(10, 100, (0.9, 1.0), (1.0, 1.0), gen) == (0, 45, 10, 10)  # fallback: centred


def test_crop_is_the_same_for_every_frame() -> None:
    frame = torch.randint(0, 256, (1, 30, 40, 3), dtype=torch.uint8, generator=_gen())
    frames = frame.expand(6, 30, 40, 3)
    out = vt.crop_resize_frames(frames, vt.sample_crop(30, 40, (0.2, 1.0), (0.75, 4 / 3), _gen(3)), (12, 12))
    assert torch.equal(out, out[:, :1].expand_as(out))


def test_grayscale_has_equal_channels_and_601_weights() -> None:
    v = _clip()
    g = vt.rgb_to_grayscale(v)
    assert torch.equal(g[0], g[1]) and torch.equal(g[1], g[2])
    assert torch.allclose(g[0], 0.299 * v[0] + 0.587 * v[1] + 0.114 * v[2])


def test_hue_matches_colorsys_and_zero_shift_is_identity() -> None:
    v = _clip(t=1, h=5, w=6)
    assert torch.allclose(vt.adjust_hue(v, 0.0), v, atol=1e-6)
    shifted = vt.adjust_hue(v, 0.13)
    for y in range(5):
        for x in range(6):
            h, s, val = colorsys.rgb_to_hsv(*v[:, 0, y, x].tolist())
            ref = colorsys.hsv_to_rgb((h + 0.13) % 1.0, s, val)
            assert torch.allclose(shifted[:, 0, y, x], torch.tensor(ref), atol=1e-5)
    red = torch.tensor([1.0, 0.0, 0.0]).view(3, 1, 1, 1)
    assert torch.allclose(vt.adjust_hue(red, 1 / 3).flatten(), torch.tensor([0.0, 1.0, 0.0]), atol=1e-6)


def test_brightness_contrast_saturation_definitions() -> None:
    v = _clip()
    assert torch.allclose(vt.adjust_brightness(v, 0.5), v * 0.5)
    assert torch.allclose(vt.adjust_saturation(v, 0.0), vt.rgb_to_grayscale(v))
    flat = vt.adjust_contrast(v, 0.0)
    assert torch.allclose(flat, flat[..., :1, :1].expand_as(flat))  # each frame becomes its mean grey


def test_color_jitter_deterministic_and_in_range() -> None:
    v = _clip()
    a = vt.color_jitter(v, 0.4, 0.4, 0.4, 0.2, _gen(5))
    b = vt.color_jitter(v, 0.4, 0.4, 0.4, 0.2, _gen(5))
    c = vt.color_jitter(v, 0.4, 0.4, 0.4, 0.2, _gen(6))
    assert torch.equal(a, b) and not torch.equal(a, c)
    assert a.min() >= 0 and a.max() <= 1


def test_gaussian_blur_matches_conv2d_and_keeps_constants() -> None:
    v = _clip()
    sigma, r = 1.3, 4
    x = torch.arange(-r, r + 1, dtype=torch.float32)
    k = torch.exp(-0.5 * (x / sigma) ** 2)
    k = k / k.sum()
    flat = F.pad(v.reshape(12, 1, 20, 24), (r, r, 0, 0), mode="reflect")
    flat = F.conv2d(F.pad(F.conv2d(flat, k.view(1, 1, 1, -1)), (0, 0, r, r), mode="reflect"), k.view(1, 1, -1, 1))
    assert torch.allclose(vt.gaussian_blur(v, sigma), flat.reshape(v.shape), atol=1e-5)
    const = torch.full((3, 2, 9, 9), 0.3)
    assert torch.allclose(vt.gaussian_blur(const, 5.0), const, atol=1e-6)


def test_resize_and_normalize() -> None:
    v = _clip()
    assert vt.resize(v, (10, 12)).shape == (3, 4, 10, 12)
    assert vt.resize_short_side(v, 10).shape == (3, 4, 10, 12)
    n = vt.normalize(v, vt.IMAGENET_MEAN, vt.IMAGENET_STD)
    assert torch.allclose(n[1], (v[1] - 0.456) / 0.224)


@pytest.mark.parametrize("name", vt.RANDAUG_OPS)
def test_each_randaugment_op_keeps_shape_and_range(name: str) -> None:
    v = _clip(h=16, w=20)
    out = vt.randaug_op(v, name, 0.9, negate=False).clamp(0, 1)
    assert out.shape == v.shape and torch.isfinite(out).all()
    assert not torch.equal(out, v)  # every op at level 0.9 changes a random clip


def test_randaugment_geometry_references() -> None:
    v = _clip(h=16, w=16)
    assert torch.allclose(vt.randaug_op(v, "Rotate", 0.0, False), v, atol=1e-5)
    assert torch.equal(vt.randaug_op(vt.randaug_op(v, "Invert", 1.0, False), "Invert", 1.0, False), v)
    shifted = vt.randaug_op(v, "TranslateX", 4 / (0.45 * 16), negate=False)  # exactly +4 pixels to the right
    assert torch.allclose(shifted[..., 4:], v[..., :-4], atol=1e-5)
    assert torch.allclose(shifted[..., :4], torch.full_like(shifted[..., :4], 0.5))
    turned = vt.randaug_op(v, "Rotate", 3.0, negate=False)  # 90°
    assert torch.allclose(turned, torch.rot90(v, k=-1, dims=(-2, -1)), atol=1e-5) or torch.allclose(
        turned, torch.rot90(v, k=1, dims=(-2, -1)), atol=1e-5
    )


def test_rand_augment_is_deterministic_and_same_for_all_frames() -> None:
    frame = _clip(t=1, h=16, w=16)
    v = frame.expand(3, 5, 16, 16).clone()
    a = vt.rand_augment(v, _gen(1), num_ops=3, magnitude=9, magnitude_std=0.5)
    b = vt.rand_augment(v, _gen(1), num_ops=3, magnitude=9, magnitude_std=0.5)
    assert torch.equal(a, b)
    assert torch.allclose(a, a[:, :1].expand_as(a), atol=1e-6)
    assert a.min() >= 0 and a.max() <= 1
