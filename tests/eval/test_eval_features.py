from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

from xmodal.eval.features import (
    FeatureSet,
    cache_key,
    cached,
    extract_features,
    load_features,
    module_hash,
    save_features,
)


class MeanBackbone(nn.Module):
    """features(x) = per-sample mean of the input repeated on 2 dims; forward gives CLS + 2 patch tokens."""

    embed_dim = 2

    def __init__(self) -> None:
        super().__init__()
        self.scale = nn.Parameter(torch.ones(()))

    def features(self, x: torch.Tensor) -> torch.Tensor:
        m = x.flatten(1).mean(1, keepdim=True) * self.scale
        return torch.cat([m, -m], 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        m = x.flatten(1).mean(1) * self.scale
        cls = torch.full((x.shape[0], 1, 2), 100.0)
        patches = torch.stack([torch.stack([m, m], 1), torch.stack([3 * m, 3 * m], 1)], 1)
        return torch.cat([cls, patches], 1)


def _video(value: float) -> torch.Tensor:
    return torch.full((3, 2, 4, 4), float(value))


def test_multi_clip_average_by_hand() -> None:
    """Video a: clips 1, 2, 6 -> mean 3; video b: clips 0, 0, 3 -> mean 1 (xkd §A.5: 3 test clips averaged)."""
    batch = {"video": torch.stack([torch.stack([_video(v) for v in (1, 2, 6)]),
                                   torch.stack([_video(v) for v in (0, 0, 3)])]),
             "label": torch.tensor([4, 7]), "id": ["a", "b"]}
    fs = extract_features(MeanBackbone(), [batch], modality="video", clips_per_video=3)
    np.testing.assert_allclose(fs.features, [[3, -3], [1, -1]])
    assert fs.ids.tolist() == ["a", "b"] and fs.labels.tolist() == [4, 7] and set(fs.split) == {"test"}
    per_clip = extract_features(MeanBackbone(), [batch], modality="video", average_clips=False)
    assert len(per_clip) == 6 and per_clip.ids.tolist() == ["a"] * 3 + ["b"] * 3
    with pytest.raises(ValueError, match="protocol says 5"):
        extract_features(MeanBackbone(), [batch], modality="video", clips_per_video=5)


def test_train_passes_average_across_passes_and_batches() -> None:
    values = iter([1.0, 5.0])

    class Loader:
        def __iter__(self):  # one augmented pass per call: a new clip value each pass
            v = next(values)
            yield {"audio": torch.full((1, 1, 8, 8), v), "label": torch.tensor([2]), "id": ["x"]}

    fs = extract_features(lambda: MeanBackbone(), Loader(), modality="audio", train_passes=2, split="train")
    np.testing.assert_allclose(fs.features, [[3, -3]])
    assert fs.split.tolist() == ["train"]


def test_pooling_switch_reads_tokens() -> None:
    batch = {"video": _video(2.0)[None], "label": torch.tensor([0]), "id": ["a"]}
    get = lambda p: extract_features(MeanBackbone(), [batch], modality="video", pooling=p).features[0]  # noqa: E731
    np.testing.assert_allclose(get("mean_patch"), [4, 4])
    np.testing.assert_allclose(get("cls"), [100, 100])
    np.testing.assert_allclose(get("mean_all"), [36, 36])


@pytest.mark.parametrize("suffix", [".npz", ".safetensors"])
def test_roundtrip(tmp_path: Path, suffix: str) -> None:
    fs = FeatureSet(np.random.rand(5, 3), np.eye(4, dtype=np.float32)[[0, 1, 2, 3, 0]],
                    np.array(list("abcde")), np.array(["train", "train", "val", "test", "test"]), np.arange(5))
    back = load_features(save_features(tmp_path / f"f{suffix}", fs))
    np.testing.assert_array_equal(back.features, fs.features)
    np.testing.assert_array_equal(back.labels, fs.labels)
    assert back.ids.tolist() == list("abcde") and back.split.tolist() == fs.split.tolist()
    assert back.multilabel and back.fold is not None and back.by_split("test").ids.tolist() == ["d", "e"]


def test_cache_is_keyed_by_weights_data_and_protocol(tmp_path: Path) -> None:
    calls = []
    fs = FeatureSet(np.ones((2, 2)), np.array([0, 1]), np.array(["a", "b"]), np.array(["test", "test"]))

    def compute() -> FeatureSet:
        calls.append(1)
        return fs

    m = MeanBackbone()
    key = cache_key(module_hash(m), "manifest-sha", {"clips": 3})
    cached(tmp_path, key, compute)
    again = cached(tmp_path, key, compute)
    assert len(calls) == 1 and again.ids.tolist() == ["a", "b"]
    with torch.no_grad():
        m.scale.fill_(2.0)
    assert cache_key(module_hash(m), "manifest-sha", {"clips": 3}) != key
    assert cache_key(module_hash(MeanBackbone()), "manifest-sha", {"clips": 1}) != key
