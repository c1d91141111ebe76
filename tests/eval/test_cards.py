"""Protocol cards list every departure from the paper table their preset is named after, and what the run flagged."""

import json
from pathlib import Path

import numpy as np
import pytest

from xmodal.cli.main import main
from xmodal.eval.features import FeatureSet, save_features
from xmodal.eval.protocol import Departure, ProtocolCard


def test_departure_api_is_machine_readable_and_one_line_each() -> None:
    card = ProtocolCard(protocol="svm", reference="XKD §A.5 linear SVM")
    card.depart("C_selection", "best over the sweep", "best test top-1", "on val").depart("C_selection", "p", "c", "o")
    card.depart("normalization", "silent", "none", "l2").warn("C on the edge")
    d = card.to_dict()
    assert d["departures"] == [{"key": "C_selection", "paper": "p", "official_code": "c", "ours": "o"},
                               {"key": "normalization", "paper": "silent", "official_code": "none", "ours": "l2"}]
    assert card.lines() == ["svm protocol after XKD §A.5 linear SVM", Departure("C_selection", "p", "c", "o").line(),
                            "departure normalization: ours = l2; paper = silent; official code = none",
                            "warning: C on the edge"]
    flagged = ProtocolCard(**{**card.__dict__, "warnings": []})
    assert flagged.config_hash() == card.config_hash()  # warnings are findings, not configuration


def _svm(tmp_path: Path, fs: FeatureSet, *extra: str) -> dict:
    path = save_features(tmp_path / "f.npz", fs)
    out = tmp_path / "out.json"
    assert main(["eval", "svm", "--features", str(path), "--costs", "0.01", "0.1", "1", "--json", str(out),
                 *extra]) == 0
    return json.loads(out.read_text())


def _keys(doc: dict) -> set[str]:
    return {d["key"] for d in doc["protocol"]["departures"]}


def test_svm_card_departures_follow_the_switches(tmp_path: Path, separable: FeatureSet,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    ours = _svm(tmp_path, separable, "--train-clips", "25", "--test-clips", "3")
    assert ours["protocol"]["reference"].startswith("XKD §A.5 linear SVM")
    assert {"C_selection", "clip_handling", "normalization", "train_augmentation"} <= _keys(ours)
    assert "clips_per_video" not in _keys(ours) and "C_grid" in _keys(ours)
    assert "departure C_selection: ours = C maximizing the val score" in capsys.readouterr().out
    official = _svm(tmp_path, separable, "--protocol", "official")
    assert not {"clip_handling", "normalization"} & _keys(official) and "clips_per_video" in _keys(official)
    assert official["protocol"]["normalization"] == "none" and official["protocol"]["hyperparameters"]["per_clip"]


def test_svm_card_warns_when_c_sits_on_the_grid_edge(tmp_path: Path, separable: FeatureSet,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    import xmodal.eval.svm as svm

    monkeypatch.setattr(svm, "_grid_scores", lambda tr, va, k, cfg, costs: [float(np.log10(c)) for c in costs])
    doc = _svm(tmp_path, separable, "--extend-grid", "1")  # the score keeps rising with C
    (warning,) = doc["protocol"]["warnings"]
    assert "chosen C = 10 is on the edge" in warning and doc["per_split"][0]["grid_searched"][-1] == 10.0


def test_linear_fsd50k_card(tmp_path: Path, separable: FeatureSet) -> None:
    hot = np.eye(4, dtype=np.float32)[separable.labels]
    hot[:, 3] = 0  # a class without positives: the mAP convention is part of the card
    path = save_features(tmp_path / "fsd.npz", FeatureSet(separable.features, hot, separable.ids, separable.split))
    out = tmp_path / "lin.json"
    base = ["eval", "linear", "--features", str(path), "--preset", "fsd50k", "--epochs", "2", "--json", str(out)]
    assert main(base) == 0
    doc = json.loads(out.read_text())
    assert {"normalization", "selection", "clip_handling", "mAP_empty_classes"} <= _keys(doc)
    zero = doc["mean"]
    assert main([*base, "--normalize", "none", "--clip-rows", "--map-empty-classes", "drop"]) == 0
    doc = json.loads(out.read_text())
    assert "normalization" not in _keys(doc)
    clip = next(d for d in doc["protocol"]["departures"] if d["key"] == "clip_handling")
    assert "reused every epoch" in clip["ours"]
    assert doc["mean"] > zero  # the empty class no longer counts as AP 0


def test_retrieval_card_says_zero_shot_or_projection(tmp_path: Path, separable: FeatureSet) -> None:
    a = save_features(tmp_path / "a.npz", separable)
    out = tmp_path / "r.json"
    assert main(["eval", "retrieval", "--audio", str(a), "--video", str(a), "--json", str(out)]) == 0
    (training,) = [d for d in json.loads(out.read_text())["protocol"]["departures"] if d["key"] == "training"]
    assert training["ours"].startswith("zero-shot") and "fine-tuned on the target" in training["paper"]
