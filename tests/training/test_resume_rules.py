"""Resume rules for a checkpoint written before a config key existed: the key at its default continues the run
(and is recorded), any other value of it is refused like every other change."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from xmodal.config import load_config, to_dict
from xmodal.configs import config_path
from xmodal.methods.xkd_config import PretrainConfig
from xmodal.training.resume import ResumeMismatch, check_resume, config_defaults, flatten


def _old_checkpoint(tmp_path: Path, cfg: PretrainConfig, drop: str) -> Path:
    """A checkpoint whose stored config lacks the dotted key ``drop`` (written by an older xmodal)."""
    old = to_dict(cfg)
    *parents, leaf = drop.split(".")
    node = old
    for key in parents:
        node = node[key]
    del node[leaf]
    ckpt = tmp_path / "last.ckpt"
    torch.save({"xmodal": {"config": old}}, ckpt)
    return ckpt


def test_a_key_new_since_the_checkpoint_is_accepted_at_its_default_only(tmp_path: Path) -> None:
    cfg = load_config(PretrainConfig, config_path("xkd/synthetic_tiny"))
    defaults = config_defaults(cfg)
    assert flatten(to_dict(PretrainConfig())) == defaults  # every field of this config has a default
    key = "loss.refine_attention"
    ckpt = _old_checkpoint(tmp_path, cfg, key)
    new = to_dict(cfg)
    assert flatten(new)[key] == defaults[key]
    assert check_resume(ckpt, new, "auto", defaults) == {key: ("<absent>", defaults[key])}
    with pytest.raises(ResumeMismatch, match=key):  # without the defaults the older rule applies
        check_resume(ckpt, new, "auto")
    changed = to_dict(load_config(PretrainConfig, config_path("xkd/synthetic_tiny"), [f"{key}=softmax"]))
    with pytest.raises(ResumeMismatch, match=key):
        check_resume(ckpt, changed, "auto", defaults)
