"""Entry point of the ``xmodal`` command.

Each verb lives in its own module exposing ``register(subparsers)``, which adds a parser whose
``func(args) -> int`` runs the verb. Heavy imports (torch, av) happen inside the verbs, so ``--help`` is fast.

Errors (docs/cli.md): a *user* error — a wrong name, path, flag or config value — prints one line on stderr,
``xmodal <verb>: <message>``, and exits 2. User errors are the exception types our validation raises
(:data:`USER_ERRORS` and :class:`~xmodal.cli._common.UsageError`, file-system errors), and a ``ValueError`` /
``KeyError`` only when a ``raise`` statement in xmodal's own code raised it: the same types thrown from inside
torch or numpy, or by a builtin in our code, are bugs. Anything else is an internal error and keeps its full
traceback (exit 1), so a genuine bug is never reduced to a one-liner. ``--debug`` or ``XMODAL_DEBUG=1`` shows
the traceback of user errors too.
"""

from __future__ import annotations

import argparse
import importlib
import linecache
import logging
import os
import sys
from collections.abc import Sequence
from pathlib import Path

from xmodal import __version__
from xmodal.cli._common import Parser

VERBS = ("data", "pretrain", "distill", "eval", "mfh", "demo", "convert", "export", "reconstruct")
PACKAGE = Path(__file__).resolve().parents[1]  # src/xmodal


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(
        prog="xmodal",
        description="Cross-modal knowledge distillation and audio-visual self-supervised learning. "
        "See docs/cli.md for every verb with an example.",
    )
    parser.add_argument("--version", action="version", version=f"xmodal {__version__}")
    parser.add_argument("--debug", action="store_true",
                        help="show the Python traceback of user errors (also: environment XMODAL_DEBUG=1)")
    sub = parser.add_subparsers(dest="verb", metavar="VERB")
    sub.required = True
    for verb in VERBS:
        importlib.import_module(f"xmodal.cli.{verb}").register(sub)
    return parser


def _user_error_types() -> tuple[type[BaseException], ...]:
    """Imported when an error happens, not at start-up (these modules are light, but ``--help`` needs none)."""
    from xmodal.cli._common import UsageError
    from xmodal.config import ConfigError
    from xmodal.data.errors import MediaError
    from xmodal.data.synth.config import SynthConfigError

    return UsageError, ConfigError, MediaError, SynthConfigError, FileNotFoundError, NotADirectoryError, \
        IsADirectoryError, PermissionError


def _raised_by_us(err: BaseException) -> bool:
    """True when the innermost frame is a ``raise`` statement in xmodal's own source (our validation)."""
    tb = err.__traceback__
    if tb is None:
        return False
    while tb.tb_next is not None:
        tb = tb.tb_next
    filename = tb.tb_frame.f_code.co_filename
    if not Path(filename).resolve().is_relative_to(PACKAGE):
        return False
    return linecache.getline(filename, tb.tb_lineno).lstrip().startswith("raise")


def is_user_error(err: BaseException) -> bool:
    if isinstance(err, _user_error_types()):
        return True
    return isinstance(err, ValueError | KeyError) and _raised_by_us(err)


def one_line(err: BaseException) -> str:
    """The message on one line; an OS error names its file (``[Errno 2] ...`` becomes ``no such file ...: PATH``)."""
    if isinstance(err, OSError) and err.filename is not None and err.strerror:
        text = f"{err.strerror[0].lower()}{err.strerror[1:]}: {err.filename} (check the path)"
    elif isinstance(err, KeyError) and err.args:
        text = str(err.args[0])
    else:
        text = str(err) or type(err).__name__
    return " ".join(part.strip() for part in text.splitlines() if part.strip())


def _command(args: argparse.Namespace) -> str:
    """``xmodal data check`` for ``args`` of that sub-verb (the prefix of every error line)."""
    words = ["xmodal", args.verb]
    inner = getattr(args, f"{args.verb}_verb", None)
    return " ".join([*words, inner] if inner else words)


def _log_to_stderr() -> None:
    """Library code logs (``logging.getLogger(__name__)``) instead of printing; the CLI shows xmodal's INFO and
    above on stderr, once however often ``main`` runs in one process."""
    logger = logging.getLogger("xmodal")
    if not logger.handlers:
        handler = logging.StreamHandler()
        handler.setFormatter(logging.Formatter("[xmodal] %(message)s"))
        logger.addHandler(handler)
        logger.setLevel(logging.INFO)


def main(argv: Sequence[str] | None = None) -> int:
    _log_to_stderr()
    parser = build_parser()
    args = parser.parse_args(argv)
    debug = args.debug or os.environ.get("XMODAL_DEBUG", "") not in ("", "0")
    try:
        return int(args.func(args) or 0)
    except KeyboardInterrupt:
        if debug:
            raise
        print(f"{_command(args)}: interrupted", file=sys.stderr)
        return 130
    except Exception as err:
        if debug or not is_user_error(err):
            raise
        print(f"{_command(args)}: {one_line(err)}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
