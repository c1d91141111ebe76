"""``xmodal pretrain --config FILE [key=value ...]``: self-supervised pretraining (XKD and its baselines, MAViL).

The config's ``method`` key (``xkd`` or ``mavil``) picks the method."""

from __future__ import annotations

import argparse

from xmodal.cli._common import write_json


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser(
        "pretrain",
        help="pretrain audio/video encoders (XKD, XKD-MAS/MATS, V-MAE, A-MAE, AV-MAE, MAViL)",
        description="Pretrain from a YAML config; key=value overrides use dotted keys, e.g. trainer.max_epochs=5.",
    )
    parser.add_argument("--config", required=True,
                        help="YAML file or shipped name, e.g. xkd/synthetic_tiny, mavil/audioset")
    parser.add_argument("overrides", nargs="*", metavar="KEY=VALUE", help="config overrides")
    parser.add_argument("--dry-run", action="store_true", help="validate and build everything, report, do not train")
    parser.add_argument("--json", metavar="OUT", help="write the report (dry run) or the run summary as JSON")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from rich.console import Console
    from rich.table import Table

    from xmodal.configs import config_path
    from xmodal.methods.pretrain import dry_run, load_pretrain_config, pretrain
    from xmodal.methods.xkd_config import PretrainConfig

    cfg = load_pretrain_config(config_path(args.config), args.overrides)
    console = Console()
    if args.dry_run:
        report = dry_run(cfg)
        title = (f"{cfg.method} ({cfg.loss.objective}, {cfg.model.variant})" if isinstance(cfg, PretrainConfig)
                 else report["title"])
        table = Table(title=f"{title} — dry run")
        table.add_column("module")
        table.add_column("parameters", justify="right")
        for name, n in report["parameters"].items():
            table.add_row(name, f"{n:,}")
        table.add_row("total", f"{report['parameters_total']:,}")
        console.print(table)
        tokens = Table(title="tokens per view")
        for col in ("view", "grid", "tokens", "visible (masked)"):
            tokens.add_column(col)
        for view, entry in report["tokens"].items():
            tokens.add_row(view, "×".join(map(str, entry["grid"])), str(entry["tokens"]),
                           str(entry.get("visible_when_masked", "")))
        console.print(tokens)
        console.print(f"dataset: {report['dataset']}")
        write_json(args.json, report)
        return 0
    result = pretrain(cfg)
    result.pop("method")
    steps, secs = result["steps"], result["train_seconds"]
    console.print(f"[bold green]done[/]: {steps} steps in {secs:.0f}s → {result['out_dir']}")
    for name, path in result["exports"].items():
        console.print(f"  exported {name}: {path}")
    write_json(args.json, result)
    return 0
