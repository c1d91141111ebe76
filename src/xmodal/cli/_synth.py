"""``xmodal data synth``: argument wiring for :func:`xmodal.data.synth.generate.generate` (registered by
:mod:`xmodal.cli.data`; argparse lives in ``cli/`` only, the data layer knows nothing of it).

Every :class:`SynthConfig` field is a flag (``--object-frac``, ``--general-levels`` …), derived from the
dataclass so a new knob cannot be forgotten here; the encoder's ``preset`` knob is ``--x264-preset`` because
``--preset`` names a benchmark preset (:mod:`xmodal.data.synth.presets`).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import time
from pathlib import Path

from xmodal.data.synth.config import SynthConfig, SynthConfigError
from xmodal.data.synth.generate import generate
from xmodal.data.synth.image_text import ImageTextConfig, generate_image_text, levels_for_gamma
from xmodal.data.synth.presets import GROUPS, preset_config, preset_names

_MAIN = ("clips", "seed")


def _flag(name: str) -> str:
    return "--x264-preset" if name == "preset" else "--" + name.replace("_", "-")


def add_synth_arguments(parser: argparse.ArgumentParser) -> None:
    """Add ``--out``, ``--clips``, ``--seed``, ``--workers``, ``--preset``, ``--demo``, ``--json`` and one flag per
    knob."""
    defaults = SynthConfig()
    parser.add_argument("--out", required=True, type=Path, help="output folder (clips/, manifest.csv, manifest.json);"
                        " a preset group writes one sub-folder per preset")
    parser.add_argument("--clips", type=int, default=None, help=f"number of clips (default {defaults.clips}, or the "
                        "preset's)")
    parser.add_argument("--seed", type=int, default=defaults.seed, help="benchmark seed (default %(default)s)")
    parser.add_argument("--workers", type=int, default=2, help="render processes (default %(default)s); the output "
                        "does not depend on it")
    parser.add_argument("--preset", dest="preset_name", choices=preset_names(), default=None, metavar="NAME",
                        help="start from a named benchmark instead of the paper-size default (112²): "
                        f"{', '.join(preset_names())}; see docs/synthetic.md")
    parser.add_argument("--demo", action="store_true", help="same as --preset demo (32² frames, 2,000 clips)")
    parser.add_argument("--json", type=Path, default=None, help="also write a JSON summary here")
    parser.add_argument("--kind", choices=["audio-visual", "image-text"], default="audio-visual",
                        help="audio-visual clips (default) or image-text pairs (PNG + captions; docs/synthetic.md)")
    itx = parser.add_argument_group("image-text knobs (--kind image-text; also --clips, --seed, --size, "
                                    "--general-levels, --distractors, --pixel-noise, --splits)")
    itx.add_argument("--image-levels", type=int, default=None, help="image-specific (texture) levels (default 1)")
    itx.add_argument("--text-levels", type=int, default=None, help="text-specific (place) levels (default 1)")
    itx.add_argument("--gamma", type=float, default=None, help="pick the levels whose γ is nearest this (image "
                     "levels = text levels, at most 16 classes); excludes the three --*-levels flags")
    itx.add_argument("--word-dropout", type=float, default=None, help="chance a caption leaves out the colour "
                     "word, and separately the place (default 0.1)")
    itx.add_argument("--hue-jitter", type=float, default=None, help="hue jitter around each colour (default 0.03)")
    knobs = parser.add_argument_group("benchmark knobs (see docs/synthetic.md)")
    for field in dataclasses.fields(SynthConfig):
        if field.name in _MAIN:
            continue
        default = getattr(defaults, field.name)
        if field.name == "preset":
            knobs.add_argument(_flag(field.name), dest="preset", default=None,
                               help=f"libx264 preset (default {default})")
        elif isinstance(default, tuple):
            knobs.add_argument(_flag(field.name), type=float, nargs=len(default), default=None,
                               metavar=("TRAIN", "VAL", "TEST"), help=f"default {' '.join(map(str, default))}")
        else:
            knobs.add_argument(_flag(field.name), type=type(default), default=None, help=f"default {default}")


def _preset_name(args: argparse.Namespace) -> str | None:
    name = getattr(args, "preset_name", None)
    if args.demo and name not in (None, "demo"):
        raise SynthConfigError(f"--demo and --preset {name} disagree; give one of them")
    return "demo" if args.demo else name


def configs_from_args(args: argparse.Namespace) -> dict[str, SynthConfig]:
    """``{sub-folder: config}`` the flags describe: the chosen preset (each member of a group, in its own
    sub-folder; a single benchmark has the sub-folder ``""``), then every knob flag that was given."""
    given = {f.name: getattr(args, f.name) for f in dataclasses.fields(SynthConfig)
             if getattr(args, f.name, None) is not None}
    if "splits" in given:
        given["splits"] = tuple(given["splits"])
    name = _preset_name(args)
    if name is None:
        return {"": SynthConfig(**given)}
    if name in GROUPS:
        return {member: preset_config(member, **given) for member in GROUPS[name]}
    return {"": preset_config(name, **given)}


def config_from_args(args: argparse.Namespace) -> SynthConfig:
    """The single config the flags describe (a preset group is an error here: use :func:`configs_from_args`)."""
    configs = configs_from_args(args)
    if len(configs) != 1:
        raise SynthConfigError("a preset group describes several benchmarks")
    return next(iter(configs.values()))


_IMAGE_TEXT_SHARED = ("seed", "size", "general_levels", "distractors", "pixel_noise", "splits")
_IMAGE_TEXT_ONLY = ("image_levels", "text_levels", "word_dropout", "hue_jitter")


def image_text_config(args: argparse.Namespace) -> ImageTextConfig:
    """The image–text benchmark the flags describe; an audio-visual-only flag or preset is an error naming it."""
    av_only = [_flag(f.name) for f in dataclasses.fields(SynthConfig)
               if f.name not in (*_IMAGE_TEXT_SHARED, "clips") and getattr(args, f.name, None) is not None]
    if av_only or _preset_name(args):
        raise SynthConfigError(f"--kind image-text does not take {', '.join(av_only) or '--preset/--demo'}")
    given = {k: getattr(args, k) for k in (*_IMAGE_TEXT_SHARED, *_IMAGE_TEXT_ONLY) if getattr(args, k) is not None}
    if args.clips is not None:
        given["samples"] = args.clips
    if "splits" in given:
        given["splits"] = tuple(given["splits"])
    if args.gamma is not None:
        if {"general_levels", "image_levels", "text_levels"} & set(given):
            raise SynthConfigError("--gamma picks the levels; leave out --general/--image/--text-levels")
        g, i, t = levels_for_gamma(args.gamma)
        given.update(general_levels=g, image_levels=i, text_levels=t)
    return ImageTextConfig(**given)


def _run_image_text(args: argparse.Namespace) -> int:
    cfg = image_text_config(args)
    start = time.perf_counter()
    manifest = generate_image_text(cfg, args.out)
    seconds = time.perf_counter() - start
    shares = cfg.shares()
    print(f"wrote {cfg.samples} image-text pairs ({cfg.num_classes} classes, {cfg.size}² PNG) in {seconds:.1f} s → "
          f"{manifest}  [γ={shares['gamma']:.3f} α={shares['alpha']:.3f} β={shares['beta']:.3f}]")
    if args.json is not None:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        summary = {"manifest": str(manifest), "kind": "image-text", "samples": cfg.samples,
                   "classes": cfg.num_classes, **shares, "size": cfg.size, "seconds": round(seconds, 2)}
        args.json.write_text(json.dumps(summary, indent=2) + "\n")
    return 0


def run_synth(args: argparse.Namespace) -> int:
    """Generate the benchmark(s); print where each is, the class count, γ and the time taken. A bad knob raises
    :class:`SynthConfigError` naming it (``xmodal`` prints it as one line, exit 2). ``--json`` holds one summary,
    or ``{sub-folder: summary}`` for a group."""
    if getattr(args, "kind", "audio-visual") == "image-text":
        return _run_image_text(args)
    itx_flags = [f"--{k.replace('_', '-')}" for k in (*_IMAGE_TEXT_ONLY, "gamma") if getattr(args, k, None) is not None]
    if itx_flags:
        raise SynthConfigError(f"{', '.join(itx_flags)}: image-text knobs; add --kind image-text")
    configs = configs_from_args(args)
    summaries = {}
    for sub, cfg in configs.items():
        start = time.perf_counter()
        manifest = generate(cfg, args.out / sub, workers=args.workers, progress=True)
        seconds = time.perf_counter() - start
        shares = cfg.shares()
        summaries[sub] = {"manifest": str(manifest), "preset": sub or _preset_name(args), "clips": cfg.clips,
                          "classes": cfg.num_classes, **shares, "size": cfg.size, "seconds": round(seconds, 2)}
        print(f"wrote {cfg.clips} clips ({cfg.num_classes} classes, {cfg.size}² at {cfg.fps} fps, "
              f"{cfg.duration:g} s) in {seconds:.1f} s → {manifest}  [γ={shares['gamma']:.3f} "
              f"α={shares['alpha']:.3f} β={shares['beta']:.3f}]")
    if args.json is not None:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        payload = summaries.get("", summaries)
        args.json.write_text(json.dumps(payload, indent=2) + "\n")
    return 0
