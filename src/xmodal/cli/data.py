"""``xmodal data ...``: one ``_register_<sub-verb>`` function per sub-verb; heavy imports happen in ``_run_*``."""

from __future__ import annotations

import argparse
from collections.abc import Iterator

from xmodal.cli._common import UsageError, add_group, add_source_args, write_json
from xmodal.cli._shard import register_shard


def register(sub: argparse._SubParsersAction) -> None:
    inner = add_group(sub, "data", "Dataset tools: generate the synthetic benchmark, check media files, "
                      "write streaming shards, compute audio statistics, measure learnability.")
    _register_synth(inner)
    _register_check(inner)
    register_shard(inner)
    _register_stats(inner)
    _register_learnability(inner)


def _register_synth(inner: argparse._SubParsersAction) -> None:
    help_text = ("Write the synthetic audio-visual benchmark (MP4 clips + manifest with train/val/test splits) or, "
                 "with --kind image-text, the image-text one (PNG + captions), byte-for-byte reproducible from --seed; "
                 "see docs/synthetic.md.")
    p = inner.add_parser("synth", help=help_text, description=help_text, populate=_synth_arguments)
    p.set_defaults(func=_run_synth)


def _synth_arguments(parser: argparse.ArgumentParser) -> None:
    from xmodal.cli._synth import add_synth_arguments

    add_synth_arguments(parser)


def _run_synth(args: argparse.Namespace) -> int:
    from xmodal.cli._synth import run_synth

    return run_synth(args)


def _register_check(inner: argparse._SubParsersAction) -> None:
    help_text = ("Decode every item once and report, per bad file, what is wrong (missing, corrupt, no audio, ...). "
                 "For a dataset name it first prints the layout recognised, the split sizes against the official "
                 "ones and the rows left out (degenerate, duplicates, LFS pointers, known-broken, not released).")
    p = inner.add_parser("check", help=help_text, description=help_text)
    p.add_argument("spec", nargs="?", metavar="DATASET_OR_MANIFEST",
                   help="a manifest CSV, a folder with manifest.csv, or a dataset adapter name (with --root)")
    p.add_argument("--dataset", metavar="NAME", help="dataset adapter name (instead of the positional argument)")
    p.add_argument("--root", metavar="DIR", help="dataset root folder, for adapter names")
    p.add_argument("--split", help="check only this split")
    p.add_argument("--modalities", default="video,audio", help="comma-separated: video, audio (default %(default)s); "
                   "image–text sets always check their images")
    p.add_argument("--min-seconds", type=float, default=0.0, help="flag items shorter than this (default 0)")
    p.add_argument("--workers", type=int, default=2, help="decoding processes; 0 = in-process (default %(default)s)")
    p.add_argument("--json", metavar="OUT", help="write the full report as JSON")
    p.add_argument("--max-shown", type=int, default=50, help="bad files listed on the terminal (default 50)")
    p.add_argument("--index-only", action="store_true",
                   help="for a dataset name: print the layout report and stop, without decoding (exit 1 if media "
                   "files are missing)")
    p.set_defaults(func=_run_check)


def _run_check(args: argparse.Namespace) -> int:
    """Exit status 0 when every item is fine, 1 when some are bad, 2 on a usage error."""
    from pathlib import Path

    from rich.console import Console
    from rich.markup import escape
    from rich.table import Table

    from xmodal.data.check import check_index
    from xmodal.data.dataset import resolve_index
    from xmodal.data.datasets import REGISTRY, describe, load

    spec = args.dataset or args.spec
    if spec is None or (args.dataset and args.spec):
        raise UsageError("give exactly one of DATASET_OR_MANIFEST or --dataset NAME")
    modalities = tuple(m.strip() for m in args.modalities.split(",") if m.strip())
    console = Console()
    layout: list[str] = []
    if spec in REGISTRY and not Path(spec).exists():
        if args.root is None:
            raise UsageError(f"dataset {spec!r} needs its root folder (--root DIR)")
        index = load(spec, args.root, split=args.split, modalities=modalities)
        layout = describe(index)
        for line in layout:
            console.print(escape(f"{spec}: {line}"), soft_wrap=True)
        if args.index_only:
            write_json(args.json, {"name": spec, "layout": layout, "meta": _report_meta(index.meta)})
            return 1 if index.meta.get("missing_files") else 0
    else:
        index = resolve_index(spec, args.root)
        if args.split:
            index = index.split(args.split)
    if any(r.text for r in index.rows):  # image–text rows (CrisisMMD, MM-IMDB, the image-text benchmark)
        modalities = ("image",)
    report = check_index(index, modalities, args.min_seconds, args.workers, progress=True)
    if report.problems:
        table = Table("row", "kind", "problem", title=f"bad items ({len(report.problems)})")
        for p in report.problems[: args.max_shown]:
            table.add_row(str(p.index), p.kind, escape(p.message))
        console.print(table)
        if len(report.problems) > args.max_shown:
            console.print(f"… {len(report.problems) - args.max_shown} more (see --json)")
    console.print(escape(f"{report.summary()}  ({report.seconds:.1f}s)"))
    write_json(args.json, {**report.to_dict(), **({"layout": layout} if layout else {})})
    return 1 if report.problems else 0


