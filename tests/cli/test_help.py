"""``xmodal --help``: every flag of every verb says what it does and its default; building the parser imports no
heavy module (torch, numpy, PyAV, Lightning), so help returns fast; ``--version``."""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from xmodal import __version__
from xmodal.cli._common import walk_parsers
from xmodal.cli.main import build_parser, main

SRC = str(Path(__file__).resolve().parents[2] / "src")
ENV = {**os.environ, "PYTHONPATH": SRC, "OMP_NUM_THREADS": "1"}
SKIP = (argparse._HelpAction, argparse._VersionAction, argparse._SubParsersAction)


def test_building_the_parser_imports_no_heavy_module() -> None:
    code = ("import sys; from xmodal.cli.main import build_parser; build_parser(); "
            "print(sorted(m for m in sys.modules if m.split('.')[0] in "
            "('torch', 'numpy', 'av', 'lightning', 'scipy', 'sklearn', 'matplotlib', 'rich')))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=ENV, check=True)
    assert out.stdout.strip() == "[]"


def test_every_flag_has_help_with_its_default() -> None:
    parsers = walk_parsers(build_parser())
    assert {"xmodal pretrain", "xmodal data synth", "xmodal eval finetune", "xmodal mfh bound",
            "xmodal demo", "xmodal distill"} <= {cmd for cmd, _ in parsers}
    for cmd, parser in parsers:
        formatter = parser._get_formatter()
        for action in parser._actions:
            if isinstance(action, SKIP):
                continue
            name = f"{cmd} {'/'.join(action.option_strings) or action.dest}"
            assert action.help, f"{name}: no help text"
            text = formatter._get_help_string(action) % {"default": action.default}
            needs_default = not action.required and (action.option_strings or action.nargs is not None)
            assert not needs_default or "default" in text, f"{name}: help does not give the default: {text}"
            assert "default: None" not in text, name
        parser.format_help()  # every help string formats (no stray %)


@pytest.mark.parametrize("argv", [["--help"], ["eval", "svm", "--help"], ["pretrain", "--help"]])
def test_help_is_fast(argv: list[str]) -> None:
    """Generous bound (a loaded 2-core machine); measured 0.06–0.10 s, see docs/cli.md."""
    start = time.perf_counter()
    out = subprocess.run([sys.executable, "-m", "xmodal.cli.main", *argv], capture_output=True, text=True,
                         env=ENV, check=True)
    assert time.perf_counter() - start < 3.0
    assert out.stdout.startswith("usage: xmodal")


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_:
        main(["--version"])
    assert exit_.value.code == 0 and capsys.readouterr().out.strip() == f"xmodal {__version__}"
