"""XKD Tables S1–S2 "Linear Eval." augmentation of the training clips: seeded, shaped like the eval inputs."""

import torch

from xmodal.eval.geometry import EvalGeometry
from xmodal.eval.linear_aug import LinearEvalAugConfig, LinearEvalTransform

GEOM = EvalGeometry(clip_seconds=2.0, fps=4.0, frames=8, size=32, audio_seconds=1.0, hop_length=572)


def raw(seed: int) -> dict:
    gen = torch.Generator().manual_seed(0)
    return {"video": torch.randint(0, 256, (12, 40, 48, 3), dtype=torch.uint8, generator=gen), "fps": 4.0,
            "audio": torch.randn(40000, generator=gen) * 0.1, "sample_rate": 16000, "seed": seed}


def test_training_clips_are_augmented_and_reproducible() -> None:
    t = LinearEvalTransform(GEOM)
    a, b, c = t(raw(1)), t(raw(1)), t(raw(2))
    assert a["video"].shape == (3, 8, 32, 32) and a["audio"].shape == GEOM.transform()(raw(1))["audio"].shape
    assert torch.equal(a["video"], b["video"]) and torch.equal(a["audio"], b["audio"])
    assert not torch.allclose(a["video"], c["video"]) and not torch.allclose(a["audio"], c["audio"])
    plain = LinearEvalTransform(GEOM, LinearEvalAugConfig(crop_scale=(1.0, 1.0), flip_p=0.0, jitter=(0, 0, 0, 0),
                                                          grayscale_p=0.0, volume=0.0))
    # without augmentation only the random clip start differs from the centred evaluation input
    assert torch.allclose(plain(raw(3))["audio"].mean(), GEOM.transform()(raw(3))["audio"].mean(), atol=0.5)
