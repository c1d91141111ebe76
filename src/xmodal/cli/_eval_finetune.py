"""``xmodal eval finetune``: show a preset, or fine-tune exported backbones on a manifest with it.

``--backbone`` is the backbone of the preset's modality (the video one for audio+video presets; or name them with
``--audio-backbone/--video-backbone``). Flags override preset fields for short runs (``--epochs``,
``--batch-size``, ``--lr``, ``--test-clips``, ``--label-smoothing``, ``--mixup/--cutmix``,
``--weighted-sampling``, ``--modality``); the card records the final configuration. The run uses the training
engine (:mod:`xmodal.eval.finetune_engine`: ``--out`` for logs, checkpoints and auto-resume, ``--devices`` for DDP);
``--root DIR --dataset ucf101|hmdb51|esc50`` runs every official split. See :mod:`xmodal.eval.finetune_run`.
A preset with a learning-rate grid (XDC Table 4: ``xdc-*``) chooses its base LR per split on a validation split
carved from train (``--val-fraction``, ``--val-seed``), retrains on all of train and tests once
(:mod:`xmodal.eval.finetune_select`); ``--lr`` fixes the LR instead.
"""

from __future__ import annotations

import argparse
import time
from typing import Any

from xmodal.cli._common import UsageError, write_json
from xmodal.cli._eval_inputs import (
    add_geometry_args,
    add_split_args,
    data_manifests,
    geometry_overrides,
    report_result,
)

OVERRIDES = {"epochs": int, "batch_size": int, "lr": float, "test_clips": int, "label_smoothing": float,
             "mixup_alpha": float, "cutmix_alpha": float, "drop_path": float, "warmup_epochs": float,
             "video_size": int, "spatial_crops": int, "epoch_size": int}


def add_finetune_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--backbone", metavar="FILE", help="export of the preset's modality (video for audio+video)")
    p.add_argument("--audio-backbone", metavar="FILE", help="audio export (audio or audio+video presets)")
    p.add_argument("--video-backbone", metavar="FILE", help="video export (video or audio+video presets)")
    p.add_argument("--data", metavar="MANIFEST", help="manifest CSV with train and test splits, or a shard folder / "
                   "index.json URL written by `xmodal data shard` (streamed; resumes mid-epoch)")
    p.add_argument("--dataset", default="", help="dataset name recorded in the card (with --root: its adapter)")
    add_split_args(p)
    for name, typ in OVERRIDES.items():
        flag = {"mixup_alpha": "mixup", "cutmix_alpha": "cutmix"}.get(name, name).replace("_", "-")
        p.add_argument(f"--{flag}", dest=name, type=typ, help=f"{name.replace('_', ' ')} (default: the preset's)")
    p.add_argument("--weighted-sampling", action=argparse.BooleanOptionalAction, default=None,
                   help="class-balanced sampler (mavil App. B); default: the preset's")
    p.add_argument("--max-steps", type=int, default=-1, help="stop after this many optimizer steps (smoke runs)")
    p.add_argument("--seed", type=int, default=0, help="seed of the head, sampling and augmentation")
    p.add_argument("--workers", type=int, default=0, help="DataLoader workers for decoding")
    p.add_argument("--decode-cache", action="store_true", help="decode each file once (small sets)")
    p.add_argument("--device", default="cpu", help="torch device, e.g. cuda")
    p.add_argument("--modality", choices=["audio", "video", "audio+video"],
                   help="encoders to fine-tune (default: the preset's); audio+video needs --audio-backbone and "
                        "--video-backbone")
    p.add_argument("--head", default=None,
                   help="classification head (xmodal.eval.finetune_heads; default: the preset's): concat-linear = "
                        "pooled features of every backbone concatenated -> dropout -> linear; mavil-fusion = MAViL's "
                        "3-block Transformer over both encoders' tokens")
    p.add_argument("--lr-grid", metavar="LRS",
                   help="comma-separated base LRs to choose from on a validation split carved from train (default: "
                        "the preset's grid, e.g. xdc Table 4; --lr fixes the LR and skips the selection)")
    p.add_argument("--val-fraction", type=float, default=0.1,
                   help="share of each class's training rows carved out to choose the LR (default 0.1)")
    p.add_argument("--val-seed", type=int, default=0, help="seed of the carved validation split (recorded)")
    p.add_argument("--variant", choices=["paper", "official"], default="paper",
                   help="paper values (default) or the official code's where they disagree (recorded as departures)")
    add_engine_args(p.add_argument_group("engine (the pretraining trainer: logs, checkpoints, resume, DDP)"))
    add_geometry_args(p.add_argument_group("input geometry"))


