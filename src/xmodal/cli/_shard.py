"""``xmodal data shard``: write a dataset as webdataset shards at the training geometry (docs/scaling.md)."""

from __future__ import annotations

import argparse

from xmodal.cli._common import UsageError, add_source_args, write_json


def register_shard(inner: argparse._SubParsersAction) -> None:
    help_text = ("Write a dataset as streaming webdataset shards: each row's segment decoded once at the training "
                 "geometry (short side, fps, 16 kHz audio), re-encoded H.264 + FLAC (or raw arrays with --raw), "
                 "with label and id, plus index.json; read them with data.source=DIR. Bad files are skipped and "
                 "listed like `data check`. See docs/scaling.md.")
    p = inner.add_parser("shard", help=help_text, description=help_text)
    add_source_args(p)
    p.add_argument("--out", required=True, metavar="DIR", help="folder for the shards and index.json")
    p.add_argument("--split", action="append", help="shard only this split (repeatable; default: every split)")
    p.add_argument("--fps", type=float, default=8.0, help="stored frame rate (default %(default)s)")
    p.add_argument("--size", type=int, default=128, help="stored short side in pixels (default %(default)s)")
    p.add_argument("--sample-rate", type=int, default=16000, help="stored audio rate in Hz (default %(default)s)")
    p.add_argument("--modalities", default="video,audio", help="comma-separated: video, audio (default %(default)s)")
    p.add_argument("--raw", action="store_true", help="store raw uint8 frames and float32 audio (exact, ~20x larger)")
    p.add_argument("--crf", type=int, default=18, help="H.264 quality, lower is better (default %(default)s)")
    p.add_argument("--samples-per-shard", type=int, default=1000, help="samples per tar (default %(default)s)")
    p.add_argument("--workers", type=int, default=2, help="decoding processes; 0 = in-process (default %(default)s)")
    p.add_argument("--json", metavar="OUT", help="write the report (counts, bad files) as JSON")
    p.add_argument("--max-shown", type=int, default=50, help="bad files listed on the terminal (default 50)")
    p.set_defaults(func=run_shard)


def run_shard(args: argparse.Namespace) -> int:
    """Exit status 0 when shards were written (bad files are listed, not fatal), 1 when no row could be written,
    2 on a usage error."""
    from rich.console import Console
    from rich.markup import escape
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    from xmodal.data.dataset import resolve_index
    from xmodal.data.errors import KINDS
    from xmodal.data.shard_format import ShardGeometry
    from xmodal.data.shard_write import write_shards

    modalities = tuple(m.strip() for m in args.modalities.split(",") if m.strip())
    geometry = ShardGeometry(fps=args.fps, size=args.size, sample_rate=args.sample_rate, modalities=modalities,
                             encoding="raw" if args.raw else "h264", crf=args.crf)
    try:
        geometry.validate()
    except ValueError as err:
        raise UsageError(str(err)) from None
    if args.samples_per_shard < 1:
        raise UsageError("--samples-per-shard must be >= 1")
    index = resolve_index(args.spec, args.root)
    splits = args.split or sorted({r.split for r in index.rows})
    total = sum(len(index.split(s).rows) for s in splits)
    console = Console()
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn())
    with Progress(*columns, console=console, transient=True) as bar:
        task = bar.add_task(f"sharding {index.name}", total=total)
        report = write_shards(index, args.out, geometry=geometry, samples_per_shard=args.samples_per_shard,
                              splits=splits, workers=args.workers, source=str(args.spec),
                              on_progress=lambda n: bar.advance(task, n))
    for split, p in report.problems[: args.max_shown]:  # one line per file: greppable, never wrapped
        console.print(escape(f"skipped {split} row {p.index} [{p.kind}]: {p.message}"), soft_wrap=True)
    if len(report.problems) > args.max_shown:
        console.print(f"… {len(report.problems) - args.max_shown} more (see --json or index.json)")
    written = sum(report.samples.values())
    kinds: dict[str, int] = {}
    for _, p in report.problems:
        kinds[p.kind] = kinds.get(p.kind, 0) + 1
    bad = ", ".join(f"{k}: {n} ({KINDS[k]})" for k, n in sorted(kinds.items()))
    parts = ", ".join(f"{s}: {report.samples[s]} samples in {report.shards[s]} shards" for s in splits)
    console.print(escape(f"{index.name}: {written}/{report.total} items written ({parts})"
                         f"{f'; {len(report.problems)} bad — {bad}' if bad else ''} → {args.out}  "
                         f"({report.seconds:.1f}s)"), soft_wrap=True)
    write_json(args.json, {"out": report.out, "samples": report.samples, "shards": report.shards,
                           "bad": len(report.problems), "counts": dict(sorted(kinds.items())),
                           "problems": [{"split": s, "index": p.index, "path": p.path, "kind": p.kind,
                                         "message": p.message} for s, p in report.problems],
                           "seconds": round(report.seconds, 3)})
    return 0 if written else 1
