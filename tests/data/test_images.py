"""Image decoding with Pillow (modes, EXIF, bad files) and the image train/eval transforms."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from xmodal.data.errors import MediaError
from xmodal.data.images import (
    ImageTransformConfig,
    decode_image,
    decode_images,
    eval_image,
    summarize_skipped,
    train_image,
)


def _gradient(h: int = 12, w: int = 20) -> np.ndarray:
    img = np.zeros((h, w, 3), np.uint8)
    img[..., 0] = np.linspace(0, 255, w, dtype=np.uint8)[None]
    img[..., 1] = np.linspace(0, 255, h, dtype=np.uint8)[:, None]
    img[..., 2] = 77
    return img


@pytest.mark.parametrize("mode", ["L", "P", "CMYK", "RGBA", "LA", "I;16", "RGB"])
def test_every_mode_decodes_to_rgb_uint8(tmp_path: Path, mode: str) -> None:
    img = Image.fromarray(_gradient())
    img = img.convert("L").convert(mode) if mode in ("I;16", "LA") else img.convert(mode)
    path = tmp_path / ("x.tif" if mode in ("CMYK", "I;16") else "x.png")
    img.save(path)
    out = decode_image(path)
    assert out.dtype == torch.uint8 and out.shape == (12, 20, 3)
    assert out.float().std() > 10  # content survived, not a blank canvas


def test_transparent_pixels_are_composited_over_white(tmp_path: Path) -> None:
    rgba = np.zeros((4, 4, 4), np.uint8)  # fully transparent black
    Image.fromarray(rgba, "RGBA").save(tmp_path / "t.png")
    assert decode_image(tmp_path / "t.png").min() == 255


def test_exif_orientation_is_applied(tmp_path: Path) -> None:
    img = Image.fromarray(_gradient(12, 20))
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90 CW to display"
    img.save(tmp_path / "r.jpg", exif=exif, quality=95)
    out = decode_image(tmp_path / "r.jpg")
    assert out.shape == (20, 12, 3)  # displayed upright: height and width swap


def test_truncated_and_corrupt_files_name_the_file(tmp_path: Path) -> None:
    Image.fromarray(_gradient(64, 64)).save(tmp_path / "ok.jpg")
    data = (tmp_path / "ok.jpg").read_bytes()
    (tmp_path / "trunc.jpg").write_bytes(data[: len(data) // 2])
    (tmp_path / "junk.jpg").write_bytes(b"not an image at all")
    for name in ("trunc.jpg", "junk.jpg"):
        with pytest.raises(MediaError, match=name.replace(".", r"\.")) as err:
            decode_image(tmp_path / name)
        assert err.value.kind == "corrupt"
    with pytest.raises(MediaError) as err:
        decode_image(tmp_path / "absent.jpg")
    assert err.value.kind == "missing"


def test_decode_images_skips_and_counts_or_raises(tmp_path: Path) -> None:
    Image.fromarray(_gradient()).save(tmp_path / "a.png")
    (tmp_path / "b.png").write_bytes(b"\x89PNG broken")
    paths = [tmp_path / "a.png", tmp_path / "b.png", tmp_path / "c.png"]
    out = decode_images(paths, on_error="skip")
    assert out.kept == [0] and out.counts == {"corrupt": 1, "missing": 1}
    assert "1 corrupt (b.png)" in summarize_skipped(out.skipped)
    with pytest.raises(MediaError, match=r"b\.png"):
        decode_images(paths, on_error="raise")


def test_eval_transform_is_a_normalised_centre_crop() -> None:
    img = torch.from_numpy(_gradient(40, 80))
    cfg = ImageTransformConfig(size=16, crop_fraction=0.5)
    out = eval_image(img, cfg)
    assert out.shape == (3, 16, 16) and out.dtype == torch.float32
    blue = (77 / 255 - cfg.mean[2]) / cfg.std[2]
    assert torch.allclose(out[2], torch.full((16, 16), blue), atol=1e-4)
    assert torch.equal(eval_image(img, cfg), out)


def test_train_transform_is_random_but_seeded() -> None:
    img = torch.from_numpy(_gradient(40, 80))
    cfg = ImageTransformConfig(size=16)
    a = train_image(img, cfg, torch.Generator().manual_seed(1))
    b = train_image(img, cfg, torch.Generator().manual_seed(1))
    c = train_image(img, cfg, torch.Generator().manual_seed(2))
    assert a.shape == (3, 16, 16) and torch.equal(a, b) and not torch.equal(a, c)
