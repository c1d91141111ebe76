"""Multi-seed aggregation and the demo's protocol card (fast: no pretraining)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from xmodal.demo import DemoOptions
from xmodal.demo_report import aggregate, benchmark_card, cell_text, markdown, protocol_card


def _cell(top1: float, c: float = 0.1) -> dict:
    return {"top1": top1, "stderr": 3.0, "C": c, "n_test": 240, "val_top1": top1 - 1}


def test_aggregate_reports_mean_and_sample_std_over_seeds() -> None:
    per_seed = {0: {"XKD": {"video": _cell(40.0), "audio": _cell(100.0)}},
                1: {"XKD": {"video": _cell(44.0, 1.0), "audio": _cell(100.0)}},
                2: {"XKD": {"video": _cell(48.0), "audio": _cell(100.0)}}}
    rows = aggregate(per_seed)
    video = rows["XKD"]["video"]
    assert video["top1"] == pytest.approx(44.0)
    assert video["std"] == pytest.approx(4.0)  # sample std of 40, 44, 48 (ddof = 1)
    assert video["per_seed"] == [40.0, 44.0, 48.0] and video["C"] == [0.1, 1.0, 0.1]
    assert rows["XKD"]["audio"]["std"] == 0.0
    assert cell_text(video) == "44.0 ± 4.0 (s.e. 3.0)"
    one = aggregate({0: per_seed[0]})["XKD"]["video"]
    assert one["std"] == 0.0 and cell_text(one) == "40.0 ± 3.0"  # one seed: the binomial s.e. only
    report = {"results": rows, "per_seed": per_seed, "protocol": {}, "timings": {}, "figures": []}
    assert "| XKD | 44.0 ± 4.0 (s.e. 3.0) | 100.0 ± 0.0 (s.e. 3.0) | — |" in markdown(report)
    assert "- XKD: 40.0, 44.0, 48.0" in markdown(report)


def test_protocol_card_records_the_benchmark_used_not_the_flags(tmp_path: Path) -> None:
    """A reused benchmark of 40 clips, seed 3, must not be reported as the --clips 1200 --seed 0 of the flags."""
    manifest = tmp_path / "manifest.csv"
    manifest.write_text("path,label,split\n")
    meta = {"generator": "xmodal.data.synth", "version": 4, "seed": 3, "num_classes": 4,
            "knobs": {"clips": 40, "size": 32, "seed": 3}}
    manifest.with_suffix(".json").write_text(json.dumps({"classes": [], "meta": meta}))
    counts = {"train": 28, "val": 4, "test": 8}
    card = protocol_card("xkd/synthetic_tiny", [], 15, (0, 1, 2), manifest, counts, None)
    assert "40 clips, seed 3" in card["data"] and "1200" not in card["data"]
    assert "seeds 0, 1, 2" in card["pretraining"] and "3 pretraining seeds" in card["error"]
    manifest.with_suffix(".json").unlink()
    assert "settings unknown" in benchmark_card(manifest, counts)


def test_demo_options_validate_models_and_seeds() -> None:
    with pytest.raises(ValueError, match="foo"):
        DemoOptions(models=("xkd", "foo"))
    with pytest.raises(ValueError, match="repeats"):
        DemoOptions(seeds=(1, 1))
    assert DemoOptions(seed=5).pretrain_seeds == (5,)
    assert DemoOptions(seeds=(0, 1)).pretrain_seeds == (0, 1)
