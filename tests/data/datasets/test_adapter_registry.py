"""The registry exposes every adapter under the names ``xmodal data check`` accepts, with one signature."""

from __future__ import annotations

import inspect

from xmodal.data.datasets import REGISTRY

NAMES = {
    "kinetics400", "kinetics_sound", "audioset", "vggsound", "ucf101", "hmdb51", "esc50", "fsd50k", "cremad", "ave",
    "ravdess",
}  # fmt: skip


def test_registry_names_and_common_signature() -> None:
    assert set(REGISTRY) == NAMES
    for name, loader in REGISTRY.items():
        params = inspect.signature(loader).parameters
        assert list(params)[:2] == ["root", "split"], name
        assert params["split"].default is None, name
        assert params["fold"].kind is inspect.Parameter.KEYWORD_ONLY and params["fold"].default == 1, name
        assert params["check_files"].default is False, name
