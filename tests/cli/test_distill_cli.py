import json
from pathlib import Path

import pytest

from xmodal.cli.main import main
from xmodal.config import load_config
from xmodal.configs import ROOT, config_path
from xmodal.data.synth import SynthConfig, generate
from xmodal.methods.cmkd_run import DistillRunConfig


@pytest.mark.parametrize("name", sorted(p.stem for p in (ROOT / "c2kd").glob("*.yaml")))
def test_shipped_c2kd_configs_validate(name: str) -> None:
    cfg = load_config(DistillRunConfig, config_path(f"c2kd/{name}"))
    assert cfg.seeds == (1, 2, 3) and "c2kd" in cfg.methods
    direction = name.rsplit("_", 1)[-1]
    assert cfg.student_modality == {"a2v": "video", "v2a": "audio", "t2i": "image", "i2t": "text"}[direction]
    if direction in ("t2i", "i2t"):
        assert "fitnets" not in cfg.methods and "review" not in cfg.methods  # no feature KD (C²KD App. C.3)
    if not name.startswith("synthetic"):  # the paper's recipe (App. C.1, C.2; official training settings)
        if direction in ("a2v", "v2a"):
            assert cfg.data.frontend == "stft" and cfg.data.frames == (3 if "vggsound" in name else 1)
            assert cfg.data.audio_seconds == (3.0 if "cremad" in name else 10.0)
        assert (cfg.epochs, cfg.batch_size, cfg.optim.lr, cfg.optim.optimizer) == (100, 64, 0.01, "sgd")


def test_distill_cli_runs_and_tables(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    manifest = generate(SynthConfig(clips=30, seed=1, size=32, fps=4, duration=2.0, general_levels=2,
                                    splits=(0.6, 0.2, 0.2)), tmp_path / "synth", workers=1)
    out = tmp_path / "run.json"
    code = main(["distill", "--config", "c2kd/synthetic_a2v", f"data.manifest={manifest}", "data.audio_seconds=2.0",
                 "epochs=1", "teacher_epochs=1", "select_from=0", "seeds=[1]", "methods=[none, c2kd]",
                 "small_widths=[4, 8, 8]", "--json", str(out)])
    assert code == 0
    result = json.loads(out.read_text())
    assert set(result["summary"]) == {"teacher", "none", "c2kd"}
    assert result["val_source"] == "manifest" and result["config"]["methods"] == ["none", "c2kd"]
    capsys.readouterr()
    assert main(["distill", "--table", str(out), str(out)]) == 0
    text = capsys.readouterr().out
    assert "c2kd" in text and "A→V" in text
    assert main(["distill", "--config", "c2kd/synthetic_a2v", "methods=[crd]"]) == 2  # config error, named key
