"""Inputs of the frozen-feature ``xmodal eval`` verbs: precomputed files, or a backbone export + a manifest.

``--features FILE...`` reads precomputed sets (one per split file). ``--backbone FILE --data MANIFEST`` extracts
features with :func:`xmodal.eval.backbone_features.features_from_backbone` (fusion/retrieval, and any verb with
``--modality audio+video``: ``--audio-backbone/--video-backbone``, both required); ``--root DIR --dataset NAME``
replaces ``--data`` with one manifest per official split (:mod:`xmodal.eval.splits`). The input geometry comes
from the export (see :mod:`xmodal.eval.geometry`) unless a flag sets it. Heavy imports stay inside the functions.
"""

from __future__ import annotations

import argparse
import time
from typing import Any

from xmodal.cli._common import UsageError

PAPER_TRAIN_CLIPS, PAPER_TEST_CLIPS = 25, 3  # XKD §A.5


def add_extraction_args(p: argparse.ArgumentParser, pair: bool = False) -> None:
    g = p.add_argument_group("features from a backbone export (instead of precomputed files)")
    if not pair:
        g.add_argument("--backbone", metavar="FILE", help="exported backbone (.safetensors/.json)")
    g.add_argument("--audio-backbone", metavar="FILE", help="exported audio backbone (.safetensors/.json)"
                   + ("" if pair else "; with --video-backbone for --modality audio+video (fused features)"))
    g.add_argument("--video-backbone", metavar="FILE", help="exported video backbone (.safetensors/.json)")
    g.add_argument("--data", metavar="MANIFEST", help="manifest CSV with train/[val/]test splits")
    add_split_args(g)
    g.add_argument("--cache", metavar="DIR", help="feature cache (key: weights, manifest, geometry, options)")
    g.add_argument("--extract-batch-size", type=int, default=32, help="clips per forward pass when extracting")
    g.add_argument("--workers", type=int, default=0, help="DataLoader workers for decoding")
    g.add_argument("--decode-cache", action="store_true", help="decode each file once (small sets)")
    g.add_argument("--extract-seed", type=int, default=0, help="seed of the training clips' starts/augmentation")
    g.add_argument("--augment", action="store_true",
                   help="augment the training clips as XKD Tables S1-S2 (linear eval.: crop [0.08, 1], flip, colour "
                        "jitter, grey 0.2; audio volume jitter 0.1); test clips never are")
    add_geometry_args(g)


def add_split_args(g: Any) -> None:
    """``--root``/``--splits``: run a verb once per official split (UCF101/HMDB51 1–3, ESC-50 folds 1–5)."""
    g.add_argument("--root", metavar="DIR", help="dataset root in its official layout (with --dataset ucf101, hmdb51 "
                                                 "or esc50) instead of --data: one run per official split/fold")
    g.add_argument("--splits", default="all", help="with --root: 'all' official splits/folds, or a list such as 1,3")


def data_manifests(args: argparse.Namespace, out: str | None = None) -> list[tuple[int | None, str]]:
    """``[(split, manifest)]``: ``--data`` as one run (split None), or one manifest per official split of
    ``--dataset`` under ``--root``, written to ``out/splits`` (else a temporary folder)."""
    root = getattr(args, "root", None)
    if not root:
        return [(None, args.data)] if args.data else []
    if args.data:
        raise UsageError("give --data MANIFEST or --root DIR (with --dataset), not both")
    import tempfile
    from pathlib import Path

    from xmodal.eval.splits import OFFICIAL_SPLITS, parse_splits, split_manifests

    if args.dataset not in OFFICIAL_SPLITS:
        raise UsageError(f"--root needs --dataset {' | '.join(OFFICIAL_SPLITS)} (got {args.dataset!r}); other "
                         "datasets: write a manifest (docs/data.md) and pass --data")
    try:
        splits = parse_splits(args.dataset, args.splits)
    except ValueError as err:
        raise UsageError(f"--splits {err}") from None
    folder = Path(out) / "splits" if out else Path(tempfile.mkdtemp(prefix="xmodal-splits-"))
    runs = [(k, str(p)) for k, p in split_manifests(args.dataset, root, folder, splits)]
    args.split_files = [p for _, p in runs]
    return runs


