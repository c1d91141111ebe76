"""Configs shipped with xmodal: ``configs/<method>/<dataset>.yaml`` (also reachable as the repo's ``configs/``)."""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).parent


def config_path(name: str) -> Path:
    """``"xkd/synthetic_tiny"`` → path of the shipped YAML; a path to an existing file is returned as is."""
    candidate = Path(name)
    if candidate.is_file():
        return candidate
    path = ROOT / (name if name.endswith(".yaml") else f"{name}.yaml")
    if not path.is_file():
        shipped = sorted(str(p.relative_to(ROOT).with_suffix("")) for p in ROOT.glob("*/*.yaml"))
        raise FileNotFoundError(f"no config {name!r} (not a file, not a shipped name); give a YAML path or one "
                                f"of: {', '.join(shipped)}")
    return path
