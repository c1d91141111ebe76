"""``xmodal pretrain --dry-run`` of a paper config on a machine without its dataset: the parameter and token
counts are still printed, then one line names the missing root and the key to set (exit 2). XKD and MAViL configs
(the verb dispatches on the config's ``method`` key)."""

from __future__ import annotations

from pathlib import Path

import pytest

from xmodal.cli.main import main


@pytest.mark.parametrize(("config", "total", "tokens"), [
    ("xkd/kinetics400", "396,337,728", "video_global"),
    ("mavil/audioset", "239,472,384", "4×14×14"),
])
def test_paper_config_dry_run_without_data(config: str, total: str, tokens: str, tmp_path: Path,
                                           capsys: pytest.CaptureFixture[str]) -> None:
    root = tmp_path / "not-downloaded"
    assert main(["pretrain", "--config", config, f"data.root={root}", "--dry-run"]) == 2
    out, err = capsys.readouterr()
    assert "parameters" in out and total in out and "tokens per view" in out and tokens in out
    lines = err.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in err
    assert str(root) in lines[0] and "data.root=DIR" in lines[0]