def print_split_table(payload: dict[str, Any]) -> None:
    """Each split's number, then mean ± std (what a paper's "mean over the 3 splits" row reports)."""
    from xmodal.cli._common import print_table

    def name(row: dict[str, Any]) -> str:
        file = str(row.get("file", ""))
        return str(row["split"]) if "split" in row else file.split(":")[0] if file.startswith("split ") else file

    rows = [[name(r), f"{r['value']:.4f}"] for r in payload["per_split"]]
    rows.append(["mean ± std", f"{payload['mean']:.4f} ± {payload['std']:.4f}"])
    print_table(f"{payload['protocol']['protocol']}: {payload['metric']} per split", ["split", payload["metric"]],
                rows)


def report_result(args: argparse.Namespace, card: Any, metric: str, per_split: list[dict[str, Any]],
                  start: float) -> dict[str, Any]:
    """The end of every evaluation verb: the per-split table (several splits), ``protocol: metric = mean ± std``,
    the card's reference / departures / warnings one per line, and ``--json``; returns the payload."""
    from xmodal.cli._common import write_json
    from xmodal.eval.protocol import result_payload

    payload = result_payload(card, metric, per_split, time.perf_counter() - start)
    if len(per_split) > 1:
        print_split_table(payload)
    print(f"{card.protocol}: {metric} = {payload['mean']:.4f} ± {payload['std']:.4f} over {len(per_split)} "
          f"split(s) [{payload['runtime_s']:.1f}s]")
    print("\n".join(f"  {line}" for line in card.lines()))
    write_json(args.json, payload)
    return payload


def add_geometry_args(g: Any) -> None:
    """Input geometry flags (see :mod:`xmodal.eval.geometry`); unset flags come from the export / paper."""
    for name, typ in (("clip-seconds", float), ("fps", float), ("frames", int), ("size", int),
                      ("sample-rate", int), ("audio-seconds", float), ("n-mels", int), ("hop-length", int),
                      ("n-fft", int), ("logmel-mean", float), ("logmel-std", float)):
        g.add_argument(f"--{name}", type=typ, help="input geometry (default: export metadata, backbone grid, "
                                                    "then xkd §A.5)")


def geometry_overrides(args: argparse.Namespace) -> dict[str, Any]:
    from xmodal.eval.geometry import FIELDS  # imports torch: not while building the parser

    return {k: getattr(args, k) for k in FIELDS if getattr(args, k, None) is not None}


def clips(args: argparse.Namespace, backbone: bool) -> tuple[int, int]:
    """Clips per train/test video: the flags, else the paper's 25 / 3 when extracting, else 1 / 1 (card only)."""
    train, test = args.train_clips, args.test_clips
    if backbone:
        return train or PAPER_TRAIN_CLIPS, test or PAPER_TEST_CLIPS
    return train or 1, test or 1


def extract(args: argparse.Namespace, backbone: str, modality: str) -> tuple[Any, dict[str, Any]]:
    """(FeatureSet, card info) for one backbone export on ``--data``."""
    from xmodal.eval.backbone_features import ExtractionOptions, features_from_backbone, weights_file
    from xmodal.eval.geometry import resolve_geometry
    from xmodal.eval.protocol import file_sha256

    if not args.data:
        raise UsageError("--backbone needs --data MANIFEST (the manifest CSV to extract features on)")
    geometry, sources = resolve_geometry(backbone, modality, geometry_overrides(args))
    train, test = clips(args, True)
    opts = ExtractionOptions(train_passes=train, test_clips=test, batch_size=args.extract_batch_size,
                             num_workers=args.workers, pooling="cls" if args.cls else "features",
                             device=args.device, seed=args.extract_seed, decode_cache=args.decode_cache,
                             average_clips=not getattr(args, "clip_rows", False))
    train_transform = None
    if getattr(args, "augment", False):
        from xmodal.eval.linear_aug import LinearEvalTransform

        train_transform = LinearEvalTransform(geometry)
    out = features_from_backbone(backbone, args.data, modality, options=opts, geometry=geometry,  # type: ignore[arg-type]
                                 train_transform=train_transform, cache_dir=args.cache)
    out.geometry_sources = sources
    skipped = out.skipped
    print(f"extracted {modality} features of {len(out.features)} videos from {backbone}"
          + (f" ({skipped} clips skipped: undecodable)" if skipped else ""))
    info = {"backbone": str(backbone), "backbone_sha256": file_sha256(weights_file(backbone)), "manifest": args.data,
            "manifest_sha256": file_sha256(args.data), **out.card_info(),
            "train_augmentation": repr(train_transform.aug) if train_transform else "none (random clip start only)"}
    return out.features, info


