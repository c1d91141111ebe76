"""Toy feature sets shared by the evaluation tests."""

from __future__ import annotations

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
