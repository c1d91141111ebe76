"""``xmodal data learnability`` on tiny benchmarks: every row of the table, loose sanity bounds, any manifest
(also one without a test split), and one-line errors. Sizes are tiny: numbers are not asserted beyond bounds."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest

from xmodal.analysis.learnability.inputs import InputConfig, assign_splits
from xmodal.cli.main import main
from xmodal.data.dataset import read_manifest
from xmodal.data.synth.generate import generate
from xmodal.data.synth.presets import preset_config


@pytest.fixture(scope="module")
def bench(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """40 demo clips of 1 s: pitch classes, trivially heard."""
    out = tmp_path_factory.mktemp("learn")
    return generate(preset_config("demo", clips=40, duration=1.0, seed=2), out / "demo", workers=1)


def test_table_has_every_probe_for_both_backbones(bench: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = bench.parent / "table.json"
    code = main(["data", "learnability", str(bench.parent), "--clip-seconds", "1", "--seeds", "2", "--epochs", "1",
                 "--threads", "1", "--out", str(out)])
    assert code == 0
    result = json.loads(out.read_text())
    found = {(r["probe"], r["modality"], r["backbone"]): r for r in result["rows"]}
    for backbone in ("vit", "cnn"):
        for modality in ("video", "audio", "audio+video"):
            assert len(found["supervised", modality, backbone]["values"]) == 2
        for modality in ("video", "audio"):
            assert ("random_linear", modality, backbone) in found
    assert {("handcrafted_linear", "video", "linear"), ("handcrafted_linear", "audio", "linear")} <= set(found)
    assert all(0.0 <= v <= 100.0 for r in result["rows"] for v in r["values"])
    assert result["meta"]["gamma"] == 1.0 and result["clips"]["test"] == 8
    assert found["chance", "-", "-"]["mean"] == pytest.approx(25.0)
    # loose sanity: the demo's pitch is read by a linear model on the pooled spectrum, far above chance
    assert found["handcrafted_linear", "audio", "linear"]["mean"] >= 75.0
    table = out.with_suffix(".md").read_text()
    assert "| supervised | audio+video |" in table and "tiny ViT" in table and "small CNN" in table
    assert table in capsys.readouterr().out


def test_any_manifest_without_a_test_split_gets_a_stratified_hold_out(bench: Path, tmp_path: Path) -> None:
    rows = list(csv.DictReader(bench.open()))
    for row in rows:
        row["path"] = str(bench.parent / row["path"])
        row["split"] = "train"
    plain = tmp_path / "plain.csv"
    with plain.open("w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    splits = assign_splits(read_manifest(plain), InputConfig(test_fraction=0.25))
    labels = np.array([r["label"] for r in rows])
    assert sorted(set(splits)) == ["test", "train"]
    assert all(np.sum((labels == c) & (splits == "test")) == round(0.25 * np.sum(labels == c)) for c in set(labels))
    code = main(["data", "learnability", str(plain), "--clip-seconds", "1", "--seeds", "1", "--epochs", "1",
                 "--backbones", "cnn", "--modalities", "audio", "--threads", "1", "--out", str(tmp_path / "t.json")])
    assert code == 0
    result = json.loads((tmp_path / "t.json").read_text())
    assert {r["modality"] for r in result["rows"]} == {"audio", "-"} and result["clips"]["test"] == 8  # 20 %


def test_bad_input_is_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["data", "learnability", str(tmp_path / "missing.csv")]) == 2
    assert main(["data", "learnability", str(tmp_path), "--backbones", "resnet"]) == 2
    err = capsys.readouterr().err
    assert "missing.csv" in err and "resnet" in err