def _pair_extraction(args: argparse.Namespace) -> list[tuple[str, Any, Any]]:
    """Audio and video features of ``--audio-backbone``/``--video-backbone`` on each manifest (sets the card)."""
    if not (args.audio_backbone and args.video_backbone):
        raise UsageError("audio+video uses both encoders: give --audio-backbone FILE and --video-backbone FILE "
                         "(--backbone names one backbone only)")
    runs = data_manifests(args)
    if not runs:
        raise UsageError("--audio-backbone/--video-backbone need --data MANIFEST or --root DIR --dataset NAME")
    out, infos = [], {}
    for split, manifest in runs:
        args.data = manifest
        audio, ainfo = extract(args, args.audio_backbone, "audio")
        video, vinfo = extract(args, args.video_backbone, "video")
        infos = infos or {"audio": ainfo, "video": vinfo}
        out.append((_run_name(split, f"{args.audio_backbone} + {args.video_backbone} on {manifest}"), audio, video))
    args.extraction = {**infos, "skipped_clips": infos["audio"]["skipped_clips"] + infos["video"]["skipped_clips"]}
    args.checkpoint = f"{args.audio_backbone} + {args.video_backbone}"
    return out


def _run_name(split: int | None, text: str) -> str:
    return text if split is None else f"split {split}: {text}"


def feature_inputs(args: argparse.Namespace) -> list[tuple[str, Any]]:
    """``[(name, FeatureSet)]`` for ``--features`` files, or one extraction per manifest (``--data``, or each
    official split with ``--root``); ``--modality audio+video`` extracts both backbones and fuses them
    (:func:`xmodal.eval.fusion.fuse`). Sets ``args.extraction`` (card info) and ``args.checkpoint``."""
    from xmodal.eval.features import load_features

    args.extraction = {}
    extracting = args.backbone or args.audio_backbone or args.video_backbone
    if extracting and args.features:
        raise UsageError("give --features or --backbone/--data, not both")
    if extracting and args.modality == "audio+video":
        from xmodal.eval.fusion import fuse

        return [(name, fuse(audio, video)) for name, audio, video in _pair_extraction(args)]
    if extracting:
        if args.audio_backbone or args.video_backbone:
            raise UsageError("--audio-backbone/--video-backbone are for --modality audio+video; use --backbone FILE")
        runs = data_manifests(args)
        if not runs:
            raise UsageError("--backbone needs --data MANIFEST (the manifest CSV to extract features on) or --root")
        out = []
        for split, manifest in runs:
            args.data = manifest
            fs, info = extract(args, args.backbone, "audio" if args.modality == "audio" else "video")
            args.extraction = args.extraction or info
            out.append((_run_name(split, f"{args.backbone} on {manifest}"), fs))
        args.checkpoint = args.backbone
        return out
    if not args.features:
        raise UsageError("need --features FILE... or --backbone FILE --data MANIFEST")
    return [(path, load_features(_existing(path, "--features"))) for path in args.features]


def pair_inputs(args: argparse.Namespace) -> list[tuple[str, Any, Any]]:
    """``[(name, audio FeatureSet, video FeatureSet)]`` for fusion/retrieval."""
    from xmodal.eval.features import load_features

    args.modality, args.extraction = "audio+video", {}
    if args.audio_backbone or args.video_backbone:
        return _pair_extraction(args)
    if not args.audio or not args.video:
        raise UsageError("need --audio/--video FILE... or --audio-backbone/--video-backbone --data")
    if len(args.audio) != len(args.video):
        raise UsageError("--audio and --video need the same number of files")
    return [(f"{a}+{v}", load_features(_existing(a, "--audio")), load_features(_existing(v, "--video")))
            for a, v in zip(args.audio, args.video, strict=True)]


def _existing(path: str, flag: str) -> str:
    """``path`` if it is a file, else a usage error naming the flag (before numpy's ``[Errno 2]``)."""
    from pathlib import Path

    if not Path(path).is_file():
        raise UsageError(f"{flag} {path}: no such file; give a .npz/.safetensors feature file (docs/evaluation.md)")
    return path
