"""``xmodal demo``: synthetic benchmark → V-MAE / AV-MAE / XKD (and optionally MAViL) pretraining per seed → SVM
probes → table (mean ± std over seeds) + figures."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from xmodal.cli._common import UsageError

# the keys of xmodal.demo.MODELS and DEFAULT_MODELS (that module imports torch; the parser must not)
DEMO_MODELS = ("vmae", "avmae", "xkd", "mavil")
DEFAULT_MODELS = ("vmae", "avmae", "xkd")


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser(
        "demo",
        help="end-to-end demo on the synthetic audio-visual benchmark (about 15 min on 2 CPU cores)",
        description="Generates the synthetic benchmark if missing, pretrains V-MAE, AV-MAE and XKD with the tiny "
        "config once per seed, probes frozen video/audio/fused features with a linear SVM (C chosen on val), and "
        "writes results.json, results.md (mean ± std over seeds next to the binomial standard error) and "
        "figures to --out.",
    )
    parser.add_argument("--out", type=Path, default=Path("xmodal-demo"), help="output folder (default %(default)s)")
    parser.add_argument("--clips", type=int, default=None,
                        help="benchmark size when generating; an existing benchmark is reused as is (default 1200)")
    parser.add_argument("--seed", type=int, default=None,
                        help="benchmark seed when generating, and the pretraining seed without --seeds (default 0)")
    parser.add_argument("--seeds", default=None,
                        help="comma list of pretraining seeds, e.g. 0,1,2: every model is pretrained once per seed "
                        "and the table reports mean ± std (default: --seed only)")
    parser.add_argument("--config", default=None, help="pretraining config (default xkd/synthetic_tiny)")
    parser.add_argument("--mavil-config", default=None,
                        help="MAViL config when --models has mavil (default mavil/synthetic_tiny)")
    parser.add_argument("--models", default=None,
                        help=f"comma list of {','.join(DEMO_MODELS)} (default {','.join(DEFAULT_MODELS)})")
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default 2)")
    parser.add_argument("--no-progress", action="store_true", help="plain logs instead of progress bars")
    parser.add_argument("overrides", nargs="*", metavar="KEY=VALUE",
                        help="pretraining config overrides; mavil.KEY=VALUE goes to the MAViL config")
    parser.set_defaults(func=run)


def parse_models(text: str | None) -> tuple[str, ...] | None:
    """``--models`` as a tuple, checked before any work (an unknown name must not cost a benchmark generation)."""
    if not text:
        return None
    models = tuple(m.strip() for m in text.split(",") if m.strip())
    unknown = [m for m in models if m not in DEMO_MODELS]
    if unknown or not models:
        raise UsageError(f"--models: unknown {unknown or [text]}; choose a comma list of {', '.join(DEMO_MODELS)}")
    return models


def parse_seeds(text: str | None) -> tuple[int, ...] | None:
    """``--seeds 0,1,2`` as distinct integers, checked before any work."""
    if not text:
        return None
    try:
        seeds = tuple(int(s) for s in text.split(",") if s.strip())
    except ValueError:
        raise UsageError(f"--seeds: {text!r} is not a comma list of integers (e.g. 0,1,2)") from None
    if not seeds or len(set(seeds)) != len(seeds):
        raise UsageError(f"--seeds: {text!r} must name at least one seed, each once (e.g. 0,1,2)")
    return seeds


def show(report: dict[str, Any], out: Path) -> None:
    from rich.console import Console
    from rich.table import Table

    from xmodal.demo_report import table_rows

    seeds = len(report["per_seed"])
    title = "linear SVM top-1 (%) on the synthetic benchmark's test split" + (
        f", mean ± std over {seeds} seeds (s.e. = binomial)" if seeds > 1 else " (± binomial s.e.)")
    table = Table(title=title)
    for col in ("backbone", "video", "audio", "audio+video"):
        table.add_column(col, justify="right" if col != "backbone" else "left")
    for row in table_rows(report["results"]):
        table.add_row(*row)
    console = Console()
    console.print(table)
    console.print(f"results: {out / 'results.md'}  ({report['timings']['total_s'] / 60:.1f} min)")


def run(args: argparse.Namespace) -> int:
    models = parse_models(args.models)
    seeds = parse_seeds(args.seeds)
    from xmodal.demo import options_from, run_demo

    opts = options_from(out=args.out, clips=args.clips, seed=args.seed, seeds=seeds, config=args.config,
                        mavil_config=args.mavil_config, models=models, threads=args.threads,
                        overrides=list(args.overrides), progress=not args.no_progress)
    show(run_demo(opts), opts.out)
    return 0
