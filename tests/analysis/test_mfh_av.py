import json
from pathlib import Path

import pytest

from xmodal.analysis.mfh.av_benchmark import TABLE_COLUMNS, levels_for_gamma, measured_effect
from xmodal.cli.main import main
from xmodal.data.synth import SynthConfig


def test_levels_for_gamma_hits_the_exact_knob_values() -> None:
    assert levels_for_gamma(0.0) == (1, 2, 2)
    assert levels_for_gamma(1.0 / 3.0) == (2, 2, 2)
    assert levels_for_gamma(0.5) == (4, 2, 2)
    assert levels_for_gamma(1.0) == (4, 1, 1)
    assert SynthConfig(general_levels=4, video_levels=2, audio_levels=2).shares()["gamma"] == pytest.approx(0.5)
    with pytest.raises(ValueError):
        levels_for_gamma(0.5, max_classes=1)


def test_measured_effect_needs_two_standard_errors() -> None:
    assert measured_effect([2.0, 3.0, 4.0]) == "helps"
    assert measured_effect([-4.0, -3.0, -4.5]) == "hurts"
    assert measured_effect([-6.0, -2.0, 9.0]) == "unclear"
    assert measured_effect([0.0, 0.0, 0.0]) == "unclear"


def test_av_diagnostic_cli_runs_and_reports_the_generators_gamma(tmp_path: Path) -> None:
    out, data = tmp_path / "av.json", tmp_path / "bench"
    code = main(["mfh", "diagnose", "--av", "--gammas", "0", "1", "--clips", "32", "--seeds", "1", "--epochs", "1",
                 "--data-dir", str(data), "--json", str(out)])
    assert code == 0
    payload = json.loads(out.read_text())
    rows = payload["rows"]
    assert [r["levels"] for r in rows] == [[1, 2, 2], [4, 1, 1]]
    for row, folder in zip(rows, ("gamma_0.000", "gamma_1.000"), strict=True):
        assert set(TABLE_COLUMNS) <= set(row)
        meta = json.loads((data / folder / "manifest.json").read_text())["meta"]
        assert row["gamma"] == pytest.approx(meta["gamma"])
        assert meta["knobs"]["clips"] == 32
        (seed,) = row["seeds"]
        assert 0.0 <= seed["gamma_hat"] <= 1.0
        assert seed["kd_gain"] == pytest.approx(seed["kd_acc"] - seed["no_kd_acc"])
        assert row["predicted_helps"] == (row["gamma_hat"]["mean"] > payload["config"]["threshold"])
        assert row["actual"] in ("helps", "hurts", "unclear")
    assert [r["gamma"] for r in rows] == pytest.approx([0.0, 1.0])
    assert payload["seconds"] > 0
