"""``xmodal demo``: synthetic benchmark → V-MAE / AV-MAE / XKD pretraining → SVM probes → table + figures."""

from __future__ import annotations

import argparse
from pathlib import Path

from xmodal.cli._common import UsageError

# the keys of xmodal.demo.MODELS (that module imports torch; the parser must not)
DEMO_MODELS = ("vmae", "avmae", "xkd")


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser(
        "demo",
        help="end-to-end demo on the synthetic audio-visual benchmark (about 15 min on 2 CPU cores)",
        description="Generates the synthetic benchmark if missing, pretrains V-MAE, AV-MAE and XKD with the tiny "
        "config, probes frozen video/audio/fused features with a linear SVM (C chosen on val), and writes "
        "results.json, results.md and figures to --out.",
    )
    parser.add_argument("--out", type=Path, default=Path("xmodal-demo"), help="output folder (default %(default)s)")
    parser.add_argument("--clips", type=int, default=None, help="benchmark size when generating (default 1200)")
    parser.add_argument("--seed", type=int, default=None, help="benchmark and pretraining seed (default 0)")
    parser.add_argument("--config", default=None, help="pretraining config (default xkd/synthetic_tiny)")
    parser.add_argument("--models", default=None, help="comma list of vmae,avmae,xkd (default all)")
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default 2)")
    parser.add_argument("--no-progress", action="store_true", help="plain logs instead of progress bars")
    parser.add_argument("overrides", nargs="*", metavar="KEY=VALUE", help="pretraining config overrides")
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


def run(args: argparse.Namespace) -> int:
    models = parse_models(args.models)
    from xmodal.demo import options_from, run_demo

    opts = options_from(out=args.out, clips=args.clips, seed=args.seed, config=args.config, models=models,
                        threads=args.threads, overrides=list(args.overrides), progress=not args.no_progress)
    run_demo(opts)
    return 0
