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
            assert any(cell["C"] == pytest.approx(10.0**e) for e in range(-8, 4))
    assert "chosen on val" in report["protocol"]["probe"]
    for name in ("training_curves.png", "reconstruction.png", "refine_attention.png", "results.md"):
        assert (out / name).stat().st_size > 0
    assert "| XKD (student) |" in (out / "results.md").read_text()
    for objective in ("vmae", "avmae", "xkd"):
        assert (out / "runs" / objective / "checkpoints" / "last.ckpt").is_file()
    # A second run reuses the benchmark and resumes the finished runs instead of retraining.
    assert main(["demo", "--out", str(out), "--no-progress", "trainer.max_epochs=1", "trainer.batch_size=8",
                 "model.video.depth=1", "model.audio.depth=1"]) == 0
    again = json.loads((out / "results.json").read_text())
    assert again["timings"]["benchmark_s"] < report["timings"]["benchmark_s"] + 1.0
