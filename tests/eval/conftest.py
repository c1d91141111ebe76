"""Toy feature sets shared by the evaluation tests."""

from __future__ import annotations

import shutil
from collections.abc import Callable

import numpy as np
import pytest

from xmodal.eval.features import FeatureSet


def toy(n: int = 300, d: int = 16, k: int = 4, separable: bool = True, seed: int = 0,
        splits: tuple[float, float] = (0.6, 0.2)) -> FeatureSet:
    """Gaussian blobs around well-separated class centres (or pure noise labels when not ``separable``)."""
    rng = np.random.default_rng(seed)
    y = np.arange(n) % k
    centers = rng.normal(size=(k, d)) * 4.0
    x = centers[y] + rng.normal(size=(n, d)) * 0.3 if separable else rng.normal(size=(n, d))
    n_tr, n_va = int(splits[0] * n), int(splits[1] * n)
    split = np.array(["train"] * n_tr + ["val"] * n_va + ["test"] * (n - n_tr - n_va))
    return FeatureSet(x.astype(np.float32), y, np.array([f"v{i}" for i in range(n)]), split)


@pytest.fixture
def make_toy() -> Callable[..., FeatureSet]:
    return toy


@pytest.fixture
def separable() -> FeatureSet:
    return toy()


@pytest.fixture
def random_labels() -> FeatureSet:
    return toy(n=600, separable=False)


@pytest.fixture(scope="session")
def bench(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """24 clips of 32² × 4 s with one corrupt test file added; a video ViT trained on 8 frames of 32² (2-frame
    cuboids) and an audio ViT on an 80 × 112 log-mel: geometry must be read off their grids."""
    from xmodal.data.synth.config import SynthConfig
    from xmodal.data.synth.generate import generate
    from xmodal.models import export_backbone
    from xmodal.models.vit import vit_tiny

    root = tmp_path_factory.mktemp("bench")
    generate(SynthConfig.demo(clips=24, splits=(0.5, 0.17, 0.33)), root / "synth", workers=1)
    manifest = root / "synth" / "manifest.csv"
    broken = root / "synth" / "clips" / "broken.mp4"
    broken.write_bytes(b"not a video")
    label = manifest.read_text().splitlines()[1].split(",")[1]
    shutil.copy(root / "synth" / "manifest.json", root / "synth" / "broken.json")
    (root / "synth" / "broken.csv").write_text(manifest.read_text() + f"clips/broken.mp4,{label},test,0.0,4.0,broken\n")
    video = vit_tiny("video", grid=(4, 4, 4), patch=(2, 8, 8), dim=32, depth=2, heads=2)
    audio = vit_tiny("audio", grid=(20, 7), dim=32, depth=2, heads=2)
    v, _ = export_backbone(video, root / "export" / "video")
    a, _ = export_backbone(audio, root / "export" / "audio")
    return {"manifest": str(manifest), "broken": str(root / "synth" / "broken.csv"), "video": str(v), "audio": str(a),
            "root": str(root)}
