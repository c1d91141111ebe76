"""Every user error of the ``xmodal`` CLI is one line on stderr naming the thing and the fix, exit 2; ``--debug`` /
``XMODAL_DEBUG=1`` show the traceback; a genuine bug keeps its traceback (docs/cli.md, "Errors")."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from xmodal.cli.main import is_user_error, main

SRC = str(Path(__file__).resolve().parents[2] / "src")


def _files(tmp: Path) -> dict[str, str]:
    """Broken inputs: an empty folder, a text file posing as features / a backbone export, a .npy."""
    (tmp / "empty").mkdir(exist_ok=True)
    (tmp / "garbage.npz").write_text("not a zip")
    (tmp / "export.json").write_text("{not json")
    np.save(tmp / "single.npy", np.zeros(3))
    (tmp / "run.json").write_text('{"a": 1}')
    return {k: str(tmp / v) for k, v in (("empty", "empty"), ("garbage", "garbage.npz"), ("export", "export.json"),
                                           ("npy", "single.npy"), ("run", "run.json"))}


# (argv with {placeholders}, text the one line must contain)
CASES = [
    (["pretrain", "--config", "nope/x", "--dry-run"], "no config 'nope/x'"),
    (["pretrain", "--config", "xkd/synthetic_tiny", "trainer.nosuch=1", "--dry-run"], "nosuch"),
    (["pretrain", "--config", "xkd/synthetic_tiny", "model.video.depth=1", "model.audio.depth=1",
      "data.source={empty}/manifest.csv", "--dry-run"], "set data.root=DIR"),
    (["data", "check", "{empty}/manifest.csv"], "manifest.csv"),
    (["data", "check", "kinetics400"], "--root DIR"),
    (["data", "check", "--dataset", "kinetics400", "--root", "{empty}"], "Kinetics-400"),
    (["data", "check", "--dataset", "kinetics400", "some.csv"], "exactly one of"),
    (["data", "stats", "{empty}", "--max-clips", "0", "--out", "{empty}/s.json"], "--max-clips"),
    (["data", "synth", "--out", "{empty}/x", "--clips", "2", "--size", "31"], "size"),
    (["data", "learnability", "{empty}", "--backbones", "vit,rnn"], "rnn"),
    (["eval", "svm", "--features", "{empty}/missing.npz"], "--features"),
    (["eval", "svm", "--features", "{garbage}"], "unreadable feature file"),
    (["eval", "svm", "--features", "{npy}"], "single .npy"),
    (["eval", "svm"], "need --features"),
    (["eval", "knn", "--backbone", "{export}", "--data", "{empty}/m.csv"], "unreadable backbone export"),
    (["eval", "knn", "--backbone", "{empty}/nope.safetensors", "--data", "{empty}/m.csv"], "nope.json"),
    (["eval", "knn", "--backbone", "{export}"], "--data MANIFEST"),
    (["eval", "fusion", "--audio", "{garbage}"], "need --audio/--video"),
    (["eval", "finetune", "--preset", "nosuch"], "known:"),
    (["demo", "--models", "vmae,foo", "--out", "{empty}/demo"], "foo"),
    (["demo", "--seeds", "0,x", "--out", "{empty}/demo"], "--seeds"),
    (["demo", "--seeds", "1,1", "--out", "{empty}/demo"], "each once"),
    (["distill"], "give --config"),
    (["distill", "--table", "{empty}/missing.json"], "missing.json"),
    (["distill", "--table", "{run}"], "not a run summary"),
    (["mfh", "rank", "--features-a", "{npy}"], "--features-b, --labels missing"),
    (["mfh", "diagnose", "--features-a", "{npy}", "--logits-b", "{npy}"], "--features-b, --logits-a missing"),
]


@pytest.mark.parametrize(("argv", "expected"), CASES, ids=[" ".join(c[0][:3]) for c in CASES])
def test_user_error_is_one_line_on_stderr_exit_2(argv: list[str], expected: str, tmp_path: Path,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    files = _files(tmp_path)
    assert main([a.format(**files) for a in argv]) == 2
    err = capsys.readouterr().err
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith(f"xmodal {argv[0]}") and expected in lines[0] and "Traceback" not in err
    assert not (tmp_path / "empty" / "demo").exists()  # --models is checked before any work


def _run(args: list[str], **env: str) -> subprocess.CompletedProcess[str]:
    environ = {**os.environ, "PYTHONPATH": SRC, "OMP_NUM_THREADS": "1", **env}
    return subprocess.run([sys.executable, "-m", "xmodal.cli.main", *args], capture_output=True, text=True,
                          env=environ, timeout=120)


def test_real_process_one_line_then_debug_shows_the_traceback() -> None:
    plain = _run(["pretrain", "--config", "nope/x"])
    assert plain.returncode == 2 and len(plain.stderr.strip().splitlines()) == 1
    assert "Traceback" not in plain.stderr and plain.stdout == ""
    for debug in (_run(["--debug", "pretrain", "--config", "nope/x"]),
                  _run(["pretrain", "--config", "nope/x"], XMODAL_DEBUG="1")):
        assert debug.returncode == 1 and "Traceback" in debug.stderr and "FileNotFoundError" in debug.stderr


def test_a_bug_keeps_its_traceback(monkeypatch: pytest.MonkeyPatch) -> None:
    """An unexpected exception (here from a verb's own logic) is not turned into a user-error line."""
    import xmodal.cli.distill as distill

    def broken(_args: object) -> int:
        return int("not a number")  # a ValueError raised by a builtin, not by a raise statement of ours

    monkeypatch.setattr(distill, "run", broken)
    with pytest.raises(ValueError, match="invalid literal"):
        main(["distill"])


def test_value_errors_count_as_user_errors_only_when_xmodal_raised_them(tmp_path: Path) -> None:
    from xmodal.eval.features import load_features

    (tmp_path / "bad.npz").write_text("x")
    with pytest.raises(ValueError) as ours:
        load_features(tmp_path / "bad.npz")
    assert is_user_error(ours.value)
    with pytest.raises(ValueError) as numpys:
        np.zeros(3).reshape(2)
    assert not is_user_error(numpys.value)
    with pytest.raises(ValueError) as builtin:
        int("x")
    assert not is_user_error(builtin.value)


def test_demo_models_match_the_demo_module() -> None:
    from xmodal.cli import demo as cli_demo
    from xmodal.demo import DEFAULT_MODELS, MODELS

    assert tuple(MODELS) == cli_demo.DEMO_MODELS
    assert DEFAULT_MODELS == cli_demo.DEFAULT_MODELS
