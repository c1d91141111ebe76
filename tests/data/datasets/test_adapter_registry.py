"""The registry exposes every adapter under the names ``xmodal data check`` accepts, with one signature."""

from __future__ import annotations

import inspect

from xmodal.data.datasets import REGISTRY

NAMES = {
    "kinetics400", "kinetics_sound", "audioset", "vggsound", "ucf101", "hmdb51", "esc50", "fsd50k", "cremad", "ave",
    "ravdess", "crisismmd", "mmimdb",
}  # fmt: skip


def test_registry_names_and_common_signature() -> None:
    assert set(REGISTRY) == NAMES
    for name, loader in REGISTRY.items():
        params = inspect.signature(loader).parameters
        assert list(params)[:2] == ["root", "split"], name
        assert params["split"].default is None, name
        assert params["fold"].kind is inspect.Parameter.KEYWORD_ONLY and params["fold"].default == 1, name
        assert params["check_files"].default is False, name


def test_data_check_prints_layout_sizes_and_skipped_rows(tmp_path, write, capsys) -> None:
    """``xmodal data check <name> --root DIR``: the layout recognised, split sizes against the official ones, and
    every category of left-out rows, before (or, with --index-only, instead of) decoding."""
    import json

    from xmodal.cli.main import main

    data = tmp_path / "AVE_Dataset"
    header = "Category&VideoID&Quality&StartTime&EndTime\n"
    write(data / "Annotations.txt", header + "Church bell&RUhOCu3LNXM&good&0&10\nChurch bell&VWi2ENBuTbw&good&0&0\n")
    write(data / "trainSet.txt", header + "Church bell&RUhOCu3LNXM&good&0&10\nChurch bell&VWi2ENBuTbw&good&0&0\n")
    write(data / "valSet.txt", "")
    write(data / "testSet.txt", "")
    out = tmp_path / "ave.json"
    assert main(["data", "check", "ave", "--root", str(tmp_path), "--index-only", "--json", str(out)]) == 1
    text = capsys.readouterr().out
    assert "ave: layout: official AVE_Dataset.zip" in text
    assert "ave: train: 1 rows (0 with media, 1 missing)" in text
    assert "ave: total: 1 rows; official 4143" in text
    assert "ave: skipped 1 (annotation rows with an empty time interval (start >= end)): VWi2ENBuTbw_0_0" in text
    report = json.loads(out.read_text())
    assert report["meta"]["skipped"]["degenerate_rows"]["ids"] == ["VWi2ENBuTbw_0_0"]
    assert report["meta"]["missing"] == {"train": 1}
    write(data / "AVE" / "RUhOCu3LNXM.mp4")
    assert main(["data", "check", "--dataset", "ave", "--root", str(tmp_path), "--index-only"]) == 0
    assert main(["data", "check", "ave", "--root", str(tmp_path / "nowhere"), "--index-only"]) == 2
    assert f"AVE root {tmp_path / 'nowhere'} is not a folder" in capsys.readouterr().err
