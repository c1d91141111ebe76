"""``check_index`` and ``xmodal data check``: every bad file reported with its kind, a summary, JSON, exit codes."""

from __future__ import annotations

import json

import pytest

from xmodal.cli.main import main
from xmodal.data.check import check_index
from xmodal.data.dataset import read_manifest

ROWS = ["mp4", "corrupt", "truncated", "missing", "video_only", "silent", "empty", "short", "odd"]
EXPECTED = {1: "corrupt", 2: "corrupt", 3: "missing", 4: "no_audio", 5: "no_video", 6: "no_video", 8: "no_audio"}


@pytest.fixture
def manifest(tmp_path, media, mh):
    lines = "".join(f"{media[name]},c{i % 2},train\n" for i, name in enumerate(ROWS))
    return mh.write_manifest(tmp_path, "path,label,split\n" + lines)


@pytest.mark.parametrize("workers", [0, 2])
def test_check_reports_each_bad_file(manifest, media, workers):
    report = check_index(read_manifest(manifest), ("video", "audio"), 0.0, workers, progress=False)
    assert {p.index: p.kind for p in report.problems} == EXPECTED
    assert all(str(media[ROWS[p.index]]) in p.message for p in report.problems)
    assert (report.total, report.ok) == (9, 2)
    assert report.counts == {"corrupt": 2, "missing": 1, "no_audio": 2, "no_video": 2}
    assert "2/9 items OK; 7 bad" in report.summary()


def test_check_audio_only_flags_silence_and_min_seconds(manifest):
    report = check_index(read_manifest(manifest), ("audio",), 1.5, 0, progress=False)
    kinds = {p.index: p.kind for p in report.problems}
    assert kinds == {1: "corrupt", 2: "corrupt", 3: "missing", 4: "no_audio", 5: "silent", 6: "too_short",
                     7: "too_short", 8: "no_audio"}


def test_cli_check_json_and_exit_codes(manifest, tmp_path, media, mh, capsys):
    out = tmp_path / "report.json"
    assert main(["data", "check", str(manifest), "--json", str(out), "--workers", "0"]) == 1
    report = json.loads(out.read_text())
    assert report["bad"] == 7 and report["counts"]["corrupt"] == 2
    assert {p["path"] for p in report["problems"] if p["kind"] == "missing"} == {str(media["missing"])}
    assert "items OK" in capsys.readouterr().out
    clean = mh.write_manifest(tmp_path / "clean", f"path,label,split\n{media['mp4']},a,train\n")
    assert main(["data", "check", str(clean), "--workers", "0", "--modalities", "video,audio"]) == 0
    assert main(["data", "check", str(tmp_path / "nothing.csv")]) == 2
    assert main(["data", "check"]) == 2
    assert "exactly one of" in capsys.readouterr().err