def _report_meta(meta: dict) -> dict:
    """The report part of an adapter's ``meta`` (not per-class data such as AudioSet's MID list)."""
    keys = ("layout", "split_sizes", "official_sizes", "missing", "missing_files", "skipped", "notes")
    return {key: meta[key] for key in keys if key in meta}


def _register_stats(inner: argparse._SubParsersAction) -> None:
    help_text = ("Mean/std of an audio front-end's log features over a dataset split (XKD §4.1 normalizes "
                 "log-mels with dataset statistics); load them with xmodal.data.stats.load_stats/apply_stats.")
    p = inner.add_parser("stats", help=help_text, description=help_text)
    add_source_args(p)
    p.add_argument("--split", default="train", help="split to measure (default %(default)s); statistics come "
                   "from training data only")
    p.add_argument("--frontend", choices=sorted(_FRONTENDS), default="logmel",
                   help="logmel (XKD), fbank (MAViL/AudioMAE) or stft (C²KD) (default %(default)s)")
    p.add_argument("--seconds", type=float, default=None,
                   help="clip length in seconds (default: the front-end's paper length, 4 s log-mel, 10 s fbank, "
                   "3 s stft)")
    p.add_argument("--max-clips", type=int, default=None, metavar="N", help="use at most N clips (default: all)")
    p.add_argument("--workers", type=int, default=0, help="decoding processes (default %(default)s)")
    p.add_argument("--out", required=True, metavar="STATS_JSON", help="where to write the statistics")
    p.set_defaults(func=_run_stats)


# front-end name -> (config class name in xmodal.data.features, paper clip length in seconds)
_FRONTENDS = {"logmel": ("LogMelConfig", 4.0), "fbank": ("KaldiFbankConfig", 10.0), "stft": ("LinearSTFTConfig", 3.0)}


def _run_stats(args: argparse.Namespace) -> int:
    """Exit status 0 on success, 1 when no clip could be decoded, 2 on a usage error. Bad clips are skipped and
    counted (the count is printed), never silently dropped."""
    import sys

    import torch
    from rich.progress import track
    from torch.utils.data import DataLoader

    from xmodal.data import features
    from xmodal.data.collate import SkipCounter, collate_samples
    from xmodal.data.dataset import AVDataset, resolve_index
    from xmodal.data.io import AudioSpec
    from xmodal.data.stats import compute_stats, save_stats

    cls_name, paper_seconds = _FRONTENDS[args.frontend]
    cfg = getattr(features, cls_name)()
    frontend = features.build_frontend(cfg)
    if args.max_clips is not None and args.max_clips < 1:
        raise UsageError("--max-clips must be >= 1")
    index = resolve_index(args.spec, args.root)
    if args.split:
        index = index.split(args.split)
    if args.max_clips is not None:
        index.rows = index.rows[: args.max_clips]
    dataset = AVDataset(index, modalities=("audio",), clip_seconds=args.seconds or paper_seconds,
                        audio=AudioSpec(sample_rate=cfg.sample_rate), sampling="center", on_error="skip")
    loader = DataLoader(dataset, batch_size=8, num_workers=args.workers, collate_fn=collate_samples)
    skipped = SkipCounter()

    def waves() -> Iterator[torch.Tensor]:
        for batch in track(loader, description=f"{args.frontend} statistics", total=len(loader)):
            skipped.update(batch)
            if "audio" in batch:
                yield batch["audio"]

    try:
        stats = compute_stats(waves(), frontend)
    except ValueError:
        print(f"xmodal data stats: no clip could be decoded ({skipped.report()})", file=sys.stderr)
        return 1
    save_stats(args.out, stats)
    print(f"{args.frontend}: mean {stats['mean']:.4f}, std {stats['std']:.4f} over {stats['num_clips']} clips "
          f"({skipped.report()}) → {args.out}")
    return 0