def add_engine_args(g: Any) -> None:
    g.add_argument("--out", metavar="DIR", help="run folder: TensorBoard + CSV logs, config.yaml, checkpoints; "
                                                "rerunning a killed command resumes from DIR/checkpoints/last.ckpt "
                                                "(default: a temporary folder, no resume)")
    g.add_argument("--devices", type=int, default=1, help="devices per node (>1: DDP)")
    g.add_argument("--num-nodes", type=int, default=1, help="nodes (torchrun/SLURM set the rank variables)")
    g.add_argument("--strategy", default="auto", choices=["auto", "ddp", "ddp_find_unused_parameters_true"],
                   help="Lightning strategy")
    g.add_argument("--precision", choices=["32-true", "bf16-mixed", "16-mixed"],
                   help="numeric precision (default: bf16-mixed on GPU, else 32-true)")
    g.add_argument("--progress", default="rich", choices=["rich", "tqdm", "none"], help="progress bar")
    g.add_argument("--resume", default="auto", choices=["auto", "force", "off"],
                   help="auto: resume --out's last.ckpt if trained under the same config; force: resume even if not")
    g.add_argument("--checkpoint-every", type=int, default=500, help="optimizer steps between checkpoints")


def engine_fields(args: argparse.Namespace) -> dict[str, Any]:
    """``TrainerConfig`` fields from the engine flags (precision only when given: the device picks it otherwise)."""
    fields = {"max_steps": args.max_steps, "devices": args.devices, "num_nodes": args.num_nodes,
              "strategy": args.strategy, "progress": args.progress, "resume": args.resume,
              "checkpoint_every_n_steps": args.checkpoint_every}
    return {**fields, "precision": args.precision} if args.precision else fields


def _backbones(args: argparse.Namespace, modalities: tuple[str, ...]) -> dict[str, str]:
    given = {"audio": args.audio_backbone, "video": args.video_backbone}
    if len(modalities) > 1 and not all(given[m] for m in modalities):
        raise UsageError(f"{'+'.join(modalities)} fine-tunes both encoders: give --audio-backbone FILE and "
                         "--video-backbone FILE (--backbone names one backbone only)")
    main = "video" if "video" in modalities else modalities[0]
    if args.backbone:
        given[main] = given[main] or args.backbone
    missing = [m for m in modalities if not given[m]]
    if missing:
        raise UsageError(f"preset needs a backbone for {missing}; give --backbone / --{missing[0]}-backbone FILE")
    return {m: given[m] for m in modalities}


def run_finetune(args: argparse.Namespace) -> int:
    from dataclasses import asdict, replace

    from xmodal.eval.finetune_config import PRESETS, finetune_preset

    if args.preset == "list":
        print("\n".join(f"{k}: {v.source}" for k, v in PRESETS.items()))
        return 0
    cfg = finetune_preset(args.preset, args.variant)
    over = {k: getattr(args, k) for k in OVERRIDES if getattr(args, k) is not None}
    if args.head is not None:
        over["head"] = args.head
    if args.weighted_sampling is not None:
        over["weighted_sampling"] = args.weighted_sampling
    if args.modality:
        over["modalities"] = tuple(args.modality.split("+"))
    if args.lr_grid is not None:
        try:
            over["lr_grid"] = tuple(float(v) for v in args.lr_grid.split(",") if v.strip())
        except ValueError:
            raise UsageError(f"--lr-grid {args.lr_grid!r}: expected numbers such as 0.001,0.01") from None
    if args.lr is not None:
        over["lr_grid"] = ()  # a fixed LR: nothing to select
    cfg = replace(cfg, **over)
    runs = data_manifests(args, args.out)
    if not runs:
        print("\n".join(f"{k}: {v}" for k, v in asdict(cfg).items()))
        write_json(args.json, {"preset": args.preset, **asdict(cfg)})
        return 0
    return _train(args, cfg, runs)


