"""C²KD App. C.1 training augmentation: torchvision's RandomResizedCrop + RandomHorizontalFlip per frame, batched."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from xmodal.config import load_config
from xmodal.configs import config_path
from xmodal.data.images import random_resized_crop_flip
from xmodal.data.video_transforms import sample_crop
from xmodal.methods.cmkd_data import CropFlipCollate
from xmodal.methods.cmkd_run import DistillRunConfig


def test_the_whole_frame_unflipped_is_the_identity_and_a_flip_mirrors() -> None:
    x = torch.randn(5, 3, 12, 16)
    gen = torch.Generator().manual_seed(0)
    same = random_resized_crop_flip(x, gen, scale=(1.0, 1.0), ratio=(16 / 12, 16 / 12), flip=0.0)
    torch.testing.assert_close(same, x, atol=1e-5, rtol=0)
    mirrored = random_resized_crop_flip(x, gen, scale=(1.0, 1.0), ratio=(16 / 12, 16 / 12), flip=1.0)
    torch.testing.assert_close(mirrored, x.flip(-1), atol=1e-5, rtol=0)


def test_a_crop_equals_cropping_then_bilinear_resizing() -> None:
    x = torch.randn(1, 3, 20, 20)
    gen, again = torch.Generator().manual_seed(4), torch.Generator().manual_seed(4)
    out = random_resized_crop_flip(x, gen, flip=0.0)
    top, left, h, w = sample_crop(20, 20, (0.08, 1.0), (3 / 4, 4 / 3), again)
    assert (h, w) != (20, 20)
    direct = F.interpolate(x[..., top:top + h, left:left + w], size=(20, 20), mode="bilinear", align_corners=False)
    # equal inside; on the crop's own border the batched resampler may read the pixel just outside the box
    torch.testing.assert_close(out[..., 2:-2, 2:-2], direct[..., 2:-2, 2:-2], atol=1e-4, rtol=0)


def test_frames_are_augmented_independently_and_reproducibly() -> None:
    frame = torch.randn(3, 16, 16)
    rows = [{"video": frame.repeat(4, 1, 1), "label": torch.tensor(i)} for i in range(6)]  # 4 equal frames each
    batch = CropFlipCollate(seed=3)(rows)
    assert batch["video"].shape == (6, 12, 16, 16) and batch["label"].tolist() == list(range(6))
    frames = batch["video"].view(6, 4, 3, 16, 16)
    assert not torch.allclose(frames[:, 0], frames[:, 1])  # each frame its own crop, as the official datasets do
    assert torch.equal(CropFlipCollate(seed=3)(rows)["video"], batch["video"])


def test_paper_recipes_augment_and_the_synthetic_configs_do_not() -> None:
    for name, expected in (("c2kd/cremad_a2v", "crop_flip"), ("c2kd/vggsound_v2a", "crop_flip"),
                           ("c2kd/synthetic_a2v", "none"), ("c2kd/synthetic_v2a", "none")):
        assert load_config(DistillRunConfig, config_path(name)).data.augment == expected, name
