"""Still images for the image–text path: decoding with Pillow, and train/eval transforms on tensors.

Decoding (:func:`decode_image`) gives uint8 ``(H, W, 3)``: every Pillow mode (grayscale ``L``/``I;16``, palette
``P`` with or without transparency, ``CMYK``, ``RGBA``, ``LA``) becomes RGB, transparent pixels over white, and
the EXIF orientation tag is applied (phone photos in CrisisMMD and MM-IMDB posters are often stored sideways with
the tag). Truncated or corrupt files raise :class:`MediaError` (``corrupt``) naming the file, a missing one
``missing``: the same errors as video decoding, so :func:`decode_images` offers the same ``on_error`` choice —
``"skip"`` drops and counts bad files, ``"raise"`` stops with the error that names the file.

The transforms reuse :mod:`xmodal.data.video_transforms` on one-frame clips, so images and video frames get the
same random-resized-crop, flip and ImageNet normalisation code.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from xmodal.data.errors import MediaError
from xmodal.data.video_transforms import (
    IMAGENET_MEAN,
    IMAGENET_STD,
    bernoulli,
    center_box,
    crop_resize_frames,
    hflip,
    normalize,
    resize_short_side,
    sample_crop,
    to_float_video,
)

IMAGE_EXTENSIONS: frozenset[str] = frozenset({".jpg", ".jpeg", ".png", ".gif", ".bmp", ".webp", ".tif", ".tiff"})


def decode_image(path: str | Path) -> Tensor:
    """uint8 ``(H, W, 3)`` RGB of the image at ``path``, EXIF-rotated; a bad file raises :class:`MediaError`."""
    from PIL import Image, ImageOps, UnidentifiedImageError

    path = Path(path)
    if not path.is_file():
        raise MediaError(str(path), "missing")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(path) as img:
                img.load()  # decodes every byte now: a truncated file fails here, not later in a worker
                img = ImageOps.exif_transpose(img)
                rgb = _to_rgb(img)
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError, Image.DecompressionBombWarning) as err:
        raise MediaError(str(path), "corrupt", f"{type(err).__name__}: {err}") from err
    return torch.from_numpy(np.asarray(rgb, dtype=np.uint8).copy())


def _to_rgb(img: object) -> object:
    """RGB from any mode; alpha (``RGBA``, ``LA``, ``P`` with transparency) is composited over white, not dropped
    (dropping it turns transparent regions into whatever colour the encoder left there, often black)."""
    from PIL import Image

    assert isinstance(img, Image.Image)
    if img.mode == "P":
        img = img.convert("RGBA" if "transparency" in img.info else "RGB")
    if img.mode in ("RGBA", "LA", "PA"):
        rgba = img.convert("RGBA")
        canvas = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(canvas, rgba).convert("RGB")
    if img.mode in ("I;16", "I;16B", "I;16L", "I"):  # 16/32-bit grey: scale to 8 bits rather than clip
        arr = np.asarray(img, dtype=np.float64)
        peak = arr.max() if arr.size and arr.max() > 0 else 1.0
        return Image.fromarray((arr * (255.0 / peak)).astype(np.uint8)).convert("RGB")
    return img.convert("RGB")


@dataclass
class DecodedImages:
    """Decoded images of the rows that decoded (``kept`` indices into the input), and the bad files counted."""

    images: list[Tensor]
    kept: list[int]
    skipped: dict[str, list[str]]

    @property
    def counts(self) -> dict[str, int]:
        return {kind: len(paths) for kind, paths in self.skipped.items()}


def decode_images(paths: Sequence[str | Path], on_error: Literal["skip", "raise"] = "skip") -> DecodedImages:
    """Decode every path; with ``on_error="skip"`` a bad file is left out and counted by kind, with ``"raise"``
    the first one stops the run with its :class:`MediaError`."""
    if on_error not in ("skip", "raise"):
        raise ValueError(f"on_error must be 'skip' or 'raise', got {on_error!r}")
    images, kept, skipped = [], [], {}
    for i, path in enumerate(paths):
        try:
            images.append(decode_image(path))
        except MediaError as err:
            if on_error == "raise":
                raise
            skipped.setdefault(err.kind, []).append(err.path)
            continue
        kept.append(i)
    return DecodedImages(images, kept, skipped)


def summarize_skipped(skipped: dict[str, list[str]]) -> str:
    """``"2 corrupt (a.jpg, b.jpg), 1 missing (c.jpg)"``: what a run logs after decoding."""
    return ", ".join(f"{len(v)} {k} ({', '.join(Path(p).name for p in v[:3])}{', …' if len(v) > 3 else ''})"
                     for k, v in sorted(skipped.items())) or "none"


@dataclass
class ImageTransformConfig:
    """``size``: output side; eval resizes the short side to ``size / crop_fraction`` then centre-crops ``size``
    (the ImageNet 256 → 224 recipe); train takes a random-resized crop (``scale``, ``ratio``) and flips."""

    size: int = 224
    crop_fraction: float = 0.875
    scale: tuple[float, float] = (0.08, 1.0)
    ratio: tuple[float, float] = (3 / 4, 4 / 3)
    flip: float = 0.5
    mean: tuple[float, float, float] = IMAGENET_MEAN
    std: tuple[float, float, float] = IMAGENET_STD


def eval_image(image: Tensor, cfg: ImageTransformConfig) -> Tensor:
    """uint8 ``(H, W, 3)`` → normalised float ``(3, size, size)``: short-side resize, centre crop."""
    clip = resize_short_side(to_float_video(image[None]), max(cfg.size, round(cfg.size / cfg.crop_fraction)))
    box = center_box(clip.shape[-2], clip.shape[-1], (cfg.size, cfg.size))
    return normalize(crop_resize_frames(clip, box, (cfg.size, cfg.size)), cfg.mean, cfg.std)[:, 0]


def train_image(image: Tensor, cfg: ImageTransformConfig, gen: torch.Generator) -> Tensor:
    """uint8 ``(H, W, 3)`` → normalised float ``(3, size, size)``: random-resized crop, horizontal flip."""
    box = sample_crop(image.shape[0], image.shape[1], cfg.scale, cfg.ratio, gen)
    clip = crop_resize_frames(image[None], box, (cfg.size, cfg.size))
    if bernoulli(gen, cfg.flip):
        clip = hflip(clip)
    return normalize(clip, cfg.mean, cfg.std)[:, 0]


def random_resized_crop_flip(images: Tensor, gen: torch.Generator, scale: tuple[float, float] = (0.08, 1.0),
                             ratio: tuple[float, float] = (3 / 4, 4 / 3), flip: float = 0.5) -> Tensor:
    """Float ``(N, C, H, W)`` → ``(N, C, H, W)``: torchvision's ``RandomResizedCrop((H, W))`` then
    ``RandomHorizontalFlip(flip)``, drawn independently per image (boxes by :func:`sample_crop`), resampled in one
    bilinear ``grid_sample`` for the whole batch. Crop and flip commute with per-channel normalisation, so the
    images may already be normalised."""
    n, _, h, w = images.shape
    theta = torch.zeros(n, 2, 3, dtype=torch.float64)
    for i in range(n):  # scalar draws only; the pixels move in one batched call below
        top, left, ch, cw = sample_crop(h, w, scale, ratio, gen)
        mirror = -1.0 if bernoulli(gen, flip) else 1.0
        theta[i, 0, 0], theta[i, 0, 2] = mirror * cw / w, (2 * left + cw) / w - 1
        theta[i, 1, 1], theta[i, 1, 2] = ch / h, (2 * top + ch) / h - 1
    grid = F.affine_grid(theta.to(images), list(images.shape), align_corners=False)
    return F.grid_sample(images, grid, mode="bilinear", padding_mode="border", align_corners=False)
