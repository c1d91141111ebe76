"""Resume rules: a run continues from ``last.ckpt`` only under the config it was started with.

Why: auto-resume is what makes a preempted week-long job cheap, but re-running a command with a new learning rate
or mask ratio in the same ``out_dir`` would otherwise silently continue the *old* run under the new name. The
checkpoint stores the resolved config (:class:`xmodal.training.trainer.SaveRunInfo`); before resuming, every dotted
key is compared with the new config:

- keys in :data:`FREE_KEYS` (and under ``monitor.``: the online monitors are detached, see
  :mod:`xmodal.training.monitor`) do not change what is learned (extending a run with ``trainer.max_epochs``, data
  workers, logging, progress display, checkpoint cadence, the throughput switches) and may differ;
- a key the checkpoint's config does not have (added to xmodal after the run started) is accepted when the new
  config leaves it at its default: new options default to the behaviour the code had before them, so an older run
  can be continued by a newer version;
- any other difference refuses the resume with :class:`ResumeMismatch`, which lists each key with both values
  (the CLI prints it as one error and exits 2), unless ``trainer.resume=force``;
- a resume that changed anything appends the changes (old and new values) to ``<out_dir>/resumes.yaml``;
  ``config.yaml`` keeps the config the run started with.
"""

from __future__ import annotations

import dataclasses
import datetime
import json
from pathlib import Path
from typing import Any

import torch
import yaml

from xmodal.config import ConfigError

FREE_KEYS: frozenset[str] = frozenset({
    "trainer.max_epochs", "trainer.max_steps", "trainer.num_workers", "trainer.log_every_n_steps",
    "trainer.progress", "trainer.checkpoint_every_n_steps", "trainer.resume",
    # throughput switches: same views, same gradients up to float rounding (docs/scaling.md), so a run may be
    # resumed on another machine with them changed
    "data.augment_on", "trainer.compile", "optim.fused", "model.grad_checkpointing",
})


FREE_PREFIXES: tuple[str, ...] = ("monitor.",)


class ResumeMismatch(ConfigError):
    """The checkpoint to resume from was trained under a config that differs in keys that change the result."""


def flatten(tree: Any, prefix: str = "") -> dict[str, Any]:
    """``{"a": {"b": 1}}`` → ``{"a.b": 1}``; lists stay values."""
    if not isinstance(tree, dict):
        return {prefix: tree}
    out: dict[str, Any] = {}
    for key, value in tree.items():
        out.update(flatten(value, f"{prefix}.{key}" if prefix else str(key)))
    return out


_MISSING = "<absent>"


def config_diff(old: dict[str, Any], new: dict[str, Any]) -> dict[str, tuple[Any, Any]]:
    """Dotted keys whose values differ between two plain-data configs → ``(old, new)`` (absent keys included)."""
    a, b = flatten(old), flatten(new)
    return {k: (a.get(k, _MISSING), b.get(k, _MISSING)) for k in sorted(a.keys() | b.keys()) if a.get(k, _MISSING)
            != b.get(k, _MISSING)}


def config_defaults(config: Any) -> dict[str, Any]:
    """Dotted key → the value ``config``'s class gives it when unset (plain data, as :func:`flatten` of the stored
    config has it); fields without a default are described by their current value's class (nested configs)."""
    out: dict[str, Any] = {}
    for f in dataclasses.fields(config):
        value = getattr(config, f.name)
        if f.default is not dataclasses.MISSING:
            default = f.default
        elif f.default_factory is not dataclasses.MISSING:
            default = f.default_factory()
        else:
            if dataclasses.is_dataclass(value):
                out.update({f"{f.name}.{k}": v for k, v in config_defaults(value).items()})
            continue
        plain = dataclasses.asdict(default) if dataclasses.is_dataclass(default) else default
        out.update(flatten(json.loads(json.dumps(plain, default=list)), f.name))
    return out


def stored_config(checkpoint: Path) -> dict[str, Any] | None:
    """The plain-data config saved inside an xmodal checkpoint (memory-mapped read: no full load)."""
    state = torch.load(checkpoint, map_location="cpu", weights_only=True, mmap=True)
    info = state.get("xmodal") if isinstance(state, dict) else None
    return info.get("config") if isinstance(info, dict) else None


def check_resume(checkpoint: Path, new: dict[str, Any], mode: str,
                 defaults: dict[str, Any] | None = None) -> dict[str, tuple[Any, Any]]:
    """Compare the checkpoint's config with ``new``; return the differences, or raise :class:`ResumeMismatch`.

    ``mode="auto"`` refuses when a key outside :data:`FREE_KEYS` differs, except a key absent from the checkpoint
    whose new value equals its default in ``defaults`` (:func:`config_defaults`); ``"force"`` accepts every
    difference. A checkpoint without a stored config (not written by xmodal) is refused under ``"auto"``.
    """
    old = stored_config(checkpoint)
    if old is None:
        if mode == "force":
            return {}
        raise ResumeMismatch(f"trainer.resume: {checkpoint} holds no xmodal config, so it cannot be checked against "
                             "this run; pass trainer.resume=force to resume anyway or use a new out_dir")
    diff = config_diff(old, new)
    defaults = defaults or {}
    binding = {k: (o, n) for k, (o, n) in diff.items() if k not in FREE_KEYS and not k.startswith(FREE_PREFIXES)
               and not (o == _MISSING and k in defaults and defaults[k] == n)}
    if binding and mode != "force":
        shown = "; ".join(f"{k}: {o!r} → {n!r}" for k, (o, n) in binding.items())
        raise ResumeMismatch(f"trainer.resume: {checkpoint} was trained with a different config ({shown}); use a new "
                             "out_dir, restore those values, or pass trainer.resume=force to continue anyway")
    return diff


def record_resume(out_dir: Path, checkpoint: Path, diff: dict[str, tuple[Any, Any]]) -> None:
    """Append one entry (time, checkpoint, changed keys with old/new values) to ``<out_dir>/resumes.yaml``."""
    if not diff:
        return
    log = out_dir / "resumes.yaml"
    entries = yaml.safe_load(log.read_text()) if log.is_file() else []
    entries = entries if isinstance(entries, list) else []
    entries.append({
        "time": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "checkpoint": str(checkpoint),
        "changed": {k: {"old": o, "new": n} for k, (o, n) in diff.items()},
    })
    tmp = log.with_suffix(".yaml.tmp")
    tmp.write_text(yaml.safe_dump(entries, sort_keys=False, allow_unicode=True))
    tmp.replace(log)
