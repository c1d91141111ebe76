"""The C²KD benchmark scripts' bookkeeping (no training here).

``benchmarks/c2kd_synthetic.py --merge``: one benchmark/direction per call adds up to one table of one protocol —
what lets a shared machine run the γ-ladder table one locked job at a time; a merge across protocols (other
epochs, other subsample) would put incomparable gains side by side, so it must be refused.
``benchmarks/c2kd_cost.py --repeats``: the reported figure is the median over interleaved runs, with the load range.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]


def _script(name: str = "c2kd_synthetic") -> ModuleType:
    spec = importlib.util.spec_from_file_location(name, ROOT / "benchmarks" / f"{name}.py")
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


def test_cost_median_row_takes_medians_and_keeps_every_run() -> None:
    median_row = _script("c2kd_cost").median_row
    runs = [{"seconds_per_epoch": w, "cpu_seconds_per_epoch": c, "peak_memory_mb": m, "load_1min_before": load,
             "memory_kind": "rss", "trainable_parameters": 7} for w, c, m, load in
            [(9.0, 2.0, 100.0, 6.5), (3.0, 2.2, 90.0, 1.0), (4.0, 1.9, 95.0, 3.0)]]
    row = median_row(runs)
    assert (row["seconds_per_epoch"], row["cpu_seconds_per_epoch"], row["peak_memory_mb"]) == (4.0, 2.0, 95.0)
    assert row["load_1min_range"] == [1.0, 6.5] and row["runs"] == runs and row["trainable_parameters"] == 7
