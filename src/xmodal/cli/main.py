"""Entry point of the ``xmodal`` command.

Each verb lives in its own module exposing ``register(subparsers)``, which adds a parser whose
``func(args) -> int`` runs the verb. Heavy imports (torch, av) happen inside the verbs, so ``--help`` is fast.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

from xmodal import __version__
from xmodal.config import ConfigError

VERBS = ("data", "pretrain", "distill", "eval", "mfh", "demo", "convert")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="xmodal",
        description="Cross-modal knowledge distillation and audio-visual self-supervised learning.",
    )
    parser.add_argument("--version", action="version", version=f"xmodal {__version__}")
    sub = parser.add_subparsers(dest="verb", metavar="VERB")
    sub.required = True
    for verb in VERBS:
        importlib.import_module(f"xmodal.cli.{verb}").register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    func = getattr(args, "func", None)
    if func is None:
        parser.parse_args([*(argv if argv is not None else sys.argv[1:]), "--help"])
        return 2
    try:
        return int(func(args) or 0)
    except ConfigError as err:
        print(f"xmodal: config error: {err}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