def _train(args: argparse.Namespace, cfg: Any, runs: list[tuple[int | None, str]]) -> int:
    from pathlib import Path

    from xmodal.eval.backbone_features import weights_file
    from xmodal.eval.finetune_heads import HEADS
    from xmodal.eval.finetune_run import finetune_from_exports
    from xmodal.eval.finetune_select import select_and_finetune
    from xmodal.eval.protocol import FeatureSpec, ProtocolCard, file_sha256

    start = time.perf_counter()
    backbones = _backbones(args, cfg.modalities)
    if cfg.head not in HEADS:
        raise UsageError(f"--head {cfg.head}: unknown head; known: {', '.join(sorted(HEADS))}")
    rows, outs = [], []
    for split, manifest in runs:
        out_dir = str(Path(args.out) / f"split{split}") if args.out and split is not None else args.out
        common = {"geometry_overrides": geometry_overrides(args), "num_workers": args.workers, "seed": args.seed,
                  "decode_cache": args.decode_cache, "device": args.device, "head": cfg.head, "out_dir": out_dir,
                  **engine_fields(args)}
        if cfg.lr_grid:
            out = select_and_finetune(backbones, manifest, cfg, cfg.lr_grid, val_fraction=args.val_fraction,
                                      val_seed=args.val_seed, **common)
        else:
            out = finetune_from_exports(backbones, manifest, cfg, **common)
        metric = "mAP" if out["multilabel"] else "top1"
        skipped = {k: v["count"] for k, v in out["skipped"].items()}
        rows.append({**({"split": split} if split is not None else {}), "file": manifest,
                     "manifest_sha256": out["data_sha256"], "value": out["metrics"][metric],
                     "metrics": out["metrics"], "steps": out["steps"], "train_seconds": out["seconds"],
                     "n_train": out["n_train"], "n_test": out["n_test"], "skipped_clips": skipped,
                     "out_dir": out["out_dir"], "resumed_from": out["resumed_from"],
                     **({"lr_selection": out["lr_selection"]} if "lr_selection" in out else {})})
        outs.append(out)
        print(f"finetune{'' if split is None else f' split {split}'}: {metric} = {out['metrics'][metric]:.4f} "
              f"({out['steps']} steps, {out['n_train']} train / {out['n_test']} test videos, skipped {skipped})")
    first = outs[0]
    extraction = {"geometry": first["geometry"], "geometry_sources": first["geometry_sources"],
                  "augmentation": first["augmentation"], "skipped": first["skipped"],
                  "skipped_clips": sum(sum(r["skipped_clips"].values()) for r in rows),
                  "manifest": rows[0]["file"], "manifest_sha256": rows[0]["manifest_sha256"],
                  "backbones": {m: {"path": p, "sha256": file_sha256(weights_file(p))} for m, p in backbones.items()},
                  "engine": first["trainer"], "out_dir": first["out_dir"], "resumed_from": first["resumed_from"]}
    aggregation = {"softmax_mean": "mean of the views' softmax (sigmoid for multi-label) per video",
                   "feature_mean": "mean of the views' features per video"}[cfg.clip_aggregation]
    pooling = ("patch tokens of both encoders -> 3-block fusion Transformer -> per-modality mean -> concat -> linear"
               if cfg.head == "mavil-fusion" else f"mean of last-layer patch tokens per backbone -> head {cfg.head}")
    spec = FeatureSpec(source="end-to-end fine-tuning", pooling=pooling, modality="+".join(cfg.modalities),
                       train_clips_per_video=1, test_clips_per_video=cfg.test_clips,
                       clip_aggregation=f"{aggregation} ({cfg.test_clips} clips x {cfg.spatial_crops} spatial crops)",
                       extraction=extraction)
    card = ProtocolCard(
        protocol="finetune", features=spec, normalization="video: ImageNet mean/std; audio: log-mel mean/std",
        hyperparameters={"preset": args.preset, "variant": args.variant, **first["config"],
                         "max_steps": args.max_steps},
        selection_rule=_selection_rule(cfg, args), seeds=[args.seed],
        dataset=args.dataset, split_files=[r["file"] for r in rows] if len(rows) > 1 else [],
        checkpoint=" + ".join(backbones.values()),
        checkpoint_sha256=" + ".join(v["sha256"] for v in extraction["backbones"].values()),
        reference=cfg.source,
    )
    for key, paper, code, ours in cfg.departures:
        card.depart(key, paper, code, ours)
    report_result(args, card, metric, rows, start)
    return 0


def _selection_rule(cfg: Any, args: argparse.Namespace) -> str:
    if not cfg.lr_grid:
        return "fixed preset (no search); the last epoch is scored once on test"
    grid = ", ".join(f"{g:g}" for g in cfg.lr_grid)
    return (f"base LR chosen from {{{grid}}} by top-1/mAP of the last epoch on {args.val_fraction:g} of each class's "
            f"training rows (seed {args.val_seed}, whole UCF101 groups / ESC-50 sources), ties to the smaller LR; "
            "retrained on all training rows at that LR; the test split scored once (per split: lr_selection)")
