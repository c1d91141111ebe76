"""Video augmentations on tensors (no torchvision), one random draw per clip applied to every frame at once.

Layout: float clips ``(C, T, H, W)`` in [0, 1] (the colour ops also take a batch ``(B, C, T, H, W)`` with one factor
per clip as a ``(B, 1, 1, 1, 1)`` tensor: :mod:`xmodal.data.device_views` runs them on the accelerator); decoded
uint8 frames ``(T, H, W, 3)`` are cropped *before* the float conversion (:func:`crop_resize_frames`), so only the
pixels a view keeps are converted and resized. All random ops take a ``torch.Generator``; the same generator state
gives the same clip. Parameters of the XKD views come from XKD Table S1, those of RandAugment from Table S6 (video
fine-tuning). Colour ops follow the torchvision definitions (brightness/contrast/saturation blends, HSV hue
rotation, ITU-R 601 grey) so published recipes mean the same thing here.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor

Box = tuple[int, int, int, int]
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


def uniform(gen: torch.Generator, lo: float, hi: float) -> float:
    """One U[lo, hi) draw from ``gen``."""
    return lo + (hi - lo) * float(torch.rand((), generator=gen))


def bernoulli(gen: torch.Generator, p: float) -> bool:
    """True with probability ``p`` (no draw at all when p <= 0, so disabled ops do not shift the stream)."""
    return p > 0 and float(torch.rand((), generator=gen)) < p


def to_float_video(frames: Tensor) -> Tensor:
    """uint8 ``(T, H, W, 3)`` (or ``(T, H, W)`` / ``(T, H, W, 1)`` grey) -> float ``(3, T, H, W)`` in [0, 1]."""
    if frames.dim() == 3:
        frames = frames[..., None]
    if frames.shape[-1] == 1:
        frames = frames.expand(*frames.shape[:-1], 3)
    # one copy straight into the contiguous (3, T, H, W) layout: later per-channel ops run on dense planes
    return frames.permute(3, 0, 1, 2).to(torch.float32, memory_format=torch.contiguous_format).div_(255.0)


def resize(video: Tensor, size: tuple[int, int]) -> Tensor:
    """Bilinear (antialiased when shrinking) resize of ``(C, T, H, W)`` to ``(C, T, *size)``.

    All C·T planes go through one ``interpolate`` call as channels of a single image, so input and output stay
    contiguous in ``(C, T, H, W)``. When no side shrinks the antialiasing filter is the plain bilinear one, so the
    (twice as fast) non-antialiased kernel gives the same result."""
    if tuple(video.shape[-2:]) == tuple(size):
        return video
    c, t, h, w = video.shape
    shrinks = size[0] < h or size[1] < w
    planes = video.reshape(1, c * t, h, w)
    out = F.interpolate(planes, size=size, mode="bilinear", align_corners=False, antialias=shrinks)
    return out.view(c, t, *size)


def sample_crop(
    height: int, width: int, scale: tuple[float, float], ratio: tuple[float, float], gen: torch.Generator
) -> Box:
    """Random-resized-crop box ``(top, left, h, w)``: area fraction ~ U(scale), log aspect ~ U(log ratio), 10 tries,
    then the largest centred crop within ``ratio`` (the Inception / torchvision procedure that XKD's multi-scale crop
    and MAViL's "multi-scale random crop (scale=(0.2, 1.0))" use)."""
    area = height * width
    log_r = (math.log(ratio[0]), math.log(ratio[1]))
    for _ in range(10):
        target = area * uniform(gen, *scale)
        aspect = math.exp(uniform(gen, *log_r))
        w = round(math.sqrt(target * aspect))
        h = round(math.sqrt(target / aspect))
        if 0 < w <= width and 0 < h <= height:
            top = int(torch.randint(0, height - h + 1, (), generator=gen))
            left = int(torch.randint(0, width - w + 1, (), generator=gen))
            return top, left, h, w
    in_ratio = width / height
    if in_ratio < ratio[0]:
        w, h = width, round(width / ratio[0])
    elif in_ratio > ratio[1]:
        h, w = height, round(height * ratio[1])
    else:
        w, h = width, height
    return (height - h) // 2, (width - w) // 2, h, w


def center_box(height: int, width: int, size: tuple[int, int]) -> Box:
    """Centred box of ``size`` (clipped to the frame)."""
    h, w = min(size[0], height), min(size[1], width)
    return (height - h) // 2, (width - w) // 2, h, w


def crop_resize_frames(frames: Tensor, box: Box, size: tuple[int, int]) -> Tensor:
    """Crop decoded frames (uint8 ``(T, H, W, 3)`` or float ``(C, T, H, W)``) to ``box``, resize, return float
    ``(3, T, *size)``. Cropping precedes conversion so a local view touches only its own pixels."""
    top, left, h, w = box
    if frames.dtype == torch.uint8:
        return resize(to_float_video(frames[:, top : top + h, left : left + w]), size)
    return resize(frames[..., top : top + h, left : left + w], size)


def resize_short_side(video: Tensor, short: int) -> Tensor:
    """Resize ``(C, T, H, W)`` so that min(H, W) == short, keeping the aspect ratio."""
    h, w = video.shape[-2:]
    scale = short / min(h, w)
    return resize(video, (max(1, round(h * scale)), max(1, round(w * scale))))


def hflip(video: Tensor) -> Tensor:
    """Mirror every frame left-right."""
    return video.flip(-1)


def _luma(video: Tensor) -> Tensor:
    """ITU-R 601 luma ``(..., 1, T, H, W)`` of a ``(..., 3, T, H, W)`` clip, in three fused passes (no per-channel
    temporaries)."""
    r, g, b = video.narrow(-4, 0, 1), video.narrow(-4, 1, 1), video.narrow(-4, 2, 1)
    return (0.299 * r).add_(g, alpha=0.587).add_(b, alpha=0.114)


def rgb_to_grayscale(video: Tensor) -> Tensor:
    """ITU-R 601 luma replicated on 3 channels: ``(3, ...)`` -> ``(3, ...)`` with equal channels."""
    return _luma(video).expand_as(video).clone()


def _blend(a: Tensor, b: Tensor, factor: float | Tensor) -> Tensor:
    """``clamp(factor·a + (1 − factor)·b, 0, 1)``; ``b`` may broadcast against ``a`` (a grey plane, a per-frame
    mean). One output allocation and in-place updates: the colour ops are memory-bound on 32×112² clips. A tensor
    ``factor`` (one per clip of a batch) cannot be an ``alpha``, so that case takes one more temporary."""
    if isinstance(factor, Tensor):
        return (a * factor).add_(b * (1.0 - factor)).clamp_(0.0, 1.0)
    return (a * factor).add_(b, alpha=1.0 - factor).clamp_(0.0, 1.0)


def adjust_brightness(video: Tensor, factor: float | Tensor) -> Tensor:
    """Blend with black, i.e. ``clamp(factor · x, 0, 1)``."""
    return (video * factor).clamp_(0.0, 1.0)


def adjust_contrast(video: Tensor, factor: float | Tensor) -> Tensor:
    """Blend with each frame's mean grey level (torchvision applied to a ``(T, C, H, W)`` clip). The mean of the
    luma is the luma of the channel means, so it takes one reduction pass instead of a grey image."""
    means = video.mean(dim=(-2, -1), keepdim=True)
    mean = 0.299 * means.narrow(-4, 0, 1) + 0.587 * means.narrow(-4, 1, 1) + 0.114 * means.narrow(-4, 2, 1)
    return _blend(video, mean, factor)


def adjust_saturation(video: Tensor, factor: float | Tensor) -> Tensor:
    return _blend(video, _luma(video), factor)


def adjust_hue(video: Tensor, shift: float | Tensor) -> Tensor:
    """Rotate the HSV hue by ``shift`` (fraction of a turn, in [-0.5, 0.5]) keeping S and V, as torchvision does.

    Uses the closed form of HSV -> RGB, ``c = V − V·S·clamp(min(k, 4 − k), 0, 1)`` with ``k = (n + 6h) mod 6`` and
    n = 5, 3, 1 for R, G, B (V·S = max − min), which is several times fewer tensor passes than a table lookup.
    Everything runs on single-channel planes, in place where possible: a reduction over the channel dimension
    and fresh full-clip temporaries (page faults) cost more than the arithmetic on 32×112² clips."""
    if isinstance(shift, Tensor):
        shift = shift.squeeze(-4)  # (B, 1, 1, 1, 1) -> (B, 1, 1, 1): the planes below have no channel dimension
    r, g, b = video.unbind(-4)
    maxc = torch.maximum(r, g)
    torch.maximum(maxc, b, out=maxc)
    cr = torch.minimum(r, g)
    torch.minimum(cr, b, out=cr)
    torch.sub(maxc, cr, out=cr)
    # 6h before the shift: torchvision's priority R, then G, then B when channels tie; grey pixels (cr = 0) get
    # a finite h and c = V whatever it is.
    h = torch.where(maxc == r, g - b, torch.where(maxc == g, (b - r).add_(cr, alpha=2.0), (r - g).add_(cr, alpha=4.0)))
    h.div_(cr.clamp_min(1e-12)).add_(6.0 * shift).remainder_(6.0)
    out = torch.empty_like(video)
    k = torch.empty_like(h)
    for c, n in enumerate((5.0, 3.0, 1.0)):
        torch.add(h, n, out=k)
        k.sub_(k.ge(6.0).to(k.dtype), alpha=6.0)  # (n + 6h) mod 6, with n + 6h in [0, 11)
        torch.minimum(k, 4.0 - k, out=k).clamp_(0.0, 1.0).mul_(cr)
        torch.sub(maxc, k, out=out.select(-4, c))
    return out


COLOR_OPS = (adjust_brightness, adjust_contrast, adjust_saturation, adjust_hue)


def draw_color_jitter(
    gen: torch.Generator, brightness: float, contrast: float, saturation: float, hue: float
) -> tuple[list[int], list[float]]:
    """torchvision ColorJitter's draws: a random order of the four ops, factors ~ U[max(0, 1 − s), 1 + s] and
    hue ~ U[−hue, hue] (indexed like :data:`COLOR_OPS`)."""
    order = torch.randperm(4, generator=gen).tolist()
    factors = [
        uniform(gen, max(0.0, 1 - brightness), 1 + brightness),
        uniform(gen, max(0.0, 1 - contrast), 1 + contrast),
        uniform(gen, max(0.0, 1 - saturation), 1 + saturation),
        uniform(gen, -hue, hue),
    ]
    return order, factors


def apply_color_jitter(video: Tensor, order: list[int], factors: list[float]) -> Tensor:
    for k in order:
        video = COLOR_OPS[k](video, factors[k])
    return video


def color_jitter(
    video: Tensor, brightness: float, contrast: float, saturation: float, hue: float, gen: torch.Generator
) -> Tensor:
    """torchvision ColorJitter (:func:`draw_color_jitter` then :func:`apply_color_jitter`)."""
    return apply_color_jitter(video, *draw_color_jitter(gen, brightness, contrast, saturation, hue))


def blur_kernel(sigma: float, height: int, width: int) -> Tensor:
    """Normalized 1-D Gaussian of radius ceil(3σ) (capped by the frame size), float64."""
    radius = max(1, min(math.ceil(3.0 * sigma), height - 1, width - 1))
    x = torch.arange(-radius, radius + 1, dtype=torch.float64)
    k = torch.exp(-0.5 * (x / sigma) ** 2)
    return k / k.sum()


def reflect_blur_matrix(n: int, kernel: Tensor) -> Tensor:
    """``(n, n)`` matrix M with ``x @ M`` = 1-D convolution of x with ``kernel`` under reflect padding."""
    radius = kernel.numel() // 2
    src = torch.arange(n)[:, None] + torch.arange(-radius, radius + 1)[None]
    src = torch.where(src < 0, -src, src)
    src = torch.where(src > n - 1, 2 * (n - 1) - src, src)
    m = torch.zeros(n, n, dtype=kernel.dtype)
    m.index_put_((torch.arange(n)[:, None].expand_as(src), src), kernel.expand_as(src), accumulate=True)
    return m.T


def gaussian_blur(video: Tensor, sigma: float) -> Tensor:
    """Separable Gaussian blur, radius ceil(3σ) (capped by the frame size), reflect padding, all frames at once.

    Each 1-D pass is one matmul with a banded ``(W, W)`` / ``(H, H)`` matrix that folds in the padding: on CPU
    that is an order of magnitude faster than single-channel ``conv2d`` on T·C planes."""
    h, w = video.shape[-2:]
    k = blur_kernel(sigma, h, w)
    mw = reflect_blur_matrix(w, k).to(video)
    mh = reflect_blur_matrix(h, k).to(video)
    return mh.T @ (video @ mw)


def normalize(video: Tensor, mean: tuple[float, ...], std: tuple[float, ...]) -> Tensor:
    """Per-channel ``(x − mean) / std`` on ``(C, T, H, W)``."""
    m = torch.tensor(mean, dtype=video.dtype, device=video.device).view(-1, 1, 1, 1)
    s = torch.tensor(std, dtype=video.dtype, device=video.device).view(-1, 1, 1, 1)
    return (video - m).div_(s)


def _affine(video: Tensor, matrix: list[list[float]], fill: float) -> Tensor:
    """Warp every frame by the pixel-space map ``out = A · in`` about the centre (A 2×3, last column a shift in
    pixels); the out-of-frame area gets ``fill``."""
    c, t, h, w = video.shape
    a = torch.tensor(matrix, dtype=torch.float64)
    inv = torch.linalg.inv(torch.cat([a, torch.tensor([[0.0, 0.0, 1.0]], dtype=torch.float64)]))
    d = torch.diag(torch.tensor([w / 2.0, h / 2.0, 1.0], dtype=torch.float64))
    theta = (torch.linalg.inv(d) @ inv @ d)[:2].to(video.dtype)
    grid = F.affine_grid(theta[None].expand(t, 2, 3), [t, c, h, w], align_corners=False)
    out = F.grid_sample(video.transpose(0, 1) - fill, grid, mode="bilinear", padding_mode="zeros", align_corners=False)
    return (out + fill).transpose(0, 1)


def _sharpness(video: Tensor, factor: float) -> Tensor:
    c, t, h, w = video.shape
    k = torch.tensor([[1.0, 1.0, 1.0], [1.0, 5.0, 1.0], [1.0, 1.0, 1.0]], dtype=video.dtype) / 13.0
    smooth = F.conv2d(video.reshape(c * t, 1, h, w), k.view(1, 1, 3, 3)).reshape(c, t, h - 2, w - 2)
    degenerate = video.clone()
    degenerate[..., 1:-1, 1:-1] = smooth
    return _blend(video, degenerate, factor)


def _autocontrast(video: Tensor) -> Tensor:
    lo = video.amin(dim=(1, 2, 3), keepdim=True)
    hi = video.amax(dim=(1, 2, 3), keepdim=True)
    scale = torch.where(hi > lo, 1.0 / (hi - lo), torch.ones_like(hi))
    return torch.where(hi > lo, (video - lo) * scale, video).clamp(0, 1)


def _equalize(video: Tensor) -> Tensor:
    """Per-channel histogram equalization over the whole clip (one lookup table per channel for all frames)."""
    levels = (video * 255).round().long().clamp(0, 255)
    out = torch.empty_like(video)
    for ch in range(video.shape[0]):
        hist = torch.bincount(levels[ch].flatten(), minlength=256).to(torch.float64)
        cdf = hist.cumsum(0)
        lut = ((cdf - cdf[hist.nonzero()[0, 0]]) / (cdf[-1] - cdf[hist.nonzero()[0, 0]]).clamp_min(1)).clamp(0, 1)
        out[ch] = lut.to(video.dtype)[levels[ch]]
    return out


RANDAUG_OPS = (
    "AutoContrast", "Equalize", "Invert", "Rotate", "Posterize", "Solarize", "SolarizeAdd", "Color",
    "Contrast", "Brightness", "Sharpness", "ShearX", "ShearY", "TranslateX", "TranslateY",
)  # fmt: skip


def randaug_op(video: Tensor, name: str, level: float, negate: bool, fill: float = 0.5,
               increasing: bool = True) -> Tensor:
    """One RandAugment op at ``level`` in [0, 1] (magnitude / 10) with timm's level-to-argument maps: rotate ±30°,
    shear ±0.3, translate ±45 % of the side, solarize-add up to 110/255. ``increasing`` picks timm's ``inc1`` maps,
    whose severity grows with the level (enhance factor max(0.1, 1 ± 0.9·level), posterize to 4 − ⌊4·level⌋ bits,
    solarize above 1 − level); ``increasing=False`` is timm's default (``inc0``) where posterize keeps ⌊4·level⌋
    bits, solarize inverts above ``level`` and enhance uses factor 0.1 + 1.8·level with no sign flip."""
    sign = -1.0 if negate else 1.0
    h, w = video.shape[-2:]
    if name == "AutoContrast":
        return _autocontrast(video)
    if name == "Equalize":
        return _equalize(video)
    if name == "Invert":
        return 1.0 - video
    if name == "Rotate":
        ang = math.radians(sign * 30.0 * level)
        return _affine(video, [[math.cos(ang), -math.sin(ang), 0.0], [math.sin(ang), math.cos(ang), 0.0]], fill)
    if name == "Posterize":
        bits = 4 - int(4 * level) if increasing else int(4 * level)
        step = 2 ** (8 - bits)
        return torch.floor(torch.floor(video * 255.0 + 0.5) / step) * step / 255.0
    if name == "Solarize":
        return torch.where(video >= (1.0 - level if increasing else level), 1.0 - video, video)
    if name == "SolarizeAdd":
        return torch.where(video < 128 / 255, (video + 110 / 255 * level).clamp(0, 1), video)
    factor = max(0.1, 1.0 + sign * 0.9 * level) if increasing else 0.1 + 1.8 * level
    if name == "Color":
        return adjust_saturation(video, factor)
    if name == "Contrast":
        return adjust_contrast(video, factor)
    if name == "Brightness":
        return adjust_brightness(video, factor)
    if name == "Sharpness":
        return _sharpness(video, factor)
    if name == "ShearX":
        return _affine(video, [[1.0, sign * 0.3 * level, 0.0], [0.0, 1.0, 0.0]], fill)
    if name == "ShearY":
        return _affine(video, [[1.0, 0.0, 0.0], [sign * 0.3 * level, 1.0, 0.0]], fill)
    if name == "TranslateX":
        return _affine(video, [[1.0, 0.0, sign * 0.45 * level * w], [0.0, 1.0, 0.0]], fill)
    if name == "TranslateY":
        return _affine(video, [[1.0, 0.0, 0.0], [0.0, 1.0, sign * 0.45 * level * h]], fill)
    raise ValueError(f"unknown RandAugment op {name!r}; known: {', '.join(RANDAUG_OPS)}")


def rand_augment(
    video: Tensor,
    gen: torch.Generator,
    num_ops: int = 2,
    magnitude: float = 9.0,
    magnitude_std: float = 0.5,
    prob: float = 0.5,
    increasing: bool = True,
) -> Tensor:
    """RandAugment (Cubuk et al. 2020) as timm's ``rand-m{magnitude}-n{num_ops}-mstd{std}-inc{increasing}``
    (the fine-tuning presets hold XKD's paper and official-code settings). ``num_ops`` ops
    drawn with replacement, each applied with ``prob``, magnitude ~ N(magnitude, std) clipped to [0, 10], the same
    draw on every frame. Input/output float ``(C, T, H, W)`` in [0, 1]."""
    picks = torch.randint(0, len(RANDAUG_OPS), (num_ops,), generator=gen).tolist()
    for k in picks:
        if not bernoulli(gen, prob):
            continue
        noise = float(torch.randn((), generator=gen)) * magnitude_std if magnitude_std > 0 else 0.0
        level = min(max(magnitude + noise, 0.0), 10.0) / 10.0
        video = randaug_op(video, RANDAUG_OPS[k], level, bernoulli(gen, 0.5), increasing=increasing).clamp(0.0, 1.0)
    return video
