"""One command runs every official split/fold and reports each split's number and mean ± std: UCF101 (3 splits,
fine-tuning) and ESC-50 (5 folds, k-NN on extracted features) on tiny trees in their official layouts; the split
manifests of HMDB51; audio+video frozen-feature verbs use both backbones."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from xmodal.cli.main import main
from xmodal.data.dataset import read_manifest
from xmodal.eval.splits import parse_splits, split_manifests


@pytest.fixture(scope="module")
def ucf_root(bench: dict[str, str], tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The benchmark's clips as UCF-101/<class>/v_<class>_gNN_c01.avi; split k tests the clips with i % 3 == k-1."""
    root = tmp_path_factory.mktemp("ucf")
    index = read_manifest(bench["manifest"])
    rows = [r for r in index.rows if r.split in ("train", "test")]
    lists = root / "ucfTrainTestlist"
    lists.mkdir()
    (lists / "classInd.txt").write_text("".join(f"{i + 1} {c}\n" for i, c in enumerate(index.classes)))
    names = []
    for i, row in enumerate(rows):
        cls = index.classes[row.labels[0]]
        name = f"{cls}/v_{cls}_g{i:02d}_c01.avi"
        (root / "UCF-101" / cls).mkdir(parents=True, exist_ok=True)
        shutil.copy(Path(index.root) / row.path, root / "UCF-101" / name)
        names.append((name, row.labels[0] + 1))
    for k in (1, 2, 3):
        (lists / f"trainlist0{k}.txt").write_text("".join(f"{n} {lab}\n" for i, (n, lab) in enumerate(names)
                                                          if i % 3 != k - 1))
        (lists / f"testlist0{k}.txt").write_text("".join(f"{n}\n" for i, (n, _) in enumerate(names) if i % 3 == k - 1))
    return root


@pytest.fixture(scope="module")
def esc_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """10 recordings of 5 s (2 per fold): class 0 a 440 Hz tone, class 1 noise."""
    import soundfile as sf

    root = tmp_path_factory.mktemp("esc")
    (root / "audio").mkdir()
    (root / "meta").mkdir()
    rng = np.random.default_rng(0)
    t = np.arange(5 * 16000) / 16000
    lines = ["filename,fold,target,category,esc10,src_file,take"]
    for fold in range(1, 6):
        for target, category in ((0, "tone"), (1, "noise")):
            name = f"{fold}-{100 + target}-A-{target}.wav"
            wave = np.sin(2 * np.pi * 440 * t) if target == 0 else rng.normal(size=t.size)
            sf.write(root / "audio" / name, (0.3 * wave).astype(np.float32), 16000)
            lines.append(f"{name},{fold},{target},{category},False,{100 + target},A")
    (root / "meta" / "esc50.csv").write_text("\n".join(lines) + "\n")
    return root


