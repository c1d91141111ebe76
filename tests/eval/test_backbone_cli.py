"""Every eval verb straight from exported backbones on a tiny generated benchmark (synthetic MP4s + manifest)."""

import json
from pathlib import Path

import pytest

from xmodal.cli.main import main
from xmodal.data.features import LogMelConfig
from xmodal.eval.geometry import resolve_geometry
from xmodal.models import export_backbone
from xmodal.models.vit import vit_tiny


def _run(args: list[str], out: Path) -> dict:
    assert main([*args, "--json", str(out)]) == 0
    return json.loads(out.read_text())


def test_geometry_comes_from_the_backbone_grid(bench: dict[str, str]) -> None:
    video, src = resolve_geometry(bench["video"], "video")
    assert (video.frames, video.size, video.fps) == (8, 32, 2.0) and src["frames"] == "backbone grid"
    audio, src = resolve_geometry(bench["audio"], "audio")
    assert (audio.n_mels, audio.hop_length) == (80, 572) and src["hop_length"] == "backbone grid"
    assert audio.token_grid("audio", [4, 16]) == [20, 7] and video.token_grid("video", [2, 8, 8]) == [4, 4, 4]
    assert src["sample_rate"].startswith("paper default")


def test_geometry_stored_with_the_export_wins_and_flags_may_not_contradict(tmp_path: Path) -> None:
    model = vit_tiny("video", grid=(4, 4, 4), patch=(2, 8, 8), dim=32, depth=1, heads=2)
    path, _ = export_backbone(model, tmp_path / "v", metadata={"eval_geometry": {"fps": 4.0, "clip_seconds": 2.0}})
    geom, src = resolve_geometry(path, "video", {"size": 32})
    assert (geom.fps, geom.clip_seconds, geom.frames) == (4.0, 2.0, 8)
    assert src["fps"] == "export metadata" and src["size"] == "flag" and src["frames"] == "backbone grid"
    with pytest.raises(ValueError, match="contradict"):
        resolve_geometry(path, "video", {"fps": 8.0})


def test_svm_from_backbone_reports_geometry_clips_cache_and_skips(bench: dict[str, str], tmp_path: Path) -> None:
    args = ["eval", "svm", "--backbone", bench["video"], "--data", bench["broken"], "--train-clips", "2",
            "--test-clips", "2", "--extract-batch-size", "1", "--cache", str(tmp_path / "cache"), "--costs", "0.1", "1"]
    doc = _run(args, tmp_path / "svm.json")
    ext = doc["protocol"]["features"]["extraction"]
    assert ext["geometry"]["frames"] == 8 and ext["geometry"]["size"] == 32
    assert ext["splits"]["test"]["skipped_clips"] == 1 and ext["skipped_clips"] == 1
    assert ext["splits"]["test"]["skipped_files"][0].endswith("broken.mp4")
    n_test = ext["splits"]["test"]["videos"]
    assert doc["per_split"][0]["n_test"] == n_test == 8 and not ext["splits"]["train"]["from_cache"]
    assert doc["protocol"]["features"]["train_clips_per_video"] == 2
    assert doc["protocol"]["checkpoint_sha256"] == ext["backbone_sha256"]
    again = _run(args, tmp_path / "svm2.json")
    ext2 = again["protocol"]["features"]["extraction"]
    assert all(s["from_cache"] for s in ext2["splits"].values()) and ext2["skipped_clips"] == 1
    assert again["mean"] == doc["mean"]


def test_official_svm_protocol_keeps_every_clip_a_row(bench: dict[str, str], tmp_path: Path) -> None:
    doc = _run(["eval", "svm", "--backbone", bench["video"], "--data", bench["manifest"], "--protocol", "official",
                "--train-clips", "3", "--test-clips", "2", "--costs", "0.1", "1"], tmp_path / "svm.json")
    splits = doc["protocol"]["features"]["extraction"]["splits"]
    assert splits["train"]["rows"] == 3 * splits["train"]["videos"]
    assert splits["test"]["rows"] == 2 * splits["test"]["videos"]
    res = doc["per_split"][0]
    fit_videos = splits["train"]["videos"] + splits.get("val", {"videos": 0})["videos"]
    assert res["n_train_videos"] == fit_videos and res["n_test"] == splits["test"]["videos"]
    assert res["n_train"] == 3 * splits["train"]["videos"] + 2 * splits.get("val", {"videos": 0})["videos"]
    assert "every clip its own row" in doc["protocol"]["features"]["clip_aggregation"]
    assert "LinearEvalAugConfig" in doc["protocol"]["features"]["extraction"]["train_augmentation"]
    assert "train_augmentation" not in {d["key"] for d in doc["protocol"]["departures"]}


