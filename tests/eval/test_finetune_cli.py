"""``xmodal eval finetune`` trains exported backbones for real on a tiny generated benchmark."""

import json
from pathlib import Path

import pytest

from xmodal.cli.main import main
from xmodal.data.mix import MixConfig
from xmodal.eval.finetune_config import finetune_preset
from xmodal.eval.finetune_data import BatchMix
from xmodal.eval.finetune_recipe import RecipeTrainTransform
from xmodal.eval.geometry import EvalGeometry


def test_finetune_cli_video_preset_with_mixing_and_multiclip_test(bench: dict[str, str], tmp_path: Path) -> None:
    out = tmp_path / "ft.json"
    rc = main(["eval", "finetune", "--preset", "xkd-ucf101", "--backbone", bench["video"], "--data", bench["broken"],
               "--epochs", "1", "--batch-size", "4", "--test-clips", "2", "--weighted-sampling", "--video-size", "32",
               "--json", str(out)])
    assert rc == 0
    doc = json.loads(out.read_text())
    card = doc["protocol"]
    assert doc["metric"] == "top1" and 0.0 <= doc["mean"] <= 1.0
    assert card["protocol"] == "finetune" and card["features"]["test_clips_per_video"] == 2
    hp = card["hyperparameters"]
    assert hp["preset"] == "xkd-ucf101" and hp["epochs"] == 1 and hp["weighted_sampling"] is True
    assert hp["mixup_alpha"] == 0.6 and hp["cutmix_alpha"] == 0.5 and hp["label_smoothing"] == 0.1
    ext = card["features"]["extraction"]
    assert ext["augmentation"]["randaug"] == "rand-m9-n4-mstd0.05-inc1" and ext["geometry"]["frames"] == 8
    assert ext["geometry"]["size"] == 32 and ext["augmentation"]["spatial_crops"] == 3  # preset: 224
    assert ext["skipped"]["test"]["count"] == 1 and doc["per_split"][0]["n_test"] == 9
    assert doc["per_split"][0]["steps"] == 3


def test_finetune_cli_audio_video_head(bench: dict[str, str], tmp_path: Path) -> None:
    out = tmp_path / "av.json"
    assert main(["eval", "finetune", "--preset", "mavil-as20k-av", "--audio-backbone", bench["audio"],
                 "--video-backbone", bench["video"], "--data", bench["manifest"], "--epochs", "1", "--batch-size", "6",
                 "--test-clips", "2", "--video-size", "32", "--json", str(out)]) == 0
    doc = json.loads(out.read_text())
    assert doc["protocol"]["features"]["modality"] == "audio+video" and doc["metric"] == "top1"
    hp = doc["protocol"]["hyperparameters"]
    assert hp["loss"] == "bce" and hp["head"] == "mavil-fusion" and hp["ft_mask_video"] == [0.2, 0.2]


def test_finetune_cli_needs_the_presets_backbones(bench: dict[str, str], capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["eval", "finetune", "--preset", "mavil-as20k-av", "--backbone", bench["video"],
                 "--data", bench["manifest"]]) == 2
    assert "audio" in capsys.readouterr().err


def test_train_transform_is_seeded_and_augments() -> None:
    import torch

    geom = EvalGeometry(fps=4.0, frames=4, size=16)
    t = RecipeTrainTransform(geom, finetune_preset("xkd-ucf101", volume_jitter=0.2, specaug_time_freq=(20, 10)))
    raw = {"video": torch.randint(0, 255, (16, 24, 24, 3), dtype=torch.uint8), "fps": 4.0,
           "audio": torch.randn(64000) * 0.1, "sample_rate": 16000}
    a, b, c = t({**raw, "seed": 1}), t({**raw, "seed": 1}), t({**raw, "seed": 2})
    assert a["video"].shape == (3, 4, 16, 16) and a["audio"].shape == (1, 80, 448)
    assert torch.equal(a["video"], b["video"]) and not torch.equal(a["video"], c["video"])
    assert torch.equal(a["audio"], b["audio"]) and not torch.equal(a["audio"], c["audio"])


