"""``xmodal pretrain --config FILE [key=value ...]``: self-supervised pretraining (XKD and its baselines, MAViL).

The config's ``method`` key (``xkd`` or ``mavil``) picks the method."""

from __future__ import annotations

import argparse
from typing import Any

from xmodal.cli._common import UsageError, write_json


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser(
        "pretrain",
        help="pretrain audio/video encoders (XKD, XKD-MAS/MATS, V-MAE, A-MAE, AV-MAE, MAViL)",
        description="Pretrain from a YAML config; key=value overrides use dotted keys, e.g. trainer.max_epochs=5. "
        "The config's method key (xkd or mavil) picks the method.",
    )
    parser.add_argument("--config", required=True,
                        help="YAML file or shipped name, e.g. xkd/synthetic_tiny, xkd/kinetics400, mavil/audioset")
    parser.add_argument("overrides", nargs="*", metavar="KEY=VALUE",
                        help="config overrides with dotted keys, e.g. data.root=/data/k400 (default: none)")
    parser.add_argument("--dry-run", action="store_true",
                        help="build the model and the data index, report parameter/token counts and the dataset "
                        "size, do not train")
    parser.add_argument("--json", metavar="OUT", help="write the report (dry run) or the run summary as JSON "
                        "(default: not written)")
    parser.set_defaults(func=run)


def _print_dry_run(report: dict[str, Any], title: str) -> None:
    from rich.console import Console
    from rich.table import Table

    console = Console()
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


def _dataset(cfg: Any) -> dict[str, Any]:
    """The dataset part of the dry run; a missing root/manifest becomes one line that says which key to set."""
    from xmodal.cli.main import is_user_error, one_line
    from xmodal.methods.pretrain import dataset_report

    try:
        return dataset_report(cfg)
    except Exception as err:
        if not is_user_error(err):
            raise
        raise UsageError(f"model built (counts above), but the training data is not usable: {one_line(err)}; "
                         f"set data.root=DIR (or data.source=MANIFEST.csv) on the command line") from err


def run(args: argparse.Namespace) -> int:
    from xmodal.configs import config_path

    path = config_path(args.config)  # a wrong name fails before torch and Lightning are imported
    from rich.console import Console

    from xmodal.methods.pretrain import describe_run, load_pretrain_config, pretrain
    from xmodal.methods.xkd_config import PretrainConfig

    cfg = load_pretrain_config(path, args.overrides)
    console = Console()
    if args.dry_run:
        report = describe_run(cfg)
        title = (f"{cfg.method} ({cfg.loss.objective}, {cfg.model.variant})" if isinstance(cfg, PretrainConfig)
                 else report["title"])
        _print_dry_run(report, title)
        report["dataset"] = _dataset(cfg)
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
