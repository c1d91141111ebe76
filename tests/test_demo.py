"""The README's main job, end to end at toy size: benchmark → three pretrainings → probes → report + figures."""

from __future__ import annotations

import json

import pytest

from xmodal.cli.main import main


@pytest.mark.slow
def test_demo_runs_end_to_end_and_reports(tmp_path) -> None:
    out = tmp_path / "demo"
    code = main(["demo", "--out", str(out), "--clips", "40", "--no-progress",
                 "trainer.max_epochs=1", "trainer.batch_size=8", "model.video.depth=1", "model.audio.depth=1"])
    assert code == 0
    report = json.loads((out / "results.json").read_text())
    rows = report["results"]
    assert set(rows) == {"random init", "V-MAE", "AV-MAE", "XKD (student)", "XKD (teacher)"}
    assert set(rows["V-MAE"]) == {"video"}
    assert set(rows["XKD (student)"]) == {"video", "audio", "fusion"}
    for res in rows.values():
        for cell in res.values():
            assert 0.0 <= cell["top1"] <= 100.0 and cell["n_test"] > 0
            # the paper grid {1e-5, …, 1}, extended by up to 3 decades on the side where the optimum sits
            assert all(any(c == pytest.approx(10.0**e) for e in range(-8, 4)) for c in cell["C"])
            assert cell["seeds"] == 1 and cell["std"] == 0.0
    assert "chosen on val" in report["protocol"]["probe"]
    assert "40 clips, seed 0" in report["protocol"]["data"]
    for name in ("training_curves.png", "reconstruction.png", "refine_attention.png", "results.md"):
        assert (out / name).stat().st_size > 0
    assert "| XKD (student) |" in (out / "results.md").read_text()
    for objective in ("vmae", "avmae", "xkd"):
        assert (out / "runs" / objective / "checkpoints" / "last.ckpt").is_file()
    # A second run reuses the benchmark (and records it, not the flags' --clips/--seed), here with two
    # pretraining seeds and MAViL: mean ± std over seeds per row.
    assert main(["demo", "--out", str(out), "--no-progress", "--clips", "1200", "--seed", "7", "--seeds", "0,1",
                 "--models", "xkd,mavil", "trainer.max_epochs=1", "trainer.batch_size=8", "model.video.depth=1",
                 "model.audio.depth=1", "mavil.trainer.max_epochs=1", "mavil.trainer.batch_size=8",
                 "mavil.model.depth=1", "mavil.model.decoder_depth=1"]) == 0
    again = json.loads((out / "results.json").read_text())
    assert again["timings"]["benchmark_s"] < report["timings"]["benchmark_s"] + 1.0
    assert "40 clips, seed 0" in again["protocol"]["data"] and "seeds 0, 1" in again["protocol"]["pretraining"]
    assert set(again["results"]) == {"random init", "XKD (student)", "XKD (teacher)", "MAViL"}
    assert set(again["per_seed"]) == {"0", "1"}
    mavil = again["results"]["MAViL"]
    assert set(mavil) == {"video", "audio", "fusion"} and mavil["video"]["seeds"] == 2
    assert len(mavil["video"]["per_seed"]) == 2 and mavil["video"]["std"] >= 0.0
    assert (out / "reconstruction_mavil.png").stat().st_size > 0  # MAViL App. A Fig. 3, seed 0's stage 1
    for seed in (0, 1):
        for objective in ("xkd", "mavil"):
            assert (out / "runs" / f"seed{seed}" / objective / "checkpoints" / "last.ckpt").is_file()
