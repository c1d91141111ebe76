"""Small helpers shared by the CLI verbs."""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any


class HelpFormatter(argparse.ArgumentDefaultsHelpFormatter):
    """Every flag's help ends with its default, unless the text already says it (``default ...``): a flag whose
    value ``None`` means "from the preset/export" explains that in words instead of showing ``None``."""

    def _get_help_string(self, action: argparse.Action) -> str:
        text = action.help or ""
        if "default" in text or action.required or action.default is argparse.SUPPRESS:
            return text
        if not action.option_strings and action.nargs is None:  # a required positional has no default
            return text
        default = action.default
        if isinstance(action, argparse._StoreTrueAction | argparse._StoreFalseAction):
            shown = "on" if default else "off"
        elif default is None:
            shown = "none"
        elif isinstance(default, list | tuple):
            shown = " ".join(map(str, default)) or "none"
        else:
            shown = str(default)
        return f"{text} (default: {shown.replace('%', '%%')})"


class RawDescriptionHelpFormatter(argparse.RawDescriptionHelpFormatter, HelpFormatter):
    """:class:`HelpFormatter` that keeps the description's line breaks (module docstrings as descriptions)."""


class Parser(argparse.ArgumentParser):
    """The parser class of every ``xmodal`` (sub-)verb: sub-parsers inherit it, so all get :class:`HelpFormatter`."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("formatter_class", HelpFormatter)
        super().__init__(*args, **kwargs)


class LazyParser(Parser):
    """A sub-parser whose flags are added on first use, by ``populate(parser)``: for flags derived from a module
    too heavy to import while building ``xmodal --help`` (``data synth`` reads its knobs from ``SynthConfig``,
    whose package imports PyAV and numpy)."""

    def __init__(self, *args: Any, populate: Callable[[argparse.ArgumentParser], None] | None = None,
                 **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._populate = populate

    def populate(self) -> LazyParser:
        if self._populate is not None:
            fill, self._populate = self._populate, None
            fill(self)
        return self

    def parse_known_args(self, args: Any = None, namespace: Any = None) -> Any:  # type: ignore[override]
        return self.populate() and super().parse_known_args(args, namespace)

    def format_help(self) -> str:
        return self.populate() and super().format_help()


def walk_parsers(parser: argparse.ArgumentParser, prefix: str = "xmodal") -> list[tuple[str, argparse.ArgumentParser]]:
    """``[(command, parser)]`` of ``parser`` and every sub-parser below it (for help tests and docs/cli.md)."""
    if isinstance(parser, LazyParser):
        parser.populate()
    out = [(prefix, parser)]
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, child in action.choices.items():
                out += walk_parsers(child, f"{prefix} {name}")
    return out


class UsageError(Exception):
    """A wrong flag combination or value the CLI itself detects; ``main`` prints it as one line and exits 2."""


def add_source_args(p: argparse.ArgumentParser, metavar: str = "DATASET_OR_MANIFEST") -> None:
    """The positional data source and ``--root`` every ``xmodal data`` verb reads (resolved by
    :func:`xmodal.data.dataset.resolve_index`)."""
    p.add_argument("spec", metavar=metavar,
                   help="a manifest CSV, a folder with manifest.csv, or a dataset adapter name (with --root)")
    p.add_argument("--root", metavar="DIR", help="dataset root folder, for adapter names")


def add_group(sub: argparse._SubParsersAction, name: str, help_text: str) -> argparse._SubParsersAction:
    """Add verb ``name`` with its own sub-verbs; bare ``xmodal name`` prints that verb's help. Sub-verbs are
    :class:`LazyParser` s: ``add_parser(..., populate=fn)`` defers their flags."""
    parser = sub.add_parser(name, help=help_text, description=help_text)
    parser.set_defaults(func=lambda _args: parser.print_help() or 2)
    inner = parser.add_subparsers(dest=f"{name}_verb", metavar="SUBCOMMAND", parser_class=LazyParser)
    return inner


def write_json(path: str | Path | None, payload: Any) -> None:
    """Write ``payload`` as pretty JSON when ``path`` is given (parents created)."""
    if path is None:
        return
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(payload, indent=2, sort_keys=False, default=str) + "\n")


def print_table(title: str, columns: list[str], rows: list[list[str]]) -> None:
    """A right-aligned rich table on stdout (rich is imported here, not while the parser is built)."""
    from rich.console import Console
    from rich.table import Table

    table = Table(title=title)
    for c in columns:
        table.add_column(c, justify="right")
    for r in rows:
        table.add_row(*r)
    Console().print(table)
