"""``xmodal eval ...``."""

from __future__ import annotations

import argparse

from xmodal.cli._common import add_group


def register(sub: argparse._SubParsersAction) -> None:
    add_group(sub, "eval", "eval")
