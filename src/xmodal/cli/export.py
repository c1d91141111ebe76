"""``xmodal export RUN_DIR --out DIR``: every backbone of a pretraining run as a Hugging Face-style folder
(``model.safetensors``, ``config.json``, ``README.md`` model card), loadable with
``xmodal.models.from_pretrained(DIR/<name>)``. The end of every ``xmodal pretrain`` writes the same folders to
``<run>/hf/``; this verb re-exports (for instance with probe results in the card) or exports elsewhere."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from xmodal.cli._common import UsageError


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser(
        "export",
        help="write a run's backbones as Hugging Face-style folders with model cards",
        description=__doc__,
    )
    parser.add_argument("run_dir", type=Path, help="out_dir of a finished xmodal pretrain run (holds export/)")
    parser.add_argument("--out", type=Path, default=None, help="output folder (default RUN_DIR/hf)")
    parser.add_argument("--probe", type=Path, action="append", default=[], metavar="JSON",
                        help="an `xmodal eval ... --json` result to print in the model cards (repeatable; "
                        "default none)")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    probes = []
    for path in args.probe:
        try:
            probe = json.loads(path.read_text())
        except json.JSONDecodeError as err:
            raise UsageError(f"--probe {path}: not JSON ({err}); give a file written by xmodal eval --json") from None
        if not isinstance(probe, dict) or "metric" not in probe:
            raise UsageError(f"--probe {path}: not an xmodal eval result (no 'metric'); give xmodal eval --json")
        probes.append(probe)
    from xmodal.models.hub import export_run

    written = export_run(args.run_dir, args.out or args.run_dir / "hf", probes)
    for name, folder in written.items():
        print(f"{name}: {folder}")
    return 0
