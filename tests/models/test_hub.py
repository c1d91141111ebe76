"""Hugging Face-style model folders: save / load in one call, model cards from a run, ``xmodal export``."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
import yaml

from xmodal.cli.main import main
from xmodal.models import export_backbone, export_run, from_pretrained, save_pretrained
from xmodal.models.vit import vit_tiny


def _vit() -> torch.nn.Module:
    torch.manual_seed(0)
    return vit_tiny("video", (2, 2, 2), patch=(2, 8, 8), dim=32, depth=1, heads=2).eval()


def _fake_run(tmp_path: Path) -> Path:
    run = tmp_path / "run"
    export_backbone(_vit(), run / "export" / "student_video", metadata={"config_hash": "abc123",
                                                                      "eval_geometry": {"fps": 8.0, "frames": 4}})
    config = {"method": "xkd", "loss": {"objective": "xkd"}, "data": {"source": "bench/manifest.csv", "split": "train"},
              "optim": {"optimizer": "adamw", "lr": 1.5e-4, "lr_scaling": "linear", "weight_decay": 0.05,
                        "warmup_epochs": 40},
              "trainer": {"max_epochs": 800, "batch_size": 64, "seed": 0, "precision": "16-mixed"}}
    (run / "config.yaml").write_text(yaml.safe_dump({"config": config, "config_hash": "abc123"}))
    return run


def test_save_pretrained_round_trip_in_one_call(tmp_path: Path) -> None:
    model = _vit()
    folder = save_pretrained(model, tmp_path / "m", card="# card\n")
    assert {p.name for p in folder.iterdir()} == {"model.safetensors", "config.json", "README.md"}
    doc = json.loads((folder / "config.json").read_text())
    assert doc["class"] == "VisionTransformer" and doc["weights"] == "model.safetensors"
    loaded = from_pretrained(folder)
    x = torch.randn(2, 3, 4, 16, 16)
    with torch.no_grad():
        assert torch.equal(loaded.features(x), model.features(x))


def test_export_run_writes_folders_with_model_cards(tmp_path: Path) -> None:
    run = _fake_run(tmp_path)
    probe = {"metric": "top1", "mean": 0.612, "std": 0.01, "protocol": {"probe": "linear SVM, C chosen on val"}}
    written = export_run(run, tmp_path / "hf", [probe])
    folder = Path(written["student_video"])
    card = (folder / "README.md").read_text()
    for fact in ("license: apache-2.0", "XKD (masked reconstruction", "bench/manifest.csv", "epochs: 800",
                 "lr 0.00015", "abc123", "Pritam Sarkar and Ali Etemad", "AAAI 2024", "arXiv:2211.13929",
                 "**top1**: 0.612 ± 0.01", "linear SVM, C chosen on val", '"frames": 4'):
        assert fact in card, fact
    assert (folder / "model.safetensors").read_bytes() == (run / "export" / "student_video.safetensors").read_bytes()
    x = torch.randn(1, 3, 4, 16, 16)
    with torch.no_grad():
        assert torch.equal(from_pretrained(folder).features(x), _vit().features(x))
    bare = export_run(run, tmp_path / "hf2")  # no probe: the card says so instead of inventing a number
    assert "No offline probe was run" in (Path(bare["student_video"]) / "README.md").read_text()
    (run / "csv").mkdir()  # a run with online monitors: their last values go into the card
    (run / "csv" / "metrics.csv").write_text("epoch,step,monitor/video_knn_acc,monitor/video_linear_acc,train/loss\n"
                                             "0,4,0.5,0.25,\n0,4,,,1.0\n1,9,0.75,0.5,\n")
    card = (Path(export_run(run, tmp_path / "hf3")["student_video"]) / "README.md").read_text()
    assert "**online weighted 20-NN** (val top-1 after epoch 2): 75.0 %" in card
    assert "**online linear head** (val top-1 after epoch 2): 50.0 %" in card


def test_export_cli(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    run = _fake_run(tmp_path)
    assert main(["export", str(run)]) == 0
    assert (run / "hf" / "student_video" / "config.json").is_file()
    capsys.readouterr()
    assert main(["export", str(tmp_path / "nothing"), "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "no backbone exports" in err[0]
    with pytest.raises(FileNotFoundError, match=r"no config\.json"):
        from_pretrained(tmp_path / "o")