def _register_learnability(inner: argparse._SubParsersAction) -> None:
    help_text = ("Is the class learnable at this scale, from which modality, by which backbone? Trains and probes a "
                 "tiny ViT and a small CNN (mean ± std over seeds) next to linear models on hand-crafted features "
                 "and chance; prints the table and saves it as JSON + Markdown. See docs/synthetic.md.")
    p = inner.add_parser("learnability", help=help_text, description=help_text)
    add_source_args(p, "DIR_OR_MANIFEST")
    p.add_argument("--modalities", default="video,audio", help="comma-separated: video, audio (default %(default)s); "
                   "image–text sets always check their images")
    p.add_argument("--backbones", default="vit,cnn", help="comma-separated: vit, cnn (default %(default)s)")
    p.add_argument("--seeds", type=int, default=3, help="seeds per trained/random probe (default %(default)s)")
    p.add_argument("--epochs", type=int, default=8, help="supervised epochs (default %(default)s)")
    p.add_argument("--frames", type=int, default=4, help="frames per clip (default %(default)s)")
    p.add_argument("--size", type=int, default=32, help="frame side after resize + centre crop (default %(default)s)")
    p.add_argument("--clip-seconds", type=float, default=4.0, help="centred clip length (default %(default)s)")
    p.add_argument("--max-clips", type=int, default=None, metavar="N", help="use the first N rows only")
    p.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's choice)")
    p.add_argument("--workers", type=int, default=0, help="decoding processes (default %(default)s)")
    p.add_argument("--out", metavar="JSON", help="where to save the table (default: learnability.json next to the "
                   "manifest); a .md with the same stem is written beside it")
    p.set_defaults(func=_run_learnability)


def _run_learnability(args: argparse.Namespace) -> int:
    """Exit status 0 on success, 2 on a usage error (bad flag, unreadable or unusable dataset)."""
    import json
    from dataclasses import replace
    from pathlib import Path

    import torch

    from xmodal.analysis.learnability import (
        InputConfig,
        TableConfig,
        TrainConfig,
        format_markdown,
        learnability_table,
        load_inputs,
    )

    mods = tuple(m.strip() for m in args.modalities.split(",") if m.strip())
    backbones = tuple(b.strip() for b in args.backbones.split(",") if b.strip())
    problems = [f"--modalities: unknown {sorted(set(mods) - {'video', 'audio'})}" if set(mods) - {"video", "audio"}
                or not mods else "",
                f"--backbones: unknown {sorted(set(backbones) - {'vit', 'cnn'})}" if set(backbones) - {"vit", "cnn"}
                or not backbones else "",
                "--seeds and --epochs must be >= 1" if min(args.seeds, args.epochs) < 1 else ""]
    if any(problems):
        raise UsageError("; ".join(p for p in problems if p))
    if args.threads:
        torch.set_num_threads(args.threads)
    inputs = InputConfig(modalities=mods, clip_seconds=args.clip_seconds, frames=args.frames, size=args.size,
                         max_clips=args.max_clips, workers=args.workers)
    data = load_inputs(args.spec, inputs, args.root)
    cfg = TableConfig(seeds=args.seeds, backbones=backbones, train=replace(TrainConfig(), epochs=args.epochs))
    result = learnability_table(data, cfg, report=lambda line: print(line, flush=True))
    result["source"] = str(args.spec)
    result["inputs"] = {"frames": args.frames, "size": args.size, "clip_seconds": args.clip_seconds,
                        "modalities": list(mods), "max_clips": args.max_clips}
    table = format_markdown(result)
    spec = Path(args.spec)
    folder = spec if spec.is_dir() else spec.parent
    out = Path(args.out) if args.out else folder / "learnability.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n")
    out.with_suffix(".md").write_text(table)
    print(table + f"saved → {out} and {out.with_suffix('.md')}")
    return 0
