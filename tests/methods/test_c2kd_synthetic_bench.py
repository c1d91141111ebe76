"""``benchmarks/c2kd_synthetic.py --merge``: one benchmark/direction per call adds up to one table of one protocol.

The merge is what lets a shared machine run the γ-ladder table one locked job at a time; a merge across protocols
(other epochs, other subsample) would put incomparable gains side by side, so it must be refused.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]


def _script() -> ModuleType:
    spec = importlib.util.spec_from_file_location("c2kd_synthetic", ROOT / "benchmarks" / "c2kd_synthetic.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _run(methods: str, bench: str, direction: str, acc: float, epochs: int = 12) -> dict[str, Any]:
    entry = {"summary": {"none": {"test_mean": acc}}, "methods": methods}
    return {"overrides": [f"methods=[{methods}]", f"epochs={epochs}"], "sizes": {"train": 240},
            "benchmarks": {bench: {"gamma": 0.5, "directions": {direction: entry}}}}


def test_merge_adds_directions_and_benchmarks_and_replaces_reruns() -> None:
    merge = _script().merge
    old = _run("none,kd", "gamma-0.5", "a2v", 10.0)
    out = merge(old, _run("none,c2kd", "gamma-0.5", "v2a", 20.0), "x.json")
    out = merge(out, _run("none,c2kd", "gamma-1", "a2v", 30.0), "x.json")
    out = merge(out, _run("none,dist", "gamma-0.5", "a2v", 40.0), "x.json")
    dirs = out["benchmarks"]["gamma-0.5"]["directions"]
    assert dirs["v2a"]["summary"]["none"]["test_mean"] == 20.0
    assert dirs["a2v"]["methods"] == "none,dist"  # the rerun replaced the earlier entry
    assert out["benchmarks"]["gamma-1"]["directions"]["a2v"]["summary"]["none"]["test_mean"] == 30.0
    assert set(old["benchmarks"]["gamma-0.5"]["directions"]) == {"a2v"}  # the loaded file is not mutated


def test_merge_refuses_another_protocol() -> None:
    merge = _script().merge
    with pytest.raises(SystemExit, match=r"x\.json: --merge needs the same overrides"):
        merge(_run("none", "gamma-0", "a2v", 1.0), _run("none", "gamma-0", "v2a", 1.0, epochs=20), "x.json")