def test_finetune_runs_the_three_ucf101_splits(bench: dict[str, str], ucf_root: Path, tmp_path: Path,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    out, run = tmp_path / "ft.json", tmp_path / "run"
    assert main(["eval", "finetune", "--preset", "xkd-ucf101", "--backbone", bench["video"], "--dataset", "ucf101",
                 "--root", str(ucf_root), "--epochs", "1", "--batch-size", "4", "--test-clips", "1",
                 "--progress", "none", "--out", str(run), "--json", str(out)]) == 0
    doc = json.loads(out.read_text())
    values = [r["value"] for r in doc["per_split"]]
    assert [r["split"] for r in doc["per_split"]] == [1, 2, 3]
    assert doc["mean"] == pytest.approx(np.mean(values)) and doc["std"] == pytest.approx(np.std(values))
    assert [r["n_test"] for r in doc["per_split"]] == [7, 7, 6]  # 20 train/test clips, a third tested per split
    assert all((run / f"split{k}" / "checkpoints" / "last.ckpt").is_file() for k in (1, 2, 3))
    assert doc["protocol"]["split_files"] == [str(run / "splits" / f"ucf101_split{k}.csv") for k in (1, 2, 3)]
    printed = capsys.readouterr().out
    assert "mean ± std" in printed and "over 3 split(s)" in printed


def test_knn_runs_the_five_esc50_folds(bench: dict[str, str], esc_root: Path, tmp_path: Path) -> None:
    out = tmp_path / "knn.json"
    assert main(["eval", "knn", "--backbone", bench["audio"], "--modality", "audio", "--dataset", "esc50",
                 "--root", str(esc_root), "--k", "1", "--train-clips", "1", "--test-clips", "1",
                 "--json", str(out)]) == 0
    doc = json.loads(out.read_text())
    assert [r["file"].split(":")[0] for r in doc["per_split"]] == [f"split {k}" for k in range(1, 6)]
    values = [r["value"] for r in doc["per_split"]]
    assert doc["mean"] == pytest.approx(np.mean(values)) and doc["std"] == pytest.approx(np.std(values))
    assert doc["mean"] == 1.0  # a tone and noise: the nearest training recording always has the right class


def test_split_manifests_of_hmdb51_and_bad_split_lists(tmp_path: Path) -> None:
    videos = {"brush_hair": ["a.avi", "b.avi", "c.avi"], "smile": ["d.avi", "e.avi", "f.avi"]}
    lists = tmp_path / "testTrainMulti_7030_splits"
    lists.mkdir()
    for cls, names in videos.items():
        for k in (1, 2, 3):
            tags = ["2" if i == k - 1 else "1" for i in range(3)]
            (lists / f"{cls}_test_split{k}.txt").write_text("".join(f"{n} {t} \n" for n, t in zip(names, tags,
                                                                                                 strict=True)))
    written = split_manifests("hmdb51", tmp_path, tmp_path / "m", parse_splits("hmdb51", "all"))
    assert [k for k, _ in written] == [1, 2, 3]
    for k, path in written:
        index = read_manifest(path)
        tested = sorted(Path(r.path).name for r in index.rows if r.split == "test")
        assert tested == sorted(names[k - 1] for names in videos.values())
        assert index.classes == ["brush_hair", "smile"] and index.meta["fold"] == k
    assert parse_splits("esc50", "2,5") == [2, 5]
    for dataset, spec in (("esc50", "6"), ("ucf101", "x"), ("kinetics400", "all")):
        with pytest.raises(ValueError):
            parse_splits(dataset, spec)


def test_root_needs_a_dataset_with_official_splits(ucf_root: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["eval", "knn", "--backbone", "x.safetensors", "--dataset", "kinetics400", "--root",
                 str(ucf_root)]) == 2
    assert "--dataset ucf101 | hmdb51 | esc50" in capsys.readouterr().err


def test_frozen_audio_video_needs_both_backbones(bench: dict[str, str], capsys: pytest.CaptureFixture[str]) -> None:
    """Before: ``--modality audio+video --backbone V`` silently extracted video features only."""
    assert main(["eval", "knn", "--modality", "audio+video", "--backbone", bench["video"], "--data",
                 bench["manifest"], "--k", "1"]) == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and "--audio-backbone" in err and "--video-backbone" in err


def test_frozen_audio_video_fuses_both_backbones(bench: dict[str, str], tmp_path: Path) -> None:
    out = tmp_path / "knn.json"
    assert main(["eval", "knn", "--modality", "audio+video", "--audio-backbone", bench["audio"], "--video-backbone",
                 bench["video"], "--data", bench["manifest"], "--k", "1", "--train-clips", "1", "--test-clips", "1",
                 "--json", str(out)]) == 0
    features = json.loads(out.read_text())["protocol"]["features"]
    assert features["modality"] == "audio+video" and set(features["extraction"]) >= {"audio", "video"}
    assert features["extraction"]["audio"]["backbone"] == bench["audio"]
    assert features["extraction"]["video"]["backbone"] == bench["video"]