def test_batch_mix_uses_one_partner_and_lambda_for_both_modalities() -> None:
    import torch

    mix = BatchMix(MixConfig(mixup_alpha=1.0, cutmix_alpha=1.0), seed=0)
    video = torch.arange(4.0).view(4, 1, 1, 1, 1).expand(4, 3, 2, 4, 4).clone()
    audio = torch.arange(4.0).view(4, 1, 1, 1).expand(4, 1, 8, 8).clone()
    targets = torch.eye(4)
    out, mixed = mix({"video": video, "audio": audio}, targets)
    # mixup only (a cutmix box cannot keep λ equal across frames and spectrograms): both inputs equal the
    # targets' expected label value, sample by sample
    expected = mixed @ torch.arange(4.0)
    assert torch.allclose(out["video"][:, 0, 0, 0, 0], expected) and torch.allclose(out["audio"][:, 0, 0, 0], expected)


def test_finetune_cli_audio_video_modality_uses_both_backbones(bench: dict[str, str], tmp_path: Path) -> None:
    out, run = tmp_path / "av.json", tmp_path / "run"
    assert main(["eval", "finetune", "--preset", "xkd-ucf101", "--modality", "audio+video", "--audio-backbone",
                 bench["audio"], "--video-backbone", bench["video"], "--data", bench["manifest"], "--epochs", "1",
                 "--batch-size", "6", "--test-clips", "2", "--progress", "none", "--out", str(run),
                 "--json", str(out)]) == 0
    doc = json.loads(out.read_text())
    ext = doc["protocol"]["features"]["extraction"]
    assert doc["protocol"]["features"]["modality"] == "audio+video"
    assert set(ext["backbones"]) == {"audio", "video"} and ext["out_dir"] == str(run)
    assert ext["geometry"]["frames"] == 8 and ext["geometry"]["n_mels"] == 80  # each from its own export
    state = __import__("torch").load(run / "checkpoints" / "last.ckpt", weights_only=True)["state_dict"]
    assert any(k.startswith("model.backbones.audio.") for k in state)
    assert any(k.startswith("model.backbones.video.") for k in state)
    assert state["model.head.1.weight"].shape[1] == 64  # 32 (audio) + 32 (video) pooled features


@pytest.mark.parametrize("flags", [["--backbone", "V"], ["--video-backbone", "V"], ["--audio-backbone", "A"]])
def test_finetune_cli_audio_video_with_one_backbone_is_one_line(
        flags: list[str], bench: dict[str, str], capsys: pytest.CaptureFixture[str]) -> None:
    flags = [bench["video"] if f == "V" else bench["audio"] if f == "A" else f for f in flags]
    assert main(["eval", "finetune", "--preset", "xkd-ucf101", "--modality", "audio+video", *flags,
                 "--data", bench["manifest"]]) == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and "--audio-backbone" in err and "--video-backbone" in err


def test_finetune_cli_official_variant_records_its_departures(tmp_path: Path) -> None:
    out = tmp_path / "preset.json"
    assert main(["eval", "finetune", "--preset", "xkd-hmdb51", "--variant", "official", "--json", str(out)]) == 0
    doc = json.loads(out.read_text())
    assert doc["layer_decay"] == 0.75 and doc["randaug"] == "rand-m7-n4-mstd0.5-inc1"
    assert ["layer_decay", "0.55", "0.75", "0.75 (variant official)"] in doc["departures"]
    paper = tmp_path / "paper.json"
    assert main(["eval", "finetune", "--preset", "xkd-hmdb51", "--json", str(paper)]) == 0
    assert json.loads(paper.read_text())["layer_decay"] == 0.55


def test_finetune_cli_resumes_its_out_dir_and_refuses_another_config(
        bench: dict[str, str], tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    run = tmp_path / "run"
    base = ["eval", "finetune", "--preset", "xkd-ucf101", "--backbone", bench["video"], "--data", bench["manifest"],
            "--epochs", "2", "--batch-size", "6", "--test-clips", "1", "--progress", "none", "--out", str(run)]
    assert main([*base, "--max-steps", "2", "--json", str(tmp_path / "a.json")]) == 0  # stops after epoch 0
    doc = json.loads((tmp_path / "a.json").read_text())
    first = doc["per_split"][0]
    assert doc["protocol"]["reference"] == "xkd Table S6"  # the preset's departures reach the card
    assert "head_init" in {d["key"] for d in doc["protocol"]["departures"]}
    assert first["steps"] == 2 and first["resumed_from"] is None
    assert main([*base, "--json", str(tmp_path / "b.json")]) == 0
    second = json.loads((tmp_path / "b.json").read_text())["per_split"][0]
    assert second["resumed_from"] == str(run / "checkpoints" / "last.ckpt") and second["steps"] == 4
    capsys.readouterr()
    assert main([*base, "--lr", "0.1"]) == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and "finetune.lr" in err and "resume" in err
