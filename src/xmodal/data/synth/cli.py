"""``xmodal data synth``: argument wiring for :func:`xmodal.data.synth.generate.generate`.

The lead registers it in ``xmodal/cli/data.py``::

    p = data_sub.add_parser("synth", help=..., description=...)
    add_synth_arguments(p)
    p.set_defaults(func=run_synth)

Every :class:`SynthConfig` field is a flag (``--object-frac``, ``--general-levels`` …), derived from the
dataclass so a new knob cannot be forgotten here.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import time
from pathlib import Path

from xmodal.data.synth.config import SynthConfig, SynthConfigError
from xmodal.data.synth.generate import generate

_MAIN = ("clips", "seed")


def _flag(name: str) -> str:
    return "--" + name.replace("_", "-")


def add_synth_arguments(parser: argparse.ArgumentParser) -> None:
    """Add ``--out``, ``--clips``, ``--seed``, ``--workers``, ``--demo``, ``--json`` and one flag per knob."""
    defaults = SynthConfig()
    parser.add_argument("--out", required=True, type=Path, help="output folder (clips/, manifest.csv, manifest.json)")
    parser.add_argument("--clips", type=int, default=None, help=f"number of clips (default {defaults.clips}; "
                        f"--demo: {SynthConfig.demo().clips})")
    parser.add_argument("--seed", type=int, default=defaults.seed, help="benchmark seed (default %(default)s)")
    parser.add_argument("--workers", type=int, default=2, help="render processes (default %(default)s); the output "
                        "does not depend on it")
    parser.add_argument("--demo", action="store_true", help="start from the CPU-demo preset (32² frames) instead "
                        "of the paper-size default (112²)")
    parser.add_argument("--json", type=Path, default=None, help="also write a JSON summary here")
    knobs = parser.add_argument_group("benchmark knobs (see docs/synthetic.md)")
    for field in dataclasses.fields(SynthConfig):
        if field.name in _MAIN:
            continue
        default = getattr(defaults, field.name)
        if isinstance(default, tuple):
            knobs.add_argument(_flag(field.name), type=float, nargs=len(default), default=None,
                               metavar=("TRAIN", "VAL", "TEST"), help=f"default {' '.join(map(str, default))}")
        else:
            knobs.add_argument(_flag(field.name), type=type(default), default=None, help=f"default {default}")


def config_from_args(args: argparse.Namespace) -> SynthConfig:
    """The config the flags describe: the chosen preset, then every flag that was given."""
    given = {f.name: getattr(args, f.name) for f in dataclasses.fields(SynthConfig)
             if getattr(args, f.name, None) is not None}
    if "splits" in given:
        given["splits"] = tuple(given["splits"])
    return SynthConfig.demo(**given) if args.demo else SynthConfig(**given)


def run_synth(args: argparse.Namespace) -> int:
    """Generate the benchmark; print where it is, the class count, γ and the time taken. Exit code 2 on a bad
    knob (the message names it)."""
    try:
        cfg = config_from_args(args)
    except SynthConfigError as err:
        print(f"xmodal data synth: {err}")
        return 2
    start = time.perf_counter()
    manifest = generate(cfg, args.out, workers=args.workers, progress=True)
    seconds = time.perf_counter() - start
    shares = cfg.shares()
    summary = {"manifest": str(manifest), "clips": cfg.clips, "classes": cfg.num_classes, **shares,
               "size": cfg.size, "seconds": round(seconds, 2)}
    print(f"wrote {cfg.clips} clips ({cfg.num_classes} classes, {cfg.size}² at {cfg.fps} fps, {cfg.duration:g} s) "
          f"in {seconds:.1f} s → {manifest}  [γ={shares['gamma']:.3f} α={shares['alpha']:.3f} "
          f"β={shares['beta']:.3f}]")
    if args.json is not None:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(summary, indent=2) + "\n")
    return 0
