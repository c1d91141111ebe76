"""XDC fine-tuning (App. C Tables 3–4) on the evaluation engine: presets, SGD + step schedule, FC-only, epoch size,
and the base-LR selection on a split carved from train that never reads the test split."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import torch
from torch import nn

from xmodal.cli.main import main
from xmodal.data.dataset import DatasetIndex, ManifestRow, read_manifest
from xmodal.eval import finetune_run, finetune_select
from xmodal.eval.finetune import AVClassifier, FineTuner, step_factor
from xmodal.eval.finetune_config import PRESETS, finetune_preset
from xmodal.eval.finetune_run import epoch_size_steps, load_for_finetune
from xmodal.models import export_backbone
from xmodal.models.resnet import BasicBlock, ResNet
from xmodal.models.video_resnet import VideoResNet

GEOMETRY = {"clip_seconds": 2.0, "fps": 2.0, "frames": 4, "size": 32, "sample_rate": 16000, "audio_seconds": 2.0,
            "n_mels": 40, "hop_length": 320, "n_fft": 1024}
TINY = (16, 16, 32, 32)


def _video() -> VideoResNet:
    return VideoResNet("r2plus1d", (1, 1, 1, 1), widths=TINY)


def _audio() -> ResNet:
    return ResNet(BasicBlock, (1, 1, 1, 1), 1, 0, 2, widths=TINY)


@pytest.fixture(scope="module")
def exports(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    root = tmp_path_factory.mktemp("xdc_export")
    torch.manual_seed(0)
    meta = {"eval_geometry": GEOMETRY}
    return {"video": str(export_backbone(_video(), root / "video", metadata=meta)[0]),
            "audio": str(export_backbone(_audio(), root / "audio", metadata=meta)[0])}


@pytest.mark.parametrize(("task", "es", "modality"), [("ucf101", 106_000, "video"), ("hmdb51", 40_000, "video"),
                                                      ("esc50", 20_000, "audio")])
def test_presets_are_tables_3_and_4(task: str, es: int, modality: str) -> None:
    full, fc = PRESETS[f"xdc-{task}"], PRESETS[f"xdc-{task}-fc"]
    for cfg in (full, fc):
        assert (cfg.epoch_size, cfg.batch_size, cfg.warmup_epochs, cfg.step_epochs, cfg.epochs) == (es, 32, 2, 2, 8)
        assert (cfg.weight_decay, cfg.gamma, cfg.early_stop, cfg.optimizer) == (0.005, 0.01, False, "sgd")
        assert cfg.modalities == (modality,) and cfg.schedule == "step" and cfg.drop_path == 0.0
        assert cfg.layer_decay == 1.0 and {d[0] for d in cfg.departures} >= {"optimizer", "lr_selection"}
    assert full.lr_grid == (0.001, 0.002, 0.004, 0.006, 0.008, 0.01) and not full.freeze_backbones
    assert fc.lr_grid == (*full.lr_grid, 0.02, 0.04) and fc.freeze_backbones


def test_step_schedule_and_epoch_size() -> None:
    # 2 warm-up epochs of 10 steps, then ×0.01 every 2 epochs counted after the warm-up
    got = [step_factor(s, 20, 20.0, 0.01) for s in (0, 9, 19, 20, 39, 40, 60, 79)]
    assert got == pytest.approx([0.05, 0.5, 1.0, 1.0, 1.0, 0.01, 1e-4, 1e-4])
    cfg = finetune_preset("xdc-ucf101")
    steps, passes = epoch_size_steps(cfg, batches_per_pass=299)  # UCF101 split 1: 9,537 videos / 32
    assert steps == 26_500 and passes == 89  # 8 epochs × 106K clips / 32


def test_sgd_optimizer_and_fc_only_freezes_weights_and_bn() -> None:
    torch.manual_seed(0)
    cfg = finetune_preset("xdc-ucf101-fc", lr=0.04)
    model = AVClassifier({"video": _video()}, 3, head=cfg.head, freeze_backbones=cfg.freeze_backbones)
    module = FineTuner(model, cfg, 3)
    module.trainer = type("T", (), {"estimated_stepping_batches": 80, "max_epochs": 3})()  # type: ignore[assignment]
    conf = module.configure_optimizers()
    opt, factor = conf["optimizer"], conf["lr_scheduler"]["scheduler"].lr_lambdas[0]
    # 80 steps over the preset's 8 epochs (not the engine's passes): warm-up 20 steps, then ×0.01 every 20
    assert [factor(s) for s in (0, 19, 39, 40, 60)] == pytest.approx([0.05, 1.0, 1.0, 0.01, 1e-4])
    assert isinstance(opt, torch.optim.SGD) and opt.defaults["momentum"] == 0.9
    trained = {id(p) for g in opt.param_groups for p in g["params"]}
    assert trained == {id(p) for p in model.head.parameters()}
    bn = next(m for m in model.backbones.modules() if isinstance(m, nn.BatchNorm3d))
    before = {k: v.clone() for k, v in model.backbones.state_dict().items()}
    module.train()
    assert not bn.training and model.head.training
    module.loss(model({"video": torch.randn(4, 3, 4, 32, 32)}), module._targets(torch.tensor([0, 1, 2, 0]))).backward()
    opt.step()
    after = model.backbones.state_dict()
    assert all(torch.equal(before[k], after[k]) for k in before)  # weights and running stats untouched


def test_resnet_exports_refuse_drop_path(exports: dict[str, str]) -> None:
    assert load_for_finetune(exports["video"], 0.0).feature_dim == 32
    with pytest.raises(ValueError, match="no stochastic depth"):
        load_for_finetune(exports["audio"], 0.1)


def _index(rows: list[tuple[str, int, str]]) -> DatasetIndex:
    return DatasetIndex("t", [ManifestRow(path=f"{i}.mp4", labels=[y], split=s, id=i) for i, y, s in rows],
                        ["a", "b"])


def test_carved_validation_keeps_groups_together_and_drops_test() -> None:
    rows = [(f"v_A_g{g:02d}_c{c}", 0, "train") for g in range(1, 6) for c in range(3)]
    rows += [(f"v_B_g{g:02d}_c{c}", 1, "train") for g in range(1, 6) for c in range(3)]
    rows += [("v_A_g09_c1", 0, "test"), ("extra", 1, "val")]
    carved, record = finetune_select.carve_validation(_index(rows), 0.2, seed=3)
    val = [r.id for r in carved.rows if r.split == "test"]
    assert {r.split for r in carved.rows} == {"train", "test"} and len(carved.rows) == 30
    assert "v_A_g09_c1" not in {r.id for r in carved.rows} and record["n_val"] == len(val) == 6
    groups = {finetune_select.source_group(r) + str(r.labels) for r in carved.rows if r.split == "test"}
    assert len(groups) == 2  # one whole group (3 clips) per class
    again, _ = finetune_select.carve_validation(_index(rows), 0.2, seed=3)
    assert [r.split for r in again.rows] == [r.split for r in carved.rows]  # the seed fixes the carve
    assert finetune_select.source_group(ManifestRow("x", [0], "train", id="1-100032-A-0")) == "100032"


def test_lr_selection_never_reads_the_test_split(bench: dict[str, str], exports: dict[str, str],
                                                 monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Every loader built before the final run is checked: none may hold a row of the manifest's test split, and the
    final run (the only one that sees test) comes last, at the LR the validation scores chose."""
    index = read_manifest(bench["manifest"])
    test_files = {Path(r.path).name for r in index.split("test").rows}
    built: list[dict[str, Any]] = []
    real_build = finetune_run.build_loaders

    def spy(idx: DatasetIndex, cfg: Any, *args: Any, **kwargs: Any) -> Any:
        files = {s: {Path(r.path).name for r in idx.split(s).rows} for s in ("train", "test")}
        built.append({"lr": cfg.lr, **files})
        return real_build(idx, cfg, *args, **kwargs)

    monkeypatch.setattr(finetune_run, "build_loaders", spy)
    cfg = finetune_preset("xdc-ucf101", epoch_size=8, batch_size=4, epochs=1, warmup_epochs=0, test_clips=1)
    out = finetune_select.select_and_finetune({"video": exports["video"]}, bench["manifest"], cfg, (0.001, 0.01),
                                              val_fraction=0.3, val_seed=0, out_dir=tmp_path / "run")
    assert [b["lr"] for b in built[:2]] == [0.001, 0.01] and len(built) == 3
    for b in built[:2]:
        assert not (b["train"] | b["test"]) & test_files
    sel = out["lr_selection"]
    assert built[2]["test"] == test_files and built[2]["lr"] == sel["chosen_lr"]
    assert sel["chosen_lr"] == min(lr for lr, s in zip(sel["grid"], sel["val_scores"].values(), strict=True)
                                   if s == max(sel["val_scores"].values()))
    carved = read_manifest(sel["carve"]["manifest"])
    assert not {Path(r.path).name for r in carved.rows} & test_files


def test_cli_fc_only_end_to_end_with_lr_selection(bench: dict[str, str], exports: dict[str, str],
                                                  tmp_path: Path) -> None:
    out = tmp_path / "ft.json"
    assert main(["eval", "finetune", "--preset", "xdc-esc50-fc", "--backbone", exports["audio"], "--data",
                 bench["manifest"], "--lr-grid", "0.01,0.04", "--epoch-size", "12", "--epochs", "2", "--batch-size",
                 "4", "--test-clips", "2", "--val-fraction", "0.3", "--val-seed", "1", "--json", str(out)]) == 0
    doc = json.loads(out.read_text())
    row = doc["per_split"][0]
    card = doc["protocol"]
    assert row["lr_selection"]["chosen_lr"] in (0.01, 0.04) and row["lr_selection"]["carve"]["seed"] == 1
    assert card["hyperparameters"]["lr"] == row["lr_selection"]["chosen_lr"]
    assert row["steps"] == 6 and row["n_test"] == len(read_manifest(bench["manifest"]).split("test").rows)
    assert "training rows (seed 1" in card["selection_rule"] and "retrained on all" in card["selection_rule"]
    assert card["hyperparameters"]["freeze_backbones"] is True
