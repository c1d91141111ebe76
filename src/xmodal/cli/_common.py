"""Small helpers shared by the CLI verbs."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any


def add_group(sub: argparse._SubParsersAction, name: str, help_text: str) -> argparse._SubParsersAction:
    """Add verb ``name`` with its own sub-verbs; bare ``xmodal name`` prints that verb's help."""
    parser = sub.add_parser(name, help=help_text, description=help_text)
    parser.set_defaults(func=lambda _args: parser.print_help() or 2)
    inner = parser.add_subparsers(dest=f"{name}_verb", metavar="SUBCOMMAND")
    return inner


def write_json(path: str | Path | None, payload: Any) -> None:
    """Write ``payload`` as pretty JSON when ``path`` is given (parents created)."""
    if path is None:
        return
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(payload, indent=2, sort_keys=False, default=str) + "\n")
