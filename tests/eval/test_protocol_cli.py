import hashlib
import json
from pathlib import Path

import numpy as np
import pytest

from xmodal.cli.main import main
from xmodal.eval.features import FeatureSet, save_features
from xmodal.eval.protocol import FeatureSpec, ProtocolCard, file_sha256, result_payload


def test_card_contents_and_payload(tmp_path: Path) -> None:
    ckpt = tmp_path / "backbone.safetensors"
    ckpt.write_bytes(b"weights")
    card = ProtocolCard(protocol="svm", features=FeatureSpec(modality="audio", test_clips_per_video=3),
                        normalization="l2", grid={"C": [1e-3, 1.0]}, selection_rule="val", seeds=[0, 1],
                        dataset="esc50", split_files=["meta/esc50.csv"], checkpoint=str(ckpt),
                        checkpoint_sha256=file_sha256(ckpt))
    d = card.to_dict()
    assert d["checkpoint_sha256"] == hashlib.sha256(b"weights").hexdigest()
    assert d["features"]["pooling"] == "mean of patch tokens" and d["features"]["cls_token"] is False
    assert d["features"]["test_clips_per_video"] == 3 and d["grid"] == {"C": [1e-3, 1.0]}
    assert len(d["config_hash"]) == 16 and d["code_version"]
    other = ProtocolCard(**{**card.__dict__, "selection_rule": "test"})
    assert other.config_hash() != card.config_hash()
    payload = result_payload(card, "top1", [{"value": 0.5, "predictions": np.zeros(2)}, {"value": 0.7}], 1.5)
    assert payload["mean"] == pytest.approx(0.6) and payload["std"] == pytest.approx(0.1)
    assert set(payload) == {"protocol", "metric", "mean", "std", "per_split", "runtime_s"}
    assert "predictions" not in payload["per_split"][0]
    json.dumps(payload, default=str)


def _write(tmp_path: Path, name: str, fs: FeatureSet) -> str:
    return str(save_features(tmp_path / name, fs))


@pytest.mark.parametrize("verb", ["svm", "linear", "knn"])
def test_cli_frozen_verbs_write_json_and_png(tmp_path: Path, separable: FeatureSet, verb: str) -> None:
    f1 = _write(tmp_path, "split1.npz", separable)
    f2 = _write(tmp_path, "split2.safetensors", separable)
    out = tmp_path / f"{verb}.json"
    extra = {"svm": ["--costs", "0.01", "1"], "linear": ["--epochs", "20", "--lr", "0.01", "--seeds", "0", "1"],
             "knn": ["--k", "10", "50"]}[verb]
    rc = main(["eval", verb, "--features", f1, f2, "--json", str(out), "--png", str(tmp_path / "png"),
               "--dataset", "toy", "--test-clips", "3", *extra])
    assert rc == 0
    doc = json.loads(out.read_text())
    assert doc["metric"] == "top1" and doc["mean"] >= 0.99 and doc["std"] == pytest.approx(0, abs=0.02)
    assert len(doc["per_split"]) == (4 if verb == "linear" else 2)
    assert doc["protocol"]["protocol"] == verb and doc["protocol"]["dataset"] == "toy"
    assert doc["protocol"]["features"]["test_clips_per_video"] == 3
    assert (tmp_path / "png" / f"{verb}_pca.png").stat().st_size > 1000
    assert (tmp_path / "png" / f"{verb}_confusion.png").stat().st_size > 1000
    if verb == "svm":
        assert doc["protocol"]["grid"] == {"C": [0.01, 1.0]} and "never" not in doc["protocol"]["selection_rule"]
        assert doc["per_split"][0]["chosen_C"] in (0.01, 1.0)


def test_cli_svm_folds(tmp_path: Path, separable: FeatureSet) -> None:
    fs = FeatureSet(separable.features, separable.labels, separable.ids, np.full(len(separable), "train"),
                    np.arange(len(separable)) % 3)
    out = tmp_path / "esc.json"
    assert main(["eval", "svm", "--features", _write(tmp_path, "esc.npz", fs), "--folds", "--costs", "0.1",
                 "--json", str(out), "--png", str(tmp_path / "png")]) == 0
    doc = json.loads(out.read_text())
    assert len(doc["per_split"]) == 3 and doc["mean"] >= 0.99


def test_cli_fusion_and_retrieval(tmp_path: Path, separable: FeatureSet) -> None:
    a = _write(tmp_path, "a.npz", separable)
    v = _write(tmp_path, "v.npz", FeatureSet(separable.features * 2 + 0.01, separable.labels, separable.ids,
                                             separable.split))
    out = tmp_path / "fusion.json"
    assert main(["eval", "fusion", "--audio", a, "--video", v, "--costs", "0.1", "--json", str(out)]) == 0
    assert json.loads(out.read_text())["mean"] >= 0.99
    out = tmp_path / "retrieval.json"
    assert main(["eval", "retrieval", "--audio", a, "--video", v, "--json", str(out)]) == 0
    doc = json.loads(out.read_text())
    assert doc["metric"] == "a2v R@1" and doc["per_split"][0]["v2a"]["R@10"] == 1.0


def test_cli_finetune_preset(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["eval", "finetune", "--preset", "list"]) == 0
    assert "xkd-hmdb51" in capsys.readouterr().out
    out = tmp_path / "p.json"
    assert main(["eval", "finetune", "--preset", "xkd-hmdb51", "--json", str(out)]) == 0
    doc = json.loads(out.read_text())
    assert doc["layer_decay"] == 0.55 and doc["mixup_alpha"] == 1.0 and doc["lr"] == 1e-4