@pytest.mark.parametrize("verb", ["linear", "knn"])
def test_probe_verbs_from_backbone(bench: dict[str, str], tmp_path: Path, verb: str) -> None:
    extra = {"linear": ["--epochs", "2"], "knn": ["--k", "3"]}[verb]
    doc = _run(["eval", verb, "--backbone", bench["audio"], "--modality", "audio", "--data", bench["manifest"],
                "--train-clips", "1", "--test-clips", "1", "--png", str(tmp_path), *extra], tmp_path / "o.json")
    assert 0.0 <= doc["mean"] <= 1.0 and doc["protocol"]["features"]["extraction"]["geometry"]["hop_length"] == 572
    assert (tmp_path / f"{verb}_pca.png").stat().st_size > 1000


@pytest.mark.parametrize("verb", ["fusion", "retrieval"])
def test_pair_verbs_from_two_backbones(bench: dict[str, str], tmp_path: Path, verb: str) -> None:
    doc = _run(["eval", verb, "--audio-backbone", bench["audio"], "--video-backbone", bench["video"],
                "--data", bench["manifest"], "--train-clips", "1", "--test-clips", "1"], tmp_path / "o.json")
    ext = doc["protocol"]["features"]["extraction"]
    assert set(ext) == {"audio", "video", "skipped_clips"} and ext["skipped_clips"] == 0
    assert doc["protocol"]["features"]["modality"] == "audio+video"
    assert 0.0 <= doc["mean"] <= 1.0


def test_backbone_needs_data(bench: dict[str, str], capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["eval", "knn", "--backbone", bench["video"]]) == 2
    assert "--data" in capsys.readouterr().err


def test_geometry_from_the_pretraining_config_next_to_the_export(tmp_path: Path) -> None:
    model = vit_tiny("audio", grid=(10, 7), patch=(8, 16), dim=32, depth=1, heads=2)
    path, _ = export_backbone(model, tmp_path / "export" / "student_audio")
    (tmp_path / "config.yaml").write_text(
        "config:\n  data:\n    clip_seconds: 4.0\n    views:\n      fps: 4.0\n"
        "      logmel: {hop_length: 572, n_mels: 80, n_fft: 1024, mean: -4.81, std: 2.68}\n")
    geom, src = resolve_geometry(path, "audio")
    assert (geom.logmel_mean, geom.logmel_std, geom.hop_length, geom.n_mels) == (-4.81, 2.68, 572, 80)
    assert src["logmel_mean"].startswith("pretraining config") and src["sample_rate"].startswith("paper")
    # a config written before the mel_norm switch used the legacy front-end (HTK, no area norm, eps 1e-6)
    assert (geom.mel_scale, geom.mel_norm, geom.log_eps) == ("htk", "none", 1e-6)
    assert geom.eval_config().frontend == LogMelConfig(hop_length=572, mean=-4.81, std=2.68, mel_scale="htk",
                                                       mel_norm="none", log_eps=1e-6)
    (tmp_path / "config.yaml").write_text(
        "config:\n  data:\n    views:\n      logmel: {hop_length: 572, mel_scale: slaney, mel_norm: slaney,"
        " log_eps: 1.1920929e-07, mean: -5.3688107, std: 4.410007}\n")
    geom, _ = resolve_geometry(path, "audio")
    official = ("slaney", "slaney", 1.1920929e-07, 4.410007)
    assert (geom.mel_scale, geom.mel_norm, geom.log_eps, geom.logmel_std) == official
