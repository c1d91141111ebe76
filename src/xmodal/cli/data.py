"""``xmodal data ...``: one ``_register_<sub-verb>`` function per sub-verb; heavy imports happen in ``_run_*``."""

from __future__ import annotations

import argparse

from xmodal.cli._common import add_group, write_json


def register(sub: argparse._SubParsersAction) -> None:
    inner = add_group(sub, "data", "Dataset tools: check media files before a long run.")
    _register_check(inner)


def _register_check(inner: argparse._SubParsersAction) -> None:
    help_text = "Decode every item once and report, per bad file, what is wrong (missing, corrupt, no audio, ...)."
    p = inner.add_parser("check", help=help_text, description=help_text)
    p.add_argument("spec", nargs="?", metavar="DATASET_OR_MANIFEST",
                   help="a manifest CSV, a folder with manifest.csv, or a dataset adapter name (with --root)")
    p.add_argument("--dataset", metavar="NAME", help="dataset adapter name (instead of the positional argument)")
    p.add_argument("--root", metavar="DIR", help="dataset root folder, for adapter names")
    p.add_argument("--split", help="check only this split")
    p.add_argument("--modalities", default="video,audio", help="comma-separated: video, audio (default %(default)s)")
    p.add_argument("--min-seconds", type=float, default=0.0, help="flag items shorter than this (default 0)")
    p.add_argument("--workers", type=int, default=2, help="decoding processes; 0 = in-process (default %(default)s)")
    p.add_argument("--json", metavar="OUT", help="write the full report as JSON")
    p.add_argument("--max-shown", type=int, default=50, help="bad files listed on the terminal (default 50)")
    p.set_defaults(func=_run_check)


def _run_check(args: argparse.Namespace) -> int:
    """Exit status 0 when every item is fine, 1 when some are bad, 2 on a usage error."""
    import sys

    from rich.console import Console
    from rich.markup import escape
    from rich.table import Table

    from xmodal.data.check import check_index
    from xmodal.data.dataset import resolve_index
    from xmodal.data.errors import MediaError

    spec = args.dataset or args.spec
    if spec is None or (args.dataset and args.spec):
        print("xmodal data check: give exactly one of DATASET_OR_MANIFEST or --dataset NAME", file=sys.stderr)
        return 2
    modalities = tuple(m.strip() for m in args.modalities.split(",") if m.strip())
    try:
        index = resolve_index(spec, args.root)
        if args.split:
            index = index.split(args.split)
        report = check_index(index, modalities, args.min_seconds, args.workers, progress=True)
    except (MediaError, ValueError) as err:
        print(f"xmodal data check: {err}", file=sys.stderr)
        return 2
    console = Console()
    if report.problems:
        table = Table("row", "kind", "problem", title=f"bad items ({len(report.problems)})")
        for p in report.problems[: args.max_shown]:
            table.add_row(str(p.index), p.kind, escape(p.message))
        console.print(table)
        if len(report.problems) > args.max_shown:
            console.print(f"… {len(report.problems) - args.max_shown} more (see --json)")
    console.print(escape(f"{report.summary()}  ({report.seconds:.1f}s)"))
    write_json(args.json, report.to_dict())
    return 1 if report.problems else 0
