"""``xmodal pretrain``: the dry-run report (parameter and token counts) and the exported backbones, which load
with ``xmodal.models.load_backbone`` and give features of the configured width."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
import torch

from xmodal.cli.main import main
from xmodal.data.synth.config import SynthConfig
from xmodal.data.synth.generate import generate
from xmodal.models import from_pretrained, load_backbone

DIM = 32
TINY = [
    f"model.video.dim={DIM}", "model.video.depth=1", "model.video.heads=2",
    f"model.audio.dim={DIM}", "model.audio.depth=1", "model.audio.heads=2",
    "model.decoder_dim=32", "model.decoder_depth=1", "model.decoder_heads=2",
    "model.proj_hidden=32", "model.proj_bottleneck=16", "model.proj_out=16",
    "data.clip_seconds=2.0", "data.views.fps=8.0", "data.views.video_global.frames=8",
    "data.views.video_local.frames=4", "data.views.video_local.size=16", "data.views.audio_global.seconds=1.7",
    "trainer.batch_size=4", "trainer.max_steps=1", "trainer.progress=none", "trainer.accelerator=cpu",
    "trainer.devices=1",
]


@pytest.fixture(scope="module")
def manifest(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return generate(SynthConfig.demo(clips=12, duration=2.0, fps=8), tmp_path_factory.mktemp("synth"), workers=1)


def _args(manifest: Path, out: Path, *extra: str) -> list[str]:
    return ["pretrain", "--config", "xkd/synthetic_tiny", *TINY, f"data.source={manifest}", f"out_dir={out}", *extra]


def test_dry_run_reports_parameters_and_tokens(tmp_path: Path, manifest: Path) -> None:
    report_path = tmp_path / "dry.json"
    assert main([*_args(manifest, tmp_path / "run"), "--dry-run", "--json", str(report_path)]) == 0
    report = json.loads(report_path.read_text())
    assert not (tmp_path / "run").exists()  # a dry run trains nothing and writes no run folder
    params = report["parameters"]
    assert set(params) >= {"student.video", "student.audio", "teacher.video", "teacher.audio", "decoders.video",
                           "decoders.audio", "head.video", "head.audio"}
    assert params["student.video"] == params["teacher.video"] > 0
    assert report["parameters_total"] == sum(params.values())
    assert report["parameters_trainable"] < report["parameters_total"]  # EMA teachers are not trained
    # Views: video 8×32² and 4×16² with 2×8×8 cuboids; audio 1.7 s / 1.12 s log-mel (hop 572: 48 / 32 frames)
    # with 8×16 patches.
    expected = {"video_global": [4, 4, 4], "video_local": [2, 2, 2], "audio_global": [10, 3],
                "audio_local": [10, 2]}
    for view, grid in expected.items():
        assert report["tokens"][view]["grid"] == grid
        assert report["tokens"][view]["tokens"] == math.prod(grid)
    assert report["tokens"]["video_global"]["visible_when_masked"] == 16  # 64 tokens, 75% masked
    assert report["tokens"]["audio_global"]["visible_when_masked"] == 6  # 30 tokens, 80% masked
    assert report["dataset"]["clips"] > 0 and report["config"]["loss"]["objective"] == "xkd"


def test_dry_run_baseline_has_no_teacher(tmp_path: Path, manifest: Path) -> None:
    report_path = tmp_path / "dry.json"
    assert main([*_args(manifest, tmp_path / "run", "loss.objective=vmae"), "--dry-run", "--json",
                 str(report_path)]) == 0
    report = json.loads(report_path.read_text())
    assert set(report["parameters"]) == {"student.video", "decoders.video"}
    assert set(report["tokens"]) == {"video_global", "video_local"}


def test_exports_load_and_give_features(tmp_path: Path, manifest: Path) -> None:
    summary = tmp_path / "summary.json"
    assert main([*_args(manifest, tmp_path / "run"), "--json", str(summary)]) == 0
    result = json.loads(summary.read_text())
    assert result["steps"] == 1 and result["resumed_from"] is None
    inputs = {"video": torch.randn(2, 3, 8, 32, 32), "audio": torch.randn(2, 1, 80, 48)}
    for kind in ("student", "teacher"):
        for mod, x in inputs.items():
            path = Path(result["exports"][f"{kind}_{mod}"])
            assert path.is_file() and path.with_suffix(".json").is_file()
            backbone = load_backbone(path)
            with torch.no_grad():
                feats = backbone.features(x)
            assert feats.shape == (2, DIM) and torch.isfinite(feats).all()
    student = load_backbone(result["exports"]["student_video"])
    teacher = load_backbone(result["exports"]["teacher_video"])
    assert not torch.equal(student.state_dict()["pos_embed"], teacher.state_dict()["pos_embed"])  # EMA lags
    # The end of pretraining also writes each backbone as a Hugging Face-style folder with a model card.
    folder = Path(result["hf_exports"]["student_video"])
    assert {p.name for p in folder.iterdir()} == {"model.safetensors", "config.json", "README.md"}
    with torch.no_grad():
        assert torch.equal(from_pretrained(folder).features(inputs["video"]), student.features(inputs["video"]))


def test_online_monitors_log_validation_accuracy_per_modality(tmp_path: Path, manifest: Path) -> None:
    """Labelled data with a held-out split (this 12-clip fixture has no val clip, so its test split stands in):
    the detached linear head and the k-NN report per epoch, per modality."""
    out = tmp_path / "run"
    assert main([*_args(manifest, out, "trainer.max_steps=-1", "trainer.max_epochs=1", "monitor.online=on",
                        "monitor.split=test", "monitor.k=3")]) == 0
    lines = (out / "csv" / "metrics.csv").read_text().splitlines()
    header = lines[0].split(",")
    for mod in ("video", "audio"):
        for kind in ("linear", "knn"):
            column = header.index(f"monitor/{mod}_{kind}_acc")
            values = [float(row.split(",")[column]) for row in lines[1:] if row.split(",")[column]]
            assert len(values) == 1 and 0.0 <= values[0] <= 1.0
