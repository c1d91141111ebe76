"""``xmodal distill --config c2kd/<dataset>_<a2v|v2a> [key=value ...]``: supervised cross-modal KD (C²KD and the
baselines), teacher pretraining → students → selection on val → test once, mean ± std over seeds.

``xmodal distill --table RUN.json [RUN.json ...]`` collects finished runs into C²KD's Table 1 layout (one column per
dataset and direction, one row per method) with seconds per epoch and peak memory (App. E Table 3).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from xmodal.cli._common import RawDescriptionHelpFormatter, UsageError, print_table, write_json


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser("distill", help="supervised cross-modal KD: C²KD and its baselines over seeds",
                            description=__doc__, formatter_class=RawDescriptionHelpFormatter)
    parser.add_argument("--config", help="YAML file or shipped name, e.g. c2kd/synthetic_a2v (needed unless --table)")
    parser.add_argument("overrides", nargs="*", metavar="KEY=VALUE",
                        help="config overrides (dotted keys; default: none)")
    parser.add_argument("--json", metavar="OUT",
                        help="write config, splits, per-seed results and summary (default: not written)")
    parser.add_argument("--table", nargs="+", metavar="RUN_JSON", help="print Table 1 from finished runs' JSON")
    parser.add_argument("--text-model", metavar="PATH", help="image–text runs: a local pretrained BERT directory "
                        "(config.json, weights, vocab.txt or tokenizer.json) instead of a vocabulary trained on the "
                        "train split and a randomly initialised BERT; nothing is downloaded (default: none)")
    parser.set_defaults(func=run)


def _column(result: dict[str, Any]) -> str:
    cfg = result["config"]
    student = cfg["student_modality"]
    teacher = {"video": "audio", "audio": "video", "image": "text", "text": "image"}[student]
    arrow = f"{teacher[0].upper()}→{student[0].upper()}"
    return f"{result['splits'].get('dataset', '?')} {cfg['student_modality']} ({arrow}) {cfg['student_arch']}"


def table_rows(results: list[dict[str, Any]]) -> tuple[list[str], list[list[str]]]:
    """(columns, rows): methods down, runs across, cells ``mean±std`` of the test accuracy; then s/epoch, MB."""
    columns = ["method", *[_column(r) for r in results]]
    methods: list[str] = []
    for r in results:
        methods += [m for m in r["summary"] if m not in methods]
    rows = []
    for m in methods:
        cells = []
        for r in results:
            s = r["summary"].get(m)
            if s is None:
                cells.append("-")
                continue
            mem = f", {s['peak_memory_mb']:.0f} MB" if s.get("peak_memory_mb") is not None else ""
            cells.append(f"{s['test_mean']:.1f}±{s['test_std']:.2f} ({s['seconds_per_epoch']:.2f} s/ep{mem})")
        rows.append([m, *cells])
    return columns, rows


def _run_json(path: str) -> dict[str, Any]:
    """A finished run's ``--json``; anything else is named (a table of the wrong file would be nonsense)."""
    try:
        result = json.loads(Path(path).read_text())
    except json.JSONDecodeError as err:
        raise UsageError(f"--table {path}: not JSON ({err}); give files written by xmodal distill --json") from err
    if not isinstance(result, dict) or not {"config", "summary", "splits"} <= set(result):
        raise UsageError(f"--table {path}: not a run summary (needs config, splits, summary); give files written by "
                         "xmodal distill --json")
    return result


def run(args: argparse.Namespace) -> int:
    title = "test top-1 % (mean ± std over seeds; model selected on val)"
    if args.table:
        results = [_run_json(p) for p in args.table]
        print_table(title, *table_rows(results))
        return 0
    if not args.config:
        raise UsageError("give --config NAME (e.g. c2kd/synthetic_a2v) or --table RUN.json ...")
    from xmodal.config import load_config
    from xmodal.configs import config_path
    from xmodal.methods.cmkd_data import load_splits
    from xmodal.methods.cmkd_run import DistillRunConfig, run_distill

    overrides = list(args.overrides)
    if args.text_model:
        if not Path(args.text_model).is_dir():
            raise UsageError(f"--text-model {args.text_model}: no such directory; give a local BERT directory "
                             "(nothing is downloaded)")
        overrides.append(f"data.text_model={args.text_model}")
    cfg = load_config(DistillRunConfig, config_path(args.config), overrides)
    cfg.validate()  # a bad key is named before any data is decoded
    splits = load_splits(cfg.data)
    result = run_distill(cfg, splits)
    if args.json and splits.tokenizer is not None:  # the vocabulary this run's text network was trained with
        result["tokenizer"] = str(splits.tokenizer.save(Path(args.json).with_suffix(".tokenizer")))
    print_table(title, *table_rows([result]))
    print(f"validation split: {result['val_source']}; sizes {result['splits']['sizes']}")
    write_json(args.json, result)
    return 0
