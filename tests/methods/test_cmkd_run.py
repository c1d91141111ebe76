import csv
from pathlib import Path

import numpy as np
import pytest
import torch

from xmodal.config import ConfigError
from xmodal.data.synth import SynthConfig, generate
from xmodal.methods import cmkd_run
from xmodal.methods.cmkd_data import DistillDataConfig, carve_validation, check_no_leakage, load_splits
from xmodal.methods.cmkd_run import DistillRunConfig, run_distill


@pytest.fixture(scope="module")
def manifest(tmp_path_factory: pytest.TempPathFactory) -> Path:
    cfg = SynthConfig(clips=40, seed=0, size=32, fps=4, duration=2.0, general_levels=2, video_levels=1,
                      audio_levels=1, splits=(0.6, 0.2, 0.2))
    return Path(generate(cfg, tmp_path_factory.mktemp("synth"), workers=1))


def _data(path: Path) -> DistillDataConfig:
    return DistillDataConfig(manifest=str(path), size=32, audio_seconds=2.0, audio_pool=4, val_groups="none")


def _rewrite(src: Path, dst: Path, fn) -> Path:  # type: ignore[no-untyped-def]
    with src.open() as f:
        rows = list(csv.DictReader(f))
    rows = fn(rows)
    with dst.open("w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    return dst


def test_carve_validation_keeps_groups_whole_and_is_seeded() -> None:
    ids = [f"{actor}_DFA_ANG_XX#{i}" for actor in range(1001, 1011) for i in range(5)]
    mask = carve_validation(ids, 0.2, seed=3, groups="id_prefix")
    assert mask.sum() == 10
    val_actors = {i.split("_")[0] for i, m in zip(ids, mask, strict=True) if m}
    train_actors = {i.split("_")[0] for i, m in zip(ids, mask, strict=True) if not m}
    assert not val_actors & train_actors
    assert np.array_equal(mask, carve_validation(ids, 0.2, seed=3, groups="id_prefix"))
    assert not np.array_equal(mask, carve_validation(ids, 0.2, seed=4, groups="id_prefix"))
    with pytest.raises(ConfigError, match="single group"):
        carve_validation(["synth_1", "synth_2"], 0.5, 0, "id_prefix")


def test_leakage_guard_refuses_val_rows_that_are_test_rows(manifest: Path, tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="share 1 clips"):
        check_no_leakage(["a", "b"], ["b", "c"])

    def val_is_test(rows: list[dict]) -> list[dict]:  # the official CREMA-D script: val = test
        kept = [r for r in rows if r["split"] != "val"]
        return kept + [{**r, "split": "val"} for r in rows if r["split"] == "test"]

    bad = _rewrite(manifest, manifest.parent / "val_is_test.csv", val_is_test)
    with pytest.raises(ConfigError, match="val and test share"):
        load_splits(_data(bad))

    carved = _rewrite(manifest, manifest.parent / "no_val.csv", lambda rows: [r for r in rows if r["split"] != "val"])
    splits = load_splits(_data(carved))
    assert splits.val_source.startswith("carved from train")
    assert not set(splits.data["val"]["id"]) & set(splits.data["train"]["id"])
    assert not set(splits.data["val"]["id"]) & set(splits.data["test"]["id"])


def test_run_distill_end_to_end_selects_on_val_and_tests_once(manifest: Path,
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    splits = load_splits(_data(manifest))
    events: list[tuple[str, int]] = []
    real_fit, real_acc = cmkd_run.train_and_select, cmkd_run.accuracy

    def fit(module, net, train, val, *args, **kwargs):  # type: ignore[no-untyped-def]
        # the tripwire: selection sees the val split and never the test split
        assert val.part is splits.data["val"] and train.part is splits.data["train"]
        events.append(("fit", id(net)))
        return real_fit(module, net, train, val, *args, **kwargs)

    def acc(net, data, key):  # type: ignore[no-untyped-def]
        assert data is splits.data["test"]
        assert events[-1] == ("fit", id(net))  # scored right after its own selection, once
        events.append(("test", id(net)))
        return real_acc(net, data, key)

    monkeypatch.setattr(cmkd_run, "train_and_select", fit)
    monkeypatch.setattr(cmkd_run, "accuracy", acc)
    cfg = DistillRunConfig(data=_data(manifest), student_arch="small", teacher_arch="small", small_widths=(4, 8, 8),
                           methods=("kd", "c2kd"), epochs=2, teacher_epochs=1, select_from=0,
                           batch_size=8, seeds=(1, 2), accelerator="cpu")
    seen: list[tuple[int, str, bool]] = []

    def inspect(seed, name, net):  # type: ignore[no-untyped-def]
        # called for each network at its selected state; the teacher right after its own pretraining
        state = net.state_dict()
        pretrained_now = name == "teacher" and all(torch.equal(v, pretrained[-1][k]) for k, v in state.items())
        seen.append((seed, name, pretrained_now))

    pretrained: list[dict] = []
    real_bn = cmkd_run.BaselineKD

    def baseline(*args, **kwargs):  # type: ignore[no-untyped-def]
        if args[1] is None:  # the teacher's own CE run: record its state once it has trained
            module = real_bn(*args, **kwargs)
            pretrained.append({})
            module.on_fit_end = lambda: pretrained[-1].update({k: v.clone() for k, v in args[0].state_dict().items()})
            return module
        return real_bn(*args, **kwargs)

    monkeypatch.setattr(cmkd_run, "BaselineKD", baseline)
    result = run_distill(cfg, splits, inspect)
    assert seen == [(s, n, n == "teacher") for s in (1, 2) for n in ("teacher", "kd", "c2kd")]
    assert [e[0] for e in events] == ["fit", "test"] * 6  # (teacher + 2 students) × 2 seeds
    for run in result["seeds"]:
        for name in ("teacher", "kd", "c2kd"):
            r = run[name]
            h = r["val_history"]  # selection = the last epoch with the best val accuracy (official ">=")
            assert r["selected_epoch"] == max(i for i, v in enumerate(h) if v == max(h))
            assert 0.0 <= r["test_acc"] <= 100.0 and r["seconds_per_epoch"] > 0
        assert len(run["c2kd"]["selected_frac_per_epoch"]) == 2
    for name in ("teacher", "kd", "c2kd"):
        s = result["summary"][name]
        tests = [run[name]["test_acc"] for run in result["seeds"]]
        assert s["test_mean"] == pytest.approx(np.mean(tests)) and s["test_std"] == pytest.approx(np.std(tests))
    assert result["val_source"] == "manifest"


def test_train_and_select_trains_in_train_mode_even_after_an_eval(manifest: Path) -> None:
    """Regression: the pretrained teacher, scored in eval mode, was then trained jointly (C²KD) with frozen BN
    statistics, because Lightning does not call train() at fit start; with a confident teacher the loss went NaN."""
    from xmodal.methods.c2kd import C2KD, C2KDConfig
    from xmodal.training.optim import OptimConfig

    splits = load_splits(_data(manifest))
    teacher, student = cmkd_run.build_net("small", 1, 2, (4, 8, 8)), cmkd_run.build_net("small", 3, 2, (4, 8, 8))
    teacher.eval()  # as after accuracy(teacher, test)
    modes: list[bool] = []
    teacher.register_forward_pre_hook(lambda m, _x: modes.append(m.training) if torch.is_grad_enabled() else None)
    example = {k: splits.data["train"][k][:8] for k in ("audio", "video")}
    module = C2KD(student, teacher, C2KDConfig(student_layer="block2", teacher_layer="block2"),
                  OptimConfig(optimizer="sgd", lr=0.01, weight_decay=0.0), example=example)
    cmkd_run.train_and_select(module, student, splits.dataset("train"), splits.dataset("val"), 1, 0, 8, 0, "cpu")
    assert modes and all(modes)
    module.remove_taps()
    assert not teacher.block2._forward_hooks and not student.block2._forward_hooks


def test_run_config_validation() -> None:
    with pytest.raises(ConfigError, match="methods"):
        DistillRunConfig(methods=("c2kd", "crd")).validate()
    with pytest.raises(ConfigError, match="select_from"):
        DistillRunConfig(epochs=10, select_from=10).validate()
